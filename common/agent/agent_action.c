// agent_action: the actions agentstep takes, written as JSON and as shell variables, and the
// step rules (forced actions, when the report is due); see agent.h.
#include "agent/agent.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "experiment/interp.h"
#include "experiment/patchnorm.h"
#include "experiment/tasks.h"

// ----------------------------------------------------------------------------- actions

void agent_action_free(AgentAction *a) {
    free(a->name);
    free(a->task);
    configs_free(&a->configs);
    free(a->sweeps);
    free(a->method);
    free(a->method_arg);
    free(a->experiment);
    free(a->observation);
    free(a->hypothesis);
    free(a->markdown);
    free(a->queued);
    memset(a, 0, sizeof *a);
}

static void write_configs(JsonBuf *b, const ConfigList *cl) {
    jb_key(b, "configurations");
    jb_raw(b, "[", 1);
    for (int k = 0; k < cl->n; k++) {
        jb_sep(b);
        jb_int_array(b, cl->cfg[k].idx, cl->cfg[k].n);
    }
    jb_raw(b, "]", 1);
    jb_key(b, "labels");
    jb_raw(b, "[", 1);
    for (int k = 0; k < cl->n; k++) {
        jb_sep(b);
        jb_cstr(b, cl->cfg[k].label);
    }
    jb_raw(b, "]", 1);
}

static void write_sweeps(JsonBuf *b, const char *sweeps) {
    jb_key(b, "sweeps");
    jb_raw(b, "[", 1);
    for (const char *p = sweeps; *p;) {
        size_t n = strcspn(p, " ");
        if (n) {
            jb_sep(b);
            jb_string(b, p, n);
        }
        p += n;
        p += strspn(p, " ");
    }
    jb_raw(b, "]", 1);
}

static void opt_str(JsonBuf *b, const char *key, const char *v) {
    if (v) jb_key(b, key), jb_cstr(b, v);
}

// Examples runlayers and topk see: none for a method, all for a judged experiment.
static int action_samples(const AgentAction *a) {
    if (a->method) return 0;
    return a->judge || a->examples < AGENT_SAMPLES ? a->examples : AGENT_SAMPLES;
}

// The members of the action (no braces): shared by the printed line and the journal.
static void action_members(JsonBuf *b, const AgentAction *a, int step) {
    static const char *const types[] = {"none", "experiment", "note", "report"};
    jb_key(b, "type"), jb_cstr(b, types[a->type]);
    jb_key(b, "step"), jb_int(b, step);
    switch (a->type) {
    case AGENT_ACTION_EXPERIMENT:
        jb_key(b, "name"), jb_cstr(b, a->name);
        jb_key(b, "task"), jb_cstr(b, a->task);
        write_configs(b, &a->configs);
        jb_key(b, "examples"), jb_int(b, a->examples);
        jb_key(b, "samples"), jb_int(b, action_samples(a));
        if (a->sweeps) write_sweeps(b, a->sweeps);
        opt_str(b, "method", a->method);
        if (a->method && !strcmp(a->method, AGENT_METHOD_PATCHING))
            opt_str(b, "patch_hook", a->method_arg);
        if (a->judge) jb_key(b, "judge"), jb_puts(b, "true");
        opt_str(b, "hypothesis", a->hypothesis);
        if (a->resume) {
            jb_key(b, "resume"), jb_puts(b, "true");
            jb_key(b, "rerun");
            jb_raw(b, "[", 1);
            for (int t = 0; t < AGENT_N_TOOLS; t++)
                if (a->need[t]) jb_sep(b), jb_cstr(b, agent_tool_names[t]);
            jb_raw(b, "]", 1);
            if (a->after_interruption) jb_key(b, "after_interruption"), jb_puts(b, "true");
        }
        break;
    case AGENT_ACTION_NOTE:
        opt_str(b, "experiment", a->experiment);
        opt_str(b, "task", a->task);
        jb_key(b, "observation"), jb_cstr(b, a->observation);
        opt_str(b, "hypothesis", a->hypothesis);
        break;
    case AGENT_ACTION_REPORT:
        jb_key(b, "markdown"), jb_cstr(b, a->markdown);
        if (a->finished) jb_key(b, "finished"), jb_puts(b, "true");
        break;
    default: break;
    }
    opt_str(b, "planner", a->planner);
}

void agent_action_json(JsonBuf *out, const AgentAction *a, int step) {
    jb_raw(out, "{", 1);
    action_members(out, a, step);
    jb_raw(out, "}\n", 2);
}

static int task_recorded(const AgentState *s, const char *task) {
    for (int i = 0; i < s->n_task_recorded; i++)
        if (!strcmp(s->task_recorded[i], task)) return 1;
    return 0;
}

static void task_record(JsonBuf *b, const AgentAction *a) {
    const TaskInfo *t = tasks_find(a->task);
    journal_record_begin(b, "task");
    jb_key(b, "task"), jb_cstr(b, a->task);
    jb_key(b, "description"), jb_cstr(b, t && t->description ? t->description : "");
    if (t && t->n_eval > 0) {
        jb_key(b, "eval_questions");
        jb_raw(b, "[", 1);
        for (int i = 0; i < t->n_eval; i++) jb_sep(b), jb_cstr(b, t->eval_questions[i]);
        jb_raw(b, "]", 1);
    }
    jb_key(b, "n_examples"), jb_int(b, a->examples);
    jb_key(b, "source"), jb_cstr(b, "gentasks");
}

int agent_action_append(Journal *j, const AgentState *s, const AgentAction *a, int step, char *err,
                        size_t errlen) {
    if (a->type == AGENT_ACTION_REPORT && a->finished) return 0;
    JsonBuf b = {0};
    int rc = 0;
    if (a->type == AGENT_ACTION_EXPERIMENT && !task_recorded(s, a->task)) {
        task_record(&b, a);
        rc = journal_append(j, &b, err, errlen);
    }
    if (rc == 0) {
        journal_record_begin(&b, "action");
        action_members(&b, a, step);
        if (a->queued) jb_key(&b, "queued"), jb_puts(&b, a->queued);
        rc = journal_append(j, &b, err, errlen);
    }
    if (rc == 0 && a->type == AGENT_ACTION_NOTE) {
        journal_record_begin(&b, "note");
        opt_str(&b, "experiment", a->experiment);
        opt_str(&b, "task", a->task);
        jb_key(&b, "observation"), jb_cstr(&b, a->observation);
        opt_str(&b, "hypothesis", a->hypothesis);
        jb_key(&b, "step"), jb_int(&b, step);
        opt_str(&b, "planner", a->planner);
        rc = journal_append(j, &b, err, errlen);
    }
    if (rc == 0 && a->type == AGENT_ACTION_REPORT) {
        journal_record_begin(&b, "report");
        jb_key(&b, "markdown"), jb_cstr(&b, a->markdown);
        jb_key(&b, "step"), jb_int(&b, step);
        opt_str(&b, "planner", a->planner);
        rc = journal_append(j, &b, err, errlen);
    }
    jb_free(&b);
    return rc;
}

static void sh_quote(FILE *fp, const char *key, const char *v) {
    fprintf(fp, "%s='", key);
    for (const char *p = v; *p; p++) {
        if (*p == '\'') fputs("'\\''", fp);
        else fputc(*p, fp);
    }
    fputs("'\n", fp);
}

void agent_action_sh(FILE *fp, const AgentAction *a, int step) {
    static const char *const types[] = {"none", "experiment", "note", "report"};
    sh_quote(fp, "type", types[a->type]);
    fprintf(fp, "step=%d\n", step);
    if (a->type != AGENT_ACTION_EXPERIMENT) return;
    sh_quote(fp, "name", a->name);
    sh_quote(fp, "task", a->task);
    fprintf(fp, "examples=%d\nsamples=%d\nn_configs=%d\n", a->examples, action_samples(a),
            a->configs.n);
    for (int k = 0; k < a->configs.n; k++) {
        JsonBuf b = {0};
        char key[32];
        jb_int_array(&b, a->configs.cfg[k].idx, a->configs.cfg[k].n);
        snprintf(key, sizeof key, "config_%d", k + 1);
        sh_quote(fp, key, b.buf);
        snprintf(key, sizeof key, "label_%d", k + 1);
        sh_quote(fp, key, a->configs.cfg[k].label);
        jb_free(&b);
    }
    int n_sweeps = 0;
    for (const char *p = a->sweeps ? a->sweeps : ""; *p;) {
        size_t n = strcspn(p, " ");
        if (n) {
            char key[32], *v = xstrndup(p, n);
            snprintf(key, sizeof key, "sweep_%d", ++n_sweeps);
            sh_quote(fp, key, v);
            free(v);
        }
        p += n;
        p += strspn(p, " ");
    }
    fprintf(fp, "n_sweeps=%d\n", n_sweeps);
    for (int t = 0; t < AGENT_N_TOOLS; t++)
        fprintf(fp, "need_%s=%d\n", agent_tool_names[t], a->need[t]);
    sh_quote(fp, "method", a->method ? a->method : "");
    sh_quote(fp, "patch_hook",
             a->method && !strcmp(a->method, AGENT_METHOD_PATCHING) && a->method_arg ? a->method_arg
                                                                                     : "");
    sh_quote(fp, "judge", a->judge ? "1" : "");
}

// ----------------------------------------------------------------------------- steps

static void experiment_to_action(const AgentExperiment *e, AgentAction *a) {
    agent_experiment_load(e);
    memset(a, 0, sizeof *a);
    a->type = AGENT_ACTION_EXPERIMENT;
    a->name = xstrdup(e->name);
    a->task = xstrdup(e->task);
    for (int k = 0; k < (e->method ? 1 : e->configs.n); k++)   // a method runs on the intact model
        configs_add(&a->configs, e->configs.cfg[k].idx, e->configs.cfg[k].n,
                    e->configs.cfg[k].label);
    a->method = e->method ? xstrdup(e->method) : NULL;
    a->method_arg = e->method_arg ? xstrdup(e->method_arg) : NULL;
    a->examples = e->examples;
    a->sweeps = e->sweeps ? xstrdup(e->sweeps) : NULL;
    a->hypothesis = e->hypothesis ? xstrdup(e->hypothesis) : NULL;
    a->judge = e->judge;
    a->resume = 1;
    a->planner = "resume";
}

int agent_forced_action(const AgentState *s, const AgentOptions *o, AgentAction *a) {
    memset(a, 0, sizeof *a);
    if (s->report) {
        a->type = AGENT_ACTION_REPORT;
        a->markdown = xstrdup(s->report);
        a->finished = 1;
        a->planner = "journal";
        return 1;
    }
    for (int i = 0; i < s->n_exp; i++) {
        const AgentExperiment *e = &s->exp[i];
        int need[AGENT_N_TOOLS];
        if (agent_experiment_complete(e, need)) continue;
        int interrupted = o->new_run && s->last_experiment && !strcmp(s->last_experiment, e->name);
        if (e->attempts - interrupted >= AGENT_MAX_ATTEMPTS) continue;
        experiment_to_action(e, a);
        memcpy(a->need, need, sizeof need);
        a->after_interruption = interrupted;
        a->queued = s->queued ? xstrdup(s->queued) : NULL;
        return 1;
    }
    return 0;
}

int agent_report_due(const AgentState *s, const AgentOptions *o) {
    return o->finish ||
           (o->max_steps > 0 && s->n_actions - s->n_after_interruption >= o->max_steps);
}
