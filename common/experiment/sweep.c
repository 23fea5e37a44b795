// sweep: prefix-shared execution of layer configurations; see sweep.h.
#include "experiment/sweep.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

// Lexicographic order of two block lists (a prefix first).
static int blocks_cmp(const int *x, int nx, const int *y, int ny) {
    int n = nx < ny ? nx : ny;
    for (int i = 0; i < n; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return (nx > ny) - (nx < ny);
}

static int blocks_common_prefix(const int *x, int nx, const int *y, int ny) {
    int n = 0;
    while (n < nx && n < ny && x[n] == y[n]) n++;
    return n;
}

static int config_order(const void *a, const void *b, void *list_) {
    const ConfigList *list = list_;
    const LayerConfig *x = &list->cfg[*(const int *)a], *y = &list->cfg[*(const int *)b];
    int c = blocks_cmp(x->idx, x->n, y->idx, y->n);
    return c ? c : *(const int *)a - *(const int *)b;
}

static int common_prefix(const LayerConfig *a, const LayerConfig *b) {
    return blocks_common_prefix(a->idx, a->n, b->idx, b->n);
}

// Called once per configuration with the final residual of every packed row.
typedef int (*PackedVisit)(void *ctx, int k, const float *resid, const int *starts, int n_seq,
                           TfWorkspace *ws);

static int check_configs(const Gpt2 *m, const ConfigList *list, int *depth, char *err,
                         size_t errlen) {
    *depth = 0;
    for (int k = 0; k < list->n; k++) {
        if (tf_check_layers(m, list->cfg[k].idx, list->cfg[k].n, err, errlen) != 0) return -1;
        if (list->cfg[k].n > *depth) *depth = list->cfg[k].n;
    }
    return 0;
}

// The configurations of list in lexicographic order of their blocks (malloc'd).
static int *configs_sorted(const ConfigList *list) {
    int *order = xmalloc(sizeof(int) * (size_t)(list->n ? list->n : 1));
    for (int k = 0; k < list->n; k++) order[k] = k;
    qsort_r(order, (size_t)list->n, sizeof(int), config_order, (void *)list);
    return order;
}

// The prefix-shared sweep over n_seq sequences packed in rows 0..starts[n_seq]-1: tokens
// are the sequences' tokens one after another, each embedded from position 0.
static int sweep_packed(const Gpt2 *m, const ConfigList *list, const int *order, int depth,
                        const int *tokens, const int *starts, int n_seq, TfWorkspace *ws,
                        PackedVisit visit, void *ctx, long *blocks_run, char *err, size_t errlen) {
    size_t row = (size_t)starts[n_seq] * (size_t)m->cfg.n_embd;
    // stack[d] = residual after the first d blocks of the current path (d = 0: embeddings).
    float *stack = xmalloc(sizeof(float) * row * (size_t)(depth + 1));
    int rc = 0;
    for (int i = 0; rc == 0 && i < n_seq; i++)
        rc = tf_embed(m, tokens + starts[i], starts[i + 1] - starts[i], 0,
                      stack + (size_t)starts[i] * m->cfg.n_embd, err, errlen);
    const LayerConfig *path = NULL;   // the configuration whose prefix the stack holds
    int valid = 0;                    // stack[0..valid] are valid for `path`
    for (int i = 0; rc == 0 && i < list->n; i++) {
        const LayerConfig *c = &list->cfg[order[i]];
        int d = path ? common_prefix(path, c) : 0;
        if (d > valid) d = valid;
        for (; d < c->n; d++) {
            memcpy(stack + row * (size_t)(d + 1), stack + row * (size_t)d, sizeof(float) * row);
            rc = tf_block_forward_packed(m, c->idx[d], stack + row * (size_t)(d + 1), starts, n_seq,
                                         ws, err, errlen);
            if (rc) break;
            if (blocks_run) (*blocks_run)++;
        }
        if (rc) break;
        path = c;
        valid = c->n;
        if (visit(ctx, order[i], stack + row * (size_t)c->n, starts, n_seq, ws) != 0) rc = -1;
    }
    free(stack);
    return rc;
}

typedef struct {
    SweepVisit visit;
    void *ctx;
} OneSeq;

static int visit_one(void *ctx, int k, const float *resid, const int *starts, int n_seq,
                     TfWorkspace *ws) {
    (void)n_seq;
    OneSeq *o = ctx;
    return o->visit(o->ctx, k, resid, starts[1], ws);
}

int sweep_run(const Gpt2 *m, const ConfigList *list, const int *tokens, int T, TfWorkspace *ws,
              SweepVisit visit, void *ctx, long *blocks_run, char *err, size_t errlen) {
    if (blocks_run) *blocks_run = 0;
    if (list->n == 0) return 0;
    int depth;
    if (check_configs(m, list, &depth, err, errlen) != 0) return -1;
    if (T < 1 || T > ws->max_T)
        return fail(err, errlen, "sequence of %d tokens does not fit (1..%d)", T, ws->max_T);
    int *order = configs_sorted(list), starts[2] = {0, T};
    OneSeq one = {visit, ctx};
    int rc = sweep_packed(m, list, order, depth, tokens, starts, 1, ws, visit_one, &one, blocks_run,
                          err, errlen);
    free(order);
    return rc;
}

// ----------------------------------------------------------------------------
// many sequences, packed

int sweep_pack_rows(const Gpt2Config *cfg, int depth, size_t budget) {
    size_t per_row = ((size_t)depth + 1 + TF_WORKSPACE_ROW_FLOATS) *
                     (size_t)(cfg->n_embd > 0 ? cfg->n_embd : 1) * sizeof(float);
    size_t rows = budget / per_row;
    if (rows < 1) rows = 1;
    if (rows > SWEEP_PASS_ROWS) rows = SWEEP_PASS_ROWS;
    return (int)rows;
}

typedef struct {
    SweepSeqVisit visit;
    void *ctx;
    int first;   // index of the pass's first sequence
} ManySeq;

static int visit_many(void *ctx, int k, const float *resid, const int *starts, int n_seq,
                      TfWorkspace *ws) {
    ManySeq *o = ctx;
    size_t C = (size_t)ws->C;
    for (int i = 0; i < n_seq; i++)
        if (o->visit(o->ctx, k, o->first + i, resid + (size_t)starts[i] * C,
                     starts[i + 1] - starts[i], ws) != 0)
            return -1;
    return 0;
}

int sweep_run_seqs(const Gpt2 *m, const ConfigList *list, const int *const *tokens, const int *lens,
                   int n_seq, const SweepPacking *pack, TfWorkspace *ws, SweepSeqVisit visit,
                   void *ctx, long *blocks_run, char *err, size_t errlen) {
    if (blocks_run) *blocks_run = 0;
    if (list->n == 0 || n_seq == 0) return 0;
    int depth;
    if (check_configs(m, list, &depth, err, errlen) != 0) return -1;
    for (int i = 0; i < n_seq; i++)
        if (lens[i] < 1 || lens[i] > ws->max_T || lens[i] > m->cfg.n_ctx)
            return fail(err, errlen, "sequence %d of %d tokens does not fit (1..%d)", i, lens[i],
                        ws->max_T < m->cfg.n_ctx ? ws->max_T : m->cfg.n_ctx);
    int max_rows =
        sweep_pack_rows(&m->cfg, depth, pack && pack->budget ? pack->budget : SWEEP_DEFAULT_BUDGET);
    if (max_rows > ws->max_T) max_rows = ws->max_T;
    int max_seqs = pack && pack->max_seqs > 0 ? pack->max_seqs : n_seq;
    int *order = configs_sorted(list);
    int *starts = xmalloc(sizeof(int) * (size_t)(n_seq + 1));
    int *packed = NULL;
    size_t cap = 0;
    int rc = 0;
    for (int i0 = 0; rc == 0 && i0 < n_seq;) {
        // this pass: sequences i0..i1-1, at least one, up to max_rows rows and max_seqs sequences
        int i1 = i0, rows = 0;
        starts[0] = 0;
        while (i1 < n_seq && i1 - i0 < max_seqs && (i1 == i0 || rows + lens[i1] <= max_rows)) {
            rows += lens[i1];
            starts[i1 - i0 + 1] = rows;
            i1++;
        }
        if ((size_t)rows > cap) packed = xrealloc(packed, sizeof(int) * (cap = (size_t)rows));
        for (int i = i0; i < i1; i++)
            memcpy(packed + starts[i - i0], tokens[i], sizeof(int) * (size_t)lens[i]);
        ManySeq many = {visit, ctx, i0};
        long blocks = 0;
        rc = sweep_packed(m, list, order, depth, packed, starts, i1 - i0, ws, visit_many, &many,
                          &blocks, err, errlen);
        if (blocks_run) *blocks_run += blocks;
        i0 = i1;
    }
    free(packed);
    free(starts);
    free(order);
    return rc;
}

// ----------------------------------------------------------------------------
// prefill of several KV caches

static int cache_order(const void *a, const void *b, void *caches_) {
    TfCache *const *caches = caches_;
    const TfCache *x = caches[*(const int *)a], *y = caches[*(const int *)b];
    int c = blocks_cmp(x->layers, x->n_slots, y->layers, y->n_slots);
    return c ? c : *(const int *)a - *(const int *)b;
}

static int prefill_check(TfCache **caches, int n, int T, const TfWorkspace *ws, int *depth,
                         char *err, size_t errlen) {
    *depth = 0;
    if (n < 1) return fail(err, errlen, "no caches to prefill");
    const Gpt2 *m = caches[0]->model;
    for (int i = 0; i < n; i++) {
        const TfCache *c = caches[i];
        if (c->model != m) return fail(err, errlen, "cache %d belongs to another model", i);
        if (c->T != 0) return fail(err, errlen, "cache %d is not empty (%d positions)", i, c->T);
        if (T > c->max_T)
            return fail(err, errlen, "prompt of %d tokens exceeds cache %d's %d", T, i, c->max_T);
        if (c->n_slots > *depth) *depth = c->n_slots;
    }
    if (T < 1 || T > ws->max_T)
        return fail(err, errlen, "prompt of %d tokens does not fit (1..%d)", T, ws->max_T);
    return 0;
}

int sweep_prefill(TfCache **caches, int n, const int *tokens, int T, float *logits, TfWorkspace *ws,
                  long *blocks_run, char *err, size_t errlen) {
    if (blocks_run) *blocks_run = 0;
    int depth;
    if (prefill_check(caches, n, T, ws, &depth, err, errlen) != 0) return -1;
    const Gpt2 *m = caches[0]->model;
    int *order = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof(int), cache_order, caches);

    size_t row = (size_t)T * (size_t)m->cfg.n_embd, V = (size_t)m->cfg.vocab_size;
    // stack[d] = residual after the first d blocks of the previous cache (d = 0: embeddings)
    float *stack = xmalloc(sizeof(float) * row * (size_t)(depth + 1));
    int rc = tf_embed(m, tokens, T, 0, stack, err, errlen), last = T - 1;
    const TfCache *prev = NULL;
    for (int i = 0; rc == 0 && i < n; i++) {
        TfCache *c = caches[order[i]];
        int d = prev ? blocks_common_prefix(prev->layers, prev->n_slots, c->layers, c->n_slots) : 0;
        if (d > 0) rc = tf_cache_copy_slots(c, prev, d, T, err, errlen);   // the shared blocks' k/v
        for (; rc == 0 && d < c->n_slots; d++) {
            memcpy(stack + row * (size_t)(d + 1), stack + row * (size_t)d, sizeof(float) * row);
            rc = tf_cache_block_forward(c, d, stack + row * (size_t)(d + 1), T, err, errlen);
            if (rc == 0 && blocks_run) (*blocks_run)++;
        }
        if (rc == 0) rc = tf_cache_advance(c, T, err, errlen);
        if (rc == 0 && logits)
            rc = tf_logits(m, stack + row * (size_t)c->n_slots, T, &last, 1,
                           logits + (size_t)order[i] * V, ws, err, errlen);
        prev = c;
    }
    free(stack);
    free(order);
    return rc;
}
