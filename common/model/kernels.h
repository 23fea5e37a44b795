// kernels: the per-instruction-set inner loops behind common/model/matmul (internal; users call
// matmul.h).  One table per path — "generic" (portable C, what the baseline -O2 build
// vectorises to SSE2), "avx2" (AVX2 + FMA) and "avx512" (AVX-512F/VL/BW/DQ) — chosen at
// run time by matmul.c.  The ISA files compile their functions with
// __attribute__((target(...))), so the binary needs no -march and still runs on a CPU
// without those instructions (their tables are then never used).
//
// Order of operations, per path (the determinism contract of matmul.h rests on it):
//   matmul:    K is cut into segments of MM_KSEG rows (the last one shorter).  A segment's
//              sum s[t][j] starts at 0 and adds a[t][k] * b[k][j] for its k ascending (one
//              fused multiply-add on the SIMD paths, a multiply then an add on the
//              generic one); out = ((base + s_0) + s_1) + ..., base = bias[j] or 0.  tile
//              and rows compute one segment's sum the same way, whatever the shape of the
//              tile, the layout of b (strided in w, or packed) or how the rows are grouped.
//   dot:       `lanes` partial sums s[i % lanes] (fused on SIMD paths), zero tail, then
//              the path's fixed reduction tree.  dot_tile computes exactly dot() per
//              (row, vocabulary entry).
//   gelu:      elementwise, the same function for every position of the array.
//   layernorm: a fixed function of one row.
//   attention: per (row, head) a fixed function of (q, the row's keys/values, n_keys).
#ifndef AUTOINTERP_KERNELS_H
#define AUTOINTERP_KERNELS_H
#include <stddef.h>
#include <stdint.h>

#include "base/dtype.h"

#define MM_KSEG     128   // rows of w per segment (see above)
#define MM_ROWS_MAX 8     // rows of `a` per call of the rows kernel
// The ISA files' weight-type argument DT for fp32 weights (else a LowpType: the 16-bit
// weights are widened in registers).
#define MM_F32      (-1)

// The rows kernels (avx2, avx512) read a step of q rows of w for m rows of `a` in groups
// of 4 rows of `a`.  Rows of w to prefetch ahead (0: none) for the group starting at row
// r0: the next step's q rows, by one group per step — the second where there are several
// (it finds this step's rows in cache and issues no misses of its own), else the only
// one; next_ok: those rows lie within the segment.  The prefetches go to L2 (prefetcht1):
// with prefetcht0 they held the L1 miss buffers that the kernel's own loads need, and
// gained nothing for single rows and little batched; into L2, single rows and 8 streams
// both decode faster (docs/bench.md, "Decoding's prefetch into L2").
static inline int rows_prefetch_ahead(int m, int r0, int q, int next_ok) {
    return next_ok && r0 == (m > 4 ? 4 : 0) ? q : 0;
}

// An unembedding tile's outputs (dot_rows x dot_cols) at most.
#define MM_DOT_TILE_MAX 32

// Tile shapes: a tile is at most MR rows x NR columns of the output.
typedef struct {
    const char *name;   // "generic", "avx2", "avx512"
    int mr, nr;         // matmul register tile (nr a multiple of the vector width)
    int dot_rows;       // unembedding tile: rows of `in` x ...
    int dot_cols;       //   ... rows of e (vocabulary entries)
    // The unembedding's schedule by its number of row blocks of dot_rows rows (matmul.c):
    // tiles of entries far apart up to dot_spread blocks (dot_spread16 with 16-bit e, half
    // the bytes to read; 0: never), each tile's rows of e copied into aligned scratch from
    // dot_stage blocks on (0: never).  dot_lin (fp32 e in place, not spread): the row
    // blocks after a tile's first read from a copy of `in` at offset 0 within a line
    // rather than at e's (dot_tile then loads e's rows as they lie: in L1 by then).
    int dot_spread, dot_spread16, dot_stage, dot_lin;
    int lanes;   // partial sums in dot

    // One segment through a register tile: c (m <= mr rows, stride ldc) [0, n <= nr) =
    // base + a (m, K; stride lda) · b (K, n; row stride ldb, at least nr readable floats
    // per row unless n < nr), the product summed from 0 as above.  base: c's own values
    // when add, else bias[0..n) (bias NULL: 0).  K <= MM_KSEG.
    void (*tile)(float *c, size_t ldc, const float *a, size_t lda, const float *b, size_t ldb,
                 const float *bias, int add, int m, int n, int K);

    // Streaming rows (decoding): p (m <= MM_ROWS_MAX rows, stride ldp) [0, n) = (acc ? p :
    // 0) + a (m, K; stride lda) · w (K, n; row stride ldw), w read row after row (rows of
    // n contiguous floats) with the sums kept in p: the same sums as tile.
    void (*rows)(float *p, size_t ldp, const float *a, size_t lda, const float *w, size_t ldw,
                 int m, int n, int K, int acc);

    // out[j] = ((base[j] + parts[0][j]) + parts[1][j]) + ... for j < n, parts[s] = parts +
    // s * stride, s < n_parts (base NULL: 0).  Plain adds: the same bits on every path.
    void (*sum_parts)(float *out, const float *base, const float *parts, size_t stride, int n_parts,
                      int n);

    // out[r * ldo + v] = dot(in + r * ldi, e + v * lde, C) for r < m <= dot_rows,
    // v < n <= dot_cols.  Meanwhile the pf_lines cache lines from pf on (the next tile's
    // rows of e, or part of them) are prefetched, one per 16 floats of C at most, spread
    // over the loop (a burst of prefetches between the calls stalls on the miss buffers).
    void (*dot_tile)(float *out, size_t ldo, const float *in, size_t ldi, const float *e,
                     size_t lde, int m, int n, int C, const char *pf, int pf_lines);

    float (*dot)(const float *a, const float *b, int n);
    void (*axpy)(float *y, float alpha, const float *x, int n);

    // x[i] = gelu_tanh(x[i]) for i < n.
    void (*gelu)(float *x, size_t n);

    // One row of LayerNorm: mean and variance of x (C) in double, then
    // out[i] = (x[i] - m) * rstd * w[i] + b[i] in float (m, rstd rounded to float).
    void (*layernorm)(float *out, const float *x, const float *w, const float *b, int C, float eps);

    // One attention head of one row: out (hs) = softmax(scale * q · k_j) · v_j over keys
    // j < n_keys, k_j = k + j * stride, v_j = v + j * stride; att: n_keys floats scratch.
    void (*attn_head)(float *out, const float *q, const float *k, const float *v, size_t stride,
                      int n_keys, int hs, float scale, float *att);

    // Rows i < n_rows of one head that are consecutive positions: row i attends keys
    // j < n_keys0 + i of the shared k, v; out + i * ldo, q + i * ldq; each row exactly as
    // attn_head.  att: scratch of att_rows x lda floats, lda >= n_keys0 + n_rows - 1.
    void (*attn_rows)(float *out, size_t ldo, const float *q, size_t ldq, int n_rows,
                      const float *k, const float *v, size_t stride, int n_keys0, int hs,
                      float scale, float *att, size_t lda);
    int att_rows;   // rows attn_rows works on together

    // Low-precision weights (base/dtype.h's LowpType: bf16, f16), one entry per type.
    // dst[i] = src[i] widened to fp32 (exact), i < n.
    void (*widen16[LOWP_TYPES])(float *dst, const uint16_t *src, size_t n);

    // rows with 16-bit w, widened in registers: exactly rows on the widened w.  NULL: the
    // caller widens blocks of w into scratch and calls rows.
    void (*rows16[LOWP_TYPES])(float *p, size_t ldp, const float *a, size_t lda, const uint16_t *w,
                               size_t ldw, int m, int n, int K, int acc);

    // dot_tile with 16-bit e, widened in registers: exactly dot_tile on the widened e.
    // NULL: the caller widens each tile's rows of e into scratch and calls dot_tile.
    void (*dot_tile16[LOWP_TYPES])(float *out, size_t ldo, const float *in, size_t ldi,
                                   const uint16_t *e, size_t lde, int m, int n, int C,
                                   const char *pf, int pf_lines);

    // Panels (tiled schedule, fp32 weights): when a task runs at least this many row tiles
    // (0: never), each segment's block of its strips is first copied into contiguous
    // kc x nr panels (by the first row tile where tile_pack is set) that every other row
    // tile then reads (ldb = nr).  Rows of w are N floats
    // apart, so for N = 768 .. 3072 a strip's rows fall into a few L1 sets (all into one
    // at N = 3072) and are read from L2 each time; the panel's are not.  The tile computes
    // the same sums from either.
    int pack_min_tiles;
    // tile on a full strip (n = nr) that also stores b's rows into pk, nr floats apart, as
    // it reads them: the first row tile packs the panel while it computes (no copy pass).
    // The same sums as tile.  NULL: the panels are copied before.
    void (*tile_pack)(float *c, size_t ldc, const float *a, size_t lda, const float *b, size_t ldb,
                      const float *bias, int add, int m, int K, float *pk);
} MmKernels;

extern const MmKernels mm_kernels_generic;
extern const MmKernels mm_kernels_avx2;
extern const MmKernels mm_kernels_avx512;

#endif
