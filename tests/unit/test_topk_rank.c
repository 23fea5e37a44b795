// test_topk_rank: the ranking of common/experiment/topk_rank against the plain algorithms
// it replaced (sort everything; union by linear search) on rows with many ties and NaNs,
// for k from 1 to beyond V — the heap must give the same ids in the same order.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/scan.h"
#include "check.h"
#include "experiment/topk_rank.h"

static const float *sort_v;
static int by_rank(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    if (sort_v[x] != sort_v[y]) return sort_v[x] > sort_v[y] ? -1 : 1;
    return x - y;
}

// The reference: every non-NaN id sorted by (value desc, id asc), the first k.
static int ref_topk(const float *v, int V, int k, int *ids) {
    int n = 0;
    for (int i = 0; i < V; i++)
        if (!isnan(v[i])) ids[n++] = i;
    sort_v = v;
    qsort(ids, (size_t)n, sizeof *ids, by_rank);
    return n < k ? n : k;
}

static uint32_t rnd(uint32_t *s) { return *s = *s * 1664525u + 1013904223u; }

// A row of V log-probability-like values: few distinct values (ties), some NaNs.
static void make_row(float *v, int V, uint32_t *s, int levels) {
    for (int i = 0; i < V; i++) {
        uint32_t r = rnd(s) >> 8;
        v[i] = r % 97 == 0 ? NAN : -(float)(r % (uint32_t)levels) / 8.0f;
    }
}

static int by_delta(const void *a, const void *b) {
    const TokenChange *x = a, *y = b;
    if (x->delta != y->delta) return x->delta > y->delta ? -1 : 1;
    return x->id - y->id;
}

// topk_changes as it was written before (linear-search union), from the reference top-k.
static void ref_changes(const float *lp, const float *ref, int V, int cand, int k,
                        TokenChange *rose, int *nr, TokenChange *fell, int *nf) {
    if (cand > V) cand = V;
    int *ids = malloc(sizeof(int) * 2 * (size_t)V);
    int na = ref_topk(lp, V, cand, ids);
    int *ids2 = malloc(sizeof(int) * (size_t)V);
    int nb = ref_topk(ref, V, cand, ids2);
    memcpy(ids + na, ids2, sizeof(int) * (size_t)nb);
    TokenChange *all = malloc(sizeof(TokenChange) * (size_t)(na + nb + 1));
    int n = 0;
    for (int i = 0; i < na + nb; i++) {
        int dup = 0;
        for (int j = 0; j < n && !dup; j++) dup = all[j].id == ids[i];
        if (!dup) all[n++] = (TokenChange){ids[i], lp[ids[i]] - ref[ids[i]]};
    }
    qsort(all, (size_t)n, sizeof *all, by_delta);
    *nr = *nf = 0;
    for (int i = 0; i < n && *nr < k && all[i].delta > 0; i++) rose[(*nr)++] = all[i];
    for (int i = n - 1; i >= 0 && *nf < k && all[i].delta < 0; i--) fell[(*nf)++] = all[i];
    free(all);
    free(ids);
    free(ids2);
}

int main(void) {
    enum { V = 3000 };
    float *a = malloc(sizeof(float) * V), *b = malloc(sizeof(float) * V);
    int *got = malloc(sizeof(int) * V), *want = malloc(sizeof(int) * V);
    uint32_t s = 12345;
    const int ks[] = {1, 2, 5, 10, 100, 999, 2900, V, V + 50};
    int bad_n = 0, bad_ids = 0;
    for (int trial = 0; trial < 20; trial++) {
        make_row(a, V, &s, trial % 2 ? 40 : 100000);
        for (size_t q = 0; q < sizeof ks / sizeof *ks; q++) {
            int n = scan_top_k(a, V, ks[q], got), m = ref_topk(a, V, ks[q], want);
            bad_n += n != m;
            bad_ids += n == m && memcmp(got, want, sizeof(int) * (size_t)n) != 0;
        }
    }
    CHECK_INT("scan_top_k: as many as the sorted reference (NaNs skipped)", bad_n, 0);
    CHECK_INT("scan_top_k: the same ids in the same order, ties to the lowest id", bad_ids, 0);
    int bad_changes = 0;
    TokenChange r1[50], f1[50], r2[50], f2[50];
    const int cands[] = {1, 7, 100, 1000, V, 100000};
    for (int trial = 0; trial < 12; trial++) {
        make_row(a, V, &s, 50);
        make_row(b, V, &s, 50);
        for (size_t q = 0; q < sizeof cands / sizeof *cands; q++) {
            int nr1, nf1, nr2, nf2;
            topk_changes(a, b, V, cands[q], 50, r1, &nr1, f1, &nf1);
            ref_changes(a, b, V, cands[q], 50, r2, &nr2, f2, &nf2);
            bad_changes += nr1 != nr2 || nf1 != nf2 || memcmp(r1, r2, sizeof *r1 * (size_t)nr1) ||
                           memcmp(f1, f2, sizeof *f1 * (size_t)nf1);
        }
    }
    CHECK_INT("topk_changes: rose and fell as the linear-search union gives them", bad_changes, 0);
    free(a), free(b), free(got), free(want);
    CHECK_DONE();
}
