// sample: choosing the next token from a row of logits — greedy, temperature and top-k
// sampling — with the project's seeded, portable RNG (common/base/rng.h, splitmix64), so a
// given (logits, parameters, seed) draws the same tokens on every run and machine.
//
// Sampling rule (sample_token):
//   temperature <= 0 (or top_k == 1)  greedy: the argmax, ties broken to the lowest id.
//   otherwise   candidates = all ids (top_k <= 0 or top_k >= V) or the top_k largest logits
//               (ties at the boundary broken to the lowest ids); p(i) ∝ exp((l_i - max) / T)
//               computed in double; one uniform u in [0,1) picks the first candidate (in
//               id order for all ids, in descending-logit order for top-k) whose cumulative
//               probability exceeds u * total.
// NaN logits are never chosen (treated as -inf).  -inf logits have probability 0.  When
// the weights are degenerate (the largest logit is +inf or -inf) sampling falls back to
// greedy.
#ifndef AUTOINTERP_SAMPLE_H
#define AUTOINTERP_SAMPLE_H
#include "base/rng.h"

// Index of the largest logit in [0, V), ties to the lowest id; NaNs are skipped; 0 if V
// <= 0 or every logit is NaN.
int sample_greedy(const float *logits, int V);

// Draw a token following the rule above.  rng is advanced by exactly one draw when
// sampling (not at all for greedy).
int sample_token(const float *logits, int V, float temperature, int top_k, Rng *rng);

#endif
