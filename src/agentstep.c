// agentstep: one step of the research agent — read the journal, decide the next action,
// journal it and print it as one NDJSON line.  docs/agent.md.
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/agent_llm.h"
#include "agent/agent_plan.h"
#include "agent/agent_snapshot.h"
#include "agent/journal.h"
#include "base/tool.h"
#include "base/util.h"
#include "experiment/tasks.h"
#include "model/model.h"

static const char usage_short[] =
    "usage: agentstep --journal FILE [--model M] [--planner builtin|llm] [--llm-model NAME]\n"
    "                 [--max-steps N] [--tasks a,b,c] [--examples N] [--context-budget CHARS]\n"
    "                 [--max-retries N] [--finish] [--new-run] [--sh FILE] [--print-prompt]\n"
    "                 [--no-state]\n";

static const char usage_long[] =
    "Reads the experiment journal, decides ONE next action, appends it to the journal and\n"
    "prints it as one JSON line: an experiment to run, a note, or the report (finished).\n"
    "  --journal FILE        the journal (created when missing, with --model)\n"
    "  --model M             the model, when the journal has no meta record yet\n"
    "  --planner P           builtin (deterministic plan) or llm (default: llm when\n"
    "                        OPENAI_API_KEY is set, else builtin)\n"
    "  --llm-model NAME      chat model (default $AUTOINTERP_LLM_MODEL, else gpt-4o-mini)\n"
    "  --max-steps N         actions before the report is due (default 80; 0: no limit)\n"
    "  --tasks a,b,c         tasks to study (default facts,addition,counting,json,facts-pairs)\n"
    "  --examples N          examples per experiment (default 8)\n"
    "  --context-budget C    characters of prompt for the LLM (default 24000)\n"
    "  --max-retries N       corrections of bad LLM replies per step (default 3)\n"
    "  --finish              write the report now\n"
    "  --new-run             the first step of a loop run: an incomplete experiment the\n"
    "                        journal's last action started was interrupted; its re-run\n"
    "                        does not count as an attempt or a step (agent-loop.sh)\n"
    "  --sh FILE             also write the action as shell assignments (agent-loop.sh)\n"
    "  --print-prompt        print the LLM's system prompt and user message, do nothing\n"
    "  --no-state            read the whole journal, not FILE.agentstate (the agent's state\n"
    "                        as of the last step, kept beside the journal) and the\n"
    "                        records after it; FILE.agentstate is then left as it is\n"
    "Environment: OPENAI_API_KEY, OPENAI_BASE_URL, AUTOINTERP_LLM_MODEL and the other\n"
    "AUTOINTERP_LLM_* settings of the chat client.\n"
    "Exit status: 0 ok; 2 usage or system error (journal, model, LLM API unreachable or\n"
    "refusing); 5 the LLM gave no valid action after --max-retries corrections.\n";

#define MAX_TASKS 64

typedef struct {
    const char *journal, *model, *planner, *llm_model, *sh;
    const char *tasks[MAX_TASKS];
    int n_tasks;
    char *tasks_buf;
    int examples, max_steps, finish, new_run, print_prompt, no_state;
    int llm;   // the LLM plans (use_llm)
    AgentLlmOptions llm_opt;
} Options;

static void parse_tasks(Options *o, const char *list) {
    free(o->tasks_buf);
    o->tasks_buf = xstrdup(list);
    o->n_tasks = 0;
    char *save = NULL;
    for (char *t = strtok_r(o->tasks_buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!tasks_find(t))
            usage_error(usage_short, "unknown task \"%s\" (gentasks --list shows them)", t);
        int dup = 0;
        for (int i = 0; i < o->n_tasks; i++) dup |= !strcmp(o->tasks[i], t);
        if (dup) continue;
        if (o->n_tasks == MAX_TASKS) usage_error(usage_short, "too many tasks");
        o->tasks[o->n_tasks++] = t;
    }
    if (o->n_tasks == 0) usage_error(usage_short, "--tasks needs at least one task");
}

// Which planner: --planner, else llm when OPENAI_API_KEY is set.
static int use_llm(const Options *o) {
    const char *key = getenv("OPENAI_API_KEY"), *base = getenv("OPENAI_BASE_URL");
    int has_key = key && *key, has_base = base && *base;
    if (o->planner && !strcmp(o->planner, "llm")) {
        if (!has_key && !has_base)
            eprintf(EXIT_USAGE,
                    "--planner llm needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)");
        return 1;
    }
    if (o->planner) return 0;
    return has_key;
}

static void parse_options(int argc, char **argv, Options *o) {
    enum {
        JOURNAL = 256,
        MODEL,
        PLANNER,
        LLM_MODEL,
        MAX_STEPS,
        TASKS,
        EXAMPLES,
        BUDGET,
        RETRIES,
        FINISH,
        NEW_RUN,
        SH,
        PROMPT,
        NO_STATE
    };
    static const struct option longopts[] = {
        {"journal", required_argument, 0, JOURNAL},
        {"model", required_argument, 0, MODEL},
        {"planner", required_argument, 0, PLANNER},
        {"llm-model", required_argument, 0, LLM_MODEL},
        {"max-steps", required_argument, 0, MAX_STEPS},
        {"tasks", required_argument, 0, TASKS},
        {"examples", required_argument, 0, EXAMPLES},
        {"context-budget", required_argument, 0, BUDGET},
        {"max-retries", required_argument, 0, RETRIES},
        {"finish", no_argument, 0, FINISH},
        {"new-run", no_argument, 0, NEW_RUN},
        {"sh", required_argument, 0, SH},
        {"print-prompt", no_argument, 0, PROMPT},
        {"no-state", no_argument, 0, NO_STATE},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    memset(o, 0, sizeof *o);
    o->examples = AGENT_DEFAULT_EXAMPLES;
    o->max_steps = 80;
    o->llm_opt.max_retries = AGENT_MAX_RETRIES;
    o->llm_opt.context_budget = AGENT_CONTEXT_BUDGET;
    int c;
    while ((c = tool_getopt(argc, argv, ":h", longopts, usage_short, usage_long)) != -1) {
        switch (c) {
        case JOURNAL: o->journal = optarg; break;
        case MODEL: o->model = optarg; break;
        case PLANNER:
            if (strcmp(optarg, "builtin") && strcmp(optarg, "llm"))
                usage_error(usage_short, "--planner must be builtin or llm, not \"%s\"", optarg);
            o->planner = optarg;
            break;
        case LLM_MODEL: o->llm_model = optarg; break;
        case MAX_STEPS: o->max_steps = (int)arg_integer(optarg, 0, 100000, "--max-steps"); break;
        case TASKS: parse_tasks(o, optarg); break;
        case EXAMPLES:
            o->examples = (int)arg_integer(optarg, 1, AGENT_MAX_EXAMPLES, "--examples");
            break;
        case BUDGET:
            o->llm_opt.context_budget =
                (int)arg_integer(optarg, 1000, 10000000, "--context-budget");
            break;
        case RETRIES:
            o->llm_opt.max_retries = (int)arg_integer(optarg, 0, 100, "--max-retries");
            break;
        case FINISH: o->finish = 1; break;
        case NEW_RUN: o->new_run = 1; break;
        case SH: o->sh = optarg; break;
        case PROMPT: o->print_prompt = 1; break;
        case NO_STATE: o->no_state = 1; break;
        }
    }
    tool_no_operands(argc, argv, usage_short, NULL);
    if (!o->journal) usage_error(usage_short, "--journal FILE is needed");
    if (o->n_tasks == 0) parse_tasks(o, AGENT_DEFAULT_TASKS);
    o->llm = use_llm(o);
}

// Open the journal for appending and take its writer lock (or use the one the loop holds),
// or exit.
static void journal_take(const Options *o, Journal *j) {
    char err[1024];
    if (journal_open(j, o->journal, 0, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
}

// A journal without a meta record gets one describing --model (appended through j, opened
// here when it is not yet).
static void write_meta(const Options *o, Journal *j) {
    Model m;
    char err[2048];
    if (model_open(&m, o->model, NULL, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
    const Gpt2Config *c = &m.gpt2.cfg;
    JsonBuf b = {0};
    journal_record_begin(&b, "meta");
    jb_key(&b, "model");
    jb_raw(&b, "{", 1);
    jb_key(&b, "name"), jb_cstr(&b, m.name);
    jb_key(&b, "dir"), jb_cstr(&b, m.dir);
    jb_key(&b, "n_layer"), jb_int(&b, c->n_layer);
    jb_key(&b, "n_head"), jb_int(&b, c->n_head);
    jb_key(&b, "n_embd"), jb_int(&b, c->n_embd);
    jb_key(&b, "n_ctx"), jb_int(&b, c->n_ctx);
    jb_key(&b, "vocab"), jb_int(&b, c->vocab_size);
    jb_key(&b, "params"), jb_int(&b, m.gpt2.n_params);
    jb_raw(&b, "}", 1);
    jb_key(&b, "source"), jb_cstr(&b, "agentstep");
    model_close(&m);
    if (j->fd < 0) journal_take(o, j);
    if (journal_append(j, &b, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
    jb_free(&b);
}

// The agent's state of the journal: FILE.agentstate and the records after it (agent_snapshot.h),
// or the whole journal (--no-state; rebuild: a section of the state file was found damaged, see
// agent_state_damaged).  The state file is rewritten only under the writer lock (j open).
static void load_state(const Options *o, Journal *j, AgentState *s, int rebuild) {
    char err[1024];
    if (!is_file(o->journal) && !o->model)
        eprintf(EXIT_USAGE, "%s: no such journal (give --model M to start one)", o->journal);
    char *snap = o->no_state ? NULL : xasprintf("%s.agentstate", o->journal);
    for (int pass = 0; pass < 2; pass++) {
        if (is_file(o->journal)) {
            int flags = (j->fd >= 0 ? AGENT_READ_SAVE : 0) | (rebuild ? AGENT_READ_REBUILD : 0);
            int rc =
                agent_journal_read(s, o->journal, snap, flags,
                                   pass == 0 && !rebuild ? stderr : NULL, NULL, err, sizeof err);
            if (rc == 0) {
                free(snap);
                return;
            }
            agent_state_free(s);
            if (rc == -1) eprintf(EXIT_USAGE, "%s", err);
        } else {
            snprintf(err, sizeof err, "the journal has no meta record (the model studied)");
        }
        if (pass == 1 || !o->model) eprintf(EXIT_USAGE, "%s: %s (pass --model M)", o->journal, err);
        write_meta(o, j);
    }
}

// 0 when printed; -1 when the state was found damaged (nothing printed).
static int print_prompt(const AgentState *s, const AgentOptions *ao, const Options *o) {
    int step = s->last_step + 1;
    char *sys = agent_llm_system_prompt(s, ao, step);
    char *user = agent_llm_user_prompt(s, ao, o->llm_opt.context_budget - (int)strlen(sys));
    if (agent_state_damaged(s)) {
        free(sys);
        free(user);
        return -1;
    }
    printf("=== system (%zu characters)\n%s\n=== user (%zu characters)\n%s", strlen(sys), sys,
           strlen(user), user);
    free(sys);
    free(user);
    return 0;
}

// The LLM's action (agent_llm_step); exits on failure.  -1 when the state was found damaged.
static int decide_llm(const Options *o, const AgentOptions *ao, const AgentState *s, Journal *j,
                      int step, AgentAction *a) {
    char err[2048];
    LlmClient c;
    if (llm_client_init(&c, o->llm_model, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
    int rc = agent_llm_step(&c, s, ao, &o->llm_opt, j, step, a, err, sizeof err);
    llm_client_free(&c);
    if (rc == -3) return -1;
    if (rc == -2) eprintf(EXIT_BAD_INPUT, "%s", err);
    if (rc != 0) eprintf(EXIT_USAGE, "%s", err);
    return 0;
}

// The action of this step; exits on failure.  0; -1 when the state was found damaged
// while deciding (agent_state_damaged: *a is empty, nothing was journalled).
static int decide(const Options *o, const AgentOptions *ao, const AgentState *s, Journal *j,
                  int step, AgentAction *a) {
    char err[2048];
    int rc = 0;
    memset(a, 0, sizeof *a);
    if (!ao->finish && agent_forced_action(s, ao, a)) {   // finished, or a re-run
    } else if (!o->llm) {
        if (agent_plan_builtin(s, ao, a, err, sizeof err) != 0 && !agent_state_damaged(s))
            eprintf(EXIT_USAGE, "%s", err);
    } else if (agent_report_due(s, ao) || !agent_llm_take_queued(s, ao, a)) {
        rc = decide_llm(o, ao, s, j, step, a);
    }
    if (rc == 0 && agent_state_damaged(s)) {
        agent_action_free(a);
        memset(a, 0, sizeof *a);
        rc = -1;
    }
    return rc;
}

static void write_sh(const char *path, const AgentAction *a, int step) {
    FILE *fp = fopen(path, "w");
    if (!fp) eprintf(EXIT_USAGE, "%s: cannot write: %s", path, strerror(errno));
    agent_action_sh(fp, a, step);
    if (fclose(fp) != 0) eprintf(EXIT_USAGE, "%s: write error", path);
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    Options o;
    parse_options(argc, argv, &o);
    // The writer lock before the journal is read: what this step decides from is what no
    // other writer can append to until its action is in (a journal not there yet is
    // created, locked, by write_meta).  --print-prompt only reads.
    Journal j = {.fd = -1};
    if (!o.print_prompt && is_file(o.journal)) journal_take(&o, &j);
    AgentState s;
    load_state(&o, &j, &s, 0);
    AgentOptions ao = {.tasks = o.tasks,
                       .n_tasks = o.n_tasks,
                       .examples = o.examples,
                       .max_steps = o.max_steps,
                       .finish = o.finish,
                       .new_run = o.new_run};
    char err[1024];
    if (o.print_prompt) {
        if (print_prompt(&s, &ao, &o) != 0) {   // a section damaged: from the journal
            agent_state_free(&s);
            load_state(&o, &j, &s, 1);
            print_prompt(&s, &ao, &o);
        }
    } else {
        AgentAction a;
        if (decide(&o, &ao, &s, &j, s.last_step + 1, &a) != 0) {
            // A section of the state file was damaged (changed or truncated since the
            // step read its core): nothing was journalled; decide from the whole journal.
            agent_state_free(&s);
            load_state(&o, &j, &s, 1);
            decide(&o, &ao, &s, &j, s.last_step + 1, &a);
        }
        int step = s.last_step + 1;
        if (a.type == AGENT_ACTION_REPORT && a.finished) step = s.last_step;
        if (agent_action_append(&j, &s, &a, step, err, sizeof err) != 0)
            eprintf(EXIT_USAGE, "%s", err);
        if (o.sh) write_sh(o.sh, &a, step);
        JsonBuf line = {0};
        agent_action_json(&line, &a, step);
        if (lines_write(&line, stdout) != 0) eprintf(EXIT_USAGE, "error writing output");
        jb_free(&line);
        agent_action_free(&a);
    }
    if (journal_close(&j, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
    agent_state_free(&s);
    free(o.tasks_buf);
    if (fflush(stdout) != 0 || ferror(stdout)) eprintf(EXIT_USAGE, "error writing output");
    return 0;
}
