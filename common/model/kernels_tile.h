// kernels_tile: the register tile's body, one for the SIMD paths (issue 14: one kernel body
// per operation over vector-width macros).  Internal to kernels_avx2.c and kernels_avx512.c,
// each of which defines, before including it:
//   INLINE                 static inline always_inline with the path's target attribute
//   MR, NV                 tile rows, vectors per row (NR = VW * NV columns)
//   VF, VM, VW             the vector type, its tail-mask type, its lanes
//   V_ZERO()  V_LOAD(p)  V_STORE(p, v)  V_LOADM(p, m)  V_STOREM(p, m, v)  V_BCAST(p)
//   V_FMA(a, b, c)         a * b + c, fused
//   V_ADD(a, b)  V_TAIL(n) (lanes [0, n) of a mask)
// The order of operations is kernels.h's: per output, the segment's products summed from
// 0 for k ascending (one fused multiply-add each), then base + sum.
#ifndef AUTOINTERP_KERNELS_TILE_H
#define AUTOINTERP_KERNELS_TILE_H

// c (M rows, a compile-time constant after inlining, x n <= NR columns) = base + a · b
// over K <= MM_KSEG rows of b; base = c when add, else bias (NULL: 0).  pk (full tiles
// only; NULL, a constant, in the plain tile): b's rows are also stored there, NR floats
// apart, as they are loaded (the panel other row tiles then read; kernels.h's tile_pack).
INLINE void tile_body(float *c, size_t ldc, const float *a, size_t lda, const float *b, size_t ldb,
                      const float *bias, int add, const int M, int n, int K, float *pk) {
    VF s[MR][NV];
    VM mk[NV];
    for (int v = 0; v < NV; v++) mk[v] = V_TAIL(n - VW * v);
#pragma GCC unroll 8
    for (int r = 0; r < M; r++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) s[r][v] = V_ZERO();
    const int full = n == VW * NV;
    if (full) {
        for (int k = 0; k < K; k++) {
            const float *bk = b + (size_t)k * ldb;
            VF bv[NV];
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++) bv[v] = V_LOAD(bk + VW * v);
            if (pk)
#pragma GCC unroll 3
                for (int v = 0; v < NV; v++) V_STORE(pk + (size_t)k * VW * NV + VW * v, bv[v]);
#pragma GCC unroll 8
            for (int r = 0; r < M; r++) {
                VF ar = V_BCAST(a + r * lda + k);
#pragma GCC unroll 3
                for (int v = 0; v < NV; v++) s[r][v] = V_FMA(ar, bv[v], s[r][v]);
            }
        }
    } else {
        for (int k = 0; k < K; k++) {
            const float *bk = b + (size_t)k * ldb;
            VF bv[NV];
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++) bv[v] = V_LOADM(bk + VW * v, mk[v]);
#pragma GCC unroll 8
            for (int r = 0; r < M; r++) {
                VF ar = V_BCAST(a + r * lda + k);
#pragma GCC unroll 3
                for (int v = 0; v < NV; v++) s[r][v] = V_FMA(ar, bv[v], s[r][v]);
            }
        }
    }
    // Full tiles store with plain moves: AVX2's masked store (vmaskmovps) is microcoded on
    // AMD (Zen 4: ~12 of them cost ~15 % of a 128-deep tile).  The same adds either way.
#pragma GCC unroll 8
    for (int r = 0; r < M; r++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) {
            float *cv = c + r * ldc + VW * v;
            if (full) {
                VF base = add ? V_LOAD(cv) : bias ? V_LOAD(bias + VW * v) : V_ZERO();
                V_STORE(cv, V_ADD(base, s[r][v]));
            } else {
                VF base = add    ? V_LOADM(cv, mk[v])
                          : bias ? V_LOADM(bias + VW * v, mk[v])
                                 : V_ZERO();
                V_STOREM(cv, mk[v], V_ADD(base, s[r][v]));
            }
        }
}

// tile_body with m (1..MR) made a compile-time constant (a case per row count, each
// inlined with its own constant n / pk from the caller).
#if MR != 6 && MR != 8
#error "tile_rows has cases for MR = 6 (avx2) and 8 (avx512)"
#endif
INLINE void tile_rows(float *c, size_t ldc, const float *a, size_t lda, const float *b, size_t ldb,
                      const float *bias, int add, int m, int n, int K, float *pk) {
    switch (m) {
#if MR >= 8
    case 8: tile_body(c, ldc, a, lda, b, ldb, bias, add, 8, n, K, pk); break;
    case 7: tile_body(c, ldc, a, lda, b, ldb, bias, add, 7, n, K, pk); break;
#endif
    case 6: tile_body(c, ldc, a, lda, b, ldb, bias, add, 6, n, K, pk); break;
    case 5: tile_body(c, ldc, a, lda, b, ldb, bias, add, 5, n, K, pk); break;
    case 4: tile_body(c, ldc, a, lda, b, ldb, bias, add, 4, n, K, pk); break;
    case 3: tile_body(c, ldc, a, lda, b, ldb, bias, add, 3, n, K, pk); break;
    case 2: tile_body(c, ldc, a, lda, b, ldb, bias, add, 2, n, K, pk); break;
    case 1: tile_body(c, ldc, a, lda, b, ldb, bias, add, 1, n, K, pk); break;
    default: break;
    }
}

#endif
