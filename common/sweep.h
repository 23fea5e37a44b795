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
#include "layers.h"
#include "transformer.h"

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

#endif
