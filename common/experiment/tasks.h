// tasks: the task examples the tools score — built-in generators (seeded, reproducible)
// and fixed lists, plus the import of the common JSON task-list format.
//
// An example is completion-style text for a small base model: `prompt` is what the model
// reads, `answer` what should follow it.  It is scored as the tokens of
// `separator + answer` after the prompt's tokens.  The separator is " " (GPT-2 puts the
// space in front of a word into that word's token, so a prompt never ends in a space),
// or "" where the answer continues the prompt inside a word (the json task).
//
// Reproducibility: example i of a generated task depends only on (seed, task name, i) and
// the examples before it (prompts do not repeat while the task has fresh ones), through the
// splitmix64 generator of rng.h; integer arithmetic only, so the same seed gives the same
// bytes on every machine, and `-n 5` is a prefix of `-n 20`.
// Called outside this module only by the tests (tests/unit/test_tasks.c): tasks_options_check.
#ifndef AUTOINTERP_TASKS_H
#define AUTOINTERP_TASKS_H
#include <stdint.h>

#include "base/json.h"
#include "base/rng.h"

// Knobs of the generators; a generator ignores the ones it does not use
// (TaskInfo.options names the ones it uses).
typedef struct {
    int digits;   // addition: digits per operand, 1..TASKS_MAX_DIGITS (default 1)
    int shots;    // few-shot lines before the query, 0..TASKS_MAX_SHOTS (default 3)
} TaskOptions;

#define TASKS_MAX_DIGITS  9
#define TASKS_MAX_SHOTS   50
#define TASKS_DEFAULT_N   20   // examples of a generated task when n is not given
#define TASKS_MAX_REDRAWS 50   // draws in a row that may repeat a prompt before repeats are allowed

// Fill *o with the defaults above.
void tasks_options_default(TaskOptions *o);
// 0 when every option is in range; -1 with a message in err otherwise.
int tasks_options_check(const TaskOptions *o, char *err, size_t errlen);

// One example.  Every string is owned by the example (free with tasks_free_examples).
typedef struct {
    int index;   // position in the output; the id is "<task>-<index>"
    char *prompt;
    char *answer;
    char *separator;        // the task's separator unless the example carries its own
    char *corrupt_prompt;   // activation patching (docs/interp.md): the corrupted prompt, of
                            // the same token length as prompt; NULL for most tasks
    char *wrong_answer;     // the answer the corrupted prompt calls for; NULL when none
} TaskExample;

typedef struct TaskInfo TaskInfo;
// A generator writes example `out` (prompt, answer; separator may stay NULL) from rng.
typedef void (*TaskGenFn)(const TaskInfo *t, Rng *rng, const TaskOptions *opt, TaskExample *out);

// A fixed example as stored in a task (strings borrowed by the TaskInfo's owner).
typedef struct {
    const char *prompt;
    const char *answer;
    const char *separator;                       // NULL: the task's separator
    const char *corrupt_prompt, *wrong_answer;   // clean/corrupted pairs (NULL: none)
} TaskItem;

struct TaskInfo {
    const char *name;
    const char *description;             // one line
    const char *separator;               // " " or ""
    const char *options;                 // generator knobs it reads, e.g. "digits,shots"; or NULL
    const char *const *eval_questions;   // (n_eval) questions for judging a continuation
    int n_eval;
    TaskGenFn gen;           // a generated task; NULL for a fixed list
    const TaskItem *items;   // (n_items) a fixed list; NULL when generated
    int n_items;
};

// ----------------------------------------------------------------------------- built-ins
int tasks_count(void);
const TaskInfo *tasks_get(int i);               // 0 <= i < tasks_count(), else NULL
const TaskInfo *tasks_find(const char *name);   // a built-in by name, or NULL
// Find by name in any array of tasks (e.g. a TaskSet's); NULL when absent.
const TaskInfo *tasks_find_in(const TaskInfo *tasks, int n, const char *name);

// ----------------------------------------------------------------------------- examples
// Examples produced when n is not given: TASKS_DEFAULT_N for a generator, the whole list
// for a fixed one.
int tasks_default_n(const TaskInfo *t);

// Make n examples of task t (n < 0: tasks_default_n(t)) into a malloc'd array *out
// (NULL when n == 0), which the caller frees with tasks_free_examples.  opt may be NULL
// (defaults).  A generator draws example i from a generator seeded with
// (seed, t->name, i), redrawing from that stream while the prompt repeats an earlier
// example's (until TASKS_MAX_REDRAWS draws in a row repeat: then the task's space is
// spent and repeats are allowed for the rest), so example i depends on examples < i only
// and a smaller n gives a prefix of a larger one.  A fixed list gives item i % n_items as example i: with n below
// the list's size that is its first n items, above it the list repeats; the seed is not
// used.  Returns n, or -1 with a message in err (options out of range, an empty fixed
// list asked for examples).
int tasks_generate(const TaskInfo *t, int n, uint64_t seed, const TaskOptions *opt,
                   TaskExample **out, char *err, size_t errlen);
void tasks_free_examples(TaskExample *ex, int n);

// Append example e of task t as one NDJSON line to `lines`:
// {"id","task","description","prompt","answer","separator"[,"corrupt_prompt",
//  "wrong_answer"][,"eval_questions"]}\n
void tasks_write_example(JsonBuf *lines, const TaskInfo *t, const TaskExample *e);
// Append the --list line of task t: {"name","description",("n_available": N |
// "generated": true)[,"options": [...]][,"eval_questions": [...]]}\n
void tasks_write_info(JsonBuf *lines, const TaskInfo *t);

// ----------------------------------------------------------------------------- import
// The common task-list format: a JSON array of
//   {"name": str, "description": str?, "examples": [{"prompt": str, "answer": str,
//    "separator": str?, "corrupt_prompt": str?, "wrong_answer": str?}, ...],
//    "eval_questions": [str, ...]?}
// Each task becomes a fixed-list TaskInfo with separator " ".  A task item that is not
// valid (not an object, no name, a duplicate name, no examples array, eval_questions not
// an array of strings) is skipped whole; an example that is not valid (not an object,
// prompt or answer missing or not a string, an optional member not a string) is skipped
// alone.
// Every skip leaves one message in `problems`, naming the task's index in the array
// (and the example's index in its list).
typedef struct {
    TaskInfo *tasks;   // (n) owned, with every string they point to
    int n;
    char **problems;   // (n_problems) owned messages, in document order
    int n_problems;
} TaskSet;

// Parse text[0..len) (not NUL-terminated necessarily) into *set.  Returns 0 (even with
// problems), or -1 with a message in err when the text is not JSON or not an array;
// free *set with tasks_set_free in both cases.
//
// Text whose first line is a JSON object with a "prompt" is read as NDJSON example
// records instead (the output of gentasks: {"task","prompt","answer"[,"separator"]
// [,"corrupt_prompt"][,"wrong_answer"][,"description"][,"eval_questions"]} a line): records are gathered into tasks by "task", in order of
// first appearance; description comes from a task's first record and eval_questions from
// the first record that has them.  A line that is not a JSON object, carries an "error",
// lacks a non-empty "task" string or has a prompt/answer/separator that is not a string
// is skipped with a problem "line N: ..." (these come before the tasks' problems).
int tasks_parse(TaskSet *set, const char *text, size_t len, char *err, size_t errlen);
// tasks_parse of the file at path ("-": all of stdin, named "<stdin>" in messages); -1
// also when it cannot be read.
int tasks_load_file(TaskSet *set, const char *path, char *err, size_t errlen);
void tasks_set_free(TaskSet *set);

#endif
