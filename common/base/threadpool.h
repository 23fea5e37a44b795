// threadpool: a persistent pthread pool running parallel-for loops.
//
// A pool of n workers is the calling thread plus n-1 threads that, between jobs, spin
// for ~30 us (a decoding step issues ~50 small jobs microseconds apart; waking a sleeping
// thread costs tens of microseconds on a VM) and then sleep.
// threadpool_run(pool, n_tasks, fn, ctx) calls fn(ctx, task, worker) once for every task
// in [0, n_tasks) and returns when all of them are done.  Tasks are handed out
// dynamically (an atomic counter), so which worker runs which task varies from run to
// run: a task must write only its own outputs, and use `worker` (in [0, n)) to index
// per-worker scratch.  Results are then identical whatever the number of threads.
//
// Callers from several threads are serialised.  A threadpool_run issued from inside a
// task runs its tasks inline on the current worker (no deadlock, same worker index).
// A NULL pool runs everything inline on worker 0.
// Called outside this module only by the tests (tests/unit/test_lowp.c, tests/unit/test_matmul.c,
// tests/unit/test_transformer.c): threadpool_free, threadpool_new.
#ifndef AUTOINTERP_THREADPOOL_H
#define AUTOINTERP_THREADPOOL_H

typedef struct ThreadPool ThreadPool;

// One task: `task` in [0, n_tasks), `worker` in [0, threadpool_size(pool)).
typedef void (*ThreadPoolTask)(void *ctx, int task, int worker);

// A pool of n_threads workers in total (the caller counts as one); n_threads <= 0 means
// one per online CPU.  Never returns NULL (aborts if threads cannot be created).
ThreadPool *threadpool_new(int n_threads);
void threadpool_free(ThreadPool *pool);

// Number of workers (1 for a NULL pool): the size of per-worker scratch arrays.
int threadpool_size(const ThreadPool *pool);

// Run fn for every task in [0, n_tasks) across the pool; returns when all are done.
void threadpool_run(ThreadPool *pool, int n_tasks, ThreadPoolTask fn, void *ctx);

// The process-wide pool, created on first use with $AUTOINTERP_THREADS workers (else one
// per online CPU) and joined at exit.  Thread-safe.
ThreadPool *threadpool_global(void);

#endif
