// machine: what this CPU can do at best — the ceilings the benchmark compares against.
//
//   peak FP32 FLOP/s   independent multiply-add chains in registers, no memory traffic,
//                      one chain set per thread; one variant per instruction set, chosen
//                      at run time (__builtin_cpu_supports), so the binary needs no -march.
//   memory bandwidth   large buffers (far beyond the last-level cache), split evenly over
//                      the threads: copy (memcpy; bytes read + bytes written, as STREAM
//                      counts) and streaming read (a vector sum; bytes read).
//
// Each measurement returns the best of `reps` runs (other work on the machine only ever
// makes a run slower).  Threads are plain pthreads released together from a barrier.
#ifndef AUTOINTERP_BENCH_MACHINE_H
#define AUTOINTERP_BENCH_MACHINE_H
#include <stddef.h>

typedef enum { ISA_SSE2, ISA_AVX2, ISA_AVX512, ISA_COUNT } Isa;

typedef struct {
    char model_name[128];   // /proc/cpuinfo "model name" ("?" when unreadable)
    int n_cpus;             // online CPUs
    int has_fma, has_avx2, has_avx512f;
    double mhz;     // /proc/cpuinfo "cpu MHz" of the first CPU (0 when unknown)
    double load1;   // 1-minute load average when the benchmark started (-1: unknown)
} MachineInfo;

void machine_info(MachineInfo *mi);

// CPU seconds spent by everything on the machine (user, nice, system, irq, softirq and
// steal from /proc/stat, summed over CPUs) since boot; -1 when unreadable.  The
// difference over a run minus our own CPU time (getrusage) is what other processes took.
double machine_busy_seconds(void);

// Can this CPU run the peak kernel of `isa`?  (SSE2 always: x86-64 baseline.)
int isa_supported(Isa isa);
// "SSE2 mul+add", "AVX2 FMA", "AVX-512 FMA".
const char *isa_name(Isa isa);

// Peak FP32 FLOP/s with n_threads threads running the `isa` kernel (12 independent chains
// of vector multiply-adds per thread: FMA for AVX2/AVX-512, separate mul and add for
// SSE2, which is what the project's -O2 build without -march emits).  Each run lasts
// about `seconds`.  0 when the ISA is not supported.
double peak_flops(Isa isa, int n_threads, double seconds, int reps);

// Memory bandwidth in bytes/s over buffers of `bytes` each (two for copy), n_threads
// threads, best of reps.  copy: 2 * bytes per pass; read: bytes per pass, vector loads of
// the best ISA (chosen at run time), the best of 1, 4 and 8 streams read side by side
// per thread.  The buffers are asked for on transparent huge pages (MADV_HUGEPAGE).
double copy_bandwidth(size_t bytes, int n_threads, int reps);
double read_bandwidth(size_t bytes, int n_threads, int reps);

// The same probes kept between runs, so that their runs can be interleaved with the work
// they bound (bench.c): a shared VM's memory bandwidth changes from minute to minute, and
// a ceiling measured minutes before what it bounds compares two different machines.
typedef struct BwProbe BwProbe;
BwProbe *bw_probe_new(size_t bytes, int copy);   // copy: memcpy, else the vector sum
// One timed run in bytes/s: `streams` (1..8) per thread when reading, ignored copying.
double bw_probe_run(BwProbe *p, int n_threads, int streams);
void bw_probe_free(BwProbe *p);

#endif
