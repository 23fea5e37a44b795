// transformer: the GPT-2 forward pass (fp32, CPU) over a LAYER CONFIGURATION — an
// ordered list of block indices applied between the embeddings and the final LayerNorm:
// any order, repeats allowed, empty allowed (embed -> ln_f -> unembed); [0..L-1] is the
// intact model.
//
//   x = wte[token] + wpe[position]                       embed
//   for each index l of the configuration:               pre-LN GPT-2 block l
//       x += attn_l(ln_1(x))     causal multi-head attention, scale 1/sqrt(head_dim)
//       x += mlp_l(ln_2(x))      c_fc -> GELU (tanh approximation, "gelu_new") -> c_proj
//   logits = ln_f(x) · lm_head^T                          (V, C) output matrix
//
// Three levels of API:
//   residual level  tf_embed / tf_block_forward / tf_logits on a caller-owned residual
//                   stream (T, C): a sweep of configurations sharing a prefix computes the
//                   prefix once and copies the residual (see common/experiment/layers.h).  The logit
//                   lens is tf_logits on an intermediate residual.
//   convenience     tf_forward: tokens -> logits of selected rows for one configuration.
//   generation      TfCache: a KV cache per configuration; tf_step appends tokens and
//                   returns the last logits, so n generated tokens cost n one-row passes
//                   (plus the prompt once); tf_step_batch steps several caches (different
//                   configurations allowed) reading each block's weights once per step.
//
// Numerics: fp32 activations and weights, fp32 matmuls (common/model/matmul.h, which also
// defines the determinism contract), LayerNorm statistics and log-softmax sums in double.
// A row's results do not depend on the number of threads, on how many other rows are
// computed with it, or on batching: the residual-level API, tf_forward, tf_step and
// tf_step_batch agree bit for bit.
//
// Hooks (TransformerLens names blocks.{l}.hook_resid_pre, hook_z, hook_attn_out,
// hook_resid_mid, hook_mlp_out, hook_resid_post): a workspace may carry a TfHooks (ws->hooks,
// NULL by default) whose callback sees, and may change in place, the activations of each
// block at the points it asks for — to capture them (caches, activation export), to
// overwrite them (activation patching) or to zero/replace slices (ablation).  Only the
// residual-level tf_block_forward and tf_forward call hooks; the KV-cache functions
// (tf_step, tf_step_batch, tf_cache_block_forward) never do.  Unused (NULL, or a zero
// point mask), they cost one pointer test per point and change no bit of any result.
//
// Errors: functions returning int give 0 on success and -1 with a message in err (err
// may be NULL) for bad input: T == 0 or T > n_ctx, a layer index out of range, a token id
// outside [0, V), a workspace too small, a full cache.  Nothing is computed then.
#ifndef AUTOINTERP_TRANSFORMER_H
#define AUTOINTERP_TRANSFORMER_H
#include <stddef.h>

#include "base/threadpool.h"
#include "model/gpt2.h"

// ----------------------------------------------------------------------------
// workspace: activation buffers sized once for up to max_T rows

typedef struct TfKvRow TfKvRow;   // per-row attention inputs (internal)

// Hook points of a block, in the order they are reached.  act (T, C) at each:
//   RESID_PRE   the residual stream entering the block (before ln_1)
//   Z           the attention heads' outputs before c_proj, heads concatenated: head h
//               is columns [h*hs, (h+1)*hs), hs = C / n_head (TransformerLens hook_z,
//               shape (T, n_head, hs) in the same memory order)
//   ATTN_OUT    the attention output after c_proj (its bias included), before it is
//               added to the residual stream
//   RESID_MID   the residual stream after the attention add (before ln_2)
//   MLP_OUT     the MLP output after its c_proj (bias included), before the add
//   RESID_POST  the residual stream leaving the block
typedef enum {
    TF_HOOK_RESID_PRE,
    TF_HOOK_Z,
    TF_HOOK_ATTN_OUT,
    TF_HOOK_RESID_MID,
    TF_HOOK_MLP_OUT,
    TF_HOOK_RESID_POST,
    TF_N_HOOKS
} TfHookPoint;

// "resid_pre", "z", "attn_out", "resid_mid", "mlp_out", "resid_post".
extern const char *const tf_hook_names[TF_N_HOOKS];
// The point called name (as above, or with TransformerLens's "hook_" prefix), or -1.
int tf_hook_find(const char *name);

// Called at every point in `points` (a mask of 1u << TfHookPoint) of every block run by
// tf_block_forward / tf_forward: `layer` is the block's index, act its activations
// (T, C) for positions 0..T-1, which the callback may modify in place (the block goes on
// with the modified values).  It must not call back into the workspace's functions.
typedef void (*TfHookFn)(void *ctx, TfHookPoint point, int layer, float *act, int T, int C);

typedef struct {
    TfHookFn fn;
    void *ctx;
    unsigned points;   // mask of TfHookPoint bits; 0: never called
} TfHooks;

typedef struct {
    int max_T;              // rows (positions or batch entries) one call may process
    int C, n_ctx;           // the model's n_embd and n_ctx
    int n_workers;          // threadpool_size(pool): rows of `scores`
    ThreadPool *pool;       // the pool the kernels run on (NULL: single-threaded)
    float *resid;           // (max_T, C)   tf_forward's / tf_step's residual stream
    float *ln;              // (max_T, C)   LayerNorm output
    float *qkv;             // (max_T, 3C)  attention q, k, v
    float *atty;            // (max_T, C)   attention output (heads concatenated)
    float *proj;            // (max_T, C)   c_proj output before the residual add
    float *fch;             // (max_T, 4C)  MLP hidden, GELU applied in place
    float *gather;          // (max_T, C)   tf_step_batch: the rows of one group
    float *scores;          // (n_workers, n_ctx) attention weights of one (row, head)
    TfKvRow *kv;            // (max_T)
    float *mem;             // the single allocation behind the float buffers
    const TfHooks *hooks;   // NULL (tf_workspace_init's default) or the caller's hooks,
                            // which must outlive their use; see "Hooks" above
} TfWorkspace;

// Floats per row of a workspace (resid, ln, qkv 3, atty, proj, fch 4, gather), times C.
#define TF_WORKSPACE_ROW_FLOATS 12

// Allocate a workspace for `m` and up to max_T (>= 1) rows per call, running on `pool`
// (normally threadpool_global(); NULL = single-threaded; the pool must outlive ws).
// About max_T * 12 * C floats.  0, or -1 with a message.
int tf_workspace_init(TfWorkspace *ws, const Gpt2 *m, int max_T, ThreadPool *pool, char *err,
                      size_t errlen);
void tf_workspace_free(TfWorkspace *ws);

// ----------------------------------------------------------------------------
// residual level

// 0 when every index of layers[0..n) is in [0, n_layer) (n >= 0; layers may be NULL when
// n == 0), else -1 with "layer index 12 out of range 0..11".
int tf_check_layers(const Gpt2 *m, const int *layers, int n, char *err, size_t errlen);

// resid (T, C) = wte[tokens[t]] + wpe[pos0 + t].  Requires T >= 1, pos0 >= 0,
// pos0 + T <= n_ctx and every token in [0, V).
int tf_embed(const Gpt2 *m, const int *tokens, int T, int pos0, float *resid, char *err,
             size_t errlen);

// Apply block `layer` in place to resid (T, C), whose rows are positions 0..T-1 of one
// sequence (causal attention among them).  1 <= T <= min(n_ctx, ws->max_T).
int tf_block_forward(const Gpt2 *m, int layer, float *resid, int T, TfWorkspace *ws, char *err,
                     size_t errlen);

// Block `layer` on n_seq >= 1 sequences PACKED one after another in resid (R, C), R =
// starts[n_seq]: sequence i is rows starts[i]..starts[i+1]-1 (starts[0] = 0, each of 1..n_ctx
// rows, R <= ws->max_T), its rows at positions 0.. of their own sequence, attending only
// among themselves (block-diagonal causal attention).  Each row gets the same bits as in
// tf_block_forward on its sequence alone.  Hooks see all R rows at once (act (R, C)).
// tf_block_forward is this with one sequence.
int tf_block_forward_packed(const Gpt2 *m, int layer, float *resid, const int *starts, int n_seq,
                            TfWorkspace *ws, char *err, size_t errlen);

// Block `layer` on n_seq >= 1 packed sequences that RESUME part-way: sequence i's rows
// starts[i]..starts[i+1]-1 (starts[0] = 0, R = starts[n_seq] <= ws->max_T) are its
// positions pos0[i].. (pos0[i] >= 0, pos0[i] + rows <= n_ctx).  They attend to the keys
// and values of its positions 0..pos0[i]-1, rows 0..pos0[i]-1 of k[i] and v[i] (C floats a
// row, (pos0[i] + rows) rows each; e.g. copied from the run the sequence branches from),
// and to their own, which are written into rows pos0[i].. of k[i] and v[i] first.  Causal
// attention sums over the keys in position order, as tf_block_forward does: when the
// prefix rows hold the bits that run computed for them, each row gets the same bits as in
// tf_block_forward on the whole sequence (and with pos0[i] = 0, k[i]/v[i] receive that
// run's keys and values).  Hooks see the R rows (positions pos0[i].. of each sequence).
int tf_block_forward_resume(const Gpt2 *m, int layer, float *resid, const int *starts, int n_seq,
                            const int *pos0, float *const *k, float *const *v, TfWorkspace *ws,
                            char *err, size_t errlen);

// The final block of a run whose output is read only at some rows (a "leaf": nothing
// continues from its output): tf_block_forward_packed (pos0 NULL; k and v unused) or
// tf_block_forward_resume (pos0, k, v) that runs the whole block only on the rows from
// tail[i] of each sequence i (0 <= tail[i] <= its rows; tail NULL: every row).  The other
// rows get their keys and values (which the tail's rows attend to, and which k[i]/v[i]
// receive as usual) but no query, attention, projection, MLP or residual update: their
// rows of resid are left with UNSPECIFIED values.  The tail's rows get the same bits as
// the whole block gives them (each row's sums do not depend on the other rows of a call).
// Hooks see RESID_PRE (all R rows) and no other point: a caller trims only a block where
// no hook acts at another point.  Counted in tf_trim_stats.
int tf_block_forward_tail(const Gpt2 *m, int layer, float *resid, const int *starts, int n_seq,
                          const int *pos0, float *const *k, float *const *v, const int *tail,
                          TfWorkspace *ws, char *err, size_t errlen);

// Over the process: the sequences whose block was trimmed (a tail > 0 given to
// tf_block_forward_tail or tf_cache_block_forward_tail) and the rows they left at keys and
// values only (the sum of those tails).
void tf_trim_stats(long *runs, long *rows);

// Logits = ln_f(resid rows) · lm_head^T.  rows == NULL: all T rows, logits (T, V).
// Otherwise logits (n_rows, V) for rows[i] in [0, T) (e.g. {T-1}: the last position).
// resid is not modified; any number of rows (processed in chunks of ws->max_T).
int tf_logits(const Gpt2 *m, const float *resid, int T, const int *rows, int n_rows, float *logits,
              TfWorkspace *ws, char *err, size_t errlen);

// ----------------------------------------------------------------------------
// convenience

// Run configuration layers[0..n) on tokens (T) and write the logits of `rows` as
// tf_logits does (rows NULL: all T rows).  ws may be NULL (a temporary workspace on the
// global pool is used); otherwise T <= ws->max_T and the final residual stream (before
// ln_f) is left in ws->resid.  Layers and tokens are validated before any computation.
int tf_forward(const Gpt2 *m, const int *layers, int n, const int *tokens, int T, const int *rows,
               int n_rows, float *logits, TfWorkspace *ws, char *err, size_t errlen);

// ----------------------------------------------------------------------------
// log-softmax

// log sum_i exp(logits[i]), in double (max-shifted).
double tf_logsumexp(const float *logits, int V);

// out[i] = logits[i] - logsumexp(logits): the full log-softmax of one row (out may be
// logits itself).
void tf_log_softmax(const float *logits, int V, float *out);

// tf_log_softmax of each row of logits (n, V) into the same row of out (out may be
// logits itself), one task per row on threadpool_global(): the same bits as calling
// tf_log_softmax row after row, whatever the number of threads.
void tf_log_softmax_rows(const float *logits, int n, int V, float *out);

// out[i] = log p(targets[i]) under row i of logits (n, V): the log-probability of the
// next token, e.g. rows = the positions before each answer token.  -1 for a target
// outside [0, V).  Rows are spread over threadpool_global() (each row's value is the
// same on any thread).
int tf_target_logprobs(const float *logits, int n, int V, const int *targets, double *out,
                       char *err, size_t errlen);

// tf_target_logprobs, and, when greedy is not NULL, greedy[i] = sample_greedy(row i): the
// argmax of each row, computed by the same task as its log-probability (not by the
// caller's thread alone, the other workers idle).
int tf_target_scores(const float *logits, int n, int V, const int *targets, double *out,
                     int *greedy, char *err, size_t errlen);

// ----------------------------------------------------------------------------
// generation: KV cache of one configuration, keyed by SLOT (position in the layers list,
// since a block may appear twice)

typedef struct {
    const Gpt2 *model;
    int *layers;   // (n_slots) block index of each slot, a copy
    int n_slots;
    int max_T;         // capacity in tokens (<= n_ctx)
    int T;             // tokens cached so far (positions 0..T-1)
    float *k, *v;      // (n_slots, max_T, C)
    TfWorkspace *ws;   // used by tf_step; NULL: an own one (max_T rows) is made on first
                       // use.  A caller may point it at a shared workspace instead.
    TfWorkspace own_ws;
    int has_own_ws;
} TfCache;

// A cache for configuration layers[0..n) holding up to max_T tokens (1 <= max_T <=
// n_ctx).  NULL with a message on a bad layer index or max_T.  Free with tf_cache_free.
TfCache *tf_cache_new(const Gpt2 *m, const int *layers, int n, int max_T, char *err, size_t errlen);
void tf_cache_free(TfCache *c);

// Append tokens (T_new >= 1; T_new > 1 is a prefill) at positions c->T.., advance c->T
// and write the logits of the last appended token to logits_last (V) unless NULL.
// Requires c->T + T_new <= c->max_T and T_new <= the workspace's max_T.
int tf_step(TfCache *c, const int *tokens, int T_new, float *logits_last, char *err, size_t errlen);

// One token for each of n caches (distinct; same model; any configurations and lengths),
// logits (n, V).  Each pass runs one block on every entry whose next slot runs it (the
// block next for the most entries first), so that entries skipping or repeating blocks
// still read each block's weights once per step.  Bit-identical to n separate tf_step
// calls.  ws: a workspace for the model with max_T >= n.
int tf_step_batch(TfCache **caches, int n, const int *tokens, float *logits, TfWorkspace *ws,
                  char *err, size_t errlen);

// Forget positions >= T (0 <= T <= c->T), e.g. to sample again from the same prompt.
int tf_cache_rewind(TfCache *c, int T, char *err, size_t errlen);

// Building blocks for a prefill shared between configurations with a common prefix:
//   tf_embed(m, prompt, T, 0, r)
//   for s < shared: tf_cache_block_forward(a, s, r, T)       // slots of a, positions 0..T-1
//   tf_cache_copy_slots(b, a, shared, T); copy r to r2
//   for s >= shared: tf_cache_block_forward(a, s, r, T) and (b, s, r2, T)
//   tf_cache_advance(a, T); tf_cache_advance(b, T); tf_logits(..., rows {T-1})
// tf_cache_block_forward runs slot `slot` on resid (T_new, C) at positions c->T.. and
// stores their k/v; it does not advance c->T.
int tf_cache_block_forward(TfCache *c, int slot, float *resid, int T_new, char *err, size_t errlen);
// Copy the k/v of positions [0, T) of slots [0, n_slots) from src to dst; the slots must
// run the same blocks, and T must fit both caches.
int tf_cache_copy_slots(TfCache *dst, const TfCache *src, int n_slots, int T, char *err,
                        size_t errlen);
// The same for positions [pos0, pos0 + n_pos) only (e.g. the row a decoding step just
// wrote, for a cache whose history is the same as src's): both caches must have room for
// them.  tf_cache_copy_slots is this with pos0 = 0.
int tf_cache_copy_positions(TfCache *dst, const TfCache *src, int n_slots, int pos0, int n_pos,
                            char *err, size_t errlen);
// tf_cache_block_forward on n_seq sequences in one pass: rows starts[i]..starts[i+1]-1 of
// resid (starts[0] = 0, starts[n_seq] <= ws->max_T rows) run slot slots[i] of caches[i]
// at its positions caches[i]->T.., every slot running the same block; the weights are read
// once for all rows.  Bit-identical to tf_cache_block_forward on each (a row's result does
// not depend on its company).  Uses ws (not the caches' own), does not advance c->T.
// 0, or -1 with a message (slots of different blocks, a sequence that does not fit).
int tf_cache_block_forward_packed(TfCache *const *caches, const int *slots, float *resid,
                                  const int *starts, int n_seq, TfWorkspace *ws, char *err,
                                  size_t errlen);
// tf_cache_block_forward_packed that runs the whole block only on the rows from tail[i]
// of each sequence (tail NULL: all), as tf_block_forward_tail: the others store their k/v
// in the cache and are left with unspecified values in resid.
int tf_cache_block_forward_tail(TfCache *const *caches, const int *slots, float *resid,
                                const int *starts, int n_seq, const int *tail, TfWorkspace *ws,
                                char *err, size_t errlen);
// c->T += T_new (after every slot has been run on the new positions).
int tf_cache_advance(TfCache *c, int T_new, char *err, size_t errlen);

#endif
