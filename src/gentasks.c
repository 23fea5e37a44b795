// gentasks: emit task examples as NDJSON — {"id","task","description","prompt","answer",
// "separator"[,"eval_questions"]} per line — from the built-in generators of common/experiment/tasks,
// from a task-list or records file (--from), or new tasks an LLM writes after the model
// of those (--llm, common/agent/taskgen).  See docs/gentasks.md.
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "agent/taskgen.h"
#include "base/tool.h"
#include "base/util.h"
#include "experiment/tasks.h"
#include "io/llm.h"

static const char usage_short[] =
    "usage: gentasks [TASK...] [--task NAME]... [-n N] [--seed S] [--digits D] [--shots K]\n"
    "                [--from FILE|-] [--list] [--llm [--llm-tasks K] [--llm-model M]\n"
    "                [--llm-save FILE]] [-h]\n";

static const char usage_long[] =
    "Emit task examples as NDJSON, one per line:\n"
    "  {\"id\",\"task\",\"description\",\"prompt\",\"answer\",\"separator\",\"eval_questions\"}\n"
    "\n"
    "  TASK, --task NAME  a task to emit (repeatable; default: every task)\n"
    "  -n N               examples per task (default: 20 for a generated task, the\n"
    "                     whole list for a fixed one, which repeats when N is larger)\n"
    "  --seed S           seed of the generators (default 0); same seed, same bytes\n"
    "  --digits D         addition: digits per operand, 1..9 (default 1)\n"
    "  --shots K          addition, opposites, plural: few-shot lines, 0..50 (default 3)\n"
    "  --from FILE        tasks from a JSON task list, or NDJSON example records, instead\n"
    "                     of the built-ins; FILE '-' is stdin\n"
    "  --list             print the tasks, one {\"name\",\"description\",...} a line\n"
    "  --llm              ask an LLM (OpenAI-compatible: OPENAI_API_KEY, OPENAI_BASE_URL)\n"
    "                     for new tasks modelled on the selected ones, and emit those\n"
    "  --llm-tasks K      how many new tasks to ask for, 1..50 (default 3)\n"
    "  --llm-model M      the model (default $AUTOINTERP_LLM_MODEL, else gpt-4o-mini)\n"
    "  --llm-save FILE    also write the new tasks as a task list (reusable with --from)\n"
    "  -h, --help         this help\n"
    "\n"
    "Exit status: 0 ok; 2 usage or system error (the LLM unreachable or refusing);\n"
    "5 invalid items skipped (--from, or in the LLM's reply; the valid ones were written).\n";

typedef struct {
    const char **names;   // (n_names) tasks asked for, in order
    int n_names;
    int n;   // examples per task, -1: the task's default
    uint64_t seed;
    TaskOptions opt;
    const char *from;
    int list;
    int llm;   // --llm: emit new tasks written by an LLM
    int llm_tasks;
    int seed_given;
    const char *llm_model;
    const char *llm_save;
} Args;

static void add_name(Args *a, const char *name) {
    for (int i = 0; i < a->n_names; i++)
        if (strcmp(a->names[i], name) == 0) return;
    a->names = xrealloc(a->names, (size_t)(a->n_names + 1) * sizeof *a->names);
    a->names[a->n_names++] = name;
}

static void parse_args(Args *a, int argc, char **argv) {
    enum {
        OPT_TASK = 256,
        OPT_SEED,
        OPT_DIGITS,
        OPT_SHOTS,
        OPT_FROM,
        OPT_LIST,
        OPT_LLM,
        OPT_LLM_TASKS,
        OPT_LLM_MODEL,
        OPT_LLM_SAVE
    };
    static const struct option longopts[] = {
        {"task", required_argument, NULL, OPT_TASK},
        {"seed", required_argument, NULL, OPT_SEED},
        {"digits", required_argument, NULL, OPT_DIGITS},
        {"shots", required_argument, NULL, OPT_SHOTS},
        {"from", required_argument, NULL, OPT_FROM},
        {"list", no_argument, NULL, OPT_LIST},
        {"llm", no_argument, NULL, OPT_LLM},
        {"llm-tasks", required_argument, NULL, OPT_LLM_TASKS},
        {"llm-model", required_argument, NULL, OPT_LLM_MODEL},
        {"llm-save", required_argument, NULL, OPT_LLM_SAVE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->n = -1;
    a->llm_tasks = 3;
    tasks_options_default(&a->opt);
    int c;
    while ((c = tool_getopt(argc, argv, ":n:h", longopts, usage_short, usage_long)) != -1) {
        switch (c) {
        case 'n': a->n = (int)usage_arg_integer(usage_short, optarg, 1, 10000000, "-n"); break;
        case OPT_TASK: add_name(a, optarg); break;
        case OPT_SEED:
            a->seed = usage_arg_seed(usage_short, optarg, "--seed");
            a->seed_given = 1;
            break;
        case OPT_DIGITS:
            a->opt.digits =
                (int)usage_arg_integer(usage_short, optarg, 1, TASKS_MAX_DIGITS, "--digits");
            break;
        case OPT_SHOTS:
            a->opt.shots =
                (int)usage_arg_integer(usage_short, optarg, 0, TASKS_MAX_SHOTS, "--shots");
            break;
        case OPT_FROM: a->from = optarg; break;
        case OPT_LIST: a->list = 1; break;
        case OPT_LLM: a->llm = 1; break;
        case OPT_LLM_TASKS:
            a->llm_tasks =
                (int)usage_arg_integer(usage_short, optarg, 1, TASKGEN_MAX_TASKS, "--llm-tasks");
            break;
        case OPT_LLM_MODEL: a->llm_model = optarg; break;
        case OPT_LLM_SAVE: a->llm_save = optarg; break;
        }
    }
    for (int i = optind; i < argc; i++) add_name(a, argv[i]);
    if (!a->llm && (a->llm_model || a->llm_save))
        usage_error(usage_short, "%s needs --llm", a->llm_model ? "--llm-model" : "--llm-save");
}

// The tasks to emit, in the order asked (all of them when none was named); NULL with
// *missing set when a name is not among them.
static const TaskInfo **select_tasks(const Args *a, const TaskInfo *all, int n_all, int *n_sel,
                                     const char **missing) {
    int n = a->n_names ? a->n_names : n_all;
    const TaskInfo **sel = xcalloc((size_t)n + 1, sizeof *sel);
    for (int i = 0; i < n; i++) {
        sel[i] = a->n_names ? tasks_find_in(all, n_all, a->names[i]) : &all[i];
        if (!sel[i]) {
            *missing = a->names[i];
            free(sel);
            return NULL;
        }
    }
    *n_sel = n;
    return sel;
}

// Append the examples of one task to lines; -1 with a message in err when they cannot
// be made.
static int emit_task(const TaskInfo *t, const Args *a, JsonBuf *lines, char *err, size_t errlen) {
    TaskExample *ex;
    int n = tasks_generate(t, a->n, a->seed, &a->opt, &ex, err, errlen);
    for (int i = 0; i < n; i++) tasks_write_example(lines, t, &ex[i]);
    tasks_free_examples(ex, n);
    return n < 0 ? -1 : 0;
}

// Write the examples (or, with --list, the descriptions) of the selected tasks.
// 0, or EXIT_USAGE after a write error or a task that cannot make examples.
static int write_tasks(const TaskInfo **sel, int n_sel, const Args *a) {
    JsonBuf lines = {0};
    char err[256];
    int io_error = 0, gen_error = 0;
    for (int i = 0; i < n_sel && !io_error && !gen_error; i++) {
        if (a->list) {
            tasks_write_info(&lines, sel[i]);
        } else if (emit_task(sel[i], a, &lines, err, sizeof err) != 0) {
            weprintf("%s: %s", sel[i]->name, err);
            gen_error = 1;
        }
        io_error = lines_write(&lines, stdout) != 0;
    }
    jb_free(&lines);
    if (io_error || fflush(stdout) != 0 || ferror(stdout)) {
        weprintf("error writing output");
        io_error = 1;
    }
    return io_error || gen_error ? EXIT_USAGE : 0;
}

// Write the task list text to path; -1 after reporting a failure.
static int save_list(const char *path, const JsonBuf *list) {
    FILE *f = fopen(path, "w");
    int ok = f && fwrite(list->buf, 1, list->len, f) == list->len && fputc('\n', f) != EOF;
    int e = errno;
    if (f && fclose(f) != 0 && ok) ok = 0, e = errno;   // closed once, whatever happened
    if (!ok) weprintf("%s: cannot write: %s", path, strerror(e));
    return ok ? 0 : -1;
}

// --llm: new tasks modelled on the selected seeds, into *set.  Reports on stderr;
// returns 0, EXIT_BAD_INPUT (items dropped, or a reply without usable tasks) or
// EXIT_USAGE (no client, the request failed, --llm-save failed).
static int llm_generate(const Args *a, const TaskInfo **seeds, int n_seeds, TaskSet *set) {
    char err[1024];
    LlmClient c;
    if (llm_client_init(&c, a->llm_model, err, sizeof err) != 0) {
        weprintf("llm: %s", err);
        return EXIT_USAGE;
    }
    TaskGenOptions o;
    taskgen_options_default(&o);
    o.n_tasks = a->llm_tasks;
    if (a->n > o.n_examples) o.n_examples = a->n;
    o.seed = a->seed;
    o.send_seed = a->seed_given;
    JsonBuf list = {0};
    LlmReply reply;
    int n_dup = 0, fatal = 0, status = 0;
    int n = taskgen_run(&c, (const TaskInfo *const *)seeds, n_seeds, &o, set, &list, &n_dup, &reply,
                        &fatal, err, sizeof err);
    if (n < 0) {
        weprintf("llm: %s", err);
        status = fatal ? EXIT_USAGE : EXIT_BAD_INPUT;
    } else {
        for (int i = 0; i < set->n_problems; i++) weprintf("llm: skipped %s", set->problems[i]);
        int n_ex = 0;
        for (int i = 0; i < set->n; i++) n_ex += set->tasks[i].n_items;
        weprintf(
            "llm: %d new task%s (%d examples) of %d asked for; %d item%s skipped, %d repeated example%s dropped",
            set->n, set->n == 1 ? "" : "s", n_ex, o.n_tasks, set->n_problems,
            set->n_problems == 1 ? "" : "s", n_dup, n_dup == 1 ? "" : "s");
        if (set->n_problems || set->n == 0) status = EXIT_BAD_INPUT;
        if (a->llm_save && save_list(a->llm_save, &list) != 0) status = EXIT_USAGE;
    }
    jb_free(&list);
    llm_reply_free(&reply);
    llm_client_free(&c);
    return status;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    Args a;
    parse_args(&a, argc, argv);

    TaskSet set = {0}, made = {0};
    const TaskInfo *all = tasks_get(0);
    int n_all = tasks_count(), status = 0;
    const char *from_name = a.from && strcmp(a.from, "-") == 0 ? "<stdin>" : a.from;
    if (a.from) {
        char err[512];
        if (tasks_load_file(&set, a.from, err, sizeof err) != 0) {
            free(a.names);
            eprintf(EXIT_USAGE, "%s", err);
        }
        for (int i = 0; i < set.n_problems; i++)
            weprintf("%s: skipped %s", from_name, set.problems[i]);
        if (set.n_problems) status = EXIT_BAD_INPUT;
        all = set.tasks;
        n_all = set.n;
    }

    int n_sel = 0;
    const char *missing = NULL;
    const TaskInfo **sel = select_tasks(&a, all, n_all, &n_sel, &missing);
    if (sel && a.llm) {   // the selection seeds the LLM; its new tasks are emitted instead
        int rc = llm_generate(&a, sel, n_sel, &made);
        if (rc) status = rc;
        free(sel);
        sel = NULL;
        if (rc != EXIT_USAGE) {
            Args every = a;
            every.n_names = 0;
            sel = select_tasks(&every, made.tasks, made.n, &n_sel, &missing);
        }
        missing = NULL;
    }
    if (sel) {
        int rc = write_tasks(sel, n_sel, &a);
        if (rc) status = rc;
    }
    free(sel);
    free(a.names);
    tasks_set_free(&made);
    tasks_set_free(&set);
    if (missing)
        usage_error(usage_short,
                    a.from ? "no task '%s' in the --from file (see --list)"
                           : "unknown task '%s' (see --list)",
                    missing);
    return status;
}
