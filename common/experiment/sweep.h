// sweep: run many layer configurations over one token sequence, sharing prefixes.
//
// Configurations that begin with the same blocks reuse the residual stream computed for
// that prefix: the configurations are visited in lexicographic order of their block
// lists, and a stack keeps the residual after every block of the current path.  A
// drop-last sweep of all L+1 configurations therefore runs L blocks in all — about one
// forward pass — and a skip-one sweep shares every prefix it can.  Results are
// bit-identical to running each configuration alone (same kernels, same order of
// operations per row).
#ifndef AUTOINTERP_SWEEP_H
#define AUTOINTERP_SWEEP_H
#include "experiment/layers.h"
#include "model/transformer.h"

// Called once per configuration k with the final residual stream (T, C) (before ln_f),
// which is valid only during the call; ws may be used (e.g. for tf_logits).  Return 0
// to go on, -1 to stop the sweep (sweep_run then returns -1 with err untouched).
typedef int (*SweepVisit)(void *ctx, int k, const float *resid, int T, TfWorkspace *ws);

// Run every configuration of list on tokens (T <= ws->max_T) and call visit for each (in
// lexicographic order, not list order).  *blocks_run (if non-NULL) gets the number of
// block applications performed.  0, or -1 with a message in err (bad layer, bad token,
// T out of range) before anything is visited.
int sweep_run(const Gpt2 *m, const ConfigList *list, const int *tokens, int T, TfWorkspace *ws,
              SweepVisit visit, void *ctx, long *blocks_run, char *err, size_t errlen);

// ----------------------------------------------------------------------------
// many sequences (records) packed into big forward passes

// Default packing budget in bytes (--mem-budget overrides it): the residual stack and the
// workspace rows of one pass.
#define SWEEP_DEFAULT_BUDGET ((size_t)256 << 20)
// Rows of one pass at most, whatever the budget: passes of a few hundred rows read each
// weight matrix once for many rows while their activations stay in cache; bigger ones
// were slower (GPT-2 small, drop-last, 60 records: 512-row passes 3.73 s of CPU, 1440-row
// passes 4.35 s on AVX-512; 5.73 and 6.74 s on AVX2; docs/bench.md).
#define SWEEP_PASS_ROWS      512
// budget (a --mem-budget in bytes), or SWEEP_DEFAULT_BUDGET when it is 0.
static inline size_t sweep_budget(size_t budget) { return budget ? budget : SWEEP_DEFAULT_BUDGET; }

typedef struct {
    size_t budget;     // bytes for one pass's residual stack + workspace rows (0: the default)
    int max_seqs;      // sequences per pass at most (0: no limit; 1: one record at a time)
    const int *tail;   // NULL, or (n_seq) the first row of each sequence that the visitor
                       // reads: the last block of a configuration no other continues from
                       // then runs only those rows (tf_block_forward_tail), and the rows
                       // before them in the visited residual are UNSPECIFIED
} SweepPacking;

// The final block for the rows that are read: on unless the environment has
// AUTOINTERP_LAST_ROWS=0 (then every block runs every row, for comparisons).
int sweep_last_rows(void);
// May a block run on ws be trimmed as far as its hooks go: none, or only RESID_PRE.
int sweep_hooks_trim(const TfWorkspace *ws);
// With AUTOINTERP_STATS set, write tf_trim_stats to stderr: "last rows: N runs' final
// blocks trimmed, R rows at keys/values only".
void sweep_trim_report(void);

// Rows one pass may pack for configurations up to `depth` blocks deep within `budget`
// bytes: (depth + 1) residual rows of the stack plus TF_WORKSPACE_ROW_FLOATS workspace
// floats per row, C floats each; at least 1, at most SWEEP_PASS_ROWS.  A tool sizes its
// workspace (max_T) with it.
int sweep_pack_rows(const Gpt2Config *cfg, int depth, size_t budget);

// Called once per (configuration k, sequence seq) with that sequence's final residual
// (T, C), valid only during the call.  0 to go on, -1 to stop (sweep_run_seqs returns -1).
typedef int (*SweepSeqVisit)(void *ctx, int k, int seq, const float *resid, int T, TfWorkspace *ws);

// sweep_run over n_seq sequences (tokens[i], lens[i] tokens, each 1..min(n_ctx, ws->max_T))
// packed into passes of up to sweep_pack_rows(cfg, depth, pack->budget) rows (and
// ws->max_T; a longer sequence runs alone) and pack->max_seqs sequences: each pass runs
// every configuration's blocks once on all its rows (block-diagonal causal attention,
// positions from 0 per sequence), sharing prefixes as sweep_run does.  Visits, per pass:
// the configurations in lexicographic order, and for each the pass's sequences in order.
// Bit for bit what sweep_run gives each sequence alone.  pack may be NULL (defaults).
// 0, or -1 with a message before anything is visited (bad layer, a sequence that does not
// fit).
int sweep_run_seqs(const Gpt2 *m, const ConfigList *list, const int *const *tokens, const int *lens,
                   int n_seq, const SweepPacking *pack, TfWorkspace *ws, SweepSeqVisit visit,
                   void *ctx, long *blocks_run, char *err, size_t errlen);

// Prefill of one prompt (tokens[0..T)) into n EMPTY KV caches of one model, one per
// configuration, sharing every prefix they have in common: in lexicographic order of
// their blocks, each cache copies the keys/values (and the residual) of the blocks it
// shares with the one before (tf_cache_copy_slots) and runs only the rest.  Afterwards
// every cache holds the T positions and logits + i*V (unless logits is NULL) the last
// position's logits under caches[i]: exactly, bit for bit, what
// tf_step(caches[i], tokens, T, logits + i*V) gives.  A skip-one sweep of GPT-2 small
// runs 78 blocks instead of 144, drop-last 12 instead of 78.  ws: T <= ws->max_T.
// *blocks_run as sweep_run.  0, or -1 with a message in err (then the caches are in an
// undefined state).  sweep_prefill_prompts with one prompt.
int sweep_prefill(TfCache **caches, int n, const int *tokens, int T, float *logits, TfWorkspace *ws,
                  long *blocks_run, char *err, size_t errlen);

// sweep_prefill of several prompts at once: cache i is prefilled with prompt prompt[i]
// (tokens[prompt[i]], lens[prompt[i]] tokens; prompt[i] < n_prompts), sharing prefixes
// with the caches of the same prompt.  The block applications left are PACKED across
// caches and prompts: each pass runs one block (the one next for the most caches) on the
// rows of every cache whose next slot runs it (up to SWEEP_PASS_ROWS rows a pass, and
// ws->max_T), so that each block's weights are read a few times, not once per cache; the
// last positions are unembedded in one pass.  Bit for bit what sweep_prefill gives each
// prompt's caches (a row's result does not depend on its company); *blocks_run counts
// the same block applications.  A cache's last slot, when no other cache continues from
// its residual, runs only the last position past its keys/values (tf_cache_block_forward_tail;
// unless sweep_last_rows() is 0).  Memory: the caches' residuals (their prompts' rows)
// and one pass.  0, or -1 with a message in err (then the caches are in an undefined
// state).
int sweep_prefill_prompts(TfCache **caches, int n, const int *prompt, const int *const *tokens,
                          const int *lens, int n_prompts, float *logits, TfWorkspace *ws,
                          long *blocks_run, char *err, size_t errlen);

// One decoding step of n caches (one token each, tokens[i] at position caches[i]->T)
// where caches of the same GROUP have the same history — the same positions, the same
// tokens at each — and get the same token now: within a group the blocks its layer lists
// begin with in common run once (the prefix trie of sweep_prefill), the residual forked
// where the lists part, and the keys/values of the shared slots' new row are copied into
// every member's cache.  group[i]: the first cache of i's group (group[i] <= i,
// group[group[i]] == group[i]; group[i] == i for a cache alone).  The caller vouches for
// the histories (the k/v rows of the shared slots are the same bits only if they are);
// equal tokens and positions are checked.  Afterwards each cache has advanced by one and
// logits + i*V holds its logits: bit for bit what tf_step_batch gives.  *blocks_run (if
// non-NULL) the block applications run (one row each): the caches' slots less the
// shared ones.  0, or -1 with a message (then the caches are in an undefined state).
int sweep_step_shared(TfCache **caches, int n, const int *tokens, const int *group, float *logits,
                      TfWorkspace *ws, long *blocks_run, char *err, size_t errlen);

#endif
