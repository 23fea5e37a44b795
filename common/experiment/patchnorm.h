// patchnorm: activation patching over a batch of clean/corrupted pairs, normalised as the
// field does it (e.g. Wang et al. 2022, TransformerLens's patching demos): per grid cell,
// over the examples that have the cell,
//
//     effect = (mean patched − mean corrupted) / (mean clean − mean corrupted)
//
// of the metric (logit difference answer − wrong answer, or answer loss).  Averaging each
// pair's own normalised effect instead explodes when a pair's clean and corrupted metrics
// are close (0.04 apart gives "effects" of 100 and more); the batch normalisation stays
// bounded by the batch's mean difference.  Pairs whose own difference is below
// PATCH_DEGENERATE_FRACTION of the batch's are counted as degenerate (they still count in
// the means, as in the field's convention).
//
// The agent's notes (common/agent/agent.c) and the report's tables and heatmaps
// (common/agent/report.c) both use this, so their numbers are the same.
// Called outside this module only by the tests (tests/unit/test_patchnorm.c):
// patch_effect_of_sums.
#ifndef AUTOINTERP_PATCHNORM_H
#define AUTOINTERP_PATCHNORM_H

#define PATCH_DEGENERATE_FRACTION 0.1

// Sums per cell (rows x cols, row-major).  Zero-initialise or patch_sums_init.
typedef struct {
    int rows, cols;
    double *patched, *clean, *corrupt;   // (rows * cols) sums of the metric
    int *n;                              // (rows * cols) examples added
} PatchSums;

// A grid of rows x cols cells (both >= 1), all empty.
void patch_sums_init(PatchSums *s, int rows, int cols);
void patch_sums_free(PatchSums *s);

// Add one example's patched metric at (row, col) with its clean and corrupted baselines.
// Non-finite values and cells outside the grid are ignored (returns 0; 1 when added).
int patch_sums_add(PatchSums *s, int row, int col, double patched, double clean, double corrupt);

// Examples added at (row, col).
int patch_sums_count(const PatchSums *s, int row, int col);

// The normalised effect at (row, col): 1 = the clean behaviour restored, 0 = unchanged;
// NaN when the cell is empty or its mean clean and corrupted metrics are equal (closer
// than 1e-9).
double patch_sums_effect(const PatchSums *s, int row, int col);

// The normalised effect of sums (patched, clean, corrupt over the same examples), as above.
double patch_effect_of_sums(double patched, double clean, double corrupt);

// Is one pair degenerate: |clean − corrupt| below PATCH_DEGENERATE_FRACTION of
// |mean_clean − mean_corrupt| (the batch's)?  Non-finite values are not degenerate.
int patch_pair_degenerate(double clean, double corrupt, double mean_clean, double mean_corrupt);

#endif
