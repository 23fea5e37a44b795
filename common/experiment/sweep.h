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

// Prefill of one prompt (tokens[0..T)) into n EMPTY KV caches of one model, one per
// configuration, sharing every prefix they have in common: the caches are visited in
// lexicographic order of their blocks, as above, and each copies the keys/values of the
// blocks it shares with the one before (tf_cache_copy_slots) and runs only the rest.
// Afterwards every cache holds the T positions and logits + i*V (unless logits is NULL)
// the last position's logits under caches[i]: exactly, bit for bit, what
// tf_step(caches[i], tokens, T, logits + i*V) gives.  A skip-one sweep of GPT-2 small
// runs 78 blocks instead of 144, drop-last 12 instead of 78.  ws: T <= ws->max_T.
// *blocks_run as sweep_run.  0, or -1 with a message in err (then the caches are in an
// undefined state).
int sweep_prefill(TfCache **caches, int n, const int *tokens, int T, float *logits, TfWorkspace *ws,
                  long *blocks_run, char *err, size_t errlen);

#endif
