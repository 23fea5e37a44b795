// matmul: path selection, blocking and threading around the per-ISA kernels of
// common/kernels_*.c; see matmul.h (the contract) and kernels.h (the inner loops).
#include "model/matmul.h"

#include <pthread.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "base/util.h"
#include "model/kernels.h"

// Scheduling (see the sections below):
#define TILED_MIN_T               16   // from this many rows on, the register-tiled schedule (see below)
#define TASKS_PER_WORKER          4
// Tiled: the last TAIL_UNITS_PER_WORKER x workers tasks of a pass are cut into pieces, so that
// a pass ends on small tasks (the workers finish together): into its strips where the unit
// has no more rows than columns (each piece re-reads the unit's rows of `in`, not its block
// of w), else by rows into up to TAIL_PIECES pieces.
#define TAIL_UNITS_PER_WORKER     1
#define TAIL_PIECES               4
// Streamed (decoding): fewer, larger tasks.  With 2 per worker every matrix whose K is
// 768 (6 segments) is read in whole rows, one contiguous stream per task; with 4 its
// columns were cut in halves (rows read in pieces 9 KiB apart): ~4% slower per token.
#define STREAMED_TASKS_PER_WORKER 2
#define UNEMBED_CHUNK             128   // vocabulary rows per unembedding task (rounded to the tile)

// ----------------------------------------------------------------------------
// kernel paths

static const MmKernels *const paths[] = {&mm_kernels_avx512, &mm_kernels_avx2, &mm_kernels_generic};
#define N_PATHS ((int)(sizeof paths / sizeof *paths))

static int path_supported(const MmKernels *k) {
    if (!k->tile) return 0;   // not compiled for this architecture
    if (k == &mm_kernels_generic) return 1;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (k == &mm_kernels_avx2) return avx2;
    if (k == &mm_kernels_avx512)
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
#endif
    return 0;
}

static const MmKernels *path_find(const char *name) {
    for (int i = 0; i < N_PATHS; i++)
        if (paths[i]->tile && name && !strcmp(paths[i]->name, name)) return paths[i];
    return NULL;
}

static _Atomic(const MmKernels *) active;
static pthread_once_t active_once = PTHREAD_ONCE_INIT;

static void active_init(void) {
    const MmKernels *best = &mm_kernels_generic;
    for (int i = N_PATHS - 1; i >= 0; i--)
        if (path_supported(paths[i])) best = paths[i];
    const char *env = getenv("AUTOINTERP_KERNEL");
    if (env && *env) {
        const MmKernels *k = path_find(env);
        if (k && path_supported(k)) best = k;
        else
            weprintf("AUTOINTERP_KERNEL=%s is %s; using %s", env,
                     k ? "not supported by this CPU" : "unknown (avx512, avx2, generic)",
                     best->name);
    }
    atomic_store(&active, best);
}

static const MmKernels *kern(void) {
    const MmKernels *k = atomic_load_explicit(&active, memory_order_acquire);
    if (k) return k;
    pthread_once(&active_once, active_init);
    return atomic_load(&active);
}

const char *const *matmul_kernel_paths(int *n) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    static const char *const names[] = {"avx512", "avx2", "generic", NULL};
#else
    static const char *const names[] = {"generic", NULL};
#endif
    if (n) *n = (int)(sizeof names / sizeof *names) - 1;
    return names;
}

int matmul_kernel_supported(const char *name) {
    const MmKernels *k = path_find(name);
    return k && path_supported(k);
}

int matmul_kernel_select(const char *name, char *err, size_t errlen) {
    const MmKernels *k = path_find(name);
    if (!k)
        return fail(err, errlen, "unknown kernel path '%s' (avx512, avx2, generic)",
                    name ? name : "");
    if (!path_supported(k))
        return fail(err, errlen, "kernel path %s is not supported by this CPU", name);
    kern();   // the environment is read once, before, so that it does not override this
    atomic_store(&active, k);
    return 0;
}

const char *matmul_kernel_name(void) { return kern()->name; }

// The kernels for 16-bit weights of type t on path k.  The AVX2 path converts f16 with
// F16C (vcvtph2ps), which __builtin_cpu_supports checks apart: without it (no CPU sold
// with AVX2 lacks it, but the check is cheap) the generic path's widening, exact and so
// giving the same values, and no in-register kernels.
typedef struct {
    void (*widen)(float *dst, const uint16_t *src, size_t n);
    void (*rows)(float *p, size_t ldp, const float *a, size_t lda, const uint16_t *w, size_t ldw,
                 int m, int n, int K, int acc);
    void (*dot_tile)(float *out, size_t ldo, const float *in, size_t ldi, const uint16_t *e,
                     size_t lde, int m, int n, int C, const char *pf, int pf_lines);
} LowpKernels;

// CPUID leaf 1, ECX bit 29 (clang 14's __builtin_cpu_supports does not know "f16c"),
// asked once: CPUID is slow, and in a virtual machine it traps to the hypervisor.
static pthread_once_t f16c_once = PTHREAD_ONCE_INIT;
static int f16c_present;

static void f16c_detect(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    unsigned a, b, c, d;
    f16c_present = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
#endif
}

static int has_f16c(void) {
    pthread_once(&f16c_once, f16c_detect);
    return f16c_present;
}

static LowpKernels lowp_kernels(const MmKernels *k, LowpType t) {
    if (k == &mm_kernels_avx2 && t == LOWP_F16 && !has_f16c())
        return (LowpKernels){mm_kernels_generic.widen16[t], NULL, NULL};
    return (LowpKernels){k->widen16[t], k->rows16[t], k->dot_tile16[t]};
}

// ----------------------------------------------------------------------------
// per-thread scratch (freed when the thread exits): slot SCRATCH_PARTIAL holds the
// partial sums of a streamed matmul (used by the thread that called matmul_forward, for
// the duration of the call), slot SCRATCH_ATTENTION the probabilities of attention_rows,
// slot SCRATCH_WEIGHTS a block of 16-bit weights widened to fp32 (within one task).

enum { SCRATCH_PARTIAL, SCRATCH_ATTENTION, SCRATCH_WEIGHTS, SCRATCH_SLOTS };

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

typedef struct {
    float *buf[SCRATCH_SLOTS];
    size_t cap[SCRATCH_SLOTS];   // floats
} Scratch;

static void scratch_free(void *p) {
    Scratch *s = p;
    if (!s) return;
    for (int i = 0; i < SCRATCH_SLOTS; i++) free(s->buf[i]);
    free(s);
}

static void scratch_key_make(void) {
    if (pthread_key_create(&scratch_key, scratch_free) != 0)
        eprintf(2, "matmul: cannot create a thread key");
}

// A 64-byte aligned buffer of at least n floats, owned by the calling thread.
static float *scratch_get(int slot, size_t n) {
    pthread_once(&scratch_once, scratch_key_make);
    Scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = xcalloc(1, sizeof *s);
        if (pthread_setspecific(scratch_key, s) != 0)
            eprintf(2, "matmul: cannot set thread scratch");
    }
    if (s->cap[slot] < n) {
        free(s->buf[slot]);
        size_t bytes;
        if (mul_size(n, sizeof(float), &bytes) || add_size(bytes, 63, &bytes))
            eprintf(2, "matmul: scratch too large");
        s->buf[slot] = aligned_alloc(64, bytes & ~(size_t)63);
        if (!s->buf[slot]) eprintf(2, "matmul: out of memory (%zu bytes of scratch)", bytes);
        s->cap[slot] = n;
    }
    return s->buf[slot];
}

// ----------------------------------------------------------------------------
// out = in · w + bias
//
// The order of operations is fixed by the segments of MM_KSEG rows of w (kernels.h):
// out = ((bias + s_0) + s_1) + ..., each segment's sum from 0 over its k ascending.  Two
// schedules compute exactly that:
//   streamed (T < TILED_MIN_T; decoding) — bandwidth-bound: a task is (segment, column
//       chunk) and reads its rows of w front to back (whole rows when the chunk is all
//       of N), the rows kernel keeping the sums in a partial buffer (n_seg, T, N + 16); the
//       task that finishes a chunk's last segment adds the partials up in segment order.
//   tiled (T >= TILED_MIN_T; prompts) — compute-bound: a task is (column chunk, row
//       chunk), the pass's last ones cut by rows into smaller pieces (tiled_bounds); per
//       segment, every register tile of its rows runs over the segment's rows of w and
//       adds its segment sum into out, while the next segment's rows are prefetched.  The
//       rows of w are read in place, or, on paths whose pack_min_tiles says so
//       (kernels.h), from contiguous panels filled once per segment (by the first row
//       tile where the path has tile_pack).

#define MAX_CHUNKS 16

typedef struct {
    const MmKernels *k;
    float *out;
    const float *in, *w, *bias;
    const uint16_t *w16;   // 16-bit weights (then w is NULL): widened block by block
    LowpKernels lk;        // their kernels (w16 only)
    int T, K, N;
    int gelu;          // apply GELU to the finished outputs
    int n_col_tasks;   // column chunks
    int chunk;         // streamed: columns per chunk (a multiple of 16)
    // tiled
    int head;       // columns [0, head) form a narrow first strip, so that the
                    // others start on 64-byte lines of w (0: w is aligned)
    int n_strips;   // strips: the head (if any), then nr columns each
    int strips_per_task;
    int rows_per_task;   // rows per row chunk (a multiple of mr)
    int n_main;          // tasks before the tail: one unit (column chunk, row chunk) each
    int tail_pieces;     // each later task: a piece of one of the last units (tiled_bounds)
    int piece_rows;      // rows per piece (a multiple of mr); 0: a piece is one strip
    // streamed
    int n_seg;                        // segments of MM_KSEG rows
    float *partial;                   // (n_seg, T, ldp)
    int ldp;                          // N + 16: rows 64 bytes apart modulo 4 KiB (no 4K aliasing)
    atomic_int pending[MAX_CHUNKS];   // segments not yet done, per chunk
} MatmulJob;

static void gelu_rows(const MatmulJob *job, int t0, int t1, int j0, int j1) {
    for (int t = t0; t < t1; t++)
        job->k->gelu(job->out + (size_t)t * job->N + j0, (size_t)(j1 - j0));
}

// out[t][j0..j1) = ((base + P_0) + P_1) + ... over the segments, base = bias or 0.
static void partials_add(const MatmulJob *job, int j0, int j1) {
    int T = job->T, N = job->N;
    for (int t = 0; t < T; t++)
        job->k->sum_parts(job->out + (size_t)t * N + j0, job->bias ? job->bias + j0 : NULL,
                          job->partial ? job->partial + (size_t)t * job->ldp + j0 : NULL,
                          (size_t)T * job->ldp, job->n_seg, j1 - j0);
    if (job->gelu) gelu_rows(job, 0, T, j0, j1);
}

// The rows kernel for rows [k0, k0 + kc) x columns [j0, j1) of the weights, given as w
// (the weight at row k0, column j0; row stride ldw), for every row of `in`: sums into the
// segment's partials p (acc: added to p's values).
static void rows_run(const MatmulJob *job, float *p, const float *w, size_t ldw, int k0, int kc,
                     int j0, int j1, int acc) {
    for (int t = 0; t < job->T; t += MM_ROWS_MAX) {
        int m = job->T - t < MM_ROWS_MAX ? job->T - t : MM_ROWS_MAX;
        job->k->rows(p + (size_t)t * job->ldp + j0, (size_t)job->ldp,
                     job->in + (size_t)t * job->K + k0, (size_t)job->K, w, ldw, m, j1 - j0, kc,
                     acc);
    }
}

// 16-bit weights on a path without their rows16 (generic): blocks of W16_ROWS x W16_COLS
// widened into L1-sized scratch, each run through the rows kernel, k ascending per
// column: the rows kernel keeps every sum in p between calls, so the sums are those of
// one call over all kc rows.  Rows outer, columns inner: w is read row after row, as the
// fp32 path reads it (column blocks outer cost 2x, the prefetchers losing the stream).
#define W16_ROWS 8
#define W16_COLS 512

static void rows_run_w16(const MatmulJob *job, float *p, int k0, int kc, int j0, int j1) {
    float *buf = scratch_get(SCRATCH_WEIGHTS, (size_t)W16_ROWS * W16_COLS);
    for (int kk = 0; kk < kc; kk += W16_ROWS) {
        int q = kc - kk < W16_ROWS ? kc - kk : W16_ROWS;
        for (int jc = j0; jc < j1; jc += W16_COLS) {
            int n = j1 - jc < W16_COLS ? j1 - jc : W16_COLS;
            for (int i = 0; i < q; i++)
                job->lk.widen(buf + (size_t)i * n, job->w16 + (size_t)(k0 + kk + i) * job->N + jc,
                              (size_t)n);
            rows_run(job, p, buf, (size_t)n, k0 + kk, q, jc, jc + n, kk > 0);
        }
    }
}

static void streamed_task(void *ctx, int task, int worker) {
    (void)worker;
    MatmulJob *job = ctx;
    int T = job->T, K = job->K, N = job->N;
    int c = task / job->n_seg, s = task % job->n_seg;
    int j0 = c * job->chunk, j1 = j0 + job->chunk < N ? j0 + job->chunk : N;
    int k0 = s * MM_KSEG, kc = K - k0 < MM_KSEG ? K - k0 : MM_KSEG;
    float *p = job->partial + (size_t)s * T * job->ldp;
    if (job->w16 && job->lk.rows) {
        for (int t = 0; t < T; t += MM_ROWS_MAX) {
            int m = T - t < MM_ROWS_MAX ? T - t : MM_ROWS_MAX;
            job->lk.rows(p + (size_t)t * job->ldp + j0, (size_t)job->ldp,
                         job->in + (size_t)t * K + k0, (size_t)K, job->w16 + (size_t)k0 * N + j0,
                         (size_t)N, m, j1 - j0, kc, 0);
        }
    } else if (job->w16) rows_run_w16(job, p, k0, kc, j0, j1);
    else rows_run(job, p, job->w + (size_t)k0 * N + j0, (size_t)N, k0, kc, j0, j1, 0);
    if (atomic_fetch_sub(&job->pending[c], 1) == 1) partials_add(job, j0, j1);
}

// Up to n rows from *next (below `end`) of w's columns [j0, j1) into the cache, ahead of
// their use.  Into L2 (locality 2: prefetcht1): with prefetcht0 a burst of misses to
// memory held the L1 miss buffers that the tile's reads of its strip from L2 need (w from
// memory, one thread, 36 rows: avx512 75 -> 89, avx2 60 -> 80 GFLOP/s; docs/bench.md).
static void rows_prefetch(const MatmulJob *job, int *next, int end, int n, int j0, int j1) {
    size_t size = job->w16 ? sizeof *job->w16 : sizeof *job->w;
    const char *w = job->w16 ? (const char *)job->w16 : (const char *)job->w;
    for (; n > 0 && *next < end; n--, (*next)++) {
        const char *row = w + ((size_t)*next * job->N + j0) * size;
        for (size_t off = 0; off < (size_t)(j1 - j0) * size; off += 64)
            __builtin_prefetch(row + off, 0, 2);
    }
}

// Columns [*j, *j + *n) of strip s (tiled schedule).
static void strip_bounds(const MatmulJob *job, int s, int *j, int *n) {
    int nr = job->k->nr;
    if (job->head && s == 0) *j = 0, *n = job->head;
    else {
        *j = job->head + (s - (job->head > 0)) * nr;
        *n = job->N - *j < nr ? job->N - *j : nr;
    }
}

// Rows [k0, k0 + kc) of w's strips [s0, s1) copied into panels: strip s's rows nr floats
// apart from panels + (s - s0) * MM_KSEG * nr (a narrow head strip leaves the tail of its
// rows unwritten: the tile reads only n < nr floats of them).  narrow_only: only the
// strips narrower than nr (tile_pack packs the others).
static void pack_panels(const MatmulJob *job, float *panels, int k0, int kc, int s0, int s1,
                        int narrow_only) {
    int nr = job->k->nr;
    for (int s = s0; s < s1; s++) {
        int j, n;
        strip_bounds(job, s, &j, &n);
        if (narrow_only && n == nr) continue;
        float *d = panels + (size_t)(s - s0) * MM_KSEG * nr;
        for (int i = 0; i < kc; i++)
            memcpy(d + (size_t)i * nr, job->w + (size_t)(k0 + i) * job->N + j,
                   (size_t)n * sizeof(float));
    }
}

// Strips [*s0, *s1) and rows [*t0, *t1) (possibly empty) of tiled task `task`: units
// (column chunk, row chunk) in order, the last ones cut into tail_pieces pieces: one strip
// each (piece_rows 0; a piece past a short unit's last strip is empty), or piece_rows rows
// each.  Pieces start on strips and on multiples of mr, so every register tile covers the
// same rows and columns however a pass is cut: only which worker computes it changes.
static void tiled_bounds(const MatmulJob *job, int task, int *s0, int *s1, int *t0, int *t1) {
    int unit = task, piece = -1;
    if (task >= job->n_main) {
        unit = job->n_main + (task - job->n_main) / job->tail_pieces;
        piece = (task - job->n_main) % job->tail_pieces;
    }
    *s0 = (unit % job->n_col_tasks) * job->strips_per_task;
    *s1 = *s0 + job->strips_per_task < job->n_strips ? *s0 + job->strips_per_task : job->n_strips;
    *t0 = (unit / job->n_col_tasks) * job->rows_per_task;
    *t1 = *t0 + job->rows_per_task < job->T ? *t0 + job->rows_per_task : job->T;
    if (piece >= 0 && !job->piece_rows) {
        if (*s0 + piece < *s1) *s0 += piece, *s1 = *s0 + 1;
        else *t1 = *t0;
    } else if (piece >= 0) {
        int p0 = *t0 + piece * job->piece_rows, p1 = p0 + job->piece_rows;
        if (p1 < *t1) *t1 = p1;
        *t0 = p0 < *t1 ? p0 : *t1;
    }
}

static void tiled_task(void *ctx, int task, int worker) {
    (void)worker;
    const MatmulJob *job = ctx;
    const MmKernels *k = job->k;
    int K = job->K, N = job->N, mr = k->mr;
    int s0, s1, t0, t1;
    tiled_bounds(job, task, &s0, &s1, &t0, &t1);
    if (t0 >= t1) return;
    int j0, j1, jl, nl;
    strip_bounds(job, s0, &j0, &nl);
    strip_bounds(job, s1 - 1, &jl, &nl);
    j1 = jl + nl;
    int n_strips = s1 - s0, n_tiles = (t1 - t0 + mr - 1) / mr;
    int pf_rows = (MM_KSEG + n_strips * n_tiles - 1) / (n_strips * n_tiles);   // per tile call
    // 16-bit weights: each segment's block of the chunk's columns is widened once into
    // scratch (rows ldb apart), where every row tile reads it.
    size_t ldb = job->w16 ? (size_t)(j1 - j0 + 15) / 16 * 16 : (size_t)N;
    float *wide = job->w16 ? scratch_get(SCRATCH_WEIGHTS, MM_KSEG * ldb) : NULL;
    // fp32 weights used by enough row tiles: each segment's block of the chunk is copied
    // strip by strip into kc x nr panels (see pack_min_tiles in kernels.h)
    float *panels = !wide && k->pack_min_tiles > 0 && n_tiles >= k->pack_min_tiles
                        ? scratch_get(SCRATCH_WEIGHTS, (size_t)MM_KSEG * k->nr * n_strips)
                        : NULL;
    // the first row tile packs the full strips' panels as it reads them (kernels.h)
    int fuse = panels && k->tile_pack;
    for (int k0 = 0; k0 < K; k0 += MM_KSEG) {
        int kc = K - k0 < MM_KSEG ? K - k0 : MM_KSEG;
        for (int i = 0; wide && i < kc; i++)
            job->lk.widen(wide + i * ldb, job->w16 + (size_t)(k0 + i) * N + j0, (size_t)(j1 - j0));
        if (panels) pack_panels(job, panels, k0, kc, s0, s1, fuse);
        // Row tile by row tile (its rows of `in` stay in L1 across the strips; the
        // segment's kc x chunk block of w comes from L2), while the next segment's rows
        // of w are fetched.
        int pf_next = k0 + kc, pf_end = pf_next + MM_KSEG < K ? pf_next + MM_KSEG : K;
        for (int t = t0; t < t1; t += mr) {
            int m = t1 - t < mr ? t1 - t : mr;
            for (int sj = s0; sj < s1; sj++) {
                int j, n;
                strip_bounds(job, sj, &j, &n);
                float *panel = panels ? panels + (size_t)(sj - s0) * MM_KSEG * k->nr : NULL;
                if (fuse && t == t0 && n == k->nr)
                    k->tile_pack(job->out + (size_t)t * N + j, (size_t)N,
                                 job->in + (size_t)t * K + k0, (size_t)K,
                                 job->w + (size_t)k0 * N + j, (size_t)N,
                                 job->bias ? job->bias + j : NULL, k0 > 0, m, kc, panel);
                else {
                    const float *b = panels ? panel
                                     : wide ? wide + (j - j0)
                                            : job->w + (size_t)k0 * N + j;
                    k->tile(job->out + (size_t)t * N + j, (size_t)N, job->in + (size_t)t * K + k0,
                            (size_t)K, b, panels ? (size_t)k->nr : ldb,
                            job->bias ? job->bias + j : NULL, k0 > 0, m, n, kc);
                }
                rows_prefetch(job, &pf_next, pf_end, pf_rows, j0, j1);
            }
            if (job->gelu && k0 + kc >= K) gelu_rows(job, t, t + m, j0, j1);
        }
    }
}

// w, or 16-bit weights w16 of type t (then w is NULL).
static void matmul_run(float *out, const float *in, const float *w, const uint16_t *w16, LowpType t,
                       const float *bias, int T, int K, int N, ThreadPool *pool, int gelu) {
    if (T <= 0 || N <= 0) return;
    const MmKernels *k = kern();
    int want = TASKS_PER_WORKER * threadpool_size(pool);
    MatmulJob job = {.k = k,
                     .out = out,
                     .in = in,
                     .w = w,
                     .w16 = w16,
                     .bias = bias,
                     .T = T,
                     .K = K,
                     .N = N,
                     .gelu = gelu};
    if (w16) job.lk = lowp_kernels(k, t);
    if (K <= 0) {   // no segments: out = base
        job.partial = NULL;
        partials_add(&job, 0, N);
        return;
    }
    if (T >= TILED_MIN_T) {
        // Strips of nr columns.  When w's rows all start at the same offset within a
        // cache line, wide matrices shift the strips by a narrow head strip so that the
        // loads of w are aligned (split loads cost ~5%; the extra partial strip costs
        // 1/strips, so only from 32 strips on).  The order of operations does not depend
        // on it.  Chunks of up to 4 strips; rows are split when the columns alone give
        // too few tasks.
        size_t mis = (uintptr_t)w % 64;   // (16-bit: w is NULL, the widened blocks are aligned)
        if (mis % sizeof(float) == 0 && (size_t)N * sizeof(float) % 64 == 0 && mis &&
            N >= 32 * k->nr)
            job.head = (int)((64 - mis) / sizeof(float));
        if (job.head >= N) job.head = 0;
        job.n_strips = (job.head > 0) + (N - job.head + k->nr - 1) / k->nr;
        int spt = 4;
        while (spt > 1 && (job.n_strips + spt - 1) / spt < want) spt /= 2;
        job.strips_per_task = spt;
        job.n_col_tasks = (job.n_strips + spt - 1) / spt;
        int row_chunks = (want + job.n_col_tasks - 1) / job.n_col_tasks;
        int rows = (T + row_chunks - 1) / row_chunks;
        job.rows_per_task = (rows + k->mr - 1) / k->mr * k->mr;
        int n_row_tasks = (T + job.rows_per_task - 1) / job.rows_per_task;
        int units = job.n_col_tasks * n_row_tasks, tiles = job.rows_per_task / k->mr;
        int tail = TAIL_UNITS_PER_WORKER * threadpool_size(pool);
        int pieces = tiles < TAIL_PIECES ? tiles : TAIL_PIECES;
        int piece_tiles = (tiles + pieces - 1) / pieces;
        job.piece_rows = piece_tiles * k->mr;
        job.tail_pieces = (tiles + piece_tiles - 1) / piece_tiles;
        if (spt > 1 && job.rows_per_task <= spt * k->nr) {
            // few rows (decoding a batch): by strips.  Cut by rows, each piece re-read the
            // unit's K x columns of w: at 36 rows, K = 3072, 2 threads, a tail unit cost
            // 1.44x a main one (docs/bench.md, "Skip-one generation's second thread")
            job.piece_rows = 0;
            job.tail_pieces = spt;
        }
        if (tail > units) tail = units;
        if (job.tail_pieces < 2) tail = 0;
        job.n_main = units - tail;
        threadpool_run(pool, job.n_main + tail * job.tail_pieces, tiled_task, &job);
        return;
    }
    // Streamed: whole rows of w per task unless there are too few segments for the
    // workers; then columns are cut into chunks of whole cache lines.
    want = STREAMED_TASKS_PER_WORKER * threadpool_size(pool);
    job.n_seg = (K + MM_KSEG - 1) / MM_KSEG;
    int chunks = (want + job.n_seg - 1) / job.n_seg;
    if (chunks > MAX_CHUNKS) chunks = MAX_CHUNKS;
    int chunk = (N + chunks - 1) / chunks;
    job.chunk = (chunk + 15) / 16 * 16;
    job.n_col_tasks = (N + job.chunk - 1) / job.chunk;
    for (int c = 0; c < job.n_col_tasks; c++) atomic_init(&job.pending[c], job.n_seg);
    // Partial rows N + 16 floats apart (64 bytes apart modulo 4 KiB: no 4K aliasing),
    // placed at w's offset within a cache line so that the rows kernel's aligned loads
    // of w meet aligned sums.
    job.ldp = N + 16;
    size_t mis = (uintptr_t)w % 64 % sizeof(float) == 0 ? (uintptr_t)w % 64 / sizeof(float) : 0;
    job.partial = scratch_get(SCRATCH_PARTIAL, (size_t)job.n_seg * T * job.ldp + 16) + mis;
    threadpool_run(pool, job.n_col_tasks * job.n_seg, streamed_task, &job);
}

void matmul_forward(float *out, const float *in, const float *w, const float *bias, int T, int K,
                    int N, ThreadPool *pool) {
    matmul_run(out, in, w, NULL, LOWP_BF16, bias, T, K, N, pool, 0);
}

void matmul_gelu_forward(float *out, const float *in, const float *w, const float *bias, int T,
                         int K, int N, ThreadPool *pool) {
    matmul_run(out, in, w, NULL, LOWP_BF16, bias, T, K, N, pool, 1);
}

void matmul_lowp_forward(float *out, const float *in, const uint16_t *w, LowpType t,
                         const float *bias, int T, int K, int N, ThreadPool *pool) {
    matmul_run(out, in, NULL, w, t, bias, T, K, N, pool, 0);
}

void matmul_lowp_gelu_forward(float *out, const float *in, const uint16_t *w, LowpType t,
                              const float *bias, int T, int K, int N, ThreadPool *pool) {
    matmul_run(out, in, NULL, w, t, bias, T, K, N, pool, 1);
}

// ----------------------------------------------------------------------------
// out = in · e^T (unembedding): tasks over chunks of vocabulary rows; within a chunk, for
// each tile of dot_cols e rows (kept in L1), all rows of `in` in tiles of dot_rows.  By
// the number of row blocks B (kernels.h's dot_spread / dot_stage, measured per path):
// - B <= dot_spread (dot_spread16 for 16-bit e; reading e is the cost): a chunk is
//   UNEMBED_GAP x dot_cols entries and its tile j takes entries j, j + gap, j + 2 gap,
//   ..., scattered to their places afterwards: dot_cols streams far apart,
//   which the hardware prefetcher follows at the full read bandwidth (a tile of adjacent
//   rows, 3 KiB apart, was read at about half of it on Zen 4); no software prefetch;
// - B >= dot_stage: each tile's rows of e are first copied (16-bit: widened) into
//   64-byte-aligned scratch, so that the B row blocks load them whole (the checkpoint's
//   rows sit at 16 mod 64: every other 32-byte load splits a line), with the rows of `in`
//   aligned alike;
// - else (and 16-bit e without staging) the rows of e in place, the next tile prefetched
//   over the row blocks; with dot_lin (fp32 e off a line) the full row blocks after a
//   tile's first from a copy of `in` at offset 0 (the AVX-512 tile then loads e's rows,
//   in L1 by then, as they lie: one step fewer than from the line boundaries; 2-3 % at
//   64-400 rows on Zen 4, 2026-12-05); a short last block stays at e's offset (fewer
//   FMAs to hide the split loads of e behind: slower).
// Each output is the kernel's dot of one row and one entry whichever way (kernels.h).

// Entries between a spread tile's columns: a power of two measured best (22 or 33 were
// 10-20 % slower at 3-8 rows).
#define UNEMBED_GAP 32

typedef struct {
    const MmKernels *k;
    float *out;
    const float *in, *e;
    int T, C, V, chunk;
    int spread, stage;     // the schedule (see above)
    const float *in_lin;   // the rows for the row blocks after a tile's first (NULL: in)
    const uint16_t *e16;   // 16-bit e (then e is NULL)
    LowpKernels lk;        // its kernels (e16 only)
} UnembedJob;

// Row blocks of `in` for T rows on path k.
static int unembed_blocks(const MmKernels *k, int T) { return (T + k->dot_rows - 1) / k->dot_rows; }

// The job of T rows on path k (e and e16 left for the caller): its schedule and chunk of
// entries; lowp: e has 16-bit entries.
static UnembedJob unembed_job(const MmKernels *k, float *out, const float *in, int T, int C, int V,
                              int lowp) {
    int blocks = unembed_blocks(k, T);
    UnembedJob job = {.k = k, .out = out, .in = in, .T = T, .C = C, .V = V};
    job.spread = blocks <= (lowp ? k->dot_spread16 : k->dot_spread);
    job.stage = !job.spread && k->dot_stage > 0 && blocks >= k->dot_stage;
    job.chunk = job.spread ? UNEMBED_GAP * k->dot_cols
                           : (UNEMBED_CHUNK + k->dot_cols - 1) / k->dot_cols * k->dot_cols;
    return job;
}

// Entry rows [v, v + n * gap) step gap of e (16-bit: widened) into dst, rows lds apart.
static void unembed_stage_rows(const UnembedJob *job, float *dst, size_t lds, int v, int n,
                               int gap) {
    size_t C = (size_t)job->C;
    for (int c = 0; c < n; c++) {
        size_t src = (size_t)(v + c * gap) * C;
        if (job->e16) job->lk.widen(dst + c * lds, job->e16 + src, C);
        else memcpy(dst + c * lds, job->e + src, C * sizeof(float));
    }
}

static void unembed_task(void *ctx, int task, int worker) {
    (void)worker;
    const UnembedJob *job = ctx;
    const MmKernels *k = job->k;
    int C = job->C, V = job->V, T = job->T, dc = k->dot_cols;
    int v0 = task * job->chunk, v1 = v0 + job->chunk < V ? v0 + job->chunk : V;
    int len = v1 - v0, gap = job->spread ? (len + dc - 1) / dc : 1;
    size_t size = job->e16 ? sizeof *job->e16 : sizeof *job->e;
    const char *e = job->e16 ? (const char *)job->e16 : (const char *)job->e;
    // 16-bit e unstaged: read by the path's dot_tile16, else each tile widened into scratch
    int in_regs = job->e16 && job->lk.dot_tile && !job->stage;
    int staged = job->stage || (job->e16 && !in_regs);
    size_t lds = job->stage ? ((size_t)C + 15) / 16 * 16 : (size_t)C;   // staged rows' stride
    float *wide = staged ? scratch_get(SCRATCH_WEIGHTS, (size_t)dc * lds) : NULL;
    // bytes prefetched per call (by the kernel, spread over its loop); none with a single
    // row block or spread tiles (the hardware prefetcher follows the rows of e then)
    int n_tblocks = unembed_blocks(k, T);
    size_t tile_bytes = (size_t)dc * C * size;
    size_t pf_step = n_tblocks > 1 && !job->spread ? (tile_bytes / n_tblocks + 63) / 64 * 64 : 0;
    size_t end = (size_t)v1 * C * size;   // offsets in bytes from e (no pointer past the chunk)
    float spread_out[MM_DOT_TILE_MAX];    // a spread tile's outputs, then scattered
    for (int j = 0; j < (job->spread ? gap : len); j += job->spread ? 1 : dc) {
        int v = v0 + j;   // the tile's first entry; the others gap apart
        int n = job->spread ? (len - j + gap - 1) / gap : len - j;
        if (n > dc) n = dc;
        size_t pf = (size_t)(v + n) * C * size;
        if (wide) unembed_stage_rows(job, wide, lds, v, n, gap);
        const float *ev = wide ? wide : job->e16 ? NULL : job->e + (size_t)v * C;
        size_t lde = wide ? lds : (size_t)gap * C;
        for (int t = 0; t < T; t += k->dot_rows) {
            int m = T - t < k->dot_rows ? T - t : k->dot_rows;
            size_t pf_bytes = pf >= end ? 0 : end - pf < pf_step ? end - pf : pf_step;
            const char *pf_at = pf_bytes ? e + pf : e;
            int pf_lines = (int)((pf_bytes + 63) / 64);
            float *o = job->spread ? spread_out : job->out + (size_t)t * V + v;
            size_t ldo = job->spread ? (size_t)dc : (size_t)V;
            // (the first block, and a short one, from the rows at e's offset: see dot_lin)
            const float *x =
                (t > 0 && m == k->dot_rows && job->in_lin ? job->in_lin : job->in) + (size_t)t * C;
            if (in_regs)
                job->lk.dot_tile(o, ldo, x, (size_t)C, job->e16 + (size_t)v * C, lde, m, n, C,
                                 pf_at, pf_lines);
            else k->dot_tile(o, ldo, x, (size_t)C, ev, lde, m, n, C, pf_at, pf_lines);
            if (job->spread)
                for (int r = 0; r < m; r++)
                    for (int c = 0; c < n; c++)
                        job->out[(size_t)(t + r) * V + v + (size_t)c * gap] =
                            spread_out[r * dc + c];
            pf += pf_step;
        }
    }
}

// A copy of the rows of `in` (T, C) starting at byte offset mis within a cache line, when
// `in`'s rows do not: at e's own offset for the AVX-512 kernel, which then loads both from
// line boundaries (see dot_tile in kernels_avx512.c; a mmapped checkpoint puts e's rows at
// 16 mod 64), at 0 for staged tiles.  NULL when no copy is needed (or the rows are not
// a whole number of lines, so that no offset holds for all of them); free with free().
static float *rows_at_offset(const float *in, size_t mis, int T, int C) {
    size_t row = (size_t)C * sizeof(float), bytes;
    if (mis % sizeof(float) != 0 || row % 64 != 0 || (uintptr_t)in % 64 == mis) return NULL;
    if (mul_size(row, (size_t)T, &bytes) || add_size(bytes, 64, &bytes))
        eprintf(2, "matmul: rows too large");
    char *buf = aligned_alloc(64, bytes);
    if (!buf) eprintf(2, "matmul: out of memory (%zu bytes)", bytes);
    memcpy(buf + mis, in, bytes - 64);
    return (float *)(void *)buf;
}

// Runs job over its chunks, `in` first copied to offset mis when it is elsewhere (and to
// 0 for dot_lin's row blocks).
static void unembed_run(UnembedJob *job, size_t mis, ThreadPool *pool) {
    const float *in = job->in;
    float *copy = rows_at_offset(in, mis, job->T, job->C), *copy0 = NULL;
    if (copy) job->in = (const float *)(const void *)((const char *)copy + mis);
    if (job->k->dot_lin && !job->spread && !job->stage && !job->e16 && mis) {
        copy0 = rows_at_offset(in, 0, job->T, job->C);
        job->in_lin = copy0 ? copy0 : (uintptr_t)in % 64 == 0 ? in : NULL;
    }
    threadpool_run(pool, (job->V + job->chunk - 1) / job->chunk, unembed_task, job);
    free(copy);
    free(copy0);
}

void matmul_transposed_forward(float *out, const float *in, const float *e, int T, int C, int V,
                               ThreadPool *pool) {
    if (T <= 0 || V <= 0) return;
    UnembedJob job = unembed_job(kern(), out, in, T, C, V, 0);
    job.e = e;
    unembed_run(&job, job.stage ? 0 : (uintptr_t)e % 64, pool);
}

void matmul_transposed_lowp_forward(float *out, const float *in, const uint16_t *e, LowpType t,
                                    int T, int C, int V, ThreadPool *pool) {
    if (T <= 0 || V <= 0) return;
    const MmKernels *k = kern();
    UnembedJob job = unembed_job(k, out, in, T, C, V, 1);
    job.e16 = e;
    job.lk = lowp_kernels(k, t);
    if (job.stage) unembed_run(&job, 0, pool);
    else threadpool_run(pool, (V + job.chunk - 1) / job.chunk, unembed_task, &job);
}

// ----------------------------------------------------------------------------
// 16-bit conversions

void lowp_round(LowpType t, uint16_t *dst, const float *src, size_t n) {
    // (the roundings safetensors.c writes checkpoints with)
    for (size_t i = 0; i < n; i++)
        dst[i] = t == LOWP_F16 ? f32_to_f16(src[i]) : f32_to_bf16(src[i]);
}

void lowp_widen(LowpType t, float *dst, const uint16_t *src, size_t n) {
    lowp_kernels(kern(), t).widen(dst, src, n);
}

// ----------------------------------------------------------------------------
// vector helpers

float vec_dot(const float *a, const float *b, int n) { return kern()->dot(a, b, n); }

void vec_axpy(float *y, float alpha, const float *x, int n) { kern()->axpy(y, alpha, x, n); }

void vec_gelu(float *x, size_t n) { kern()->gelu(x, n); }

void vec_layernorm(float *out, const float *x, const float *w, const float *b, int C, float eps) {
    kern()->layernorm(out, x, w, b, C, eps);
}

void attention_head(float *out, const float *q, const float *k, const float *v, size_t stride,
                    int n_keys, int hs, float scale, float *att) {
    kern()->attn_head(out, q, k, v, stride, n_keys, hs, scale, att);
}

void attention_rows(float *out, size_t ldo, const float *q, size_t ldq, int n_rows, const float *k,
                    const float *v, size_t stride, int n_keys0, int hs, float scale) {
    if (n_rows <= 0) return;
    const MmKernels *kn = kern();
    size_t lda = ((size_t)n_keys0 + (size_t)n_rows + 15) / 16 * 16;   // >= the longest row's keys
    float *att = scratch_get(SCRATCH_ATTENTION, (size_t)kn->att_rows * lda);
    kn->attn_rows(out, ldo, q, ldq, n_rows, k, v, stride, n_keys0, hs, scale, att, lda);
}
