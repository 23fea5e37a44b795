// naive: the plain reference forward pass; see naive.h.
#include "naive.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

// out (T,N) = in (T,K) · w (K,N) + b (N), w input-major.
static void naive_matmul(float *out, const float *in, const float *w, const float *b, int T, int K,
                         int N) {
    for (int t = 0; t < T; t++) {
        float *o = out + (size_t)t * N;
        for (int j = 0; j < N; j++) o[j] = b[j];
        for (int k = 0; k < K; k++) {
            float a = in[(size_t)t * K + k];
            const float *wk = w + (size_t)k * N;
            for (int j = 0; j < N; j++) o[j] += a * wk[j];
        }
    }
}

static void naive_layernorm(float *out, const float *in, const float *w, const float *b, int T,
                            int C, float eps) {
    for (int t = 0; t < T; t++) {
        const float *x = in + (size_t)t * C;
        float *o = out + (size_t)t * C, mean = 0, var = 0;
        for (int i = 0; i < C; i++) mean += x[i];
        mean /= C;
        for (int i = 0; i < C; i++) var += (x[i] - mean) * (x[i] - mean);
        var /= C;
        float rstd = 1.0f / sqrtf(var + eps);
        for (int i = 0; i < C; i++) o[i] = (x[i] - mean) * rstd * w[i] + b[i];
    }
}

// Causal attention of the T_new new rows (positions n->T..) over the cached keys/values
// of layer l, which already include the new rows.
static void naive_attention(NaiveGpt2 *n, int l, int T_new) {
    int C = n->m->cfg.n_embd, NH = n->m->cfg.n_head, hs = C / NH;
    const float *K = n->k + (size_t)l * n->max_T * C, *Vv = n->v + (size_t)l * n->max_T * C;
    float scale = 1.0f / sqrtf((float)hs);
    for (int r = 0; r < T_new; r++) {
        int n_keys = n->T + r + 1;
        for (int h = 0; h < NH; h++) {
            const float *q = n->qkv + (size_t)r * 3 * C + (size_t)h * hs;
            float max = -INFINITY, sum = 0;
            for (int j = 0; j < n_keys; j++) {
                float s = 0;
                for (int i = 0; i < hs; i++) s += q[i] * K[(size_t)j * C + (size_t)h * hs + i];
                n->att[j] = s * scale;
                if (n->att[j] > max) max = n->att[j];
            }
            for (int j = 0; j < n_keys; j++) {
                n->att[j] = expf(n->att[j] - max);
                sum += n->att[j];
            }
            float *o = n->atty + (size_t)r * C + (size_t)h * hs;
            for (int i = 0; i < hs; i++) {
                float acc = 0;
                for (int j = 0; j < n_keys; j++)
                    acc += n->att[j] * Vv[(size_t)j * C + (size_t)h * hs + i];
                o[i] = acc / sum;
            }
        }
    }
}

int naive_init(NaiveGpt2 *n, const Gpt2 *m, int max_T, char *err, size_t errlen) {
    memset(n, 0, sizeof *n);
    if (max_T < 1 || max_T > m->cfg.n_ctx)
        return fail(err, errlen, "naive model: %d tokens out of range 1..%d", max_T, m->cfg.n_ctx);
    size_t C = (size_t)m->cfg.n_embd, T = (size_t)max_T, L = (size_t)m->cfg.n_layer;
    n->m = m;
    n->max_T = max_T;
    n->k = xmalloc(sizeof(float) * L * T * C);
    n->v = xmalloc(sizeof(float) * L * T * C);
    n->x = xmalloc(sizeof(float) * T * C);
    n->ln = xmalloc(sizeof(float) * T * C);
    n->qkv = xmalloc(sizeof(float) * T * 3 * C);
    n->atty = xmalloc(sizeof(float) * T * C);
    n->proj = xmalloc(sizeof(float) * T * C);
    n->fch = xmalloc(sizeof(float) * T * 4 * C);
    n->att = xmalloc(sizeof(float) * T);
    return 0;
}

void naive_free(NaiveGpt2 *n) {
    free(n->k), free(n->v), free(n->x), free(n->ln), free(n->qkv);
    free(n->atty), free(n->proj), free(n->fch), free(n->att);
    memset(n, 0, sizeof *n);
}

static void naive_block(NaiveGpt2 *n, int l, int T_new) {
    const Gpt2 *m = n->m;
    const Gpt2Block *b = &m->blocks[l];
    int C = m->cfg.n_embd;
    size_t rows = (size_t)T_new * C;
    naive_layernorm(n->ln, n->x, b->ln1_w, b->ln1_b, T_new, C, m->cfg.ln_eps);
    naive_matmul(n->qkv, n->ln, b->qkv_w, b->qkv_b, T_new, C, 3 * C);
    for (int r = 0; r < T_new; r++) {
        size_t dst = ((size_t)l * n->max_T + (size_t)(n->T + r)) * C;
        memcpy(n->k + dst, n->qkv + (size_t)r * 3 * C + C, sizeof(float) * (size_t)C);
        memcpy(n->v + dst, n->qkv + (size_t)r * 3 * C + 2 * C, sizeof(float) * (size_t)C);
    }
    naive_attention(n, l, T_new);
    naive_matmul(n->proj, n->atty, b->attn_proj_w, b->attn_proj_b, T_new, C, C);
    for (size_t i = 0; i < rows; i++) n->x[i] += n->proj[i];
    naive_layernorm(n->ln, n->x, b->ln2_w, b->ln2_b, T_new, C, m->cfg.ln_eps);
    naive_matmul(n->fch, n->ln, b->fc_w, b->fc_b, T_new, C, 4 * C);
    for (size_t i = 0; i < rows * 4; i++) {
        float v = n->fch[i];
        n->fch[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
    naive_matmul(n->proj, n->fch, b->mlp_proj_w, b->mlp_proj_b, T_new, 4 * C, C);
    for (size_t i = 0; i < rows; i++) n->x[i] += n->proj[i];
}

int naive_step(NaiveGpt2 *n, const int *tokens, int T_new, float *logits_last, char *err,
               size_t errlen) {
    const Gpt2 *m = n->m;
    int C = m->cfg.n_embd, V = m->cfg.vocab_size;
    if (T_new < 1 || T_new > n->max_T - n->T)
        return fail(err, errlen, "naive model: %d + %d tokens exceed its %d", n->T, T_new,
                    n->max_T);
    for (int t = 0; t < T_new; t++)
        if (tokens[t] < 0 || tokens[t] >= V)
            return fail(err, errlen, "naive model: token id %d out of range", tokens[t]);
    for (int t = 0; t < T_new; t++)
        for (int i = 0; i < C; i++)
            n->x[(size_t)t * C + i] =
                m->wte[(size_t)tokens[t] * C + i] + m->wpe[(size_t)(n->T + t) * C + i];
    for (int l = 0; l < m->cfg.n_layer; l++) naive_block(n, l, T_new);
    n->T += T_new;
    if (!logits_last) return 0;
    naive_layernorm(n->ln, n->x + (size_t)(T_new - 1) * C, m->lnf_w, m->lnf_b, 1, C, m->cfg.ln_eps);
    for (int v = 0; v < V; v++) {
        const float *e = m->lm_head + (size_t)v * C;
        float acc = 0;
        for (int i = 0; i < C; i++) acc += n->ln[i] * e[i];
        logits_last[v] = acc;
    }
    return 0;
}
