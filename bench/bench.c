// bench: the measurement basis of the performance work.  Prints ONE table for GPT-2-small
// shapes on this machine — every figure beside its ceiling (or floor) and the ratio —
// and writes the same rows as NDJSON.  See docs/bench.md for what each figure means and
// how its bound is computed.
//
//   bench [--model DIR] [--bin DIR] [--json FILE] [--reps N] [--quick]
//
// Other work on the machine only ever slows a run down, so every timed figure is the best
// of several runs (4 x --reps for short items), and items whose times are compared run
// interleaved; the start-up time is a median, as documented.  The notes end with how
// many CPUs other processes used meanwhile, the measure of how far to trust the run.
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/json.h"
#include "base/tool.h"
#include "base/util.h"
#include "experiment/layers.h"
#include "experiment/sweep.h"
#include "machine.h"
#include "model/matmul.h"
#include "model/transformer.h"
#include "naive.h"
#include "workloads.h"

static const char usage_text[] =
    "usage: bench [--model DIR] [--bin DIR] [--json FILE] [--reps N] [--quick]\n"
    "Measures peak FLOP/s and memory bandwidth, then prefill, generation, sweeps, start-up\n"
    "and memory of the engine on a GPT-2-shaped checkpoint, each beside its bound.\n"
    "  --model DIR   checkpoint directory (default build/bench/gpt2-random; make one with\n"
    "                bin/loadgpt2 --random --shape gpt2 --out DIR)\n"
    "  --bin DIR     where scoreloss lives (default bin)\n"
    "  --json FILE   also write the rows as NDJSON to FILE\n"
    "  --reps N      repetitions per timed figure, best kept (default 3)\n"
    "  --quick       smaller workloads, 2 repetitions (a smoke run, noisier figures)\n"
    "  --workloads N timed runs of each workload job, interleaved (default 2; 0 skips them)\n"
    "  --workloads-only  the machine's peak and the workloads alone\n"
    "  --decode-only     the machine's figures and generation with the KV cache alone\n"
    "                    (no workloads unless --workloads N is given)\n";

#define PREFILL_T     128   // tokens per prompt in the prefill figures
#define GEN_PROMPT    16    // prompt tokens before generation
#define BATCH_STREAMS 8     // streams of the batched generation figure
#define SWEEP_T       24    // tokens of the typical scoreloss record (BOS + prompt + answer)
#define SWEEP_ANSWER  2     // answer tokens of that record
#define SWEEP_TARGET  1.3   // wanted bound on (drop-last sweep cost) / (intact pass cost)
#define STARTUP_RUNS  5
#define BW_BYTES      ((size_t)256 << 20)   // far beyond the 32 MiB L3 of the machines we use

// ----------------------------------------------------------------------------
// the table

typedef struct {
    char section[128];
    char figure[96];
    double value;
    const char *unit;
    double bound;       // NAN: no bound
    int lower_better;   // the bound is a floor: ratio = bound / value
    char basis[320];    // how the bound was computed
} Row;

typedef struct {
    Row *rows;
    int n, cap;
} Table;

static Row *row_add(Table *t, const char *section, double value, const char *unit, double bound,
                    int lower_better, const char *figure) {
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 32;
        t->rows = xrealloc(t->rows, sizeof *t->rows * (size_t)t->cap);
    }
    Row *r = &t->rows[t->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->section, sizeof r->section, "%s", section);
    snprintf(r->figure, sizeof r->figure, "%s", figure);
    r->value = value;
    r->unit = unit;
    r->bound = bound;
    r->lower_better = lower_better;
    return r;
}

static void row_basis(Row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void row_basis(Row *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->basis, sizeof r->basis, fmt, ap);
    va_end(ap);
}

// 1.00 = at the bound; smaller = further from it (for a floor, bound / value).
static double row_ratio(const Row *r) {
    if (isnan(r->bound) || isnan(r->value) || r->value <= 0 || r->bound <= 0) return NAN;
    return r->lower_better ? r->bound / r->value : r->value / r->bound;
}

static void format_num(char *buf, size_t len, double v) {
    if (isnan(v)) snprintf(buf, len, "-");
    else if (fabs(v) >= 1000) snprintf(buf, len, "%.0f", v);
    else if (fabs(v) >= 100) snprintf(buf, len, "%.1f", v);
    else if (fabs(v) >= 10) snprintf(buf, len, "%.2f", v);
    else snprintf(buf, len, "%.3f", v);
}

static void table_print(const Table *t, FILE *f) {
    const char *section = NULL;
    fprintf(f, "%-54s %10s %-8s %10s %6s  %s\n", "figure", "value", "unit", "bound", "ratio",
            "bound from");
    for (int i = 0; i < t->n; i++) {
        const Row *r = &t->rows[i];
        if (!section || strcmp(section, r->section) != 0) {
            section = r->section;
            fprintf(f, "-- %s\n", section);
        }
        char v[32], b[32], q[32];
        format_num(v, sizeof v, r->value);
        format_num(b, sizeof b, r->bound);
        double ratio = row_ratio(r);
        if (isnan(ratio)) snprintf(q, sizeof q, "-");
        else snprintf(q, sizeof q, "%.2f", ratio);
        fprintf(f, "  %-52s %10s %-8s %10s %6s  %s%s\n", r->figure, v, r->unit, b, q,
                r->lower_better && !isnan(r->bound) ? "(floor) " : "", r->basis);
    }
}

static void json_row(JsonBuf *jb, const Row *r) {
    jb_puts(jb, "{");
    jb_key(jb, "section"), jb_cstr(jb, r->section);
    jb_key(jb, "figure"), jb_cstr(jb, r->figure);
    jb_key(jb, "value"), jb_double(jb, r->value);
    jb_key(jb, "unit"), jb_cstr(jb, r->unit);
    jb_key(jb, "bound"), jb_double(jb, r->bound);
    jb_key(jb, "bound_is_floor"), jb_puts(jb, r->lower_better ? "true" : "false");
    jb_key(jb, "ratio"), jb_double(jb, row_ratio(r));
    jb_key(jb, "bound_from"), jb_cstr(jb, r->basis);
    jb_puts(jb, "}\n");
}

// ----------------------------------------------------------------------------
// the benchmark state

typedef struct {
    const char *model_dir, *bin_dir, *json_path;
    int reps, quick;
    int n_prompts;     // distinct prompts of PREFILL_T tokens (prefill, sweeps, generation)
    int gen_tokens;    // tokens generated per timed run, single stream
    int batch_steps;   // steps per timed run of the batched generation
    int naive_gen_tokens;
    int workload_rounds;   // timed runs of each workload job (0: the section is skipped)
    int workloads_only;    // only the machine's peak and the workloads
    int decode_only;       // only the machine's figures and generation (and workloads if asked)
} Options;

typedef struct {                   // bin/scoreloss as a child process
    double t_ready, t_ready_min;   // --layers none on one record: median, min (s)
    double t_help, t_help_min;     // --help: exec and exit (s)
    double t_sweep;                // --sweep drop-last on 4 records (s)
    long rss_kb, self_rss_kb;      // its peak RSS; ours when it was spawned
} Startup;

typedef struct {
    Options o;
    Gpt2 m;
    Gpt2 m16[LOWP_TYPES];   // the same checkpoint with bf16, f16 matrices (gpt2_use_lowp)
    int L, C, V, NH;
    int *intact;      // (L) 0..L-1
    TfWorkspace ws;   // PREFILL_T rows on the global pool
    float *logits;    // (PREFILL_T, V)
    int *tokens;      // (n_prompts, PREFILL_T) pseudo-random token ids
    Table table;
    MachineInfo mi;
    int threads;
    double peak,
        peak1;   // FP32 FLOP/s ceilings of the ISA the kernel path runs (matmul_kernel_name:
                 // avx512, avx2 or generic = SSE2 mul+add): all threads (n x 1 thread), 1 thread
    const char *peak_isa;                // that ISA's name
    double read_bw, read_bw1, copy_bw;   // bytes/s
    long mapped_kb, mapped_huge_kb;      // the checkpoint's mapping, and of it on huge pages
    double prefill_last_tps, gen_tps;    // engine figures, for the notes
    Startup startup;
    Workload work[WORKLOAD_MAX];
    int n_work;         // workloads measured (0: none)
    double others;      // CPUs other processes kept busy on average during the run
    char source[160];   // the commit measured, and whether the tree had local changes
    char notes[2048];
    size_t notes_len;
} Bench;

static void note(Bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(Bench *b, const char *fmt, ...) {
    if (b->notes_len >= sizeof b->notes - 1) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->notes + b->notes_len, sizeof b->notes - b->notes_len, fmt, ap);
    va_end(ap);
    if (n > 0) b->notes_len += (size_t)n;
    if (b->notes_len >= sizeof b->notes) b->notes_len = sizeof b->notes - 1;
}

static void check(int rc, const char *what, const char *err) {
    if (rc != 0) eprintf(1, "%s: %s", what, err);
}

// ----------------------------------------------------------------------------
// counting: FLOPs and bytes of the GPT-2 forward pass

// Matmul FLOPs of rows at positions pos0 .. pos0+T-1 through all L blocks: per row and
// block 2·(C·3C + C·C + C·4C + 4C·C) = 24·C² for the weights, plus attention over the
// row's pos+1 keys: 2·C·(pos+1) for q·k and 2·C·(pos+1) for the weighted sum of v.
static double flops_blocks(const Bench *b, int T, int pos0) {
    double C = b->C, f = 0;
    for (int t = 0; t < T; t++) f += 24.0 * C * C + 4.0 * C * (pos0 + t + 1);
    return f * b->L;
}

// 2·C·V per logit row.
static double flops_unembed(const Bench *b, int rows) { return 2.0 * b->C * (double)b->V * rows; }

// Bytes of weights one decoding step reads: every block's matrices, biases and LayerNorm
// parameters (12·C² + 13·C floats), ln_f, the output matrix (V·C), one wte and one wpe row.
static double bytes_weights_step(const Bench *b) {
    double C = b->C;
    return 4.0 * (b->L * (12.0 * C * C + 13.0 * C) + 2.0 * C + (double)b->V * C + 2.0 * C);
}

// Bytes of keys and values one row at position pos reads from its cache.
static double bytes_kv(const Bench *b, int pos) { return 4.0 * b->L * 2.0 * b->C * (pos + 1); }

// ----------------------------------------------------------------------------
// machine

// The ISA of the kernel path in use (chosen at run time, or by AUTOINTERP_KERNEL).
static Isa kernel_isa(void) {
    const char *k = matmul_kernel_name();
    return !strcmp(k, "avx512") ? ISA_AVX512 : !strcmp(k, "avx2") ? ISA_AVX2 : ISA_SSE2;
}

// The compute ceiling is n x the 1-thread peak of the kernel path's ISA (AVX-512 FMA on a
// CPU that has it): cores do not share FMA units, and a
// 1-thread figure is hard to spoil on a shared machine (the scheduler finds it a free
// core), while an all-threads figure drops whenever another process holds a core.  The
// all-threads rows show how much of the machine this run actually got.
static void bench_machine(Bench *b) {
    const char *S = "machine (measured in this run)";
    double secs = b->o.quick ? 0.05 : 0.1;
    int reps = b->o.quick ? 2 : 5, n = b->threads;
    for (int isa = ISA_AVX512; isa >= ISA_SSE2; isa--) {
        if (!isa_supported((Isa)isa)) continue;
        double f1 = peak_flops((Isa)isa, 1, secs, reps), fn = peak_flops((Isa)isa, n, secs, reps);
        char fig[96];
        snprintf(fig, sizeof fig, "FP32 peak, %s, 1 thread", isa_name((Isa)isa));
        Row *r = row_add(&b->table, S, f1 / 1e9, "GFLOP/s", NAN, 0, fig);
        row_basis(r, "12 independent %s chains in registers%s",
                  isa == ISA_SSE2 ? "mulps+addps" : "FMA",
                  isa == ISA_SSE2 ? "; what the generic path (portable C, -O2) compiles to" : "");
        snprintf(fig, sizeof fig, "FP32 peak, %s, %d threads", isa_name((Isa)isa), n);
        r = row_add(&b->table, S, fn / 1e9, "GFLOP/s", n * f1 / 1e9, 0, fig);
        row_basis(r, "%d x 1 thread; below 1.00: another process held a core", n);
        if (isa == (int)kernel_isa())
            b->peak = n * f1, b->peak1 = f1, b->peak_isa = isa_name((Isa)isa);
    }
    reps = b->o.quick ? 3 : 8;
    b->copy_bw = copy_bandwidth(BW_BYTES, n, reps);
    b->read_bw = read_bandwidth(BW_BYTES, n, reps);
    b->read_bw1 = read_bandwidth(BW_BYTES, 1, reps);
    Row *r = row_add(&b->table, S, b->copy_bw / 1e9, "GB/s", NAN, 0,
                     "memory copy bandwidth, all threads");
    row_basis(r, "memcpy of %zu MiB on huge pages, bytes read + written", BW_BYTES >> 20);
    r = row_add(&b->table, S, b->read_bw / 1e9, "GB/s", NAN, 0,
                "memory read bandwidth, all threads");
    row_basis(
        r,
        "vector sum over %zu MiB on huge pages, best of 1, 4, 8 streams per thread (the generation ceiling)",
        BW_BYTES >> 20);
    r = row_add(&b->table, S, b->read_bw1 / 1e9, "GB/s", NAN, 0, "memory read bandwidth, 1 thread");
    row_basis(r, "as above, one thread (the naive reference's ceiling)");
}

// ----------------------------------------------------------------------------
// timing: work items run round-robin, each keeping its best time

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// One piece of work the harness times: run(b, ctx) does it once.
typedef struct {
    void (*run)(Bench *b, void *ctx);
    void *ctx;
    double best;    // seconds
    double *each;   // NULL, or the seconds of every round (reps of them)
} Timed;

// Run items[0..n) in turn, `reps` rounds, so that background load falls on all of them
// alike; items[i].best = the fastest of its runs.  A ratio of two items is then formed
// from figures taken under the same conditions.
static void time_interleaved(Bench *b, Timed *items, int n, int reps) {
    for (int i = 0; i < n; i++) items[i].best = INFINITY;
    for (int rep = 0; rep < reps; rep++)
        for (int i = 0; i < n; i++) {
            double t0 = now_seconds();
            items[i].run(b, items[i].ctx);
            double t = now_seconds() - t0;
            if (t < items[i].best) items[i].best = t;
            if (items[i].each) items[i].each[rep] = t;
        }
}

// ----------------------------------------------------------------------------
// memory ceilings measured between the runs they bound
//
// This VM's memory bandwidth moves between ~50 and ~95 GB/s within minutes (other guests
// on the host).  A ceiling taken once, minutes before the decoding it bounds, then gives
// ratios anywhere from 0.6 to 1.1 for the same code: the probes run as items of the same
// time_interleaved call instead, and each figure is the best of rounds taken side by side.

typedef struct {
    BwProbe *probe;
    int threads, streams;
    double best;    // bytes/s
    double *each;   // bytes/s of every round
    int rep;        // rounds run so far
} ProbeRun;

static void run_probe(Bench *b, void *ctx) {
    (void)b;
    ProbeRun *p = ctx;
    double bw = bw_probe_run(p->probe, p->threads, p->streams);
    p->best = fmax(p->best, bw);
    p->each[p->rep++] = bw;
}

typedef struct {
    BwProbe *read, *copy;
    ProbeRun runs[3];   // read 4 streams per thread, read 8, copy
    int reps;
} Ceilings;

#define CEILING_ITEMS 3

// Puts the probes' items at items[0..CEILING_ITEMS), for `reps` rounds.
static void ceilings_init(Ceilings *c, const Bench *b, Timed *items, int reps) {
    c->read = bw_probe_new(BW_BYTES, 0);
    c->copy = bw_probe_new(BW_BYTES, 1);
    c->reps = reps;
    static const int streams[CEILING_ITEMS] = {4, 8, 1};
    for (int i = 0; i < CEILING_ITEMS; i++) {
        c->runs[i] = (ProbeRun){i < 2 ? c->read : c->copy, b->threads, streams[i], 0, NULL, 0};
        c->runs[i].each = xcalloc((size_t)reps, sizeof(double));
        items[i] = (Timed){run_probe, &c->runs[i], 0, NULL};
    }
}

static double ceilings_read(const Ceilings *c) { return fmax(c->runs[0].best, c->runs[1].best); }
static double ceilings_copy(const Ceilings *c) { return c->runs[2].best; }
// Round r's figures.
static double round_read(const Ceilings *c, int r) {
    return fmax(c->runs[0].each[r], c->runs[1].each[r]);
}
static double round_copy(const Ceilings *c, int r) { return c->runs[2].each[r]; }

static void ceilings_free(Ceilings *c) {
    bw_probe_free(c->read);
    bw_probe_free(c->copy);
    for (int i = 0; i < CEILING_ITEMS; i++) free(c->runs[i].each);
}

// Rows for the interleaved ceilings of section S (they bound the rows that follow).
static void ceilings_rows(Bench *b, const char *S, const Ceilings *c) {
    Row *r = row_add(&b->table, S, ceilings_read(c) / 1e9, "GB/s", NAN, 0,
                     "memory read BW between these runs");
    row_basis(
        r,
        "as the read bandwidth above (4 and 8 streams), run between the runs below: their ceiling");
    r = row_add(&b->table, S, ceilings_copy(c) / 1e9, "GB/s", NAN, 0,
                "memory copy BW between these runs");
    row_basis(r, "as the copy bandwidth above, bytes read + written");
}

// ----------------------------------------------------------------------------
// prefill

// Rounds for the short timed items: many short runs catch the quiet moments of a shared
// machine better than a few long ones.
static int short_rounds(const Bench *b) { return b->o.quick ? b->o.reps : 4 * b->o.reps; }

typedef struct {
    int all_rows;    // logits of every position, else of the last one only
    int next;        // the prompt of the next run (cycles through the prompts)
    const Gpt2 *m;   // NULL: b->m
} PrefillRun;

// One prompt of PREFILL_T tokens through the intact model.
static void run_prefill(Bench *b, void *ctx) {
    PrefillRun *p = ctx;
    int last = PREFILL_T - 1;
    char err[512];
    const int *tokens = b->tokens + (size_t)(p->next++ % b->o.n_prompts) * PREFILL_T;
    check(tf_forward(p->m ? p->m : &b->m, b->intact, b->L, tokens, PREFILL_T,
                     p->all_rows ? NULL : &last, p->all_rows ? 0 : 1, b->logits, &b->ws, err,
                     sizeof err),
          "prefill", err);
}

static void prefill_rows(Bench *b, const char *S, const char *what, double seconds,
                         double flops_prompt) {
    double per_token = flops_prompt / PREFILL_T;
    char fig[96];
    snprintf(fig, sizeof fig, "%s: tokens/s", what);
    Row *r = row_add(&b->table, S, PREFILL_T / seconds, "tok/s", b->peak / per_token, 0, fig);
    row_basis(r, "peak / %.1f MFLOP per token", per_token / 1e6);
    snprintf(fig, sizeof fig, "%s: matmul GFLOP/s", what);
    r = row_add(&b->table, S, flops_prompt / seconds / 1e9, "GFLOP/s", b->peak / 1e9, 0, fig);
    row_basis(r, "FP32 peak, %s (the kernel path's); 24C^2/row/block + attn + 2CV/logit row",
              b->peak_isa);
}

static void bench_prefill(Bench *b) {
    char S[128];
    snprintf(S, sizeof S,
             "prefill: a prompt of %d tokens (%d distinct, best of %d), intact model, tf_forward",
             PREFILL_T, b->o.n_prompts, short_rounds(b));
    PrefillRun all = {1, 0, NULL}, last = {0, 0, NULL};
    Timed items[2] = {{run_prefill, &all, 0, NULL}, {run_prefill, &last, 0, NULL}};
    time_interleaved(b, items, 2, short_rounds(b));
    double blocks = flops_blocks(b, PREFILL_T, 0);
    prefill_rows(b, S, "all positions' logits", items[0].best,
                 blocks + flops_unembed(b, PREFILL_T));
    prefill_rows(b, S, "last position's logits", items[1].best, blocks + flops_unembed(b, 1));
    b->prefill_last_tps = PREFILL_T / items[1].best;
}

// ----------------------------------------------------------------------------
// generation with the KV cache

// Time-per-token bound of a decoding step of `streams` rows at mean position `pos`:
// max(bytes read / bandwidth, FLOPs / peak); returns tokens/s.
static double decode_bound(const Bench *b, int streams, double pos, double bw, double peak) {
    double bytes = bytes_weights_step(b) + streams * bytes_kv(b, (int)pos);
    double flops = streams * (flops_blocks(b, 1, (int)pos) + flops_unembed(b, 1));
    double t = fmax(bytes / bw, flops / peak);
    return streams / t;
}

static void prompt_tokens(const Bench *b, int stream, int *out, int n) {
    for (int i = 0; i < n; i++)
        out[i] = b->tokens[((size_t)stream * 7 + (size_t)i) % ((size_t)b->o.n_prompts * PREFILL_T)];
}

// Streams that share one workspace, each with a GEN_PROMPT-token prompt cached; a run
// rewinds them to the prompt and generates `steps` tokens per stream.
typedef struct {
    TfCache *caches[BATCH_STREAMS];
    int n, steps;
    float *logits;   // (n, V)
} GenRun;

static void gen_init(GenRun *g, Bench *b, const Gpt2 *m, int n, int steps) {
    char err[512];
    int prompt[GEN_PROMPT];
    memset(g, 0, sizeof *g);
    g->n = n, g->steps = steps;
    for (int i = 0; i < n; i++) {
        g->caches[i] = tf_cache_new(m, b->intact, b->L, GEN_PROMPT + steps, err, sizeof err);
        if (!g->caches[i]) eprintf(1, "cache: %s", err);
        g->caches[i]->ws = &b->ws;
        prompt_tokens(b, i, prompt, GEN_PROMPT);
        check(tf_step(g->caches[i], prompt, GEN_PROMPT, NULL, err, sizeof err), "generation prompt",
              err);
    }
    g->logits = xmalloc(sizeof(float) * (size_t)n * (size_t)b->V);
}

static void gen_free(GenRun *g) {
    for (int i = 0; i < g->n; i++) tf_cache_free(g->caches[i]);
    free(g->logits);
}

// n == 1: tf_step one token at a time; otherwise tf_step_batch over the n streams.
static void run_gen(Bench *b, void *ctx) {
    GenRun *g = ctx;
    char err[512];
    for (int i = 0; i < g->n; i++)
        check(tf_cache_rewind(g->caches[i], GEN_PROMPT, err, sizeof err), "rewind", err);
    for (int s = 0; s < g->steps; s++) {
        int toks[BATCH_STREAMS];
        for (int i = 0; i < g->n; i++) toks[i] = b->tokens[s * g->n + i];
        if (g->n == 1)
            check(tf_step(g->caches[0], toks, 1, g->logits, err, sizeof err), "tf_step", err);
        else
            check(tf_step_batch(g->caches, g->n, toks, g->logits, &b->ws, err, sizeof err),
                  "tf_step_batch", err);
    }
}

// The ratio of a decoding figure to its bandwidth ceiling taken round by round (the
// probe runs right after the decoding in each round, so both see the same machine):
// a row with the median over the rounds and, in its basis, the 10th-90th percentiles.
// each: the decoding's seconds per round; tokens per run; copy: against copy bandwidth.
static void paired_row(Bench *b, const char *S, const char *fig, const Ceilings *c,
                       const double *each, double tokens, int streams, double mean_pos, int copy) {
    double *ratio = xmalloc(sizeof(double) * (size_t)c->reps);
    for (int i = 0; i < c->reps; i++) {
        double bw = copy ? round_copy(c, i) : round_read(c, i);
        ratio[i] = tokens / each[i] / decode_bound(b, streams, mean_pos, bw, b->peak);
    }
    qsort(ratio, (size_t)c->reps, sizeof *ratio, cmp_double);
    int n = c->reps;
    Row *r = row_add(&b->table, S, ratio[n / 2], "ratio", NAN, 0, fig);
    row_basis(
        r,
        "per round: tok/s / (%s BW of that round / bytes per token); median of %d rounds, 10-90%%: %.2f-%.2f",
        copy ? "copy" : "read", n, ratio[n / 10], ratio[n - 1 - n / 10]);
    free(ratio);
}

// The same model with its fp32 weights on an anonymous huge-page copy (gpt2_weights_huge),
// timed beside the mapping when the mapping is what the tools read (the default): 1 when
// m was opened and copied.
static int open_huge_copy(const Bench *b, Gpt2 *m) {
    char err[512];
    if (b->m.huge_copy || !b->m.st || !b->m.st->map) return 0;
    check(gpt2_open(m, b->o.model_dir, err, sizeof err), "model", err);
    if (gpt2_weights_huge(m, GPT2_HUGE_COPY)) return 1;
    gpt2_close(m);
    return 0;
}

static void bench_generation(Bench *b) {
    char S[128], fig[96];
    int G = b->o.gen_tokens, steps = b->o.batch_steps, B = BATCH_STREAMS;
    snprintf(S, sizeof S, "generation: KV cache after a %d-token prompt, best of %d", GEN_PROMPT,
             short_rounds(b));
    Gpt2 mh;
    int huge = open_huge_copy(b, &mh);
    GenRun single, batch, single_h, batch_h;
    gen_init(&single, b, &b->m, 1, G);
    gen_init(&batch, b, &b->m, B, steps);
    if (huge) gen_init(&single_h, b, &mh, 1, G), gen_init(&batch_h, b, &mh, B, steps);
    Ceilings c;
    int reps = short_rounds(b), n_gen = huge ? 4 : 2;
    double *each = xcalloc((size_t)reps, sizeof(double));     // the single stream's rounds
    double *each_h = xcalloc((size_t)reps, sizeof(double));   // the same, huge-page copy
    Timed items[4 + CEILING_ITEMS] = {{run_gen, &single, 0, each},
                                      {run_gen, &batch, 0, NULL},
                                      {run_gen, &single_h, 0, each_h},
                                      {run_gen, &batch_h, 0, NULL}};
    ceilings_init(&c, b, items + n_gen, reps);
    time_interleaved(b, items, n_gen + CEILING_ITEMS, reps);
    gen_free(&single);
    gen_free(&batch);
    if (huge) gen_free(&single_h), gen_free(&batch_h), gpt2_close(&mh);
    double read_bw = ceilings_read(&c), copy_bw = ceilings_copy(&c);
    ceilings_rows(b, S, &c);

    double mean_pos = GEN_PROMPT + (G - 1) / 2.0;
    b->gen_tps = G / items[0].best;
    snprintf(fig, sizeof fig, "single stream (tf_step), +%d tokens: tokens/s", G);
    Row *r = row_add(&b->table, S, b->gen_tps, "tok/s",
                     decode_bound(b, 1, mean_pos, read_bw, b->peak), 0, fig);
    row_basis(r, "read BW / %.0f MB per token (weights %.0f + KV cache)",
              (bytes_weights_step(b) + bytes_kv(b, (int)mean_pos)) / 1e6,
              bytes_weights_step(b) / 1e6);
    // The ceiling issue 5 names (copy bandwidth, bytes read + written per second), beside
    // the stricter read-bandwidth one above.
    r = row_add(&b->table, S, b->gen_tps, "tok/s", decode_bound(b, 1, mean_pos, copy_bw, b->peak),
                0, "  the same against copy BW");
    row_basis(
        r,
        "copy BW / bytes per token (issue 5's ceiling), best of the rounds against best: see round by round");
    paired_row(b, S, "  single stream / read-BW ceiling, round by round", &c, each, G, 1, mean_pos,
               0);
    paired_row(b, S, "  single stream / copy-BW ceiling, round by round", &c, each, G, 1, mean_pos,
               1);
    if (huge) {
        r = row_add(&b->table, S, G / items[2].best, "tok/s",
                    decode_bound(b, 1, mean_pos, read_bw, b->peak), 0,
                    "  single stream, weights on a huge-page copy");
        row_basis(r, "AUTOINTERP_WEIGHTS_HUGE=copy (gpt2_weights_huge), timed in the same rounds");
        paired_row(b, S, "  the copy / read-BW ceiling, round by round", &c, each_h, G, 1, mean_pos,
                   0);
    }
    ceilings_free(&c);
    free(each);
    free(each_h);

    mean_pos = GEN_PROMPT + (steps - 1) / 2.0;
    snprintf(fig, sizeof fig, "batched, %d streams (tf_step_batch), +%d each: tokens/s", B, steps);
    r = row_add(&b->table, S, (double)B * steps / items[1].best, "tok/s",
                decode_bound(b, B, mean_pos, read_bw, b->peak), 0, fig);
    row_basis(r, "%d / max(%.0f MB per step / read BW, %d x %.0f MFLOP / peak)", B,
              (bytes_weights_step(b) + B * bytes_kv(b, (int)mean_pos)) / 1e6, B,
              (flops_blocks(b, 1, (int)mean_pos) + flops_unembed(b, 1)) / 1e6);
    if (huge) {
        r = row_add(&b->table, S, (double)B * steps / items[3].best, "tok/s",
                    decode_bound(b, B, mean_pos, read_bw, b->peak), 0,
                    "  batched, weights on a huge-page copy");
        row_basis(r, "AUTOINTERP_WEIGHTS_HUGE=copy, timed in the same rounds");
    }
}

// ----------------------------------------------------------------------------
// 16-bit weights (AUTOINTERP_WEIGHTS=bf16|f16): fp32, bf16 and f16 timed interleaved, so
// that their ratios are taken under the same conditions

// max |logit diff| of m against fp32 over every position of one prompt; *scale: max |logit|.
static double logits_vs_fp32(Bench *b, const Gpt2 *m, double *scale) {
    char err[512];
    float *l16 = xmalloc(sizeof(float) * PREFILL_T * (size_t)b->V);
    check(
        tf_forward(m, b->intact, b->L, b->tokens, PREFILL_T, NULL, 0, l16, &b->ws, err, sizeof err),
        "16-bit", err);
    check(tf_forward(&b->m, b->intact, b->L, b->tokens, PREFILL_T, NULL, 0, b->logits, &b->ws, err,
                     sizeof err),
          "fp32", err);
    double diff = 0;
    *scale = 0;
    for (size_t i = 0; i < (size_t)PREFILL_T * b->V; i++) {
        diff = fmax(diff, fabs((double)l16[i] - b->logits[i]));
        *scale = fmax(*scale, fabs((double)b->logits[i]));
    }
    free(l16);
    return diff;
}

static void bench_lowp(Bench *b) {
    char S[128], fig[96], err[512];
    snprintf(S, sizeof S,
             "16-bit weights (AUTOINTERP_WEIGHTS=bf16|f16) vs fp32, interleaved, best of %d",
             short_rounds(b));
    enum { NT = LOWP_TYPES + 1 };   // fp32, then the 16-bit types
    for (int t = 0; t < LOWP_TYPES; t++)
        check(gpt2_use_lowp(&b->m16[t], (LowpType)t, err, sizeof err), "16-bit weights", err);
    const Gpt2 *ms[NT] = {&b->m, &b->m16[LOWP_BF16], &b->m16[LOWP_F16]};
    int G = b->o.gen_tokens, steps = b->o.batch_steps, B = BATCH_STREAMS;
    PrefillRun pre[NT];
    GenRun single[NT], batched[NT];
    Timed items[3 * NT + CEILING_ITEMS];   // prefill, single stream, batched; each fp32, bf16, f16
    Ceilings c;
    ceilings_init(&c, b, items + 3 * NT, short_rounds(b));
    for (int t = 0; t < NT; t++) {
        pre[t] = (PrefillRun){0, 0, ms[t]};
        gen_init(&single[t], b, ms[t], 1, G);
        gen_init(&batched[t], b, ms[t], B, steps);
        items[t] = (Timed){run_prefill, &pre[t], 0, NULL};
        items[NT + t] = (Timed){run_gen, &single[t], 0, NULL};
        items[2 * NT + t] = (Timed){run_gen, &batched[t], 0, NULL};
    }
    time_interleaved(b, items, 3 * NT + CEILING_ITEMS, short_rounds(b));
    for (int t = 0; t < NT; t++) gen_free(&single[t]), gen_free(&batched[t]);
    ceilings_free(&c);
    double read_bw = ceilings_read(&c);
    ceilings_rows(b, S, &c);

    // Bytes per decoding step: the matrices and the output matrix at 2 bytes a weight.
    double C = b->C, mats = b->L * 12.0 * C * C + (double)b->V * C;
    double bytes16 = bytes_weights_step(b) - 2.0 * mats;
    double fl_pre = flops_blocks(b, PREFILL_T, 0) + flops_unembed(b, 1);
    for (int t = 1; t < NT; t++) {
        const char *tn = lowp_name((LowpType)(t - 1));
        snprintf(fig, sizeof fig, "prefill 1 x 128, last logits: %s tokens/s", tn);
        Row *r = row_add(&b->table, S, PREFILL_T / items[t].best, "tok/s",
                         b->peak / (fl_pre / PREFILL_T), 0, fig);
        row_basis(r, "peak / FLOP per token; fp32 here %.0f tok/s: %s %.2fx",
                  PREFILL_T / items[0].best, tn, items[0].best / items[t].best);
        double mean_pos = GEN_PROMPT + (G - 1) / 2.0;
        snprintf(fig, sizeof fig, "generation, single stream (+%d): %s tokens/s", G, tn);
        double bound = read_bw / (bytes16 + bytes_kv(b, (int)mean_pos));
        r = row_add(&b->table, S, G / items[NT + t].best, "tok/s", bound, 0, fig);
        row_basis(r, "read BW / %.0f MB per token; fp32 here %.1f tok/s: %s %.2fx",
                  (bytes16 + bytes_kv(b, (int)mean_pos)) / 1e6, G / items[NT].best, tn,
                  items[NT].best / items[NT + t].best);
        mean_pos = GEN_PROMPT + (steps - 1) / 2.0;
        snprintf(fig, sizeof fig, "generation, batched %d streams (+%d each): %s tok/s", B, steps,
                 tn);
        bound = B / fmax((bytes16 + B * bytes_kv(b, (int)mean_pos)) / read_bw,
                         B * (flops_blocks(b, 1, (int)mean_pos) + flops_unembed(b, 1)) / b->peak);
        r = row_add(&b->table, S, (double)B * steps / items[2 * NT + t].best, "tok/s", bound, 0,
                    fig);
        row_basis(r, "as fp32, weights at 2 bytes; fp32 here %.1f tok/s: %s %.2fx",
                  (double)B * steps / items[2 * NT].best, tn,
                  items[2 * NT].best / items[2 * NT + t].best);
        // Accuracy: every position's logits of one prompt against fp32.
        double scale, diff = logits_vs_fp32(b, ms[t], &scale);
        snprintf(fig, sizeof fig, "max |logit diff| %s vs fp32, 128 positions", tn);
        r = row_add(&b->table, S, diff, "logit", NAN, 0, fig);
        row_basis(r, "must stay within 1e-2%s; max |logit| %.2g",
                  diff <= 1e-2 ? ": met" : " <-- EXCEEDED", scale);
    }
}

// ----------------------------------------------------------------------------
// sweeps through the scoreloss path: sweep_run + tf_logits on the answer rows

// One record (tokens[0..T), the last A of them the answer) under a list of configurations.
typedef struct {
    const ConfigList *list;   // NULL: the intact pass alone (tf_forward), as for one configuration
    const int *tokens;
    int T, A;
    int batched;              // keep the answer rows, unembed them in one tf_logits call at the end
    int rows[SWEEP_ANSWER];   // rows predicting the answer tokens
    int *targets;             // (n_configs * A) answer tokens, repeated per configuration
    float *logits;            // (n_configs * A, V)
    float *gathered;          // batched: (n_configs * A, C) the answer rows' residuals
    double *lp;               // (n_configs * A) log-probabilities, configuration-major
    long blocks;              // blocks run by the last sweep
    const Gpt2 *m;
    char err[512];
} SweepRun;

static void sweep_init(SweepRun *s, Bench *b, const ConfigList *list, const int *tokens, int T,
                       int batched) {
    memset(s, 0, sizeof *s);
    s->list = list, s->tokens = tokens, s->T = T, s->A = SWEEP_ANSWER, s->batched = batched,
    s->m = &b->m;
    size_t n = (size_t)(list ? list->n : 1) * SWEEP_ANSWER;
    for (int a = 0; a < s->A; a++) s->rows[a] = T - s->A - 1 + a;
    s->targets = xmalloc(sizeof(int) * n);
    for (size_t i = 0; i < n; i++) s->targets[i] = tokens[T - s->A + (int)(i % (size_t)s->A)];
    s->logits = xmalloc(sizeof(float) * n * (size_t)b->V);
    s->gathered = batched ? xmalloc(sizeof(float) * n * (size_t)b->C) : NULL;
    s->lp = xmalloc(sizeof(double) * n);
}

static void sweep_free(SweepRun *s) {
    free(s->targets), free(s->logits), free(s->gathered), free(s->lp);
}

// What scoreloss's visitor does: the answer rows' logits, then their log-probabilities.
static int visit_score(void *ctx, int k, const float *resid, int T, TfWorkspace *ws) {
    SweepRun *s = ctx;
    int A = s->A;
    if (s->batched) {   // defer the unembedding: keep the rows
        size_t C = (size_t)s->m->cfg.n_embd;
        for (int a = 0; a < A; a++)
            memcpy(s->gathered + ((size_t)k * A + a) * C, resid + (size_t)s->rows[a] * C,
                   C * sizeof(float));
        return 0;
    }
    if (tf_logits(s->m, resid, T, s->rows, A, s->logits, ws, s->err, sizeof s->err)) return -1;
    return tf_target_logprobs(s->logits, A, s->m->cfg.vocab_size, s->targets, s->lp + (size_t)k * A,
                              s->err, sizeof s->err);
}

static void run_sweep(Bench *b, void *ctx) {
    SweepRun *s = ctx;
    if (!s->list) {   // the intact model alone
        check(tf_forward(&b->m, b->intact, b->L, s->tokens, s->T, s->rows, s->A, s->logits, &b->ws,
                         s->err, sizeof s->err),
              "intact", s->err);
        check(tf_target_logprobs(s->logits, s->A, b->V, s->targets, s->lp, s->err, sizeof s->err),
              "logprobs", s->err);
        return;
    }
    check(sweep_run(&b->m, s->list, s->tokens, s->T, &b->ws, visit_score, s, &s->blocks, s->err,
                    sizeof s->err),
          "sweep", s->err);
    if (s->batched) {
        int n = s->list->n * s->A;
        check(tf_logits(&b->m, s->gathered, n, NULL, n, s->logits, &b->ws, s->err, sizeof s->err),
              "logits", s->err);
        check(tf_target_logprobs(s->logits, n, b->V, s->targets, s->lp, s->err, sizeof s->err),
              "logprobs", s->err);
    }
}

static long naive_blocks(const ConfigList *list) {
    long n = 0;
    for (int k = 0; k < list->n; k++) n += list->cfg[k].n;
    return n;
}

static void make_sweep(const Bench *b, const char *name, ConfigList *list) {
    char err[256];
    memset(list, 0, sizeof *list);
    if (layers_sweep(name, b->L, list, err, sizeof err) != 0) eprintf(1, "sweep %s: %s", name, err);
}

// Cost of `blocks` block applications on T rows plus `rows` logit rows computed in ONE
// unembedding pass.  flops_only: FLOPs; otherwise the roofline time, each phase taking
// max(FLOPs / peak, bytes / read BW) — a block reads its weights once, the unembedding
// reads the (V, C) output matrix once.
static double sweep_cost(const Bench *b, long blocks, int T, int rows, int flops_only) {
    double C = b->C;
    double block_flops = flops_blocks(b, T, 0) / b->L,
           block_bytes = 4.0 * (12.0 * C * C + 13.0 * C);
    double un_flops = flops_unembed(b, rows), un_bytes = 4.0 * (double)b->V * C;
    if (flops_only) return (double)blocks * block_flops + un_flops;
    return (double)blocks * fmax(block_flops / b->peak, block_bytes / b->read_bw) +
           fmax(un_flops / b->peak, un_bytes / b->read_bw);
}

// The parts of a sweep, timed alone (best of the interleaved rounds): the L blocks on T
// rows, and the answer rows' ln_f + unembedding (tf_logits) and log-softmax
// (tf_target_logprobs), for one configuration's A rows and for all n_configs x A at once.
typedef struct {
    int T;           // blocks: rows; 0 for the logit parts
    int rows;        // logit parts: rows
    int logprobs;    // tf_target_logprobs instead of tf_logits
    float *resid;    // (max(T, rows), C)
    float *logits;   // (rows, V)
    int *targets;    // (rows)
    double *lp;      // (rows)
} PartRun;

static void part_init(PartRun *p, const Bench *b, int T, int rows, int logprobs) {
    memset(p, 0, sizeof *p);
    p->T = T, p->rows = rows, p->logprobs = logprobs;
    size_t n = (size_t)(T > rows ? T : rows);
    p->resid = xmalloc(sizeof(float) * n * (size_t)b->C);
    p->logits = xmalloc(sizeof(float) * (rows > 0 ? (size_t)rows : 1) * (size_t)b->V);
    p->targets = xmalloc(sizeof(int) * (rows > 0 ? (size_t)rows : 1));
    p->lp = xmalloc(sizeof(double) * (rows > 0 ? (size_t)rows : 1));
    char err[512];
    check(tf_embed(&b->m, b->tokens, (int)n, 0, p->resid, err, sizeof err), "embed", err);
    for (int i = 0; i < rows; i++) p->targets[i] = b->tokens[i];
    for (size_t i = 0; i < (size_t)(rows > 0 ? rows : 1) * (size_t)b->V; i++)
        p->logits[i] = (float)(i % 97) * 0.1f;
}

static void part_free(PartRun *p) {
    free(p->resid), free(p->logits), free(p->targets), free(p->lp);
}

static void run_part(Bench *b, void *ctx) {
    PartRun *p = ctx;
    char err[512];
    if (p->T > 0) {   // the embeddings, then the blocks in place
        check(tf_embed(&b->m, b->tokens, p->T, 0, p->resid, err, sizeof err), "embed", err);
        for (int l = 0; l < b->L; l++)
            check(tf_block_forward(&b->m, l, p->resid, p->T, &b->ws, err, sizeof err), "block",
                  err);
    } else if (p->logprobs) {
        check(tf_target_logprobs(p->logits, p->rows, b->V, p->targets, p->lp, err, sizeof err),
              "logprobs", err);
    } else {
        check(
            tf_logits(&b->m, p->resid, p->rows, NULL, p->rows, p->logits, &b->ws, err, sizeof err),
            "logits", err);
    }
}

// Measured parts of one record length: t_blocks (L blocks on T rows), and per row count
// (one configuration's answer rows, all configurations') the logits and log-probs.
typedef struct {
    double t_blocks, t_logits_one, t_logits_all, t_lp_one, t_lp_all;
} SweepParts;

// The floor of (sweep / intact pass) with exact fp32 at the rates the kernels reach
// alone: the sweep cannot do less than its blocks (blocks_run of them) and one
// unembedding + log-softmax of all its answer rows; the intact pass does its L blocks
// and its own answer rows.
static double parts_floor(const Bench *b, const SweepParts *p, long blocks_run) {
    double sweep = p->t_blocks * (double)blocks_run / b->L + p->t_logits_all + p->t_lp_all;
    return sweep / (p->t_blocks + p->t_logits_one + p->t_lp_one);
}

// The sweep against the intact pass, beside the floor above; the basis gives the parts,
// the roofline floor of the hardware (each phase at max(FLOPs / peak, bytes / read BW))
// and the target.
static void ratio_row(Bench *b, const char *S, const char *fig, double t_sweep, double t_intact,
                      long blocks, int T, int n_configs, const SweepParts *p, int with_target) {
    int A = SWEEP_ANSWER;
    double roofline = sweep_cost(b, blocks, T, n_configs * A, 0) / sweep_cost(b, b->L, T, A, 0);
    double v = t_sweep / t_intact;
    Row *r = row_add(&b->table, S, v, "x", parts_floor(b, p, blocks), 1, fig);
    char target[48] = "";
    if (with_target)
        snprintf(target, sizeof target, "; target %.2f %s", SWEEP_TARGET,
                 v <= SWEEP_TARGET ? "met" : "MISSED");
    row_basis(r, "(%.1f + %.1f + %.1f) / (%.1f + %.1f + %.1f) ms; roofline %.2f; %.1f / %.1f ms%s",
              p->t_blocks * 1e3 * (double)blocks / b->L, p->t_logits_all * 1e3, p->t_lp_all * 1e3,
              p->t_blocks * 1e3, p->t_logits_one * 1e3, p->t_lp_one * 1e3, roofline, t_sweep * 1e3,
              t_intact * 1e3, target);
}

// The record length from which the drop-last floor meets the target, from the blocks'
// cost at two lengths (linear in T between and beyond them); 0 if it never does.  With
// the L blocks at t_B: floor = target where t_B = (all rows' parts - target x one
// configuration's) / (target - 1).
static double floor_target_T(const SweepParts *p24, const SweepParts *p128) {
    double need =
        (p24->t_logits_all + p24->t_lp_all - SWEEP_TARGET * (p24->t_logits_one + p24->t_lp_one)) /
        (SWEEP_TARGET - 1.0);
    double slope = (p128->t_blocks - p24->t_blocks) / (PREFILL_T - SWEEP_T);
    if (need <= p24->t_blocks) return SWEEP_T;
    return slope > 0 ? SWEEP_T + (need - p24->t_blocks) / slope : 0;
}

static void bench_sweeps(Bench *b) {
    char S[128], fig[96];
    snprintf(
        S, sizeof S,
        "sweep: one record, %d answer tokens, sweep_run + tf_logits + tf_target_logprobs as scoreloss",
        SWEEP_ANSWER);
    ConfigList drop, skip;
    make_sweep(b, "drop-last", &drop);
    make_sweep(b, "skip-one", &skip);
    int A = SWEEP_ANSWER, all = drop.n * A;
    enum {
        INTACT,
        DROP,
        DROP_PER_CONFIG,
        BLOCKS,
        LOGITS_ONE,
        LOGITS_ALL,
        LP_ONE,
        LP_ALL,   // 24 tokens
        INTACT_LONG,
        DROP_LONG,
        BLOCKS_LONG,
        SKIP,
        N_ITEMS
    };
    SweepRun runs[N_ITEMS];
    PartRun parts[N_ITEMS];
    Timed items[N_ITEMS];
    sweep_init(&runs[INTACT], b, NULL, b->tokens, SWEEP_T, 0);
    // scoreloss keeps every configuration's answer rows and unembeds them together
    // (batched); DROP_PER_CONFIG is the older way, one unembedding per configuration.
    sweep_init(&runs[DROP], b, &drop, b->tokens, SWEEP_T, 1);
    sweep_init(&runs[DROP_PER_CONFIG], b, &drop, b->tokens, SWEEP_T, 0);
    sweep_init(&runs[SKIP], b, &skip, b->tokens, SWEEP_T, 1);
    sweep_init(&runs[INTACT_LONG], b, NULL, b->tokens, PREFILL_T, 0);
    sweep_init(&runs[DROP_LONG], b, &drop, b->tokens, PREFILL_T, 1);
    part_init(&parts[BLOCKS], b, SWEEP_T, 0, 0);
    part_init(&parts[BLOCKS_LONG], b, PREFILL_T, 0, 0);
    part_init(&parts[LOGITS_ONE], b, 0, A, 0);
    part_init(&parts[LOGITS_ALL], b, 0, all, 0);
    part_init(&parts[LP_ONE], b, 0, A, 1);
    part_init(&parts[LP_ALL], b, 0, all, 1);
    for (int i = 0; i < N_ITEMS; i++) {
        int part = i == BLOCKS || i == BLOCKS_LONG || (i >= LOGITS_ONE && i <= LP_ALL);
        items[i] =
            part ? (Timed){run_part, &parts[i], 0, NULL} : (Timed){run_sweep, &runs[i], 0, NULL};
    }
    // cheap items often (ratios taken between items of one group), dear ones less
    time_interleaved(b, &items[INTACT], LP_ALL - INTACT + 1, short_rounds(b));
    time_interleaved(b, &items[INTACT_LONG], BLOCKS_LONG - INTACT_LONG + 1, 3 * b->o.reps);
    time_interleaved(b, &items[SKIP], 1, b->o.reps);
    SweepParts p24 = {items[BLOCKS].best, items[LOGITS_ONE].best, items[LOGITS_ALL].best,
                      items[LP_ONE].best, items[LP_ALL].best};
    SweepParts p128 = p24;
    p128.t_blocks = items[BLOCKS_LONG].best;
    double t_intact = items[INTACT].best;

    snprintf(fig, sizeof fig, "drop-last (%d configs) / intact pass, %d tokens", drop.n, SWEEP_T);
    ratio_row(b, S, fig, items[DROP].best, t_intact, runs[DROP].blocks, SWEEP_T, drop.n, &p24, 1);
    snprintf(fig, sizeof fig, "drop-last (%d configs) / intact pass, %d tokens", drop.n, PREFILL_T);
    ratio_row(b, S, fig, items[DROP_LONG].best, items[INTACT_LONG].best, runs[DROP_LONG].blocks,
              PREFILL_T, drop.n, &p128, 1);
    int same = memcmp(runs[DROP].lp, runs[DROP_PER_CONFIG].lp, sizeof(double) * (size_t)all) == 0;
    snprintf(fig, sizeof fig,
             same ? "  %d tokens, one unembedding per config (before)"
                  : "  %d tokens, per config: log-probs DIFFER",
             SWEEP_T);
    ratio_row(b, S, fig, items[DROP_PER_CONFIG].best, t_intact, runs[DROP].blocks, SWEEP_T, drop.n,
              &p24, 0);

    Row *r = row_add(&b->table, S, (double)runs[DROP].blocks, "blocks",
                     (double)configs_prefix_blocks(&drop), 1, "drop-last blocks run");
    row_basis(r, "distinct prefixes (naive: %ld)", naive_blocks(&drop));
    r = row_add(&b->table, S, (double)runs[SKIP].blocks, "blocks",
                (double)configs_prefix_blocks(&skip), 1, "skip-one blocks run");
    row_basis(r, "distinct prefixes (naive: %ld = %d configs x their blocks)", naive_blocks(&skip),
              skip.n);
    snprintf(fig, sizeof fig, "skip-one (%d configs) / intact pass, %d tokens", skip.n, SWEEP_T);
    ratio_row(b, S, fig, items[SKIP].best, t_intact, runs[SKIP].blocks, SWEEP_T, skip.n, &p24, 0);

    double f24 = parts_floor(b, &p24, runs[DROP].blocks),
           f128 = parts_floor(b, &p128, runs[DROP_LONG].blocks);
    double t_met = floor_target_T(&p24, &p128);
    char when[64];
    if (t_met <= 0) snprintf(when, sizeof when, "at no record length");
    else if (t_met <= SWEEP_T) snprintf(when, sizeof when, "already at %d tokens", SWEEP_T);
    else snprintf(when, sizeof when, "from about %.0f tokens", t_met);
    note(
        b,
        "drop-last floor (exact fp32, each part at the rate its kernel reaches alone): %.2f at %d tokens, %.2f at %d;"
        " it meets %.2f %s.  FLOP ratios %.2f and %.2f: no floor, the intact pass reads the %.0f MB output"
        " matrix for its %d rows as well\n",
        f24, SWEEP_T, f128, PREFILL_T, SWEEP_TARGET, when,
        sweep_cost(b, runs[DROP].blocks, SWEEP_T, all, 1) / sweep_cost(b, b->L, SWEEP_T, A, 1),
        sweep_cost(b, runs[DROP_LONG].blocks, PREFILL_T, all, 1) /
            sweep_cost(b, b->L, PREFILL_T, A, 1),
        4.0 * b->V * b->C / 1e6, A);
    for (int i = 0; i < N_ITEMS; i++) {
        if (items[i].run == run_part) part_free(&parts[i]);
        else sweep_free(&runs[i]);
    }
    configs_free(&drop);
    configs_free(&skip);
}

// ----------------------------------------------------------------------------
// start-up and memory of bin/scoreloss (child processes)

// Median wall seconds of STARTUP_RUNS runs; -1 when a run failed.
static double median_run(char *const argv[], const char *input, double *min) {
    double t[STARTUP_RUNS];
    long rss;
    for (int i = 0; i < STARTUP_RUNS; i++)
        if (child_run(argv, input, NULL, &t[i], &rss) != 0) return -1;
    qsort(t, STARTUP_RUNS, sizeof *t, cmp_double);
    *min = t[0];
    return t[STARTUP_RUNS / 2];
}

// Runs before the model is opened: a spawned child's ru_maxrss starts from the parent's
// resident-set high-water mark (Linux carries it across exec), so the parent must be small.
static void startup_measure(Bench *b) {
    Startup *su = &b->startup;
    char *exe = path_join(b->o.bin_dir, "scoreloss");
    if (!is_file(exe)) eprintf(1, "%s not found (run make, or pass --bin)", exe);
    char *model = (char *)b->o.model_dir;
    char *ready[] = {exe, "--model", model, "--layers", "none", NULL};
    char *help[] = {exe, "--help", NULL};
    su->t_ready = median_run(ready, "{\"prompt\":\"a\",\"answer\":\"b\"}\n", &su->t_ready_min);
    su->t_help = median_run(help, "", &su->t_help_min);
    if (su->t_ready < 0 || su->t_help < 0) eprintf(1, "%s failed on a one-record input", exe);

    static const char *const prompts[] = {"3 + 1 = 4\\n9 + 4 = 13\\n0 + 7 = 7\\n1 + 1 =",
                                          "The Eiffel Tower is located in the city of",
                                          "Monday, Tuesday,", "one dog, two dogs\\none cat, two"};
    static const char *const answers[] = {"2", "Paris", "Wednesday", "cats"};
    JsonBuf in = {0};
    for (int i = 0; i < 4; i++) {
        char line[256];
        snprintf(line, sizeof line, "{\"prompt\":\"%s\",\"answer\":\"%s\"}\n", prompts[i],
                 answers[i]);
        jb_puts(&in, line);
    }
    char *sweep[] = {exe, "--model", model, "--sweep", "drop-last", NULL};
    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    su->self_rss_kb = self.ru_maxrss;
    if (child_run(sweep, in.buf, NULL, &su->t_sweep, &su->rss_kb) != 0)
        eprintf(1, "%s --sweep drop-last failed", exe);
    jb_free(&in);
    free(exe);
}

// ----------------------------------------------------------------------------
// runlayers' prefill: a prompt into one KV cache per configuration

typedef struct {
    TfCache **caches;
    int n, T, shared;   // shared: sweep_prefill; else one tf_step per cache
    float *logits;      // (n, V)
    long blocks;
} PrefillCaches;

static void run_prefill_caches(Bench *b, void *ctx) {
    PrefillCaches *p = ctx;
    char err[512];
    for (int i = 0; i < p->n; i++)
        check(tf_cache_rewind(p->caches[i], 0, err, sizeof err), "rewind", err);
    if (p->shared) {
        check(sweep_prefill(p->caches, p->n, b->tokens, p->T, p->logits, &b->ws, &p->blocks, err,
                            sizeof err),
              "sweep_prefill", err);
        return;
    }
    for (int i = 0; i < p->n; i++)
        check(tf_step(p->caches[i], b->tokens, p->T, p->logits + (size_t)i * b->V, err, sizeof err),
              "prefill", err);
}

static void bench_prefill_caches(Bench *b) {
    char S[160], fig[96], err[512];
    ConfigList skip;
    make_sweep(b, "skip-one", &skip);
    snprintf(
        S, sizeof S,
        "runlayers' prefill: one %d-token prompt, a KV cache per skip-one configuration, best of %d",
        PREFILL_T, b->o.reps);
    PrefillCaches runs[2];
    for (int k = 0; k < 2; k++) {
        runs[k] = (PrefillCaches){
            xcalloc((size_t)skip.n, sizeof(TfCache *)), skip.n, PREFILL_T, k, NULL, 0};
        runs[k].logits = xmalloc(sizeof(float) * (size_t)skip.n * (size_t)b->V);
        for (int i = 0; i < skip.n; i++) {
            runs[k].caches[i] =
                tf_cache_new(&b->m, skip.cfg[i].idx, skip.cfg[i].n, PREFILL_T, err, sizeof err);
            if (!runs[k].caches[i]) eprintf(1, "cache: %s", err);
            runs[k].caches[i]->ws = &b->ws;
        }
    }
    Timed items[2] = {{run_prefill_caches, &runs[0], 0, NULL},
                      {run_prefill_caches, &runs[1], 0, NULL}};
    time_interleaved(b, items, 2, b->o.reps);
    double naive = (double)naive_blocks(&skip), shared = (double)runs[1].blocks;
    snprintf(fig, sizeof fig, "skip-one (%d configs): one prefill each / shared", skip.n);
    Row *r = row_add(&b->table, S, items[0].best / items[1].best, "x", NAN, 0, fig);
    row_basis(
        r,
        "speed-up; blocks run %.0f one each / %.0f shared (sweep_prefill) = %.2fx; %.0f / %.0f ms",
        naive, shared, naive / shared, items[0].best * 1e3, items[1].best * 1e3);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < skip.n; i++) tf_cache_free(runs[k].caches[i]);
        free(runs[k].caches);
        free(runs[k].logits);
    }
    configs_free(&skip);
}

static void bench_startup(Bench *b) {
    const char *S = "start-up and memory: bin/scoreloss, a child process";
    const Startup *su = &b->startup;
    // --layers none: embed one row, ln_f, unembed: reads the whole (V, C) output matrix.
    double lm_bytes = 4.0 * b->V * b->C, floor_s = su->t_help + lm_bytes / b->read_bw;
    Row *r = row_add(&b->table, S, su->t_ready * 1e3, "ms", floor_s * 1e3, 1,
                     "ready + 1 record, --layers none (median of 5)");
    row_basis(r, "exec (--help) %.1f ms + %.0f MB output matrix / read BW; min %.1f ms",
              su->t_help * 1e3, lm_bytes / 1e6, su->t_ready_min * 1e3);
    double weights = 4.0 * (double)b->m.n_params;
    r = row_add(&b->table, S, su->rss_kb * 1024.0 / 1e6, "MB", weights / 1e6, 1,
                "peak RSS, drop-last sweep of 4 records");
    row_basis(r, "the fp32 weights (%.1fM params); run took %.2f s", b->m.n_params / 1e6,
              su->t_sweep);
    note(
        b,
        "peak RSS: bench's own high-water mark when it spawned scoreloss was %.0f MB (the figure cannot be below it)\n",
        su->self_rss_kb * 1024.0 / 1e6);
}

// ----------------------------------------------------------------------------
// workloads: the experiments through bin/ (bench/workloads.h)

// Runs before the model is opened, for the same reason as startup_measure: a child's peak
// RSS starts from the parent's high-water mark.
static void workloads_measure(Bench *b) {
    if (b->o.workload_rounds <= 0) return;
    char *cfg_path = path_join(b->o.model_dir, "config.json"), err[512];
    Gpt2Config cfg;
    check(gpt2_read_config(cfg_path, &cfg, err, sizeof err), "config", err);
    free(cfg_path);
    WorkloadEnv env = {b->o.model_dir,       b->o.bin_dir,   cfg.n_layer,
                       cfg.n_embd,           cfg.vocab_size, cfg.n_head,
                       b->o.workload_rounds, b->o.quick,     sweep_last_rows()};
    b->n_work = workloads_run(&env, b->work, err, sizeof err);
    if (b->n_work < 0) eprintf(1, "workloads: %s", err);
}

// A row per job: records/s against the rate at the FP32 peak (so the ratio is the
// achieved FLOP/s over the peak); the basis has the FLOPs, the times and the peak RSS.
static void bench_workloads(Bench *b) {
    if (b->n_work <= 0) return;
    char S[160], fig[96];
    snprintf(
        S, sizeof S,
        "workloads: bin/ tools as child processes, input from gentasks, best of %d interleaved runs%s",
        b->o.workload_rounds, b->o.quick ? " (--quick: smaller inputs)" : "");
    for (int k = 0; k < b->n_work; k++) {
        const Workload *w = &b->work[k];
        double per_record = w->flops / w->records;
        snprintf(fig, sizeof fig, "%s, %d records: records/s", w->name, w->records);
        Row *r = row_add(&b->table, S, w->records / w->best, "rec/s", b->peak / per_record, 0, fig);
        row_basis(
            r,
            "%s; %.1f GFLOP counted, %.1f GFLOP/s; best %.2f s, median %.2f; peak RSS %.0f MB; %ld records out",
            w->command, w->flops / 1e9, w->flops / w->best / 1e9, w->best, w->median,
            w->rss_kb * 1024.0 / 1e6, w->outputs);
    }
}

// ----------------------------------------------------------------------------
// the naive reference (one thread, triple loops)

static void bench_naive(Bench *b) {
    const char *S = "naive reference: triple-loop matmuls, 1 thread (bench/naive.c)";
    char err[512];
    NaiveGpt2 nv;
    check(naive_init(&nv, &b->m, PREFILL_T, err, sizeof err), "naive", err);
    float *ref = xmalloc(sizeof(float) * (size_t)b->V);
    int reps = b->o.quick ? 1 : 2;

    double best = INFINITY;
    for (int rep = 0; rep < reps; rep++) {
        nv.T = 0;
        double t0 = now_seconds();
        check(naive_step(&nv, b->tokens, PREFILL_T, ref, err, sizeof err), "naive prefill", err);
        double t = now_seconds() - t0;
        if (t < best) best = t;
    }
    double flops = flops_blocks(b, PREFILL_T, 0) + flops_unembed(b, 1);
    Row *r = row_add(&b->table, S, PREFILL_T / best, "tok/s", b->peak1 / (flops / PREFILL_T), 0,
                     "prefill 1 x 128, last logits: tokens/s");
    row_basis(r, "1-thread peak / %.1f MFLOP per token; engine is %.1fx faster",
              flops / PREFILL_T / 1e6, b->prefill_last_tps / (PREFILL_T / best));
    r = row_add(&b->table, S, flops / best / 1e9, "GFLOP/s", b->peak1 / 1e9, 0,
                "prefill: matmul GFLOP/s");
    row_basis(r, "1-thread FP32 peak");

    // agreement with the engine: the last logits of the same prompt
    int last = PREFILL_T - 1;
    check(tf_forward(&b->m, b->intact, b->L, b->tokens, PREFILL_T, &last, 1, b->logits, &b->ws, err,
                     sizeof err),
          "engine", err);
    double diff = 0, scale = 0;
    for (int v = 0; v < b->V; v++) {
        diff = fmax(diff, fabs((double)ref[v] - b->logits[v]));
        scale = fmax(scale, fabs((double)b->logits[v]));
    }
    note(
        b,
        "naive vs engine, last logits of a 128-token prompt: max |diff| %.2g (max |logit| %.2g)%s\n",
        diff, scale, diff <= 1e-3 * fmax(scale, 1.0) ? "" : "  <-- DISAGREE");

    // generation: prompt untimed, then one token at a time
    int G = b->o.naive_gen_tokens, prompt[GEN_PROMPT];
    prompt_tokens(b, 0, prompt, GEN_PROMPT);
    nv.T = 0;
    check(naive_step(&nv, prompt, GEN_PROMPT, ref, err, sizeof err), "naive prompt", err);
    best = INFINITY;
    for (int rep = 0; rep < reps; rep++) {
        nv.T = GEN_PROMPT;
        double t0 = now_seconds();
        for (int g = 0; g < G; g++)
            check(naive_step(&nv, &b->tokens[g], 1, ref, err, sizeof err), "naive step", err);
        double t = now_seconds() - t0;
        if (t < best) best = t;
    }
    double mean_pos = GEN_PROMPT + (G - 1) / 2.0;
    char fig[96];
    snprintf(fig, sizeof fig, "generation, single stream (+%d tokens): tokens/s", G);
    r = row_add(&b->table, S, G / best, "tok/s",
                decode_bound(b, 1, mean_pos, b->read_bw1, b->peak1), 0, fig);
    row_basis(r, "1-thread read BW / bytes per token; engine is %.1fx faster",
              b->gen_tps / (G / best));
    naive_free(&nv);
    free(ref);
}

// ----------------------------------------------------------------------------
// header, output

static void date_string(char *buf, size_t len) {
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M %Z", &tm);
}

static void print_header(const Bench *b, FILE *f, const char *date) {
    const MachineInfo *mi = &b->mi;
    fprintf(f, "autointerp bench, %s\n", date);
    fprintf(
        f,
        "machine: %s, %d CPUs (%d threads used), %.0f MHz, AVX2 %s, FMA %s, AVX-512F %s; kernel path %s; load %.2f at start\n",
        mi->model_name, mi->n_cpus, b->threads, mi->mhz, mi->has_avx2 ? "yes" : "no",
        mi->has_fma ? "yes" : "no", mi->has_avx512f ? "yes" : "no", matmul_kernel_name(),
        mi->load1);
    char huge[96] = "";
    if (b->mapped_huge_kb >= 0 && b->mapped_kb > 0)
        snprintf(huge, sizeof huge, ", %.0f%% of it on huge pages",
                 100.0 * (double)b->mapped_huge_kb / (double)b->mapped_kb);
    fprintf(f, "model: %s (L=%d C=%d heads=%d V=%d n_ctx=%d, %.1fM params, %s, %s%s)\n",
            b->o.model_dir, b->L, b->C, b->NH, b->V, b->m.cfg.n_ctx, b->m.n_params / 1e6,
            b->m.dtype,
            b->m.converted   ? "some weights copied at open"
            : b->m.huge_copy ? "weights copied from the mmap onto anonymous huge pages at open"
                             : "weights used in place from the mmap",
            huge);
    fprintf(f, "source: %s\n", b->source);
    fprintf(
        f,
        "ratio = value / bound (for a floor: bound / value): 1.00 is the best possible; best of %d reps\n\n",
        b->o.reps);
}

static void write_json(const Bench *b, const char *date, double seconds) {
    FILE *f = fopen(b->o.json_path, "w");
    if (!f) eprintf(1, "cannot write %s: %s", b->o.json_path, strerror(errno));
    JsonBuf jb = {0};
    jb_puts(&jb, "{");
    jb_key(&jb, "bench"), jb_cstr(&jb, "autointerp");
    jb_key(&jb, "date"), jb_cstr(&jb, date);
    jb_key(&jb, "cpu"), jb_cstr(&jb, b->mi.model_name);
    jb_key(&jb, "cpus"), jb_int(&jb, b->mi.n_cpus);
    jb_key(&jb, "threads"), jb_int(&jb, b->threads);
    jb_key(&jb, "avx2"), jb_puts(&jb, b->mi.has_avx2 ? "true" : "false");
    jb_key(&jb, "avx512f"), jb_puts(&jb, b->mi.has_avx512f ? "true" : "false");
    jb_key(&jb, "load_at_start"), jb_double(&jb, b->mi.load1);
    jb_key(&jb, "source"), jb_cstr(&jb, b->source);
    jb_key(&jb, "model"), jb_cstr(&jb, b->o.model_dir);
    jb_key(&jb, "params"), jb_int(&jb, b->m.n_params);
    jb_key(&jb, "mapped_kb"), jb_int(&jb, b->mapped_kb);
    jb_key(&jb, "mapped_huge_kb"), jb_int(&jb, b->mapped_huge_kb);
    jb_key(&jb, "weights_huge_copy"), jb_int(&jb, b->m.huge_copy != NULL);
    jb_key(&jb, "reps"), jb_int(&jb, b->o.reps);
    jb_key(&jb, "seconds"), jb_double(&jb, seconds);
    jb_key(&jb, "others_cpus"), jb_double(&jb, b->others);
    jb_puts(&jb, "}\n");
    for (int i = 0; i < b->table.n; i++) json_row(&jb, &b->table.rows[i]);
    if (fwrite(jb.buf, 1, jb.len, f) != jb.len || fclose(f) != 0)
        eprintf(1, "cannot write %s", b->o.json_path);
    jb_free(&jb);
}

// ----------------------------------------------------------------------------
// main

static void parse_options(Options *o, int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},     {"bin", required_argument, 0, 'b'},
        {"json", required_argument, 0, 'j'},      {"reps", required_argument, 0, 'r'},
        {"quick", no_argument, 0, 'q'},           {"help", no_argument, 0, 'h'},
        {"workloads", required_argument, 0, 'w'}, {"workloads-only", no_argument, 0, 'W'},
        {"decode-only", no_argument, 0, 'D'},     {0, 0, 0, 0}};
    *o = (Options){"build/bench/gpt2-random", "bin", NULL, 3, 0, 4, 8, 4, 8, 2, 0, 0};
    int rounds = -1, only = 0, decode = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model_dir = optarg; break;
        case 'b': o->bin_dir = optarg; break;
        case 'j': o->json_path = optarg; break;
        case 'r':
            o->reps = atoi(optarg);
            if (o->reps < 1 || o->reps > 100) eprintf(2, "--reps must be 1..100");
            break;
        case 'q': o->quick = 1; break;
        case 'w': rounds = (int)arg_integer(optarg, 0, 100, "--workloads"); break;
        case 'W': only = 1; break;
        case 'D': decode = 1; break;
        case 'h': fputs(usage_text, stdout); exit(0);
        default: fputs(usage_text, stderr); exit(2);
        }
    }
    if (optind < argc) eprintf(2, "unexpected argument \"%s\"", argv[optind]);
    if (o->quick) *o = (Options){o->model_dir, o->bin_dir, o->json_path, 2, 1, 1, 4, 2, 2, 1, 0, 0};
    if (rounds >= 0) o->workload_rounds = rounds;
    else if (decode) o->workload_rounds = 0;
    o->workloads_only = only;
    o->decode_only = decode;
    if (only && decode) eprintf(2, "--workloads-only and --decode-only exclude each other");
    if (only && o->workload_rounds == 0)
        eprintf(2, "--workloads-only needs --workloads N with N > 0");
}

static void bench_open(Bench *b) {
    char err[1024];
    check(gpt2_open(&b->m, b->o.model_dir, err, sizeof err), "model", err);
    for (int t = 0; t < LOWP_TYPES; t++)
        check(gpt2_open(&b->m16[t], b->o.model_dir, err, sizeof err), "model", err);
    b->L = b->m.cfg.n_layer, b->C = b->m.cfg.n_embd, b->V = b->m.cfg.vocab_size,
    b->NH = b->m.cfg.n_head;
    if (b->m.cfg.n_ctx < PREFILL_T)
        eprintf(1, "the model's context (%d) is shorter than %d", b->m.cfg.n_ctx, PREFILL_T);
    b->intact = xmalloc(sizeof(int) * (size_t)b->L);
    for (int l = 0; l < b->L; l++) b->intact[l] = l;
    ThreadPool *pool = threadpool_global();
    b->threads = threadpool_size(pool);
    check(tf_workspace_init(&b->ws, &b->m, PREFILL_T, pool, err, sizeof err), "workspace", err);
    b->logits = xmalloc(sizeof(float) * PREFILL_T * (size_t)b->V);
    size_t n = (size_t)b->o.n_prompts * PREFILL_T;
    if (n < (size_t)BATCH_STREAMS * b->o.batch_steps || n < (size_t)b->o.gen_tokens)
        eprintf(1, "too few tokens");
    b->tokens = xmalloc(sizeof(int) * n);
    unsigned long long s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        b->tokens[i] = (int)((s >> 33) % (unsigned long long)(b->V - 1));
    }
    // Warm-up: one pass touches every weight page of the mmap'd checkpoint.
    int last = PREFILL_T - 1;
    check(tf_forward(&b->m, b->intact, b->L, b->tokens, PREFILL_T, &last, 1, b->logits, &b->ws, err,
                     sizeof err),
          "warm-up", err);
    // How much of the mapping huge pages hold (common/base/util.h huge_pages_advise).
    // (gpt2_weights_huge may have copied them onto anonymous huge pages instead.)
    const void *at = b->m.huge_copy ? (const void *)b->m.huge_copy : b->m.st ? b->m.st->map : NULL;
    b->mapped_kb =
        at ? (long)((b->m.huge_copy ? b->m.huge_copy_size : b->m.st->map_size) >> 10) : 0;
    b->mapped_huge_kb =
        b->mapped_kb ? smaps_field(at, b->m.huge_copy ? "AnonHugePages" : "FilePmdMapped", NULL, 0)
                     : -1;
}

static void bench_close(Bench *b) {
    tf_workspace_free(&b->ws);
    gpt2_close(&b->m);
    for (int t = 0; t < LOWP_TYPES; t++) gpt2_close(&b->m16[t]);
    free(b->intact);
    free(b->logits);
    free(b->tokens);
    free(b->table.rows);
}

// "commit abc1234" plus the number of files with uncommitted changes in the code the
// benchmark links (common/, src/, bench/), from git; "unknown" outside a checkout.
static void source_describe(char *buf, size_t len) {
    snprintf(buf, len, "unknown (no git checkout)");
    FILE *p = popen(
        "git rev-parse --short HEAD 2>/dev/null && git status --porcelain -- common src bench 2>/dev/null"
        " | wc -l",
        "r");
    if (!p) return;
    char commit[64] = "", count[32] = "";
    if (fgets(commit, sizeof commit, p) && fgets(count, sizeof count, p)) {
        commit[strcspn(commit, "\n")] = '\0';
        int dirty = atoi(count);
        if (dirty > 0)
            snprintf(buf, len, "commit %s + uncommitted changes in %d files of common/ src/ bench/",
                     commit, dirty);
        else snprintf(buf, len, "commit %s (clean)", commit);
    }
    pclose(p);
}

// Average number of CPUs other processes kept busy during a run of `seconds` that began
// when the machine's busy time was busy0 (ours and our children's CPU time excluded).
static double others_cpus(double busy0, double seconds) {
    double busy1 = machine_busy_seconds();
    if (busy0 < 0 || busy1 < 0 || seconds <= 0) return NAN;
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    double ours = self.ru_utime.tv_sec + self.ru_utime.tv_usec * 1e-6 + self.ru_stime.tv_sec +
                  self.ru_stime.tv_usec * 1e-6 + kids.ru_utime.tv_sec +
                  kids.ru_utime.tv_usec * 1e-6 + kids.ru_stime.tv_sec +
                  kids.ru_stime.tv_usec * 1e-6;
    double others = (busy1 - busy0 - ours) / seconds;
    return others > 0 ? others : 0;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    signal(SIGPIPE, SIG_IGN);
    static Bench b;
    parse_options(&b.o, argc, argv);
    double t0 = now_seconds(), busy0 = machine_busy_seconds();
    machine_info(&b.mi);
    source_describe(b.source, sizeof b.source);
    if (!b.o.workloads_only && !b.o.decode_only) startup_measure(&b);
    workloads_measure(&b);
    bench_open(&b);
    bench_machine(&b);
    if (b.o.decode_only) bench_generation(&b);
    else if (!b.o.workloads_only) {
        bench_prefill(&b);
        bench_generation(&b);
        bench_lowp(&b);
        bench_sweeps(&b);
        bench_prefill_caches(&b);
        bench_startup(&b);
        bench_naive(&b);
    }
    bench_workloads(&b);
    double seconds = now_seconds() - t0;
    b.others = others_cpus(busy0, seconds);

    char date[64];
    date_string(date, sizeof date);
    print_header(&b, stdout, date);
    table_print(&b.table, stdout);
    MachineInfo end;
    machine_info(&end);
    printf(
        "\n%sbench took %.0f s; other processes used %.2f of the %d CPUs on average meanwhile (load %.2f at the end)%s\n",
        b.notes, seconds, b.others, b.mi.n_cpus, end.load1,
        b.others > 0.25
            ? "\nWARNING: the machine was shared; figures are lower bounds, ratios pessimistic"
            : "");
    if (b.o.json_path) write_json(&b, date, seconds);
    bench_close(&b);
    if (fflush(stdout) != 0 || ferror(stdout)) eprintf(2, "write error on stdout");
    return 0;
}
