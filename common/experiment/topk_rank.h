// topk_rank: ranking tokens of a next-token distribution — the k most likely, the ones
// whose log-probability rose or fell most against a reference, and the KL divergence (the
// k most likely themselves: scan_top_k, base/scan.h).
#ifndef AUTOINTERP_TOPK_RANK_H
#define AUTOINTERP_TOPK_RANK_H

typedef struct {
    int id;
    float delta;   // logprob − reference logprob
} TokenChange;

// Tokens whose log-probability changed most between ref and lp (both log-softmax rows of
// V).  Candidates are the union of the top `cand` tokens of each distribution — so that
// noise among tokens neither distribution considers likely is not reported.  rose gets
// the up to k largest positive deltas (largest first), fell the up to k most negative.
void topk_changes(const float *lp, const float *ref, int V, int cand, int k, TokenChange *rose,
                  int *n_rose, TokenChange *fell, int *n_fell);

// KL(P || Q) = sum_v p_v (log p_v − log q_v) in nats, from log-probabilities (double sums).
double topk_kl(const float *log_p, const float *log_q, int V);

#endif
