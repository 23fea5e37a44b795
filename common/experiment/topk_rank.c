// topk_rank: see topk_rank.h.
#include "experiment/topk_rank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

// Is a ranked before b?  Larger value first, then lower id.
static int ranks_before(const float *v, int a, int b) { return v[a] > v[b] || (v[a] == v[b] && a < b); }

int topk_indices(const float *v, int V, int k, int *ids) {
    if (k > V) k = V;
    int n = 0;
    // Insertion into a sorted list of k: O(V k) worst case, O(V) in practice for small k.
    for (int i = 0; i < V; i++) {
        if (isnan(v[i])) continue;
        if (n == k && !ranks_before(v, i, ids[n - 1])) continue;
        int j = n < k ? n++ : k - 1;
        while (j > 0 && ranks_before(v, i, ids[j - 1])) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = i;
    }
    return n;
}

static int by_delta_desc(const void *a, const void *b) {
    const TokenChange *x = a, *y = b;
    if (x->delta != y->delta) return x->delta > y->delta ? -1 : 1;
    return x->id - y->id;
}

void topk_changes(const float *lp, const float *ref, int V, int cand, int k, TokenChange *rose, int *n_rose,
                  TokenChange *fell, int *n_fell) {
    if (cand > V) cand = V;
    int *ids = xmalloc(sizeof(int) * 2 * (size_t)(cand ? cand : 1));
    int na = topk_indices(lp, V, cand, ids);
    int nb = topk_indices(ref, V, cand, ids + na);
    TokenChange *all = xmalloc(sizeof(TokenChange) * (size_t)(na + nb ? na + nb : 1));
    int n = 0;
    for (int i = 0; i < na + nb; i++) {
        int dup = 0;
        for (int j = 0; j < n && !dup; j++) dup = all[j].id == ids[i];
        if (!dup) all[n++] = (TokenChange){ids[i], lp[ids[i]] - ref[ids[i]]};
    }
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
