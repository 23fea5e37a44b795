// scoreloss: how the loss on task answers moves when blocks are skipped, repeated or
// permuted.  For each record × configuration: answer_loss, answer_token_losses,
// answer_tokens, answer_exact.  --summary aggregates such records.  See README.md.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "experiment.h"
#include "sample.h"
#include "summary.h"
#include "sweep.h"
#include "tool.h"
#include "util.h"

static const char usage_text[] =
    "usage: scoreloss [options] < records.ndjson\n"
    "For each record (\"prompt\", \"answer\", optional \"separator\") and layer configuration,\n"
    "adds layers, label, answer_loss, answer_token_losses, answer_tokens, answer_exact.\n" EXPERIMENT_USAGE
    "  --summary          read scored records; emit one record per (task, configuration):\n"
    "                     n, mean_loss, stderr, exact_rate, delta_loss (vs intact)\n";

static const char *const owned[] = {"layers", "label", "answer_loss", "answer_token_losses", "answer_tokens",
                                    "answer_exact", NULL};

typedef struct {
    Model model;
    ConfigList cmdline;
    ExperimentOptions opt;
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
} Score;

typedef struct {            // what the sweep visitor needs
    const RecordTokens *t;
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
                        const Model *model, const RecordTokens *t) {
    record_begin(out, in, owned);
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
}

static int score_record(Scorer *s, const Record *in, JsonBuf *lines) {
    char err[512];
    RecordTokens t;
    ConfigList configs;
    const Gpt2Config *cfg = &s->model.gpt2.cfg;
    if (experiment_configs(&s->cmdline, in, cfg->n_layer, &configs, err, sizeof err) != 0) {
        record_error(lines, in, err);
        return 1;
    }
    if (experiment_tokens(&s->model, in, s->opt.bos, 1, &t, err, sizeof err) != 0) {
        configs_free(&configs);
        record_error(lines, in, err);
        return 1;
    }
    Score *scores = xcalloc((size_t)configs.n, sizeof(Score));
    ScoreJob job = {&t, cfg->n_embd, xmalloc(sizeof(float) * (size_t)configs.n * (size_t)t.n_answer * (size_t)cfg->n_embd)};
    int rc = sweep_run(&s->model.gpt2, &configs, t.ids, t.n_prompt + t.n_answer, &s->ws, keep_answer_rows, &job, NULL,
                       err, sizeof err);
    if (rc == 0) rc = score_rows(s, &job, configs.n, scores, err, sizeof err);
    free(job.answer_resid);
    JsonBuf out = {0};
    if (rc == 0)
        for (int k = 0; k < configs.n; k++) {
            write_score(&out, in, &configs.cfg[k], &scores[k], &s->model, &t);
            record_end(&out, lines);
        }
    else
        record_error(lines, in, err);
    for (int k = 0; k < configs.n; k++) free(scores[k].token_losses);
    free(scores);
    jb_free(&out);
    configs_free(&configs);
    record_tokens_free(&t);
    return rc != 0;
}

static int score_batch(void *ctx, Record *const *recs, int n, JsonBuf *lines) {
    int failed = 0;
    for (int i = 0; i < n; i++) failed += score_record(ctx, recs[i], lines);
    return failed;
}

static int run_scoring(const ExperimentOptions *opt) {
    Scorer s = {.opt = *opt};
    char err[2048];
    if (model_open(&s.model, opt->model, NULL, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
    const Gpt2Config *cfg = &s.model.gpt2.cfg;
    if (experiment_plan(opt, cfg->n_layer, &s.cmdline, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
    if (tf_workspace_init(&s.ws, &s.model.gpt2, cfg->n_ctx, threadpool_global(), err, sizeof err) != 0)
        eprintf(EXIT_USAGE, "%s", err);
    s.logits = xmalloc(sizeof(float) * LOGIT_ROWS * (size_t)cfg->vocab_size);
    int status = tool_run(stdin, stdout, 1, score_batch, &s);
    free(s.logits);
    tf_workspace_free(&s.ws);
    configs_free(&s.cmdline);
    model_close(&s.model);
    return status;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    enum { SUMMARY = OPT_TOOL_FIRST };
    static const struct option longopts[] = {EXPERIMENT_LONGOPTS, {"summary", no_argument, 0, SUMMARY},
                                             {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    ExperimentOptions opt;
    experiment_defaults(&opt);
    int summary = 0, c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (experiment_option(&opt, c, optarg)) continue;
        if (c == SUMMARY) summary = 1;
        else if (c == 'h') { fputs(usage_text, stdout); return 0; }
        else { fputs(usage_text, stderr); return EXIT_USAGE; }
    }
    if (optind < argc) eprintf(EXIT_USAGE, "unexpected argument \"%s\" (records come on stdin)", argv[optind]);
    return summary ? summary_run(stdin, stdout) : run_scoring(&opt);
}
