// agent: the research agent's view of an experiment journal (common/agent/journal.h) — the model
// studied, the experiments planned and the results that came in for them, the notes and
// the report — and the actions `agentstep` takes on it.  docs/agent.md describes the loop.
//
// One step of the agent: read the journal (agent_state_build), decide ONE action (the
// built-in planner of agent_plan.h or the LLM of agent_llm.h), append it to the journal
// (agent_action_append) and print it (agent_action_json).  Before either planner is
// asked, agent_forced_action settles what needs no decision: a finished investigation,
// an experiment whose results are incomplete (re-run it).
//
// Results.  A result record ({"kind":"result","experiment":NAME,"tool":TOOL, ...the tool's
// output record}) belongs to the experiment of that name and to the configuration whose
// block list equals its "layers".  Results are deduplicated, not tagged per run: the
// tools are deterministic, so a re-run after an interruption writes the same records
// again, and for each (tool, example id, configuration, position) the LAST record read
// wins.  An experiment is complete when every (example, configuration) has its scoreloss
// record and each of the first AGENT_SAMPLES examples has its runlayers and topk records.
#ifndef AUTOINTERP_AGENT_H
#define AUTOINTERP_AGENT_H
#include <stdio.h>

#include "agent/journal.h"
#include "base/json.h"
#include "experiment/judge.h"
#include "experiment/layers.h"

#define AGENT_SAMPLES          3    // examples runlayers and topk see (the first ones)
#define AGENT_TOP_K            5    // topk -k of the loop; top tokens kept per row
#define AGENT_MAX_ATTEMPTS     3    // runs of one experiment before it is given up incomplete
#define AGENT_NAME_MAX         80   // experiment names: [A-Za-z0-9_.:/+-], 1..80 bytes
#define AGENT_MAX_CONFIGS      64   // configurations of one experiment
#define AGENT_MAX_EXAMPLES     64   // examples of one experiment
#define AGENT_DEFAULT_EXAMPLES 8

// ----------------------------------------------------------------------------- state

enum { AGENT_TOOL_SCORELOSS, AGENT_TOOL_RUNLAYERS, AGENT_TOOL_TOPK, AGENT_N_TOOLS };
extern const char *const agent_tool_names[AGENT_N_TOOLS];   // "scoreloss", "runlayers", "topk"

typedef struct {
    char *id;       // "facts-0"
    char *prompt;   // NULL when no record carried one
    char *answer;
} AgentExample;

// One result record, reduced to what the agent reads.
typedef struct {
    int ex;         // index into AgentExperiment.ex
    int cfg;        // index into AgentExperiment.configs
    int position;   // topk: the position read; otherwise -1
    char *error;    // the record's "error" (owned), or NULL
    long lineno;    // journal line it came from
    // scoreloss
    double loss;
    int exact;
    // runlayers
    char *completion;   // owned, or NULL
    char *judgements;   // a judged record's raw "judgements" array (owned), or NULL
    // topk
    char *token;              // the token at `position` (owned), or NULL
    char *top[AGENT_TOP_K];   // (n_top) most likely next tokens, owned
    double top_prob[AGENT_TOP_K];
    int n_top;
    long long answer_rank;   // -1 when absent
    double kl;               // kl_from_intact; -1 when absent
} AgentRow;

typedef struct {
    AgentRow *row;   // (n) owned, deduplicated (see the top of this file)
    int n, cap;
} AgentRows;

// Experiments by method (docs/interp.md).  NULL: layer configurations (the default).
//   "ablation"  scoreloss --sweep ablate-heads|ablate-mlps: the configurations are the
//               intact model and one per ablated component, told apart by label
//               ("ablate L1H3", "ablate mlp 2") since they share their layers
//   "patching"  scoreloss --patch-sweep[=HOOK] on a task with clean/corrupted pairs: one
//               result per (example, block, position or head), kept as AgentPatchRows
#define AGENT_METHOD_ABLATION "ablation"
#define AGENT_METHOD_PATCHING "patching"

// One cell of a patch sweep (deduplicated per (example, block, column), the last wins).
typedef struct {
    int ex;           // index into AgentExperiment.ex
    int layer, col;   // the block; the position (or the head when is_head); -1 for an error
    int is_head;
    double effect;   // patch_effect (NaN when null): this pair's own normalised effect
    double metric;   // the patched run's value of patch_metric (logit_diff or answer_loss)
    double clean_ld, corrupt_ld;   // the logit-difference baselines (NaN without)
    double clean_loss, corrupt_loss;
    int cells;     // patch_cells: the cells of this example's grid
    int changed;   // the clean and corrupted tokens differ at this position
    char *token;   // the clean token at the position (owned), or NULL
    char *error;   // the record's error (owned), or NULL
    long lineno;
} AgentPatchRow;

typedef struct {
    AgentPatchRow *row;
    int n, cap;
} AgentPatchRows;

// The open state file that lazy rows are read from (agent_snapshot.c).
typedef struct AgentStateFile AgentStateFile;

typedef struct {
    char *name, *task;
    ConfigList configs;   // in the action's order, with their labels
    int examples;         // n asked for
    int samples;          // examples runlayers/topk see: min(AGENT_SAMPLES, examples)
    int step;             // the step of the action that planned it
    int attempts;         // actions that (re)started it (1 + resumes), less the runs
                          //   that were interrupted (see agent_forced_action)
    char *planner;        // the planner of the action that planned it, as journalled
                          //   (AgentAction.planner's values; owned), or NULL
    char *hypothesis;     // what the experiment tests (owned), or NULL
    char *sweeps;         // the action's "sweeps", space-separated (owned), or NULL
    AgentExample *ex;     // (n_ex) owned, in order of first appearance
    int n_ex;
    AgentRows rows[AGENT_N_TOOLS];
    long n_stray;           // results whose layers match no configuration
    char *method;           // AGENT_METHOD_* (owned), or NULL: layer configurations
    char *method_arg;       // ablation: its sweep ("ablate-heads"); patching: its hook
    AgentPatchRows patch;   // patching: the cells
    int judge;              // the action's "judge": runlayers' completions go through
                            //   `judge` (tool "judge" results count as runlayers rows)
    // Read lazily from the state file (agent_snapshot.h): while lazy is non-NULL, only name
    // and attempts are set; the other fields (rows and patch cells included) are the
    // lazy_len bytes at lazy_off of that file, of FNV-1a hash lazy_hash (checked when they
    // are read); their readers load them first (agent_experiment_load), and
    // agent_experiment_complete answers from the cache below.
    AgentStateFile *lazy;
    long long lazy_off;
    size_t lazy_len;
    unsigned long long lazy_hash;
    int lazy_complete;              // agent_experiment_complete's result when saved
    int lazy_need[AGENT_N_TOOLS];   // and its need[]
} AgentExperiment;

typedef struct {
    char *experiment, *task;   // NULL when the note names none
    char *observation;         // (read lazily: NULL until agent_note_load)
    char *hypothesis;          // NULL when absent
    // Read lazily from the state file (agent_snapshot.h), as an experiment's other fields:
    // while lazy is non-NULL, observation and hypothesis are the lazy_len bytes at lazy_off
    // of that file, of FNV-1a hash lazy_hash; their readers call agent_note_load first.
    AgentStateFile *lazy;
    long long lazy_off;
    size_t lazy_len;
    unsigned long long lazy_hash;
} AgentNote;

typedef struct {
    char *model_name;       // meta.model.name
    int n_layer;            // meta.model.n_layer
    int n_head;             // meta.model.n_head (0 when absent)
    int vocab;              // meta.model.vocab (0 when absent): chance loss is ln(vocab)
    char *model_json;       // raw text of meta.model (owned)
    char *goal;             // meta.goal (owned), or NULL
    AgentExperiment *exp;   // (n_exp) in journal order
    int n_exp;
    AgentNote *note;   // (n_note) in journal order
    int n_note;
    char **task_recorded;   // (n_task_recorded) tasks that have a "task" record
    int n_task_recorded;
    int n_actions;              // action records
    int n_after_interruption;   // of which re-runs after an interruption (not counted as steps)
    char *last_experiment;      // the experiment the last action record (re)started, or NULL
    int last_step;              // largest "step" of an action record (0: none)
    char *queued;               // raw JSON array of the last action's "queued" tool calls
    char *report;               // markdown of the last report record, or NULL
    int n_llm;                  // llm records
    long n_stray;               // results naming no planned experiment
    int n_issues;               // torn or invalid lines of the journal
    AgentStateFile *file;       // the state file experiments' lazy rows are read from
                                //   (owned, agent_snapshot.h), or NULL
} AgentState;

// Read the investigation from a loaded journal.  The first meta record must carry
// "model": {"name": str, "n_layer": int >= 1}.  0, or -1 with a message in err (no meta
// record, or a bad one); free *s with agent_state_free in both cases.  Records that are
// malformed for the agent (an action without a name, a result without layers) are
// skipped, never fatal.
int agent_state_build(AgentState *s, const JournalLog *log, char *err, size_t errlen);
// The same one record at a time (agent_state_build is these two): begin with the journal's
// first meta record (0, or -1 with a message; free *s in both cases), then add every
// record of the journal in file order, the meta record and any before it included
// (records of kinds the agent does not read are ignored).  The state after k records
// depends on those k records only, so a state saved after a prefix of the journal and
// then given the rest equals the state built from the whole (agent_snapshot.h).
// n_issues is left to the caller.
int agent_state_begin(AgentState *s, const Record *meta, char *err, size_t errlen);
void agent_state_add(AgentState *s, const JournalEntry *e);
void agent_state_free(AgentState *s);

// Make all of e present: an experiment read from the state file (agent_snapshot.h) has
// only its name, attempts and completeness until this reads its section (the other fields,
// the rows and patch cells); else nothing.  Every reader of an experiment's other fields
// calls it first.  e is const for its readers; it becomes what it would be had it been
// read eagerly (or, its section damaged, agent_experiment_reset's, with the state damaged).
void agent_experiment_load(const AgentExperiment *e);
// Make n's observation and hypothesis present, as agent_experiment_load does e's (a damaged
// section leaves the observation "" and the state damaged).
void agent_note_load(const AgentNote *n);
// Free e's rows and patch cells (e has none after).
void agent_experiment_rows_clear(AgentExperiment *e);
// Make e an experiment planned and never run, keeping its name and attempts: task "", the
// intact configuration of n_layer blocks, one example asked for, no rows.
void agent_experiment_reset(AgentExperiment *e, int n_layer);
// 1 when an experiment's section read lazily from the state file was damaged (short, or
// not of its hash: the file was changed or truncated after the step read it): that
// experiment is missing, so nothing decided from s may be used — build the state again without the
// state file (agent_journal_read with AGENT_READ_REBUILD) and decide again.  0 otherwise.
int agent_state_damaged(const AgentState *s);
// Close the state file of s->file (agent_state_free calls it).
void agent_state_file_free(AgentStateFile *f);

// The experiment called name, or NULL.
AgentExperiment *agent_experiment_find(const AgentState *s, const char *name);
// Index of the intact configuration [0..n_layer-1] of e, or -1.
int agent_experiment_intact(const AgentExperiment *e, int n_layer);
// Is every result of e in?  need[t] (if non-NULL) gets 1 for each tool whose results are
// missing.  1 complete, 0 not.
int agent_experiment_complete(const AgentExperiment *e, int need[AGENT_N_TOOLS]);
// Is there a note naming e?
int agent_experiment_noted(const AgentState *s, const AgentExperiment *e);
// The row of tool t for (example ex, configuration cfg); for topk the last position's.
// NULL when absent.
const AgentRow *agent_row_find(const AgentExperiment *e, int t, int ex, int cfg);

// Loss statistics of configuration cfg over its scoreloss rows (error rows excluded).
typedef struct {
    int n;               // rows with a loss
    int n_error;         // rows with an error
    double mean;         // mean answer_loss (0 when n == 0)
    double sem;          // standard error of the mean (0 for n < 2)
    double exact_rate;   // fraction with answer_exact
    int has_delta;       // the experiment has an intact configuration with losses
    double delta;        // mean − the intact configuration's mean
} AgentStats;
AgentStats agent_config_stats(const AgentExperiment *e, int cfg, int n_layer);

// The verdicts of e's judged runlayers rows (`judge`), per (task, configuration label,
// question), as `judge --summary` counts them, into *out (free with judge_summary_free).
void agent_experiment_speaks(const AgentExperiment *e, JudgeSummary *out);

// The kind of corruption an experiment's labels describe (for notes and the report).
typedef enum {
    AGENT_KIND_OTHER,
    AGENT_KIND_DROP_LAST,
    AGENT_KIND_DROP_FIRST,
    AGENT_KIND_SKIP_ONE,
    AGENT_KIND_SKIP_RANGE,
    AGENT_KIND_REPEAT,
    AGENT_KIND_SWAP,
    AGENT_KIND_PERMUTE,
    AGENT_KIND_ABLATION,
    AGENT_KIND_PATCHING
} AgentKind;
AgentKind agent_experiment_kind(const AgentExperiment *e);

// Does the task (a built-in) come with clean/corrupted pairs ("corrupt_prompt")?
int agent_task_has_pairs(const char *task);

// The configurations of a method experiment: ablation — the intact model, then one
// configuration per component of sweep arg ("ablate-heads": needs n_head >= 1;
// "ablate-mlps"), labelled as scoreloss labels them; patching — the intact model.  0, or
// -1 with a message for an unknown method or sweep.
int agent_method_configs(const char *method, const char *arg, int n_layer, int n_head,
                         ConfigList *out, char *err, size_t errlen);

// A cell of a patch grid (AgentPatchSummary): block, column (offset from the end, or the
// head) and its effect.
typedef struct {
    int layer, col;
    double effect;
} AgentPatchCell;

// A block's row: the effect at the final position and the effect of each example's best
// changed token (NaN: none).
typedef struct {
    double last, changed;
} AgentPatchBlock;

// What a patch sweep shows, over the examples of a patching experiment.  Positions are
// compared across examples of different lengths by their offset from the end (0: the
// final position), as the report's tables and heatmaps show them.  Every effect is
// batch-normalised (experiment/patchnorm.h): (mean patched − mean corrupted) / (mean clean
// − mean corrupted) of the metric (the logit difference when the sweep has one, else the
// answer loss) over the examples that have the cell.
typedef struct {
    int n_ex;                 // examples with cells
    int is_head;              // the sweep patched heads (columns are heads)
    int rows;                 // blocks 0..rows-1
    int width;                // columns: the longest prompt's positions, or the heads
    int uses_logit_diff;      // the metric is the logit difference (else the answer loss)
    int n_degenerate;         // pairs whose clean and corrupted metrics are within
                              //   PATCH_DEGENERATE_FRACTION of the batch's mean difference
    AgentPatchBlock *block;   // (rows)
    AgentPatchCell best;      // the largest effect among the columns at least half the examples
                              //   have; best.layer -1 when none
    char *best_token;         // the clean token there in the longest prompt, or NULL
    AgentPatchCell top[3];    // heads: the n_top (<= 3) largest mean effects, largest first
    int n_top;
    double clean_ld, corrupt_ld, clean_loss, corrupt_loss;   // mean baselines (NaN: none)
    int n_error;                                             // examples whose record was an error
} AgentPatchSummary;
void agent_patch_summary(const AgentExperiment *e, int n_layer, AgentPatchSummary *ps);
void agent_patch_summary_free(AgentPatchSummary *ps);

// ----------------------------------------------------------------------------- actions

typedef enum {
    AGENT_ACTION_NONE,
    AGENT_ACTION_EXPERIMENT,
    AGENT_ACTION_NOTE,
    AGENT_ACTION_REPORT
} AgentActionType;

typedef struct {
    AgentActionType type;
    const char *planner;   // "builtin", "llm", "resume" (an interrupted experiment
                           //   resumed) or "journal" (its report) (static)
    // experiment
    char *name, *task;
    ConfigList configs;   // labels set
    int examples;
    char *sweeps;              // space-separated sweep names that expand to exactly `configs`
                               //   (the built-in plan), so the tools label them alike; or NULL
    char *method;              // AGENT_METHOD_* or NULL (layer configurations); see above
    char *method_arg;          // ablation: the sweep; patching: the hook (resid_pre, head, ...)
    int resume;                // 1: a re-run of the journalled experiment `name`
    int need[AGENT_N_TOOLS];   // resume: the tools whose results are missing (else all 1)
    int after_interruption;    // resume: the run before was interrupted (agent_forced_action)
    int judge;                 // runlayers on every example, its completions judged (`judge`)
    // note (also uses task; an experiment may carry a hypothesis too)
    char *experiment, *observation, *hypothesis;   // experiment, hypothesis may be NULL
    // report
    char *markdown;
    int finished;   // the journal already holds this report: nothing to append
    // llm: further valid action calls of the same reply, run in the next steps
    char *queued;   // raw JSON array, or NULL
} AgentAction;

void agent_action_free(AgentAction *a);

// The printed line of action a at step `step`, with its '\n', appended to out:
//   {"type":"experiment","step","name","task","configurations","labels","examples",
//    "samples"[,"sweeps"][,"method"[,"patch_hook"]][,"judge":true][,"hypothesis"][,"resume":true,
//    "rerun":[tools][,"after_interruption":true]],"planner"}
//                                     (a method experiment: samples 0, only scoreloss runs;
//                                      a judged one: samples = examples)
//   {"type":"note","step","experiment"?,"task"?,"observation","hypothesis"?,"planner"}
//   {"type":"report","step","markdown","planner"}
void agent_action_json(JsonBuf *out, const AgentAction *a, int step);

// Journal action a as step `step`: the action record, then (a note) the note record,
// (a report) the report record, (an experiment on a task without a task record) the task
// record.  A finished report appends nothing.  0, or -1 with a message in err.
int agent_action_append(Journal *j, const AgentState *s, const AgentAction *a, int step, char *err,
                        size_t errlen);

// Shell assignments describing a for pipelines/agent-loop.sh (values single-quoted):
//   type= step= name= task= examples= samples= n_configs= config_K='[0,1]' label_K=
//   n_sweeps= sweep_K= need_scoreloss= need_runlayers= need_topk=        (experiment)
//   method= patch_hook=                                  (a method experiment, else empty)
//   judge=1                                              (a judged experiment, else empty)
void agent_action_sh(FILE *fp, const AgentAction *a, int step);

// ----------------------------------------------------------------------------- checks

// Is name a valid experiment name (see AGENT_NAME_MAX)?  0, or -1 with a message.
int agent_name_check(const char *name, char *err, size_t errlen);

// Build the configurations of an experiment from the JSON array token arr of d: each
// element a block-index array ([0,1,2]) or a SPEC string ("0-5,7"); labels (token or -1)
// an array of strings of the same length.  Duplicates are dropped (the first kept); the
// intact configuration is put first when missing.  Unlabelled configurations get
// "intact" or their compact form.  0, or -1 with a message fit for the LLM naming the
// element at fault ("configuration 2: layer index 14 out of range 0..11").
int agent_configs_parse(const JsonDoc *d, int arr, int labels, int n_layer, ConfigList *out,
                        char *err, size_t errlen);

// ----------------------------------------------------------------------------- steps

typedef struct {
    const char *const *tasks;   // (n_tasks) tasks the agent may use, in order
    int n_tasks;
    int examples;    // examples per experiment of the built-in planner
    int max_steps;   // actions before the report is due; 0: no limit
    int finish;      // write the report now
    int new_run;     // the first step of a loop run (agentstep --new-run)
} AgentOptions;

// The action that needs no planner, if any: the journal's report when it has one
// (finished), or an experiment whose results are incomplete, re-run (resume) — unless it
// already ran AGENT_MAX_ATTEMPTS times, then it is left as it is; a re-run carries the
// last action's queued calls on.  1 with *a filled, 0 when the planner must decide.
// Interruptions are not attempts: on the first step of a loop run (o->new_run), an
// incomplete experiment that the journal's last action (re)started was cut off by the
// end of the previous run (a kill, a crash, Ctrl-C), not run to its end; its re-run is
// marked after_interruption, and the interrupted run counts neither among the
// experiment's attempts nor as a step (agent_report_due).
int agent_forced_action(const AgentState *s, const AgentOptions *o, AgentAction *a);

// Does the step budget call for the report (opts->finish, or max_steps actions taken, not
// counting interrupted runs)?
int agent_report_due(const AgentState *s, const AgentOptions *o);

// ----------------------------------------------------------------------------- text
// Small formatting helpers shared by the planners (jb_printf and xasprintf do the rest).
// A copy of s cut to at most max bytes (at a UTF-8 boundary) with "..." appended when cut,
// newlines shown as "\n": for one-line displays of prompts and completions.
char *agent_clip(const char *s, size_t max);

#endif
