// machine: peak FLOP/s and memory bandwidth of this CPU; see machine.h.
#include "machine.h"

#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

#define CHAINS 12   // independent accumulators per thread (> FMA latency x FMA pipes)

// ----------------------------------------------------------------------------
// CPU description

static void cpuinfo_field(const char *key, char *out, size_t outlen) {
    snprintf(out, outlen, "?");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0) continue;
        const char *colon = strchr(line, ':');
        if (!colon) continue;
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        snprintf(out, outlen, "%s", colon);
        out[strcspn(out, "\n")] = '\0';
        break;
    }
    fclose(f);
}

void machine_info(MachineInfo *mi) {
    memset(mi, 0, sizeof *mi);
    cpuinfo_field("model name", mi->model_name, sizeof mi->model_name);
    char mhz[64];
    cpuinfo_field("cpu MHz", mhz, sizeof mhz);
    mi->mhz = atof(mhz);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    mi->n_cpus = n > 0 ? (int)n : 1;
    __builtin_cpu_init();
    mi->has_fma = __builtin_cpu_supports("fma");
    mi->has_avx2 = __builtin_cpu_supports("avx2");
    mi->has_avx512f = __builtin_cpu_supports("avx512f");
    mi->load1 = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &mi->load1) != 1) mi->load1 = -1;
        fclose(f);
    }
}

double machine_busy_seconds(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[8] = {0};   // user nice system idle iowait irq softirq steal
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (n != 8 || hz <= 0) return -1;
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)hz;
}

int isa_supported(Isa isa) {
    __builtin_cpu_init();
    switch (isa) {
    case ISA_SSE2: return 1;
    case ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case ISA_AVX512: return __builtin_cpu_supports("avx512f");
    default: return 0;
    }
}

const char *isa_name(Isa isa) {
    static const char *const names[ISA_COUNT] = {"SSE2 mul+add", "AVX2 FMA", "AVX-512 FMA"};
    return isa >= 0 && isa < ISA_COUNT ? names[isa] : "?";
}

// ----------------------------------------------------------------------------
// threads released together from a barrier; the wall time of the slowest

typedef void (*WorkFn)(void *arg, int thread, int n_threads);

typedef struct {
    WorkFn fn;
    void *arg;
    int thread, n_threads;
    pthread_barrier_t *start;
} Worker;

static void *worker_main(void *p) {
    Worker *w = p;
    pthread_barrier_wait(w->start);
    w->fn(w->arg, w->thread, w->n_threads);
    return NULL;
}

// Seconds from the release of n_threads workers to the end of the last one.
static double run_threads(WorkFn fn, void *arg, int n_threads) {
    pthread_t *tid = xmalloc(sizeof *tid * (size_t)n_threads);
    Worker *w = xmalloc(sizeof *w * (size_t)n_threads);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n_threads + 1);
    for (int i = 0; i < n_threads; i++) {
        w[i] = (Worker){fn, arg, i, n_threads, &start};
        if (pthread_create(&tid[i], NULL, worker_main, &w[i]) != 0)
            eprintf(2, "cannot create a thread");
    }
    pthread_barrier_wait(&start);
    double t0 = now_seconds();
    for (int i = 0; i < n_threads; i++) pthread_join(tid[i], NULL);
    double t = now_seconds() - t0;
    pthread_barrier_destroy(&start);
    free(w);
    free(tid);
    return t;
}

// ----------------------------------------------------------------------------
// peak FLOP/s: CHAINS independent multiply-add chains per thread

#define REP12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

__attribute__((target("avx512f"))) static float chains_avx512(long iters) {
    __m512 a = _mm512_set1_ps(0.99999994f), b = _mm512_set1_ps(1e-7f);
#define INIT(i) __m512 x##i = _mm512_set1_ps(1.0f + (float)(i));
#define STEP(i) x##i = _mm512_fmadd_ps(x##i, a, b);
#define SUM(i)  s = _mm512_add_ps(s, x##i);
    REP12(INIT)
    for (long it = 0; it < iters; it++) { REP12(STEP) }
    __m512 s = _mm512_setzero_ps();
    REP12(SUM)
    return _mm512_reduce_add_ps(s);
#undef INIT
#undef STEP
#undef SUM
}

__attribute__((target("avx2,fma"))) static float chains_avx2(long iters) {
    __m256 a = _mm256_set1_ps(0.99999994f), b = _mm256_set1_ps(1e-7f);
#define INIT(i) __m256 x##i = _mm256_set1_ps(1.0f + (float)(i));
#define STEP(i) x##i = _mm256_fmadd_ps(x##i, a, b);
#define SUM(i)  s = _mm256_add_ps(s, x##i);
    REP12(INIT)
    for (long it = 0; it < iters; it++) { REP12(STEP) }
    __m256 s = _mm256_setzero_ps();
    REP12(SUM)
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[7];
#undef INIT
#undef STEP
#undef SUM
}

static float chains_sse2(long iters) {
    __m128 a = _mm_set1_ps(0.99999994f), b = _mm_set1_ps(1e-7f);
#define INIT(i) __m128 x##i = _mm_set1_ps(1.0f + (float)(i));
#define STEP(i) x##i = _mm_add_ps(_mm_mul_ps(x##i, a), b);
#define SUM(i)  s = _mm_add_ps(s, x##i);
    REP12(INIT)
    for (long it = 0; it < iters; it++) { REP12(STEP) }
    __m128 s = _mm_setzero_ps();
    REP12(SUM)
    float out[4];
    _mm_storeu_ps(out, s);
    return out[0] + out[3];
#undef INIT
#undef STEP
#undef SUM
}

typedef struct {
    Isa isa;
    long iters;
    volatile float sink[64];   // one result per thread (threads <= 64), kept alive
} PeakJob;

static void peak_work(void *arg, int thread, int n_threads) {
    (void)n_threads;
    PeakJob *job = arg;
    float r = job->isa == ISA_AVX512 ? chains_avx512(job->iters)
              : job->isa == ISA_AVX2 ? chains_avx2(job->iters)
                                     : chains_sse2(job->iters);
    if (thread < 64) job->sink[thread] = r;
}

// FLOPs of one iteration of one thread: CHAINS chains x lanes x 2 (multiply and add).
static double flops_per_iter(Isa isa) {
    static const int lanes[ISA_COUNT] = {4, 8, 16};
    return (double)CHAINS * lanes[isa] * 2.0;
}

double peak_flops(Isa isa, int n_threads, double seconds, int reps) {
    if (!isa_supported(isa) || n_threads < 1 || n_threads > 64) return 0;
    PeakJob job = {.isa = isa, .iters = 1L << 16};
    double t = run_threads(peak_work, &job, 1);   // calibrate on one thread
    while (t < 0.02) {
        job.iters *= 4;
        t = run_threads(peak_work, &job, 1);
    }
    job.iters = (long)((double)job.iters * seconds / t) + 1;
    double best = 0;
    for (int r = 0; r < reps; r++) {
        t = run_threads(peak_work, &job, n_threads);
        double f = flops_per_iter(isa) * (double)job.iters * n_threads / t;
        if (f > best) best = f;
    }
    return best;
}

// ----------------------------------------------------------------------------
// memory bandwidth

#define PASSES 3   // passes over the buffers per timed run

typedef struct {
    const char *src;
    char *dst;
    size_t bytes;
    int streams;       // read: streams per thread (see sum_avx512)
    double sink[64];   // read: one result per thread (threads <= 64)
} BwJob;

static void slice(size_t bytes, int thread, int n_threads, size_t *off, size_t *len) {
    size_t per = bytes / (size_t)n_threads / 64 * 64;
    *off = per * (size_t)thread;
    *len = thread == n_threads - 1 ? bytes - *off : per;
}

static void copy_work(void *arg, int thread, int n_threads) {
    BwJob *job = arg;
    size_t off, len;
    slice(job->bytes, thread, n_threads, &off, &len);
    for (int p = 0; p < PASSES; p++) memcpy(job->dst + off, job->src + off, len);
}

// Sums of S streams read side by side: x cut into S parts, 64 bytes of each in turn (one
// accumulator per stream).  Several streams per thread keep more cache misses in flight
// than one -- decoding reads 8 rows of a weight matrix at once -- so the probe takes the
// best of 1, 4 and 8 streams: a read ceiling must not be below what the engine reaches.
#define MAX_STREAMS 8

__attribute__((target("avx512f"))) static double sum_avx512(const float *x, size_t n, int S) {
    __m512 s[MAX_STREAMS];
    for (int k = 0; k < S; k++) s[k] = _mm512_setzero_ps();
    size_t part = n / (size_t)S / 16 * 16;
    for (size_t i = 0; i < part; i += 16)
        for (int k = 0; k < S; k++)
            s[k] = _mm512_add_ps(s[k], _mm512_loadu_ps(x + (size_t)k * part + i));
    double sum = 0;
    for (int k = 0; k < S; k++) sum += _mm512_reduce_add_ps(s[k]);
    for (size_t i = part * (size_t)S; i < n; i++) sum += x[i];
    return sum;
}

__attribute__((target("avx2"))) static double sum_avx2(const float *x, size_t n, int S) {
    __m256 s[MAX_STREAMS][2];
    for (int k = 0; k < S; k++) s[k][0] = s[k][1] = _mm256_setzero_ps();
    size_t part = n / (size_t)S / 16 * 16;
    for (size_t i = 0; i < part; i += 16)
        for (int k = 0; k < S; k++) {
            s[k][0] = _mm256_add_ps(s[k][0], _mm256_loadu_ps(x + (size_t)k * part + i));
            s[k][1] = _mm256_add_ps(s[k][1], _mm256_loadu_ps(x + (size_t)k * part + i + 8));
        }
    double sum = 0;
    for (int k = 0; k < S; k++) {
        float out[8];
        _mm256_storeu_ps(out, _mm256_add_ps(s[k][0], s[k][1]));
        for (int l = 0; l < 8; l++) sum += out[l];
    }
    for (size_t i = part * (size_t)S; i < n; i++) sum += x[i];
    return sum;
}

static double sum_sse2(const float *x, size_t n, int S) {
    __m128 s[MAX_STREAMS][4];
    for (int k = 0; k < S; k++) s[k][0] = s[k][1] = s[k][2] = s[k][3] = _mm_setzero_ps();
    size_t part = n / (size_t)S / 16 * 16;
    for (size_t i = 0; i < part; i += 16)
        for (int k = 0; k < S; k++)
            for (int q = 0; q < 4; q++)
                s[k][q] = _mm_add_ps(s[k][q], _mm_loadu_ps(x + (size_t)k * part + i + 4 * q));
    double sum = 0;
    for (int k = 0; k < S; k++) {
        float out[4];
        _mm_storeu_ps(out, _mm_add_ps(_mm_add_ps(s[k][0], s[k][1]), _mm_add_ps(s[k][2], s[k][3])));
        sum += (double)out[0] + out[1] + out[2] + out[3];
    }
    for (size_t i = part * (size_t)S; i < n; i++) sum += x[i];
    return sum;
}

static void read_work(void *arg, int thread, int n_threads) {
    BwJob *job = arg;
    size_t off, len;
    slice(job->bytes, thread, n_threads, &off, &len);
    const float *x = (const float *)(job->src + off);
    size_t n = len / sizeof(float);
    double s = 0;
    for (int p = 0; p < PASSES; p++)
        s += isa_supported(ISA_AVX512) ? sum_avx512(x, n, job->streams)
             : isa_supported(ISA_AVX2) ? sum_avx2(x, n, job->streams)
                                       : sum_sse2(x, n, job->streams);
    if (thread < 64) job->sink[thread] = s;
}

// A buffer of `bytes` on transparent huge pages where the kernel grants them (huge_alloc,
// util.h), as the engine's weights: a probe paying a TLB walk every 4 KiB would
// under-read the memory.
static char *probe_buffer(size_t bytes) {
    char *p = huge_alloc(bytes);
    if (!p) eprintf(1, "out of memory (%zu bytes for the bandwidth probe)", bytes);
    return p;
}

struct BwProbe {
    BwJob job;
    char *src, *dst;
    int copy;
};

BwProbe *bw_probe_new(size_t bytes, int copy) {
    BwProbe *p = xcalloc(1, sizeof *p);
    bytes = (bytes + HUGE_PAGE_BYTES - 1) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
    p->copy = copy;
    p->src = probe_buffer(bytes);
    p->dst = copy ? probe_buffer(bytes) : NULL;
    for (size_t i = 0; i < bytes / sizeof(float); i++) ((float *)p->src)[i] = (float)(i & 1023);
    if (p->dst) memset(p->dst, 0, bytes);
    p->job.bytes = bytes;
    p->job.src = p->src;
    p->job.dst = p->dst;
    return p;
}

double bw_probe_run(BwProbe *p, int n_threads, int streams) {
    if (n_threads < 1 || n_threads > 64 || streams < 1 || streams > MAX_STREAMS) return 0;
    p->job.streams = streams;
    double t = run_threads(p->copy ? copy_work : read_work, &p->job, n_threads);
    return (double)p->job.bytes * PASSES * (p->copy ? 2 : 1) / t;
}

void bw_probe_free(BwProbe *p) {
    if (!p) return;
    free(p->src);
    free(p->dst);
    free(p);
}

// Best of `reps` runs (and, reading, of 1, 4 and 8 streams per thread) in bytes/s.
static double bandwidth(size_t bytes, int n_threads, int reps, int copy) {
    if (n_threads < 1 || n_threads > 64) return 0;
    BwProbe *p = bw_probe_new(bytes, copy);
    static const int streams[] = {1, 4, MAX_STREAMS};
    double best = 0;
    for (int si = 0; si < (copy ? 1 : 3); si++)
        for (int r = 0; r < reps; r++) best = fmax(best, bw_probe_run(p, n_threads, streams[si]));
    bw_probe_free(p);
    return best;
}

double copy_bandwidth(size_t bytes, int n_threads, int reps) {
    return bandwidth(bytes, n_threads, reps, 1);
}
double read_bandwidth(size_t bytes, int n_threads, int reps) {
    return bandwidth(bytes, n_threads, reps, 0);
}
