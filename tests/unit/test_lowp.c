// Unit tests for the 16-bit weights, bf16 and f16 (common/model/matmul's lowp kernels,
// gpt2_use_lowp): rounding to nearest even; on every kernel path this CPU supports, the
// 16-bit kernels bit-identical to the fp32 kernels on the same weights widened to fp32
// (matmul.h's promise); models with 16-bit matrices: copies rounded from other
// checkpoints, a checkpoint of the type's own dtype (BF16, F16) used in place and
// computing the fp32 path's very logits, KV-cached greedy generation, errors.
//
//   test_lowp                                  the tests
//   test_lowp --convert bf16|f16 PATH IN OUT   IN: fp32 values; OUT: them rounded to the
//                                              type (uint16), then every one of the 65536
//                                              16-bit values widened by kernel path PATH
//                                              (fp32): tests/tool/lowp_ref.sh checks both
//                                              against NumPy
// (tests/tool/lowp_ref.sh also compares whole models with the NumPy reference.)
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/threadpool.h"
#include "base/util.h"
#include "check.h"
#include "fixture_model.h"
#include "model/checkpoint.h"
#include "model/gpt2.h"
#include "model/matmul.h"
#include "model/sample.h"
#include "model/transformer.h"

static const char *path;   // the kernel path under test, in check names
static LowpType lt;        // the 16-bit type under test
#define TN lowp_name(lt)   // its name, in check names

static void fill(float *x, size_t n, Rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(rng_uniform(rng) * 2.0 - 1.0);
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint16_t round1(float x) {
    uint16_t h;
    lowp_round(lt, &h, &x, 1);
    return h;
}

// ----------------------------------------------------------------------------- rounding

static void test_round_bf16(void) {
    CHECK_INT("round 1.0", round1(1.0f), 0x3f80);
    CHECK_INT("round -0.0", round1(-0.0f), 0x8000);
    CHECK_INT("round 1 + 2^-8 (tie, even below)", round1(from_bits(0x3f808000u)), 0x3f80);
    CHECK_INT("round 1 + 3*2^-8 (tie, even above)", round1(from_bits(0x3f818000u)), 0x3f82);
    CHECK_INT("round just above a tie", round1(from_bits(0x3f808001u)), 0x3f81);
    CHECK_INT("round just below a tie", round1(from_bits(0x3f807fffu)), 0x3f80);
    CHECK_INT("round inf", round1(INFINITY), 0x7f80);
    CHECK_INT("round FLT_MAX overflows to inf", round1(FLT_MAX), 0x7f80);
    CHECK_INT("round -FLT_MAX overflows to -inf", round1(-FLT_MAX), 0xff80);
    uint16_t nan = round1(from_bits(0x7f800001u));   // a NaN whose payload is in the low bits
    CHECK("round NaN stays NaN", (nan & 0x7f80) == 0x7f80 && (nan & 0x7f) != 0);
    CHECK_INT("round smallest subnormal (tie below even 0)", round1(from_bits(0x00000001u)),
              0x0000);

    // Random values: the result is a neighbour within half a bf16 ulp (to nearest), and
    // bf16 values come back unchanged.
    Rng rng;
    rng_seed(&rng, 5);
    int bad_near = 0, bad_exact = 0;
    for (int i = 0; i < 100000; i++) {
        float x = (float)((rng_uniform(&rng) * 2.0 - 1.0) *
                          ldexp(1.0, (int)(rng_uniform(&rng) * 40) - 20));
        uint16_t h = round1(x);
        float r;
        lowp_widen(lt, &r, &h, 1);
        int e;
        frexp(x, &e);
        bad_near += fabs((double)r - x) > ldexp(1.0, e - 9);   // half an ulp of 8 significant bits
        bad_exact += round1(r) != h;
    }
    CHECK_INT("round: within half a bf16 ulp", bad_near, 0);
    CHECK_INT("round: bf16 values unchanged", bad_exact, 0);
}

static float widen1(uint16_t h) {
    float f;
    lowp_widen(lt, &f, &h, 1);
    return f;
}

// f16 widening on the selected kernel path: every one of the 65536 values against a
// direct formula (subnormals m * 2^-24, inf, NaN, signed zero).
static void test_widen_f16(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = widen1((uint16_t)h);
        int e = h >> 10 & 31, m = h & 1023, neg = h >> 15;
        double want = e == 31 ? (m ? NAN : INFINITY) : e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
        if (neg) want = -want;
        bad += isnan(want) ? !isnan(f) : (double)f != want || !!signbit(f) != neg;
    }
    char name[96];
    snprintf(name, sizeof name, "%s: f16 widen: all 65536 values exact", path);
    CHECK_INT(name, bad, 0);
}

// IEEE half: 1 + 10 mantissa bits, exponent -14..15, subnormals down to 2^-24.
static void test_round_f16(void) {
    CHECK_INT("f16 round 1.0", round1(1.0f), 0x3c00);
    CHECK_INT("f16 round -0.0", round1(-0.0f), 0x8000);
    CHECK_INT("f16 round 1 + 2^-11 (tie, even below)", round1(1.0f + 0x1p-11f), 0x3c00);
    CHECK_INT("f16 round 1 + 3*2^-11 (tie, even above)", round1(1.0f + 0x3p-11f), 0x3c02);
    CHECK_INT("f16 round just above a tie", round1(from_bits(0x3f801001u)), 0x3c01);
    CHECK_INT("f16 round just below a tie", round1(from_bits(0x3f800fffu)), 0x3c00);
    CHECK_INT("f16 round 65504 (max)", round1(65504.0f), 0x7bff);
    CHECK_INT("f16 round 65519.996 (below the tie: max)", round1(from_bits(0x477fefffu)), 0x7bff);
    CHECK_INT("f16 round 65520 (tie: inf)", round1(65520.0f), 0x7c00);
    CHECK_INT("f16 round -1e5: -inf", round1(-1e5f), 0xfc00);
    CHECK_INT("f16 round inf", round1(INFINITY), 0x7c00);
    CHECK_INT("f16 round 2^-14 (smallest normal)", round1(0x1p-14f), 0x0400);
    CHECK_INT("f16 round 2^-24 (smallest subnormal)", round1(0x1p-24f), 0x0001);
    CHECK_INT("f16 round 2^-25 (tie: even 0)", round1(0x1p-25f), 0x0000);
    CHECK_INT("f16 round 3*2^-25 (tie: even 2)", round1(0x3p-25f), 0x0002);
    CHECK_INT("f16 round 1023.5*2^-24 (tie: 2^-14)", round1(0x7ffp-25f), 0x0400);
    CHECK_INT("f16 round -5*2^-24 (subnormal)", round1(-0x5p-24f), 0x8005);
    CHECK_INT("f16 round 1e-9 (underflows to 0)", round1(1e-9f), 0x0000);
    uint16_t nan = round1(from_bits(0x7f800001u));
    CHECK("f16 round NaN stays NaN", (nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) != 0);
    // random values, subnormal ones too: within half an f16 ulp (2^-24 below 2^-14), a
    // normal result from 2^-14 on; f16 values unchanged
    Rng rng;
    rng_seed(&rng, 6);
    int bad_near = 0, bad_exact = 0;
    for (int i = 0; i < 100000; i++) {
        float x = (float)((rng_uniform(&rng) * 2.0 - 1.0) *
                          ldexp(1.0, (int)(rng_uniform(&rng) * 29) - 13));
        uint16_t h = round1(x);
        float r = widen1(h);
        int e;
        frexp(x, &e);
        bad_near += fabs((double)r - x) > fmax(ldexp(1.0, e - 12), 0x1p-25) ||
                    (fabs(x) >= 0x1p-14 && !(h & 0x7c00));
        bad_exact += round1(r) != h;
    }
    CHECK_INT("f16 round: within half an f16 ulp", bad_near, 0);
    CHECK_INT("f16 round: f16 values unchanged", bad_exact, 0);
}

// ----------------------------------------------------------------------------- kernels

// Random weights w (n) rounded to the type (w16) and widened back (wf: the same values).
// f16: a few scaled into its subnormal range (the widening of those is exact too).
static void weights(uint16_t *w16, float *wf, size_t n, Rng *rng) {
    fill(wf, n, rng);
    if (lt == LOWP_F16)
        for (size_t i = 0; i < n; i += 7) wf[i] *= 0x1p-15f;
    lowp_round(lt, w16, wf, n);
    lowp_widen(lt, wf, w16, n);
}

// max |out - in·w - bias| in double (the products are not garbage on both sides).
static double matmul_error(const float *out, const float *in, const float *w, const float *bias,
                           int T, int K, int N) {
    double worst = 0.0;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < N; j++) {
            double s = bias ? bias[j] : 0.0;
            for (int k = 0; k < K; k++) s += (double)in[t * K + k] * w[k * N + j];
            if (fabs(s - out[t * N + j]) > worst) worst = fabs(s - out[t * N + j]);
        }
    return worst;
}

// matmul_lowp_forward (and the GELU variant) vs matmul_forward on the widened weights,
// bit for bit; w16 is placed `offset` elements into its buffer (misaligned weights).
static void check_matmul(int T, int K, int N, int offset, int with_bias, ThreadPool *pool,
                         Rng *rng) {
    size_t nw = (size_t)K * N;
    float *in = xmalloc(sizeof(float) * (size_t)T * K), *wf = xmalloc(sizeof(float) * nw);
    uint16_t *w16buf = xmalloc(sizeof(uint16_t) * (nw + (size_t)offset)), *w16 = w16buf + offset;
    float *bias = with_bias ? xmalloc(sizeof(float) * (size_t)N) : NULL;
    float *a = xmalloc(sizeof(float) * (size_t)T * N), *b = xmalloc(sizeof(float) * (size_t)T * N);
    fill(in, (size_t)T * K, rng);
    weights(w16, wf, nw, rng);
    if (bias) fill(bias, (size_t)N, rng);
    char name[200];
    snprintf(name, sizeof name,
             "%s: %s matmul T=%d K=%d N=%d offset %d%s%s == fp32 on widened weights", path, TN, T,
             K, N, offset, bias ? " bias" : "", pool ? " pool" : "");
    matmul_lowp_forward(a, in, w16, lt, bias, T, K, N, pool);
    matmul_forward(b, in, wf, bias, T, K, N, pool);
    int same = memcmp(a, b, sizeof(float) * (size_t)T * N) == 0;
    CHECK(name, same && matmul_error(a, in, wf, bias, T, K, N) < 1e-4 * (K + 1));
    snprintf(name, sizeof name, "%s: %s matmul+gelu T=%d K=%d N=%d offset %d%s == fp32", path, TN,
             T, K, N, offset, pool ? " pool" : "");
    matmul_lowp_gelu_forward(a, in, w16, lt, bias, T, K, N, pool);
    matmul_gelu_forward(b, in, wf, bias, T, K, N, pool);
    CHECK(name, memcmp(a, b, sizeof(float) * (size_t)T * N) == 0);
    // The determinism contract: the last row alone gets the bits it got in the batch.
    snprintf(name, sizeof name, "%s: %s matmul T=%d K=%d N=%d: last row alone == in the batch",
             path, TN, T, K, N);
    matmul_lowp_forward(b, in + (size_t)(T - 1) * K, w16, lt, bias, 1, K, N, pool);
    matmul_lowp_forward(a, in, w16, lt, bias, T, K, N, pool);
    CHECK(name, memcmp(b, a + (size_t)(T - 1) * N, sizeof(float) * (size_t)N) == 0);
    free(in), free(wf), free(w16buf), free(bias), free(a), free(b);
}

static void test_matmul(ThreadPool *pool) {
    // T < 16 streams rows of w (columns in blocks of 512), T >= 16 runs register tiles on
    // widened segments; K > 128 spans several segments.
    static const int Ts[] = {1, 3, 9, 16, 37};
    static const int Ks[] = {1, 7, 128, 300};
    static const int Ns[] = {1, 33, 130, 700};
    Rng rng;
    rng_seed(&rng, 11);
    for (size_t a = 0; a < sizeof Ts / sizeof *Ts; a++)
        for (size_t b = 0; b < sizeof Ks / sizeof *Ks; b++)
            for (size_t c = 0; c < sizeof Ns / sizeof *Ns; c++)
                check_matmul(Ts[a], Ks[b], Ns[c], 0, (a + b + c) % 2, pool, &rng);
    // Misaligned weights (a BF16/F16 tensor used in place from a mapping lies anywhere).
    for (int off = 1; off < 4; off++) {
        check_matmul(2, 200, 768, off, 1, pool, &rng);
        check_matmul(40, 200, 768, off, 1, pool, &rng);
    }
}

static void test_transposed(ThreadPool *pool) {
    // last tiles of 1, 2 and 3 rows on every path; tiles spread (1-9 rows), in place and
    // staged (13-40 rows on avx2: widened into scratch instead of in registers); spread
    // 16-bit tiles stop earlier (dot_spread16: 4 rows in place on avx2)
    static const int Ts[] = {1, 4, 5, 9, 13, 40};
    static const int Cs[] = {1, 17, 64, 100};
    static const int Vs[] = {1, 7, 130, 300, 301};
    Rng rng;
    rng_seed(&rng, 12);
    char name[200];
    for (size_t a = 0; a < sizeof Ts / sizeof *Ts; a++)
        for (size_t b = 0; b < sizeof Cs / sizeof *Cs; b++)
            for (size_t c = 0; c < sizeof Vs / sizeof *Vs; c++) {
                int T = Ts[a], C = Cs[b], V = Vs[c];
                float *in = xmalloc(sizeof(float) * (size_t)T * C),
                      *ef = xmalloc(sizeof(float) * (size_t)V * C);
                // odd vocabulary sizes: e at an odd element offset (a mapping puts it anywhere)
                uint16_t *e16buf = xmalloc(sizeof(uint16_t) * ((size_t)V * C + 1)),
                         *e16 = e16buf + V % 2;
                float *x = xmalloc(sizeof(float) * (size_t)T * V),
                      *y = xmalloc(sizeof(float) * (size_t)T * V);
                fill(in, (size_t)T * C, &rng);
                weights(e16, ef, (size_t)V * C, &rng);
                matmul_transposed_lowp_forward(x, in, e16, lt, T, C, V, pool);
                matmul_transposed_forward(y, in, ef, T, C, V, pool);
                double worst = 0.0;
                for (int t = 0; t < T; t++)
                    for (int v = 0; v < V; v++) {
                        double s = 0.0;
                        for (int i = 0; i < C; i++) s += (double)in[t * C + i] * ef[v * C + i];
                        if (fabs(s - x[t * V + v]) > worst) worst = fabs(s - x[t * V + v]);
                    }
                snprintf(name, sizeof name,
                         "%s: %s unembedding T=%d C=%d V=%d offset %d%s == fp32 on widened weights",
                         path, TN, T, C, V, V % 2, pool ? " pool" : "");
                CHECK(name,
                      memcmp(x, y, sizeof(float) * (size_t)T * V) == 0 && worst < 1e-4 * (C + 1));
                free(in), free(ef), free(e16buf), free(x), free(y);
            }
}

// ----------------------------------------------------------------------------- models

static char tmpdir[512];

// A small synthetic checkpoint (2 layers, C = 64, V = 300, weights at GPT-2's init scale:
// the rounding error grows with the weights, docs/bench.md) in tmpdir/name.
static char *model_write(const char *name, const char *dtype, int untied) {
    char *dir = path_join(tmpdir, name);
    CheckpointSpec spec = {.cfg = {.n_layer = 2,
                                   .n_head = 2,
                                   .n_embd = 64,
                                   .n_ctx = 32,
                                   .vocab_size = 300,
                                   .ln_eps = 1e-5f},
                           .seed = 3,
                           .dtype = dtype,
                           .untied = untied,
                           .with_mask_buffers = 1};   // std 0.02, GPT-2's init
    if (fixture_write_model(dir, &spec) != 0) printf("FAIL write %s\n", name);
    return dir;
}

// m from dir, with 16-bit matrices of the type under test when w16.
static int model_open_w16(Gpt2 *m, const char *dir, int w16) {
    char err[256];
    if (fixture_open_model(m, dir) != 0) {
        printf("FAIL open %s\n", dir);
        return -1;
    }
    if (w16 && gpt2_use_lowp(m, lt, err, sizeof err) != 0) {
        printf("FAIL open %s: %s\n", dir, err);
        gpt2_close(m);
        return -1;
    }
    return 0;
}

// Whether p lies in m's mapping.
static int in_mapping(const Gpt2 *m, const void *p) {
    const unsigned char *b = m->st->map, *q = p;
    return q >= b && q < b + m->st->map_size;
}

// Every 16-bit matrix of m: equal to its fp32 weights rounded (the rounding is exact for
// a checkpoint of the type's dtype), and in the mapping or not as want_mapped says.
static void check_matrices(const char *label, const Gpt2 *m, int want_mapped) {
    int L = m->cfg.n_layer, bad_value = 0, bad_place = 0;
    size_t C = (size_t)m->cfg.n_embd, V = (size_t)m->cfg.vocab_size;
    for (int i = 0; i < 4 * L + 1; i++) {
        const Gpt2Block *b = &m->blocks[i / 4 < L ? i / 4 : 0];
        const float *f =
            i == 4 * L ? m->lm_head
                       : (const float *[]){b->qkv_w, b->attn_proj_w, b->fc_w, b->mlp_proj_w}[i % 4];
        const uint16_t *h = i == 4 * L ? m->lm_head16
                                       : (const uint16_t *[]){b->qkv_w16, b->attn_proj_w16,
                                                              b->fc_w16, b->mlp_proj_w16}[i % 4];
        size_t n = i == 4 * L ? V * C : (size_t[]){3 * C * C, C * C, 4 * C * C, 4 * C * C}[i % 4];
        if (!h) {
            bad_value++;
            continue;
        }
        uint16_t *want = xmalloc(n * sizeof *want);
        lowp_round(lt, want, f, n);
        bad_value += memcmp(want, h, n * sizeof *h) != 0;
        bad_place += in_mapping(m, h) != want_mapped;
        free(want);
    }
    char name[160];
    snprintf(name, sizeof name, "%s: %s matrices = the fp32 weights rounded", label, TN);
    CHECK_INT(name, bad_value + (m->w16_type != lt), 0);
    snprintf(name, sizeof name, "%s: %s matrices %s the mapping", label, TN,
             want_mapped ? "in" : "outside");
    CHECK_INT(name, bad_place, 0);
    snprintf(name, sizeof name, "%s: matrices used in place", label);
    CHECK_INT(name, m->n_w16_in_place, want_mapped ? 4 * L + 1 : 0);
}

static const int prompt[] = {0, 17, 250, 3, 99, 42, 7};
#define PROMPT_T 7

// max |a - b| over all positions' logits of the prompt through both models.
static double logits_diff(const Gpt2 *a, const Gpt2 *b, int *identical) {
    int layers[] = {0, 1}, V = a->cfg.vocab_size;
    char err[256];
    float *x = xmalloc(sizeof(float) * PROMPT_T * V), *y = xmalloc(sizeof(float) * PROMPT_T * V);
    if (tf_forward(a, layers, 2, prompt, PROMPT_T, NULL, 0, x, NULL, err, sizeof err) ||
        tf_forward(b, layers, 2, prompt, PROMPT_T, NULL, 0, y, NULL, err, sizeof err))
        printf("FAIL forward: %s\n", err);
    double worst = 0;
    for (int i = 0; i < PROMPT_T * V; i++) worst = fmax(worst, fabs((double)x[i] - y[i]));
    *identical = memcmp(x, y, sizeof(float) * PROMPT_T * V) == 0;
    free(x), free(y);
    return worst;
}

// Greedy tokens: KV-cached decoding (tf_step) into out[n].
static void greedy(const Gpt2 *m, int *out, int n) {
    int layers[] = {0, 1}, V = m->cfg.vocab_size;
    char err[256];
    TfCache *c = tf_cache_new(m, layers, 2, PROMPT_T + n, err, sizeof err);
    float *logits = xmalloc(sizeof(float) * V);
    if (!c || tf_step(c, prompt, PROMPT_T, logits, err, sizeof err))
        printf("FAIL cache: %s\n", err);
    for (int i = 0; i < n; i++) {
        out[i] = sample_greedy(logits, V);
        if (i + 1 < n && tf_step(c, &out[i], 1, logits, err, sizeof err))
            printf("FAIL step: %s\n", err);
    }
    free(logits);
    tf_cache_free(c);
}

// Greedy tokens recomputing the whole sequence each step (no cache).
static void greedy_nocache(const Gpt2 *m, int *out, int n) {
    int layers[] = {0, 1}, V = m->cfg.vocab_size, seq[PROMPT_T + 16];
    char err[256];
    memcpy(seq, prompt, sizeof prompt);
    float *logits = xmalloc(sizeof(float) * V);
    for (int i = 0; i < n; i++) {
        int T = PROMPT_T + i, last = T - 1;
        if (tf_forward(m, layers, 2, seq, T, &last, 1, logits, NULL, err, sizeof err))
            printf("FAIL: %s\n", err);
        out[i] = seq[T] = sample_greedy(logits, V);
    }
    free(logits);
}

// Rounded copies of the type from checkpoint dtype `dtype`: logits close to fp32's.
// a: the checkpoint opened fp32, b: with 16-bit matrices (test_models).
static void model_rounded(const char *label, const char *dtype, Gpt2 *a, Gpt2 *b) {
    char name[160];
    check_matrices(label, b, 0);
    snprintf(name, sizeof name, "%s: fp32 model has no 16-bit matrices", label);
    CHECK(name, !a->lm_head16 && !a->blocks[1].fc_w16 && !a->converted16);
    snprintf(name, sizeof name, "%s: fp32 pointers unchanged by gpt2_use_lowp", label);
    CHECK(name, memcmp(a->blocks[1].fc_w, b->blocks[1].fc_w, 64 * 256 * 4) == 0 &&
                    memcmp(a->wte, b->wte, 300 * 64 * 4) == 0 &&
                    (b->tied ? b->lm_head == b->wte : !b->tied));
    int same;
    double diff = logits_diff(a, b, &same);
    // (an F32 checkpoint's weights are not all of the type; a BF16 one's mostly f16)
    snprintf(name, sizeof name, "%s: logits within 1e-2 of fp32 (%.2g)%s", label, diff,
             !strcmp(dtype, "F32") ? ", not equal" : "");
    CHECK(name, diff <= 1e-2 && (strcmp(dtype, "F32") || (diff > 0 && !same)));
    snprintf(name, sizeof name, "%s: gpt2_use_lowp twice is harmless, another type an error",
             label);
    const uint16_t *h = b->lm_head16;
    char err[128];
    CHECK(name,
          gpt2_use_lowp(b, lt, err, sizeof err) == 0 && b->lm_head16 == h &&
              gpt2_use_lowp(b, lt == LOWP_F16 ? LOWP_BF16 : LOWP_F16, err, sizeof err) == -1 &&
              strstr(err, "already has") && b->lm_head16 == h && b->w16_type == lt);
}

// A checkpoint of the type's own dtype: in place, the same weights as the fp32 path:
// bit-identical logits and greedy tokens; KV-cached decoding = recomputation.
static void model_in_place(const char *label, Gpt2 *a, Gpt2 *b) {
    char name[160];
    check_matrices(label, b, 1);
    int same;
    double diff = logits_diff(a, b, &same);
    snprintf(name, sizeof name, "%s: logits bit-identical to fp32 (diff %.2g)", label, diff);
    CHECK(name, same);
    int ga[12], gb[12], gn[12];
    greedy(a, ga, 12), greedy(b, gb, 12), greedy_nocache(b, gn, 12);
    snprintf(name, sizeof name, "%s: greedy 12 tokens, %s == fp32", label, TN);
    CHECK(name, memcmp(ga, gb, sizeof ga) == 0);
    snprintf(name, sizeof name, "%s: greedy 12 tokens, %s KV cache == recomputed", label, TN);
    CHECK(name, memcmp(gb, gn, sizeof gb) == 0);
}

// Each checkpoint dtype, tied and untied, opened fp32 (a) and with 16-bit matrices (b).
static void test_models(void) {
    const char *own = lt == LOWP_F16 ? "F16" : "BF16", *dtypes[] = {"F32", "F16", "BF16"};
    for (int untied = 0; untied < 2; untied++)
        for (int d = 0; d < 3; d++) {
            char sub[32], label[64];
            snprintf(sub, sizeof sub, "%s%s", dtypes[d], untied ? "-untied" : "");
            snprintf(label, sizeof label, "%s %s %s", path, TN, sub);
            char *dir = model_write(sub, dtypes[d], untied);
            Gpt2 a, b;
            if (model_open_w16(&a, dir, 0) == 0 && model_open_w16(&b, dir, 1) == 0) {
                if (!strcmp(dtypes[d], own)) model_in_place(label, &a, &b);
                else model_rounded(label, dtypes[d], &a, &b);
            }
            gpt2_close(&a), gpt2_close(&b);
            free(dir);
        }
}

// Greedy generation from an F32 checkpoint with 16-bit matrices: the cache agrees with
// recomputation (the determinism contract holds with 16-bit weights).
static void test_generation(void) {
    char *dir = path_join(tmpdir, "F32");
    Gpt2 b;
    if (model_open_w16(&b, dir, 1) == 0) {
        int gb[12], gn[12];
        greedy(&b, gb, 12), greedy_nocache(&b, gn, 12);
        char name[96];
        snprintf(name, sizeof name, "%s: F32 with %s matrices: greedy KV cache == recomputed", path,
                 TN);
        CHECK(name, memcmp(gb, gn, sizeof gb) == 0);
    }
    gpt2_close(&b);
    free(dir);
}

// A weight beyond the type's range is an error naming it; the model stays fp32.  f16: the
// largest value that rounds to 65504 is no error.
static void test_overflow(void) {
    char sub[16], err[256] = "", name[128];
    snprintf(sub, sizeof sub, "big-%s", TN);
    char *dir = model_write(sub, "F32", 0);
    char *p = path_join(dir, "model.safetensors");
    SafeTensors st;
    if (safetensors_open(&st, p, err, sizeof err) == 0) {
        const StTensor *t = safetensors_find(&st, "h.1.mlp.c_fc.weight");
        long off =
            t ? (long)((const unsigned char *)t->data - (const unsigned char *)st.map) + 5 * 4 : -1;
        safetensors_close(&st);
        FILE *f = fopen(p, "r+b");
        float big = lt == LOWP_F16 ? 65520.0f : FLT_MAX,
              fits = from_bits(0x477fefffu);   // 65519.996
        if (f && off >= 0) fseek(f, off, SEEK_SET), fwrite(&big, sizeof big, 1, f);
        if (f && off >= 0 && lt == LOWP_F16)
            fseek(f, off - 4, SEEK_SET), fwrite(&fits, sizeof fits, 1, f);
        if (f) fclose(f);
    }
    Gpt2 m;
    if (model_open_w16(&m, dir, 0) == 0) {
        char want[32];
        snprintf(want, sizeof want, "overflows %s", TN);
        snprintf(name, sizeof name, "%s overflow: gpt2_use_lowp fails", TN);
        CHECK_INT(name, gpt2_use_lowp(&m, lt, err, sizeof err), -1);
        snprintf(name, sizeof name, "%s overflow: message names the tensor and element 5", TN);
        CHECK(name,
              strstr(err, "h.1.mlp.c_fc.weight") && strstr(err, "element 5") && strstr(err, want));
        printf("# %s\n", err);
        snprintf(name, sizeof name, "%s overflow: no 16-bit matrices left", TN);
        CHECK(name, !m.lm_head16 && !m.blocks[0].qkv_w16 && !m.converted16);
    }
    gpt2_close(&m);
    free(p), free(dir);
}

// Resident memory of this process in KiB (VmRSS of /proc/self/status), or -1.
static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

// The fp32 matrices of an F32 checkpoint, in the mapping, are released once copied: the
// resident size falls when 16-bit copies half their size replace them (it would grow by
// that half without the release).  Measured on the mapping itself (its Rss in
// /proc/self/smaps), which must give back (nearly) all 12 MiB, twice the 6 MiB of the
// copies: the process's VmRSS also moves with the rest of the process (heap, the
// conversion threads' stacks), and its ~4 MiB margin failed once under heavy load.
static void test_release(void) {
    char sub[16], err[256];
    snprintf(sub, sizeof sub, "rss-%s", TN);
    char *dir = path_join(tmpdir, sub);
    CheckpointSpec spec = {.cfg = {.n_layer = 4,
                                   .n_head = 4,
                                   .n_embd = 256,
                                   .n_ctx = 16,
                                   .vocab_size = 64,
                                   .ln_eps = 1e-5f},
                           .seed = 9};   // matrices: 4 x 12 x 256^2 fp32 = 12 MiB
    Gpt2 m;
    memset(&m, 0, sizeof m);
    int written = fixture_write_model(dir, &spec) == 0;
    CHECK("release: checkpoint written", written);
    if (written && model_open_w16(&m, dir, 0) == 0) {
        double sum = 0;   // touch every fp32 matrix: resident
        for (int l = 0; l < 4; l++) {
            const Gpt2Block *b = &m.blocks[l];
            for (size_t i = 0; i < (size_t)256 * 256; i += 256)
                sum += b->qkv_w[3 * i] + b->attn_proj_w[i] + b->fc_w[4 * i] + b->mlp_proj_w[4 * i];
        }
        long before = rss_kib(), map_before = smaps_field(m.st->map, "Rss", NULL, 0);
        CHECK("release: gpt2_use_lowp",
              gpt2_use_lowp(&m, lt, err, sizeof err) == 0 && isfinite(sum));
        long after = rss_kib(), map_after = smaps_field(m.st->map, "Rss", NULL, 0);
        printf("# resident %ld -> %ld KiB, of the mapping %ld -> %ld KiB (6 MiB of %s in, "
               "12 MiB of fp32 out)\n",
               before, after, map_before, map_after, TN);
        // 11 MiB: each matrix keeps at most its two partial pages at its ends.
        CHECK("release: the resident size falls",
              map_before > 0 && map_after >= 0 && map_before - map_after >= 11 * 1024);
        CHECK("release: fp32 weights still readable (faulted back in)",
              isfinite(m.blocks[3].mlp_proj_w[1000]) &&
                  gpt2_check_finite(&m, err, sizeof err) == 0);
    }
    gpt2_close(&m);
    free(dir);
}

static void test_env(void) {
    Gpt2Weights w;
    char err[128] = "";
    unsetenv("AUTOINTERP_WEIGHTS");
    CHECK("env unset: fp32",
          gpt2_weights_from_env(&w, err, sizeof err) == 0 && w == GPT2_WEIGHTS_FP32);
    setenv("AUTOINTERP_WEIGHTS", "", 1);
    CHECK("env empty: fp32",
          gpt2_weights_from_env(&w, err, sizeof err) == 0 && w == GPT2_WEIGHTS_FP32);
    setenv("AUTOINTERP_WEIGHTS", "fp32", 1);
    CHECK("env fp32", gpt2_weights_from_env(&w, err, sizeof err) == 0 && w == GPT2_WEIGHTS_FP32);
    setenv("AUTOINTERP_WEIGHTS", "bf16", 1);
    CHECK("env bf16", gpt2_weights_from_env(&w, err, sizeof err) == 0 && w == GPT2_WEIGHTS_BF16);
    setenv("AUTOINTERP_WEIGHTS", "f16", 1);
    CHECK("env f16", gpt2_weights_from_env(&w, err, sizeof err) == 0 && w == GPT2_WEIGHTS_F16);
    setenv("AUTOINTERP_WEIGHTS", "fp16", 1);
    CHECK("env fp16: error", gpt2_weights_from_env(&w, err, sizeof err) == -1 &&
                                 strstr(err, "AUTOINTERP_WEIGHTS=fp16 is not fp32, bf16 or f16"));
    setenv("AUTOINTERP_WEIGHTS", "BF16x", 1);
    CHECK("env BF16x: error", gpt2_weights_from_env(&w, err, sizeof err) == -1 &&
                                  strstr(err, "AUTOINTERP_WEIGHTS=BF16x is not fp32, bf16 or f16"));
    unsetenv("AUTOINTERP_WEIGHTS");
}

// --convert TYPE PATH IN OUT (see the top).  0, or 1 with a message.
static int convert(char **argv) {
    char err[128];
    if (strcmp(argv[2], "bf16") && strcmp(argv[2], "f16"))
        return fprintf(stderr, "bad type %s\n", argv[2]), 1;
    if (matmul_kernel_select(argv[3], err, sizeof err)) return fprintf(stderr, "%s\n", err), 1;
    lt = strcmp(argv[2], "f16") ? LOWP_BF16 : LOWP_F16;
    size_t len;
    char *in = read_file(argv[4], &len);
    if (!in) return fprintf(stderr, "cannot read %s\n", argv[4]), 1;
    size_t n = len / sizeof(float);
    float *x = xmalloc((n + 1) * sizeof *x), *wide = xmalloc(65536 * sizeof *wide);
    uint16_t *h = xmalloc((n + 1) * sizeof *h), all[65536];
    memcpy(x, in, n * sizeof *x);
    lowp_round(lt, h, x, n);
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    lowp_widen(lt, wide, all, 65536);
    FILE *f = fopen(argv[5], "wb");
    int ok = f && fwrite(h, sizeof *h, n, f) == n && fwrite(wide, sizeof *wide, 65536, f) == 65536;
    if (f && fclose(f)) ok = 0;
    free(in), free(x), free(wide), free(h);
    if (!ok) return fprintf(stderr, "cannot write %s\n", argv[5]), 1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && !strcmp(argv[1], "--convert")) return convert(argv);
    if (check_scratch(tmpdir, sizeof tmpdir, "test_bf16") != 0) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    lt = LOWP_BF16;
    test_round_bf16();
    lt = LOWP_F16;
    test_round_f16();
    test_env();
    ThreadPool *pool = threadpool_new(3);
    int n = 0;
    const char *const *names = matmul_kernel_paths(&n);
    for (int i = 0; i < 2 * n; i++) {
        lt = i < n ? LOWP_BF16 : LOWP_F16;
        char err[128];
        path = names[i % n];
        if (!matmul_kernel_supported(path)) {
            printf("(kernel path %s: not supported by this CPU, skipped)\n", path);
            continue;
        }
        CHECK(path, matmul_kernel_select(path, err, sizeof err) == 0);
        if (lt == LOWP_F16) test_widen_f16();
        test_matmul(NULL);
        test_matmul(pool);
        test_transposed(NULL);
        test_transposed(pool);
        test_models();
        test_generation();
    }
    threadpool_free(pool);
    for (lt = LOWP_BF16; lt < LOWP_TYPES; lt++) {
        test_overflow();
        test_release();
    }
    check_scratch_remove(tmpdir);
    CHECK_DONE();
}
