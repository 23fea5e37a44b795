// kernels_rowtile: the batched rows kernel's body (fp32 weights, 2..MM_ROWS_MAX rows of a),
// one for the SIMD paths.  Internal to kernels_avx2.c and kernels_avx512.c, which include it
// after kernels_tile.h (whose vector macros it uses) and define before it:
//   RT_M                   rows of a per register group (a group's sums stay in registers)
//   RT_V                   vectors per strip (RT_V * VW columns)
//
// The rows kernel of kernels.h, scheduled for the memory: rows [k, k + RT_KB) of w form a
// block (contiguous when the call's columns are whole rows).  Per block, every strip of
// columns runs its rows of a as register groups: sums loaded from p (or 0 for the first
// k of a call without acc), then one fused multiply-add per k ascending, stored back to
// p — per (row, column) the same sum in the same order as the row-streaming kernel, so
// the same bits (kernels.h).  Meanwhile the next block is prefetched line after line, in
// address order, spread evenly over this block's iterations: one ascending stream, which
// the L2 prefetcher follows ahead of the software prefetches, so that the block is in L2
// when its strips read it (strided, 3 lines a row per strip).  Reading the rows of a step
// in parallel (8 streams of a few KiB, the rows kernel's order) left fetching and
// computing adding up instead of overlapping (docs/bench.md, "Decoding bandwidth").
#ifndef AUTOINTERP_KERNELS_ROWTILE_H
#define AUTOINTERP_KERNELS_ROWTILE_H

#define RT_KB 16   // rows of w per block (2 blocks of GPT-2's widest rows: 384 KiB of L2)

// The next block's lines, in address order: rows [row, row + rows_left) of w (stride ld
// bytes), each from the line holding its first byte to the one holding its last.
typedef struct {
    const char *row;   // the current row's first byte
    const char *at;    // next line to prefetch (within the current row)
    const char *end;   // one past the current row's last byte
    size_t ld, len;    // row stride, row length (bytes)
    int rows_left;     // rows not yet finished (0: nothing left)
} RtPrefetch;

INLINE void rt_prefetch_start(RtPrefetch *c, const float *w, size_t ldw, int n, int rows) {
    c->ld = ldw * sizeof(float), c->len = (size_t)n * sizeof(float), c->rows_left = rows;
    c->row = (const char *)w;
    c->at = (const char *)((uintptr_t)c->row & ~(uintptr_t)63);
    c->end = c->row + c->len;
}

// Up to count more lines of the stream.
INLINE void rt_prefetch(RtPrefetch *c, int count) {
    for (; count > 0 && c->rows_left > 0; count--) {
        _mm_prefetch(c->at, _MM_HINT_T0);
        c->at += 64;
        if (c->at >= c->end) {
            c->row += c->ld, c->rows_left--;
            c->at = (const char *)((uintptr_t)c->row & ~(uintptr_t)63);
            c->end = c->row + c->len;
        }
    }
}

// One register group: rows [0, M) of a (M <= RT_M) x NVS vectors of columns from j (M,
// NVS constants after inlining), over kb rows of w from row k.  full: all NVS * VW columns
// (plain loads and stores), else the first `cols` through masks.  zero: the sums start at
// 0, else at p.  Each row of w read also issues pf_per prefetches of the next block.
INLINE void rt_group(float *p, size_t ldp, const float *a, size_t lda, const float *w, size_t ldw,
                     const int M, const int NVS, int j, int cols, const int full, int k, int kb,
                     int zero, RtPrefetch *pf, int pf_per) {
    VF s[RT_M][RT_V];
    VM mk[RT_V];
#pragma GCC unroll 4
    for (int v = 0; v < NVS; v++) mk[v] = V_TAIL(cols - VW * v);
#pragma GCC unroll 8
    for (int r = 0; r < M; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NVS; v++) {
            const float *pv = p + r * ldp + j + VW * v;
            s[r][v] = zero ? V_ZERO() : full ? V_LOAD(pv) : V_LOADM(pv, mk[v]);
        }
    const float *wk = w + (size_t)k * ldw + j;
    for (int kk = 0; kk < kb; kk++, wk += ldw) {
        VF bv[RT_V];
#pragma GCC unroll 4
        for (int v = 0; v < NVS; v++)
            bv[v] = full ? V_LOAD(wk + VW * v) : V_LOADM(wk + VW * v, mk[v]);
        rt_prefetch(pf, pf_per);
#pragma GCC unroll 8
        for (int r = 0; r < M; r++) {
            VF ar = V_BCAST(a + r * lda + k + kk);
#pragma GCC unroll 4
            for (int v = 0; v < NVS; v++) s[r][v] = V_FMA(ar, bv[v], s[r][v]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < M; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NVS; v++) {
            float *pv = p + r * ldp + j + VW * v;
            if (full) V_STORE(pv, s[r][v]);
            else V_STOREM(pv, mk[v], s[r][v]);
        }
}

// The m rows of a in register groups, for one strip: NVS whole vectors (full), or one
// vector's first `cols` columns.
#define RT_GROUP(MM)                                                                               \
    (full ? rt_group(pr, ldp, ar, lda, w, ldw, MM, RT_V, j, cols, 1, k, kb, zero, pf, pf_per)      \
          : rt_group(pr, ldp, ar, lda, w, ldw, MM, 1, j, cols, 0, k, kb, zero, pf, pf_per))
INLINE void rt_groups(float *p, size_t ldp, const float *a, size_t lda, const float *w, size_t ldw,
                      int m, int j, int cols, int full, int k, int kb, int zero, RtPrefetch *pf,
                      int pf_per) {
    for (int r0 = 0; r0 < m; r0 += RT_M) {
        float *pr = p + r0 * ldp;
        const float *ar = a + r0 * lda;
        switch (m - r0 < RT_M ? m - r0 : RT_M) {
#if RT_M > 4
        case 8: RT_GROUP(8); break;
        case 7: RT_GROUP(7); break;
        case 6: RT_GROUP(6); break;
        case 5: RT_GROUP(5); break;
#endif
        case 4: RT_GROUP(4); break;
        case 3: RT_GROUP(3); break;
        case 2: RT_GROUP(2); break;
        default: RT_GROUP(1); break;
        }
    }
}
#undef RT_GROUP

// p (m rows, stride ldp) [0, n) = (acc ? p : 0) + a (m, K) · w (K, n), block by block.
INLINE void rowtile_body(float *p, size_t ldp, const float *a, size_t lda, const float *w,
                         size_t ldw, int m, int n, int K, int acc) {
    const int SW = RT_V * VW;   // strip width
    // When w's rows all start at the same offset within a cache line, a narrow first strip
    // makes the other strips' loads whole lines (per column nothing changes).
    size_t mis = (uintptr_t)w % 64;
    int head = mis % sizeof(float) == 0 && ldw * sizeof(float) % 64 == 0 && mis
                   ? (int)((64 - mis) / sizeof(float))
                   : 0;
    if (head >= n) head = 0;
    int n_strips = (head > 0) + (n - head + SW - 1) / SW;
    int groups = (m + RT_M - 1) / RT_M;
    size_t lines_row = ((size_t)n * sizeof(float) + 63) / 64 + 1;   // at most, per row
    for (int k = 0; k < K; k += RT_KB) {
        int kb = K - k < RT_KB ? K - k : RT_KB, zero = !acc && k == 0;
        int next = k + kb, nkb = K - next < RT_KB ? K - next : RT_KB;
        RtPrefetch pf;
        rt_prefetch_start(&pf, w + (size_t)next * ldw, ldw, n, nkb > 0 ? nkb : 0);
        size_t iters = (size_t)n_strips * groups * kb;
        int pf_per = nkb > 0 ? (int)(((size_t)nkb * lines_row + iters - 1) / iters) : 0;
        int j = 0;
        for (; j < head; j += VW)   // the narrow first strip, a vector at a time
            rt_groups(p, ldp, a, lda, w, ldw, m, j, head - j < VW ? head - j : VW, 0, k, kb, zero,
                      &pf, pf_per);
        j = head;
        for (; j + SW <= n; j += SW)
            rt_groups(p, ldp, a, lda, w, ldw, m, j, SW, 1, k, kb, zero, &pf, pf_per);
        for (; j < n; j += VW)   // the last columns, a vector at a time
            rt_groups(p, ldp, a, lda, w, ldw, m, j, n - j, 0, k, kb, zero, &pf, pf_per);
        rt_prefetch(&pf, 1 << 30);   // whatever the spreading left
    }
}

#endif
