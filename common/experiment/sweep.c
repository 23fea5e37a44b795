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

int sweep_run(const Gpt2 *m, const ConfigList *list, const int *tokens, int T, TfWorkspace *ws,
              SweepVisit visit, void *ctx, long *blocks_run, char *err, size_t errlen) {
    if (blocks_run) *blocks_run = 0;
    if (list->n == 0) return 0;
    int depth = 0;
    for (int k = 0; k < list->n; k++) {
        if (tf_check_layers(m, list->cfg[k].idx, list->cfg[k].n, err, errlen) != 0) return -1;
        if (list->cfg[k].n > depth) depth = list->cfg[k].n;
    }
    if (T < 1 || T > ws->max_T) return fail(err, errlen, "sequence of %d tokens does not fit (1..%d)", T, ws->max_T);
    int *order = xmalloc(sizeof(int) * (size_t)list->n);
    for (int k = 0; k < list->n; k++) order[k] = k;
    qsort_r(order, (size_t)list->n, sizeof(int), config_order, (void *)list);

    size_t row = (size_t)T * (size_t)m->cfg.n_embd;
    // stack[d] = residual after the first d blocks of the current path (d = 0: embeddings).
    float *stack = xmalloc(sizeof(float) * row * (size_t)(depth + 1));
    int rc = tf_embed(m, tokens, T, 0, stack, err, errlen);
    const LayerConfig *path = NULL;   // the configuration whose prefix the stack holds
    int valid = 0;                    // stack[0..valid] are valid for `path`
    for (int i = 0; rc == 0 && i < list->n; i++) {
        const LayerConfig *c = &list->cfg[order[i]];
        int d = path ? common_prefix(path, c) : 0;
        if (d > valid) d = valid;
        for (; d < c->n; d++) {
            memcpy(stack + row * (size_t)(d + 1), stack + row * (size_t)d, sizeof(float) * row);
            rc = tf_block_forward(m, c->idx[d], stack + row * (size_t)(d + 1), T, ws, err, errlen);
            if (rc) break;
            if (blocks_run) (*blocks_run)++;
        }
        if (rc) break;
        path = c;
        valid = c->n;
        if (visit(ctx, order[i], stack + row * (size_t)c->n, T, ws) != 0) rc = -1;
    }
    free(stack);
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

static int prefill_check(TfCache **caches, int n, int T, const TfWorkspace *ws, int *depth, char *err, size_t errlen) {
    *depth = 0;
    if (n < 1) return fail(err, errlen, "no caches to prefill");
    const Gpt2 *m = caches[0]->model;
    for (int i = 0; i < n; i++) {
        const TfCache *c = caches[i];
        if (c->model != m) return fail(err, errlen, "cache %d belongs to another model", i);
        if (c->T != 0) return fail(err, errlen, "cache %d is not empty (%d positions)", i, c->T);
        if (T > c->max_T) return fail(err, errlen, "prompt of %d tokens exceeds cache %d's %d", T, i, c->max_T);
        if (c->n_slots > *depth) *depth = c->n_slots;
    }
    if (T < 1 || T > ws->max_T) return fail(err, errlen, "prompt of %d tokens does not fit (1..%d)", T, ws->max_T);
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
            rc = tf_logits(m, stack + row * (size_t)c->n_slots, T, &last, 1, logits + (size_t)order[i] * V, ws, err,
                           errlen);
        prev = c;
    }
    free(stack);
    free(order);
    return rc;
}
