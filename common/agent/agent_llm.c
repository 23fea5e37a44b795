// agent_llm: prompts, tools and the step loop of the LLM-driven agent; see agent_llm.h.
#include "agent/agent_llm.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/strmap.h"
#include "base/util.h"
#include "experiment/interp.h"
#include "experiment/tasks.h"

static int pct(double rate) { return (int)lround(rate * 100); }

// ----------------------------------------------------------------------------- system prompt

// The tasks of o that come with clean/corrupted pairs, as text ("none of the tasks" when none).
static const char *pair_tasks(const AgentOptions *o) {
    static char buf[512];
    buf[0] = '\0';
    for (int i = 0; i < o->n_tasks; i++)
        if (agent_task_has_pairs(o->tasks[i]))
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", buf[0] ? ", " : "",
                     o->tasks[i]);
    return buf[0] ? buf : "none of this investigation's tasks";
}

char *agent_llm_system_prompt(const AgentState *s, const AgentOptions *o, int step) {
    JsonBuf b = {0};
    int L = s->n_layer;
    jb_printf(
        &b,
        "You are a mechanistic interpretability researcher. You study %s, a GPT-2 model with %d transformer "
        "blocks (numbered 0-%d, TransformerLens numbering), by running it with corrupted layer configurations "
        "and measuring what changes.\n\n",
        s->model_name, L, L - 1);
    jb_printf(
        &b,
        "A layer configuration is the ordered list of blocks applied between the embeddings and the final "
        "LayerNorm, e.g. [0,1,2,3]. The intact model is [0..%d]; leaving blocks out, repeating them or changing "
        "their order corrupts it. [] (no blocks) maps the embeddings straight to the unembedding. Every experiment "
        "also runs the intact model, so each configuration is compared with it.\n\n",
        L - 1);
    jb_printf(
        &b,
        "What an experiment measures, per configuration, on n examples of one task: the answer loss (mean "
        "cross-entropy of the answer tokens in nats) and its change against the intact model, the exact-match "
        "rate (greedy decoding reproduces the answer), and for the first %d examples the greedy completion and "
        "the top-%d next tokens after the prompt.\n\n",
        AGENT_SAMPLES, AGENT_TOP_K);
    if (s->goal) jb_printf(&b, "The researcher's question: %s\n\n", s->goal);
    jb_printf(
        &b,
        "Goals:\n"
        "1. How localised are the computations behind each capability: which blocks matter, which are redundant?\n"
        "2. For each task, which minimal set of layers keeps the capability (loss close to intact, exact matches kept)?\n"
        "3. Which minimal sets of layers break it when they are skipped?\n"
        "4. How robust is the model to repeating or reordering blocks?\n\n");
    jb_printf(
        &b,
        "Method: state a hypothesis, run the experiment that tests it, read the numbers, record what they show "
        "with add_note (the observation with its numbers, and what it means for the hypothesis), then choose "
        "the next configurations. Prefer a few informative configurations over exhaustive sweeps. When the "
        "evidence answers the goals, call write_report with a results section in Markdown: short findings per "
        "task, each with the numbers behind it, in the style of \"keeping only layer 0 only repeats the last "
        "token; grammar/format becomes correct between layers 8 and 10; addition is correct only with the last "
        "layer; removing the first layer breaks the model completely\".\n\n");
    jb_printf(&b, "Tasks (name: description):\n");
    for (int i = 0; i < o->n_tasks; i++) {
        const TaskInfo *t = tasks_find(o->tasks[i]);
        jb_printf(&b, "- %s: %s\n", o->tasks[i], t && t->description ? t->description : "");
    }
    jb_printf(
        &b,
        "\nBeyond layer order (these run on the intact model): run_patching does activation patching on a "
        "task with clean/corrupted prompt pairs (%s): the clean run's residual stream (or a head's output) is "
        "patched into the corrupted run at each block and position, and the effect 1 means the clean answer is "
        "restored; run_ablation zero-ablates each attention head (or each MLP) alone and measures the answer "
        "loss, like a skip-one experiment on components.\n",
        pair_tasks(o));
    jb_printf(
        &b,
        "\nHow the corrupted model speaks: run_judge runs configurations (default: drop-last, the first n blocks) "
        "and generates a completion for every example, then judges each completion: offline judges (the answer "
        "at the start, the prompt's last token repeated, n-gram loops, the share of English words, valid JSON) "
        "and, when an LLM judge is available, the task's eval questions; the results show the yes-rate of each "
        "question per configuration.\n");
    jb_printf(
        &b,
        "\nTools: run_experiment starts an experiment (its results are in the journal at your next turn); "
        "add_note records an observation and hypothesis; write_report writes the results section and ends the "
        "investigation; list_experiments and get_results read the journal and are answered at once. Call "
        "exactly one of run_experiment, run_patching, run_ablation, run_judge, add_note or write_report per turn; query tools "
        "may come before it. "
        "Experiment names must be new and use only letters, digits and _ . : / + - (e.g. \"facts/first-6\"). "
        "At most %d configurations and %d examples per experiment (default %d).\n\n",
        AGENT_MAX_CONFIGS, AGENT_MAX_EXAMPLES, o->examples);
    if (o->max_steps > 0) jb_printf(&b, "This is step %d of at most %d.\n", step, o->max_steps);
    else jb_printf(&b, "This is step %d.\n", step);
    return jb_take(&b);
}

// ----------------------------------------------------------------------------- summaries

static const char *status_of(const AgentExperiment *e) {
    if (agent_experiment_complete(e, NULL)) return "complete";
    return e->attempts >= AGENT_MAX_ATTEMPTS ? "incomplete, given up" : "results incomplete";
}

static void config_layers(JsonBuf *b, const LayerConfig *c) {
    char buf[256];
    layers_compact(c->idx, c->n, buf, sizeof buf);
    jb_printf(b, "%s", buf);
}

// A patching experiment's grid, summarised: per block the effect at the last position and
// the best at the changed tokens (or the top heads), batch-normalised as the notes and the
// report have them.
static void render_patching(JsonBuf *b, const AgentState *s, const AgentExperiment *e) {
    agent_experiment_load(e);
    AgentPatchSummary ps;
    agent_patch_summary(e, s->n_layer, &ps);
    jb_printf(b, "activation patching of %s (clean -> corrupted), %d examples with results%s\n",
              e->method_arg ? e->method_arg : "resid_pre", ps.n_ex,
              ps.n_error ? " (some errors)" : "");
    if (!isnan(ps.clean_ld))
        jb_printf(b, "logit diff (answer - wrong answer): clean %.2f, corrupted %.2f\n",
                  ps.clean_ld, ps.corrupt_ld);
    else if (!isnan(ps.clean_loss))
        jb_printf(b, "answer loss: clean %.2f, corrupted %.2f\n", ps.clean_loss, ps.corrupt_loss);
    jb_printf(
        b,
        "effects: (mean patched - mean corrupted) / (mean clean - mean corrupted); %d of %d pairs degenerate "
        "(clean and corrupted nearly equal)\n",
        ps.n_degenerate, ps.n_ex);
    if (ps.is_head) {
        jb_printf(b, "largest effects of one head:");
        for (int k = 0; k < ps.n_top; k++)
            jb_printf(b, "%s L%dH%d %.2f", k ? "," : "", ps.top[k].layer, ps.top[k].col,
                      ps.top[k].effect);
        jb_printf(b, "\n");
    } else if (ps.best.layer >= 0) {
        jb_printf(b, "block | effect at the last position (-1) | best effect at a changed token\n");
        for (int l = 0; l < ps.rows; l++)
            jb_printf(b, "%d | %.2f | %.2f\n", l, ps.block[l].last, ps.block[l].changed);
        jb_printf(
            b,
            "largest effect: block %d, position %d (from the end; -1 the last token)%s%s%s, %.2f\n",
            ps.best.layer, -(ps.best.col + 1), ps.best_token ? " \"" : "",
            ps.best_token ? ps.best_token : "", ps.best_token ? "\"" : "", ps.best.effect);
    }
    agent_patch_summary_free(&ps);
}

// The loss table of e: one line per configuration.
static void render_table(JsonBuf *b, const AgentState *s, const AgentExperiment *e, int detailed) {
    agent_experiment_load(e);
    if (e->method && !strcmp(e->method, AGENT_METHOD_PATCHING)) {
        render_patching(b, s, e);
        return;
    }
    jb_printf(b, detailed ? "configuration | layers | n | loss ± sem | Δ intact | exact | errors\n"
                          : "configuration | layers | loss | Δ intact | exact\n");
    // An ablation sweep in the prompt: the intact model and the 12 largest changes.
    int limit = !detailed && e->method && e->configs.n > 13 ? 12 : 0;
    double cut = -INFINITY;
    if (limit) {
        double *d = xmalloc(sizeof(double) * (size_t)e->configs.n);
        int n = 0;
        for (int k = 1; k < e->configs.n; k++) {
            AgentStats st = agent_config_stats(e, k, s->n_layer);
            if (st.has_delta) d[n++] = fabs(st.delta);
        }
        for (int i = 0; i < n && i < limit; i++)   // the limit-th largest |delta|
            for (int j = i + 1; j < n; j++)
                if (d[j] > d[i]) {
                    double t = d[i];
                    d[i] = d[j];
                    d[j] = t;
                }
        if (n > limit) cut = d[limit - 1];
        free(d);
    }
    int shown = 0;
    for (int k = 0; k < e->configs.n; k++) {
        AgentStats st = agent_config_stats(e, k, s->n_layer);
        if (limit && k > 0 && (!st.has_delta || fabs(st.delta) < cut || shown >= limit)) continue;
        shown += k > 0;
        jb_printf(b, "%s | ", e->configs.cfg[k].label);
        config_layers(b, &e->configs.cfg[k]);
        if (st.n == 0) {
            jb_printf(b, " | no results%s\n", st.n_error ? " (errors)" : "");
            continue;
        }
        if (detailed) jb_printf(b, " | %d | %.2f ± %.2f", st.n, st.mean, st.sem);
        else jb_printf(b, " | %.2f", st.mean);
        if (st.has_delta) jb_printf(b, " | %+.2f", st.delta);
        else jb_printf(b, " | -");
        jb_printf(b, " | %d%%", pct(st.exact_rate));
        if (detailed) jb_printf(b, " | %d", st.n_error);
        jb_printf(b, "\n");
    }
    if (limit && e->configs.n - 1 > shown)
        jb_printf(b, "(%d smaller changes left out; get_results shows all)\n",
                  e->configs.n - 1 - shown);
}

static void render_example(JsonBuf *b, const AgentExample *x) {
    char *p = agent_clip(x->prompt ? x->prompt : "", 160),
         *a = agent_clip(x->answer ? x->answer : "", 60);
    jb_printf(b, "%s: prompt \"%s\" -> answer \"%s\"\n", x->id, p, a);
    free(p);
    free(a);
}

// Completion and top tokens of example ex under configuration k, on one line.
static void render_sample(JsonBuf *b, const AgentExperiment *e, int ex, int k) {
    agent_experiment_load(e);
    const AgentRow *g = agent_row_find(e, AGENT_TOOL_RUNLAYERS, ex, k);
    const AgentRow *t = agent_row_find(e, AGENT_TOOL_TOPK, ex, k);
    if (!g && !t) return;
    jb_printf(b, "  %s:", e->configs.cfg[k].label);
    if (g && g->completion) {
        char *c = agent_clip(g->completion, 80);
        jb_printf(b, " completion \"%s\"", c);
        free(c);
    } else if (g && g->error) {
        jb_printf(b, " completion error");
    }
    if (t && t->n_top > 0) {
        jb_printf(b, "; top:");
        for (int i = 0; i < t->n_top; i++) {
            char *tok = agent_clip(t->top[i], 24);
            jb_printf(b, "%s \"%s\" %.2f", i ? "," : "", tok, t->top_prob[i]);
            free(tok);
        }
        if (t->answer_rank >= 0) jb_printf(b, "; answer rank %lld", t->answer_rank);
    }
    jb_printf(b, "\n");
}

// The notes of each experiment, in journal order, found in one pass over the notes: the
// prompt shows ~160 experiments at 1 M records, and a scan of every note for each was most
// of its cost.
typedef struct {
    StrMap names;   // the experiment names notes carry
    int *first;     // (names.n) each name's first note
    int *next;      // (n_note) the next note of the same name, or -1
} NoteIndex;

static void note_index_build(NoteIndex *x, const AgentState *s) {
    memset(x, 0, sizeof *x);
    x->next = xmalloc(sizeof *x->next * (size_t)(s->n_note ? s->n_note : 1));
    int cap = 0;
    for (int i = s->n_note - 1; i >= 0; i--) {   // backwards: each name's list in order
        x->next[i] = -1;
        if (!s->note[i].experiment) continue;
        int added, id = strmap_intern_cstr(&x->names, s->note[i].experiment, &added);
        if (added) {
            if (id >= cap) {
                cap = cap ? 2 * cap : 64;
                x->first = xrealloc(x->first, sizeof *x->first * (size_t)cap);
            }
            x->first[id] = -1;
        }
        x->next[i] = x->first[id];
        x->first[id] = i;
    }
}

// The first note on the experiment named name, or -1; then x->next.
static int note_first(const NoteIndex *x, const char *name) {
    int id = strmap_find_cstr(&x->names, name);
    return id < 0 ? -1 : x->first[id];
}

static void note_index_free(NoteIndex *x) {
    strmap_free(&x->names);
    free(x->first);
    free(x->next);
}

static void render_notes(JsonBuf *b, const AgentState *s, const NoteIndex *x,
                         const AgentExperiment *e, size_t clip) {
    for (int i = note_first(x, e->name); i >= 0; i = x->next[i]) {
        const AgentNote *n = &s->note[i];
        agent_note_load(n);
        char *o = agent_clip(n->observation, clip);
        jb_printf(b, "note: %s", o);
        free(o);
        if (n->hypothesis) {
            char *h = agent_clip(n->hypothesis, clip);
            jb_printf(b, " Hypothesis: %s", h);
            free(h);
        }
        jb_printf(b, "\n");
    }
}

// One experiment at a detail level: 3 table + sample + notes, 2 table + notes, 1 one line.
// A judged experiment's verdicts: per question, the yes-rate of each configuration.
static void render_speaks(JsonBuf *b, const AgentExperiment *e) {
    agent_experiment_load(e);
    JudgeSummary js;
    agent_experiment_speaks(e, &js);
    if (js.n) jb_printf(b, "how it speaks (judge; yes-rate per configuration, n verdicts):\n");
    for (int q = 0; q < js.n; q++) {
        int first = 1;
        for (int k = 0; k < q; k++) first &= strcmp(js.g[k].question, js.g[q].question) != 0;
        if (!first) continue;
        jb_printf(b, "  %s [%s]:", js.g[q].question, js.g[q].judge ? js.g[q].judge : "");
        for (int k = 0; k < e->configs.n; k++)
            for (int g = 0; g < js.n; g++)
                if (!strcmp(js.g[g].question, js.g[q].question) &&
                    !strcmp(js.g[g].label, e->configs.cfg[k].label))
                    jb_printf(b, " %s %d%% (%ld);", js.g[g].label,
                              pct(judge_summary_stats(&js, &js.g[g]).yes_rate), js.g[g].n);
        if (b->buf[b->len - 1] == ';') b->len--;
        jb_printf(b, "\n");
    }
    judge_summary_free(&js);
}

static void render_experiment(JsonBuf *b, const AgentState *s, const NoteIndex *x,
                              const AgentExperiment *e, int level) {
    agent_experiment_load(e);
    if (level <= 0) return;
    if (level == 1) {
        jb_printf(b, "- %s (task %s, %d example%s, %d configurations, %s)", e->name, e->task,
                  e->examples, e->examples == 1 ? "" : "s", e->configs.n, status_of(e));
        int worst = -1, best = -1;
        AgentStats sw = {0}, sb = {0};
        for (int k = 0; k < e->configs.n; k++) {
            AgentStats st = agent_config_stats(e, k, s->n_layer);
            if (!st.has_delta || k == agent_experiment_intact(e, s->n_layer)) continue;
            if (worst < 0 || st.delta > sw.delta) worst = k, sw = st;
            if (best < 0 || st.delta < sb.delta) best = k, sb = st;
        }
        if (worst >= 0)
            jb_printf(b, ": most harmful %s (%+.2f), least %s (%+.2f)", e->configs.cfg[worst].label,
                      sw.delta, e->configs.cfg[best].label, sb.delta);
        jb_printf(b, "\n");
        for (int i = note_first(x, e->name); i >= 0; i = x->next[i]) {
            agent_note_load(&s->note[i]);
            char *o = agent_clip(s->note[i].observation, 200);
            jb_printf(b, "  note: %s\n", o);
            free(o);
        }
        return;
    }
    jb_printf(b, "\n## %s (task %s, %d example%s, %s)\n", e->name, e->task, e->examples,
              e->examples == 1 ? "" : "s", status_of(e));
    if (e->hypothesis) {
        char *h = agent_clip(e->hypothesis, 300);
        jb_printf(b, "tests: %s\n", h);
        free(h);
    }
    render_table(b, s, e, 0);
    if (e->judge) render_speaks(b, e);
    if (level >= 3 && e->n_ex > 0) {
        jb_printf(b, "sample ");
        render_example(b, &e->ex[0]);
        for (int k = 0; k < e->configs.n; k++) render_sample(b, e, 0, k);
    }
    render_notes(b, s, x, e, level >= 3 ? 1000 : 400);
    if (note_first(x, e->name) < 0 && agent_experiment_complete(e, NULL))
        jb_printf(b, "(no note yet)\n");
}

static void render_general_notes(JsonBuf *b, const AgentState *s) {
    int n = 0;
    StrMap names = {0};   // the experiments' names: one look-up per note, not a scan
    for (int i = 0; i < s->n_exp && s->n_note > 0; i++)
        strmap_intern_cstr(&names, s->exp[i].name, NULL);
    for (int i = 0; i < s->n_note; i++) {
        const AgentNote *nt = &s->note[i];
        if (nt->experiment && strmap_find_cstr(&names, nt->experiment) >= 0) continue;
        if (n++ == 0) jb_printf(b, "\n## Notes not tied to an experiment\n");
        agent_note_load(nt);
        char *o = agent_clip(nt->observation, 400);
        jb_printf(b, "- %s%s%s", nt->task ? nt->task : "", nt->task ? ": " : "", o);
        free(o);
        if (nt->hypothesis) {
            char *h = agent_clip(nt->hypothesis, 300);
            jb_printf(b, " Hypothesis: %s", h);
            free(h);
        }
        jb_printf(b, "\n");
    }
    strmap_free(&names);
}

// The newest experiment, when its results are in and it has no note yet.
static const AgentExperiment *unnoted_experiment(const AgentState *s) {
    const AgentExperiment *e = s->n_exp ? &s->exp[s->n_exp - 1] : NULL;
    return e && agent_experiment_complete(e, NULL) && !agent_experiment_noted(s, e) ? e : NULL;
}

static void render_instruction(JsonBuf *b, const AgentState *s, const AgentOptions *o) {
    const AgentExperiment *u = unnoted_experiment(s);
    jb_printf(b, "\n# Your turn\n");
    if (agent_report_due(s, o))
        jb_printf(
            b,
            "The investigation must end now: call write_report with the results section (Markdown), "
            "built from the evidence above.\n");
    else if (s->n_exp == 0)
        jb_printf(
            b,
            "Nothing has been run yet. State a first hypothesis and test it with run_experiment.\n");
    else if (u)
        jb_printf(
            b,
            "The results of %s are in and have no note yet: call add_note with what they show (the "
            "numbers) and what that means for your hypothesis. Then continue.\n",
            u->name);
    else
        jb_printf(
            b,
            "Choose the next action: run_experiment to test your current hypothesis further, add_note, "
            "or write_report when the goals are answered.\n");
}

int agent_llm_levels_exhaustive;

// The length of experiment i's text at level l (1..3), rendered once.
static size_t level_len(const AgentState *s, const NoteIndex *x, size_t (*len)[4], int i, int l) {
    if (len[i][l] == SIZE_MAX) {
        JsonBuf t = {0};
        render_experiment(&t, s, x, &s->exp[i], l);
        len[i][l] = t.len;
        jb_free(&t);
    }
    return len[i][l];
}

// Each experiment's level (3 full, 2 without samples, 1 a one-liner, 0 left out) within
// `limit` characters, `fixed` of them taken: over budget, older experiments lose their
// samples (3 -> 2), oldest first, then become one-liners (2 -> 1), then are left out (0);
// the newest experiment shrinks last (never left out).
static void choose_levels(const AgentState *s, const NoteIndex *x, size_t fixed, size_t limit,
                          int *level) {
    int n = s->n_exp;
    size_t(*len)[4] = xmalloc(sizeof *len * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) len[i][0] = 0, len[i][1] = len[i][2] = len[i][3] = SIZE_MAX;
    // When even the older experiments as one-liners overflow, the passes below end with
    // the oldest ones left out, the rest one-liners and the newest in full until it alone
    // overflows: found from the newest back, rendering only the experiments that show (the
    // step's cost stays flat in the number of experiments behind it).  Otherwise every
    // experiment's lengths are needed, and there are few (their one-liners fit).
    int first = -1;   // the oldest experiment shown, when the older ones overflow
    if (n >= 2 && !agent_llm_levels_exhaustive) {
        size_t sum = fixed + level_len(s, x, len, n - 1, 3);
        for (int i = n - 2; i >= 0 && first < 0; i--) {
            if (sum + level_len(s, x, len, i, 1) > limit) first = i + 1;
            else sum += len[i][1];
        }
        if (first >= 0) {
            for (int i = 0; i < n - 1; i++) level[i] = i < first ? 0 : 1;
            level[n - 1] = 3;
            for (int target = 2; target >= 1 && sum > limit; target--) {
                sum -= len[n - 1][level[n - 1]];
                level[n - 1] = target;
                sum += level_len(s, x, len, n - 1, target);
            }
        }
    }
    if (first < 0) {
        size_t total = fixed;
        for (int i = 0; i < n; i++) {
            for (int l = 1; l <= 3; l++) level_len(s, x, len, i, l);
            level[i] = 3;
            total += len[i][3];
        }
        for (int newest = 0; newest <= 1; newest++)
            for (int target = 2; target >= 0 && total > limit; target--)
                for (int i = newest ? n - 1 : 0; i < (newest ? n : n - 1) && total > limit; i++) {
                    if (level[i] <= target || (newest && target == 0))
                        continue;   // the newest stays in
                    total -= len[i][level[i]];
                    level[i] = target;
                    total += len[i][target];
                }
    }
    free(len);
}

char *agent_llm_user_prompt(const AgentState *s, const AgentOptions *o, int budget) {
    int n = s->n_exp;
    int *level = xcalloc((size_t)(n ? n : 1), sizeof *level);
    JsonBuf head = {0}, tail = {0};
    jb_printf(&head, "# Journal so far\nModel %s, %d blocks. %d experiment%s, %d note%s.\n",
              s->model_name, s->n_layer, s->n_exp, s->n_exp == 1 ? "" : "s", s->n_note,
              s->n_note == 1 ? "" : "s");
    render_general_notes(&tail, s);
    render_instruction(&tail, s, o);
    size_t fixed = head.len + tail.len + 120;   // 120: the "older experiments left out" line
    NoteIndex x;
    note_index_build(&x, s);
    choose_levels(s, &x, fixed, budget > 0 ? (size_t)budget : 0, level);
    JsonBuf b = {0};
    jb_raw(&b, head.buf, head.len);
    int omitted = 0, terse = 0;
    for (int i = 0; i < n; i++) omitted += level[i] == 0, terse += level[i] == 1;
    if (omitted)
        jb_printf(
            &b,
            "(%d older experiments are left out here; list_experiments and get_results show them.)\n",
            omitted);
    if (terse) jb_printf(&b, "\nOlder experiments, in brief:\n");
    for (int i = 0; i < n; i++)
        if (level[i] == 1) render_experiment(&b, s, &x, &s->exp[i], 1);
    for (int i = 0; i < n; i++)
        if (level[i] >= 2) render_experiment(&b, s, &x, &s->exp[i], level[i]);
    note_index_free(&x);
    jb_raw(&b, tail.buf, tail.len);
    jb_free(&head);
    jb_free(&tail);
    free(level);
    return jb_take(&b);
}

// ----------------------------------------------------------------------------- tools

void agent_llm_tools(JsonBuf *tools, const AgentState *s, const AgentOptions *o) {
    JsonBuf p = {0}, tasks = {0};
    jb_raw(&tasks, "[", 1);
    for (int i = 0; i < o->n_tasks; i++) jb_sep(&tasks), jb_cstr(&tasks, o->tasks[i]);
    jb_raw(&tasks, "]", 1);
    jb_printf(
        &p,
        "{\"type\":\"object\",\"properties\":{"
        "\"name\":{\"type\":\"string\",\"description\":\"a new, unique experiment name: letters, digits and _ . : / + - "
        "(e.g. facts/first-6)\"},"
        "\"task\":{\"type\":\"string\",\"enum\":%s},"
        "\"configurations\":{\"type\":\"array\",\"description\":\"layer configurations to compare, each the ordered "
        "list of blocks to run (0-%d); the intact model is added when missing\",\"items\":{\"type\":\"array\","
        "\"items\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":%d}}},"
        "\"labels\":{\"type\":\"array\",\"description\":\"optional short labels, one per configuration\","
        "\"items\":{\"type\":\"string\"}},"
        "\"examples\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":%d,\"description\":\"examples of the task "
        "(default %d)\"},"
        "\"hypothesis\":{\"type\":\"string\",\"description\":\"what this experiment tests\"}},"
        "\"required\":[\"name\",\"task\",\"configurations\"]}",
        tasks.buf, s->n_layer - 1, s->n_layer - 1, AGENT_MAX_EXAMPLES, o->examples);
    llm_tool_add(
        tools, "run_experiment",
        "Run layer configurations of the model on examples of a task: answer loss, exact match, "
        "completions and top tokens per configuration. Results arrive before your next turn.",
        p.buf);
    JsonBuf q = {0};
    jb_printf(
        &q,
        "{\"type\":\"object\",\"properties\":{"
        "\"name\":{\"type\":\"string\",\"description\":\"a new, unique experiment name (e.g. facts-pairs/patch-resid)\"},"
        "\"task\":{\"type\":\"string\",\"enum\":%s,\"description\":\"a task with clean/corrupted prompt pairs\"},"
        "\"hook\":{\"type\":\"string\",\"enum\":[\"resid_pre\",\"resid_mid\",\"resid_post\",\"attn_out\",\"mlp_out\","
        "\"head\"],\"description\":\"what is patched: the residual stream entering a block (resid_pre, default), an "
        "attention or MLP output, each per (block, position); head: each attention head's output at all positions\"},"
        "\"examples\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":%d},"
        "\"hypothesis\":{\"type\":\"string\"}},"
        "\"required\":[\"name\",\"task\"]}",
        tasks.buf, AGENT_MAX_EXAMPLES);
    llm_tool_add(
        tools, "run_patching",
        "Activation patching (causal tracing) on the intact model: run the clean prompt, then the corrupted "
        "one with one activation at a time restored from the clean run; per (block, position) or head the "
        "normalised effect on the logit difference answer - wrong answer (1: fully restored).",
        q.buf);
    jb_reset(&q);
    jb_printf(
        &q,
        "{\"type\":\"object\",\"properties\":{"
        "\"name\":{\"type\":\"string\",\"description\":\"a new, unique experiment name (e.g. facts/ablate-heads)\"},"
        "\"task\":{\"type\":\"string\",\"enum\":%s},"
        "\"components\":{\"type\":\"string\",\"enum\":[\"heads\",\"mlps\"],\"description\":\"ablate each "
        "attention head (default) or each MLP alone\"},"
        "\"examples\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":%d},"
        "\"hypothesis\":{\"type\":\"string\"}},"
        "\"required\":[\"name\",\"task\"]}",
        tasks.buf, AGENT_MAX_EXAMPLES);
    llm_tool_add(
        tools, "run_ablation",
        "Zero-ablate each attention head (or each MLP) of the intact model alone: the answer loss per "
        "ablated component against the intact model.",
        q.buf);
    jb_reset(&q);
    jb_printf(
        &q,
        "{\"type\":\"object\",\"properties\":{"
        "\"name\":{\"type\":\"string\",\"description\":\"a new, unique experiment name (e.g. facts/speaks)\"},"
        "\"task\":{\"type\":\"string\",\"enum\":%s},"
        "\"configurations\":{\"type\":\"array\",\"description\":\"optional: layer configurations as in "
        "run_experiment (default: drop-last, the first n blocks for every n)\",\"items\":{\"type\":\"array\","
        "\"items\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":%d}}},"
        "\"labels\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
        "\"examples\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":%d},"
        "\"hypothesis\":{\"type\":\"string\"}},"
        "\"required\":[\"name\",\"task\"]}",
        tasks.buf, s->n_layer - 1, AGENT_MAX_EXAMPLES);
    llm_tool_add(
        tools, "run_judge",
        "How the corrupted model speaks: run configurations (default drop-last) on every example, generate "
        "completions and judge them (answer present, repetition, loops, English, valid JSON, and the "
        "task's eval questions when an LLM judge is available): the yes-rate per question and "
        "configuration, beside the answer loss.",
        q.buf);
    jb_free(&q);
    llm_tool_add(
        tools, "add_note",
        "Record an observation from the results (with the numbers) and the hypothesis it supports or "
        "refutes.",
        "{\"type\":\"object\",\"properties\":{"
        "\"experiment\":{\"type\":\"string\",\"description\":\"the experiment the note is about\"},"
        "\"task\":{\"type\":\"string\"},"
        "\"observation\":{\"type\":\"string\"},"
        "\"hypothesis\":{\"type\":\"string\"}},"
        "\"required\":[\"observation\"]}");
    llm_tool_add(
        tools, "write_report",
        "Write the results section (Markdown) from the evidence gathered; this ends the investigation.",
        "{\"type\":\"object\",\"properties\":{\"markdown\":{\"type\":\"string\"}},\"required\":[\"markdown\"]}");
    llm_tool_add(tools, "list_experiments",
                 "List the experiments of the journal: name, task, size, status, notes.", NULL);
    llm_tool_add(
        tools, "get_results",
        "The results of one experiment from the journal, per configuration (loss table, samples) or per "
        "prompt (every configuration's loss, completion and top token for each example).",
        "{\"type\":\"object\",\"properties\":{"
        "\"experiment\":{\"type\":\"string\"},"
        "\"group_by\":{\"type\":\"string\",\"enum\":[\"configuration\",\"prompt\"]},"
        "\"task\":{\"type\":\"string\"}},"
        "\"required\":[\"experiment\"]}");
    jb_free(&p);
    jb_free(&tasks);
}

// ----------------------------------------------------------------------------- queries

// The query tools list_experiments() and get_results(experiment, group_by
// "configuration"|"prompt", task?).  Malloc'd text; NULL with a message in err for bad
// arguments.
static char *agent_llm_list_experiments(const AgentState *s) {
    JsonBuf b = {0};
    if (s->n_exp == 0) jb_printf(&b, "No experiments yet.\n");
    else jb_printf(&b, "name | task | examples | configurations | status | notes | step\n");
    // The notes per experiment name, counted in one pass over the notes (a scan of all
    // notes per experiment was quadratic: 18 k experiments at 1 M records).
    StrMap names = {0};
    for (int i = 0; i < s->n_exp; i++) strmap_intern_cstr(&names, s->exp[i].name, NULL);
    int *count = xcalloc((size_t)names.n + 1, sizeof *count);
    for (int k = 0; k < s->n_note; k++) {
        int id = s->note[k].experiment ? strmap_find_cstr(&names, s->note[k].experiment) : -1;
        if (id >= 0) count[id]++;
    }
    for (int i = 0; i < s->n_exp; i++) {
        const AgentExperiment *e = &s->exp[i];
        agent_experiment_load(e);
        int notes = count[strmap_find_cstr(&names, e->name)];
        jb_printf(&b, "%s | %s | %d | %d | %s | %d | %d\n", e->name, e->task, e->examples,
                  e->configs.n, status_of(e), notes, e->step);
    }
    free(count);
    strmap_free(&names);
    return jb_take(&b);
}

static void clip_answer(JsonBuf *b) {
    if (b->len <= AGENT_QUERY_MAX) return;
    b->len = AGENT_QUERY_MAX;
    while (b->len > 0 && ((unsigned char)b->buf[b->len - 1] & 0xC0) == 0x80) b->len--;
    if (b->len > 0 && ((unsigned char)b->buf[b->len - 1] & 0xC0) == 0xC0) b->len--;
    b->buf[b->len] = '\0';
    jb_printf(b, "\n... (cut at %d characters)\n", AGENT_QUERY_MAX);
}

static void known_experiments(JsonBuf *b, const AgentState *s) {
    if (s->n_exp == 0) {
        jb_printf(b, " (there are no experiments yet)");
        return;
    }
    jb_printf(b, " (known:");
    for (int i = 0; i < s->n_exp && i < 20; i++)
        jb_printf(b, "%s %s", i ? "," : "", s->exp[i].name);
    if (s->n_exp > 20) jb_printf(b, ", ...");
    jb_printf(b, ")");
}

static char *agent_llm_get_results(const AgentState *s, const char *experiment,
                                   const char *group_by, const char *task, char *err,
                                   size_t errlen) {
    const AgentExperiment *e = experiment ? agent_experiment_find(s, experiment) : NULL;
    if (e) agent_experiment_load(e);
    if (!e) {
        JsonBuf m = {0};
        jb_printf(&m, "unknown experiment \"%s\"", experiment ? experiment : "");
        known_experiments(&m, s);
        fail(err, errlen, "%s", m.buf);
        jb_free(&m);
        return NULL;
    }
    int by_prompt = 0;
    if (group_by && !strcmp(group_by, "prompt")) by_prompt = 1;
    else if (group_by && strcmp(group_by, "configuration")) {
        fail(err, errlen, "group_by must be \"configuration\" or \"prompt\", not \"%s\"", group_by);
        return NULL;
    }
    if (task && strcmp(task, e->task)) {
        fail(err, errlen, "experiment %s is on task %s, not %s", e->name, e->task, task);
        return NULL;
    }
    JsonBuf b = {0};
    jb_printf(&b, "experiment %s (task %s, %d examples, %d configurations, %s)\n", e->name, e->task,
              e->examples, e->configs.n, status_of(e));
    if (!by_prompt) {
        render_table(&b, s, e, 1);
        render_speaks(&b, e);
        for (int x = 0; x < e->n_ex && x < e->samples; x++) {
            render_example(&b, &e->ex[x]);
            for (int k = 0; k < e->configs.n; k++) render_sample(&b, e, x, k);
        }
    } else {
        for (int x = 0; x < e->n_ex; x++) {
            render_example(&b, &e->ex[x]);
            for (int k = 0; k < e->configs.n; k++) {
                const AgentRow *r = agent_row_find(e, AGENT_TOOL_SCORELOSS, x, k);
                const AgentRow *g = agent_row_find(e, AGENT_TOOL_RUNLAYERS, x, k);
                const AgentRow *t = agent_row_find(e, AGENT_TOOL_TOPK, x, k);
                jb_printf(&b, "  %s:", e->configs.cfg[k].label);
                if (r && !r->error)
                    jb_printf(&b, " loss %.2f, exact %s", r->loss, r->exact ? "yes" : "no");
                else if (r) jb_printf(&b, " error");
                else jb_printf(&b, " no result");
                if (g && g->completion) {
                    char *c = agent_clip(g->completion, 60);
                    jb_printf(&b, "; completion \"%s\"", c);
                    free(c);
                }
                if (t && t->n_top > 0) {
                    char *tok = agent_clip(t->top[0], 24);
                    jb_printf(&b, "; top-1 \"%s\" %.2f", tok, t->top_prob[0]);
                    free(tok);
                }
                jb_printf(&b, "\n");
            }
        }
    }
    NoteIndex x;
    note_index_build(&x, s);
    render_notes(&b, s, &x, e, 1000);
    note_index_free(&x);
    clip_answer(&b);
    return jb_take(&b);
}

// ----------------------------------------------------------------------------- tool calls

// A string member of object token obj: 1 read (*out malloc'd), 0 absent or null, -1 not a
// string or holding a NUL byte.
static int arg_str(const JsonDoc *d, const char *key, char **out) {
    *out = NULL;
    int t = json_obj_get(d, 0, key);
    if (t < 0 || json_is_null(d, t)) return 0;
    size_t len;
    if (json_type(d, t) != JSMN_STRING || json_str(d, t, out, &len) != 0 || strlen(*out) != len) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 1;
}

static int task_allowed(const AgentOptions *o, const char *task) {
    for (int i = 0; i < o->n_tasks; i++)
        if (!strcmp(o->tasks[i], task)) return 1;
    return 0;
}

static char *bad_task(const AgentOptions *o, const char *tool, const char *task) {
    JsonBuf m = {0};
    jb_printf(&m, "%s: unknown task \"%s\"; the tasks are:", tool, task);
    for (int i = 0; i < o->n_tasks; i++) jb_printf(&m, "%s %s", i ? "," : "", o->tasks[i]);
    return jb_take(&m);
}

// The arguments every experiment call (run_experiment, run_judge, run_patching,
// run_ablation) shares; the strings are malloc'd.
typedef struct {
    char *name, *task, *hyp;
    int examples;
} ExperimentArgs;

static void experiment_args_free(ExperimentArgs *x) {
    free(x->name);
    free(x->task);
    free(x->hyp);
}

// x from d, checked in this order: "name" (valid and new), "task" (one of the
// investigation's; with clean/corrupted pairs when pairs is set), "examples" (o->examples
// when absent); the hypothesis is left to the caller.  0, or -1 with *answer set;
// experiment_args_free either way.
static int experiment_args(const AgentState *s, const AgentOptions *o, const JsonDoc *d,
                           const char *tool, int pairs, ExperimentArgs *x, char **answer) {
    char msg[300];
    long long n = o->examples;
    memset(x, 0, sizeof *x);
    if (arg_str(d, "name", &x->name) != 1) {
        *answer = xasprintf("%s: \"name\" (a string) is required", tool);
        return -1;
    }
    if (agent_name_check(x->name, msg, sizeof msg) != 0) {
        *answer = xasprintf("%s: %s", tool, msg);
        return -1;
    }
    if (agent_experiment_find(s, x->name)) {
        *answer = xasprintf("%s: an experiment named \"%s\" already exists; choose a new name",
                            tool, x->name);
        return -1;
    }
    if (arg_str(d, "task", &x->task) != 1) {
        *answer = xasprintf("%s: \"task\" (a string) is required", tool);
        return -1;
    }
    if (!task_allowed(o, x->task)) {
        *answer = bad_task(o, tool, x->task);
        return -1;
    }
    if (pairs && !agent_task_has_pairs(x->task)) {
        *answer = xasprintf("%s: task %s has no corrupted prompts; use one with pairs (%s)", tool,
                            x->task, pair_tasks(o));
        return -1;
    }
    int et = json_obj_get(d, 0, "examples");
    if (et >= 0 && !json_is_null(d, et) &&
        (json_int(d, et, &n) != 0 || n < 1 || n > AGENT_MAX_EXAMPLES)) {
        *answer =
            xasprintf("%s: \"examples\" must be an integer in 1..%d", tool, AGENT_MAX_EXAMPLES);
        return -1;
    }
    x->examples = (int)n;
    return 0;
}

// a: the experiment action of x (name, task and hypothesis move into it).
static void experiment_action(AgentAction *a, ExperimentArgs *x) {
    memset(a, 0, sizeof *a);
    a->type = AGENT_ACTION_EXPERIMENT;
    a->planner = "llm";
    a->name = x->name, x->name = NULL;
    a->task = x->task, x->task = NULL;
    a->hypothesis = x->hyp, x->hyp = NULL;
    a->examples = x->examples;
}

// run_experiment, or run_judge (judge: configurations optional, drop-last by default;
// runlayers on every example, its completions judged).
static int call_run_experiment(const AgentState *s, const AgentOptions *o, const JsonDoc *d,
                               const char *tool, int judge, AgentAction *a, char **answer) {
    ExperimentArgs x;
    char msg[300];
    int rc = AGENT_CALL_BAD;
    if (experiment_args(s, o, d, tool, 0, &x, answer) != 0) goto done;
    if (arg_str(d, "hypothesis", &x.hyp) < 0) {
        *answer = xasprintf("%s: \"hypothesis\" must be a string", tool);
        goto done;
    }
    ConfigList cl = {0};   // layers_sweep appends to it
    int ct = json_obj_get(d, 0, "configurations"), lt = json_obj_get(d, 0, "labels");
    int default_sweep = judge && (ct < 0 || json_is_null(d, ct));
    if (ct < 0 && !judge) {
        *answer = xasprintf("%s: \"configurations\" is required, e.g. [[0,1,2],[0,2]]", tool);
        goto done;
    }
    if (default_sweep ? layers_sweep("drop-last", s->n_layer, &cl, msg, sizeof msg) != 0
                      : agent_configs_parse(d, ct, lt, s->n_layer, &cl, msg, sizeof msg) != 0) {
        *answer = xasprintf("%s: %s (blocks are numbered 0-%d)", tool, msg, s->n_layer - 1);
        goto done;
    }
    experiment_action(a, &x);
    a->configs = cl;
    a->judge = judge;
    a->sweeps = default_sweep ? xstrdup("drop-last") : NULL;
    for (int t = 0; t < AGENT_N_TOOLS; t++) a->need[t] = 1;
    rc = AGENT_CALL_ACTION;
done:
    experiment_args_free(&x);
    return rc;
}

// run_patching / run_ablation: an experiment by method, on the intact model.
static int call_run_method(const AgentState *s, const AgentOptions *o, const JsonDoc *d,
                           const char *tool, AgentAction *a, char **answer) {
    int patching = !strcmp(tool, "run_patching");
    ExperimentArgs x;
    char *arg = NULL;
    int rc = AGENT_CALL_BAD;
    if (experiment_args(s, o, d, tool, patching, &x, answer) != 0) goto done;
    if (arg_str(d, "hypothesis", &x.hyp) < 0 ||
        arg_str(d, patching ? "hook" : "components", &arg) < 0) {
        *answer = xasprintf("%s: \"hypothesis\" and \"%s\" must be strings", tool,
                            patching ? "hook" : "components");
        goto done;
    }
    // A hook as scoreloss --patch-sweep=HOOK and the report name it (no "hook_" prefix).
    int ok = !arg || (patching && strncmp(arg, "hook_", 5) && interp_hook_find(arg, 0) >= 0);
    if (!patching && arg) ok = !strcmp(arg, "heads") || !strcmp(arg, "mlps");
    if (!ok) {
        *answer = xasprintf(
            patching ? "run_patching: \"hook\" must be resid_pre, resid_mid, resid_post, attn_out, "
                       "mlp_out or head, not \"%s\""
                     : "run_ablation: \"components\" must be heads or mlps, not \"%s\"",
            arg);
        goto done;
    }
    if (!patching && (!arg || !strcmp(arg, "heads")) && s->n_head < 1) {
        *answer = xstrdup(
            "run_ablation: the model's number of heads is not known (no n_head in the meta record); "
            "use components \"mlps\"");
        goto done;
    }
    experiment_action(a, &x);
    configs_add_intact(&a->configs, s->n_layer);
    a->method = xstrdup(patching ? AGENT_METHOD_PATCHING : AGENT_METHOD_ABLATION);
    a->method_arg = xstrdup(patching                      ? (arg ? arg : "resid_pre")
                            : arg && !strcmp(arg, "mlps") ? "ablate-mlps"
                                                          : "ablate-heads");
    if (!patching) a->sweeps = xstrdup(a->method_arg);
    a->need[AGENT_TOOL_SCORELOSS] = 1;
    rc = AGENT_CALL_ACTION;
done:
    experiment_args_free(&x);
    free(arg);
    return rc;
}

static int call_add_note(const AgentState *s, const AgentOptions *o, const JsonDoc *d,
                         AgentAction *a, char **answer) {
    char *exp = NULL, *task = NULL, *obs = NULL, *hyp = NULL;
    int rc = AGENT_CALL_BAD;
    if (arg_str(d, "observation", &obs) != 1 || !*obs) {
        *answer = xstrdup("add_note: \"observation\" (a non-empty string) is required");
        goto done;
    }
    if (arg_str(d, "hypothesis", &hyp) < 0 || arg_str(d, "experiment", &exp) < 0 ||
        arg_str(d, "task", &task) < 0) {
        *answer = xstrdup("add_note: \"experiment\", \"task\" and \"hypothesis\" must be strings");
        goto done;
    }
    const AgentExperiment *e = exp ? agent_experiment_find(s, exp) : NULL;
    if (e) agent_experiment_load(e);
    if (exp && !e) {
        JsonBuf m = {0};
        jb_printf(&m, "add_note: unknown experiment \"%s\"", exp);
        known_experiments(&m, s);
        *answer = jb_take(&m);
        goto done;
    }
    if (task && !task_allowed(o, task) && !(e && !strcmp(e->task, task))) {
        *answer = bad_task(o, "add_note", task);
        goto done;
    }
    memset(a, 0, sizeof *a);
    a->type = AGENT_ACTION_NOTE;
    a->planner = "llm";
    a->experiment = exp, exp = NULL;
    a->task = task ? task : e ? xstrdup(e->task) : NULL, task = NULL;
    a->observation = obs, obs = NULL;
    a->hypothesis = hyp && *hyp ? hyp : NULL;
    if (a->hypothesis) hyp = NULL;
    rc = AGENT_CALL_ACTION;
done:
    free(exp);
    free(task);
    free(obs);
    free(hyp);
    return rc;
}

static int call_write_report(const JsonDoc *d, AgentAction *a, char **answer) {
    char *md = NULL;
    if (arg_str(d, "markdown", &md) != 1 || !*md) {
        free(md);
        *answer = xstrdup("write_report: \"markdown\" (a non-empty string) is required");
        return AGENT_CALL_BAD;
    }
    memset(a, 0, sizeof *a);
    a->type = AGENT_ACTION_REPORT;
    a->planner = "llm";
    a->markdown = md;
    return AGENT_CALL_ACTION;
}

static int call_get_results(const AgentState *s, const JsonDoc *d, char **answer) {
    char *exp = NULL, *by = NULL, *task = NULL, msg[600];
    int rc = AGENT_CALL_BAD;
    if (arg_str(d, "experiment", &exp) != 1) {
        *answer = xstrdup("get_results: \"experiment\" (a string) is required");
        goto done;
    }
    if (arg_str(d, "group_by", &by) < 0 || arg_str(d, "task", &task) < 0) {
        *answer = xstrdup("get_results: \"group_by\" and \"task\" must be strings");
        goto done;
    }
    if (!(*answer = agent_llm_get_results(s, exp, by, task, msg, sizeof msg))) {
        *answer = xasprintf("get_results: %s", msg);
        goto done;
    }
    rc = AGENT_CALL_QUERY;
done:
    free(exp);
    free(by);
    free(task);
    return rc;
}

int agent_llm_call(const AgentState *s, const AgentOptions *o, const char *name,
                   const char *arguments, AgentAction *a, char **answer) {
    *answer = NULL;
    memset(a, 0, sizeof *a);
    static const char *const known[] = {"run_experiment",   "add_note",    "write_report",
                                        "list_experiments", "get_results", "run_patching",
                                        "run_ablation",     "run_judge"};
    int k = -1;
    for (int i = 0; i < 8 && name; i++)
        if (!strcmp(name, known[i])) k = i;
    if (k < 0) {
        *answer = xasprintf(
            "unknown tool \"%s\"; the tools are run_experiment, run_patching, run_ablation, "
            "run_judge, add_note, write_report, list_experiments and get_results",
            name ? name : "");
        return AGENT_CALL_BAD;
    }
    LlmToolCall tc = {.name = (char *)name, .arguments = (char *)(arguments ? arguments : "")};
    JsonDoc d;
    char msg[400];
    if (llm_args_parse(&tc, &d, msg, sizeof msg) != 0) {
        json_free(&d);
        *answer = xstrdup(msg);
        return AGENT_CALL_BAD;
    }
    int rc;
    switch (k) {
    case 0: rc = call_run_experiment(s, o, &d, "run_experiment", 0, a, answer); break;
    case 7: rc = call_run_experiment(s, o, &d, "run_judge", 1, a, answer); break;
    case 1: rc = call_add_note(s, o, &d, a, answer); break;
    case 2: rc = call_write_report(&d, a, answer); break;
    case 3: *answer = agent_llm_list_experiments(s), rc = AGENT_CALL_QUERY; break;
    case 4: rc = call_get_results(s, &d, answer); break;
    default: rc = call_run_method(s, o, &d, name, a, answer); break;
    }
    json_free(&d);
    return rc;
}

// ----------------------------------------------------------------------------- queue

static void queue_add(JsonBuf *q, const char *name, const char *arguments) {
    if (q->len == 0) jb_raw(q, "[", 1);
    else q->len--;   // reopen the array
    jb_sep(q);
    jb_raw(q, "{", 1);
    jb_key(q, "name"), jb_cstr(q, name);
    jb_key(q, "arguments"), jb_cstr(q, arguments ? arguments : "");
    jb_raw(q, "}]", 2);
}

int agent_llm_take_queued(const AgentState *s, const AgentOptions *o, AgentAction *a) {
    memset(a, 0, sizeof *a);
    if (!s->queued) return 0;
    JsonDoc d;
    char err[64];
    int taken = 0;
    if (json_parse(&d, s->queued, strlen(s->queued), err, sizeof err) == 0 &&
        json_type(&d, 0) == JSMN_ARRAY) {
        int n = json_size(&d, 0);
        for (int i = 0, t = 1; i < n && !taken; i++, t = json_skip(&d, t)) {
            char *name = NULL, *args = NULL;
            int nt = json_obj_get(&d, t, "name"), at = json_obj_get(&d, t, "arguments");
            if (nt >= 0) json_str(&d, nt, &name, NULL);
            if (at >= 0) json_str(&d, at, &args, NULL);
            char *answer = NULL;
            if (name && agent_llm_call(s, o, name, args, a, &answer) == AGENT_CALL_ACTION) {
                taken = 1;
                JsonBuf rest = {0};
                for (int k = i + 1, u = json_skip(&d, t); k < n; k++, u = json_skip(&d, u)) {
                    char *rn = NULL, *ra = NULL;
                    int rnt = json_obj_get(&d, u, "name"), rat = json_obj_get(&d, u, "arguments");
                    if (rnt >= 0) json_str(&d, rnt, &rn, NULL);
                    if (rat >= 0) json_str(&d, rat, &ra, NULL);
                    if (rn) queue_add(&rest, rn, ra);
                    free(rn);
                    free(ra);
                }
                a->queued = rest.len ? jb_take(&rest) : NULL;
                jb_free(&rest);
            } else {
                agent_action_free(a);
                weprintf("dropping a queued %s call: %s", name ? name : "(unnamed)",
                         answer ? answer : "not an action");
            }
            free(answer);
            free(name);
            free(args);
        }
    }
    json_free(&d);
    return taken;
}

// ----------------------------------------------------------------------------- a step

// Journal one exchange: {"kind":"llm","step","round", ...llm_exchange_json members,
// "problems": [...], "outcome"}.
static int journal_exchange(Journal *j, int step, int round, const LlmReply *reply,
                            const char *error, const JsonBuf *problems, const char *outcome,
                            char *err, size_t errlen) {
    JsonBuf x = {0}, b = {0};
    llm_exchange_json(reply, error, &x);
    journal_record_begin(&b, "llm");
    jb_key(&b, "step"), jb_int(&b, step);
    jb_key(&b, "round"), jb_int(&b, round);
    if (x.len >= 2) {   // the exchange's members, without its braces
        jb_raw(&b, ",", 1);
        jb_raw(&b, x.buf + 1, x.len - 2);
    }
    jb_key(&b, "problems");
    if (problems->len) jb_raw(&b, problems->buf, problems->len), jb_raw(&b, "]", 1);
    else jb_puts(&b, "[]");
    jb_key(&b, "outcome"), jb_cstr(&b, outcome);
    int rc = journal_append(j, &b, err, errlen);
    jb_free(&x);
    jb_free(&b);
    return rc;
}

static void problem_add(JsonBuf *p, const char *msg) {
    if (p->len == 0) jb_raw(p, "[", 1);
    jb_sep(p);
    jb_cstr(p, msg);
}

enum { ROUND_ACTION, ROUND_QUERY, ROUND_BAD };

// Read one reply: answer its calls into msgs, take the first valid action into *a and
// queue the later ones.  Returns ROUND_ACTION, ROUND_QUERY (only queries, answered) or
// ROUND_BAD (problems has why).
static int reply_handle(const AgentState *s, const AgentOptions *o, int due, const LlmReply *reply,
                        JsonBuf *msgs, AgentAction *a, JsonBuf *problems) {
    llm_msg_add_assistant(msgs, reply);
    if (reply->n_tool_calls == 0) {
        problem_add(problems, "the reply has no tool call");
        llm_msg_add(
            msgs, "user",
            due ? "Your reply had no tool call. Call write_report now with the results section."
                : "Your reply had no tool call. Answer with a call of run_experiment, add_note or "
                  "write_report (list_experiments and get_results may come first).");
        return ROUND_BAD;
    }
    int taken = 0, bad = 0;
    JsonBuf queue = {0};
    for (int i = 0; i < reply->n_tool_calls; i++) {
        const LlmToolCall *tc = &reply->tool_calls[i];
        if (taken) {   // a later action of the same reply: run in the following steps
            if (tc->name &&
                (!strcmp(tc->name, "run_experiment") || !strcmp(tc->name, "add_note") ||
                 !strcmp(tc->name, "write_report") || !strcmp(tc->name, "run_patching") ||
                 !strcmp(tc->name, "run_ablation") || !strcmp(tc->name, "run_judge")))
                queue_add(&queue, tc->name, tc->arguments);
            continue;
        }
        AgentAction got;
        char *answer = NULL;
        int rc = agent_llm_call(s, o, tc->name, tc->arguments, &got, &answer);
        if (rc == AGENT_CALL_ACTION && due && got.type != AGENT_ACTION_REPORT) {
            agent_action_free(&got);
            rc = AGENT_CALL_BAD;
            answer = xstrdup("the investigation must end now: call write_report");
        }
        if (rc == AGENT_CALL_ACTION) {
            *a = got;
            taken = 1;
        } else if (rc == AGENT_CALL_QUERY) {
            llm_msg_add_tool_result(msgs, tc->id, answer);
        } else {
            JsonBuf m = {0};
            jb_printf(&m, "error: %s", answer);
            llm_msg_add_tool_result(msgs, tc->id, m.buf);
            problem_add(problems, answer);
            jb_free(&m);
            bad = 1;
        }
        free(answer);
    }
    if (taken) {
        a->queued = queue.len ? jb_take(&queue) : NULL;
        jb_free(&queue);
        return ROUND_ACTION;
    }
    jb_free(&queue);
    return bad ? ROUND_BAD : ROUND_QUERY;
}

int agent_llm_step(LlmClient *c, const AgentState *s, const AgentOptions *o,
                   const AgentLlmOptions *lo, Journal *j, int step, AgentAction *a, char *err,
                   size_t errlen) {
    int budget = lo->context_budget > 0 ? lo->context_budget : AGENT_CONTEXT_BUDGET;
    int max_retries = lo->max_retries >= 0 ? lo->max_retries : AGENT_MAX_RETRIES;
    int max_rounds = lo->max_rounds > 0 ? lo->max_rounds : AGENT_MAX_ROUNDS;
    int due = agent_report_due(s, o);
    char *sys = agent_llm_system_prompt(s, o, step);
    char *user = agent_llm_user_prompt(s, o, budget - (int)strlen(sys));
    if (agent_state_damaged(s)) {   // a section of the state file: nothing asked yet
        free(sys);
        free(user);
        memset(a, 0, sizeof *a);
        return fail(err, errlen, "the agent's state file is damaged") - 2;
    }
    JsonBuf msgs = {0}, tools = {0};
    llm_msg_add(&msgs, "system", sys);
    llm_msg_add(&msgs, "user", user);
    free(sys);
    free(user);
    agent_llm_tools(&tools, s, o);
    LlmRequest req = {.tools = tools.buf};
    if (due) req.tool_choice = "{\"type\":\"function\",\"function\":{\"name\":\"write_report\"}}";
    int bad = 0, queries = 0, rc = 1;
    char last[600] = "";
    memset(a, 0, sizeof *a);
    for (int round = 1; rc > 0; round++) {
        LlmReply reply;
        char cerr[1024];
        memset(&reply, 0, sizeof reply);
        req.messages = msgs.buf;
        JsonBuf problems = {0};
        if (llm_chat(c, &req, &reply, cerr, sizeof cerr) != 0) {
            rc = journal_exchange(j, step, round, &reply, cerr, &problems, "failed", err, errlen) !=
                         0
                     ? -1
                     : fail(err, errlen, "%s", cerr);
        } else {
            int r = reply_handle(s, o, due, &reply, &msgs, a, &problems);
            if (agent_state_damaged(s)) {   // a query read a damaged section
                if (r == ROUND_ACTION) agent_action_free(a);
                memset(a, 0, sizeof *a);
                jb_free(&problems);
                llm_reply_free(&reply);
                rc = fail(err, errlen, "the agent's state file is damaged") - 2;
                break;
            }
            if (r == ROUND_QUERY && ++queries > max_rounds) {
                r = ROUND_BAD;
                problem_add(&problems, "too many query rounds");
                llm_msg_add(&msgs, "user",
                            "Enough queries for this turn: call run_experiment, add_note or "
                            "write_report now.");
            }
            if (r == ROUND_BAD) {
                bad++;
                snprintf(last, sizeof last, "%.*s", (int)(problems.len > 500 ? 500 : problems.len),
                         problems.buf);
            }
            const char *outcome = r == ROUND_ACTION   ? "action"
                                  : r == ROUND_QUERY  ? "query"
                                  : bad > max_retries ? "gave up"
                                                      : "retry";
            if (journal_exchange(j, step, round, &reply, NULL, &problems, outcome, err, errlen) !=
                0) {
                if (r == ROUND_ACTION) agent_action_free(a);
                rc = -1;
            } else if (r == ROUND_ACTION) {
                rc = 0;
            } else if (bad > max_retries) {
                rc = -2;
                fail(err, errlen,
                     "the model gave no valid action in %d corrected replies (last problems: %s])",
                     bad, last);
            }
        }
        jb_free(&problems);
        llm_reply_free(&reply);
    }
    jb_free(&msgs);
    jb_free(&tools);
    return rc;
}
