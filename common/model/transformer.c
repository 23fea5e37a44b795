// transformer: GPT-2 forward pass over a layer configuration; see transformer.h.
#include "model/transformer.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/scan.h"
#include "base/util.h"
#include "model/matmul.h"
#include "model/sample.h"

// Attention inputs of one row: its keys/values are rows 0..n_keys-1 of k and v (stride
// given per call), its own position is n_keys-1.  When k_dst is set the row's freshly
// computed k and v are first stored there (the KV cache).
struct TfKvRow {
    float *k_dst, *v_dst;   // (C) each, or NULL
    const float *k, *v;     // (n_keys, stride) head h at offset h * head_dim
    int n_keys;
};

static void tf_count_trimmed(long runs, long rows);
static void kv_rows_resume(TfWorkspace *ws, const int *starts, int n_seq, const int *pos0,
                           float *const *k, float *const *v);

const char *const tf_hook_names[TF_N_HOOKS] = {"resid_pre", "z",       "attn_out",
                                               "resid_mid", "mlp_out", "resid_post"};

int tf_hook_find(const char *name) {
    if (!name) return -1;
    if (!strncmp(name, "hook_", 5)) name += 5;
    for (int p = 0; p < TF_N_HOOKS; p++)
        if (!strcmp(name, tf_hook_names[p])) return p;
    return -1;
}

// ----------------------------------------------------------------------------
// layers (llm.c style: out, in, weights, sizes)

static void encoder_forward(float *out, const int *tokens, const float *wte, const float *wpe,
                            int T, int pos0, int C) {
    for (int t = 0; t < T; t++) {
        const float *te = wte + (size_t)tokens[t] * C;
        const float *pe = wpe + (size_t)(pos0 + t) * C;
        float *o = out + (size_t)t * C;
        for (int i = 0; i < C; i++) o[i] = te[i] + pe[i];
    }
}

// The per-row steps between the matmuls (LayerNorm, the residual adds) run across the
// pool in blocks of rows once a pass has ROWS_PAR_MIN floats (below that the dispatch costs
// more than the other worker saves): each row is still computed by one thread, as inline.
#define ROWS_PAR_MIN  (16 * 1024)
#define ROWS_PER_TASK 16

typedef struct {
    float *out;
    const float *in, *w, *b;   // LayerNorm: its weights; residual add: w = b = NULL
    int T, C;
    float eps;
} RowsJob;

static void row_block_task(void *ctx, int task, int worker) {
    (void)worker;
    const RowsJob *job = ctx;
    int t0 = task * ROWS_PER_TASK, t1 = t0 + ROWS_PER_TASK < job->T ? t0 + ROWS_PER_TASK : job->T;
    size_t C = (size_t)job->C;
    if (job->w) {
        for (int t = t0; t < t1; t++)
            vec_layernorm(job->out + t * C, job->in + t * C, job->w, job->b, job->C, job->eps);
        return;
    }
    float *resid = job->out + t0 * C;
    const float *delta = job->in + t0 * C;
    for (size_t i = 0, n = (size_t)(t1 - t0) * C; i < n; i++) resid[i] += delta[i];
}

static void row_blocks_run(const RowsJob *job, ThreadPool *pool) {
    int n_tasks = (job->T + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
    if ((size_t)job->T * (size_t)job->C < ROWS_PAR_MIN)
        for (int i = 0; i < n_tasks; i++) row_block_task((void *)job, i, 0);
    else threadpool_run(pool, n_tasks, row_block_task, (void *)job);
}

// out (T,C) = (in - mean) / sqrt(var + eps) * w + b per row; statistics in double.
static void layernorm_forward(float *out, const float *in, const float *w, const float *b, int T,
                              int C, float eps, ThreadPool *pool) {
    RowsJob job = {out, in, w, b, T, C, eps};
    row_blocks_run(&job, pool);
}

// resid (T, C) += delta (T, C).
static void residual_forward(float *resid, const float *delta, int T, int C, ThreadPool *pool) {
    RowsJob job = {resid, delta, NULL, NULL, T, C, 0.0f};
    row_blocks_run(&job, pool);
}

// Causal multi-head attention: out (R, C) from the queries in qkv (R, 3C) and each row's
// keys/values (TfKvRow).  One task per (head, block of ATT_BLOCK rows), head-major so that
// consecutive tasks reuse one head's keys/values from cache.  A block whose rows are
// consecutive positions over the same keys (a prompt) goes through attention_rows (each
// value row read once for several rows), any other row alone (scores in per-worker
// scratch); both give the same bits.
#define ATT_BLOCK 8

typedef struct {
    float *out;
    const float *qkv;
    const TfKvRow *kv;
    int R, n_blocks, stride, C, NH;
    float *scores;   // (n_workers, n_ctx)
    int n_ctx;
} AttentionJob;

static void attention_task(void *ctx, int task, int worker) {
    const AttentionJob *job = ctx;
    int C = job->C, hs = C / job->NH;
    int h = task / job->n_blocks, r0 = task % job->n_blocks * ATT_BLOCK;
    int r1 = r0 + ATT_BLOCK < job->R ? r0 + ATT_BLOCK : job->R;
    const TfKvRow *kv = job->kv;
    float scale = 1.0f / sqrtf((float)hs);
    size_t off = (size_t)h * hs;
    int causal_block = 1;
    for (int r = r0 + 1; r < r1; r++)
        causal_block &=
            kv[r].k == kv[r0].k && kv[r].v == kv[r0].v && kv[r].n_keys == kv[r0].n_keys + (r - r0);
    if (causal_block) {
        attention_rows(job->out + (size_t)r0 * C + off, (size_t)C,
                       job->qkv + (size_t)r0 * 3 * C + off, (size_t)3 * C, r1 - r0, kv[r0].k + off,
                       kv[r0].v + off, (size_t)job->stride, kv[r0].n_keys, hs, scale);
        return;
    }
    float *att = job->scores + (size_t)worker * job->n_ctx;
    for (int r = r0; r < r1; r++)
        attention_head(job->out + (size_t)r * C + off, job->qkv + (size_t)r * 3 * C + off,
                       kv[r].k + off, kv[r].v + off, (size_t)job->stride, kv[r].n_keys, hs, scale,
                       att);
}

static void attention_forward(float *out, const float *qkv, const TfKvRow *kv, int R, int stride,
                              int C, int NH, TfWorkspace *ws) {
    int n_blocks = (R + ATT_BLOCK - 1) / ATT_BLOCK;
    AttentionJob job = {out, qkv, kv, R, n_blocks, stride, C, NH, ws->scores, ws->n_ctx};
    threadpool_run(ws->pool, n_blocks * NH, attention_task, &job);
}

// One block on R rows of resid (R, C) in place.  kv[r] must already describe each row's
// keys/values (for rows reading from qkv, pointers into ws->qkv).  hooks (NULL: none) are
// called at their points with the R rows.
#define HOOK(point, act)                                                                           \
    do {                                                                                           \
        if (hooks && (hooks->points >> (point)&1u))                                                \
            hooks->fn(hooks->ctx, (point), layer, (act), R, C);                                    \
    } while (0)

// out (R, N) = in (R, K) · w + bias, with the 16-bit copy w16 (of type t16) of w when the
// model has one; GELU applied when gelu.
static void linear_forward(float *out, const float *in, const float *w, const uint16_t *w16,
                           LowpType t16, const float *bias, int R, int K, int N, int gelu,
                           ThreadPool *pool) {
    if (w16 && gelu) matmul_lowp_gelu_forward(out, in, w16, t16, bias, R, K, N, pool);
    else if (w16) matmul_lowp_forward(out, in, w16, t16, bias, R, K, N, pool);
    else if (gelu) matmul_gelu_forward(out, in, w, bias, R, K, N, pool);
    else matmul_forward(out, in, w, bias, R, K, N, pool);
}

// Rows keep[0..n_keep) (ascending) of the R rows whose keys and values are in ws->qkv and
// ws->kv: their queries moved to the front of ws->fch (free until the MLP), their
// residuals to the front of resid and their kv entries to the front of ws->kv (each to an
// index <= its own, so moving in ascending order reads every source before it is
// overwritten).  The rest of the block then runs on n_keep rows.
static const float *keep_rows(float *resid, const int *keep, int n_keep, TfWorkspace *ws) {
    size_t C = (size_t)ws->C;
    for (int j = 0; j < n_keep; j++) {
        int r = keep[j];
        memcpy(ws->fch + (size_t)j * 3 * C, ws->qkv + (size_t)r * 3 * C, sizeof(float) * 3 * C);
        if (r != j) {
            memcpy(resid + (size_t)j * C, resid + (size_t)r * C, sizeof(float) * C);
            ws->kv[j] = ws->kv[r];
        }
    }
    return ws->fch;
}

// The inverse of keep_rows for the residuals: row j back to row keep[j], in descending
// order (keep[j] >= j, and every row above j has already moved).
static void unkeep_rows(float *resid, const int *keep, int n_keep, int C) {
    for (int j = n_keep - 1; j >= 0; j--)
        if (keep[j] != j)
            memcpy(resid + (size_t)keep[j] * C, resid + (size_t)j * C, sizeof(float) * (size_t)C);
}

// keep == NULL: every row.  Otherwise only rows keep[0..n_keep) (ascending) run past their
// keys and values (stored as usual); hooks then see RESID_PRE with all R rows and no other
// point, and the other rows of resid are left with unspecified values.
static void block_forward_rows(const Gpt2 *m, int layer, float *resid, int R, TfKvRow *kv,
                               int stride, TfWorkspace *ws, const TfHooks *hooks, const int *keep,
                               int n_keep) {
    const Gpt2Block *b = &m->blocks[layer];
    int C = m->cfg.n_embd;
    float eps = m->cfg.ln_eps;
    ThreadPool *pool = ws->pool;

    HOOK(TF_HOOK_RESID_PRE, resid);
    layernorm_forward(ws->ln, resid, b->ln1_w, b->ln1_b, R, C, eps, pool);
    linear_forward(ws->qkv, ws->ln, b->qkv_w, b->qkv_w16, m->w16_type, b->qkv_b, R, C, 3 * C, 0,
                   pool);
    for (int r = 0; r < R; r++) {
        if (!kv[r].k_dst) continue;
        memcpy(kv[r].k_dst, ws->qkv + (size_t)r * 3 * C + C, (size_t)C * sizeof(float));
        memcpy(kv[r].v_dst, ws->qkv + (size_t)r * 3 * C + 2 * C, (size_t)C * sizeof(float));
    }
    const float *q = ws->qkv;
    if (keep && n_keep == 0) return;   // keys and values only
    if (keep) {
        q = keep_rows(resid, keep, n_keep, ws);
        R = n_keep;
        hooks = NULL;
    }
    attention_forward(ws->atty, q, kv, R, stride, C, m->cfg.n_head, ws);
    HOOK(TF_HOOK_Z, ws->atty);
    linear_forward(ws->proj, ws->atty, b->attn_proj_w, b->attn_proj_w16, m->w16_type,
                   b->attn_proj_b, R, C, C, 0, pool);
    HOOK(TF_HOOK_ATTN_OUT, ws->proj);
    residual_forward(resid, ws->proj, R, C, pool);
    HOOK(TF_HOOK_RESID_MID, resid);

    layernorm_forward(ws->ln, resid, b->ln2_w, b->ln2_b, R, C, eps, pool);
    linear_forward(ws->fch, ws->ln, b->fc_w, b->fc_w16, m->w16_type, b->fc_b, R, C, 4 * C, 1,
                   pool);   // GELU fused
    linear_forward(ws->proj, ws->fch, b->mlp_proj_w, b->mlp_proj_w16, m->w16_type, b->mlp_proj_b, R,
                   4 * C, C, 0, pool);
    HOOK(TF_HOOK_MLP_OUT, ws->proj);
    residual_forward(resid, ws->proj, R, C, pool);
    HOOK(TF_HOOK_RESID_POST, resid);
    if (keep) unkeep_rows(resid, keep, n_keep, C);
}
#undef HOOK

// ----------------------------------------------------------------------------
// workspace

int tf_workspace_init(TfWorkspace *ws, const Gpt2 *m, int max_T, ThreadPool *pool, char *err,
                      size_t errlen) {
    memset(ws, 0, sizeof *ws);
    int C = m->cfg.n_embd;
    if (max_T < 1) return fail(err, errlen, "workspace needs at least one row (max_T %d)", max_T);
    if (C < 1 || m->cfg.n_ctx < 1)
        return fail(err, errlen, "model has no embedding size or context");
    int n_workers = threadpool_size(pool);
    // rows of C floats: resid, ln, qkv (3), atty, proj, fch (4), gather = 12
    size_t row_floats, act, scores, total;
    if (mul_size((size_t)C, TF_WORKSPACE_ROW_FLOATS, &row_floats) ||
        mul_size(row_floats, (size_t)max_T, &act) ||
        mul_size((size_t)n_workers, (size_t)m->cfg.n_ctx, &scores) ||
        add_size(act, scores, &total) || mul_size(total, sizeof(float), &total))
        return fail(err, errlen, "workspace for %d rows is too large", max_T);
    ws->max_T = max_T;
    ws->C = C;
    ws->n_ctx = m->cfg.n_ctx;
    ws->n_workers = n_workers;
    ws->pool = pool;
    ws->mem = xmalloc(total);
    float *p = ws->mem;
    size_t rows = (size_t)max_T;
    ws->resid = p;
    p += rows * C;
    ws->ln = p;
    p += rows * C;
    ws->qkv = p;
    p += rows * 3 * C;
    ws->atty = p;
    p += rows * C;
    ws->proj = p;
    p += rows * C;
    ws->fch = p;
    p += rows * 4 * C;
    ws->gather = p;
    p += rows * C;
    ws->scores = p;
    ws->kv = xcalloc(rows, sizeof *ws->kv);
    return 0;
}

void tf_workspace_free(TfWorkspace *ws) {
    if (!ws) return;
    free(ws->mem);
    free(ws->kv);
    memset(ws, 0, sizeof *ws);
}

// ----------------------------------------------------------------------------
// validation

int tf_check_layers(const Gpt2 *m, const int *layers, int n, char *err, size_t errlen) {
    int L = m->cfg.n_layer;
    if (n < 0) return fail(err, errlen, "negative number of layers (%d)", n);
    if (n > 0 && !layers) return fail(err, errlen, "no layer list");
    for (int i = 0; i < n; i++)
        if (layers[i] < 0 || layers[i] >= L)
            return fail(err, errlen, "layer index %d out of range 0..%d", layers[i], L - 1);
    return 0;
}

static int check_positions(const Gpt2 *m, int T, int pos0, char *err, size_t errlen) {
    if (T < 1) return fail(err, errlen, "empty sequence (T = %d)", T);
    if (pos0 < 0 || pos0 > m->cfg.n_ctx || T > m->cfg.n_ctx - pos0)
        return fail(err, errlen, "sequence of %lld tokens exceeds the context of %d",
                    (long long)pos0 + T, m->cfg.n_ctx);
    return 0;
}

static int check_tokens(const Gpt2 *m, const int *tokens, int T, char *err, size_t errlen) {
    for (int t = 0; t < T; t++)
        if (tokens[t] < 0 || tokens[t] >= m->cfg.vocab_size)
            return fail(err, errlen, "token id %d at position %d out of range 0..%d", tokens[t], t,
                        m->cfg.vocab_size - 1);
    return 0;
}

static int check_workspace(const Gpt2 *m, const TfWorkspace *ws, int rows, char *err,
                           size_t errlen) {
    if (!ws || !ws->mem) return fail(err, errlen, "no workspace");
    if (ws->C != m->cfg.n_embd || ws->n_ctx < m->cfg.n_ctx)
        return fail(err, errlen, "workspace was made for another model shape");
    if (rows > ws->max_T)
        return fail(err, errlen, "%d rows exceed the workspace's %d", rows, ws->max_T);
    return 0;
}

// ----------------------------------------------------------------------------
// residual level

int tf_embed(const Gpt2 *m, const int *tokens, int T, int pos0, float *resid, char *err,
             size_t errlen) {
    if (check_positions(m, T, pos0, err, errlen) || check_tokens(m, tokens, T, err, errlen))
        return -1;
    encoder_forward(resid, tokens, m->wte, m->wpe, T, pos0, m->cfg.n_embd);
    return 0;
}

// Rows 0..T-1 of one sequence attending among themselves: keys straight from ws->qkv.
static void kv_rows_plain(TfWorkspace *ws, int T) {
    int C = ws->C;
    for (int r = 0; r < T; r++)
        ws->kv[r] = (TfKvRow){NULL, NULL, ws->qkv + C, ws->qkv + 2 * C, r + 1};
}

int tf_block_forward(const Gpt2 *m, int layer, float *resid, int T, TfWorkspace *ws, char *err,
                     size_t errlen) {
    int starts[2] = {0, T};
    return tf_block_forward_packed(m, layer, resid, starts, 1, ws, err, errlen);
}

// Rows of n_seq sequences packed one after another: row r of sequence i (rows
// starts[i]..starts[i+1]-1) attends the rows of its own sequence up to itself.
static void kv_rows_packed(TfWorkspace *ws, const int *starts, int n_seq) {
    int C = ws->C;
    for (int i = 0; i < n_seq; i++) {
        const float *q0 = ws->qkv + (size_t)starts[i] * 3 * C;
        for (int r = starts[i]; r < starts[i + 1]; r++)
            ws->kv[r] = (TfKvRow){NULL, NULL, q0 + C, q0 + 2 * C, r - starts[i] + 1};
    }
}

// The rows of n_seq packed sequences that run the whole block: sequence i's from
// starts[i] + tail[i] (malloc'd, ascending; *n_keep of them), counted in tf_trim_stats.
// NULL with a message for a tail outside 0..rows.
static int *tail_rows(const int *starts, int n_seq, const int *tail, int *n_keep, char *err,
                      size_t errlen) {
    *n_keep = 0;
    for (int i = 0; i < n_seq; i++)
        if (tail[i] < 0 || tail[i] > starts[i + 1] - starts[i]) {
            fail(err, errlen, "sequence %d: first row read %d outside 0..%d", i, tail[i],
                 starts[i + 1] - starts[i]);
            return NULL;
        }
    int *keep = xmalloc(sizeof(int) * (size_t)(starts[n_seq] ? starts[n_seq] : 1));
    long runs = 0, rows = 0;
    for (int i = 0; i < n_seq; i++) {
        for (int r = starts[i] + tail[i]; r < starts[i + 1]; r++) keep[(*n_keep)++] = r;
        runs += tail[i] > 0;
        rows += tail[i];
    }
    tf_count_trimmed(runs, rows);
    return keep;
}

// Validate, set up ws->kv (packed from position 0 when pos0 is NULL, else resumed) and
// run the block, on every row or (tail) on the rows each sequence's tail names.
static int block_seqs(const Gpt2 *m, int layer, float *resid, const int *starts, int n_seq,
                      const int *pos0, float *const *k, float *const *v, const int *tail,
                      TfWorkspace *ws, char *err, size_t errlen) {
    if (tf_check_layers(m, &layer, 1, err, errlen)) return -1;
    if (!pos0 && (n_seq < 1 || !starts || starts[0] != 0))
        return fail(err, errlen, "no packed sequences (or the first does not start at row 0)");
    if (pos0 && (n_seq < 1 || !starts || starts[0] != 0 || !k || !v))
        return fail(err, errlen, "no resumed sequences (or the first does not start at row 0)");
    for (int i = 0; i < n_seq; i++) {
        if (pos0 && (!k[i] || !v[i]))
            return fail(err, errlen, "sequence %d has no key/value rows", i);
        if (check_positions(m, starts[i + 1] - starts[i], pos0 ? pos0[i] : 0, err, errlen))
            return -1;
    }
    if (check_workspace(m, ws, starts[n_seq], err, errlen)) return -1;
    int n_keep = 0, *keep = NULL;
    if (tail && !(keep = tail_rows(starts, n_seq, tail, &n_keep, err, errlen))) return -1;
    if (pos0) kv_rows_resume(ws, starts, n_seq, pos0, k, v);
    else kv_rows_packed(ws, starts, n_seq);
    int C = m->cfg.n_embd;
    block_forward_rows(m, layer, resid, starts[n_seq], ws->kv, pos0 ? C : 3 * C, ws, ws->hooks,
                       keep, n_keep);
    free(keep);
    return 0;
}

int tf_block_forward_packed(const Gpt2 *m, int layer, float *resid, const int *starts, int n_seq,
                            TfWorkspace *ws, char *err, size_t errlen) {
    return block_seqs(m, layer, resid, starts, n_seq, NULL, NULL, NULL, NULL, ws, err, errlen);
}

// Row j of sequence i (position pos0[i] + j) stores its k/v at that row of k[i]/v[i] and
// attends rows 0..pos0[i]+j there (stride C).
static void kv_rows_resume(TfWorkspace *ws, const int *starts, int n_seq, const int *pos0,
                           float *const *k, float *const *v) {
    size_t C = (size_t)ws->C;
    for (int i = 0; i < n_seq; i++)
        for (int r = starts[i]; r < starts[i + 1]; r++) {
            int pos = pos0[i] + r - starts[i];
            ws->kv[r] =
                (TfKvRow){k[i] + (size_t)pos * C, v[i] + (size_t)pos * C, k[i], v[i], pos + 1};
        }
}

int tf_block_forward_resume(const Gpt2 *m, int layer, float *resid, const int *starts, int n_seq,
                            const int *pos0, float *const *k, float *const *v, TfWorkspace *ws,
                            char *err, size_t errlen) {
    if (!pos0)
        return fail(err, errlen, "no resumed sequences (or the first does not start at row 0)");
    return block_seqs(m, layer, resid, starts, n_seq, pos0, k, v, NULL, ws, err, errlen);
}

int tf_block_forward_tail(const Gpt2 *m, int layer, float *resid, const int *starts, int n_seq,
                          const int *pos0, float *const *k, float *const *v, const int *tail,
                          TfWorkspace *ws, char *err, size_t errlen) {
    return block_seqs(m, layer, resid, starts, n_seq, pos0, k, v, tail, ws, err, errlen);
}

static atomic_long trimmed_runs, trimmed_rows;

static void tf_count_trimmed(long runs, long rows) {
    atomic_fetch_add(&trimmed_runs, runs);
    atomic_fetch_add(&trimmed_rows, rows);
}

void tf_trim_stats(long *runs, long *rows) {
    *runs = atomic_load(&trimmed_runs);
    *rows = atomic_load(&trimmed_rows);
}

int tf_logits(const Gpt2 *m, const float *resid, int T, const int *rows, int n_rows, float *logits,
              TfWorkspace *ws, char *err, size_t errlen) {
    int C = m->cfg.n_embd, V = m->cfg.vocab_size;
    if (T < 1) return fail(err, errlen, "empty sequence (T = %d)", T);
    if (!rows) n_rows = T;
    if (n_rows < 0) return fail(err, errlen, "negative number of rows (%d)", n_rows);
    for (int i = 0; rows && i < n_rows; i++)
        if (rows[i] < 0 || rows[i] >= T)
            return fail(err, errlen, "logit row %d out of range 0..%d", rows[i], T - 1);
    if (check_workspace(m, ws, 1, err, errlen)) return -1;
    for (int i0 = 0; i0 < n_rows; i0 += ws->max_T) {
        int n = n_rows - i0 < ws->max_T ? n_rows - i0 : ws->max_T;
        for (int i = 0; i < n; i++) {
            const float *x = resid + (size_t)(rows ? rows[i0 + i] : i0 + i) * C;
            layernorm_forward(ws->ln + (size_t)i * C, x, m->lnf_w, m->lnf_b, 1, C, m->cfg.ln_eps,
                              NULL);
        }
        if (m->lm_head16)
            matmul_transposed_lowp_forward(logits + (size_t)i0 * V, ws->ln, m->lm_head16,
                                           m->w16_type, n, C, V, ws->pool);
        else
            matmul_transposed_forward(logits + (size_t)i0 * V, ws->ln, m->lm_head, n, C, V,
                                      ws->pool);
    }
    return 0;
}

// ----------------------------------------------------------------------------
// convenience

int tf_forward(const Gpt2 *m, const int *layers, int n, const int *tokens, int T, const int *rows,
               int n_rows, float *logits, TfWorkspace *ws, char *err, size_t errlen) {
    if (tf_check_layers(m, layers, n, err, errlen) || check_positions(m, T, 0, err, errlen) ||
        check_tokens(m, tokens, T, err, errlen))
        return -1;
    TfWorkspace tmp;
    int own = !ws;
    if (own) {
        if (tf_workspace_init(&tmp, m, T, threadpool_global(), err, errlen)) return -1;
        ws = &tmp;
    }
    int rc = check_workspace(m, ws, T, err, errlen);
    if (rc == 0) {
        encoder_forward(ws->resid, tokens, m->wte, m->wpe, T, 0, m->cfg.n_embd);
        kv_rows_plain(ws, T);
        for (int i = 0; i < n; i++)
            block_forward_rows(m, layers[i], ws->resid, T, ws->kv, 3 * m->cfg.n_embd, ws, ws->hooks,
                               NULL, 0);
        rc = tf_logits(m, ws->resid, T, rows, n_rows, logits, ws, err, errlen);
    }
    if (own) tf_workspace_free(&tmp);
    return rc;
}

// ----------------------------------------------------------------------------
// log-softmax

double tf_logsumexp(const float *logits, int V) {
    // (a zero maximum may come with either sign: l - max, exp and max + log are the same)
    double max = scan_max(logits, V);
    if (isinf(max)) return max;   // all -inf (or a +inf): the sum is that infinity
    double sum = 0.0;
    for (int i = 0; i < V; i++) sum += exp((double)logits[i] - max);
    return max + log(sum);
}

void tf_log_softmax(const float *logits, int V, float *out) {
    double lse = tf_logsumexp(logits, V);
    for (int i = 0; i < V; i++) out[i] = (float)((double)logits[i] - lse);
}

typedef struct {
    const float *logits;
    int V;
    const int *targets;
    double *out;
    int *greedy;   // NULL, or each row's argmax (sample_greedy)
} LogprobJob;

static void logprob_task(void *ctx, int i, int worker) {
    (void)worker;
    const LogprobJob *job = ctx;
    const float *row = job->logits + (size_t)i * job->V;
    job->out[i] = (double)row[job->targets[i]] - tf_logsumexp(row, job->V);
    if (job->greedy) job->greedy[i] = sample_greedy(row, job->V);
}

// One task per row on the global pool: a row's log-sum-exp (50257 calls of exp for
// GPT-2) costs about as much as unembedding it, and each row's value does not depend
// on which thread computes it.
int tf_target_scores(const float *logits, int n, int V, const int *targets, double *out,
                     int *greedy, char *err, size_t errlen) {
    for (int i = 0; i < n; i++)
        if (targets[i] < 0 || targets[i] >= V)
            return fail(err, errlen, "target token %d out of range 0..%d", targets[i], V - 1);
    LogprobJob job = {logits, V, targets, out, greedy};
    if (n == 1) logprob_task(&job, 0, 0);
    else if (n > 1) threadpool_run(threadpool_global(), n, logprob_task, &job);
    return 0;
}

int tf_target_logprobs(const float *logits, int n, int V, const int *targets, double *out,
                       char *err, size_t errlen) {
    return tf_target_scores(logits, n, V, targets, out, NULL, err, errlen);
}

typedef struct {
    const float *logits;
    float *out;
    int V;
} SoftmaxJob;

static void softmax_task(void *ctx, int i, int worker) {
    (void)worker;
    const SoftmaxJob *job = ctx;
    tf_log_softmax(job->logits + (size_t)i * job->V, job->V, job->out + (size_t)i * job->V);
}

void tf_log_softmax_rows(const float *logits, int n, int V, float *out) {
    SoftmaxJob job = {logits, out, V};
    if (n == 1) softmax_task(&job, 0, 0);
    else if (n > 1) threadpool_run(threadpool_global(), n, softmax_task, &job);
}

// ----------------------------------------------------------------------------
// KV cache

TfCache *tf_cache_new(const Gpt2 *m, const int *layers, int n, int max_T, char *err,
                      size_t errlen) {
    if (tf_check_layers(m, layers, n, err, errlen)) return NULL;
    if (max_T < 1 || max_T > m->cfg.n_ctx) {
        fail(err, errlen, "cache size %d out of range 1..%d", max_T, m->cfg.n_ctx);
        return NULL;
    }
    size_t per, total;
    if (mul_size((size_t)max_T, (size_t)m->cfg.n_embd, &per) || mul_size(per, (size_t)n, &total) ||
        mul_size(total, sizeof(float), &total)) {
        fail(err, errlen, "cache of %d slots x %d tokens is too large", n, max_T);
        return NULL;
    }
    TfCache *c = xcalloc(1, sizeof *c);
    c->model = m;
    c->n_slots = n;
    c->layers = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *c->layers);
    if (n > 0) memcpy(c->layers, layers, (size_t)n * sizeof *layers);
    c->max_T = max_T;
    c->k = xmalloc(total);
    c->v = xmalloc(total);
    return c;
}

void tf_cache_free(TfCache *c) {
    if (!c) return;
    if (c->has_own_ws) tf_workspace_free(&c->own_ws);
    free(c->layers);
    free(c->k);
    free(c->v);
    free(c);
}

static float *cache_k(const TfCache *c, int slot, int pos) {
    return c->k + ((size_t)slot * c->max_T + pos) * c->model->cfg.n_embd;
}

static float *cache_v(const TfCache *c, int slot, int pos) {
    return c->v + ((size_t)slot * c->max_T + pos) * c->model->cfg.n_embd;
}

static TfWorkspace *cache_workspace(TfCache *c, char *err, size_t errlen) {
    if (c->ws) return c->ws;
    if (!c->has_own_ws) {
        if (tf_workspace_init(&c->own_ws, c->model, c->max_T, threadpool_global(), err, errlen))
            return NULL;
        c->has_own_ws = 1;
    }
    c->ws = &c->own_ws;
    return c->ws;
}

// kv[r] for row r of the new positions c->T + r, slot `slot`.
static void kv_row_cached(TfKvRow *kv, const TfCache *c, int slot, int pos) {
    *kv = (TfKvRow){cache_k(c, slot, pos), cache_v(c, slot, pos), cache_k(c, slot, 0),
                    cache_v(c, slot, 0), pos + 1};
}

static int check_append(const TfCache *c, int T_new, char *err, size_t errlen) {
    if (T_new < 1) return fail(err, errlen, "no tokens to append (T_new = %d)", T_new);
    if (T_new > c->max_T - c->T)
        return fail(err, errlen, "cache full: %d + %d tokens exceed its %d", c->T, T_new, c->max_T);
    return 0;
}

int tf_cache_block_forward(TfCache *c, int slot, float *resid, int T_new, char *err,
                           size_t errlen) {
    if (slot < 0 || slot >= c->n_slots)
        return fail(err, errlen, "slot %d out of range 0..%d", slot, c->n_slots - 1);
    if (check_append(c, T_new, err, errlen)) return -1;
    TfWorkspace *ws = cache_workspace(c, err, errlen);
    if (!ws || check_workspace(c->model, ws, T_new, err, errlen)) return -1;
    for (int r = 0; r < T_new; r++) kv_row_cached(&ws->kv[r], c, slot, c->T + r);
    block_forward_rows(c->model, c->layers[slot], resid, T_new, ws->kv, c->model->cfg.n_embd, ws,
                       NULL, NULL, 0);
    return 0;
}

// Block `layer` on n_seq sequences packed in resid: rows starts[i]..starts[i+1]-1 are
// positions caches[i]->T.. of slot slots[i] of caches[i] (their k/v stored there); only
// the rows keep[0..n_keep) past their k/v when keep is not NULL.
static void cache_rows_forward(const Gpt2 *m, int layer, TfCache *const *caches, const int *slots,
                               float *resid, const int *starts, int n_seq, TfWorkspace *ws,
                               const int *keep, int n_keep) {
    for (int i = 0; i < n_seq; i++)
        for (int r = starts[i]; r < starts[i + 1]; r++)
            kv_row_cached(&ws->kv[r], caches[i], slots[i], caches[i]->T + r - starts[i]);
    block_forward_rows(m, layer, resid, starts[n_seq], ws->kv, m->cfg.n_embd, ws, NULL, keep,
                       n_keep);
}

int tf_cache_block_forward_packed(TfCache *const *caches, const int *slots, float *resid,
                                  const int *starts, int n_seq, TfWorkspace *ws, char *err,
                                  size_t errlen) {
    return tf_cache_block_forward_tail(caches, slots, resid, starts, n_seq, NULL, ws, err, errlen);
}

int tf_cache_block_forward_tail(TfCache *const *caches, const int *slots, float *resid,
                                const int *starts, int n_seq, const int *tail, TfWorkspace *ws,
                                char *err, size_t errlen) {
    if (n_seq < 1 || !starts || starts[0] != 0)
        return fail(err, errlen, "no packed sequences (or the first does not start at row 0)");
    const Gpt2 *m = caches[0]->model;
    int layer = -1;
    for (int i = 0; i < n_seq; i++) {
        const TfCache *c = caches[i];
        if (c->model != m) return fail(err, errlen, "sequence %d's cache uses another model", i);
        if (slots[i] < 0 || slots[i] >= c->n_slots)
            return fail(err, errlen, "sequence %d: slot %d out of range 0..%d", i, slots[i],
                        c->n_slots - 1);
        if (layer < 0) layer = c->layers[slots[i]];
        if (c->layers[slots[i]] != layer)
            return fail(err, errlen, "sequence %d runs block %d, sequence 0 block %d", i,
                        c->layers[slots[i]], layer);
        if (check_append(c, starts[i + 1] - starts[i], err, errlen)) return -1;
    }
    if (check_workspace(m, ws, starts[n_seq], err, errlen)) return -1;
    int n_keep = 0, *keep = NULL;
    if (tail && !(keep = tail_rows(starts, n_seq, tail, &n_keep, err, errlen))) return -1;
    cache_rows_forward(m, layer, caches, slots, resid, starts, n_seq, ws, keep, n_keep);
    free(keep);
    return 0;
}

int tf_cache_advance(TfCache *c, int T_new, char *err, size_t errlen) {
    if (check_append(c, T_new, err, errlen)) return -1;
    c->T += T_new;
    return 0;
}

int tf_cache_rewind(TfCache *c, int T, char *err, size_t errlen) {
    if (T < 0 || T > c->T)
        return fail(err, errlen, "cannot rewind a cache of %d tokens to %d", c->T, T);
    c->T = T;
    return 0;
}

int tf_cache_copy_positions(TfCache *dst, const TfCache *src, int n_slots, int pos0, int n_pos,
                            char *err, size_t errlen) {
    if (dst->model->cfg.n_embd != src->model->cfg.n_embd)
        return fail(err, errlen, "caches of different models");
    if (n_slots < 0 || n_slots > dst->n_slots || n_slots > src->n_slots)
        return fail(err, errlen, "cannot copy %d slots between caches of %d and %d", n_slots,
                    src->n_slots, dst->n_slots);
    if (pos0 < 0 || n_pos < 0 || n_pos > dst->max_T - pos0 || n_pos > src->max_T - pos0)
        return fail(err, errlen, "cannot copy positions %d..%d (cache sizes %d and %d)", pos0,
                    pos0 + n_pos - 1, src->max_T, dst->max_T);
    for (int s = 0; s < n_slots; s++)
        if (dst->layers[s] != src->layers[s])
            return fail(err, errlen, "slot %d runs block %d in one cache and %d in the other", s,
                        src->layers[s], dst->layers[s]);
    size_t bytes = (size_t)n_pos * src->model->cfg.n_embd * sizeof(float);
    for (int s = 0; s < n_slots && bytes > 0; s++) {
        memcpy(cache_k(dst, s, pos0), cache_k(src, s, pos0), bytes);
        memcpy(cache_v(dst, s, pos0), cache_v(src, s, pos0), bytes);
    }
    return 0;
}

int tf_cache_copy_slots(TfCache *dst, const TfCache *src, int n_slots, int T, char *err,
                        size_t errlen) {
    return tf_cache_copy_positions(dst, src, n_slots, 0, T, err, errlen);
}

int tf_step(TfCache *c, const int *tokens, int T_new, float *logits_last, char *err,
            size_t errlen) {
    const Gpt2 *m = c->model;
    if (check_append(c, T_new, err, errlen) || check_positions(m, T_new, c->T, err, errlen) ||
        check_tokens(m, tokens, T_new, err, errlen))
        return -1;
    TfWorkspace *ws = cache_workspace(c, err, errlen);
    if (!ws || check_workspace(m, ws, T_new, err, errlen)) return -1;
    encoder_forward(ws->resid, tokens, m->wte, m->wpe, T_new, c->T, m->cfg.n_embd);
    for (int s = 0; s < c->n_slots; s++) {
        for (int r = 0; r < T_new; r++) kv_row_cached(&ws->kv[r], c, s, c->T + r);
        block_forward_rows(m, c->layers[s], ws->resid, T_new, ws->kv, m->cfg.n_embd, ws, NULL, NULL,
                           0);
    }
    c->T += T_new;
    if (!logits_last) return 0;
    int last = T_new - 1;
    return tf_logits(m, ws->resid, T_new, &last, 1, logits_last, ws, err, errlen);
}

// ----------------------------------------------------------------------------
// batched decoding

static int check_batch(TfCache **caches, int n, const int *tokens, TfWorkspace *ws, char *err,
                       size_t errlen) {
    if (n < 1) return fail(err, errlen, "empty batch");
    const Gpt2 *m = caches[0]->model;
    if (check_workspace(m, ws, n, err, errlen)) return -1;
    for (int i = 0; i < n; i++) {
        const TfCache *c = caches[i];
        if (c->model != m) return fail(err, errlen, "batch entry %d uses another model", i);
        if (c->T >= c->max_T)
            return fail(err, errlen, "batch entry %d: cache full (%d tokens)", i, c->max_T);
        if (tokens[i] < 0 || tokens[i] >= m->cfg.vocab_size)
            return fail(err, errlen, "batch entry %d: token id %d out of range 0..%d", i, tokens[i],
                        m->cfg.vocab_size - 1);
        for (int j = 0; j < i; j++)
            if (caches[j] == c)
                return fail(err, errlen, "batch entries %d and %d share a cache", j, i);
    }
    return 0;
}

// The block that most entries run next (ties: the lowest index); -1 when every entry has
// run all its slots.  next[i]: entry i's next slot; count: scratch of n_layer ints.
static int batch_next_layer(TfCache **caches, int n, const int *next, int *count, int n_layer) {
    memset(count, 0, (size_t)n_layer * sizeof *count);
    for (int i = 0; i < n; i++)
        if (next[i] < caches[i]->n_slots) count[caches[i]->layers[next[i]]]++;
    int best = -1;
    for (int l = 0; l < n_layer; l++)
        if (count[l] > 0 && (best < 0 || count[l] > count[best])) best = l;
    return best;
}

int tf_step_batch(TfCache **caches, int n, const int *tokens, float *logits, TfWorkspace *ws,
                  char *err, size_t errlen) {
    if (check_batch(caches, n, tokens, ws, err, errlen)) return -1;
    const Gpt2 *m = caches[0]->model;
    int C = m->cfg.n_embd;
    for (int i = 0; i < n; i++)
        encoder_forward(ws->resid + (size_t)i * C, &tokens[i], m->wte, m->wpe, 1, caches[i]->T, C);
    // Each pass runs one block on every entry whose next slot runs it, whatever that
    // slot's index: entries that skip or repeat blocks (skip-one, reverse) then meet in
    // one pass per block instead of splitting each slot into small groups.  A row's
    // result does not depend on its company, so any order that keeps each entry's own
    // slots in order gives the same bits.
    int *group = xmalloc((size_t)n * sizeof *group);   // entries of one pass
    int *next = xcalloc((size_t)n, sizeof *next);      // each entry's next slot
    int *count = xmalloc((size_t)m->cfg.n_layer * sizeof *count);
    int *starts = xmalloc((size_t)(n + 1) * sizeof *starts);
    TfCache **sel = xmalloc((size_t)n * sizeof *sel);
    int *slots = xmalloc((size_t)n * sizeof *slots);
    for (int layer; (layer = batch_next_layer(caches, n, next, count, m->cfg.n_layer)) >= 0;) {
        int g = 0;
        for (int i = 0; i < n; i++)
            if (next[i] < caches[i]->n_slots && caches[i]->layers[next[i]] == layer) {
                group[g] = i, sel[g] = caches[i], slots[g] = next[i], starts[g] = g;
                g++;
            }
        starts[g] = g;
        float *rows = ws->resid;   // every entry, in order: run in place
        if (g < n) {
            rows = ws->gather;
            for (int r = 0; r < g; r++)
                memcpy(rows + (size_t)r * C, ws->resid + (size_t)group[r] * C,
                       (size_t)C * sizeof(float));
        }
        cache_rows_forward(m, layer, sel, slots, rows, starts, g, ws, NULL, 0);
        for (int r = 0; r < g; r++) {
            if (g < n)
                memcpy(ws->resid + (size_t)group[r] * C, rows + (size_t)r * C,
                       (size_t)C * sizeof(float));
            next[group[r]]++;
        }
    }
    free(group);
    free(next);
    free(count);
    free(starts);
    free(sel);
    free(slots);
    for (int i = 0; i < n; i++) caches[i]->T++;
    return tf_logits(m, ws->resid, n, NULL, n, logits, ws, err, errlen);
}
