// Unit tests for common/matmul (kernels vs a naive double-precision product, the
// determinism contract) and common/threadpool (every task exactly once, nesting).
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "matmul.h"
#include "rng.h"
#include "threadpool.h"
#include "util.h"

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

static void test_matmul_sizes(ThreadPool *pool) {
    static const int Ts[] = {1, 3, 4, 5, 33, 70};
    static const int Ks[] = {1, 7, 64};
    static const int Ns[] = {1, 63, 64, 65, 130};
    Rng rng;
    rng_seed(&rng, 42);
    char name[128];
    for (size_t a = 0; a < sizeof Ts / sizeof *Ts; a++)
        for (size_t b = 0; b < sizeof Ks / sizeof *Ks; b++)
            for (size_t c = 0; c < sizeof Ns / sizeof *Ns; c++) {
                int T = Ts[a], K = Ks[b], N = Ns[c];
                float *in = xmalloc(sizeof(float) * T * K), *w = xmalloc(sizeof(float) * K * N);
                float *bias = xmalloc(sizeof(float) * N), *out = xmalloc(sizeof(float) * T * N);
                float *row = xmalloc(sizeof(float) * N);
                fill(in, (size_t)T * K, &rng);
                fill(w, (size_t)K * N, &rng);
                fill(bias, N, &rng);
                int with_bias = (T + N) % 2;
                matmul_forward(out, in, w, with_bias ? bias : NULL, T, K, N, pool);
                snprintf(name, sizeof name, "matmul T=%d K=%d N=%d bias=%d", T, K, N, with_bias);
                CHECK_NEAR(name, matmul_error(out, in, w, with_bias ? bias : NULL, T, K, N), 0.0, 1e-5);
                // the last row computed alone is bit-identical (determinism contract)
                matmul_forward(row, in + (size_t)(T - 1) * K, w, with_bias ? bias : NULL, 1, K, N, pool);
                snprintf(name, sizeof name, "matmul T=%d K=%d N=%d row alone bit-identical", T, K, N);
                CHECK(name, memcmp(row, out + (size_t)(T - 1) * N, sizeof(float) * N) == 0);
                free(in), free(w), free(bias), free(out), free(row);
            }
}

static void test_transposed(ThreadPool *pool) {
    static const int Ts[] = {1, 8, 9};
    static const int Cs[] = {5, 8, 64, 67};
    static const int Vs[] = {1, 255, 256, 600};
    Rng rng;
    rng_seed(&rng, 7);
    char name[128];
    for (size_t a = 0; a < sizeof Ts / sizeof *Ts; a++)
        for (size_t b = 0; b < sizeof Cs / sizeof *Cs; b++)
            for (size_t c = 0; c < sizeof Vs / sizeof *Vs; c++) {
                int T = Ts[a], C = Cs[b], V = Vs[c];
                float *in = xmalloc(sizeof(float) * T * C), *e = xmalloc(sizeof(float) * V * C);
                float *out = xmalloc(sizeof(float) * T * V), *row = xmalloc(sizeof(float) * V);
                fill(in, (size_t)T * C, &rng);
                fill(e, (size_t)V * C, &rng);
                matmul_transposed_forward(out, in, e, T, C, V, pool);
                snprintf(name, sizeof name, "unembed T=%d C=%d V=%d", T, C, V);
                CHECK_NEAR(name, transposed_error(out, in, e, T, C, V), 0.0, 1e-5);
                matmul_transposed_forward(row, in + (size_t)(T - 1) * C, e, 1, C, V, pool);
                snprintf(name, sizeof name, "unembed T=%d C=%d V=%d row alone bit-identical", T, C, V);
                CHECK(name, memcmp(row, out + (size_t)(T - 1) * V, sizeof(float) * V) == 0);
                free(in), free(e), free(out), free(row);
            }
}

static void test_vec(void) {
    float a[11], b[11], y[11];
    for (int i = 0; i < 11; i++) a[i] = (float)(i + 1), b[i] = (float)(i % 3) - 1.0f, y[i] = 1.0f;
    double want = 0.0;
    for (int i = 0; i < 11; i++) want += (double)a[i] * b[i];
    CHECK_NEAR("vec_dot n=11 (tail)", vec_dot(a, b, 11), want, 0.0);
    CHECK_NEAR("vec_dot n=0", vec_dot(a, b, 0), 0.0, 0.0);
    vec_axpy(y, 2.0f, a, 11);
    CHECK_NEAR("vec_axpy y[0]", y[0], 3.0, 0.0);
    CHECK_NEAR("vec_axpy y[10] (tail)", y[10], 23.0, 0.0);
}

// ----------------------------------------------------------------------------
// threadpool

typedef struct {
    atomic_int *count;     // (n_tasks) how often each task ran
    atomic_int bad_worker;
    int n_workers;
    ThreadPool *pool;
    atomic_int *inner;     // nested runs: tasks run
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
            snprintf(name, sizeof name, "threadpool %d workers %d tasks: each task 20 times", sizes[a], n);
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
    CHECK("threadpool NULL pool runs inline",
          atomic_load(&count[0]) == 1 && atomic_load(&count[2]) == 1 && !atomic_load(&job.bad_worker));
    CHECK_INT("threadpool_size(NULL)", threadpool_size(NULL), 1);
    CHECK("threadpool_global exists", threadpool_size(threadpool_global()) >= 1);
}

int main(void) {
    test_vec();
    test_threadpool();
    ThreadPool *pool = threadpool_new(3);
    test_matmul_sizes(NULL);
    test_matmul_sizes(pool);
    test_transposed(NULL);
    test_transposed(pool);
    threadpool_free(pool);
    CHECK_DONE();
}
