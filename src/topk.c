// topk: which next tokens get more or less likely when blocks are skipped, repeated or
// permuted.  For each record × configuration × position: the top-k next tokens, the
// tokens whose log-probability rose and fell most against the intact model, and the KL
// divergence from the intact model.  See README.md.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "experiment.h"
#include "sweep.h"
#include "tool.h"
#include "topk_rank.h"
#include "util.h"

static const char usage_text[] =
    "usage: topk [options] < records.ndjson\n"
    "For each record (\"prompt\", optional \"answer\") and layer configuration, adds layers,\n"
    "label, position, token, topk, rose, fell, kl_from_intact (and answer_rank, answer_prob,\n"
    "answer_logprob when the record has an answer).\n" EXPERIMENT_USAGE
    "  -k N               tokens in topk, rose and fell (default 10)\n"
    "  --positions P      last (default), all, or a list such as 0,3,-1 (negative: from the end)\n"
    "  --candidates N     rose/fell rank the union of both distributions' top N (default 100)\n";

static const char *const owned[] = {"layers", "label", "position", "token", "topk", "rose", "fell",
                                    "kl_from_intact", "answer_rank", "answer_prob", "answer_logprob", NULL};

typedef struct {
    Model model;
    ConfigList cmdline;
    ExperimentOptions opt;
    TfWorkspace ws;
    int k, candidates;
    const char *positions;  // "last", "all" or a list
} TopK;

typedef struct {
    TopK *t;
    const int *rows;
    int n_rows;
    float *kept;            // (configs, n_rows, C): final residual of the rows read
} Job;

// Keep the residual rows to read out; they are unembedded together after the sweep, so
// the (V, C) output matrix is read once per chunk of rows, not once per configuration.
static int keep_rows(void *ctx, int k, const float *resid, int T, TfWorkspace *ws) {
    (void)T, (void)ws;
    Job *j = ctx;
    size_t C = (size_t)j->t->model.gpt2.cfg.n_embd;
    for (int r = 0; r < j->n_rows; r++)
        memcpy(j->kept + ((size_t)k * (size_t)j->n_rows + (size_t)r) * C, resid + (size_t)j->rows[r] * C, sizeof(float) * C);
    return 0;
}

// logprobs (n, V) = log-softmax of the unembedded kept rows.
static int unembed_kept(TopK *t, const float *kept, int n, float *logprobs, char *err, size_t errlen) {
    const Gpt2 *m = &t->model.gpt2;
    size_t V = (size_t)m->cfg.vocab_size;
    if (tf_logits(m, kept, n, NULL, n, logprobs, &t->ws, err, errlen) != 0) return -1;
    for (int r = 0; r < n; r++) tf_log_softmax(logprobs + (size_t)r * V, (int)V, logprobs + (size_t)r * V);
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
        if (end == p || (*end && *end != ',')) { free(v); return fail(err, errlen, "bad --positions \"%s\"", spec); }
        if (x < 0) x += T;
        if (x < 0 || x >= T) { free(v); return fail(err, errlen, "position %s out of range for %d tokens", p, T); }
        if (count == cap) v = xrealloc(v, sizeof(int) * (size_t)(cap *= 2));
        v[count++] = (int)x;
        p = *end ? end + 1 : end;
    }
    *rows = v;
    *n = count;
    return 0;
}

static void write_token(JsonBuf *b, const Model *m, int id) {
    size_t len;
    const char *s = model_token_text(m, id, &len);
    jb_key(b, "token");
    jb_string(b, s ? s : "", s ? len : 0);
    jb_key(b, "id");
    jb_int(b, id);
}

static void write_topk(JsonBuf *b, const Model *m, const float *lp, int V, int k) {
    int *ids = xmalloc(sizeof(int) * (size_t)k);
    int n = topk_indices(lp, V, k, ids);
    jb_key(b, "topk");
    jb_raw(b, "[", 1);
    for (int i = 0; i < n; i++) {
        jb_sep(b);
        jb_raw(b, "{", 1);
        write_token(b, m, ids[i]);
        jb_key(b, "prob"), jb_double(b, exp(lp[ids[i]]));
        jb_key(b, "logprob"), jb_float(b, lp[ids[i]]);
        jb_raw(b, "}", 1);
    }
    jb_raw(b, "]", 1);
    free(ids);
}

static void write_changes(JsonBuf *b, const Model *m, const float *lp, const float *ref, int V, int k, int cand) {
    TokenChange *rose = xmalloc(sizeof(TokenChange) * (size_t)k), *fell = xmalloc(sizeof(TokenChange) * (size_t)k);
    int nr, nf;
    topk_changes(lp, ref, V, cand, k, rose, &nr, fell, &nf);
    const char *names[2] = {"rose", "fell"};
    TokenChange *lists[2] = {rose, fell};
    int counts[2] = {nr, nf};
    for (int l = 0; l < 2; l++) {
        jb_key(b, names[l]);
        jb_raw(b, "[", 1);
        for (int i = 0; i < counts[l]; i++) {
            jb_sep(b);
            jb_raw(b, "{", 1);
            write_token(b, m, lists[l][i].id);
            jb_key(b, "delta_logprob"), jb_float(b, lists[l][i].delta);
            jb_key(b, "logprob"), jb_float(b, lp[lists[l][i].id]);
            jb_key(b, "intact_logprob"), jb_float(b, ref[lists[l][i].id]);
            jb_raw(b, "}", 1);
        }
        jb_raw(b, "]", 1);
    }
    free(rose);
    free(fell);
}

static void write_answer(JsonBuf *b, const float *lp, int V, int answer) {
    int rank = 1;
    for (int v = 0; v < V; v++)
        if (lp[v] > lp[answer] || (lp[v] == lp[answer] && v < answer)) rank++;
    jb_key(b, "answer_rank"), jb_int(b, rank);
    jb_key(b, "answer_prob"), jb_double(b, exp(lp[answer]));
    jb_key(b, "answer_logprob"), jb_float(b, lp[answer]);
}

// Writes every configuration except `hidden` (the intact reference when it was not asked
// for; -1: none hidden).
static void write_results(TopK *t, const Record *in, const ConfigList *cfgs, int intact, int hidden, const RecordTokens *tk,
                          const int *rows, int n_rows, const float *logprobs, JsonBuf *lines) {
    int V = t->model.gpt2.cfg.vocab_size;
    JsonBuf b = {0};
    size_t per_cfg = (size_t)n_rows * (size_t)V;
    for (int k = 0; k < cfgs->n; k++) {
        if (k == hidden) continue;
        for (int r = 0; r < n_rows; r++) {
            const float *lp = logprobs + k * per_cfg + (size_t)r * V, *ref = logprobs + intact * per_cfg + (size_t)r * V;
            record_begin(&b, in, owned);
            experiment_write_config(&b, &cfgs->cfg[k]);
            jb_key(&b, "position"), jb_int(&b, rows[r]);
            size_t len;
            const char *s = model_token_text(&t->model, tk->ids[rows[r]], &len);
            jb_key(&b, "token"), jb_string(&b, s ? s : "", s ? len : 0);
            write_topk(&b, &t->model, lp, V, t->k);
            write_changes(&b, &t->model, lp, ref, V, t->k, t->candidates);
            jb_key(&b, "kl_from_intact"), jb_double(&b, topk_kl(ref, lp, V));
            if (tk->n_answer && rows[r] == tk->n_prompt - 1) write_answer(&b, lp, V, tk->ids[tk->n_prompt]);
            record_end(&b, lines);
        }
    }
    jb_free(&b);
}

static int topk_record(TopK *t, const Record *in, JsonBuf *lines) {
    char err[512];
    const Gpt2Config *cfg = &t->model.gpt2.cfg;
    ConfigList cfgs;
    RecordTokens tk;
    int *rows = NULL, n_rows = 0, rc = -1;
    float *logprobs = NULL;
    if (experiment_configs(&t->cmdline, in, cfg->n_layer, &cfgs, err, sizeof err) != 0) {
        record_error(lines, in, err);
        return 1;
    }
    int intact = configs_find_intact(&cfgs, cfg->n_layer), hidden = -1;
    if (intact < 0) {   // the reference for rose/fell/kl, not itself reported
        configs_add_intact(&cfgs, cfg->n_layer);
        intact = hidden = cfgs.n - 1;
    }
    int with_answer = record_has(in, "answer");
    if (experiment_tokens(&t->model, in, t->opt.bos, with_answer, &tk, err, sizeof err) != 0) goto done;
    if (parse_positions(t->positions, tk.n_prompt, &rows, &n_rows, err, sizeof err) != 0) goto done;
    size_t floats;
    if (mul_size((size_t)cfgs.n * (size_t)n_rows, (size_t)cfg->vocab_size, &floats) != 0 || floats > ((size_t)1 << 27)) {
        fail(err, sizeof err, "%d configurations x %d positions is too much at once (use fewer --positions)", cfgs.n, n_rows);
        goto done;
    }
    logprobs = xmalloc(sizeof(float) * floats);
    Job job = {t, rows, n_rows, xmalloc(sizeof(float) * (size_t)cfgs.n * (size_t)n_rows * (size_t)cfg->n_embd)};
    // Only the prompt is run: the answer (if any) is read at the last prompt position.
    int swept = sweep_run(&t->model.gpt2, &cfgs, tk.ids, tk.n_prompt, &t->ws, keep_rows, &job, NULL, err, sizeof err);
    if (swept == 0) swept = unembed_kept(t, job.kept, cfgs.n * n_rows, logprobs, err, sizeof err);
    free(job.kept);
    if (swept != 0) goto done;
    write_results(t, in, &cfgs, intact, hidden, &tk, rows, n_rows, logprobs, lines);
    rc = 0;
done:
    if (rc) record_error(lines, in, err);
    free(logprobs);
    free(rows);
    record_tokens_free(&tk);
    configs_free(&cfgs);
    return rc != 0;
}

static int topk_batch(void *ctx, Record *const *recs, int n, JsonBuf *lines) {
    int failed = 0;
    for (int i = 0; i < n; i++) failed += topk_record(ctx, recs[i], lines);
    return failed;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    enum { POSITIONS = OPT_TOOL_FIRST, CANDIDATES };
    static const struct option longopts[] = {EXPERIMENT_LONGOPTS, {"positions", required_argument, 0, POSITIONS},
                                             {"candidates", required_argument, 0, CANDIDATES},
                                             {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    TopK t = {.k = 10, .candidates = 100, .positions = "last"};
    experiment_defaults(&t.opt);
    int c;
    while ((c = getopt_long(argc, argv, "hk:", longopts, NULL)) != -1) {
        if (experiment_option(&t.opt, c, optarg)) continue;
        switch (c) {
        case 'k': t.k = (int)arg_integer(optarg, 1, 100000, "-k"); break;
        case POSITIONS: t.positions = optarg; break;
        case CANDIDATES: t.candidates = (int)arg_integer(optarg, 1, 100000, "--candidates"); break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) eprintf(EXIT_USAGE, "unexpected argument \"%s\" (records come on stdin)", argv[optind]);
    char err[2048];
    if (model_open(&t.model, t.opt.model, NULL, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
    const Gpt2Config *cfg = &t.model.gpt2.cfg;
    if (experiment_plan(&t.opt, cfg->n_layer, &t.cmdline, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
    if (tf_workspace_init(&t.ws, &t.model.gpt2, cfg->n_ctx, threadpool_global(), err, sizeof err) != 0)
        eprintf(EXIT_USAGE, "%s", err);
    int status = tool_run(stdin, stdout, 1, topk_batch, &t);
    tf_workspace_free(&t.ws);
    configs_free(&t.cmdline);
    model_close(&t.model);
    return status;
}
