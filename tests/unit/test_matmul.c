// Unit tests for common/model/matmul (kernels vs a naive double-precision product, the
// determinism contract, GELU, attention, path selection) — every kernel path this CPU
// supports, in turn — and common/base/threadpool (every task exactly once, nesting).
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/rng.h"
#include "base/threadpool.h"
#include "base/util.h"
#include "check.h"
#include "model/kernels.h"
#include "model/matmul.h"

static void fill(float *x, size_t n, Rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(rng_uniform(rng) * 2.0 - 1.0);
}

// max |out - in·w - bias| over all elements, computed naively in double.
static double matmul_error(const float *out, const float *in, const float *w, const float *bias,
                           int T, int K, int N) {
    double worst = 0.0;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < N; j++) {
            double s = bias ? bias[j] : 0.0;
            for (int k = 0; k < K; k++) s += (double)in[t * K + k] * w[k * N + j];
            double d = fabs(s - out[t * N + j]);
            if (d > worst) worst = d;
        }
    return worst;
}

static double transposed_error(const float *out, const float *in, const float *e, int T, int C,
                               int V) {
    double worst = 0.0;
    for (int t = 0; t < T; t++)
        for (int v = 0; v < V; v++) {
            double s = 0.0;
            for (int c = 0; c < C; c++) s += (double)in[t * C + c] * e[v * C + c];
            double d = fabs(s - out[t * V + v]);
            if (d > worst) worst = d;
        }
    return worst;
}

static const char *path;   // the kernel path under test, in check names

static void test_matmul_sizes(ThreadPool *pool) {
    // K > 128 spans several segments of the accumulation order (matmul.h); T >= 16 takes
    // the packed schedule, T < 16 the streamed one.
    static const int Ts[] = {1, 3, 4, 5, 20, 33, 70};
    static const int Ks[] = {1, 7, 64, 200, 300};
    static const int Ns[] = {1, 63, 64, 65, 130};
    Rng rng;
    rng_seed(&rng, 42);
    char name[160];
    for (size_t a = 0; a < sizeof Ts / sizeof *Ts; a++)
        for (size_t b = 0; b < sizeof Ks / sizeof *Ks; b++)
            for (size_t c = 0; c < sizeof Ns / sizeof *Ns; c++) {
                int T = Ts[a], K = Ks[b], N = Ns[c];
                float *in = xmalloc(sizeof(float) * T * K), *w = xmalloc(sizeof(float) * K * N);
                float *bias = xmalloc(sizeof(float) * N), *out = xmalloc(sizeof(float) * T * N);
                float *row = xmalloc(sizeof(float) * T * N);
                fill(in, (size_t)T * K, &rng);
                fill(w, (size_t)K * N, &rng);
                fill(bias, N, &rng);
                int with_bias = (T + N) % 2;
                const float *bs = with_bias ? bias : NULL;
                matmul_forward(out, in, w, bs, T, K, N, pool);
                snprintf(name, sizeof name, "%s: matmul T=%d K=%d N=%d bias=%d", path, T, K, N,
                         with_bias);
                CHECK_NEAR(name, matmul_error(out, in, w, bs, T, K, N), 0.0, K > 64 ? 1e-4 : 1e-5);
                // the last row computed alone is bit-identical (determinism contract)
                matmul_forward(row, in + (size_t)(T - 1) * K, w, bs, 1, K, N, pool);
                snprintf(name, sizeof name, "%s: matmul T=%d K=%d N=%d row alone bit-identical",
                         path, T, K, N);
                CHECK(name, memcmp(row, out + (size_t)(T - 1) * N, sizeof(float) * N) == 0);
                // ... and so are the last 9 rows as a batch of their own (streamed vs packed)
                int r = T < 9 ? T : 9;
                matmul_forward(row, in + (size_t)(T - r) * K, w, bs, r, K, N, pool);
                snprintf(name, sizeof name, "%s: matmul T=%d K=%d N=%d last %d rows bit-identical",
                         path, T, K, N, r);
                CHECK(name, memcmp(row, out + (size_t)(T - r) * N, sizeof(float) * r * N) == 0);
                // GELU fused == matmul then vec_gelu, bit for bit
                memcpy(row, out, sizeof(float) * T * N);
                vec_gelu(row, (size_t)T * N);
                matmul_gelu_forward(out, in, w, bs, T, K, N, pool);
                snprintf(name, sizeof name, "%s: matmul+gelu T=%d K=%d N=%d == matmul, vec_gelu",
                         path, T, K, N);
                CHECK(name, memcmp(row, out, sizeof(float) * T * N) == 0);
                free(in), free(w), free(bias), free(out), free(row);
            }
}

// Weights at every float offset within a cache line (the tiled schedule aligns its strips
// to w's lines): same results as the reference, and row alone == in the batch.
static void test_matmul_offsets(ThreadPool *pool) {
    enum { T = 20, K = 300, N = 1552 };   // 32 strips of 48 and more: the aligned grid
    Rng rng;
    rng_seed(&rng, 9);
    float *in = xmalloc(sizeof(float) * T * K), *base = xmalloc(sizeof(float) * (K * N + 16));
    float *bias = xmalloc(sizeof(float) * N), *out = xmalloc(sizeof(float) * T * N),
          *row = xmalloc(sizeof(float) * N);
    fill(in, (size_t)T * K, &rng), fill(base, (size_t)K * N + 16, &rng), fill(bias, N, &rng);
    char name[160];
    for (int off = 0; off < 16; off++) {
        const float *w = base + off;
        matmul_forward(out, in, w, bias, T, K, N, pool);
        matmul_forward(row, in + (size_t)(T - 1) * K, w, bias, 1, K, N, pool);
        snprintf(name, sizeof name,
                 "%s: matmul w at float offset %d: reference, row alone bit-identical", path, off);
        CHECK(name, matmul_error(out, in, w, bias, T, K, N) < 1e-4 &&
                        memcmp(row, out + (size_t)(T - 1) * N, sizeof(float) * N) == 0);
    }
    free(in), free(base), free(bias), free(out), free(row);
}

// out (T, N) = in · w + bias (GELU'd when gelu), computed `step` rows of in per call.
static void matmul_in_steps(float *out, const float *in, const float *w, const float *bias, int T,
                            int K, int N, int gelu, int step, ThreadPool *pool) {
    for (int t = 0; t < T; t += step) {
        int r = T - t < step ? T - t : step;
        if (gelu)
            matmul_gelu_forward(out + (size_t)t * N, in + (size_t)t * K, w, bias, r, K, N, pool);
        else matmul_forward(out + (size_t)t * N, in + (size_t)t * K, w, bias, r, K, N, pool);
    }
}

// Enough rows that every task runs many row tiles (the paths with pack_min_tiles copy
// the weights into panels then, kernels.h): bit-identical to the same rows streamed 9 at
// a time (no panels, no tiles), with K not a multiple of the segment, N not a multiple of
// the strip, and w misaligned (a narrow head strip); GELU fused too.
static void test_matmul_panels(ThreadPool *pool) {
    static const int Ns[] = {1552, 777, 40};
    enum { T = 203, K = 300 };
    Rng rng;
    rng_seed(&rng, 11);
    float *in = xmalloc(sizeof(float) * T * K), *base = xmalloc(sizeof(float) * (K * 1552 + 16));
    float *bias = xmalloc(sizeof(float) * 1552), *out = xmalloc(sizeof(float) * T * 1552);
    float *ref = xmalloc(sizeof(float) * T * 1552);
    fill(in, (size_t)T * K, &rng), fill(base, (size_t)K * 1552 + 16, &rng), fill(bias, 1552, &rng);
    char name[160];
    for (size_t c = 0; c < sizeof Ns / sizeof *Ns; c++)
        for (int off = 0; off < 4; off += 3)
            for (int gelu = 0; gelu < 2; gelu++) {
                int N = Ns[c];
                const float *w = base + off;
                matmul_in_steps(out, in, w, bias, T, K, N, gelu, T, pool);
                matmul_in_steps(ref, in, w, bias, T, K, N, gelu, 9, pool);
                snprintf(name, sizeof name,
                         "%s: matmul%s T=%d K=%d N=%d w+%d == 9 rows at a time, bit for bit", path,
                         gelu ? "+gelu" : "", T, K, N, off);
                CHECK(name, memcmp(out, ref, sizeof(float) * T * N) == 0);
            }
    matmul_forward(out, in, base + 3, bias, T, K, 40, pool);
    snprintf(name, sizeof name, "%s: matmul T=%d K=%d N=40 w+3: reference", path, T, K);
    CHECK_NEAR(name, matmul_error(out, in, base + 3, bias, T, K, 40), 0.0, 1e-4);
    free(in), free(base), free(bias), free(out), free(ref);
}

// Passes of 16-53 rows (2 row tiles a task and more: the paths with pack_min_tiles copy
// panels then, packed by the first row tile where the path has tile_pack; kernels.h), on
// rows of w 4 KiB apart (N = 1024), on N = 1552 (with w misaligned a narrow head strip,
// and a partial last strip, both copied apart) and on N = 777 (odd: a last chunk of one
// strip), bias or none, GELU fused: bit-identical to the same rows streamed 9 at a time,
// and the reference.  Run without a pool and with 2 and 3 workers: the last tasks of a
// pass are its last chunks cut into strips at these row counts (matmul.c; with a chunk's
// strips fewer than the pieces, some are empty), or by rows where a chunk has one strip.
static void test_matmul_panels_small(ThreadPool *pool) {
    static const int Ts[] = {16, 23, 36, 47, 53};
    static const int Ns[] = {1024, 1552, 777};
    enum { K = 300, NMAX = 1552, TMAX = 53 };
    Rng rng;
    rng_seed(&rng, 13);
    float *in = xmalloc(sizeof(float) * TMAX * K), *base = xmalloc(sizeof(float) * (K * NMAX + 16));
    float *bias = xmalloc(sizeof(float) * NMAX), *out = xmalloc(sizeof(float) * TMAX * NMAX);
    float *ref = xmalloc(sizeof(float) * TMAX * NMAX);
    fill(in, (size_t)TMAX * K, &rng), fill(base, (size_t)K * NMAX + 16, &rng);
    fill(bias, NMAX, &rng);
    char name[160];
    for (size_t c = 0; c < sizeof Ns / sizeof *Ns; c++)
        for (size_t a = 0; a < sizeof Ts / sizeof *Ts; a++)
            for (int off = 0; off < 4; off += 3) {
                int T = Ts[a], N = Ns[c], gelu = a % 2;
                const float *w = base + off, *bs = off ? bias : NULL;
                matmul_in_steps(out, in, w, bs, T, K, N, gelu, T, pool);
                matmul_in_steps(ref, in, w, bs, T, K, N, gelu, 9, pool);
                snprintf(name, sizeof name,
                         "%s: matmul%s T=%d K=%d N=%d w+%d == 9 rows at a time, bit for bit", path,
                         gelu ? "+gelu" : "", T, K, N, off);
                CHECK(name, memcmp(out, ref, sizeof(float) * T * N) == 0);
                if (!gelu) {
                    snprintf(name, sizeof name, "%s: matmul T=%d K=%d N=%d w+%d: reference", path,
                             T, K, N, off);
                    CHECK_NEAR(name, matmul_error(out, in, w, bs, T, K, N), 0.0, 1e-4);
                }
            }
    free(in), free(base), free(bias), free(out), free(ref);
}

// The streamed schedule's batches (decoding: T < 16 rows, the rows kernel over m <= 8 rows
// a call, so T = 9..15 is a call of 8 and one of T - 8): every row of a batch of every size
// equals that row computed alone (the single-row kernel), bit for bit, with K cut into
// segments and steps unevenly (300 = 2 x 128 + 44, 44 = 5 x 8 + 4), N neither a multiple
// of a vector nor of 48 columns, and w at float offsets 0..3 (a narrow first vector
// where its rows share an offset: N = 784 keeps rows 64-byte multiples apart).
static void test_matmul_batches(ThreadPool *pool) {
    static const int Ns[] = {777, 784, 149};
    enum { K = 300, TMAX = 15 };
    Rng rng;
    rng_seed(&rng, 13);
    float *in = xmalloc(sizeof(float) * TMAX * K), *base = xmalloc(sizeof(float) * (K * 784 + 4));
    float *bias = xmalloc(sizeof(float) * 784), *out = xmalloc(sizeof(float) * TMAX * 784);
    float *row = xmalloc(sizeof(float) * 784);
    fill(in, (size_t)TMAX * K, &rng), fill(base, (size_t)K * 784 + 4, &rng), fill(bias, 784, &rng);
    char name[160];
    for (size_t c = 0; c < sizeof Ns / sizeof *Ns; c++)
        for (int off = 0; off < 4; off++) {
            int N = Ns[c], ok = 1;
            const float *w = base + off;
            for (int T = 2; T <= TMAX; T++) {
                matmul_forward(out, in, w, off % 2 ? bias : NULL, T, K, N, pool);
                ok &= matmul_error(out, in, w, off % 2 ? bias : NULL, T, K, N) < 1e-4;
                for (int t = 0; t < T; t++) {
                    matmul_forward(row, in + (size_t)t * K, w, off % 2 ? bias : NULL, 1, K, N,
                                   pool);
                    ok &= memcmp(row, out + (size_t)t * N, sizeof(float) * N) == 0;
                }
            }
            snprintf(
                name, sizeof name,
                "%s: matmul K=%d N=%d w+%d, batches of 2..15 rows: each row == alone, bit for bit",
                path, K, N, off);
            CHECK(name, ok);
        }
    free(in), free(base), free(bias), free(out), free(row);
}

// Row counts and vocabulary sizes around the paths' unembedding tiles (dot_rows x dot_cols:
// 4 x 6 avx512, 3 x 4 avx2, 4 x 4 generic): full tiles and last tiles of 1, 2 and 3 rows
// (T = 4, 5, 7, 8, 9) and of 1 to 5 vocabulary entries (V = 6, 7, 255, 641; 128 entries a
// task, 32 x dot_cols in spread tiles), several chunks (385, 600, 641); C shorter than a
// vector, with and without a tail; the schedules (spread up to 9 rows, staged from 13 on
// avx2: T = 13, 16, 40).
static void test_transposed(ThreadPool *pool) {
    static const int Ts[] = {1, 4, 5, 7, 8, 9, 13, 16, 40};
    static const int Cs[] = {5, 8, 64, 67};
    static const int Vs[] = {1, 6, 7, 255, 256, 385, 600, 641};
    Rng rng;
    rng_seed(&rng, 7);
    char name[160];
    for (size_t a = 0; a < sizeof Ts / sizeof *Ts; a++)
        for (size_t b = 0; b < sizeof Cs / sizeof *Cs; b++)
            for (size_t c = 0; c < sizeof Vs / sizeof *Vs; c++) {
                int T = Ts[a], C = Cs[b], V = Vs[c];
                float *in = xmalloc(sizeof(float) * T * C), *e = xmalloc(sizeof(float) * V * C);
                float *out = xmalloc(sizeof(float) * T * V), *row = xmalloc(sizeof(float) * V);
                fill(in, (size_t)T * C, &rng);
                fill(e, (size_t)V * C, &rng);
                matmul_transposed_forward(out, in, e, T, C, V, pool);
                snprintf(name, sizeof name, "%s: unembed T=%d C=%d V=%d", path, T, C, V);
                CHECK_NEAR(name, transposed_error(out, in, e, T, C, V), 0.0, 1e-5);
                matmul_transposed_forward(row, in + (size_t)(T - 1) * C, e, 1, C, V, pool);
                snprintf(name, sizeof name, "%s: unembed T=%d C=%d V=%d row alone bit-identical",
                         path, T, C, V);
                CHECK(name, memcmp(row, out + (size_t)(T - 1) * V, sizeof(float) * V) == 0);
                int ok = 1;   // every entry is exactly vec_dot
                for (int t = 0; t < T; t++)
                    for (int v = 0; v < V; v++) {
                        float d = vec_dot(in + (size_t)t * C, e + (size_t)v * C, C);
                        ok &= memcmp(&d, out + (size_t)t * V + v, sizeof d) == 0;
                    }
                snprintf(name, sizeof name, "%s: unembed T=%d C=%d V=%d == vec_dot, bit for bit",
                         path, T, C, V);
                CHECK(name, ok);
                free(in), free(e), free(out), free(row);
            }
}

// The output matrix and the rows at every float offset within a cache line (the AVX-512
// kernel loads from line boundaries and rotates its lanes when e's rows and the rows of
// `in` start at the same offset off a line): every entry still exactly vec_dot, a row alone
// bit-identical to the batch.  T = 1 (spread tiles on avx2 and avx512), 9 (spread on avx2,
// in place on avx512: a full row block after the first, from the rows at 0, and a short
// one), 16 (staged on avx2): the rows of `in` are copied to e's offset or to 0 by schedule.
static void test_transposed_offsets(ThreadPool *pool) {
    static const int Cs[] = {16, 48, 80, 768};   // multiples of 16 floats: rows 64 bytes apart
    static const int Ts[] = {1, 9, 16};
    enum { TMAX = 16, V = 41 };
    Rng rng;
    rng_seed(&rng, 11);
    char name[160];
    for (size_t c = 0; c < sizeof Cs / sizeof *Cs; c++)
        for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
            int C = Cs[c], T = Ts[ti], ok_dot = 1, ok_row = 1;
            float *ebase = xmalloc(sizeof(float) * ((size_t)V * C + 16)),
                  *ibase = xmalloc(sizeof(float) * ((size_t)TMAX * C + 16));
            float *out = xmalloc(sizeof(float) * T * V), *row = xmalloc(sizeof(float) * V);
            fill(ebase, (size_t)V * C + 16, &rng), fill(ibase, (size_t)TMAX * C + 16, &rng);
            for (int eo = 0; eo < 16; eo++)
                for (int io = 0; io < 16; io += 5) {
                    const float *e = ebase + eo, *in = ibase + io;
                    matmul_transposed_forward(out, in, e, T, C, V, pool);
                    matmul_transposed_forward(row, in + (size_t)(T - 1) * C, e, 1, C, V, pool);
                    ok_row &= memcmp(row, out + (size_t)(T - 1) * V, sizeof(float) * V) == 0;
                    for (int t = 0; t < T; t++)
                        for (int v = 0; v < V; v++) {
                            float d = vec_dot(in + (size_t)t * C, e + (size_t)v * C, C);
                            ok_dot &= memcmp(&d, out + (size_t)t * V + v, sizeof d) == 0;
                        }
                }
            snprintf(
                name, sizeof name,
                "%s: unembed T=%d C=%d, e and rows at every float offset: == vec_dot, bit for bit",
                path, T, C);
            CHECK(name, ok_dot);
            snprintf(name, sizeof name,
                     "%s: unembed T=%d C=%d, every offset: row alone bit-identical", path, T, C);
            CHECK(name, ok_row);
            free(ebase), free(ibase), free(out), free(row);
        }
}

// The unembedding tiles called directly, on what matmul.c never hands them: every path's
// dot_tile on every tile shape (m <= dot_rows, n <= dot_cols) for C = 1 .. 40 with rows 48
// floats apart, e at every float offset within 64 bytes and the rows of `in` at e's offset
// (the AVX-512 tile then loads from the line boundary before the rows, its lanes rotated)
// and 8 floats from it (the tile then loads the rows as they lie), each
// output exactly the path's dot — the sign of a zero included: with products that
// underflow (-1e-30 x 1e-30) the fused paths' lanes sum to -0, and only the zero tail up
// to C rounded up to the lanes turns lanes to +0.
static void test_dot_tile_edges(void) {
    static const MmKernels *const tables[] = {&mm_kernels_avx512, &mm_kernels_avx2,
                                              &mm_kernels_generic};
    enum { LD = 48, CMAX = 40 };
    Rng rng;
    rng_seed(&rng, 21);
    float *ebase = aligned_alloc(64, sizeof(float) * (6 * LD + 64)),
          *ibase = aligned_alloc(64, sizeof(float) * (4 * LD + 64)), out[4 * 6];
    char name[200];
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++) {
        const MmKernels *k = tables[t];
        if (!k->dot_tile || !matmul_kernel_supported(k->name)) continue;
        CHECK("dot tile fits the test's buffers", k->dot_rows <= 4 && k->dot_cols <= 6);
        CHECK("dot tile fits matmul.c's spread tile (MM_DOT_TILE_MAX)",
              k->dot_rows * k->dot_cols <= MM_DOT_TILE_MAX);
        for (int tiny = 0; tiny < 2; tiny++)
            for (int C = 1; C <= CMAX; C++) {
                int ok = 1, negzero = 0;
                for (int off = 0; off < 32; off++) {
                    float *e = ebase + off % 16, *in = ibase + (off + 8 * (off / 16)) % 16;
                    for (int i = 0; i < 6 * LD; i++)
                        e[i] = tiny ? 1e-30f : (float)(rng_uniform(&rng) * 2.0 - 1.0);
                    for (int i = 0; i < 4 * LD; i++)
                        in[i] = tiny ? -1e-30f : (float)(rng_uniform(&rng) * 2.0 - 1.0);
                    for (int m = 1; m <= k->dot_rows; m++)
                        for (int n = 1; n <= k->dot_cols; n++) {
                            k->dot_tile(out, 6, in, LD, e, LD, m, n, C, (const char *)e, 0);
                            for (int r = 0; r < m; r++)
                                for (int v = 0; v < n; v++) {
                                    float d = k->dot(in + r * LD, e + v * LD, C);
                                    ok &= memcmp(&d, &out[r * 6 + v], sizeof d) == 0;
                                    negzero |= d == 0.0f && signbit(d);
                                }
                        }
                }
                snprintf(name, sizeof name,
                         "%s: dot_tile C=%d%s, every shape and offset == dot, bit for bit", k->name,
                         C, tiny ? " (products underflowing to -0)" : "");
                CHECK(name, ok);
                // (fused paths, no zero tail: the sum stays -0; generic rounds each
                // product to -0 first, and +0 + -0 is +0)
                if (tiny && C % k->lanes == 0 && k != &mm_kernels_generic) {
                    snprintf(name, sizeof name, "%s: dot of underflowing products, C=%d, is -0",
                             k->name, C);
                    CHECK(name, negzero);
                }
            }
    }
    free(ebase), free(ibase);
}

static void test_vec(void) {
    float a[11], b[11], y[11];
    char name[160];
    for (int i = 0; i < 11; i++) a[i] = (float)(i + 1), b[i] = (float)(i % 3) - 1.0f, y[i] = 1.0f;
    double want = 0.0;
    for (int i = 0; i < 11; i++) want += (double)a[i] * b[i];
    snprintf(name, sizeof name, "%s: vec_dot n=11 (tail)", path);
    CHECK_NEAR(name, vec_dot(a, b, 11), want, 0.0);
    snprintf(name, sizeof name, "%s: vec_dot n=0", path);
    CHECK_NEAR(name, vec_dot(a, b, 0), 0.0, 0.0);
    vec_axpy(y, 2.0f, a, 11);
    snprintf(name, sizeof name, "%s: vec_axpy y[0]", path);
    CHECK_NEAR(name, y[0], 3.0, 0.0);
    snprintf(name, sizeof name, "%s: vec_axpy y[10] (tail)", path);
    CHECK_NEAR(name, y[10], 23.0, 0.0);
}

// GELU against the formula in double, and elementwise: a value's result does not depend
// on its position in the array (vector body or tail).
static void test_gelu(void) {
    enum { N = 2001 };
    float *x = xmalloc(sizeof(float) * N), *one = xmalloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) x[i] = -12.0f + 24.0f * (float)i / (N - 1);
    x[0] = 0.0f, x[1] = -0.0f, x[2] = 1e-30f, x[3] = 80.0f, x[4] = -80.0f, x[5] = 1e4f,
    x[6] = -1e4f;
    memcpy(one, x, sizeof(float) * N);
    double worst = 0.0;
    float *g = xmalloc(sizeof(float) * N);
    memcpy(g, x, sizeof(float) * N);
    vec_gelu(g, N);
    for (int i = 0; i < N; i++) {
        double v = x[i];
        double ref = 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
        double err = fabs(g[i] - ref) / (1.0 + fabs(ref));
        if (err > worst) worst = err;
        vec_gelu(&one[i], 1);
    }
    char name[160];
    snprintf(name, sizeof name, "%s: vec_gelu == 0.5x(1+tanh(..)) in double (relative 1e-6)", path);
    CHECK_NEAR(name, worst, 0.0, 1e-6);
    snprintf(name, sizeof name, "%s: vec_gelu elementwise (one by one == whole array)", path);
    CHECK(name, memcmp(one, g, sizeof(float) * N) == 0);
    snprintf(name, sizeof name, "%s: vec_gelu(-80) is 0, (80) is 80, (0) is 0", path);
    CHECK(name, fabsf(g[4]) < 1e-30f && g[3] == 80.0f && g[0] == 0.0f);
    free(x), free(one), free(g);
}

// vec_layernorm against LayerNorm in double (several tails), and in place.
static void test_layernorm(void) {
    static const int Cs[] = {1, 5, 16, 37, 768};
    Rng rng;
    rng_seed(&rng, 5);
    char name[160];
    for (size_t a = 0; a < sizeof Cs / sizeof *Cs; a++) {
        int C = Cs[a];
        float *x = xmalloc(sizeof(float) * C), *w = xmalloc(sizeof(float) * C),
              *b = xmalloc(sizeof(float) * C);
        float *out = xmalloc(sizeof(float) * C);
        fill(x, C, &rng), fill(w, C, &rng), fill(b, C, &rng);
        for (int i = 0; i < C; i++) x[i] = 3.0f + 2.0f * x[i];   // a mean far from 0
        vec_layernorm(out, x, w, b, C, 1e-5f);
        double mean = 0.0, var = 0.0, worst = 0.0;
        for (int i = 0; i < C; i++) mean += x[i];
        mean /= C;
        for (int i = 0; i < C; i++) var += (x[i] - mean) * (x[i] - mean);
        var /= C;
        for (int i = 0; i < C; i++) {
            double want = (x[i] - mean) / sqrt(var + 1e-5) * w[i] + b[i];
            if (fabs(want - out[i]) > worst) worst = fabs(want - out[i]);
        }
        snprintf(name, sizeof name, "%s: vec_layernorm C=%d == LayerNorm in double", path, C);
        CHECK_NEAR(name, worst, 0.0, 2e-6);
        vec_layernorm(x, x, w, b, C, 1e-5f);
        snprintf(name, sizeof name, "%s: vec_layernorm C=%d in place, bit for bit", path, C);
        CHECK(name, memcmp(x, out, sizeof(float) * C) == 0);
        free(x), free(w), free(b), free(out);
    }
}

// attention_head against a softmax in double, for several head sizes and key counts.
static void test_attention(void) {
    static const int hss[] = {13, 16, 64, 80};
    static const int nks[] = {1, 5, 16, 17, 40};
    Rng rng;
    rng_seed(&rng, 11);
    char name[160];
    for (size_t a = 0; a < sizeof hss / sizeof *hss; a++)
        for (size_t b = 0; b < sizeof nks / sizeof *nks; b++) {
            int hs = hss[a], nk = nks[b];
            size_t stride = (size_t)hs * 3 + 5;
            float *q = xmalloc(sizeof(float) * hs), *kv = xmalloc(sizeof(float) * stride * nk);
            float *out = xmalloc(sizeof(float) * hs), *att = xmalloc(sizeof(float) * nk);
            fill(q, hs, &rng);
            fill(kv, stride * nk, &rng);
            for (int i = 0; i < hs; i++) q[i] *= 3.0f;   // a peaked softmax
            const float *k = kv, *v = kv + hs + 2;
            float scale = 1.0f / sqrtf((float)hs);
            attention_head(out, q, k, v, stride, nk, hs, scale, att);
            double *p = xmalloc(sizeof(double) * nk), mx = -INFINITY, sum = 0.0, worst = 0.0;
            for (int j = 0; j < nk; j++) {
                double s = 0.0;
                for (int i = 0; i < hs; i++) s += (double)q[i] * k[j * stride + i];
                p[j] = s * scale;
                if (p[j] > mx) mx = p[j];
            }
            for (int j = 0; j < nk; j++) sum += p[j] = exp(p[j] - mx);
            for (int i = 0; i < hs; i++) {
                double o = 0.0;
                for (int j = 0; j < nk; j++) o += p[j] / sum * v[j * stride + i];
                if (fabs(o - out[i]) > worst) worst = fabs(o - out[i]);
            }
            snprintf(name, sizeof name, "%s: attention_head hs=%d keys=%d == softmax in double",
                     path, hs, nk);
            CHECK_NEAR(name, worst, 0.0, 2e-6);
            // attention_rows: 9 consecutive rows from nk keys on == attention_head per row
            enum { R = 9 };
            size_t ldq = (size_t)hs + 3, ldo = (size_t)hs + 1;
            float *qs = xmalloc(sizeof(float) * R * ldq), *outs = xmalloc(sizeof(float) * R * ldo);
            float *kv2 = xmalloc(sizeof(float) * stride * (nk + R)),
                  *one = xmalloc(sizeof(float) * hs);
            float *att2 = xmalloc(sizeof(float) * (nk + R));
            fill(qs, R * ldq, &rng), fill(kv2, stride * (nk + R), &rng);
            attention_rows(outs, ldo, qs, ldq, R, kv2, kv2 + hs + 2, stride, nk, hs, scale);
            int same = 1;
            for (int i = 0; i < R; i++) {
                attention_head(one, qs + i * ldq, kv2, kv2 + hs + 2, stride, nk + i, hs, scale,
                               att2);
                same &= memcmp(one, outs + i * ldo, sizeof(float) * hs) == 0;
            }
            snprintf(name, sizeof name,
                     "%s: attention_rows hs=%d from %d keys == attention_head per row, bit for bit",
                     path, hs, nk);
            CHECK(name, same);
            free(qs), free(outs), free(kv2), free(one), free(att2);
            free(q), free(kv), free(out), free(att), free(p);
        }
}

// Path selection: every listed path can be asked for; unknown names are refused.
static void test_paths(void) {
    int n = 0;
    const char *const *names = matmul_kernel_paths(&n);
    CHECK("kernel paths listed", n >= 1 && !strcmp(names[n - 1], "generic") && names[n] == NULL);
    CHECK("generic path supported everywhere", matmul_kernel_supported("generic"));
    char err[128] = "";
    CHECK("unknown path refused", matmul_kernel_select("sse9", err, sizeof err) == -1 &&
                                      strstr(err, "unknown kernel path"));
    CHECK("unsupported query for unknown path",
          !matmul_kernel_supported("sse9") && !matmul_kernel_supported(NULL));
    for (int i = 0; i < n; i++) {
        char name[96];
        int sup = matmul_kernel_supported(names[i]);
        int rc = matmul_kernel_select(names[i], err, sizeof err);
        snprintf(name, sizeof name, "select %s: %s", names[i],
                 sup ? "selected" : "refused as unsupported");
        CHECK(name, sup ? rc == 0 && !strcmp(matmul_kernel_name(), names[i])
                        : rc == -1 && strstr(err, "not supported"));
    }
}

// ----------------------------------------------------------------------------
// threadpool

typedef struct {
    atomic_int *count;   // (n_tasks) how often each task ran
    atomic_int bad_worker;
    int n_workers;
    ThreadPool *pool;
    atomic_int *inner;   // nested runs: tasks run
} CountJob;

static void count_task(void *ctx, int task, int worker) {
    CountJob *job = ctx;
    atomic_fetch_add(&job->count[task], 1);
    if (worker < 0 || worker >= job->n_workers) atomic_store(&job->bad_worker, 1);
}

static void inner_task(void *ctx, int task, int worker) {
    (void)task;
    CountJob *job = ctx;
    atomic_fetch_add(job->inner, 1);
    if (worker < 0 || worker >= job->n_workers) atomic_store(&job->bad_worker, 1);
}

static void nesting_task(void *ctx, int task, int worker) {
    CountJob *job = ctx;
    count_task(ctx, task, worker);
    threadpool_run(job->pool, 5, inner_task, job);   // runs inline on this worker
}

// Task 0 waits (up to 5 s) until another worker has run a task: fails if sleeping workers
// are never woken (the caller alone would otherwise run everything unnoticed).
typedef struct {
    atomic_int others;   // tasks run by workers other than 0
} WakeJob;

static void wake_task(void *ctx, int task, int worker) {
    WakeJob *job = ctx;
    if (worker != 0) atomic_fetch_add(&job->others, 1);
    if (task != 0) return;
    for (int i = 0; i < 5000 && !atomic_load(&job->others); i++) usleep(1000);
}

static void test_threadpool_wake(void) {
    ThreadPool *pool = threadpool_new(2);
    for (int round = 0; round < 3; round++) {
        usleep(50000);   // far longer than the spin: the worker sleeps
        WakeJob job;
        atomic_init(&job.others, 0);
        threadpool_run(pool, 64, wake_task, &job);
        char name[96];
        snprintf(name, sizeof name, "threadpool: a sleeping worker wakes for a new job (round %d)",
                 round);
        CHECK(name, atomic_load(&job.others) > 0);
    }
    threadpool_free(pool);
}

static void test_threadpool(void) {
    static const int sizes[] = {1, 2, 3};
    static const int tasks[] = {1, 2, 1000};
    char name[128];
    for (size_t a = 0; a < 3; a++) {
        ThreadPool *pool = threadpool_new(sizes[a]);
        CHECK_INT("threadpool_size", threadpool_size(pool), sizes[a]);
        for (size_t b = 0; b < 3; b++) {
            int n = tasks[b];
            atomic_int *count = xcalloc((size_t)n, sizeof *count);
            CountJob job = {count, 0, sizes[a], pool, NULL};
            for (int rep = 0; rep < 20; rep++) threadpool_run(pool, n, count_task, &job);
            int ok = 1;
            for (int i = 0; i < n; i++) ok &= atomic_load(&count[i]) == 20;
            snprintf(name, sizeof name, "threadpool %d workers %d tasks: each task 20 times",
                     sizes[a], n);
            CHECK(name, ok);
            CHECK("threadpool worker index in range", !atomic_load(&job.bad_worker));
            free(count);
        }
        atomic_int count[8], inner = 0;
        for (int i = 0; i < 8; i++) atomic_init(&count[i], 0);
        CountJob job = {count, 0, sizes[a], pool, &inner};
        threadpool_run(pool, 8, nesting_task, &job);
        snprintf(name, sizeof name, "threadpool %d workers: nested runs complete inline", sizes[a]);
        CHECK_INT(name, atomic_load(&inner), 40);
        CHECK("threadpool nested worker index in range", !atomic_load(&job.bad_worker));
        threadpool_free(pool);
    }
    atomic_int count[3];
    for (int i = 0; i < 3; i++) atomic_init(&count[i], 0);
    CountJob job = {count, 0, 1, NULL, NULL};
    threadpool_run(NULL, 3, count_task, &job);
    CHECK("threadpool NULL pool runs inline", atomic_load(&count[0]) == 1 &&
                                                  atomic_load(&count[2]) == 1 &&
                                                  !atomic_load(&job.bad_worker));
    CHECK_INT("threadpool_size(NULL)", threadpool_size(NULL), 1);
    CHECK("threadpool_global exists", threadpool_size(threadpool_global()) >= 1);
}

int main(void) {
    test_threadpool();
    test_threadpool_wake();
    test_paths();
    test_dot_tile_edges();
    ThreadPool *pool = threadpool_new(3), *pool2 = threadpool_new(2);
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
        test_vec();
        test_gelu();
        test_layernorm();
        test_attention();
        test_matmul_sizes(NULL);
        test_matmul_sizes(pool);
        test_matmul_offsets(NULL);
        test_matmul_offsets(pool);
        test_matmul_panels(NULL);
        test_matmul_panels(pool);
        test_matmul_panels_small(NULL);
        test_matmul_panels_small(pool);
        test_matmul_panels_small(pool2);
        test_matmul_batches(NULL);
        test_matmul_batches(pool);
        test_transposed(NULL);
        test_transposed(pool);
        test_transposed_offsets(NULL);
        test_transposed_offsets(pool);
    }
    threadpool_free(pool);
    threadpool_free(pool2);
    CHECK_DONE();
}
