// interp: activation patching, ablation, capture and export on the forward pass's hooks;
// see interp.h.
#include "experiment/interp.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tool.h"
#include "base/util.h"
#include "experiment/sweep.h"

// ----------------------------------------------------------------------------- sites

int interp_hook_find(const char *name, int allow_z) {
    if (!strncmp(name, "hook_", 5)) name += 5;
    if (!strcmp(name, "head")) return TF_HOOK_Z;
    int point = tf_hook_find(name);
    return point == TF_HOOK_Z && !allow_z ? -1 : point;
}

const char *interp_hook_name(int point) {
    return point == TF_HOOK_Z ? "head" : tf_hook_names[point];
}

static const char *component_name(int point) {
    return point == TF_HOOK_Z ? "head" : point == TF_HOOK_ATTN_OUT ? "attn" : "mlp";
}

void interp_ablation_label(const InterpAblation *a, char *buf, size_t buflen) {
    const char *verb = a->mode == INTERP_MEAN ? "mean-ablate" : "ablate";
    if (a->site.point == TF_HOOK_Z && a->site.head >= 0)
        snprintf(buf, buflen, "%s L%dH%d", verb, a->site.layer, a->site.head);
    else snprintf(buf, buflen, "%s %s %d", verb, component_name(a->site.point), a->site.layer);
}

// Integer member `key` of object obj: 1 read, 0 absent (or null), -1 not an integer.
static int member_int(const JsonDoc *d, int obj, const char *key, long long *out) {
    int v = json_obj_get(d, obj, key);
    if (v < 0 || json_is_null(d, v)) return 0;
    return json_int(d, v, out) == 0 ? 1 : -1;
}

// String member `key` (malloc'd in *out): 1, 0 absent, -1 not a string.
static int member_str(const JsonDoc *d, int obj, const char *key, char **out) {
    *out = NULL;
    int v = json_obj_get(d, obj, key);
    if (v < 0 || json_is_null(d, v)) return 0;
    if (json_type(d, v) != JSMN_STRING || json_str(d, v, out, NULL) != 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 1;
}

static int check_layer_head(const JsonDoc *d, int el, const char *what, int k,
                            const Gpt2Config *cfg, int need_head, int *layer, int *head, char *err,
                            size_t errlen) {
    long long l, h = -1;
    int got = member_int(d, el, "layer", &l);
    if (got != 1) return fail(err, errlen, "%s[%d]: needs an integer \"layer\"", what, k);
    if (l < 0 || l >= cfg->n_layer)
        return fail(err, errlen, "%s[%d]: layer %lld out of range 0..%d", what, k, l,
                    cfg->n_layer - 1);
    got = member_int(d, el, "head", &h);
    if (got < 0) return fail(err, errlen, "%s[%d]: \"head\" must be an integer", what, k);
    if (got == 0 && need_head)
        return fail(err, errlen, "%s[%d]: needs an integer \"head\"", what, k);
    if (got == 1 && (h < 0 || h >= cfg->n_head))
        return fail(err, errlen, "%s[%d]: head %lld out of range 0..%d", what, k, h,
                    cfg->n_head - 1);
    *layer = (int)l;
    *head = got == 1 ? (int)h : -1;
    return 0;
}

// Parse a JSON array of patch sites (token arr of d):
//   [{"hook": "resid_pre"|"resid_mid"|"resid_post"|"attn_out"|"mlp_out"|"z"|"head",
//     "layer": L, "head": H, "position": P}, ...]
// ("hook_" prefixes accepted; "head" is required for hook "head", optional for "z";
// "position" optional: every position; negative counts from the end of the prompt, -1 =
// its last token, resolved later).  Appends to *out (n counted in *n).  0, or -1 with a
// message naming the element ("patch[1]: head 12 out of range 0..11").
static int interp_parse_patches(const JsonDoc *d, int arr, const Gpt2Config *cfg, InterpSite **out,
                                int *n, char *err, size_t errlen) {
    if (arr < 0 || json_type(d, arr) != JSMN_ARRAY)
        return fail(
            err, errlen,
            "\"patch\" must be an array of sites like {\"hook\":\"resid_pre\",\"layer\":3,\"position\":5}");
    int count = json_size(d, arr);
    for (int k = 0, el = arr + 1; k < count; k++, el = json_skip(d, el)) {
        if (json_type(d, el) != JSMN_OBJECT)
            return fail(err, errlen, "patch[%d]: not an object", k);
        char *hook = NULL;
        if (member_str(d, el, "hook", &hook) != 1) {
            free(hook);
            return fail(err, errlen, "patch[%d]: needs a string \"hook\"", k);
        }
        const char *name = strncmp(hook, "hook_", 5) ? hook : hook + 5;
        int is_head = !strcmp(name, "head"), point = interp_hook_find(name, 1);
        if (point < 0) {
            fail(
                err, errlen,
                "patch[%d]: unknown hook \"%s\" (resid_pre, resid_mid, resid_post, attn_out, mlp_out, z, head)",
                k, hook);
            free(hook);
            return -1;
        }
        free(hook);
        InterpSite s = {point, 0, -1, -1};
        if (check_layer_head(d, el, "patch", k, cfg, is_head, &s.layer, &s.head, err, errlen) != 0)
            return -1;
        if (s.head >= 0 && point != TF_HOOK_Z)
            return fail(err, errlen, "patch[%d]: \"head\" only goes with hook z or head", k);
        long long pos;
        int got = member_int(d, el, "position", &pos);
        if (got < 0 || (got == 1 && (pos < -cfg->n_ctx || pos >= cfg->n_ctx)))
            return fail(err, errlen,
                        "patch[%d]: \"position\" must be an integer within the context", k);
        // Negative positions are kept as they are (counted from the end of the prompt) and
        // resolved against the record's tokens; -1 with got == 0 means every position.
        if (got == 1) s.position = pos >= 0 ? (int)pos : (int)pos - 1000000;
        *out = xrealloc(*out, sizeof **out * (size_t)(*n + 1));
        (*out)[(*n)++] = s;
    }
    return 0;
}

// Parse a JSON array of ablations:
//   [{"component": "head"|"attn"|"mlp", "layer": L, "head": H, "mode": "zero"|"mean"}, ...]
// ("mode" optional: zero).  As interp_parse_patches.
static int interp_parse_ablations(const JsonDoc *d, int arr, const Gpt2Config *cfg,
                                  InterpAblation **out, int *n, char *err, size_t errlen) {
    if (arr < 0 || json_type(d, arr) != JSMN_ARRAY)
        return fail(
            err, errlen,
            "\"ablate\" must be an array like [{\"component\":\"head\",\"layer\":1,\"head\":3}]");
    int count = json_size(d, arr);
    for (int k = 0, el = arr + 1; k < count; k++, el = json_skip(d, el)) {
        if (json_type(d, el) != JSMN_OBJECT)
            return fail(err, errlen, "ablate[%d]: not an object", k);
        char *comp = NULL, *mode = NULL;
        int got = member_str(d, el, "component", &comp), gm = member_str(d, el, "mode", &mode);
        int point = !comp                   ? -1
                    : !strcmp(comp, "head") ? TF_HOOK_Z
                    : !strcmp(comp, "attn") ? TF_HOOK_ATTN_OUT
                    : !strcmp(comp, "mlp")  ? TF_HOOK_MLP_OUT
                                            : -1;
        InterpMode m = !mode || !strcmp(mode, "zero") ? INTERP_ZERO : INTERP_MEAN;
        int bad_mode = gm < 0 || (mode && strcmp(mode, "zero") && strcmp(mode, "mean"));
        free(comp);
        free(mode);
        if (got != 1 || point < 0)
            return fail(err, errlen,
                        "ablate[%d]: \"component\" must be \"head\", \"attn\" or \"mlp\"", k);
        if (bad_mode)
            return fail(err, errlen, "ablate[%d]: \"mode\" must be \"zero\" or \"mean\"", k);
        InterpAblation a = {{point, 0, -1, -1}, m};
        if (check_layer_head(d, el, "ablate", k, cfg, point == TF_HOOK_Z, &a.site.layer,
                             &a.site.head, err, errlen) != 0)
            return -1;
        if (a.site.head >= 0 && point != TF_HOOK_Z)
            return fail(err, errlen, "ablate[%d]: \"head\" only goes with component head", k);
        *out = xrealloc(*out, sizeof **out * (size_t)(*n + 1));
        (*out)[(*n)++] = a;
    }
    return 0;
}

// ----------------------------------------------------------------------------- activations

// Storage for `points` of n_slots slots of T rows (free with act_cache_free).
static void act_cache_init(ActCache *c, int n_slots, int T, int C, unsigned points) {
    memset(c, 0, sizeof *c);
    c->n_slots = n_slots;
    c->T = T;
    c->C = C;
    c->points = points;
    size_t n = (size_t)(n_slots > 0 ? n_slots : 1) * (size_t)T * (size_t)C;
    for (int p = 0; p < TF_N_HOOKS; p++)
        if (points >> p & 1u) c->act[p] = xmalloc(sizeof(float) * n);
}

static void act_cache_free(ActCache *c) {
    for (int p = 0; p < TF_N_HOOKS; p++) free(c->act[p]);
    memset(c, 0, sizeof *c);
}

float *act_cache_at(const ActCache *c, int point, int slot) {
    if (!c || point < 0 || point >= TF_N_HOOKS || !c->act[point] || slot < 0 || slot >= c->n_slots)
        return NULL;
    return c->act[point] + (size_t)slot * (size_t)c->T * (size_t)c->C;
}

// ----------------------------------------------------------------------------- hooks

// What the hooks do to one run beyond a sweep's own intervention: the record's ablations
// and patches (from the clean run's activations), and the activations it keeps.
typedef struct {
    const InterpAblation *abl;   // (n_abl) the record's
    int n_abl;
    const InterpSite *patch;   // (n_patch) the record's
    int n_patch;
    const ActCache *source;    // the clean run's activations (patching)
    ActCache *capture;         // activations to keep (at the run's positions), or NULL
    struct NoopCheck *check;   // NULL, or the patches to compare this run's activations with
} HookRun;

// The corrupted run's check of the patched runs that will follow it: differs[i] set when
// patching sites[i] from the clean run's activations (clean) would change a bit of its own
// at some slot.  The clean run's hooks at a slot come before the corrupted run's (it is
// run first, in the same pass or an earlier one).
typedef struct NoopCheck {
    const InterpSite *sites;   // (n)
    int n;
    const ActCache *clean;
    unsigned char *differs;   // (n)
} NoopCheck;

// The hooks of one run, or of several runs PACKED one after another in the rows (run g:
// rows seg_start[g].., its positions seg_pos0[g].. of its record): runs of one record that
// differ only by their sweep ablation or patch cell (`run` applies to all of them), or
// the runs of several records (seg_run: each its own).
typedef struct {
    HookRun run;                            // every run's, unless seg_run
    const HookRun *seg_run;                 // NULL, or (runs) each run's own instead
    const InterpAblation *const *seg_abl;   // NULL, or (runs) each run's sweep ablation
    const InterpSite *const *seg_patch;     // NULL, or (runs) each run's sweep cell
    const InterpMeans *means;
    const int *seg_start;   // NULL: one run of all the rows (from position 0); else
                            // (runs + 1) the first row of each run
    const int *seg_pos0;    // NULL, or (runs) the position of each run's first row
    int slot, n_head;
} HookState;

// Columns [c0, c1) of a site: one head's slice of z, or the whole row.
static void site_columns(const InterpSite *s, int C, int n_head, int *c0, int *c1) {
    int hs = C / n_head;
    *c0 = s->head >= 0 ? s->head * hs : 0;
    *c1 = s->head >= 0 ? *c0 + hs : C;
}

static void apply_ablation(const InterpAblation *a, const InterpMeans *mn, float *act, int T, int C,
                           int n_head) {
    int c0, c1;
    site_columns(&a->site, C, n_head, &c0, &c1);
    const float *mean = NULL;
    if (a->mode == INTERP_MEAN && mn) {
        const float *base = a->site.point == TF_HOOK_Z          ? mn->z
                            : a->site.point == TF_HOOK_ATTN_OUT ? mn->attn
                                                                : mn->mlp;
        mean = base + (size_t)a->site.layer * C;
    }
    for (int t = 0; t < T; t++) {
        float *row = act + (size_t)t * C;
        if (mean) memcpy(row + c0, mean + c0, sizeof(float) * (size_t)(c1 - c0));
        else memset(row + c0, 0, sizeof(float) * (size_t)(c1 - c0));
    }
}

// The positions [*t0, *t1) a site patches among pos0..pos0+T-1 (none: *t0 == *t1).
static void site_rows(const InterpSite *s, int pos0, int T, int *t0, int *t1) {
    *t0 = s->position >= 0 ? s->position : pos0;
    *t1 = s->position >= 0 ? s->position + 1 : pos0 + T;
    if (*t0 < pos0) *t0 = pos0;
    if (*t1 > pos0 + T || *t0 > *t1) *t0 = *t1;
}

// act: the T rows of positions pos0..pos0+T-1; src: every position from 0.
static void apply_patch(const InterpSite *s, const float *src, float *act, int pos0, int T, int C,
                        int n_head) {
    int c0, c1, t0, t1;
    site_columns(s, C, n_head, &c0, &c1);
    site_rows(s, pos0, T, &t0, &t1);
    for (int t = t0; t < t1; t++)
        memcpy(act + (size_t)(t - pos0) * C + c0, src + (size_t)t * C + c0,
               sizeof(float) * (size_t)(c1 - c0));
}

int interp_patch_same(const InterpSite *s, const float *src, const float *act, int pos0, int T,
                      int C, int n_head) {
    int c0, c1, t0, t1;
    site_columns(s, C, n_head, &c0, &c1);
    site_rows(s, pos0, T, &t0, &t1);
    for (int t = t0; t < t1; t++)
        if (memcmp(act + (size_t)(t - pos0) * C + c0, src + (size_t)t * C + c0,
                   sizeof(float) * (size_t)(c1 - c0)))
            return 0;
    return 1;
}

// Mark the sites of check that would change act (point at block `layer`, slot `slot`).
static void check_patches(NoopCheck *check, TfHookPoint point, int layer, int slot,
                          const float *act, int pos0, int T, int C, int n_head) {
    const float *clean = act_cache_at(check->clean, point, slot);
    for (int i = 0; i < check->n; i++) {
        const InterpSite *p = &check->sites[i];
        if (p->layer == layer && p->point == (int)point && !check->differs[i])
            check->differs[i] = !clean || !interp_patch_same(p, clean, act, pos0, T, C, n_head);
    }
}

static void hook_one_run(const HookState *h, int g, TfHookPoint point, int layer, float *act,
                         int pos0, int T, int C) {
    const HookRun *run = h->seg_run ? &h->seg_run[g] : &h->run;
    const float *src = act_cache_at(run->source, point, h->slot);
    for (int i = 0; i < run->n_abl; i++) {
        const InterpAblation *a = &run->abl[i];
        if (a->site.layer == layer && a->site.point == (int)point)
            apply_ablation(a, h->means, act, T, C, h->n_head);
    }
    const InterpAblation *a = h->seg_abl ? h->seg_abl[g] : NULL;
    if (a && a->site.layer == layer && a->site.point == (int)point)
        apply_ablation(a, h->means, act, T, C, h->n_head);
    for (int i = 0; i < run->n_patch; i++) {
        const InterpSite *p = &run->patch[i];
        if (p->layer == layer && p->point == (int)point && src)
            apply_patch(p, src, act, pos0, T, C, h->n_head);
    }
    const InterpSite *p = h->seg_patch ? h->seg_patch[g] : NULL;
    if (p && p->layer == layer && p->point == (int)point && src)
        apply_patch(p, src, act, pos0, T, C, h->n_head);
    if (run->check) check_patches(run->check, point, layer, h->slot, act, pos0, T, C, h->n_head);
    float *dst = run->capture ? act_cache_at(run->capture, point, h->slot) : NULL;
    if (dst) memcpy(dst + (size_t)pos0 * C, act, sizeof(float) * (size_t)T * C);
}

static void interp_hook(void *ctx, TfHookPoint point, int layer, float *act, int T, int C) {
    HookState *h = ctx;
    if (!h->seg_start) hook_one_run(h, 0, point, layer, act, 0, T, C);
    for (int g = 0; h->seg_start && h->seg_start[g] < T; g++)   // the runs in the pass so far
        hook_one_run(h, g, point, layer, act + (size_t)h->seg_start[g] * C,
                     h->seg_pos0 ? h->seg_pos0[g] : 0, h->seg_start[g + 1] - h->seg_start[g], C);
}

static unsigned run_mask(const HookRun *run) {
    unsigned mask = run->capture ? run->capture->points : 0;
    for (int i = 0; i < run->n_abl; i++) mask |= 1u << run->abl[i].site.point;
    for (int i = 0; i < run->n_patch; i++) mask |= 1u << run->patch[i].point;
    for (int i = 0; run->check && i < run->check->n; i++) mask |= 1u << run->check->sites[i].point;
    return mask;
}

static unsigned hook_mask(const HookState *h, int n_runs) {
    unsigned mask = run_mask(&h->run);
    for (int g = 0; g < n_runs; g++) {
        if (h->seg_run) mask |= run_mask(&h->seg_run[g]);
        if (h->seg_abl && h->seg_abl[g]) mask |= 1u << h->seg_abl[g]->site.point;
        if (h->seg_patch && h->seg_patch[g]) mask |= 1u << h->seg_patch[g]->point;
    }
    return mask;
}

// Is site s (if any) at block `layer` at a point past RESID_PRE, the only point
// tf_block_forward_tail calls?
static int site_past_pre(const InterpSite *s, int layer) {
    return s && s->layer == layer && s->point != TF_HOOK_RESID_PRE;
}

// Does a run's hook act at block `layer` past RESID_PRE (ablate, patch, check or capture
// there)?
static int run_acts_past_pre(const HookRun *run, int layer) {
    if (run->capture && (run->capture->points & ~(1u << TF_HOOK_RESID_PRE))) return 1;
    for (int i = 0; i < run->n_abl; i++)
        if (site_past_pre(&run->abl[i].site, layer)) return 1;
    for (int i = 0; i < run->n_patch; i++)
        if (site_past_pre(&run->patch[i], layer)) return 1;
    for (int i = 0; run->check && i < run->check->n; i++)
        if (site_past_pre(&run->check->sites[i], layer)) return 1;
    return 0;
}

// May the last slot of configuration c (block `layer`) run only the rows that are read,
// for the n_runs runs of h: the switch is on and no hook of theirs acts there past
// RESID_PRE (the lens, --dump of other points, ablating or patching that block).
static int hooks_trim_final(const HookState *h, int n_runs, int layer) {
    if (!sweep_last_rows() || run_acts_past_pre(&h->run, layer)) return 0;
    for (int g = 0; g < n_runs; g++)
        if ((h->seg_run && run_acts_past_pre(&h->seg_run[g], layer)) ||
            (h->seg_abl && h->seg_abl[g] && site_past_pre(&h->seg_abl[g]->site, layer)) ||
            (h->seg_patch && site_past_pre(h->seg_patch[g], layer)))
            return 0;
    return 1;
}

// The rows of a run to run at its last slot: those from position `tail` on of its rows
// from position pos0 (rows of them), at least 0 and at most all.
static int run_tail(int tail, int pos0, int rows) {
    int t = tail - pos0;
    return t < 0 ? 0 : t > rows ? rows : t;
}

// The keys and values every slot of one run of a configuration attends to (its positions
// 0..T-1): what a patch cell resumed at position p takes for positions < p.
typedef struct {
    float *k, *v;   // (n_slots, T, C) each
    int n_slots, T, C;
} RunKv;

static float *run_kv_at(const RunKv *kv, float *base, int slot) {
    return base + (size_t)slot * kv->T * kv->C;
}

// Runs of a pass that resume at a position: run g's positions < pos0[g] are those of the
// run `base` (its keys/values), copied into k[g]/v[g] ((T, C) each) at every slot.
typedef struct {
    const int *pos0;   // (n)
    const RunKv *base;
    float **k, **v;   // (n)
} Resume;

// n runs of c packed in resid: run g is rows starts[g]..starts[g+1]-1, its positions
// (rz ? rz->pos0[g] : 0).., entering at slot s0[g] (ascending) with its rows holding the
// residual entering that slot; it joins the forward pass there.  Runs entering at c->n are
// left as they are.  Each run's rows get the bits run_slots gives those positions of it
// alone (h->seg_abl / seg_patch: run g's own intervention), the rows from position `tail`
// on at least: the last slot runs only those when hooks_trim_final allows (tail 0: all).
static int run_slots_packed(const Gpt2 *m, const LayerConfig *c, const int *s0, int n, float *resid,
                            const int *starts, const Resume *rz, int tail, HookState *h,
                            TfWorkspace *ws, char *err, size_t errlen) {
    h->seg_start = starts;
    h->seg_pos0 = rz ? rz->pos0 : NULL;
    TfHooks hooks = {interp_hook, h, hook_mask(h, n)};
    const TfHooks *saved = ws->hooks;
    ws->hooks = hooks.points ? &hooks : NULL;
    h->n_head = m->cfg.n_head;
    int rc = 0, active = 0;
    int *tails = NULL;
    if (tail > 0 && c->n > 0 && hooks_trim_final(h, n, c->idx[c->n - 1])) {
        tails = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
        for (int g = 0; g < n; g++)
            tails[g] = run_tail(tail, rz ? rz->pos0[g] : 0, starts[g + 1] - starts[g]);
    }
    for (int s = n ? s0[0] : c->n; s < c->n && rc == 0; s++) {
        while (active < n && s0[active] <= s) active++;
        h->slot = s;
        const int *last = s == c->n - 1 ? tails : NULL;
        if (!rz) {
            rc = tf_block_forward_tail(m, c->idx[s], resid, starts, active, NULL, NULL, NULL, last,
                                       ws, err, errlen);
            continue;
        }
        size_t row = sizeof(float) * (size_t)rz->base->C;
        for (int g = 0; g < active; g++) {
            memcpy(rz->k[g], run_kv_at(rz->base, rz->base->k, s), row * (size_t)rz->pos0[g]);
            memcpy(rz->v[g], run_kv_at(rz->base, rz->base->v, s), row * (size_t)rz->pos0[g]);
        }
        rc = tf_block_forward_tail(m, c->idx[s], resid, starts, active, rz->pos0, rz->k, rz->v,
                                   last, ws, err, errlen);
    }
    free(tails);
    ws->hooks = saved;
    h->seg_start = h->seg_pos0 = NULL;
    return rc;
}

// ----------------------------------------------------------------------------- means

typedef struct {
    double *sum[TF_N_HOOKS];   // (n_layer, C) for Z, ATTN_OUT, MLP_OUT
} MeanAcc;

static void mean_hook(void *ctx, TfHookPoint point, int layer, float *act, int T, int C) {
    MeanAcc *a = ctx;
    double *s = a->sum[point] + (size_t)layer * C;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < C; i++) s[i] += act[(size_t)t * C + i];
}

static void interp_means_free(InterpMeans *mn) {
    free(mn->z);
    free(mn->attn);
    free(mn->mlp);
    memset(mn, 0, sizeof *mn);
}

// The means over every record of the NDJSON file at path (records with "prompt"; BOS
// prepended when bos), run through the intact model.  0, or -1 with a message (the file
// unreadable, a line not a JSON object or without a prompt, no records).
static int interp_means_compute(InterpMeans *mn, const Model *m, const char *path, int bos,
                                TfWorkspace *ws, char *err, size_t errlen) {
    memset(mn, 0, sizeof *mn);
    const Gpt2 *g = &m->gpt2;
    int L = g->cfg.n_layer, C = g->cfg.n_embd;
    FILE *fp = fopen(path, "r");
    if (!fp) return fail(err, errlen, "cannot open %s", path);
    MeanAcc acc = {{0}};
    static const int points[] = {TF_HOOK_Z, TF_HOOK_ATTN_OUT, TF_HOOK_MLP_OUT};
    for (int k = 0; k < 3; k++) acc.sum[points[k]] = xcalloc((size_t)L * C, sizeof(double));
    TfHooks hooks = {mean_hook, &acc,
                     1u << TF_HOOK_Z | 1u << TF_HOOK_ATTN_OUT | 1u << TF_HOOK_MLP_OUT};
    float *resid = xmalloc(sizeof(float) * (size_t)g->cfg.n_ctx * C);
    LineReader lr;
    lines_init(&lr, fp);
    char *line, msg[256];
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = lines_next(&lr, &line)) != -1) {
        if (len < 0) {
            rc = fail(err, errlen, "%s:%ld: cannot read the line", path, lr.lineno);
            break;
        }
        if (strspn(line, " \t") == (size_t)len) continue;
        Record r;
        RecordTokens t;
        if (record_parse(&r, line, (size_t)len, lr.lineno, msg, sizeof msg) != 0 ||
            experiment_tokens(m, &r, bos, 0, &t, msg, sizeof msg) != 0) {
            rc = fail(err, errlen, "%s:%ld: %s", path, lr.lineno, msg);
            record_free(&r);
            break;
        }
        const TfHooks *saved = ws->hooks;
        ws->hooks = &hooks;
        rc = tf_embed(g, t.ids, t.n_prompt, 0, resid, msg, sizeof msg);
        for (int l = 0; l < L && rc == 0; l++)
            rc = tf_block_forward(g, l, resid, t.n_prompt, ws, msg, sizeof msg);
        ws->hooks = saved;
        if (rc) fail(err, errlen, "%s:%ld: %s", path, lr.lineno, msg);
        mn->rows += t.n_prompt;
        record_tokens_free(&t);
        record_free(&r);
    }
    lines_free(&lr);
    fclose(fp);
    if (rc == 0 && mn->rows == 0) rc = fail(err, errlen, "%s: no prompts to average", path);
    if (rc == 0) {
        mn->n_layer = L;
        mn->C = C;
        float **dst[3] = {&mn->z, &mn->attn, &mn->mlp};
        for (int k = 0; k < 3; k++) {
            *dst[k] = xmalloc(sizeof(float) * (size_t)L * C);
            for (size_t i = 0; i < (size_t)L * C; i++)
                (*dst[k])[i] = (float)(acc.sum[points[k]][i] / (double)mn->rows);
        }
    }
    for (int k = 0; k < 3; k++) free(acc.sum[points[k]]);
    free(resid);
    if (rc) interp_means_free(mn);
    return rc;
}

// ----------------------------------------------------------------------------- options

void interp_defaults(InterpOptions *o) {
    memset(o, 0, sizeof *o);
    o->sweep_point = TF_HOOK_RESID_PRE;
    o->dump_points = 1u << TF_HOOK_RESID_POST;
}

static unsigned parse_hook_list(const char *list) {
    unsigned mask = 0;
    char *copy = xstrdup(list), *save = NULL;
    for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        int point = tf_hook_find(p);
        if (point < 0)   // exits: copy goes with the process
            eprintf(
                EXIT_USAGE,
                "--dump-hooks: unknown hook \"%s\" (resid_pre, z, attn_out, resid_mid, mlp_out, resid_post)",
                p);
        mask |= 1u << point;
    }
    free(copy);
    if (!mask) eprintf(EXIT_USAGE, "--dump-hooks needs at least one hook");
    return mask;
}

int interp_option(InterpOptions *o, int opt, const char *arg) {
    switch (opt) {
    case OPT_SWEEP: {
        InterpSweep s = !strcmp(arg, "ablate-heads")  ? INTERP_SWEEP_ABLATE_HEADS
                        : !strcmp(arg, "ablate-mlps") ? INTERP_SWEEP_ABLATE_MLPS
                                                      : INTERP_SWEEP_NONE;
        if (s == INTERP_SWEEP_NONE) return 0;
        if (o->sweep != INTERP_SWEEP_NONE && o->sweep != s)
            eprintf(EXIT_USAGE, "one ablation sweep at a time (ablate-heads or ablate-mlps)");
        o->sweep = s;
        return 1;
    }
    case OPT_PATCH: o->patch_json = arg; return 1;
    case OPT_PATCH_SWEEP:
        o->patch_sweep = 1;
        if (arg) {
            o->sweep_point = interp_hook_find(arg, 0);
            if (o->sweep_point < 0)
                eprintf(
                    EXIT_USAGE,
                    "--patch-sweep=%s: resid_pre, resid_mid, resid_post, attn_out, mlp_out or head",
                    arg);
        }
        return 1;
    case OPT_ABLATE: o->ablate_json = arg; return 1;
    case OPT_ABLATE_MEAN_FROM: o->means_path = arg; return 1;
    case OPT_ABLATE_MODE:
        if (strcmp(arg, "zero") && strcmp(arg, "mean"))
            eprintf(EXIT_USAGE, "--ablate-mode must be zero or mean");
        o->sweep_mode = !strcmp(arg, "mean") ? INTERP_MEAN : INTERP_ZERO;
        return 1;
    case OPT_DUMP: o->dump_path = arg; return 1;
    case OPT_DUMP_HOOKS: o->dump_points = parse_hook_list(arg); return 1;
    case OPT_LENS:
        if (!strcmp(arg, "logit")) o->lens = INTERP_LENS_LOGIT;
        else if (!strcmp(arg, "tuned")) o->lens = INTERP_LENS_TUNED;
        else eprintf(EXIT_USAGE, "--lens must be logit or tuned");
        return 1;
    case OPT_TUNED_LENS: o->tuned_path = arg; return 1;
    default: return 0;
    }
}

static int parse_arg_json(const char *flag, const char *text, const Gpt2Config *cfg,
                          InterpOptions *o, int patches, char *err, size_t errlen) {
    JsonDoc d;
    char msg[256];
    int rc = json_parse(&d, text, strlen(text), msg, sizeof msg);
    if (rc == 0)
        rc = patches ? interp_parse_patches(&d, 0, cfg, &o->patch, &o->n_patch, msg, sizeof msg)
                     : interp_parse_ablations(&d, 0, cfg, &o->abl, &o->n_abl, msg, sizeof msg);
    json_free(&d);
    return rc ? fail(err, errlen, "%s: %s", flag, msg) : 0;
}

int interp_setup(InterpOptions *o, const Model *m, int bos, int lens_allowed, TfWorkspace *ws,
                 char *err, size_t errlen) {
    const Gpt2Config *cfg = &m->gpt2.cfg;
    if (o->lens && !lens_allowed) return fail(err, errlen, "--lens is a topk option");
    if (o->patch_sweep && lens_allowed)
        return fail(
            err, errlen,
            "--patch-sweep is a scoreloss option (topk patches per record or with --patch)");
    if (o->tuned_path && o->lens != INTERP_LENS_TUNED)
        return fail(err, errlen, "--tuned-lens goes with --lens tuned");
    if (o->lens == INTERP_LENS_TUNED && !o->tuned_path)
        return fail(err, errlen, "--lens tuned needs --tuned-lens FILE");
    if (o->patch_sweep && (o->patch_json || o->sweep || o->dump_path || o->lens))
        return fail(
            err, errlen,
            "--patch-sweep does not combine with --patch, an ablation sweep, --dump or --lens");
    if (o->sweep && (o->dump_path || o->lens))
        return fail(err, errlen, "an ablation sweep does not combine with --dump or --lens");
    if (o->patch_json) {
        if (parse_arg_json("--patch", o->patch_json, cfg, o, 1, err, errlen) != 0) return -1;
        o->has_patch = 1;
    }
    if (o->ablate_json && parse_arg_json("--ablate", o->ablate_json, cfg, o, 0, err, errlen) != 0)
        return -1;
    if (o->sweep) {
        int n = o->sweep == INTERP_SWEEP_ABLATE_HEADS ? cfg->n_layer * cfg->n_head : cfg->n_layer;
        o->sweep_abl = xcalloc((size_t)n, sizeof *o->sweep_abl);
        for (int l = 0, k = 0; l < cfg->n_layer; l++)
            for (int h = 0; h < (o->sweep == INTERP_SWEEP_ABLATE_HEADS ? cfg->n_head : 1); h++, k++)
                o->sweep_abl[k] =
                    o->sweep == INTERP_SWEEP_ABLATE_HEADS
                        ? (InterpAblation){{TF_HOOK_Z, l, h, -1}, o->sweep_mode}
                        : (InterpAblation){{TF_HOOK_MLP_OUT, l, -1, -1}, o->sweep_mode};
        o->n_sweep_abl = n;
    }
    int wants_mean = o->sweep && o->sweep_mode == INTERP_MEAN;
    for (int i = 0; i < o->n_abl; i++) wants_mean |= o->abl[i].mode == INTERP_MEAN;
    if (wants_mean && !o->means_path)
        return fail(err, errlen, "mean ablation needs --ablate-mean-from FILE");
    if (o->means_path) {
        if (interp_means_compute(&o->means, m, o->means_path, bos, ws, err, errlen) != 0) return -1;
        o->has_means = 1;
    }
    if (o->lens == INTERP_LENS_TUNED) {
        if (lens_load(&o->tuned, o->tuned_path, cfg->n_layer, cfg->n_embd, err, errlen) != 0)
            return -1;
        o->has_tuned = 1;
    }
    if (o->dump_path && !(o->npz = npz_open(o->dump_path, err, errlen))) return -1;
    o->capture = (o->dump_path ? o->dump_points : 0) |
                 (o->lens ? 1u << TF_HOOK_RESID_PRE | 1u << TF_HOOK_RESID_POST : 0);
    o->run_noop = env_off("AUTOINTERP_PATCH_SKIP");
    if (!o->stats) o->stats = xcalloc(1, sizeof *o->stats);
    return 0;
}

int interp_finish(InterpOptions *o, char *err, size_t errlen) {
    if (env_on("AUTOINTERP_STATS") && o->stats)
        fprintf(stderr, "interp: patched runs: %ld run, %ld skipped (patching nothing)\n",
                o->stats->patched_run, o->stats->patched_skipped);
    sweep_trim_report();
    NpzWriter *w = o->npz;
    o->npz = NULL;
    return npz_close(w, err, errlen);
}

void interp_options_free(InterpOptions *o) {
    char ignore[64];
    if (o->npz) npz_close(o->npz, ignore, sizeof ignore);
    free(o->patch);
    free(o->abl);
    free(o->sweep_abl);
    free(o->stats);
    interp_means_free(&o->means);
    lens_free(&o->tuned);
    memset(o, 0, sizeof *o);
}

int interp_active(const InterpOptions *o) {
    return o->has_patch || o->patch_sweep || o->n_abl || o->sweep || o->dump_path || o->lens;
}

int interp_n_variants(const InterpOptions *o) { return 1 + (o->sweep ? o->n_sweep_abl : 0); }

void interp_variant_label(const InterpOptions *o, const LayerConfig *c, int k, int n_layer,
                          char *buf) {
    if (k == 0 || k > o->n_sweep_abl) {
        snprintf(buf, LAYER_LABEL_MAX, "%s", c->label);
        return;
    }
    char what[48];
    interp_ablation_label(&o->sweep_abl[k - 1], what, sizeof what);
    if (layers_is_intact(c->idx, c->n, n_layer)) snprintf(buf, LAYER_LABEL_MAX, "%s", what);
    else
        snprintf(buf, LAYER_LABEL_MAX, "%.*s, %s", (int)(LAYER_LABEL_MAX - 3 - strlen(what)),
                 c->label, what);
}

// ----------------------------------------------------------------------------- records

static int read_sites(const Record *r, const char *key, const Gpt2Config *cfg, InterpRecord *ir,
                      char *err, size_t errlen) {
    int v = json_obj_get(&r->doc, 0, key);
    if (v < 0 || json_is_null(&r->doc, v)) return 0;
    int rc = !strcmp(key, "patch")
                 ? interp_parse_patches(&r->doc, v, cfg, &ir->patch, &ir->n_patch, err, errlen)
                 : interp_parse_ablations(&r->doc, v, cfg, &ir->abl, &ir->n_abl, err, errlen);
    return rc ? -1 : 1;
}

int interp_record_read(InterpRecord *ir, const InterpOptions *o, const Model *m, const Record *r,
                       int bos, const RecordTokens *t, char *err, size_t errlen) {
    memset(ir, 0, sizeof *ir);
    const Gpt2Config *cfg = &m->gpt2.cfg;
    ir->wrong_id = -1;
    ir->n_prompt = t->n_prompt;
    ir->T = t->n_prompt + t->n_answer;
    char *corrupt = NULL, *wrong = NULL, *sep = NULL;
    size_t clen = 0, wlen = 0, slen = 0;
    int *ids = NULL, rc = -1;
    if (o->n_abl) {
        ir->abl = xmalloc(sizeof *ir->abl * (size_t)o->n_abl);
        memcpy(ir->abl, o->abl, sizeof *ir->abl * (size_t)o->n_abl);
        ir->n_abl = o->n_abl;
    }
    if (read_sites(r, "ablate", cfg, ir, err, errlen) < 0) goto done;
    for (int i = 0; i < ir->n_abl; i++)
        if (ir->abl[i].mode == INTERP_MEAN && !o->has_means) {
            fail(err, errlen, "mean ablation needs --ablate-mean-from FILE");
            goto done;
        }
    int got = read_sites(r, "patch", cfg, ir, err, errlen);
    if (got < 0) goto done;
    if (got == 1 && o->patch_sweep) {
        fail(err, errlen, "a record's \"patch\" does not combine with --patch-sweep");
        goto done;
    }
    if (got == 0 && o->has_patch) {
        ir->patch = xmalloc(sizeof *ir->patch * (size_t)(o->n_patch ? o->n_patch : 1));
        if (o->n_patch) memcpy(ir->patch, o->patch, sizeof *ir->patch * (size_t)o->n_patch);
        ir->n_patch = o->n_patch;
    }
    ir->patching = got == 1 || o->has_patch || o->patch_sweep;
    for (int i = 0; i < ir->n_patch; i++) {   // negative positions count from the end of the prompt
        int *p = &ir->patch[i].position;
        if (*p < -1) *p += 1000000 + ir->n_prompt;
        if (*p < -1 || *p >= ir->n_prompt) {
            fail(err, errlen, "patch[%d]: position out of range for a prompt of %d tokens", i,
                 ir->n_prompt);
            goto done;
        }
    }
    int gc = record_string(r, "corrupt_prompt", &corrupt, &clen, err, errlen);
    if (gc < 0) goto done;
    if (ir->patching) {
        if (gc == 0) {
            fail(err, errlen, "patching needs a \"corrupt_prompt\" (the clean one is \"prompt\")");
            goto done;
        }
        int n;
        if (model_encode_prompt(m, corrupt, clen, bos, &ids, &n) != 0) {
            fail(err, errlen, "corrupt_prompt too long to tokenize");
            goto done;
        }
        if (n != ir->n_prompt) {
            fail(err, errlen,
                 "corrupt_prompt has %d tokens, prompt %d: patching needs equal lengths", n - bos,
                 ir->n_prompt - bos);
            goto done;
        }
        ir->corrupt = xmalloc(sizeof(int) * (size_t)ir->T);
        memcpy(ir->corrupt, ids, sizeof(int) * (size_t)n);
        memcpy(ir->corrupt + n, t->ids + n, sizeof(int) * (size_t)t->n_answer);
    }
    int gw = record_string(r, "wrong_answer", &wrong, &wlen, err, errlen);
    if (gw < 0 || record_string(r, "separator", &sep, &slen, err, errlen) < 0) goto done;
    if (gw == 1) {
        size_t tlen = (sep ? slen : 1) + wlen;
        char *text = xmalloc(tlen + 1);
        memcpy(text, sep ? sep : " ", sep ? slen : 1);
        memcpy(text + (sep ? slen : 1), wrong, wlen);
        int *w = NULL, nw = 0;
        int erc = tok_encode(m->tok, text, tlen, &w, &nw);
        free(text);
        if (erc != 0 || nw == 0 || wlen == 0) {
            free(w);
            fail(err, errlen, "empty or untokenizable \"wrong_answer\"");
            goto done;
        }
        ir->wrong_id = w[0];
        free(w);
        if (t->n_answer > 0 && ir->wrong_id == t->ids[t->n_prompt]) {
            fail(err, errlen,
                 "\"wrong_answer\" starts with the same token as \"answer\": no logit difference");
            goto done;
        }
    }
    rc = 0;
done:
    free(corrupt);
    free(wrong);
    free(sep);
    free(ids);
    if (rc) interp_record_free(ir);
    return rc;
}

void interp_record_free(InterpRecord *ir) {
    free(ir->abl);
    free(ir->patch);
    free(ir->corrupt);
    memset(ir, 0, sizeof *ir);
}

// ----------------------------------------------------------------------------- runs

// Slot of the first occurrence of block l in c, or c->n.
static int first_slot(const LayerConfig *c, int l) {
    for (int s = 0; s < c->n; s++)
        if (c->idx[s] == l) return s;
    return c->n;
}

// The distinct blocks of c in order of first use into blocks (n_layer); their number.
static int distinct_blocks(const LayerConfig *c, int n_layer, int *blocks) {
    int n = 0;
    for (int s = 0; s < c->n; s++)
        if (first_slot(c, c->idx[s]) == s && n < n_layer) blocks[n++] = c->idx[s];
    return n;
}

int interp_patch_cells(const InterpOptions *o, const InterpRecord *ir, const Gpt2Config *cfg,
                       const LayerConfig *c) {
    int *blocks = xmalloc(sizeof(int) * (size_t)cfg->n_layer);
    int nb = distinct_blocks(c, cfg->n_layer, blocks);
    free(blocks);
    return nb * (o->sweep_point == TF_HOOK_Z ? cfg->n_head : ir->n_prompt);
}

static void hook_base(HookState *h, const InterpOptions *o, const InterpRecord *ir) {
    memset(h, 0, sizeof *h);
    h->run.abl = ir->abl;
    h->run.n_abl = ir->n_abl;
    h->means = o->has_means ? &o->means : NULL;
}

typedef struct {
    const InterpOptions *o;
    const InterpRecord *ir;
    const Gpt2 *m;
    const LayerConfig *c;
    TfWorkspace *ws;
    InterpVisit visit;
    void *ctx;
    float *resid;              // (T, C)
    const InterpSite *cells;   // the patch sweep's cells (visits)
    const int *cell_of;        // (runs) the cell each run of the sweep is
    int next_cell;             // the sweep's next cell to visit
    char *err;
    size_t errlen;
} Runner;

static int visit_run(Runner *r, InterpRole role, const float *resid, int variant, int cell,
                     const InterpSite *site, const ActCache *acts) {
    InterpVisitInfo info = {role, variant, cell, site ? *site : (InterpSite){0, 0, -1, -1},
                            acts, 0};
    return r->visit(r->ctx, &info, resid, r->ir->T, r->ws);
}

// Runs of one sweep (ablation variants or patch cells) that restart from the residual
// entering their slot (and, patch cells, at their position), packed into forward passes of
// up to ws->max_T rows.
typedef struct {
    int n;             // runs
    const int *s0;     // (n) the slot each run restarts at (c->n: none; the final residual)
    const int *pos0;   // NULL, or (n) the position each run restarts at (needs kv)
    const RunKv *kv;   // with pos0: the keys/values of the run restarted from
    int max_runs;      // runs a pass holds at most (0: no limit; the k/v buffers' budget)
    const InterpAblation *const *abl;   // (n) each run's ablation, or NULL
    const InterpSite *const *patch;     // (n) each run's patch cell, or NULL
    const ActCache *pre;      // the residual entering every slot (of the run restarted from)
    const float *final;       // its final residual
    const ActCache *source;   // patching: the clean run's activations
} Restarts;

static int slot_order(const void *a, const void *b, void *s0_) {
    const int *s0 = s0_, x = *(const int *)a, y = *(const int *)b;
    return s0[x] != s0[y] ? (s0[x] > s0[y]) - (s0[x] < s0[y]) : x - y;
}

// The rows of run i: its positions from rs->pos0[i] (0 without) to the end.
static int restart_rows(const Restarts *rs, int i, int T) {
    return T - (rs->pos0 ? rs->pos0[i] : 0);
}

// A pass's runs, in order of their restart slot, and their buffers.
typedef struct {
    int *order, *s0, *pos0, *starts;   // (n) (n) (n) (n + 1)
    const InterpAblation **abl;        // (n)
    const InterpSite **patch;          // (n)
    float **k, **v;                    // (n) with pos0: (T, C) each
} Pass;

static void pass_init(Pass *p, const Restarts *rs, int i0, int n, int T, int C) {
    p->order = xmalloc(sizeof(int) * (size_t)n);
    p->s0 = xmalloc(sizeof(int) * (size_t)n);
    p->pos0 = xcalloc((size_t)n, sizeof(int));
    p->starts = xmalloc(sizeof(int) * (size_t)(n + 1));
    p->abl = xcalloc((size_t)n, sizeof *p->abl);
    p->patch = xcalloc((size_t)n, sizeof *p->patch);
    p->k = p->v = NULL;
    for (int g = 0; g < n; g++) p->order[g] = g;
    qsort_r(p->order, (size_t)n, sizeof(int), slot_order, (void *)(rs->s0 + i0));
    p->starts[0] = 0;
    for (int g = 0; g < n; g++) {
        int i = i0 + p->order[g];
        p->s0[g] = rs->s0[i];
        p->pos0[g] = rs->pos0 ? rs->pos0[i] : 0;
        p->abl[g] = rs->abl ? rs->abl[i] : NULL;
        p->patch[g] = rs->patch ? rs->patch[i] : NULL;
        p->starts[g + 1] = p->starts[g] + restart_rows(rs, i, T);
    }
    if (!rs->pos0) return;
    p->k = xmalloc(sizeof *p->k * (size_t)n);
    p->v = xmalloc(sizeof *p->v * (size_t)n);
    for (int g = 0; g < n; g++) {
        p->k[g] = xmalloc(sizeof(float) * (size_t)T * C);
        p->v[g] = xmalloc(sizeof(float) * (size_t)T * C);
    }
}

static void pass_free(Pass *p, int n) {
    for (int g = 0; p->k && g < n; g++) free(p->k[g]), free(p->v[g]);
    free(p->k), free(p->v), free(p->order), free(p->s0), free(p->pos0), free(p->starts),
        free(p->abl), free(p->patch);
}

// Run rs's runs [i0, i1) packed (in order of their restart slot) and visit each in order
// with its whole final residual (T, C): the positions before its restart position are the
// run restarted from's (rs->final), assembled in `whole`.
static int run_restart_pass(Runner *r, const Restarts *rs, int i0, int i1, float *buf, float *whole,
                            int (*visit)(Runner *, int i, const float *resid)) {
    int T = r->ir->T, C = r->m->cfg.n_embd, n = i1 - i0;
    Pass p;
    pass_init(&p, rs, i0, n, T, C);
    for (int g = 0; g < n; g++) {
        const float *from =
            p.s0[g] < r->c->n ? act_cache_at(rs->pre, TF_HOOK_RESID_PRE, p.s0[g]) : rs->final;
        memcpy(buf + (size_t)p.starts[g] * C, from + (size_t)p.pos0[g] * C,
               sizeof(float) * (size_t)(p.starts[g + 1] - p.starts[g]) * C);
    }
    HookState h;
    hook_base(&h, r->o, r->ir);
    h.seg_abl = p.abl;
    h.seg_patch = p.patch;
    h.run.source = rs->source;
    Resume rz = {p.pos0, rs->kv, p.k, p.v};
    int rc = run_slots_packed(r->m, r->c, p.s0, n, buf, p.starts, rs->pos0 ? &rz : NULL,
                              r->ir->tail, &h, r->ws, r->err, r->errlen);
    for (int g = 0; rc == 0 && g < n; g++) {   // visit in the runs' order
        int at = 0;
        while (p.order[at] != g) at++;
        const float *mine = buf + (size_t)p.starts[at] * C;
        if (p.pos0[at] > 0) {
            memcpy(whole, rs->final, sizeof(float) * (size_t)p.pos0[at] * C);
            memcpy(whole + (size_t)p.pos0[at] * C, mine,
                   sizeof(float) * (size_t)(T - p.pos0[at]) * C);
            mine = whole;
        }
        rc = visit(r, i0 + g, mine);
    }
    pass_free(&p, n);
    return rc;
}

// Does run i of rs ablate or patch block `last` past resid_pre?
static int restart_acts(const Restarts *rs, int i, int last) {
    return (rs->abl && rs->abl[i] && site_past_pre(&rs->abl[i]->site, last)) ||
           (rs->patch && site_past_pre(rs->patch[i], last));
}

// Every run of rs, in passes of up to SWEEP_PASS_ROWS rows (and ws->max_T; a run alone
// may have more), o->pack runs and rs->max_runs runs, consecutive runs that all ablate or
// patch the last block past resid_pre or none (restart_acts).
static int run_restarts(Runner *r, const Restarts *rs,
                        int (*visit)(Runner *, int i, const float *resid)) {
    int T = r->ir->T, C = r->m->cfg.n_embd,
        max_rows = r->ws->max_T < SWEEP_PASS_ROWS ? r->ws->max_T : SWEEP_PASS_ROWS;
    int max_runs = rs->n;
    if (r->o->pack > 0 && max_runs > r->o->pack) max_runs = r->o->pack;
    if (rs->max_runs > 0 && max_runs > rs->max_runs) max_runs = rs->max_runs;
    float *buf = xmalloc(sizeof(float) * (size_t)(max_rows > T ? max_rows : T) * C);
    float *whole = rs->pos0 ? xmalloc(sizeof(float) * (size_t)T * C) : NULL;
    int rc = 0;
    // a pass's runs all act at the last block past resid_pre, or none does: those that do
    // not then run only the rows read there (hooks_trim_final), whatever their company
    int last = r->c->n > 0 ? r->c->idx[r->c->n - 1] : -1;
    for (int i0 = 0; rc == 0 && i0 < rs->n;) {
        int i1 = i0 + 1, rows = restart_rows(rs, i0, T), acts = restart_acts(rs, i0, last);
        while (i1 < rs->n && i1 - i0 < max_runs && rows + restart_rows(rs, i1, T) <= max_rows &&
               restart_acts(rs, i1, last) == acts)
            rows += restart_rows(rs, i1++, T);
        rc = run_restart_pass(r, rs, i0, i1, buf, whole, visit);
        i0 = i1;
    }
    free(buf);
    free(whole);
    return rc;
}

static int visit_variant(Runner *r, int i, const float *resid) {
    InterpVisitInfo info = {INTERP_RUN, i + 1, -1, (InterpSite){0, 0, -1, -1}, NULL, 0};
    return r->visit(r->ctx, &info, resid, r->ir->T, r->ws);
}

// The ablation sweep's visits of record r->ir after its intact run (variant 0: final,
// having kept the residual entering every slot in pre): variant 0, then variant k
// restarting at the first slot of its block (nothing before it changes), the variants
// packed together.
static int run_ablation_sweep(Runner *r, const ActCache *pre, const float *final) {
    int n = r->o->n_sweep_abl;
    int rc = visit_run(r, INTERP_RUN, final, 0, -1, NULL, NULL);
    int *s0 = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    const InterpAblation **abl = xmalloc(sizeof *abl * (size_t)(n ? n : 1));
    for (int k = 0; k < n; k++) {
        abl[k] = &r->o->sweep_abl[k];
        s0[k] = first_slot(r->c, abl[k]->site.layer);
    }
    Restarts rs = {.n = n, .s0 = s0, .abl = abl, .pre = pre, .final = final};
    if (rc == 0) rc = run_restarts(r, &rs, visit_variant);
    free(s0);
    free(abl);
    return rc;
}

// Visit the sweep's cells from r->next_cell up to `end` (not run: they patch nothing) with
// the corrupted run's residual.
static int visit_noop_cells(Runner *r, int end) {
    int rc = 0;
    for (; rc == 0 && r->next_cell < end; r->next_cell++) {
        InterpVisitInfo info = {INTERP_RUN, 0, r->next_cell, r->cells[r->next_cell], NULL, 1};
        rc = r->visit(r->ctx, &info, r->resid, r->ir->T, r->ws);
    }
    return rc;
}

// Run i of the sweep done: the cells before it that were not run, then its own.
static int visit_cell(Runner *r, int i, const float *resid) {
    int cell = r->cell_of[i], rc = visit_noop_cells(r, cell);
    InterpVisitInfo info = {INTERP_RUN, 0, cell, r->cells[cell], NULL, 0};
    if (rc == 0) rc = r->visit(r->ctx, &info, resid, r->ir->T, r->ws);
    r->next_cell = cell + 1;
    return rc;
}

// Bytes of the keys/values of one run of c on T positions, and of a resumed cell's own
// (T rows of keys and of values).
static size_t run_kv_bytes(int n_slots, int T, int C) {
    return sizeof(float) * 2 * (size_t)n_slots * (size_t)T * (size_t)C;
}

static size_t mem_budget(const InterpOptions *o) { return sweep_budget(o->mem_budget); }

// Resumed cells a pass may hold within the budget, after the corrupted run's keys/values
// and `held` bytes kept for other records.
static int kv_cells(const InterpOptions *o, const RunKv *kv, size_t held) {
    size_t budget = mem_budget(o), base = run_kv_bytes(kv->n_slots, kv->T, kv->C) + held;
    size_t cells = base < budget ? (budget - base) / run_kv_bytes(1, kv->T, kv->C) : 0;
    return cells > INT_MAX ? INT_MAX : (int)cells;
}

// The grid of the patch sweep on c (blocks in order of first use, then positions or
// heads): its sites, malloc'd into *sites; their number.
static int patch_grid(const InterpOptions *o, const InterpRecord *ir, const Gpt2Config *cfg,
                      const LayerConfig *c, InterpSite **sites) {
    int *blocks = xmalloc(sizeof(int) * (size_t)cfg->n_layer);
    int nb = distinct_blocks(c, cfg->n_layer, blocks), heads = o->sweep_point == TF_HOOK_Z;
    int width = heads ? cfg->n_head : ir->n_prompt, n = nb * width;
    *sites = xmalloc(sizeof **sites * (size_t)(n ? n : 1));
    for (int b = 0, i = 0; b < nb; b++)
        for (int j = 0; j < width; j++, i++)
            (*sites)[i] = (InterpSite){o->sweep_point, blocks[b], heads ? j : -1, heads ? -1 : j};
    free(blocks);
    return n;
}

static void count_patched(const InterpOptions *o, long run, long skipped) {
    if (!o->stats) return;
    o->stats->patched_run += run;
    o->stats->patched_skipped += skipped;
}

// Each cell of the grid (sites[0..n)) patched alone into the corrupted run, restarting at
// the first slot of its block; the cells packed together (their keys/values within the
// budget less `held`).  With kv (the corrupted run's keys/values), a cell at position p
// also restarts at p: causal attention leaves its positions < p as they were in the
// corrupted run, so only positions p.. run, over the corrupted run's keys/values before p.
// Only the cells whose patch changes something (differs; NULL: all) run; the others are
// visited with the corrupted run's residual in their place.
static int run_patch_sweep(Runner *r, const InterpSite *sites, int n, const unsigned char *differs,
                           const ActCache *src, const ActCache *pre, const RunKv *kv, size_t held) {
    int heads = r->o->sweep_point == TF_HOOK_Z, runs = 0;
    const InterpSite **cells = xmalloc(sizeof *cells * (size_t)(n ? n : 1));
    int *cell_of = xmalloc(sizeof(int) * (size_t)(n ? n : 1)),
        *s0 = xmalloc(sizeof(int) * (size_t)(n ? n : 1)),
        *pos0 = xcalloc((size_t)(n ? n : 1), sizeof(int));
    for (int i = 0; i < n; i++) {
        if (differs && !differs[i]) continue;
        cell_of[runs] = i;
        cells[runs] = &sites[i];
        s0[runs] = first_slot(r->c, sites[i].layer);
        pos0[runs] = kv && !heads ? sites[i].position : 0;
        runs++;
    }
    count_patched(r->o, runs, n - runs);
    Restarts rs = {
        .n = runs, .s0 = s0, .patch = cells, .pre = pre, .final = r->resid, .source = src};
    if (kv && !heads) {
        rs.pos0 = pos0;
        rs.kv = kv;
        int fit = kv_cells(r->o, kv, held);
        rs.max_runs = fit > 1 ? fit : 1;
    }
    r->cells = sites;
    r->cell_of = cell_of;
    r->next_cell = 0;
    int rc = run_restarts(r, &rs, visit_cell);
    if (rc == 0) rc = visit_noop_cells(r, n);
    r->cells = NULL;
    r->cell_of = NULL;
    free(cells);
    free(cell_of);
    free(s0);
    free(pos0);
    return rc;
}

// ----------------------------------------------------------------------------- patching

// One patching record's clean and corrupted runs on a configuration, and what the runs
// after them take from them: the clean run's activations at the patched points (src); the
// corrupted run's residual entering every slot (pre: the sweep) and keys/values (kv: the
// sweep over positions, when the budget holds them with one cell's); both final residuals;
// without the sweep, the patched run's final residual and captures (o->capture).
typedef struct {
    const InterpRecord *ir;
    const int *tokens;   // the clean tokens (ir->T)
    void *ctx;           // the visitor's
    ActCache src, pre;
    RunKv kv;
    int keep;                 // kv holds the corrupted run's keys/values
    float *clean, *corrupt;   // (T, C) the final residuals
    float *patched;           // (T, C) the patched run's (no sweep), or NULL
    ActCache acts;            // its captures (no sweep, o->capture)
    size_t bytes;             // all of the above
    InterpSite *grid;         // (n_grid) the sweep's cells
    int n_grid;
    NoopCheck check;   // the patched runs' sites (the grid, or the record's patches) when
                       // those that patch nothing are skipped (check.n 0: none is)
} PatchRec;

// Is a patched run that patches nothing skipped (not run when the corrupted run's check
// says so)?  Not with o->run_noop, nor a single patch whose run captures activations.
static int skips_noop(const InterpOptions *o, const InterpRecord *ir) {
    return ir->patching && !o->run_noop && (o->patch_sweep || !o->capture);
}

// A single patch's run skipped: every site of the record changes nothing.
static int patch_is_noop(const PatchRec *p) {
    for (int i = 0; i < p->check.n; i++)
        if (p->check.differs[i]) return 0;
    return p->check.n > 0;
}

// Points the clean run keeps for the patched runs.
static unsigned patch_points(const InterpOptions *o, const InterpRecord *ir) {
    unsigned need = o->patch_sweep ? 1u << o->sweep_point : 0;
    for (int i = 0; i < ir->n_patch; i++) need |= 1u << ir->patch[i].point;
    return need;
}

// Does the corrupted run keep its keys/values (the sweep over positions, when the budget
// holds them with one cell's)?
static int patch_keeps_kv(const InterpOptions *o, const InterpRecord *ir, int n_slots, int C) {
    RunKv kv = {NULL, NULL, n_slots, ir->T, C};
    return o->patch_sweep && o->sweep_point != TF_HOOK_Z && n_slots > 0 && kv_cells(o, &kv, 0) >= 1;
}

static int count_points(unsigned mask) {
    int n = 0;
    for (; mask; mask &= mask - 1) n++;
    return n;
}

// Does record ir run the ablation sweep (its intact run then keeping the residual entering
// every slot)?  A patched record runs its patch alone.
static int ablation_sweeps(const InterpOptions *o, const InterpRecord *ir) {
    return o->sweep && !ir->patching;
}

size_t interp_patch_bytes(const InterpOptions *o, const InterpRecord *ir, int n_slots, int C) {
    size_t run = sizeof(float) * (size_t)n_slots * (size_t)ir->T * (size_t)C,
           row = sizeof(float) * (size_t)ir->T * (size_t)C;
    int runs = count_points(patch_points(o, ir)) +
               (o->patch_sweep ? 1 + (patch_keeps_kv(o, ir, n_slots, C) ? 2 : 0)
                               : count_points(o->capture) + ablation_sweeps(o, ir));
    return run * (size_t)runs + row * (o->patch_sweep ? 2 : ir->patching ? 3 : 1);
}

// A patched record keeps its clean and corrupted runs' residuals and its patch sources
// (with --patch-sweep also resid_pre and the keys/values its cells resume from); a record
// not patched keeps none of these.  Outside --patch-sweep, and for a record not patched,
// also its (patched) run's final residual and captures; with an ablation sweep (not
// patched) its run's resid_pre, where the variants restart.
static void patch_rec_init(PatchRec *p, const InterpOptions *o, const InterpRecord *ir,
                           const int *tokens, void *ctx, const Gpt2Config *cfg,
                           const LayerConfig *c) {
    int n_slots = c->n, C = cfg->n_embd;
    memset(p, 0, sizeof *p);
    int T = ir->T;
    size_t run = sizeof(float) * (size_t)n_slots * (size_t)T * (size_t)C;
    p->ir = ir;
    p->tokens = tokens;
    p->ctx = ctx;
    if (ir->patching) {
        act_cache_init(&p->src, n_slots, T, C, patch_points(o, ir));
        if (o->patch_sweep) act_cache_init(&p->pre, n_slots, T, C, 1u << TF_HOOK_RESID_PRE);
        p->kv = (RunKv){NULL, NULL, n_slots, T, C};
        p->keep = patch_keeps_kv(o, ir, n_slots, C);
        if (p->keep) p->kv.k = xmalloc(run), p->kv.v = xmalloc(run);
        p->clean = xmalloc(sizeof(float) * (size_t)T * C);
        p->corrupt = xmalloc(sizeof(float) * (size_t)T * C);
    }
    if (!o->patch_sweep || !ir->patching) {
        p->patched = xmalloc(sizeof(float) * (size_t)T * C);
        if (o->capture) act_cache_init(&p->acts, n_slots, T, C, o->capture);
    }
    if (ablation_sweeps(o, ir)) act_cache_init(&p->pre, n_slots, T, C, 1u << TF_HOOK_RESID_PRE);
    p->bytes = interp_patch_bytes(o, ir, n_slots, C);
    if (ir->patching && o->patch_sweep) p->n_grid = patch_grid(o, ir, cfg, c, &p->grid);
    if (skips_noop(o, ir)) {
        int n = o->patch_sweep ? p->n_grid : ir->n_patch;
        p->check = (NoopCheck){o->patch_sweep ? p->grid : ir->patch, n, &p->src,
                               xcalloc((size_t)(n ? n : 1), 1)};
    }
}

static void patch_rec_free(PatchRec *p) {
    act_cache_free(&p->src);
    act_cache_free(&p->pre);
    act_cache_free(&p->acts);
    free(p->kv.k), free(p->kv.v), free(p->clean), free(p->corrupt), free(p->patched);
    free(p->grid), free(p->check.differs);
    memset(p, 0, sizeof *p);
}

// A run from the embeddings (positions from 0) in a pass of several.
typedef struct {
    const int *tokens;   // (T)
    int T;
    HookRun hook;   // its ablations, patches and captures
    RunKv *keep;    // NULL, or where its keys/values go
    float *out;     // (T, C) gets its final residual (from row `tail` on when trimmed)
    int tail;       // the first row read of out (InterpRecord.tail)
} FullRun;

// runs[0..n) packed in one forward pass of c (block-diagonal attention), each with its own
// hooks; each final residual copied out.  buf: (rows, C); scratch: (rows, C) keys and
// (rows, C) values for the runs that keep none (used only when one keeps them).
static int full_runs_pass(const InterpOptions *o, const Gpt2 *m, const LayerConfig *c,
                          const FullRun *runs, int n, float *buf, float *scratch, TfWorkspace *ws,
                          char *err, size_t errlen) {
    int C = m->cfg.n_embd, any_keep = 0, rc = 0;
    int *starts = xmalloc(sizeof(int) * (size_t)(n + 1)), *zero = xcalloc((size_t)n, sizeof(int));
    HookRun *hooks_of = xcalloc((size_t)n, sizeof *hooks_of);
    float **k = xmalloc(sizeof *k * (size_t)n), **v = xmalloc(sizeof *v * (size_t)n);
    starts[0] = 0;
    for (int g = 0; g < n; g++) {
        starts[g + 1] = starts[g] + runs[g].T;
        hooks_of[g] = runs[g].hook;
        any_keep |= runs[g].keep != NULL;
        if (rc == 0)
            rc =
                tf_embed(m, runs[g].tokens, runs[g].T, 0, buf + (size_t)starts[g] * C, err, errlen);
    }
    HookState h;
    memset(&h, 0, sizeof h);
    h.means = o->has_means ? &o->means : NULL;
    h.seg_run = hooks_of;
    h.seg_start = starts;
    h.n_head = m->cfg.n_head;
    TfHooks hooks = {interp_hook, &h, hook_mask(&h, n)};
    const TfHooks *saved = ws->hooks;
    ws->hooks = hooks.points ? &hooks : NULL;
    size_t rows = (size_t)starts[n] * C;
    int *tails = NULL, any_tail = 0;
    for (int g = 0; g < n; g++) any_tail |= runs[g].tail > 0;
    if (any_tail && c->n > 0 && hooks_trim_final(&h, n, c->idx[c->n - 1])) {
        tails = xmalloc(sizeof(int) * (size_t)n);
        for (int g = 0; g < n; g++) tails[g] = run_tail(runs[g].tail, 0, runs[g].T);
    }
    for (int s = 0; s < c->n && rc == 0; s++) {
        h.slot = s;
        const int *last = s == c->n - 1 ? tails : NULL;
        if (!any_keep) {
            rc = tf_block_forward_tail(m, c->idx[s], buf, starts, n, NULL, NULL, NULL, last, ws,
                                       err, errlen);
            continue;
        }
        // With pos0 0 the resumed form is the packed one that also stores keys/values.
        for (int g = 0; g < n; g++) {
            RunKv *kv = runs[g].keep;
            k[g] = kv ? run_kv_at(kv, kv->k, s) : scratch + (size_t)starts[g] * C;
            v[g] = kv ? run_kv_at(kv, kv->v, s) : scratch + rows + (size_t)starts[g] * C;
        }
        rc = tf_block_forward_tail(m, c->idx[s], buf, starts, n, zero, k, v, last, ws, err, errlen);
    }
    ws->hooks = saved;
    free(tails);
    for (int g = 0; rc == 0 && g < n; g++)
        memcpy(runs[g].out, buf + (size_t)starts[g] * C, sizeof(float) * (size_t)runs[g].T * C);
    free(starts), free(zero), free(hooks_of), free(k), free(v);
    return rc;
}

// Runs [r0, r1) of the list clean 0, corrupted 0, clean 1, .. of recs in one pass: each
// with its record's ablations, the clean ones capturing src, the corrupted ones pre and
// (keep) their keys/values, and checking which patched runs would patch nothing.
static int prelude_pass(const InterpOptions *o, const Gpt2 *m, const LayerConfig *c, PatchRec *recs,
                        int r0, int r1, float *buf, float *scratch, TfWorkspace *ws, char *err,
                        size_t errlen) {
    int n = r1 - r0;
    FullRun *runs = xcalloc((size_t)n, sizeof *runs);
    for (int g = 0; g < n; g++) {
        PatchRec *p = &recs[(r0 + g) / 2];
        int corrupt = (r0 + g) % 2;
        runs[g] = (FullRun){corrupt ? p->ir->corrupt : p->tokens,
                            p->ir->T,
                            (HookRun){p->ir->abl, p->ir->n_abl, NULL, 0, NULL, NULL, NULL},
                            corrupt && p->keep ? &p->kv : NULL,
                            corrupt ? p->corrupt : p->clean,
                            p->ir->tail};
        runs[g].hook.capture = !corrupt ? &p->src : o->patch_sweep ? &p->pre : NULL;
        if (corrupt && p->check.n) runs[g].hook.check = &p->check;
    }
    int rc = full_runs_pass(o, m, c, runs, n, buf, scratch, ws, err, errlen);
    free(runs);
    return rc;
}

// The patched runs of recs[0..n) (no sweep) in one pass: each the corrupted run with its
// record's ablations and patches (from its clean run's src), capturing acts.  A record not
// patched: its clean run with its ablations (with an ablation sweep, capturing pre).
static int patched_pass(const InterpOptions *o, const Gpt2 *m, const LayerConfig *c,
                        PatchRec *const *recs, int n, float *buf, TfWorkspace *ws, char *err,
                        size_t errlen) {
    FullRun *runs = xcalloc((size_t)n, sizeof *runs);
    for (int g = 0; g < n; g++) {
        PatchRec *p = recs[g];
        const InterpRecord *ir = p->ir;
        ActCache *capture = ablation_sweeps(o, ir) ? &p->pre : o->capture ? &p->acts : NULL;
        runs[g] =
            (FullRun){ir->patching ? ir->corrupt : p->tokens,
                      ir->T,
                      (HookRun){ir->abl, ir->n_abl, ir->patch, ir->n_patch, &p->src, capture, NULL},
                      NULL,
                      p->patched,
                      ir->tail};
    }
    int rc = full_runs_pass(o, m, c, runs, n, buf, NULL, ws, err, errlen);
    free(runs);
    return rc;
}

// A record's visits after its clean and corrupted runs: those two, then its patched run
// (no sweep: run already, or the corrupted run's residual when it patches nothing) or the
// sweep's cells (`held`: bytes kept for other records).
static int patch_rec_rest(Runner *r, PatchRec *p, size_t held) {
    r->ir = p->ir;
    r->ctx = p->ctx;
    r->resid = p->corrupt;
    int rc = visit_run(r, INTERP_CLEAN, p->clean, 0, -1, NULL, NULL);
    if (rc == 0) rc = visit_run(r, INTERP_CORRUPT, p->corrupt, 0, -1, NULL, NULL);
    if (rc == 0 && r->o->patch_sweep)
        return run_patch_sweep(r, p->grid, p->n_grid, p->check.n ? p->check.differs : NULL, &p->src,
                               &p->pre, p->keep ? &p->kv : NULL, held);
    if (rc == 0 && patch_is_noop(p)) {
        InterpVisitInfo info = {INTERP_RUN, 0, -1, {0, 0, -1, -1}, NULL, 1};
        return r->visit(r->ctx, &info, p->corrupt, p->ir->T, r->ws);
    }
    if (rc == 0)
        rc = visit_run(r, INTERP_RUN, p->patched, 0, -1, NULL, r->o->capture ? &p->acts : NULL);
    return rc;
}

int interp_patch_passes(const InterpOptions *o, const InterpRecord *const *irs, int n, int n_slots,
                        int C, int max_rows, int *ends) {
    int max_runs = o->pack > 0 ? o->pack : INT_MAX, passes = 0;
    size_t half = mem_budget(o) / 2;
    for (int r0 = 0; r0 < 2 * n; r0 = ends[passes++]) {
        // a pass that begins with a corrupted run holds its record's captures already
        size_t held = r0 % 2 ? interp_patch_bytes(o, irs[r0 / 2], n_slots, C) : 0;
        int r1 = r0, rows = 0;
        for (; r1 < 2 * n; r1++) {
            int T = irs[r1 / 2]->T;
            size_t more = r1 % 2 ? 0 : interp_patch_bytes(o, irs[r1 / 2], n_slots, C);
            if (r1 > r0 &&
                (rows + T > max_rows || r1 - r0 >= max_runs || (more && held + more > half)))
                break;
            held += more;
            rows += T;
        }
        ends[passes] = r1;
    }
    return passes;
}

int interp_patch_chunk(const InterpOptions *o, const InterpRecord *const *irs, int n, int n_slots,
                       int C) {
    size_t half = mem_budget(o) / 2, held = 0;
    int b = 0;
    for (; b < n; b++) {
        size_t more = interp_patch_bytes(o, irs[b], n_slots, C);
        if (b > 0 && held + more > half) break;
        held += more;
    }
    return b;
}

int interp_patched_passes(const InterpOptions *o, const InterpRecord *const *irs, int n,
                          int max_rows, int *ends) {
    int max_runs = o->pack > 0 ? o->pack : INT_MAX, passes = 0;
    for (int i0 = 0; i0 < n; i0 = ends[passes++]) {
        int i1 = i0 + 1, rows = irs[i0]->T;
        while (i1 < n && i1 - i0 < max_runs && rows + irs[i1]->T <= max_rows) rows += irs[i1++]->T;
        ends[passes] = i1;
    }
    return passes;
}

// The patch sweep of recs[0..n): after each pass of clean and corrupted runs, the records
// whose two runs are done run their cells (a record's captures live from its clean run's
// pass until its cells are done; `held`: those of the records begun and not finished).
static int records_sweep(Runner *r, PatchRec *recs, const InterpRecord *const *irs,
                         const int *const *tokens, void *const *ctxs, int n, int max_rows,
                         float *buf, float *scratch) {
    const InterpOptions *o = r->o;
    int C = r->m->cfg.n_embd, *ends = xmalloc(sizeof(int) * (size_t)(2 * n + 1));
    int passes = interp_patch_passes(o, irs, n, r->c->n, C, max_rows, ends);
    size_t held = 0;
    int rc = 0, begun = 0, done = 0;
    for (int p = 0, r0 = 0; rc == 0 && p < passes; r0 = ends[p++]) {
        for (; 2 * begun < ends[p]; begun++) {
            patch_rec_init(&recs[begun], o, irs[begun], tokens[begun], ctxs[begun], &r->m->cfg,
                           r->c);
            held += recs[begun].bytes;
        }
        rc = prelude_pass(o, r->m, r->c, recs, r0, ends[p], buf, scratch, r->ws, r->err, r->errlen);
        for (; rc == 0 && 2 * done + 1 < ends[p]; done++) {   // the records whose runs are done
            held -= recs[done].bytes;
            rc = patch_rec_rest(r, &recs[done], held);
            patch_rec_free(&recs[done]);
        }
    }
    for (int i = done; i < begun; i++) patch_rec_free(&recs[i]);
    free(ends);
    return rc;
}

// A record's visits once its run is done (not patched): its run, or an ablation sweep's
// visits (run_ablation_sweep).
static int plain_rec_rest(Runner *r, PatchRec *p) {
    r->ir = p->ir;
    r->ctx = p->ctx;
    if (r->o->sweep) return run_ablation_sweep(r, &p->pre, p->patched);
    return visit_run(r, INTERP_RUN, p->patched, 0, -1, NULL, r->o->capture ? &p->acts : NULL);
}

// Records with single patches, or not patched, a chunk of records at a time
// (interp_patch_chunk: their captures within half of o->mem_budget): patched, the chunk's
// clean and corrupted runs (interp_patch_passes); then its runs (the patched runs that
// patch something; a record not patched: its run) packed (interp_patched_passes); then
// each record's visits.
static int records_patch(Runner *r, PatchRec *recs, const InterpRecord *const *irs,
                         const int *const *tokens, void *const *ctxs, int n, int max_rows,
                         float *buf, float *scratch) {
    const InterpOptions *o = r->o;
    int C = r->m->cfg.n_embd, *ends = xmalloc(sizeof(int) * (size_t)(2 * n + 1)), rc = 0;
    int patching = n > 0 && irs[0]->patching;
    PatchRec **run = xmalloc(sizeof *run * (size_t)(n ? n : 1));
    const InterpRecord **run_irs = xmalloc(sizeof *run_irs * (size_t)(n ? n : 1));
    for (int a = 0, b; rc == 0 && a < n; a = b) {
        b = a + interp_patch_chunk(o, irs + a, n - a, r->c->n, C);
        for (int i = a; i < b; i++)
            patch_rec_init(&recs[i], o, irs[i], tokens[i], ctxs[i], &r->m->cfg, r->c);
        int passes =
            patching ? interp_patch_passes(o, irs + a, b - a, r->c->n, C, max_rows, ends) : 0;
        for (int p = 0, r0 = 0; rc == 0 && p < passes; r0 = ends[p++])
            rc = prelude_pass(o, r->m, r->c, recs + a, r0, ends[p], buf, scratch, r->ws, r->err,
                              r->errlen);
        // the runs of the chunk (not the patched runs that patch nothing)
        int n_run = 0;
        for (int i = a; i < b; i++)
            if (!patch_is_noop(&recs[i])) run[n_run] = &recs[i], run_irs[n_run++] = irs[i];
        if (patching) count_patched(o, n_run, b - a - n_run);
        passes = interp_patched_passes(o, run_irs, n_run, max_rows, ends);
        for (int p = 0, i0 = 0; rc == 0 && p < passes; i0 = ends[p++])
            rc = patched_pass(o, r->m, r->c, run + i0, ends[p] - i0, buf, r->ws, r->err, r->errlen);
        for (int i = a; rc == 0 && i < b; i++)
            rc = patching ? patch_rec_rest(r, &recs[i], 0) : plain_rec_rest(r, &recs[i]);
        for (int i = a; i < b; i++) patch_rec_free(&recs[i]);
    }
    free(ends), free(run), free(run_irs);
    return rc;
}

int interp_records_run(const InterpOptions *o, const InterpRecord *const *irs,
                       const int *const *tokens, int n, const Gpt2 *m, const LayerConfig *c,
                       TfWorkspace *ws, InterpVisit visit, void *const *ctxs, char *err,
                       size_t errlen) {
    if (tf_check_layers(m, c->idx, c->n, err, errlen) != 0) return -1;
    int patching = n > 0 && irs[0]->patching;
    for (int i = 0; i < n; i++) {
        if (irs[i]->patching != patching)
            return fail(err, errlen, "record %d is %spatched, record 0 %s", i,
                        patching ? "not " : "", patching ? "is" : "not");
        if (irs[i]->T < 1 || irs[i]->T > ws->max_T)
            return fail(err, errlen, "sequence of %d tokens does not fit (1..%d)", irs[i]->T,
                        ws->max_T);
    }
    int C = m->cfg.n_embd, max_rows = ws->max_T < SWEEP_PASS_ROWS ? ws->max_T : SWEEP_PASS_ROWS,
        longest = 1;
    for (int i = 0; i < n; i++)
        if (irs[i]->T > longest) longest = irs[i]->T;
    size_t buf_rows = (size_t)(max_rows > longest ? max_rows : longest) * C;
    // scratch: the keys/values of the runs beside the sweep's that keep theirs
    float *buf = xmalloc(sizeof(float) * buf_rows),
          *scratch = o->patch_sweep ? xmalloc(sizeof(float) * 2 * buf_rows) : NULL;
    PatchRec *recs = xcalloc((size_t)(n ? n : 1), sizeof *recs);
    Runner r = {o, NULL, m, c, ws, visit, NULL, NULL, NULL, NULL, 0, err, errlen};
    int rc = patching && o->patch_sweep
                 ? records_sweep(&r, recs, irs, tokens, ctxs, n, max_rows, buf, scratch)
                 : records_patch(&r, recs, irs, tokens, ctxs, n, max_rows, buf, scratch);
    free(recs), free(buf), free(scratch);
    return rc;
}

// ----------------------------------------------------------------------------- output

void interp_dump_keep(const InterpOptions *o, InterpDumpBuf *buf, const char *key,
                      const Gpt2Config *cfg, const LayerConfig *c, const ActCache *acts) {
    if (!o->npz || !acts) return;
    for (int s = 0; s < c->n; s++) {
        int occ = 1;
        for (int k = 0; k < s; k++) occ += c->idx[k] == c->idx[s];
        for (int p = 0; p < TF_N_HOOKS; p++) {
            const float *a = (o->dump_points >> p & 1u) ? act_cache_at(acts, p, s) : NULL;
            if (!a) continue;
            if (buf->n == buf->cap) {
                buf->cap = buf->cap ? 2 * buf->cap : 16;
                buf->a = xrealloc(buf->a, sizeof *buf->a * (size_t)buf->cap);
            }
            InterpDumpArray *d = &buf->a[buf->n++];
            char suffix[16] = "";
            if (occ > 1) snprintf(suffix, sizeof suffix, ".%d", occ);
            snprintf(d->name, sizeof d->name, "%s.blocks.%d.hook_%s%s", key, c->idx[s],
                     tf_hook_names[p], suffix);
            d->shape[0] = acts->T, d->shape[1] = cfg->n_embd, d->shape[2] = 0, d->ndim = 2;
            if (p == TF_HOOK_Z)
                d->shape[1] = cfg->n_head, d->shape[2] = cfg->n_embd / cfg->n_head, d->ndim = 3;
            size_t bytes = sizeof(float) * (size_t)acts->T * (size_t)cfg->n_embd;
            d->data = xmalloc(bytes);
            memcpy(d->data, a, bytes);
            buf->bytes += bytes;
        }
    }
}

int interp_dump_flush(InterpOptions *o, InterpDumpBuf *buf, char *err, size_t errlen) {
    int rc = 0;
    for (int i = 0; i < buf->n && rc == 0; i++)
        rc = npz_add_f32(o->npz, buf->a[i].name, buf->a[i].data, buf->a[i].shape, buf->a[i].ndim,
                         err, errlen);
    interp_dump_buf_free(buf);
    return rc;
}

void interp_dump_buf_free(InterpDumpBuf *buf) {
    for (int i = 0; i < buf->n; i++) free(buf->a[i].data);
    free(buf->a);
    *buf = (InterpDumpBuf){0};
}

size_t interp_dump_bytes(const InterpOptions *o, const Gpt2Config *cfg, const LayerConfig *c,
                         int T) {
    if (!o->dump_path) return 0;
    int points = 0;
    for (int p = 0; p < TF_N_HOOKS; p++) points += (o->dump_points >> p & 1u) != 0;
    return sizeof(float) * (size_t)points * (size_t)c->n * (size_t)T * (size_t)cfg->n_embd;
}

static void write_ablation(JsonBuf *out, const InterpAblation *a) {
    jb_sep(out);
    jb_raw(out, "{", 1);
    jb_key(out, "component"), jb_cstr(out, component_name(a->site.point));
    jb_key(out, "layer"), jb_int(out, a->site.layer);
    if (a->site.head >= 0) jb_key(out, "head"), jb_int(out, a->site.head);
    jb_key(out, "mode"), jb_cstr(out, a->mode == INTERP_MEAN ? "mean" : "zero");
    jb_raw(out, "}", 1);
}

void interp_write_fields(JsonBuf *out, const InterpOptions *o, const InterpRecord *ir, int variant,
                         const char *dump_key) {
    int extra = variant > 0 && variant <= o->n_sweep_abl;
    if (ir->n_abl || extra) {
        jb_key(out, "ablated");
        jb_raw(out, "[", 1);
        for (int i = 0; i < ir->n_abl; i++) write_ablation(out, &ir->abl[i]);
        if (extra) write_ablation(out, &o->sweep_abl[variant - 1]);
        jb_raw(out, "]", 1);
    }
    if (dump_key) jb_key(out, "dump_key"), jb_cstr(out, dump_key);
}

int interp_lens_rows(const InterpOptions *o, const Gpt2 *m, const float *resid, int T, int depth,
                     const int *rows, int n_rows, float *out, char *err, size_t errlen) {
    int C = m->cfg.n_embd, tuned = o->lens == INTERP_LENS_TUNED;
    if (tuned && (depth < 1 || depth > o->tuned.n_layer))
        return fail(err, errlen, "the tuned lens has no translator after %d blocks (1..%d)", depth,
                    o->tuned.n_layer);
    float *x = tuned ? xmalloc(sizeof(float) * (size_t)n_rows * C) : out;
    int rc = 0;
    for (int i = 0; i < n_rows && rc == 0; i++) {
        if (rows[i] < 0 || rows[i] >= T)
            rc = fail(err, errlen, "lens row %d out of range 0..%d", rows[i], T - 1);
        else memcpy(x + (size_t)i * C, resid + (size_t)rows[i] * C, sizeof(float) * C);
    }
    if (rc == 0 && tuned) lens_apply(&o->tuned, depth - 1, x, n_rows, out);
    if (tuned) free(x);
    return rc;
}
