// topk_rank: see topk_rank.h.
#include "experiment/topk_rank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/scan.h"
#include "base/util.h"

static int by_delta_desc(const void *a, const void *b) {
    const TokenChange *x = a, *y = b;
    if (x->delta != y->delta) return x->delta > y->delta ? -1 : 1;
    return x->id - y->id;
}

void topk_changes(const float *lp, const float *ref, int V, int cand, int k, TokenChange *rose,
                  int *n_rose, TokenChange *fell, int *n_fell) {
    if (cand > V) cand = V;
    int *ids = xmalloc(sizeof(int) * 2 * (size_t)(cand ? cand : 1));
    int na = scan_top_k(lp, V, cand, ids);
    int nb = scan_top_k(ref, V, cand, ids + na);
    TokenChange *all = xmalloc(sizeof(TokenChange) * (size_t)(na + nb ? na + nb : 1));
    unsigned char *taken =
        xcalloc((size_t)(V > 0 ? V : 1), 1);   // the union, without repeats, in O(V)
    int n = 0;
    for (int i = 0; i < na + nb; i++)
        if (!taken[ids[i]]) {
            taken[ids[i]] = 1;
            all[n++] = (TokenChange){ids[i], lp[ids[i]] - ref[ids[i]]};
        }
    free(taken);
    qsort(all, (size_t)n, sizeof *all, by_delta_desc);
    *n_rose = *n_fell = 0;
    for (int i = 0; i < n && *n_rose < k && all[i].delta > 0; i++) rose[(*n_rose)++] = all[i];
    for (int i = n - 1; i >= 0 && *n_fell < k && all[i].delta < 0; i--) fell[(*n_fell)++] = all[i];
    free(all);
    free(ids);
}

double topk_kl(const float *log_p, const float *log_q, int V) {
    double kl = 0;
    for (int v = 0; v < V; v++) {
        double p = exp((double)log_p[v]);
        if (p > 0) kl += p * ((double)log_p[v] - (double)log_q[v]);
    }
    return kl < 0 ? 0 : kl;   // rounding can make an exact 0 slightly negative
}
