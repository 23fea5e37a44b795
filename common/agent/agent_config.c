// agent_config: the configurations of a method (ablation, patching), and the configurations,
// labels and experiment names an action's JSON gives, checked; see agent.h.
#include "agent/agent.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "experiment/interp.h"
#include "experiment/patchnorm.h"
#include "experiment/tasks.h"

// ----------------------------------------------------------------------------- methods

int agent_task_has_pairs(const char *task) {
    const TaskInfo *t = task ? tasks_find(task) : NULL;
    return t && t->n_items > 0 && t->items[0].corrupt_prompt != NULL;
}

int agent_method_configs(const char *method, const char *arg, int n_layer, int n_head,
                         ConfigList *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (!method) return fail(err, errlen, "no method");
    int patching = !strcmp(method, AGENT_METHOD_PATCHING),
        ablation = !strcmp(method, AGENT_METHOD_ABLATION);
    if (!patching && !ablation)
        return fail(err, errlen, "unknown method \"%s\" (ablation, patching)", method);
    int heads = ablation && arg && !strcmp(arg, "ablate-heads"),
        mlps = ablation && arg && !strcmp(arg, "ablate-mlps");
    if (ablation && !heads && !mlps)
        return fail(err, errlen, "ablation needs the sweep ablate-heads or ablate-mlps");
    if (heads && n_head < 1)
        return fail(err, errlen, "ablate-heads needs the model's number of heads");
    configs_add_intact(out, n_layer);
    int *idx = xmalloc(sizeof(int) * (size_t)(n_layer ? n_layer : 1));
    for (int l = 0; l < n_layer; l++) idx[l] = l;
    for (int l = 0; ablation && l < n_layer; l++)
        for (int h = 0; h < (heads ? n_head : 1); h++) {
            InterpAblation a = {{heads ? TF_HOOK_Z : TF_HOOK_MLP_OUT, l, heads ? h : -1, -1},
                                INTERP_ZERO};
            char label[LAYER_LABEL_MAX];
            interp_ablation_label(&a, label, sizeof label);
            configs_add(out, idx, n_layer, label);
        }
    free(idx);
    return 0;
}

void agent_patch_summary_free(AgentPatchSummary *ps) {
    free(ps->block);
    free(ps->best_token);
    memset(ps, 0, sizeof *ps);
}

// The metric's baselines of example x (from its first cell): logit differences when the
// sweep has them, else answer losses.
static void patch_baselines(const AgentPatchRow *r, int use_ld, double *clean, double *corrupt) {
    *clean = use_ld ? r->clean_ld : r->clean_loss;
    *corrupt = use_ld ? r->corrupt_ld : r->corrupt_loss;
}

// What agent_patch_summary knows of one example: its width (positions, or heads), whether
// its record was an error, and its first cell (the one its baselines are read from).
typedef struct {
    int width, error;
    const AgentPatchRow *base;
} PatchExample;

void agent_patch_summary(const AgentExperiment *e, int n_layer, AgentPatchSummary *ps) {
    agent_experiment_load(e);
    memset(ps, 0, sizeof *ps);
    int L = n_layer > 0 ? n_layer : 1, n_ex = e->n_ex > 0 ? e->n_ex : 1;
    ps->rows = n_layer;
    ps->best.layer = -1;
    ps->block = xmalloc(sizeof *ps->block * (size_t)L);
    ps->clean_ld = ps->corrupt_ld = ps->clean_loss = ps->corrupt_loss = NAN;
    int W = 1, widest = -1, use_ld = 0;
    PatchExample *ex = xcalloc((size_t)n_ex, sizeof *ex);
    for (int i = 0; i < e->patch.n; i++) {
        const AgentPatchRow *r = &e->patch.row[i];
        PatchExample *x = &ex[r->ex];
        if (r->error) {
            x->error = 1;
            continue;
        }
        if (r->layer >= n_layer) continue;
        ps->is_head |= r->is_head;
        if (r->col + 1 > x->width) x->width = r->col + 1;
        if (!x->base) x->base = r;
        use_ld |= isfinite(r->clean_ld) && isfinite(r->corrupt_ld);
    }
    for (int x = 0; x < e->n_ex; x++) {
        if (ex[x].error) ps->n_error++;
        else if (ex[x].width) ps->n_ex++;
        if (ex[x].width > W) W = ex[x].width;
        if (ex[x].width && (widest < 0 || ex[x].width > ex[widest].width)) widest = x;
    }
    ps->uses_logit_diff = use_ld;
    ps->width = W;
    // The mean baselines, then the pairs too close to tell apart.
    double b[4] = {0}, clean = 0, corrupt = 0;
    int nb[4] = {0}, nbase = 0;
    for (int x = 0; x < e->n_ex; x++) {
        const AgentPatchRow *r = ex[x].base;
        if (!r) continue;
        double v[4] = {r->clean_ld, r->corrupt_ld, r->clean_loss, r->corrupt_loss};
        for (int k = 0; k < 4; k++)
            if (isfinite(v[k])) b[k] += v[k], nb[k]++;
        double c, k;
        patch_baselines(r, use_ld, &c, &k);
        if (isfinite(c) && isfinite(k)) clean += c, corrupt += k, nbase++;
    }
    double *dst[4] = {&ps->clean_ld, &ps->corrupt_ld, &ps->clean_loss, &ps->corrupt_loss};
    for (int k = 0; k < 4; k++)
        if (nb[k]) *dst[k] = b[k] / nb[k];
    if (nbase) clean /= nbase, corrupt /= nbase;
    for (int x = 0; x < e->n_ex && nbase; x++) {
        double c, k;
        if (!ex[x].base) continue;
        patch_baselines(ex[x].base, use_ld, &c, &k);
        ps->n_degenerate += patch_pair_degenerate(c, k, clean, corrupt);
    }
    // Per (block, column) — the column is the offset from the end (positions) or the head —
    // and per block the best changed token of each example, all batch-normalised.
    double dir = clean >= corrupt ? 1 : -1;   // which way the metric moves towards clean
    PatchSums grid, changed;
    patch_sums_init(&grid, L, W);
    patch_sums_init(&changed, L, 1);
    double *best_changed = xmalloc(sizeof(double) * (size_t)n_ex * (size_t)L);
    for (size_t i = 0; i < (size_t)n_ex * (size_t)L; i++) best_changed[i] = NAN;
    for (int i = 0; i < e->patch.n; i++) {
        const AgentPatchRow *r = &e->patch.row[i];
        if (r->error || r->layer >= n_layer || !isfinite(r->metric) || !ex[r->ex].base) continue;
        double c, k;
        patch_baselines(ex[r->ex].base, use_ld, &c, &k);
        int col = r->is_head ? r->col : ex[r->ex].width - 1 - r->col;
        patch_sums_add(&grid, r->layer, col, r->metric, c, k);
        double *bc = &best_changed[(size_t)r->ex * L + r->layer];
        if (!r->is_head && r->changed && (isnan(*bc) || dir * r->metric > dir * *bc))
            *bc = r->metric;
    }
    for (int x = 0; x < e->n_ex; x++)
        for (int l = 0; l < n_layer; l++) {
            double c, k, v = best_changed[(size_t)x * L + l];
            if (isnan(v) || !ex[x].base) continue;
            patch_baselines(ex[x].base, use_ld, &c, &k);
            patch_sums_add(&changed, l, 0, v, c, k);
        }
    // The best cell among the columns most examples have (a column only the longest
    // prompts reach says little about the batch).
    int need = (ps->n_ex + 1) / 2 > 0 ? (ps->n_ex + 1) / 2 : 1;
    for (int l = 0; l < n_layer; l++) {
        ps->block[l].last = ps->is_head ? NAN : patch_sums_effect(&grid, l, 0);
        ps->block[l].changed = patch_sums_effect(&changed, l, 0);
        for (int c = 0; c < W; c++) {
            AgentPatchCell cell = {l, c, patch_sums_effect(&grid, l, c)};
            if (isnan(cell.effect) || patch_sums_count(&grid, l, c) < need) continue;
            if (ps->best.layer < 0 || cell.effect > ps->best.effect) ps->best = cell;
            if (!ps->is_head) continue;
            // the three largest heads, in order
            int at = ps->n_top;
            while (at > 0 && cell.effect > ps->top[at - 1].effect) at--;
            if (at >= 3) continue;
            for (int k = ps->n_top < 3 ? ps->n_top : 2; k > at; k--) ps->top[k] = ps->top[k - 1];
            ps->top[at] = cell;
            if (ps->n_top < 3) ps->n_top++;
        }
    }
    // The clean token at the best cell, in the longest prompt (the one the report's
    // heatmap labels its positions with).
    for (int i = 0; i < e->patch.n && ps->best.layer >= 0 && !ps->is_head && !ps->best_token; i++) {
        const AgentPatchRow *r = &e->patch.row[i];
        if (!r->error && r->token && r->ex == widest &&
            ex[r->ex].width - 1 - r->col == ps->best.col)
            ps->best_token = xstrdup(r->token);
    }
    patch_sums_free(&grid);
    patch_sums_free(&changed);
    free(ex);
    free(best_changed);
}

// ----------------------------------------------------------------------------- checks

int agent_name_check(const char *name, char *err, size_t errlen) {
    size_t n = strlen(name);
    if (n == 0 || n > AGENT_NAME_MAX)
        return fail(err, errlen, "an experiment name must have 1..%d characters", AGENT_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 strchr("_.:/+-", c);
        if (!ok)
            return fail(err, errlen,
                        "experiment name \"%s\": only letters, digits and _ . : / + - are allowed",
                        name);
    }
    return 0;
}

// One element of a configurations array: a block-index array or a SPEC string.
static int config_element(const JsonDoc *d, int t, int k, int n_layer, LayerConfig *c, char *err,
                          size_t errlen) {
    char msg[200];
    memset(c, 0, sizeof *c);
    if (json_type(d, t) == JSMN_STRING) {
        char *spec = NULL;
        size_t len;
        if (json_str(d, t, &spec, &len) != 0 || strlen(spec) != len) {
            free(spec);
            return fail(err, errlen, "configuration %d: not a valid string", k);
        }
        int rc = layers_parse(spec, n_layer, c, msg, sizeof msg);
        free(spec);
        if (rc != 0) return fail(err, errlen, "configuration %d: %s", k, msg);
        return 0;
    }
    if (json_type(d, t) != JSMN_ARRAY)
        return fail(err, errlen,
                    "configuration %d: must be an array of block indices like [0,1,2] (or a string "
                    "like \"0-5,7\")",
                    k);
    int n = json_size(d, t);
    if (n > 4 * n_layer)
        return fail(err, errlen, "configuration %d: %d blocks, at most %d allowed", k, n,
                    4 * n_layer);
    c->idx = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    c->n = n;
    for (int i = 0, v = t + 1; i < n; i++, v = json_skip(d, v)) {
        long long x;
        if (json_int(d, v, &x) != 0) {
            layer_config_free(c);
            return fail(err, errlen, "configuration %d: element %d is not an integer block index",
                        k, i);
        }
        if (x < 0 || x >= n_layer) {
            layer_config_free(c);
            return fail(err, errlen, "configuration %d: layer index %lld out of range 0..%d", k, x,
                        n_layer - 1);
        }
        c->idx[i] = (int)x;
    }
    if (layers_is_intact(c->idx, c->n, n_layer)) snprintf(c->label, sizeof c->label, "intact");
    else layers_compact(c->idx, c->n, c->label, sizeof c->label);
    return 0;
}

static int label_element(const JsonDoc *d, int labels, int k, LayerConfig *c, char *err,
                         size_t errlen) {
    int t = json_arr_at(d, labels, k);
    char *label = NULL;
    size_t len;
    if (t < 0 || json_type(d, t) != JSMN_STRING || json_str(d, t, &label, &len) != 0) {
        free(label);
        return fail(err, errlen, "labels[%d] must be a string", k);
    }
    if (len == 0 || len >= LAYER_LABEL_MAX || strlen(label) != len || strchr(label, '\n')) {
        free(label);
        return fail(err, errlen, "labels[%d] must have 1..%d characters on one line", k,
                    LAYER_LABEL_MAX - 1);
    }
    snprintf(c->label, sizeof c->label, "%s", label);
    free(label);
    return 0;
}

int agent_configs_parse(const JsonDoc *d, int arr, int labels, int n_layer, ConfigList *out,
                        char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (arr < 0 || json_type(d, arr) != JSMN_ARRAY)
        return fail(err, errlen,
                    "configurations must be an array of configurations, e.g. [[0,1,2],[0,2]]");
    int n = json_size(d, arr);
    if (n < 1 || n > AGENT_MAX_CONFIGS)
        return fail(err, errlen, "configurations must hold 1..%d configurations (got %d)",
                    AGENT_MAX_CONFIGS, n);
    if (labels >= 0 && json_type(d, labels) != JSMN_ARRAY && !json_is_null(d, labels))
        return fail(err, errlen, "labels must be an array of strings, one per configuration");
    if (labels >= 0 && json_type(d, labels) == JSMN_ARRAY && json_size(d, labels) != n)
        return fail(err, errlen, "labels has %d entries for %d configurations",
                    json_size(d, labels), n);
    int has_labels = labels >= 0 && json_type(d, labels) == JSMN_ARRAY;
    ConfigList got = {0};
    for (int k = 0, t = arr + 1; k < n; k++, t = json_skip(d, t)) {
        LayerConfig c;
        if (config_element(d, t, k, n_layer, &c, err, errlen) != 0 ||
            (has_labels && label_element(d, labels, k, &c, err, errlen) != 0)) {
            layer_config_free(&c);
            configs_free(&got);
            return -1;
        }
        int dup = 0;
        for (int i = 0; i < got.n && !dup; i++)
            dup = got.cfg[i].n == c.n &&
                  (c.n == 0 || !memcmp(got.cfg[i].idx, c.idx, sizeof(int) * (size_t)c.n));
        if (!dup) configs_add(&got, c.idx, c.n, c.label);
        layer_config_free(&c);
    }
    int intact = -1;
    for (int i = 0; i < got.n && intact < 0; i++)
        if (layers_is_intact(got.cfg[i].idx, got.cfg[i].n, n_layer)) intact = i;
    if (intact < 0) configs_add_intact(out, n_layer);
    for (int i = 0; i < got.n; i++)
        configs_add(out, got.cfg[i].idx, got.cfg[i].n, got.cfg[i].label);
    configs_free(&got);
    if (out->n > AGENT_MAX_CONFIGS) {
        configs_free(out);
        return fail(err, errlen, "too many configurations (%d with the intact model; at most %d)",
                    n + 1, AGENT_MAX_CONFIGS);
    }
    return 0;
}
