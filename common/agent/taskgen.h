// taskgen: new tasks written by an LLM, modelled on existing ones (gentasks --llm).
//
// The model is shown seed tasks (name, description, a few examples, eval questions) and
// asked, with response_format {"type":"json_object"}, for K new tasks as
//   {"tasks": [{"name", "description", "examples": [{"prompt", "answer",
//               "separator"?}, ...], "eval_questions": [...]}, ...]}
// Its reply is untrusted: every task and example is validated (taskgen_parse), invalid
// ones are dropped with a message naming them, tasks of the same name are merged, and
// repeated examples are dropped.
// Called outside this module only by the tests (tests/unit/test_taskgen.c): taskgen_messages,
// taskgen_parse.
#ifndef AUTOINTERP_TASKGEN_H
#define AUTOINTERP_TASKGEN_H
#include <stdint.h>

#include "base/json.h"
#include "experiment/tasks.h"
#include "io/llm.h"

#define TASKGEN_MIN_EXAMPLES    20     // a task needs at least this many valid examples
#define TASKGEN_MAX_TASKS       50     // --llm-tasks upper bound
#define TASKGEN_MAX_NAME        64     // bytes of a task name
#define TASKGEN_MAX_DESCRIPTION 500    // bytes of a description
#define TASKGEN_MAX_PROMPT      2000   // bytes of a prompt
#define TASKGEN_MAX_ANSWER      200    // bytes of an answer
#define TASKGEN_MAX_QUESTION    500    // bytes of an eval question

typedef struct {
    int n_tasks;         // new tasks to ask for (1..TASKGEN_MAX_TASKS)
    int n_examples;      // examples to ask for per task (raised to TASKGEN_MIN_EXAMPLES)
    int seed_examples;   // examples shown per seed task (default 5)
    uint64_t seed;       // seed of the seed examples shown; also sent as the request's seed
    int send_seed;       // send `seed` in the request
} TaskGenOptions;

void taskgen_options_default(TaskGenOptions *o);   // 3 tasks, 20 examples, 5 shown, seed 0

// The request's messages (system: the rules and the reply's schema; user: the seed tasks
// as JSON and what to write), appended to the JSON array in msgs (llm_msg_add).
void taskgen_messages(const TaskInfo *const *seeds, int n_seeds, const TaskGenOptions *o,
                      JsonBuf *msgs);

// Validate the model's reply text (JSON: {"tasks": [...]} or a bare array; a ```json
// fence around it is tolerated) and append the valid tasks, as a task-list JSON array
// (the --from format, every example with its separator), to `list`.  Each dropped item
// leaves a message in *problems (malloc'd strings, *n_problems of them):
//   "task 2 (colors): only 12 valid examples, at least 20 needed"
//   "task 0 (capitals), example 7: the prompt ends in '?' (a question, not text to continue)"
// Tasks whose name matches a seed (avoid, n_avoid) are dropped as well.  *n_dup counts
// examples dropped because an earlier one of the task had the same prompt (not
// problems).  Returns the number of valid tasks, or -1 with a message in err when the
// text is not JSON or has no tasks array (nothing appended then).
int taskgen_parse(const char *text, size_t len, const TaskInfo *const *avoid, int n_avoid,
                  int min_examples, JsonBuf *list, char ***problems, int *n_problems, int *n_dup,
                  char *err, size_t errlen);

// Ask the model (c, model NULL: the client's) for new tasks and validate them into *set
// (tasks_parse of the list; set->problems holds taskgen_parse's messages).  list, when
// not NULL, receives the task-list JSON (for --llm-save).  *reply receives the exchange
// (free with llm_reply_free; also after -1).  Returns the number of valid tasks, or -1
// with a message in err: the request failed (*fatal = 1: the server or network) or the
// reply held no usable JSON (*fatal = 0).
int taskgen_run(LlmClient *c, const TaskInfo *const *seeds, int n_seeds, const TaskGenOptions *o,
                TaskSet *set, JsonBuf *list, int *n_dup, LlmReply *reply, int *fatal, char *err,
                size_t errlen);

#endif
