// sweep: prefix-shared execution of layer configurations; see sweep.h.
#include "experiment/sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

// Lexicographic order of two block lists (a prefix first).
static int blocks_cmp(const int *x, int nx, const int *y, int ny) {
    int n = nx < ny ? nx : ny;
    for (int i = 0; i < n; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return (nx > ny) - (nx < ny);
}

static int blocks_common_prefix(const int *x, int nx, const int *y, int ny) {
    int n = 0;
    while (n < nx && n < ny && x[n] == y[n]) n++;
    return n;
}

static int config_order(const void *a, const void *b, void *list_) {
    const ConfigList *list = list_;
    const LayerConfig *x = &list->cfg[*(const int *)a], *y = &list->cfg[*(const int *)b];
    int c = blocks_cmp(x->idx, x->n, y->idx, y->n);
    return c ? c : *(const int *)a - *(const int *)b;
}

static int common_prefix(const LayerConfig *a, const LayerConfig *b) {
    return blocks_common_prefix(a->idx, a->n, b->idx, b->n);
}

// Called once per configuration with the final residual of every packed row.
typedef int (*PackedVisit)(void *ctx, int k, const float *resid, const int *starts, int n_seq,
                           TfWorkspace *ws);

static int check_configs(const Gpt2 *m, const ConfigList *list, int *depth, char *err,
                         size_t errlen) {
    *depth = 0;
    for (int k = 0; k < list->n; k++) {
        if (tf_check_layers(m, list->cfg[k].idx, list->cfg[k].n, err, errlen) != 0) return -1;
        if (list->cfg[k].n > *depth) *depth = list->cfg[k].n;
    }
    return 0;
}

// The configurations of list in lexicographic order of their blocks (malloc'd).
static int *configs_sorted(const ConfigList *list) {
    int *order = xmalloc(sizeof(int) * (size_t)(list->n ? list->n : 1));
    for (int k = 0; k < list->n; k++) order[k] = k;
    qsort_r(order, (size_t)list->n, sizeof(int), config_order, (void *)list);
    return order;
}

int sweep_last_rows(void) { return !env_off("AUTOINTERP_LAST_ROWS"); }

int sweep_hooks_trim(const TfWorkspace *ws) {
    return !ws->hooks || !(ws->hooks->points & ~(1u << TF_HOOK_RESID_PRE));
}

void sweep_trim_report(void) {
    if (!env_on("AUTOINTERP_STATS")) return;
    long runs, rows;
    tf_trim_stats(&runs, &rows);
    fprintf(stderr, "last rows: %ld runs' final blocks trimmed, %ld rows at keys/values only\n",
            runs, rows);
}

// Does configuration order[i] end in a leaf (no configuration after it continues from its
// final residual)?  In lexicographic order only the next one could.
static int sweep_leaf(const ConfigList *list, const int *order, int i) {
    const LayerConfig *c = &list->cfg[order[i]];
    return i + 1 == list->n || common_prefix(c, &list->cfg[order[i + 1]]) < c->n;
}

// The prefix-shared sweep over n_seq sequences packed in rows 0..starts[n_seq]-1: tokens
// are the sequences' tokens one after another, each embedded from position 0.  tail (n_seq,
// or NULL): the first row of each sequence that visits read; a leaf's last block then runs
// only those rows (tf_block_forward_tail).
static int sweep_packed(const Gpt2 *m, const ConfigList *list, const int *order, int depth,
                        const int *tokens, const int *starts, int n_seq, const int *tail,
                        TfWorkspace *ws, PackedVisit visit, void *ctx, long *blocks_run, char *err,
                        size_t errlen) {
    size_t row = (size_t)starts[n_seq] * (size_t)m->cfg.n_embd;
    // stack[d] = residual after the first d blocks of the current path (d = 0: embeddings).
    float *stack = xmalloc(sizeof(float) * row * (size_t)(depth + 1));
    int rc = 0;
    if (tail && !(sweep_last_rows() && sweep_hooks_trim(ws))) tail = NULL;
    for (int i = 0; rc == 0 && i < n_seq; i++)
        rc = tf_embed(m, tokens + starts[i], starts[i + 1] - starts[i], 0,
                      stack + (size_t)starts[i] * m->cfg.n_embd, err, errlen);
    const LayerConfig *path = NULL;   // the configuration whose prefix the stack holds
    int valid = 0;                    // stack[0..valid] are valid for `path`
    for (int i = 0; rc == 0 && i < list->n; i++) {
        const LayerConfig *c = &list->cfg[order[i]];
        int d = path ? common_prefix(path, c) : 0;
        if (d > valid) d = valid;
        int leaf = tail && sweep_leaf(list, order, i);
        for (; d < c->n; d++) {
            float *out = stack + row * (size_t)(d + 1);
            memcpy(out, stack + row * (size_t)d, sizeof(float) * row);
            if (leaf && d == c->n - 1)
                rc = tf_block_forward_tail(m, c->idx[d], out, starts, n_seq, NULL, NULL, NULL, tail,
                                           ws, err, errlen);
            else rc = tf_block_forward_packed(m, c->idx[d], out, starts, n_seq, ws, err, errlen);
            if (rc) break;
            if (blocks_run) (*blocks_run)++;
        }
        if (rc) break;
        path = c;
        // a trimmed last block leaves rows the next configuration must not reuse
        valid = leaf && c->n > 0 ? c->n - 1 : c->n;
        if (visit(ctx, order[i], stack + row * (size_t)c->n, starts, n_seq, ws) != 0) rc = -1;
    }
    free(stack);
    return rc;
}

typedef struct {
    SweepVisit visit;
    void *ctx;
} OneSeq;

static int visit_one(void *ctx, int k, const float *resid, const int *starts, int n_seq,
                     TfWorkspace *ws) {
    (void)n_seq;
    OneSeq *o = ctx;
    return o->visit(o->ctx, k, resid, starts[1], ws);
}

int sweep_run(const Gpt2 *m, const ConfigList *list, const int *tokens, int T, TfWorkspace *ws,
              SweepVisit visit, void *ctx, long *blocks_run, char *err, size_t errlen) {
    if (blocks_run) *blocks_run = 0;
    if (list->n == 0) return 0;
    int depth;
    if (check_configs(m, list, &depth, err, errlen) != 0) return -1;
    if (T < 1 || T > ws->max_T)
        return fail(err, errlen, "sequence of %d tokens does not fit (1..%d)", T, ws->max_T);
    int *order = configs_sorted(list), starts[2] = {0, T};
    OneSeq one = {visit, ctx};
    int rc = sweep_packed(m, list, order, depth, tokens, starts, 1, NULL, ws, visit_one, &one,
                          blocks_run, err, errlen);
    free(order);
    return rc;
}

// ----------------------------------------------------------------------------
// many sequences, packed

int sweep_pack_rows(const Gpt2Config *cfg, int depth, size_t budget) {
    size_t per_row = ((size_t)depth + 1 + TF_WORKSPACE_ROW_FLOATS) *
                     (size_t)(cfg->n_embd > 0 ? cfg->n_embd : 1) * sizeof(float);
    size_t rows = budget / per_row;
    if (rows < 1) rows = 1;
    if (rows > SWEEP_PASS_ROWS) rows = SWEEP_PASS_ROWS;
    return (int)rows;
}

typedef struct {
    SweepSeqVisit visit;
    void *ctx;
    int first;   // index of the pass's first sequence
} ManySeq;

static int visit_many(void *ctx, int k, const float *resid, const int *starts, int n_seq,
                      TfWorkspace *ws) {
    ManySeq *o = ctx;
    size_t C = (size_t)ws->C;
    for (int i = 0; i < n_seq; i++)
        if (o->visit(o->ctx, k, o->first + i, resid + (size_t)starts[i] * C,
                     starts[i + 1] - starts[i], ws) != 0)
            return -1;
    return 0;
}

int sweep_run_seqs(const Gpt2 *m, const ConfigList *list, const int *const *tokens, const int *lens,
                   int n_seq, const SweepPacking *pack, TfWorkspace *ws, SweepSeqVisit visit,
                   void *ctx, long *blocks_run, char *err, size_t errlen) {
    if (blocks_run) *blocks_run = 0;
    if (list->n == 0 || n_seq == 0) return 0;
    int depth;
    if (check_configs(m, list, &depth, err, errlen) != 0) return -1;
    for (int i = 0; i < n_seq; i++)
        if (lens[i] < 1 || lens[i] > ws->max_T || lens[i] > m->cfg.n_ctx)
            return fail(err, errlen, "sequence %d of %d tokens does not fit (1..%d)", i, lens[i],
                        ws->max_T < m->cfg.n_ctx ? ws->max_T : m->cfg.n_ctx);
    int max_rows = sweep_pack_rows(&m->cfg, depth, sweep_budget(pack ? pack->budget : 0));
    if (max_rows > ws->max_T) max_rows = ws->max_T;
    int max_seqs = pack && pack->max_seqs > 0 ? pack->max_seqs : n_seq;
    int *order = configs_sorted(list);
    int *starts = xmalloc(sizeof(int) * (size_t)(n_seq + 1));
    int *packed = NULL;
    size_t cap = 0;
    int rc = 0;
    for (int i0 = 0; rc == 0 && i0 < n_seq;) {
        // this pass: sequences i0..i1-1, at least one, up to max_rows rows and max_seqs sequences
        int i1 = i0, rows = 0;
        starts[0] = 0;
        while (i1 < n_seq && i1 - i0 < max_seqs && (i1 == i0 || rows + lens[i1] <= max_rows)) {
            rows += lens[i1];
            starts[i1 - i0 + 1] = rows;
            i1++;
        }
        if ((size_t)rows > cap) packed = xrealloc(packed, sizeof(int) * (cap = (size_t)rows));
        for (int i = i0; i < i1; i++)
            memcpy(packed + starts[i - i0], tokens[i], sizeof(int) * (size_t)lens[i]);
        ManySeq many = {visit, ctx, i0};
        long blocks = 0;
        rc = sweep_packed(m, list, order, depth, packed, starts, i1 - i0,
                          pack && pack->tail ? pack->tail + i0 : NULL, ws, visit_many, &many,
                          &blocks, err, errlen);
        if (blocks_run) *blocks_run += blocks;
        i0 = i1;
    }
    free(packed);
    free(starts);
    free(order);
    return rc;
}

// ----------------------------------------------------------------------------
// prefill of several KV caches

// A cache being extended by T positions (at c->T..): its residual runs its slots from
// `depth` on.  It starts as a copy of its parent's residual (and the k/v of those
// positions) after `fork` blocks — the prefix they share — or from the embeddings
// (parent -1, fork 0).  `prompt`: the caches of one prompt (or group) have the same
// history and get the same tokens.
typedef struct {
    TfCache *c;
    const int *tokens;
    int T, prompt;
    int parent, fork;
    int depth;      // blocks its residual has been through; -1 until it starts
    float *resid;   // (T, C)
} PrefillJob;

static int prefill_order(const void *a, const void *b, void *jobs_) {
    const PrefillJob *jobs = jobs_, *x = &jobs[*(const int *)a], *y = &jobs[*(const int *)b];
    if (x->prompt != y->prompt) return x->prompt < y->prompt ? -1 : 1;
    int c = blocks_cmp(x->c->layers, x->c->n_slots, y->c->layers, y->c->n_slots);
    return c ? c : *(const int *)a - *(const int *)b;
}

static int prefill_check(TfCache **caches, int n, const int *prompt, const int *lens, int n_prompts,
                         const TfWorkspace *ws, char *err, size_t errlen) {
    if (n < 1) return fail(err, errlen, "no caches to prefill");
    const Gpt2 *m = caches[0]->model;
    for (int i = 0; i < n; i++) {
        const TfCache *c = caches[i];
        if (c->model != m) return fail(err, errlen, "cache %d belongs to another model", i);
        if (prompt[i] < 0 || prompt[i] >= n_prompts)
            return fail(err, errlen, "cache %d: prompt %d out of range 0..%d", i, prompt[i],
                        n_prompts - 1);
        if (lens[prompt[i]] > c->max_T - c->T)
            return fail(err, errlen, "%d tokens at position %d exceeds cache %d's %d",
                        lens[prompt[i]], c->T, i, c->max_T);
    }
    for (int i = 0; i < n; i++) {
        int T = lens[prompt[i]];
        if (T < 1 || T > ws->max_T)
            return fail(err, errlen, "prompt of %d tokens does not fit (1..%d)", T, ws->max_T);
    }
    return 0;
}

// Job j's residual has been through jobs[j].depth blocks: the jobs that fork from it
// there start (its residual and the k/v of the shared slots copied).
static int prefill_fork(PrefillJob *jobs, int n, int j, size_t C, char *err, size_t errlen) {
    for (int x = 0; x < n; x++) {
        PrefillJob *child = &jobs[x];
        if (child->parent != j || child->fork != jobs[j].depth || child->depth >= 0) continue;
        memcpy(child->resid, jobs[j].resid, sizeof(float) * (size_t)child->T * C);
        if (tf_cache_copy_positions(child->c, jobs[j].c, child->fork, child->c->T, child->T, err,
                                    errlen) != 0)
            return -1;
        child->depth = child->fork;
    }
    return 0;
}

// The block that most started jobs run next (ties: the lowest index), or -1 when all
// are done.
static int prefill_next_block(const PrefillJob *jobs, int n, int *count, int n_layer) {
    memset(count, 0, sizeof(int) * (size_t)n_layer);
    for (int j = 0; j < n; j++)
        if (jobs[j].depth >= 0 && jobs[j].depth < jobs[j].c->n_slots)
            count[jobs[j].c->layers[jobs[j].depth]]++;
    int best = -1;
    for (int l = 0; l < n_layer; l++)
        if (count[l] > 0 && (best < 0 || count[l] > count[best])) best = l;
    return best;
}

// leaf[j] (malloc'd): no job forks from job j's final residual (only its last position
// is read then); NULL when sweep_last_rows() is off.
static unsigned char *prefill_leaves(const PrefillJob *jobs, int n) {
    if (!sweep_last_rows()) return NULL;
    unsigned char *leaf = xmalloc((size_t)n);
    memset(leaf, 1, (size_t)n);
    for (int x = 0; x < n; x++)
        if (jobs[x].parent >= 0 && jobs[x].fork == jobs[jobs[x].parent].c->n_slots)
            leaf[jobs[x].parent] = 0;
    return leaf;
}

// Every job's remaining blocks, one pass per (block, up to max_rows rows): the jobs whose
// next slot runs the block, their rows packed into buf.
static int prefill_passes(PrefillJob *jobs, int n, const int *order, int max_rows, float *buf,
                          TfWorkspace *ws, long *blocks_run, char *err, size_t errlen) {
    const Gpt2 *m = jobs[0].c->model;
    size_t C = (size_t)m->cfg.n_embd;
    int *count = xmalloc(sizeof(int) * (size_t)m->cfg.n_layer);
    int *sel = xmalloc(sizeof(int) * (size_t)n), *slots = xmalloc(sizeof(int) * (size_t)n);
    int *starts = xmalloc(sizeof(int) * (size_t)(n + 1)), *tail = xmalloc(sizeof(int) * (size_t)n);
    TfCache **caches = xmalloc(sizeof(TfCache *) * (size_t)n);
    unsigned char *leaf = prefill_leaves(jobs, n);
    int rc = 0;
    for (int block; rc == 0 && (block = prefill_next_block(jobs, n, count, m->cfg.n_layer)) >= 0;) {
        int g = 0;   // this block's jobs, in prefix order (siblings side by side)
        for (int p = 0; p < n; p++) {
            const PrefillJob *j = &jobs[order[p]];
            if (j->depth >= 0 && j->depth < j->c->n_slots && j->c->layers[j->depth] == block)
                sel[g++] = order[p];
        }
        for (int a = 0; rc == 0 && a < g;) {
            int b = a, rows = 0;   // jobs sel[a..b) in one pass
            starts[0] = 0;
            int trims = 0;
            while (b < g && (b == a || rows + jobs[sel[b]].T <= max_rows)) {
                const PrefillJob *j = &jobs[sel[b]];
                memcpy(buf + (size_t)rows * C, j->resid, sizeof(float) * (size_t)j->T * C);
                caches[b - a] = j->c;
                slots[b - a] = j->depth;
                // a leaf's last slot: only its last position is read (its logits)
                tail[b - a] = leaf && leaf[sel[b]] && j->depth == j->c->n_slots - 1 ? j->T - 1 : 0;
                trims |= tail[b - a] > 0;
                rows += j->T;
                starts[++b - a] = rows;
            }
            rc = tf_cache_block_forward_tail(caches, slots, buf, starts, b - a, trims ? tail : NULL,
                                             ws, err, errlen);
            for (int k = a; rc == 0 && k < b; k++) {
                PrefillJob *j = &jobs[sel[k]];
                memcpy(j->resid, buf + (size_t)starts[k - a] * C, sizeof(float) * (size_t)j->T * C);
                j->depth++;
                if (blocks_run) (*blocks_run)++;
                rc = prefill_fork(jobs, n, sel[k], C, err, errlen);
            }
            a = b;
        }
    }
    free(count);
    free(sel);
    free(slots);
    free(starts);
    free(tail);
    free(leaf);
    free(caches);
    return rc;
}

// sweep_prefill_prompts on caches that may already hold positions: cache i gets
// tokens[prompt[i]] at its positions c->T.., sharing the blocks of its prefix with the
// caches of the same prompt (whose histories the caller guarantees are the same: same
// length, same tokens).
static int extend_shared(TfCache **caches, int n, const int *prompt, const int *const *tokens,
                         const int *lens, int n_prompts, float *logits, TfWorkspace *ws,
                         long *blocks_run, char *err, size_t errlen) {
    if (blocks_run) *blocks_run = 0;
    if (prefill_check(caches, n, prompt, lens, n_prompts, ws, err, errlen) != 0) return -1;
    const Gpt2 *m = caches[0]->model;
    size_t C = (size_t)m->cfg.n_embd, rows = 0;
    PrefillJob *jobs = xcalloc((size_t)n, sizeof *jobs);
    for (int i = 0; i < n; i++) {
        jobs[i] =
            (PrefillJob){caches[i], tokens[prompt[i]], lens[prompt[i]], prompt[i], -1, 0, -1, NULL};
        rows += (size_t)jobs[i].T;
    }
    float *arena = xmalloc(sizeof(float) * rows * C);
    rows = 0;
    for (int i = 0; i < n; i++) {
        jobs[i].resid = arena + rows * C;
        rows += (size_t)jobs[i].T;
    }
    // Prefix order within each prompt: a job shares with its predecessor its common prefix
    // d, and starts from the last job before it that ran block d-1 itself (fork < d).
    int *order = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof(int), prefill_order, jobs);
    for (int p = 1; p < n; p++) {
        PrefillJob *j = &jobs[order[p]], *prev = &jobs[order[p - 1]];
        if (prev->prompt != j->prompt) continue;
        int d =
            blocks_common_prefix(prev->c->layers, prev->c->n_slots, j->c->layers, j->c->n_slots);
        if (d == 0) continue;
        int q = p - 1;
        while (jobs[order[q]].fork >= d) q--;   // the prompt's first job has fork 0
        j->fork = d;
        j->parent = order[q];
    }
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++)
        if (jobs[i].parent < 0) {
            rc = tf_embed(m, jobs[i].tokens, jobs[i].T, jobs[i].c->T, jobs[i].resid, err, errlen);
            jobs[i].depth = 0;
        }
    int max_rows = ws->max_T < SWEEP_PASS_ROWS ? ws->max_T : SWEEP_PASS_ROWS;
    if ((size_t)max_rows > rows) max_rows = (int)rows;
    float *buf = NULL;
    if (rc == 0) {
        // a job longer than max_rows (up to ws->max_T) runs alone
        for (int i = 0; i < n; i++)
            if (jobs[i].T > max_rows) max_rows = jobs[i].T;
        buf = xmalloc(sizeof(float) * (size_t)max_rows * C);
        rc = prefill_passes(jobs, n, order, max_rows, buf, ws, blocks_run, err, errlen);
    }
    for (int i = 0; rc == 0 && i < n; i++) rc = tf_cache_advance(caches[i], jobs[i].T, err, errlen);
    if (rc == 0 && logits) {   // the last positions' logits, in one unembedding pass
        float *last = xmalloc(sizeof(float) * (size_t)n * C);
        for (int i = 0; i < n; i++)
            memcpy(last + (size_t)i * C, jobs[i].resid + (size_t)(jobs[i].T - 1) * C,
                   sizeof(float) * C);
        rc = tf_logits(m, last, n, NULL, n, logits, ws, err, errlen);
        free(last);
    }
    free(buf);
    free(order);
    free(arena);
    free(jobs);
    return rc;
}

int sweep_prefill_prompts(TfCache **caches, int n, const int *prompt, const int *const *tokens,
                          const int *lens, int n_prompts, float *logits, TfWorkspace *ws,
                          long *blocks_run, char *err, size_t errlen) {
    for (int i = 0; i < n; i++)
        if (caches[i]->T != 0) {
            if (blocks_run) *blocks_run = 0;
            return fail(err, errlen, "cache %d is not empty (%d positions)", i, caches[i]->T);
        }
    return extend_shared(caches, n, prompt, tokens, lens, n_prompts, logits, ws, blocks_run, err,
                         errlen);
}

int sweep_step_shared(TfCache **caches, int n, const int *tokens, const int *group, float *logits,
                      TfWorkspace *ws, long *blocks_run, char *err, size_t errlen) {
    if (blocks_run) *blocks_run = 0;
    if (n < 1) return fail(err, errlen, "no caches to step");
    // groups -> prompt indices: the first cache of each group gives its prompt (its token)
    int *prompt = xmalloc(sizeof(int) * (size_t)n), *lens = xmalloc(sizeof(int) * (size_t)n);
    const int **toks = xmalloc(sizeof(int *) * (size_t)n);
    int n_prompts = 0, rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        int g = group[i];
        if (g == i) {
            toks[n_prompts] = &tokens[i];
            lens[n_prompts] = 1;
            prompt[i] = n_prompts++;
        } else if (g < 0 || g > i || group[g] != g) {
            rc = fail(err, errlen, "cache %d: group %d is not the first cache of a group", i, g);
        } else if (tokens[i] != tokens[g] || caches[i]->T != caches[g]->T) {
            rc = fail(err, errlen, "caches %d and %d of a group differ (token %d at %d, %d at %d)",
                      g, i, tokens[g], caches[g]->T, tokens[i], caches[i]->T);
        } else {
            prompt[i] = prompt[g];
        }
    }
    if (rc == 0)
        rc = extend_shared(caches, n, prompt, toks, lens, n_prompts, logits, ws, blocks_run, err,
                           errlen);
    free(prompt);
    free(lens);
    free(toks);
    return rc;
}

int sweep_prefill(TfCache **caches, int n, const int *tokens, int T, float *logits, TfWorkspace *ws,
                  long *blocks_run, char *err, size_t errlen) {
    if (n < 1) {
        if (blocks_run) *blocks_run = 0;
        return fail(err, errlen, "no caches to prefill");
    }
    int *prompt = xcalloc((size_t)n, sizeof(int));
    int rc = sweep_prefill_prompts(caches, n, prompt, &tokens, &T, 1, logits, ws, blocks_run, err,
                                   errlen);
    free(prompt);
    return rc;
}
