// workloads: the experiments users run, through the real tools (bin/) as child processes,
// timed end to end, with the FLOPs each needs counted analytically — the "workloads"
// section of `make bench` (docs/bench.md) and the job list bench/peer_torch.py mirrors.
//
// FLOP count (matmuls only, as the rest of the bench): a row at position q through one
// block costs 24·C² (the four weight matrices) + 4·C·(q+1) (q·k and the weighted sum of
// v over q+1 keys); a logit row costs 2·C·V.  A record of a scoring job has P prompt
// tokens (BOS included) and A answer tokens; the T = P + A − 1 rows that predict the
// answer are computed, and the A rows at positions P−1 … T−1 are unembedded.  Each job is
// counted at its minimum with prefix sharing — what a perfect implementation must still do:
//   drop-last    blocks of the distinct prefixes (L) over T rows + configs × A logit rows
//   ablate-heads head h of block l ablated shares blocks < l with the intact run: L +
//                Σ_l H·(L−l) blocks over T rows, + (1 + L·H) × A logit rows
//   patch-sweep  clean + corrupted runs (2·L blocks over T rows, 2·A logit rows), then per
//                cell (block l, position p < P): blocks l … L−1 over rows p … T−1, A logit rows
//                — except the cells that patch nothing, which are not run (their result
//                is the corrupted run's): the clean and corrupted tokens agree at 0 … p,
//                or l = 0 and they agree at p (the embedding).  A TransformerLens user
//                (bench/peer_torch.py) runs them; they are not charged here, so that the
//                rate stays the kernels' and the wall time shows the saving.
//   topk         distinct prefixes of the sweep over the P prompt rows, a logit row per
//                configuration (the last position)
//   runlayers    distinct prefixes over the P prompt rows + a logit row per stream, then
//                per decoding step t (1 … G−1, G from the output's completion_tokens; G
//                when it ended on <|endoftext|>) a logit row and one row at position P+t−1
//                through the stream's blocks — those its layer list begins with in common
//                with a stream of its record whose first t tokens are its own charged once
//                (runlayers runs them once: decode steps shared while streams agree)
#ifndef AUTOINTERP_BENCH_WORKLOADS_H
#define AUTOINTERP_BENCH_WORKLOADS_H
#include <stddef.h>

#include "experiment/layers.h"

typedef struct {
    const char *model_dir, *bin_dir;
    int L, C, V, H;   // the model's shapes
    int rounds;       // timed runs of each job, interleaved; the best is kept
    int quick;        // smaller inputs
    int last_rows;    // the tools run a leaf's last block only on the rows read
                      // (sweep_last_rows(): not with AUTOINTERP_LAST_ROWS=0, which the
                      // tools inherit): those rows' other FLOPs are not charged
} WorkloadEnv;

#define WORKLOAD_MAX 8

typedef struct {
    char name[48];         // "drop-last"
    char command[160];     // the pipeline, as a user types it
    int records;           // input records
    long outputs;          // output records
    double flops;          // analytic FLOPs of one run (above)
    double best, median;   // seconds of the fastest run, and the median run
    long rss_kb;           // the largest peak RSS of its runs
    int status;            // exit status of the last run (0 expected)
} Workload;

// Make the inputs (bin/gentasks), run every job `rounds` times round-robin and fill
// out[0..n).  Returns n, or -1 with a message in err (a tool missing or failing).
int workloads_run(const WorkloadEnv *env, Workload *out, char *err, size_t errlen);

// Run argv with `input` on stdin, stdout to the file out_path (NULL: /dev/null) and stderr
// to /dev/null.  Returns the exit status (-1 when it could not run or was killed);
// *seconds: spawn to reaped; *maxrss_kb: the child's peak resident set.
int child_run(char *const argv[], const char *input, const char *out_path, double *seconds,
              long *maxrss_kb);

// Blocks a perfect prefix-sharing plan runs for `list`: its distinct non-empty prefixes.
long configs_prefix_blocks(const ConfigList *list);
// Of those, the last blocks of configurations that no other continues from (leaves: not
// a proper prefix of another, nor repeated later in the list), which the sweeps trim to
// the rows read.
long configs_leaf_blocks(const ConfigList *list);

#endif
