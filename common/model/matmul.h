// matmul: the fp32 compute kernels of the forward pass — matrix products, the
// unembedding, dot products, GELU and one attention head — kept in one place so that they
// can be optimised without touching the transformer.
//
// Kernel paths.  Each kernel exists for several instruction sets, chosen at RUN TIME:
//   "avx512"   AVX-512F/VL/BW/DQ + FMA (16-lane zmm registers)
//   "avx2"     AVX2 + FMA (8-lane ymm registers)
//   "generic"  portable C (what the baseline -O2 build vectorises to SSE2; separate
//              multiply and add, no FMA)
// The default is the best path the CPU supports; $AUTOINTERP_KERNEL=avx512|avx2|generic
// forces one (an unknown or unsupported name is reported on stderr once and the default
// is used).  matmul_kernel_select changes the path in-process (tests loop over paths).
// The binary needs no -march: the SIMD paths are compiled with target attributes and
// only run where __builtin_cpu_supports says they can.
//
// Determinism contract (the tests rely on it; keep it when optimising).  Within ONE path,
// every output element is computed with a fixed order of operations that does not depend
// on the number of threads, on T, or on which other rows/columns are computed in the same
// call.  Hence a row's result is bit-identical whether it is computed alone (KV-cached
// decoding), inside a long prompt, or in a batch of sequences.
//   matmul_forward:            K is cut into fixed segments of 128 rows of w (the last
//                              one shorter); segment s sums in[t][k] * w[k][j] from 0 for
//                              its k ascending (one fused multiply-add each on the SIMD
//                              paths); out = ((bias[j] + s_0) + s_1) + ... (0 without
//                              bias).  The segments let decoding stream whole rows of w
//                              on several threads and prompts run register tiles, with
//                              the same sums.
//   matmul_transposed_forward: out[t][v] = vec_dot(in[t], e[v], C)
//   vec_dot:                   L partial sums over i % L (L = 16 avx512, 8 otherwise),
//                              then the path's fixed reduction tree
//   vec_gelu:                  elementwise
//   vec_layernorm:             a fixed function of the row
//   attention_head(_rows):     a fixed function of (q, the keys/values, n_keys)
// Different paths round differently (FMA or not, 16 or 8 partial sums, exp polynomial vs
// libm): results agree to ~1e-6 relative, not bit for bit.  Switching paths between two
// computations that are compared bit for bit breaks that comparison.
//
// Threads: the kernels split their work over `pool` (tasks over column chunks, K-segments
// or vocabulary chunks; see matmul.c) and are thread-safe: several threads may call them
// at once (on different outputs).  Per-thread scratch is freed when a thread exits.
#ifndef AUTOINTERP_MATMUL_H
#define AUTOINTERP_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "base/dtype.h"
#include "base/threadpool.h"

// ----------------------------------------------------------------------------
// kernel paths

// Paths compiled into the binary, best first: "avx512", "avx2", "generic" (x86-64; only
// "generic" elsewhere).  *n receives the count.
const char *const *matmul_kernel_paths(int *n);

// 1 when path `name` is compiled in and this CPU can run it, else 0.
int matmul_kernel_supported(const char *name);

// Use path `name` from now on.  0, or -1 with a message when it is unknown or not
// supported by this CPU (the current path is kept).  Not to be called while another
// thread is inside a kernel.
int matmul_kernel_select(const char *name, char *err, size_t errlen);

// The path in use ("avx512", "avx2" or "generic").
const char *matmul_kernel_name(void);

// ----------------------------------------------------------------------------
// kernels (pool may be NULL: single-threaded; otherwise tasks are split over its workers)

// out (T,N) = in (T,K) · w (K,N) + bias (N).  w is input-major as Hugging Face's Conv1D
// stores it (w[k*N + j]); bias may be NULL.  out must not overlap in or w.
void matmul_forward(float *out, const float *in, const float *w, const float *bias, int T, int K,
                    int N, ThreadPool *pool);

// matmul_forward followed by vec_gelu on out (one pass: GELU is applied to each tile
// while it is in registers/L1).  Bit-identical to the two calls.
void matmul_gelu_forward(float *out, const float *in, const float *w, const float *bias, int T,
                         int K, int N, ThreadPool *pool);

// out (T,V) = in (T,C) · e (V,C)^T: the unembedding with an output-major matrix such as
// wte / lm_head.  out must not overlap in or e.
void matmul_transposed_forward(float *out, const float *in, const float *e, int T, int C, int V,
                               ThreadPool *pool);

// ----------------------------------------------------------------------------
// Low-precision weights (opt-in, see gpt2_use_lowp): a weight is a uint16_t of one of
// two 16-bit float formats, tagged by a LowpType —
//   LOWP_BF16, LOWP_F16 (base/dtype.h)
// Widening to fp32 is exact for both (a 16-bit shift; F16C vcvtph2ps or its portable
// equivalent) and the kernels below keep the fp32 order of operations, so on one path
// each is BIT-IDENTICAL to its fp32 counterpart called with lowp_widen(w) (same
// determinism contract); only the bytes read from memory halve.  Decoding (the streamed
// rows) and the unembedding widen in registers on the AVX-512 and AVX2 paths (f16 on
// AVX2 only where the CPU has F16C); prompts (register tiles) widen each segment of
// weights once into per-thread scratch, as the generic path does everywhere.
// dst[i] = src[i] rounded to type t, to nearest even (a NaN stays a NaN; a finite value
// above the type's largest finite value rounds to inf as IEEE rounding does: bf16 from
// about 3.39e38, f16 from 65520; f16 subnormals are rounded exactly).
void lowp_round(LowpType t, uint16_t *dst, const float *src, size_t n);

// dst[i] = src[i] (of type t) as fp32 (exact).
void lowp_widen(LowpType t, float *dst, const uint16_t *src, size_t n);

// matmul_forward / matmul_gelu_forward / matmul_transposed_forward with w or e of type t.
void matmul_lowp_forward(float *out, const float *in, const uint16_t *w, LowpType t,
                         const float *bias, int T, int K, int N, ThreadPool *pool);
void matmul_lowp_gelu_forward(float *out, const float *in, const uint16_t *w, LowpType t,
                              const float *bias, int T, int K, int N, ThreadPool *pool);
void matmul_transposed_lowp_forward(float *out, const float *in, const uint16_t *e, LowpType t,
                                    int T, int C, int V, ThreadPool *pool);

// sum_i a[i] * b[i] in the fixed order described above.
float vec_dot(const float *a, const float *b, int n);

// y[i] += alpha * x[i]
void vec_axpy(float *y, float alpha, const float *x, int n);

// x[i] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) for i < n: GELU, tanh
// approximation (Hugging Face "gelu_new").  Single-threaded.
void vec_gelu(float *x, size_t n);

// One row of LayerNorm: out (C) = (x - mean) / sqrt(var + eps) * w + b, the mean and
// variance of x computed in double.  out may be x.
void vec_layernorm(float *out, const float *x, const float *w, const float *b, int C, float eps);

// One causal attention head of one row: out (hs) = sum_j p_j v_j with
// p = softmax_j(scale * q · k_j) over keys j < n_keys (n_keys >= 1), where
// k_j = k + j * stride and v_j = v + j * stride.  att: scratch of n_keys floats.
void attention_head(float *out, const float *q, const float *k, const float *v, size_t stride,
                    int n_keys, int hs, float scale, float *att);

// attention_head for n_rows consecutive positions of one sequence (a causal block): row
// i < n_rows attends keys j < n_keys0 + i of the shared k, v (n_keys0 >= 1), its query at
// q + i * ldq, its output at out + i * ldo.  Bit-identical to attention_head row by row,
// faster (each value row is read once for several rows).  Single-threaded; its scratch
// is per thread.
void attention_rows(float *out, size_t ldo, const float *q, size_t ldq, int n_rows, const float *k,
                    const float *v, size_t stride, int n_keys0, int hs, float scale);

#endif
