// summary: per (task, configuration) statistics of scored records; see summary.h.
#include "experiment/summary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/tool.h"
#include "base/util.h"

static SummaryGroup *group_for(Summary *s, const char *task, const char *label) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->g[i].task, task) && !strcmp(s->g[i].label, label)) return &s->g[i];
    if (s->n == s->cap) s->g = xrealloc(s->g, sizeof(SummaryGroup) * (size_t)(s->cap = s->cap ? 2 * s->cap : 16));
    SummaryGroup *g = &s->g[s->n++];
    memset(g, 0, sizeof *g);
    g->task = xstrdup(task);
    g->label = xstrdup(label);
    return g;
}

int summary_add(Summary *s, const Record *r, char *err, size_t errlen) {
    double loss;
    int got = record_double(r, "answer_loss", &loss, err, errlen);
    if (got <= 0) return got == 0 ? fail(err, errlen, "missing \"answer_loss\" (run scoreloss first)") : -1;
    char *task = NULL, *label = NULL;
    record_string(r, "task", &task, NULL, NULL, 0);
    record_string(r, "label", &label, NULL, NULL, 0);
    SummaryGroup *g = group_for(s, task ? task : "", label ? label : "");
    int exact = 0;
    record_bool(r, "answer_exact", &exact, NULL, 0);
    int li = json_obj_get(&r->doc, 0, "layers");
    if (!g->layers_json && li >= 0) {
        size_t len;
        const char *raw = json_raw(&r->doc, li, &len);
        g->layers_json = xstrndup(raw, len);
    }
    g->n++;
    g->exact += exact;
    g->sum += loss;
    g->sumsq += loss * loss;
    free(task);
    free(label);
    return 0;
}

// The group of (task, "intact"), or NULL.
static const SummaryGroup *summary_intact(const Summary *s, const char *task) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->g[i].task, task) && !strcmp(s->g[i].label, "intact")) return &s->g[i];
    return NULL;
}

SummaryStats summary_stats(const Summary *s, const SummaryGroup *g) {
    SummaryStats st = {0};
    double mean = g->sum / (double)g->n;
    double var = g->n > 1 ? (g->sumsq - g->n * mean * mean) / (double)(g->n - 1) : 0;
    st.mean_loss = mean;
    st.stderr_loss = var > 0 ? sqrt(var / (double)g->n) : 0;
    st.exact_rate = (double)g->exact / (double)g->n;
    const SummaryGroup *ref = summary_intact(s, g->task);
    if (ref) {
        st.has_delta = 1;
        st.delta_loss = mean - ref->sum / (double)ref->n;
    }
    return st;
}

void summary_free(Summary *s) {
    for (int i = 0; i < s->n; i++) {
        free(s->g[i].task);
        free(s->g[i].label);
        free(s->g[i].layers_json);
    }
    free(s->g);
    memset(s, 0, sizeof *s);
}

// ----------------------------------------------------------------------------- scoreloss --summary

static int collect(void *ctx, Record *const *recs, int n, JsonBuf *lines) {
    int failed = 0;
    char err[256];
    for (int i = 0; i < n; i++)
        if (summary_add(ctx, recs[i], err, sizeof err) != 0) {
            record_error(lines, recs[i], err);
            failed++;
        }
    return failed;
}

static void write_group(JsonBuf *b, const Summary *s, const SummaryGroup *g) {
    SummaryStats st = summary_stats(s, g);
    jb_raw(b, "{", 1);
    jb_key(b, "task"), jb_cstr(b, g->task);
    jb_key(b, "label"), jb_cstr(b, g->label);
    jb_key(b, "layers"), jb_puts(b, g->layers_json ? g->layers_json : "null");
    jb_key(b, "n"), jb_int(b, g->n);
    jb_key(b, "mean_loss"), jb_double(b, st.mean_loss);
    jb_key(b, "stderr"), jb_double(b, st.stderr_loss);
    jb_key(b, "exact_rate"), jb_double(b, st.exact_rate);
    jb_key(b, "delta_loss");
    if (st.has_delta) jb_double(b, st.delta_loss);
    else jb_puts(b, "null");
    jb_raw(b, "}\n", 2);
}

int summary_run(FILE *in, FILE *out) {
    Summary s = {0};
    int status = tool_run(in, out, 64, collect, &s);
    JsonBuf b = {0};
    for (int i = 0; i < s.n; i++) write_group(&b, &s, &s.g[i]);
    if (lines_write(&b, out) != 0 || fflush(out) != 0 || ferror(out)) {
        weprintf("error writing output");
        status = EXIT_USAGE;
    }
    summary_free(&s);
    jb_free(&b);
    return status;
}
