// agent: the investigation as the journal records it (journal records -> state) and the
// queries on it; agent_config.c: configurations of methods and from JSON; agent_action.c: actions.
#include "agent/agent.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "experiment/interp.h"
#include "experiment/patchnorm.h"
#include "experiment/tasks.h"

const char *const agent_tool_names[AGENT_N_TOOLS] = {"scoreloss", "runlayers", "topk"};

// ----------------------------------------------------------------------------- text

char *agent_clip(const char *s, size_t max) {
    JsonBuf b = {0};
    size_t n = strlen(s), i = 0;
    for (; i < n && b.len < max; i++) {
        if (s[i] == '\n') jb_raw(&b, "\\n", 2);
        else if (s[i] == '\t') jb_raw(&b, "\\t", 2);
        else if (s[i] == '\r') jb_raw(&b, "\\r", 2);
        else jb_raw(&b, &s[i], 1);
    }
    if (i < n) {
        while (b.len > 0 && ((unsigned char)b.buf[b.len - 1] & 0xC0) == 0x80)
            b.len--;   // continuation bytes
        if (b.len > 0 && ((unsigned char)b.buf[b.len - 1] & 0xC0) == 0xC0)
            b.len--;   // a cut lead byte
        jb_raw(&b, "...", 3);
    }
    jb_raw(&b, "", 0);   // allocates for an empty s; the text is NUL-terminated
    return b.buf;
}

// ----------------------------------------------------------------------------- state

static void row_fields_free(AgentRow *r) {
    free(r->error);
    free(r->completion);
    free(r->judgements);
    free(r->token);
    for (int k = 0; k < r->n_top; k++) free(r->top[k]);
}

static void rows_free(AgentRows *rs) {
    for (int i = 0; i < rs->n; i++) row_fields_free(&rs->row[i]);
    free(rs->row);
    memset(rs, 0, sizeof *rs);
}

void agent_experiment_rows_clear(AgentExperiment *e) {
    for (int i = 0; i < e->patch.n; i++) {
        free(e->patch.row[i].token);
        free(e->patch.row[i].error);
    }
    free(e->patch.row);
    memset(&e->patch, 0, sizeof e->patch);
    for (int t = 0; t < AGENT_N_TOOLS; t++) rows_free(&e->rows[t]);
}

static void experiment_free(AgentExperiment *e);

void agent_experiment_reset(AgentExperiment *e, int n_layer) {
    char *name = e->name;
    int attempts = e->attempts;
    e->name = NULL;
    experiment_free(e);
    memset(e, 0, sizeof *e);
    e->name = name;
    e->attempts = attempts;
    e->task = xstrdup("");
    configs_add_intact(&e->configs, n_layer);
    e->examples = 1;
}

static void experiment_free(AgentExperiment *e) {
    free(e->name);
    free(e->task);
    free(e->planner);
    free(e->hypothesis);
    free(e->sweeps);
    free(e->method);
    free(e->method_arg);
    agent_experiment_rows_clear(e);
    configs_free(&e->configs);
    for (int i = 0; i < e->n_ex; i++) {
        free(e->ex[i].id);
        free(e->ex[i].prompt);
        free(e->ex[i].answer);
    }
    free(e->ex);
}

void agent_state_free(AgentState *s) {
    free(s->model_name);
    free(s->model_json);
    free(s->goal);
    for (int i = 0; i < s->n_exp; i++) experiment_free(&s->exp[i]);
    free(s->exp);
    for (int i = 0; i < s->n_note; i++) {
        free(s->note[i].experiment);
        free(s->note[i].task);
        free(s->note[i].observation);
        free(s->note[i].hypothesis);
    }
    free(s->note);
    for (int i = 0; i < s->n_task_recorded; i++) free(s->task_recorded[i]);
    free(s->task_recorded);
    free(s->queued);
    free(s->report);
    free(s->last_experiment);
    agent_state_file_free(s->file);
    memset(s, 0, sizeof *s);
}

AgentExperiment *agent_experiment_find(const AgentState *s, const char *name) {
    for (int i = s->n_exp - 1; i >= 0; i--)
        if (!strcmp(s->exp[i].name, name)) return &s->exp[i];
    return NULL;
}

static char *field_str(const Record *r, const char *key) {
    char *v = NULL;
    if (record_string(r, key, &v, NULL, NULL, 0) != 1) return NULL;
    return v;
}

static int read_meta(AgentState *s, const Record *r, char *err, size_t errlen) {
    int m = json_obj_get(&r->doc, 0, "model");
    if (m < 0 || json_type(&r->doc, m) != JSMN_OBJECT)
        return fail(err, errlen, "line %ld: the meta record has no \"model\" object", r->lineno);
    int nt = json_obj_get(&r->doc, m, "name"), lt = json_obj_get(&r->doc, m, "n_layer");
    long long L;
    if (lt < 0 || json_int(&r->doc, lt, &L) != 0 || L < 1 || L > 1000)
        return fail(err, errlen, "line %ld: meta \"model\" needs an integer \"n_layer\" in 1..1000",
                    r->lineno);
    char *name = NULL;
    if (nt < 0 || json_str(&r->doc, nt, &name, NULL) != 0) name = xstrdup("(unnamed model)");
    size_t len;
    const char *raw = json_raw(&r->doc, m, &len);
    s->model_name = name;
    s->n_layer = (int)L;
    long long H;
    int ht = json_obj_get(&r->doc, m, "n_head");
    s->n_head = ht >= 0 && json_int(&r->doc, ht, &H) == 0 && H >= 1 && H <= 10000 ? (int)H : 0;
    long long V;
    int vt = json_obj_get(&r->doc, m, "vocab");
    s->vocab = vt >= 0 && json_int(&r->doc, vt, &V) == 0 && V >= 2 && V <= 100000000 ? (int)V : 0;
    s->model_json = xstrndup(raw, len);
    s->goal = field_str(r, "goal");
    return 0;
}

// The configurations of an experiment action, as journalled (already validated when
// written; a bad one makes the action unusable).
static int read_configs(const Record *r, int n_layer, ConfigList *out) {
    char err[256];
    int arr = json_obj_get(&r->doc, 0, "configurations");
    int labels = json_obj_get(&r->doc, 0, "labels");
    if (arr < 0 || json_type(&r->doc, arr) != JSMN_ARRAY) return -1;
    return agent_configs_parse(&r->doc, arr, labels, n_layer, out, err, sizeof err);
}

// The action's "sweeps" array as one space-separated string, or NULL.
static char *read_sweeps(const Record *r) {
    int arr = json_obj_get(&r->doc, 0, "sweeps");
    if (arr < 0 || json_type(&r->doc, arr) != JSMN_ARRAY || json_size(&r->doc, arr) == 0)
        return NULL;
    JsonBuf b = {0};
    for (int k = 0, t = arr + 1; k < json_size(&r->doc, arr); k++, t = json_skip(&r->doc, t)) {
        char *name = NULL;
        size_t len;
        if (json_str(&r->doc, t, &name, &len) != 0 || len == 0 || strlen(name) != len ||
            strchr(name, ' ')) {
            free(name);
            jb_free(&b);
            return NULL;
        }
        if (b.len) jb_raw(&b, " ", 1);
        jb_raw(&b, name, len);
        free(name);
    }
    return b.buf;
}

static void read_experiment_action(AgentState *s, const Record *r, long long step) {
    char *name = field_str(r, "name");
    if (!name) return;
    int resume = 0, after_interruption = 0;
    record_bool(r, "resume", &resume, NULL, 0);
    record_bool(r, "after_interruption", &after_interruption, NULL, 0);
    free(s->last_experiment);
    s->last_experiment = xstrdup(name);
    AgentExperiment *old = agent_experiment_find(s, name);
    if (old) {   // a re-run (or a repeated name): the same experiment, once more
        // ... unless it takes the place of a run that was cut off (agent_forced_action)
        if (resume && after_interruption) s->n_after_interruption++;
        else old->attempts++;
        free(name);
        return;
    }
    AgentExperiment e = {0};
    e.name = name;
    e.task = field_str(r, "task");
    e.method = field_str(r, "method");
    e.sweeps = read_sweeps(r);
    if (e.method)
        e.method_arg = !strcmp(e.method, AGENT_METHOD_PATCHING) ? field_str(r, "patch_hook")
                       : e.sweeps                               ? xstrdup(e.sweeps)
                                                                : NULL;
    char msg[160];
    int bad_configs = e.method ? agent_method_configs(e.method, e.method_arg, s->n_layer, s->n_head,
                                                      &e.configs, msg, sizeof msg)
                               : read_configs(r, s->n_layer, &e.configs);
    long long n = 0;
    if (!e.task || bad_configs != 0 || record_int(r, "examples", &n, NULL, 0) != 1 || n < 1 ||
        n > AGENT_MAX_EXAMPLES) {
        experiment_free(&e);
        return;
    }
    long long samples = AGENT_SAMPLES;
    record_int(r, "samples", &samples, NULL, 0);
    e.examples = (int)n;
    e.samples = (int)(samples < 0 ? 0 : samples < n ? samples : n);
    e.step = (int)step;
    e.attempts = 1;
    e.planner = field_str(r, "planner");
    e.hypothesis = field_str(r, "hypothesis");
    record_bool(r, "judge", &e.judge, NULL, 0);
    s->exp = xrealloc(s->exp, sizeof *s->exp * (size_t)(s->n_exp + 1));
    s->exp[s->n_exp++] = e;
}

static void read_action(AgentState *s, const Record *r) {
    long long step = 0;
    record_int(r, "step", &step, NULL, 0);
    s->n_actions++;
    free(s->last_experiment);   // set again below when this action is an experiment
    s->last_experiment = NULL;
    if (step > s->last_step && step < 1000000000) s->last_step = (int)step;
    free(s->queued);
    s->queued = NULL;
    int q = json_obj_get(&r->doc, 0, "queued");
    if (q >= 0 && json_type(&r->doc, q) == JSMN_ARRAY && json_size(&r->doc, q) > 0) {
        size_t len;
        const char *raw = json_raw(&r->doc, q, &len);
        s->queued = xstrndup(raw, len);
    }
    char *type = field_str(r, "type");
    if (type && !strcmp(type, "experiment")) read_experiment_action(s, r, step);
    free(type);
}

static void read_note(AgentState *s, const Record *r) {
    AgentNote n = {0};
    n.observation = field_str(r, "observation");
    if (!n.observation) return;
    n.experiment = field_str(r, "experiment");
    n.task = field_str(r, "task");
    n.hypothesis = field_str(r, "hypothesis");
    s->note = xrealloc(s->note, sizeof *s->note * (size_t)(s->n_note + 1));
    s->note[s->n_note++] = n;
}

static int example_index(AgentExperiment *e, const Record *r) {
    char *id = field_str(r, "id");
    if (!id) {
        char buf[48];
        snprintf(buf, sizeof buf, "line %ld", r->lineno);
        id = xstrdup(buf);
    }
    for (int i = 0; i < e->n_ex; i++)
        if (!strcmp(e->ex[i].id, id)) {
            free(id);
            if (!e->ex[i].prompt) e->ex[i].prompt = field_str(r, "prompt");
            if (!e->ex[i].answer) e->ex[i].answer = field_str(r, "answer");
            return i;
        }
    e->ex = xrealloc(e->ex, sizeof *e->ex * (size_t)(e->n_ex + 1));
    e->ex[e->n_ex] = (AgentExample){id, field_str(r, "prompt"), field_str(r, "answer")};
    return e->n_ex++;
}

static int config_index(const AgentExperiment *e, const int *idx, int n, const Record *r) {
    if (e->method &&
        !strcmp(e->method, AGENT_METHOD_ABLATION)) {   // the variants share their layers
        char *label = field_str(r, "label");
        int found = -1;
        for (int k = 0; label && k < e->configs.n && found < 0; k++)
            if (!strcmp(e->configs.cfg[k].label, label)) found = k;
        free(label);
        return found;
    }
    for (int k = 0; k < e->configs.n; k++) {
        const LayerConfig *c = &e->configs.cfg[k];
        if (c->n == n && (n == 0 || !memcmp(c->idx, idx, sizeof(int) * (size_t)n))) return k;
    }
    return -1;
}

static void row_read_topk(AgentRow *w, const Record *r) {
    w->token = field_str(r, "token");
    int arr = json_obj_get(&r->doc, 0, "topk");
    if (arr >= 0 && json_type(&r->doc, arr) == JSMN_ARRAY) {
        int n = json_size(&r->doc, arr);
        for (int k = 0, t = arr + 1; k < n; k++, t = json_skip(&r->doc, t)) {
            if (w->n_top == AGENT_TOP_K || json_type(&r->doc, t) != JSMN_OBJECT) continue;
            int tt = json_obj_get(&r->doc, t, "token"), pt = json_obj_get(&r->doc, t, "prob");
            char *tok = NULL;
            double p = 0;
            if (tt < 0 || json_str(&r->doc, tt, &tok, NULL) != 0) continue;
            if (pt >= 0) json_double(&r->doc, pt, &p);
            w->top[w->n_top] = tok;
            w->top_prob[w->n_top++] = p;
        }
    }
    long long pos = -1;
    record_int(r, "position", &pos, NULL, 0);
    w->position = pos >= 0 && pos < 1000000000 ? (int)pos : -1;
    if (record_int(r, "answer_rank", &w->answer_rank, NULL, 0) != 1) w->answer_rank = -1;
    if (record_double(r, "kl_from_intact", &w->kl, NULL, 0) != 1) w->kl = -1;
}

// Insert w into rs, replacing a row of the same (example, configuration, position).
static void rows_put(AgentRows *rs, AgentRow *w) {
    for (int i = 0; i < rs->n; i++) {
        AgentRow *o = &rs->row[i];
        if (o->ex == w->ex && o->cfg == w->cfg && o->position == w->position) {
            row_fields_free(o);   // the later record wins
            *o = *w;
            return;
        }
    }
    if (rs->n == rs->cap)
        rs->row =
            xrealloc(rs->row, sizeof *rs->row * (size_t)(rs->cap = rs->cap ? 2 * rs->cap : 16));
    rs->row[rs->n++] = *w;
}

// Fill w's fields from r, a record of tool t.
static void row_fill(AgentRow *w, const Record *r, int t) {
    w->error = field_str(r, "error");
    w->position = -1;
    w->answer_rank = -1;
    w->kl = -1;
    w->lineno = r->lineno;
    if (t == AGENT_TOOL_SCORELOSS) {
        if (record_double(r, "answer_loss", &w->loss, NULL, 0) != 1 || !isfinite(w->loss)) {
            if (!w->error) w->error = xstrdup("no answer_loss");
        }
        record_bool(r, "answer_exact", &w->exact, NULL, 0);
    } else if (t == AGENT_TOOL_RUNLAYERS) {
        w->completion = field_str(r, "completion");
        if (!w->completion && !w->error) w->error = xstrdup("no completion");
        int jt = json_obj_get(&r->doc, 0, "judgements");
        if (jt >= 0 && json_type(&r->doc, jt) == JSMN_ARRAY) {
            size_t len;
            const char *raw = json_raw(&r->doc, jt, &len);
            w->judgements = xstrndup(raw, len);
        }
    } else {
        row_read_topk(w, r);
    }
}

static double field_double(const Record *r, const char *key) {
    double v;
    return record_double(r, key, &v, NULL, 0) == 1 ? v : NAN;
}

// A patch-sweep cell (or an error record standing for its whole example).
static void read_patch_row(AgentExperiment *e, const Record *r) {
    AgentPatchRow w = {.ex = example_index(e, r), .layer = -1, .col = -1, .lineno = r->lineno};
    w.error = field_str(r, "error");
    long long layer, col, cells = 0;
    int is_head = record_int(r, "head", &col, NULL, 0) == 1;
    int has_col = is_head || record_int(r, "position", &col, NULL, 0) == 1;
    if (!w.error) {
        if (record_int(r, "layer", &layer, NULL, 0) != 1 || !has_col || layer < 0 ||
            layer >= 100000 || col < 0 || col >= 100000) {
            e->n_stray++;
            free(w.error);
            return;
        }
        w.layer = (int)layer;
        w.col = (int)col;
        w.is_head = is_head;
        w.effect = field_double(r, "patch_effect");
        char *metric =
            field_str(r, "patch_metric");   // the name of the field holding the patched value
        w.metric = metric && (!strcmp(metric, "logit_diff") || !strcmp(metric, "answer_loss"))
                       ? field_double(r, metric)
                       : NAN;
        free(metric);
        w.clean_ld = field_double(r, "clean_logit_diff");
        w.corrupt_ld = field_double(r, "corrupt_logit_diff");
        w.clean_loss = field_double(r, "clean_answer_loss");
        w.corrupt_loss = field_double(r, "corrupt_answer_loss");
        record_int(r, "patch_cells", &cells, NULL, 0);
        w.cells = cells > 0 && cells < 100000000 ? (int)cells : 0;
        w.token = field_str(r, "token");
        char *ct = field_str(r, "corrupt_token");
        w.changed = w.token && ct && strcmp(w.token, ct);
        free(ct);
    }
    AgentPatchRows *rs = &e->patch;
    for (int i = 0; i < rs->n; i++) {
        AgentPatchRow *o = &rs->row[i];
        if (o->ex == w.ex && o->layer == w.layer && o->col == w.col && o->is_head == w.is_head) {
            free(o->token);
            free(o->error);
            *o = w;   // the later record wins
            return;
        }
    }
    if (rs->n == rs->cap)
        rs->row =
            xrealloc(rs->row, sizeof *rs->row * (size_t)(rs->cap = rs->cap ? 2 * rs->cap : 64));
    rs->row[rs->n++] = w;
}

static void read_result(AgentState *s, const Record *r) {
    char *name = field_str(r, "experiment"), *tool = field_str(r, "tool");
    AgentExperiment *e = name ? agent_experiment_find(s, name) : NULL;
    int t = -1;
    for (int k = 0; tool && k < AGENT_N_TOOLS; k++)
        if (!strcmp(tool, agent_tool_names[k])) t = k;
    if (tool && !strcmp(tool, "judge"))
        t = AGENT_TOOL_RUNLAYERS;   // runlayers records with verdicts
    free(name);
    free(tool);
    if (!e || t < 0) {
        s->n_stray++;
        return;
    }
    agent_experiment_load(e);   // a result for a finished experiment read from the state file
    if (e->method && !strcmp(e->method, AGENT_METHOD_PATCHING)) {
        if (t == AGENT_TOOL_SCORELOSS) read_patch_row(e, r);
        else e->n_stray++;
        return;
    }
    int *idx = NULL, n = 0;
    int got = record_int_array(r, "layers", &idx, &n, NULL, 0);
    int ex = example_index(e, r);
    if (got != 1) {
        // No configuration: an error record for the whole example (e.g. a prompt too long
        // for the context) stands for every configuration of it.
        if (record_has(r, "error")) {
            for (int k = 0; k < e->configs.n; k++) {
                AgentRow w = {.ex = ex, .cfg = k};
                row_fill(&w, r, t);
                rows_put(&e->rows[t], &w);
            }
        } else {
            e->n_stray++;
        }
        free(idx);
        return;
    }
    int cfg = config_index(e, idx, n, r);
    free(idx);
    if (cfg < 0) {
        e->n_stray++;
        return;
    }
    AgentRow w = {.ex = ex, .cfg = cfg};
    row_fill(&w, r, t);
    rows_put(&e->rows[t], &w);
}

static void read_task(AgentState *s, const Record *r) {
    char *task = field_str(r, "task");
    if (!task) return;
    s->task_recorded =
        xrealloc(s->task_recorded, sizeof(char *) * (size_t)(s->n_task_recorded + 1));
    s->task_recorded[s->n_task_recorded++] = task;
}

int agent_state_begin(AgentState *s, const Record *meta, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    return read_meta(s, meta, err, errlen);
}

void agent_state_add(AgentState *s, const JournalEntry *e) {
    const Record *r = &e->rec;
    if (!strcmp(e->kind, "action")) read_action(s, r);
    else if (!strcmp(e->kind, "result")) read_result(s, r);
    else if (!strcmp(e->kind, "note")) read_note(s, r);
    else if (!strcmp(e->kind, "task")) read_task(s, r);
    else if (!strcmp(e->kind, "llm")) s->n_llm++;
    else if (!strcmp(e->kind, "report")) {
        char *md = field_str(r, "markdown");
        if (md) {
            free(s->report);
            s->report = md;
        }
    }
}

int agent_state_build(AgentState *s, const JournalLog *log, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    int meta = -1;
    for (int i = 0; i < log->n && meta < 0; i++)
        if (!strcmp(log->e[i].kind, "meta")) meta = i;
    if (meta < 0) return fail(err, errlen, "the journal has no meta record (the model studied)");
    if (agent_state_begin(s, &log->e[meta].rec, err, errlen) != 0) return -1;
    s->n_issues = log->n_issues;
    for (int i = 0; i < log->n; i++) agent_state_add(s, &log->e[i]);
    return 0;
}

// ----------------------------------------------------------------------------- queries

int agent_experiment_intact(const AgentExperiment *e, int n_layer) {
    agent_experiment_load(e);
    for (int k = 0; k < e->configs.n; k++)
        if (layers_is_intact(e->configs.cfg[k].idx, e->configs.cfg[k].n, n_layer)) return k;
    return -1;
}

const AgentRow *agent_row_find(const AgentExperiment *e, int t, int ex, int cfg) {
    agent_experiment_load(e);
    const AgentRow *best = NULL;
    for (int i = 0; i < e->rows[t].n; i++) {
        const AgentRow *r = &e->rows[t].row[i];
        if (r->ex == ex && r->cfg == cfg && (!best || r->position > best->position)) best = r;
    }
    return best;
}

// Patching: examples with an error record, or with every cell of their grid.
static int patch_examples_covered(const AgentExperiment *e) {
    int covered = 0;
    for (int x = 0; x < e->n_ex; x++) {
        int cells = 0, have = 0, error = 0;
        for (int i = 0; i < e->patch.n; i++) {
            const AgentPatchRow *r = &e->patch.row[i];
            if (r->ex != x) continue;
            if (r->error) error = 1;
            else have++, cells = r->cells > cells ? r->cells : cells;
        }
        covered += error || (have > 0 && have >= cells);
    }
    return covered;
}

// Examples that have a row of tool t for every configuration.
static int examples_covered(const AgentExperiment *e, int t) {
    if (e->method && !strcmp(e->method, AGENT_METHOD_PATCHING))
        return t == AGENT_TOOL_SCORELOSS ? patch_examples_covered(e) : 0;
    int covered = 0;
    for (int x = 0; x < e->n_ex; x++) {
        int all = 1;
        for (int k = 0; k < e->configs.n && all; k++) all = agent_row_find(e, t, x, k) != NULL;
        covered += all;
    }
    return covered;
}

int agent_experiment_complete(const AgentExperiment *e, int need[AGENT_N_TOOLS]) {
    if (e->lazy) {   // rows not read: nothing changed them since the state file was saved
        if (need) memcpy(need, e->lazy_need, sizeof e->lazy_need);
        return e->lazy_complete;
    }
    int want[AGENT_N_TOOLS] = {e->examples, e->samples, e->samples};
    int complete = 1;
    for (int t = 0; t < AGENT_N_TOOLS; t++) {
        int missing = examples_covered(e, t) < want[t];
        if (need) need[t] = missing;
        if (missing) complete = 0;
    }
    return complete;
}

int agent_experiment_noted(const AgentState *s, const AgentExperiment *e) {
    for (int i = 0; i < s->n_note; i++)
        if (s->note[i].experiment && !strcmp(s->note[i].experiment, e->name)) return 1;
    return 0;
}

static void stats_raw(const AgentExperiment *e, int cfg, AgentStats *st) {
    agent_experiment_load(e);
    double sum = 0, sumsq = 0;
    int exact = 0;
    memset(st, 0, sizeof *st);
    for (int i = 0; i < e->rows[AGENT_TOOL_SCORELOSS].n; i++) {
        const AgentRow *r = &e->rows[AGENT_TOOL_SCORELOSS].row[i];
        if (r->cfg != cfg) continue;
        if (r->error) {
            st->n_error++;
            continue;
        }
        st->n++;
        sum += r->loss;
        sumsq += r->loss * r->loss;
        exact += r->exact;
    }
    if (st->n == 0) return;
    st->mean = sum / st->n;
    double var = st->n > 1 ? (sumsq - st->n * st->mean * st->mean) / (st->n - 1) : 0;
    st->sem = var > 0 ? sqrt(var / st->n) : 0;
    st->exact_rate = (double)exact / st->n;
}

AgentStats agent_config_stats(const AgentExperiment *e, int cfg, int n_layer) {
    AgentStats st, ref;
    stats_raw(e, cfg, &st);
    int ik = agent_experiment_intact(e, n_layer);
    if (ik >= 0 && st.n > 0) {
        stats_raw(e, ik, &ref);
        if (ref.n > 0) {
            st.has_delta = 1;
            st.delta = st.mean - ref.mean;
        }
    }
    return st;
}

void agent_experiment_speaks(const AgentExperiment *e, JudgeSummary *out) {
    memset(out, 0, sizeof *out);
    agent_experiment_load(e);
    const AgentRows *rs = &e->rows[AGENT_TOOL_RUNLAYERS];
    char err[160];
    for (int i = 0; i < rs->n; i++) {
        const AgentRow *r = &rs->row[i];
        if (r->error || !r->judgements) continue;
        JsonBuf layers = {0};
        jb_int_array(&layers, e->configs.cfg[r->cfg].idx, e->configs.cfg[r->cfg].n);
        judge_summary_add_json(out, e->task, e->configs.cfg[r->cfg].label, layers.buf,
                               r->judgements, strlen(r->judgements), err, sizeof err);
        jb_free(&layers);
    }
}

static int label_starts(const char *label, const char *prefix) {
    return !strncmp(label, prefix, strlen(prefix));
}

AgentKind agent_experiment_kind(const AgentExperiment *e) {
    agent_experiment_load(e);
    if (e->method)
        return !strcmp(e->method, AGENT_METHOD_PATCHING) ? AGENT_KIND_PATCHING
                                                         : AGENT_KIND_ABLATION;
    static const struct {
        const char *prefix;
        AgentKind kind;
    } kinds[] = {
        {"first ", AGENT_KIND_DROP_LAST}, {"last ", AGENT_KIND_DROP_FIRST},
        {"skip ", AGENT_KIND_SKIP_ONE},   {"repeat ", AGENT_KIND_REPEAT},
        {"swap ", AGENT_KIND_SWAP},       {"reversed", AGENT_KIND_PERMUTE},
        {"shuffle ", AGENT_KIND_PERMUTE},
    };
    AgentKind kind = AGENT_KIND_OTHER;
    int seen = 0;
    for (int k = 0; k < e->configs.n; k++) {
        const char *label = e->configs.cfg[k].label;
        if (!strcmp(label, "intact")) continue;
        AgentKind this = AGENT_KIND_OTHER;
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (label_starts(label, kinds[i].prefix)) this = kinds[i].kind;
        if (this == AGENT_KIND_SKIP_ONE && strchr(label, '-')) this = AGENT_KIND_SKIP_RANGE;
        if (seen && this != kind) return AGENT_KIND_OTHER;
        kind = this;
        seen = 1;
    }
    return kind;
}
