// test_interp_passes: how interp_records_run packs the clean and corrupted runs of several
// patched records into forward passes (interp_patch_passes), and the bytes it counts per
// record against --mem-budget (interp_patch_bytes), against values worked by hand for
// GPT-2 small's shape (12 slots, C 768).  That the packed runs give the same bytes as
// one at a time is tests/tool/patch_resume.sh's and packing.sh's.
#include <string.h>

#include "check.h"
#include "experiment/interp.h"

enum { SLOTS = 12, C = 768, N = 8 };

// A patching record of T tokens (the patch sites only matter for their points).
static InterpRecord record(int T, InterpSite *patch, int n_patch) {
    InterpRecord ir;
    memset(&ir, 0, sizeof ir);
    ir.T = T;
    ir.n_prompt = T - 1;
    ir.patching = 1;
    ir.patch = patch;
    ir.n_patch = n_patch;
    return ir;
}

// "e0,e1,.." of the passes of recs under o, within max_rows rows.
static void plan(const InterpOptions *o, const InterpRecord *const *recs, int n, int max_rows,
                 char *out, size_t len) {
    int ends[2 * N + 1], passes = interp_patch_passes(o, recs, n, SLOTS, C, max_rows, ends);
    size_t at = 0;
    out[0] = 0;
    for (int p = 0; p < passes && at < len; p++)
        at += (size_t)snprintf(out + at, len - at, "%s%d", p ? "," : "", ends[p]);
}

int main(void) {
    static const int lens[N] = {8, 9, 10, 7, 8, 9, 10, 7};
    InterpRecord ir[N];
    const InterpRecord *recs[N];
    for (int i = 0; i < N; i++) ir[i] = record(lens[i], NULL, 0), recs[i] = &ir[i];
    InterpOptions o;
    interp_defaults(&o);
    o.patch_sweep = 1;   // resid_pre: the clean run's resid_pre, the corrupted run's
                         // resid_pre and keys/values, two final residuals
    size_t row = sizeof(float) * C, run = row * SLOTS;
    CHECK_INT("position sweep, 10 tokens: (1 + 1 + 2) runs of captures + 2 final residuals",
              (long)interp_patch_bytes(&o, &ir[2], SLOTS, C), (long)(10 * (4 * run + 2 * row)));
    char got[128];
    plan(&o, recs, N, 512, got, sizeof got);
    CHECK_STR("default: the 16 runs of 8 records (136 rows) in one pass", got, "16");
    plan(&o, recs, N, 40, got, sizeof got);
    CHECK_STR("40 rows a pass: two records (34 rows) each", got, "4,8,12,16");
    plan(&o, recs, N, 16, got, sizeof got);
    CHECK_STR("16 rows a pass: a record's two runs apart when they do not fit", got,
              "2,3,4,5,6,8,10,11,12,13,14,16");
    o.pack = 3;
    plan(&o, recs, N, 512, got, sizeof got);
    CHECK_STR("--pack 3: three runs a pass, a record split over two", got, "3,6,9,12,15,16");
    o.pack = 1;
    plan(&o, recs, N, 512, got, sizeof got);
    CHECK_STR("--pack 1: one run a pass", got, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16");
    // A budget whose half holds records 0 and 1 (8 and 9 tokens), or 2 and 3 (10 and 7).
    size_t b01 =
        interp_patch_bytes(&o, &ir[0], SLOTS, C) + interp_patch_bytes(&o, &ir[1], SLOTS, C);
    CHECK_INT("10 + 7 tokens take what 8 + 9 do", (long)b01,
              (long)(interp_patch_bytes(&o, &ir[2], SLOTS, C) +
                     interp_patch_bytes(&o, &ir[3], SLOTS, C)));
    o.pack = 0;
    o.mem_budget = 2 * b01;
    plan(&o, recs, N, 512, got, sizeof got);
    CHECK_STR("a budget for two records' captures: two records a pass", got, "4,8,12,16");
    o.mem_budget = 2 * b01 - 2;
    plan(&o, recs, N, 512, got, sizeof got);
    CHECK_STR("a byte less: two records a pass only where they take less", got,
              "2,4,6,10,12,14,16");
    // With --pack 3 a pass that begins with record 1's corrupted run still holds record 1's
    // captures: record 2's do not fit beside them.
    o.mem_budget = 2 * b01;
    o.pack = 3;
    plan(&o, recs, N, 512, got, sizeof got);
    CHECK_STR("--pack 3 and the budget: held captures count", got, "3,4,7,10,12,15,16");
    o.pack = 0;
    o.mem_budget = (size_t)1 << 20;   // below one record: one record (its two runs) a pass
    plan(&o, recs, N, 512, got, sizeof got);
    CHECK_STR("1M: one record a pass", got, "2,4,6,8,10,12,14,16");
    // The head sweep keeps no keys/values; a single patch neither the corrupted run's
    // residuals: only the clean run's activations at its points.
    o.mem_budget = 0;
    o.sweep_point = TF_HOOK_Z;
    CHECK_INT("head sweep: z + resid_pre + 2 final residuals",
              (long)interp_patch_bytes(&o, &ir[3], SLOTS, C), (long)(7 * (2 * run + 2 * row)));
    o.patch_sweep = 0;
    InterpSite sites[3] = {
        {TF_HOOK_RESID_PRE, 1, -1, 2}, {TF_HOOK_MLP_OUT, 3, -1, -1}, {TF_HOOK_RESID_PRE, 4, -1, 0}};
    InterpRecord one = record(9, sites, 3);
    CHECK_INT("--patch at resid_pre (twice) and mlp_out: 2 points + 3 final residuals (clean, "
              "corrupted, patched)",
              (long)interp_patch_bytes(&o, &one, SLOTS, C), (long)(9 * (2 * run + 3 * row)));
    o.capture = 1u << TF_HOOK_RESID_PRE | 1u << TF_HOOK_RESID_POST;
    CHECK_INT("--patch with the lens: the patched run's 2 captured points too",
              (long)interp_patch_bytes(&o, &one, SLOTS, C), (long)(9 * (4 * run + 3 * row)));
    o.capture = 0;
    const InterpRecord *single[1] = {&one};
    plan(&o, single, 1, 512, got, sizeof got);
    CHECK_STR("one record: its clean and corrupted runs in one pass", got, "2");
    plan(&o, single, 0, 512, got, sizeof got);
    CHECK_STR("no records: no passes", got, "");

    // A single patch: records go a chunk at a time (their captures within half the budget),
    // their patched runs packed after their clean and corrupted runs.
    InterpSite site = {TF_HOOK_RESID_PRE, 1, -1, 2};
    InterpRecord pr[N];
    const InterpRecord *precs[N];
    for (int i = 0; i < N; i++) pr[i] = record(lens[i], &site, 1), precs[i] = &pr[i];
    size_t one_bytes = interp_patch_bytes(&o, &pr[0], SLOTS, C);   // 8 tokens
    CHECK_INT("one point, 8 tokens", (long)one_bytes, (long)(8 * (run + 3 * row)));
    CHECK_INT("default budget: the 8 records in one chunk",
              interp_patch_chunk(&o, precs, N, SLOTS, C), N);
    o.mem_budget = 2 * (one_bytes + interp_patch_bytes(&o, &pr[1], SLOTS, C));
    CHECK_INT("a budget whose half holds 8 + 9 tokens: a chunk of 2",
              interp_patch_chunk(&o, precs, N, SLOTS, C), 2);
    CHECK_INT("the next chunk (10 + 7 tokens) too", interp_patch_chunk(&o, precs + 2, 6, SLOTS, C),
              2);
    CHECK_INT("then 8 + 9 + 10 do not fit: 2", interp_patch_chunk(&o, precs + 4, 4, SLOTS, C), 2);
    o.mem_budget = (size_t)1 << 10;
    CHECK_INT("a budget below one record: one record a chunk",
              interp_patch_chunk(&o, precs, N, SLOTS, C), 1);
    o.mem_budget = 0;
    int pends[N];
    int np = interp_patched_passes(&o, precs, N, 512, pends);
    CHECK_INT("the patched runs of 8 records (68 rows): one pass", np, 1);
    CHECK_INT("  ending after record 8", pends[0], 8);
    np = interp_patched_passes(&o, precs, N, 20, pends);
    CHECK_INT("20 rows a pass: 8+9, 10+7, 8+9, 10+7", np, 4);
    CHECK_INT("  the second pass ends after record 4", pends[1], 4);
    np = interp_patched_passes(&o, precs, N, 5, pends);
    CHECK_INT("5 rows a pass (fewer than any record): one record a pass", np, N);
    o.pack = 3;
    np = interp_patched_passes(&o, precs, N, 512, pends);
    CHECK_INT("--pack 3: 3, 3, 2 records", np * 100 + pends[0] * 10 + pends[2], 338);
    o.pack = 0;

    // Records not patched (--ablate, --lens, --dump): a chunk keeps each one's final
    // residual and captures (o->capture) within half of the budget.
    InterpRecord plain[N];
    const InterpRecord *plains[N];
    for (int i = 0; i < N; i++) plain[i] = record(lens[i], NULL, 0), plain[i].patching = 0;
    for (int i = 0; i < N; i++) plains[i] = &plain[i];
    CHECK_INT("not patched, nothing captured: its final residual",
              (long)interp_patch_bytes(&o, &plain[2], SLOTS, C), (long)(10 * row));
    o.capture = 1u << TF_HOOK_RESID_PRE | 1u << TF_HOOK_RESID_POST;
    size_t p0 = interp_patch_bytes(&o, &plain[0], SLOTS, C);
    CHECK_INT("not patched, the lens's 2 points: 2 runs of captures + its final residual", (long)p0,
              (long)(8 * (2 * run + row)));
    CHECK_INT("default budget: 8 records not patched in one chunk",
              interp_patch_chunk(&o, plains, N, SLOTS, C), N);
    o.mem_budget = 2 * (p0 + interp_patch_bytes(&o, &plain[1], SLOTS, C) +
                        interp_patch_bytes(&o, &plain[2], SLOTS, C));
    CHECK_INT("a budget whose half holds 8 + 9 + 10 tokens: a chunk of 3",
              interp_patch_chunk(&o, plains, N, SLOTS, C), 3);
    o.mem_budget = (size_t)1 << 20;   // 1M: half (512K) holds less than one record (600K)
    CHECK_INT("1M: one record a chunk", interp_patch_chunk(&o, plains, N, SLOTS, C), 1);
    CHECK_DONE();
}
