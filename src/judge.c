// judge: verdicts on runlayers completions — the tasks' eval_questions asked of an LLM
// (common/agent/judge_llm.h) and the offline judges (common/experiment/judge.h);
// --summary: the yes-rate per task x configuration x question.  docs/tools.md.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/journal.h"
#include "agent/judge_llm.h"
#include "base/tool.h"
#include "base/util.h"
#include "experiment/judge.h"
#include "io/llm.h"

static const char usage_text[] =
    "usage: judge [options] < runlayers-records.ndjson\n"
    "       judge --summary [--table] < judged-records.ndjson\n"
    "Adds \"judgements\" to each runlayers record: the offline judges (answer-start,\n"
    "repeats-last-token, ngram-loop, english-words, valid-json) and, with an LLM\n"
    "(OPENAI_API_KEY or OPENAI_BASE_URL set), a verdict on each of its eval_questions.\n"
    "  --offline          never ask an LLM\n"
    "  --llm              ask the LLM even when neither variable is set (default URL)\n"
    "  --llm-model M      the model (default $AUTOINTERP_LLM_MODEL, else gpt-4o-mini)\n"
    "  --journal FILE     verdict cache: verdicts in FILE are not asked again; new ones\n"
    "                     and every exchange are appended to it\n"
    "  --budget N         at most N LLM requests (then questions are left unjudged)\n"
    "  --per-request N    completions judged in one request, 1..64 (default 8)\n"
    "  --max-retries N    bad replies asked again, 0..20 (default 2)\n"
    "  --question TEXT    one more question for every record (repeatable)\n"
    "  --words FILE       word list of english-words (default /usr/share/dict/words)\n"
    "  --summary          read judged records; one record per (task, configuration,\n"
    "                     question): n, yes, no, unsure, yes_rate, stderr, delta_yes_rate\n"
    "  --table            with --summary: a Markdown table instead of records\n";

static const char *const owned[] = {"judgements", "unjudged", NULL};

#define BATCH 32   // records read at once: their open questions share requests

typedef struct {
    JudgeWords words;
    int have_words;
    JudgeLlm llm;
    int use_llm;
    const char *const *extra;   // --question
    int n_extra;
    long unjudged;   // questions left without a verdict
    int journal_failed;
    char journal_err[512];
} Judge;

static void write_judged(JsonBuf *lines, const Record *in, const JudgeItem *it, const Judge *jd,
                         const JudgeAnswer *ans) {
    JsonBuf out = {0};
    record_begin(&out, in, owned);
    jb_key(&out, "judgements");
    jb_puts(&out, "[");
    for (int k = 0; k < JUDGE_N_OFFLINE; k++) {
        JudgeResult r;
        if (judge_offline(k, it, jd->have_words ? &jd->words : NULL, &r))
            jb_sep(&out), judge_result_json(&out, &r);
    }
    for (int q = 0; ans && q < it->n_questions; q++)
        if (ans[q].state == JUDGE_ANSWER_DONE) jb_sep(&out), judge_result_json(&out, &ans[q].r);
    jb_puts(&out, "]");
    int pending = 0;
    for (int q = 0; q < it->n_questions; q++) pending += !ans || ans[q].state != JUDGE_ANSWER_DONE;
    if (pending) {
        jb_key(&out, "unjudged");
        jb_puts(&out, "[");
        for (int q = 0; q < it->n_questions; q++)
            if (!ans || ans[q].state != JUDGE_ANSWER_DONE)
                jb_sep(&out), jb_cstr(&out, it->questions[q]);
        jb_puts(&out, "]");
    }
    record_end(&out, lines);
    jb_free(&out);
}

static int judge_batch(void *ctx, Record *const *recs, int n, JsonBuf *lines) {
    Judge *jd = ctx;
    JudgeItem *items = xcalloc((size_t)n, sizeof *items);
    JudgeAnswer **ans = xcalloc((size_t)n, sizeof *ans);
    char(*why)[512] = xcalloc((size_t)n, sizeof *why);
    int *bad = xcalloc((size_t)n, sizeof *bad), failed = 0;
    // Records that cannot be read take no part in the requests.
    JudgeItem *good = xcalloc((size_t)n, sizeof *good);
    int n_good = 0, *map = xcalloc((size_t)n, sizeof *map);
    for (int i = 0; i < n; i++) {
        bad[i] =
            judge_item_read(&items[i], recs[i], jd->extra, jd->n_extra, why[i], sizeof why[i]) != 0;
        if (!bad[i]) map[i] = n_good, good[n_good++] = items[i];
    }
    JudgeAnswer **gans = xcalloc((size_t)n_good + 1, sizeof *gans);
    if (jd->use_llm && !jd->journal_failed &&
        judge_llm_run(&jd->llm, good, n_good, gans, jd->journal_err, sizeof jd->journal_err) != 0)
        jd->journal_failed = 1;
    for (int i = 0; i < n; i++) {
        if (bad[i]) {
            record_error(lines, recs[i], why[i]);
            failed++;
            continue;
        }
        const JudgeAnswer *a = gans[map[i]];
        const char *error = NULL;
        int qi = 0;
        for (int q = 0; a && q < items[i].n_questions && !error; q++)
            if (a[q].state == JUDGE_ANSWER_FAILED) error = a[q].error, qi = q;
        if (error) {
            char *msg =
                xasprintf("judge: question %d (%.120s): %s", qi + 1, items[i].questions[qi], error);
            record_error(lines, recs[i], msg);
            free(msg);
            failed++;
            continue;
        }
        for (int q = 0; q < items[i].n_questions; q++)
            jd->unjudged += !a || a[q].state != JUDGE_ANSWER_DONE;
        write_judged(lines, recs[i], &items[i], jd, a);
    }
    judge_answers_free(gans, good, n_good);
    for (int i = 0; i < n; i++) judge_item_free(&items[i]);
    free(gans), free(good), free(map), free(items), free(ans), free(why), free(bad);
    return failed;
}

typedef struct {
    int offline, llm, summary, table;
    const char *llm_model, *journal, *words;
    long budget;
    int per_request, max_retries;
    const char **extra;
    int n_extra;
} Options;

// The journal: open it for appending and load its verdicts into the cache.
static void journal_setup(Journal *j, JudgeLlm *llm, const char *path) {
    char err[1024];
    if (is_file(path)) {
        JournalLog log;
        if (journal_load(&log, path, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
        journal_issues_print(&log, path, stderr);
        judge_llm_load(llm, &log);
        journal_log_free(&log);
    }
    if (journal_open(j, path, 0, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
}

static int run_judge(const Options *o) {
    Judge jd = {.extra = o->extra, .n_extra = o->n_extra};
    char err[1024];
    const char *words = o->words ? o->words : JUDGE_WORDS_DEFAULT;
    if (judge_words_load(&jd.words, words, err, sizeof err) == 0) jd.have_words = 1;
    else if (o->words) eprintf(EXIT_USAGE, "%s", err);
    else weprintf("warning: %s; the english-words judge is left out", err);

    const char *key = getenv("OPENAI_API_KEY"), *base = getenv("OPENAI_BASE_URL");
    jd.use_llm = !o->offline && (o->llm || (key && key[0]) || (base && base[0]));
    LlmClient client;
    Journal journal;
    int have_journal = 0;
    if (jd.use_llm) {
        if (llm_client_init(&client, o->llm_model, err, sizeof err) != 0)
            eprintf(EXIT_USAGE, "%s", err);
        JudgeLlmOptions lo = {&client, o->per_request, o->max_retries, o->budget, NULL};
        judge_llm_init(&jd.llm, &lo);
        if (o->journal) {
            journal_setup(&journal, &jd.llm, o->journal);
            jd.llm.o.journal = &journal;
            have_journal = 1;
        }
    }
    int status = tool_run(stdin, stdout, BATCH, judge_batch, &jd);
    if (jd.journal_failed) {
        weprintf("%s", jd.journal_err);
        status = EXIT_USAGE;
    }
    if (jd.use_llm) {
        fprintf(stderr, "%s: LLM %s: %ld request%s, %ld verdicts received, %ld from the cache",
                util_progname, client.model, jd.llm.calls, jd.llm.calls == 1 ? "" : "s",
                jd.llm.answered, jd.llm.cache_hits);
        if (jd.llm.budget_reached)
            fprintf(
                stderr,
                "; the budget of %ld request%s was reached: %ld question%s left unjudged (a re-run with a larger --budget asks only those)",
                o->budget, o->budget == 1 ? "" : "s", jd.unjudged, jd.unjudged == 1 ? "" : "s");
        fputc('\n', stderr);
    } else if (jd.unjudged) {
        weprintf(
            "warning: no LLM (--offline, or neither OPENAI_API_KEY nor OPENAI_BASE_URL set): %ld eval question%s left unjudged; offline judges only",
            jd.unjudged, jd.unjudged == 1 ? "" : "s");
    }
    if (have_journal && journal_close(&journal, err, sizeof err) != 0) {
        weprintf("%s", err);
        status = EXIT_USAGE;
    }
    if (jd.use_llm) {
        judge_llm_free(&jd.llm);
        llm_client_free(&client);
    }
    if (jd.have_words) judge_words_free(&jd.words);
    return status;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    enum {
        OFFLINE = 1000,
        LLM,
        LLM_MODEL,
        JOURNAL,
        BUDGET,
        PER_REQUEST,
        MAX_RETRIES,
        QUESTION,
        WORDS,
        SUMMARY,
        TABLE
    };
    static const struct option longopts[] = {{"offline", no_argument, 0, OFFLINE},
                                             {"llm", no_argument, 0, LLM},
                                             {"llm-model", required_argument, 0, LLM_MODEL},
                                             {"journal", required_argument, 0, JOURNAL},
                                             {"budget", required_argument, 0, BUDGET},
                                             {"per-request", required_argument, 0, PER_REQUEST},
                                             {"max-retries", required_argument, 0, MAX_RETRIES},
                                             {"question", required_argument, 0, QUESTION},
                                             {"words", required_argument, 0, WORDS},
                                             {"summary", no_argument, 0, SUMMARY},
                                             {"table", no_argument, 0, TABLE},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    Options o = {
        .budget = -1, .per_request = JUDGE_LLM_PER_REQUEST, .max_retries = JUDGE_LLM_MAX_RETRIES};
    const char *extra[JUDGE_MAX_QUESTIONS];
    o.extra = extra;
    int c;
    while ((c = tool_getopt(argc, argv, "h", longopts, usage_text, NULL)) != -1) {
        switch (c) {
        case OFFLINE: o.offline = 1; break;
        case LLM: o.llm = 1; break;
        case LLM_MODEL: o.llm_model = optarg; break;
        case JOURNAL: o.journal = optarg; break;
        case BUDGET: o.budget = (long)arg_integer(optarg, 0, 1000000000, "--budget"); break;
        case PER_REQUEST: o.per_request = (int)arg_integer(optarg, 1, 64, "--per-request"); break;
        case MAX_RETRIES: o.max_retries = (int)arg_integer(optarg, 0, 20, "--max-retries"); break;
        case QUESTION:
            if (!optarg[0] || strlen(optarg) > JUDGE_QUESTION_MAX)
                eprintf(EXIT_USAGE, "--question needs 1..%d bytes", JUDGE_QUESTION_MAX);
            if (o.n_extra == JUDGE_MAX_QUESTIONS)
                eprintf(EXIT_USAGE, "at most %d --question", JUDGE_MAX_QUESTIONS);
            extra[o.n_extra++] = optarg;
            break;
        case WORDS: o.words = optarg; break;
        case SUMMARY: o.summary = 1; break;
        case TABLE: o.table = 1; break;
        }
    }
    tool_no_operands(argc, argv, NULL, "records come on stdin");
    if (o.table && !o.summary) eprintf(EXIT_USAGE, "--table goes with --summary");
    if (o.offline && o.llm) eprintf(EXIT_USAGE, "--offline and --llm exclude each other");
    return o.summary ? judge_summary_run(stdin, stdout, o.table) : run_judge(&o);
}
