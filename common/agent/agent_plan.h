// agent_plan: the built-in, deterministic planner of the research agent (no LLM).
//
// The plan: for each task in turn (AgentOptions.tasks), one experiment per corruption
// type, named "<task>/<type>", with the configurations of common/experiment/layers.h's sweeps for
// the model's n_layer:
//   drop-last      keep the first n blocks             (sweep drop-last)
//   drop-first     keep the last n blocks              (sweep drop-first)
//   skip-one       remove one block                    (sweep skip-one)
//   skip-range:2   remove two adjacent blocks          (sweep skip-range:2)
//   repeat-one     apply one block twice               (sweep repeat-one)
//   swap-adjacent  exchange neighbouring blocks        (sweep swap-adjacent)
//   permute        all blocks reversed + 3 shuffles    (sweeps reverse, shuffle:3:1)
// A type whose sweep adds nothing to the intact model for this depth is left out.
// drop-last experiments are judged: runlayers runs on every example and its completions
// go through `judge` (the action's "judge": true), so the report can show how the model
// speaks as blocks are dropped.
// Tasks with clean/corrupted pairs (facts-pairs) are studied with the interpretability
// methods instead, after every other task's experiments (the end of the plan):
//   patching       activation patching of the residual stream, block x position
//                  (scoreloss --patch-sweep; method "patching", hook resid_pre)
//   ablate-heads   every attention head zero-ablated alone (scoreloss --sweep ablate-heads)
//
// A step: the report when it is due (agent_report_due); else a note on the first
// experiment whose results are complete and that has no note yet, computed from the
// measured numbers; else the first experiment of the plan not yet in the journal; else
// the report.  The same journal always gives the same action.
// Called outside this module only by the tests (tests/unit/test_agent.c): agent_note_builtin,
// agent_plan_items.
#ifndef AUTOINTERP_AGENT_PLAN_H
#define AUTOINTERP_AGENT_PLAN_H
#include "agent/agent.h"

#define AGENT_DEFAULT_TASKS "facts,addition,counting,json,facts-pairs"
#define AGENT_TOLERANCE     0.10   // "within 10% of the intact loss" ...
#define AGENT_TOLERANCE_MIN 0.05   // ... or of this many nats, whichever is larger
// Patching notes draw a conclusion only when the clean and corrupted runs' mean metrics are
// at least this many nats apart in the clean answer's favour (and, with a logit
// difference, the clean run prefers the clean answer).
#define AGENT_PATCH_MIN_GAP 1.0

typedef struct {
    char name[AGENT_NAME_MAX + 1];   // "facts/drop-last"
    const char *task;                // borrowed from AgentOptions.tasks
    const char *type;                // "drop-last", ... (static)
    const char *sweeps;              // "drop-last", "reverse shuffle:3:1", ... (static); NULL: none
    const char *method;              // AGENT_METHOD_* or NULL (layer configurations)
    const char *method_arg;          // its sweep or hook, or NULL
    int judge;                       // runlayers on every example, judged (drop-last)
} AgentPlanItem;

// The plan for opts->tasks on an n_layer model into a malloc'd array *items (free it).
// Returns the number of items.
int agent_plan_items(const AgentOptions *o, int n_layer, AgentPlanItem **items);

// Decide the built-in planner's action for s (after agent_forced_action found none).
// 0, or -1 with a message in err.
int agent_plan_builtin(const AgentState *s, const AgentOptions *o, AgentAction *a, char *err,
                       size_t errlen);

// The note on experiment e computed from its results: observation (the numbers) and
// hypothesis (one sentence).  Fills a as a note action.
void agent_note_builtin(const AgentState *s, const AgentExperiment *e, AgentAction *a);

// The results section assembled from the journal's notes (computed ones for experiments
// that have none), per task: where the capability appears along depth, which blocks are
// critical, robustness to repetition and permutation, other notes.  Malloc'd markdown.
// Public beside agent_note_builtin, though today only agent_plan_builtin calls it.
char *agent_report_builtin(const AgentState *s);

#endif
