// scan: see scan.h.  Vectors are GCC's vector extensions, lowered to whatever the target
// has (SSE2 on x86-64 without -march): no run-time dispatch, and the scans are a small
// part of a token's cost once they are not scalar (~7 us for 50257 floats in L2).
#include "base/scan.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef float F4 __attribute__((vector_size(16)));
typedef int32_t I4 __attribute__((vector_size(16)));
enum { SCAN_VECS = 4, SCAN_BLOCK = 4 * SCAN_VECS };

static F4 load4(const float *x) {
    F4 v;
    memcpy(&v, x, sizeof v);
    return v;
}

static int any_lane(I4 m) { return (m[0] | m[1] | m[2] | m[3]) != 0; }

// Does x[0, SCAN_BLOCK) hold an element > t (strict) or >= t (!strict)?
static int block_any(const float *x, float t, int strict) {
    I4 m = {0, 0, 0, 0};
#pragma GCC unroll 4
    for (int j = 0; j < SCAN_VECS; j++) m |= strict ? load4(x + 4 * j) > t : load4(x + 4 * j) >= t;
    return any_lane(m);
}

static int first_match(const float *x, int n, float t, int strict) {
    int i = 0;
    while (i + SCAN_BLOCK <= n && !block_any(x + i, t, strict)) i += SCAN_BLOCK;
    while (i < n && !(strict ? x[i] > t : x[i] >= t)) i++;
    return i;
}

int scan_first_above(const float *x, int n, float t) { return first_match(x, n, t, 1); }

int scan_first_at_least(const float *x, int n, float t) { return first_match(x, n, t, 0); }

float scan_max(const float *x, int n) {
    F4 lane[SCAN_VECS];
#pragma GCC unroll 4
    for (int j = 0; j < SCAN_VECS; j++) lane[j] = (F4){-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int i = 0;
    for (; i + SCAN_BLOCK <= n; i += SCAN_BLOCK)
#pragma GCC unroll 4
        for (int j = 0; j < SCAN_VECS; j++) {
            F4 v = load4(x + i + 4 * j);
            I4 up = v > lane[j];   // never for NaN
            lane[j] = (F4)(((I4)v & up) | ((I4)lane[j] & ~up));
        }
    float top = -INFINITY;
    for (int j = 0; j < SCAN_VECS; j++)
        for (int u = 0; u < 4; u++) top = lane[j][u] > top ? lane[j][u] : top;
    for (; i < n; i++) top = x[i] > top ? x[i] : top;
    return top;
}

// ----------------------------------------------------------------------------
// top k

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

int scan_top_k(const float *v, int V, int k, int *ids) {
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
