// Unit tests for common/base/scan: every length around the 16-element block, the answer
// first, last, in the tail or tied across blocks, with NaN, infinities and signed zeros,
// against the plain loops the header describes.
#include <math.h>
#include <string.h>

#include "base/rng.h"
#include "base/scan.h"
#include "check.h"

static float plain_max(const float *x, int n) {
    float top = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > top) top = x[i];
    return top;
}

static int plain_first(const float *x, int n, float t, int strict) {
    for (int i = 0; i < n; i++)
        if (strict ? x[i] > t : x[i] >= t) return i;
    return n;
}

// An element of a row of the given kind.
static float element(int kind, Rng *gen) {
    double u = rng_uniform(gen);
    switch (kind) {
    case 0: return (float)(u * 4.0 - 2.0);
    case 1: return u < 0.5 ? 0.0f : -0.0f;
    case 2: return u < 0.3 ? NAN : u < 0.6 ? -INFINITY : (float)(int)(u * 4);
    case 3: return NAN;
    case 4: return -INFINITY;
    default: return (float)(int)(u * 3);   // ties in every block
    }
}

int main(void) {
    enum { NMAX = 80 };
    float x[NMAX];
    Rng gen;
    rng_seed(&gen, 11);
    int max_same = 1, above_same = 1, at_least_same = 1, cases = 0;
    for (int n = 0; n <= NMAX; n++)
        for (int round = 0; round < 36; round++, cases++) {
            for (int i = 0; i < n; i++) x[i] = element(round % 6, &gen);
            int at = n ? (int)(rng_uniform(&gen) * n) : 0;
            if (n && round % 4 == 1) x[at] = 7.0f;
            if (n && round % 4 == 2) x[n - 1] = INFINITY;
            if (n > 17 && round % 4 == 3) x[15] = x[16] = 5.0f;
            float m = scan_max(x, n), want = plain_max(x, n);
            max_same &= m == want && !isnan(m);
            // thresholds: below, at and above every value present, and the extremes
            float ts[] = {m, -INFINITY, INFINITY, 0.0f, -0.0f, 1.0f, x[n ? at : 0], NAN};
            for (size_t q = 0; q < sizeof ts / sizeof *ts; q++) {
                above_same &= scan_first_above(x, n, ts[q]) == plain_first(x, n, ts[q], 1);
                at_least_same &= scan_first_at_least(x, n, ts[q]) == plain_first(x, n, ts[q], 0);
            }
        }
    CHECK("scan_max == the plain maximum (NaN skipped, -inf when none), n = 0 .. 80", max_same);
    CHECK("scan_first_above == the plain search, n = 0 .. 80", above_same);
    CHECK("scan_first_at_least == the plain search, n = 0 .. 80", at_least_same);
    CHECK_INT("cases", cases, 81 * 36);
    float zeros[20] = {0};
    zeros[3] = -0.0f;
    CHECK_INT("first >= 0 among signed zeros is the first zero",
              scan_first_at_least(zeros, 20, -0.0f), 0);
    CHECK_INT("nothing above 0 among zeros", scan_first_above(zeros, 20, 0.0f), 20);
    float big[40];
    for (int i = 0; i < 40; i++) big[i] = (float)i;
    CHECK_INT("first above 33.5 in a ramp", scan_first_above(big, 40, 33.5f), 34);
    CHECK("max of a ramp", scan_max(big, 40) == 39.0f);
    CHECK_DONE();
}
