// scan: linear scans of float arrays (the argmax and top-k searches over a row of 50257
// logits), 16 elements at a time in vectors, then one by one only inside the block that
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

#endif
