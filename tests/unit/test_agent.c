// test_agent: the research agent's modules on journals written in memory — configuration
// parsing, the state read from a journal (deduplicated results, completeness, statistics),
// forced actions (re-runs, the finished report), the built-in planner (plan, note
// figures), the LLM tool calls (validation messages, queries, the queue), the prompt's
// context budget, and the shell form of an action.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/agent_llm.h"
#include "agent/agent_plan.h"
#include "base/util.h"
#include "check.h"

// ----------------------------------------------------------------------------- helpers

static int parse_configs(const char *json, const char *labels, int L, ConfigList *cl, char *err,
                         size_t errlen) {
    JsonBuf b = {0};
    jb_puts(&b, "{\"c\":");
    jb_puts(&b, json);
    if (labels) jb_puts(&b, ",\"l\":"), jb_puts(&b, labels);
    jb_puts(&b, "}");
    JsonDoc d;
    int rc = -1;
    memset(cl, 0, sizeof *cl);
    if (json_parse(&d, b.buf, b.len, err, errlen) == 0)
        rc = agent_configs_parse(&d, json_obj_get(&d, 0, "c"), json_obj_get(&d, 0, "l"), L, cl, err,
                                 errlen);
    json_free(&d);
    jb_free(&b);
    return rc;
}

static int config_is(const ConfigList *cl, int k, const int *idx, int n, const char *label) {
    if (k >= cl->n || cl->cfg[k].n != n || strcmp(cl->cfg[k].label, label)) return 0;
    return n == 0 || !memcmp(cl->cfg[k].idx, idx, sizeof(int) * (size_t)n);
}

static void add_line(JsonBuf *j, const char *line) {
    jb_puts(j, line);
    jb_puts(j, "\n");
}

static void add_score(JsonBuf *j, const char *exp, const char *id, const char *layers, double loss,
                      int exact) {
    char buf[512];
    snprintf(
        buf, sizeof buf,
        "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"%s\",\"tool\":\"scoreloss\",\"id\":\"%s\","
        "\"prompt\":\"P %s\",\"answer\":\"A\",\"layers\":%s,\"answer_loss\":%.17g,\"answer_exact\":%s}",
        exp, id, id, layers, loss, exact ? "true" : "false");
    add_line(j, buf);
}

static void add_gen(JsonBuf *j, const char *exp, const char *id, const char *layers,
                    const char *completion) {
    char buf[512];
    snprintf(
        buf, sizeof buf,
        "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"%s\",\"tool\":\"runlayers\",\"id\":\"%s\","
        "\"layers\":%s,\"completion\":\"%s\"}",
        exp, id, layers, completion);
    add_line(j, buf);
}

static void add_topk(JsonBuf *j, const char *exp, const char *id, const char *layers,
                     const char *token, const char *top1) {
    char buf[512];
    snprintf(
        buf, sizeof buf,
        "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"%s\",\"tool\":\"topk\",\"id\":\"%s\","
        "\"layers\":%s,\"position\":3,\"token\":\"%s\",\"topk\":[{\"token\":\"%s\",\"id\":1,\"prob\":0.5,"
        "\"logprob\":-0.69}],\"answer_rank\":7}",
        exp, id, layers, token, top1);
    add_line(j, buf);
}

static const char META[] =
    "{\"kind\":\"meta\",\"time\":\"t\",\"model\":{\"name\":\"tiny\",\"n_layer\":2},\"goal\":\"Where are facts?\"}";
static const char EXP1[] =
    "{\"kind\":\"action\",\"time\":\"t\",\"type\":\"experiment\",\"step\":1,\"name\":\"e1\",\"task\":\"facts\","
    "\"configurations\":[[0,1],[0],[]],\"labels\":[\"intact\",\"first 1\",\"first 0\"],\"examples\":2,\"samples\":1,"
    "\"planner\":\"builtin\"}";

// The journal of one drop-last experiment on a 2-block model: losses intact {1, 3},
// first 1 {2, 4}, first 0 {5, 7}; complete unless `topk_missing`.
static void journal_e1(JsonBuf *j, int topk_missing) {
    add_line(j, META);
    add_line(j, EXP1);
    add_score(j, "e1", "facts-0", "[0,1]", 9.0, 0);   // replaced by the later record below
    add_score(j, "e1", "facts-0", "[0,1]", 1.0, 1);
    add_score(j, "e1", "facts-1", "[0,1]", 3.0, 0);
    add_score(j, "e1", "facts-0", "[0]", 2.0, 0);
    add_score(j, "e1", "facts-1", "[0]", 4.0, 0);
    add_score(j, "e1", "facts-0", "[]", 5.0, 0);
    add_score(j, "e1", "facts-1", "[]", 7.0, 0);
    add_score(j, "e1", "facts-1", "[1]", 7.0, 0);   // no such configuration: stray
    add_gen(j, "e1", "facts-0", "[0,1]", " Spain");
    add_gen(j, "e1", "facts-0", "[0]", " of");
    add_gen(j, "e1", "facts-0", "[]", " of of");
    add_topk(j, "e1", "facts-0", "[0,1]", " of", " Spain");
    add_topk(j, "e1", "facts-0", "[0]", " of", " of");
    if (!topk_missing) add_topk(j, "e1", "facts-0", "[]", " of", " of");
}

static int build(AgentState *s, JournalLog *log, const JsonBuf *j) {
    char err[256];
    journal_parse(log, j->buf, j->len);
    int rc = agent_state_build(s, log, err, sizeof err);
    if (rc != 0) printf("state: %s\n", err);
    return rc;
}

static const char *const TASKS[] = {"facts", "addition"};
static const AgentOptions OPTS = {.tasks = TASKS, .n_tasks = 2, .examples = 2, .max_steps = 0};

// ----------------------------------------------------------------------------- tests

static void test_configs(void) {
    ConfigList cl;
    char err[256];
    CHECK_INT("configs: arrays", parse_configs("[[0,1],[1],[]]", NULL, 2, &cl, err, sizeof err), 0);
    CHECK_INT("configs: three", cl.n, 3);
    CHECK("configs: intact labelled", config_is(&cl, 0, (int[]){0, 1}, 2, "intact"));
    CHECK("configs: compact label", config_is(&cl, 1, (int[]){1}, 1, "1"));
    CHECK("configs: empty is none", config_is(&cl, 2, NULL, 0, "none"));
    configs_free(&cl);
    CHECK_INT("configs: intact missing",
              parse_configs("[[1],[1,1]]", "[\"one\",\"twice\"]", 2, &cl, err, sizeof err), 0);
    CHECK("configs: intact put first", cl.n == 3 && config_is(&cl, 0, (int[]){0, 1}, 2, "intact"));
    CHECK("configs: labels kept", config_is(&cl, 2, (int[]){1, 1}, 2, "twice"));
    configs_free(&cl);
    CHECK_INT("configs: SPEC strings",
              parse_configs("[\"0-1\",\"1,0\",\"none\",[1,0]]", NULL, 2, &cl, err, sizeof err), 0);
    CHECK("configs: duplicates dropped", cl.n == 3 && config_is(&cl, 1, (int[]){1, 0}, 2, "1,0"));
    configs_free(&cl);
    CHECK_INT("configs: out of range",
              parse_configs("[[0,1],[0,5]]", NULL, 2, &cl, err, sizeof err), -1);
    CHECK_STR("configs: out of range message", err,
              "configuration 1: layer index 5 out of range 0..1");
    CHECK_INT("configs: not an integer",
              parse_configs("[[0,\"a\"]]", NULL, 2, &cl, err, sizeof err), -1);
    CHECK_STR("configs: not an integer message", err,
              "configuration 0: element 1 is not an integer block index");
    CHECK_INT("configs: a bad SPEC", parse_configs("[\"0-9\"]", NULL, 2, &cl, err, sizeof err), -1);
    CHECK_STR("configs: a bad SPEC message", err,
              "configuration 0: layer index 2 out of range 0..1");
    CHECK_INT("configs: empty list", parse_configs("[]", NULL, 2, &cl, err, sizeof err), -1);
    CHECK_INT("configs: not an array", parse_configs("{\"a\":1}", NULL, 2, &cl, err, sizeof err),
              -1);
    CHECK_INT("configs: a number", parse_configs("[3]", NULL, 2, &cl, err, sizeof err), -1);
    CHECK_INT("configs: labels count",
              parse_configs("[[0],[1]]", "[\"a\"]", 2, &cl, err, sizeof err), -1);
    CHECK_STR("configs: labels count message", err, "labels has 1 entries for 2 configurations");
    CHECK_INT("configs: label not a string", parse_configs("[[0]]", "[3]", 2, &cl, err, sizeof err),
              -1);
    CHECK_INT("configs: too long",
              parse_configs("[[0,0,0,0,0,0,0,0,0]]", NULL, 2, &cl, err, sizeof err), -1);
    CHECK_INT("names: ok", agent_name_check("facts/skip-range:2", err, sizeof err), 0);
    CHECK_INT("names: a space", agent_name_check("a b", err, sizeof err), -1);
    CHECK_INT("names: empty", agent_name_check("", err, sizeof err), -1);
    CHECK_INT("names: a quote", agent_name_check("a'b", err, sizeof err), -1);
}

static void test_state(void) {
    JsonBuf j = {0};
    journal_e1(&j, 1);
    JournalLog log;
    AgentState s;
    CHECK_INT("state: built", build(&s, &log, &j), 0);
    CHECK_STR("state: model", s.model_name, "tiny");
    CHECK_INT("state: n_layer", s.n_layer, 2);
    CHECK_INT("state: one experiment", s.n_exp, 1);
    const AgentExperiment *e = agent_experiment_find(&s, "e1");
    CHECK("state: found by name", e != NULL);
    if (!e) return;
    CHECK_INT("state: scoreloss rows deduplicated", e->rows[AGENT_TOOL_SCORELOSS].n, 6);
    CHECK_INT("state: a result with unknown layers is stray", e->n_stray, 1);
    CHECK_INT("state: examples", e->n_ex, 2);
    CHECK_STR("state: example prompt", e->ex[1].prompt, "P facts-1");
    int need[AGENT_N_TOOLS];
    CHECK_INT("state: incomplete without the last topk row", agent_experiment_complete(e, need), 0);
    CHECK("state: only topk missing",
          !need[AGENT_TOOL_SCORELOSS] && !need[AGENT_TOOL_RUNLAYERS] && need[AGENT_TOOL_TOPK]);
    AgentStats st = agent_config_stats(e, 0, 2);
    CHECK_NEAR("stats: intact mean (the later duplicate wins)", st.mean, 2.0, 1e-12);
    CHECK_NEAR("stats: intact sem", st.sem, 1.0, 1e-12);
    CHECK_NEAR("stats: intact exact rate", st.exact_rate, 0.5, 1e-12);
    st = agent_config_stats(e, 2, 2);
    CHECK_NEAR("stats: first 0 delta", st.delta, 4.0, 1e-12);
    CHECK_INT("stats: n", st.n, 2);
    CHECK_INT("kind: drop-last", agent_experiment_kind(e), AGENT_KIND_DROP_LAST);

    AgentAction a;
    CHECK_INT("forced: a re-run", agent_forced_action(&s, &OPTS, &a), 1);
    CHECK("forced: no queue to carry", a.queued == NULL);
    CHECK("forced: of e1, topk only", a.type == AGENT_ACTION_EXPERIMENT && a.resume &&
                                          !strcmp(a.name, "e1") && !a.need[0] && !a.need[1] &&
                                          a.need[2]);
    JsonBuf out = {0};
    agent_action_json(&out, &a, 2);
    CHECK("forced: printed with resume and rerun",
          strstr(out.buf, "\"resume\":true,\"rerun\":[\"topk\"]") != NULL &&
              strstr(out.buf, "\"step\":2") != NULL);
    jb_free(&out);
    agent_action_free(&a);
    agent_state_free(&s);
    journal_log_free(&log);

    // A re-run carries the last action's queued calls on.
    add_line(
        &j,
        "{\"kind\":\"action\",\"time\":\"t\",\"type\":\"note\",\"step\":2,\"observation\":\"o\","
        "\"queued\":[{\"name\":\"add_note\",\"arguments\":\"{}\"}]}");
    build(&s, &log, &j);
    agent_forced_action(&s, &OPTS, &a);
    CHECK_STR("forced: the queue carried on", a.queued,
              "[{\"name\":\"add_note\",\"arguments\":\"{}\"}]");
    CHECK_INT("state: next step", s.last_step + 1, 3);
    agent_action_free(&a);
    agent_state_free(&s);
    journal_log_free(&log);

    // Re-run attempts are bounded: after AGENT_MAX_ATTEMPTS runs the experiment is left.
    for (int i = 1; i < AGENT_MAX_ATTEMPTS; i++)
        add_line(
            &j,
            "{\"kind\":\"action\",\"time\":\"t\",\"type\":\"experiment\",\"step\":2,\"name\":\"e1\","
            "\"task\":\"facts\",\"configurations\":[[0,1],[0],[]],\"examples\":2,\"resume\":true}");
    build(&s, &log, &j);
    CHECK_INT("forced: given up after the attempts", agent_forced_action(&s, &OPTS, &a), 0);
    CHECK_INT("state: attempts counted", s.exp[0].attempts, AGENT_MAX_ATTEMPTS);
    CHECK_STR("state: the last action's experiment", s.last_experiment, "e1");
    // ... but the first step of a new loop run knows that the last of them was cut off
    // (kill -9): it re-runs e1, marked, and that run takes the cut-off one's place.
    AgentOptions new_run = OPTS;
    new_run.new_run = 1;
    CHECK_INT("forced: interrupted, re-run on a new run", agent_forced_action(&s, &new_run, &a), 1);
    CHECK("forced: marked after_interruption",
          a.type == AGENT_ACTION_EXPERIMENT && a.resume && a.after_interruption);
    agent_action_json(&out, &a, 4);
    CHECK("forced: printed with after_interruption",
          strstr(out.buf, "\"rerun\":[\"topk\"],\"after_interruption\":true") != NULL);
    jb_free(&out);
    agent_action_free(&a);
    agent_state_free(&s);
    journal_log_free(&log);
    for (int i = 0; i < 5; i++)   // five more runs, each cut off: none is an attempt or a step
        add_line(
            &j,
            "{\"kind\":\"action\",\"time\":\"t\",\"type\":\"experiment\",\"step\":4,\"name\":\"e1\","
            "\"task\":\"facts\",\"configurations\":[[0,1],[0],[]],\"examples\":2,\"resume\":true,"
            "\"after_interruption\":true}");
    build(&s, &log, &j);
    CHECK_INT("state: re-runs after interruptions are not attempts", s.exp[0].attempts,
              AGENT_MAX_ATTEMPTS);
    CHECK_INT("state: nor steps", s.n_actions - s.n_after_interruption, 2 + AGENT_MAX_ATTEMPTS - 1);
    CHECK_INT("forced: still re-run on a new run", agent_forced_action(&s, &new_run, &a), 1);
    agent_action_free(&a);
    CHECK_INT("forced: given up when the run went on after it", agent_forced_action(&s, &OPTS, &a),
              0);
    AgentOptions due = OPTS;
    due.max_steps = 4;
    CHECK_INT("report due: interrupted runs not counted", agent_report_due(&s, &due), 1);
    due.max_steps = 5;
    CHECK_INT("report not due: 4 steps of 5", agent_report_due(&s, &due), 0);
    agent_state_free(&s);
    journal_log_free(&log);
    // The last action is a note: no experiment was cut off, the limit holds on a new run.
    add_line(
        &j,
        "{\"kind\":\"action\",\"time\":\"t\",\"type\":\"note\",\"step\":5,\"observation\":\"o\"}");
    build(&s, &log, &j);
    CHECK("state: no last experiment after a note", s.last_experiment == NULL);
    CHECK_INT("forced: given up, a new run after a note", agent_forced_action(&s, &new_run, &a), 0);
    agent_state_free(&s);
    journal_log_free(&log);
    jb_free(&j);

    // An error record without layers stands for every configuration of its example.
    add_line(&j, META);
    add_line(&j, EXP1);
    add_line(
        &j,
        "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"e1\",\"tool\":\"scoreloss\",\"id\":\"facts-0\","
        "\"error\":\"too many tokens\"}");
    build(&s, &log, &j);
    st = agent_config_stats(&s.exp[0], 1, 2);
    CHECK("state: an error row per configuration",
          s.exp[0].rows[AGENT_TOOL_SCORELOSS].n == 3 && st.n_error == 1 && st.n == 0);
    agent_state_free(&s);
    journal_log_free(&log);
    jb_free(&j);

    // No meta record: an error.
    char err[256];
    add_line(&j, EXP1);
    journal_parse(&log, j.buf, j.len);
    CHECK_INT("state: no meta", agent_state_build(&s, &log, err, sizeof err), -1);
    CHECK_STR("state: no meta message", err, "the journal has no meta record (the model studied)");
    agent_state_free(&s);
    journal_log_free(&log);
    jb_free(&j);
}

static void test_builtin(void) {
    JsonBuf j = {0};
    add_line(&j, META);
    JournalLog log;
    AgentState s;
    AgentAction a;
    char err[256];
    build(&s, &log, &j);
    AgentPlanItem *items;
    int n = agent_plan_items(&OPTS, 2, &items);
    // 2 blocks: swap-adjacent has one swap, so all seven types apply per task.
    CHECK_INT("plan: 7 types x 2 tasks", n, 14);
    CHECK("plan: order", n == 14 && !strcmp(items[0].name, "facts/drop-last") &&
                             !strcmp(items[6].name, "facts/permute") &&
                             !strcmp(items[7].name, "addition/drop-last"));
    free(items);
    CHECK_INT("builtin: first action", agent_plan_builtin(&s, &OPTS, &a, err, sizeof err), 0);
    CHECK("builtin: facts/drop-last", a.type == AGENT_ACTION_EXPERIMENT &&
                                          !strcmp(a.name, "facts/drop-last") && a.examples == 2 &&
                                          !strcmp(a.sweeps, "drop-last"));
    CHECK("builtin: drop-last configurations",
          a.configs.n == 3 && config_is(&a.configs, 0, (int[]){0, 1}, 2, "intact") &&
              config_is(&a.configs, 1, (int[]){0}, 1, "first 1") &&
              config_is(&a.configs, 2, NULL, 0, "first 0"));
    agent_action_free(&a);
    agent_state_free(&s);
    journal_log_free(&log);
    jb_free(&j);

    // A single-block model: no swaps, no windows of two.
    AgentOptions one = OPTS;
    one.n_tasks = 1;
    n = agent_plan_items(&one, 1, &items);
    CHECK_INT("plan: one block: drop-last, drop-first, skip-one, repeat-one", n, 4);
    free(items);

    // Results complete, no note: the note, from the numbers.
    journal_e1(&j, 0);
    build(&s, &log, &j);
    CHECK_INT("builtin: a note next", agent_plan_builtin(&s, &OPTS, &a, err, sizeof err), 0);
    CHECK("builtin: note on e1",
          a.type == AGENT_ACTION_NOTE && !strcmp(a.experiment, "e1") && !strcmp(a.task, "facts"));
    CHECK("note: intact figures", strstr(a.observation, "intact loss 2.00 (exact 50%).") != NULL);
    CHECK(
        "note: no prefix within 10%",
        strstr(
            a.observation,
            "No shorter prefix comes within 10% of the intact loss (closest: first 1, loss 3.00 vs 2.00).") !=
            NULL);
    CHECK("note: exact match lost",
          strstr(a.observation, "Exact-match: intact 50%, lost with any block removed") != NULL);
    CHECK("note: embeddings only",
          strstr(a.observation, "Embeddings only (first 0): loss 6.00 (+4.00 nats).") != NULL);
    CHECK("note: repeats the last token", strstr(a.observation, "in 1 of 1 prompts.") != NULL);
    CHECK("note: hypothesis",
          a.hypothesis && strstr(a.hypothesis, "facts needs the full depth") != NULL);
    // The same journal, the same action.
    AgentAction b;
    agent_plan_builtin(&s, &OPTS, &b, err, sizeof err);
    CHECK("builtin: deterministic",
          !strcmp(a.observation, b.observation) && !strcmp(a.hypothesis, b.hypothesis));
    agent_action_free(&b);
    // Notes on another experiment and on none do not count as e1's.
    const char *other[] = {"zz", NULL};
    s.note = xrealloc(s.note, sizeof *s.note * (size_t)(s.n_note + 2));
    for (int i = 0; i < 2; i++)
        s.note[s.n_note++] = (AgentNote){.experiment = other[i] ? xstrdup(other[i]) : NULL,
                                         .observation = xstrdup("o")};
    CHECK_INT("builtin: others' notes", agent_plan_builtin(&s, &OPTS, &b, err, sizeof err), 0);
    CHECK("builtin: others' notes: still a note on e1",
          b.type == AGENT_ACTION_NOTE && !strcmp(b.experiment, "e1"));
    agent_action_free(&b);
    // Journal the note: then the plan's first experiment.
    JsonBuf rec = {0};
    jb_puts(&rec, "{\"kind\":\"note\",\"time\":\"t\",\"experiment\":\"e1\",\"observation\":");
    jb_cstr(&rec, a.observation);
    jb_puts(&rec, "}");
    add_line(&j, rec.buf);
    jb_free(&rec);
    agent_action_free(&a);
    agent_state_free(&s);
    journal_log_free(&log);
    build(&s, &log, &j);
    agent_plan_builtin(&s, &OPTS, &a, err, sizeof err);
    CHECK("builtin: then facts/drop-last",
          a.type == AGENT_ACTION_EXPERIMENT && !strcmp(a.name, "facts/drop-last"));
    agent_action_free(&a);
    // The step budget spent: the report, assembled from the notes.
    AgentOptions due = OPTS;
    due.max_steps = 1;
    CHECK_INT("report due after max_steps actions", agent_report_due(&s, &due), 1);
    agent_plan_builtin(&s, &due, &a, err, sizeof err);
    CHECK("builtin: report",
          a.type == AGENT_ACTION_REPORT && !strncmp(a.markdown, "## Results\n", 11));
    CHECK("report: the task section", strstr(a.markdown, "### facts") != NULL);
    CHECK("report: the depth section with the note",
          strstr(a.markdown, "**Where the capability appears along depth.**\n\n- e1 on facts") !=
              NULL);
    CHECK("report: the table row",
          strstr(a.markdown, "| e1 | 2.00 | 50% | first 0 | +4.00 | first 1 | +1.00 |") != NULL);
    agent_action_free(&a);
    agent_state_free(&s);
    journal_log_free(&log);

    // A report record: the investigation is finished.
    add_line(&j, "{\"kind\":\"report\",\"time\":\"t\",\"markdown\":\"## Done\"}");
    build(&s, &log, &j);
    CHECK_INT("forced: finished", agent_forced_action(&s, &OPTS, &a), 1);
    CHECK("forced: the journal's report",
          a.type == AGENT_ACTION_REPORT && a.finished && !strcmp(a.markdown, "## Done"));
    agent_action_free(&a);
    agent_state_free(&s);
    journal_log_free(&log);
    jb_free(&j);
}

// Run a tool call against s; returns the kind, *answer (caller frees) and fills *a.
static int call(const AgentState *s, const char *name, const char *args, AgentAction *a,
                char **answer) {
    return agent_llm_call(s, &OPTS, name, args, a, answer);
}

// Notes that read the answers, not only the loss (3 blocks, 2 examples, intact exact 100%,
// losses 0.1): drop-last keeps both answers down to "first 1" although the loss rises
// beyond 10%; skip-one: skip 0 breaks (exact 0%), skip 1 loses one answer (50%), skip 2
// keeps both at a higher loss.
static void test_note_answers(void) {
    static const char meta[] =
        "{\"kind\":\"meta\",\"time\":\"t\",\"model\":{\"name\":\"m\",\"n_layer\":3,\"vocab\":50257}}";
    static const char dl[] =
        "{\"kind\":\"action\",\"time\":\"t\",\"type\":\"experiment\",\"step\":1,\"name\":\"d\",\"task\":\"facts\","
        "\"configurations\":[[0,1,2],[0,1],[0],[]],\"labels\":[\"intact\",\"first 2\",\"first 1\",\"first 0\"],"
        "\"examples\":2,\"samples\":0,\"planner\":\"builtin\"}";
    static const char so[] =
        "{\"kind\":\"action\",\"time\":\"t\",\"type\":\"experiment\",\"step\":2,\"name\":\"s\",\"task\":\"facts\","
        "\"configurations\":[[0,1,2],[1,2],[0,2],[0,1]],\"labels\":[\"intact\",\"skip 0\",\"skip 1\",\"skip 2\"],"
        "\"examples\":2,\"samples\":0,\"planner\":\"builtin\"}";
    static const char rp[] =
        "{\"kind\":\"action\",\"time\":\"t\",\"type\":\"experiment\",\"step\":3,\"name\":\"r\",\"task\":\"facts\","
        "\"configurations\":[[0,1,2],[0,0,1,2],[0,1,1,2],[0,1,2,2]],\"labels\":[\"intact\",\"repeat 0\",\"repeat 1\","
        "\"repeat 2\"],\"examples\":2,\"samples\":0,\"planner\":\"builtin\"}";
    JsonBuf j = {0};
    add_line(&j, meta);
    add_line(&j, dl);
    add_line(&j, so);
    add_line(&j, rp);
    const char *ids[] = {"facts-0", "facts-1"};
    for (int x = 0; x < 2; x++) {
        add_score(&j, "d", ids[x], "[0,1,2]", 0.1, 1);
        add_score(&j, "d", ids[x], "[0,1]", 0.3, 1);
        add_score(&j, "d", ids[x], "[0]", 0.6, 1);
        add_score(&j, "d", ids[x], "[]", 9.0, 0);
        add_score(&j, "s", ids[x], "[0,1,2]", 0.1, 1);
        add_score(&j, "s", ids[x], "[1,2]", 8.0, 0);
        add_score(&j, "s", ids[x], "[0,2]", 1.0, x);
        add_score(&j, "s", ids[x], "[0,1]", 0.5, 1);
        add_score(&j, "r", ids[x], "[0,1,2]", 0.1, 1);
        add_score(&j, "r", ids[x], "[0,0,1,2]", 8.0, 0);
        add_score(&j, "r", ids[x], "[0,1,1,2]", 0.1, 1);
        add_score(&j, "r", ids[x], "[0,1,2,2]", 0.5, 1);
    }
    JournalLog log;
    AgentState s;
    AgentAction a;
    build(&s, &log, &j);
    agent_note_builtin(&s, &s.exp[0], &a);
    CHECK("drop-last note: answers kept below the loss's prefix",
          a.hypothesis &&
              strstr(a.hypothesis,
                     "The facts answer is already the greedy choice after the first 1 block "
                     "(exact match 100%, as intact); blocks 1-2 make the model more confident "
                     "(answer loss 0.60 without, 0.10 with).") != NULL);
    agent_action_free(&a);
    agent_note_builtin(&s, &s.exp[1], &a);
    CHECK("skip-one note: breaks, loses some, less confident",
          a.hypothesis &&
              !strcmp(a.hypothesis,
                      "Against intact (exact 100%), facts breaks under skip 0 (exact 0%); loses "
                      "some answers under skip 1 (exact 50%); keeps its answers but is less "
                      "confident under skip 2 (+0.40 nats). The computation needs what skip 0 "
                      "removes."));
    agent_action_free(&a);
    agent_note_builtin(&s, &s.exp[2], &a);
    CHECK("repeat-one note: by the answers, how many configurations break it",
          a.hypothesis &&
              !strcmp(a.hypothesis,
                      "Against intact (exact 100%), facts breaks under repeat 0 (exact 0%); keeps "
                      "its answers but is less confident under repeat 2 (+0.40 nats); is "
                      "unaffected by repeat 1. Of the 3 configurations (repeating a block), 1 "
                      "breaks it."));
    agent_action_free(&a);
    agent_state_free(&s);
    journal_log_free(&log);
    jb_free(&j);
}

static void test_llm_calls(void) {
    JsonBuf j = {0};
    journal_e1(&j, 0);
    JournalLog log;
    AgentState s;
    build(&s, &log, &j);
    AgentAction a;
    char *ans;
    CHECK_INT("call: unknown tool", call(&s, "run_layers", "{}", &a, &ans), AGENT_CALL_BAD);
    CHECK("call: unknown tool named", strstr(ans, "unknown tool \"run_layers\"") != NULL);
    free(ans);
    CHECK_INT("call: bad JSON", call(&s, "run_experiment", "{\"name\": ", &a, &ans),
              AGENT_CALL_BAD);
    CHECK("call: bad JSON message", strstr(ans, "not valid JSON") != NULL);
    free(ans);
    CHECK_INT("call: arguments not an object", call(&s, "add_note", "[1]", &a, &ans),
              AGENT_CALL_BAD);
    free(ans);
    CHECK_INT("call: unknown task",
              call(&s, "run_experiment",
                   "{\"name\":\"x\",\"task\":\"json\",\"configurations\":[[0]]}", &a, &ans),
              AGENT_CALL_BAD);
    CHECK_STR("call: unknown task message", ans,
              "run_experiment: unknown task \"json\"; the tasks are: facts, addition");
    free(ans);
    CHECK_INT("call: duplicate name",
              call(&s, "run_experiment",
                   "{\"name\":\"e1\",\"task\":\"facts\",\"configurations\":[[0]]}", &a, &ans),
              AGENT_CALL_BAD);
    CHECK("call: duplicate name message", strstr(ans, "already exists") != NULL);
    free(ans);
    CHECK_INT("call: examples out of range",
              call(&s, "run_experiment",
                   "{\"name\":\"x\",\"task\":\"facts\",\"configurations\":[[0]],\"examples\":0}",
                   &a, &ans),
              AGENT_CALL_BAD);
    free(ans);
    CHECK_INT("call: no configurations",
              call(&s, "run_experiment", "{\"name\":\"x\",\"task\":\"facts\"}", &a, &ans),
              AGENT_CALL_BAD);
    free(ans);
    CHECK_INT(
        "call: a valid experiment",
        call(
            &s, "run_experiment",
            "{\"name\":\"x\",\"task\":\"addition\",\"configurations\":[[1],\"0\"],\"examples\":5,\"hypothesis\":\"h\"}",
            &a, &ans),
        AGENT_CALL_ACTION);
    CHECK("call: experiment action", a.type == AGENT_ACTION_EXPERIMENT && a.examples == 5 &&
                                         a.configs.n == 3 && !strcmp(a.hypothesis, "h") &&
                                         !strcmp(a.planner, "llm") && !a.sweeps);
    agent_action_free(&a);
    CHECK_INT("call: note on an unknown experiment",
              call(&s, "add_note", "{\"experiment\":\"e9\",\"observation\":\"o\"}", &a, &ans),
              AGENT_CALL_BAD);
    CHECK_STR("call: unknown experiment message", ans,
              "add_note: unknown experiment \"e9\" (known: e1)");
    free(ans);
    CHECK_INT("call: note without observation",
              call(&s, "add_note", "{\"experiment\":\"e1\"}", &a, &ans), AGENT_CALL_BAD);
    free(ans);
    CHECK_INT("call: a note",
              call(&s, "add_note", "{\"experiment\":\"e1\",\"observation\":\"o\"}", &a, &ans),
              AGENT_CALL_ACTION);
    CHECK("call: the note's task comes from its experiment",
          a.type == AGENT_ACTION_NOTE && !strcmp(a.task, "facts") && !a.hypothesis);
    agent_action_free(&a);
    CHECK_INT("call: empty report", call(&s, "write_report", "{\"markdown\":\"\"}", &a, &ans),
              AGENT_CALL_BAD);
    free(ans);
    CHECK_INT("call: list_experiments", call(&s, "list_experiments", "", &a, &ans),
              AGENT_CALL_QUERY);
    CHECK("call: list_experiments answer",
          strstr(ans, "e1 | facts | 2 | 3 | complete | 0 | 1\n") != NULL);
    free(ans);
    // Notes counted per experiment (one pass, by name): two on e1, one on an unknown
    // experiment, one on none.
    const char *on[] = {"e1", "zz", NULL, "e1"};
    s.note = xrealloc(s.note, sizeof *s.note * (size_t)(s.n_note + 4));
    for (int i = 0; i < 4; i++)
        s.note[s.n_note++] =
            (AgentNote){.experiment = on[i] ? xstrdup(on[i]) : NULL,
                        .observation = xstrdup((const char *[]){"o0", "o1", "o2", "o3"}[i])};
    CHECK_INT("call: list_experiments with notes", call(&s, "list_experiments", "", &a, &ans),
              AGENT_CALL_QUERY);
    CHECK_STR("call: list_experiments counts the notes per experiment", ans,
              "name | task | examples | configurations | status | notes | step\n"
              "e1 | facts | 2 | 3 | complete | 2 | 1\n");
    free(ans);
    // get_results and the prompt show e1's own notes, in journal order (the note index).
    CHECK_INT("call: get_results with notes",
              call(&s, "get_results", "{\"experiment\":\"e1\"}", &a, &ans), AGENT_CALL_QUERY);
    CHECK("call: get_results shows e1's notes in order, no other's",
          strstr(ans, "note: o0\nnote: o3\n") && !strstr(ans, "o1") && !strstr(ans, "o2"));
    free(ans);
    char *prompt = agent_llm_user_prompt(&s, &OPTS, 24000);
    CHECK("prompt: e1's notes in order, no other's under e1",
          strstr(prompt, "note: o0\nnote: o3\n") != NULL);
    free(prompt);
    CHECK_INT("call: get_results bad group_by",
              call(&s, "get_results", "{\"experiment\":\"e1\",\"group_by\":\"task\"}", &a, &ans),
              AGENT_CALL_BAD);
    free(ans);
    CHECK_INT("call: get_results wrong task",
              call(&s, "get_results", "{\"experiment\":\"e1\",\"task\":\"addition\"}", &a, &ans),
              AGENT_CALL_BAD);
    CHECK_STR("call: wrong task message", ans,
              "get_results: experiment e1 is on task facts, not addition");
    free(ans);
    CHECK_INT("call: get_results by configuration",
              call(&s, "get_results", "{\"experiment\":\"e1\"}", &a, &ans), AGENT_CALL_QUERY);
    CHECK("call: the table",
          strstr(ans, "first 0 | none | 2 | 6.00 ± 1.00 | +4.00 | 0% | 0\n") != NULL);
    CHECK("call: a sample",
          strstr(ans, "  intact: completion \" Spain\"; top: \" Spain\" 0.50; answer rank 7\n") !=
              NULL);
    free(ans);
    CHECK_INT("call: get_results by prompt",
              call(&s, "get_results", "{\"experiment\":\"e1\",\"group_by\":\"prompt\"}", &a, &ans),
              AGENT_CALL_QUERY);
    CHECK(
        "call: per prompt",
        strstr(ans,
               "facts-1: prompt \"P facts-1\" -> answer \"A\"\n  intact: loss 3.00, exact no\n") !=
            NULL);
    free(ans);
    agent_state_free(&s);
    journal_log_free(&log);

    // The queue: the next valid call of the last action's "queued" list.
    add_line(
        &j,
        "{\"kind\":\"action\",\"time\":\"t\",\"type\":\"note\",\"step\":2,\"observation\":\"o\",\"queued\":["
        "{\"name\":\"write_report\",\"arguments\":\"{}\"},"
        "{\"name\":\"add_note\",\"arguments\":\"{\\\"observation\\\":\\\"x\\\"}\"},"
        "{\"name\":\"write_report\",\"arguments\":\"{\\\"markdown\\\":\\\"m\\\"}\"}]}");
    build(&s, &log, &j);
    CHECK_INT("queue: a call taken", agent_llm_take_queued(&s, &OPTS, &a), 1);
    CHECK("queue: the invalid one skipped, the note taken",
          a.type == AGENT_ACTION_NOTE && !strcmp(a.observation, "x"));
    CHECK_STR("queue: the rest stays queued", a.queued,
              "[{\"name\":\"write_report\",\"arguments\":\"{\\\"markdown\\\":\\\"m\\\"}\"}]");
    agent_action_free(&a);
    agent_state_free(&s);
    journal_log_free(&log);
    jb_free(&j);
}

// A judged experiment: run_judge's action, judge results read as runlayers rows with
// their verdicts (yes-rates for the LLM), the action's line and shell form.
static void test_judged(void) {
    JsonBuf j = {0};
    journal_e1(&j, 0);
    JournalLog log;
    AgentState s;
    build(&s, &log, &j);
    AgentAction a;
    char *ans;
    CHECK_INT(
        "run_judge: configurations default to drop-last",
        call(&s, "run_judge", "{\"name\":\"e2\",\"task\":\"facts\",\"examples\":4}", &a, &ans),
        AGENT_CALL_ACTION);
    CHECK("run_judge: a judged drop-last experiment",
          a.type == AGENT_ACTION_EXPERIMENT && a.judge && a.configs.n == 3 && a.sweeps &&
              !strcmp(a.sweeps, "drop-last") && a.examples == 4);
    JsonBuf line = {0};
    agent_action_json(&line, &a, 2);
    CHECK("run_judge: the action line says judge and samples every example",
          strstr(line.buf,
                 "\"examples\":4,\"samples\":4,\"sweeps\":[\"drop-last\"],\"judge\":true") != NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    agent_action_sh(fp, &a, 2);
    fclose(fp);
    CHECK("run_judge: shell form", strstr(buf, "samples=4\n") && strstr(buf, "judge='1'\n"));
    free(buf);
    jb_free(&line);
    agent_action_free(&a);
    CHECK_INT("run_judge: own configurations",
              call(&s, "run_judge", "{\"name\":\"e3\",\"task\":\"facts\",\"configurations\":[[1]]}",
                   &a, &ans),
              AGENT_CALL_ACTION);
    CHECK("run_judge: own configurations kept", a.judge && a.configs.n == 2 && !a.sweeps);
    agent_action_free(&a);
    CHECK_INT("run_judge: unknown task",
              call(&s, "run_judge", "{\"name\":\"e4\",\"task\":\"poetry\"}", &a, &ans),
              AGENT_CALL_BAD);
    CHECK_STR("run_judge: unknown task message", ans,
              "run_judge: unknown task \"poetry\"; the tasks are: facts, addition");
    free(ans);
    agent_state_free(&s);
    journal_log_free(&log);

    // Judge records of a judged experiment: they count as runlayers rows.
    add_line(
        &j,
        "{\"kind\":\"action\",\"time\":\"t\",\"type\":\"experiment\",\"step\":2,\"name\":\"e2\","
        "\"task\":\"facts\",\"configurations\":[[0,1],[0]],\"labels\":[\"intact\",\"first 1\"],"
        "\"examples\":2,\"samples\":2,\"judge\":true,\"planner\":\"llm\"}");
    static const char *const verdicts[4] = {"yes", "yes", "no",
                                            "yes"};   // (facts-0, facts-1) x (intact, first 1)
    for (int k = 0; k < 4; k++) {
        char rec[600];
        snprintf(
            rec, sizeof rec,
            "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"e2\",\"tool\":\"judge\",\"id\":\"facts-%d\","
            "\"task\":\"facts\",\"label\":\"%s\",\"layers\":%s,\"completion\":\"c\",\"judgements\":[{\"question\":"
            "\"Q?\",\"verdict\":\"%s\",\"reason\":\"r\",\"judge\":\"llm\"}]}",
            k % 2, k < 2 ? "intact" : "first 1", k < 2 ? "[0,1]" : "[0]", verdicts[k]);
        add_line(&j, rec);
    }
    build(&s, &log, &j);
    const AgentExperiment *e = agent_experiment_find(&s, "e2");
    CHECK("judged: the experiment is judged", e && e->judge && e->samples == 2);
    CHECK_INT("judged: judge records are its runlayers rows",
              e ? e->rows[AGENT_TOOL_RUNLAYERS].n : -1, 4);
    JudgeSummary js;
    agent_experiment_speaks(e, &js);
    CHECK_INT("judged: groups", js.n, 2);
    CHECK("judged: yes-rates", js.n == 2 && js.g[0].yes == 2 && js.g[1].yes == 1 &&
                                   js.g[1].n == 2 && !strcmp(js.g[1].label, "first 1"));
    judge_summary_free(&js);
    agent_note_builtin(&s, e, &a);
    CHECK(
        "judged: the built-in note says how it speaks",
        strstr(
            a.observation,
            " How it speaks (judge, yes-rate): \"Q?\" intact 100%, lowest 50% (first 1), highest 100% (intact).") !=
            NULL);
    agent_action_free(&a);
    CHECK_INT("judged: get_results", call(&s, "get_results", "{\"experiment\":\"e2\"}", &a, &ans),
              AGENT_CALL_QUERY);
    CHECK(
        "judged: get_results shows how it speaks",
        strstr(
            ans,
            "how it speaks (judge; yes-rate per configuration, n verdicts):\n  Q? [llm]: intact 100% (2); first 1 50% (2)\n") !=
            NULL);
    free(ans);
    agent_state_free(&s);
    journal_log_free(&log);
    jb_free(&j);
}

static void test_prompt_budget(void) {
    JsonBuf j = {0};
    add_line(&j, META);
    char line[512];
    for (int i = 0; i < 30; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%02d", i);
        snprintf(
            line, sizeof line,
            "{\"kind\":\"action\",\"time\":\"t\",\"type\":\"experiment\",\"step\":%d,\"name\":\"%s\","
            "\"task\":\"facts\",\"configurations\":[[0,1],[1]],\"examples\":1}",
            i + 1, name);
        add_line(&j, line);
        add_score(&j, name, "facts-0", "[0,1]", 1.0 + i, 0);
        add_score(&j, name, "facts-0", "[1]", 2.0 + i, 0);
        add_gen(&j, name, "facts-0", "[0,1]", "a completion");
        add_gen(&j, name, "facts-0", "[1]", "another completion");
        add_topk(&j, name, "facts-0", "[0,1]", "t", "u");
        add_topk(&j, name, "facts-0", "[1]", "t", "t");
    }
    JournalLog log;
    AgentState s;
    build(&s, &log, &j);
    char *big = agent_llm_user_prompt(&s, &OPTS, 1000000);
    CHECK("prompt: everything in full with a large budget",
          strstr(big, "## x00 (") && strstr(big, "## x29 (") && !strstr(big, "in brief"));
    CHECK("prompt: asks for a note on the newest experiment",
          strstr(big, "The results of x29 are in and have no note yet") != NULL);
    char *small = agent_llm_user_prompt(&s, &OPTS, 3000);
    CHECK("prompt: within 3000 characters", strlen(small) <= 3000);
    CHECK("prompt: the newest in full",
          strstr(small, "## x29 (") && strstr(small, "sample facts-0"));
    CHECK("prompt: the oldest left out",
          strstr(small, "(6 older experiments are left out here") && !strstr(small, "x05"));
    CHECK("prompt: some in brief", strstr(small, "Older experiments, in brief:\n- x") != NULL);
    // The bounded choice of what to show (rendering only what shows, from the newest back)
    // equals the exhaustive one (every experiment rendered at every level) at every budget.
    int differ = 0, budgets = 0, left_out = 0;
    for (int budget = -1; budget <= 12000; budget += budget < 4000 ? 7 : 97) {
        char *fast = agent_llm_user_prompt(&s, &OPTS, budget);
        agent_llm_levels_exhaustive = 1;
        char *slow = agent_llm_user_prompt(&s, &OPTS, budget);
        agent_llm_levels_exhaustive = 0;
        differ += strcmp(fast, slow) != 0;
        left_out += strstr(fast, "older experiments are left out") != NULL;
        budgets++;
        free(fast);
        free(slow);
    }
    CHECK_INT("prompt: the bounded choice equals the exhaustive one at every budget", differ, 0);
    CHECK("prompt: ... budgets that leave experiments out and budgets that do not",
          left_out > 10 && left_out < budgets - 10);
    char *sys = agent_llm_system_prompt(&s, &OPTS, 31);
    CHECK("system prompt: the model and its blocks",
          strstr(sys, "You study tiny, a GPT-2 model with 2 transformer blocks") != NULL);
    CHECK("system prompt: tasks",
          strstr(sys, "- facts: well-known facts") && strstr(sys, "- addition: few-shot"));
    CHECK("system prompt: the step", strstr(sys, "This is step 31.") != NULL);
    CHECK("system prompt: the meta record's goal",
          strstr(sys, "The researcher's question: Where are facts?\n") != NULL);
    JsonBuf tools = {0};
    agent_llm_tools(&tools, &s, &OPTS);
    JsonDoc d;
    char err[128];
    CHECK_INT("tools: valid JSON", json_parse(&d, tools.buf, tools.len, err, sizeof err), 0);
    CHECK_INT("tools: eight (run_judge too)", json_size(&d, 0), 8);
    CHECK("tools: layer bounds", strstr(tools.buf, "\"minimum\":0,\"maximum\":1") != NULL);
    json_free(&d);
    jb_free(&tools);
    free(sys);
    free(big);
    free(small);
    agent_state_free(&s);
    journal_log_free(&log);
    jb_free(&j);
}

static void test_sh(void) {
    AgentAction a = {.type = AGENT_ACTION_EXPERIMENT, .planner = "llm", .examples = 5};
    a.name = xstrdup("e/1");
    a.task = xstrdup("facts");
    configs_add(&a.configs, (int[]){0, 1}, 2, "intact");
    configs_add(&a.configs, NULL, 0, "it's none");
    a.need[0] = 1;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    agent_action_sh(fp, &a, 4);
    fclose(fp);
    CHECK("sh: assignments",
          strstr(buf, "type='experiment'\nstep=4\nname='e/1'\ntask='facts'\nexamples=5\nsamples=3\n"
                      "n_configs=2\nconfig_1='[0,1]'\nlabel_1='intact'\nconfig_2='[]'\n") != NULL);
    CHECK("sh: a quote", strstr(buf, "label_2='it'\\''s none'\n") != NULL);
    CHECK("sh: tools",
          strstr(buf, "n_sweeps=0\nneed_scoreloss=1\nneed_runlayers=0\nneed_topk=0\n") != NULL);
    free(buf);
    char *c = agent_clip("a\nb\xc3\xa9zzzz", 4);
    CHECK_STR("clip: newline shown, cut at a character", c, "a\\nb...");
    free(c);
    agent_action_free(&a);
}

int main(void) {
    test_configs();
    test_state();
    test_builtin();
    test_note_answers();
    test_llm_calls();
    test_judged();
    test_prompt_budget();
    test_sh();
    CHECK_DONE();
}
