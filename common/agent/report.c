// report: a journal as Markdown with SVG plots; see report.h.
#include "agent/report.h"
#include "agent/agent.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/strmap.h"
#include "base/utf8.h"
#include "base/util.h"
#include "experiment/judge.h"
#include "experiment/layers.h"
#include "experiment/patchnorm.h"
#include "experiment/summary.h"
#include "io/plot.h"

void report_options_default(ReportOptions *o) {
    memset(o, 0, sizeof *o);
    o->plot_dir = "report";
    o->plot_link = "report/";
    o->samples = 2;
    o->topk_rows = 2;
    o->top_tokens = 5;
}

// ----------------------------------------------------------------------------- Markdown text

// One character (len bytes at s, or an invalid byte when len == 0) escaped.
static void escape_char(JsonBuf *md, const char *s, size_t len) {
    if (len == 0) {
        jb_puts(md, "\xEF\xBF\xBD");   // U+FFFD for a byte that is not UTF-8
        return;
    }
    if (len > 1) {
        jb_raw(md, s, len);
        return;
    }
    char c = s[0];
    switch (c) {
    case '\n': jb_puts(md, "\xE2\x86\xB5"); return;   // ↵
    case '\r': return;
    case '\t': jb_raw(md, " ", 1); return;
    case '<': jb_puts(md, "&lt;"); return;
    case '>': jb_puts(md, "&gt;"); return;
    case '&': jb_puts(md, "&amp;"); return;
    case '|':
    case '\\':
    case '`':
    case '*':
    case '_':
    case '[':
    case ']':
    case '~':
        jb_raw(md, "\\", 1);
        jb_raw(md, s, 1);
        return;
    default:
        if ((unsigned char)c < 0x20 || c == 0x7f) jb_puts(md, "\xEF\xBF\xBD");
        else jb_raw(md, s, 1);
    }
}

void md_escape(JsonBuf *md, const char *s, size_t n, size_t max_chars, int from_end) {
    size_t chars = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_decode((const unsigned char *)s + i, n - i, NULL);
        i += l ? l : 1;
        chars++;
    }
    size_t skip = 0, keep = chars;
    int cut = max_chars > 0 && chars > max_chars;
    if (cut) {
        keep = max_chars;
        if (from_end) skip = chars - max_chars;
        jb_puts(md, from_end ? "\xE2\x80\xA6" : "");   // …
    }
    size_t k = 0;
    for (size_t i = 0; i < n && k < skip + keep; k++) {
        size_t l = utf8_decode((const unsigned char *)s + i, n - i, NULL);
        if (k >= skip) escape_char(md, s + i, l);
        i += l ? l : 1;
    }
    if (cut && !from_end) jb_puts(md, "\xE2\x80\xA6");
}

static void md_text(JsonBuf *md, const char *s) { md_escape(md, s, strlen(s), 0, 0); }

// A token or completion between quotes, so that its leading space shows.
static void md_quoted(JsonBuf *md, const char *s, size_t n, size_t max_chars) {
    jb_puts(md, "\xE2\x80\x9C");   // “
    md_escape(md, s, n, max_chars, 0);
    jb_puts(md, "\xE2\x80\x9D");   // ”
}

// Free text written by the agent (notes, the results section): kept as Markdown, with
// its continuation lines indented by `indent` spaces (to stay inside a list item).
static void md_prose(JsonBuf *md, const char *s, int indent) {
    for (; *s; s++) {
        jb_raw(md, s, 1);
        if (*s == '\n' && s[1]) jb_printf(md, "%*s", indent, "");
    }
}

// ----------------------------------------------------------------------------- fields

static char *str_field(const JournalEntry *e, const char *key) { return journal_entry_str(e, key); }

static int str_field_is(const JournalEntry *e, const char *key, const char *want) {
    char *s = str_field(e, key);
    int eq = s && !strcmp(s, want);
    free(s);
    return eq;
}

// A string member of the object at token obj, or NULL (malloc'd copy).
static char *obj_str(const JsonDoc *d, int obj, const char *key, size_t *len) {
    int v = obj >= 0 ? json_obj_get(d, obj, key) : -1;
    char *s = NULL;
    if (v >= 0 && json_str(d, v, &s, len) != 0) {
        free(s);
        s = NULL;
    }
    return s;
}

static int obj_double(const JsonDoc *d, int obj, const char *key, double *out) {
    int v = obj >= 0 ? json_obj_get(d, obj, key) : -1;
    return v >= 0 && json_double(d, v, out) == 0;
}

// The compact form of a raw JSON layers array ("0-3", "none"), or "—".
static void layers_text(const char *json, char *buf, size_t buflen) {
    snprintf(buf, buflen, "\xE2\x80\x94");
    if (!json) return;
    JsonDoc d;
    char err[64];
    if (json_parse(&d, json, strlen(json), err, sizeof err) == 0 &&
        json_type(&d, 0) == JSMN_ARRAY) {
        int n = json_size(&d, 0), ok = 1;
        int *idx = xcalloc((size_t)n + 1, sizeof(int));
        for (int k = 0; k < n && ok; k++) {
            long long v;
            ok = json_int(&d, json_arr_at(&d, 0, k), &v) == 0 && v >= 0 && v < 1000000;
            idx[k] = (int)v;
        }
        if (ok) layers_compact(idx, n, buf, buflen);
        free(idx);
    }
    json_free(&d);
}

// Is label "PREFIX N" with N a whole number?  Then *n = N.
static int label_number(const char *label, const char *prefix, int *n) {
    size_t pl = strlen(prefix);
    if (strncmp(label, prefix, pl) || !label[pl]) return 0;
    long v = 0;
    for (const char *p = label + pl; *p; p++) {
        if (*p < '0' || *p > '9' || v > 100000) return 0;
        v = v * 10 + (*p - '0');
    }
    *n = (int)v;
    return 1;
}

// ----------------------------------------------------------------------------- grouping

// Entries of one experiment and tool, grouped by (task, label) in order of first
// appearance; each group keeps the indices of its first `cap` entries.
typedef struct {
    char *task, *label;
    int *idx;   // (n) entry indices
    int n;
} Bucket;

typedef struct {
    Bucket *b;
    int n;
} Buckets;

static void buckets_collect(Buckets *bs, const JournalLog *log, const char *experiment,
                            const char *tool, int cap) {
    memset(bs, 0, sizeof *bs);
    for (int i = 0; i < log->n; i++) {
        const JournalEntry *e = &log->e[i];
        // judge's records are runlayers records with verdicts: they show as completions too
        int tool_ok = str_field_is(e, "tool", tool) ||
                      (!strcmp(tool, "runlayers") && str_field_is(e, "tool", "judge"));
        if (strcmp(e->kind, "result") || !str_field_is(e, "experiment", experiment) || !tool_ok ||
            record_has(&e->rec, "error"))
            continue;
        char *task = str_field(e, "task"), *label = str_field(e, "label");
        const char *t = task ? task : "", *l = label ? label : "";
        Bucket *b = NULL;
        for (int k = 0; k < bs->n && !b; k++)
            if (!strcmp(bs->b[k].task, t) && !strcmp(bs->b[k].label, l)) b = &bs->b[k];
        if (!b) {
            bs->b = xrealloc(bs->b, sizeof(Bucket) * (size_t)(bs->n + 1));
            b = &bs->b[bs->n++];
            *b = (Bucket){xstrdup(t), xstrdup(l), xcalloc((size_t)cap + 1, sizeof(int)), 0};
        }
        if (b->n < cap) b->idx[b->n++] = i;
        free(task);
        free(label);
    }
}

static void buckets_free(Buckets *bs) {
    for (int k = 0; k < bs->n; k++) {
        free(bs->b[k].task);
        free(bs->b[k].label);
        free(bs->b[k].idx);
    }
    free(bs->b);
}

// Distinct tasks of the buckets, in order (pointers into the buckets).
static int bucket_tasks(const Buckets *bs, const char **tasks) {
    int n = 0;
    for (int k = 0; k < bs->n; k++) {
        int seen = 0;
        for (int t = 0; t < n; t++) seen |= !strcmp(tasks[t], bs->b[k].task);
        if (!seen) tasks[n++] = bs->b[k].task;
    }
    return n;
}

static void task_heading(JsonBuf *md, const char *task) {
    jb_puts(md, "**Task ");
    md_text(md, task[0] ? task : "(none)");
    jb_puts(md, "**\n\n");
}

// ----------------------------------------------------------------------------- header, tasks

static void count_kind(const JournalLog *log, const char *kind, int *n) {
    *n = 0;
    for (int i = 0; i < log->n; i++) *n += !strcmp(log->e[i].kind, kind);
}

static void write_header(JsonBuf *md, const JournalLog *log) {
    const JournalEntry *meta = NULL;
    for (int i = 0; i < log->n && !meta; i++)
        if (!strcmp(log->e[i].kind, "meta")) meta = &log->e[i];
    const JsonDoc *d = meta ? &meta->rec.doc : NULL;
    int model = d ? json_obj_get(d, 0, "model") : -1;
    if (model >= 0 && json_type(d, model) != JSMN_OBJECT) model = -1;
    char *name = model >= 0 ? obj_str(d, model, "name", NULL) : NULL;
    jb_puts(md, "# Investigation report");
    if (name) jb_puts(md, ": "), md_text(md, name);
    jb_puts(md, "\n\n");
    if (model >= 0) {
        jb_puts(md, "- **Model**: ");
        md_text(md, name ? name : "?");
        double v;
        static const char *const fields[][2] = {{"n_layer", "%.0f blocks"},
                                                {"n_head", "%.0f heads"},
                                                {"n_embd", "width %.0f"},
                                                {"n_ctx", "context %.0f"},
                                                {"params", "%.0f parameters"}};
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
            if (obj_double(d, model, fields[f][0], &v)) {
                jb_puts(md, ", ");
                jb_printf(md, fields[f][1], v);
            }
        char *dtype = obj_str(d, model, "dtype", NULL);
        if (dtype) jb_puts(md, ", "), md_text(md, dtype);
        free(dtype);
        jb_puts(md, "\n");
    }
    char *goal = meta ? str_field(meta, "goal") : NULL;
    if (goal) jb_puts(md, "- **Goal**: "), md_text(md, goal), jb_puts(md, "\n");
    free(goal);
    free(name);

    jb_printf(md, "- **Journal**: %d records", log->n);
    for (int k = 0, shown = 0; journal_kinds[k]; k++) {
        int n;
        count_kind(log, journal_kinds[k], &n);
        if (n) jb_printf(md, "%s%d %s", shown++ ? ", " : " (", n, journal_kinds[k]);
        if (!journal_kinds[k + 1] && shown) jb_puts(md, ")");
    }
    jb_puts(md, "\n");
    if (log->n_issues) {
        jb_printf(md, "- **Warning**: %d unreadable line%s skipped (", log->n_issues,
                  log->n_issues > 1 ? "s" : "");
        for (int k = 0; k < log->n_issues && k < 5; k++)
            jb_printf(md, "%sline %ld%s", k ? ", " : "", log->issues[k].lineno,
                      log->issues[k].torn ? ", torn" : "");
        jb_puts(md, log->n_issues > 5 ? ", …); `journal check` lists them\n"
                                      : "); `journal check` lists them\n");
    }
    jb_puts(md, "\n");
}

static void write_tasks(JsonBuf *md, const JournalLog *log) {
    int n;
    count_kind(log, "task", &n);
    if (!n) return;
    jb_puts(md, "## Tasks\n\n| task | examples | description |\n| --- | ---: | --- |\n");
    for (int i = 0; i < log->n; i++) {
        const JournalEntry *e = &log->e[i];
        if (strcmp(e->kind, "task")) continue;
        char *task = str_field(e, "task"), *desc = str_field(e, "description");
        long long ex;
        jb_puts(md, "| ");
        md_text(md, task ? task : "?");
        if (record_int(&e->rec, "n_examples", &ex, NULL, 0) == 1) jb_printf(md, " | %lld | ", ex);
        else jb_puts(md, " | \xE2\x80\x94 | ");
        md_text(md, desc ? desc : "");
        jb_puts(md, " |\n");
        free(task);
        free(desc);
    }
    jb_puts(md, "\n");
}

// ----------------------------------------------------------------------------- experiments

// The experiments, in order of first appearance among the results, and for each a view of
// the log holding only its records (every kind whose "experiment" is its name), in file
// order.  The per-experiment sections read their experiment's view, so that the report
// reads each record a fixed number of times, however many experiments there are.
typedef struct {
    StrMap names;       // experiment name -> its number (key[k] is the name)
    JournalLog *logs;   // (names.n) views of the log; their entries are copies
} ExperimentIndex;

// The number of the experiment entry e belongs to, or -1.  Results alone add experiments.
static int experiment_of(StrMap *names, const JournalEntry *e, int add) {
    char *x = str_field(e, "experiment");
    int k = !x ? -1 : add ? strmap_intern_cstr(names, x, NULL) : strmap_find_cstr(names, x);
    free(x);
    return k;
}

static void experiments_index(ExperimentIndex *xi, const JournalLog *log) {
    memset(xi, 0, sizeof *xi);
    int *which = xmalloc(sizeof(int) * (size_t)(log->n ? log->n : 1));
    for (int i = 0; i < log->n; i++)
        if (!strcmp(log->e[i].kind, "result")) experiment_of(&xi->names, &log->e[i], 1);
    xi->logs = xcalloc((size_t)xi->names.n + 1, sizeof *xi->logs);
    for (int i = 0; i < log->n; i++)
        if ((which[i] = experiment_of(&xi->names, &log->e[i], 0)) >= 0) xi->logs[which[i]].n++;
    for (int k = 0; k < xi->names.n; k++) {
        xi->logs[k].e = xmalloc(sizeof(JournalEntry) * (size_t)xi->logs[k].n);
        xi->logs[k].n = 0;
    }
    for (int i = 0; i < log->n; i++)
        if (which[i] >= 0) xi->logs[which[i]].e[xi->logs[which[i]].n++] = log->e[i];
    free(which);
}

static void experiments_free(ExperimentIndex *xi) {
    for (int k = 0; k < xi->names.n; k++) free(xi->logs[k].e);
    free(xi->logs);
    strmap_free(&xi->names);
}

// The scoreloss results of experiment x aggregated as `scoreloss --summary` does.
static void summarize(Summary *s, const JournalLog *log, const char *x) {
    memset(s, 0, sizeof *s);
    char err[128];
    for (int i = 0; i < log->n; i++) {
        const JournalEntry *e = &log->e[i];
        if (!strcmp(e->kind, "result") && str_field_is(e, "experiment", x) &&
            str_field_is(e, "tool", "scoreloss") && !record_has(&e->rec, "error") &&
            !record_has(&e->rec, "patch_effect"))
            summary_add(s, &e->rec, err, sizeof err);
    }
}

static void write_loss_tables(JsonBuf *md, const JournalLog *log, const char *x) {
    Summary s;
    summarize(&s, log, x);
    if (s.n == 0) {
        summary_free(&s);
        return;
    }
    jb_puts(md, "### Answer loss\n\n");
    for (int g0 = 0; g0 < s.n; g0++) {
        int first = 1;
        for (int k = 0; k < g0; k++) first &= strcmp(s.g[k].task, s.g[g0].task) != 0;
        if (!first) continue;
        task_heading(md, s.g[g0].task);
        jb_puts(md,
                "| configuration | layers | n | mean loss ± stderr | Δ vs intact | exact match |\n"
                "| --- | --- | ---: | ---: | ---: | ---: |\n");
        for (int g = g0; g < s.n; g++) {
            if (strcmp(s.g[g].task, s.g[g0].task)) continue;
            SummaryStats st = summary_stats(&s, &s.g[g]);
            char layers[256];
            layers_text(s.g[g].layers_json, layers, sizeof layers);
            jb_puts(md, "| ");
            md_text(md, s.g[g].label);
            jb_puts(md, " | ");
            md_text(md, layers);
            jb_printf(md, " | %ld | %.4f ± %.4f | ", s.g[g].n, st.mean_loss, st.stderr_loss);
            if (st.has_delta) jb_printf(md, "%+.4f", st.delta_loss);
            else jb_puts(md, "\xE2\x80\x94");
            jb_printf(md, " | %.2f |\n", st.exact_rate);
        }
        jb_puts(md, "\n");
    }
    summary_free(&s);
}

// The verdicts of experiment x's judged records (`judge`), aggregated as `judge --summary`
// does.  keep: NULL for every label, else only labels it accepts.
static void judge_summarize(JudgeSummary *s, const JournalLog *log, const char *x,
                            int (*keep)(const char *label)) {
    memset(s, 0, sizeof *s);
    char err[128];
    for (int i = 0; i < log->n; i++) {
        const JournalEntry *e = &log->e[i];
        if (strcmp(e->kind, "result") || (x && !str_field_is(e, "experiment", x)) ||
            record_has(&e->rec, "error") || !record_has(&e->rec, "judgements"))
            continue;
        char *label = keep ? str_field(e, "label") : NULL;
        if (!keep || (label && keep(label))) judge_summary_add(s, &e->rec, err, sizeof err);
        free(label);
    }
}

// ### How it speaks: per task, the yes-rate of each question per configuration.
static void write_speaks(JsonBuf *md, const JournalLog *log, const char *x) {
    JudgeSummary s;
    judge_summarize(&s, log, x, NULL);
    if (s.n)
        jb_puts(
            md,
            "### How it speaks\n\nVerdicts of `judge` on the completions: the yes-rate of each question "
            "(± standard error), against the intact model.\n\n");
    for (int g0 = 0; g0 < s.n; g0++) {
        int first = 1;
        for (int k = 0; k < g0; k++) first &= strcmp(s.g[k].task, s.g[g0].task) != 0;
        if (!first) continue;
        task_heading(md, s.g[g0].task);
        jb_puts(
            md,
            "| configuration | question | judge | n | yes-rate ± stderr | Δ vs intact | yes / no / unsure |\n"
            "| --- | --- | --- | ---: | ---: | ---: | --- |\n");
        for (int g = g0; g < s.n; g++) {
            if (strcmp(s.g[g].task, s.g[g0].task)) continue;
            JudgeStats st = judge_summary_stats(&s, &s.g[g]);
            jb_puts(md, "| ");
            md_text(md, s.g[g].label);
            jb_puts(md, " | ");
            md_text(md, s.g[g].question);
            jb_puts(md, " | ");
            md_text(md, s.g[g].judge ? s.g[g].judge : "");
            jb_printf(md, " | %ld | %.2f ± %.2f | ", s.g[g].n, st.yes_rate, st.stderr_rate);
            if (st.has_delta) jb_printf(md, "%+.2f", st.delta);
            else jb_puts(md, "\xE2\x80\x94");
            jb_printf(md, " | %ld / %ld / %ld |\n", s.g[g].yes, s.g[g].no, s.g[g].unsure);
        }
        jb_puts(md, "\n");
    }
    judge_summary_free(&s);
}

static void write_completions(JsonBuf *md, const JournalLog *log, const char *x,
                              const ReportOptions *opt) {
    Buckets bs;
    buckets_collect(&bs, log, x, "runlayers", opt->samples);
    const char **tasks = xcalloc((size_t)bs.n + 1, sizeof(char *));
    int nt = bucket_tasks(&bs, tasks);
    if (nt) jb_puts(md, "### Completions\n\n");
    for (int t = 0; t < nt; t++) {
        task_heading(md, tasks[t]);
        jb_puts(md,
                "| configuration | prompt | completion | finish |\n| --- | --- | --- | --- |\n");
        for (int k = 0; k < bs.n; k++) {
            if (strcmp(bs.b[k].task, tasks[t])) continue;
            for (int r = 0; r < bs.b[k].n; r++) {
                const JournalEntry *e = &log->e[bs.b[k].idx[r]];
                size_t plen = 0, clen = 0;
                char *prompt = obj_str(&e->rec.doc, 0, "prompt", &plen);
                char *completion = obj_str(&e->rec.doc, 0, "completion", &clen);
                char *finish = str_field(e, "finish_reason");
                jb_puts(md, "| ");
                md_text(md, bs.b[k].label);
                jb_puts(md, " | ");
                md_escape(md, prompt ? prompt : "", plen, 60, 1);
                jb_puts(md, " | ");
                md_quoted(md, completion ? completion : "", clen, 100);
                jb_puts(md, " | ");
                md_text(md, finish ? finish : "");
                jb_puts(md, " |\n");
                free(prompt);
                free(completion);
                free(finish);
            }
        }
        jb_puts(md, "\n");
    }
    free(tasks);
    buckets_free(&bs);
}

// The tokens of a topk array field ("topk", "rose", "fell"): “token” value, ...
static void topk_tokens(JsonBuf *md, const JsonDoc *d, const char *key, const char *num,
                        const char *fmt, int max) {
    int arr = json_obj_get(d, 0, key);
    if (arr < 0 || json_type(d, arr) != JSMN_ARRAY) {
        jb_puts(md, "\xE2\x80\x94");
        return;
    }
    int n = json_size(d, arr);
    for (int k = 0; k < n && k < max; k++) {
        int el = json_arr_at(d, arr, k);
        size_t tl = 0;
        char *tok = json_type(d, el) == JSMN_OBJECT ? obj_str(d, el, "token", &tl) : NULL;
        double v;
        if (k) jb_puts(md, ", ");
        md_quoted(md, tok ? tok : "?", tl, 30);
        if (obj_double(d, el, num, &v)) jb_puts(md, " "), jb_printf(md, fmt, v);
        free(tok);
    }
}

static void write_topk(JsonBuf *md, const JournalLog *log, const char *x,
                       const ReportOptions *opt) {
    Buckets bs;
    buckets_collect(&bs, log, x, "topk", opt->topk_rows);
    const char **tasks = xcalloc((size_t)bs.n + 1, sizeof(char *));
    int nt = bucket_tasks(&bs, tasks);
    if (nt) jb_puts(md, "### Top next tokens\n\n");
    for (int t = 0; t < nt; t++) {
        task_heading(md, tasks[t]);
        jb_puts(
            md,
            "| configuration | prompt | top tokens (prob) | rose (Δ logprob) | fell (Δ logprob) | KL from intact | answer rank |\n"
            "| --- | --- | --- | --- | --- | ---: | ---: |\n");
        for (int k = 0; k < bs.n; k++) {
            if (strcmp(bs.b[k].task, tasks[t])) continue;
            for (int r = 0; r < bs.b[k].n; r++) {
                const JournalEntry *e = &log->e[bs.b[k].idx[r]];
                const JsonDoc *d = &e->rec.doc;
                size_t plen = 0;
                char *prompt = obj_str(d, 0, "prompt", &plen);
                double kl;
                long long rank, pos;
                jb_puts(md, "| ");
                md_text(md, bs.b[k].label);
                jb_puts(md, " | ");
                md_escape(md, prompt ? prompt : "", plen, 40, 1);
                if (record_int(&e->rec, "position", &pos, NULL, 0) == 1)
                    jb_printf(md, " (position %lld)", pos);
                jb_puts(md, " | ");
                topk_tokens(md, d, "topk", "prob", "%.3f", opt->top_tokens);
                jb_puts(md, " | ");
                topk_tokens(md, d, "rose", "delta_logprob", "%+.2f", 3);
                jb_puts(md, " | ");
                topk_tokens(md, d, "fell", "delta_logprob", "%+.2f", 3);
                jb_puts(md, " | ");
                if (record_double(&e->rec, "kl_from_intact", &kl, NULL, 0) == 1)
                    jb_printf(md, "%.4f", kl);
                else jb_puts(md, "\xE2\x80\x94");
                jb_puts(md, " | ");
                if (record_int(&e->rec, "answer_rank", &rank, NULL, 0) == 1)
                    jb_printf(md, "%lld", rank);
                else jb_puts(md, "\xE2\x80\x94");
                jb_puts(md, " |\n");
                free(prompt);
            }
        }
        jb_puts(md, "\n");
    }
    free(tasks);
    buckets_free(&bs);
}

// ----------------------------------------------------------------------------- activation patching

// The normalised effect of a patch sweep (`scoreloss --patch-sweep`) per (block, column)
// of one (experiment, task, hook), batch-normalised as the agent's notes have it
// (experiment/patchnorm.h): (mean patched − mean corrupted) / (mean clean − mean
// corrupted) of the metric over the examples that have the cell.  Columns are heads (the
// head sweep) or prompt positions counted from the end (-1: the last prompt token), so
// prompts of different lengths line up by their ends; they are labelled with the tokens
// of the longest prompt.
#define PATCH_MAX_LAYERS 4096
#define PATCH_MAX_WIDTH  2048

typedef struct {
    char *task, *hook;
    int heads;                       // the head sweep: columns are heads
    int use_ld;                      // the metric is the logit difference (else the answer loss)
    int width;                       // columns: the widest example's
    int rows;                        // blocks 0..rows-1 (only those seen are shown)
    char *seen;                      // (rows)
    PatchSums sums;                  // (rows, width)
    char **tokens;                   // (width) the widest example's clean token per column, or NULL
    char **ids;                      // (n_ids) examples seen
    int *id_width;                   // (n_ids)
    double *id_clean, *id_corrupt;   // (n_ids) each example's baselines (NaN: none yet)
    int n_ids, widest, n_degenerate;
    StrMap id_index;   // id -> its number in ids
} PatchGrid;

typedef struct {
    PatchGrid *g;
    int n;
    StrMap index;   // "task\0hook" -> its number in g
} PatchGrids;

static int record_small_int(const JournalEntry *e, const char *key, int max, int *out) {
    long long v;
    if (record_int(&e->rec, key, &v, NULL, 0) != 1 || v < 0 || v >= max) return 0;
    *out = (int)v;
    return 1;
}

static double num_field(const JournalEntry *e, const char *key) {
    double v;
    return record_double(&e->rec, key, &v, NULL, 0) == 1 ? v : NAN;
}

// A patch-sweep cell of experiment x: its task, hook, id, block and column.
static int patch_cell(const JournalEntry *e, const char *x, char **task, char **hook, char **id,
                      int *layer, int *col) {
    if (strcmp(e->kind, "result") || !str_field_is(e, "experiment", x) ||
        !str_field_is(e, "tool", "scoreloss") || record_has(&e->rec, "error") ||
        !record_has(&e->rec, "patch_effect"))
        return 0;
    *hook = str_field(e, "patch_hook");
    int ok = *hook && record_small_int(e, "layer", PATCH_MAX_LAYERS, layer) &&
             (record_small_int(e, "position", PATCH_MAX_WIDTH, col) ||
              record_small_int(e, "head", PATCH_MAX_WIDTH, col));
    if (!ok) {
        free(*hook);
        return 0;
    }
    *task = str_field(e, "task");
    if (!*task) *task = xstrdup("");
    *id = str_field(e, "id");
    if (!*id) *id = xstrdup("");
    return 1;
}

// The grid of (task, hook); `add`: a new one when there is none (else NULL).
static PatchGrid *grid_find(PatchGrids *gs, const char *task, const char *hook, int add) {
    size_t nt = strlen(task), nh = strlen(hook);
    char *key = xmalloc(nt + nh + 2);   // "task\0hook"
    memcpy(key, task, nt + 1);
    memcpy(key + nt + 1, hook, nh + 1);
    int added = 0, k = add ? strmap_intern(&gs->index, key, nt + 1 + nh, &added)
                           : strmap_find(&gs->index, key, nt + 1 + nh);
    free(key);
    if (added) {
        gs->g = xrealloc(gs->g, sizeof *gs->g * (size_t)(gs->n + 1));
        PatchGrid *g = &gs->g[gs->n++];
        memset(g, 0, sizeof *g);
        g->task = xstrdup(task);
        g->hook = xstrdup(hook);
        g->heads = !strcmp(hook, "head");
    }
    return k >= 0 ? &gs->g[k] : NULL;
}

static int grid_id(PatchGrid *g, const char *id) { return strmap_find_cstr(&g->id_index, id); }

// The cell's patched value of its metric (the field "patch_metric" names), or NaN.
static double cell_metric(const JournalEntry *e) {
    char *m = str_field(e, "patch_metric");
    double v = m && (!strcmp(m, "logit_diff") || !strcmp(m, "answer_loss")) ? num_field(e, m) : NAN;
    free(m);
    return v;
}

// The cell's baselines of the grid's metric.
static void cell_baselines(const JournalEntry *e, int use_ld, double *clean, double *corrupt) {
    *clean = num_field(e, use_ld ? "clean_logit_diff" : "clean_answer_loss");
    *corrupt = num_field(e, use_ld ? "corrupt_logit_diff" : "corrupt_answer_loss");
}

static void patch_grids_collect(PatchGrids *gs, const JournalLog *log, const char *x) {
    memset(gs, 0, sizeof *gs);
    char *task, *hook, *id;
    int layer, col;
    // Pass 1: the groups, their examples and each example's width and depth.
    for (int i = 0; i < log->n; i++) {
        const JournalEntry *e = &log->e[i];
        if (!patch_cell(e, x, &task, &hook, &id, &layer, &col)) continue;
        PatchGrid *g = grid_find(gs, task, hook, 1);
        int k = grid_id(g, id);
        if (k < 0) {
            g->ids = xrealloc(g->ids, sizeof(char *) * (size_t)(g->n_ids + 1));
            g->id_width = xrealloc(g->id_width, sizeof(int) * (size_t)(g->n_ids + 1));
            g->ids[g->n_ids] = xstrdup(id);
            g->id_width[g->n_ids] = 0;
            strmap_intern_cstr(&g->id_index, id, NULL);
            k = g->n_ids++;
        }
        if (col + 1 > g->id_width[k]) g->id_width[k] = col + 1;
        if (layer + 1 > g->rows) g->rows = layer + 1;
        g->use_ld |= isfinite(num_field(e, "clean_logit_diff")) &&
                     isfinite(num_field(e, "corrupt_logit_diff"));
        free(task), free(hook), free(id);
    }
    for (int k = 0; k < gs->n; k++) {
        PatchGrid *g = &gs->g[k];
        for (int i = 0; i < g->n_ids; i++)
            if (g->id_width[i] > g->width) g->width = g->id_width[i], g->widest = i;
        g->seen = xcalloc((size_t)g->rows, 1);
        patch_sums_init(&g->sums, g->rows, g->width);
        g->tokens = xcalloc((size_t)g->width, sizeof(char *));
        g->id_clean = xmalloc(sizeof(double) * (size_t)g->n_ids);
        g->id_corrupt = xmalloc(sizeof(double) * (size_t)g->n_ids);
        for (int i = 0; i < g->n_ids; i++) g->id_clean[i] = g->id_corrupt[i] = NAN;
    }
    // Pass 2: the sums, with the columns of every example aligned at the end.
    for (int i = 0; i < log->n; i++) {
        const JournalEntry *e = &log->e[i];
        if (!patch_cell(e, x, &task, &hook, &id, &layer, &col)) continue;
        PatchGrid *g = grid_find(gs, task, hook, 0);
        int k = grid_id(g, id), c = g->heads ? col : g->width - g->id_width[k] + col;
        double clean, corrupt;
        cell_baselines(e, g->use_ld, &clean, &corrupt);
        if (isnan(g->id_clean[k])) g->id_clean[k] = clean, g->id_corrupt[k] = corrupt;
        if (patch_sums_add(&g->sums, layer, c, cell_metric(e), clean, corrupt)) g->seen[layer] = 1;
        if (k == g->widest && !g->heads && !g->tokens[c]) g->tokens[c] = str_field(e, "token");
        free(task), free(hook), free(id);
    }
    // The pairs whose own clean and corrupted metrics are too close to normalise by.
    for (int k = 0; k < gs->n; k++) {
        PatchGrid *g = &gs->g[k];
        double clean = 0, corrupt = 0;
        int n = 0;
        for (int i = 0; i < g->n_ids; i++)
            if (isfinite(g->id_clean[i]) && isfinite(g->id_corrupt[i]))
                clean += g->id_clean[i], corrupt += g->id_corrupt[i], n++;
        for (int i = 0; i < g->n_ids && n; i++)
            g->n_degenerate +=
                patch_pair_degenerate(g->id_clean[i], g->id_corrupt[i], clean / n, corrupt / n);
    }
}

static void patch_grids_free(PatchGrids *gs) {
    for (int k = 0; k < gs->n; k++) {
        PatchGrid *g = &gs->g[k];
        for (int i = 0; i < g->n_ids; i++) free(g->ids[i]);
        for (int c = 0; c < g->width; c++) free(g->tokens[c]);
        free(g->ids), free(g->id_width), free(g->tokens), free(g->task), free(g->hook);
        free(g->id_clean), free(g->id_corrupt), free(g->seen);
        patch_sums_free(&g->sums);
        strmap_free(&g->id_index);
    }
    free(gs->g);
    strmap_free(&gs->index);
}

// Column c's label: "H3" (heads), else the position from the end and the longest prompt's
// token there: Markdown (-1 “ of”, at most max_chars of the token) or, for a plot's axis,
// plain text (-1 " of", the token cut to max_chars bytes, newlines as \n).
static char *column_label(const PatchGrid *g, int c, size_t max_chars, int plain) {
    if (g->heads) return xasprintf("H%d", c);
    if (!g->tokens[c]) return xasprintf("%d", c - g->width);
    if (plain) {
        char *t = agent_clip(g->tokens[c], max_chars),
             *label = xasprintf("%d \"%s\"", c - g->width, t);
        free(t);
        return label;
    }
    JsonBuf b = {0};
    jb_printf(&b, "%d ", c - g->width);
    md_quoted(&b, g->tokens[c], strlen(g->tokens[c]), max_chars);
    return b.buf;
}

static void write_patching(JsonBuf *md, const JournalLog *log, const char *x) {
    PatchGrids gs;
    patch_grids_collect(&gs, log, x);
    if (gs.n) jb_puts(md, "### Activation patching\n\n");
    for (int k = 0; k < gs.n; k++) {
        const PatchGrid *g = &gs.g[k];
        task_heading(md, g->task);
        jb_puts(md, "Normalised patch effect of patching `");
        md_text(md, g->hook);
        jb_printf(
            md,
            "` from the clean run into the corrupted one, per block and %s, over %d examples: (mean "
            "patched − mean corrupted) / (mean clean − mean corrupted) of the %s over the examples that "
            "have the cell (1: the clean behaviour restored, 0: unchanged). %d of %d pairs are degenerate "
            "(their clean and corrupted values less than %.0f%% of the mean difference apart).",
            g->heads ? "head (all positions)" : "position", g->n_ids,
            g->use_ld ? "logit difference" : "answer loss", g->n_degenerate, g->n_ids,
            100 * PATCH_DEGENERATE_FRACTION);
        if (!g->heads) {
            jb_puts(
                md,
                " Positions count from the end of the prompt (-1: its last token), so prompts of different "
                "lengths line up by their ends; tokens are example ");
            md_text(md, g->ids[g->widest]);
            jb_puts(md, "'s clean prompt (the longest).");
        }
        jb_puts(md, "\n\n| block |");
        for (int c = 0; c < g->width; c++) {
            char *label = column_label(g, c, 12, 0);
            jb_printf(md, " %s |", label);
            free(label);
        }
        jb_puts(md, "\n| ---: |");
        for (int c = 0; c < g->width; c++) jb_puts(md, " ---: |");
        jb_puts(md, "\n");
        for (int l = 0; l < g->rows; l++) {
            if (!g->seen[l]) continue;
            jb_printf(md, "| %d |", l);
            for (int c = 0; c < g->width; c++) {
                double v = patch_sums_effect(&g->sums, l, c);
                if (isnan(v)) jb_puts(md, " \xE2\x80\x94 |");
                else jb_printf(md, " %.2f |", fabs(v) < 0.005 ? 0.0 : v);   // never "-0.00"
            }
            jb_puts(md, "\n");
        }
        jb_puts(md, "\n");
    }
    patch_grids_free(&gs);
}

static void write_experiment(JsonBuf *md, const JournalLog *log, const char *x,
                             const ReportOptions *opt) {
    jb_puts(md, "## Experiment ");
    md_text(md, x);
    jb_puts(md, "\n\n");
    static const char *const tools[] = {"scoreloss", "runlayers", "topk", "judge"};
    int counts[4] = {0}, errors = 0, other = 0;
    char *first_error = NULL;
    for (int i = 0; i < log->n; i++) {
        const JournalEntry *e = &log->e[i];
        if (strcmp(e->kind, "result") || !str_field_is(e, "experiment", x)) continue;
        int known = 0;
        for (int t = 0; t < 4; t++)
            if (str_field_is(e, "tool", tools[t])) counts[t]++, known = 1;
        other += !known;
        if (record_has(&e->rec, "error")) {
            errors++;
            if (!first_error) first_error = str_field(e, "error");
        }
    }
    jb_puts(md, "Tool records:");
    for (int t = 0; t < 4; t++)
        if (counts[t]) jb_printf(md, " %d from %s;", counts[t], tools[t]);
    if (other) jb_printf(md, " %d from other tools;", other);
    if (md->buf[md->len - 1] == ';') md->len--;
    jb_puts(md, ".\n");
    if (errors) {
        jb_printf(md, "%d of them carry an error (left out below); the first: ", errors);
        md_text(md, first_error ? first_error : "(not a string)");
        jb_puts(md, "\n");
    }
    jb_puts(md, "\n");
    free(first_error);
    write_loss_tables(md, log, x);
    write_speaks(md, log, x);
    write_patching(md, log, x);
    write_completions(md, log, x, opt);
    write_topk(md, log, x, opt);
}

// ----------------------------------------------------------------------------- plots

// Scoreloss results of every experiment that has a label "PREFIX N", restricted to the
// labels "intact" and "PREFIX N", aggregated per (task, label).
static void summarize_sweep(Summary *s, const JournalLog *log, const ExperimentIndex *xi,
                            const char *prefix) {
    memset(s, 0, sizeof *s);
    StrMap *names = (StrMap *)&xi->names;   // looked up only (experiment_of with add = 0)
    char *use = xcalloc((size_t)names->n + 1, 1);
    for (int i = 0; i < log->n; i++) {
        const JournalEntry *e = &log->e[i];
        if (strcmp(e->kind, "result") || !str_field_is(e, "tool", "scoreloss")) continue;
        char *label = str_field(e, "label");
        int n, k;
        if (label && label_number(label, prefix, &n) && (k = experiment_of(names, e, 0)) >= 0)
            use[k] = 1;
        free(label);
    }
    char err[128];
    for (int i = 0; i < log->n; i++) {
        const JournalEntry *e = &log->e[i];
        if (strcmp(e->kind, "result") || !str_field_is(e, "tool", "scoreloss") ||
            record_has(&e->rec, "error") || record_has(&e->rec, "patch_effect"))
            continue;
        int k = experiment_of(names, e, 0), in = k >= 0 && use[k];
        char *label = str_field(e, "label");
        int n;
        if (in && label && (!strcmp(label, "intact") || label_number(label, prefix, &n)))
            summary_add(s, &e->rec, err, sizeof err);
        free(label);
    }
    free(use);
}

static int distinct_tasks(const Summary *s, const char **tasks) {
    int n = 0;
    for (int g = 0; g < s->n; g++) {
        int seen = 0;
        for (int t = 0; t < n; t++) seen |= !strcmp(tasks[t], s->g[g].task);
        if (!seen) tasks[n++] = s->g[g].task;
    }
    return n;
}

// Number of blocks in a raw layers array, or -1.
static int layers_count(const char *json) {
    if (!json) return -1;
    JsonDoc d;
    char err[64];
    int n = -1;
    if (json_parse(&d, json, strlen(json), err, sizeof err) == 0 && json_type(&d, 0) == JSMN_ARRAY)
        n = json_size(&d, 0);
    json_free(&d);
    return n;
}

typedef struct {
    const ReportOptions *opt;
    ReportStatus *st;
    JsonBuf *md;
    const ExperimentIndex *xi;
} PlotCtx;

static void plot_done(PlotCtx *c, int rc, const char *err, const char *file, const char *alt) {
    if (rc == PLOT_OK) {
        c->st->plots_drawn++;
        jb_printf(c->md, "![%s](%s%s)\n\n", alt, c->opt->plot_link ? c->opt->plot_link : "", file);
        return;
    }
    if (rc == PLOT_NO_GNUPLOT) {
        c->st->plots_skipped++;
        jb_printf(c->md, "*%s: not drawn, gnuplot is not installed (Debian: gnuplot-nox).*\n\n",
                  alt);
        return;
    }
    if (!c->st->plot_errors++) snprintf(c->st->plot_err, sizeof c->st->plot_err, "%s", err);
    jb_printf(c->md, "*%s: not drawn, the plot failed (see the report tool's messages).*\n\n", alt);
}

// Adds the point (x, y) to series p, whose points lie in xs/ys (room for one more), keeping
// them sorted by x (points of equal x in the order added).
static void series_add_sorted(PlotSeries *p, double *xs, double *ys, double x, double y) {
    int at = p->n;
    while (at > 0 && xs[at - 1] > x) {
        xs[at] = xs[at - 1];
        ys[at] = ys[at - 1];
        at--;
    }
    xs[at] = x;
    ys[at] = y;
    p->n++;
}

static void plot_drop_last(PlotCtx *c, const JournalLog *log) {
    Summary s;
    summarize_sweep(&s, log, c->xi, "first ");
    const char **tasks = xcalloc((size_t)s.n + 1, sizeof(char *));
    int nt = distinct_tasks(&s, tasks);
    if (nt) {
        PlotSeries *series = xcalloc((size_t)nt, sizeof(PlotSeries));
        double *xs = xcalloc((size_t)s.n, sizeof(double)),
               *ys = xcalloc((size_t)s.n, sizeof(double));
        int used = 0;
        for (int t = 0; t < nt; t++) {
            PlotSeries *p = &series[t];
            p->title = tasks[t];
            p->x = xs + used;
            p->y = ys + used;
            for (int g = 0; g < s.n; g++) {
                int n;
                if (strcmp(s.g[g].task, tasks[t])) continue;
                if (!label_number(s.g[g].label, "first ", &n)) n = layers_count(s.g[g].layers_json);
                if (n < 0) continue;
                series_add_sorted(p, xs + used, ys + used, n, summary_stats(&s, &s.g[g]).mean_loss);
            }
            used += p->n;
        }
        PlotSpec spec = {c->opt->gnuplot,
                         c->opt->plot_dir,
                         "loss_vs_layers",
                         "Answer loss against the number of blocks kept (drop-last)",
                         "blocks kept (the first n)",
                         "mean answer loss (nats)"};
        char err[256] = "";
        int rc = plot_lines(&spec, series, nt, err, sizeof err);
        plot_done(c, rc, err, "loss_vs_layers.svg",
                  "Answer loss against the number of blocks kept");
        free(series);
        free(xs);
        free(ys);
    }
    free(tasks);
    summary_free(&s);
}

static int drop_last_label(const char *label) {
    int n;
    return !strcmp(label, "intact") || label_number(label, "first ", &n);
}

// Per task, the yes-rate of each judged question against the number of blocks kept, from
// every judged record labelled "first n" (drop-last) or "intact": speaks_N.svg, N = 1, 2, ...
static void plot_speaks(PlotCtx *c, const JournalLog *log) {
    JudgeSummary s;
    judge_summarize(&s, log, NULL, drop_last_label);
    int any_first = 0, n;
    for (int g = 0; g < s.n; g++) any_first |= label_number(s.g[g].label, "first ", &n);
    const char **tasks = xcalloc((size_t)s.n + 1, sizeof(char *));
    int nt = 0;
    for (int g = 0; g < s.n && any_first; g++) {
        int seen = 0;
        for (int t = 0; t < nt; t++) seen |= !strcmp(tasks[t], s.g[g].task);
        if (!seen) tasks[nt++] = s.g[g].task;
    }
    for (int t = 0; t < nt; t++) {
        // One series per question of the task, points sorted by blocks kept.
        PlotSeries *series = xcalloc((size_t)s.n, sizeof(PlotSeries));
        double *xs = xcalloc((size_t)s.n, sizeof(double)),
               *ys = xcalloc((size_t)s.n, sizeof(double));
        int ns = 0, used = 0;
        for (int g0 = 0; g0 < s.n; g0++) {
            if (strcmp(s.g[g0].task, tasks[t])) continue;
            int first = 1;
            for (int k = 0; k < g0; k++)
                first &= strcmp(s.g[k].task, tasks[t]) || strcmp(s.g[k].question, s.g[g0].question);
            if (!first) continue;
            PlotSeries *p = &series[ns++];
            p->title = s.g[g0].question;
            p->x = xs + used;
            p->y = ys + used;
            for (int g = g0; g < s.n; g++) {
                if (strcmp(s.g[g].task, tasks[t]) || strcmp(s.g[g].question, s.g[g0].question))
                    continue;
                if (!label_number(s.g[g].label, "first ", &n)) n = layers_count(s.g[g].layers_json);
                if (n < 0) continue;
                series_add_sorted(p, xs + used, ys + used, n,
                                  judge_summary_stats(&s, &s.g[g]).yes_rate);
            }
            used += p->n;
        }
        char name[32], file[48], title[300], alt[300];
        snprintf(name, sizeof name, "speaks_%d", t + 1);
        snprintf(file, sizeof file, "%s.svg", name);
        snprintf(title, sizeof title,
                 "How it speaks: yes-rate against the number of blocks kept (drop-last), task %s",
                 tasks[t][0] ? tasks[t] : "(none)");
        snprintf(alt, sizeof alt,
                 "Yes-rate of the judges' questions against the number of blocks kept, task %s",
                 tasks[t][0] ? tasks[t] : "(none)");
        PlotSpec spec = {
            c->opt->gnuplot, c->opt->plot_dir, name, title, "blocks kept (the first n)",
            "yes-rate"};
        char err[256] = "";
        int rc = plot_lines(&spec, series, ns, err, sizeof err);
        plot_done(c, rc, err, file, alt);
        free(series);
        free(xs);
        free(ys);
    }
    free(tasks);
    judge_summary_free(&s);
}

static void plot_skip_one(PlotCtx *c, const JournalLog *log) {
    Summary s;
    summarize_sweep(&s, log, c->xi, "skip ");
    const char **tasks = xcalloc((size_t)s.n + 1, sizeof(char *));
    int nt = distinct_tasks(&s, tasks), nb = 0, n;
    for (int g = 0; g < s.n; g++)
        if (label_number(s.g[g].label, "skip ", &n) && n + 1 > nb) nb = n + 1;
    if (nt && nb) {
        double *z = xmalloc(sizeof(double) * (size_t)nt * (size_t)nb);
        for (int i = 0; i < nt * nb; i++) z[i] = NAN;
        for (int t = 0; t < nt; t++)
            for (int g = 0; g < s.n; g++) {
                if (strcmp(s.g[g].task, tasks[t]) || !label_number(s.g[g].label, "skip ", &n))
                    continue;
                SummaryStats st = summary_stats(&s, &s.g[g]);
                if (st.has_delta) z[(size_t)t * (size_t)nb + (size_t)n] = st.delta_loss;
            }
        PlotSpec spec = {c->opt->gnuplot,  c->opt->plot_dir,
                         "skip_one_delta", "Answer loss change when one block is skipped",
                         "block skipped",  "task"};
        char err[256] = "";
        int rc = plot_heatmap(&spec, "mean loss - intact (nats)", tasks, nt, NULL, nb, z, err,
                              sizeof err);
        plot_done(c, rc, err, "skip_one_delta.svg",
                  "Answer loss change when one block is skipped, per block and task");
        free(z);
    }
    free(tasks);
    summary_free(&s);
}

static char *block_label(int l) {
    char buf[32];
    snprintf(buf, sizeof buf, "block %d", l);
    return xstrdup(buf);
}

// A heatmap per patch sweep (experiment, task, hook): blocks (the last at the top) x
// positions or heads, the mean normalised effect.  Files patch_1.svg, patch_2.svg, ...
static void plot_patching(PlotCtx *c) {
    const char *const *names = (const char *const *)c->xi->names.key;
    int nx = c->xi->names.n, n_plot = 0;
    for (int x = 0; x < nx; x++) {
        PatchGrids gs;
        patch_grids_collect(&gs, &c->xi->logs[x], names[x]);
        for (int k = 0; k < gs.n; k++) {
            const PatchGrid *g = &gs.g[k];
            int ny = 0;
            for (int l = 0; l < g->rows; l++) ny += g->seen[l];
            if (!ny || !g->width) continue;
            char **labels = xcalloc((size_t)ny, sizeof(char *));
            double *z = xmalloc(sizeof(double) * (size_t)ny * (size_t)g->width);
            for (int l = g->rows - 1, r = 0; l >= 0; l--) {
                if (!g->seen[l]) continue;
                labels[r] = block_label(l);
                for (int col = 0; col < g->width; col++)
                    z[(size_t)r * g->width + col] = patch_sums_effect(&g->sums, l, col);
                r++;
            }
            char **xlabels = xcalloc((size_t)g->width, sizeof(char *));
            for (int col = 0; col < g->width; col++) xlabels[col] = column_label(g, col, 12, 1);
            char name[32], file[48], title[300], alt[300];
            snprintf(name, sizeof name, "patch_%d", ++n_plot);
            snprintf(file, sizeof file, "%s.svg", name);
            snprintf(title, sizeof title, "Activation patching (%s): %s, task %s", g->hook,
                     names[x], g->task[0] ? g->task : "(none)");
            snprintf(alt, sizeof alt, "Activation patching heatmap (%s), experiment %s, task %s",
                     g->hook, names[x], g->task[0] ? g->task : "(none)");
            PlotSpec spec = {
                c->opt->gnuplot,
                c->opt->plot_dir,
                name,
                title,
                g->heads ? "head"
                         : "position from the end of the prompt (token of the longest prompt)",
                "block"};
            char err[256] = "";
            int rc = plot_heatmap(&spec, "normalised patch effect", (const char *const *)labels, ny,
                                  (const char *const *)xlabels, g->width, z, err, sizeof err);
            plot_done(c, rc, err, file, alt);
            for (int r = 0; r < ny; r++) free(labels[r]);
            for (int col = 0; col < g->width; col++) free(xlabels[col]);
            free(labels);
            free(xlabels);
            free(z);
        }
        patch_grids_free(&gs);
    }
}

static void write_plots(JsonBuf *md, const JournalLog *log, const ExperimentIndex *xi,
                        const ReportOptions *opt, ReportStatus *st) {
    if (!opt->plot_dir) return;
    JsonBuf body = {0};
    PlotCtx c = {opt, st, &body, xi};
    int made_dir = mkdir_p(opt->plot_dir) == 0;
    if (!made_dir) {
        st->plot_errors++;
        snprintf(st->plot_err, sizeof st->plot_err, "cannot create the plot directory %s",
                 opt->plot_dir);
    } else {
        plot_drop_last(&c, log);
        plot_speaks(&c, log);
        plot_skip_one(&c, log);
        plot_patching(&c);
    }
    if (body.len) {
        jb_puts(md, "## Plots\n\n");
        jb_raw(md, body.buf, body.len);
    }
    jb_free(&body);
}

// ----------------------------------------------------------------------------- notes, results

static void write_notes(JsonBuf *md, const JournalLog *log) {
    int n;
    count_kind(log, "note", &n);
    if (!n) return;
    jb_puts(md, "## Notes\n\n");
    int k = 0;
    for (int i = 0; i < log->n; i++) {
        const JournalEntry *e = &log->e[i];
        if (strcmp(e->kind, "note")) continue;
        char *x = str_field(e, "experiment"), *task = str_field(e, "task");
        char *obs = str_field(e, "observation"), *hyp = str_field(e, "hypothesis");
        jb_printf(md, "%d. ", ++k);
        if (x || task) {
            jb_puts(md, "*(");
            if (x) jb_puts(md, "experiment "), md_text(md, x);
            if (x && task) jb_puts(md, ", ");
            if (task) jb_puts(md, "task "), md_text(md, task);
            jb_puts(md, ")* ");
        }
        md_prose(md, obs ? obs : "", 3);
        if (hyp) jb_puts(md, "\n   **Hypothesis:** "), md_prose(md, hyp, 3);
        jb_puts(md, "\n");
        free(x);
        free(task);
        free(obs);
        free(hyp);
    }
    jb_puts(md, "\n");
}

static void write_results(JsonBuf *md, const JournalLog *log) {
    const JournalEntry *last = NULL;
    for (int i = 0; i < log->n; i++)
        if (!strcmp(log->e[i].kind, "report")) last = &log->e[i];
    jb_puts(md, "## Results\n\n");
    char *text = last ? str_field(last, "markdown") : NULL;
    if (text) {
        // The planners open their section with this same heading: written once.
        const char *body = text;
        if (!strncmp(body, "## Results\n", 11))
            for (body += 11; *body == '\n'; body++) {}
        md_prose(md, body, 0);
        if (body[0] && body[strlen(body) - 1] != '\n') jb_puts(md, "\n");
    } else {
        jb_puts(md, "*The investigation has not finished: the journal has no report record.*\n");
    }
    free(text);
}

void report_render(const JournalLog *full, const ReportOptions *opt, JsonBuf *md,
                   ReportStatus *st) {
    memset(st, 0, sizeof *st);
    JournalLog latest;   // a resumed experiment's re-run results replace the earlier ones
    journal_latest_results(full, &latest);
    const JournalLog *log = &latest;
    write_header(md, full);   // counts the records as they are in the file
    write_tasks(md, log);
    ExperimentIndex xi;
    experiments_index(&xi, log);
    for (int k = 0; k < xi.names.n; k++) write_experiment(md, &xi.logs[k], xi.names.key[k], opt);
    write_plots(md, log, &xi, opt, st);
    experiments_free(&xi);
    write_notes(md, log);
    write_results(md, log);
    journal_view_free(&latest);
}
