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
// sampling

// exp((l - max) / temperature) in double; 0 for NaN and -inf.
static double weight_of(float l, float max, float temperature) {
    if (isnan(l) || l == -INFINITY) return 0.0;
    return exp(((double)l - (double)max) / (double)temperature);
}

// Candidate i of n: ids[i], or i when ids is NULL.
static int candidate(const int *ids, int i) { return ids ? ids[i] : i; }

// The running total of the weights is recorded every PICK_CHUNK candidates, so that the
// pick recomputes the weights of one chunk only instead of every candidate up to the one
// drawn (sampling over all 50257 ids: a third of the calls of exp).
enum { PICK_CHUNK = 512 };

// The total weight of the n candidates, summed in their order; marks[c] = the running
// total after chunk c (the same sum stopped there).
static double total_weight(const float *logits, const int *ids, int n, float max, float temperature,
                           double *marks) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        total += weight_of(logits[candidate(ids, i)], max, temperature);
        if ((i + 1) % PICK_CHUNK == 0 || i == n - 1) marks[i / PICK_CHUNK] = total;
    }
    return total;
}

// The first candidate whose cumulative weight exceeds u * total (zero weights never
// drawn); the last one of positive weight if rounding keeps u * total from being reached.
static int pick(const float *logits, const int *ids, int n, float max, float temperature,
                double total, const double *marks, double u) {
    double target = u * total;
    int chunks = (n + PICK_CHUNK - 1) / PICK_CHUNK, c = 0;
    while (c < chunks && !(marks[c] > target)) c++;
    if (c == chunks) {   // rounding: u * total reached the end
        for (int i = n - 1; i >= 0; i--)
            if (weight_of(logits[candidate(ids, i)], max, temperature) > 0.0)
                return candidate(ids, i);
        return -1;
    }
    double cum = c > 0 ? marks[c - 1] : 0.0;   // adding the zero weights left it unchanged
    int end = (c + 1) * PICK_CHUNK < n ? (c + 1) * PICK_CHUNK : n;
    for (int i = c * PICK_CHUNK; i < end; i++) {
        double w = weight_of(logits[candidate(ids, i)], max, temperature);
        if (w <= 0.0) continue;
        cum += w;
        if (cum > target) return candidate(ids, i);
    }
    return -1;   // not reached: marks[c] > target is this walk's last sum
}

int sample_token(const float *logits, int V, float temperature, int top_k, Rng *rng) {
    if (V <= 0) return 0;
    if (!(temperature > 0.0f) || top_k == 1) return sample_greedy(logits, V);
    int greedy = sample_greedy(logits, V);
    float max = logits[greedy];
    if (isnan(max) || isinf(max)) return greedy;

    int *ids = NULL;
    int n = V;
    if (top_k > 0 && top_k < V) {   // NaNs left out: their weight is 0 anyway
        ids = xmalloc((size_t)top_k * sizeof *ids);
        n = scan_top_k(logits, V, top_k, ids);
    }
    double *marks = xmalloc(sizeof *marks * (size_t)((n + PICK_CHUNK - 1) / PICK_CHUNK));
    double total = total_weight(logits, ids, n, max, temperature, marks);
    double u = rng_uniform(rng);
    int id = pick(logits, ids, n, max, temperature, total, marks, u);
    free(marks);
    free(ids);
    return id < 0 ? greedy : id;
}
