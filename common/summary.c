// summary: per (task, configuration) statistics of scored records; see summary.h.
#include "summary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"
#include "util.h"

typedef struct {
    char *task, *label, *layers_json;   // layers_json: raw JSON text of the first record's "layers"
    long n, exact;
    double sum, sumsq;
} Group;

typedef struct {
    Group *g;
    int n, cap;
} Groups;

static Group *group_for(Groups *gs, const char *task, const char *label) {
    for (int i = 0; i < gs->n; i++)
        if (!strcmp(gs->g[i].task, task) && !strcmp(gs->g[i].label, label)) return &gs->g[i];
    if (gs->n == gs->cap) gs->g = xrealloc(gs->g, sizeof(Group) * (size_t)(gs->cap = gs->cap ? 2 * gs->cap : 16));
    Group *g = &gs->g[gs->n++];
    memset(g, 0, sizeof *g);
    g->task = xstrdup(task);
    g->label = xstrdup(label);
    return g;
}

static int add_record(Groups *gs, const Record *r, JsonBuf *lines) {
    char err[256];
    double loss;
    int got = record_double(r, "answer_loss", &loss, err, sizeof err);
    if (got <= 0) {
        record_error(lines, r, got == 0 ? "missing \"answer_loss\" (run scoreloss first)" : err);
        return 1;
    }
    char *task = NULL, *label = NULL;
    record_string(r, "task", &task, NULL, NULL, 0);
    record_string(r, "label", &label, NULL, NULL, 0);
    Group *g = group_for(gs, task ? task : "", label ? label : "");
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

static int collect(void *ctx, Record *const *recs, int n, JsonBuf *lines) {
    int failed = 0;
    for (int i = 0; i < n; i++) failed += add_record(ctx, recs[i], lines);
    return failed;
}

static const Group *intact_of(const Groups *gs, const char *task) {
    for (int i = 0; i < gs->n; i++)
        if (!strcmp(gs->g[i].task, task) && !strcmp(gs->g[i].label, "intact")) return &gs->g[i];
    return NULL;
}

static void write_group(JsonBuf *b, const Groups *gs, const Group *g) {
    double mean = g->sum / (double)g->n;
    double var = g->n > 1 ? (g->sumsq - g->n * mean * mean) / (double)(g->n - 1) : 0;
    const Group *ref = intact_of(gs, g->task);
    jb_raw(b, "{", 1);
    jb_key(b, "task"), jb_cstr(b, g->task);
    jb_key(b, "label"), jb_cstr(b, g->label);
    jb_key(b, "layers"), jb_puts(b, g->layers_json ? g->layers_json : "null");
    jb_key(b, "n"), jb_int(b, g->n);
    jb_key(b, "mean_loss"), jb_double(b, mean);
    jb_key(b, "stderr"), jb_double(b, var > 0 ? sqrt(var / (double)g->n) : 0);
    jb_key(b, "exact_rate"), jb_double(b, (double)g->exact / (double)g->n);
    jb_key(b, "delta_loss");
    if (ref) jb_double(b, mean - ref->sum / (double)ref->n);
    else jb_puts(b, "null");
    jb_raw(b, "}\n", 2);
}

int summary_run(FILE *in, FILE *out) {
    Groups gs = {0};
    int status = tool_run(in, out, 64, collect, &gs);
    JsonBuf b = {0};
    for (int i = 0; i < gs.n; i++) write_group(&b, &gs, &gs.g[i]);
    if (lines_write(&b, out) != 0 || fflush(out) != 0) status = EXIT_USAGE;
    for (int i = 0; i < gs.n; i++) {
        free(gs.g[i].task);
        free(gs.g[i].label);
        free(gs.g[i].layers_json);
    }
    free(gs.g);
    jb_free(&b);
    return status;
}
