// test_patchnorm: batch-normalised activation patching effects (experiment/patchnorm.h)
// against values worked by hand, and the degenerate-pair rule.
#include <math.h>

#include "check.h"
#include "experiment/patchnorm.h"

int main(void) {
    PatchSums s;
    patch_sums_init(&s, 2, 3);
    CHECK("empty cell: NaN", isnan(patch_sums_effect(&s, 0, 0)));
    CHECK_INT("empty cell: count 0", patch_sums_count(&s, 0, 0), 0);
    // Two pairs: clean 4 / corrupted -2, and clean 3.1 / corrupted 3.0 (nearly degenerate).
    patch_sums_add(&s, 0, 1, 1.0, 4.0, -2.0);
    patch_sums_add(&s, 0, 1, 3.1, 3.1, 3.0);
    // (mean 2.05 - mean 0.5) / (mean 3.55 - mean 0.5); the per-pair mean would be 0.75.
    CHECK_NEAR("two pairs: (mean patched - mean corrupted) / (mean clean - mean corrupted)",
               patch_sums_effect(&s, 0, 1), (2.05 - 0.5) / (3.55 - 0.5), 1e-12);
    CHECK_INT("two pairs: counted", patch_sums_count(&s, 0, 1), 2);
    patch_sums_add(&s, 1, 2, 7.0, 2.0, 2.0);
    CHECK("clean == corrupted: NaN, not infinite", isnan(patch_sums_effect(&s, 1, 2)));
    // Loss as the metric: lower is cleaner, the formula is the same.
    patch_sums_add(&s, 1, 0, 1.5, 1.0, 3.0);
    CHECK_NEAR("answer loss: patched halfway restores 0.75", patch_sums_effect(&s, 1, 0), 0.75,
               1e-12);
    CHECK_INT("outside the grid: ignored", patch_sums_add(&s, 2, 0, 1, 2, 3), 0);
    CHECK_INT("negative column: ignored", patch_sums_add(&s, 0, -1, 1, 2, 3), 0);
    CHECK_INT("NaN metric: ignored", patch_sums_add(&s, 0, 0, NAN, 2, 3), 0);
    CHECK_INT("infinite baseline: ignored", patch_sums_add(&s, 0, 0, 1, INFINITY, 3), 0);
    CHECK_INT("ignored values left the cell empty", patch_sums_count(&s, 0, 0), 0);
    patch_sums_free(&s);
    CHECK_NEAR("effect of sums", patch_effect_of_sums(2, 4, 0), 0.5, 1e-12);
    CHECK("degenerate: 0.1 apart, batch difference 3.05",
          patch_pair_degenerate(3.1, 3.0, 3.55, 0.5));
    CHECK("not degenerate: 6 apart", !patch_pair_degenerate(4, -2, 3.55, 0.5));
    CHECK("degenerate is relative: 0.31 of 3.05 is not", !patch_pair_degenerate(0.31, 0, 3.05, 0));
    CHECK("NaN is not degenerate", !patch_pair_degenerate(NAN, 0, 3.05, 0));
    CHECK_DONE();
}
