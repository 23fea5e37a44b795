// sweep: prefix-shared execution of layer configurations; see sweep.h.
#include "sweep.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static int config_order(const void *a, const void *b, void *list_) {
    const ConfigList *list = list_;
    const LayerConfig *x = &list->cfg[*(const int *)a], *y = &list->cfg[*(const int *)b];
    int n = x->n < y->n ? x->n : y->n;
    for (int i = 0; i < n; i++)
        if (x->idx[i] != y->idx[i]) return x->idx[i] < y->idx[i] ? -1 : 1;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

static int common_prefix(const LayerConfig *a, const LayerConfig *b) {
    int n = 0;
    while (n < a->n && n < b->n && a->idx[n] == b->idx[n]) n++;
    return n;
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
