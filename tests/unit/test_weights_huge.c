// test_weights_huge: the fp32 weights copied onto anonymous huge pages (gpt2_weights_huge).
//   - $AUTOINTERP_WEIGHTS_HUGE is parsed (map, the default; auto; copy; anything else fails
//     gpt2_open).
//   - COPY: every in-place weight points into the copy at its offset in the mapping, with
//     the mapping's bytes; the copy is on huge pages (where THP is not "never").
//   - Decoding (tf_step, tf_step_batch) from the copy gives the mapping's logits bit for
//     bit on every kernel path.
//   - gpt2_use_lowp after a copy reads from the mapping again (the copy is freed) and gives
//     the same 16-bit logits as a model that never had one.
//   - AUTO: no copy below GPT2_HUGE_MIN_BYTES; above it, a copy when the file is cached
//     in 4 KiB folios (written in 4 KiB pieces) and none when its mapping is on huge pages
//     (written in 2 MiB pieces, where the file system caches 2 MiB folios; else a NOTE).
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/threadpool.h"
#include "base/util.h"
#include "check.h"
#include "fixture_model.h"
#include "model/checkpoint.h"
#include "model/gpt2.h"
#include "model/matmul.h"
#include "model/transformer.h"

static char tmpdir[512];

static int thp_usable(void) {
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return 0;
    char line[256] = "";
    int ok = fgets(line, sizeof line, f) != NULL && strstr(line, "[never]") == NULL;
    fclose(f);
    return ok;
}

// Whether huge_alloc'd memory gets huge pages here (THP on, and an allocator that leaves
// the aligned 2 MiB pages in a VMA of their own: not so under ASan for small sizes).
static int anon_huge_works(size_t bytes) {
    char *p = huge_alloc(bytes);
    if (!p) return 0;
    memset(p, 1, bytes);
    long kb = smaps_field(p, "AnonHugePages", NULL, 0);
    free(p);
    return thp_usable() && kb >= (long)(HUGE_PAGE_BYTES >> 10);
}

static int write_model(const char *dir, int C, int L, int V) {
    CheckpointSpec s = {0};
    s.cfg = (Gpt2Config){
        .n_layer = L, .n_head = 4, .n_embd = C, .n_ctx = 64, .vocab_size = V, .ln_eps = 1e-5f};
    s.seed = 77;
    s.with_mask_buffers = 1;   // tensors the model does not use, between the blocks
    return fixture_write_model(dir, &s);
}

static int in_range(const void *p, const void *base, size_t size) {
    const char *q = p, *b = base;
    return q >= b && q < b + size;
}

// Every weight of b (copied) equals a's (mapped) byte for byte, lies in b's copy at its
// offset in the mapping (so at the same offset within a page), and a's lie in a's mapping.
static void check_copy(const Gpt2 *a, const Gpt2 *b) {
    static const char *const top[] = {"wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"};
    static const char *const blk[] = {
        "ln_1.weight",        "ln_1.bias",        "attn.c_attn.weight", "attn.c_attn.bias",
        "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",        "ln_2.bias",
        "mlp.c_fc.weight",    "mlp.c_fc.bias",    "mlp.c_proj.weight",  "mlp.c_proj.bias"};
    int same = 1, placed = 1, n = 0;
    char name[64];
    for (int i = 0; i < 4 + a->cfg.n_layer * 12; i++, n++) {
        if (i < 4) snprintf(name, sizeof name, "%s", top[i]);
        else snprintf(name, sizeof name, "h.%d.%s", (i - 4) / 12, blk[(i - 4) % 12]);
        size_t na = 0, nb = 0;
        const float *wa = gpt2_weight(a, name, &na), *wb = gpt2_weight(b, name, &nb);
        if (!wa || !wb || na != nb) {
            printf("# %s missing\n", name);
            same = 0;
            continue;
        }
        same &= memcmp(wa, wb, na * sizeof *wa) == 0;
        placed &= in_range(wa, a->st->map, a->st->map_size) &&
                  in_range(wb, b->huge_copy, b->huge_copy_size) &&
                  (const char *)wa - (const char *)a->st->map ==
                      (const char *)wb - (const char *)b->huge_copy;
    }
    CHECK_INT("copy: weights compared", n, 4 + a->cfg.n_layer * 12);
    CHECK("copy: every weight has the mapping's bytes", same);
    CHECK("copy: every weight at its mapping offset in the copy", placed);
    CHECK("copy: lm_head is still wte (tied)", b->tied && b->lm_head == b->wte);
    long kb = smaps_field(b->huge_copy, "AnonHugePages", NULL, 0);
    CHECK("copy: on huge pages (AnonHugePages >= 90% of the weights)",
          kb >= 0 && (double)kb * 1024 >= 0.9 * 4.0 * (double)a->n_params);
}

// Logits of a prompt, then single steps, then a 3-stream batch, for model m (out: 8 rows).
static int decode(const Gpt2 *m, float *out) {
    int V = m->cfg.vocab_size, L = m->cfg.n_layer;
    int layers[8], tokens[] = {5, 17, 3, 99, 42, 7, 300, 1, 64, 2};
    for (int l = 0; l < L; l++) layers[l] = l;
    char err[256];
    TfWorkspace ws;
    if (tf_workspace_init(&ws, m, 16, threadpool_global(), err, sizeof err) != 0) return -1;
    TfCache *c[3];
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        c[i] = tf_cache_new(m, layers, L, 16, err, sizeof err);
        if (!c[i]) return -1;
        c[i]->ws = &ws;
        rc |= tf_step(c[i], tokens + i, 4, i == 0 ? out : NULL, err, sizeof err);
    }
    for (int s = 0; s < 4; s++)   // single stream
        rc |= tf_step(c[0], tokens + 4 + s, 1, out + (size_t)(1 + s) * V, err, sizeof err);
    rc |= tf_step_batch(c, 3, tokens + 5, out + (size_t)5 * V, &ws, err, sizeof err);
    if (rc != 0) printf("# decode: %s\n", err);
    for (int i = 0; i < 3; i++) tf_cache_free(c[i]);
    tf_workspace_free(&ws);
    return rc;
}

static void check_decode(const char *label, const Gpt2 *a, const Gpt2 *b) {
    size_t n = (size_t)8 * a->cfg.vocab_size;
    float *x = xmalloc(n * sizeof *x), *y = xmalloc(n * sizeof *y);
    int np;
    const char *const *paths = matmul_kernel_paths(&np);
    char name[160], err[128];
    for (int p = 0; p < np; p++) {
        if (!matmul_kernel_supported(paths[p])) continue;
        matmul_kernel_select(paths[p], err, sizeof err);
        memset(x, 0, n * sizeof *x);
        memset(y, 1, n * sizeof *y);
        int rc = decode(a, x) | decode(b, y);
        snprintf(name, sizeof name, "%s, %s: tf_step and tf_step_batch logits, bit for bit", label,
                 paths[p]);
        CHECK(name, rc == 0 && memcmp(x, y, n * sizeof *x) == 0);
    }
    free(x), free(y);
}

static void test_env(const char *dir) {
    Gpt2Huge mode;
    char err[256] = "";
    static const struct {
        const char *value;
        int rc;
        Gpt2Huge mode;
    } cases[] = {{"", 0, GPT2_HUGE_MAP},
                 {"auto", 0, GPT2_HUGE_AUTO},
                 {"map", 0, GPT2_HUGE_MAP},
                 {"copy", 0, GPT2_HUGE_COPY},
                 {"huge", -1, GPT2_HUGE_AUTO}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("AUTOINTERP_WEIGHTS_HUGE", cases[i].value, 1);
        int rc = gpt2_huge_from_env(&mode, err, sizeof err);
        char name[96];
        snprintf(name, sizeof name, "AUTOINTERP_WEIGHTS_HUGE=%s", cases[i].value);
        CHECK(name, rc == cases[i].rc && (rc != 0 || mode == cases[i].mode));
    }
    Gpt2 m;
    int rc = gpt2_open(&m, dir, err, sizeof err);   // still "huge"
    CHECK("gpt2_open: a bad AUTOINTERP_WEIGHTS_HUGE fails, named",
          rc == -1 && strstr(err, "AUTOINTERP_WEIGHTS_HUGE=huge is not auto, map or copy"));
    setenv("AUTOINTERP_WEIGHTS_HUGE", "copy", 1);
    char path[1024];
    if (snprintf(path, sizeof path, "%s/model.safetensors", dir) >= (int)sizeof path) path[0] = 0;
    struct stat sb;
    // Probed before the open, whose copy may take the huge pages a later probe would get.
    int thp = stat(path, &sb) == 0 && anon_huge_works((size_t)sb.st_size);
    rc = fixture_open_model(&m, dir);
#if defined(__SANITIZE_ADDRESS__)
    (void)thp;
    // (ASan's allocator may place a small aligned block where THP gives no huge page: the
    // copy is then dropped, as it should be.)
    if (rc == 0 && !m.huge_copy) printf("NOTE ASan: the small model's copy got no huge pages\n");
    CHECK("gpt2_open with AUTOINTERP_WEIGHTS_HUGE=copy opens", rc == 0);
#else
    CHECK("gpt2_open with AUTOINTERP_WEIGHTS_HUGE=copy copies (small model)",
          rc == 0 && (m.huge_copy != NULL || !thp));
#endif
    if (rc == 0) gpt2_close(&m);
    unsetenv("AUTOINTERP_WEIGHTS_HUGE");
}

// A small model: AUTO leaves it mapped; COPY copies; decoding agrees; lowp uncopies.
static void test_copy(const char *dir) {
    Gpt2 a, b;
    if (fixture_open_model(&a, dir) != 0 || fixture_open_model(&b, dir) != 0) {
        CHECK("open the small model", 0);
        return;
    }
    CHECK("default (map): read from the mapping", a.huge_copy == NULL && b.huge_copy == NULL);
    CHECK_INT("auto: a model under GPT2_HUGE_MIN_BYTES is read from the mapping",
              gpt2_weights_huge(&b, GPT2_HUGE_AUTO), 0);
    CHECK_INT("map: no copy", gpt2_weights_huge(&a, GPT2_HUGE_MAP), 0);
    // Probed before the copy, not after: the copy may take the huge pages a later probe
    // would have had (the ASan pass once saw a kept copy and then a probe that got none).
    int thp = anon_huge_works(b.st->map_size);
    int kept = gpt2_weights_huge(&b, GPT2_HUGE_COPY);
    CHECK("copy: 1 exactly when the weights are in the copy", (kept == 1) == (b.huge_copy != NULL));
    if (kept == 1) {
        check_copy(&a, &b);   // the copy's bytes, offsets, and its huge pages
        CHECK_INT("copy again: still the copy", gpt2_weights_huge(&b, GPT2_HUGE_COPY), 1);
    } else {
        printf("NOTE the copy got no huge pages here: not kept, read from the mapping\n");
        CHECK("copy not kept: read from the mapping", kept == 0 && b.huge_copy == NULL);
#if !defined(__SANITIZE_ADDRESS__)
        CHECK("copy: kept where huge_alloc got huge pages just before", !thp);
#else
        (void)thp;   // ASan's allocator decides where a block lies, and so its pages
#endif
    }
    check_decode("copy vs mapping", &a, &b);
    char err[256];
    int rc = gpt2_use_lowp(&a, LOWP_BF16, err, sizeof err) |
             gpt2_use_lowp(&b, LOWP_BF16, err, sizeof err);
    CHECK("lowp after a copy: the copy is freed, fp32 weights in the mapping",
          rc == 0 && b.huge_copy == NULL &&
              in_range(b.blocks[0].qkv_w, b.st->map, b.st->map_size) &&
              in_range(b.wte, b.st->map, b.st->map_size) && b.lm_head == b.wte);
    check_decode("bf16 after a copy vs never copied", &a, &b);
    gpt2_close(&a);
    gpt2_close(&b);
}

// dst = src rewritten with write(2) in 4 KiB pieces: a new file, cached in 4 KiB folios.
static int copy_small_pieces(const char *src, const char *dst) {
    int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644), rc = 0;
    char buf[4096];
    ssize_t n;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n) rc = -1;
    if (in < 0 || out < 0) rc = -1;
    if (in >= 0) close(in);
    if (out >= 0 && close(out) != 0) rc = -1;
    return rc;
}

// A model above GPT2_HUGE_MIN_BYTES (wte 256 x 70000 floats = 71.7 MB), cached once in
// 2 MiB folios (as written) and once in 4 KiB folios.
static void test_auto(void) {
    char big[600], small[600], a[700], b[700];
    snprintf(big, sizeof big, "%s/big", tmpdir);
    snprintf(small, sizeof small, "%s/big4k", tmpdir);
    if (write_model(big, 256, 1, 70000) != 0 || mkdir_p(small) != 0) {
        CHECK("write the large model", 0);
        return;
    }
    int rc = 0;
    static const char *const files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s", big, files[i]);
        snprintf(b, sizeof b, "%s/%s", small, files[i]);
        rc |= copy_small_pieces(a, b);
    }
    CHECK("copy the large model in 4 KiB pieces", rc == 0);
    Gpt2 m2, m4;
    setenv("AUTOINTERP_WEIGHTS_HUGE", "auto", 1);
    int bad = fixture_open_model(&m2, big) != 0 || fixture_open_model(&m4, small) != 0;
    unsetenv("AUTOINTERP_WEIGHTS_HUGE");
    if (bad) {
        CHECK("open the large models", 0);
        return;
    }
    if (!anon_huge_works(m4.st->map_size)) printf("NOTE huge_alloc gets no huge pages here\n");
    else {
        CHECK("auto: a large model cached in 4 KiB folios is copied", m4.huge_copy != NULL);
        // Whether the 2 MiB-folio file maps on huge pages depends on the file system.
        Gpt2 probe;
        int ok = fixture_open_model(&probe, big) == 0;   // the default: the mapping
        long kb = -1;
        if (ok) {
            volatile char sink = 0;
            const char *p = probe.st->map;
            for (size_t i = 0; i < probe.st->map_size; i += 4096) sink = (char)(sink + p[i]);
            kb = smaps_field(probe.st->map, "FilePmdMapped", NULL, 0);
            gpt2_close(&probe);
        }
        if (kb * 1024.0 >= 0.9 * (double)m2.st->map_size - 4.0 * HUGE_PAGE_BYTES)
            CHECK("auto: a large model whose mapping is on huge pages is not copied",
                  m2.huge_copy == NULL);
        else
            printf("NOTE the file system does not cache this file in 2 MiB folios (%ld kB "
                   "PMD-mapped): auto copied it (%s)\n",
                   kb, m2.huge_copy ? "yes" : "no");
    }
    check_decode("large: auto (4 KiB folios) vs auto (as written)", &m4, &m2);
    gpt2_close(&m2);
    gpt2_close(&m4);
}

int main(void) {
    if (check_scratch(tmpdir, sizeof tmpdir, "test_weights_huge") != 0) {
        printf("FAIL scratch directory\n");
        return 1;
    }
    unsetenv("AUTOINTERP_WEIGHTS_HUGE");
    char dir[600];
    snprintf(dir, sizeof dir, "%s/small", tmpdir);
    CHECK_INT("write the small model", write_model(dir, 64, 2, 3000), 0);
    test_env(dir);
    test_copy(dir);
    test_auto();
    check_scratch_remove(tmpdir);
    CHECK_DONE();
}
