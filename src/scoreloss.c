// scoreloss: how the loss on task answers moves when blocks are skipped, repeated or
// permuted.  For each record × configuration: answer_loss, answer_token_losses,
// answer_tokens, answer_exact.  --summary aggregates such records.  See README.md.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "experiment/experiment.h"
#include "experiment/interp.h"
#include "model/sample.h"
#include "experiment/summary.h"
#include "experiment/sweep.h"
#include "base/tool.h"
#include "base/util.h"

static const char usage_text[] =
    "usage: scoreloss [options] < records.ndjson\n"
    "For each record (\"prompt\", \"answer\", optional \"separator\") and layer configuration,\n"
    "adds layers, label, answer_loss, answer_token_losses, answer_tokens, answer_exact\n"
    "(and logit_diff when the record has a \"wrong_answer\").\n" EXPERIMENT_USAGE INTERP_USAGE_WITH(INTERP_PATCH_SWEEP_USAGE)
    "  --summary          read scored records; emit one record per (task, configuration):\n"
    "                     n, mean_loss, stderr, exact_rate, delta_loss (vs intact)\n";

static const char *const owned[] = {"layers", "label", "answer_loss", "answer_token_losses", "answer_tokens",
                                    "answer_exact", "logit_diff", "ablated", "dump_key", NULL};
// Patching also writes these (docs/interp.md).
static const char *const owned_patch[] = {"layers", "label", "answer_loss", "answer_token_losses", "answer_tokens",
                                          "answer_exact", "logit_diff", "ablated", "dump_key", "clean_answer_loss",
                                          "corrupt_answer_loss", "clean_logit_diff", "corrupt_logit_diff", "patch_metric",
                                          "patch_effect", "patch_hook", "layer", "position", "head", "token",
                                          "corrupt_token", "patch_cells", NULL};

typedef struct {
    Model model;
    ConfigList cmdline;
    ExperimentOptions opt;
    InterpOptions io;
    TfWorkspace ws;
    float *logits;          // (LOGIT_ROWS, V): logits of a chunk of answer rows
} Scorer;

// Answer rows unembedded per tf_logits call: the (V, C) output matrix is read once per
// chunk, not once per configuration, which is what keeps short records' sweeps cheap.
#define LOGIT_ROWS 64

typedef struct {            // the result of one configuration
    double loss;
    double *token_losses;   // (n_answer)
    int exact;
    double logit_diff;      // logit(answer's first token) - logit(wrong_answer's); NaN without one
} Score;

typedef struct {            // what the sweep visitor needs
    const RecordTokens *t;
    int wrong_id;           // first token of the wrong answer, or -1
    int C;
    float *answer_resid;    // (configs, n_answer, C): final residual of the answer rows
} ScoreJob;

// Keep the residual rows that predict the answer tokens; they are unembedded together
// once the sweep is done.
static int keep_answer_rows(void *ctx, int k, const float *resid, int T, TfWorkspace *ws) {
    (void)T, (void)ws;
    ScoreJob *j = ctx;
    size_t A = (size_t)j->t->n_answer, C = (size_t)j->C;
    memcpy(j->answer_resid + (size_t)k * A * C, resid + (size_t)(j->t->n_prompt - 1) * C, sizeof(float) * A * C);
    return 0;
}

// Losses and exact match of every configuration from the kept rows.
static int score_rows(Scorer *s, const ScoreJob *j, int n_configs, Score *scores, char *err, size_t errlen) {
    const Gpt2 *m = &s->model.gpt2;
    int A = j->t->n_answer, V = m->cfg.vocab_size, total = n_configs * A;
    const int *answer = j->t->ids + j->t->n_prompt;
    int targets[LOGIT_ROWS];
    double logprobs[LOGIT_ROWS];
    for (int k = 0; k < n_configs; k++) {
        scores[k].token_losses = xmalloc(sizeof(double) * (size_t)A);
        scores[k].exact = 1;
        scores[k].logit_diff = NAN;
    }
    for (int r0 = 0; r0 < total; r0 += LOGIT_ROWS) {
        int n = total - r0 < LOGIT_ROWS ? total - r0 : LOGIT_ROWS;
        for (int i = 0; i < n; i++) targets[i] = answer[(r0 + i) % A];
        if (tf_logits(m, j->answer_resid + (size_t)r0 * (size_t)j->C, n, NULL, n, s->logits, &s->ws, err, errlen) != 0 ||
            tf_target_logprobs(s->logits, n, V, targets, logprobs, err, errlen) != 0)
            return -1;
        for (int i = 0; i < n; i++) {
            Score *sc = &scores[(r0 + i) / A];
            sc->token_losses[(r0 + i) % A] = -logprobs[i];
            // Greedy decoding reproduces the answer iff every answer token is the argmax
            // given the answer tokens before it.
            if (sample_greedy(s->logits + (size_t)i * (size_t)V, V) != targets[i]) sc->exact = 0;
            if ((r0 + i) % A == 0 && j->wrong_id >= 0)
                sc->logit_diff = (double)s->logits[(size_t)i * V + targets[i]] - (double)s->logits[(size_t)i * V + j->wrong_id];
        }
    }
    for (int k = 0; k < n_configs; k++) {
        double sum = 0;
        for (int a = 0; a < A; a++) sum += scores[k].token_losses[a];
        scores[k].loss = sum / A;
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

typedef struct {            // what the intervention visitor needs (one configuration)
    Scorer *s;
    const Record *in;
    const RecordTokens *t;
    const InterpRecord *ir;
    const LayerConfig *c;
    int k;                  // the configuration's index
    int n_out;              // output runs of the record (dump keys)
    Score clean, corrupt;   // patching baselines
    JsonBuf *lines;
    char *err;
    size_t errlen;
} IvJob;

// Score one run from its final residual (T, C): the answer rows as score_rows does.
static int score_resid(IvJob *j, const float *resid, Score *sc) {
    ScoreJob one = {j->t, j->ir->wrong_id, j->s->model.gpt2.cfg.n_embd, (float *)resid + (size_t)(j->t->n_prompt - 1) * j->s->model.gpt2.cfg.n_embd};
    return score_rows(j->s, &one, 1, sc, j->err, j->errlen);
}

static void write_token_field(JsonBuf *out, const Model *m, const char *key, int id) {
    size_t len;
    const char *s = model_token_text(m, id, &len);
    jb_key(out, key), jb_string(out, s ? s : "", s ? len : 0);
}

// Patching's fields: the baselines, the metric and the normalised effect
// (patched - corrupted) / (clean - corrupted) of logit_diff (else answer_loss), and the
// sweep cell.
static void write_patch_fields(JsonBuf *out, IvJob *j, const InterpVisitInfo *info, const Score *sc) {
    int ld = j->ir->wrong_id >= 0;
    jb_key(out, "clean_answer_loss"), jb_double(out, j->clean.loss);
    jb_key(out, "corrupt_answer_loss"), jb_double(out, j->corrupt.loss);
    if (ld) {
        jb_key(out, "clean_logit_diff"), jb_double(out, j->clean.logit_diff);
        jb_key(out, "corrupt_logit_diff"), jb_double(out, j->corrupt.logit_diff);
    }
    double clean = ld ? j->clean.logit_diff : j->clean.loss, corrupt = ld ? j->corrupt.logit_diff : j->corrupt.loss;
    double got = ld ? sc->logit_diff : sc->loss, den = clean - corrupt;
    jb_key(out, "patch_metric"), jb_cstr(out, ld ? "logit_diff" : "answer_loss");
    jb_key(out, "patch_effect"), jb_double(out, den != 0 ? (got - corrupt) / den + 0.0 : NAN);   // + 0.0: no -0
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

static int score_visit(void *ctx, const InterpVisitInfo *info, const float *resid, int T, TfWorkspace *ws) {
    (void)T, (void)ws;
    IvJob *j = ctx;
    Score sc = {0};
    if (score_resid(j, resid, &sc) != 0) {
        free(sc.token_losses);
        return -1;
    }
    if (info->role != INTERP_RUN) {
        Score *keep = info->role == INTERP_CLEAN ? &j->clean : &j->corrupt;
        free(keep->token_losses);
        *keep = sc;
        return 0;
    }
    const Gpt2Config *cfg = &j->s->model.gpt2.cfg;
    LayerConfig c = *j->c;
    interp_variant_label(&j->s->io, j->c, info->variant, cfg->n_layer, c.label);
    char key[64], *dump = NULL;
    int rc = 0;
    if (j->s->io.npz) {
        int run = j->k * interp_n_variants(&j->s->io) + info->variant;
        if (j->n_out > 1) snprintf(key, sizeof key, "rec%ld.run%d", j->s->io.n_records - 1, run);
        else snprintf(key, sizeof key, "rec%ld", j->s->io.n_records - 1);
        dump = key;
        rc = interp_dump(&j->s->io, key, cfg, j->c, info->acts, j->err, j->errlen);
    }
    JsonBuf out = {0};
    write_score(&out, j->in, &c, &sc, &j->s->model, j->t, j->ir->patching ? owned_patch : owned);
    interp_write_fields(&out, &j->s->io, j->ir, info->variant, dump);
    if (j->ir->patching) write_patch_fields(&out, j, info, &sc);
    if (rc == 0) record_end(&out, j->lines);
    jb_free(&out);
    free(sc.token_losses);
    return rc;
}

// The records of one input record run with interventions, appended to lines at the end
// (all of them, or none when a run fails).
static int score_interventions(Scorer *s, const Record *in, const RecordTokens *t, const InterpRecord *ir,
                               const ConfigList *configs, JsonBuf *lines, char *err, size_t errlen) {
    JsonBuf mine = {0};
    IvJob j = {.s = s, .in = in, .t = t, .ir = ir, .n_out = configs->n * interp_n_variants(&s->io), .lines = &mine,
               .err = err, .errlen = errlen};
    int rc = 0;
    for (int k = 0; k < configs->n && rc == 0; k++) {
        j.c = &configs->cfg[k];
        j.k = k;
        rc = interp_record_run(&s->io, ir, &s->model.gpt2, j.c, t->ids, &s->ws, score_visit, &j, err, errlen);
    }
    if (rc == 0) jb_raw(lines, mine.buf, mine.len);
    free(j.clean.token_losses);
    free(j.corrupt.token_losses);
    jb_free(&mine);
    return rc;
}

static int score_record(Scorer *s, const Record *in, JsonBuf *lines) {
    char err[512];
    RecordTokens t;
    ConfigList configs;
    InterpRecord ir;
    const Gpt2Config *cfg = &s->model.gpt2.cfg;
    s->io.n_records++;
    if (experiment_configs(&s->cmdline, in, cfg->n_layer, &configs, err, sizeof err) != 0) {
        record_error(lines, in, err);
        return 1;
    }
    if (experiment_tokens(&s->model, in, s->opt.bos, 1, &t, err, sizeof err) != 0) {
        configs_free(&configs);
        record_error(lines, in, err);
        return 1;
    }
    if (interp_record_read(&ir, &s->io, &s->model, in, s->opt.bos, &t, err, sizeof err) != 0) {
        configs_free(&configs);
        record_tokens_free(&t);
        record_error(lines, in, err);
        return 1;
    }
    if (interp_active(&s->io) || ir.n_abl || ir.patching) {
        int rc = score_interventions(s, in, &t, &ir, &configs, lines, err, sizeof err);
        if (rc) record_error(lines, in, err);
        interp_record_free(&ir);
        configs_free(&configs);
        record_tokens_free(&t);
        return rc != 0;
    }
    Score *scores = xcalloc((size_t)configs.n, sizeof(Score));
    ScoreJob job = {&t, ir.wrong_id, cfg->n_embd, xmalloc(sizeof(float) * (size_t)configs.n * (size_t)t.n_answer * (size_t)cfg->n_embd)};
    int rc = sweep_run(&s->model.gpt2, &configs, t.ids, t.n_prompt + t.n_answer, &s->ws, keep_answer_rows, &job, NULL,
                       err, sizeof err);
    if (rc == 0) rc = score_rows(s, &job, configs.n, scores, err, sizeof err);
    free(job.answer_resid);
    JsonBuf out = {0};
    if (rc == 0)
        for (int k = 0; k < configs.n; k++) {
            write_score(&out, in, &configs.cfg[k], &scores[k], &s->model, &t, owned);
            record_end(&out, lines);
        }
    else
        record_error(lines, in, err);
    for (int k = 0; k < configs.n; k++) free(scores[k].token_losses);
    free(scores);
    jb_free(&out);
    interp_record_free(&ir);
    configs_free(&configs);
    record_tokens_free(&t);
    return rc != 0;
}

static int score_batch(void *ctx, Record *const *recs, int n, JsonBuf *lines) {
    int failed = 0;
    for (int i = 0; i < n; i++) failed += score_record(ctx, recs[i], lines);
    return failed;
}

static int run_scoring(const ExperimentOptions *opt, const InterpOptions *io) {
    Scorer s = {.opt = *opt, .io = *io};
    char err[2048];
    if (model_open(&s.model, opt->model, NULL, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
    const Gpt2Config *cfg = &s.model.gpt2.cfg;
    if (experiment_plan(opt, cfg->n_layer, &s.cmdline, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
    if (tf_workspace_init(&s.ws, &s.model.gpt2, cfg->n_ctx, threadpool_global(), err, sizeof err) != 0)
        eprintf(EXIT_USAGE, "%s", err);
    if (interp_setup(&s.io, &s.model, opt->bos, 0, &s.ws, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
    s.logits = xmalloc(sizeof(float) * LOGIT_ROWS * (size_t)cfg->vocab_size);
    int status = tool_run(stdin, stdout, 1, score_batch, &s);
    if (interp_finish(&s.io, err, sizeof err) != 0) {
        weprintf("%s", err);
        status = EXIT_USAGE;
    }
    interp_options_free(&s.io);
    free(s.logits);
    tf_workspace_free(&s.ws);
    configs_free(&s.cmdline);
    model_close(&s.model);
    return status;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    enum { SUMMARY = OPT_TOOL_FIRST };
    static const struct option longopts[] = {EXPERIMENT_LONGOPTS, INTERP_LONGOPTS, INTERP_PATCH_SWEEP_LONGOPTS,
                                             {"summary", no_argument, 0, SUMMARY},
                                             {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    ExperimentOptions opt;
    InterpOptions io;
    experiment_defaults(&opt);
    interp_defaults(&io);
    int summary = 0, c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (interp_option(&io, c, optarg) || experiment_option(&opt, c, optarg)) continue;
        if (c == SUMMARY) summary = 1;
        else if (c == 'h') { fputs(usage_text, stdout); return 0; }
        else { fputs(usage_text, stderr); return EXIT_USAGE; }
    }
    if (optind < argc) eprintf(EXIT_USAGE, "unexpected argument \"%s\" (records come on stdin)", argv[optind]);
    return summary ? summary_run(stdin, stdout) : run_scoring(&opt, &io);
}
