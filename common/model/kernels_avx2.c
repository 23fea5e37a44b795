// kernels_avx2: the AVX2 + FMA path (ymm registers, fused multiply-add, masked tails via
// vmaskmov).  Every function carries the target attribute, so this file builds with the
// project's plain flags; matmul.c calls it only when the CPU has AVX2 and FMA.  See
// kernels.h.
#include "model/kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

// f16c for the f16 weights' vcvtph2ps, which only the *_f16 functions execute: matmul.c
// calls those only where __builtin_cpu_supports("f16c") (the fp32 code has no half
// conversions for the compiler to emit them in).
#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET

#define MR                  6   // tile rows
#define NV                  2   // tile vectors per row (NR = 16 columns)
#define NR                  (8 * NV)
// Unembedding tile: 3 rows of `in` x 4 vocabulary entries (12 sums, 3 rows, 1 vector of e:
// all 16 ymm registers).  2 x 6 held e's 6 rows (18 KiB at C = 768) beside the rows of `in`
// and the next tile's prefetched rows in the 32 KiB L1; 3 x 4 holds 12 KiB (128 rows x
// 50257 on Zen 4, one core: 82 -> 87-91 GFLOP/s; 1-2 rows, bound by the reads of e: ~4 %
// slower).  Each output is exactly dot_avx2 either way (docs/bench.md, 2026-12-05).
#define DOT_ROWS            3
#define DOT_COLS            4
#define GELU_SCALING_FACTOR 0.7978845608028654f

// `#pragma GCC unroll n` for a macro n (the pragma does not expand macros itself).
#define PRAGMA_(x) _Pragma(#x)
#define UNROLL(n)  PRAGMA_(GCC unroll n)

// Lanes [0, n) set (all for n >= 8, none for n <= 0).
INLINE __m256i tail_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The fixed reduction tree: 8 -> 4 -> 2 -> 1 lanes, adding halves.
INLINE float reduce8(__m256 s) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

// reduce8 of a, b, c and d at once: (reduce8(a), reduce8(b), reduce8(c), reduce8(d)), the
// same adds of the same lanes in the same order (each lower lane the first operand), four
// vectors reduced by one transpose-like pass instead of four.
INLINE __m128 reduce8x4(__m256 a, __m256 b, __m256 c, __m256 d) {
    // halves: lanes 0-3 a_lo + a_hi, 4-7 b_lo + b_hi (q of reduce8)
    __m256 p =
        _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
    __m256 q =
        _mm256_add_ps(_mm256_permute2f128_ps(c, d, 0x20), _mm256_permute2f128_ps(c, d, 0x31));
    // q + movehl(q): per 128-bit lane (p0 + p2, p1 + p3, q0 + q2, q1 + q3)
    __m256 r = _mm256_add_ps(_mm256_shuffle_ps(p, q, 0x44), _mm256_shuffle_ps(p, q, 0xEE));
    // q0 + q1: per 128-bit lane (a, c, a, c) and (b, d, b, d)
    __m256 s = _mm256_add_ps(_mm256_shuffle_ps(r, r, 0x88), _mm256_shuffle_ps(r, r, 0xDD));
    return _mm_unpacklo_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

// ----------------------------------------------------------------------------
// matmul: a register tile of M rows (a compile-time constant after inlining) x NR columns,
// and the row-streaming kernel

// The tile's body is kernels_tile.h's, over these.
#define VF                __m256
#define VM                __m256i
#define VW                8
#define V_ZERO()          _mm256_setzero_ps()
#define V_LOAD(p)         _mm256_loadu_ps(p)
#define V_STORE(p, v)     _mm256_storeu_ps((p), (v))
#define V_LOADM(p, m)     _mm256_maskload_ps((p), (m))
#define V_STOREM(p, m, v) _mm256_maskstore_ps((p), (m), (v))
#define V_BCAST(p)        _mm256_broadcast_ss(p)
#define V_FMA(a, b, c)    _mm256_fmadd_ps((a), (b), (c))
#define V_ADD(a, b)       _mm256_add_ps((a), (b))
#define V_TAIL(n)         tail_mask(n)
#include "model/kernels_tile.h"

TARGET static void tile_avx2(float *c, size_t ldc, const float *a, size_t lda, const float *b,
                             size_t ldb, const float *bias, int add, int m, int n, int K) {
    tile_rows(c, ldc, a, lda, b, ldb, bias, add, m, n, K, NULL);
}

// tile_avx2 on a full strip (n = NR) that also copies b's rows into the panel pk.
TARGET static void tile_pack_avx2(float *c, size_t ldc, const float *a, size_t lda, const float *b,
                                  size_t ldb, const float *bias, int add, int m, int K, float *pk) {
    if (!pk) return;   // (never: lets the compiler drop tile_body's test of pk)
    tile_rows(c, ldc, a, lda, b, ldb, bias, add, m, NR, K, pk);
}

// 8 weights w[i..i+8) (the first cnt through mask m unless full): fp32 when DT is
// MM_F32, else 16-bit of LowpType DT widened in the register, exactly (bf16: a 16-bit
// shift; f16: vcvtph2ps, subnormals included).  AVX2 has no 16-bit masked load: a 16-bit
// tail is copied into a zeroed vector first.
INLINE __m256 wload(const void *w, size_t i, __m256i m, int cnt, const int full, const int DT) {
    if (DT != MM_F32) {
        const uint16_t *h = (const uint16_t *)w + i;
        __m128i u;
        if (full) u = _mm_loadu_si128((const __m128i *)h);
        else {
            uint16_t t[8] = {0};
            memcpy(t, h, (size_t)cnt * sizeof *h);
            u = _mm_loadu_si128((const __m128i *)t);
        }
        if (DT == LOWP_F16) return _mm256_cvtph_ps(u);
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(u), 16));
    }
    const float *f = (const float *)w + i;
    return full ? _mm256_loadu_ps(f) : _mm256_maskload_ps(f, m);
}

// Columns [j, j + 8) (the first cnt when not full) of one step: M sums from p, Q
// multiply-adds each, back to p.  Row k's weights start at element wk0 of w.
INLINE void rows_vec(float *p, size_t ldp, const __m256 bc[4][4], const void *w, size_t wk0,
                     size_t ldw, const int M, const int Q, int j, __m256i m, int cnt,
                     const int full, int first, int pf_rows, const int DT) {
    __m256 wq[4];
#pragma GCC unroll 4
    for (int q = 0; q < Q; q++) wq[q] = wload(w, wk0 + q * ldw + j, m, cnt, full, DT);
    if (pf_rows) {   // the same columns pf_rows rows further: the next step's (rows_group)
        const size_t size = DT != MM_F32 ? 2 : 4;
#pragma GCC unroll 4
        for (int q = 0; q < Q; q++)
            _mm_prefetch((const char *)w + (wk0 + (size_t)(pf_rows + q) * ldw + (size_t)j) * size,
                         _MM_HINT_T1);
    }
#pragma GCC unroll 4
    for (int r = 0; r < M; r++) {
        float *pr = p + r * ldp + j;
        __m256 s = first  ? _mm256_setzero_ps()
                   : full ? _mm256_loadu_ps(pr)
                          : _mm256_maskload_ps(pr, m);
#pragma GCC unroll 4
        for (int q = 0; q < Q; q++) s = _mm256_fmadd_ps(bc[r][q], wq[q], s);
        if (full) _mm256_storeu_ps(pr, s);
        else _mm256_maskstore_ps(pr, m, s);
    }
}

// M <= 4 rows of a, Q rows of w at once (Q = 4, or 1 for the last K % 4): for every 8
// columns, the M sums are loaded from p, take Q multiply-adds each (k ascending), and are
// stored back.  Full vectors load plainly, the tail through a mask.
INLINE void rows_step(float *p, size_t ldp, const float *a, size_t lda, const void *w, size_t ldw,
                      const int M, const int Q, int n, int head, int k, int first, int pf_rows,
                      const int DT) {
    __m256 bc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < M; r++)
#pragma GCC unroll 4
        for (int q = 0; q < Q; q++) bc[r][q] = _mm256_broadcast_ss(a + r * lda + k + q);
    size_t wk0 = (size_t)k * ldw;
    int j = 0;
    if (head)
        rows_vec(p, ldp, bc, w, wk0, ldw, M, Q, 0, tail_mask(head), head, 0, first, pf_rows, DT),
            j = head;
    if (pf_rows)   // two loops: the one without prefetches keeps no test inside
        for (; j + 8 <= n; j += 8)
            rows_vec(p, ldp, bc, w, wk0, ldw, M, Q, j, tail_mask(8), 8, 1, first, pf_rows, DT);
    else
        for (; j + 8 <= n; j += 8)
            rows_vec(p, ldp, bc, w, wk0, ldw, M, Q, j, tail_mask(8), 8, 1, first, 0, DT);
    if (j < n)
        rows_vec(p, ldp, bc, w, wk0, ldw, M, Q, j, tail_mask(n - j), n - j, 0, first, pf_rows, DT);
}

// Rows in groups of up to 4 (their 4 x 4 broadcasts); the groups of one step of Q rows of
// w run back to back, so w is read from memory once.  One group prefetches the next
// step's rows into L2 (rows_prefetch_ahead, kernels.h; into L1 f16 single rows took 22%
// less time; into L2 8 fp32 streams decode 18-26% faster than into L1, docs/bench.md).
INLINE void rows_group(float *p, size_t ldp, const float *a, size_t lda, const void *w, size_t ldw,
                       int m, const int Q, int n, int head, int k, int first, int next_ok,
                       const int DT) {
    for (int r0 = 0; r0 < m; r0 += 4) {
        float *pr = p + r0 * ldp;
        const float *ar = a + r0 * lda;
        int pf = rows_prefetch_ahead(m, r0, Q, next_ok);
        switch (m - r0 < 4 ? m - r0 : 4) {
        case 4: rows_step(pr, ldp, ar, lda, w, ldw, 4, Q, n, head, k, first, pf, DT); break;
        case 3: rows_step(pr, ldp, ar, lda, w, ldw, 3, Q, n, head, k, first, pf, DT); break;
        case 2: rows_step(pr, ldp, ar, lda, w, ldw, 2, Q, n, head, k, first, pf, DT); break;
        default: rows_step(pr, ldp, ar, lda, w, ldw, 1, Q, n, head, k, first, pf, DT); break;
        }
    }
}

// w holds fp32, or 16-bit weights unless DT is MM_F32 (a vector of 8 then 16 bytes).
INLINE void rows_body(float *p, size_t ldp, const float *a, size_t lda, const void *w, size_t ldw,
                      int m, int n, int K, int acc, const int DT) {
    // When all rows of w start at the same offset within a cache line, a first narrow
    // vector of columns makes the following loads aligned (per column, nothing changes).
    const size_t size = DT != MM_F32 ? 2 : 4, vec = 8 * size;
    size_t mis = (uintptr_t)w % vec;
    int head = mis % size == 0 && ldw * size % 64 == 0 && mis ? (int)((vec - mis) / size) % 8 : 0;
    if (head >= n) head = 0;
    int k = 0;
    for (; k + 4 <= K; k += 4)
        rows_group(p, ldp, a, lda, w, ldw, m, 4, n, head, k, !acc && k == 0, k + 8 <= K, DT);
    for (; k < K; k++) rows_group(p, ldp, a, lda, w, ldw, m, 1, n, head, k, !acc && k == 0, 0, DT);
}

TARGET static void rows_avx2(float *p, size_t ldp, const float *a, size_t lda, const float *w,
                             size_t ldw, int m, int n, int K, int acc) {
    rows_body(p, ldp, a, lda, w, ldw, m, n, K, acc, MM_F32);
}

TARGET static void rows_bf16_avx2(float *p, size_t ldp, const float *a, size_t lda,
                                  const uint16_t *w, size_t ldw, int m, int n, int K, int acc) {
    rows_body(p, ldp, a, lda, w, ldw, m, n, K, acc, LOWP_BF16);
}

TARGET static void rows_f16_avx2(float *p, size_t ldp, const float *a, size_t lda,
                                 const uint16_t *w, size_t ldw, int m, int n, int K, int acc) {
    rows_body(p, ldp, a, lda, w, ldw, m, n, K, acc, LOWP_F16);
}

TARGET static void sum_parts_avx2(float *out, const float *base, const float *parts, size_t stride,
                                  int n_parts, int n) {
    for (int j = 0; j < n; j += 8) {
        __m256i m = tail_mask(n - j);
        __m256 acc = base ? _mm256_maskload_ps(base + j, m) : _mm256_setzero_ps();
        for (int s = 0; s < n_parts; s++)
            acc = _mm256_add_ps(acc, _mm256_maskload_ps(parts + s * stride + j, m));
        _mm256_maskstore_ps(out + j, m, acc);
    }
}

// ----------------------------------------------------------------------------
// dot products: 8 partial sums (one ymm), masked tail, reduce8

TARGET static float dot_avx2(const float *a, const float *b, int n) {
    __m256 s = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8)
        s = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s);
    if (i < n) {
        __m256i m = tail_mask(n - i);
        s = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s);
    }
    return reduce8(s);
}

// M rows of in x N rows of e, each exactly dot_avx2.
// e fp32, or 16-bit unless DT is MM_F32 (widened in registers: the products of the
// widened e).
INLINE void dot_body(float *out, size_t ldo, const float *in, size_t ldi, const void *e, size_t lde,
                     const int M, const int N, int C, const char *pf, int pf_lines, const int DT) {
    __m256 s[DOT_ROWS][DOT_COLS];
    UNROLL(DOT_ROWS)
    for (int r = 0; r < M; r++) {
        UNROLL(DOT_COLS)
        for (int v = 0; v < N; v++) s[r][v] = _mm256_setzero_ps();
    }
    int i = 0;
    for (; i + 8 <= C; i += 8) {
        if (i % 16 == 0 && i / 16 < pf_lines) __builtin_prefetch(pf + (size_t)(i / 16) * 64, 0, 3);
        __m256 x[DOT_ROWS];
        UNROLL(DOT_ROWS)
        for (int r = 0; r < M; r++) x[r] = _mm256_loadu_ps(in + r * ldi + i);
        UNROLL(DOT_COLS)
        for (int v = 0; v < N; v++) {
            __m256 ev = wload(e, v * lde + i, tail_mask(8), 8, 1, DT);
            // ev in a register: GCC otherwise folds the load into each row's FMA (e read
            // once per row: 14 loads per 12 FMAs in a 2 x 6 tile, load-bound; unembedding
            // 49 -> 82 GFLOP/s a core on Zen 4).  The same FMAs either way.
            __asm__("" : "+x"(ev));
            UNROLL(DOT_ROWS)
            for (int r = 0; r < M; r++) s[r][v] = _mm256_fmadd_ps(x[r], ev, s[r][v]);
        }
    }
    if (i < C) {
        __m256i m = tail_mask(C - i);
        __m256 x[DOT_ROWS];
        UNROLL(DOT_ROWS)
        for (int r = 0; r < M; r++) x[r] = _mm256_maskload_ps(in + r * ldi + i, m);
        UNROLL(DOT_COLS)
        for (int v = 0; v < N; v++) {
            __m256 ev = wload(e, v * lde + i, m, C - i, 0, DT);
            UNROLL(DOT_ROWS)
            for (int r = 0; r < M; r++) s[r][v] = _mm256_fmadd_ps(x[r], ev, s[r][v]);
        }
    }
    UNROLL(DOT_ROWS)
    for (int r = 0; r < M; r++) {
        if (N == 4) {
            _mm_storeu_ps(out + r * ldo, reduce8x4(s[r][0], s[r][1], s[r][2], s[r][3]));
            continue;
        }
        UNROLL(DOT_COLS)
        for (int v = 0; v < N; v++) out[r * ldo + v] = reduce8(s[r][v]);
    }
}

INLINE void dot_tile_body(float *out, size_t ldo, const float *in, size_t ldi, const void *e,
                          size_t lde, int m, int n, int C, const char *pf, int pf_lines,
                          const int DT) {
    if (n == DOT_COLS) {
        switch (m) {
        case 3: dot_body(out, ldo, in, ldi, e, lde, 3, DOT_COLS, C, pf, pf_lines, DT); return;
        case 2: dot_body(out, ldo, in, ldi, e, lde, 2, DOT_COLS, C, pf, pf_lines, DT); return;
        case 1: dot_body(out, ldo, in, ldi, e, lde, 1, DOT_COLS, C, pf, pf_lines, DT); return;
        default: break;
        }
    }
    const size_t size = DT != MM_F32 ? 2 : 4;
    for (int v = 0; v < n; v++)
        for (int r = 0; r < m; r++)
            dot_body(out + r * ldo + v, ldo, in + r * ldi, ldi, (const char *)e + v * lde * size,
                     lde, 1, 1, C, pf, v == 0 && r == 0 ? pf_lines : 0, DT);
}

TARGET static void dot_tile_avx2(float *out, size_t ldo, const float *in, size_t ldi,
                                 const float *e, size_t lde, int m, int n, int C, const char *pf,
                                 int pf_lines) {
    dot_tile_body(out, ldo, in, ldi, e, lde, m, n, C, pf, pf_lines, MM_F32);
}

TARGET static void dot_tile_bf16_avx2(float *out, size_t ldo, const float *in, size_t ldi,
                                      const uint16_t *e, size_t lde, int m, int n, int C,
                                      const char *pf, int pf_lines) {
    dot_tile_body(out, ldo, in, ldi, e, lde, m, n, C, pf, pf_lines, LOWP_BF16);
}

TARGET static void dot_tile_f16_avx2(float *out, size_t ldo, const float *in, size_t ldi,
                                     const uint16_t *e, size_t lde, int m, int n, int C,
                                     const char *pf, int pf_lines) {
    dot_tile_body(out, ldo, in, ldi, e, lde, m, n, C, pf, pf_lines, LOWP_F16);
}

TARGET static void axpy_avx2(float *y, float alpha, const float *x, int n) {
    __m256 al = _mm256_set1_ps(alpha);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(al, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    if (i < n) {
        __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(
            y + i, m,
            _mm256_fmadd_ps(al, _mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m)));
    }
}

// ----------------------------------------------------------------------------
// exp, GELU

// exp(x) for x in [-87.3, 88.3] (clamped), Cephes-style: x = n ln2 + r, a degree-7
// polynomial in r, times 2^n built in the exponent bits (n in [-126, 127]).
INLINE __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// gelu(x) = 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3).
INLINE __m256 gelu8(__m256 x) {
    __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    __m256 u = _mm256_mul_ps(_mm256_set1_ps(GELU_SCALING_FACTOR),
                             _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x));
    __m256 e = exp8(_mm256_mul_ps(u, _mm256_set1_ps(-2.0f)));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

TARGET static void gelu_avx2(float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, gelu8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float buf[8] = {0};
        memcpy(buf, x + i, (n - i) * sizeof *x);
        _mm256_storeu_ps(buf, gelu8(_mm256_loadu_ps(buf)));
        memcpy(x + i, buf, (n - i) * sizeof *x);
    }
}

// ----------------------------------------------------------------------------
// LayerNorm: statistics in double, 8 floats (two vectors of 4 doubles) at a time; the
// tail goes through a zero-padded copy

INLINE double reduce4d(__m256d s) {
    __m128d q = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
}

TARGET static void layernorm_avx2(float *out, const float *x, const float *w, const float *b, int C,
                                  float eps) {
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    for (int i = 0; i < C; i += 8) {
        __m256 v = _mm256_maskload_ps(x + i, tail_mask(C - i));
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double mean = reduce4d(_mm256_add_pd(s0, s1)) / C;
    __m256d mv = _mm256_set1_pd(mean);
    s0 = _mm256_setzero_pd(), s1 = s0;
    for (int i = 0; i < C; i += 8) {
        __m256i m = tail_mask(C - i);
        __m256 v = _mm256_maskload_ps(x + i, m);
        __m256d k0 = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(m)));
        __m256d k1 = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1)));
        __m256d d0 =
            _mm256_and_pd(k0, _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), mv));
        __m256d d1 =
            _mm256_and_pd(k1, _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), mv));
        s0 = _mm256_fmadd_pd(d0, d0, s0);
        s1 = _mm256_fmadd_pd(d1, d1, s1);
    }
    double var = reduce4d(_mm256_add_pd(s0, s1)) / C;
    __m256 mf = _mm256_set1_ps((float)mean),
           rstd = _mm256_set1_ps((float)(1.0 / sqrt(var + (double)eps)));
    for (int i = 0; i < C; i += 8) {
        __m256i m = tail_mask(C - i);
        __m256 y =
            _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), mf), rstd),
                          _mm256_maskload_ps(w + i, m));
        _mm256_maskstore_ps(out + i, m, _mm256_add_ps(y, _mm256_maskload_ps(b + i, m)));
    }
}

// ----------------------------------------------------------------------------
// attention: scores, max, exp and sum 8 keys at a time, then the weighted sum of values
// in blocks of 32 dimensions

TARGET static void attn_head_avx2(float *out, const float *q, const float *k, const float *v,
                                  size_t stride, int n_keys, int hs, float scale, float *att) {
    float max = -INFINITY;
    for (int j = 0; j < n_keys; j++) {
        float s = dot_avx2(q, k + (size_t)j * stride, hs) * scale;
        att[j] = s;
        if (s > max) max = s;
    }
    __m256 vmax = _mm256_set1_ps(max), sum = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= n_keys; j += 8) {
        __m256 p = exp8(_mm256_sub_ps(_mm256_loadu_ps(att + j), vmax));
        _mm256_storeu_ps(att + j, p);
        sum = _mm256_add_ps(sum, p);
    }
    if (j < n_keys) {
        __m256i m = tail_mask(n_keys - j);
        __m256 p = _mm256_and_ps(_mm256_castsi256_ps(m),
                                 exp8(_mm256_sub_ps(_mm256_maskload_ps(att + j, m), vmax)));
        _mm256_maskstore_ps(att + j, m, p);
        sum = _mm256_add_ps(sum, p);
    }
    __m256 inv = _mm256_set1_ps(1.0f / reduce8(sum));
    for (int d0 = 0; d0 < hs; d0 += 32) {
        __m256i m[4];
        for (int b = 0; b < 4; b++) m[b] = tail_mask(hs - d0 - 8 * b);
        __m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
        const float *vj = v + d0;
        for (j = 0; j < n_keys; j++, vj += stride) {
            __m256 a = _mm256_broadcast_ss(att + j);
            o0 = _mm256_fmadd_ps(a, _mm256_maskload_ps(vj, m[0]), o0);
            o1 = _mm256_fmadd_ps(a, _mm256_maskload_ps(vj + 8, m[1]), o1);
            o2 = _mm256_fmadd_ps(a, _mm256_maskload_ps(vj + 16, m[2]), o2);
            o3 = _mm256_fmadd_ps(a, _mm256_maskload_ps(vj + 24, m[3]), o3);
        }
        _mm256_maskstore_ps(out + d0, m[0], _mm256_mul_ps(o0, inv));
        _mm256_maskstore_ps(out + d0 + 8, m[1], _mm256_mul_ps(o1, inv));
        _mm256_maskstore_ps(out + d0 + 16, m[2], _mm256_mul_ps(o2, inv));
        _mm256_maskstore_ps(out + d0 + 24, m[3], _mm256_mul_ps(o3, inv));
    }
}

// Row by row (this path has no multi-row attention kernel).
TARGET static void attn_rows_avx2(float *out, size_t ldo, const float *q, size_t ldq, int n_rows,
                                  const float *k, const float *v, size_t stride, int n_keys0,
                                  int hs, float scale, float *att, size_t lda) {
    (void)lda;
    for (int i = 0; i < n_rows; i++)
        attn_head_avx2(out + i * ldo, q + i * ldq, k, v, stride, n_keys0 + i, hs, scale, att);
}

// ----------------------------------------------------------------------------
// bf16 -> fp32: 8 at a time (zero-extend to 32 bits, shift left 16), then the tail

TARGET static void widen_bf16_avx2(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(u, 16)));
    }
    for (; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(dst + i, &u, sizeof u);
    }
}

// f16 -> fp32: 8 at a time (vcvtph2ps: exact, subnormals included), the tail through a
// zeroed vector
TARGET static void widen_f16_avx2(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    if (i < n) {
        uint16_t t[8] = {0};
        float f[8];
        memcpy(t, src + i, (n - i) * sizeof *t);
        _mm256_storeu_ps(f, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)t)));
        memcpy(dst + i, f, (n - i) * sizeof *f);
    }
}

const MmKernels mm_kernels_avx2 = {
    "avx2",
    MR,
    NR,
    DOT_ROWS,
    DOT_COLS,
    3,   // dot_spread: up to 9 rows (1-3 rows 1.8x, 8 rows 1.25x; 12 rows no gain)
    1,   // dot_spread16: up to 3 rows (bf16 1-3 rows 2.5x; 4-9 rows 5-10 % slower spread)
    5,   // dot_stage: from 13 rows (39-400 rows ~1.15x; at 8 rows the copy costs more)
    0,   // dot_lin: never
    8,
    tile_avx2,
    rows_avx2,
    sum_parts_avx2,
    dot_tile_avx2,
    dot_avx2,
    axpy_avx2,
    gelu_avx2,
    layernorm_avx2,
    attn_head_avx2,
    attn_rows_avx2,
    1,
    {widen_bf16_avx2, widen_f16_avx2},
    {rows_bf16_avx2, rows_f16_avx2},
    {dot_tile_bf16_avx2, dot_tile_f16_avx2},
    2,   // pack_min_tiles: panels from 2 row tiles a task, packed by the first (tile_pack):
         // 36 rows, w from memory, one thread: 60 (8, copied) -> 84 GFLOP/s (docs/bench.md)
    tile_pack_avx2,
};

#else   // not x86-64: the path does not exist (matmul.c sees tile == NULL)
const MmKernels mm_kernels_avx2 = {.name = "avx2"};
#endif
