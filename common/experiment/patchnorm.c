// patchnorm: batch-normalised activation patching effects (see patchnorm.h).
#include "experiment/patchnorm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void patch_sums_init(PatchSums *s, int rows, int cols) {
    memset(s, 0, sizeof *s);
    s->rows = rows > 0 ? rows : 1;
    s->cols = cols > 0 ? cols : 1;
    size_t n = (size_t)s->rows * (size_t)s->cols;
    s->patched = xcalloc(n, sizeof(double));
    s->clean = xcalloc(n, sizeof(double));
    s->corrupt = xcalloc(n, sizeof(double));
    s->n = xcalloc(n, sizeof(int));
}

void patch_sums_free(PatchSums *s) {
    free(s->patched), free(s->clean), free(s->corrupt), free(s->n);
    memset(s, 0, sizeof *s);
}

int patch_sums_add(PatchSums *s, int row, int col, double patched, double clean, double corrupt) {
    if (row < 0 || row >= s->rows || col < 0 || col >= s->cols) return 0;
    if (!isfinite(patched) || !isfinite(clean) || !isfinite(corrupt)) return 0;
    size_t i = (size_t)row * (size_t)s->cols + (size_t)col;
    s->patched[i] += patched;
    s->clean[i] += clean;
    s->corrupt[i] += corrupt;
    s->n[i]++;
    return 1;
}

int patch_sums_count(const PatchSums *s, int row, int col) {
    if (row < 0 || row >= s->rows || col < 0 || col >= s->cols || !s->n) return 0;
    return s->n[(size_t)row * (size_t)s->cols + (size_t)col];
}

double patch_effect_of_sums(double patched, double clean, double corrupt) {
    double den = clean - corrupt;
    if (!isfinite(den) || fabs(den) < 1e-9) return NAN;
    return (patched - corrupt) / den;
}

double patch_sums_effect(const PatchSums *s, int row, int col) {
    if (!patch_sums_count(s, row, col)) return NAN;
    size_t i = (size_t)row * (size_t)s->cols + (size_t)col;
    double n = s->n[i];   // the means' common 1/n cancels; dividing keeps the 1e-9 test on means
    return patch_effect_of_sums(s->patched[i] / n, s->clean[i] / n, s->corrupt[i] / n);
}

int patch_pair_degenerate(double clean, double corrupt, double mean_clean, double mean_corrupt) {
    if (!isfinite(clean) || !isfinite(corrupt) || !isfinite(mean_clean) || !isfinite(mean_corrupt))
        return 0;
    return fabs(clean - corrupt) < PATCH_DEGENERATE_FRACTION * fabs(mean_clean - mean_corrupt);
}
