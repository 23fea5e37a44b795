// scan: linear scans of float arrays (the argmax and top-k searches over a row of 50257
// logits: sampling, topk's rankings), 16 elements at a time in vectors, then one by one only inside the block that
// holds the answer: the results are those of the plain loops described below, including
// for NaN (which compares false) and signed zeros (-0 == +0).
#ifndef AUTOINTERP_SCAN_H
#define AUTOINTERP_SCAN_H

// The largest non-NaN element of x[0, n); -inf when there is none (n <= 0, all NaN).
// When the largest is a zero, its sign is either one's.
float scan_max(const float *x, int n);

// The first i in [0, n) with x[i] > t; n when there is none.
int scan_first_above(const float *x, int n, float t);

// The first i in [0, n) with x[i] >= t; n when there is none.
int scan_first_at_least(const float *x, int n, float t);

// The k largest entries of v (V), largest first, ties to the lowest id, NaNs left out;
// returns how many were written to ids (min(k, the non-NaN entries)).  A heap of the best
// k seen so far, the entries that cannot enter it skipped with scan_first_above.
int scan_top_k(const float *v, int V, int k, int *ids);

#endif
