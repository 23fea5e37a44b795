// naive: a deliberately plain GPT-2 forward pass with a KV cache — the reference the
// benchmark measures the engine (common/model/transformer.h) against, so that a regression of
// the engine below "the obvious code" shows.  One thread; triple-loop matmuls
// (for row, for input, for output: out[t][j] += in[t][k] * w[k][j], the loop order that
// reads input-major weights contiguously); LayerNorm in float; no blocking, no batching.
// Same model semantics as the engine (intact model only), so its logits agree to
// rounding.
#ifndef AUTOINTERP_BENCH_NAIVE_H
#define AUTOINTERP_BENCH_NAIVE_H
#include "model/gpt2.h"

typedef struct {
    const Gpt2 *m;
    int max_T;      // capacity of the cache and of one call, in tokens
    int T;          // tokens cached so far
    float *k, *v;   // (L, max_T, C) keys and values
    float *x;       // (max_T, C) residual stream
    float *ln;      // (max_T, C)
    float *qkv;     // (max_T, 3C)
    float *atty;    // (max_T, C)
    float *proj;    // (max_T, C)
    float *fch;     // (max_T, 4C)
    float *att;     // (max_T) attention weights of one (row, head)
} NaiveGpt2;

// A reference model over m with room for max_T (1..n_ctx) tokens.  0, or -1 with a
// message in err.
int naive_init(NaiveGpt2 *n, const Gpt2 *m, int max_T, char *err, size_t errlen);
void naive_free(NaiveGpt2 *n);

// Run the intact model on tokens[0..T_new) at positions n->T.. (T_new > 1 is a prefill),
// append their keys/values, advance n->T and write the logits of the last new token to
// logits_last (V).  -1 with a message when the tokens do not fit or a token id is bad.
int naive_step(NaiveGpt2 *n, const int *tokens, int T_new, float *logits_last, char *err,
               size_t errlen);

#endif
