// threadpool: persistent pthread pool; see threadpool.h.
//
// Dispatch is lock-free on the fast path.  One atomic word, `state`, holds the job's
// generation, a CLOSED bit and the number of workers inside the job:
//   caller   publishes fn/ctx/n_tasks, then state = (gen + 1, open, 0 inside); wakes
//            sleepers only if there are any; runs tasks itself; sets CLOSED; waits until
//            nobody is inside (spinning briefly, then on a condition variable).
//   worker   spins for up to SPIN_NS on `state` after each job (decoding issues ~50 small
//            jobs per token, microseconds apart), then sleeps on a condition variable;
//            joins a new generation with a compare-and-swap that fails once CLOSED is
//            set, so a worker that wakes too late never touches a finished job.
// The fields written per job, the task counter and `state` live on separate cache lines.
#include "base/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"

#define SPIN_NS 30000L   // how long an idle worker (or a waiting caller) spins

#define COUNT_MASK ((uint64_t)0xFFFF)    // workers inside the current job
#define CLOSED     ((uint64_t)1 << 16)   // the job hands out no more places
#define GEN_SHIFT  17                    // generation in the bits above
#define GEN(s)     ((s) >> GEN_SHIFT)

struct ThreadPool {
    _Alignas(64) atomic_uint_least64_t state;
    _Alignas(64) atomic_int next;     // next task to hand out
    _Alignas(64) ThreadPoolTask fn;   // the current job, written before its generation
    void *ctx;
    int n_tasks;
    int n;                       // workers, the caller included
    pthread_t *threads;          // (n-1)
    pthread_mutex_t run_mu;      // serialises threadpool_run callers
    pthread_mutex_t mu;          // for the condition variables below
    pthread_cond_t start_cv;     // a new generation, or stop
    pthread_cond_t done_cv;      // the last worker left a closed job
    atomic_int sleepers;         // workers waiting on start_cv
    atomic_int caller_waiting;   // the caller waits on done_cv
    atomic_int stop;
};

typedef struct {
    ThreadPool *pool;
    int worker;
} WorkerArg;

// The worker index of the current thread while it runs a task, -1 outside tasks.
static _Thread_local int current_worker = -1;

// ----------------------------------------------------------------------------
// spinning

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long long mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// ----------------------------------------------------------------------------
// running tasks

static void tasks_drain(ThreadPool *p, int worker) {
    int saved = current_worker;
    current_worker = worker;
    for (;;) {
        int task = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (task >= p->n_tasks) break;
        p->fn(p->ctx, task, worker);
    }
    current_worker = saved;
}

// The state once its generation differs from `seen` (or the pool stops): spin first,
// then sleep.
static uint64_t generation_wait(ThreadPool *p, uint64_t seen) {
    long long deadline = 0;
    for (unsigned i = 0;; i++) {
        uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
        if (GEN(s) != seen || atomic_load_explicit(&p->stop, memory_order_relaxed)) return s;
        cpu_relax();
        if ((i & 63) == 63) {
            long long t = mono_ns();
            if (!deadline) deadline = t + SPIN_NS;
            else if (t > deadline) break;
        }
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    uint64_t s;
    while (GEN(s = atomic_load(&p->state)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->start_cv, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return s;
}

static void *worker_main(void *arg) {
    WorkerArg *wa = arg;
    ThreadPool *p = wa->pool;
    int worker = wa->worker;
    free(wa);
    uint64_t seen = 0;
    for (;;) {
        uint64_t s = generation_wait(p, seen);
        if (atomic_load(&p->stop)) return NULL;
        seen = GEN(s);
        // Join the job unless it is closed (or already replaced by a newer one).
        int joined = 0;
        while (GEN(s) == seen && !(s & CLOSED))
            if (atomic_compare_exchange_weak(&p->state, &s, s + 1)) {
                joined = 1;
                break;
            }
        if (!joined) continue;
        tasks_drain(p, worker);
        uint64_t after = atomic_fetch_sub(&p->state, 1) - 1;
        if ((after & CLOSED) && (after & COUNT_MASK) == 0 && atomic_load(&p->caller_waiting)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void run_inline(int n_tasks, ThreadPoolTask fn, void *ctx, int worker) {
    int saved = current_worker;
    current_worker = worker;
    for (int i = 0; i < n_tasks; i++) fn(ctx, i, worker);
    current_worker = saved;
}

// After CLOSED is set: until no worker is inside the job.
static void workers_wait(ThreadPool *p) {
    long long deadline = 0;
    for (unsigned i = 0;; i++) {
        if ((atomic_load_explicit(&p->state, memory_order_acquire) & COUNT_MASK) == 0) return;
        cpu_relax();
        if ((i & 63) == 63) {
            long long t = mono_ns();
            if (!deadline) deadline = t + SPIN_NS;
            else if (t > deadline) break;
        }
    }
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->caller_waiting, 1);
    while (atomic_load(&p->state) & COUNT_MASK) pthread_cond_wait(&p->done_cv, &p->mu);
    atomic_store(&p->caller_waiting, 0);
    pthread_mutex_unlock(&p->mu);
}

void threadpool_run(ThreadPool *p, int n_tasks, ThreadPoolTask fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (current_worker >= 0) {   // nested: stay on this worker
        run_inline(n_tasks, fn, ctx, current_worker);
        return;
    }
    if (!p || p->n == 1 || n_tasks == 1) {
        run_inline(n_tasks, fn, ctx, 0);
        return;
    }
    pthread_mutex_lock(&p->run_mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    uint64_t gen = GEN(atomic_load(&p->state)) + 1;
    atomic_store(&p->state, gen << GEN_SHIFT);   // open, nobody inside; publishes the job
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->start_cv);
        pthread_mutex_unlock(&p->mu);
    }
    tasks_drain(p, 0);
    // Close the job: workers that did not join in time stay out; wait for those inside.
    if (atomic_fetch_or(&p->state, CLOSED) & COUNT_MASK) workers_wait(p);
    pthread_mutex_unlock(&p->run_mu);
}

// ----------------------------------------------------------------------------
// lifetime

static int cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 256 ? 256 : (int)n);
}

ThreadPool *threadpool_new(int n_threads) {
    if (n_threads <= 0) n_threads = cpu_count();
    if (n_threads > 256) n_threads = 256;
    size_t size = (sizeof(ThreadPool) + 63) / 64 * 64;
    ThreadPool *p = aligned_alloc(64, size);
    if (!p) eprintf(2, "threadpool: out of memory");
    memset(p, 0, size);
    p->n = n_threads;
    atomic_init(&p->state, 0);
    atomic_init(&p->next, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_waiting, 0);
    atomic_init(&p->stop, 0);
    pthread_mutex_init(&p->run_mu, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    p->threads = xcalloc((size_t)n_threads, sizeof *p->threads);
    for (int i = 1; i < n_threads; i++) {
        WorkerArg *wa = xmalloc(sizeof *wa);
        wa->pool = p;
        wa->worker = i;
        if (pthread_create(&p->threads[i - 1], NULL, worker_main, wa) != 0)
            eprintf(2, "threadpool: cannot create thread %d of %d", i, n_threads - 1);
    }
    return p;
}

void threadpool_free(ThreadPool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->start_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i - 1], NULL);
    pthread_cond_destroy(&p->start_cv);
    pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->run_mu);
    free(p->threads);
    free(p);
}

int threadpool_size(const ThreadPool *p) { return p ? p->n : 1; }

static ThreadPool *global_pool;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_free(void) {
    threadpool_free(global_pool);
    global_pool = NULL;
}

static void global_create(void) {
    int n = 0;
    const char *env = getenv("AUTOINTERP_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v > 0 && v <= 256) n = (int)v;
    }
    global_pool = threadpool_new(n);
    atexit(global_free);
}

ThreadPool *threadpool_global(void) {
    pthread_once(&global_once, global_create);
    return global_pool;
}
