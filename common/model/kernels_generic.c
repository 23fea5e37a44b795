// kernels_generic: the portable path (plain C; gcc -O2 vectorises the inner loops to the
// baseline SSE2).  Multiplies and adds are separate operations here (no FMA), so this
// path rounds differently from the SIMD ones; it is self-consistent.  See kernels.h.
#include "model/kernels.h"

#include <math.h>
#include <string.h>

#define G_MR                4
#define G_NR                16
#define G_LANES             8
#define G_DOT_ROWS          4
#define G_DOT_COLS          4
#define GELU_SCALING_FACTOR 0.7978845608028654f   // sqrt(2 / pi)

// ----------------------------------------------------------------------------
// matmul: register tile and row streaming (see kernels.h for the order of operations)

static void tile_generic(float *c, size_t ldc, const float *a, size_t lda, const float *b,
                         size_t ldb, const float *bias, int add, int m, int n, int K) {
    float s[G_MR][G_NR] = {{0}};
    if (n == G_NR) {
        for (int k = 0; k < K; k++) {
            const float *restrict bk = b + (size_t)k * ldb;
            for (int r = 0; r < m; r++) {
                float ar = a[r * lda + k];
                for (int j = 0; j < G_NR; j++) s[r][j] += ar * bk[j];
            }
        }
    } else {
        for (int k = 0; k < K; k++) {
            const float *bk = b + (size_t)k * ldb;
            for (int r = 0; r < m; r++) {
                float ar = a[r * lda + k];
                for (int j = 0; j < n; j++) s[r][j] += ar * bk[j];
            }
        }
    }
    for (int r = 0; r < m; r++)
        for (int j = 0; j < n; j++) {
            float base = add ? c[r * ldc + j] : bias ? bias[j] : 0.0f;
            c[r * ldc + j] = base + s[r][j];
        }
}

static void rows_generic(float *p, size_t ldp, const float *a, size_t lda, const float *w,
                         size_t ldw, int m, int n, int K, int acc) {
    if (!acc)
        for (int r = 0; r < m; r++) memset(p + r * ldp, 0, (size_t)n * sizeof *p);
    for (int k = 0; k < K; k++) {
        const float *restrict wk = w + (size_t)k * ldw;
        for (int r = 0; r < m; r++) {
            float ar = a[r * lda + k];
            float *restrict pr = p + r * ldp;
            for (int j = 0; j < n; j++) pr[j] += ar * wk[j];
        }
    }
}

static void sum_parts_generic(float *out, const float *base, const float *parts, size_t stride,
                              int n_parts, int n) {
    for (int j = 0; j < n; j++) {
        float acc = base ? base[j] : 0.0f;
        for (int s = 0; s < n_parts; s++) acc += parts[s * stride + j];
        out[j] = acc;
    }
}

// ----------------------------------------------------------------------------
// dot products: 8 partial sums over i % 8, then a fixed tree

static float dot_generic(const float *restrict a, const float *restrict b, int n) {
    float s[G_LANES] = {0};
    int i = 0;
    for (; i + G_LANES <= n; i += G_LANES)
        for (int l = 0; l < G_LANES; l++) s[l] += a[i + l] * b[i + l];
    for (int l = 0; i < n; i++, l++) s[l] += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static void dot_tile_generic(float *out, size_t ldo, const float *in, size_t ldi, const float *e,
                             size_t lde, int m, int n, int C, const char *pf, int pf_lines) {
    for (int i = 0; i < pf_lines; i++) __builtin_prefetch(pf + (size_t)i * 64, 0, 3);
    for (int v = 0; v < n; v++)
        for (int r = 0; r < m; r++) out[r * ldo + v] = dot_generic(in + r * ldi, e + v * lde, C);
}

static void axpy_generic(float *restrict y, float alpha, const float *restrict x, int n) {
    for (int i = 0; i < n; i++) y[i] += alpha * x[i];
}

// ----------------------------------------------------------------------------
// GELU (tanh approximation) and attention

static void gelu_generic(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float cube = 0.044715f * v * v * v;
        x[i] = 0.5f * v * (1.0f + tanhf(GELU_SCALING_FACTOR * (v + cube)));
    }
}

static void layernorm_generic(float *out, const float *x, const float *w, const float *b, int C,
                              float eps) {
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < C; i++) mean += x[i];
    mean /= C;
    for (int i = 0; i < C; i++) var += ((double)x[i] - mean) * ((double)x[i] - mean);
    var /= C;
    float m = (float)mean, rstd = (float)(1.0 / sqrt(var + (double)eps));
    for (int i = 0; i < C; i++) out[i] = (x[i] - m) * rstd * w[i] + b[i];
}

static void attn_head_generic(float *out, const float *q, const float *k, const float *v,
                              size_t stride, int n_keys, int hs, float scale, float *att) {
    float max = -INFINITY;
    for (int j = 0; j < n_keys; j++) {
        float s = dot_generic(q, k + (size_t)j * stride, hs) * scale;
        att[j] = s;
        if (s > max) max = s;
    }
    float sum = 0.0f;
    for (int j = 0; j < n_keys; j++) {
        att[j] = expf(att[j] - max);
        sum += att[j];
    }
    memset(out, 0, (size_t)hs * sizeof *out);
    for (int j = 0; j < n_keys; j++) axpy_generic(out, att[j], v + (size_t)j * stride, hs);
    float inv = 1.0f / sum;
    for (int i = 0; i < hs; i++) out[i] *= inv;
}

// Row by row (this path has no multi-row attention kernel).
static void attn_rows_generic(float *out, size_t ldo, const float *q, size_t ldq, int n_rows,
                              const float *k, const float *v, size_t stride, int n_keys0, int hs,
                              float scale, float *att, size_t lda) {
    (void)lda;
    for (int i = 0; i < n_rows; i++)
        attn_head_generic(out + i * ldo, q + i * ldq, k, v, stride, n_keys0 + i, hs, scale, att);
}

// ----------------------------------------------------------------------------
// bf16 -> fp32: blocks of 8 with a fixed trip count, which -O2 vectorises (SSE2 unpack +
// shift)

static void widen_bf16_generic(float *restrict dst, const uint16_t *restrict src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint32_t u[8];
        for (int l = 0; l < 8; l++) u[l] = (uint32_t)src[i + l] << 16;
        memcpy(dst + i, u, sizeof u);
    }
    for (; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(dst + i, &u, sizeof u);
    }
}

// f16 -> fp32, exactly and portably.  A first loop of integer operations only (-O2
// vectorises it): a normal half's exponent rebiased (15 -> 127) and its mantissa shifted
// up, inf and NaN given an all-ones exponent with their mantissa (a NaN stays one), the
// sign put back.  Then the rare subnormals (exponent 0, zeros included) are redone one by
// one, in the blocks of 8 that have any.
static inline uint32_t f16_bits_normal(uint32_t h) {
    uint32_t em = h & 0x7fffu, is_special = 0u - (em >= 0x7c00u);   // all ones or 0
    return ((em << 13) + ((uint32_t)(127 - 15) << 23) + (is_special & (uint32_t)(128 - 16) << 23)) |
           (h & 0x8000u) << 16;
}

// A subnormal half (exponent 0, zeros included) as fp32: m * 2^-24 (m < 1024: exact).
static float f16_subnormal(uint16_t h) {
    float f = (float)(h & 0x3ffu) * 0x1p-24f;
    return h & 0x8000u ? -f : f;
}

static void widen_f16_generic(float *restrict dst, const uint16_t *restrict src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {   // a fixed trip count, as widen_bf16_generic
        uint32_t u[8], sub = 0;
        for (int l = 0; l < 8; l++) {
            u[l] = f16_bits_normal(src[i + l]);
            sub |= (src[i + l] & 0x7c00u) == 0;
        }
        memcpy(dst + i, u, sizeof u);
        if (sub)
            for (int l = 0; l < 8; l++)
                if (!(src[i + l] & 0x7c00u)) dst[i + l] = f16_subnormal(src[i + l]);
    }
    for (; i < n; i++) {
        uint32_t u = f16_bits_normal(src[i]);
        memcpy(dst + i, &u, sizeof u);
        if (!(src[i] & 0x7c00u)) dst[i] = f16_subnormal(src[i]);
    }
}

const MmKernels mm_kernels_generic = {
    "generic",
    G_MR,
    G_NR,
    G_DOT_ROWS,
    G_DOT_COLS,
    0,   // dot_spread, dot_spread16, dot_stage, dot_lin: never (the generic tile is
    0,   // compute-bound)
    0,
    0,
    G_LANES,
    tile_generic,
    rows_generic,
    sum_parts_generic,
    dot_tile_generic,
    dot_generic,
    axpy_generic,
    gelu_generic,
    layernorm_generic,
    attn_head_generic,
    attn_rows_generic,
    1,
    {widen_bf16_generic, widen_f16_generic},
    {NULL, NULL},
    {NULL, NULL},
    0,   // pack_min_tiles: never (no gain: the generic tile is compute-bound)
    NULL,
};
