// kernels_avx512: the AVX-512 path (zmm registers, fused multiply-add, masked tails).
// Every function carries the target attribute, so this file builds with the project's
// plain flags; matmul.c calls it only when the CPU has AVX-512F/VL/BW/DQ.  See kernels.h.
#include "model/kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#define TARGET __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#define INLINE static inline __attribute__((always_inline)) TARGET

#define MR                  8   // tile rows
#define NV                  3   // tile vectors per row (NR = 48 columns)
#define NR                  (16 * NV)
#define RQ                  8   // rows of w per step of the rows kernel (8 memory streams)
#define DOT_ROWS            4
#define DOT_COLS            6
#define GELU_SCALING_FACTOR 0.7978845608028654f

INLINE __mmask16 tail_mask(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n > 0 ? n : 0)) - 1u);
}

// The fixed reduction tree: 16 -> 8 -> 4 -> 2 -> 1 lanes, adding halves.
INLINE float reduce16(__m512 s) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

// reduce16 of a, b, c and d at once: (reduce16(a), ..., reduce16(d)), the same adds of
// the same lanes in the same order (each lower lane the first operand).
INLINE __m128 reduce16x4(__m512 a, __m512 b, __m512 c, __m512 d) {
    // 16 -> 8 lanes: lanes 0-7 a_lo + a_hi, 8-15 b_lo + b_hi (h of reduce16), c and d alike
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
    // 8 -> 4: 128-bit lanes (a, b, c, d), each the low half of h plus its high half
    __m512 p =
        _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
    // 4 -> 2 within each 128-bit lane: (q0 + q2, q1 + q3, ...)
    __m512 r = _mm512_add_ps(p, _mm512_shuffle_ps(p, p, 0xEE));
    // 2 -> 1: q0 + q1 in lane 0 of each 128-bit lane
    __m512 s = _mm512_add_ps(r, _mm512_shuffle_ps(r, r, 0x55));
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(
        _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), s));
}

// Lane u of the result = the sum of the 16 lanes of v[u], by a fixed tree per vector (the
// other vectors do not enter it): pairs within 128-bit lanes, then across them.
INLINE __m512 sums16(const __m512 v[16]) {
    __m512 r[8], t[4], w[2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        r[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                             _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        t[i] = _mm512_add_ps(_mm512_shuffle_ps(r[2 * i], r[2 * i + 1], 0x44),
                             _mm512_shuffle_ps(r[2 * i], r[2 * i + 1], 0xEE));
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++)
        w[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(w[0], w[1], 0x88),
                         _mm512_shuffle_f32x4(w[0], w[1], 0xDD));
}

// ----------------------------------------------------------------------------
// matmul: a register tile of M rows (a compile-time constant after inlining) x NR columns,
// and the row-streaming kernel

// The tile's body is kernels_tile.h's, over these.
#define VF                __m512
#define VM                __mmask16
#define VW                16
#define V_ZERO()          _mm512_setzero_ps()
#define V_LOAD(p)         _mm512_loadu_ps(p)
#define V_STORE(p, v)     _mm512_storeu_ps((p), (v))
#define V_LOADM(p, m)     _mm512_maskz_loadu_ps((m), (p))
#define V_STOREM(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define V_BCAST(p)        _mm512_set1_ps(*(p))
#define V_FMA(a, b, c)    _mm512_fmadd_ps((a), (b), (c))
#define V_ADD(a, b)       _mm512_add_ps((a), (b))
#define V_TAIL(n)         tail_mask(n)
#include "model/kernels_tile.h"

TARGET static void tile_avx512(float *c, size_t ldc, const float *a, size_t lda, const float *b,
                               size_t ldb, const float *bias, int add, int m, int n, int K) {
    tile_rows(c, ldc, a, lda, b, ldb, bias, add, m, n, K, NULL);
}

// 16 weights w[i..i+16) (through mask m unless full): fp32 when DT is MM_F32, else
// 16-bit of LowpType DT widened in the register, exactly (bf16: a 16-bit shift; f16:
// vcvtph2ps, subnormals included), so the sums are those of the fp32 weights.
INLINE __m512 wload(const void *w, ptrdiff_t i, __mmask16 m, const int full, const int DT) {
    if (DT != MM_F32) {
        const uint16_t *h = (const uint16_t *)w + i;
        __m256i u = full ? _mm256_loadu_si256((const __m256i *)h) : _mm256_maskz_loadu_epi16(m, h);
        if (DT == LOWP_F16) return _mm512_cvtph_ps(u);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(u), 16));
    }
    const float *f = (const float *)w + i;
    return full ? _mm512_loadu_ps(f) : _mm512_maskz_loadu_ps(m, f);
}

// Columns [j, j + 16) of one step: M sums from p, Q multiply-adds each, back to p.  wk:
// element wk0 of w is row k's first.
INLINE void rows_vec(float *p, size_t ldp, const __m512 bc[4][RQ], const void *w, size_t wk0,
                     size_t ldw, const int M, const int Q, int j, __mmask16 m, const int full,
                     int first, int pf_rows, const int DT) {
    __m512 wq[RQ];
#pragma GCC unroll 8
    for (int q = 0; q < Q; q++) wq[q] = wload(w, (ptrdiff_t)(wk0 + q * ldw + j), m, full, DT);
    if (pf_rows) {   // the same columns pf_rows rows further: the next step's (rows_group)
        const size_t size = DT != MM_F32 ? 2 : 4;
#pragma GCC unroll 8
        for (int q = 0; q < Q; q++)
            _mm_prefetch((const char *)w + (wk0 + (size_t)(pf_rows + q) * ldw + (size_t)j) * size,
                         _MM_HINT_T1);
    }
#pragma GCC unroll 4
    for (int r = 0; r < M; r++) {
        float *pr = p + r * ldp + j;
        __m512 s = first  ? _mm512_setzero_ps()
                   : full ? _mm512_loadu_ps(pr)
                          : _mm512_maskz_loadu_ps(m, pr);
#pragma GCC unroll 8
        for (int q = 0; q < Q; q++) s = _mm512_fmadd_ps(bc[r][q], wq[q], s);
        if (full) _mm512_storeu_ps(pr, s);
        else _mm512_mask_storeu_ps(pr, m, s);
    }
}

// M <= 4 rows of a, Q rows of w at once (Q = RQ, or 1 for the last K % RQ): for every
// 16 columns, the M sums are loaded from p, take Q multiply-adds each (k ascending), and
// are stored back.  Full vectors load plainly (masked loads measured slower), the tail
// through a mask.
INLINE void rows_step(float *p, size_t ldp, const float *a, size_t lda, const void *w, size_t ldw,
                      const int M, const int Q, int n, int head, int k, int first, int pf_rows,
                      const int DT) {
    __m512 bc[4][RQ];
#pragma GCC unroll 4
    for (int r = 0; r < M; r++)
#pragma GCC unroll 8
        for (int q = 0; q < Q; q++) bc[r][q] = _mm512_set1_ps(a[r * lda + k + q]);
    size_t wk0 = (size_t)k * ldw;
    int j = 0;
    if (head)
        rows_vec(p, ldp, bc, w, wk0, ldw, M, Q, 0, tail_mask(head), 0, first, pf_rows, DT),
            j = head;
    if (pf_rows)   // two loops: the one without prefetches keeps no test inside
        for (; j + 16 <= n; j += 16)
            rows_vec(p, ldp, bc, w, wk0, ldw, M, Q, j, 0xFFFF, 1, first, pf_rows, DT);
    else
        for (; j + 16 <= n; j += 16)
            rows_vec(p, ldp, bc, w, wk0, ldw, M, Q, j, 0xFFFF, 1, first, 0, DT);
    if (j < n) rows_vec(p, ldp, bc, w, wk0, ldw, M, Q, j, tail_mask(n - j), 0, first, pf_rows, DT);
}

// Rows in groups of up to 4 (a group's 4 x RQ broadcasts partly spill to L1); the groups
// of one step of Q rows of w run back to back, so w is read from memory once.
// One group prefetches the next step's rows into L2 (rows_prefetch_ahead, kernels.h):
// without it fetching and computing did not overlap (8 rows took the time of one plus
// the arithmetic).  Into L1 it gave 3-12% less time for 2 to 15 rows, one row of 16-bit
// weights ~10%, one row of fp32 nothing; into L2, 8 streams decode 10-11% and a single
// stream ~5% faster than that (Zen 4, 2026-12-05, docs/bench.md).
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

// w holds fp32, or 16-bit weights unless DT is MM_F32 (each vector of 16 then 32 bytes).
INLINE void rows_body(float *p, size_t ldp, const float *a, size_t lda, const void *w, size_t ldw,
                      int m, int n, int K, int acc, const int DT) {
    // When all rows of w start at the same offset within a vector, a first narrow vector
    // of columns makes the following loads aligned (per column, nothing changes).
    const size_t size = DT != MM_F32 ? 2 : 4, vec = 16 * size;
    size_t mis = (uintptr_t)w % vec;
    int head = mis % size == 0 && ldw * size % vec == 0 && mis ? (int)((vec - mis) / size) % 16 : 0;
    if (head >= n) head = 0;
    int k = 0;
    for (; k + RQ <= K; k += RQ)
        rows_group(p, ldp, a, lda, w, ldw, m, RQ, n, head, k, !acc && k == 0, k + 2 * RQ <= K, DT);
    for (; k < K; k++) rows_group(p, ldp, a, lda, w, ldw, m, 1, n, head, k, !acc && k == 0, 0, DT);
}

TARGET static void rows_avx512(float *p, size_t ldp, const float *a, size_t lda, const float *w,
                               size_t ldw, int m, int n, int K, int acc) {
    rows_body(p, ldp, a, lda, w, ldw, m, n, K, acc, MM_F32);
}

TARGET static void rows_bf16_avx512(float *p, size_t ldp, const float *a, size_t lda,
                                    const uint16_t *w, size_t ldw, int m, int n, int K, int acc) {
    rows_body(p, ldp, a, lda, w, ldw, m, n, K, acc, LOWP_BF16);
}

TARGET static void rows_f16_avx512(float *p, size_t ldp, const float *a, size_t lda,
                                   const uint16_t *w, size_t ldw, int m, int n, int K, int acc) {
    rows_body(p, ldp, a, lda, w, ldw, m, n, K, acc, LOWP_F16);
}

TARGET static void sum_parts_avx512(float *out, const float *base, const float *parts,
                                    size_t stride, int n_parts, int n) {
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = tail_mask(n - j);
        __m512 acc = base ? _mm512_maskz_loadu_ps(m, base + j) : _mm512_setzero_ps();
        for (int s = 0; s < n_parts; s++)
            acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, parts + s * stride + j));
        _mm512_mask_storeu_ps(out + j, m, acc);
    }
}

// ----------------------------------------------------------------------------
// dot products: 16 partial sums (one zmm), masked tail, reduce16

TARGET static float dot_avx512(const float *a, const float *b, int n) {
    __m512 s = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16)
        s = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s);
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s);
    }
    return reduce16(s);
}

// M rows of in x N rows of e, each exactly dot_avx512.  When e's rows and the rows of
// `in` start `off` floats past a 64-byte line (a mmapped checkpoint puts e's at 16 mod 64;
// matmul.c copies `in` there for a tile's first row block), the loads start at the line
// boundary instead, so that none is split over two lines: lane l then holds the products
// of class (l - off) mod 16 instead of l, the first vector masks the positions before 0
// and the last one those past C rounded up to 16 (zeros up to there, as the tail of
// dot_avx512 adds them), and the sums are reduced as if rotated back (dot_reduce_tile).
// Every class thus takes the same fused multiply-adds in the same order as in dot_avx512.
// The extra masked step is one in 49 at C = 768: where e's rows are in L1 (the later row
// blocks), matmul.c passes `in` at offset 0 and the tile loads e's rows as they lie.
// Unless DT is MM_F32, e holds 16-bit weights (widened in registers, off 0): the
// products of the widened e.
INLINE void dot_step(__m512 s[DOT_ROWS][DOT_COLS], const float *in, size_t ldi, const void *e,
                     size_t lde, const int M, const int N, int i, __mmask16 load, __mmask16 add,
                     const int full, const int DT) {
    __m512 x[DOT_ROWS];
#pragma GCC unroll 4
    for (int r = 0; r < M; r++)
        x[r] = full ? _mm512_loadu_ps(in + r * ldi + i)
                    : _mm512_maskz_loadu_ps(load, in + r * ldi + i);
#pragma GCC unroll 6
    for (int v = 0; v < N; v++) {
        __m512 ev = wload(e, (ptrdiff_t)(v * lde) + i, load, full, DT);
#pragma GCC unroll 4
        for (int r = 0; r < M; r++)
            s[r][v] = full ? _mm512_fmadd_ps(x[r], ev, s[r][v])
                           : _mm512_mask3_fmadd_ps(x[r], ev, s[r][v], add);
    }
}

// The tile's joint reduction: reduce16 of every accumulator at once, by the same adds of
// the same lanes in the same order as reduce16 (each lower lane the first operand), the
// 24 sums left in two vectors instead of one reduction (or a quarter of one) each.  When
// the accumulators hold their lanes rotated by b 128-bit blocks (lane l of dot_avx512 in
// lane l + 4 b mod 16: e's rows at off = 4 b floats past a line), the first step picks
// the blocks of the unrotated lanes (t below) instead of rotating each vector back: the
// same adds of the same values.
// 16 -> 8 lanes of a and c: lanes 0-7 t(a)_l + t(a)_l+8 (h of reduce16), 8-15 those of c.
INLINE __m512 red_half2(__m512 a, __m512 c, const int b) {
    switch (b) {   // blocks (b, b + 1) + (b + 2, b + 3) mod 4 of each
    case 1:
        return _mm512_add_ps(_mm512_shuffle_f32x4(a, c, 0x99), _mm512_shuffle_f32x4(a, c, 0x33));
    case 2:
        return _mm512_add_ps(_mm512_shuffle_f32x4(a, c, 0xEE), _mm512_shuffle_f32x4(a, c, 0x44));
    case 3:
        return _mm512_add_ps(_mm512_shuffle_f32x4(a, c, 0x33), _mm512_shuffle_f32x4(a, c, 0x99));
    default:
        return _mm512_add_ps(_mm512_shuffle_f32x4(a, c, 0x44), _mm512_shuffle_f32x4(a, c, 0xEE));
    }
}

// 8 -> 4 of the four vectors in h and g (two each): 128-bit block j the 4 sums of the
// j-th, each the low half of its 8 plus the high half.
INLINE __m512 red_quarter4(__m512 h, __m512 g) {
    return _mm512_add_ps(_mm512_shuffle_f32x4(h, g, 0x88), _mm512_shuffle_f32x4(h, g, 0xDD));
}

// 4 -> 2 of the eight vectors in p and q (block j: p's j-th, then q's j-th): per block
// (p0 + p2, p1 + p3, q0 + q2, q1 + q3).
INLINE __m512 red_pair8(__m512 p, __m512 q) {
    return _mm512_add_ps(_mm512_shuffle_ps(p, q, 0x44), _mm512_shuffle_ps(p, q, 0xEE));
}

// 2 -> 1: per block (r0 + r1, r2 + r3, u0 + u1, u2 + u3).
INLINE __m512 red_one16(__m512 r, __m512 u) {
    return _mm512_add_ps(_mm512_shuffle_ps(r, u, 0x88), _mm512_shuffle_ps(r, u, 0xDD));
}

// out[r * ldo + v] = reduce16(t(s[r][v])) for r < M, v < DOT_COLS (rows M.. of s
// ignored: zeros).
INLINE void dot_reduce_tile(float *out, size_t ldo, __m512 s[DOT_ROWS][DOT_COLS], const int M,
                            const int b) {
    // columns 0-3: vector 4 v + r = s[r][v] ends in lane 4 r + v (block r: row r)
    __m512 h[8], p[4];
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++) {
        h[2 * v] = red_half2(s[0][v], s[1][v], b);
        h[2 * v + 1] = red_half2(s[2][v], s[3][v], b);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) p[i] = red_quarter4(h[2 * i], h[2 * i + 1]);
    __m512 a = red_one16(red_pair8(p[0], p[1]), red_pair8(p[2], p[3]));
    // columns 4-5: w_r = s[r][4], w_4+r = s[r][5]; block r ends (w_r, w_4+r, again)
    __m512 g[4];
#pragma GCC unroll 2
    for (int v = 0; v < 2; v++) {
        g[2 * v] = red_half2(s[0][4 + v], s[1][4 + v], b);
        g[2 * v + 1] = red_half2(s[2][4 + v], s[3][4 + v], b);
    }
    __m512 w = red_pair8(red_quarter4(g[0], g[1]), red_quarter4(g[2], g[3]));
    w = red_one16(w, w);
    _mm_storeu_ps(out, _mm512_castps512_ps128(a));
    _mm_storel_pi((__m64 *)(void *)(out + 4), _mm512_castps512_ps128(w));
    if (M > 1) {
        _mm_storeu_ps(out + ldo, _mm512_extractf32x4_ps(a, 1));
        _mm_storel_pi((__m64 *)(void *)(out + ldo + 4), _mm512_extractf32x4_ps(w, 1));
    }
    if (M > 2) {
        _mm_storeu_ps(out + 2 * ldo, _mm512_extractf32x4_ps(a, 2));
        _mm_storel_pi((__m64 *)(void *)(out + 2 * ldo + 4), _mm512_extractf32x4_ps(w, 2));
    }
    if (M > 3) {
        _mm_storeu_ps(out + 3 * ldo, _mm512_extractf32x4_ps(a, 3));
        _mm_storel_pi((__m64 *)(void *)(out + 3 * ldo + 4), _mm512_extractf32x4_ps(w, 3));
    }
}

INLINE void dot_body(float *out, size_t ldo, const float *in, size_t ldi, const void *e, size_t lde,
                     const int M, const int N, int C, int off, const char *pf, int pf_lines,
                     const int DT) {
    __m512 s[DOT_ROWS][DOT_COLS];
#pragma GCC unroll 4
    for (int r = 0; r < M; r++)
#pragma GCC unroll 6
        for (int v = 0; v < N; v++) s[r][v] = _mm512_setzero_ps();
    int i = 0, padded = (C + 15) / 16 * 16;
    if (off) {   // positions -off .. 15 - off, from bases `off` elements before the rows
        // (integer arithmetic: a pointer before an array's start is undefined in C)
        __mmask16 add = (__mmask16)(0xFFFFu << off);
        const float *in0 = (const float *)(uintptr_t)((uintptr_t)in - (size_t)off * sizeof(float));
        const void *e0 =
            (const void *)(uintptr_t)((uintptr_t)e -
                                      (size_t)off * (DT != MM_F32 ? 2 : sizeof(float)));
        dot_step(s, in0, ldi, e0, lde, M, N, 0, add & tail_mask(C + off), add, 0, DT);
        i = 16 - off;
    }
    for (int line = 0; i + 16 <= C; i += 16, line++) {
        if (line < pf_lines) __builtin_prefetch(pf + (size_t)line * 64, 0, 3);
        dot_step(s, in, ldi, e, lde, M, N, i, 0xFFFF, 0xFFFF, 1, DT);
    }
    if (i < padded)
        dot_step(s, in, ldi, e, lde, M, N, i, tail_mask(C - i), tail_mask(padded - i), 0, DT);
    __m512i back = _mm512_and_si512(
        _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                         _mm512_set1_epi32(off)),
        _mm512_set1_epi32(15));
    if (N == DOT_COLS) {
#pragma GCC unroll 4
        for (int r = M; r < DOT_ROWS; r++)
#pragma GCC unroll 6
            for (int v = 0; v < N; v++) s[r][v] = _mm512_setzero_ps();
        if (off % 4) {   // not whole blocks: rotated back first
#pragma GCC unroll 4
            for (int r = 0; r < M; r++)
#pragma GCC unroll 6
                for (int v = 0; v < N; v++) s[r][v] = _mm512_permutexvar_ps(back, s[r][v]);
            dot_reduce_tile(out, ldo, s, M, 0);
            return;
        }
        switch (off / 4) {
        case 1: dot_reduce_tile(out, ldo, s, M, 1); return;
        case 2: dot_reduce_tile(out, ldo, s, M, 2); return;
        case 3: dot_reduce_tile(out, ldo, s, M, 3); return;
        default: dot_reduce_tile(out, ldo, s, M, 0); return;
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < M; r++) {
        __m512 t[DOT_COLS];
#pragma GCC unroll 6
        for (int v = 0; v < N; v++) t[v] = off ? _mm512_permutexvar_ps(back, s[r][v]) : s[r][v];
        if (N >= 4) _mm_storeu_ps(out + r * ldo, reduce16x4(t[0], t[1], t[2], t[3]));
#pragma GCC unroll 6
        for (int v = N >= 4 ? 4 : 0; v < N; v++) out[r * ldo + v] = reduce16(t[v]);
    }
}

INLINE void dot_tile_body(float *out, size_t ldo, const float *in, size_t ldi, const void *e,
                          size_t lde, int m, int n, int C, int off, const char *pf, int pf_lines,
                          const int DT) {
    if (n == DOT_COLS) {
        switch (m) {
        case 4: dot_body(out, ldo, in, ldi, e, lde, 4, DOT_COLS, C, off, pf, pf_lines, DT); return;
        case 3: dot_body(out, ldo, in, ldi, e, lde, 3, DOT_COLS, C, off, pf, pf_lines, DT); return;
        case 2: dot_body(out, ldo, in, ldi, e, lde, 2, DOT_COLS, C, off, pf, pf_lines, DT); return;
        case 1: dot_body(out, ldo, in, ldi, e, lde, 1, DOT_COLS, C, off, pf, pf_lines, DT); return;
        default: break;
        }
    }
    const size_t size = DT != MM_F32 ? 2 : 4;
    for (int v = 0; v < n; v++)
        for (int r = 0; r < m; r++)
            dot_body(out + r * ldo + v, ldo, in + r * ldi, ldi, (const char *)e + v * lde * size,
                     lde, 1, 1, C, off, pf, v == 0 && r == 0 ? pf_lines : 0, DT);
}

TARGET static void dot_tile_avx512(float *out, size_t ldo, const float *in, size_t ldi,
                                   const float *e, size_t lde, int m, int n, int C, const char *pf,
                                   int pf_lines) {
    size_t mis = (uintptr_t)e % 64;
    int off = mis % sizeof(float) == 0 && lde * sizeof(float) % 64 == 0 && (uintptr_t)in % 64 == mis
                  ? (int)(mis / sizeof(float))
                  : 0;
    dot_tile_body(out, ldo, in, ldi, e, lde, m, n, C, off, pf, pf_lines, MM_F32);
}

// 16-bit e: loads from e's own offset (off 0; a vector is half a line, split only when a
// row starts off a 32-byte boundary).
TARGET static void dot_tile_bf16_avx512(float *out, size_t ldo, const float *in, size_t ldi,
                                        const uint16_t *e, size_t lde, int m, int n, int C,
                                        const char *pf, int pf_lines) {
    dot_tile_body(out, ldo, in, ldi, e, lde, m, n, C, 0, pf, pf_lines, LOWP_BF16);
}

TARGET static void dot_tile_f16_avx512(float *out, size_t ldo, const float *in, size_t ldi,
                                       const uint16_t *e, size_t lde, int m, int n, int C,
                                       const char *pf, int pf_lines) {
    dot_tile_body(out, ldo, in, ldi, e, lde, m, n, C, 0, pf, pf_lines, LOWP_F16);
}

TARGET static void axpy_avx512(float *y, float alpha, const float *x, int n) {
    __m512 al = _mm512_set1_ps(alpha);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i,
                         _mm512_fmadd_ps(al, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(
            y + i, m,
            _mm512_fmadd_ps(al, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

// ----------------------------------------------------------------------------
// exp, GELU

// exp(x) for x in [-87.3, 88.3] (clamped), Cephes-style: x = n ln2 + r, a degree-7
// polynomial in r, scaled by 2^n.  About 1 ulp.
INLINE __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

// gelu(x) = 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3).
INLINE __m512 gelu16(__m512 x) {
    __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
    __m512 u = _mm512_mul_ps(_mm512_set1_ps(GELU_SCALING_FACTOR),
                             _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), x3, x));
    __m512 e = exp16(_mm512_mul_ps(u, _mm512_set1_ps(-2.0f)));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

TARGET static void gelu_avx512(float *x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, gelu16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = tail_mask((int)(n - i));
        _mm512_mask_storeu_ps(x + i, m, gelu16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

// ----------------------------------------------------------------------------
// LayerNorm: statistics in double, 16 floats (two vectors of 8 doubles) at a time

INLINE double reduce8d(__m512d s) {
    __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(s), _mm512_extractf64x4_pd(s, 1));
    __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
}

TARGET static void layernorm_avx512(float *out, const float *x, const float *w, const float *b,
                                    int C, float eps) {
    __m512d s0 = _mm512_setzero_pd(), s1 = s0;
    for (int i = 0; i < C; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(tail_mask(C - i), x + i);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
    }
    double mean = reduce8d(_mm512_add_pd(s0, s1)) / C;
    __m512d mv = _mm512_set1_pd(mean);
    s0 = _mm512_setzero_pd(), s1 = s0;
    for (int i = 0; i < C; i += 16) {
        __mmask16 m = tail_mask(C - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512d d0 =
            _mm512_maskz_sub_pd((__mmask8)m, _mm512_cvtps_pd(_mm512_castps512_ps256(v)), mv);
        __m512d d1 = _mm512_maskz_sub_pd((__mmask8)(m >> 8),
                                         _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)), mv);
        s0 = _mm512_fmadd_pd(d0, d0, s0);
        s1 = _mm512_fmadd_pd(d1, d1, s1);
    }
    double var = reduce8d(_mm512_add_pd(s0, s1)) / C;
    __m512 mf = _mm512_set1_ps((float)mean),
           rstd = _mm512_set1_ps((float)(1.0 / sqrt(var + (double)eps)));
    for (int i = 0; i < C; i += 16) {
        __mmask16 m = tail_mask(C - i);
        __m512 y =
            _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mf), rstd),
                          _mm512_maskz_loadu_ps(m, w + i));
        _mm512_mask_storeu_ps(out + i, m, _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, b + i)));
    }
}

// ----------------------------------------------------------------------------
// attention: per row, scores (16 keys at a time for head size 64), max, exp and sum into
// att; then the weighted sum of values for up to ATT_ROWS rows together (each value row
// is loaded once for all of them), one accumulation chain per row and dimension, keys
// ascending.  A row gets the same bits alone or in a block.

#define ATT_ROWS 4

// att[0..n_keys) = exp(scale q·k_j - max); returns 1 / their sum.
INLINE float attn_probs(float *att, const float *q, const float *k, size_t stride, int n_keys,
                        int hs, float scale) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    int j = 0;
    if (hs == 64) {   // GPT-2's head size: q in registers, 16 keys at a time
        __m512 q0 = _mm512_loadu_ps(q), q1 = _mm512_loadu_ps(q + 16), q2 = _mm512_loadu_ps(q + 32),
               q3 = _mm512_loadu_ps(q + 48), vs = _mm512_set1_ps(scale);
        for (; j < n_keys; j += 16) {
            int nk = n_keys - j < 16 ? n_keys - j : 16;
            __m512 acc[16];
#pragma GCC unroll 16
            for (int u = 0; u < 16; u++) {
                if (u >= nk) {
                    acc[u] = _mm512_setzero_ps();
                    continue;
                }
                const float *kj = k + (size_t)(j + u) * stride;
                __m512 a = _mm512_mul_ps(q0, _mm512_loadu_ps(kj));
                a = _mm512_fmadd_ps(q1, _mm512_loadu_ps(kj + 16), a);
                a = _mm512_fmadd_ps(q2, _mm512_loadu_ps(kj + 32), a);
                acc[u] = _mm512_fmadd_ps(q3, _mm512_loadu_ps(kj + 48), a);
            }
            _mm512_mask_storeu_ps(att + j, tail_mask(nk), _mm512_mul_ps(sums16(acc), vs));
        }
    }
    for (; j < n_keys; j++) att[j] = dot_avx512(q, k + (size_t)j * stride, hs) * scale;
    for (j = 0; j + 16 <= n_keys; j += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(att + j));
    if (j < n_keys)
        mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(mx, tail_mask(n_keys - j), att + j));
    __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (j = 0; j + 16 <= n_keys; j += 16) {
        __m512 p = exp16(_mm512_sub_ps(_mm512_loadu_ps(att + j), vmax));
        _mm512_storeu_ps(att + j, p);
        sum = _mm512_add_ps(sum, p);
    }
    if (j < n_keys) {
        __mmask16 m = tail_mask(n_keys - j);
        __m512 p =
            _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, att + j), vmax)));
        _mm512_mask_storeu_ps(att + j, m, p);
        sum = _mm512_add_ps(sum, p);
    }
    return 1.0f / reduce16(sum);
}

// Rows i < M (a constant after inlining): out_i = inv_i * sum_j att_i[j] v_j over keys
// j < n_keys0 + i, 64 dimensions at a time.
INLINE void attn_wsum(float *out, size_t ldo, const float *att, size_t lda, const float *inv,
                      const float *v, size_t stride, const int M, int n_keys0, int hs) {
    for (int d0 = 0; d0 < hs; d0 += 64) {
        __mmask16 m[4];
        for (int b = 0; b < 4; b++) m[b] = tail_mask(hs - d0 - 16 * b);
        __m512 o[ATT_ROWS][4];
#pragma GCC unroll 4
        for (int i = 0; i < M; i++)
#pragma GCC unroll 4
            for (int b = 0; b < 4; b++) o[i][b] = _mm512_setzero_ps();
        const float *vj = v + d0;
        int j = 0;
        for (; j < n_keys0; j++, vj += stride) {   // keys of every row
            __m512 vv[4];
#pragma GCC unroll 4
            for (int b = 0; b < 4; b++) vv[b] = _mm512_maskz_loadu_ps(m[b], vj + 16 * b);
#pragma GCC unroll 4
            for (int i = 0; i < M; i++) {
                __m512 a = _mm512_set1_ps(att[i * lda + j]);
#pragma GCC unroll 4
                for (int b = 0; b < 4; b++) o[i][b] = _mm512_fmadd_ps(a, vv[b], o[i][b]);
            }
        }
        for (; j < n_keys0 + M - 1; j++, vj += stride) {   // the later rows' own last keys
            __m512 vv[4];
#pragma GCC unroll 4
            for (int b = 0; b < 4; b++) vv[b] = _mm512_maskz_loadu_ps(m[b], vj + 16 * b);
#pragma GCC unroll 4
            for (int i = 0; i < M; i++) {
                if (j >= n_keys0 + i) continue;
                __m512 a = _mm512_set1_ps(att[i * lda + j]);
#pragma GCC unroll 4
                for (int b = 0; b < 4; b++) o[i][b] = _mm512_fmadd_ps(a, vv[b], o[i][b]);
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < M; i++) {
            __m512 vi = _mm512_set1_ps(inv[i]);
#pragma GCC unroll 4
            for (int b = 0; b < 4; b++)
                _mm512_mask_storeu_ps(out + i * ldo + d0 + 16 * b, m[b],
                                      _mm512_mul_ps(o[i][b], vi));
        }
    }
}

TARGET static void attn_head_avx512(float *out, const float *q, const float *k, const float *v,
                                    size_t stride, int n_keys, int hs, float scale, float *att) {
    float inv = attn_probs(att, q, k, stride, n_keys, hs, scale);
    attn_wsum(out, 0, att, 0, &inv, v, stride, 1, n_keys, hs);
}

TARGET static void attn_rows_avx512(float *out, size_t ldo, const float *q, size_t ldq, int n_rows,
                                    const float *k, const float *v, size_t stride, int n_keys0,
                                    int hs, float scale, float *att, size_t lda) {
    for (int r0 = 0; r0 < n_rows; r0 += ATT_ROWS) {
        int m = n_rows - r0 < ATT_ROWS ? n_rows - r0 : ATT_ROWS, nk0 = n_keys0 + r0;
        float inv[ATT_ROWS];
        for (int i = 0; i < m; i++)
            inv[i] = attn_probs(att + i * lda, q + (r0 + i) * ldq, k, stride, nk0 + i, hs, scale);
        float *o = out + r0 * ldo;
        switch (m) {
        case 4: attn_wsum(o, ldo, att, lda, inv, v, stride, 4, nk0, hs); break;
        case 3: attn_wsum(o, ldo, att, lda, inv, v, stride, 3, nk0, hs); break;
        case 2: attn_wsum(o, ldo, att, lda, inv, v, stride, 2, nk0, hs); break;
        default: attn_wsum(o, ldo, att, lda, inv, v, stride, 1, nk0, hs); break;
        }
    }
}

// ----------------------------------------------------------------------------
// bf16 -> fp32: 16 at a time (zero-extend to 32 bits, shift left 16), masked tail

TARGET static void widen_bf16_avx512(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i u = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + i)));
        _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(u, 16)));
    }
    if (i < n) {
        __mmask16 m = tail_mask((int)(n - i));
        __m512i u = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, src + i));
        _mm512_mask_storeu_ps(dst + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(u, 16)));
    }
}

// f16 -> fp32: 16 at a time (vcvtph2ps: exact, subnormals included), masked tail
TARGET static void widen_f16_avx512(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
    if (i < n) {
        __mmask16 m = tail_mask((int)(n - i));
        _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + i)));
    }
}

const MmKernels mm_kernels_avx512 = {
    "avx512",
    MR,
    NR,
    DOT_ROWS,
    DOT_COLS,
    2,   // dot_spread: up to 8 rows (1-3 rows 1.15-1.2x, 8 rows 1.1x; 12 rows slower)
    2,   // dot_spread16: the same (bf16 1-3 rows 2.2-2.5x, 5 rows 1.2x)
    0,   // dot_stage: never (the tile loads e from line boundaries in place; copying lost)
    1,   // dot_lin: the tile's later row blocks from `in` at 0 (e in L1: no extra step)
    16,
    tile_avx512,
    rows_avx512,
    sum_parts_avx512,
    dot_tile_avx512,
    dot_avx512,
    axpy_avx512,
    gelu_avx512,
    layernorm_avx512,
    attn_head_avx512,
    attn_rows_avx512,
    ATT_ROWS,
    {widen_bf16_avx512, widen_f16_avx512},
    {rows_bf16_avx512, rows_f16_avx512},
    {dot_tile_bf16_avx512, dot_tile_f16_avx512},
    0,   // pack_min_tiles: never (no gain at 504 rows, a loss at 24 and 128; docs/bench.md;
         // packed by the first row tile, 2026-12-05: no gain at 36 or 128 rows either)
    NULL,
};

#else   // not x86-64: the path does not exist (matmul.c sees tile == NULL)
const MmKernels mm_kernels_avx512 = {.name = "avx512"};
#endif
