// test_interp_noop: interp_patch_same, the comparison that decides whether a patched run
// patches nothing (and is then not run): bit for bit over the rows and columns the site
// writes, and nothing else.  That the runs skipped give the bytes of running them is
// tests/tool/noop_cells.sh's.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "experiment/interp.h"

enum { T = 5, C = 8, NH = 4 };   // head size 2

static void set_bits(float *x, uint32_t bits) { memcpy(x, &bits, sizeof bits); }

int main(void) {
    float src[T * C], act[T * C];
    for (int i = 0; i < T * C; i++) src[i] = act[i] = (float)i * 0.25f - 3.0f;
    InterpSite pos2 = {TF_HOOK_RESID_PRE, 1, -1, 2}, all = {TF_HOOK_RESID_PRE, 1, -1, -1};
    InterpSite head1 = {TF_HOOK_Z, 1, 1, -1}, head1_at3 = {TF_HOOK_Z, 1, 1, 3};
    CHECK_INT("identical rows: same", interp_patch_same(&pos2, src, act, 0, T, C, NH), 1);

    // one bit of the patched row's last column
    uint32_t b;
    memcpy(&b, &act[2 * C + 7], sizeof b);
    set_bits(&act[2 * C + 7], b ^ 1u);
    CHECK_INT("the patched row differs in its lowest bit: runs",
              interp_patch_same(&pos2, src, act, 0, T, C, NH), 0);
    CHECK_INT("  every position: runs", interp_patch_same(&all, src, act, 0, T, C, NH), 0);
    CHECK_INT("  head 1 (columns 2, 3) does not write column 7: same",
              interp_patch_same(&head1, src, act, 0, T, C, NH), 1);
    InterpSite head3 = {TF_HOOK_Z, 1, 3, -1};
    CHECK_INT("  head 3 (columns 6, 7) does: runs",
              interp_patch_same(&head3, src, act, 0, T, C, NH), 0);
    memcpy(act, src, sizeof act);

    // another row
    act[4 * C + 3] = 99.0f;
    CHECK_INT("row 4 differs: position 2 same", interp_patch_same(&pos2, src, act, 0, T, C, NH), 1);
    CHECK_INT("  head 1 at position 3 same", interp_patch_same(&head1_at3, src, act, 0, T, C, NH),
              1);
    CHECK_INT("  head 1 everywhere (column 3 of row 4): runs",
              interp_patch_same(&head1, src, act, 0, T, C, NH), 0);
    memcpy(act, src, sizeof act);

    // NaN payloads and signed zeros are compared as bits
    set_bits(&src[2 * C], 0x7fc00001u);
    set_bits(&act[2 * C], 0x7fc00001u);
    CHECK_INT("the same NaN in both: same", interp_patch_same(&pos2, src, act, 0, T, C, NH), 1);
    set_bits(&act[2 * C], 0x7fc00002u);
    CHECK("  (both NaN)", isnan(src[2 * C]) && isnan(act[2 * C]));
    CHECK_INT("NaNs of other payloads: runs", interp_patch_same(&pos2, src, act, 0, T, C, NH), 0);
    src[2 * C] = 0.0f;
    act[2 * C] = -0.0f;
    CHECK("  (+0 == -0 as floats)", src[2 * C] == act[2 * C]);
    CHECK_INT("+0 against -0: runs", interp_patch_same(&pos2, src, act, 0, T, C, NH), 0);
    memcpy(act, src, sizeof act);

    // a resumed run: act holds positions pos0.. (here 2..4, 3 rows); src every position
    float tail[3 * C];
    memcpy(tail, src + 2 * C, sizeof tail);
    CHECK_INT("resumed at 2: position 2 is act's row 0: same",
              interp_patch_same(&pos2, src, tail, 2, 3, C, NH), 1);
    tail[0] = 42.0f;
    CHECK_INT("  its row 0 differs: runs", interp_patch_same(&pos2, src, tail, 2, 3, C, NH), 0);
    CHECK_INT("  head 1 at position 3 (row 1): same",
              interp_patch_same(&head1_at3, src, tail, 2, 3, C, NH), 1);
    InterpSite pos1 = {TF_HOOK_RESID_PRE, 1, -1, 1}, pos9 = {TF_HOOK_RESID_PRE, 1, -1, 9};
    CHECK_INT("  position 1, before the rows: writes nothing, same",
              interp_patch_same(&pos1, src, tail, 2, 3, C, NH), 1);
    CHECK_INT("  position 9, after them: same", interp_patch_same(&pos9, src, tail, 2, 3, C, NH),
              1);
    CHECK_INT("  every position (row 0 differs): runs",
              interp_patch_same(&all, src, tail, 2, 3, C, NH), 0);
    CHECK_DONE();
}
