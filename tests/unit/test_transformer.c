// Unit tests for common/model/transformer, and helper modes for tests/tool/transformer_ref.sh.
//
//   test_transformer                      unit tests on in-memory random models (odd sizes
//                                         that exercise every kernel edge) against a naive
//                                         double-precision forward pass written here
//   test_transformer --write-model DIR [--dtype F32|F16|BF16] [--std S] [--seed N]
//                                         a synthetic checkpoint (4 layers, 4 heads, C=64,
//                                         n_ctx 128, the real vocabulary size)
//   test_transformer --logits DIR LAYERS TOKENS OUT
//                                         all rows' logits (T, V) as raw little-endian f32
//   test_transformer --generate DIR LAYERS TOKENS N
//                                         N greedy tokens with the KV cache, space separated
// LAYERS and TOKENS are comma-separated integers ("" = empty configuration).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/threadpool.h"
#include "base/util.h"
#include "check.h"
#include "experiment/sweep.h"
#include "model/checkpoint.h"
#include "model/gpt2.h"
#include "model/matmul.h"
#include "model/sample.h"
#include "model/transformer.h"

// ----------------------------------------------------------------------------
// an in-memory random model

typedef struct {
    Gpt2 m;
    float *mem;
} MemModel;

static float *take(float **p, size_t n) {
    float *r = *p;
    *p += n;
    return r;
}

static void fill_normalish(float *x, size_t n, float mean, float std, Rng *rng) {
    for (size_t i = 0; i < n; i++)
        x[i] = mean + std * (float)((rng_uniform(rng) * 2.0 - 1.0) * 1.7320508);
}

static void model_random(MemModel *mm, int L, int NH, int C, int n_ctx, int V, uint64_t seed) {
    memset(mm, 0, sizeof *mm);
    Gpt2 *m = &mm->m;
    m->cfg = (Gpt2Config){
        .n_layer = L, .n_head = NH, .n_embd = C, .n_ctx = n_ctx, .vocab_size = V, .ln_eps = 1e-5f};
    size_t per_block = (size_t)C * (4 + 3 + 1 + 4 + 1) + (size_t)C * 3 * C + (size_t)C * C +
                       (size_t)C * 4 * C * 2 + (size_t)C * 4;
    size_t total = (size_t)V * C + (size_t)n_ctx * C + per_block * L + 2 * (size_t)C;
    mm->mem = xmalloc(total * sizeof(float));
    float *p = mm->mem;
    Rng rng;
    rng_seed(&rng, seed);
    float std = 0.15f;
#define W(n, mean, sd) (fill_normalish(*(&p), (n), (mean), (sd), &rng), take(&p, (n)))
    m->wte = W((size_t)V * C, 0, std);
    m->wpe = W((size_t)n_ctx * C, 0, std);
    m->blocks = xcalloc((size_t)L, sizeof *m->blocks);
    for (int l = 0; l < L; l++) {
        Gpt2Block *b = &m->blocks[l];
        b->ln1_w = W(C, 1, 0.1f);
        b->ln1_b = W(C, 0, 0.05f);
        b->qkv_w = W((size_t)C * 3 * C, 0, std);
        b->qkv_b = W(3 * (size_t)C, 0, std);
        b->attn_proj_w = W((size_t)C * C, 0, std);
        b->attn_proj_b = W(C, 0, std);
        b->ln2_w = W(C, 1, 0.1f);
        b->ln2_b = W(C, 0, 0.05f);
        b->fc_w = W((size_t)C * 4 * C, 0, std);
        b->fc_b = W(4 * (size_t)C, 0, std);
        b->mlp_proj_w = W((size_t)4 * C * C, 0, std);
        b->mlp_proj_b = W(C, 0, std);
    }
    m->lnf_w = W(C, 1, 0.1f);
    m->lnf_b = W(C, 0, 0.05f);
#undef W
    m->lm_head = m->wte;
    m->tied = 1;
}

static void model_free(MemModel *mm) {
    free(mm->m.blocks);
    free(mm->mem);
}

// ----------------------------------------------------------------------------
// a naive double-precision reference forward pass (no shared code with transformer.c)

static void ref_layernorm(double *out, const double *x, const float *w, const float *b, int C,
                          double eps) {
    double mean = 0, var = 0;
    for (int i = 0; i < C; i++) mean += x[i];
    mean /= C;
    for (int i = 0; i < C; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= C;
    for (int i = 0; i < C; i++) out[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i];
}

// y (N) = x (K) · W (K, N) + b
static void ref_linear(double *y, const double *x, const float *w, const float *b, int K, int N) {
    for (int j = 0; j < N; j++) {
        double s = b[j];
        for (int k = 0; k < K; k++) s += x[k] * w[(size_t)k * N + j];
        y[j] = s;
    }
}

// logits (T, V)
static void ref_forward(const Gpt2 *m, const int *layers, int n, const int *tokens, int T,
                        double *logits) {
    int C = m->cfg.n_embd, NH = m->cfg.n_head, hs = C / NH, V = m->cfg.vocab_size;
    double eps = m->cfg.ln_eps;
    double *x = xcalloc((size_t)T * C, sizeof *x), *h = xcalloc(4 * (size_t)C, sizeof *h);
    double *qkv = xcalloc((size_t)T * 3 * C, sizeof *qkv), *y = xcalloc((size_t)T * C, sizeof *y);
    double *tmp = xcalloc(4 * (size_t)C, sizeof *tmp), *att = xcalloc((size_t)T, sizeof *att);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < C; i++)
            x[t * C + i] = (double)m->wte[(size_t)tokens[t] * C + i] + m->wpe[(size_t)t * C + i];
    for (int li = 0; li < n; li++) {
        const Gpt2Block *b = &m->blocks[layers[li]];
        for (int t = 0; t < T; t++) {
            ref_layernorm(h, x + t * C, b->ln1_w, b->ln1_b, C, eps);
            ref_linear(qkv + (size_t)t * 3 * C, h, b->qkv_w, b->qkv_b, C, 3 * C);
        }
        for (int t = 0; t < T; t++)
            for (int hd = 0; hd < NH; hd++) {
                const double *q = qkv + (size_t)t * 3 * C + hd * hs;
                double max = -INFINITY, sum = 0;
                for (int j = 0; j <= t; j++) {
                    const double *k = qkv + (size_t)j * 3 * C + C + hd * hs;
                    double s = 0;
                    for (int i = 0; i < hs; i++) s += q[i] * k[i];
                    att[j] = s / sqrt((double)hs);
                    if (att[j] > max) max = att[j];
                }
                for (int j = 0; j <= t; j++) sum += (att[j] = exp(att[j] - max));
                for (int i = 0; i < hs; i++) {
                    double s = 0;
                    for (int j = 0; j <= t; j++)
                        s += att[j] / sum * qkv[(size_t)j * 3 * C + 2 * C + hd * hs + i];
                    y[t * C + hd * hs + i] = s;
                }
            }
        for (int t = 0; t < T; t++) {
            ref_linear(tmp, y + t * C, b->attn_proj_w, b->attn_proj_b, C, C);
            for (int i = 0; i < C; i++) x[t * C + i] += tmp[i];
            ref_layernorm(h, x + t * C, b->ln2_w, b->ln2_b, C, eps);
            ref_linear(tmp, h, b->fc_w, b->fc_b, C, 4 * C);
            for (int i = 0; i < 4 * C; i++)
                tmp[i] = 0.5 * tmp[i] *
                         (1 + tanh(sqrt(2 / M_PI) * (tmp[i] + 0.044715 * pow(tmp[i], 3))));
            ref_linear(h, tmp, b->mlp_proj_w, b->mlp_proj_b, 4 * C, C);
            for (int i = 0; i < C; i++) x[t * C + i] += h[i];
        }
    }
    for (int t = 0; t < T; t++) {
        ref_layernorm(h, x + t * C, m->lnf_w, m->lnf_b, C, eps);
        for (int v = 0; v < V; v++) {
            double s = 0;
            for (int i = 0; i < C; i++) s += h[i] * m->lm_head[(size_t)v * C + i];
            logits[(size_t)t * V + v] = s;
        }
    }
    free(x), free(h), free(qkv), free(y), free(tmp), free(att);
}

// ----------------------------------------------------------------------------
// helpers

static double max_diff(const float *a, const double *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= d)) d = e;   // NaN propagates as a failure
    }
    return d;
}

static double max_diff_f(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= d)) d = e;
    }
    return d;
}

static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof *a) == 0;
}

static void tokens_random(int *tokens, int T, int V, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    for (int t = 0; t < T; t++) tokens[t] = (int)rng_below(&rng, (uint64_t)V);
}

// ----------------------------------------------------------------------------
// tests

typedef struct {
    const char *name;
    int layers[8];
    int n;
} Config;

// A model with C % 64 != 0, 3C and V not multiples of the tile sizes, T > one task's rows.
static const Config configs[] = {
    {"intact", {0, 1, 2}, 3}, {"permuted", {2, 0, 1}, 3}, {"repeated", {1, 1, 0, 2, 2}, 5},
    {"partial", {0}, 1},      {"empty", {0}, 0},
};
#define N_CONFIGS (int)(sizeof configs / sizeof *configs)

static void test_against_reference(const Gpt2 *m, const int *tokens, int T, TfWorkspace *ws) {
    int V = m->cfg.vocab_size;
    float *logits = xmalloc(sizeof(float) * T * V);
    double *want = xmalloc(sizeof(double) * T * V);
    char name[128], err[256];
    for (int c = 0; c < N_CONFIGS; c++) {
        ref_forward(m, configs[c].layers, configs[c].n, tokens, T, want);
        int rc = tf_forward(m, configs[c].layers, configs[c].n, tokens, T, NULL, 0, logits, ws, err,
                            sizeof err);
        snprintf(name, sizeof name, "forward %s (C=%d NH=%d V=%d T=%d) returns 0", configs[c].name,
                 m->cfg.n_embd, m->cfg.n_head, V, T);
        CHECK(name, rc == 0);
        snprintf(name, sizeof name, "forward %s (C=%d) matches the double reference",
                 configs[c].name, m->cfg.n_embd);
        CHECK_NEAR(name, max_diff(logits, want, (size_t)T * V), 0.0, 2e-5);
    }
    free(logits);
    free(want);
}

// The residual-level API (embed, blocks, logits) and tf_forward agree bit for bit, and a
// prefix computed once and copied gives the same result as separate computations.
static void test_residual_api(const Gpt2 *m, const int *tokens, int T, TfWorkspace *ws) {
    int C = m->cfg.n_embd, V = m->cfg.vocab_size, L = m->cfg.n_layer;
    float *a = xmalloc(sizeof(float) * T * V), *b = xmalloc(sizeof(float) * T * V);
    float *r = xmalloc(sizeof(float) * T * C), *r2 = xmalloc(sizeof(float) * T * C);
    char err[256];
    int identity[16];
    for (int l = 0; l < L; l++) identity[l] = l;

    int rc = tf_forward(m, identity, L, tokens, T, NULL, 0, a, ws, err, sizeof err);
    rc |= tf_embed(m, tokens, T, 0, r, err, sizeof err);
    for (int l = 0; l < L; l++) rc |= tf_block_forward(m, l, r, T, ws, err, sizeof err);
    rc |= tf_logits(m, r, T, NULL, 0, b, ws, err, sizeof err);
    CHECK("residual API: calls succeed", rc == 0);
    CHECK("residual API: identity configuration == tf_forward intact, bit for bit",
          same_bits(a, b, (size_t)T * V));
    CHECK("tf_forward leaves the final residual in ws->resid",
          same_bits(ws->resid, r, (size_t)T * C));

    // selected rows
    int rows[3] = {T - 1, 0, T / 2};
    float *sel = xmalloc(sizeof(float) * 3 * V);
    rc = tf_forward(m, identity, L, tokens, T, rows, 3, sel, ws, err, sizeof err);
    CHECK("selected rows: rc", rc == 0);
    CHECK("selected rows == the same rows of all-row logits, bit for bit",
          same_bits(sel, a + (size_t)(T - 1) * V, V) && same_bits(sel + V, a, V) &&
              same_bits(sel + 2 * V, a + (size_t)(T / 2) * V, V));
    free(sel);

    // prefix sharing: [0,1] once, then [..., 2] and [..., 1, 0]
    int cfg1[] = {0, 1, 2}, cfg2[] = {0, 1, 1, 0};
    rc = tf_embed(m, tokens, T, 0, r, err, sizeof err);
    rc |= tf_block_forward(m, 0, r, T, ws, err, sizeof err);
    rc |= tf_block_forward(m, 1, r, T, ws, err, sizeof err);
    memcpy(r2, r, sizeof(float) * T * C);
    rc |= tf_block_forward(m, 2, r, T, ws, err, sizeof err);
    rc |= tf_logits(m, r, T, NULL, 0, a, ws, err, sizeof err);
    rc |= tf_forward(m, cfg1, 3, tokens, T, NULL, 0, b, ws, err, sizeof err);
    CHECK("prefix shared [0,1]+[2] == [0,1,2] separately, bit for bit",
          rc == 0 && same_bits(a, b, (size_t)T * V));
    rc = tf_block_forward(m, 1, r2, T, ws, err, sizeof err);
    rc |= tf_block_forward(m, 0, r2, T, ws, err, sizeof err);
    rc |= tf_logits(m, r2, T, NULL, 0, a, ws, err, sizeof err);
    rc |= tf_forward(m, cfg2, 4, tokens, T, NULL, 0, b, ws, err, sizeof err);
    CHECK("prefix shared [0,1]+[1,0] == [0,1,1,0] separately, bit for bit",
          rc == 0 && same_bits(a, b, (size_t)T * V));

    // logit lens: tf_logits on an intermediate residual == the partial configuration
    int first[] = {0};
    rc = tf_embed(m, tokens, T, 0, r, err, sizeof err);
    rc |= tf_block_forward(m, 0, r, T, ws, err, sizeof err);
    rc |= tf_logits(m, r, T, NULL, 0, a, ws, err, sizeof err);
    rc |= tf_forward(m, first, 1, tokens, T, NULL, 0, b, ws, err, sizeof err);
    CHECK("logit lens after block 0 == configuration [0]",
          rc == 0 && same_bits(a, b, (size_t)T * V));

    // a NULL workspace gives the same numbers
    rc = tf_forward(m, cfg2, 4, tokens, T, NULL, 0, a, NULL, err, sizeof err);
    rc |= tf_forward(m, cfg2, 4, tokens, T, NULL, 0, b, ws, err, sizeof err);
    CHECK("tf_forward with a temporary workspace == with ws",
          rc == 0 && same_bits(a, b, (size_t)T * V));
    free(a), free(b), free(r), free(r2);
}

// ----------------------------------------------------------------------------
// hooks

typedef struct {
    float *act[16][TF_N_HOOKS];   // (T, C) captured per (call, point)
    int calls[TF_N_HOOKS];        // calls per point
    int layer[16];                // block index of each RESID_PRE call
    int zero_z;                   // zero every z instead of capturing
} HookLog;

static void hook_log(void *ctx, TfHookPoint point, int layer, float *act, int T, int C) {
    HookLog *h = ctx;
    int k = h->calls[point]++;
    if (point == TF_HOOK_RESID_PRE && k < 16) h->layer[k] = layer;
    if (point == TF_HOOK_Z && h->zero_z) memset(act, 0, sizeof(float) * (size_t)T * C);
    if (k < 16) {
        h->act[k][point] = xmalloc(sizeof(float) * (size_t)T * C);
        memcpy(h->act[k][point], act, sizeof(float) * (size_t)T * C);
    }
}

static void hook_log_free(HookLog *h) {
    for (int k = 0; k < 16; k++)
        for (int p = 0; p < TF_N_HOOKS; p++) free(h->act[k][p]);
    memset(h, 0, sizeof *h);
}

static int sum_is(const float *a, const float *b, const float *sum, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] + b[i] != sum[i]) return 0;
    return 1;
}

// Hooks: unused ones change nothing; each point sees what the block computes there; a
// hook that changes its activations changes what follows.
static void test_hooks(const Gpt2 *m, const int *tokens, int T, TfWorkspace *ws) {
    int C = m->cfg.n_embd, V = m->cfg.vocab_size;
    size_t n = (size_t)T * C;
    int cfg[] = {2, 0, 2};
    float *a = xmalloc(sizeof(float) * T * V), *b = xmalloc(sizeof(float) * T * V);
    float *r = xmalloc(sizeof(float) * n);
    char err[256];
    CHECK_INT("tf_hook_find resid_post", tf_hook_find("resid_post"), TF_HOOK_RESID_POST);
    CHECK_INT("tf_hook_find hook_z", tf_hook_find("hook_z"), TF_HOOK_Z);
    CHECK_INT("tf_hook_find unknown", tf_hook_find("resid"), -1);

    int rc = tf_forward(m, cfg, 3, tokens, T, NULL, 0, a, ws, err, sizeof err);
    HookLog log = {0};
    TfHooks none = {hook_log, &log, 0};
    ws->hooks = &none;
    rc |= tf_forward(m, cfg, 3, tokens, T, NULL, 0, b, ws, err, sizeof err);
    CHECK("hooks with an empty mask: never called",
          log.calls[TF_HOOK_RESID_PRE] == 0 && log.calls[TF_HOOK_Z] == 0);
    CHECK("hooks with an empty mask: same logits, bit for bit",
          rc == 0 && same_bits(a, b, (size_t)T * V));

    TfHooks all = {hook_log, &log, (1u << TF_N_HOOKS) - 1};
    ws->hooks = &all;
    rc = tf_forward(m, cfg, 3, tokens, T, NULL, 0, b, ws, err, sizeof err);
    CHECK("capturing hooks: same logits, bit for bit", rc == 0 && same_bits(a, b, (size_t)T * V));
    int ok = 1;
    for (int p = 0; p < TF_N_HOOKS; p++) ok &= log.calls[p] == 3;
    CHECK("each point called once per block of the configuration", ok);
    CHECK("hook layer = the block index",
          log.layer[0] == 2 && log.layer[1] == 0 && log.layer[2] == 2);
    ok = 1;
    for (int k = 0; k < 3; k++) {
        ok &= sum_is(log.act[k][TF_HOOK_RESID_PRE], log.act[k][TF_HOOK_ATTN_OUT],
                     log.act[k][TF_HOOK_RESID_MID], n);
        ok &= sum_is(log.act[k][TF_HOOK_RESID_MID], log.act[k][TF_HOOK_MLP_OUT],
                     log.act[k][TF_HOOK_RESID_POST], n);
    }
    CHECK("resid_mid = resid_pre + attn_out, resid_post = resid_mid + mlp_out (exactly)", ok);
    CHECK("resid_post of one block = resid_pre of the next",
          same_bits(log.act[0][TF_HOOK_RESID_POST], log.act[1][TF_HOOK_RESID_PRE], n) &&
              same_bits(log.act[1][TF_HOOK_RESID_POST], log.act[2][TF_HOOK_RESID_PRE], n));
    CHECK("resid_post of the last block = tf_forward's final residual",
          same_bits(log.act[2][TF_HOOK_RESID_POST], ws->resid, n));
    rc = tf_embed(m, tokens, T, 0, r, err, sizeof err);
    CHECK("resid_pre of the first block = the embeddings",
          rc == 0 && same_bits(log.act[0][TF_HOOK_RESID_PRE], r, n));
    // the residual-level API calls the same hooks
    hook_log_free(&log);
    for (int k = 0; k < 3; k++) rc |= tf_block_forward(m, cfg[k], r, T, ws, err, sizeof err);
    CHECK("tf_block_forward calls the hooks too",
          rc == 0 && log.calls[TF_HOOK_MLP_OUT] == 3 &&
              same_bits(log.act[2][TF_HOOK_RESID_POST], r, n));
    // A modifying hook: z zeroed -> attn_out is the c_proj bias in every row.
    hook_log_free(&log);
    log.zero_z = 1;
    TfHooks zero = {hook_log, &log, 1u << TF_HOOK_Z | 1u << TF_HOOK_ATTN_OUT};
    ws->hooks = &zero;
    rc = tf_forward(m, cfg, 3, tokens, T, NULL, 0, b, ws, err, sizeof err);
    ok = rc == 0;
    for (int t = 0; t < T && ok; t++)
        ok = same_bits(log.act[0][TF_HOOK_ATTN_OUT] + (size_t)t * C, m->blocks[2].attn_proj_b, C);
    CHECK("a hook zeroing z: attn_out = the c_proj bias", ok);
    CHECK("a hook zeroing z changes the logits", !same_bits(a, b, (size_t)T * V));
    // The KV-cache functions never call hooks.
    hook_log_free(&log);
    ws->hooks = &all;
    TfCache *c = tf_cache_new(m, cfg, 3, T, err, sizeof err);
    c->ws = ws;
    rc = tf_step(c, tokens, T, NULL, err, sizeof err);
    CHECK("tf_step calls no hooks", c && rc == 0 && log.calls[TF_HOOK_RESID_PRE] == 0);
    tf_cache_free(c);
    ws->hooks = NULL;
    hook_log_free(&log);
    free(a), free(b), free(r);
}

// Results do not depend on the number of threads.
static void test_threads(const Gpt2 *m, const int *tokens, int T) {
    int V = m->cfg.vocab_size;
    static const int sizes[] = {1, 2, 3};
    float *ref = xmalloc(sizeof(float) * T * V), *got = xmalloc(sizeof(float) * T * V);
    int cfg[] = {2, 0, 1, 1};
    char err[256], name[96];
    for (int i = 0; i < 3; i++) {
        ThreadPool *pool = sizes[i] == 1 ? NULL : threadpool_new(sizes[i]);
        TfWorkspace ws;
        int rc = tf_workspace_init(&ws, m, T, pool, err, sizeof err);
        rc |= tf_forward(m, cfg, 4, tokens, T, NULL, 0, i == 0 ? ref : got, &ws, err, sizeof err);
        if (i > 0) {
            snprintf(name, sizeof name, "%d threads == 1 thread, bit for bit", sizes[i]);
            CHECK(name, rc == 0 && same_bits(ref, got, (size_t)T * V));
        }
        tf_workspace_free(&ws);
        threadpool_free(pool);
    }
    free(ref), free(got);
}

// A pass big enough for the row-parallel LayerNorm and residual adds (>= 16K floats) and
// for the tiled matmul's tail pieces: 12 packed sequences of 37 rows through 3 blocks
// with 2 and 3 threads == with 1, bit for bit.
static void test_threads_packed(const Gpt2 *m, const int *tokens) {
    enum { SEQ = 12, LEN = 37 };
    int C = m->cfg.n_embd, starts[SEQ + 1], blocks[3] = {2, 0, 1}, rc = 0;
    size_t n = (size_t)SEQ * LEN * C;
    float *ref = xmalloc(sizeof(float) * n), *got = xmalloc(sizeof(float) * n);
    char err[256], name[128];
    for (int i = 0; i <= SEQ; i++) starts[i] = i * LEN;
    static const int sizes[] = {1, 2, 3};
    for (int p = 0; p < 3; p++) {
        ThreadPool *pool = sizes[p] == 1 ? NULL : threadpool_new(sizes[p]);
        TfWorkspace ws;
        float *x = p == 0 ? ref : got;
        rc |= tf_workspace_init(&ws, m, SEQ * LEN, pool, err, sizeof err);
        for (int i = 0; i < SEQ; i++)
            rc |= tf_embed(m, tokens + i % 3, LEN, 0, x + (size_t)starts[i] * C, err, sizeof err);
        for (int b = 0; b < 3; b++)
            rc |= tf_block_forward_packed(m, blocks[b], x, starts, SEQ, &ws, err, sizeof err);
        if (p > 0) {
            snprintf(name, sizeof name,
                     "packed pass of %d rows x %d: %d threads == 1 thread, bit for bit", SEQ * LEN,
                     C, sizes[p]);
            CHECK(name, rc == 0 && same_bits(ref, got, n));
        }
        tf_workspace_free(&ws);
        threadpool_free(pool);
    }
    free(ref), free(got);
}

// KV-cached decoding agrees with the full forward pass.
static void test_cache(const Gpt2 *m, const int *tokens, int T, TfWorkspace *ws) {
    int V = m->cfg.vocab_size;
    int cfg[] = {1, 0, 2, 1};
    float *full = xmalloc(sizeof(float) * T * V), *step = xmalloc(sizeof(float) * V);
    char err[256];
    int rc = tf_forward(m, cfg, 4, tokens, T, NULL, 0, full, ws, err, sizeof err);
    TfCache *c = tf_cache_new(m, cfg, 4, T, err, sizeof err);
    CHECK("tf_cache_new", c != NULL && rc == 0);
    if (!c) return;
    // prefill 5, then chunks of 3, then single tokens
    double worst = 0;
    int exact = 1, pos = 0, ok = 1;
    while (pos < T) {
        int n = pos == 0 ? 5 : pos < 14 ? 3 : 1;
        if (n > T - pos) n = T - pos;
        ok &= tf_step(c, tokens + pos, n, step, err, sizeof err) == 0;
        pos += n;
        const float *want = full + (size_t)(pos - 1) * V;
        double d = max_diff_f(step, want, V);
        if (d > worst) worst = d;
        exact &= same_bits(step, want, V);
    }
    CHECK("tf_step: all calls succeed", ok);
    CHECK_INT("tf_step: cache length", c->T, T);
    CHECK_NEAR("tf_step logits == full forward rows (1e-5)", worst, 0.0, 1e-5);
    CHECK("tf_step logits == full forward rows, bit for bit", exact);

    // rewind and step again from the middle
    ok = tf_cache_rewind(c, T / 2, err, sizeof err) == 0;
    ok &= tf_step(c, tokens + T / 2, T - T / 2, step, err, sizeof err) == 0;
    CHECK("rewind + prefill of the rest == full forward",
          ok && same_bits(step, full + (size_t)(T - 1) * V, V));
    CHECK("full cache: tf_step fails", tf_step(c, tokens, 1, step, err, sizeof err) == -1);
    CHECK("full cache: message", strstr(err, "cache full") != NULL);
    CHECK("rewind beyond length fails", tf_cache_rewind(c, T + 1, err, sizeof err) == -1);

    // prefix-shared prefill: slots [1,0] shared with configuration [1,0,0]
    int cfg_b[] = {1, 0, 0};
    TfCache *a = tf_cache_new(m, cfg, 4, T, err, sizeof err);
    TfCache *b = tf_cache_new(m, cfg_b, 3, T, err, sizeof err);
    TfCache *b_plain = tf_cache_new(m, cfg_b, 3, T, err, sizeof err);
    int C = m->cfg.n_embd, P = T - 3, last = P - 1;
    float *r = xmalloc(sizeof(float) * P * C), *r2 = xmalloc(sizeof(float) * P * C);
    float *la = xmalloc(sizeof(float) * V), *lb = xmalloc(sizeof(float) * V),
          *lp = xmalloc(sizeof(float) * V);
    rc = tf_embed(m, tokens, P, 0, r, err, sizeof err);
    for (int s = 0; s < 2; s++) rc |= tf_cache_block_forward(a, s, r, P, err, sizeof err);
    rc |= tf_cache_copy_slots(b, a, 2, P, err, sizeof err);
    memcpy(r2, r, sizeof(float) * P * C);
    for (int s = 2; s < 4; s++) rc |= tf_cache_block_forward(a, s, r, P, err, sizeof err);
    rc |= tf_cache_block_forward(b, 2, r2, P, err, sizeof err);
    rc |= tf_cache_advance(a, P, err, sizeof err) | tf_cache_advance(b, P, err, sizeof err);
    rc |= tf_logits(m, r, P, &last, 1, la, ws, err, sizeof err);
    rc |= tf_logits(m, r2, P, &last, 1, lb, ws, err, sizeof err);
    CHECK("shared prefill: calls succeed", rc == 0);
    CHECK("shared prefill a == full forward, bit for bit",
          same_bits(la, full + (size_t)last * V, V));
    rc = tf_step(b_plain, tokens, P, lp, err, sizeof err);
    CHECK("shared prefill b == its own prefill, bit for bit", rc == 0 && same_bits(lb, lp, V));
    rc = tf_step(b, tokens + P, 3, lb, err, sizeof err) |
         tf_step(b_plain, tokens + P, 3, lp, err, sizeof err);
    CHECK("shared prefill b, then steps == plain", rc == 0 && same_bits(lb, lp, V));
    CHECK("copy_slots: different blocks refused",
          tf_cache_copy_slots(b, a, 3, P, err, sizeof err) == -1);
    CHECK("copy_slots: message names the slot", strstr(err, "slot 2") != NULL);
    CHECK("cache_block_forward: bad slot refused",
          tf_cache_block_forward(b, 3, r2, 1, err, sizeof err) == -1);
    free(r), free(r2), free(la), free(lb), free(lp);
    tf_cache_free(a), tf_cache_free(b), tf_cache_free(b_plain);

    // an empty configuration caches nothing but still decodes
    TfCache *e = tf_cache_new(m, NULL, 0, T, err, sizeof err);
    rc = tf_step(e, tokens, T, step, err, sizeof err);
    rc |= tf_forward(m, NULL, 0, tokens, T, NULL, 0, full, ws, err, sizeof err);
    CHECK("empty configuration cache == forward",
          e && rc == 0 && same_bits(step, full + (size_t)(T - 1) * V, V));
    tf_cache_free(e);
    tf_cache_free(c);
    free(full), free(step);
}

// tf_step_batch == separate tf_step calls, bit for bit.
static void test_batch(const Gpt2 *m, const int *tokens) {
    int V = m->cfg.vocab_size;
    static const Config cfgs[] = {
        {"a", {0, 1, 2}, 3}, {"b", {0, 2}, 2},    {"c", {1, 1, 0}, 3},
        {"d", {0}, 0},       {"e", {0, 1, 2}, 3},
    };
    enum { N = 5, STEPS = 4 };
    int prompt_len[N] = {5, 3, 7, 2, 5};
    TfCache *batch[N], *single[N];
    char err[256];
    int ok = 1;
    for (int i = 0; i < N; i++) {
        batch[i] = tf_cache_new(m, cfgs[i].layers, cfgs[i].n, 20, err, sizeof err);
        single[i] = tf_cache_new(m, cfgs[i].layers, cfgs[i].n, 20, err, sizeof err);
        ok &= tf_step(batch[i], tokens + i, prompt_len[i], NULL, err, sizeof err) == 0;
        ok &= tf_step(single[i], tokens + i, prompt_len[i], NULL, err, sizeof err) == 0;
    }
    TfWorkspace ws;
    ok &= tf_workspace_init(&ws, m, N, threadpool_global(), err, sizeof err) == 0;
    float *lb = xmalloc(sizeof(float) * N * V), *ls = xmalloc(sizeof(float) * V);
    int exact = 1;
    for (int s = 0; s < STEPS; s++) {
        int next[N];
        for (int i = 0; i < N; i++) next[i] = tokens[10 + i + s];
        ok &= tf_step_batch(batch, N, next, lb, &ws, err, sizeof err) == 0;
        for (int i = 0; i < N; i++) {
            ok &= tf_step(single[i], &next[i], 1, ls, err, sizeof err) == 0;
            exact &= same_bits(lb + (size_t)i * V, ls, V);
        }
    }
    CHECK("tf_step_batch: calls succeed", ok);
    CHECK("tf_step_batch == separate tf_step, bit for bit", exact);
    CHECK_INT("tf_step_batch advances each cache", batch[2]->T, prompt_len[2] + STEPS);
    TfCache *dup[2] = {batch[0], batch[0]};
    int t2[2] = {1, 2};
    CHECK("tf_step_batch: a cache twice is refused",
          tf_step_batch(dup, 2, t2, lb, &ws, err, sizeof err) == -1);
    int bad[N] = {1, 2, V, 3, 4};
    CHECK("tf_step_batch: bad token refused",
          tf_step_batch(batch, N, bad, lb, &ws, err, sizeof err) == -1);
    CHECK_INT("tf_step_batch: refused batch does not advance", batch[2]->T, prompt_len[2] + STEPS);
    TfWorkspace small;
    ok = tf_workspace_init(&small, m, 2, NULL, err, sizeof err) == 0;
    CHECK("tf_step_batch: workspace too small refused",
          ok && tf_step_batch(batch, N, t2, lb, &small, err, sizeof err) == -1);
    tf_workspace_free(&small);
    for (int i = 0; i < N; i++) tf_cache_free(batch[i]), tf_cache_free(single[i]);
    tf_workspace_free(&ws);
    free(lb), free(ls);
}

static void test_errors(const Gpt2 *m, TfWorkspace *ws) {
    int n_ctx = m->cfg.n_ctx, V = m->cfg.vocab_size, L = m->cfg.n_layer;
    int *tokens = xcalloc((size_t)n_ctx + 1, sizeof *tokens);
    float *logits = xmalloc(sizeof(float) * V * 2);
    float *resid = xcalloc((size_t)(n_ctx + 1) * m->cfg.n_embd, sizeof *resid);
    int cfg[] = {0, 1};
    char err[256];
    TfWorkspace big;
    tf_workspace_init(&big, m, n_ctx + 1, NULL, err, sizeof err);

    err[0] = 0;
    CHECK("T > n_ctx: -1",
          tf_forward(m, cfg, 2, tokens, n_ctx + 1, NULL, 0, logits, &big, err, sizeof err) == -1);
    CHECK("T > n_ctx: message", strstr(err, "exceeds the context") != NULL);
    CHECK("T == 0: -1",
          tf_forward(m, cfg, 2, tokens, 0, NULL, 0, logits, ws, err, sizeof err) == -1);
    CHECK("T == 0: message", strstr(err, "empty sequence") != NULL);
    int bad_hi[] = {0, L}, bad_lo[] = {-1};
    CHECK("layer L: -1",
          tf_forward(m, bad_hi, 2, tokens, 3, NULL, 0, logits, ws, err, sizeof err) == -1);
    char want[64];
    snprintf(want, sizeof want, "layer index %d out of range 0..%d", L, L - 1);
    CHECK_STR("layer L: message", err, want);
    CHECK("layer -1: -1",
          tf_forward(m, bad_lo, 1, tokens, 3, NULL, 0, logits, ws, err, sizeof err) == -1);
    CHECK("tf_block_forward bad layer: -1",
          tf_block_forward(m, L, resid, 3, ws, err, sizeof err) == -1);
    CHECK("tf_block_forward T > ws->max_T: -1",
          tf_block_forward(m, 0, resid, ws->max_T + 1, ws, err, sizeof err) == -1);
    CHECK("tf_block_forward T > n_ctx: -1",
          tf_block_forward(m, 0, resid, n_ctx + 1, &big, err, sizeof err) == -1);
    CHECK("tf_block_forward T == 0: -1",
          tf_block_forward(m, 0, resid, 0, ws, err, sizeof err) == -1);
    tokens[1] = V;
    CHECK("token V: -1",
          tf_forward(m, cfg, 2, tokens, 3, NULL, 0, logits, ws, err, sizeof err) == -1);
    CHECK("token V: message", strstr(err, "token id") && strstr(err, "position 1"));
    tokens[1] = -1;
    CHECK("token -1 (embed): -1", tf_embed(m, tokens, 3, 0, resid, err, sizeof err) == -1);
    tokens[1] = 0;
    CHECK("embed past n_ctx: -1", tf_embed(m, tokens, 2, n_ctx - 1, resid, err, sizeof err) == -1);
    CHECK("embed at the last position: 0",
          tf_embed(m, tokens, 1, n_ctx - 1, resid, err, sizeof err) == 0);
    int row = 3;
    CHECK("logit row out of range: -1",
          tf_logits(m, resid, 3, &row, 1, logits, ws, err, sizeof err) == -1);
    CHECK("cache size 0: NULL", tf_cache_new(m, cfg, 2, 0, err, sizeof err) == NULL);
    CHECK("cache size > n_ctx: NULL", tf_cache_new(m, cfg, 2, n_ctx + 1, err, sizeof err) == NULL);
    CHECK("cache bad layer: NULL", tf_cache_new(m, bad_hi, 2, 4, err, sizeof err) == NULL);
    TfCache *c = tf_cache_new(m, cfg, 2, 4, err, sizeof err);
    CHECK("cache T_new == 0: -1", tf_step(c, tokens, 0, logits, err, sizeof err) == -1);
    CHECK("cache overflow in one prefill: -1",
          tf_step(c, tokens, 5, logits, err, sizeof err) == -1);
    tokens[2] = V + 5;
    CHECK("cache bad token: -1", tf_step(c, tokens, 3, logits, err, sizeof err) == -1);
    CHECK_INT("cache unchanged after errors", c->T, 0);
    tokens[2] = 0;
    tf_cache_free(c);
    CHECK("workspace max_T 0: -1",
          tf_workspace_init(&(TfWorkspace){0}, m, 0, NULL, err, sizeof err) == -1);
    tf_workspace_free(&big);
    free(tokens), free(logits), free(resid);
}

// tf_logsumexp as first written: the maximum by a plain loop over doubles.
static double plain_logsumexp(const float *l, int V) {
    double max = -INFINITY;
    for (int i = 0; i < V; i++)
        if (l[i] > max) max = l[i];
    if (isinf(max)) return max;
    double sum = 0.0;
    for (int i = 0; i < V; i++) sum += exp((double)l[i] - max);
    return max + log(sum);
}

// The maximum comes from a vector scan (base/scan.h): the same value, bit for bit, on
// rows of every length around its 16-float block with NaN, -inf, signed zeros and ties.
static void test_logsumexp_scan(void) {
    float l[40];
    uint32_t seed = 7;
    int same = 1, cases = 0;
    for (int V = 0; V <= 40; V++)
        for (int kind = 0; kind < 5; kind++, cases++) {
            for (int i = 0; i < V; i++) {
                seed = seed * 1664525u + 1013904223u;
                int r = (int)(seed >> 24) % 8;
                l[i] = kind == 0   ? (float)r - 3.5f
                       : kind == 1 ? (r < 4 ? 0.0f : -0.0f)
                       : kind == 2 ? (r == 0   ? NAN
                                      : r == 1 ? -INFINITY
                                               : (float)(r % 3))
                       : kind == 3 ? NAN
                                   : (r < 2 ? -0.0f : -(float)r);
            }
            double a = tf_logsumexp(l, V), b = plain_logsumexp(l, V);
            same &= memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
        }
    CHECK("tf_logsumexp == the plain loops bit for bit, V = 0 .. 40, NaN / -inf / -0 / ties",
          same && cases == 41 * 5);
}

static void test_log_softmax(void) {
    test_logsumexp_scan();
    float l[4] = {0.0f, logf(2.0f), logf(3.0f), -INFINITY};
    CHECK_NEAR("logsumexp {0, ln2, ln3, -inf} = ln 6", tf_logsumexp(l, 4), log(6.0), 1e-7);
    float big[2] = {1000.0f, 1000.0f};
    CHECK_NEAR("logsumexp is shifted (no overflow)", tf_logsumexp(big, 2), 1000.0 + log(2.0), 1e-9);
    float out[4];
    tf_log_softmax(l, 4, out);
    CHECK_NEAR("log_softmax[2] = ln(3/6)", out[2], log(0.5), 1e-7);
    CHECK("log_softmax[3] = -inf", isinf(out[3]) && out[3] < 0);
    double s = 0;
    for (int i = 0; i < 4; i++) s += exp(out[i]);
    CHECK_NEAR("log_softmax sums to 1", s, 1.0, 1e-6);
    float rows[8] = {0.0f, logf(2.0f), logf(3.0f), -INFINITY, 1, 1, 1, 1};
    int targets[2] = {1, 3};
    double lp[2];
    char err[128];
    CHECK("target_logprobs rc", tf_target_logprobs(rows, 2, 4, targets, lp, err, sizeof err) == 0);
    CHECK_NEAR("target_logprobs row 0 = ln(2/6)", lp[0], log(2.0 / 6.0), 1e-7);
    CHECK_NEAR("target_logprobs row 1 = ln(1/4)", lp[1], log(0.25), 1e-7);
    targets[1] = 4;
    CHECK("target out of range: -1",
          tf_target_logprobs(rows, 2, 4, targets, lp, err, sizeof err) == -1);

    // Many rows (spread over the pool's threads): each exactly its own row's value.
    enum { N = 37, V = 1001 };
    float *many = xmalloc(sizeof(float) * N * V);
    int tg[N];
    double lps[N];
    Rng rng;
    rng_seed(&rng, 5);
    for (int i = 0; i < N * V; i++) many[i] = (float)(rng_uniform(&rng) * 20.0 - 10.0);
    for (int i = 0; i < N; i++) tg[i] = (i * 97) % V;
    int ok = tf_target_logprobs(many, N, V, tg, lps, err, sizeof err) == 0;
    for (int i = 0; i < N; i++) {
        double want = (double)many[(size_t)i * V + tg[i]] - tf_logsumexp(many + (size_t)i * V, V);
        ok &= memcmp(&want, &lps[i], sizeof want) == 0;
    }
    CHECK("target_logprobs of 37 rows: each == its row alone, bit for bit", ok);
    free(many);
}

// The row functions that spread rows over threadpool_global() (tf_log_softmax_rows,
// tf_target_scores) against each row computed alone on this thread, bit for bit: rows of
// random values, ties, NaN, -inf and +inf among them, all -inf, all NaN.
static void test_rows_parallel(void) {
    enum { N = 41, V = 1001 };
    float *x = xmalloc(sizeof(float) * N * V), *par = xmalloc(sizeof(float) * N * V),
          *one = xmalloc(sizeof(float) * V);
    Rng rng;
    rng_seed(&rng, 11);
    for (int i = 0; i < N * V; i++) x[i] = (float)(rng_uniform(&rng) * 20.0 - 10.0);
    for (int v = 0; v < V; v++) {
        x[1 * V + v] = 0.5f;                                  // all tied
        x[2 * V + v] = v % 3 ? x[2 * V + v] : NAN;            // NaN among values
        x[3 * V + v] = v % 2 ? -INFINITY : x[3 * V + v];      // -inf among values
        x[4 * V + v] = -INFINITY;                             // all -inf
        x[5 * V + v] = NAN;                                   // all NaN
        x[6 * V + v] = v == 500 || v == 900 ? 10.0f : 1.0f;   // a tie at the top
    }
    x[7 * V + 3] = INFINITY;
    int workers = threadpool_size(threadpool_global());
    tf_log_softmax_rows(x, N, V, par);
    int same = 1;
    for (int i = 0; i < N; i++) {
        tf_log_softmax(x + (size_t)i * V, V, one);
        same &= memcmp(one, par + (size_t)i * V, sizeof(float) * V) == 0;
    }
    char name[160];
    snprintf(name, sizeof name,
             "log_softmax_rows of %d rows on %d workers == each row alone, bit for bit", N,
             workers);
    CHECK(name, same);
    CHECK("log_softmax_rows: the all -inf row is NaN (-inf - -inf), as alone", isnan(par[4 * V]));
    memcpy(par, x, sizeof(float) * N * V);
    tf_log_softmax_rows(par, N, V, par);   // in place
    for (int i = 0; i < N; i++) {
        tf_log_softmax(x + (size_t)i * V, V, one);
        same &= memcmp(one, par + (size_t)i * V, sizeof(float) * V) == 0;
    }
    CHECK("log_softmax_rows in place == each row alone, bit for bit", same);

    int tg[N], greedy[N];
    double lp[N];
    char err[128];
    for (int i = 0; i < N; i++) tg[i] = (i * 131) % V;
    CHECK("target_scores rc", tf_target_scores(x, N, V, tg, lp, greedy, err, sizeof err) == 0);
    int same_lp = 1, same_greedy = 1;
    for (int i = 0; i < N; i++) {
        double alone;
        tf_target_logprobs(x + (size_t)i * V, 1, V, &tg[i], &alone, err, sizeof err);
        same_lp &= memcmp(&alone, &lp[i], sizeof alone) == 0;
        same_greedy &= greedy[i] == sample_greedy(x + (size_t)i * V, V);
    }
    CHECK("target_scores: each log-probability == its row alone, bit for bit", same_lp);
    CHECK("target_scores: each argmax == sample_greedy of its row", same_greedy);
    CHECK("target_scores: ties go to the lowest id (all tied: 0; top tie: 500)",
          greedy[1] == 0 && greedy[6] == 500);
    CHECK("target_scores: +inf is the argmax; all NaN: 0", greedy[7] == 3 && greedy[5] == 0);
    free(x), free(par), free(one);
}

// sweep_prefill (sweep.h): a prompt into many caches at once, sharing prefixes, gives
// each cache and its logits exactly what its own tf_step gives; then decoding goes on alike.
static void test_prefill_shared(const Gpt2 *m, const int *tokens, int T, TfWorkspace *ws) {
    int V = m->cfg.vocab_size, P = T - 4;
    // skip-one of 3 blocks, intact twice, a repeat, drop-last prefixes, the empty one
    static const int lists[][5] = {{1, 2},       {0, 2}, {0, 1}, {0, 1, 2},      {0, 1, 2},
                                   {2, 2, 1, 0}, {0},    {},     {0, 1, 1, 1, 2}};
    static const int lens[] = {2, 2, 2, 3, 3, 4, 1, 0, 5};
    enum { N = 9 };
    TfCache *shared[N], *plain[N];
    float *ls = xmalloc(sizeof(float) * N * V), *lp = xmalloc(sizeof(float) * V);
    char err[256];
    int ok = 1, same = 1;
    for (int i = 0; i < N; i++) {
        shared[i] = tf_cache_new(m, lists[i], lens[i], T, err, sizeof err);
        plain[i] = tf_cache_new(m, lists[i], lens[i], T, err, sizeof err);
        ok &= shared[i] && plain[i];
    }
    CHECK("prefill_shared: caches made", ok);
    if (!ok) return;
    for (int i = 0; i < N; i++) shared[i]->ws = ws;
    long blocks = -1;
    int rc = sweep_prefill(shared, N, tokens, P, ls, ws, &blocks, err, sizeof err);
    if (rc) printf("# %s\n", err);
    CHECK("prefill_shared: succeeds", rc == 0);
    // lexicographic: [] [0] [0,1] [0,1,1,1,2] [0,1,2] [0,1,2] [0,2] [1,2] [2,2,1,0]:
    // 0 + 1 + 1 + 3 + 1 + 0 + 1 + 2 + 4 = 13 blocks instead of 22
    CHECK_INT("prefill_shared: blocks run (shared prefixes)", blocks, 13);
    for (int i = 0; i < N; i++) {
        ok = tf_step(plain[i], tokens, P, lp, err, sizeof err) == 0;
        same &= ok && same_bits(ls + (size_t)i * V, lp, V) && shared[i]->T == P;
    }
    CHECK("prefill_shared: every cache's logits == its own tf_step, bit for bit", same);
    same = 1;
    for (int i = 0; i < N; i++) {   // then 4 more tokens, one at a time
        for (int t = P; t < T; t++) {
            ok = tf_step(shared[i], tokens + t, 1, ls, err, sizeof err) == 0;
            ok &= tf_step(plain[i], tokens + t, 1, lp, err, sizeof err) == 0;
            same &= ok && same_bits(ls, lp, V);
        }
    }
    CHECK("prefill_shared: decoding after it == after tf_step, bit for bit", same);

    // refusals: a cache already filled, a prompt longer than a cache, another model
    rc = sweep_prefill(shared, 2, tokens, P, ls, ws, NULL, err, sizeof err);
    CHECK("prefill_shared: a filled cache refused", rc == -1 && strstr(err, "not empty") != NULL);
    TfCache *small = tf_cache_new(m, lists[0], lens[0], 2, err, sizeof err);
    rc = sweep_prefill(&small, 1, tokens, P, NULL, ws, NULL, err, sizeof err);
    CHECK("prefill_shared: prompt longer than the cache refused",
          rc == -1 && strstr(err, "exceeds") != NULL);
    rc = sweep_prefill(&small, 0, tokens, 1, NULL, ws, NULL, err, sizeof err);
    CHECK("prefill_shared: no caches refused", rc == -1);
    tf_cache_free(small);
    for (int i = 0; i < N; i++) tf_cache_free(shared[i]), tf_cache_free(plain[i]);
    free(ls), free(lp);
}

// sweep_prefill_prompts: three prompts (33, 5 and 17 tokens) into 27 caches given in an
// interleaved order, passes packed across caches and prompts (split at ws->max_T = 37
// rows): every cache's logits == its own tf_step, bit for bit, and the blocks run are
// those of sweep_prefill on each prompt.
static void test_prefill_prompts(const Gpt2 *m, const int *tokens, int T, TfWorkspace *ws) {
    int V = m->cfg.vocab_size;
    static const int lists[][5] = {{1, 2},       {0, 2}, {0, 1}, {0, 1, 2},      {0, 1, 2},
                                   {2, 2, 1, 0}, {0},    {},     {0, 1, 1, 1, 2}};
    static const int lens[] = {2, 2, 2, 3, 3, 4, 1, 0, 5};
    enum { NL = 9, NP = 3, N = NL * NP };
    const int *prompts[NP] = {tokens, tokens + 7, tokens + 2};
    int plen[NP] = {T - 4, 5, 17}, which[N];
    TfCache *c[N];
    float *ls = xmalloc(sizeof(float) * N * V), *lp = xmalloc(sizeof(float) * V);
    char err[256];
    int ok = 1, same = 1;
    for (int i = 0; i < N; i++) {
        which[i] = i % NP;
        c[i] = tf_cache_new(m, lists[i / NP], lens[i / NP], T, err, sizeof err);
        ok &= c[i] != NULL;
        if (c[i]) c[i]->ws = ws;
    }
    CHECK("prefill_prompts: caches made", ok);
    if (!ok) return;
    long blocks = -1;
    int rc =
        sweep_prefill_prompts(c, N, which, prompts, plen, NP, ls, ws, &blocks, err, sizeof err);
    if (rc) printf("# %s\n", err);
    CHECK("prefill_prompts: succeeds", rc == 0);
    CHECK_INT("prefill_prompts: blocks run = 3 prompts x 13 (shared prefixes)", blocks, 39);
    for (int i = 0; i < N; i++) {
        TfCache *plain = tf_cache_new(m, lists[i / NP], lens[i / NP], T, err, sizeof err);
        ok = plain && tf_step(plain, prompts[which[i]], plen[which[i]], lp, err, sizeof err) == 0;
        same &= ok && same_bits(ls + (size_t)i * V, lp, V) && c[i]->T == plen[which[i]];
        if (ok) {   // the caches too: one more token decodes alike
            int next = tokens[30];
            ok = tf_step(plain, &next, 1, lp, err, sizeof err) == 0 &&
                 tf_step(c[i], &next, 1, ls + (size_t)i * V, err, sizeof err) == 0;
            same &= ok && same_bits(ls + (size_t)i * V, lp, V);
        }
        tf_cache_free(plain);
    }
    CHECK("prefill_prompts: every cache (logits, then a decoded token) == its own tf_step", same);
    for (int i = 0; i < N; i++) tf_cache_rewind(c[i], 0, err, sizeof err);
    which[4] = NP;
    rc = sweep_prefill_prompts(c, N, which, prompts, plen, NP, ls, ws, NULL, err, sizeof err);
    CHECK("prefill_prompts: a prompt index out of range refused",
          rc == -1 && strstr(err, "cache 4: prompt 3 out of range") != NULL);
    for (int i = 0; i < N; i++) tf_cache_free(c[i]);
    free(ls), free(lp);
}

// sweep_step_shared: 18 caches (the 9 lists above x 2 prompts) decode 4 steps whose
// tokens agree within groups that split as they go (a prompt's caches all alike, then
// two groups, then some alone): each step's logits are tf_step_batch's bit for bit, the
// blocks run those of the groups' prefix tries, and afterwards each cache decodes one
// more token alone as the plain one does (its keys/values complete).
static int step_group_key(int s, int i) {
    int a = i < 9 ? i : i - 9, p = i >= 9;
    if (s == 0) return p;
    if (s == 1) return p ? 2 : a < 5 ? 0 : 1;
    return p ? (a < 4 ? 3 : 4) : a < 5 ? 10 + a : 1;
}

static void test_step_shared(const Gpt2 *m, const int *tokens, TfWorkspace *ws) {
    int V = m->cfg.vocab_size;
    static const int lists[][5] = {{1, 2},       {0, 2}, {0, 1}, {0, 1, 2},      {0, 1, 2},
                                   {2, 2, 1, 0}, {0},    {},     {0, 1, 1, 1, 2}};
    static const int lens[] = {2, 2, 2, 3, 3, 4, 1, 0, 5};
    enum { NL = 9, N = 2 * NL, STEPS = 4 };
    const int *prompts[2] = {tokens, tokens + 7};
    int plen[2] = {10, 5}, which[N], group[N], tok[N];
    TfCache *c[N], *p[N];
    float *ls = xmalloc(sizeof(float) * N * V), *lp = xmalloc(sizeof(float) * N * V);
    char err[256];
    int ok = 1;
    for (int i = 0; i < N; i++) {
        which[i] = i / NL;
        c[i] = tf_cache_new(m, lists[i % NL], lens[i % NL], 20, err, sizeof err);
        p[i] = tf_cache_new(m, lists[i % NL], lens[i % NL], 20, err, sizeof err);
        ok &= c[i] && p[i];
    }
    CHECK("step_shared: caches made", ok);
    if (!ok) return;
    for (int k = 0; k < 2; k++)
        ok &= sweep_prefill_prompts(k ? p : c, N, which, prompts, plen, 2, NULL, ws, NULL, err,
                                    sizeof err) == 0;
    CHECK("step_shared: prefilled", ok);
    int same = 1, blocks_ok = 1;
    long total = 0;
    for (int s = 0; ok && s < STEPS; s++) {
        long want = 0, blocks = -1;
        for (int i = 0; i < N; i++) {
            int key = step_group_key(s, i);
            tok[i] = (key * 37 + s * 11 + 5) % V;
            group[i] = i;
            for (int j = 0; j < i; j++)
                if (step_group_key(s, j) == key) {
                    group[i] = j;
                    break;
                }
            // the slots of i not shared with an earlier member of its group
            int shared = 0;
            for (int j = group[i]; j < i; j++)
                if (group[j] == group[i]) {
                    int d = 0;
                    while (d < lens[i % NL] && d < lens[j % NL] &&
                           lists[i % NL][d] == lists[j % NL][d])
                        d++;
                    if (d > shared) shared = d;
                }
            want += lens[i % NL] - shared;
        }
        ok = sweep_step_shared(c, N, tok, group, ls, ws, &blocks, err, sizeof err) == 0 &&
             tf_step_batch(p, N, tok, lp, ws, err, sizeof err) == 0;
        if (!ok) printf("# %s\n", err);
        same &= ok && same_bits(ls, lp, (size_t)N * V);
        blocks_ok &= blocks == want;
        total += blocks;
    }
    CHECK("step_shared: 4 steps succeed", ok);
    CHECK("step_shared: every step's logits == tf_step_batch's, bit for bit", same);
    CHECK("step_shared: blocks run == the groups' prefix tries", blocks_ok);
    // step 0: 13 + 13 of 44 slots (the prefill's count per prompt); step 1: prompt 0 in
    // groups {0..4} (6 of 12: [0,1,2] [0,2] [1,2]) and {5..8} (9 of 10: [0] shared),
    // prompt 1 13; steps 2, 3: 12 alone + 9 + {9..12} 6 + {13..17} 10 = 37 each
    CHECK_INT("step_shared: blocks run in all", total, 26 + 28 + 37 + 37);
    same = 1;
    for (int i = 0; ok && i < N; i++) {   // one more token alone: every cache is complete
        int next = tokens[3 + i];
        ok = tf_step(c[i], &next, 1, ls, err, sizeof err) == 0 &&
             tf_step(p[i], &next, 1, lp, err, sizeof err) == 0;
        same &= ok && same_bits(ls, lp, V) && c[i]->T == p[i]->T;
    }
    CHECK("step_shared: then each cache alone == the plain one (its k/v rows complete)", same);
    // refusals: a member whose token differs, a group that is not its first member's
    for (int i = 0; i < N; i++) group[i] = i < 2 ? 0 : i, tok[i] = 7;
    tok[1] = 8;
    int rc = sweep_step_shared(c, N, tok, group, ls, ws, NULL, err, sizeof err);
    CHECK("step_shared: a member with another token refused",
          rc == -1 && strstr(err, "caches 0 and 1 of a group differ") != NULL);
    tok[1] = 7, group[1] = 2;
    rc = sweep_step_shared(c, N, tok, group, ls, ws, NULL, err, sizeof err);
    CHECK("step_shared: a group after its member refused",
          rc == -1 && strstr(err, "cache 1: group 2 is not") != NULL);
    for (int i = 0; i < N; i++) tf_cache_free(c[i]), tf_cache_free(p[i]);
    free(ls), free(lp);
}

// ----------------------------------------------------------------------------
// packed sequences

// Three sequences of 1, 13 and 23 tokens packed into 37 rows: each block on the packed
// rows gives every row the bits of its sequence alone (attention stays inside a sequence,
// positions restart at 0); sweep_run_seqs in passes of any size == sweep_run per sequence.
typedef struct {
    const float *want;   // (configs, seqs) final residuals concatenated per configuration
    const int *starts;
    int C, n_seq, bad, visits;
} PackCheck;

static int check_packed_visit(void *ctx, int k, int seq, const float *resid, int T,
                              TfWorkspace *ws) {
    (void)ws;
    PackCheck *p = ctx;
    p->visits++;
    const float *want = p->want + ((size_t)k * p->starts[p->n_seq] + p->starts[seq]) * p->C;
    if (T != p->starts[seq + 1] - p->starts[seq] || !same_bits(resid, want, (size_t)T * p->C))
        p->bad++;
    return 0;
}

typedef struct {
    float *out;
    int C, total, off;
} KeepAll;

static int keep_all(void *ctx, int k, const float *resid, int T, TfWorkspace *ws) {
    (void)ws;
    KeepAll *a = ctx;
    memcpy(a->out + ((size_t)k * a->total + a->off) * a->C, resid,
           sizeof(float) * (size_t)T * a->C);
    return 0;
}

static void test_packed(const Gpt2 *m, const int *tokens, TfWorkspace *ws) {
    int C = m->cfg.n_embd, starts[4] = {0, 1, 14, 37}, blocks[4] = {0, 1, 2, 1}, rc = 0;
    char err[256];
    size_t n = (size_t)37 * C;
    float *packed = xmalloc(sizeof(float) * n), *alone = xmalloc(sizeof(float) * n);
    for (int i = 0; i < 3; i++) {
        rc |= tf_embed(m, tokens + starts[i], starts[i + 1] - starts[i], 0,
                       packed + (size_t)starts[i] * C, err, sizeof err);
        rc |= tf_embed(m, tokens + starts[i], starts[i + 1] - starts[i], 0,
                       alone + (size_t)starts[i] * C, err, sizeof err);
    }
    for (int b = 0; b < 4; b++) {
        rc |= tf_block_forward_packed(m, blocks[b], packed, starts, 3, ws, err, sizeof err);
        for (int i = 0; i < 3; i++)
            rc |= tf_block_forward(m, blocks[b], alone + (size_t)starts[i] * C,
                                   starts[i + 1] - starts[i], ws, err, sizeof err);
    }
    CHECK("packed: calls succeed", rc == 0);
    CHECK("packed: 3 sequences in one pass == each alone, bit for bit (4 blocks)",
          same_bits(packed, alone, n));

    int bad_starts[3] = {1, 2, 3}, empty[3] = {0, 5, 5}, over[2] = {0, 38};
    CHECK("packed: first sequence not at row 0 refused",
          tf_block_forward_packed(m, 0, packed, bad_starts, 2, ws, err, sizeof err) == -1);
    CHECK("packed: empty sequence refused",
          tf_block_forward_packed(m, 0, packed, empty, 2, ws, err, sizeof err) == -1);
    CHECK("packed: more rows than the workspace refused",
          tf_block_forward_packed(m, 0, packed, over, 1, ws, err, sizeof err) == -1 &&
              strstr(err, "exceed") != NULL);

    // sweep_run_seqs: drop-last and skip-one, in passes of every size
    ConfigList list = {0};
    rc = layers_sweep("skip-one", m->cfg.n_layer, &list, err, sizeof err);
    rc |= layers_sweep("drop-last", m->cfg.n_layer, &list, err, sizeof err);
    float *want = xmalloc(sizeof(float) * n * (size_t)list.n);
    long alone_blocks = 0;
    for (int i = 0; i < 3; i++) {
        KeepAll a = {want, C, 37, starts[i]};
        rc |= sweep_run(m, &list, tokens + starts[i], starts[i + 1] - starts[i], ws, keep_all, &a,
                        &alone_blocks, err, sizeof err);
    }
    CHECK("sweep_run per sequence: rc", rc == 0);
    const int *seqs[3] = {tokens, tokens + 1, tokens + 14};
    int lens[3] = {1, 13, 23};
    size_t budgets[3] = {1, (size_t)(list.n + 14) * C * 4 * 20, 1 << 30};   // 1 row, ~20 rows, all
    for (int b = 0; b < 3; b++)
        for (int max_seqs = 0; max_seqs <= 1; max_seqs++) {
            PackCheck p = {want, starts, C, 3, 0, 0};
            SweepPacking pack = {budgets[b], max_seqs, NULL};
            long blocks_run = 0;
            rc = sweep_run_seqs(m, &list, seqs, lens, 3, &pack, ws, check_packed_visit, &p,
                                &blocks_run, err, sizeof err);
            char name[128];
            snprintf(
                name, sizeof name,
                "sweep_run_seqs (budget %zu, max_seqs %d) == sweep_run per sequence, bit for bit",
                budgets[b], max_seqs);
            CHECK(name, rc == 0 && p.bad == 0 && p.visits == 3 * list.n);
            if (b == 2 && max_seqs == 0)
                CHECK("sweep_run_seqs: one pass runs the blocks one sequence's sweep runs",
                      blocks_run == alone_blocks);
            if (max_seqs == 1)
                CHECK("sweep_run_seqs: one sequence a pass: 3 x the blocks",
                      blocks_run == 3 * alone_blocks);
        }
    configs_free(&list);
    free(want), free(packed), free(alone);
}

// tf_block_forward_resume: sequences resumed at positions p over keys/values cached from
// a full run give that run's rows p.. bit for bit, and the full run through it (p = 0)
// gives tf_block_forward's rows and the keys/values it attends to.
static void test_resume(const Gpt2 *m, const int *tokens, TfWorkspace *ws) {
    enum { NB = 4, NS = 3 };
    int C = m->cfg.n_embd, starts[NS + 1] = {0, 1, 14, 37}, blocks[NB] = {0, 1, 2, 1},
        p[NS] = {0, 5, 22}, rc = 0;
    int zero[NS] = {0, 0, 0};
    char err[256];
    size_t n = (size_t)37 * C;
    float *full = xmalloc(sizeof(float) * n), *alone = xmalloc(sizeof(float) * n);
    float *kc = xmalloc(sizeof(float) * n * NB),
          *vc = xmalloc(sizeof(float) * n * NB);   // (NB, rows, C)
    for (int i = 0; i < NS; i++) {
        rc |= tf_embed(m, tokens + starts[i], starts[i + 1] - starts[i], 0,
                       full + (size_t)starts[i] * C, err, sizeof err);
        memcpy(alone + (size_t)starts[i] * C, full + (size_t)starts[i] * C,
               sizeof(float) * (size_t)(starts[i + 1] - starts[i]) * C);
    }
    // the resumed runs start from the embeddings of their rows p..
    int rstarts[NS + 1] = {0};
    for (int i = 0; i < NS; i++) rstarts[i + 1] = rstarts[i] + starts[i + 1] - starts[i] - p[i];
    float *res = xmalloc(sizeof(float) * n), *kr[NS], *vr[NS];
    for (int i = 0; i < NS; i++) {
        memcpy(res + (size_t)rstarts[i] * C, full + (size_t)(starts[i] + p[i]) * C,
               sizeof(float) * (size_t)(rstarts[i + 1] - rstarts[i]) * C);
        kr[i] = xmalloc(sizeof(float) * (size_t)(starts[i + 1] - starts[i]) * C);
        vr[i] = xmalloc(sizeof(float) * (size_t)(starts[i + 1] - starts[i]) * C);
    }
    int kv_same = 1;
    for (int b = 0; b < NB; b++) {
        float *kb[NS], *vb[NS];
        for (int i = 0; i < NS; i++) {
            kb[i] = kc + ((size_t)b * 37 + starts[i]) * C;
            vb[i] = vc + ((size_t)b * 37 + starts[i]) * C;
        }
        rc |= tf_block_forward_resume(m, blocks[b], full, starts, NS, zero, kb, vb, ws, err,
                                      sizeof err);
        for (int i = 0; i < NS; i++) {
            rc |= tf_block_forward(m, blocks[b], alone + (size_t)starts[i] * C,
                                   starts[i + 1] - starts[i], ws, err, sizeof err);
            memset(kr[i], 0xff,
                   sizeof(float) * (size_t)(starts[i + 1] - starts[i]) *
                       C);   // NaNs behind the prefix
            memset(vr[i], 0xff, sizeof(float) * (size_t)(starts[i + 1] - starts[i]) * C);
            memcpy(kr[i], kb[i], sizeof(float) * (size_t)p[i] * C);
            memcpy(vr[i], vb[i], sizeof(float) * (size_t)p[i] * C);
        }
        rc |=
            tf_block_forward_resume(m, blocks[b], res, rstarts, NS, p, kr, vr, ws, err, sizeof err);
        for (int i = 0; i < NS; i++) {
            size_t len = (size_t)(starts[i + 1] - starts[i]) * C;
            kv_same &= same_bits(kr[i], kb[i], len) && same_bits(vr[i], vb[i], len);
        }
    }
    CHECK("resume: calls succeed", rc == 0);
    CHECK("resume: full runs (p = 0, 3 packed) == tf_block_forward alone, bit for bit",
          same_bits(full, alone, n));
    int rows_same = 1;
    for (int i = 0; i < NS; i++)
        rows_same &= same_bits(res + (size_t)rstarts[i] * C, full + (size_t)(starts[i] + p[i]) * C,
                               (size_t)(rstarts[i + 1] - rstarts[i]) * C);
    CHECK(
        "resume: rows p.. resumed over the cached prefix == the full run's, bit for bit (p = 0, 5, 22)",
        rows_same);
    CHECK("resume: the keys/values written behind the prefix == the full run's", kv_same);
    int late[1] = {m->cfg.n_ctx - 10}, one[2] = {0, 11};
    CHECK("resume: past the context refused",
          tf_block_forward_resume(m, 0, res, one, 1, late, kr, vr, ws, err, sizeof err) == -1 &&
              strstr(err, "context"));
    float *none[1] = {NULL};
    CHECK("resume: no key rows refused",
          tf_block_forward_resume(m, 0, res, one, 1, zero, none, vr, ws, err, sizeof err) == -1);
    for (int i = 0; i < NS; i++) free(kr[i]), free(vr[i]);
    free(full), free(alone), free(kc), free(vc), free(res);
}

// tf_block_forward_tail and tf_cache_block_forward_tail: each sequence's rows from its
// tail get the bits of the whole block (packed from position 0, resumed at a position, in
// caches), whatever the tails of the others (0, inside, the last row, every row); the
// keys/values of every row are stored; the rows trimmed are counted.
static void test_tail(const Gpt2 *m, const int *tokens, TfWorkspace *ws) {
    enum { NS = 4 };
    int C = m->cfg.n_embd, starts[NS + 1] = {0, 1, 14, 30, 37}, tail[NS] = {0, 12, 15, 3}, rc = 0;
    int zero[NS] = {0, 0, 0, 0}, R = starts[NS];
    char err[256];
    size_t n = (size_t)R * C;
    float *whole = xmalloc(sizeof(float) * n), *part = xmalloc(sizeof(float) * n);
    float *kw = xmalloc(sizeof(float) * n), *vw = xmalloc(sizeof(float) * n),
          *kp = xmalloc(sizeof(float) * n), *vp = xmalloc(sizeof(float) * n);
    for (int i = 0; i < NS; i++)
        rc |= tf_embed(m, tokens + starts[i], starts[i + 1] - starts[i], 0,
                       whole + (size_t)starts[i] * C, err, sizeof err);
    // a block first, so that the rows entering the tested one differ from the embeddings
    rc |= tf_block_forward_packed(m, 1, whole, starts, NS, ws, err, sizeof err);
    memcpy(part, whole, sizeof(float) * n);
    long runs0, rows0, runs1, rows1;
    tf_trim_stats(&runs0, &rows0);
    rc |= tf_block_forward_packed(m, 2, whole, starts, NS, ws, err, sizeof err);
    rc |=
        tf_block_forward_tail(m, 2, part, starts, NS, NULL, NULL, NULL, tail, ws, err, sizeof err);
    tf_trim_stats(&runs1, &rows1);
    int same = 1, differs = 0;
    for (int i = 0; i < NS; i++) {
        size_t a = (size_t)(starts[i] + tail[i]) * C, b = (size_t)starts[i + 1] * C;
        same &= same_bits(whole + a, part + a, b - a);
        differs |= tail[i] > 0 && !same_bits(whole + (size_t)starts[i] * C,
                                             part + (size_t)starts[i] * C, a - starts[i] * C);
    }
    CHECK("tail: calls succeed", rc == 0);
    CHECK("tail: the rows from each tail == the whole block's, bit for bit (tails 0, 12, 15, 3)",
          same);
    CHECK("tail: the rows before the tails were not computed (they differ)", differs);
    CHECK("tail: tf_trim_stats counts 3 sequences, 30 rows",
          runs1 - runs0 == 3 && rows1 - rows0 == 30);
    // every row's keys/values (stored through the resumed form from position 0), and rows
    // resumed at a position: tails before, at and after it
    float *kb[NS], *vb[NS], *kq[NS], *vq[NS];
    for (int i = 0; i < NS; i++) {
        kb[i] = kw + (size_t)starts[i] * C, vb[i] = vw + (size_t)starts[i] * C;
        kq[i] = kp + (size_t)starts[i] * C, vq[i] = vp + (size_t)starts[i] * C;
    }
    memcpy(part, whole, sizeof(float) * n);
    rc |= tf_block_forward_resume(m, 0, whole, starts, NS, zero, kb, vb, ws, err, sizeof err);
    rc |= tf_block_forward_tail(m, 0, part, starts, NS, zero, kq, vq, tail, ws, err, sizeof err);
    same = same_bits(kw, kp, n) && same_bits(vw, vp, n);
    for (int i = 0; i < NS; i++) {
        size_t a = (size_t)(starts[i] + tail[i]) * C, b = (size_t)starts[i + 1] * C;
        same &= same_bits(whole + a, part + a, b - a);
    }
    CHECK("tail: resumed from position 0: the keys/values of every row and the tails' rows == "
          "the whole block's",
          rc == 0 && same);
    int p[NS] = {0, 5, 2, 6}, rstarts[NS + 1] = {0}, rtail[NS] = {1, 0, 13, 0};
    for (int i = 0; i < NS; i++) rstarts[i + 1] = rstarts[i] + starts[i + 1] - starts[i] - p[i];
    float *res = xmalloc(sizeof(float) * n), *in = xmalloc(sizeof(float) * n);
    memcpy(in, whole, sizeof(float) * n);   // entering block 1 again (any rows will do)
    for (int i = 0; i < NS; i++)
        memcpy(res + (size_t)rstarts[i] * C, in + (size_t)(starts[i] + p[i]) * C,
               sizeof(float) * (size_t)(rstarts[i + 1] - rstarts[i]) * C);
    rc |= tf_block_forward_resume(m, 1, in, starts, NS, zero, kb, vb, ws, err, sizeof err);
    for (int i = 0; i < NS; i++) {   // the prefix's keys/values: the whole run's
        memcpy(kq[i], kb[i], sizeof(float) * (size_t)p[i] * C);
        memcpy(vq[i], vb[i], sizeof(float) * (size_t)p[i] * C);
    }
    rc |= tf_block_forward_tail(m, 1, res, rstarts, NS, p, kq, vq, rtail, ws, err, sizeof err);
    same = 1;
    for (int i = 0; i < NS; i++) {
        int t = rstarts[i] + rtail[i];
        same &= same_bits(res + (size_t)t * C, in + (size_t)(starts[i] + p[i] + rtail[i]) * C,
                          (size_t)(rstarts[i + 1] - t) * C);
    }
    CHECK("tail: resumed at positions 0, 5, 2, 6 with tails 1, 0, 13, 0 == the whole block's",
          rc == 0 && same);
    int all[NS] = {1, 13, 16, 7};   // every row at keys/values only
    memcpy(part, whole, sizeof(float) * n);
    memset(kp, 0, sizeof(float) * n), memset(vp, 0, sizeof(float) * n);
    rc |= tf_block_forward_tail(m, 1, part, starts, NS, zero, kq, vq, all, ws, err, sizeof err);
    CHECK("tail: every row trimmed: its keys/values == the whole block's",
          rc == 0 && same_bits(kw, kp, n) && same_bits(vw, vp, n));
    int bad[NS] = {0, 0, 17, 0};
    CHECK("tail: a tail past its sequence refused",
          tf_block_forward_tail(m, 0, part, starts, NS, NULL, NULL, NULL, bad, ws, err,
                                sizeof err) == -1 &&
              strstr(err, "first row read"));
    // caches: a prompt prefilled through slot 0, then slot 1 with only its last row
    int layers[2] = {0, 2}, T = 13;
    TfCache *a = tf_cache_new(m, layers, 2, T, err, sizeof err),
            *b = tf_cache_new(m, layers, 2, T, err, sizeof err);
    float *ra = xmalloc(sizeof(float) * (size_t)T * C),
          *rb = xmalloc(sizeof(float) * (size_t)T * C);
    rc |= tf_embed(m, tokens, T, 0, ra, err, sizeof err);
    memcpy(rb, ra, sizeof(float) * (size_t)T * C);
    int cs[2] = {0, T}, slot0 = 0, slot1 = 1, last = T - 1;
    rc |= tf_cache_block_forward_packed(&a, &slot0, ra, cs, 1, ws, err, sizeof err);
    rc |= tf_cache_block_forward_tail(&b, &slot0, rb, cs, 1, NULL, ws, err, sizeof err);
    rc |= tf_cache_block_forward_packed(&a, &slot1, ra, cs, 1, ws, err, sizeof err);
    rc |= tf_cache_block_forward_tail(&b, &slot1, rb, cs, 1, &last, ws, err, sizeof err);
    size_t kv = (size_t)2 * T * C;
    CHECK("tail: caches: calls succeed", rc == 0);
    CHECK("tail: caches: the last row == the whole block's",
          same_bits(ra + (size_t)last * C, rb + (size_t)last * C, (size_t)C));
    CHECK("tail: caches: every key/value == the whole block's",
          same_bits(a->k, b->k, kv) && same_bits(a->v, b->v, kv));
    tf_cache_free(a), tf_cache_free(b);
    free(ra), free(rb), free(res), free(in);
    free(whole), free(part), free(kw), free(vw), free(kp), free(vp);
}

static void unit_tests_path(void) {
    char err[256];
    // model 1: odd sizes (C=48: not a multiple of 64; 3C=144; V=300; hs=16)
    MemModel mm;
    model_random(&mm, 3, 3, 48, 40, 300, 11);
    int T = 37, tokens[64];
    tokens_random(tokens, 40, 300, 5);
    TfWorkspace ws;
    CHECK("workspace init",
          tf_workspace_init(&ws, &mm.m, T, threadpool_global(), err, sizeof err) == 0);
    test_against_reference(&mm.m, tokens, T, &ws);
    test_residual_api(&mm.m, tokens, T, &ws);
    test_hooks(&mm.m, tokens, T, &ws);
    test_packed(&mm.m, tokens, &ws);
    test_resume(&mm.m, tokens, &ws);
    test_tail(&mm.m, tokens, &ws);
    test_threads(&mm.m, tokens, T);
    test_threads_packed(&mm.m, tokens);
    test_cache(&mm.m, tokens, T, &ws);
    test_prefill_shared(&mm.m, tokens, T, &ws);
    test_prefill_prompts(&mm.m, tokens, T, &ws);
    test_step_shared(&mm.m, tokens, &ws);
    test_batch(&mm.m, tokens);
    test_errors(&mm.m, &ws);
    tf_workspace_free(&ws);
    model_free(&mm);

    // model 2: tile-aligned sizes (C=64, 4 heads), a single row, V = 257
    model_random(&mm, 3, 4, 64, 16, 257, 12);
    tokens_random(tokens, 16, 257, 6);
    CHECK("workspace init 2",
          tf_workspace_init(&ws, &mm.m, 16, threadpool_global(), err, sizeof err) == 0);
    test_against_reference(&mm.m, tokens, 16, &ws);
    test_against_reference(&mm.m, tokens, 1, &ws);
    tf_workspace_free(&ws);
    model_free(&mm);
}

// Everything above once per kernel path this CPU supports (common/model/matmul.h).
static int unit_tests(void) {
    test_log_softmax();
    test_rows_parallel();
    int n = 0;
    const char *const *paths = matmul_kernel_paths(&n);
    for (int i = 0; i < n; i++) {
        char err[256], name[96];
        if (!matmul_kernel_supported(paths[i])) continue;
        printf("-- kernel path %s\n", paths[i]);
        int before = check_failures;
        CHECK(paths[i], matmul_kernel_select(paths[i], err, sizeof err) == 0);
        unit_tests_path();
        snprintf(name, sizeof name, "kernel path %s: every check above passes", paths[i]);
        CHECK(name, check_failures == before);
    }
    CHECK_DONE();
}

// The kernel paths this CPU supports, one a line (for tests/tool/transformer_ref.sh).
static int kernel_paths(void) {
    int n = 0;
    const char *const *paths = matmul_kernel_paths(&n);
    for (int i = 0; i < n; i++)
        if (matmul_kernel_supported(paths[i])) printf("%s\n", paths[i]);
    return 0;
}

// ----------------------------------------------------------------------------
// helper modes for tests/tool/transformer_ref.sh

// "3,1,2" -> ints (at most cap); "" -> 0 ints.  -1 on a malformed list.
static int parse_ints(const char *s, int *out, int cap) {
    int n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || n == cap || v < INT32_MIN || v > INT32_MAX) return -1;
        out[n++] = (int)v;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return n;
}

static int write_model(int argc, char **argv) {
    CheckpointSpec spec = {0};
    spec.cfg = (Gpt2Config){.n_layer = 4,
                            .n_head = 4,
                            .n_embd = 64,
                            .n_ctx = 128,
                            .vocab_size = 50257,
                            .ln_eps = 1e-5f};
    spec.seed = 1;
    spec.with_mask_buffers = 1;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--dtype")) spec.dtype = argv[i + 1];
        else if (!strcmp(argv[i], "--std")) spec.init_std = strtof(argv[i + 1], NULL);
        else if (!strcmp(argv[i], "--seed")) spec.seed = strtoull(argv[i + 1], NULL, 10);
        else eprintf(2, "unknown option %s", argv[i]);
    }
    char err[512];
    if (checkpoint_write_random(argv[2], &spec, err, sizeof err)) eprintf(1, "%s", err);
    return 0;
}

// The model of argv[2], with 16-bit matrices when $AUTOINTERP_WEIGHTS=bf16|f16 (as
// model_open).
static void open_args(char **argv, Gpt2 *m, int *layers, int *n, int *tokens, int *T) {
    char err[512];
    Gpt2Weights weights;
    if (gpt2_weights_from_env(&weights, err, sizeof err)) eprintf(2, "%s", err);
    if (gpt2_open(m, argv[2], err, sizeof err)) eprintf(1, "%s", err);
    if (gpt2_use_weights(m, weights, err, sizeof err)) eprintf(1, "%s", err);
    if ((*n = parse_ints(argv[3], layers, 256)) < 0) eprintf(2, "bad layer list: %s", argv[3]);
    if ((*T = parse_ints(argv[4], tokens, 4096)) < 0) eprintf(2, "bad token list: %s", argv[4]);
}

static int dump_logits(char **argv) {
    Gpt2 m;
    int layers[256], tokens[4096], n, T;
    char err[512];
    open_args(argv, &m, layers, &n, tokens, &T);
    size_t count = (size_t)(T > 0 ? T : 1) * m.cfg.vocab_size;
    float *logits = xmalloc(count * sizeof *logits);
    if (tf_forward(&m, layers, n, tokens, T, NULL, 0, logits, NULL, err, sizeof err))
        eprintf(1, "%s", err);
    FILE *f = fopen(argv[5], "wb");
    if (!f || fwrite(logits, sizeof *logits, count, f) != count || fclose(f))
        eprintf(1, "cannot write %s", argv[5]);
    free(logits);
    gpt2_close(&m);
    return 0;
}

static int generate(char **argv) {
    Gpt2 m;
    int layers[256], tokens[4096], n, T;
    char err[512];
    open_args(argv, &m, layers, &n, tokens, &T);
    int n_new = atoi(argv[5]);
    if (n_new < 1 || T + n_new > m.cfg.n_ctx) eprintf(2, "bad token count %s", argv[5]);
    TfCache *c = tf_cache_new(&m, layers, n, T + n_new, err, sizeof err);
    if (!c) eprintf(1, "%s", err);
    float *logits = xmalloc(sizeof(float) * m.cfg.vocab_size);
    if (tf_step(c, tokens, T, logits, err, sizeof err)) eprintf(1, "%s", err);
    for (int i = 0; i < n_new; i++) {
        int next = sample_greedy(logits, m.cfg.vocab_size);
        printf("%s%d", i ? " " : "", next);
        if (i + 1 < n_new && tf_step(c, &next, 1, logits, err, sizeof err)) eprintf(1, "%s", err);
    }
    printf("\n");
    free(logits);
    tf_cache_free(c);
    gpt2_close(&m);
    return 0;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    if (argc == 1) return unit_tests();
    if (argc == 2 && !strcmp(argv[1], "--kernel-paths")) return kernel_paths();
    if (argc >= 3 && !strcmp(argv[1], "--write-model")) return write_model(argc, argv);
    if (argc == 6 && !strcmp(argv[1], "--logits")) return dump_logits(argv);
    if (argc == 6 && !strcmp(argv[1], "--generate")) return generate(argv);
    fprintf(stderr,
            "usage: test_transformer [--write-model DIR [--dtype D] [--std S] [--seed N] |\n"
            "       --logits DIR LAYERS TOKENS OUT | --generate DIR LAYERS TOKENS N |\n"
            "       --kernel-paths]\n");
    return 2;
}
