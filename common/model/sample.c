// sample: greedy / temperature / top-k sampling with a seeded RNG; see sample.h.
#include "model/sample.h"

#include <math.h>
#include <stdlib.h>

#include "base/scan.h"
#include "base/util.h"

// ----------------------------------------------------------------------------
// greedy

int sample_greedy(const float *logits, int V) {
    // the argmax is the first id holding the largest non-NaN value (-0 == +0, so the first
    // of either when the largest is zero; the first -inf when nothing is larger)
    int best = scan_first_at_least(logits, V, scan_max(logits, V));
    return best < V ? best : 0;   // every logit NaN (or V <= 0)
}

// ----------------------------------------------------------------------------
// top-k selection: a min-heap of the k best ids, "better" = larger logit, then lower id

static float key_of(const float *logits, int id) {
    return isnan(logits[id]) ? -INFINITY : logits[id];
}

static int better(const float *logits, int a, int b) {
    float la = key_of(logits, a), lb = key_of(logits, b);
    return la > lb || (la == lb && a < b);
}

// Restore the heap property below position i (the root holds the worst kept id).
static void heap_sift_down(int *heap, int n, int i, const float *logits) {
    for (;;) {
        int worst = i, l = 2 * i + 1, r = l + 1;
        if (l < n && better(logits, heap[worst], heap[l])) worst = l;
        if (r < n && better(logits, heap[worst], heap[r])) worst = r;
        if (worst == i) return;
        int tmp = heap[i];
        heap[i] = heap[worst];
        heap[worst] = tmp;
        i = worst;
    }
}

// The k best ids into ids[0..k), best first.
static void top_k_select(const float *logits, int V, int k, int *ids) {
    for (int i = 0; i < k; i++) ids[i] = i;
    for (int i = k / 2 - 1; i >= 0; i--) heap_sift_down(ids, k, i, logits);
    // better(i, root) without its calls: every kept id is below i, so i wins only with a
    // larger key (a NaN, key -inf, never does; `l > worst` is false for it too)
    float worst = key_of(logits, ids[0]);
    for (int i = k + scan_first_above(logits + k, V - k, worst); i < V;
         i += 1 + scan_first_above(logits + i + 1, V - i - 1, worst)) {
        ids[0] = i;
        heap_sift_down(ids, k, 0, logits);
        worst = key_of(logits, ids[0]);
    }
    // heap sort: repeatedly move the worst to the end -> best first
    for (int n = k - 1; n > 0; n--) {
        int tmp = ids[0];
        ids[0] = ids[n];
        ids[n] = tmp;
        heap_sift_down(ids, n, 0, logits);
    }
}

// ----------------------------------------------------------------------------
// sampling

// exp((l - max) / temperature) in double; 0 for NaN and -inf.
static double weight_of(float l, float max, float temperature) {
    if (isnan(l) || l == -INFINITY) return 0.0;
    return exp(((double)l - (double)max) / (double)temperature);
}

// Walk `n` candidates (ids[i], or i when ids is NULL) and pick by cumulative weight.
static int pick(const float *logits, const int *ids, int n, float max, float temperature,
                double total, double u) {
    double target = u * total, cum = 0.0;
    int last = -1;
    for (int i = 0; i < n; i++) {
        int id = ids ? ids[i] : i;
        double w = weight_of(logits[id], max, temperature);
        if (w <= 0.0) continue;
        cum += w;
        last = id;
        if (cum > target) return id;
    }
    return last;   // rounding: u * total reached the end
}

int sample_token(const float *logits, int V, float temperature, int top_k, Rng *rng) {
    if (V <= 0) return 0;
    if (!(temperature > 0.0f) || top_k == 1) return sample_greedy(logits, V);
    int greedy = sample_greedy(logits, V);
    float max = logits[greedy];
    if (isnan(max) || isinf(max)) return greedy;

    int *ids = NULL;
    int n = V;
    if (top_k > 0 && top_k < V) {
        ids = xmalloc((size_t)top_k * sizeof *ids);
        top_k_select(logits, V, top_k, ids);
        n = top_k;
    }
    double total = 0.0;
    for (int i = 0; i < n; i++) total += weight_of(logits[ids ? ids[i] : i], max, temperature);
    double u = rng_uniform(rng);
    int id = pick(logits, ids, n, max, temperature, total, u);
    free(ids);
    return id < 0 ? greedy : id;
}
