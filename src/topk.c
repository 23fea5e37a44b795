// topk: which next tokens get more or less likely when blocks are skipped, repeated or
// permuted.  For each record × configuration × position: the top-k next tokens, the
// tokens whose log-probability rose and fell most against the intact model, and the KL
// divergence from the intact model.  See README.md.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/scan.h"
#include "base/threadpool.h"
#include "base/tool.h"
#include "base/util.h"
#include "experiment/experiment.h"
#include "experiment/interp.h"
#include "experiment/sweep.h"
#include "experiment/topk_rank.h"

// clang-format off
static const char usage_text[] =
    "usage: topk [options] < records.ndjson\n"
    "For each record (\"prompt\", optional \"answer\") and layer configuration, adds layers,\n"
    "label, position, token, topk, rose, fell, kl_from_intact (and answer_rank, answer_prob,\n"
    "answer_logprob when the record has an answer).\n" EXPERIMENT_USAGE EXPERIMENT_PACK_USAGE INTERP_USAGE INTERP_LENS_USAGE
    "  -k N               tokens in topk, rose and fell (default 10)\n"
    "  --positions P      last (default), all, or a list such as 0,3,-1 (negative: from the end)\n"
    "  --candidates N     rose/fell rank the union of both distributions' top N (default 100)\n";
// clang-format on

static const char *const owned[] = {
    "layers",         "label",       "position",    "token",          "topk",    "rose",     "fell",
    "kl_from_intact", "answer_rank", "answer_prob", "answer_logprob", "ablated", "dump_key", "lens",
    "lens_layer",     "lens_depth",  NULL};

typedef struct {
    Model model;
    ConfigList cmdline;
    ExperimentOptions opt;
    InterpOptions io;
    TfWorkspace ws;
    int k, candidates;
    const char *positions;   // "last", "all" or a list
} TopK;

// Records read before a batch is run (packed into passes as memory allows).
#define BATCH_RECORDS 256
// Error messages of a record.
#define ERR_LEN       512

// Rows unembedded per tf_logits call (whole records or readouts, one at least), across the
// records of a group: LOGIT_ROWS, or fewer when half of --mem-budget holds fewer rows of
// log-probabilities (4 x vocab bytes a row: --mem-budget 1M, 2 on GPT-2 small).  Not more:
// the log-probabilities of 128 rows (26 MB on GPT-2 small) stay in the last-level cache
// for the log-softmax and the ranking; a call of every row of a group (667 rows, 134 MB)
// was 2 % slower in CPU seconds (docs/bench.md, 2026-12-05 topk readouts).
#define LOGIT_ROWS 128
static size_t logit_rows(const TopK *t) {
    size_t budget = experiment_budget(&t->opt),
           row = sizeof(float) * (size_t)t->model.gpt2.cfg.vocab_size, rows = budget / 2 / row;
    return rows == 0 ? 1 : rows < LOGIT_ROWS ? rows : LOGIT_ROWS;
}

// logprobs (n, V) = log-softmax of the unembedded kept rows.
static int unembed_kept(TopK *t, const float *kept, int n, float *logprobs, char *err,
                        size_t errlen) {
    const Gpt2 *m = &t->model.gpt2;
    size_t V = (size_t)m->cfg.vocab_size;
    if (tf_logits(m, kept, n, NULL, n, logprobs, &t->ws, err, errlen) != 0) return -1;
    tf_log_softmax_rows(logprobs, n, (int)V, logprobs);
    return 0;
}

// The rows to read: "last", "all" or a comma list of positions (negative from the end).
static int parse_positions(const char *spec, int T, int **rows, int *n, char *err, size_t errlen) {
    if (!strcmp(spec, "last")) {
        *rows = xmalloc(sizeof(int));
        (*rows)[0] = T - 1;
        *n = 1;
        return 0;
    }
    if (!strcmp(spec, "all")) {
        *rows = xmalloc(sizeof(int) * (size_t)T);
        for (int i = 0; i < T; i++) (*rows)[i] = i;
        *n = T;
        return 0;
    }
    int cap = 8, count = 0;
    int *v = xmalloc(sizeof(int) * (size_t)cap);
    for (const char *p = spec; *p;) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',')) {
            free(v);
            return fail(err, errlen, "bad --positions \"%s\"", spec);
        }
        if (x < 0) x += T;
        if (x < 0 || x >= T) {
            free(v);
            return fail(err, errlen, "position %s out of range for %d tokens", p, T);
        }
        if (count == cap) v = xrealloc(v, sizeof(int) * (size_t)(cap *= 2));
        v[count++] = (int)x;
        p = *end ? end + 1 : end;
    }
    if (count == 0) {   // "" reads no row: nothing to rank, and a division by zero later
        free(v);
        return fail(err, errlen, "--positions \"%s\" names no position", spec);
    }
    *rows = v;
    *n = count;
    return 0;
}

// ----------------------------------------------------------------------------- ranking

// What one output row says of its log-probabilities lp against the reference ref (both
// log-softmax rows of V): ranked for many rows at once across the pool (rank_rows), each
// row by one thread as it would be alone, then written in input order by the caller.
typedef struct {
    const float *lp, *ref;
    int answer;                 // the answer's id when the row scores it, else -1
    int *top, n_top;            // scan_top_k
    TokenChange *rose, *fell;   // topk_changes
    int n_rose, n_fell;
    double kl;         // topk_kl(ref, lp)
    int answer_rank;   // (answer >= 0)
} RowRank;

typedef struct {   // rows to rank and the space of their lists
    RowRank *row;
    int *top;
    TokenChange *change;
    int n, cap;
    int n_top, n_change;   // list lengths a row can need
} RankSet;

static void rank_set_init(RankSet *rs, const TopK *t) {
    int V = t->model.gpt2.cfg.vocab_size, cand = t->candidates < V ? t->candidates : V;
    *rs = (RankSet){.n_top = t->k < V ? t->k : V, .n_change = t->k < 2 * cand ? t->k : 2 * cand};
}

static void rank_set_free(RankSet *rs) {
    free(rs->row), free(rs->top), free(rs->change);
    *rs = (RankSet){0};
}

// The next row to rank (rs->n grows by one): its lists point into rs's space, which moves
// when it grows, so they are set by rank_rows.
static RowRank *rank_add(RankSet *rs, const float *lp, const float *ref, int answer) {
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 64;
        rs->row = xrealloc(rs->row, sizeof *rs->row * (size_t)rs->cap);
        rs->top = xrealloc(rs->top, sizeof *rs->top * (size_t)rs->cap * (size_t)rs->n_top);
        rs->change =
            xrealloc(rs->change, sizeof *rs->change * (size_t)rs->cap * 2 * (size_t)rs->n_change);
    }
    RowRank *r = &rs->row[rs->n++];
    *r = (RowRank){.lp = lp, .ref = ref, .answer = answer};
    return r;
}

// The answer's rank (1 = the most likely; ties to the lower id) in lp (V).
static int answer_rank(const float *lp, int V, int answer) {
    int rank = 1;
    for (int v = 0; v < V; v++)
        if (lp[v] > lp[answer] || (lp[v] == lp[answer] && v < answer)) rank++;
    return rank;
}

typedef struct {
    const TopK *t;
    RankSet *rs;
} RankJob;

static void rank_task(void *ctx, int i, int worker) {
    (void)worker;
    const RankJob *job = ctx;
    const TopK *t = job->t;
    int V = t->model.gpt2.cfg.vocab_size;
    RowRank *r = &job->rs->row[i];
    r->n_top = scan_top_k(r->lp, V, t->k, r->top);
    topk_changes(r->lp, r->ref, V, t->candidates, t->k, r->rose, &r->n_rose, r->fell, &r->n_fell);
    r->kl = topk_kl(r->ref, r->lp, V);
    if (r->answer >= 0) r->answer_rank = answer_rank(r->lp, V, r->answer);
}

// Rank rs's rows, one task per row on the global pool.
static void rank_rows(const TopK *t, RankSet *rs) {
    for (int i = 0; i < rs->n; i++) {
        RowRank *r = &rs->row[i];
        r->top = rs->top + (size_t)i * (size_t)rs->n_top;
        r->rose = rs->change + (size_t)i * 2 * (size_t)rs->n_change;
        r->fell = r->rose + rs->n_change;
    }
    RankJob job = {t, rs};
    if (rs->n == 1) rank_task(&job, 0, 0);
    else if (rs->n > 1) threadpool_run(threadpool_global(), rs->n, rank_task, &job);
}

// The answer's id when the row read at `position` scores it, else -1.
static int row_answer(const RecordTokens *tk, int position) {
    return tk->n_answer && position == tk->n_prompt - 1 ? tk->ids[tk->n_prompt] : -1;
}

// ----------------------------------------------------------------------------- writing

static void write_token(JsonBuf *b, const Model *m, int id) {
    size_t len;
    const char *s = model_token_text(m, id, &len);
    jb_key(b, "token");
    jb_string(b, s ? s : "", s ? len : 0);
    jb_key(b, "id");
    jb_int(b, id);
}

static void write_topk(JsonBuf *b, const Model *m, const RowRank *r) {
    jb_key(b, "topk");
    jb_raw(b, "[", 1);
    for (int i = 0; i < r->n_top; i++) {
        jb_sep(b);
        jb_raw(b, "{", 1);
        write_token(b, m, r->top[i]);
        jb_key(b, "prob"), jb_double(b, exp(r->lp[r->top[i]]));
        jb_key(b, "logprob"), jb_float(b, r->lp[r->top[i]]);
        jb_raw(b, "}", 1);
    }
    jb_raw(b, "]", 1);
}

static void write_changes(JsonBuf *b, const Model *m, const RowRank *r) {
    const char *names[2] = {"rose", "fell"};
    const TokenChange *lists[2] = {r->rose, r->fell};
    int counts[2] = {r->n_rose, r->n_fell};
    for (int l = 0; l < 2; l++) {
        jb_key(b, names[l]);
        jb_raw(b, "[", 1);
        for (int i = 0; i < counts[l]; i++) {
            jb_sep(b);
            jb_raw(b, "{", 1);
            write_token(b, m, lists[l][i].id);
            jb_key(b, "delta_logprob"), jb_float(b, lists[l][i].delta);
            jb_key(b, "logprob"), jb_float(b, r->lp[lists[l][i].id]);
            jb_key(b, "intact_logprob"), jb_float(b, r->ref[lists[l][i].id]);
            jb_raw(b, "}", 1);
        }
        jb_raw(b, "]", 1);
    }
}

static void write_answer(JsonBuf *b, const RowRank *r) {
    jb_key(b, "answer_rank"), jb_int(b, r->answer_rank);
    jb_key(b, "answer_prob"), jb_double(b, exp(r->lp[r->answer]));
    jb_key(b, "answer_logprob"), jb_float(b, r->lp[r->answer]);
}

// One output record: configuration c (its label as given), the row read at `position`
// (token id `token`), ranked in r.
static void write_row(TopK *t, JsonBuf *b, const Record *in, const LayerConfig *c, int position,
                      int token, const RowRank *r) {
    record_begin(b, in, owned);
    experiment_write_config(b, c);
    jb_key(b, "position"), jb_int(b, position);
    size_t len;
    const char *s = model_token_text(&t->model, token, &len);
    jb_key(b, "token"), jb_string(b, s ? s : "", s ? len : 0);
    write_topk(b, &t->model, r);
    write_changes(b, &t->model, r);
    jb_key(b, "kl_from_intact"), jb_double(b, r->kl);
    if (r->answer >= 0) write_answer(b, r);
}

// The rows of every configuration except `hidden` (the intact reference when it was not
// asked for; -1: none hidden), against configuration `intact`, added to rs in the order
// write_results writes them.
static void rank_add_results(RankSet *rs, const ConfigList *cfgs, int intact, int hidden,
                             const RecordTokens *tk, const int *rows, int n_rows,
                             const float *logprobs, size_t V) {
    size_t per_cfg = (size_t)n_rows * V;
    for (int k = 0; k < cfgs->n; k++) {
        if (k == hidden) continue;
        for (int r = 0; r < n_rows; r++)
            rank_add(rs, logprobs + k * per_cfg + (size_t)r * V,
                     logprobs + intact * per_cfg + (size_t)r * V, row_answer(tk, rows[r]));
    }
}

// Writes the rows of rank_add_results, ranked in rr; returns how many.
static int write_results(TopK *t, const Record *in, const ConfigList *cfgs, int hidden,
                         const RecordTokens *tk, const int *rows, int n_rows, const RowRank *rr,
                         JsonBuf *lines) {
    JsonBuf b = {0};
    int n = 0;
    for (int k = 0; k < cfgs->n; k++) {
        if (k == hidden) continue;
        for (int r = 0; r < n_rows; r++) {
            write_row(t, &b, in, &cfgs->cfg[k], rows[r], tk->ids[rows[r]], &rr[n++]);
            record_end(&b, lines);
        }
    }
    jb_free(&b);
    return n;
}

// ----------------------------------------------------------------------------- interventions

typedef struct {                   // a readout kept until every run of the record is done
    int k;                         // the configuration's index
    int variant;                   // the run's variant
    int depth;                     // blocks applied before the readout
    char label[LAYER_LABEL_MAX];   // the run's label
    char dump[64];                 // its dump key, or ""
} Readout;

typedef struct {   // what the intervention visitor needs (one record)
    TopK *t;
    const Record *in;
    const RecordTokens *tk;
    const InterpRecord *ir;
    const ConfigList *cfgs;
    int k;                 // the configuration being run
    int n_out;             // output runs of the record (dump keys)
    long rec;              // the record's number in the input (dump keys)
    InterpDumpBuf *dump;   // its arrays, kept until they are written in input order
    const int *rows;
    int n_rows;
    Readout *pend;   // (n_pend) the readouts, in visit order
    float *kept;     // (n_pend, n_rows, C) their rows to unembed
    int n_pend, cap;
    int failed;   // a run failed (the message in err)
    char *err;
    size_t errlen;
} IvJob;

// Keep the rows of one residual (T, C) to read out (through the lens at `depth` when
// there is one); they are unembedded with the record's other runs' (write_readouts).
static int keep_readout(IvJob *j, const InterpVisitInfo *info, const char *label,
                        const float *resid, int T, int depth, const char *dump) {
    const Gpt2 *m = &j->t->model.gpt2;
    size_t per = (size_t)j->n_rows * (size_t)m->cfg.n_embd;
    if (j->n_pend == j->cap) {
        j->cap = j->cap ? 2 * j->cap : 16;
        j->pend = xrealloc(j->pend, sizeof *j->pend * (size_t)j->cap);
        j->kept = xrealloc(j->kept, sizeof(float) * per * (size_t)j->cap);
    }
    Readout *rd = &j->pend[j->n_pend];
    *rd = (Readout){.k = j->k, .variant = info->variant, .depth = depth};
    snprintf(rd->label, sizeof rd->label, "%s", label);
    snprintf(rd->dump, sizeof rd->dump, "%s", dump ? dump : "");
    if (interp_lens_rows(&j->t->io, m, resid, T, depth, j->rows, j->n_rows,
                         j->kept + per * (size_t)j->n_pend, j->err, j->errlen) != 0)
        return -1;
    j->n_pend++;
    return 0;
}

// The rows of readout rd (one per row read), from their log-probabilities lp (n_rows, V)
// against ref (n_rows, V), added to rs in the order write_readout writes them.
static void rank_add_readout(const IvJob *j, RankSet *rs, const float *lp, const float *ref) {
    size_t V = (size_t)j->t->model.gpt2.cfg.vocab_size;
    for (int r = 0; r < j->n_rows; r++)
        rank_add(rs, lp + (size_t)r * V, ref + (size_t)r * V, row_answer(j->tk, j->rows[r]));
}

// The records of readout rd (one per row read), ranked in rr (rank_add_readout).
static void write_readout(IvJob *j, const Readout *rd, const RowRank *rr, JsonBuf *lines) {
    TopK *t = j->t;
    const LayerConfig *cfg = &j->cfgs->cfg[rd->k];
    LayerConfig c = *cfg;
    memcpy(c.label, rd->label, sizeof c.label);
    const int *tokens = j->ir->patching ? j->ir->corrupt : j->tk->ids;
    JsonBuf b = {0};
    for (int r = 0; r < j->n_rows; r++) {
        write_row(t, &b, j->in, &c, j->rows[r], tokens[j->rows[r]], &rr[r]);
        interp_write_fields(&b, &t->io, j->ir, rd->variant, rd->dump[0] ? rd->dump : NULL);
        if (t->io.lens) {
            jb_key(&b, "lens"), jb_cstr(&b, t->io.lens == INTERP_LENS_TUNED ? "tuned" : "logit");
            jb_key(&b, "lens_depth"), jb_int(&b, rd->depth);
            jb_key(&b, "lens_layer");
            if (rd->depth > 0) jb_int(&b, cfg->idx[rd->depth - 1]);
            else jb_puts(&b, "null");
        }
        record_end(&b, lines);
    }
    jb_free(&b);
}

// The readouts of jobs[0..n) (those not failed), unembedded together: whole readouts in
// visit order, record after record, up to logit_rows rows (one readout at least) per
// tf_logits call; each written to its record's lines, mine[i], against its reference
// refs + offset[i] rows.  0, or -1 with a message (for all of them).
static int write_group_readouts(TopK *t, IvJob *jobs, int n, const float *refs,
                                const size_t *offset, JsonBuf *mine, char *err, size_t errlen) {
    const Gpt2 *m = &t->model.gpt2;
    size_t V = (size_t)m->cfg.vocab_size, C = (size_t)m->cfg.n_embd, cap = logit_rows(t), total = 0,
           rows = 0, most = 1;
    for (int i = 0; i < n; i++) {
        if (jobs[i].failed) continue;
        total += (size_t)jobs[i].n_pend;
        rows += (size_t)jobs[i].n_pend * (size_t)jobs[i].n_rows;
        if ((size_t)jobs[i].n_rows > most) most = (size_t)jobs[i].n_rows;
    }
    if (cap > rows) cap = rows;                                // no more than the readouts need
    if (cap < most) cap = most;                                // one readout at least
    int(*at)[2] = xmalloc(sizeof *at * (total ? total : 1));   // (job, readout), in order
    size_t na = 0;
    for (int i = 0; i < n; i++)
        for (int r = 0; !jobs[i].failed && r < jobs[i].n_pend; r++) at[na][0] = i, at[na++][1] = r;
    float *x = xmalloc(sizeof(float) * cap * C), *lp = xmalloc(sizeof(float) * cap * V);
    RankSet rs;
    rank_set_init(&rs, t);
    int rc = 0;
    for (size_t a0 = 0, a1; rc == 0 && a0 < na; a0 = a1) {
        rows = 0;
        for (a1 = a0; a1 < na && rows + (size_t)jobs[at[a1][0]].n_rows <= cap; a1++) {
            const IvJob *j = &jobs[at[a1][0]];
            memcpy(x + rows * C, j->kept + (size_t)at[a1][1] * (size_t)j->n_rows * C,
                   sizeof(float) * (size_t)j->n_rows * C);
            rows += (size_t)j->n_rows;
        }
        rc = unembed_kept(t, x, (int)rows, lp, err, errlen);
        rows = 0;
        rs.n = 0;
        for (size_t a = a0; rc == 0 && a < a1; a++) {
            const IvJob *j = &jobs[at[a][0]];
            rank_add_readout(j, &rs, lp + rows * V, refs + offset[at[a][0]] * V);
            rows += (size_t)j->n_rows;
        }
        if (rc == 0) rank_rows(t, &rs);
        rows = 0;
        for (size_t a = a0; rc == 0 && a < a1; a++) {
            IvJob *j = &jobs[at[a][0]];
            write_readout(j, &j->pend[at[a][1]], rs.row + rows, &mine[at[a][0]]);
            rows += (size_t)j->n_rows;
        }
    }
    rank_set_free(&rs);
    free(lp);
    free(x);
    free(at);
    return rc;
}

// Keep one run's readouts (and its arrays for the dump).  A failure is the record's
// (j->failed, the message in j->err): its later runs are neither read out nor dumped, as
// when it ran alone, and the other records of its group go on.  Always 0.
static int topk_visit(void *ctx, const InterpVisitInfo *info, const float *resid, int T,
                      TfWorkspace *ws) {
    (void)ws;
    IvJob *j = ctx;
    // patching's clean and corrupted baselines are not read out
    if (info->role != INTERP_RUN || j->failed) return 0;
    TopK *t = j->t;
    const Gpt2Config *cfg = &t->model.gpt2.cfg;
    const LayerConfig *c = &j->cfgs->cfg[j->k];
    char label[LAYER_LABEL_MAX];
    interp_variant_label(&t->io, c, info->variant, cfg->n_layer, label);
    char key[64], *dump = NULL;
    if (t->io.npz) {
        int run = j->k * interp_n_variants(&t->io) + info->variant;
        if (j->n_out > 1) snprintf(key, sizeof key, "rec%ld.run%d", j->rec, run);
        else snprintf(key, sizeof key, "rec%ld", j->rec);
        dump = key;
        interp_dump_keep(&t->io, j->dump, key, cfg, c, info->acts);
    }
    if (!t->io.lens) {
        j->failed = keep_readout(j, info, label, resid, T, c->n, dump) != 0;
        return 0;
    }
    // The lens: the residual entering the first block (depth 0), after each block, and
    // the final one (= the model's own output for the logit lens).
    for (int d = t->io.lens == INTERP_LENS_TUNED ? 1 : 0; d <= c->n; d++) {
        const float *r = d == c->n ? resid
                         : d == 0  ? act_cache_at(info->acts, TF_HOOK_RESID_PRE, 0)
                                   : act_cache_at(info->acts, TF_HOOK_RESID_POST, d - 1);
        if (!r) fail(j->err, j->errlen, "the lens's activations after %d blocks were not kept", d);
        if (!r || keep_readout(j, info, label, r, T, d, dump) != 0) {
            j->failed = 1;
            break;
        }
    }
    return 0;
}

typedef struct {   // one record of a batch
    const Record *in;
    long rec;          // its number in the input (0, 1, ..: dump keys)
    ConfigList cfgs;   // its configurations (+ the intact reference when hidden >= 0)
    RecordTokens tk;
    InterpRecord ir;
    int *rows, n_rows;    // the positions read
    int intact, hidden;   // the reference configuration; the one not written (-1: none)
    int plain;            // to be run by the packed sweep
    int patched;          // patching: to be run with the batch's other patched records
    int interventions;    // other interventions: to be run with the batch's others
    int failed;           // its lines are an error
    InterpDumpBuf dump;   // its arrays for the dump, written in input order (topk_batch)
    JsonBuf lines;        // its output lines
} Item;

// Its error line instead of whatever the record had written.
static void item_error(Item *it, const char *err) {
    jb_reset(&it->lines);
    record_error(&it->lines, it->in, err);
    it->failed = 1;
}

// The first of the positions rows[0..n) (n >= 1) that a record reads out.
static int first_read(const int *rows, int n) {
    int first = rows[0];
    for (int r = 1; r < n; r++)
        if (rows[r] < first) first = rows[r];
    return first;
}

// Read a record (an error written at once) and say how it is to be run.  0, or 1 when it
// failed.
static int item_prepare(TopK *t, Item *it) {
    char err[512];
    const Gpt2Config *cfg = &t->model.gpt2.cfg;
    it->rec = t->io.n_records++;
    if (experiment_configs(&t->cmdline, it->in, cfg->n_layer, &it->cfgs, err, sizeof err) != 0)
        goto bad;
    int with_answer = record_has(it->in, "answer");
    if (experiment_tokens(&t->model, it->in, t->opt.bos, with_answer, &it->tk, err, sizeof err) !=
        0)
        goto bad;
    if (parse_positions(t->positions, it->tk.n_prompt, &it->rows, &it->n_rows, err, sizeof err) !=
        0)
        goto bad;
    RecordTokens prompt_only = it->tk;   // only the prompt is run
    prompt_only.n_answer = 0;
    if (interp_record_read(&it->ir, &t->io, &t->model, it->in, t->opt.bos, &prompt_only, err,
                           sizeof err) != 0)
        goto bad;
    it->ir.tail = first_read(it->rows, it->n_rows);   // topk_visit reads these rows only
    // Records with interventions are run with the batch's others that run the same blocks
    // (patched records: their runs packed across records).
    if (it->ir.patching || interp_active(&t->io) || it->ir.n_abl) {
        it->patched = it->ir.patching;
        it->interventions = !it->ir.patching;
        return 0;
    }
    it->intact = configs_find_intact(&it->cfgs, cfg->n_layer), it->hidden = -1;
    if (it->intact < 0) {   // the reference for rose/fell/kl, not itself reported
        configs_add_intact(&it->cfgs, cfg->n_layer);
        it->intact = it->hidden = it->cfgs.n - 1;
    }
    size_t floats;
    if (mul_size((size_t)it->cfgs.n * (size_t)it->n_rows, (size_t)cfg->vocab_size, &floats) != 0 ||
        floats > ((size_t)1 << 27)) {
        fail(err, sizeof err,
             "%d configurations x %d positions is too much at once (use fewer --positions)",
             it->cfgs.n, it->n_rows);
        goto bad;
    }
    it->plain = 1;
    return 0;
bad:
    item_error(it, err);
    return 1;
}

typedef struct {            // the packed sweep's visitor: keeps every row read
    Item **items;           // (n) the group
    const size_t *offset;   // (n) the first kept row of each item
    float *kept;            // (rows of the group, C)
} GroupJob;

static int keep_item_rows(void *ctx, int k, int seq, const float *resid, int T, TfWorkspace *ws) {
    (void)T;
    GroupJob *g = ctx;
    const Item *it = g->items[seq];
    size_t C = (size_t)ws->C;
    float *dst = g->kept + (g->offset[seq] + (size_t)k * (size_t)it->n_rows) * C;
    for (int r = 0; r < it->n_rows; r++)
        memcpy(dst + (size_t)r * C, resid + (size_t)it->rows[r] * C, sizeof(float) * C);
    return 0;
}

// The first row keep_item_rows reads of each of items[0..n) (malloc'd): the packed
// sweep's tails (SweepPacking.tail).
static int *item_tails(Item **items, int n) {
    int *tail = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) tail[i] = first_read(items[i]->rows, items[i]->n_rows);
    return tail;
}

// Run the plain records items[0..n), which share their configurations, packed into big
// forward passes (only the prompts), then read out their rows together: consecutive
// records of up to logit_rows rows (one at least) per tf_logits call.  The number that
// failed.
static int topk_group(TopK *t, Item **items, int n) {
    const Gpt2 *m = &t->model.gpt2;
    size_t V = (size_t)m->cfg.vocab_size, C = (size_t)m->cfg.n_embd, rows = 0, most = 0;
    const int **tokens = xmalloc(sizeof *tokens * (size_t)n);
    int *lens = xmalloc(sizeof(int) * (size_t)n), failed = 0;
    size_t *offset = xmalloc(sizeof(size_t) * (size_t)n);
    for (int i = 0; i < n; i++) {
        tokens[i] = items[i]->tk.ids;
        lens[i] = items[i]->tk.n_prompt;
        offset[i] = rows;
        size_t mine = (size_t)items[i]->cfgs.n * (size_t)items[i]->n_rows;
        rows += mine;
        if (mine > most) most = mine;
    }
    GroupJob g = {items, offset, xmalloc(sizeof(float) * (rows ? rows : 1) * C)};
    char err[512];
    SweepPacking pack = {t->opt.mem_budget, t->opt.pack, item_tails(items, n)};
    int rc = sweep_run_seqs(m, &items[0]->cfgs, tokens, lens, n, &pack, &t->ws, keep_item_rows, &g,
                            NULL, err, sizeof err);
    free((int *)pack.tail);
    size_t cap = logit_rows(t);
    if (cap > rows) cap = rows;
    if (cap < most) cap = most;
    float *logprobs = xmalloc(sizeof(float) * cap * V);
    RankSet rs;
    rank_set_init(&rs, t);
    for (int i0 = 0, i1; i0 < n; i0 = i1) {
        size_t chunk = (size_t)items[i0]->cfgs.n * (size_t)items[i0]->n_rows;
        for (i1 = i0 + 1;
             i1 < n && chunk + (size_t)items[i1]->cfgs.n * (size_t)items[i1]->n_rows <= cap; i1++)
            chunk += (size_t)items[i1]->cfgs.n * (size_t)items[i1]->n_rows;
        int ok = rc == 0 && unembed_kept(t, g.kept + offset[i0] * C, (int)chunk, logprobs, err,
                                         sizeof err) == 0;
        rs.n = 0;
        for (int i = i0; ok && i < i1; i++) {
            const Item *it = items[i];
            rank_add_results(&rs, &it->cfgs, it->intact, it->hidden, &it->tk, it->rows, it->n_rows,
                             logprobs + (offset[i] - offset[i0]) * V, V);
        }
        if (ok) rank_rows(t, &rs);
        for (int i = i0, done = 0; i < i1; i++) {
            Item *it = items[i];
            if (ok)
                done += write_results(t, it->in, &it->cfgs, it->hidden, &it->tk, it->rows,
                                      it->n_rows, rs.row + done, &it->lines);
            else {
                item_error(it, err);
                failed++;
            }
        }
    }
    rank_set_free(&rs);
    free(logprobs);
    free(g.kept);
    free(offset);
    free(lens);
    free(tokens);
    return failed;
}

// The records of a batch and what to run on a group of them (topk_group or
// topk_iv_group): experiment_groups' callback, group_at, hands each group to it.
typedef struct {
    TopK *t;
    Item *items;
    int (*run)(TopK *t, Item **group, int n);
} Batch;

// Run the records with interventions items[0..n), which run the same blocks and are all
// patched or all not, together: their intact references packed into forward passes and
// unembedded logit_rows rows at a time; per configuration their runs through
// interp_records_run (packed across records: the patched records' clean, corrupted and
// patched runs, the others' runs with their ablations and captures; an ablation sweep's
// intact runs, then each record's variants); then the readouts of all of them unembedded
// together (write_group_readouts).  Each record's lines go to its own
// buffer (all of them, or its error: its own run's or readout's, or the group's when a
// packed pass or the readout fails).  The number that failed.
static int topk_iv_group(TopK *t, Item **items, int n) {
    const Gpt2 *m = &t->model.gpt2;
    size_t V = (size_t)m->cfg.vocab_size, C = (size_t)m->cfg.n_embd, rows = 0;
    char err[ERR_LEN] = "", *errs = xcalloc((size_t)n, ERR_LEN);
    const int **tokens = xmalloc(sizeof *tokens * (size_t)n);
    int *lens = xmalloc(sizeof(int) * (size_t)n);
    size_t *offset = xmalloc(sizeof(size_t) * (size_t)n);
    IvJob *jobs = xcalloc((size_t)n, sizeof *jobs);
    const InterpRecord **irs = xmalloc(sizeof *irs * (size_t)n);
    void **ctxs = xmalloc(sizeof *ctxs * (size_t)n);
    JsonBuf *mine = xcalloc((size_t)n, sizeof *mine);
    for (int i = 0; i < n; i++) {
        Item *it = items[i];
        tokens[i] = it->tk.ids;
        lens[i] = it->tk.n_prompt;
        offset[i] = rows;
        rows += (size_t)it->n_rows;
        jobs[i] = (IvJob){.t = t,
                          .in = it->in,
                          .tk = &it->tk,
                          .ir = &it->ir,
                          .cfgs = &it->cfgs,
                          .n_out = it->cfgs.n * interp_n_variants(&t->io),
                          .rec = it->rec,
                          .dump = &it->dump,
                          .rows = it->rows,
                          .n_rows = it->n_rows,
                          .err = errs + (size_t)i * ERR_LEN,
                          .errlen = ERR_LEN};
        irs[i] = &it->ir;
        ctxs[i] = &jobs[i];
    }
    // The references: the intact model, no intervention, the clean prompts.
    ConfigList intact = {0};
    configs_add_intact(&intact, m->cfg.n_layer);
    GroupJob g = {items, offset, xmalloc(sizeof(float) * rows * C)};
    float *ref = xmalloc(sizeof(float) * rows * V);
    SweepPacking pack = {t->opt.mem_budget, t->opt.pack, item_tails(items, n)};
    int rc = sweep_run_seqs(m, &intact, tokens, lens, n, &pack, &t->ws, keep_item_rows, &g, NULL,
                            err, sizeof err);
    free((int *)pack.tail);
    for (size_t r0 = 0, cap = logit_rows(t); rc == 0 && r0 < rows; r0 += cap)
        rc = unembed_kept(t, g.kept + r0 * C, rows - r0 < cap ? (int)(rows - r0) : (int)cap,
                          ref + r0 * V, err, sizeof err);
    configs_free(&intact);
    free(g.kept);
    const ConfigList *cfgs = &items[0]->cfgs;
    for (int k = 0; k < cfgs->n && rc == 0; k++) {
        for (int i = 0; i < n; i++) jobs[i].k = k;
        rc = interp_records_run(&t->io, irs, tokens, n, m, &cfgs->cfg[k], &t->ws, topk_visit, ctxs,
                                err, sizeof err);
    }
    if (rc == 0) rc = write_group_readouts(t, jobs, n, ref, offset, mine, err, sizeof err);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        Item *it = items[i];
        if (rc == 0 && !jobs[i].failed) jb_raw(&it->lines, mine[i].buf, mine[i].len);
        else {
            item_error(it, rc != 0 ? err : jobs[i].err);
            failed++;
        }
        jb_free(&mine[i]);
        free(jobs[i].pend);
        free(jobs[i].kept);
    }
    free(mine), free(errs);
    free(ref), free(ctxs), free(irs), free(jobs), free(offset), free(lens), free(tokens);
    return failed;
}

// What a record with interventions keeps while its group runs: its reference's
// log-probabilities and the rows its runs read out (every variant, every depth with the
// lens).
static size_t iv_bytes(const TopK *t, const Item *it) {
    const Gpt2Config *cfg = &t->model.gpt2.cfg;
    size_t readouts = 0;
    for (int k = 0; k < it->cfgs.n; k++)
        readouts +=
            (size_t)interp_n_variants(&t->io) * (t->io.lens ? (size_t)it->cfgs.cfg[k].n + 1 : 1);
    return sizeof(float) * (size_t)it->n_rows *
           ((size_t)cfg->vocab_size + readouts * (size_t)cfg->n_embd);
}

static int group_at(void *ctx, const int *idx, int n) {
    Batch *b = ctx;
    Item **group = xmalloc(sizeof *group * (size_t)n);
    for (int i = 0; i < n; i++) group[i] = &b->items[idx[i]];
    int failed = b->run(b->t, group, n);
    free(group);
    return failed;
}

// What a record keeps for the dump until its stretch of the batch is done.
static size_t dump_bytes(const TopK *t, const Item *it) {
    size_t bytes = 0;
    for (int k = 0; !it->failed && k < it->cfgs.n; k++)
        bytes += interp_dump_bytes(&t->io, &t->model.gpt2.cfg, &it->cfgs.cfg[k], it->ir.T);
    return bytes;
}

// Run the records items[0..n) (prepared) in groups: the plain records, the patched ones,
// the other records with interventions; then write their arrays to the dump in input order
// (a record whose arrays cannot be written gets that error instead of its lines).  The
// number that failed.
static int topk_stretch(TopK *t, Item *items, int n) {
    GroupMember *plain = xcalloc((size_t)n, sizeof *plain),
                *patched = xcalloc((size_t)n, sizeof *patched),
                *others = xcalloc((size_t)n, sizeof *others);
    size_t per_row = sizeof(float) * (size_t)t->model.gpt2.cfg.n_embd;
    for (int i = 0; i < n; i++) {
        Item *it = &items[i];
        if (it->plain)
            plain[i] = (GroupMember){&it->cfgs, (size_t)it->cfgs.n * (size_t)it->n_rows * per_row};
        if (it->patched) patched[i] = (GroupMember){&it->cfgs, iv_bytes(t, it)};
        if (it->interventions) others[i] = (GroupMember){&it->cfgs, iv_bytes(t, it)};
    }
    // records with the same configurations run together, their rows within a share of
    // --mem-budget (experiment_group_bytes)
    Batch b = {t, items, topk_group};
    size_t group = experiment_group_bytes(&t->opt);
    int failed = experiment_groups(plain, n, group, group_at, &b);
    b.run = topk_iv_group;
    failed += experiment_groups(patched, n, group, group_at, &b);
    failed += experiment_groups(others, n, group, group_at, &b);
    char err[ERR_LEN];
    for (int i = 0; i < n; i++) {
        Item *it = &items[i];
        if (interp_dump_flush(&t->io, &it->dump, err, sizeof err) != 0 && !it->failed) {
            item_error(it, err);
            failed++;
        }
    }
    free(plain);
    free(patched);
    free(others);
    return failed;
}

static int topk_batch(void *ctx, Record *const *recs, int n, JsonBuf *lines) {
    TopK *t = ctx;
    Item *items = xcalloc((size_t)n, sizeof *items);
    size_t *dump = xcalloc((size_t)n, sizeof *dump);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        items[i].in = recs[i];
        failed += item_prepare(t, &items[i]);
        dump[i] = dump_bytes(t, &items[i]);
    }
    // Records that write a dump go a stretch at a time, their arrays kept within half of
    // --mem-budget (one record at least); without a dump the batch is one stretch.
    size_t budget = experiment_budget(&t->opt) / 2;
    for (int i0 = 0, i1; i0 < n; i0 = i1) {
        i1 = t->io.npz ? experiment_stretch_end(dump, n, i0, budget) : n;
        failed += topk_stretch(t, items + i0, i1 - i0);
    }
    for (int i = 0; i < n; i++) {
        Item *it = &items[i];
        jb_raw(lines, it->lines.buf, it->lines.len);
        jb_free(&it->lines);
        free(it->rows);
        interp_dump_buf_free(&it->dump);
        interp_record_free(&it->ir);
        record_tokens_free(&it->tk);
        configs_free(&it->cfgs);
    }
    free(dump);
    free(items);
    return failed;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    enum { POSITIONS = OPT_TOOL_FIRST, CANDIDATES };
    static const struct option longopts[] = {EXPERIMENT_LONGOPTS,
                                             EXPERIMENT_PACK_LONGOPTS,
                                             INTERP_LONGOPTS,
                                             INTERP_LENS_LONGOPTS,
                                             {"positions", required_argument, 0, POSITIONS},
                                             {"candidates", required_argument, 0, CANDIDATES},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    TopK t = {.k = 10, .candidates = 100, .positions = "last"};
    experiment_defaults(&t.opt);
    interp_defaults(&t.io);
    int c;
    while ((c = tool_getopt(argc, argv, "hk:", longopts, usage_text, NULL)) != -1) {
        if (interp_option(&t.io, c, optarg) || experiment_option(&t.opt, c, optarg)) continue;
        switch (c) {
        case 'k': t.k = (int)arg_integer(optarg, 1, 100000, "-k"); break;
        case POSITIONS:
            if (!*optarg) usage_error(NULL, "--positions needs last, all or a list of positions");
            t.positions = optarg;
            break;
        case CANDIDATES: t.candidates = (int)arg_integer(optarg, 1, 100000, "--candidates"); break;
        }
    }
    tool_no_operands(argc, argv, NULL, "records come on stdin");
    char err[2048];
    experiment_open(&t.opt, &t.model, &t.cmdline, &t.ws);
    if (interp_setup(&t.io, &t.model, t.opt.bos, 1, &t.ws, err, sizeof err) != 0)
        eprintf(EXIT_USAGE, "%s", err);
    t.io.pack = t.opt.pack;
    t.io.mem_budget = t.opt.mem_budget;
    int status = tool_run(stdin, stdout, t.opt.pack == 1 ? 1 : BATCH_RECORDS, topk_batch, &t);
    if (interp_finish(&t.io, err, sizeof err) != 0) {
        weprintf("%s", err);
        status = EXIT_USAGE;
    }
    interp_options_free(&t.io);
    experiment_close(&t.model, &t.cmdline, &t.ws);
    return status;
}
