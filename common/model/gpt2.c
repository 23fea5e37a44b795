// gpt2: config.json + model.safetensors -> Gpt2; see gpt2.h.
#include "model/gpt2.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/json.h"
#include "base/util.h"
#include "model/matmul.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; F32 tensors are used in place"
#endif

// ----------------------------------------------------------------------------- config

// Integer key of object `obj`; 0 found, 1 absent (or null), -1 with a message in err.
static int config_int(const JsonDoc *d, const char *key, long long *out, const char *path,
                      char *err, size_t errlen) {
    int v = json_obj_get(d, 0, key);
    if (v < 0 || json_is_null(d, v)) return 1;
    if (json_int(d, v, out) != 0) return fail(err, errlen, "%s: %s is not an integer", path, key);
    return 0;
}

static int config_bool(const JsonDoc *d, const char *key, int dflt, int *out, const char *path,
                       char *err, size_t errlen) {
    int v = json_obj_get(d, 0, key);
    *out = dflt;
    if (v < 0 || json_is_null(d, v)) return 0;
    if (json_bool(d, v, out) != 0)
        return fail(err, errlen, "%s: %s is not true or false", path, key);
    return 0;
}

// String key equal to one of the accepted values (NULL-terminated list), or absent/null.
static int config_str_in(const JsonDoc *d, const char *key, const char *const *ok, const char *path,
                         char *err, size_t errlen) {
    int v = json_obj_get(d, 0, key);
    if (v < 0 || json_is_null(d, v)) return 0;
    for (int i = 0; ok[i]; i++)
        if (json_str_eq(d, v, ok[i])) return 0;
    size_t n;
    const char *raw = json_raw(d, v, &n);
    return fail(err, errlen, "%s: %s %.*s is not supported (expected \"%s\")", path, key,
                (int)(n > 60 ? 60 : n), raw, ok[0]);
}

// A required integer in [1, max].
static int config_size(const JsonDoc *d, const char *key, long long max, int *out, const char *path,
                       char *err, size_t errlen) {
    long long v;
    int rc = config_int(d, key, &v, path, err, errlen);
    if (rc < 0) return -1;
    if (rc > 0) return fail(err, errlen, "%s: missing %s", path, key);
    if (v < 1 || v > max)
        return fail(err, errlen, "%s: %s = %lld is out of range [1, %lld]", path, key, v, max);
    *out = (int)v;
    return 0;
}

static int config_parse(const JsonDoc *d, Gpt2Config *cfg, const char *path, char *err,
                        size_t errlen) {
    static const char *const model_types[] = {"gpt2", NULL};
    static const char *const activations[] = {"gelu_new", "gelu_pytorch_tanh", "gelu_fast", NULL};
    if (json_type(d, 0) != JSMN_OBJECT) return fail(err, errlen, "%s: not a JSON object", path);
    if (config_str_in(d, "model_type", model_types, path, err, errlen) != 0) return -1;
    if (config_str_in(d, "activation_function", activations, path, err, errlen) != 0) return -1;
    if (config_size(d, "n_layer", 4096, &cfg->n_layer, path, err, errlen) != 0) return -1;
    if (config_size(d, "n_head", 4096, &cfg->n_head, path, err, errlen) != 0) return -1;
    if (config_size(d, "n_embd", 65536, &cfg->n_embd, path, err, errlen) != 0) return -1;
    if (config_size(d, "vocab_size", 1 << 24, &cfg->vocab_size, path, err, errlen) != 0) return -1;
    const char *ctx_key = json_obj_get(d, 0, "n_positions") >= 0 ? "n_positions" : "n_ctx";
    if (config_size(d, ctx_key, 1 << 20, &cfg->n_ctx, path, err, errlen) != 0) return -1;
    if (cfg->n_embd % cfg->n_head != 0)
        return fail(err, errlen, "%s: n_embd %d is not a multiple of n_head %d", path, cfg->n_embd,
                    cfg->n_head);

    cfg->ln_eps = 1e-5f;
    int v = json_obj_get(d, 0, "layer_norm_epsilon");
    if (v >= 0) {
        double eps;
        // Checked as the float it becomes: 1e-50 would round to 0, 0.99999999999 to 1.
        if (json_double(d, v, &eps) != 0 || !((float)eps > 0 && (float)eps < 1))
            return fail(err, errlen, "%s: layer_norm_epsilon must be a number in (0, 1)", path);
        cfg->ln_eps = (float)eps;
    }
    long long n_inner;
    int rc = config_int(d, "n_inner", &n_inner, path, err, errlen);
    if (rc < 0) return -1;
    if (rc == 0 && n_inner != 4LL * cfg->n_embd)
        return fail(err, errlen, "%s: n_inner %lld is not supported (only 4 * n_embd = %d)", path,
                    n_inner, 4 * cfg->n_embd);
    int scale, by_layer, tie;
    if (config_bool(d, "scale_attn_weights", 1, &scale, path, err, errlen) != 0) return -1;
    if (config_bool(d, "scale_attn_by_inverse_layer_idx", 0, &by_layer, path, err, errlen) != 0)
        return -1;
    if (config_bool(d, "tie_word_embeddings", 1, &tie, path, err, errlen) != 0) return -1;
    if (!scale) return fail(err, errlen, "%s: scale_attn_weights false is not supported", path);
    if (by_layer)
        return fail(err, errlen, "%s: scale_attn_by_inverse_layer_idx true is not supported", path);
    cfg->untied = !tie;
    return 0;
}

int gpt2_read_config(const char *path, Gpt2Config *cfg, char *err, size_t errlen) {
    memset(cfg, 0, sizeof *cfg);
    size_t len;
    char *text = read_file(path, &len);
    if (!text) return fail(err, errlen, "%s: %s", path, strerror(errno));
    JsonDoc d;
    char jerr[160];
    int rc = json_parse(&d, text, len, jerr, sizeof jerr);
    if (rc != 0) fail(err, errlen, "%s: %s", path, jerr);
    else rc = config_parse(&d, cfg, path, err, errlen);
    json_free(&d);
    free(text);
    return rc;
}

// ----------------------------------------------------------------------------- tensor table

// Sizes a dimension can have, in terms of the config.
enum { DIM_NONE, DIM_C, DIM_3C, DIM_4C, DIM_V, DIM_CTX };

typedef struct {
    const char *name;   // without the "transformer." prefix; "%d" = block index
    size_t offset;      // of the const float * field in Gpt2Block (per block) or Gpt2
    int d0, d1;         // shape; d1 == DIM_NONE for vectors
} ParamDesc;

#define BLOCK(name, field, d0, d1)                                                                 \
    { "h.%d." name, offsetof(Gpt2Block, field), d0, d1 }
static const ParamDesc block_params[] = {
    BLOCK("ln_1.weight", ln1_w, DIM_C, DIM_NONE),
    BLOCK("ln_1.bias", ln1_b, DIM_C, DIM_NONE),
    BLOCK("attn.c_attn.weight", qkv_w, DIM_C, DIM_3C),
    BLOCK("attn.c_attn.bias", qkv_b, DIM_3C, DIM_NONE),
    BLOCK("attn.c_proj.weight", attn_proj_w, DIM_C, DIM_C),
    BLOCK("attn.c_proj.bias", attn_proj_b, DIM_C, DIM_NONE),
    BLOCK("ln_2.weight", ln2_w, DIM_C, DIM_NONE),
    BLOCK("ln_2.bias", ln2_b, DIM_C, DIM_NONE),
    BLOCK("mlp.c_fc.weight", fc_w, DIM_C, DIM_4C),
    BLOCK("mlp.c_fc.bias", fc_b, DIM_4C, DIM_NONE),
    BLOCK("mlp.c_proj.weight", mlp_proj_w, DIM_4C, DIM_C),
    BLOCK("mlp.c_proj.bias", mlp_proj_b, DIM_C, DIM_NONE),
};
#define N_BLOCK_PARAMS ((int)(sizeof block_params / sizeof block_params[0]))
#undef BLOCK

// Model-level tensors; lm_head.weight (never prefixed) is handled apart.
static const ParamDesc top_params[] = {
    {"wte.weight", offsetof(Gpt2, wte), DIM_V, DIM_C},
    {"wpe.weight", offsetof(Gpt2, wpe), DIM_CTX, DIM_C},
    {"ln_f.weight", offsetof(Gpt2, lnf_w), DIM_C, DIM_NONE},
    {"ln_f.bias", offsetof(Gpt2, lnf_b), DIM_C, DIM_NONE},
};
#define N_TOP_PARAMS ((int)(sizeof top_params / sizeof top_params[0]))

static int64_t dim_size(const Gpt2Config *c, int d) {
    switch (d) {
    case DIM_C: return c->n_embd;
    case DIM_3C: return 3LL * c->n_embd;
    case DIM_4C: return 4LL * c->n_embd;
    case DIM_V: return c->vocab_size;
    case DIM_CTX: return c->n_ctx;
    default: return 0;
    }
}

// One weight tensor of the model, as the loader and the finite check see it.
typedef struct {
    char name[64];        // canonical name, without prefix
    const float **slot;   // where the fp32 pointer goes
    int ndim;
    int64_t shape[2];
    size_t numel;
} Param;

// Fill ps with every weight tensor of m (blocks must be allocated); returns the count.
// lm_head is last, and only when want_lm_head.
static int params_list(Gpt2 *m, Param *ps, int want_lm_head) {
    const Gpt2Config *c = &m->cfg;
    int n = 0;
    for (int t = 0; t < N_TOP_PARAMS + c->n_layer * N_BLOCK_PARAMS; t++) {
        const ParamDesc *pd =
            t < N_TOP_PARAMS ? &top_params[t] : &block_params[(t - N_TOP_PARAMS) % N_BLOCK_PARAMS];
        int layer = t < N_TOP_PARAMS ? -1 : (t - N_TOP_PARAMS) / N_BLOCK_PARAMS;
        Param *p = &ps[n++];
        char *base = layer < 0 ? (char *)m : (char *)&m->blocks[layer];
        snprintf(p->name, sizeof p->name, pd->name, layer);
        p->slot = (const float **)(void *)(base + pd->offset);
        p->ndim = pd->d1 == DIM_NONE ? 1 : 2;
        p->shape[0] = dim_size(c, pd->d0);
        p->shape[1] = dim_size(c, pd->d1);
        p->numel = (size_t)p->shape[0] * (size_t)(p->ndim == 2 ? p->shape[1] : 1);
    }
    if (want_lm_head) {
        Param *p = &ps[n++];
        snprintf(p->name, sizeof p->name, "lm_head.weight");
        p->slot = &m->lm_head;
        p->ndim = 2;
        p->shape[0] = c->vocab_size;
        p->shape[1] = c->n_embd;
        p->numel = (size_t)p->shape[0] * (size_t)p->shape[1];
    }
    return n;
}

static int params_count(const Gpt2Config *c) {
    return N_TOP_PARAMS + c->n_layer * N_BLOCK_PARAMS + 1;
}

// The tensor for canonical name, with or without "transformer." (lm_head never has it).
static const StTensor *tensor_find(const SafeTensors *st, const char *name, int *ambiguous) {
    char full[96];
    snprintf(full, sizeof full, "transformer.%s", name);
    const StTensor *a = safetensors_find(st, name);
    const StTensor *b = strcmp(name, "lm_head.weight") == 0 ? NULL : safetensors_find(st, full);
    *ambiguous = a && b;
    return a ? a : b;
}

// ----------------------------------------------------------------------------- open

void gpt2_close(Gpt2 *m) {
    if (!m) return;
    if (m->st) {
        safetensors_close(m->st);
        free(m->st);
    }
    free(m->blocks);
    free(m->converted);
    free(m->converted16);
    free(m->huge_copy);
    memset(m, 0, sizeof *m);
}

static int tensor_check(const StTensor *t, const Param *p, int ambiguous, const char *path,
                        char *err, size_t errlen) {
    char want[64], got[160];
    st_shape_str(p->shape, p->ndim, want, sizeof want);
    if (!t) return fail(err, errlen, "%s: missing tensor %s %s", path, p->name, want);
    if (ambiguous)
        return fail(err, errlen, "%s: both %s and transformer.%s are present", path, p->name,
                    p->name);
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return fail(err, errlen, "%s: tensor %s has dtype %s (expected F32, F16 or BF16)", path,
                    t->name, st_dtype_name(t->dtype));
    int same = t->ndim == p->ndim;
    for (int i = 0; same && i < p->ndim; i++) same = t->shape[i] == p->shape[i];
    if (!same)
        return fail(err, errlen, "%s: tensor %s has shape %s but the config implies %s", path,
                    t->name, st_shape_str(t->shape, t->ndim, got, sizeof got), want);
    return 0;
}

static int in_place(const StTensor *t) {
    return t->dtype == ST_F32 && (uintptr_t)t->data % sizeof(float) == 0;
}

// Find and check every tensor; then point F32 ones into the mapping and convert the rest
// into one allocation.
static int weights_bind(Gpt2 *m, const char *path, char *err, size_t errlen) {
    int np = params_count(&m->cfg);
    Param *ps = xcalloc((size_t)np, sizeof *ps);
    const StTensor **ts = xcalloc((size_t)np, sizeof *ts);
    int ambiguous, rc = 0;
    const StTensor *lm = safetensors_find(m->st, "lm_head.weight");
    np = params_list(m, ps, lm != NULL);
    size_t n_convert = 0, per_dtype[ST_NDTYPE] = {0};
    long long n_params = 0;
    for (int i = 0; i < np && rc == 0; i++) {
        ts[i] = tensor_find(m->st, ps[i].name, &ambiguous);
        rc = tensor_check(ts[i], &ps[i], ambiguous, path, err, errlen);
        if (rc != 0) break;
        if (!in_place(ts[i])) n_convert += ps[i].numel;   // sizes bounded by the mapping
        per_dtype[ts[i]->dtype] += ps[i].numel;
        n_params += (long long)ps[i].numel;
    }
    if (rc == 0) {
        m->converted = n_convert ? huge_alloc(n_convert * sizeof(float)) : NULL;   // as the mapping
        if (n_convert && !m->converted)
            rc = fail(err, errlen, "%s: out of memory for %zu converted weights", path, n_convert);
    }
    if (rc == 0) {
        float *next = m->converted;
        for (int i = 0; i < np; i++) {
            if (in_place(ts[i])) {
                *ps[i].slot = ts[i]->data;
            } else {
                st_to_f32(next, ts[i]->data, ts[i]->dtype, ps[i].numel);
                *ps[i].slot = next;
                next += ps[i].numel;
            }
        }
        StDtype common = ST_F32;
        if (per_dtype[ST_F16] > per_dtype[common]) common = ST_F16;
        if (per_dtype[ST_BF16] > per_dtype[common]) common = ST_BF16;
        snprintf(m->dtype, sizeof m->dtype, "%s", st_dtype_name(common));
        m->n_params = n_params;
    }
    free(ps);
    free(ts);
    return rc;
}

// Decide tied/untied as transformers does (see gpt2.h).
static int head_resolve(Gpt2 *m, const char *path, char *err, size_t errlen) {
    size_t n = (size_t)m->cfg.vocab_size * (size_t)m->cfg.n_embd;
    if (!m->lm_head) {
        if (m->cfg.untied)
            return fail(
                err, errlen,
                "%s: missing tensor lm_head.weight (%d, %d) (config.json has tie_word_embeddings false)",
                path, m->cfg.vocab_size, m->cfg.n_embd);
        m->lm_head = m->wte;
        m->tied = 1;
        return 0;
    }
    if (!m->cfg.untied) {
        if (memcmp(m->lm_head, m->wte, n * sizeof(float)) != 0)
            return fail(err, errlen,
                        "%s: lm_head.weight differs from wte.weight but config.json ties them "
                        "(tie_word_embeddings is true; transformers would use wte)",
                        path);
        m->lm_head = m->wte;
        m->n_params -= (long long)n;
        m->tied = 1;
    }
    return 0;
}

int gpt2_open(Gpt2 *m, const char *dir, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    Gpt2Huge huge;
    if (gpt2_huge_from_env(&huge, err, errlen) != 0) return -1;
    char *cfg_path = path_join(dir, "config.json");
    char *st_path = path_join(dir, "model.safetensors");
    int rc = gpt2_read_config(cfg_path, &m->cfg, err, errlen);
    if (rc == 0) {
        m->st = xcalloc(1, sizeof *m->st);
        rc = safetensors_open(m->st, st_path, err, errlen);
    }
    if (rc == 0) {
        m->blocks = xcalloc((size_t)m->cfg.n_layer, sizeof *m->blocks);
        rc = weights_bind(m, st_path, err, errlen);
    }
    if (rc == 0) rc = head_resolve(m, st_path, err, errlen);
    if (rc == 0) gpt2_weights_huge(m, huge);
    free(cfg_path);
    free(st_path);
    if (rc != 0) gpt2_close(m);
    return rc;
}

// ----------------------------------------------------------------------------- huge pages

int gpt2_huge_from_env(Gpt2Huge *mode, char *err, size_t errlen) {
    const char *s = getenv("AUTOINTERP_WEIGHTS_HUGE");
    *mode = GPT2_HUGE_MAP;
    if (!s || !*s || !strcmp(s, "map")) return 0;
    if (!strcmp(s, "auto")) *mode = GPT2_HUGE_AUTO;
    else if (!strcmp(s, "copy")) *mode = GPT2_HUGE_COPY;
    else return fail(err, errlen, "AUTOINTERP_WEIGHTS_HUGE=%.40s is not auto, map or copy", s);
    return 0;
}

// Points every weight (lm_head included) that lies in [from, from + size) at the same
// offset from `to`.
static void weights_rebase(Gpt2 *m, const char *from, size_t size, const char *to) {
    int np = params_count(&m->cfg);
    Param *ps = xcalloc((size_t)np, sizeof *ps);
    np = params_list(m, ps, 1);
    for (int i = 0; i < np; i++) {
        const char *p = (const char *)*ps[i].slot;
        if (p && p >= from && p - from < (ptrdiff_t)size)
            *ps[i].slot = (const float *)(const void *)(to + (p - from));
    }
    free(ps);
}

// The fp32 weights in the mapping (lm_head once when tied) into ps; returns their count
// and their bytes in *bytes.
static int mapped_params(Gpt2 *m, Param *ps, size_t *bytes) {
    const char *map = m->st->map;
    int np = params_list(m, ps, !m->tied), n = 0;
    *bytes = 0;
    for (int i = 0; i < np; i++) {
        const char *p = (const char *)*ps[i].slot;
        if (!p || p < map || p - map >= (ptrdiff_t)m->st->map_size) continue;
        ps[n++] = ps[i];
        *bytes += ps[i].numel * sizeof(float);
    }
    return n;
}

// Whether the mapping is on huge pages: one byte each of up to HUGE_SAMPLES of its whole
// 2 MiB pages, spread over it, is read (a fault maps the page cache's folio: a huge page
// where the folio is one), then /proc/self/smaps says how many FilePmdMapped holds; at
// least 90% of them.
#define HUGE_SAMPLES 16
static int mapping_mostly_huge(const SafeTensors *st) {
    uintptr_t b = (uintptr_t)st->map, e = b + st->map_size;
    uintptr_t lo = (b + HUGE_PAGE_BYTES - 1) / HUGE_PAGE_BYTES;
    uintptr_t hi = e / HUGE_PAGE_BYTES;   // whole pages [lo, hi)
    if (hi <= lo) return 0;
    uintptr_t n = hi - lo, step = n > HUGE_SAMPLES ? n / HUGE_SAMPLES : 1;
    long pages = 0;
    for (uintptr_t i = 0; i < n && pages < HUGE_SAMPLES; i += step, pages++)
        (void)*(volatile const char *)((lo + i) * HUGE_PAGE_BYTES);
    long kb = smaps_field(st->map, "FilePmdMapped", NULL, 0);
    return kb >= 0 && (double)kb >= 0.9 * (double)pages * (HUGE_PAGE_BYTES >> 10);
}

// MemAvailable from /proc/meminfo in bytes; -1 when unknown.
static double mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    double v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "MemAvailable:", 13) == 0) v = strtod(line + 13, NULL) * 1024.0;
    fclose(f);
    return v;
}

// The mapped weights copied onto huge pages (see gpt2.h); 1 when kept.
static int weights_copy(Gpt2 *m, Param *ps, int n, size_t bytes) {
    const char *map = m->st->map;
    char *copy = huge_alloc(m->st->map_size);   // pages no tensor uses are never touched
    if (!copy) return 0;
    // Tensor by tensor, each one's pages of the mapping released once copied (read from
    // the file again if ever used): the resident set grows by one tensor at most.
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < n; i++) {
        const char *p = (const char *)*ps[i].slot;
        size_t len = ps[i].numel * sizeof(float);
        memcpy(copy + (p - map), p, len);
        uintptr_t a = ((uintptr_t)p + page - 1) / page * page,
                  z = ((uintptr_t)p + len) / page * page;
        if (z > a) madvise((void *)a, z - a, MADV_DONTNEED);   // advisory: failure is harmless
    }
    long kb = smaps_field(copy, "AnonHugePages", NULL, 0);
    if (kb < 0 || (double)kb * 1024.0 < 0.9 * (double)bytes) {   // no huge pages to be had
        free(copy);
        return 0;
    }
    weights_rebase(m, map, m->st->map_size, copy);
    m->huge_copy = copy;
    m->huge_copy_size = m->st->map_size;
    return 1;
}

int gpt2_weights_huge(Gpt2 *m, Gpt2Huge mode) {
    if (m->huge_copy || !m->st || !m->st->map) return m->huge_copy != NULL;
    if (mode == GPT2_HUGE_MAP) return 0;
    Param *ps = xcalloc((size_t)params_count(&m->cfg), sizeof *ps);
    size_t bytes;
    int n = mapped_params(m, ps, &bytes), kept = 0;
    if (n > 0 &&
        (mode == GPT2_HUGE_COPY || (bytes >= GPT2_HUGE_MIN_BYTES && !mapping_mostly_huge(m->st) &&
                                    (double)m->st->map_size <= 0.5 * mem_available())))
        kept = weights_copy(m, ps, n, bytes);
    free(ps);
    return kept;
}

// The weights back on the mapping, the copy freed.
static void weights_uncopy(Gpt2 *m) {
    if (!m->huge_copy) return;
    weights_rebase(m, m->huge_copy, m->huge_copy_size, m->st->map);
    free(m->huge_copy);
    m->huge_copy = NULL;
    m->huge_copy_size = 0;
}

// ----------------------------------------------------------------------------- 16-bit weights

int gpt2_weights_from_env(Gpt2Weights *w, char *err, size_t errlen) {
    const char *s = getenv("AUTOINTERP_WEIGHTS");
    *w = GPT2_WEIGHTS_FP32;
    if (!s || !*s || !strcmp(s, "fp32")) return 0;
    if (!strcmp(s, "bf16") || !strcmp(s, "f16")) {
        *w = s[0] == 'b' ? GPT2_WEIGHTS_BF16 : GPT2_WEIGHTS_F16;
        return 0;
    }
    return fail(err, errlen, "AUTOINTERP_WEIGHTS=%.40s is not fp32, bf16 or f16", s);
}

// A matrix that gets a 16-bit copy.
typedef struct {
    char name[64];           // canonical tensor name
    const float *f32;        // its fp32 values
    const uint16_t **slot;   // where the 16-bit pointer goes
    size_t numel;
    const StTensor *t;   // the checkpoint's tensor
} W16Matrix;

static const char *const w16_block_names[] = {"attn.c_attn.weight", "attn.c_proj.weight",
                                              "mlp.c_fc.weight", "mlp.c_proj.weight"};

// Fill ms (4 L + 1 entries) with the block matrices, then lm_head (wte's tensor when tied).
static int w16_matrices(Gpt2 *m, W16Matrix *ms) {
    size_t C = (size_t)m->cfg.n_embd;
    int n = 0;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        Gpt2Block *b = &m->blocks[l];
        const float *f32[] = {b->qkv_w, b->attn_proj_w, b->fc_w, b->mlp_proj_w};
        const uint16_t **slots[] = {&b->qkv_w16, &b->attn_proj_w16, &b->fc_w16, &b->mlp_proj_w16};
        size_t numel[] = {C * 3 * C, C * C, C * 4 * C, 4 * C * C};
        for (int i = 0; i < 4; i++, n++) {
            snprintf(ms[n].name, sizeof ms[n].name, "h.%d.%s", l, w16_block_names[i]);
            ms[n].f32 = f32[i], ms[n].slot = slots[i], ms[n].numel = numel[i];
        }
    }
    snprintf(ms[n].name, sizeof ms[n].name, "%s", m->tied ? "wte.weight" : "lm_head.weight");
    ms[n].f32 = m->lm_head, ms[n].slot = &m->lm_head16, ms[n].numel = (size_t)m->cfg.vocab_size * C;
    return n + 1;
}

// A checkpoint tensor that holds type t's very bits, aligned to read as uint16_t.
static int in_place16(const StTensor *t, LowpType type) {
    return t && t->dtype == (type == LOWP_F16 ? ST_F16 : ST_BF16) && (uintptr_t)t->data % 2 == 0;
}

// Round ms->f32 into dst; -1 with a message when a finite weight overflows type t (rounds
// to its infinity).
static int w16_convert(uint16_t *dst, const W16Matrix *ms, LowpType t, char *err, size_t errlen) {
    uint16_t inf = t == LOWP_F16 ? 0x7c00u : 0x7f80u;
    lowp_round(t, dst, ms->f32, ms->numel);
    for (size_t k = 0; k < ms->numel; k++)
        if ((dst[k] & 0x7fffu) == inf && isfinite(ms->f32[k]))
            return fail(err, errlen, "tensor %s: element %zu (%g) overflows %s", ms->name, k,
                        (double)ms->f32[k], lowp_name(t));
    return 0;
}

#define W16_ALIGN 32   // elements: each converted matrix starts on a 64-byte line

// Drop the resident pages of an fp32 matrix that lies in the (read-only) mapping once its
// 16-bit copy exists: the forward no longer reads it, and a later reader (an embedding
// lookup in a tied wte, gpt2_weight) faults its pages back in from the file.  Keeps the
// resident size near that of the 16-bit weights instead of fp32 + 16-bit.
static void mapping_release(const SafeTensors *st, const float *w, size_t numel) {
    if (!st || !st->map) return;
    uintptr_t b = (uintptr_t)st->map, e = b + st->map_size, p = (uintptr_t)w,
              q = p + numel * sizeof *w;
    if (p < b || q > e) return;   // converted storage, not the mapping
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (p + page - 1) / page * page, hi = q / page * page;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);   // advisory: failure is harmless
}

int gpt2_use_lowp(Gpt2 *m, LowpType t, char *err, size_t errlen) {
    if (m->lm_head16 && m->w16_type == t) return 0;
    if (m->lm_head16)
        return fail(err, errlen, "the model already has %s weights (not %s)",
                    lowp_name(m->w16_type), lowp_name(t));
    // The fp32 matrices are read once here, then released from the mapping: a huge-page
    // copy of them would only hold memory (the 16-bit copies are on huge pages).
    weights_uncopy(m);
    int n = 4 * m->cfg.n_layer + 1, amb, rc = 0;
    W16Matrix *ms = xcalloc((size_t)n, sizeof *ms);
    n = w16_matrices(m, ms);
    size_t total = 0;   // elements to convert (bounded by the fp32 weights in memory)
    for (int i = 0; i < n; i++) {
        ms[i].t = m->st ? tensor_find(m->st, ms[i].name, &amb) : NULL;
        if (!in_place16(ms[i].t, t)) total += (ms[i].numel + W16_ALIGN - 1) / W16_ALIGN * W16_ALIGN;
    }
    uint16_t *store = NULL;
    if (total) {
        store = huge_alloc(total * sizeof *store);   // streamed once per token: huge pages
        if (!store) {
            free(ms);
            return fail(err, errlen, "out of memory for %zu %s weights", total, lowp_name(t));
        }
    }
    uint16_t *next = store;
    int in_place = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (in_place16(ms[i].t, t)) {
            *ms[i].slot = ms[i].t->data;
            in_place++;
            continue;
        }
        rc = w16_convert(next, &ms[i], t, err, errlen);
        *ms[i].slot = next;
        next += (ms[i].numel + W16_ALIGN - 1) / W16_ALIGN * W16_ALIGN;
        if (rc == 0) mapping_release(m->st, ms[i].f32, ms[i].numel);
    }
    free(ms);
    if (rc != 0) {   // back to fp32 only
        free(store);
        for (int l = 0; l < m->cfg.n_layer; l++) {
            Gpt2Block *b = &m->blocks[l];
            b->qkv_w16 = b->attn_proj_w16 = b->fc_w16 = b->mlp_proj_w16 = NULL;
        }
        m->lm_head16 = NULL;
        return -1;
    }
    m->converted16 = store;
    m->w16_type = t;
    m->n_w16_in_place = in_place;
    return 0;
}

int gpt2_use_weights(Gpt2 *m, Gpt2Weights w, char *err, size_t errlen) {
    if (w == GPT2_WEIGHTS_FP32) return 0;
    return gpt2_use_lowp(m, w == GPT2_WEIGHTS_F16 ? LOWP_F16 : LOWP_BF16, err, errlen);
}

// ----------------------------------------------------------------------------- checks

int gpt2_check_finite(const Gpt2 *m, char *err, size_t errlen) {
    int np = params_count(&m->cfg);
    Param *ps = xcalloc((size_t)np, sizeof *ps);
    np = params_list((Gpt2 *)m, ps, !m->tied);   // only reads m's pointers
    int rc = 0;
    for (int i = 0; i < np && rc == 0; i++) {
        const float *w = *ps[i].slot;
        int bad = 0;
        size_t k = 0;
        for (; k < ps[i].numel; k++) bad |= !isfinite(w[k]);
        if (!bad) continue;
        for (k = 0; isfinite(w[k]); k++) {}
        int amb;
        const StTensor *t = m->st ? tensor_find(m->st, ps[i].name, &amb) : NULL;
        rc = fail(err, errlen, "tensor %s: element %zu is %s", t ? t->name : ps[i].name, k,
                  isnan(w[k]) ? "nan"
                  : w[k] > 0  ? "inf"
                              : "-inf");
    }
    free(ps);
    return rc;
}

const float *gpt2_weight(const Gpt2 *m, const char *name, size_t *numel) {
    if (strncmp(name, "transformer.", 12) == 0) name += 12;
    if (!m->blocks) return NULL;
    int np = params_count(&m->cfg);
    Param *ps = xcalloc((size_t)np, sizeof *ps);
    np = params_list((Gpt2 *)m, ps, 1);   // only reads m's pointers
    const float *w = NULL;
    for (int i = 0; i < np && !w; i++) {
        if (strcmp(ps[i].name, name) != 0) continue;
        w = *ps[i].slot;
        if (numel) *numel = ps[i].numel;
    }
    free(ps);
    return w;
}
