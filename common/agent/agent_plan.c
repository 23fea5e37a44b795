// agent_plan: the built-in planner — plan, notes from the numbers, the report; see
// agent_plan.h.
#include "agent/agent_plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/strmap.h"
#include "base/util.h"
#include "experiment/patchnorm.h"

// ----------------------------------------------------------------------------- plan

// judge: runlayers sees every example and its completions are judged (how the model
// speaks as blocks are dropped: the report's yes-rate against blocks kept).
static const struct {
    const char *type, *sweeps;
    int judge;
} plan_types[] = {
    {"drop-last", "drop-last", 1},         {"drop-first", "drop-first", 0},
    {"skip-one", "skip-one", 0},           {"skip-range:2", "skip-range:2", 0},
    {"repeat-one", "repeat-one", 0},       {"swap-adjacent", "swap-adjacent", 0},
    {"permute", "reverse shuffle:3:1", 0},
};
#define N_PLAN_TYPES ((int)(sizeof plan_types / sizeof plan_types[0]))

// The sweeps of it, in order, intact once (first).
static int sweeps_configs(const char *sweeps, int n_layer, ConfigList *out, char *err,
                          size_t errlen) {
    memset(out, 0, sizeof *out);
    char *copy = xstrdup(sweeps), *save = NULL;
    for (char *name = strtok_r(copy, " ", &save); name; name = strtok_r(NULL, " ", &save)) {
        ConfigList one = {0};
        if (layers_sweep(name, n_layer, &one, err, errlen) != 0) {
            configs_free(&one);
            configs_free(out);
            free(copy);
            return -1;
        }
        for (int k = 0; k < one.n; k++) {
            if (out->n > 0 && layers_is_intact(one.cfg[k].idx, one.cfg[k].n, n_layer)) continue;
            configs_add(out, one.cfg[k].idx, one.cfg[k].n, one.cfg[k].label);
        }
        configs_free(&one);
    }
    free(copy);
    return 0;
}

// The configurations of a plan item (intact first), labelled as the sweeps label them (a
// method item: the intact model, which its method runs on).  0, or -1 with a message.
static int agent_plan_configs(const AgentPlanItem *it, int n_layer, ConfigList *out, char *err,
                              size_t errlen) {
    if (it->method) {
        memset(out, 0, sizeof *out);
        configs_add_intact(out, n_layer);
        return 0;
    }
    return sweeps_configs(it->sweeps, n_layer, out, err, errlen);
}

// The methods studied on tasks with clean/corrupted pairs, at the end of the plan.
static const struct {
    const char *type, *sweeps, *method, *arg;
} method_types[] = {
    {"patching", NULL, AGENT_METHOD_PATCHING, "resid_pre"},
    {"ablate-heads", "ablate-heads", AGENT_METHOD_ABLATION, "ablate-heads"},
};
#define N_METHOD_TYPES ((int)(sizeof method_types / sizeof method_types[0]))

int agent_plan_items(const AgentOptions *o, int n_layer, AgentPlanItem **items) {
    *items = xcalloc((size_t)(o->n_tasks * (N_PLAN_TYPES + N_METHOD_TYPES) + 1), sizeof **items);
    int n = 0;
    for (int t = 0; t < o->n_tasks; t++)
        for (int k = 0; k < N_PLAN_TYPES && !agent_task_has_pairs(o->tasks[t]); k++) {
            ConfigList cl;
            char err[160];
            if (sweeps_configs(plan_types[k].sweeps, n_layer, &cl, err, sizeof err) != 0) continue;
            int useful = cl.n > 1;   // more than the intact model
            configs_free(&cl);
            if (!useful) continue;
            AgentPlanItem *it = &(*items)[n++];
            snprintf(it->name, sizeof it->name, "%s/%s", o->tasks[t], plan_types[k].type);
            it->task = o->tasks[t];
            it->type = plan_types[k].type;
            it->sweeps = plan_types[k].sweeps;
            it->judge = plan_types[k].judge;
        }
    for (int t = 0; t < o->n_tasks; t++)
        for (int k = 0; k < N_METHOD_TYPES && agent_task_has_pairs(o->tasks[t]); k++) {
            AgentPlanItem *it = &(*items)[n++];
            snprintf(it->name, sizeof it->name, "%s/%s", o->tasks[t], method_types[k].type);
            it->task = o->tasks[t];
            it->type = method_types[k].type;
            it->sweeps = method_types[k].sweeps;
            it->method = method_types[k].method;
            it->method_arg = method_types[k].arg;
        }
    return n;
}

static void report_action(const AgentState *s, AgentAction *a) {
    a->type = AGENT_ACTION_REPORT;
    a->planner = "builtin";
    a->markdown = agent_report_builtin(s);
}

int agent_plan_builtin(const AgentState *s, const AgentOptions *o, AgentAction *a, char *err,
                       size_t errlen) {
    memset(a, 0, sizeof *a);
    if (agent_report_due(s, o)) {
        report_action(s, a);
        return 0;
    }
    // The first complete experiment without a note (agent_experiment_noted), the noted
    // names gathered once: a scan of every note per experiment was quadratic in a long run.
    StrMap noted = {0};
    for (int i = 0; i < s->n_note; i++)
        if (s->note[i].experiment) strmap_intern_cstr(&noted, s->note[i].experiment, NULL);
    for (int i = 0; i < s->n_exp; i++) {
        const AgentExperiment *e = &s->exp[i];
        if (agent_experiment_complete(e, NULL) && strmap_find_cstr(&noted, e->name) < 0) {
            strmap_free(&noted);
            agent_note_builtin(s, e, a);
            return 0;
        }
    }
    strmap_free(&noted);
    AgentPlanItem *items;
    int n = agent_plan_items(o, s->n_layer, &items), rc = 0;
    for (int i = 0; i < n; i++) {
        if (agent_experiment_find(s, items[i].name)) continue;
        a->type = AGENT_ACTION_EXPERIMENT;
        a->planner = "builtin";
        a->name = xstrdup(items[i].name);
        a->task = xstrdup(items[i].task);
        a->sweeps = items[i].sweeps ? xstrdup(items[i].sweeps) : NULL;
        a->method = items[i].method ? xstrdup(items[i].method) : NULL;
        a->method_arg = items[i].method_arg ? xstrdup(items[i].method_arg) : NULL;
        a->examples = o->examples;
        a->judge = items[i].judge;
        for (int t = 0; t < AGENT_N_TOOLS; t++) a->need[t] = 1;
        rc = agent_plan_configs(&items[i], s->n_layer, &a->configs, err, errlen);
        free(items);
        return rc;
    }
    free(items);
    report_action(s, a);
    return 0;
}

// ----------------------------------------------------------------------------- notes

// The numbers of one experiment, per configuration.
typedef struct {
    const AgentExperiment *e;
    int L;            // n_layer
    int K;            // configurations
    AgentStats *st;   // (K)
    int ik;           // the intact configuration, -1 when none has losses
    double I, tol;    // intact mean loss, tolerance in nats
} Numbers;

static void numbers_init(Numbers *nb, const AgentExperiment *e, int n_layer) {
    agent_experiment_load(e);
    nb->e = e;
    nb->L = n_layer;
    nb->K = e->configs.n;
    nb->st = xcalloc((size_t)(nb->K ? nb->K : 1), sizeof *nb->st);
    for (int k = 0; k < nb->K; k++) nb->st[k] = agent_config_stats(e, k, n_layer);
    nb->ik = agent_experiment_intact(e, n_layer);
    if (nb->ik >= 0 && nb->st[nb->ik].n == 0) nb->ik = -1;
    nb->I = nb->ik >= 0 ? nb->st[nb->ik].mean : 0;
    nb->tol = fmax(AGENT_TOLERANCE * fabs(nb->I), AGENT_TOLERANCE_MIN);
}

static const char *label_of(const Numbers *nb, int k) { return nb->e->configs.cfg[k].label; }
static int usable(const Numbers *nb, int k) {
    return k != nb->ik && nb->st[k].n > 0 && nb->st[k].has_delta;
}
static int within(const Numbers *nb, int k) { return nb->st[k].mean <= nb->I + nb->tol; }
static int pct(double rate) { return (int)lround(rate * 100); }

// The configuration labelled `prefix` + n, or -1.
static int find_label(const Numbers *nb, const char *prefix, int n) {
    char want[LAYER_LABEL_MAX];
    snprintf(want, sizeof want, "%s%d", prefix, n);
    for (int k = 0; k < nb->K; k++)
        if (!strcmp(label_of(nb, k), want)) return k;
    return -1;
}

// Usable configurations with the largest / smallest delta (ties: the earlier one).
static int worst_config(const Numbers *nb) {
    int w = -1;
    for (int k = 0; k < nb->K; k++)
        if (usable(nb, k) && (w < 0 || nb->st[k].delta > nb->st[w].delta)) w = k;
    return w;
}
static int best_config(const Numbers *nb) {
    int b = -1;
    for (int k = 0; k < nb->K; k++)
        if (usable(nb, k) && (b < 0 || nb->st[k].delta < nb->st[b].delta)) b = k;
    return b;
}

// How many sampled prompts have `token` (the prompt's last token) as the top-1 next
// token under configuration k; *of gets the number of topk rows read.
static int repeats_last_token(const AgentExperiment *e, int k, int *of) {
    agent_experiment_load(e);
    int hits = 0;
    *of = 0;
    for (int x = 0; x < e->n_ex; x++) {
        const AgentRow *r = agent_row_find(e, AGENT_TOOL_TOPK, x, k);
        if (!r || r->error || !r->token || r->n_top == 0) continue;
        (*of)++;
        hits += !strcmp(r->top[0], r->token);
    }
    return hits;
}

static void describe_numbers(JsonBuf *b, const Numbers *nb, int k) {
    const AgentStats *st = &nb->st[k];
    jb_printf(b, "loss %.2f (%+.2f nats), exact %d%%", st->mean, st->delta, pct(st->exact_rate));
}

static void describe(JsonBuf *b, const Numbers *nb, int k) {
    jb_printf(b, "%s: ", label_of(nb, k));
    describe_numbers(b, nb, k);
}

static void note_drop(JsonBuf *ob, JsonBuf *hb, const Numbers *nb, int first, const char *task) {
    const char *prefix = first ? "first " : "last ", *what = first ? "prefix" : "suffix";
    // smallest: the end of the run of configurations within tolerance that starts at n = L-1
    // (every longer prefix / suffix is within too); best: the lowest loss of all.
    int smallest = -1, best = -1, run = 1;
    for (int n = nb->L - 1; n >= 0; n--) {
        int k = find_label(nb, prefix, n);
        if (k < 0 || !usable(nb, k)) continue;
        if (run && within(nb, k)) smallest = k;
        else run = 0;
        if (best < 0 || nb->st[k].mean < nb->st[best].mean) best = k;
    }
    if (smallest >= 0)
        jb_printf(ob, " Smallest %s within 10%% of the intact loss: %s (loss %.2f vs %.2f).", what,
                  label_of(nb, smallest), nb->st[smallest].mean, nb->I);
    else if (best >= 0)
        jb_printf(
            ob,
            " No shorter %s comes within 10%% of the intact loss (closest: %s, loss %.2f vs %.2f).",
            what, label_of(nb, best), nb->st[best].mean, nb->I);
    // Exact match along depth.
    double ie = nb->st[nb->ik].exact_rate;
    int reach = -1;   // the shortest of the run of prefixes (suffixes) from the top that keep it
    if (ie > 0) {
        for (int n = nb->L - 1; n >= 0; n--) {
            int k = find_label(nb, prefix, n);
            if (k >= 0 && usable(nb, k) && nb->st[k].exact_rate >= ie) reach = k;
            else if (k >= 0) break;   // the run of kept-rate configurations from the top ends
        }
        int half = find_label(nb, prefix, nb->L / 2);
        jb_printf(ob, " Exact-match: intact %d%%", pct(ie));
        if (reach >= 0)
            jb_printf(ob, ", kept down to %s (%d%%)", label_of(nb, reach),
                      pct(nb->st[reach].exact_rate));
        else jb_printf(ob, ", lost with any block removed");
        if (half >= 0 && usable(nb, half) && half != reach)
            jb_printf(ob, ", %s %d%%", label_of(nb, half), pct(nb->st[half].exact_rate));
        jb_printf(ob, ".");
    } else {
        jb_printf(ob, " Exact-match is 0%% even intact.");
    }
    if (first) {
        int k0 = find_label(nb, prefix, 0), k1 = find_label(nb, prefix, 1);
        if (k0 >= 0 && usable(nb, k0))
            jb_printf(ob, " Embeddings only (first 0): loss %.2f (%+.2f nats).", nb->st[k0].mean,
                      nb->st[k0].delta);
        int of, hits = k1 >= 0 ? repeats_last_token(nb->e, k1, &of) : 0;
        if (k1 >= 0 && of > 0)
            jb_printf(
                ob,
                " Layer 0 alone repeats the last token (top-1 next token = the prompt's last token) "
                "in %d of %d prompts.",
                hits, of);
        int n_loss = nb->L, n_exact = nb->L;   // blocks needed for the loss, for the answers
        if (smallest >= 0) sscanf(label_of(nb, smallest), "first %d", &n_loss);
        if (reach >= 0) sscanf(label_of(nb, reach), "first %d", &n_exact);
        if (reach >= 0 && n_exact < n_loss) {
            // The loss says "needed", the answers say "decided earlier": say both.
            char later[48];
            if (n_exact == nb->L - 1) snprintf(later, sizeof later, "block %d makes", n_exact);
            else snprintf(later, sizeof later, "blocks %d-%d make", n_exact, nb->L - 1);
            jb_printf(
                hb,
                "The %s answer is already the greedy choice after the first %d block%s (exact match %d%%, as "
                "intact); %s the model more confident (answer loss %.2f without, %.2f with).",
                task, n_exact, n_exact == 1 ? "" : "s", pct(ie), later, nb->st[reach].mean, nb->I);
        } else if (smallest >= 0) {
            int n = n_loss;
            if (n >= nb->L - 1)
                jb_printf(
                    hb,
                    "The %s answer is in place only near the end: removing the last block alone stays "
                    "within 10%% but removing more does not.",
                    task);
            else
                jb_printf(
                    hb,
                    "The %s answer is in place after the first %d block%s: removing blocks %d-%d changes "
                    "its loss by less than 10%%.",
                    task, n, n == 1 ? "" : "s", n, nb->L - 1);
        } else {
            jb_printf(
                hb,
                "%s needs the full depth: removing even the last block raises the answer loss by more "
                "than 10%%.",
                task);
        }
    } else {
        int k = find_label(nb, prefix, nb->L - 1);   // without block 0
        if (k >= 0 && usable(nb, k)) {
            jb_printf(ob, " Without block 0 (%s): loss %.2f (%+.2f nats), exact %d%%.",
                      label_of(nb, k), nb->st[k].mean, nb->st[k].delta, pct(nb->st[k].exact_rate));
            if (nb->st[k].delta > fmax(1.0, 0.5 * fabs(nb->I)))
                jb_printf(
                    hb,
                    "Block 0 is indispensable for %s: removing it alone breaks the model (%+.2f nats).",
                    task, nb->st[k].delta);
            else if (!within(nb, k))
                jb_printf(
                    hb,
                    "The first block matters for %s (%+.2f nats without it) but does not break the model.",
                    task, nb->st[k].delta);
            else
                jb_printf(
                    hb,
                    "The first block is not needed for %s: the model without it stays within 10%% of "
                    "the intact loss.",
                    task);
        }
    }
}

// A comma-separated list of the labels of configurations outside (or inside) tolerance.
static int list_labels(JsonBuf *b, const Numbers *nb, int outside) {
    int n = 0;
    for (int k = 0; k < nb->K; k++)
        if (usable(nb, k) && within(nb, k) != outside)
            jb_printf(b, "%s%s", n++ ? ", " : "", label_of(nb, k));
    return n;
}

static int count_usable(const Numbers *nb) {
    int n = 0;
    for (int k = 0; k < nb->K; k++) n += usable(nb, k);
    return n;
}

static double mean_delta(const Numbers *nb, int (*keep)(const Numbers *, int)) {
    double sum = 0;
    int n = 0;
    for (int k = 0; k < nb->K; k++)
        if (usable(nb, k) && (!keep || keep(nb, k))) sum += nb->st[k].delta, n++;
    return n ? sum / n : 0;
}

// what: "single block removal"...; unit: "block", "window of two blocks" (for the
// hypothesis); robust_what: the corruption when it is about robustness, else NULL.
static void note_ranked(JsonBuf *ob, JsonBuf *hb, const Numbers *nb, const char *what,
                        const char *unit, const char *task, const char *robust_what) {
    int w = worst_config(nb), b = best_config(nb), n = count_usable(nb);
    if (w < 0) return;
    jb_printf(ob, " The %s that hurts most: ", what);
    describe(ob, nb, w);
    jb_printf(ob, "; least: ");
    describe(ob, nb, b);
    jb_printf(ob, ". Mean change over %d configurations: %+.2f nats.", n, mean_delta(nb, NULL));
    JsonBuf over = {0};
    int n_over = list_labels(&over, nb, 1);
    if (n_over > 0) jb_printf(ob, " More than 10%% worse: %s (%d of %d).", over.buf, n_over, n);
    else jb_printf(ob, " None is more than 10%% worse than intact.");
    jb_free(&over);
    int by_answers = nb->st[w].delta > nb->tol && nb->st[nb->ik].exact_rate > 0;
    if (robust_what && (n_over == 0 || !by_answers)) {
        if (n_over == 0)
            jb_printf(hb, "%s is robust to %s: no configuration moves the loss by more than 10%%.",
                      task, robust_what);
        else if (n_over == n)
            jb_printf(
                hb,
                "%s is fragile to %s: every configuration costs more than 10%%, most of all %s.",
                task, robust_what, label_of(nb, w));
        else
            jb_printf(
                hb,
                "%s tolerates %s except where it touches the sensitive blocks (%s hurts most, %+.2f nats).",
                task, robust_what, label_of(nb, w), nb->st[w].delta);
    } else if (by_answers) {
        // Sort the configurations by what they do to the answers, not only to the loss:
        // breaks (exact match below half of intact), costs answers (below intact), costs
        // confidence only (worse by more than 10%, every answer kept), harmless.
        double ie = nb->st[nb->ik].exact_rate;
        JsonBuf brk = {0}, some = {0}, conf = {0}, ok = {0};
        int n_brk = 0, n_some = 0, n_conf = 0, n_ok = 0, first_brk = -1;
        for (int k = 0; k < nb->K; k++) {
            if (!usable(nb, k)) continue;
            const AgentStats *st = &nb->st[k];
            if (st->exact_rate < 0.5 * ie) {
                jb_printf(&brk, "%s%s (exact %d%%)", n_brk++ ? ", " : "", label_of(nb, k),
                          pct(st->exact_rate));
                if (first_brk < 0) first_brk = k;
            } else if (st->exact_rate < ie)
                jb_printf(&some, "%s%s (exact %d%%)", n_some++ ? ", " : "", label_of(nb, k),
                          pct(st->exact_rate));
            else if (!within(nb, k))
                jb_printf(&conf, "%s%s (%+.2f nats)", n_conf++ ? ", " : "", label_of(nb, k),
                          st->delta);
            else jb_printf(&ok, "%s%s", n_ok++ ? ", " : "", label_of(nb, k));
        }
        if (n_brk == 0 && n_some == 0)
            jb_printf(
                hb,
                "No single %s is critical for %s: even %s, the worst (%+.2f nats), keeps exact match at %d%%; "
                "it only makes the model less confident.",
                unit, task, label_of(nb, w), nb->st[w].delta, pct(nb->st[w].exact_rate));
        else {
            jb_printf(hb, "Against intact (exact %d%%), %s", pct(ie), task);
            const char *sep = "";
            if (n_brk) jb_printf(hb, " breaks under %s", brk.buf), sep = ";";
            if (n_some) jb_printf(hb, "%s loses some answers under %s", sep, some.buf), sep = ";";
            if (n_conf)
                jb_printf(hb, "%s keeps its answers but is less confident under %s", sep, conf.buf),
                    sep = ";";
            if (n_ok > 4) jb_printf(hb, "%s is unaffected by the other %d", sep, n_ok);
            else if (n_ok) jb_printf(hb, "%s is unaffected by %s", sep, ok.buf);
            if (robust_what) {   // nothing is removed: say how much of the corruption it survives
                jb_printf(hb, ". Of the %d configurations (%s), %d break%s it.", n, robust_what,
                          n_brk, n_brk == 1 ? "s" : "");
            } else if (n_brk == 1)
                jb_printf(hb, ". The computation needs what %s removes.", label_of(nb, first_brk));
            else if (n_brk > 1)
                jb_printf(hb, ". The computation needs what each of those %d removes.", n_brk);
            else jb_printf(hb, ". No single %s is indispensable.", unit);
        }
        jb_free(&some);
        jb_free(&brk), jb_free(&conf), jb_free(&ok);
    } else if (nb->st[w].delta > nb->tol) {
        jb_printf(hb, "%s depends most on what %s removes (%+.2f nats); ", task, label_of(nb, w),
                  nb->st[w].delta);
        if (n_over == 1)
            jb_printf(
                hb,
                "removing any other %s stays within 10%%, so the computation is localised there.",
                unit);
        else
            jb_printf(
                hb,
                "%d of %d removals cost more than 10%%, so the computation is spread over several %ss.",
                n_over, n, strncmp(unit, "window", 6) ? unit : "window");
    } else {
        jb_printf(hb,
                  "No single %s is critical for %s: the computation is redundant or distributed.",
                  unit, task);
    }
}

static int middle_window(const Numbers *nb, int k) {
    int a, b;
    if (sscanf(label_of(nb, k), "skip %d-%d", &a, &b) != 2) return 0;
    return a > 0 && b < nb->L - 1;
}

static void note_permute(JsonBuf *ob, JsonBuf *hb, const Numbers *nb, const char *task) {
    int rev = -1, n_sh = 0;
    double sum = 0, lo = 0, hi = 0;
    for (int k = 0; k < nb->K; k++) {
        if (!usable(nb, k)) continue;
        if (!strcmp(label_of(nb, k), "reversed")) rev = k;
        else if (!strncmp(label_of(nb, k), "shuffle ", 8)) {
            double d = nb->st[k].delta;
            if (n_sh == 0 || d < lo) lo = d;
            if (n_sh == 0 || d > hi) hi = d;
            sum += d;
            n_sh++;
        }
    }
    if (rev >= 0) {
        jb_printf(ob, " Reversed order: ");
        describe_numbers(ob, nb, rev);
        jb_printf(ob, ".");
    }
    if (n_sh > 0)
        jb_printf(ob, " %d random orders: mean %+.2f nats (from %+.2f to %+.2f).", n_sh, sum / n_sh,
                  lo, hi);
    double worst = rev >= 0 ? nb->st[rev].delta : hi;
    if (worst > fmax(1.0, 0.5 * fabs(nb->I)))
        jb_printf(
            hb,
            "Block order matters for %s: permuting the blocks breaks it, so each block expects the "
            "residual stream its predecessors write.",
            task);
    else if (worst > nb->tol)
        jb_printf(hb, "Block order matters somewhat for %s (up to %+.2f nats when permuted).", task,
                  worst);
    else
        jb_printf(
            hb,
            "%s barely depends on the block order: the blocks act like independent additive updates.",
            task);
}

// A position counted from the end of the prompt (-1: its last token), with its token in
// the longest prompt — the report's tables and heatmaps label their columns the same way.
static void position_text(JsonBuf *b, int off, const char *token) {
    jb_printf(b, "position %d", -(off + 1));
    if (token) {
        char *t = agent_clip(token, 24);
        jb_printf(b, " (\"%s\")", t);
        free(t);
    }
}

// The hypothesis of a patching experiment with nothing to restore.
static void patch_no_conclusion(JsonBuf *hb, const AgentPatchSummary *ps, const char *task,
                                double gap, int no_clean) {
    if (no_clean)
        jb_printf(
            hb,
            "No conclusion about where the %s answer is computed: the clean run does not prefer the clean "
            "answer (mean logit difference %.2f), so there is no clean behaviour to restore.",
            task, ps->clean_ld);
    else
        jb_printf(
            hb,
            "No conclusion about where the %s answer is computed: the clean and corrupted runs are only "
            "%.2f nats apart, so there is little to restore.",
            task, gap);
}

// Activation patching: where along depth and position the clean run's information
// restores the answer (docs/interp.md: effect 1 = fully restored).  Every effect is
// batch-normalised (agent_patch_summary).
static void note_patching(JsonBuf *ob, JsonBuf *hb, const AgentState *s, const AgentExperiment *e) {
    agent_experiment_load(e);
    AgentPatchSummary ps;
    agent_patch_summary(e, s->n_layer, &ps);
    const char *hook = e->method_arg ? e->method_arg : "resid_pre";
    jb_printf(
        ob,
        "%s on %s (%d examples, patching %s from the clean prompt into the corrupted one, %d blocks x %s):",
        e->name, e->task, e->examples, hook, s->n_layer, ps.is_head ? "heads" : "positions");
    if (ps.best.layer < 0) {
        jb_printf(ob, " no usable patch effects.");
        jb_printf(hb, "The experiment should be repeated: it produced no patch effects.");
        agent_patch_summary_free(&ps);
        return;
    }
    // How far apart the clean and corrupted runs are, in the direction of the clean answer.
    double gap;
    if (ps.uses_logit_diff) {
        jb_printf(
            ob,
            " Logit difference answer - wrong answer: clean %.2f, corrupted %.2f (means over %d pairs).",
            ps.clean_ld, ps.corrupt_ld, ps.n_ex);
        gap = ps.clean_ld - ps.corrupt_ld;
    } else {
        jb_printf(ob, " Answer loss: clean %.2f, corrupted %.2f (means over %d pairs).",
                  ps.clean_loss, ps.corrupt_loss, ps.n_ex);
        gap = ps.corrupt_loss - ps.clean_loss;
    }
    jb_printf(
        ob,
        " Effects are normalised over the batch, (mean patched - mean corrupted) / (mean clean - mean "
        "corrupted); %d of %d pairs are degenerate (their own clean and corrupted values less than %.0f%% "
        "of the mean difference apart).",
        ps.n_degenerate, ps.n_ex, 100 * PATCH_DEGENERATE_FRACTION);
    int no_clean = ps.uses_logit_diff ? !(ps.clean_ld > 0) : 0,
        nothing = no_clean || !(gap >= AGENT_PATCH_MIN_GAP);
    if (ps.is_head) {
        jb_printf(ob, " Largest effects of a single head (all positions):");
        for (int k = 0; k < ps.n_top; k++)
            jb_printf(ob, "%s L%dH%d %.2f", k ? "," : "", ps.top[k].layer, ps.top[k].col,
                      ps.top[k].effect);
        jb_printf(ob, ".");
        if (nothing) patch_no_conclusion(hb, &ps, e->task, gap, no_clean);
        else if (ps.best.effect >= 0.3)
            jb_printf(
                hb,
                "Head L%dH%d carries much of what decides the %s answer (patching it alone restores %.0f%% "
                "of the clean logit difference).",
                ps.top[0].layer, ps.top[0].col, e->task, 100 * ps.best.effect);
        else
            jb_printf(
                hb,
                "No single head carries the %s answer (at most %.0f%% restored by one head): the "
                "information moves through several heads.",
                e->task, 100 * ps.best.effect);
        agent_patch_summary_free(&ps);
        return;
    }
    jb_printf(ob, " Largest effect: block %d at ", ps.best.layer);
    position_text(ob, ps.best.col, ps.best_token);
    jb_printf(ob, ", %.2f.", ps.best.effect);
    int L = s->n_layer, mid = L / 2, handoff = -1, crossover = -1;
    if (!isnan(ps.block[0].last) && !isnan(ps.block[L - 1].last))
        jb_printf(
            ob,
            " At the last position (-1) the effect is %.2f at block 0, %.2f at block %d and %.2f at block %d.",
            ps.block[0].last, ps.block[mid].last, mid, ps.block[L - 1].last, L - 1);
    if (!isnan(ps.block[0].changed) && !isnan(ps.block[L - 1].changed))
        jb_printf(
            ob,
            " At the changed tokens (where the prompts differ) the best effect is %.2f at block 0 and %.2f "
            "at block %d.",
            ps.block[0].changed, ps.block[L - 1].changed, L - 1);
    for (int l = 0; l < L; l++) {
        if (handoff < 0 && !isnan(ps.block[l].last) && ps.block[l].last >= 0.5) handoff = l;
        if (crossover < 0 && !isnan(ps.block[l].last) && !isnan(ps.block[l].changed) &&
            ps.block[l].last > ps.block[l].changed)
            crossover = l;
    }
    if (crossover >= 0)
        jb_printf(ob, " The last position carries more than the changed tokens from block %d on.",
                  crossover);
    double early = -INFINITY;   // the changed tokens' best effect before the crossover
    for (int l = 0; l < (crossover >= 0 ? crossover : L); l++)
        if (!isnan(ps.block[l].changed) && ps.block[l].changed > early) early = ps.block[l].changed;
    if (nothing) patch_no_conclusion(hb, &ps, e->task, gap, no_clean);
    else if (handoff >= 0 && crossover > 0 && early >= 0.3) {
        char blocks[48];
        if (crossover == 1) snprintf(blocks, sizeof blocks, "block 0");
        else snprintf(blocks, sizeof blocks, "blocks 0-%d", crossover - 1);
        jb_printf(
            hb,
            "The information that decides the %s answer sits at the changed tokens in %s (up to %.2f "
            "restored there) and has moved to the last position by block %d (restoring half of the clean "
            "behaviour there from block %d on).",
            e->task, blocks, early, crossover, handoff);
    } else if (handoff >= 0)
        jb_printf(
            hb,
            "Patching the last position restores the %s answer from block %d on: the answer is "
            "assembled there%s.",
            e->task, handoff,
            early >= 0.3 ? ""
                         : ", and no single changed token carries it alone in the blocks before");
    else
        jb_printf(
            hb,
            "No single position of the residual stream restores the %s answer (best %.2f at block %d): "
            "the information is spread over several positions.",
            e->task, ps.best.effect, ps.best.layer);
    agent_patch_summary_free(&ps);
}

// How a judged experiment speaks: per question, the intact yes-rate and the
// configurations with the lowest and highest rate, e.g.
//   How it speaks (judge, yes-rate): "Does the completion only repeat the prompt's last
//   token?" intact 0%, lowest 0% (intact), highest 100% (first 1).
static void note_speaks(JsonBuf *ob, const AgentExperiment *e) {
    agent_experiment_load(e);
    JudgeSummary js;
    agent_experiment_speaks(e, &js);
    if (js.n) jb_printf(ob, " How it speaks (judge, yes-rate):");
    for (int q = 0; q < js.n; q++) {
        int first = 1;
        for (int k = 0; k < q; k++) first &= strcmp(js.g[k].question, js.g[q].question) != 0;
        if (!first) continue;
        const JudgeGroup *lo = NULL, *hi = NULL, *in = NULL;
        double rlo = 0, rhi = 0;
        for (int k = 0; k < e->configs.n; k++)   // configuration order: ties go to the first
            for (int g = 0; g < js.n; g++) {
                if (strcmp(js.g[g].question, js.g[q].question) ||
                    strcmp(js.g[g].label, e->configs.cfg[k].label))
                    continue;
                double r = judge_summary_stats(&js, &js.g[g]).yes_rate;
                if (!strcmp(js.g[g].label, "intact")) in = &js.g[g];
                if (!lo || r < rlo) lo = &js.g[g], rlo = r;
                if (!hi || r > rhi) hi = &js.g[g], rhi = r;
            }
        if (!lo) continue;
        jb_printf(ob, " \"%s\"", js.g[q].question);
        if (in) jb_printf(ob, " intact %d%%,", pct(judge_summary_stats(&js, in).yes_rate));
        jb_printf(ob, " lowest %d%% (%s), highest %d%% (%s);", pct(rlo), lo->label, pct(rhi),
                  hi->label);
    }
    if (js.n && ob->buf[ob->len - 1] == ';') ob->buf[ob->len - 1] = '.';
    judge_summary_free(&js);
}

// Does the intact model do the task at all?  Not when no example's answer is reproduced:
// then where the answer "appears" along depth says nothing.
static int task_unsolved(const Numbers *nb) { return nb->st[nb->ik].exact_rate <= 0; }

static void note_unsolved(JsonBuf *ob, JsonBuf *hb, const AgentState *s, const Numbers *nb,
                          const char *task) {
    jb_printf(ob, " The intact model does not do the task: exact match 0%%, answer loss %.2f nats",
              nb->I);
    if (s->vocab > 1) jb_printf(ob, " (chance, ln %d, is %.2f)", s->vocab, log((double)s->vocab));
    jb_printf(ob, ".");
    hb->len = 0;
    if (hb->buf) hb->buf[0] = 0;
    jb_printf(
        hb,
        "No conclusion about where %s is computed: the intact model does not solve it, so what the "
        "corruptions change is not the task's mechanism.",
        task);
}

void agent_note_builtin(const AgentState *s, const AgentExperiment *e, AgentAction *a) {
    agent_experiment_load(e);
    memset(a, 0, sizeof *a);
    a->type = AGENT_ACTION_NOTE;
    a->planner = "builtin";
    a->experiment = xstrdup(e->name);
    a->task = xstrdup(e->task);
    Numbers nb;
    numbers_init(&nb, e, s->n_layer);
    JsonBuf ob = {0}, hb = {0};
    AgentKind kind = agent_experiment_kind(e);
    if (kind == AGENT_KIND_PATCHING) note_patching(&ob, &hb, s, e);
    else
        jb_printf(&ob, "%s on %s (%d examples, %d configurations):", e->name, e->task, e->examples,
                  e->configs.n);
    if (kind == AGENT_KIND_PATCHING) {
        // the note is complete
    } else if (nb.ik < 0) {
        jb_printf(&ob, " no usable intact loss, so no comparison can be made.");
        jb_printf(
            &hb, "The experiment should be repeated: its intact configuration produced no losses.");
    } else {
        jb_printf(&ob, " intact loss %.2f (exact %d%%).", nb.I, pct(nb.st[nb.ik].exact_rate));
        int heads = e->method_arg && !strcmp(e->method_arg, "ablate-heads");
        switch (kind) {
        case AGENT_KIND_DROP_LAST: note_drop(&ob, &hb, &nb, 1, e->task); break;
        case AGENT_KIND_DROP_FIRST: note_drop(&ob, &hb, &nb, 0, e->task); break;
        case AGENT_KIND_SKIP_ONE:
            note_ranked(&ob, &hb, &nb, "single block removal", "block", e->task, NULL);
            break;
        case AGENT_KIND_SKIP_RANGE:
            note_ranked(&ob, &hb, &nb, "removal of two adjacent blocks", "window of two blocks",
                        e->task, NULL);
            if (count_usable(&nb) > 2)
                jb_printf(
                    &ob,
                    " Windows in the middle (not touching the first or last block): mean %+.2f nats.",
                    mean_delta(&nb, middle_window));
            break;
        case AGENT_KIND_REPEAT:
            note_ranked(&ob, &hb, &nb, "repeated block", "block", e->task, "repeating a block");
            break;
        case AGENT_KIND_SWAP:
            note_ranked(&ob, &hb, &nb, "swap", "swap", e->task, "swapping neighbouring blocks");
            break;
        case AGENT_KIND_PERMUTE: note_permute(&ob, &hb, &nb, e->task); break;
        case AGENT_KIND_ABLATION:
            note_ranked(&ob, &hb, &nb, heads ? "head ablation" : "MLP ablation",
                        heads ? "head" : "MLP", e->task, NULL);
            break;
        default:
            note_ranked(&ob, &hb, &nb, "configuration", "configuration", e->task,
                        "these corruptions");
            break;
        }
        if (task_unsolved(&nb)) note_unsolved(&ob, &hb, s, &nb, e->task);
    }
    long errors = 0;
    for (int k = 0; k < nb.K; k++) errors += nb.st[k].n_error;
    if (errors) jb_printf(&ob, " %ld scored records were errors and are not counted.", errors);
    if (e->judge) note_speaks(&ob, e);
    if (!agent_experiment_complete(e, NULL)) jb_printf(&ob, " (Results incomplete.)");
    a->observation = jb_take(&ob);
    a->hypothesis = hb.buf ? hb.buf : NULL;
    free(nb.st);
}

// ----------------------------------------------------------------------------- report

typedef enum {
    SEC_DEPTH,
    SEC_CRITICAL,
    SEC_ROBUST,
    SEC_COMPONENTS,
    SEC_PATCHING,
    SEC_OTHER,
    N_SEC
} Section;

static Section section_of(AgentKind k) {
    switch (k) {
    case AGENT_KIND_DROP_LAST:
    case AGENT_KIND_DROP_FIRST: return SEC_DEPTH;
    case AGENT_KIND_SKIP_ONE:
    case AGENT_KIND_SKIP_RANGE: return SEC_CRITICAL;
    case AGENT_KIND_REPEAT:
    case AGENT_KIND_SWAP:
    case AGENT_KIND_PERMUTE: return SEC_ROBUST;
    case AGENT_KIND_ABLATION: return SEC_COMPONENTS;
    case AGENT_KIND_PATCHING: return SEC_PATCHING;
    default: return SEC_OTHER;
    }
}

static void add_note_text(JsonBuf *b, const char *obs, const char *hyp) {
    jb_printf(b, "- %s", obs);
    if (hyp && *hyp) jb_printf(b, " *%s*", hyp);
    jb_printf(b, "\n");
}

// The tasks of the investigation, in order of first appearance (experiments, then notes).
static int tasks_seen(const AgentState *s, const char ***out) {
    const char **t = xcalloc((size_t)(s->n_exp + s->n_note + 1), sizeof *t);
    int n = 0;
    for (int i = 0; i < s->n_exp + s->n_note; i++) {
        if (i < s->n_exp) agent_experiment_load(&s->exp[i]);
        const char *task = i < s->n_exp ? s->exp[i].task : s->note[i - s->n_exp].task;
        int seen = !task;
        for (int k = 0; k < n && !seen; k++) seen = !strcmp(t[k], task);
        if (!seen) t[n++] = task;
    }
    *out = t;
    return n;
}

static void report_table(JsonBuf *b, const AgentState *s, const char *task) {
    int rows = 0;
    for (int i = 0; i < s->n_exp; i++) {
        const AgentExperiment *e = &s->exp[i];
        agent_experiment_load(e);
        if (strcmp(e->task, task)) continue;
        Numbers nb;
        numbers_init(&nb, e, s->n_layer);
        int w = nb.ik >= 0 ? worst_config(&nb) : -1, bc = nb.ik >= 0 ? best_config(&nb) : -1;
        if (w >= 0) {
            if (rows++ == 0)
                jb_printf(
                    b,
                    "| experiment | intact loss | exact | most harmful | Δ loss | least harmful | Δ loss |\n"
                    "| --- | --- | --- | --- | --- | --- | --- |\n");
            jb_printf(b, "| %s | %.2f | %d%% | %s | %+.2f | %s | %+.2f |\n", e->name, nb.I,
                      pct(nb.st[nb.ik].exact_rate), label_of(&nb, w), nb.st[w].delta,
                      label_of(&nb, bc), nb.st[bc].delta);
        }
        free(nb.st);
    }
    if (rows) jb_printf(b, "\n");
}

static void report_task(JsonBuf *b, const AgentState *s, const char *task) {
    static const char *const titles[N_SEC] = {
        "Where the capability appears along depth",          "Critical blocks",
        "Robustness to repetition and permutation",          "Critical components (ablation)",
        "Where the information flows (activation patching)", "Other observations"};
    JsonBuf sec[N_SEC] = {{0}};
    for (int i = 0; i < s->n_exp; i++) {
        const AgentExperiment *e = &s->exp[i];
        agent_experiment_load(e);
        if (strcmp(e->task, task)) continue;
        Section k = section_of(agent_experiment_kind(e));
        int noted = 0;
        for (int n = 0; n < s->n_note; n++) {
            const AgentNote *nt = &s->note[n];
            if (!nt->experiment || strcmp(nt->experiment, e->name)) continue;
            agent_note_load(nt);
            add_note_text(&sec[k], nt->observation, nt->hypothesis);
            noted = 1;
        }
        if (!noted && agent_experiment_complete(e, NULL)) {
            AgentAction a;
            agent_note_builtin(s, e, &a);
            add_note_text(&sec[k], a.observation, a.hypothesis);
            agent_action_free(&a);
        }
    }
    for (int n = 0; n < s->n_note; n++) {   // notes on the task that name no known experiment
        const AgentNote *nt = &s->note[n];
        if (!nt->task || strcmp(nt->task, task) ||
            (nt->experiment && agent_experiment_find(s, nt->experiment)))
            continue;
        agent_note_load(nt);
        add_note_text(&sec[SEC_OTHER], nt->observation, nt->hypothesis);
    }
    jb_printf(b, "### %s\n\n", task);
    report_table(b, s, task);
    for (int k = 0; k < N_SEC; k++) {
        if (sec[k].len) jb_printf(b, "**%s.**\n\n%s\n", titles[k], sec[k].buf);
        jb_free(&sec[k]);
    }
}

char *agent_report_builtin(const AgentState *s) {
    JsonBuf b = {0};
    int complete = 0;
    for (int i = 0; i < s->n_exp; i++) complete += agent_experiment_complete(&s->exp[i], NULL);
    jb_printf(&b, "## Results\n\n");
    jb_printf(
        &b,
        "Model: %s (%d blocks). %d experiments (%d with complete results), %d notes. Answer loss is the "
        "mean cross-entropy of the answer tokens in nats; \"exact\" is the share of examples whose "
        "answer greedy decoding reproduces; Δ is the change against the intact model; \"within 10%%\" "
        "means at most max(10%% of the intact loss, %.2f nats) above it.\n\n",
        s->model_name, s->n_layer, s->n_exp, complete, s->n_note, AGENT_TOLERANCE_MIN);
    const char **tasks;
    int n = tasks_seen(s, &tasks);
    for (int t = 0; t < n; t++) report_task(&b, s, tasks[t]);
    free(tasks);
    int general = 0;
    for (int i = 0; i < s->n_note; i++) {
        const AgentNote *nt = &s->note[i];
        if (nt->task || (nt->experiment && agent_experiment_find(s, nt->experiment))) continue;
        if (general++ == 0) jb_printf(&b, "### General\n\n");
        agent_note_load(nt);
        add_note_text(&b, nt->observation, nt->hypothesis);
    }
    if (s->n_exp == 0 && s->n_note == 0) jb_printf(&b, "No experiment was run.\n");
    return b.buf;
}
