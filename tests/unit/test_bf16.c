// Unit tests for the bf16 weights (common/matmul bf16 kernels, gpt2_use_bf16): rounding
// to nearest even; on every kernel path this CPU supports, the bf16 kernels bit-identical
// to the fp32 kernels on the same weights widened to fp32 (matmul.h's promise); models
// with bf16 matrices: copies rounded from F32/F16 checkpoints, a BF16 checkpoint's used in
// place and computing the fp32 path's very logits, KV-cached greedy generation, errors.
// (tests/tool/bf16_ref.sh compares with the NumPy reference.)
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "checkpoint.h"
#include "gpt2.h"
#include "matmul.h"
#include "rng.h"
#include "sample.h"
#include "threadpool.h"
#include "transformer.h"
#include "util.h"

static const char *path;   // the kernel path under test, in check names

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
    bf16_round(&h, &x, 1);
    return h;
}

// ----------------------------------------------------------------------------- rounding

static void test_round(void) {
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
    CHECK_INT("round smallest subnormal (tie below even 0)", round1(from_bits(0x00000001u)), 0x0000);

    // Random values: the result is a neighbour within half a bf16 ulp (to nearest), and
    // bf16 values come back unchanged.
    Rng rng;
    rng_seed(&rng, 5);
    int bad_near = 0, bad_exact = 0;
    for (int i = 0; i < 100000; i++) {
        float x = (float)((rng_uniform(&rng) * 2.0 - 1.0) * ldexp(1.0, (int)(rng_uniform(&rng) * 40) - 20));
        uint16_t h = round1(x);
        float r;
        bf16_widen(&r, &h, 1);
        int e;
        frexp(x, &e);
        bad_near += fabs((double)r - x) > ldexp(1.0, e - 9);   // half an ulp of 8 significant bits
        bad_exact += round1(r) != h;
    }
    CHECK_INT("round: within half a bf16 ulp", bad_near, 0);
    CHECK_INT("round: bf16 values unchanged", bad_exact, 0);
}

// ----------------------------------------------------------------------------- kernels

// Random weights w (n) rounded to bf16 (w16) and widened back (wf: the same values).
static void weights(uint16_t *w16, float *wf, size_t n, Rng *rng) {
    fill(wf, n, rng);
    bf16_round(w16, wf, n);
    bf16_widen(wf, w16, n);
}

// max |out - in·w - bias| in double (the products are not garbage on both sides).
static double matmul_error(const float *out, const float *in, const float *w, const float *bias, int T, int K,
                           int N) {
    double worst = 0.0;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < N; j++) {
            double s = bias ? bias[j] : 0.0;
            for (int k = 0; k < K; k++) s += (double)in[t * K + k] * w[k * N + j];
            if (fabs(s - out[t * N + j]) > worst) worst = fabs(s - out[t * N + j]);
        }
    return worst;
}

// matmul_bf16_forward (and the GELU variant) vs matmul_forward on the widened weights,
// bit for bit; w16 is placed `offset` elements into its buffer (misaligned weights).
static void check_matmul(int T, int K, int N, int offset, int with_bias, ThreadPool *pool, Rng *rng) {
    size_t nw = (size_t)K * N;
    float *in = xmalloc(sizeof(float) * (size_t)T * K), *wf = xmalloc(sizeof(float) * nw);
    uint16_t *w16buf = xmalloc(sizeof(uint16_t) * (nw + (size_t)offset)), *w16 = w16buf + offset;
    float *bias = with_bias ? xmalloc(sizeof(float) * (size_t)N) : NULL;
    float *a = xmalloc(sizeof(float) * (size_t)T * N), *b = xmalloc(sizeof(float) * (size_t)T * N);
    fill(in, (size_t)T * K, rng);
    weights(w16, wf, nw, rng);
    if (bias) fill(bias, (size_t)N, rng);
    char name[200];
    snprintf(name, sizeof name, "%s: bf16 matmul T=%d K=%d N=%d offset %d%s%s == fp32 on widened weights", path, T,
             K, N, offset, bias ? " bias" : "", pool ? " pool" : "");
    matmul_bf16_forward(a, in, w16, bias, T, K, N, pool);
    matmul_forward(b, in, wf, bias, T, K, N, pool);
    int same = memcmp(a, b, sizeof(float) * (size_t)T * N) == 0;
    CHECK(name, same && matmul_error(a, in, wf, bias, T, K, N) < 1e-4 * (K + 1));
    snprintf(name, sizeof name, "%s: bf16 matmul+gelu T=%d K=%d N=%d offset %d%s == fp32", path, T, K, N, offset,
             pool ? " pool" : "");
    matmul_bf16_gelu_forward(a, in, w16, bias, T, K, N, pool);
    matmul_gelu_forward(b, in, wf, bias, T, K, N, pool);
    CHECK(name, memcmp(a, b, sizeof(float) * (size_t)T * N) == 0);
    // The determinism contract: the last row alone gets the bits it got in the batch.
    snprintf(name, sizeof name, "%s: bf16 matmul T=%d K=%d N=%d: last row alone == in the batch", path, T, K, N);
    matmul_bf16_forward(b, in + (size_t)(T - 1) * K, w16, bias, 1, K, N, pool);
    matmul_bf16_forward(a, in, w16, bias, T, K, N, pool);
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
    // Misaligned weights (a BF16 tensor used in place from a mapping lies anywhere).
    for (int off = 1; off < 4; off++) {
        check_matmul(2, 200, 768, off, 1, pool, &rng);
        check_matmul(40, 200, 768, off, 1, pool, &rng);
    }
}

static void test_transposed(ThreadPool *pool) {
    static const int Ts[] = {1, 5, 9};
    static const int Cs[] = {1, 17, 64, 100};
    static const int Vs[] = {1, 7, 130, 300, 301};
    Rng rng;
    rng_seed(&rng, 12);
    char name[200];
    for (size_t a = 0; a < sizeof Ts / sizeof *Ts; a++)
        for (size_t b = 0; b < sizeof Cs / sizeof *Cs; b++)
            for (size_t c = 0; c < sizeof Vs / sizeof *Vs; c++) {
                int T = Ts[a], C = Cs[b], V = Vs[c];
                float *in = xmalloc(sizeof(float) * (size_t)T * C), *ef = xmalloc(sizeof(float) * (size_t)V * C);
                // odd vocabulary sizes: e at an odd element offset (a mapping puts it anywhere)
                uint16_t *e16buf = xmalloc(sizeof(uint16_t) * ((size_t)V * C + 1)), *e16 = e16buf + V % 2;
                float *x = xmalloc(sizeof(float) * (size_t)T * V), *y = xmalloc(sizeof(float) * (size_t)T * V);
                fill(in, (size_t)T * C, &rng);
                weights(e16, ef, (size_t)V * C, &rng);
                matmul_transposed_bf16_forward(x, in, e16, T, C, V, pool);
                matmul_transposed_forward(y, in, ef, T, C, V, pool);
                double worst = 0.0;
                for (int t = 0; t < T; t++)
                    for (int v = 0; v < V; v++) {
                        double s = 0.0;
                        for (int i = 0; i < C; i++) s += (double)in[t * C + i] * ef[v * C + i];
                        if (fabs(s - x[t * V + v]) > worst) worst = fabs(s - x[t * V + v]);
                    }
                snprintf(name, sizeof name, "%s: bf16 unembedding T=%d C=%d V=%d offset %d%s == fp32 on widened weights",
                         path, T, C, V, V % 2, pool ? " pool" : "");
                CHECK(name, memcmp(x, y, sizeof(float) * (size_t)T * V) == 0 && worst < 1e-4 * (C + 1));
                free(in), free(ef), free(e16buf), free(x), free(y);
            }
}

// ----------------------------------------------------------------------------- models

static char tmpdir[512];

// A small synthetic checkpoint (2 layers, C = 64, V = 300, weights at GPT-2's init scale:
// the bf16 rounding error grows with the weights, docs/bench.md) in tmpdir/name.
static char *model_write(const char *name, const char *dtype, int untied) {
    char *dir = path_join(tmpdir, name), err[256];
    CheckpointSpec spec = {.cfg = {.n_layer = 2, .n_head = 2, .n_embd = 64, .n_ctx = 32, .vocab_size = 300,
                                   .ln_eps = 1e-5f},
                           .seed = 3, .dtype = dtype, .untied = untied, .with_mask_buffers = 1};   // std 0.02, GPT-2's init
    if (checkpoint_write_random(dir, &spec, err, sizeof err) != 0) printf("FAIL write %s: %s\n", name, err);
    return dir;
}

static int model_open_bf16(Gpt2 *m, const char *dir, int bf16) {
    char err[256];
    if (gpt2_open(m, dir, err, sizeof err) != 0 || (bf16 && gpt2_use_bf16(m, err, sizeof err) != 0)) {
        printf("FAIL open %s: %s\n", dir, err);
        return -1;
    }
    return 0;
}

// Whether p lies in m's mapping.
static int in_mapping(const Gpt2 *m, const void *p) {
    const unsigned char *b = m->st->map, *q = p;
    return q >= b && q < b + m->st->map_size;
}

// Every bf16 matrix of m: equal to its fp32 weights rounded (the rounding is exact for a
// BF16 checkpoint), and in the mapping or not as want_mapped says.
static void check_matrices(const char *label, const Gpt2 *m, int want_mapped) {
    int L = m->cfg.n_layer, bad_value = 0, bad_place = 0;
    size_t C = (size_t)m->cfg.n_embd, V = (size_t)m->cfg.vocab_size;
    for (int i = 0; i < 4 * L + 1; i++) {
        const Gpt2Block *b = &m->blocks[i / 4 < L ? i / 4 : 0];
        const float *f = i == 4 * L ? m->lm_head : (const float *[]){b->qkv_w, b->attn_proj_w, b->fc_w, b->mlp_proj_w}[i % 4];
        const uint16_t *h = i == 4 * L ? m->lm_head16
                                       : (const uint16_t *[]){b->qkv_w16, b->attn_proj_w16, b->fc_w16, b->mlp_proj_w16}[i % 4];
        size_t n = i == 4 * L ? V * C : (size_t[]){3 * C * C, C * C, 4 * C * C, 4 * C * C}[i % 4];
        if (!h) {
            bad_value++;
            continue;
        }
        uint16_t *want = xmalloc(n * sizeof *want);
        bf16_round(want, f, n);
        bad_value += memcmp(want, h, n * sizeof *h) != 0;
        bad_place += in_mapping(m, h) != want_mapped;
        free(want);
    }
    char name[160];
    snprintf(name, sizeof name, "%s: bf16 matrices = the fp32 weights rounded", label);
    CHECK_INT(name, bad_value, 0);
    snprintf(name, sizeof name, "%s: bf16 matrices %s the mapping", label, want_mapped ? "in" : "outside");
    CHECK_INT(name, bad_place, 0);
    snprintf(name, sizeof name, "%s: matrices used in place", label);
    CHECK_INT(name, m->n_bf16_in_place, want_mapped ? 4 * L + 1 : 0);
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
    if (!c || tf_step(c, prompt, PROMPT_T, logits, err, sizeof err)) printf("FAIL cache: %s\n", err);
    for (int i = 0; i < n; i++) {
        out[i] = sample_greedy(logits, V);
        if (i + 1 < n && tf_step(c, &out[i], 1, logits, err, sizeof err)) printf("FAIL step: %s\n", err);
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
        if (tf_forward(m, layers, 2, seq, T, &last, 1, logits, NULL, err, sizeof err)) printf("FAIL: %s\n", err);
        out[i] = seq[T] = sample_greedy(logits, V);
    }
    free(logits);
}

static void test_models(void) {
    char name[160];
    for (int untied = 0; untied < 2; untied++) {
        // F32 and F16: rounded copies; logits close to fp32 but not equal.
        const char *dtypes[] = {"F32", "F16"};
        for (int d = 0; d < 2; d++) {
            char sub[32], label[64];
            snprintf(sub, sizeof sub, "%s%s", dtypes[d], untied ? "-untied" : "");
            snprintf(label, sizeof label, "%s %s", path, sub);
            char *dir = model_write(sub, dtypes[d], untied);
            Gpt2 a, b;
            if (model_open_bf16(&a, dir, 0) == 0 && model_open_bf16(&b, dir, 1) == 0) {
                check_matrices(label, &b, 0);
                snprintf(name, sizeof name, "%s: fp32 model has no bf16 matrices", label);
                CHECK(name, !a.lm_head16 && !a.blocks[1].fc_w16 && !a.converted16);
                snprintf(name, sizeof name, "%s: fp32 pointers unchanged by gpt2_use_bf16", label);
                CHECK(name, memcmp(a.blocks[1].fc_w, b.blocks[1].fc_w, 64 * 256 * 4) == 0 &&
                                memcmp(a.wte, b.wte, 300 * 64 * 4) == 0 && (b.tied ? b.lm_head == b.wte : !b.tied));
                int same;
                double diff = logits_diff(&a, &b, &same);
                snprintf(name, sizeof name, "%s: bf16 logits within 1e-2 of fp32 (%.2g), not equal", label, diff);
                CHECK(name, diff <= 1e-2 && diff > 0 && !same);
                snprintf(name, sizeof name, "%s: gpt2_use_bf16 twice is harmless", label);
                const uint16_t *h = b.lm_head16;
                char err[128];
                CHECK(name, gpt2_use_bf16(&b, err, sizeof err) == 0 && b.lm_head16 == h);
            }
            gpt2_close(&a), gpt2_close(&b);
            free(dir);
        }
        // BF16: in place, the same weights as the fp32 path: bit-identical logits and
        // greedy tokens; KV-cached decoding = recomputation.
        char sub[32], label[64];
        snprintf(sub, sizeof sub, "BF16%s", untied ? "-untied" : "");
        snprintf(label, sizeof label, "%s %s", path, sub);
        char *dir = model_write(sub, "BF16", untied);
        Gpt2 a, b;
        if (model_open_bf16(&a, dir, 0) == 0 && model_open_bf16(&b, dir, 1) == 0) {
            check_matrices(label, &b, 1);
            int same;
            double diff = logits_diff(&a, &b, &same);
            snprintf(name, sizeof name, "%s: bf16 logits bit-identical to fp32 (diff %.2g)", label, diff);
            CHECK(name, same);
            int ga[12], gb[12], gn[12];
            greedy(&a, ga, 12), greedy(&b, gb, 12), greedy_nocache(&b, gn, 12);
            snprintf(name, sizeof name, "%s: greedy 12 tokens, bf16 == fp32", label);
            CHECK(name, memcmp(ga, gb, sizeof ga) == 0);
            snprintf(name, sizeof name, "%s: greedy 12 tokens, bf16 KV cache == recomputed", label);
            CHECK(name, memcmp(gb, gn, sizeof gb) == 0);
        }
        gpt2_close(&a), gpt2_close(&b);
        free(dir);
    }
}

// Greedy generation from an F32 checkpoint with bf16 matrices: the cache agrees with
// recomputation (the determinism contract holds with bf16 weights).
static void test_generation(void) {
    char *dir = path_join(tmpdir, "F32");
    Gpt2 b;
    if (model_open_bf16(&b, dir, 1) == 0) {
        int gb[12], gn[12];
        greedy(&b, gb, 12), greedy_nocache(&b, gn, 12);
        char name[96];
        snprintf(name, sizeof name, "%s: F32 with bf16 matrices: greedy KV cache == recomputed", path);
        CHECK(name, memcmp(gb, gn, sizeof gb) == 0);
    }
    gpt2_close(&b);
    free(dir);
}

// A weight beyond bf16's range is an error naming it; the model stays fp32.
static void test_overflow(void) {
    char *dir = model_write("big", "F32", 0), err[256] = "";
    char *p = path_join(dir, "model.safetensors");
    SafeTensors st;
    if (safetensors_open(&st, p, err, sizeof err) == 0) {
        const StTensor *t = safetensors_find(&st, "h.1.mlp.c_fc.weight");
        long off = t ? (long)((const unsigned char *)t->data - (const unsigned char *)st.map) + 5 * 4 : -1;
        safetensors_close(&st);
        FILE *f = fopen(p, "r+b");
        float big = FLT_MAX;
        if (f && off >= 0) fseek(f, off, SEEK_SET), fwrite(&big, sizeof big, 1, f);
        if (f) fclose(f);
    }
    Gpt2 m;
    if (model_open_bf16(&m, dir, 0) == 0) {
        CHECK_INT("overflow: gpt2_use_bf16 fails", gpt2_use_bf16(&m, err, sizeof err), -1);
        CHECK("overflow: message", strstr(err, "h.1.mlp.c_fc.weight") && strstr(err, "element 5") && strstr(err, "overflows bf16"));
        CHECK("overflow: no bf16 matrices left", !m.lm_head16 && !m.blocks[0].qkv_w16 && !m.converted16);
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
// resident size falls when bf16 copies half their size replace them (it would grow by
// that half without the release).
static void test_release(void) {
    char *dir = path_join(tmpdir, "rss"), err[256];
    CheckpointSpec spec = {.cfg = {.n_layer = 4, .n_head = 4, .n_embd = 256, .n_ctx = 16, .vocab_size = 64,
                                   .ln_eps = 1e-5f},
                           .seed = 9};   // matrices: 4 x 12 x 256^2 fp32 = 12 MiB
    Gpt2 m;
    memset(&m, 0, sizeof m);
    int written = checkpoint_write_random(dir, &spec, err, sizeof err) == 0;
    CHECK("release: checkpoint written", written);
    if (!written) printf("# %s\n", err);
    if (written && model_open_bf16(&m, dir, 0) == 0) {
        double sum = 0;   // touch every fp32 matrix: resident
        for (int l = 0; l < 4; l++) {
            const Gpt2Block *b = &m.blocks[l];
            for (size_t i = 0; i < (size_t)256 * 256; i += 256)
                sum += b->qkv_w[3 * i] + b->attn_proj_w[i] + b->fc_w[4 * i] + b->mlp_proj_w[4 * i];
        }
        long before = rss_kib();
        CHECK("release: gpt2_use_bf16", gpt2_use_bf16(&m, err, sizeof err) == 0 && isfinite(sum));
        long after = rss_kib();
        printf("# resident %ld -> %ld KiB (6 MiB of bf16 in, 12 MiB of fp32 out)\n", before, after);
        CHECK("release: the resident size falls", before > 0 && after < before);
        CHECK("release: fp32 weights still readable (faulted back in)",
              isfinite(m.blocks[3].mlp_proj_w[1000]) && gpt2_check_finite(&m, err, sizeof err) == 0);
    }
    gpt2_close(&m);
    free(dir);
}

static void test_env(void) {
    Gpt2Weights w;
    char err[128] = "";
    unsetenv("AUTOINTERP_WEIGHTS");
    CHECK("env unset: fp32", gpt2_weights_from_env(&w, err, sizeof err) == 0 && w == GPT2_WEIGHTS_FP32);
    setenv("AUTOINTERP_WEIGHTS", "", 1);
    CHECK("env empty: fp32", gpt2_weights_from_env(&w, err, sizeof err) == 0 && w == GPT2_WEIGHTS_FP32);
    setenv("AUTOINTERP_WEIGHTS", "fp32", 1);
    CHECK("env fp32", gpt2_weights_from_env(&w, err, sizeof err) == 0 && w == GPT2_WEIGHTS_FP32);
    setenv("AUTOINTERP_WEIGHTS", "bf16", 1);
    CHECK("env bf16", gpt2_weights_from_env(&w, err, sizeof err) == 0 && w == GPT2_WEIGHTS_BF16);
    setenv("AUTOINTERP_WEIGHTS", "BF16x", 1);
    CHECK("env BF16x: error", gpt2_weights_from_env(&w, err, sizeof err) == -1 && strstr(err, "AUTOINTERP_WEIGHTS=BF16x is not fp32 or bf16"));
    unsetenv("AUTOINTERP_WEIGHTS");
}

int main(void) {
    if (check_scratch(tmpdir, sizeof tmpdir, "test_bf16") != 0) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    test_round();
    test_env();
    ThreadPool *pool = threadpool_new(3);
    int n = 0;
    const char *const *names = matmul_kernel_paths(&n);
    for (int i = 0; i < n; i++) {
        char err[128];
        if (!matmul_kernel_supported(names[i])) {
            printf("(kernel path %s: not supported by this CPU, skipped)\n", names[i]);
            continue;
        }
        CHECK(names[i], matmul_kernel_select(names[i], err, sizeof err) == 0);
        path = names[i];
        test_matmul(NULL);
        test_matmul(pool);
        test_transposed(NULL);
        test_transposed(pool);
        test_models();
        test_generation();
    }
    threadpool_free(pool);
    test_overflow();
    test_release();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (!check_keep_scratch() && system(cmd) != 0) printf("# could not remove %s\n", tmpdir);
    CHECK_DONE();
}
