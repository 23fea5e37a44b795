// threadpool: persistent pthread pool; see threadpool.h.
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"

struct ThreadPool {
    int n;                      // workers, the caller included
    pthread_t *threads;         // (n-1)
    pthread_mutex_t run_mu;     // serialises threadpool_run callers
    pthread_mutex_t mu;         // protects everything below but `next`
    pthread_cond_t start_cv;    // a new job (generation) or stop
    pthread_cond_t done_cv;     // the last worker finished the job
    unsigned long generation;   // incremented for every job
    int stop;
    int open;                   // the current job still accepts workers
    int busy;                   // threads that joined the current job and are still in it
    // the current job
    ThreadPoolTask fn;
    void *ctx;
    int n_tasks;
    atomic_int next;            // next task to hand out
};

typedef struct {
    ThreadPool *pool;
    int worker;
} WorkerArg;

// The worker index of the current thread while it runs a task, -1 outside tasks.
static _Thread_local int current_worker = -1;

// ----------------------------------------------------------------------------
// running tasks

static void tasks_drain(ThreadPool *p, int worker) {
    int saved = current_worker;
    current_worker = worker;
    for (;;) {
        int task = atomic_fetch_add(&p->next, 1);
        if (task >= p->n_tasks) break;
        p->fn(p->ctx, task, worker);
    }
    current_worker = saved;
}

static void *worker_main(void *arg) {
    WorkerArg *wa = arg;
    ThreadPool *p = wa->pool;
    int worker = wa->worker;
    free(wa);
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->generation == seen && !p->stop) pthread_cond_wait(&p->start_cv, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->generation;
        if (!p->open) {                 // woke too late: the caller already did the work
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        p->busy++;
        pthread_mutex_unlock(&p->mu);

        tasks_drain(p, worker);

        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0) pthread_cond_signal(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static void run_inline(int n_tasks, ThreadPoolTask fn, void *ctx, int worker) {
    int saved = current_worker;
    current_worker = worker;
    for (int i = 0; i < n_tasks; i++) fn(ctx, i, worker);
    current_worker = saved;
}

void threadpool_run(ThreadPool *p, int n_tasks, ThreadPoolTask fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (current_worker >= 0) {            // nested: stay on this worker
        run_inline(n_tasks, fn, ctx, current_worker);
        return;
    }
    if (!p || p->n == 1 || n_tasks == 1) {
        run_inline(n_tasks, fn, ctx, 0);
        return;
    }
    pthread_mutex_lock(&p->run_mu);
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    p->busy = 0;
    p->open = 1;
    p->generation++;
    pthread_cond_broadcast(&p->start_cv);
    pthread_mutex_unlock(&p->mu);

    tasks_drain(p, 0);

    // Wait only for the workers that joined: one that was not scheduled in time finds the
    // job closed and goes back to sleep, so a busy machine does not stall the caller.
    pthread_mutex_lock(&p->mu);
    p->open = 0;
    while (p->busy > 0) pthread_cond_wait(&p->done_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
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
    ThreadPool *p = xcalloc(1, sizeof *p);
    p->n = n_threads;
    pthread_mutex_init(&p->run_mu, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    atomic_init(&p->next, 0);
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
    p->stop = 1;
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
