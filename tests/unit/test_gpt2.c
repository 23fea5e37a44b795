// test_gpt2: config.json parsing, checkpoint write -> gpt2_open round trips (F32 in place,
// F16/BF16 converted, prefix, tied/untied, mask buffers), broken checkpoints, the named
// GPT-2 shapes (sparse files) and the finite check.
//
// Also two helper modes for tests/tool/checkpoint_ref.sh:
//   test_gpt2 --write DIR DTYPE FLAGS [L NH C CTX V]   FLAGS: "-" or any of
//             prefix,untied,masks (comma separated); writes a seeded random checkpoint
//   test_gpt2 --dump-tensor DIR NAME N                  first N fp32 values as loaded
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "check.h"
#include "fixture_model.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/gpt2.h"

static char tmpdir[512];

static char *tmp_path(const char *name) { return path_join(tmpdir, name); }

// The small shape used throughout: L=2, NH=2, C=8, n_ctx=16, V=11.
static CheckpointSpec small_spec(const char *dtype, int prefix, int untied, int masks) {
    CheckpointSpec s = {0};
    s.cfg.n_layer = 2;
    s.cfg.n_head = 2;
    s.cfg.n_embd = 8;
    s.cfg.n_ctx = 16;
    s.cfg.vocab_size = 11;
    s.cfg.ln_eps = 1e-5f;
    s.seed = 7;
    s.dtype = dtype;
    s.prefix = prefix;
    s.untied = untied;
    s.with_mask_buffers = masks;
    return s;
}

// Parameters as transformers counts them, computed from the architecture.
static long long params_expected(const Gpt2Config *c, int untied) {
    long long C = c->n_embd, V = c->vocab_size, T = c->n_ctx, L = c->n_layer;
    return V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C + (untied ? V * C : 0);
}

// Every weight name of the model (canonical, without prefix), as an independent list.
static const char *block_names[] = {
    "ln_1.weight",        "ln_1.bias",        "attn.c_attn.weight", "attn.c_attn.bias",
    "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",        "ln_2.bias",
    "mlp.c_fc.weight",    "mlp.c_fc.bias",    "mlp.c_proj.weight",  "mlp.c_proj.bias",
};
#define N_BLOCK_NAMES 12

static int names_list(const Gpt2Config *c, char names[][64]) {
    int n = 0;
    snprintf(names[n++], 64, "wte.weight");
    snprintf(names[n++], 64, "wpe.weight");
    for (int l = 0; l < c->n_layer; l++)
        for (int k = 0; k < N_BLOCK_NAMES; k++)
            snprintf(names[n++], 64, "h.%d.%s", l, block_names[k]);
    snprintf(names[n++], 64, "ln_f.weight");
    snprintf(names[n++], 64, "ln_f.bias");
    return n;
}

// Independent decodings of the 16-bit formats (from the definitions).
static float ref_f16(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 31 ? (m ? NAN : INFINITY) : e ? ldexp(1.0 + m / 1024.0, e - 15) : ldexp(m, -24);
    return (float)((h & 0x8000) ? -v : v);
}

static float ref_bf16(uint16_t h) {
    int e = (h >> 7) & 255, m = h & 127;
    double v = e == 255 ? (m ? NAN : INFINITY)
               : e      ? ldexp(1.0 + m / 128.0, e - 127)
                        : ldexp(m, -133);
    return (float)((h & 0x8000) ? -v : v);
}

static const StTensor *raw_find(const SafeTensors *st, const char *canon, int prefix) {
    char full[128];
    snprintf(full, sizeof full, "%s%.100s",
             prefix && strcmp(canon, "lm_head.weight") ? "transformer." : "", canon);
    return safetensors_find(st, full);
}

// ----------------------------------------------------------------------------- config

static void file_put(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static void expect_config_error(const char *label, const char *json, const char *needle) {
    char *p = tmp_path("cfg.json"), err[512] = "";
    file_put(p, json);
    Gpt2Config c;
    int rc = gpt2_read_config(p, &c, err, sizeof err);
    char l2[200];
    snprintf(l2, sizeof l2, "config %s: rejected", label);
    CHECK_INT(l2, rc, -1);
    snprintf(l2, sizeof l2, "config %s: message", label);
    if (!strstr(err, needle)) printf("# got: %s\n", err);
    CHECK(l2, strstr(err, needle) != NULL);
    free(p);
}

static void test_config(void) {
    char *p = tmp_path("cfg.json"), err[512];
    Gpt2Config c;
    file_put(p,
             "{\"n_layer\": 3, \"n_head\": 4, \"n_embd\": 32, \"n_ctx\": 64, \"vocab_size\": 100}");
    CHECK_INT("config n_ctx only", gpt2_read_config(p, &c, err, sizeof err), 0);
    CHECK("config values", c.n_layer == 3 && c.n_head == 4 && c.n_embd == 32 && c.n_ctx == 64 &&
                               c.vocab_size == 100);
    CHECK("config eps default", c.ln_eps == 1e-5f);
    CHECK_INT("config tied by default", c.untied, 0);
    file_put(
        p,
        "{\"n_layer\": 3, \"n_head\": 4, \"n_embd\": 32, \"n_ctx\": 8, \"n_positions\": 64, \"vocab_size\": 100,"
        " \"layer_norm_epsilon\": 1e-6, \"tie_word_embeddings\": false, \"model_type\": \"gpt2\","
        " \"activation_function\": \"gelu_new\", \"n_inner\": null, \"unknown\": [1, {\"x\": 2}]}");
    CHECK_INT("config full", gpt2_read_config(p, &c, err, sizeof err), 0);
    CHECK_INT("config n_positions wins", c.n_ctx, 64);
    CHECK("config eps", c.ln_eps == 1e-6f);
    CHECK_INT("config untied", c.untied, 1);

    // The config the writer produces reads back as it was asked.
    CheckpointSpec s = small_spec("F32", 0, 0, 0);
    s.cfg.ln_eps = 1e-6f;
    char *dir = tmp_path("cfgmodel");
    CHECK_INT("write for config", checkpoint_write_random(dir, &s, err, sizeof err), 0);
    char *cp = path_join(dir, "config.json");
    CHECK_INT("read written config", gpt2_read_config(cp, &c, err, sizeof err), 0);
    CHECK("written config values", c.n_layer == 2 && c.n_head == 2 && c.n_embd == 8 &&
                                       c.n_ctx == 16 && c.vocab_size == 11 && c.ln_eps == 1e-6f &&
                                       !c.untied);
    size_t len;
    char *text = read_file(cp, &len);
    CHECK("written config text",
          text && strstr(text, "\"architectures\": [\n    \"GPT2LMHeadModel\"\n  ]") &&
              strstr(text, "\"model_type\": \"gpt2\"") &&
              strstr(text, "\"activation_function\": \"gelu_new\"") &&
              strstr(text, "\"bos_token_id\": 10") && strstr(text, "\"n_positions\": 16") &&
              strstr(text, "\"n_ctx\": 16") && !strstr(text, "tie_word_embeddings"));
    free(text);
    free(cp);
    free(dir);

    expect_config_error("missing n_layer",
                        "{\"n_head\": 4, \"n_embd\": 32, \"n_ctx\": 64, \"vocab_size\": 100}",
                        "missing n_layer");
    expect_config_error("missing n_ctx",
                        "{\"n_layer\": 1, \"n_head\": 4, \"n_embd\": 32, \"vocab_size\": 100}",
                        "missing n_ctx");
    expect_config_error(
        "n_embd % n_head",
        "{\"n_layer\": 1, \"n_head\": 3, \"n_embd\": 32, \"n_ctx\": 64, \"vocab_size\": 100}",
        "not a multiple of n_head 3");
    expect_config_error(
        "zero layers",
        "{\"n_layer\": 0, \"n_head\": 4, \"n_embd\": 32, \"n_ctx\": 64, \"vocab_size\": 100}",
        "n_layer = 0 is out of range");
    expect_config_error(
        "huge embd",
        "{\"n_layer\": 1, \"n_head\": 4, \"n_embd\": 1000000, \"n_ctx\": 64, \"vocab_size\": 100}",
        "n_embd = 1000000 is out of range");
    expect_config_error(
        "fractional",
        "{\"n_layer\": 1.5, \"n_head\": 4, \"n_embd\": 32, \"n_ctx\": 64, \"vocab_size\": 100}",
        "n_layer is not an integer");
    expect_config_error(
        "string size",
        "{\"n_layer\": \"2\", \"n_head\": 4, \"n_embd\": 32, \"n_ctx\": 64, \"vocab_size\": 100}",
        "n_layer is not an integer");
    expect_config_error(
        "model_type",
        "{\"model_type\": \"llama\", \"n_layer\": 1, \"n_head\": 4, \"n_embd\": 32, \"n_ctx\": 64, "
        "\"vocab_size\": 100}",
        "model_type \"llama\" is not supported");
    expect_config_error(
        "activation",
        "{\"activation_function\": \"relu\", \"n_layer\": 1, \"n_head\": 4, \"n_embd\": 32, "
        "\"n_ctx\": 64, \"vocab_size\": 100}",
        "activation_function \"relu\"");
    expect_config_error(
        "n_inner",
        "{\"n_inner\": 100, \"n_layer\": 1, \"n_head\": 4, \"n_embd\": 32, \"n_ctx\": 64, "
        "\"vocab_size\": 100}",
        "n_inner 100");
    expect_config_error(
        "eps",
        "{\"layer_norm_epsilon\": -1, \"n_layer\": 1, \"n_head\": 4, \"n_embd\": 32, \"n_ctx\": 64, "
        "\"vocab_size\": 100}",
        "layer_norm_epsilon");
    expect_config_error("not JSON", "{\"n_layer\": 1,", "cfg.json");
    expect_config_error("array", "[1, 2]", "not a JSON object");
    CHECK_INT("config missing file",
              gpt2_read_config("/nonexistent/config.json", &c, err, sizeof err), -1);
    CHECK("config missing file message", strstr(err, "/nonexistent/config.json") != NULL);
    free(p);
}

// ----------------------------------------------------------------------------- round trips

// Each weight of m is the bytes of its tensor in the file: in place for F32, an exact
// independent decoding for F16/BF16.
static void check_values(const char *label, const Gpt2 *m, int prefix) {
    char names[64][64], l2[200];
    int n = names_list(&m->cfg, names);
    if (!m->tied) snprintf(names[n++], 64, "lm_head.weight");
    int bad = 0, in_place = 1;
    for (int i = 0; i < n; i++) {
        const StTensor *t = raw_find(m->st, names[i], prefix);
        size_t numel = 0;
        const float *w = gpt2_weight(m, names[i], &numel);
        if (!t || !w || numel != t->numel) {
            printf("# %s: %s missing\n", label, names[i]);
            bad++;
            continue;
        }
        const unsigned char *raw = t->data;
        if (t->dtype == ST_F32) {
            in_place &= (const void *)w == t->data;
            bad += memcmp(w, raw, numel * 4) != 0;
            continue;
        }
        for (size_t k = 0; k < numel; k++) {
            uint16_t h = (uint16_t)(raw[2 * k] | raw[2 * k + 1] << 8);
            float want = t->dtype == ST_F16 ? ref_f16(h) : ref_bf16(h);
            if (memcmp(&want, &w[k], 4) != 0) {
                if (bad < 3)
                    printf("# %s: %s[%zu] = %.9g want %.9g\n", label, names[i], k, w[k], want);
                bad++;
            }
        }
    }
    snprintf(l2, sizeof l2, "%s: every weight equals its tensor", label);
    CHECK_INT(l2, bad, 0);
    if (!strcmp(m->dtype, "F32")) {
        snprintf(l2, sizeof l2, "%s: F32 used in place", label);
        CHECK(l2, in_place && m->converted == NULL);
    } else {
        snprintf(l2, sizeof l2, "%s: converted storage", label);
        CHECK(l2, m->converted != NULL);
    }
}

static void test_variant(const char *dtype, int prefix, int untied, int masks) {
    char label[128], l2[200], dirname[64];
    snprintf(label, sizeof label, "%s%s%s%s", dtype, prefix ? " prefix" : "",
             untied ? " untied" : "", masks ? " masks" : "");
    snprintf(dirname, sizeof dirname, "m_%s_%d%d%d", dtype, prefix, untied, masks);
    char *dir = tmp_path(dirname);
    CheckpointSpec s = small_spec(dtype, prefix, untied, masks);
    Gpt2 m;
    if (fixture_write_model(dir, &s) != 0 || fixture_open_model(&m, dir) != 0) {
        snprintf(l2, sizeof l2, "%s: write and open", label);
        CHECK(l2, 0);
        free(dir);
        return;
    }
    snprintf(l2, sizeof l2, "%s: config", label);
    CHECK(l2, m.cfg.n_layer == 2 && m.cfg.n_head == 2 && m.cfg.n_embd == 8 && m.cfg.n_ctx == 16 &&
                  m.cfg.vocab_size == 11);
    snprintf(l2, sizeof l2, "%s: dtype", label);
    CHECK_STR(l2, m.dtype, dtype);
    snprintf(l2, sizeof l2, "%s: n_params", label);
    CHECK_INT(l2, m.n_params, params_expected(&m.cfg, untied));
    snprintf(l2, sizeof l2, "%s: tied", label);
    CHECK_INT(l2, m.tied, !untied);
    snprintf(l2, sizeof l2, "%s: lm_head", label);
    CHECK(l2, untied ? m.lm_head != m.wte && memcmp(m.lm_head, m.wte, 11 * 8 * 4) != 0
                     : m.lm_head == m.wte);
    snprintf(l2, sizeof l2, "%s: prefix in file", label);
    CHECK(l2, (safetensors_find(m.st, "transformer.wte.weight") != NULL) == prefix &&
                  (safetensors_find(m.st, "wte.weight") != NULL) == !prefix);
    snprintf(l2, sizeof l2, "%s: mask buffers in file", label);
    CHECK(l2, (raw_find(m.st, "h.1.attn.bias", prefix) != NULL) == masks);
    snprintf(l2, sizeof l2, "%s: format metadata", label);
    CHECK_STR(l2, safetensors_meta(m.st, "format"), "pt");
    check_values(label, &m, prefix);
    // LayerNorm weights near 1, biases near 0, neither exactly (so mix-ups show).
    double wsum = 0, bsum = 0;
    int exact = 0;
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < 8; i++) {
            const Gpt2Block *b = &m.blocks[l];
            wsum += b->ln1_w[i] + b->ln2_w[i];
            bsum += b->ln1_b[i] + b->ln2_b[i];
            exact += b->ln1_w[i] == 1.0f || b->ln2_w[i] == 1.0f || b->ln1_b[i] == 0.0f ||
                     b->ln2_b[i] == 0.0f;
            exact += m.lnf_w[i] == 1.0f || m.lnf_b[i] == 0.0f;
        }
    wsum /= 4, bsum /= 4;
    snprintf(l2, sizeof l2, "%s: LayerNorm weights ~1, biases ~0", label);
    CHECK(l2, fabs(wsum / 8 - 1) < 0.2 && fabs(bsum / 8) < 0.1 && exact == 0);
    snprintf(l2, sizeof l2, "%s: finite", label);
    char err[256];
    CHECK_INT(l2, gpt2_check_finite(&m, err, sizeof err), 0);
    snprintf(l2, sizeof l2, "%s: gpt2_weight unknown", label);
    CHECK(l2, gpt2_weight(&m, "h.2.ln_1.weight", NULL) == NULL &&
                  gpt2_weight(&m, "h.0.attn.bias", NULL) == NULL &&
                  gpt2_weight(&m, "transformer.h.1.mlp.c_fc.bias", NULL) == m.blocks[1].fc_b);
    gpt2_close(&m);
    gpt2_close(&m);
    free(dir);
}

// Values do not depend on dtype (beyond rounding), prefix or mask buffers; the seed
// decides them; struct fields point at the right tensors.
static void test_consistency(void) {
    CheckpointSpec s = small_spec("F32", 0, 0, 0);
    char *d32 = tmp_path("c32"), *d16 = tmp_path("c16"), *dbf = tmp_path("cbf"),
         *dpx = tmp_path("cpx");
    char *dsd = tmp_path("csd"), *d32b = tmp_path("c32b");
    Gpt2 a, b, h, bf, px, sd;
    fixture_write_model(d32, &s);
    fixture_write_model(d32b, &s);
    s.dtype = "F16";
    fixture_write_model(d16, &s);
    s.dtype = "BF16";
    fixture_write_model(dbf, &s);
    s = small_spec("F32", 1, 0, 1);
    fixture_write_model(dpx, &s);
    s = small_spec("F32", 0, 0, 0);
    s.seed = 8;
    fixture_write_model(dsd, &s);
    if (fixture_open_model(&a, d32) || fixture_open_model(&b, d32b) ||
        fixture_open_model(&h, d16) || fixture_open_model(&bf, dbf) ||
        fixture_open_model(&px, dpx) || fixture_open_model(&sd, dsd)) {
        CHECK("consistency models open", 0);
        return;
    }
    CHECK("same seed same values", memcmp(a.st->data, b.st->data, a.st->data_size) == 0 &&
                                       a.st->data_size == b.st->data_size);
    CHECK("prefix and masks do not change values",
          memcmp(a.wte, px.wte, 11 * 8 * 4) == 0 &&
              memcmp(a.blocks[1].fc_w, px.blocks[1].fc_w, 8 * 32 * 4) == 0 &&
              memcmp(a.lnf_b, px.lnf_b, 8 * 4) == 0);
    CHECK("other seed other values", memcmp(a.wte, sd.wte, 11 * 8 * 4) != 0);
    // F16 / BF16 are the F32 values rounded to nearest: within half an ulp.
    int bad16 = 0, badbf = 0;
    for (int i = 0; i < 11 * 8; i++) {
        double x = a.wte[i];
        bad16 += fabs(h.wte[i] - x) > ldexp(fabs(x), -11) + ldexp(1, -25);
        badbf += fabs(bf.wte[i] - x) > ldexp(fabs(x), -8);
    }
    CHECK_INT("F16 = F32 rounded", bad16, 0);
    CHECK_INT("BF16 = F32 rounded", badbf, 0);
    // Each struct field is its own tensor.
    const Gpt2Block *k = &a.blocks[1];
    const float *fields[] = {k->ln1_w, k->ln1_b, k->qkv_w, k->qkv_b, k->attn_proj_w, k->attn_proj_b,
                             k->ln2_w, k->ln2_b, k->fc_w,  k->fc_b,  k->mlp_proj_w,  k->mlp_proj_b};
    int wrong = 0;
    for (int i = 0; i < N_BLOCK_NAMES; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "h.1.%s", block_names[i]);
        const StTensor *t = safetensors_find(a.st, nm);
        wrong += !t || t->data != (const void *)fields[i];
    }
    wrong += a.wte != safetensors_find(a.st, "wte.weight")->data;
    wrong += a.wpe != safetensors_find(a.st, "wpe.weight")->data;
    wrong += a.lnf_w != safetensors_find(a.st, "ln_f.weight")->data;
    wrong += a.lnf_b != safetensors_find(a.st, "ln_f.bias")->data;
    CHECK_INT("struct fields point at their tensors", wrong, 0);
    // Residual projections get a smaller init than the other matrices (GPT-2's scheme).
    double v_fc = 0, v_proj = 0;
    for (int i = 0; i < 8 * 32; i++)
        v_fc += (double)k->fc_w[i] * k->fc_w[i],
            v_proj += (double)k->mlp_proj_w[i] * k->mlp_proj_w[i];
    CHECK("weights spread like N(0, 0.02)", sqrt(v_fc / 256) > 0.015 && sqrt(v_fc / 256) < 0.025);
    CHECK("residual projections scaled down", v_proj < v_fc * 0.5);
    gpt2_close(&a), gpt2_close(&b), gpt2_close(&h), gpt2_close(&bf), gpt2_close(&px),
        gpt2_close(&sd);
    free(d32), free(d32b), free(d16), free(dbf), free(dpx), free(dsd);
}

// ----------------------------------------------------------------------------- broken models

typedef struct {
    const char *drop;       // tensor to leave out
    const char *reshape;    // tensor whose shape is swapped (2-D) ...
    const char *retype;     // ... or whose dtype becomes I32 (F32 files)
    const char *add;        // extra tensor name ...
    const void *add_data;   // ... with this data, shaped (V, C) F32
} Edit;

// Copy src to dst (config.json as is) with the edit applied to model.safetensors.
static int model_rewrite(const char *src, const char *dst, const Edit *e) {
    char err[512];
    char *sp = path_join(src, "model.safetensors"), *dp = path_join(dst, "model.safetensors");
    char *sc = path_join(src, "config.json"), *dc = path_join(dst, "config.json");
    SafeTensors st;
    int rc = safetensors_open(&st, sp, err, sizeof err);
    if (rc == 0) {
        StWriteTensor *t = xcalloc((size_t)st.n_tensors + 1, sizeof *t);
        int n = 0;
        for (int i = 0; i < st.n_tensors; i++) {
            const StTensor *s = &st.tensors[i];
            if (e->drop && !strcmp(s->name, e->drop)) continue;
            StWriteTensor *w = &t[n++];
            w->name = s->name;
            w->dtype = e->retype && !strcmp(s->name, e->retype) ? ST_I32 : s->dtype;
            w->ndim = s->ndim;
            memcpy(w->shape, s->shape, sizeof w->shape);
            w->data = s->data;
            if (e->reshape && !strcmp(s->name, e->reshape))
                w->shape[0] = s->shape[1], w->shape[1] = s->shape[0];
        }
        if (e->add) t[n++] = (StWriteTensor){e->add, ST_F32, 2, {11, 8}, e->add_data};
        mkdir_p(dst);
        rc = safetensors_write(dp, t, n, NULL, 0, NULL, NULL, err, sizeof err);
        free(t);
        safetensors_close(&st);
    }
    size_t len;
    char *cfg = read_file(sc, &len);
    if (cfg) file_put(dc, cfg);
    free(cfg);
    if (rc != 0) printf("# rewrite: %s\n", err);
    free(sp), free(dp), free(sc), free(dc);
    return rc;
}

static void expect_open_error(const char *label, const char *dir, const char *needle1,
                              const char *needle2) {
    char err[512] = "", l2[200];
    Gpt2 m;
    int rc = gpt2_open(&m, dir, err, sizeof err);
    snprintf(l2, sizeof l2, "%s: rejected", label);
    CHECK_INT(l2, rc, -1);
    snprintf(l2, sizeof l2, "%s: message", label);
    int ok = strstr(err, needle1) && (!needle2 || strstr(err, needle2));
    if (!ok) printf("# got: %s\n", err);
    CHECK(l2, ok);
    snprintf(l2, sizeof l2, "%s: struct cleared", label);
    CHECK(l2, m.st == NULL && m.blocks == NULL && m.converted == NULL);
    if (rc == 0) gpt2_close(&m);
}

static void test_broken(void) {
    char *base = tmp_path("base"), *bad = tmp_path("bad"), *cfg = path_join(bad, "config.json");
    char *based = tmp_path("baseuntied");
    CheckpointSpec s = small_spec("F32", 0, 0, 1);
    fixture_write_model(base, &s);
    s.untied = 1;
    fixture_write_model(based, &s);

    model_rewrite(base, bad, &(Edit){.drop = "h.1.ln_2.bias"});
    expect_open_error("missing tensor", bad, "missing tensor h.1.ln_2.bias", "(8)");
    model_rewrite(base, bad, &(Edit){.reshape = "h.0.attn.c_attn.weight"});
    expect_open_error("wrong shape", bad, "h.0.attn.c_attn.weight has shape (24, 8)",
                      "implies (8, 24)");
    model_rewrite(base, bad, &(Edit){.retype = "ln_f.bias"});
    expect_open_error("integer weight", bad, "ln_f.bias has dtype I32", NULL);
    Gpt2 m;
    if (fixture_open_model(&m, base) == 0) {
        // A second copy of wte under the prefixed name: ambiguous.
        model_rewrite(base, bad, &(Edit){.add = "transformer.wte.weight", .add_data = m.wte});
        expect_open_error("prefixed and not", bad, "both wte.weight and transformer.wte.weight",
                          NULL);
        // lm_head equal to wte with a tying config: accepted as tied, counted once.
        model_rewrite(base, bad, &(Edit){.add = "lm_head.weight", .add_data = m.wte});
        Gpt2 t;
        if (fixture_open_model(&t, bad) == 0) {
            CHECK("lm_head == wte: tied", t.tied && t.lm_head == t.wte);
            CHECK_INT("lm_head == wte: n_params once", t.n_params, params_expected(&t.cfg, 0));
            gpt2_close(&t);
        } else {
            CHECK("lm_head == wte: opens", 0);
        }
        // lm_head different from wte with a tying config: refused.
        model_rewrite(base, bad, &(Edit){.add = "lm_head.weight", .add_data = m.blocks[0].qkv_w});
        expect_open_error("lm_head differs but tied", bad, "lm_head.weight differs from wte.weight",
                          "tie_word_embeddings");
        gpt2_close(&m);
    }
    // Untying config without lm_head.
    model_rewrite(based, bad, &(Edit){.drop = "lm_head.weight"});
    expect_open_error("untied without lm_head", bad, "missing tensor lm_head.weight (11, 8)",
                      "tie_word_embeddings false");

    // Config and tensors disagree: config says n_embd 64 (n_head 2) but tensors are 8 wide.
    model_rewrite(base, bad, &(Edit){0});
    size_t len;
    char *text = read_file(cfg, &len);
    char *at = text ? strstr(text, "\"n_embd\": 8,") : NULL;
    if (at) {
        char *fixed = xmalloc(len + 8);
        snprintf(fixed, len + 8, "%.*s\"n_embd\": 64,%s", (int)(at - text), text,
                 at + strlen("\"n_embd\": 8,"));
        file_put(cfg, fixed);
        free(fixed);
    }
    free(text);
    expect_open_error("config/shape mismatch", bad, "wte.weight has shape (11, 8)",
                      "implies (11, 64)");

    // The model file truncated: the safetensors error comes through.
    model_rewrite(base, bad, &(Edit){0});
    char *mp = path_join(bad, "model.safetensors");
    char *whole = read_file(mp, &len);
    if (!whole || truncate(mp, (off_t)len - 4) != 0) printf("# truncate failed\n");
    free(whole);
    expect_open_error("truncated model", bad, "model.safetensors", "past the end");
    unlink(mp);
    expect_open_error("no model file", bad, "model.safetensors", "No such file");
    unlink(cfg);
    expect_open_error("no config", bad, "config.json", "No such file");
    free(mp);
    free(cfg), free(bad), free(base), free(based);
}

// Patch element k of tensor name in dir's model file with the 2 or 4 bytes given.
static void poke(const char *dir, const char *name, size_t k, const void *bytes, size_t n) {
    char err[256];
    char *p = path_join(dir, "model.safetensors");
    SafeTensors st;
    if (safetensors_open(&st, p, err, sizeof err) == 0) {
        const StTensor *t = safetensors_find(&st, name);
        long off = t ? (long)((const unsigned char *)t->data - (const unsigned char *)st.map) +
                           (long)(k * n)
                     : -1;
        safetensors_close(&st);
        FILE *f = fopen(p, "r+b");
        if (f && off >= 0) {
            fseek(f, off, SEEK_SET);
            fwrite(bytes, 1, n, f);
        }
        if (f) fclose(f);
    }
    free(p);
}

static void test_finite(void) {
    char *dir = tmp_path("nan"), err[512] = "";
    CheckpointSpec s = small_spec("F32", 1, 1, 1);
    fixture_write_model(dir, &s);
    float nan = NAN;
    poke(dir, "transformer.h.1.mlp.c_proj.weight", 5, &nan, 4);
    Gpt2 m;
    if (fixture_open_model(&m, dir) == 0) {
        CHECK_INT("NaN weight: open still works", 0, 0);
        CHECK_INT("NaN weight: detected", gpt2_check_finite(&m, err, sizeof err), -1);
        CHECK("NaN weight: message", strstr(err, "transformer.h.1.mlp.c_proj.weight") &&
                                         strstr(err, "element 5") && strstr(err, "nan"));
        gpt2_close(&m);
    }
    s = small_spec("F16", 0, 1, 0);
    fixture_write_model(dir, &s);
    uint16_t inf16 = 0xfc00;
    poke(dir, "lm_head.weight", 87, &inf16, 2);
    if (fixture_open_model(&m, dir) == 0) {
        CHECK_INT("F16 -inf in lm_head: detected", gpt2_check_finite(&m, err, sizeof err), -1);
        CHECK("F16 -inf in lm_head: message",
              strstr(err, "lm_head.weight") && strstr(err, "element 87 is -inf"));
        gpt2_close(&m);
    }
    s = small_spec("BF16", 0, 0, 0);
    fixture_write_model(dir, &s);
    uint16_t infb = 0x7f80;
    poke(dir, "wpe.weight", 0, &infb, 2);
    if (fixture_open_model(&m, dir) == 0) {
        CHECK_INT("BF16 inf in wpe: detected", gpt2_check_finite(&m, err, sizeof err), -1);
        CHECK("BF16 inf in wpe: message",
              strstr(err, "wpe.weight") && strstr(err, "element 0 is inf"));
        gpt2_close(&m);
    }
    free(dir);
}

// The data buffer shifted by one byte (one more header space): F32 tensors are no longer
// 4-byte aligned, so they are copied, with the same values.
static void test_unaligned(void) {
    char *dir = tmp_path("unal"), *dir2 = tmp_path("unal2");
    CheckpointSpec s = small_spec("F32", 0, 1, 0);
    fixture_write_model(dir, &s);
    model_rewrite(dir, dir2, &(Edit){0});
    char *mp = path_join(dir2, "model.safetensors");
    size_t len;
    unsigned char *raw = (unsigned char *)read_file(mp, &len);
    uint64_t hlen = 0;
    for (int i = 7; raw && i >= 0; i--) hlen = hlen << 8 | raw[i];
    FILE *f = fopen(mp, "wb");
    if (raw && f) {
        unsigned char l8[8];
        for (int i = 0; i < 8; i++) l8[i] = (unsigned char)((hlen + 1) >> (8 * i));
        fwrite(l8, 1, 8, f);
        fwrite(raw + 8, 1, hlen, f);
        fputc(' ', f);
        fwrite(raw + 8 + hlen, 1, len - 8 - hlen, f);
    }
    if (f) fclose(f);
    free(raw);
    Gpt2 a, b;
    if (fixture_open_model(&a, dir) == 0 && fixture_open_model(&b, dir2) == 0) {
        CHECK("unaligned: copied", b.converted != NULL && (uintptr_t)b.st->data % 4 != 0);
        CHECK("unaligned: pointers aligned",
              (uintptr_t)b.wte % 4 == 0 && (uintptr_t)b.blocks[1].fc_w % 4 == 0);
        CHECK("unaligned: same values",
              memcmp(a.wte, b.wte, 88 * 4) == 0 && memcmp(a.lm_head, b.lm_head, 88 * 4) == 0 &&
                  memcmp(a.blocks[1].mlp_proj_b, b.blocks[1].mlp_proj_b, 8 * 4) == 0);
        CHECK_STR("unaligned: dtype", b.dtype, "F32");
        gpt2_close(&a);
        gpt2_close(&b);
    } else {
        CHECK("unaligned: opens", 0);
    }
    free(mp), free(dir), free(dir2);
}

// ----------------------------------------------------------------------------- named shapes

// A header-only checkpoint of the named shape: the data is a hole in a sparse file (all
// zeros), so even gpt2-xl costs no disk and no I/O.  Names and layout built here,
// independently of the writer.
static int sparse_model(const char *dir, const Gpt2Config *c) {
    mkdir_p(dir);
    char *cp = path_join(dir, "config.json"), *mp = path_join(dir, "model.safetensors");
    char text[512];
    snprintf(text, sizeof text,
             "{\"model_type\": \"gpt2\", \"n_layer\": %d, \"n_head\": %d, \"n_embd\": %d, "
             "\"n_positions\": %d, \"n_ctx\": %d, \"vocab_size\": %d}",
             c->n_layer, c->n_head, c->n_embd, c->n_ctx, c->n_ctx, c->vocab_size);
    file_put(cp, text);
    long long C = c->n_embd;
    size_t cap = 1 << 20, len = 0;
    char *h = xmalloc(cap);
    long long off = 0;
    len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
#define ENTRY(name, d0, d1)                                                                        \
    do {                                                                                           \
        long long n_ = (long long)(d0) * ((d1) ? (long long)(d1) : 1) * 4;                         \
        if ((d1))                                                                                  \
            len += (size_t)snprintf(h + len, cap - len,                                            \
                                    ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],"            \
                                    "\"data_offsets\":[%lld,%lld]}",                               \
                                    name, (long long)(d0), (long long)(d1), off, off + n_);        \
        else                                                                                       \
            len += (size_t)snprintf(h + len, cap - len,                                            \
                                    ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld],"                 \
                                    "\"data_offsets\":[%lld,%lld]}",                               \
                                    name, (long long)(d0), off, off + n_);                         \
        off += n_;                                                                                 \
    } while (0)
    ENTRY("wte.weight", c->vocab_size, C);
    ENTRY("wpe.weight", c->n_ctx, C);
    for (int l = 0; l < c->n_layer; l++) {
        char nm[64];
        long long d[N_BLOCK_NAMES][2] = {{C, 0},     {C, 0},     {C, 3 * C}, {3 * C, 0},
                                         {C, C},     {C, 0},     {C, 0},     {C, 0},
                                         {C, 4 * C}, {4 * C, 0}, {4 * C, C}, {C, 0}};
        for (int k = 0; k < N_BLOCK_NAMES; k++) {
            snprintf(nm, sizeof nm, "h.%d.%s", l, block_names[k]);
            ENTRY(nm, d[k][0], d[k][1]);
        }
    }
    ENTRY("ln_f.weight", C, 0);
    ENTRY("ln_f.bias", C, 0);
#undef ENTRY
    len += (size_t)snprintf(h + len, cap - len, "}");
    while (len % 8) h[len++] = ' ';
    FILE *f = fopen(mp, "wb");
    unsigned char l8[8];
    for (int i = 0; i < 8; i++) l8[i] = (unsigned char)((uint64_t)len >> (8 * i));
    int rc = !f || fwrite(l8, 1, 8, f) != 8 || fwrite(h, 1, len, f) != len || fclose(f) != 0 ||
             truncate(mp, (off_t)(8 + len + (size_t)off)) != 0;
    free(h), free(cp), free(mp);
    return rc ? -1 : 0;
}

static void test_named_shapes(void) {
    static const struct {
        const char *name;
        long long params;   // as transformers reports them for the real models
    } named[] = {
        {"distilgpt2", 81912576LL},  {"gpt2", 124439808LL},     {"gpt2-medium", 354823168LL},
        {"gpt2-large", 774030080LL}, {"gpt2-xl", 1557611200LL},
    };
    for (int i = 0; i < 5; i++) {
        Gpt2Config c;
        char label[128];
        snprintf(label, sizeof label, "named %s: shape known", named[i].name);
        CHECK_INT(label, checkpoint_named_shape(named[i].name, &c), 0);
        char *dir = tmp_path(named[i].name);
        Gpt2 m;
        snprintf(label, sizeof label, "named %s: loads", named[i].name);
        int ok = sparse_model(dir, &c) == 0 && fixture_open_model(&m, dir) == 0;
        CHECK(label, ok);
        if (ok) {
            snprintf(label, sizeof label, "named %s: n_params", named[i].name);
            CHECK_INT(label, m.n_params, named[i].params);
            snprintf(label, sizeof label, "named %s: tied", named[i].name);
            CHECK(label, m.tied && m.lm_head == m.wte);
            gpt2_close(&m);
        }
        char *mp = path_join(dir, "model.safetensors");
        unlink(mp);
        free(mp);
        free(dir);
    }
    Gpt2Config c;
    CHECK_INT("named unknown", checkpoint_named_shape("gpt3", &c), -1);
    CHECK("named gpt2-xl dims", checkpoint_named_shape("gpt2-xl", &c) == 0 && c.n_layer == 48 &&
                                    c.n_head == 25 && c.n_embd == 1600 && c.n_ctx == 1024 &&
                                    c.vocab_size == 50257);
    CHECK("named distilgpt2 dims",
          checkpoint_named_shape("distilgpt2", &c) == 0 && c.n_layer == 6 && c.n_embd == 768);
}

static void test_writer_errors(void) {
    char err[256];
    CheckpointSpec s = small_spec("F64", 0, 0, 0);
    char *dir = tmp_path("werr");
    CHECK_INT("writer bad dtype", checkpoint_write_random(dir, &s, err, sizeof err), -1);
    CHECK("writer bad dtype message", strstr(err, "F64") != NULL);
    s = small_spec("F32", 0, 0, 0);
    s.cfg.n_head = 3;
    CHECK_INT("writer n_head", checkpoint_write_random(dir, &s, err, sizeof err), -1);
    s = small_spec(NULL, 0, 0, 0);
    CHECK_INT("writer NULL dtype is F32", checkpoint_write_random(dir, &s, err, sizeof err), 0);
    free(dir);
}

// ----------------------------------------------------------------------------- modes

static int mode_write(int argc, char **argv) {
    CheckpointSpec s = small_spec(argv[3], 0, 0, 0);
    s.prefix = strstr(argv[4], "prefix") != NULL;
    s.untied = strstr(argv[4], "untied") != NULL;
    s.with_mask_buffers = strstr(argv[4], "masks") != NULL;
    s.seed = 3;
    if (argc >= 10) {
        s.cfg.n_layer = atoi(argv[5]);
        s.cfg.n_head = atoi(argv[6]);
        s.cfg.n_embd = atoi(argv[7]);
        s.cfg.n_ctx = atoi(argv[8]);
        s.cfg.vocab_size = atoi(argv[9]);
    }
    char err[512];
    if (checkpoint_write_random(argv[2], &s, err, sizeof err) != 0) {
        fprintf(stderr, "test_gpt2: %s\n", err);
        return 1;
    }
    return 0;
}

static int mode_dump(char **argv) {
    Gpt2 m;
    char err[512];
    if (gpt2_open(&m, argv[2], err, sizeof err) != 0) {
        fprintf(stderr, "test_gpt2: %s\n", err);
        return 1;
    }
    size_t numel = 0, n = (size_t)atol(argv[4]);
    const float *w = gpt2_weight(&m, argv[3], &numel);
    if (!w) {
        fprintf(stderr, "test_gpt2: no weight %s\n", argv[3]);
        gpt2_close(&m);
        return 1;
    }
    for (size_t i = 0; i < n && i < numel; i++) printf("%.9g\n", w[i]);
    gpt2_close(&m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && !strcmp(argv[1], "--write")) return mode_write(argc, argv);
    if (argc == 5 && !strcmp(argv[1], "--dump-tensor")) return mode_dump(argv);
    if (argc > 1) {
        fprintf(
            stderr,
            "usage: test_gpt2 [--write DIR DTYPE FLAGS [L NH C CTX V] | --dump-tensor DIR NAME N]\n");
        return 2;
    }
    if (check_scratch(tmpdir, sizeof tmpdir, "test_gpt2") != 0) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    test_config();
    const char *dtypes[] = {"F32", "F16", "BF16"};
    for (int d = 0; d < 3; d++)
        for (int v = 0; v < 8; v++) test_variant(dtypes[d], v & 1, (v >> 1) & 1, (v >> 2) & 1);
    test_consistency();
    test_broken();
    test_finite();
    test_unaligned();
    test_named_shapes();
    test_writer_errors();
    check_scratch_remove(tmpdir);
    CHECK_DONE();
}
