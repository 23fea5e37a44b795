// matmul: the fp32 compute kernels of the forward pass, kept in one place so that they
// can be optimised (AVX2/AVX-512) without touching the transformer.
//
// Determinism contract (the tests rely on it; keep it when optimising): every output
// element is computed by exactly one task with a fixed order of operations that does not
// depend on the number of threads, on T, or on which other rows/columns are computed in
// the same call.  Hence a row's result is bit-identical whether it is computed alone
// (KV-cached decoding), inside a long prompt, or in a batch of sequences.
//   matmul_forward:            acc = bias[j] (or 0); acc += in[t][k] * w[k][j], k = 0..K-1
//   matmul_transposed_forward: out[t][v] = vec_dot(in[t], e[v], C)
//   vec_dot:                   MM_LANES partial sums over i % MM_LANES, then a fixed tree
#ifndef AUTOINTERP_MATMUL_H
#define AUTOINTERP_MATMUL_H

#include "threadpool.h"

#define MM_LANES 8   // partial sums in vec_dot

// out (T,N) = in (T,K) · w (K,N) + bias (N).  w is input-major as Hugging Face's Conv1D
// stores it (w[k*N + j]); bias may be NULL.  out must not overlap in or w.  pool may be
// NULL (single-threaded).
void matmul_forward(float *out, const float *in, const float *w, const float *bias,
                    int T, int K, int N, ThreadPool *pool);

// out (T,V) = in (T,C) · e (V,C)^T: the unembedding with an output-major matrix such as
// wte / lm_head.  out must not overlap in or e.
void matmul_transposed_forward(float *out, const float *in, const float *e,
                               int T, int C, int V, ThreadPool *pool);

// sum_i a[i] * b[i] in the fixed order described above.
float vec_dot(const float *a, const float *b, int n);

// y[i] += alpha * x[i]
void vec_axpy(float *y, float alpha, const float *x, int n);

#endif
