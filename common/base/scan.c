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
