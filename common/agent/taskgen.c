// taskgen: new tasks written by an LLM; see taskgen.h.
#include "agent/taskgen.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define MAX_EXAMPLES_KEPT 1000   // per task; more are ignored (one problem says so)

void taskgen_options_default(TaskGenOptions *o) {
    memset(o, 0, sizeof *o);
    o->n_tasks = 3;
    o->n_examples = TASKGEN_MIN_EXAMPLES;
    o->seed_examples = 5;
}

// ----------------------------------------------------------------------------- prompt

static const char system_prompt[] =
    "You design evaluation tasks for interpretability experiments on GPT-2 small, a "
    "124M-parameter base language model (not a chat model, it follows no instructions). "
    "The experiments remove or reorder the model's layers and measure how well it still "
    "predicts the answer of each example.\n"
    "\n"
    "Rules for every example:\n"
    "- \"prompt\" is plain text the model continues: a sentence to finish, a list or "
    "pattern to extend, or a few solved lines followed by an unsolved one. Never a question "
    "or an instruction addressed to an assistant, and never ending in '?'.\n"
    "- \"answer\" is the short continuation (one word, number or a few tokens) that a "
    "well-trained model should find the single most likely one. It must be unambiguous.\n"
    "- The model reads prompt + separator + answer. \"separator\" is \" \" (the default: "
    "leave it out): then the prompt does not end with a space and the answer does not start "
    "with one. Use \"\" only when the answer continues inside a word.\n"
    "- All prompts of a task are different.\n"
    "Every task has a short one-line \"description\" and 1 to 3 \"eval_questions\": "
    "yes/no questions a judge answers about a free continuation of one prompt.\n"
    "Task names use lowercase letters, digits, '_' or '-', start with a letter, and differ "
    "from the existing tasks' names.\n"
    "\n"
    "Reply with one JSON object and nothing else:\n"
    "{\"tasks\": [{\"name\": \"...\", \"description\": \"...\", "
    "\"examples\": [{\"prompt\": \"...\", \"answer\": \"...\"}, ...], "
    "\"eval_questions\": [\"...\"]}]}";

// The seed tasks as a JSON array: name, description, up to o->seed_examples examples,
// eval_questions.
static void seeds_json(const TaskInfo *const *seeds, int n_seeds, const TaskGenOptions *o,
                       JsonBuf *b) {
    jb_puts(b, "[");
    for (int i = 0; i < n_seeds; i++) {
        const TaskInfo *t = seeds[i];
        jb_sep(b);
        jb_puts(b, "{");
        jb_key(b, "name");
        jb_cstr(b, t->name);
        jb_key(b, "description");
        jb_cstr(b, t->description ? t->description : "");
        jb_key(b, "examples");
        jb_puts(b, "[");
        int n = tasks_default_n(t);
        if (n > o->seed_examples) n = o->seed_examples;
        TaskExample *ex = NULL;
        char err[256];
        n = n > 0 ? tasks_generate(t, n, o->seed, NULL, &ex, err, sizeof err) : 0;
        for (int k = 0; k < n; k++) {
            const char *sep = ex[k].separator ? ex[k].separator : t->separator ? t->separator : " ";
            jb_sep(b);
            jb_puts(b, "{");
            jb_key(b, "prompt");
            jb_cstr(b, ex[k].prompt);
            jb_key(b, "answer");
            jb_cstr(b, ex[k].answer);
            if (strcmp(sep, " ") != 0) {
                jb_key(b, "separator");
                jb_cstr(b, sep);
            }
            jb_puts(b, "}");
        }
        if (n > 0) tasks_free_examples(ex, n);
        jb_puts(b, "]");
        if (t->n_eval > 0) {
            jb_key(b, "eval_questions");
            jb_puts(b, "[");
            for (int q = 0; q < t->n_eval; q++) {
                jb_sep(b);
                jb_cstr(b, t->eval_questions[q]);
            }
            jb_puts(b, "]");
        }
        jb_puts(b, "}");
    }
    jb_puts(b, "]");
}

void taskgen_messages(const TaskInfo *const *seeds, int n_seeds, const TaskGenOptions *o,
                      JsonBuf *msgs) {
    int n_ex = o->n_examples < TASKGEN_MIN_EXAMPLES ? TASKGEN_MIN_EXAMPLES : o->n_examples;
    JsonBuf user = {0}, seed = {0};
    seeds_json(seeds, n_seeds, o, &seed);
    char head[256];
    snprintf(head, sizeof head, "Existing tasks (%d, with a few of their examples):\n", n_seeds);
    jb_puts(&user, head);
    jb_raw(&user, seed.buf, seed.len);
    char tail[512];
    snprintf(
        tail, sizeof tail,
        "\n\nWrite %d new task%s of the same kind, different from these, each with at least %d "
        "examples. Reply with the JSON object only.",
        o->n_tasks, o->n_tasks == 1 ? "" : "s", n_ex);
    jb_puts(&user, tail);
    llm_msg_add(msgs, "system", system_prompt);
    llm_msg_add(msgs, "user", user.buf);
    jb_free(&user);
    jb_free(&seed);
}

// ----------------------------------------------------------------------------- validation

typedef struct {
    char **items;
    int n;
} Problems;

static void problem_add(Problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem_add(Problems *p, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->items = xrealloc(p->items, (size_t)(p->n + 1) * sizeof *p->items);
    p->items[p->n++] = xstrdup(msg);
}

// A task being assembled from one or more items of the reply that share its name.
typedef struct {
    char *name;
    char *description;
    int first;          // index of its first item in the reply
    char **prompts;     // (n_ex) kept prompts, for the duplicate check
    JsonBuf examples;   // kept examples as JSON "{...},{...}"
    int n_ex;
    int capped;         // MAX_EXAMPLES_KEPT reached (reported once)
    char **questions;   // (n_q)
    int n_q;
} Draft;

static void draft_free(Draft *d) {
    free(d->name);
    free(d->description);
    for (int i = 0; i < d->n_ex; i++) free(d->prompts[i]);
    free(d->prompts);
    jb_free(&d->examples);
    for (int i = 0; i < d->n_q; i++) free(d->questions[i]);
    free(d->questions);
}

// A string member: 1 read (no NUL inside), 0 absent or null, -1 another type or a NUL.
static int get_string(const JsonDoc *d, int obj, const char *key, char **out) {
    *out = NULL;
    int v = json_obj_get(d, obj, key);
    if (v < 0 || json_is_null(d, v)) return 0;
    size_t n;
    if (json_str(d, v, out, &n) != 0 || strlen(*out) != n) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 1;
}

static int has_control(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return 1;
    return 0;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > TASKGEN_MAX_NAME || s[0] < 'a' || s[0] > 'z') return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return 0;
    return 1;
}

// Why example (token ex) is not valid, or NULL; on NULL *prompt, *answer, *sep are set
// (malloc'd; sep may stay NULL for the default " ").
static const char *example_check(const JsonDoc *d, int ex, char **prompt, char **answer,
                                 char **sep) {
    *prompt = *answer = *sep = NULL;
    if (json_type(d, ex) != JSMN_OBJECT) return "not an object";
    if (get_string(d, ex, "prompt", prompt) != 1) return "\"prompt\" missing or not a string";
    if (get_string(d, ex, "answer", answer) != 1) return "\"answer\" missing or not a string";
    if (get_string(d, ex, "separator", sep) < 0) return "\"separator\" is not a string";
    const char *s = *sep ? *sep : " ";
    size_t pl = strlen(*prompt), al = strlen(*answer);
    if (strcmp(s, " ") != 0 && strcmp(s, "") != 0) return "\"separator\" must be \" \" or \"\"";
    if (pl == 0) return "the prompt is empty";
    if (pl > TASKGEN_MAX_PROMPT) return "the prompt is too long";
    if (al == 0) return "the answer is empty";
    if (al > TASKGEN_MAX_ANSWER) return "the answer is too long";
    if (has_control(*answer)) return "the answer holds a newline or control character";
    if (is_blank((*answer)[al - 1])) return "the answer ends in a space";
    if (s[0] == ' ' && is_blank((*prompt)[pl - 1]))
        return "the prompt ends in a space (the separator adds it)";
    if (s[0] == ' ' && is_blank((*answer)[0]))
        return "the answer starts with a space (the separator adds it)";
    size_t t = pl;
    while (t > 0 && is_blank((*prompt)[t - 1])) t--;
    if (t > 0 && (*prompt)[t - 1] == '?')
        return "the prompt ends in '?' (a question, not text to continue)";
    return NULL;
}

// Add the examples of item i (array token arr) to draft; bad ones become problems.
static void draft_add_examples(Draft *dr, const JsonDoc *d, int arr, int item, Problems *pr,
                               int *n_dup) {
    int n = json_size(d, arr);
    for (int k = 0, v = arr + 1; k < n; k++, v = json_skip(d, v)) {
        char *prompt, *answer, *sep;
        const char *why = example_check(d, v, &prompt, &answer, &sep);
        int dup = 0;
        for (int j = 0; !why && j < dr->n_ex && !dup; j++)
            dup = strcmp(dr->prompts[j], prompt) == 0;
        if (why) {
            problem_add(pr, "task %d (%s), example %d: %s", item, dr->name, k, why);
        } else if (dup) {
            (*n_dup)++;
        } else if (dr->n_ex >= MAX_EXAMPLES_KEPT) {
            if (!dr->capped)
                problem_add(pr, "task %d (%s): more than %d examples; the rest are ignored", item,
                            dr->name, MAX_EXAMPLES_KEPT);
            dr->capped = 1;
        } else {
            jb_sep(&dr->examples);
            jb_puts(&dr->examples, "{");
            jb_key(&dr->examples, "prompt");
            jb_cstr(&dr->examples, prompt);
            jb_key(&dr->examples, "answer");
            jb_cstr(&dr->examples, answer);
            jb_key(&dr->examples, "separator");
            jb_cstr(&dr->examples, sep ? sep : " ");
            jb_puts(&dr->examples, "}");
            dr->prompts = xrealloc(dr->prompts, (size_t)(dr->n_ex + 1) * sizeof *dr->prompts);
            dr->prompts[dr->n_ex++] = prompt;
            prompt = NULL;
        }
        free(prompt);
        free(answer);
        free(sep);
    }
}

// The eval questions of item (array token q) into qs/nq; why on a bad one.
static const char *questions_read(const JsonDoc *d, int q, char ***qs, int *nq) {
    if (q < 0 || json_type(d, q) != JSMN_ARRAY) return "\"eval_questions\" missing or not an array";
    int n = json_size(d, q);
    if (n == 0) return "\"eval_questions\" is empty";
    for (int k = 0, v = q + 1; k < n; k++, v = json_skip(d, v)) {
        char *s = NULL;
        size_t len;
        if (json_str(d, v, &s, &len) != 0 || strlen(s) != len || len == 0 ||
            len > TASKGEN_MAX_QUESTION || has_control(s)) {
            free(s);
            return "\"eval_questions\" holds something that is not a non-empty one-line string";
        }
        *qs = xrealloc(*qs, (size_t)(*nq + 1) * sizeof **qs);
        (*qs)[(*nq)++] = s;
    }
    return NULL;
}

// Item i (token obj): task-level checks, then merged into its draft (created when new).
static void item_take(const JsonDoc *d, int obj, int i, const TaskInfo *const *avoid, int n_avoid,
                      Draft **drafts, int *n_drafts, Problems *pr, int *n_dup) {
    if (json_type(d, obj) != JSMN_OBJECT) {
        problem_add(pr, "task %d: not an object", i);
        return;
    }
    char *name = NULL, *desc = NULL, **qs = NULL;
    int nq = 0;
    const char *why = NULL;
    int ex = json_obj_get(d, obj, "examples");
    if (get_string(d, obj, "name", &name) != 1 || !name_ok(name)) {
        problem_add(
            pr,
            "task %d: \"name\" missing or not made of a-z, 0-9, '_', '-' (starting with a letter, at most %d)",
            i, TASKGEN_MAX_NAME);
        free(name);
        return;
    }
    for (int k = 0; k < n_avoid && !why; k++)
        if (strcmp(avoid[k]->name, name) == 0) why = "has the name of an existing task";
    if (!why && (get_string(d, obj, "description", &desc) != 1 || desc[0] == '\0'))
        why = "\"description\" missing or not a non-empty string";
    else if (!why && (strlen(desc) > TASKGEN_MAX_DESCRIPTION || has_control(desc)))
        why = "\"description\" is not one short line";
    if (!why && (ex < 0 || json_type(d, ex) != JSMN_ARRAY))
        why = "\"examples\" missing or not an array";
    if (!why) why = questions_read(d, json_obj_get(d, obj, "eval_questions"), &qs, &nq);
    if (why) {
        problem_add(pr, "task %d (%s): %s", i, name, why);
        free(name);
        free(desc);
        for (int k = 0; k < nq; k++) free(qs[k]);
        free(qs);
        return;
    }
    int k = 0;
    while (k < *n_drafts && strcmp((*drafts)[k].name, name) != 0) k++;
    if (k == *n_drafts) {
        *drafts = xrealloc(*drafts, (size_t)(*n_drafts + 1) * sizeof **drafts);
        memset(&(*drafts)[k], 0, sizeof **drafts);
        (*drafts)[k].name = name;
        (*drafts)[k].description = desc;
        (*drafts)[k].first = i;
        (*n_drafts)++;
    } else {   // the same name again: merge into the first, keeping its description
        free(name);
        free(desc);
    }
    Draft *dr = &(*drafts)[k];
    for (int q = 0; q < nq; q++) {
        int seen = 0;
        for (int j = 0; j < dr->n_q && !seen; j++) seen = strcmp(dr->questions[j], qs[q]) == 0;
        if (seen) {
            free(qs[q]);
            continue;
        }
        dr->questions = xrealloc(dr->questions, (size_t)(dr->n_q + 1) * sizeof *dr->questions);
        dr->questions[dr->n_q++] = qs[q];
    }
    free(qs);
    draft_add_examples(dr, d, ex, i, pr, n_dup);
}

static void draft_write(const Draft *dr, JsonBuf *list) {
    jb_sep(list);
    jb_puts(list, "{");
    jb_key(list, "name");
    jb_cstr(list, dr->name);
    jb_key(list, "description");
    jb_cstr(list, dr->description);
    jb_key(list, "examples");
    jb_puts(list, "[");
    if (dr->examples.buf) jb_raw(list, dr->examples.buf, dr->examples.len);
    jb_puts(list, "]");
    jb_key(list, "eval_questions");
    jb_puts(list, "[");
    for (int q = 0; q < dr->n_q; q++) {
        jb_sep(list);
        jb_cstr(list, dr->questions[q]);
    }
    jb_puts(list, "]}");
}

// text without a surrounding ```json ... ``` fence: *start, *len.
static void fence_strip(const char *text, size_t len, size_t *start, size_t *n) {
    size_t s = 0, e = len;
    while (s < e && is_blank(text[s])) s++;
    while (e > s && is_blank(text[e - 1])) e--;
    if (e - s >= 6 && strncmp(text + s, "```", 3) == 0 && strncmp(text + e - 3, "```", 3) == 0) {
        const char *nl = memchr(text + s, '\n', e - s);
        if (nl && (size_t)(nl - text) < e - 3) {
            s = (size_t)(nl - text) + 1;
            e -= 3;
        }
    }
    *start = s;
    *n = e - s;
}

int taskgen_parse(const char *text, size_t len, const TaskInfo *const *avoid, int n_avoid,
                  int min_examples, JsonBuf *list, char ***problems, int *n_problems, int *n_dup,
                  char *err, size_t errlen) {
    *problems = NULL;
    *n_problems = 0;
    *n_dup = 0;
    size_t s, n;
    fence_strip(text, len, &s, &n);
    JsonDoc d;
    char jerr[160];
    if (json_parse(&d, text + s, n, jerr, sizeof jerr) != 0) {
        json_free(&d);
        return fail(err, errlen, "the model's reply is not JSON (%s)", jerr);
    }
    int arr = json_type(&d, 0) == JSMN_ARRAY    ? 0
              : json_type(&d, 0) == JSMN_OBJECT ? json_obj_get(&d, 0, "tasks")
                                                : -1;
    if (arr < 0 || json_type(&d, arr) != JSMN_ARRAY) {
        json_free(&d);
        return fail(err, errlen, "the model's reply has no \"tasks\" array");
    }
    Problems pr = {0};
    Draft *drafts = NULL;
    int n_drafts = 0, n_valid = 0;
    int n_items = json_size(&d, arr);
    for (int i = 0, v = arr + 1; i < n_items; i++, v = json_skip(&d, v))
        item_take(&d, v, i, avoid, n_avoid, &drafts, &n_drafts, &pr, n_dup);
    jb_puts(list, "[");
    for (int k = 0; k < n_drafts; k++) {
        if (drafts[k].n_ex < min_examples) {
            problem_add(&pr, "task %d (%s): only %d valid examples, at least %d needed",
                        drafts[k].first, drafts[k].name, drafts[k].n_ex, min_examples);
        } else {
            draft_write(&drafts[k], list);
            n_valid++;
        }
        draft_free(&drafts[k]);
    }
    jb_puts(list, "]");
    free(drafts);
    json_free(&d);
    *problems = pr.items;
    *n_problems = pr.n;
    return n_valid;
}

// ----------------------------------------------------------------------------- the exchange

int taskgen_run(LlmClient *c, const TaskInfo *const *seeds, int n_seeds, const TaskGenOptions *o,
                TaskSet *set, JsonBuf *list, int *n_dup, LlmReply *reply, int *fatal, char *err,
                size_t errlen) {
    memset(set, 0, sizeof *set);
    *n_dup = 0;
    *fatal = 0;
    JsonBuf msgs = {0};
    taskgen_messages(seeds, n_seeds, o, &msgs);
    LlmRequest req = {.messages = msgs.buf,
                      .response_format = "{\"type\":\"json_object\"}",
                      .has_seed = o->send_seed,
                      .seed = (long long)(o->seed & 0x7fffffffffffffffULL)};
    int rc = llm_chat(c, &req, reply, err, errlen);
    jb_free(&msgs);
    if (rc != 0) {
        *fatal = 1;
        return -1;
    }
    if (!reply->content) return fail(err, errlen, "the model's reply has no content");
    JsonBuf out = {0};
    char **problems;
    int n_problems;
    char perr[256];
    int n =
        taskgen_parse(reply->content, strlen(reply->content), seeds, n_seeds, TASKGEN_MIN_EXAMPLES,
                      &out, &problems, &n_problems, n_dup, perr, sizeof perr);
    rc = -1;
    if (n < 0) {   // problems is NULL then
        int cut = reply->finish_reason && strcmp(reply->finish_reason, "length") == 0;
        fail(err, errlen, "%s%s", perr,
             cut ? "; the reply was cut at the token limit (finish_reason \"length\")" : "");
        goto done;
    }
    if (tasks_parse(set, out.buf, out.len, perr, sizeof perr) !=
        0) {   // cannot happen: the list is ours
        fail(err, errlen, "internal: %s", perr);
        goto done;
    }
    // taskgen's problems first, then any of the import (none expected); the strings move
    char **all = xcalloc((size_t)(n_problems + set->n_problems) + 1, sizeof *all);
    if (n_problems) memcpy(all, problems, (size_t)n_problems * sizeof *all);
    if (set->n_problems)
        memcpy(all + n_problems, set->problems, (size_t)set->n_problems * sizeof *all);
    free(set->problems);
    set->problems = all;
    set->n_problems += n_problems;
    n_problems = 0;
    if (list) jb_raw(list, out.buf, out.len);
    rc = set->n;
done:
    for (int i = 0; i < n_problems; i++) free(problems[i]);
    free(problems);
    jb_free(&out);
    return rc;
}
