// summary: per (task, configuration) statistics of scored records; see summary.h.
#include "experiment/summary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/tool.h"
#include "base/util.h"

// The key of group (task, label) in s->index: the two C strings joined by a NUL byte.
static char *group_key(const char *task, const char *label, size_t *len) {
    size_t nt = strlen(task), nl = strlen(label);
    char *k = xmalloc(nt + nl + 2);
    memcpy(k, task, nt + 1);
    memcpy(k + nt + 1, label, nl + 1);
    *len = nt + 1 + nl;
    return k;
}

static const SummaryGroup *group_find(const Summary *s, const char *task, const char *label) {
    size_t len;
    char *k = group_key(task, label, &len);
    int i = strmap_find(&s->index, k, len);
    free(k);
    return i >= 0 ? &s->g[i] : NULL;
}

static SummaryGroup *group_for(Summary *s, const char *task, const char *label) {
    size_t len;
    char *k = group_key(task, label, &len);
    int added, i = strmap_intern(&s->index, k, len, &added);
    free(k);
    if (!added) return &s->g[i];
    if (s->n == s->cap)
        s->g = xrealloc(s->g, sizeof(SummaryGroup) * (size_t)(s->cap = s->cap ? 2 * s->cap : 16));
    SummaryGroup *g = &s->g[s->n++];
    memset(g, 0, sizeof *g);
    g->task = xstrdup(task);
    g->label = xstrdup(label);
    return g;
}

// The fields summary_add reads besides answer_loss, type-checked like every tool's input.
static int read_fields(const Record *r, char **task, char **label, int *exact, char *err,
                       size_t errlen) {
    int *layers = NULL, n_layers;
    int ok = record_string(r, "task", task, NULL, err, errlen) >= 0 &&
             record_string(r, "label", label, NULL, err, errlen) >= 0 &&
             record_bool(r, "answer_exact", exact, err, errlen) >= 0 &&
             record_int_array(r, "layers", &layers, &n_layers, err, errlen) >= 0;
    free(layers);
    return ok ? 0 : -1;
}

int summary_add(Summary *s, const Record *r, char *err, size_t errlen) {
    double loss;
    int got = record_double(r, "answer_loss", &loss, err, errlen);
    if (got <= 0)
        return got == 0 ? fail(err, errlen, "missing \"answer_loss\" (run scoreloss first)") : -1;
    char *task = NULL, *label = NULL;
    int exact = 0;
    if (read_fields(r, &task, &label, &exact, err, errlen) != 0) {
        free(task);
        free(label);
        return -1;
    }
    SummaryGroup *g = group_for(s, task ? task : "", label ? label : "");
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
    return group_find(s, task, "intact");
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
    strmap_free(&s->index);
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
