// checkpoint: synthetic GPT-2 checkpoints in the Hugging Face format; see checkpoint.h.
#include "model/checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/rng.h"
#include "base/util.h"
#include "io/safetensors.h"

// ----------------------------------------------------------------------------- shapes

int checkpoint_named_shape(const char *name, Gpt2Config *cfg) {
    static const struct {
        const char *name;
        int n_layer, n_head, n_embd;
    } sizes[] = {
        {"gpt2", 12, 12, 768},     {"gpt2-medium", 24, 16, 1024}, {"gpt2-large", 36, 20, 1280},
        {"gpt2-xl", 48, 25, 1600}, {"distilgpt2", 6, 12, 768},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (strcmp(name, sizes[i].name) != 0) continue;
        memset(cfg, 0, sizeof *cfg);
        cfg->n_layer = sizes[i].n_layer;
        cfg->n_head = sizes[i].n_head;
        cfg->n_embd = sizes[i].n_embd;
        cfg->n_ctx = 1024;
        cfg->vocab_size = 50257;
        cfg->ln_eps = 1e-5f;
        return 0;
    }
    return -1;
}

// ----------------------------------------------------------------------------- values

// How a tensor's values are drawn.
enum {
    GEN_NORMAL,   // mean + std * N(0, 1)
    GEN_AWAY,     // mean ± std * (1/4 + |N(0, 1)|): never within std/4 of the mean, so
                  // a LayerNorm weight is never exactly 1 nor a bias 0, even in BF16
    GEN_MASK,     // causal mask buffer
};

typedef struct {
    char name[96];    // as written (with prefix when asked)
    char canon[64];   // without prefix: seeds the values, so prefix does not change them
    int kind;
    float mean, std;
    int ndim;
    int64_t shape[4];
    size_t numel;
} Gen;

typedef struct {
    const CheckpointSpec *spec;
    StDtype dtype;
    Gen *gens;
    int n;
    float *scratch;   // (CHUNK) fp32 values before conversion
} Writer;

#define CHUNK ((size_t)1 << 16)   // values generated per step (even)

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

// n (even) standard normals by Box–Muller; u1 in (0, 1] so the log is finite.
static void normals_fill(Rng *r, float *out, size_t n) {
    const float two_pi = 6.28318530717958647692f;
    for (size_t i = 0; i + 1 < n; i += 2) {
        uint64_t x = rng_next(r);
        float u1 = (float)((x >> 40) + 1) * 0x1.0p-24f;          // 24 bits, (0, 1]
        float u2 = (float)((x >> 16) & 0xffffff) * 0x1.0p-24f;   // 24 bits, [0, 1)
        float rad = sqrtf(-2.0f * logf(u1));
        float th = two_pi * u2;
        out[i] = rad * cosf(th);
        out[i + 1] = rad * sinf(th);
    }
}

// Causal mask rows: element k of the (n_ctx, n_ctx) matrix is 1 on and below the diagonal.
static void mask_fill(float *out, size_t first, size_t n, int64_t n_ctx) {
    for (size_t k = 0; k < n; k++) {
        size_t idx = first + k;
        out[k] = (int64_t)(idx % (size_t)n_ctx) <= (int64_t)(idx / (size_t)n_ctx) ? 1.0f : 0.0f;
    }
}

static int gen_fill(void *ctx, int index, void *buf, size_t nbytes, char *err, size_t errlen) {
    Writer *w = ctx;
    const Gen *g = &w->gens[index];
    size_t esize = st_dtype_size(w->dtype);
    if (nbytes != g->numel * esize) return fail(err, errlen, "tensor %s: size mismatch", g->name);
    Rng r;
    rng_seed(&r, w->spec->seed ^ fnv1a(g->canon));
    for (size_t done = 0; done < g->numel; done += CHUNK) {
        size_t n = g->numel - done < CHUNK ? g->numel - done : CHUNK;
        if (g->kind == GEN_MASK) {
            mask_fill(w->scratch, done, n, g->shape[3]);
        } else {
            normals_fill(&r, w->scratch, (n + 1) & ~(size_t)1);
            float *x = w->scratch;
            if (g->kind == GEN_AWAY)
                for (size_t k = 0; k < n; k++)
                    x[k] = g->mean + g->std * (x[k] + (x[k] < 0 ? -0.25f : 0.25f));
            else
                for (size_t k = 0; k < n; k++) x[k] = g->mean + g->std * x[k];
        }
        st_from_f32((char *)buf + done * esize, w->scratch, w->dtype, n);
    }
    return 0;
}

// ----------------------------------------------------------------------------- tensor list

static void gen_add(Writer *w, const char *canon, int prefix, int kind, float mean, float std,
                    int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    Gen *g = &w->gens[w->n++];
    snprintf(g->canon, sizeof g->canon, "%s", canon);
    snprintf(g->name, sizeof g->name, "%s%s", prefix ? "transformer." : "", canon);
    g->kind = kind;
    g->mean = mean;
    g->std = std;
    g->ndim = ndim;
    int64_t d[4] = {d0, d1, d2, d3};
    g->numel = 1;
    for (int i = 0; i < ndim; i++) g->shape[i] = d[i], g->numel *= (size_t)d[i];
}

// Every tensor the spec asks for.  Weights ~ N(0, std) (residual projections scaled by
// 1/sqrt(2L) as GPT-2's init does), LayerNorm weights 1 ± 0.1 (1/4 + |N(0, 1)|),
// LayerNorm biases ± 0.05 (1/4 + |N(0, 1)|), linear biases N(0, std), wpe N(0, std/2).
static void gens_build(Writer *w) {
    const CheckpointSpec *s = w->spec;
    const Gpt2Config *c = &s->cfg;
    int64_t C = c->n_embd, V = c->vocab_size, T = c->n_ctx;
    float std = s->init_std > 0 ? s->init_std : 0.02f;
    float proj_std = std / sqrtf(2.0f * (float)c->n_layer);
    int p = s->prefix;
    w->gens = xcalloc((size_t)c->n_layer * 13 + 6, sizeof(Gen));
    gen_add(w, "wte.weight", p, GEN_NORMAL, 0, std, 2, V, C, 0, 0);
    gen_add(w, "wpe.weight", p, GEN_NORMAL, 0, std / 2, 2, T, C, 0, 0);
    for (int l = 0; l < c->n_layer; l++) {
        char nm[64];
#define ADD(suffix, kind, mean, sd, ndim, d0, d1, d2, d3)                                          \
    snprintf(nm, sizeof nm, "h.%d.%s", l, suffix);                                                 \
    gen_add(w, nm, p, kind, mean, sd, ndim, d0, d1, d2, d3)
        ADD("ln_1.weight", GEN_AWAY, 1, 0.1f, 1, C, 0, 0, 0);
        ADD("ln_1.bias", GEN_AWAY, 0, 0.05f, 1, C, 0, 0, 0);
        ADD("attn.c_attn.weight", GEN_NORMAL, 0, std, 2, C, 3 * C, 0, 0);
        ADD("attn.c_attn.bias", GEN_NORMAL, 0, std, 1, 3 * C, 0, 0, 0);
        ADD("attn.c_proj.weight", GEN_NORMAL, 0, proj_std, 2, C, C, 0, 0);
        ADD("attn.c_proj.bias", GEN_NORMAL, 0, std, 1, C, 0, 0, 0);
        ADD("ln_2.weight", GEN_AWAY, 1, 0.1f, 1, C, 0, 0, 0);
        ADD("ln_2.bias", GEN_AWAY, 0, 0.05f, 1, C, 0, 0, 0);
        ADD("mlp.c_fc.weight", GEN_NORMAL, 0, std, 2, C, 4 * C, 0, 0);
        ADD("mlp.c_fc.bias", GEN_NORMAL, 0, std, 1, 4 * C, 0, 0, 0);
        ADD("mlp.c_proj.weight", GEN_NORMAL, 0, proj_std, 2, 4 * C, C, 0, 0);
        ADD("mlp.c_proj.bias", GEN_NORMAL, 0, std, 1, C, 0, 0, 0);
        if (s->with_mask_buffers) { ADD("attn.bias", GEN_MASK, 0, 0, 4, 1, 1, T, T); }
#undef ADD
    }
    gen_add(w, "ln_f.weight", p, GEN_AWAY, 1, 0.1f, 1, C, 0, 0, 0);
    gen_add(w, "ln_f.bias", p, GEN_AWAY, 0, 0.05f, 1, C, 0, 0, 0);
    if (s->untied) gen_add(w, "lm_head.weight", 0, GEN_NORMAL, 0, std, 2, V, C, 0, 0);
}

// ----------------------------------------------------------------------------- config.json

static const char *torch_dtype(StDtype dt) {
    return dt == ST_F16 ? "float16" : dt == ST_BF16 ? "bfloat16" : "float32";
}

// config.json as transformers' GPT2Config.save_pretrained writes it (sorted keys, indent 2).
static void config_build(JsonBuf *b, const CheckpointSpec *s, StDtype dt) {
    const Gpt2Config *c = &s->cfg;
    char line[160];
    int special = c->vocab_size > 50256 ? 50256 : c->vocab_size - 1;
    jb_puts(b, "{\n  \"activation_function\": \"gelu_new\",\n"
               "  \"architectures\": [\n    \"GPT2LMHeadModel\"\n  ],\n"
               "  \"attn_pdrop\": 0.1,\n");
    snprintf(line, sizeof line,
             "  \"bos_token_id\": %d,\n  \"embd_pdrop\": 0.1,\n  \"eos_token_id\": %d,\n", special,
             special);
    jb_puts(b, line);
    jb_puts(b, "  \"initializer_range\": ");
    jb_float(b, s->init_std > 0 ? s->init_std : 0.02f);
    jb_puts(b, ",\n  \"layer_norm_epsilon\": ");
    jb_float(b, c->ln_eps > 0 ? c->ln_eps : 1e-5f);
    snprintf(
        line, sizeof line,
        ",\n  \"model_type\": \"gpt2\",\n  \"n_ctx\": %d,\n  \"n_embd\": %d,\n  \"n_head\": %d,\n",
        c->n_ctx, c->n_embd, c->n_head);
    jb_puts(b, line);
    snprintf(line, sizeof line,
             "  \"n_inner\": null,\n  \"n_layer\": %d,\n  \"n_positions\": %d,\n", c->n_layer,
             c->n_ctx);
    jb_puts(b, line);
    jb_puts(b, "  \"reorder_and_upcast_attn\": false,\n  \"resid_pdrop\": 0.1,\n"
               "  \"scale_attn_by_inverse_layer_idx\": false,\n  \"scale_attn_weights\": true,\n"
               "  \"summary_activation\": null,\n  \"summary_first_dropout\": 0.1,\n"
               "  \"summary_proj_to_labels\": true,\n  \"summary_type\": \"cls_index\",\n"
               "  \"summary_use_proj\": true,\n");
    if (s->untied) jb_puts(b, "  \"tie_word_embeddings\": false,\n");
    snprintf(line, sizeof line,
             "  \"torch_dtype\": \"%s\",\n  \"transformers_version\": \"4.46.3\",\n"
             "  \"use_cache\": true,\n  \"vocab_size\": %d\n}\n",
             torch_dtype(dt), c->vocab_size);
    jb_puts(b, line);
}

static int file_write(const char *path, const char *data, size_t n, char *err, size_t errlen) {
    FILE *f = fopen(path, "wb");
    if (!f) return fail(err, errlen, "%s: %s", path, strerror(errno));
    int bad = fwrite(data, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad) {
        remove(path);
        return fail(err, errlen, "%s: write failed", path);
    }
    return 0;
}

// ----------------------------------------------------------------------------- write

static int spec_check(const CheckpointSpec *s, StDtype *dt, char *err, size_t errlen) {
    const Gpt2Config *c = &s->cfg;
    const char *name = s->dtype ? s->dtype : "F32";
    int code = st_dtype_parse(name, strlen(name));
    if (code != ST_F32 && code != ST_F16 && code != ST_BF16)
        return fail(err, errlen, "checkpoint dtype %s is not F32, F16 or BF16", name);
    *dt = (StDtype)code;
    if (c->n_layer < 1 || c->n_layer > 4096 || c->n_head < 1 || c->n_embd < 1 ||
        c->n_embd > 65536 || c->n_ctx < 1 || c->n_ctx > (1 << 20) || c->vocab_size < 1 ||
        c->vocab_size > (1 << 24))
        return fail(err, errlen,
                    "checkpoint shape out of range (L %d, NH %d, C %d, n_ctx %d, V %d)", c->n_layer,
                    c->n_head, c->n_embd, c->n_ctx, c->vocab_size);
    if (c->n_embd % c->n_head != 0)
        return fail(err, errlen, "n_embd %d is not a multiple of n_head %d", c->n_embd, c->n_head);
    if (!(s->init_std >= 0 && s->init_std < 100))
        return fail(err, errlen, "init_std %g out of range", s->init_std);
    return 0;
}

int checkpoint_write_random(const char *dir, const CheckpointSpec *spec, char *err, size_t errlen) {
    StDtype dt = ST_F32;
    if (spec_check(spec, &dt, err, errlen) != 0) return -1;
    if (mkdir_p(dir) != 0)
        return fail(err, errlen, "%s: cannot create directory: %s", dir, strerror(errno));

    JsonBuf cb = {0};
    config_build(&cb, spec, dt);
    char *cfg_path = path_join(dir, "config.json");
    int rc = file_write(cfg_path, cb.buf, cb.len, err, errlen);
    free(cfg_path);
    jb_free(&cb);
    if (rc != 0) return -1;

    Writer w = {.spec = spec, .dtype = dt};
    gens_build(&w);
    StWriteTensor *ts = xcalloc((size_t)w.n, sizeof *ts);
    for (int i = 0; i < w.n; i++) {
        ts[i].name = w.gens[i].name;
        ts[i].dtype = dt;
        ts[i].ndim = w.gens[i].ndim;
        memcpy(ts[i].shape, w.gens[i].shape, sizeof w.gens[i].shape);
    }
    w.scratch = xmalloc(CHUNK * sizeof(float));
    static const char *const meta[] = {"format", "pt"};
    char *st_path = path_join(dir, "model.safetensors");
    rc = safetensors_write(st_path, ts, w.n, meta, 1, gen_fill, &w, err, errlen);
    free(st_path);
    free(w.scratch);
    free(ts);
    free(w.gens);
    return rc;
}
