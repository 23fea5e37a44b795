// Unit tests for common/experiment/lens: a fit on data made by a known affine map recovers the map;
// ridge shrinks; the file format round-trips and every malformed file is refused.
#include <stdint.h>
#include <stdlib.h>

#include "base/rng.h"
#include "base/util.h"
#include "check.h"
#include "experiment/lens.h"

static double uniform(Rng *r) { return rng_uniform(r) * 2.0 - 1.0; }

// X (n, C) random with correlated columns and an offset; Y = X W* + b* (+ noise).
static void make_data(int n, int C, uint64_t seed, double noise, float *X, float *Y, float *W,
                      float *b) {
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < C * C; i++) W[i] = (float)uniform(&r);
    for (int j = 0; j < C; j++) b[j] = (float)(3 * uniform(&r));
    for (int t = 0; t < n; t++) {
        double common = uniform(&r);
        for (int i = 0; i < C; i++)
            X[(size_t)t * C + i] = (float)(2.0 + uniform(&r) + 0.5 * common + 0.1 * i);
        for (int j = 0; j < C; j++) {
            double y = b[j] + noise * uniform(&r);
            for (int i = 0; i < C; i++) y += (double)X[(size_t)t * C + i] * W[(size_t)i * C + j];
            Y[(size_t)t * C + j] = (float)y;
        }
    }
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static void test_recover(void) {
    int n = 400, C = 24;
    float *X = xmalloc(sizeof(float) * n * C), *Y = xmalloc(sizeof(float) * n * C);
    float *W = xmalloc(sizeof(float) * C * C), *b = xmalloc(sizeof(float) * C);
    float *Wf = xmalloc(sizeof(float) * C * C), *bf = xmalloc(sizeof(float) * C);
    make_data(n, C, 1, 0.0, X, Y, W, b);
    LensFit f;
    lens_fit_init(&f, C);
    lens_fit_add(&f, X, Y, 150);   // in two parts: sums add up
    lens_fit_add(&f, X + (size_t)150 * C, Y + (size_t)150 * C, n - 150);
    CHECK_INT("rows accumulated", f.n, n);
    char err[256];
    double r2 = 0;
    CHECK("exact affine data: solve", lens_fit_solve(&f, 0.0, Wf, bf, &r2, err, sizeof err) == 0);
    CHECK_NEAR("exact affine data: W recovered", max_abs_diff(Wf, W, (size_t)C * C), 0.0, 1e-3);
    CHECK_NEAR("exact affine data: b recovered", max_abs_diff(bf, b, C), 0.0, 1e-2);
    CHECK_NEAR("exact affine data: R^2 = 1", r2, 1.0, 1e-6);
    // A tiny ridge still recovers the map; a large one shrinks W toward 0.
    CHECK("ridge 1e-9: solve", lens_fit_solve(&f, 1e-9, Wf, bf, NULL, err, sizeof err) == 0);
    CHECK_NEAR("ridge 1e-9: W recovered", max_abs_diff(Wf, W, (size_t)C * C), 0.0, 1e-3);
    double big_norm = 0, true_norm = 0;
    CHECK("ridge 10: solve", lens_fit_solve(&f, 10.0, Wf, bf, &r2, err, sizeof err) == 0);
    for (int i = 0; i < C * C; i++) big_norm += Wf[i] * Wf[i], true_norm += W[i] * W[i];
    CHECK("ridge 10 shrinks W", big_norm < 0.5 * true_norm);
    CHECK("ridge 10: R^2 below 1", r2 < 0.999);
    lens_fit_free(&f);

    // Noisy data: W close, R^2 < 1 but high.
    make_data(n, C, 2, 0.05, X, Y, W, b);
    lens_fit_init(&f, C);
    lens_fit_add(&f, X, Y, n);
    CHECK("noisy data: solve", lens_fit_solve(&f, 0.0, Wf, bf, &r2, err, sizeof err) == 0);
    CHECK_NEAR("noisy data: W close", max_abs_diff(Wf, W, (size_t)C * C), 0.0, 0.1);
    CHECK("noisy data: 0.99 < R^2 < 1", r2 > 0.99 && r2 < 1.0);
    // lens_apply with the fitted map reproduces Y closely.
    TunedLens t;
    CHECK("alloc", lens_alloc(&t, 1, C, err, sizeof err) == 0);
    memcpy(t.W, Wf, sizeof(float) * C * C);
    memcpy(t.b, bf, sizeof(float) * C);
    float *out = xmalloc(sizeof(float) * n * C);
    lens_apply(&t, 0, X, n, out);
    CHECK_NEAR("lens_apply of the fit ~ Y", max_abs_diff(out, Y, (size_t)n * C), 0.0, 0.2);
    free(out);
    lens_free(&t);
    lens_fit_free(&f);

    // Too few rows for ridge 0: not positive definite.
    lens_fit_init(&f, C);
    lens_fit_add(&f, X, Y, 5);
    CHECK("5 rows, ridge 0: refused",
          lens_fit_solve(&f, 0.0, Wf, bf, NULL, err, sizeof err) == -1 &&
              strstr(err, "positive definite"));
    CHECK("5 rows, ridge 0.1: solved", lens_fit_solve(&f, 0.1, Wf, bf, NULL, err, sizeof err) == 0);
    lens_fit_free(&f);
    lens_fit_init(&f, C);
    lens_fit_add(&f, X, Y, 1);
    CHECK("1 row: refused", lens_fit_solve(&f, 1.0, Wf, bf, NULL, err, sizeof err) == -1 &&
                                strstr(err, "at least 2"));
    lens_fit_free(&f);
    free(X), free(Y), free(W), free(b), free(Wf), free(bf);
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fwrite(p, 1, n, fp);
        fclose(fp);
    }
}

static void test_file(const char *dir) {
    char path[512], bad[512], err[256];
    snprintf(path, sizeof path, "%s/lens.bin", dir);
    snprintf(bad, sizeof bad, "%s/bad.bin", dir);
    TunedLens t, u;
    lens_alloc(&t, 3, 5, err, sizeof err);
    for (int i = 0; i < 3 * 25; i++) t.W[i] = (float)i * 0.25f - 3.0f;
    for (int i = 0; i < 15; i++) t.b[i] = -(float)i / 3.0f;
    CHECK("save", lens_save(&t, path, err, sizeof err) == 0);
    CHECK("load", lens_load(&u, path, 3, 5, err, sizeof err) == 0);
    CHECK("round trip, bit for bit", u.n_layer == 3 && u.C == 5 &&
                                         !memcmp(u.W, t.W, sizeof(float) * 75) &&
                                         !memcmp(u.b, t.b, sizeof(float) * 15));
    lens_free(&u);
    CHECK("load without expected sizes",
          lens_load(&u, path, 0, 0, err, sizeof err) == 0 && u.n_layer == 3);
    lens_free(&u);
    size_t len;
    unsigned char *f = (unsigned char *)read_file(path, &len);
    CHECK_INT("file size 16 + 3 * (25 + 5) * 4", len, 16 + 3 * 30 * 4);
    CHECK("header: magic, version 1, 3 layers, width 5",
          f && !memcmp(f, "TLNS\1\0\0\0\3\0\0\0\5\0\0\0", 16));
    CHECK("wrong layer count refused",
          lens_load(&u, path, 4, 5, err, sizeof err) == -1 && strstr(err, "made for 3 layers"));
    CHECK("wrong width refused", lens_load(&u, path, 3, 6, err, sizeof err) == -1);
    write_bytes(bad, f, len - 1);
    CHECK("truncated refused",
          lens_load(&u, bad, 3, 5, err, sizeof err) == -1 && strstr(err, "bytes"));
    unsigned char *g = xmalloc(len + 4);
    memcpy(g, f, len);
    memset(g + len, 0, 4);
    write_bytes(bad, g, len + 4);
    CHECK("trailing bytes refused", lens_load(&u, bad, 3, 5, err, sizeof err) == -1);
    g[0] = 'X';
    write_bytes(bad, g, len);
    CHECK("bad magic refused",
          lens_load(&u, bad, 3, 5, err, sizeof err) == -1 && strstr(err, "magic"));
    memcpy(g, f, len);
    g[4] = 2;
    write_bytes(bad, g, len);
    CHECK("version 2 refused",
          lens_load(&u, bad, 3, 5, err, sizeof err) == -1 && strstr(err, "version"));
    memcpy(g, f, len);
    memcpy(g + 16 + 4 * 40, "\x00\x00\xc0\x7f", 4);   // a NaN in layer 1
    write_bytes(bad, g, len);
    CHECK("NaN refused", lens_load(&u, bad, 3, 5, err, sizeof err) == -1 && strstr(err, "layer 1"));
    memcpy(g, f, len);
    memset(g + 8, 0xff, 4);
    write_bytes(bad, g, len);
    CHECK("absurd layer count refused", lens_load(&u, bad, 0, 0, err, sizeof err) == -1);
    write_bytes(bad, f, 10);
    CHECK("short header refused", lens_load(&u, bad, 0, 0, err, sizeof err) == -1);
    CHECK("missing file", lens_load(&u, "/nonexistent/x.bin", 0, 0, err, sizeof err) == -1);
    CHECK("unwritable", lens_save(&t, "/nonexistent/x.bin", err, sizeof err) == -1);
    free(g);
    free(f);
    lens_free(&t);
}

int main(void) {
    test_recover();
    char dir[400];
    if (check_scratch(dir, sizeof dir, "test_lens") != 0) return 2;
    test_file(dir);
    check_scratch_remove(dir);
    CHECK_DONE();
}
