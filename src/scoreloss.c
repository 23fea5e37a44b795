// scoreloss: how the loss on task answers moves when blocks are skipped, repeated or
// permuted.  For each record × configuration: answer_loss, answer_token_losses,
// answer_tokens, answer_exact.  --summary aggregates such records.  See README.md.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/tool.h"
#include "base/util.h"
#include "experiment/experiment.h"
#include "experiment/interp.h"
#include "experiment/summary.h"
#include "experiment/sweep.h"

// clang-format off
static const char usage_text[] =
    "usage: scoreloss [options] < records.ndjson\n"
    "For each record (\"prompt\", \"answer\", optional \"separator\") and layer configuration,\n"
    "adds layers, label, answer_loss, answer_token_losses, answer_tokens, answer_exact\n"
    "(and logit_diff when the record has a \"wrong_answer\").\n" EXPERIMENT_USAGE EXPERIMENT_PACK_USAGE
        INTERP_USAGE_WITH(INTERP_PATCH_SWEEP_USAGE)
    "  --summary          read scored records; emit one record per (task, configuration):\n"
    "                     n, mean_loss, stderr, exact_rate, delta_loss (vs intact)\n";
// clang-format on

static const char *const owned[] = {"layers",        "label",
                                    "answer_loss",   "answer_token_losses",
                                    "answer_tokens", "answer_exact",
                                    "logit_diff",    "ablated",
                                    "dump_key",      NULL};
// Patching also writes these (docs/interp.md).
static const char *const owned_patch[] = {"layers",
                                          "label",
                                          "answer_loss",
                                          "answer_token_losses",
                                          "answer_tokens",
                                          "answer_exact",
                                          "logit_diff",
                                          "ablated",
                                          "dump_key",
                                          "clean_answer_loss",
                                          "corrupt_answer_loss",
                                          "clean_logit_diff",
                                          "corrupt_logit_diff",
                                          "patch_metric",
                                          "patch_effect",
                                          "patch_hook",
                                          "layer",
                                          "position",
                                          "head",
                                          "token",
                                          "corrupt_token",
                                          "patch_cells",
                                          NULL};

typedef struct {
    Model model;
    ConfigList cmdline;
    ExperimentOptions opt;
    InterpOptions io;
    TfWorkspace ws;
    SweepPacking pack;
    float *logits;   // (LOGIT_ROWS, V): logits of a chunk of answer rows
    float *stage;    // (LOGIT_ROWS, C): the chunk's answer rows, gathered from their sets
} Scorer;

// Answer rows unembedded per tf_logits call: the (V, C) output matrix is read once per
// chunk of rows (of every configuration and record of a batch), not once per run.
#define LOGIT_ROWS    128
// Records read before a batch is scored (packed into passes as memory allows).
#define BATCH_RECORDS 256

typedef struct {   // the result of one configuration
    double loss;
    double *token_losses;   // (n_answer)
    int exact;
    double logit_diff;   // logit(answer's first token) - logit(wrong_answer's); NaN without one
} Score;

// The runs of one record to score, scored together with other records' (score_sets).
typedef struct {
    const RecordTokens *t;
    int wrong_id;   // first token of the wrong answer, or -1
    int n_runs;
    const float *rows;   // (n_runs * n_answer, C) their answer rows, run after run
    Score *scores;       // (n_runs) filled by score_sets
} ScoreSet;

// Losses, exact match and logit difference of every run of sets[0..n_sets) from the final
// residual rows that predict their answer tokens.  The rows of all sets are unembedded
// LOGIT_ROWS at a time (gathered in s->stage).
static int score_sets(Scorer *s, ScoreSet *sets, int n_sets, char *err, size_t errlen) {
    const Gpt2 *m = &s->model.gpt2;
    int V = m->cfg.vocab_size, C = m->cfg.n_embd;
    size_t total = 0;
    for (int i = 0; i < n_sets; i++) {
        int A = sets[i].t->n_answer;
        total += (size_t)sets[i].n_runs * (size_t)A;
        for (int k = 0; k < sets[i].n_runs; k++) {
            sets[i].scores[k] = (Score){
                .token_losses = xmalloc(sizeof(double) * (size_t)A), .exact = 1, .logit_diff = NAN};
        }
    }
    int targets[LOGIT_ROWS];
    double logprobs[LOGIT_ROWS];
    Score *sc[LOGIT_ROWS];
    int pos[LOGIT_ROWS], wrong[LOGIT_ROWS], greedy[LOGIT_ROWS];
    int set = 0, run = 0, a = 0;   // the next row's place
    for (size_t r0 = 0; r0 < total; r0 += LOGIT_ROWS) {
        int n = total - r0 < LOGIT_ROWS ? (int)(total - r0) : LOGIT_ROWS;
        for (int i = 0; i < n; i++) {
            while (run == sets[set].n_runs) set++, run = 0, a = 0;
            const RecordTokens *t = sets[set].t;
            memcpy(s->stage + (size_t)i * C,
                   sets[set].rows + ((size_t)run * (size_t)t->n_answer + (size_t)a) * C,
                   sizeof(float) * (size_t)C);
            targets[i] = t->ids[t->n_prompt + a];
            sc[i] = &sets[set].scores[run];
            pos[i] = a;
            wrong[i] = sets[set].wrong_id;
            if (++a == t->n_answer) a = 0, run++;
        }
        if (tf_logits(m, s->stage, n, NULL, n, s->logits, &s->ws, err, errlen) != 0 ||
            tf_target_scores(s->logits, n, V, targets, logprobs, greedy, err, errlen) != 0)
            return -1;
        for (int i = 0; i < n; i++) {
            const float *lg = s->logits + (size_t)i * (size_t)V;
            sc[i]->token_losses[pos[i]] = -logprobs[i];
            // Greedy decoding reproduces the answer iff every answer token is the argmax
            // given the answer tokens before it.
            if (greedy[i] != targets[i]) sc[i]->exact = 0;
            if (pos[i] == 0 && wrong[i] >= 0)
                sc[i]->logit_diff = (double)lg[targets[i]] - (double)lg[wrong[i]];
        }
    }
    for (int i = 0; i < n_sets; i++)
        for (int k = 0; k < sets[i].n_runs; k++) {
            double sum = 0;
            for (int j = 0; j < sets[i].t->n_answer; j++) sum += sets[i].scores[k].token_losses[j];
            sets[i].scores[k].loss = sum / sets[i].t->n_answer;
        }
    return 0;
}

static void write_score(JsonBuf *out, const Record *in, const LayerConfig *c, const Score *sc,
                        const Model *model, const RecordTokens *t, const char *const *own) {
    record_begin(out, in, own);
    experiment_write_config(out, c);
    jb_key(out, "answer_loss");
    jb_double(out, sc->loss);
    jb_key(out, "answer_token_losses");
    jb_raw(out, "[", 1);
    for (int a = 0; a < t->n_answer; a++) {
        jb_sep(out);
        jb_double(out, sc->token_losses[a]);
    }
    jb_raw(out, "]", 1);
    jb_key(out, "answer_tokens");
    jb_raw(out, "[", 1);
    for (int a = 0; a < t->n_answer; a++) {
        size_t len;
        const char *s = model_token_text(model, t->ids[t->n_prompt + a], &len);
        jb_sep(out);
        jb_string(out, s, len);
    }
    jb_raw(out, "]", 1);
    jb_key(out, "answer_exact");
    jb_puts(out, sc->exact ? "true" : "false");
    if (!isnan(sc->logit_diff)) jb_key(out, "logit_diff"), jb_double(out, sc->logit_diff);
}

// ----------------------------------------------------------------------------- interventions

typedef struct {            // a run visited, scored once the record's runs are done
    InterpVisitInfo info;   // acts: NULL (only valid during the visit)
    int k;                  // the configuration's index
    int row;                // its answer rows' index in IvJob.rows; -1: a patched run that
                            // patches nothing (info.noop), scored as the corrupted run
    char dump[64];          // its dump key, or ""
} Pending;

typedef struct {   // what the intervention visitor needs (one record)
    Scorer *s;
    const Record *in;
    const RecordTokens *t;
    const InterpRecord *ir;
    const LayerConfig *c;
    int k;                          // the configuration's index
    int n_out;                      // output runs of the record (dump keys)
    long rec;                       // the record's number in the input (dump keys)
    InterpDumpBuf *dump;            // its arrays, kept until they are written in input order
    const Score *clean, *corrupt;   // patching baselines (when writing)
    Pending *pend;                  // (n_pend) the runs visited, in order
    float *rows;                    // (n_rows, n_answer, C) their answer rows (noop runs: none)
    int n_pend, cap, n_rows;
    char *err;
    size_t errlen;
} IvJob;

static void write_token_field(JsonBuf *out, const Model *m, const char *key, int id) {
    size_t len;
    const char *s = model_token_text(m, id, &len);
    jb_key(out, key), jb_string(out, s ? s : "", s ? len : 0);
}

// Patching's fields: the baselines, the metric and the normalised effect
// (patched - corrupted) / (clean - corrupted) of logit_diff (else answer_loss), and the
// sweep cell.
static void write_patch_fields(JsonBuf *out, IvJob *j, const InterpVisitInfo *info,
                               const Score *sc) {
    int ld = j->ir->wrong_id >= 0;
    jb_key(out, "clean_answer_loss"), jb_double(out, j->clean->loss);
    jb_key(out, "corrupt_answer_loss"), jb_double(out, j->corrupt->loss);
    if (ld) {
        jb_key(out, "clean_logit_diff"), jb_double(out, j->clean->logit_diff);
        jb_key(out, "corrupt_logit_diff"), jb_double(out, j->corrupt->logit_diff);
    }
    double clean = ld ? j->clean->logit_diff : j->clean->loss,
           corrupt = ld ? j->corrupt->logit_diff : j->corrupt->loss;
    double got = ld ? sc->logit_diff : sc->loss, den = clean - corrupt;
    jb_key(out, "patch_metric"), jb_cstr(out, ld ? "logit_diff" : "answer_loss");
    jb_key(out, "patch_effect"),
        jb_double(out, den != 0 ? (got - corrupt) / den + 0.0 : NAN);   // + 0.0: no -0
    if (info->cell < 0) return;
    const InterpSite *site = &info->site;
    const Gpt2Config *cfg = &j->s->model.gpt2.cfg;
    jb_key(out, "patch_hook"), jb_cstr(out, interp_hook_name(site->point));
    jb_key(out, "layer"), jb_int(out, site->layer);
    if (site->head >= 0) jb_key(out, "head"), jb_int(out, site->head);
    if (site->position >= 0) {
        jb_key(out, "position"), jb_int(out, site->position);
        write_token_field(out, &j->s->model, "token", j->t->ids[site->position]);
        write_token_field(out, &j->s->model, "corrupt_token", j->ir->corrupt[site->position]);
    }
    jb_key(out, "patch_cells"), jb_int(out, interp_patch_cells(&j->s->io, j->ir, cfg, j->c));
}

// Keep the run's answer rows (and a copy of its activations for the dump, while they are
// valid); every run of the record is scored together afterwards.
static int score_visit(void *ctx, const InterpVisitInfo *info, const float *resid, int T,
                       TfWorkspace *ws) {
    (void)T, (void)ws;
    IvJob *j = ctx;
    size_t AC = (size_t)j->t->n_answer * (size_t)j->s->model.gpt2.cfg.n_embd;
    if (j->n_pend == j->cap) {
        j->cap = j->cap ? 2 * j->cap : 16;
        j->pend = xrealloc(j->pend, sizeof *j->pend * (size_t)j->cap);
        j->rows = xrealloc(j->rows, sizeof(float) * AC * (size_t)j->cap);
    }
    Pending *p = &j->pend[j->n_pend++];
    *p = (Pending){.info = *info, .k = j->k, .row = info->noop ? -1 : j->n_rows};
    p->info.acts = NULL;
    if (info->role == INTERP_RUN && j->s->io.npz) {
        int run = j->k * interp_n_variants(&j->s->io) + info->variant;
        if (j->n_out > 1) snprintf(p->dump, sizeof p->dump, "rec%ld.run%d", j->rec, run);
        else snprintf(p->dump, sizeof p->dump, "rec%ld", j->rec);
        interp_dump_keep(&j->s->io, j->dump, p->dump, &j->s->model.gpt2.cfg, j->c, info->acts);
    }
    if (p->row < 0) return 0;   // its scores are the corrupted run's (pending_scores)
    memcpy(j->rows + AC * (size_t)j->n_rows++,
           resid + (size_t)(j->t->n_prompt - 1) * (size_t)j->s->model.gpt2.cfg.n_embd,
           sizeof(float) * AC);
    return 0;
}

// The scores of j's visited runs (scores, n_pend) from those of its rows (of_rows, n_rows,
// moved): a noop run gets a copy of the corrupted run's before it (the same bits).
static void pending_scores(const IvJob *j, Score *of_rows, Score *scores) {
    int corrupt = -1, A = j->t->n_answer;
    for (int i = 0; i < j->n_pend; i++) {
        const Pending *p = &j->pend[i];
        if (p->row >= 0) scores[i] = of_rows[p->row];
        else if (corrupt >= 0) {
            scores[i] = scores[corrupt];
            scores[i].token_losses = xmalloc(sizeof(double) * (size_t)A);
            memcpy(scores[i].token_losses, scores[corrupt].token_losses,
                   sizeof(double) * (size_t)A);
        }
        if (p->info.role == INTERP_CORRUPT) corrupt = i;
    }
}

// The output records of the visited runs, in visit order (the patching baselines set the
// fields of the runs after them).
static void write_pending(IvJob *j, const ConfigList *configs, const Score *scores,
                          JsonBuf *lines) {
    const Gpt2Config *cfg = &j->s->model.gpt2.cfg;
    JsonBuf out = {0};
    for (int i = 0; i < j->n_pend; i++) {
        const Pending *p = &j->pend[i];
        if (p->info.role != INTERP_RUN) {
            *(p->info.role == INTERP_CLEAN ? &j->clean : &j->corrupt) = &scores[i];
            continue;
        }
        j->c = &configs->cfg[p->k];
        LayerConfig c = *j->c;
        interp_variant_label(&j->s->io, j->c, p->info.variant, cfg->n_layer, c.label);
        write_score(&out, j->in, &c, &scores[i], &j->s->model, j->t,
                    j->ir->patching ? owned_patch : owned);
        interp_write_fields(&out, &j->s->io, j->ir, p->info.variant, p->dump[0] ? p->dump : NULL);
        if (j->ir->patching) write_patch_fields(&out, j, &p->info, &scores[i]);
        record_end(&out, lines);
    }
    jb_free(&out);
}

// Frees what job j kept and the scores of its runs.
static void iv_job_free(IvJob *j, Score *scores) {
    for (int i = 0; scores && i < j->n_pend; i++) free(scores[i].token_losses);
    free(scores);
    free(j->pend);
    free(j->rows);
    j->pend = NULL, j->rows = NULL, j->n_pend = j->cap = j->n_rows = 0;
}

// ----------------------------------------------------------------------------- records

typedef struct {   // one record of a batch
    const Record *in;
    long rec;   // its number in the input (0, 1, ..: dump keys)
    RecordTokens t;
    ConfigList configs;
    InterpRecord ir;
    int plain;            // to be scored by the packed sweep
    int patched;          // patching: to be run with the batch's other patched records
    int interventions;    // other interventions: to be run with the batch's others
    int failed;           // its lines are an error
    Score *scores;        // (configs.n) plain: its results
    InterpDumpBuf dump;   // its arrays for the dump, written in input order (score_batch)
    JsonBuf lines;        // its output lines
} Item;

static IvJob iv_job(Scorer *s, Item *it, char *err, size_t errlen) {
    return (IvJob){.s = s,
                   .in = it->in,
                   .t = &it->t,
                   .ir = &it->ir,
                   .n_out = it->configs.n * interp_n_variants(&s->io),
                   .rec = it->rec,
                   .dump = &it->dump,
                   .err = err,
                   .errlen = errlen};
}

// Its error line instead of whatever the record had written.
static void item_error(Item *it, const char *err) {
    jb_reset(&it->lines);
    record_error(&it->lines, it->in, err);
    it->failed = 1;
}

// Positions a run of t computes: the prompt and every answer token but the last.  The
// last answer token's row would predict the token after the answer, which no score reads,
// and with causal attention the rows before it get the same bits without it.
static int run_rows(const RecordTokens *t) { return t->n_prompt + t->n_answer - 1; }

// Read a record's configurations, tokens and interventions (an error written at once) and
// say how it is to be run.  0, or 1 when it failed.
static int item_prepare(Scorer *s, Item *it) {
    char err[512];
    const Gpt2Config *cfg = &s->model.gpt2.cfg;
    it->rec = s->io.n_records++;
    if (experiment_configs(&s->cmdline, it->in, cfg->n_layer, &it->configs, err, sizeof err) != 0 ||
        experiment_tokens(&s->model, it->in, s->opt.bos, 1, &it->t, err, sizeof err) != 0 ||
        interp_record_read(&it->ir, &s->io, &s->model, it->in, s->opt.bos, &it->t, err,
                           sizeof err) != 0) {
        item_error(it, err);
        return 1;
    }
    // Runs whose activations are captured (--dump: every position) keep the last answer
    // token; the others stop before it (run_rows).
    if (!s->io.capture) it->ir.T = run_rows(&it->t);
    // the visitors read the rows that predict the answer tokens (score_visit)
    it->ir.tail = it->t.n_prompt - 1;
    // Patched records are run together (their clean and corrupted runs packed).
    if (it->ir.patching) it->patched = 1;
    else if (interp_active(&s->io) || it->ir.n_abl) it->interventions = 1;
    else it->plain = 1;
    return 0;
}

typedef struct {            // the packed sweep's visitor: keeps every answer row
    Item **items;           // (n) the group
    const size_t *offset;   // (n) the first answer row of each item in rows
    float *rows;
    int C;
} GroupJob;

static int keep_group_rows(void *ctx, int k, int seq, const float *resid, int T, TfWorkspace *ws) {
    (void)T, (void)ws;
    GroupJob *g = ctx;
    const RecordTokens *t = &g->items[seq]->t;
    size_t A = (size_t)t->n_answer, C = (size_t)g->C;
    memcpy(g->rows + (g->offset[seq] + (size_t)k * A) * C, resid + (size_t)(t->n_prompt - 1) * C,
           sizeof(float) * A * C);
    return 0;
}

// Score the plain records items[0..n), which run the same configurations, packed into big
// forward passes; each record's lines go to its own buffer.  The number that failed.
static int score_group(Scorer *s, Item **items, int n) {
    const Gpt2 *m = &s->model.gpt2;
    const int **tokens = xmalloc(sizeof *tokens * (size_t)n);
    int *lens = xmalloc(sizeof(int) * (size_t)n);
    size_t *offset = xmalloc(sizeof(size_t) * (size_t)n), rows = 0;
    ScoreSet *sets = xmalloc(sizeof *sets * (size_t)n);
    for (int i = 0; i < n; i++) {
        Item *it = items[i];
        tokens[i] = it->t.ids;
        lens[i] = run_rows(&it->t);
        offset[i] = rows;
        rows += (size_t)it->configs.n * (size_t)it->t.n_answer;
        it->scores = xcalloc((size_t)it->configs.n, sizeof(Score));
        sets[i] = (ScoreSet){&it->t, it->ir.wrong_id, it->configs.n, NULL, it->scores};
    }
    GroupJob g = {items, offset, xmalloc(sizeof(float) * (rows ? rows : 1) * (size_t)m->cfg.n_embd),
                  m->cfg.n_embd};
    for (int i = 0; i < n; i++) sets[i].rows = g.rows + offset[i] * (size_t)m->cfg.n_embd;
    // keep_group_rows reads the rows from the last prompt token's on
    int *tail = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) tail[i] = items[i]->t.n_prompt - 1;
    SweepPacking pack = s->pack;
    pack.tail = tail;
    char err[512];
    int rc = sweep_run_seqs(m, &items[0]->configs, tokens, lens, n, &pack, &s->ws, keep_group_rows,
                            &g, NULL, err, sizeof err);
    free(tail);
    if (rc == 0) rc = score_sets(s, sets, n, err, sizeof err);
    for (int i = 0; i < n; i++) {
        Item *it = items[i];
        if (rc != 0) {
            item_error(it, err);
            continue;
        }
        JsonBuf out = {0};
        for (int k = 0; k < it->configs.n; k++) {
            write_score(&out, it->in, &it->configs.cfg[k], &it->scores[k], &s->model, &it->t,
                        owned);
            record_end(&out, &it->lines);
        }
        jb_free(&out);
    }
    free(g.rows);
    free(sets);
    free(offset);
    free(lens);
    free(tokens);
    return rc != 0 ? n : 0;
}

// The records of a batch and what to run on a group of them (score_group or
// score_iv_group): experiment_groups' callback, group_at, hands each group to it.
typedef struct {
    Scorer *s;
    Item *items;
    int (*run)(Scorer *s, Item **group, int n);
} Batch;

// Run and score the records with interventions items[0..n), which run the same
// configurations and are all patched or all not: per configuration, all of them through
// interp_records_run (packed across records: the patched records' clean, corrupted and
// patched runs, the others' runs with their ablations; an ablation sweep's variants
// packed within each record).  Each
// record's lines go to its own buffer (all of them, or its error).  The number that failed.
static int score_iv_group(Scorer *s, Item **items, int n) {
    char err[512];
    IvJob *jobs = xcalloc((size_t)n, sizeof *jobs);
    const InterpRecord **irs = xmalloc(sizeof *irs * (size_t)n);
    const int **tokens = xmalloc(sizeof *tokens * (size_t)n);
    void **ctxs = xmalloc(sizeof *ctxs * (size_t)n);
    for (int i = 0; i < n; i++) {
        Item *it = items[i];
        jobs[i] = iv_job(s, it, err, sizeof err);
        irs[i] = &it->ir;
        tokens[i] = it->t.ids;
        ctxs[i] = &jobs[i];
    }
    const ConfigList *configs = &items[0]->configs;
    int rc = 0, failed = 0;
    for (int k = 0; k < configs->n && rc == 0; k++) {
        for (int i = 0; i < n; i++) jobs[i].c = &items[i]->configs.cfg[k], jobs[i].k = k;
        rc = interp_records_run(&s->io, irs, tokens, n, &s->model.gpt2, &configs->cfg[k], &s->ws,
                                score_visit, ctxs, err, sizeof err);
    }
    // Every record's runs scored together: the unembedding gets LOGIT_ROWS rows a call
    // across records, not a record's remainder.
    Score **scores = xcalloc((size_t)n, sizeof *scores),
          **of_rows = xcalloc((size_t)n, sizeof *of_rows);
    ScoreSet *sets = xcalloc((size_t)n, sizeof *sets);
    for (int i = 0; rc == 0 && i < n; i++) {
        scores[i] = xcalloc((size_t)(jobs[i].n_pend ? jobs[i].n_pend : 1), sizeof(Score));
        of_rows[i] = xcalloc((size_t)(jobs[i].n_rows ? jobs[i].n_rows : 1), sizeof(Score));
        sets[i] = (ScoreSet){&items[i]->t, items[i]->ir.wrong_id, jobs[i].n_rows, jobs[i].rows,
                             of_rows[i]};
    }
    if (rc == 0) rc = score_sets(s, sets, n, err, sizeof err);
    for (int i = 0; rc == 0 && i < n; i++) pending_scores(&jobs[i], of_rows[i], scores[i]);
    for (int i = 0; i < n; i++) {
        if (rc != 0)   // not moved into scores
            for (int k = 0; of_rows[i] && k < jobs[i].n_rows; k++) free(of_rows[i][k].token_losses);
        free(of_rows[i]);
    }
    free(of_rows);
    for (int i = 0; i < n; i++) {
        Item *it = items[i];
        if (rc == 0) write_pending(&jobs[i], &it->configs, scores[i], &it->lines);
        else item_error(it, err), failed++;
        iv_job_free(&jobs[i], scores[i]);
    }
    free(scores);
    free(sets);
    free(ctxs);
    free(tokens);
    free(irs);
    free(jobs);
    return failed;
}

// The answer rows a record with interventions keeps until it is scored: its runs per
// configuration (patched: clean, corrupted, and the patched run or the sweep's cells).
static size_t iv_bytes(const Scorer *s, const Item *it) {
    const Gpt2Config *cfg = &s->model.gpt2.cfg;
    size_t runs = 0;
    for (int k = 0; k < it->configs.n; k++)
        runs += !it->ir.patching ? (size_t)interp_n_variants(&s->io)
                : s->io.patch_sweep
                    ? 2 + (size_t)interp_patch_cells(&s->io, &it->ir, cfg, &it->configs.cfg[k])
                    : 3;
    return runs * (size_t)it->t.n_answer * (size_t)cfg->n_embd * sizeof(float);
}

static int group_at(void *ctx, const int *idx, int n) {
    Batch *b = ctx;
    Item **group = xmalloc(sizeof *group * (size_t)n);
    for (int i = 0; i < n; i++) group[i] = &b->items[idx[i]];
    int failed = b->run(b->s, group, n);
    free(group);
    return failed;
}

// What a record keeps for the dump until its stretch of the batch is done.
static size_t dump_bytes(const Scorer *s, const Item *it) {
    size_t bytes = 0;
    for (int k = 0; !it->failed && k < it->configs.n; k++)
        bytes += interp_dump_bytes(&s->io, &s->model.gpt2.cfg, &it->configs.cfg[k], it->ir.T);
    return bytes;
}

// Run the records items[0..n) (prepared): the plain, the patched and the other records
// with interventions in groups; then write their arrays to the dump in input order (a record whose arrays cannot
// be written gets that error instead of its lines).  The number that failed.
static int score_stretch(Scorer *s, Item *items, int n) {
    GroupMember *members = xcalloc((size_t)n, sizeof *members),
                *patched = xcalloc((size_t)n, sizeof *patched),
                *others = xcalloc((size_t)n, sizeof *others);
    size_t per_row = sizeof(float) * (size_t)s->model.gpt2.cfg.n_embd;
    int failed = 0;
    char err[512];
    for (int i = 0; i < n; i++) {
        Item *it = &items[i];
        if (it->interventions) others[i] = (GroupMember){&it->configs, iv_bytes(s, it)};
        if (it->plain)
            members[i] = (GroupMember){&it->configs,
                                       (size_t)it->configs.n * (size_t)it->t.n_answer * per_row};
        if (it->patched) patched[i] = (GroupMember){&it->configs, iv_bytes(s, it)};
    }
    // Records with the same configurations (all of them with --sweep/--layers) are scored
    // together, their rows within a share of --mem-budget (experiment_group_bytes).
    Batch b = {s, items, score_group};
    size_t group = experiment_group_bytes(&s->opt);
    failed += experiment_groups(members, n, group, group_at, &b);
    b.run = score_iv_group;
    failed += experiment_groups(patched, n, group, group_at, &b);
    failed += experiment_groups(others, n, group, group_at, &b);
    for (int i = 0; i < n; i++) {
        Item *it = &items[i];
        if (interp_dump_flush(&s->io, &it->dump, err, sizeof err) != 0 && !it->failed) {
            item_error(it, err);
            failed++;
        }
    }
    free(members);
    free(patched);
    free(others);
    return failed;
}

static int score_batch(void *ctx, Record *const *recs, int n, JsonBuf *lines) {
    Scorer *s = ctx;
    Item *items = xcalloc((size_t)n, sizeof *items);
    size_t *dump = xcalloc((size_t)n, sizeof *dump);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        items[i].in = recs[i];
        failed += item_prepare(s, &items[i]);
        dump[i] = dump_bytes(s, &items[i]);
    }
    // Records that write a dump go a stretch at a time, their arrays kept within half of
    // --mem-budget (one record at least); without a dump the batch is one stretch.
    size_t budget = experiment_budget(&s->opt) / 2;
    for (int i0 = 0, i1; i0 < n; i0 = i1) {
        i1 = s->io.npz ? experiment_stretch_end(dump, n, i0, budget) : n;
        failed += score_stretch(s, items + i0, i1 - i0);
    }
    for (int i = 0; i < n; i++) {
        Item *it = &items[i];
        jb_raw(lines, it->lines.buf, it->lines.len);
        jb_free(&it->lines);
        for (int k = 0; it->scores && k < it->configs.n; k++) free(it->scores[k].token_losses);
        free(it->scores);
        interp_dump_buf_free(&it->dump);
        interp_record_free(&it->ir);
        configs_free(&it->configs);
        record_tokens_free(&it->t);
    }
    free(dump);
    free(items);
    return failed;
}

static int run_scoring(const ExperimentOptions *opt, const InterpOptions *io) {
    Scorer s = {.opt = *opt, .io = *io};
    char err[2048];
    experiment_open(opt, &s.model, &s.cmdline, &s.ws);
    s.pack = (SweepPacking){opt->mem_budget, opt->pack, NULL};
    s.io.pack = opt->pack;
    s.io.mem_budget = opt->mem_budget;
    if (interp_setup(&s.io, &s.model, opt->bos, 0, &s.ws, err, sizeof err) != 0)
        eprintf(EXIT_USAGE, "%s", err);
    s.logits = xmalloc(sizeof(float) * LOGIT_ROWS * (size_t)s.model.gpt2.cfg.vocab_size);
    s.stage = xmalloc(sizeof(float) * LOGIT_ROWS * (size_t)s.model.gpt2.cfg.n_embd);
    int status = tool_run(stdin, stdout, opt->pack == 1 ? 1 : BATCH_RECORDS, score_batch, &s);
    if (interp_finish(&s.io, err, sizeof err) != 0) {
        weprintf("%s", err);
        status = EXIT_USAGE;
    }
    interp_options_free(&s.io);
    free(s.logits);
    free(s.stage);
    experiment_close(&s.model, &s.cmdline, &s.ws);
    return status;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    enum { SUMMARY = OPT_TOOL_FIRST };
    static const struct option longopts[] = {EXPERIMENT_LONGOPTS,
                                             EXPERIMENT_PACK_LONGOPTS,
                                             INTERP_LONGOPTS,
                                             INTERP_PATCH_SWEEP_LONGOPTS,
                                             {"summary", no_argument, 0, SUMMARY},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    ExperimentOptions opt;
    InterpOptions io;
    experiment_defaults(&opt);
    interp_defaults(&io);
    int summary = 0, c;
    while ((c = tool_getopt(argc, argv, "h", longopts, usage_text, NULL)) != -1) {
        if (interp_option(&io, c, optarg) || experiment_option(&opt, c, optarg)) continue;
        if (c == SUMMARY) summary = 1;
    }
    tool_no_operands(argc, argv, NULL, "records come on stdin");
    return summary ? summary_run(stdin, stdout) : run_scoring(&opt, &io);
}
