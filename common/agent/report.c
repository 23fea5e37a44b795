// report: a journal as Markdown with SVG plots; see report.h.
#include "agent/report.h"
#include "agent/agent.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
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

// ----------------------------------------------------------------------------- the passes
//
// The report reads the journal in passes, one record at a time, and keeps only what its
// output needs: per experiment the aggregates of its tables (summary_add, judge_summary_add,
// patch sums), the rows it shows (rendered when their record goes by), and per journal the
// notes, the tasks and the last results section as text.  Memory follows the report, not
// the journal.
//   pass 1 (every record): the record counts, the identity of each result with an "id"
//          (two 64-bit hashes of journal_result_key) and where its last copy is — a
//          re-run result replaces the earlier ones, as journal_latest_results has it:
//          the replaced ones are marked in a bit set by ordinal, the identities freed —
//          and the experiments with "first N" / "skip N" scoreloss labels (the plots').
//   pass 2 (the latest records): everything but the patch sums.
//   pass 3 (the latest records; only when there are patch sweeps): the patch sums, now
//          that each grid's width and metric are known.
// Every aggregate is fed in file order, so its sums are those of the records in memory.

typedef struct {
    uint64_t h1, h2;
    int last;   // 1 + the ordinal of the key's last record; 0: an empty slot
} KeySlot;

typedef struct {
    KeySlot *slot;         // pass 1 only
    size_t cap, n;         // cap a power of two, n <= cap / 2
    unsigned char *gone;   // bit i: record i is replaced by a later one (gone_bytes)
    size_t gone_bytes;
} KeyIndex;

static void key_hash(const char *key, uint64_t *h1, uint64_t *h2) {
    uint64_t a = 14695981039346656037ull, b = 0x9E3779B97F4A7C15ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        a = (a ^ *p) * 1099511628211ull;
        b = (b ^ *p) * 0xff51afd7ed558ccdull;
        b ^= b >> 29;
    }
    *h1 = a;
    *h2 = b ^ (b >> 32);
}

// The slot of (h1, h2): its own or the empty one where it would go.
static KeySlot *key_slot(const KeyIndex *ki, uint64_t h1, uint64_t h2) {
    size_t i = (size_t)(h1 ^ (h2 >> 7)) & (ki->cap - 1);
    while (ki->slot[i].last && (ki->slot[i].h1 != h1 || ki->slot[i].h2 != h2))
        i = (i + 1) & (ki->cap - 1);
    return &ki->slot[i];
}

// Record `ordinal` has identity (h1, h2): the identity's earlier record, if any, is gone.
static void key_add(KeyIndex *ki, uint64_t h1, uint64_t h2, int ordinal) {
    if (2 * (ki->n + 1) > ki->cap) {
        KeyIndex big = *ki;
        big.cap = ki->cap ? 2 * ki->cap : 1024;
        big.slot = xcalloc(big.cap, sizeof(KeySlot));
        for (size_t i = 0; i < ki->cap; i++)
            if (ki->slot[i].last) *key_slot(&big, ki->slot[i].h1, ki->slot[i].h2) = ki->slot[i];
        free(ki->slot);
        *ki = big;
    }
    KeySlot *s = key_slot(ki, h1, h2);
    if (s->last) {
        size_t old = (size_t)s->last - 1;
        if (old / 8 >= ki->gone_bytes) {
            size_t want = 2 * (old / 8 + 1);
            ki->gone = xrealloc(ki->gone, want);
            memset(ki->gone + ki->gone_bytes, 0, want - ki->gone_bytes);
            ki->gone_bytes = want;
        }
        ki->gone[old / 8] |= (unsigned char)(1u << (old % 8));
    } else {
        ki->n++;
    }
    *s = (KeySlot){h1, h2, ordinal + 1};
}

// Pass 1: the identity of record `ordinal`, when it is a result with an "id".
static void key_index(KeyIndex *ki, const JournalEntry *e, int ordinal) {
    if (strcmp(e->kind, "result") || json_obj_get(&e->rec.doc, 0, "id") < 0) return;
    char *key = journal_result_key(e);
    uint64_t h1, h2;
    key_hash(key, &h1, &h2);
    free(key);
    key_add(ki, h1, h2, ordinal);
}

// After pass 1: only the bit set is needed.
static void key_index_done(KeyIndex *ki) {
    free(ki->slot);
    ki->slot = NULL;
    ki->cap = ki->n = 0;
}

// Is record `ordinal` replaced by a later one with its identity?
static int key_gone(const KeyIndex *ki, int ordinal) {
    size_t i = (size_t)ordinal;
    return i / 8 < ki->gone_bytes && (ki->gone[i / 8] >> (i % 8) & 1);
}

// ----------------------------------------------------------------------------- grouping

// Shown records of one experiment and tool, grouped by (task, label) in order of first
// appearance; each group keeps the Markdown rows of its first `cap` records.
typedef struct {
    char *task, *label;
    char **rows;   // (n)
    int n;
} Bucket;

typedef struct {
    Bucket *b;
    int n;
    StrMap index;   // "task\0label" -> bucket number
} Buckets;

typedef void (*RowWriter)(JsonBuf *md, const JournalEntry *e, const char *label,
                          const ReportOptions *opt);

static void buckets_add(Buckets *bs, const JournalEntry *e, int cap, RowWriter row,
                        const ReportOptions *opt) {
    char *task = str_field(e, "task"), *label = str_field(e, "label");
    const char *t = task ? task : "", *l = label ? label : "";
    size_t nt = strlen(t), nl = strlen(l);
    char *key = xmalloc(nt + nl + 2);
    memcpy(key, t, nt + 1);
    memcpy(key + nt + 1, l, nl + 1);
    int added = 0, k = strmap_intern(&bs->index, key, nt + 1 + nl, &added);
    free(key);
    if (added) {
        bs->b = xrealloc(bs->b, sizeof(Bucket) * (size_t)(bs->n + 1));
        bs->b[bs->n++] =
            (Bucket){xstrdup(t), xstrdup(l), xcalloc((size_t)cap + 1, sizeof(char *)), 0};
    }
    Bucket *b = &bs->b[k];
    if (b->n < cap) {
        JsonBuf r = {0};
        row(&r, e, b->label, opt);
        b->rows[b->n++] = r.buf ? r.buf : xstrdup("");
    }
    free(task);
    free(label);
}

static void buckets_free(Buckets *bs) {
    for (int k = 0; k < bs->n; k++) {
        for (int r = 0; r < bs->b[k].n; r++) free(bs->b[k].rows[r]);
        free(bs->b[k].task);
        free(bs->b[k].label);
        free(bs->b[k].rows);
    }
    free(bs->b);
    strmap_free(&bs->index);
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

// Each bucket's rows under its task's heading, after the table's head.
static void write_buckets(JsonBuf *md, const Buckets *bs, const char *title, const char *head) {
    const char **tasks = xcalloc((size_t)bs->n + 1, sizeof(char *));
    int nt = bucket_tasks(bs, tasks);
    if (nt) jb_puts(md, title);
    for (int t = 0; t < nt; t++) {
        task_heading(md, tasks[t]);
        jb_puts(md, head);
        for (int k = 0; k < bs->n; k++) {
            if (strcmp(bs->b[k].task, tasks[t])) continue;
            for (int r = 0; r < bs->b[k].n; r++) jb_puts(md, bs->b[k].rows[r]);
        }
        jb_puts(md, "\n");
    }
    free(tasks);
}

// ----------------------------------------------------------------------------- header, tasks

// The title, model and goal of the first "meta" record.
static void write_header_meta(JsonBuf *md, const JournalEntry *meta) {
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
}

// The journal's size (n records, counts[k] of journal_kinds[k]) and its unreadable lines.
static void write_header_counts(JsonBuf *md, int n, const int *counts, const JournalLog *info) {
    jb_printf(md, "- **Journal**: %d records", n);
    for (int k = 0, shown = 0; journal_kinds[k]; k++) {
        if (counts[k]) jb_printf(md, "%s%d %s", shown++ ? ", " : " (", counts[k], journal_kinds[k]);
        if (!journal_kinds[k + 1] && shown) jb_puts(md, ")");
    }
    jb_puts(md, "\n");
    if (info->n_issues) {
        jb_printf(md, "- **Warning**: %d unreadable line%s skipped (", info->n_issues,
                  info->n_issues > 1 ? "s" : "");
        for (int k = 0; k < info->n_issues && k < 5; k++)
            jb_printf(md, "%sline %ld%s", k ? ", " : "", info->issues[k].lineno,
                      info->issues[k].torn ? ", torn" : "");
        jb_puts(md, info->n_issues > 5 ? ", …); `journal check` lists them\n"
                                       : "); `journal check` lists them\n");
    }
    jb_puts(md, "\n");
}

static void task_row(JsonBuf *md, const JournalEntry *e) {
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

// ----------------------------------------------------------------------------- notes, results

// Note number k (1, 2, ...) as a list item.
static void note_item(JsonBuf *md, const JournalEntry *e, int k) {
    char *x = str_field(e, "experiment"), *task = str_field(e, "task");
    char *obs = str_field(e, "observation"), *hyp = str_field(e, "hypothesis");
    jb_printf(md, "%d. ", k);
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

// The results section: text, the "markdown" of the last report record (NULL: none, or not
// a string).
static void write_results(JsonBuf *md, const char *text) {
    jb_puts(md, "## Results\n\n");
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
}

// ----------------------------------------------------------------------------- experiments

static void write_loss_tables(JsonBuf *md, const Summary *s) {
    if (s->n == 0) return;
    jb_puts(md, "### Answer loss\n\n");
    for (int g0 = 0; g0 < s->n; g0++) {
        int first = 1;
        for (int k = 0; k < g0; k++) first &= strcmp(s->g[k].task, s->g[g0].task) != 0;
        if (!first) continue;
        task_heading(md, s->g[g0].task);
        jb_puts(md,
                "| configuration | layers | n | mean loss ± stderr | Δ vs intact | exact match |\n"
                "| --- | --- | ---: | ---: | ---: | ---: |\n");
        for (int g = g0; g < s->n; g++) {
            if (strcmp(s->g[g].task, s->g[g0].task)) continue;
            SummaryStats st = summary_stats(s, &s->g[g]);
            char layers[256];
            layers_text(s->g[g].layers_json, layers, sizeof layers);
            jb_puts(md, "| ");
            md_text(md, s->g[g].label);
            jb_puts(md, " | ");
            md_text(md, layers);
            jb_printf(md, " | %ld | %.4f ± %.4f | ", s->g[g].n, st.mean_loss, st.stderr_loss);
            if (st.has_delta) jb_printf(md, "%+.4f", st.delta_loss);
            else jb_puts(md, "\xE2\x80\x94");
            jb_printf(md, " | %.2f |\n", st.exact_rate);
        }
        jb_puts(md, "\n");
    }
}

// Is e a judged result (`judge`) that the speaks tables count?
static int judged(const JournalEntry *e) {
    return !record_has(&e->rec, "error") && record_has(&e->rec, "judgements");
}

// ### How it speaks: per task, the yes-rate of each question per configuration.
static void write_speaks(JsonBuf *md, const JudgeSummary *s) {
    if (s->n)
        jb_puts(
            md,
            "### How it speaks\n\nVerdicts of `judge` on the completions: the yes-rate of each question "
            "(± standard error), against the intact model.\n\n");
    for (int g0 = 0; g0 < s->n; g0++) {
        int first = 1;
        for (int k = 0; k < g0; k++) first &= strcmp(s->g[k].task, s->g[g0].task) != 0;
        if (!first) continue;
        task_heading(md, s->g[g0].task);
        jb_puts(
            md,
            "| configuration | question | judge | n | yes-rate ± stderr | Δ vs intact | yes / no / unsure |\n"
            "| --- | --- | --- | ---: | ---: | ---: | --- |\n");
        for (int g = g0; g < s->n; g++) {
            if (strcmp(s->g[g].task, s->g[g0].task)) continue;
            JudgeStats st = judge_summary_stats(s, &s->g[g]);
            jb_puts(md, "| ");
            md_text(md, s->g[g].label);
            jb_puts(md, " | ");
            md_text(md, s->g[g].question);
            jb_puts(md, " | ");
            md_text(md, s->g[g].judge ? s->g[g].judge : "");
            jb_printf(md, " | %ld | %.2f ± %.2f | ", s->g[g].n, st.yes_rate, st.stderr_rate);
            if (st.has_delta) jb_printf(md, "%+.2f", st.delta);
            else jb_puts(md, "\xE2\x80\x94");
            jb_printf(md, " | %ld / %ld / %ld |\n", s->g[g].yes, s->g[g].no, s->g[g].unsure);
        }
        jb_puts(md, "\n");
    }
}

// A row of the completions table: a runlayers (or judge) record.
static void completion_row(JsonBuf *md, const JournalEntry *e, const char *label,
                           const ReportOptions *opt) {
    (void)opt;
    size_t plen = 0, clen = 0;
    char *prompt = obj_str(&e->rec.doc, 0, "prompt", &plen);
    char *completion = obj_str(&e->rec.doc, 0, "completion", &clen);
    char *finish = str_field(e, "finish_reason");
    jb_puts(md, "| ");
    md_text(md, label);
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

// A row of the top-tokens table: a topk record.
static void topk_row(JsonBuf *md, const JournalEntry *e, const char *label,
                     const ReportOptions *opt) {
    const JsonDoc *d = &e->rec.doc;
    size_t plen = 0;
    char *prompt = obj_str(d, 0, "prompt", &plen);
    double kl;
    long long rank, pos;
    jb_puts(md, "| ");
    md_text(md, label);
    jb_puts(md, " | ");
    md_escape(md, prompt ? prompt : "", plen, 40, 1);
    if (record_int(&e->rec, "position", &pos, NULL, 0) == 1) jb_printf(md, " (position %lld)", pos);
    jb_puts(md, " | ");
    topk_tokens(md, d, "topk", "prob", "%.3f", opt->top_tokens);
    jb_puts(md, " | ");
    topk_tokens(md, d, "rose", "delta_logprob", "%+.2f", 3);
    jb_puts(md, " | ");
    topk_tokens(md, d, "fell", "delta_logprob", "%+.2f", 3);
    jb_puts(md, " | ");
    if (record_double(&e->rec, "kl_from_intact", &kl, NULL, 0) == 1) jb_printf(md, "%.4f", kl);
    else jb_puts(md, "\xE2\x80\x94");
    jb_puts(md, " | ");
    if (record_int(&e->rec, "answer_rank", &rank, NULL, 0) == 1) jb_printf(md, "%lld", rank);
    else jb_puts(md, "\xE2\x80\x94");
    jb_puts(md, " |\n");
    free(prompt);
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

// Grid statistics from a patch-sweep cell (pass 2): the groups, their examples and each
// example's width and depth.
static void patch_grids_scan(PatchGrids *gs, const JournalEntry *e, const char *x) {
    char *task, *hook, *id;
    int layer, col;
    if (!patch_cell(e, x, &task, &hook, &id, &layer, &col)) return;
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
    g->use_ld |=
        isfinite(num_field(e, "clean_logit_diff")) && isfinite(num_field(e, "corrupt_logit_diff"));
    free(task), free(hook), free(id);
}

// After pass 2: each grid's width and its empty sums.
static void patch_grids_prepare(PatchGrids *gs) {
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
}

// Pass 3: a cell's sums, with the columns of every example aligned at the end.
static void patch_grids_add(PatchGrids *gs, const JournalEntry *e, const char *x) {
    char *task, *hook, *id;
    int layer, col;
    if (!patch_cell(e, x, &task, &hook, &id, &layer, &col)) return;
    PatchGrid *g = grid_find(gs, task, hook, 0);
    int k = grid_id(g, id), c = g->heads ? col : g->width - g->id_width[k] + col;
    double clean, corrupt;
    cell_baselines(e, g->use_ld, &clean, &corrupt);
    if (isnan(g->id_clean[k])) g->id_clean[k] = clean, g->id_corrupt[k] = corrupt;
    if (patch_sums_add(&g->sums, layer, c, cell_metric(e), clean, corrupt)) g->seen[layer] = 1;
    if (k == g->widest && !g->heads && !g->tokens[c]) g->tokens[c] = str_field(e, "token");
    free(task), free(hook), free(id);
}

// After pass 3: the pairs whose own clean and corrupted metrics are too close to
// normalise by.
static void patch_grids_finish(PatchGrids *gs) {
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

static void write_patching(JsonBuf *md, const PatchGrids *gs) {
    if (gs->n) jb_puts(md, "### Activation patching\n\n");
    for (int k = 0; k < gs->n; k++) {
        const PatchGrid *g = &gs->g[k];
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
}

// What the report keeps of one experiment: the counts of its results, the aggregates of
// its tables and the rows it shows.
static const char *const exp_tools[] = {"scoreloss", "runlayers", "topk", "judge"};

typedef struct {
    int counts[4], other, errors;
    char *first_error;     // the first error's text (NULL: none yet, or not a string)
    Summary loss;          // scoreloss results, as `scoreloss --summary`
    JudgeSummary speaks;   // judged results, as `judge --summary`
    PatchGrids grids;      // patch-sweep results
    Buckets completions;   // runlayers and judge results: the first opt->samples rows
    Buckets topk;          // topk results: the first opt->topk_rows rows
} Experiment;

static void experiment_add(Experiment *x, const JournalEntry *e, const char *name,
                           const ReportOptions *opt) {
    char err[128];
    int known = 0, error = record_has(&e->rec, "error");
    char *tool = str_field(e, "tool");
    for (int t = 0; t < 4; t++)
        if (tool && !strcmp(tool, exp_tools[t])) x->counts[t]++, known = 1;
    x->other += !known;
    x->errors += error;
    if (error && !x->first_error) x->first_error = str_field(e, "error");
    if (tool && !error) {
        if (!strcmp(tool, "scoreloss") && !record_has(&e->rec, "patch_effect"))
            summary_add(&x->loss, &e->rec, err, sizeof err);
        // judge's records are runlayers records with verdicts: they show as completions too
        if (!strcmp(tool, "runlayers") || !strcmp(tool, "judge"))
            buckets_add(&x->completions, e, opt->samples, completion_row, opt);
        if (!strcmp(tool, "topk")) buckets_add(&x->topk, e, opt->topk_rows, topk_row, opt);
    }
    if (judged(e)) judge_summary_add(&x->speaks, &e->rec, err, sizeof err);
    patch_grids_scan(&x->grids, e, name);
    free(tool);
}

static void experiment_free(Experiment *x) {
    free(x->first_error);
    summary_free(&x->loss);
    judge_summary_free(&x->speaks);
    patch_grids_free(&x->grids);
    buckets_free(&x->completions);
    buckets_free(&x->topk);
}

static void write_experiment(JsonBuf *md, const Experiment *x, const char *name) {
    jb_puts(md, "## Experiment ");
    md_text(md, name);
    jb_puts(md, "\n\n");
    jb_puts(md, "Tool records:");
    for (int t = 0; t < 4; t++)
        if (x->counts[t]) jb_printf(md, " %d from %s;", x->counts[t], exp_tools[t]);
    if (x->other) jb_printf(md, " %d from other tools;", x->other);
    if (md->buf[md->len - 1] == ';') md->len--;
    jb_puts(md, ".\n");
    if (x->errors) {
        jb_printf(md, "%d of them carry an error (left out below); the first: ", x->errors);
        md_text(md, x->first_error ? x->first_error : "(not a string)");
        jb_puts(md, "\n");
    }
    jb_puts(md, "\n");
    write_loss_tables(md, &x->loss);
    write_speaks(md, &x->speaks);
    write_patching(md, &x->grids);
    write_buckets(md, &x->completions, "### Completions\n\n",
                  "| configuration | prompt | completion | finish |\n| --- | --- | --- | --- |\n");
    write_buckets(
        md, &x->topk, "### Top next tokens\n\n",
        "| configuration | prompt | top tokens (prob) | rose (Δ logprob) | fell (Δ logprob) | KL from intact | answer rank |\n"
        "| --- | --- | --- | --- | --- | ---: | ---: |\n");
}

// ----------------------------------------------------------------------------- the report's state

typedef struct {
    const ReportOptions *opt;
    int pass;      // 1, 2, 3 (see "the passes")
    int ordinal;   // the records seen in this pass
    int n;         // the records of pass 1: later passes read no further (the journal may grow)
    // pass 1
    int *counts;           // per journal_kinds
    KeyIndex keys;         // results' identities; the records re-runs replace
    StrMap sweep_use[2];   // experiments with a scoreloss label "first N" / "skip N"
    // pass 2
    JsonBuf head;   // title, model and goal (from the first meta record)
    int have_meta;
    JsonBuf tasks, notes;   // their rows / items
    int n_tasks, n_notes;
    char *results;   // the last report record's "markdown"
    StrMap names;    // experiments, in order of first appearance among the results
    Experiment *x;   // (names.n)
    int x_cap;
    Summary sweep[2];      // the plots' loss per "first N" / "skip N" label (and intact)
    JudgeSummary judged;   // the plots' judged records labelled "first N" or intact
    int any_grid;
} Rep;

// "intact" or "first N": a drop-last configuration.
static int drop_last_label(const char *label) {
    int n;
    return !strcmp(label, "intact") || label_number(label, "first ", &n);
}

static const char *const sweep_prefix[2] = {"first ", "skip "};

static void rep_index(Rep *r, const JournalEntry *e) {
    for (int k = 0; journal_kinds[k]; k++) r->counts[k] += !strcmp(e->kind, journal_kinds[k]);
    key_index(&r->keys, e, r->ordinal);
    if (strcmp(e->kind, "result") || !str_field_is(e, "tool", "scoreloss")) return;
    char *label = str_field(e, "label"), *x = str_field(e, "experiment");
    int n;
    for (int s = 0; s < 2; s++)
        if (x && label && label_number(label, sweep_prefix[s], &n))
            strmap_intern_cstr(&r->sweep_use[s], x, NULL);
    free(label);
    free(x);
}

// A result for the plots: the sweeps' losses and the judged records of every experiment.
static void rep_plots_add(Rep *r, const JournalEntry *e, const char *x) {
    char err[128];
    char *label = str_field(e, "label");
    int n;
    if (judged(e) && label && drop_last_label(label))
        judge_summary_add(&r->judged, &e->rec, err, sizeof err);
    if (str_field_is(e, "tool", "scoreloss") && !record_has(&e->rec, "error") &&
        !record_has(&e->rec, "patch_effect") && label)
        for (int s = 0; s < 2; s++)
            if (strmap_find_cstr(&r->sweep_use[s], x) >= 0 &&
                (!strcmp(label, "intact") || label_number(label, sweep_prefix[s], &n)))
                summary_add(&r->sweep[s], &e->rec, err, sizeof err);
    free(label);
}

static void rep_add(Rep *r, const JournalEntry *e) {
    if (!strcmp(e->kind, "meta") && !r->have_meta) {
        write_header_meta(&r->head, e);
        r->have_meta = 1;
    } else if (!strcmp(e->kind, "task")) {
        task_row(&r->tasks, e);
        r->n_tasks++;
    } else if (!strcmp(e->kind, "note")) {
        note_item(&r->notes, e, ++r->n_notes);
    } else if (!strcmp(e->kind, "report")) {
        free(r->results);
        r->results = str_field(e, "markdown");
    }
    if (strcmp(e->kind, "result")) return;
    char *name = str_field(e, "experiment");
    if (!name) return;
    int added = 0, k = strmap_intern_cstr(&r->names, name, &added);
    if (added) {
        if (k == r->x_cap)
            r->x = xrealloc(r->x, sizeof *r->x * (size_t)(r->x_cap = r->x_cap ? 2 * r->x_cap : 16));
        memset(&r->x[k], 0, sizeof r->x[k]);
    }
    experiment_add(&r->x[k], e, name, r->opt);
    rep_plots_add(r, e, name);
    free(name);
}

static void rep_patch(Rep *r, const JournalEntry *e) {
    if (strcmp(e->kind, "result")) return;
    char *name = str_field(e, "experiment");
    int k = name ? strmap_find_cstr(&r->names, name) : -1;
    if (k >= 0) patch_grids_add(&r->x[k].grids, e, name);
    free(name);
}

// The visitor of every pass: ctx is the Rep.
static int rep_visit(void *ctx, const JournalEntry *e) {
    Rep *r = ctx;
    if (r->pass == 1) {
        rep_index(r, e);
        r->ordinal++;
        return 0;
    }
    if (r->ordinal >= r->n) return 1;   // appended since pass 1
    if (!key_gone(&r->keys, r->ordinal)) {
        if (r->pass == 2) rep_add(r, e);
        else rep_patch(r, e);
    }
    r->ordinal++;
    return 0;
}

// Start pass p (1, 2, 3) over the same records.
static void rep_pass(Rep *r, int p) {
    if (p == 2) r->n = r->ordinal, key_index_done(&r->keys);
    if (p == 3)
        for (int k = 0; k < r->names.n; k++) {
            patch_grids_prepare(&r->x[k].grids);
            r->any_grid |= r->x[k].grids.n > 0;
        }
    r->pass = p;
    r->ordinal = 0;
}

static void rep_free(Rep *r) {
    free(r->counts);
    free(r->keys.slot);
    free(r->keys.gone);
    for (int s = 0; s < 2; s++) strmap_free(&r->sweep_use[s]), summary_free(&r->sweep[s]);
    jb_free(&r->head);
    jb_free(&r->tasks);
    jb_free(&r->notes);
    free(r->results);
    for (int k = 0; k < r->names.n; k++) experiment_free(&r->x[k]);
    free(r->x);
    strmap_free(&r->names);
    judge_summary_free(&r->judged);
}

// ----------------------------------------------------------------------------- plots

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
    const Rep *r;
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

static void plot_drop_last(PlotCtx *c) {
    const Summary s = c->r->sweep[0];
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
}

// Per task, the yes-rate of each judged question against the number of blocks kept, from
// every judged record labelled "first n" (drop-last) or "intact": speaks_N.svg, N = 1, 2, ...
static void plot_speaks(PlotCtx *c) {
    const JudgeSummary s = c->r->judged;
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
}

static void plot_skip_one(PlotCtx *c) {
    const Summary s = c->r->sweep[1];
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
}

static char *block_label(int l) {
    char buf[32];
    snprintf(buf, sizeof buf, "block %d", l);
    return xstrdup(buf);
}

// A heatmap per patch sweep (experiment, task, hook): blocks (the last at the top) x
// positions or heads, the mean normalised effect.  Files patch_1.svg, patch_2.svg, ...
static void plot_patching(PlotCtx *c) {
    const char *const *names = (const char *const *)c->r->names.key;
    int nx = c->r->names.n, n_plot = 0;
    for (int x = 0; x < nx; x++) {
        const PatchGrids *gs = &c->r->x[x].grids;
        for (int k = 0; k < gs->n; k++) {
            const PatchGrid *g = &gs->g[k];
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
    }
}

static void write_plots(JsonBuf *md, const Rep *r, const ReportOptions *opt, ReportStatus *st) {
    if (!opt->plot_dir) return;
    JsonBuf body = {0};
    PlotCtx c = {opt, st, &body, r};
    int made_dir = mkdir_p(opt->plot_dir) == 0;
    if (!made_dir) {
        st->plot_errors++;
        snprintf(st->plot_err, sizeof st->plot_err, "cannot create the plot directory %s",
                 opt->plot_dir);
    } else {
        plot_drop_last(&c);
        plot_speaks(&c);
        plot_skip_one(&c);
        plot_patching(&c);
    }
    if (body.len) {
        jb_puts(md, "## Plots\n\n");
        jb_raw(md, body.buf, body.len);
    }
    jb_free(&body);
}

// ----------------------------------------------------------------------------- rendering

static void rep_write(Rep *r, const JournalLog *info, const ReportOptions *opt, JsonBuf *md,
                      ReportStatus *st) {
    for (int k = 0; k < r->names.n; k++) patch_grids_finish(&r->x[k].grids);
    if (r->have_meta) jb_raw(md, r->head.buf, r->head.len);
    else write_header_meta(md, NULL);
    write_header_counts(md, r->n, r->counts, info);   // the records as they are in the file
    if (r->n_tasks) {
        jb_puts(md, "## Tasks\n\n| task | examples | description |\n| --- | ---: | --- |\n");
        jb_raw(md, r->tasks.buf, r->tasks.len);
        jb_puts(md, "\n");
    }
    for (int k = 0; k < r->names.n; k++) write_experiment(md, &r->x[k], r->names.key[k]);
    write_plots(md, r, opt, st);
    if (r->n_notes) {
        jb_puts(md, "## Notes\n\n");
        jb_raw(md, r->notes.buf, r->notes.len);
        jb_puts(md, "\n");
    }
    write_results(md, r->results);
}

static void rep_init(Rep *r, const ReportOptions *opt) {
    memset(r, 0, sizeof *r);
    r->opt = opt;
    r->pass = 1;
    int n = 0;
    while (journal_kinds[n]) n++;
    r->counts = xcalloc((size_t)n, sizeof(int));
}

void report_render(const JournalLog *log, const ReportOptions *opt, JsonBuf *md, ReportStatus *st) {
    memset(st, 0, sizeof *st);
    Rep r;
    rep_init(&r, opt);
    for (int p = 1; p <= 3; p++) {
        if (p > 1) rep_pass(&r, p);
        if (p == 3 && !r.any_grid) break;
        for (int i = 0; i < log->n && !rep_visit(&r, &log->e[i]); i++) {}
    }
    rep_write(&r, log, opt, md, st);
    rep_free(&r);
}

int report_render_file(const char *path, JournalLog *info, const ReportOptions *opt, JsonBuf *md,
                       ReportStatus *st, char *err, size_t errlen) {
    memset(st, 0, sizeof *st);
    Rep r;
    rep_init(&r, opt);
    int rc = journal_scan(info, path, rep_visit, &r, err, errlen);
    for (int p = 2; p <= 3 && rc == 0; p++) {
        rep_pass(&r, p);
        if (p == 3 && !r.any_grid) break;
        JournalLog again;
        rc = journal_scan(&again, path, rep_visit, &r, err, errlen);
        journal_log_free(&again);
    }
    if (rc == 0) rep_write(&r, info, opt, md, st);
    rep_free(&r);
    return rc;
}
