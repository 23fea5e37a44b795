// topk_rank: see topk_rank.h.
#include "experiment/topk_rank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/scan.h"
#include "base/util.h"

// Is a ranked before b?  Larger value first, then lower id.
static int ranks_before(const float *v, int a, int b) {
    return v[a] > v[b] || (v[a] == v[b] && a < b);
}

// ids[0..n) as a binary heap whose root ranks last: every parent ranks after its children.
static void heap_sift_down(const float *v, int *ids, int n, int at) {
    for (;;) {
        int worst = at, l = 2 * at + 1, r = l + 1;
        if (l < n && ranks_before(v, ids[worst], ids[l])) worst = l;
        if (r < n && ranks_before(v, ids[worst], ids[r])) worst = r;
        if (worst == at) return;
        int t = ids[at];
        ids[at] = ids[worst];
        ids[worst] = t;
        at = worst;
    }
}

static void heap_push(const float *v, int *ids, int n, int id) {
    int at = n;
    while (at > 0 &&
           ranks_before(v, ids[(at - 1) / 2], id)) {   // the parent ranks before id: id goes up
        ids[at] = ids[(at - 1) / 2];
        at = (at - 1) / 2;
    }
    ids[at] = id;
}

int topk_indices(const float *v, int V, int k, int *ids) {
    if (k > V) k = V;
    if (k <= 0) return 0;
    int n = 0;
    // A heap of the best k seen so far, its root the one that ranks last: a token that
    // does not beat the root costs one comparison, one that does log k — O(V log k).
    int i = 0;
    for (; i < V && n < k; i++)
        if (!isnan(v[i])) heap_push(v, ids, n++, i);
    // Then i ranks before the root only with a larger value (it comes after every id in the
    // heap, and the heap holds no NaN): the ids with none are skipped in vectors.
    if (n > 0)
        for (i += scan_first_above(v + i, V - i, v[ids[0]]); i < V;
             i += 1 + scan_first_above(v + i + 1, V - i - 1, v[ids[0]])) {
            ids[0] = i;
            heap_sift_down(v, ids, n, 0);
        }
    // Heapsort: the root (the last in rank) goes to the end, so ids ends up best first.
    for (int m = n - 1; m > 0; m--) {
        int t = ids[0];
        ids[0] = ids[m];
        ids[m] = t;
        heap_sift_down(v, ids, m, 0);
    }
    return n;
}

static int by_delta_desc(const void *a, const void *b) {
    const TokenChange *x = a, *y = b;
    if (x->delta != y->delta) return x->delta > y->delta ? -1 : 1;
    return x->id - y->id;
}

void topk_changes(const float *lp, const float *ref, int V, int cand, int k, TokenChange *rose,
                  int *n_rose, TokenChange *fell, int *n_fell) {
    if (cand > V) cand = V;
    int *ids = xmalloc(sizeof(int) * 2 * (size_t)(cand ? cand : 1));
    int na = topk_indices(lp, V, cand, ids);
    int nb = topk_indices(ref, V, cand, ids + na);
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
