// matmul: fp32 kernels; see matmul.h.  Written so that gcc -O2 vectorises the inner
// loops: restrict pointers, contiguous inner loops with compile-time trip counts.
#include "matmul.h"

#include <stddef.h>

#define MM_COLS 64        // output columns per tile (a multiple of MM_LANES)
#define MM_ROWS 4         // rows per register tile
#define MM_TASK_ROWS 32   // rows per task (a multiple of MM_ROWS)
#define MM_VCHUNK 256     // vocabulary rows per unembedding task
#define MM_TROWS 8        // rows per unembedding block (reuses an e row from L1)

// ----------------------------------------------------------------------------
// vector helpers

static inline float dot_lanes(const float *restrict a, const float *restrict b, int n) {
    float s[MM_LANES] = {0};
    int i = 0;
    for (; i + MM_LANES <= n; i += MM_LANES)
        for (int l = 0; l < MM_LANES; l++) s[l] += a[i + l] * b[i + l];
    for (int l = 0; i < n; i++, l++) s[l] += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

float vec_dot(const float *a, const float *b, int n) { return dot_lanes(a, b, n); }

void vec_axpy(float *restrict y, float alpha, const float *restrict x, int n) {
    int i = 0;
    for (; i + MM_LANES <= n; i += MM_LANES)
        for (int l = 0; l < MM_LANES; l++) y[i + l] += alpha * x[i + l];
    for (; i < n; i++) y[i] += alpha * x[i];
}

// ----------------------------------------------------------------------------
// out = in · w + bias.  Three tile kernels with the same per-element arithmetic:
// acc = bias (or 0), then acc += a * w for k ascending.

// MM_ROWS rows × MM_COLS columns starting at column j0.
static void tile_rows4(float *restrict out, const float *restrict in, const float *restrict w,
                       const float *restrict bias, int K, int N, int j0) {
    float acc[MM_ROWS][MM_COLS];
    for (int r = 0; r < MM_ROWS; r++)
        for (int j = 0; j < MM_COLS; j++) acc[r][j] = bias ? bias[j0 + j] : 0.0f;
    const float *in0 = in, *in1 = in + K, *in2 = in + 2 * (size_t)K, *in3 = in + 3 * (size_t)K;
    for (int k = 0; k < K; k++) {
        const float *restrict wk = w + (size_t)k * N + j0;
        float a0 = in0[k], a1 = in1[k], a2 = in2[k], a3 = in3[k];
        for (int j = 0; j < MM_COLS; j++) {
            float wj = wk[j];
            acc[0][j] += a0 * wj;
            acc[1][j] += a1 * wj;
            acc[2][j] += a2 * wj;
            acc[3][j] += a3 * wj;
        }
    }
    for (int r = 0; r < MM_ROWS; r++)
        for (int j = 0; j < MM_COLS; j++) out[(size_t)r * N + j0 + j] = acc[r][j];
}

// One row × MM_COLS columns (the decoding path, T == 1).
static void tile_row1(float *restrict out, const float *restrict in, const float *restrict w,
                      const float *restrict bias, int K, int N, int j0) {
    float acc[MM_COLS];
    for (int j = 0; j < MM_COLS; j++) acc[j] = bias ? bias[j0 + j] : 0.0f;
    for (int k = 0; k < K; k++) {
        const float *restrict wk = w + (size_t)k * N + j0;
        float a = in[k];
        for (int j = 0; j < MM_COLS; j++) acc[j] += a * wk[j];
    }
    for (int j = 0; j < MM_COLS; j++) out[j0 + j] = acc[j];
}

// One row × `cols` (< MM_COLS) columns: the right edge when N % MM_COLS != 0.
static void tile_row_edge(float *restrict out, const float *restrict in, const float *restrict w,
                          const float *restrict bias, int K, int N, int j0, int cols) {
    float acc[MM_COLS];
    for (int j = 0; j < cols; j++) acc[j] = bias ? bias[j0 + j] : 0.0f;
    for (int k = 0; k < K; k++) {
        const float *restrict wk = w + (size_t)k * N + j0;
        float a = in[k];
        for (int j = 0; j < cols; j++) acc[j] += a * wk[j];
    }
    for (int j = 0; j < cols; j++) out[j0 + j] = acc[j];
}

typedef struct {
    float *out;
    const float *in, *w, *bias;
    int T, K, N;
    int n_row_tasks;   // tasks along T; task = col_block * n_row_tasks + row_block
} MatmulJob;

static void matmul_task(void *ctx, int task, int worker) {
    (void)worker;
    const MatmulJob *job = ctx;
    int K = job->K, N = job->N;
    int j0 = (task / job->n_row_tasks) * MM_COLS;
    int t0 = (task % job->n_row_tasks) * MM_TASK_ROWS;
    int t1 = t0 + MM_TASK_ROWS < job->T ? t0 + MM_TASK_ROWS : job->T;
    int cols = N - j0 < MM_COLS ? N - j0 : MM_COLS;
    int t = t0;
    if (cols == MM_COLS)
        for (; t + MM_ROWS <= t1; t += MM_ROWS)
            tile_rows4(job->out + (size_t)t * N, job->in + (size_t)t * K, job->w, job->bias, K, N, j0);
    for (; t < t1; t++) {
        float *out = job->out + (size_t)t * N;
        const float *in = job->in + (size_t)t * K;
        if (cols == MM_COLS) tile_row1(out, in, job->w, job->bias, K, N, j0);
        else tile_row_edge(out, in, job->w, job->bias, K, N, j0, cols);
    }
}

void matmul_forward(float *out, const float *in, const float *w, const float *bias,
                    int T, int K, int N, ThreadPool *pool) {
    if (T <= 0 || N <= 0) return;
    MatmulJob job = {out, in, w, bias, T, K, N, (T + MM_TASK_ROWS - 1) / MM_TASK_ROWS};
    int n_col_tasks = (N + MM_COLS - 1) / MM_COLS;
    threadpool_run(pool, job.n_row_tasks * n_col_tasks, matmul_task, &job);
}

// ----------------------------------------------------------------------------
// out = in · e^T (unembedding): tasks over chunks of vocabulary rows; within a chunk,
// blocks of MM_TROWS input rows so that each e row is reused from L1.

typedef struct {
    float *out;
    const float *in, *e;
    int T, C, V;
} UnembedJob;

static void unembed_task(void *ctx, int task, int worker) {
    (void)worker;
    const UnembedJob *job = ctx;
    int C = job->C, V = job->V;
    int v0 = task * MM_VCHUNK;
    int v1 = v0 + MM_VCHUNK < V ? v0 + MM_VCHUNK : V;
    for (int t0 = 0; t0 < job->T; t0 += MM_TROWS) {
        int t1 = t0 + MM_TROWS < job->T ? t0 + MM_TROWS : job->T;
        for (int v = v0; v < v1; v++) {
            const float *ev = job->e + (size_t)v * C;
            for (int t = t0; t < t1; t++)
                job->out[(size_t)t * V + v] = dot_lanes(job->in + (size_t)t * C, ev, C);
        }
    }
}

void matmul_transposed_forward(float *out, const float *in, const float *e,
                               int T, int C, int V, ThreadPool *pool) {
    if (T <= 0 || V <= 0) return;
    UnembedJob job = {out, in, e, T, C, V};
    threadpool_run(pool, (V + MM_VCHUNK - 1) / MM_VCHUNK, unembed_task, &job);
}
