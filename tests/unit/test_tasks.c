// Unit tests for common/experiment/tasks: generators (exact values, reproducibility, correctness of
// every answer by recomputation), fixed lists, the writer and the task-list import.
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "check.h"
#include "experiment/tasks.h"

static int ends_with_space(const char *s) {
    size_t n = strlen(s);
    return n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t');
}

static TaskExample *make(const char *task, int n, uint64_t seed, const TaskOptions *o, int *got) {
    TaskExample *ex = NULL;
    char err[256] = "";
    const TaskInfo *t = tasks_find(task);
    *got = t ? tasks_generate(t, n, seed, o, &ex, err, sizeof err) : -1;
    if (*got < 0) printf("# %s: %s\n", task, err);
    return ex;
}

static void test_table(void) {
    CHECK("at least 8 built-in tasks", tasks_count() >= 8);
    CHECK("tasks_get out of range", tasks_get(-1) == NULL && tasks_get(tasks_count()) == NULL);
    CHECK("find unknown", tasks_find("nope") == NULL);
    const char *want[] = {"addition", "json",      "facts",    "counting",
                          "days",     "opposites", "alphabet", "copy"};
    for (int i = 0; i < 8; i++) CHECK(want[i], tasks_find(want[i]) != NULL);
    for (int i = 0; i < tasks_count(); i++) {
        const TaskInfo *t = tasks_get(i);
        CHECK("task has a one-line description",
              t->description && t->description[0] && !strchr(t->description, '\n'));
        CHECK("task is generated xor fixed", (t->gen != NULL) != (t->items != NULL));
        CHECK("separator is \" \" or \"\"",
              !strcmp(t->separator, " ") || !strcmp(t->separator, ""));
    }
    CHECK_STR("json separator is empty", tasks_find("json")->separator, "");
    CHECK("facts has at least 20 items", tasks_find("facts")->n_items >= 20);
    CHECK_INT("default n generated", tasks_default_n(tasks_find("addition")), 20);
    CHECK_INT("default n fixed", tasks_default_n(tasks_find("facts")),
              tasks_find("facts")->n_items);
}

// Exact output for seed 0: these literals pin the generator and the seeding.
static void test_exact(void) {
    int n;
    TaskExample *ex = make("addition", 2, 0, NULL, &n);
    CHECK_INT("addition n", n, 2);
    CHECK_STR("addition-0 prompt", ex[0].prompt, "3 + 1 = 4\n9 + 4 = 13\n0 + 7 = 7\n1 + 1 =");
    CHECK_STR("addition-0 answer", ex[0].answer, "2");
    CHECK_STR("addition-0 separator", ex[0].separator, " ");
    CHECK_INT("addition-1 index", ex[1].index, 1);
    tasks_free_examples(ex, n);

    ex = make("json", 2, 0, NULL, &n);
    CHECK_STR(
        "json-1 prompt", ex[1].prompt,
        "{\"size\": [{\"user\": \"red\", \"id\": \"tomato\"}, {\"user\": \"door\", \"id\": \"gar");
    CHECK_STR("json-1 answer", ex[1].answer, "den\"}]}");
    CHECK_STR("json-1 separator", ex[1].separator, "");
    tasks_free_examples(ex, n);

    ex = make("facts", 2, 0, NULL, &n);
    CHECK_STR("facts-1 prompt", ex[1].prompt, "Madrid is the capital of");
    CHECK_STR("facts-1 answer", ex[1].answer, "Spain");
    tasks_free_examples(ex, n);
}

static int same_examples(const TaskExample *a, const TaskExample *b, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(a[i].prompt, b[i].prompt) || strcmp(a[i].answer, b[i].answer) ||
            strcmp(a[i].separator, b[i].separator))
            return 0;
    return 1;
}

static void test_every_task(void) {
    for (int k = 0; k < tasks_count(); k++) {
        const TaskInfo *t = tasks_get(k);
        char name[128];
        int n, n2, n3, n5;
        TaskExample *a = make(t->name, 25, 7, NULL, &n);
        TaskExample *b = make(t->name, 25, 7, NULL, &n2);
        TaskExample *c = make(t->name, 25, 8, NULL, &n3);
        TaskExample *p = make(t->name, 5, 7, NULL, &n5);
        snprintf(name, sizeof name, "%s: count", t->name);
        CHECK_INT(name, n, 25);
        int ok = n == 25, spaces = 1, distinct = 1;
        for (int i = 0; ok && i < n; i++) {
            ok = a[i].prompt[0] && a[i].answer[0] && a[i].index == i;
            if (!strcmp(a[i].separator, " "))
                spaces = spaces && !ends_with_space(a[i].prompt) && a[i].answer[0] != ' ';
            for (int j = 0; t->gen && j < i; j++)
                distinct = distinct && strcmp(a[i].prompt, a[j].prompt);
        }
        snprintf(name, sizeof name, "%s: prompt and answer non-empty", t->name);
        CHECK(name, ok);
        snprintf(name, sizeof name, "%s: no trailing space before a \" \" separator", t->name);
        CHECK(name, spaces);
        snprintf(name, sizeof name, "%s: prompts distinct", t->name);
        CHECK(name, distinct);
        snprintf(name, sizeof name, "%s: same seed, same examples", t->name);
        CHECK(name, n == n2 && same_examples(a, b, n));
        snprintf(name, sizeof name, "%s: smaller n is a prefix", t->name);
        CHECK(name, n5 == 5 && same_examples(a, p, 5));
        if (t->gen) {
            snprintf(name, sizeof name, "%s: other seed, other examples", t->name);
            CHECK(name, n3 == 25 && !same_examples(a, c, n));
        }
        tasks_free_examples(a, n);
        tasks_free_examples(b, n2);
        tasks_free_examples(c, n3);
        tasks_free_examples(p, n5);
    }
}

// Parse "a + b = c" lines; every line of the prompt but the last carries its sum.
static void test_addition_sums(void) {
    for (int digits = 1; digits <= 5; digits++) {
        TaskOptions o = {digits, 2};
        int n;
        TaskExample *ex = make("addition", 30, 3, &o, &n);
        int ok = n == 30, widths = 1;
        for (int i = 0; ok && i < n; i++) {
            const char *line = ex[i].prompt;
            int lines = 0;
            while (line && *line) {
                long long a, b, c = -1;
                int used = 0;
                const char *nl = strchr(line, '\n');
                if (sscanf(line, "%lld + %lld =%n", &a, &b, &used) < 2) {
                    ok = 0;
                    break;
                }
                if (nl) ok = ok && sscanf(line + used, " %lld", &c) == 1 && c == a + b;
                else ok = ok && atoll(ex[i].answer) == a + b && (size_t)used == strlen(line);
                char buf[32];
                long long lo = digits == 1 ? 0 : 1;
                for (int d = 1; d < digits; d++) lo *= 10;
                snprintf(buf, sizeof buf, "%lld", a);
                widths = widths && a >= lo && (int)strlen(buf) == digits;
                lines++;
                line = nl ? nl + 1 : NULL;
            }
            ok = ok && lines == 3;
        }
        char name[64];
        snprintf(name, sizeof name, "addition digits=%d: sums correct", digits);
        CHECK(name, ok);
        snprintf(name, sizeof name, "addition digits=%d: operand widths", digits);
        CHECK(name, widths);
        tasks_free_examples(ex, n);
    }
    TaskOptions zero = {1, 0};
    int n;
    TaskExample *ex = make("addition", 1, 0, &zero, &n);
    CHECK("addition 0 shots: one line", n == 1 && !strchr(ex[0].prompt, '\n'));
    tasks_free_examples(ex, n);
}

static void test_sequences(void) {
    int n;
    TaskExample *ex = make("counting", 40, 1, NULL, &n);
    int ok = n == 40;
    for (int i = 0; ok && i < n; i++) {
        long long v[16];
        int k = 0, used;
        const char *p = ex[i].prompt;
        while (k < 16 && sscanf(p, " %lld,%n", &v[k], &used) == 1) {
            k++;
            p += used;
        }
        ok = k >= 3 && *p == '\0' && v[1] - v[0] == v[2] - v[1] &&
             atoll(ex[i].answer) == v[k - 1] + (v[1] - v[0]);
    }
    CHECK("counting answers", ok);
    tasks_free_examples(ex, n);

    ex = make("alphabet", 40, 1, NULL, &n);
    ok = n == 40;
    for (int i = 0; ok && i < n; i++) {
        size_t L = strlen(ex[i].prompt);
        ok = strlen(ex[i].answer) == 1 && ex[i].answer[0] == ex[i].prompt[L - 1] + 1;
    }
    CHECK("alphabet answers", ok);
    tasks_free_examples(ex, n);

    static const char *days =
        " Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday, Monday,";
    static const char *months =
        " January, February, March, April, May, June, July, August, September,"
        " October, November, December, January,";
    ex = make("days", 40, 1, NULL, &n);
    ok = n == 40;
    for (int i = 0; ok && i < n; i++) {
        // The last shown name followed by the answer appears in the (wrapped) list.
        const char *last = strrchr(ex[i].prompt, ' ');
        char want[64];
        snprintf(want, sizeof want, " %s %s,", last ? last + 1 : ex[i].prompt, ex[i].answer);
        ok = strstr(days, want) || strstr(months, want);
    }
    CHECK("days answers", ok);
    tasks_free_examples(ex, n);

    ex = make("copy", 40, 1, NULL, &n);
    ok = n == 40;
    for (int i = 0; ok && i < n; i++) {
        // prompt = LIST "\n" LIST-without-its-last-word; the answer is that last word.
        const char *nl = strchr(ex[i].prompt, '\n');
        char full[256];
        snprintf(full, sizeof full, "%s %s", nl ? nl + 1 : "", ex[i].answer);
        ok = nl && strlen(full) == (size_t)(nl - ex[i].prompt) &&
             !strncmp(full, ex[i].prompt, strlen(full));
    }
    CHECK("copy answers", ok);
    tasks_free_examples(ex, n);

    TaskOptions zero = {1, 0};
    ex = make("opposites", 3, 0, &zero, &n);
    size_t L = n == 3 ? strlen(ex[0].prompt) : 0;
    CHECK("opposites 0 shots", L > 18 && !strcmp(ex[0].prompt + L - 18, "is the opposite of"));
    tasks_free_examples(ex, n);
    ex = make("plural", 3, 0, NULL, &n);
    CHECK("plural few-shot ends with ', two'",
          n == 3 && strstr(ex[0].prompt, "one ") == ex[0].prompt &&
              !strcmp(ex[0].prompt + strlen(ex[0].prompt) - 5, ", two"));
    tasks_free_examples(ex, n);
}

static void test_json_task(void) {
    int n;
    TaskExample *ex = make("json", 60, 5, NULL, &n);
    int ok = n == 60, mid_word = 0, counter = 0;
    for (int i = 0; ok && i < n; i++) {
        JsonBuf b = {0};
        jb_puts(&b, ex[i].prompt);
        jb_puts(&b, ex[i].separator);
        jb_puts(&b, ex[i].answer);
        JsonDoc d;
        ok = json_parse(&d, b.buf, b.len, NULL, 0) == 0 && json_type(&d, 0) == JSMN_OBJECT;
        json_free(&d);
        ok = ok && strlen(ex[i].answer) <= 16 && !ends_with_space(ex[i].prompt);
        mid_word += ex[i].answer[0] >= 'a' && ex[i].answer[0] <= 'z';
        counter += ex[i].answer[0] == ' ';
        jb_free(&b);
    }
    CHECK("json: prompt + answer is one JSON object, answer short", ok);
    CHECK("json: cuts inside words and after counters both occur", mid_word > 5 && counter > 5);
    tasks_free_examples(ex, n);
}

static void test_fixed_and_options(void) {
    const TaskInfo *facts = tasks_find("facts");
    int m = facts->n_items, n;
    TaskExample *ex = make("facts", m + 2, 0, NULL, &n);
    CHECK_INT("facts cycles past its length", n, m + 2);
    CHECK("facts item m repeats item 0", n == m + 2 && !strcmp(ex[m].prompt, ex[0].prompt) &&
                                             !strcmp(ex[m + 1].answer, ex[1].answer) &&
                                             ex[m].index == m);
    tasks_free_examples(ex, n);
    ex = make("facts", -1, 0, NULL, &n);
    CHECK_INT("facts default n is the list", n, m);
    tasks_free_examples(ex, n);

    char err[128] = "";
    TaskOptions bad = {0, 3};
    TaskExample *out = (TaskExample *)1;
    CHECK_INT("digits 0 rejected",
              tasks_generate(tasks_find("addition"), 3, 0, &bad, &out, err, sizeof err), -1);
    CHECK("digits error names digits", strstr(err, "digits") != NULL && out == NULL);
    bad = (TaskOptions){1, TASKS_MAX_SHOTS + 1};
    CHECK_INT("shots too many rejected", tasks_options_check(&bad, err, sizeof err), -1);
    CHECK_INT("n 0 gives nothing",
              tasks_generate(tasks_find("copy"), 0, 0, NULL, &out, err, sizeof err), 0);
}

static void test_writer(void) {
    int n;
    TaskExample *ex = make("json", 2, 0, NULL, &n);
    JsonBuf lines = {0};
    tasks_write_example(&lines, tasks_find("json"), &ex[1]);
    JsonDoc d;
    size_t len = lines.len;
    CHECK("example line ends with newline",
          len > 0 && lines.buf[len - 1] == '\n' && !memchr(lines.buf, '\n', len - 1));
    CHECK("example line parses", json_parse(&d, lines.buf, len, NULL, 0) == 0);
    CHECK("id", json_str_eq(&d, json_obj_get(&d, 0, "id"), "json-1"));
    CHECK("task", json_str_eq(&d, json_obj_get(&d, 0, "task"), "json"));
    CHECK("prompt round trip", json_str_eq(&d, json_obj_get(&d, 0, "prompt"), ex[1].prompt));
    CHECK("answer round trip", json_str_eq(&d, json_obj_get(&d, 0, "answer"), ex[1].answer));
    CHECK("separator empty", json_str_eq(&d, json_obj_get(&d, 0, "separator"), ""));
    CHECK("description", json_type(&d, json_obj_get(&d, 0, "description")) == JSMN_STRING);
    int q = json_obj_get(&d, 0, "eval_questions");
    CHECK("eval_questions array of strings",
          json_type(&d, q) == JSMN_ARRAY && json_size(&d, q) >= 1 &&
              json_type(&d, json_arr_at(&d, q, 0)) == JSMN_STRING);
    json_free(&d);
    tasks_free_examples(ex, n);

    jb_reset(&lines);
    tasks_write_info(&lines, tasks_find("addition"));
    CHECK_STR(
        "info addition", lines.buf,
        "{\"name\":\"addition\",\"description\":\"few-shot addition of two numbers: \\\"2 + 4 = 6\\\\n4 + 2 =\\\" -> "
        "\\\"6\\\"\",\"generated\":true,\"options\":[\"digits\",\"shots\"],\"eval_questions\":[\"Does the "
        "continuation start with the correct sum?\"]}\n");
    jb_reset(&lines);
    tasks_write_info(&lines, tasks_find("facts"));
    CHECK("info facts has n_available",
          strstr(lines.buf, "\"n_available\":") != NULL && !strstr(lines.buf, "generated"));
    jb_free(&lines);
}

static int has_problem(const TaskSet *s, const char *needle) {
    for (int i = 0; i < s->n_problems; i++)
        if (strstr(s->problems[i], needle)) return 1;
    return 0;
}

static void test_import(void) {
    const char *text =
        "[{\"name\": \"a\", \"description\": \"d\", \"eval_questions\": [\"q1\", \"q2\"],"
        "  \"examples\": [{\"prompt\": \"p0\", \"answer\": \"x0\"}, 5, {\"prompt\": \"p2\"},"
        "                {\"prompt\": \"p3\", \"answer\": \"x3\", \"separator\": \"\"},"
        "                {\"prompt\": \"p4\", \"answer\": \"\"}, {\"prompt\": \"p\\u0000\", \"answer\": \"x\"},"
        "                {\"prompt\": \"p6\", \"answer\": \"x6\", \"separator\": 1}]},"
        " {\"description\": \"no name\", \"examples\": []},"
        " {\"name\": \"a\", \"examples\": [{\"prompt\": \"p\", \"answer\": \"x\"}]},"
        " {\"name\": \"b\", \"examples\": [{\"prompt\": \"\\u00e9t\\u00e9\", \"answer\": \"y\"}], \"eval_questions\": null},"
        " {\"name\": \"c\", \"examples\": [{\"prompt\": \"p\", \"answer\": \"x\"}], \"eval_questions\": [1]},"
        " {\"name\": \"e\", \"examples\": [5]}, []]";
    TaskSet s;
    char err[256] = "";
    CHECK_INT("parse task list", tasks_parse(&s, text, strlen(text), err, sizeof err), 0);
    CHECK_INT("two valid tasks", s.n, 2);
    const TaskInfo *a = tasks_find_in(s.tasks, s.n, "a");
    CHECK("task a kept",
          a && a->n_items == 2 && a->n_eval == 2 && !strcmp(a->eval_questions[1], "q2"));
    CHECK("task a description", a && !strcmp(a->description, "d"));
    CHECK("task a separator default", a && !strcmp(a->separator, " "));
    CHECK("example separator kept",
          a && a->n_items == 2 && a->items[1].separator && !strcmp(a->items[1].separator, ""));
    const TaskInfo *b = tasks_find_in(s.tasks, s.n, "b");
    CHECK("task b unicode prompt",
          b && !strcmp(b->items[0].prompt, "\xc3\xa9t\xc3\xa9") && b->n_eval == 0);
    CHECK("problem: example not an object",
          has_problem(&s, "task 0 (a), example 1: not an object"));
    CHECK("problem: no answer", has_problem(&s, "task 0 (a), example 2: \"answer\" missing"));
    CHECK("problem: empty answer", has_problem(&s, "task 0 (a), example 4: \"answer\" is empty"));
    CHECK("problem: NUL in prompt", has_problem(&s, "task 0 (a), example 5: \"prompt\""));
    CHECK("problem: separator type", has_problem(&s, "task 0 (a), example 6: \"separator\""));
    CHECK("problem: no name", has_problem(&s, "task 1: \"name\""));
    CHECK("problem: duplicate name",
          has_problem(&s, "task 2 (a): a task of this name came before"));
    CHECK("problem: eval_questions type", has_problem(&s, "task 4 (c): \"eval_questions\""));
    CHECK("problem: no valid examples", has_problem(&s, "task 5 (e): no valid examples"));
    CHECK("problem: task not an object", has_problem(&s, "task 6: not an object"));
    CHECK_INT("problem count", s.n_problems, 11);   // task 5 has two: its example and itself

    TaskExample *ex;
    int n = tasks_generate(a, 3, 99, NULL, &ex, err, sizeof err);
    CHECK("loaded task cycles", n == 3 && !strcmp(ex[2].prompt, "p0") &&
                                    !strcmp(ex[1].separator, "") && !strcmp(ex[0].separator, " "));
    tasks_free_examples(ex, n);
    tasks_set_free(&s);

    CHECK_INT("not JSON", tasks_parse(&s, "[{", 2, err, sizeof err), -1);
    tasks_set_free(&s);
    CHECK_INT("not an array", tasks_parse(&s, "{}", 2, err, sizeof err), -1);
    CHECK("not an array message", strstr(err, "array") != NULL);
    tasks_set_free(&s);
    CHECK_INT("missing file", tasks_load_file(&s, "/nonexistent/tasks.json", err, sizeof err), -1);
    CHECK("missing file message names it", strstr(err, "/nonexistent/tasks.json") != NULL);
    tasks_set_free(&s);
}

int main(void) {
    test_table();
    test_exact();
    test_every_task();
    test_addition_sums();
    test_sequences();
    test_json_task();
    test_fixed_and_options();
    test_writer();
    test_import();
    CHECK_DONE();
}
