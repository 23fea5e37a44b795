// test_taskgen: validation of an LLM's task reply (schema, completion-style rules, merged
// names, repeated examples, seed-name clashes, fences), the request's messages, and the
// NDJSON-records form of the task import (tasks_parse).
#include "agent/taskgen.h"
#include "base/util.h"
#include "check.h"

#include <stdlib.h>

// A task object with n examples "PREFIX i is" -> "A<i>" (prompts distinct per prefix).
static void task_json(JsonBuf *b, const char *name, const char *prefix, int from, int n) {
    char buf[256];
    jb_sep(b);
    jb_puts(b, "{\"name\":");
    jb_cstr(b, name);
    jb_puts(b, ",\"description\":\"d\",\"examples\":[");
    for (int i = from; i < from + n; i++) {
        snprintf(buf, sizeof buf, "{\"prompt\":\"%s %d is\",\"answer\":\"A%d\"}", prefix, i, i);
        jb_sep(b);
        jb_puts(b, buf);
    }
    jb_puts(b, "],\"eval_questions\":[\"Right?\"]}");
}

typedef struct {
    JsonBuf list;
    char **problems;
    int n_problems, n_dup, n;
    char err[256];
} Result;

static void run(Result *r, const char *text, const TaskInfo *const *avoid, int n_avoid) {
    memset(r, 0, sizeof *r);
    r->n = taskgen_parse(text, strlen(text), avoid, n_avoid, TASKGEN_MIN_EXAMPLES, &r->list,
                         &r->problems, &r->n_problems, &r->n_dup, r->err, sizeof r->err);
}

static void result_free(Result *r) {
    for (int i = 0; i < r->n_problems; i++) free(r->problems[i]);
    free(r->problems);
    jb_free(&r->list);
}

static int has_problem(const Result *r, const char *want) {
    for (int i = 0; i < r->n_problems; i++)
        if (strstr(r->problems[i], want)) return 1;
    printf("  (problems:");
    for (int i = 0; i < r->n_problems; i++) printf(" [%s]", r->problems[i]);
    printf(")\n");
    return 0;
}

static void test_valid_and_merged(void) {
    JsonBuf b = {0};
    jb_puts(&b, "{\"tasks\":[");
    task_json(&b, "alpha", "a", 0, 20);
    task_json(&b, "beta", "b", 0, 12);
    task_json(&b, "beta", "b", 8, 12);   // merged: 8..11 repeat, 12..19 new -> 20
    jb_puts(&b, "]}");
    Result r;
    run(&r, b.buf, NULL, 0);
    CHECK_INT("two valid tasks", r.n, 2);
    CHECK_INT("no problems", r.n_problems, 0);
    CHECK_INT("repeated examples dropped", r.n_dup, 4);
    TaskSet set;
    char err[256];
    CHECK_INT("list imports", tasks_parse(&set, r.list.buf, r.list.len, err, sizeof err), 0);
    CHECK_INT("imported tasks", set.n, 2);
    if (set.n == 2) {
        CHECK_STR("first name", set.tasks[0].name, "alpha");
        CHECK_INT("alpha examples", set.tasks[0].n_items, 20);
        CHECK_STR("merged name", set.tasks[1].name, "beta");
        CHECK_INT("merged examples", set.tasks[1].n_items, 20);
        CHECK_STR("merged: first item's order", set.tasks[1].items[12].prompt, "b 12 is");
        CHECK_STR("separator explicit", set.tasks[1].items[0].separator, " ");
        CHECK_INT("questions merged without repeats", set.tasks[1].n_eval, 1);
    }
    tasks_set_free(&set);
    result_free(&r);
    jb_free(&b);

    // a bare array, fenced
    jb_puts(&b, "```json\n[");
    task_json(&b, "gamma", "g", 0, 21);
    jb_puts(&b, "]\n```\n");
    run(&r, b.buf, NULL, 0);
    CHECK_INT("fenced bare array", r.n, 1);
    result_free(&r);
    jb_free(&b);
}

static void test_invalid(void) {
    JsonBuf b = {0};
    jb_puts(&b, "{\"tasks\":[");
    task_json(&b, "few", "f", 0, 19);     // 0: too few
    task_json(&b, "facts", "x", 0, 20);   // 1: a seed's name
    jb_puts(
        &b,
        ",{\"name\":\"Upper Case\",\"description\":\"d\",\"examples\":[],\"eval_questions\":[\"q\"]}");   // 2
    jb_puts(&b, ",{\"name\":\"nodesc\",\"examples\":[],\"eval_questions\":[\"q\"]}");   // 3
    jb_puts(&b, ",{\"name\":\"noq\",\"description\":\"d\",\"examples\":[]}");           // 4
    jb_puts(
        &b,
        ",{\"name\":\"multi\",\"description\":\"two\\nlines\",\"examples\":[],\"eval_questions\":[\"q\"]}");   // 5
    jb_puts(&b, ",[1]");   // 6
    // 7: bad examples among 20 good ones
    jb_puts(&b,
            ",{\"name\":\"mixed\",\"description\":\"d\",\"eval_questions\":[\"q\"],\"examples\":["
            "{\"prompt\":\"What is the capital of France?\",\"answer\":\"Paris\"},"
            "{\"prompt\":\"Madrid is in \",\"answer\":\"Spain\"},"
            "{\"prompt\":\"Madrid is in\",\"answer\":\" Spain\"},"
            "{\"prompt\":\"x\",\"answer\":\"\"},"
            "{\"prompt\":\"x\",\"answer\":\"a\\nb\"},"
            "{\"prompt\":\"x\",\"answer\":\"y\",\"separator\":\"-\"},"
            "{\"prompt\":\"{\\\"a\\\": \\\"gar\",\"answer\":\"den\\\"}\",\"separator\":\"\"},"
            "{\"prompt\":\"\",\"answer\":\"y\"},"
            "{\"answer\":\"y\"},"
            "{\"prompt\":\"x\",\"answer\":\"y \"},"
            "\"text\"");
    for (int i = 0; i < 19; i++) {
        char buf[96];
        snprintf(buf, sizeof buf, ",{\"prompt\":\"m %d is\",\"answer\":\"M\"}", i);
        jb_puts(&b, buf);
    }
    jb_puts(&b, "]}]}");
    TaskInfo facts = {.name = "facts"};
    const TaskInfo *avoid[1] = {&facts};
    Result r;
    run(&r, b.buf, avoid, 1);
    CHECK_INT("one valid task", r.n, 1);
    CHECK("too few", has_problem(&r, "task 0 (few): only 19 valid examples, at least 20 needed"));
    CHECK("seed name", has_problem(&r, "task 1 (facts): has the name of an existing task"));
    CHECK("bad name", has_problem(&r, "task 2: \"name\" missing or not made of"));
    CHECK("no description", has_problem(&r, "task 3 (nodesc): \"description\" missing"));
    CHECK("no questions", has_problem(&r, "task 4 (noq): \"eval_questions\" missing"));
    CHECK("two-line description",
          has_problem(&r, "task 5 (multi): \"description\" is not one short line"));
    CHECK("not an object", has_problem(&r, "task 6: not an object"));
    CHECK("chat question", has_problem(&r, "task 7 (mixed), example 0: the prompt ends in '?'"));
    CHECK("prompt trailing space", has_problem(&r, "example 1: the prompt ends in a space"));
    CHECK("answer leading space", has_problem(&r, "example 2: the answer starts with a space"));
    CHECK("empty answer", has_problem(&r, "example 3: the answer is empty"));
    CHECK("answer newline", has_problem(&r, "example 4: the answer holds a newline"));
    CHECK("bad separator", has_problem(&r, "example 5: \"separator\" must be"));
    CHECK("empty prompt", has_problem(&r, "example 7: the prompt is empty"));
    CHECK("prompt missing", has_problem(&r, "example 8: \"prompt\" missing"));
    CHECK("answer trailing space", has_problem(&r, "example 9: the answer ends in a space"));
    CHECK("example not object", has_problem(&r, "example 10: not an object"));
    CHECK_INT("problem count", r.n_problems, 17);
    CHECK("separator \"\" example kept", strstr(r.list.buf, "\"separator\":\"\"") != NULL);
    result_free(&r);
    jb_free(&b);

    run(&r, "Sure! Here are your tasks:", NULL, 0);
    CHECK_INT("not JSON", r.n, -1);
    CHECK("not JSON message", strstr(r.err, "the model's reply is not JSON") != NULL);
    CHECK_INT("not JSON appends nothing", (long long)r.list.len, 0);
    result_free(&r);
    run(&r, "{\"items\": []}", NULL, 0);
    CHECK_INT("no tasks array", r.n, -1);
    CHECK_STR("no tasks array message", r.err, "the model's reply has no \"tasks\" array");
    result_free(&r);
    run(&r, "{\"tasks\": []}", NULL, 0);
    CHECK_INT("empty tasks", r.n, 0);
    CHECK_STR("empty list", r.list.buf, "[]");
    result_free(&r);
}

static void test_messages(void) {
    TaskGenOptions o;
    taskgen_options_default(&o);
    o.n_tasks = 4;
    o.n_examples = 30;
    const TaskInfo *seeds[2] = {tasks_find("facts"), tasks_find("json")};
    JsonBuf m = {0};
    taskgen_messages(seeds, 2, &o, &m);
    JsonDoc d;
    char err[128];
    CHECK_INT("messages JSON", json_parse(&d, m.buf, m.len, err, sizeof err), 0);
    CHECK_INT("two messages", json_size(&d, 0), 2);
    char *sys = NULL, *user = NULL;
    json_str(&d, json_obj_get(&d, json_arr_at(&d, 0, 0), "content"), &sys, NULL);
    json_str(&d, json_obj_get(&d, json_arr_at(&d, 0, 1), "content"), &user, NULL);
    CHECK("system states the schema", sys && strstr(sys, "{\"tasks\": [{\"name\"") != NULL);
    CHECK("system: completion style", sys && strstr(sys, "never ending in '?'") != NULL);
    CHECK(
        "user: K and N",
        user &&
            strstr(
                user,
                "Write 4 new tasks of the same kind, different from these, each with at least 30 examples") !=
                NULL);
    CHECK("user: a seed example",
          user && strstr(user, "{\"prompt\":\"Madrid is the capital of\",\"answer\":\"Spain\"}") !=
                      NULL);
    CHECK("user: json's separator shown", user && strstr(user, "\"separator\":\"\"") != NULL);
    CHECK("user: five examples per seed",
          user && strstr(user, "\"Italy\"") != NULL && !strstr(user, "\"Japan\""));
    free(sys);
    free(user);
    json_free(&d);
    jb_free(&m);
}

static void test_records_import(void) {
    const char *text =
        "{\"id\":\"t-0\",\"task\":\"t\",\"description\":\"dt\",\"prompt\":\"a\",\"answer\":\"b\",\"separator\":\" \",\"eval_questions\":[\"q?\"]}\n"
        "\n"
        "{\"task\":\"u\",\"prompt\":\"c\",\"answer\":\"d\",\"separator\":\"\"}\r\n"
        "not json\n"
        "{\"task\":\"t\",\"prompt\":\"e\",\"answer\":\"f\"}\n"
        "{\"task\":\"t\",\"prompt\":\"g\",\"answer\":\"h\",\"error\":\"failed upstream\"}\n"
        "{\"task\":3,\"prompt\":\"g\",\"answer\":\"h\"}\n"
        "{\"task\":\"u\",\"prompt\":[1],\"answer\":\"h\"}\n"
        "{\"task\":\"u\",\"prompt\":\"i\",\"answer\":\"\"}";
    TaskSet set;
    char err[256];
    CHECK_INT("records parse", tasks_parse(&set, text, strlen(text), err, sizeof err), 0);
    CHECK_INT("records: two tasks", set.n, 2);
    if (set.n == 2) {
        CHECK_STR("records: first task", set.tasks[0].name, "t");
        CHECK_STR("records: description", set.tasks[0].description, "dt");
        CHECK_INT("records: t examples", set.tasks[0].n_items, 2);
        CHECK_STR("records: second prompt of t", set.tasks[0].items[1].prompt, "e");
        CHECK_INT("records: questions", set.tasks[0].n_eval, 1);
        CHECK_INT("records: u examples", set.tasks[1].n_items, 1);
        CHECK_STR("records: u separator", set.tasks[1].items[0].separator, "");
    }
    CHECK_INT("records: problems", set.n_problems, 5);
    if (set.n_problems == 5) {
        CHECK_STR("records: bad line", set.problems[0], "line 4: not a JSON object");
        CHECK_STR("records: error record", set.problems[1],
                  "line 6: the record carries an \"error\"");
        CHECK_STR("records: task not string", set.problems[2],
                  "line 7: \"task\" missing or not a non-empty string");
        CHECK("records: prompt not string", strstr(set.problems[3], "line 8 (u):") != NULL);
        CHECK_STR("records: empty answer (task level)", set.problems[4],
                  "task 1 (u), example 1: \"answer\" is empty");
    }
    tasks_set_free(&set);
    CHECK_INT("array still a task list", tasks_parse(&set, " [] ", 4, err, sizeof err), 0);
    tasks_set_free(&set);
    CHECK_INT("a string is neither", tasks_parse(&set, "\"x\"", 3, err, sizeof err), -1);
    tasks_set_free(&set);
}

int main(void) {
    test_valid_and_merged();
    test_invalid();
    test_messages();
    test_records_import();
    CHECK_DONE();
}
