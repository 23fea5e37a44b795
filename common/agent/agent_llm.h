// agent_llm: the research agent driven by an LLM over an OpenAI-compatible chat API
// (common/io/llm.h).
//
// Each step rebuilds the conversation from the journal: a system prompt (the role, the
// model studied with its number of blocks, the goals, the tasks, the tools, the step
// budget) and one user message holding the journal so far, summarised per experiment,
// plus what is expected next.  The whole prompt is kept within a character budget:
// older experiments are described more tersely first (raw samples dropped, then only a
// one-line summary, then left out — the query tools still reach them).
//
// Tools offered: run_experiment, add_note, write_report (actions: one per step) and
// list_experiments, get_results (queries, answered from the journal within the step, the
// answer sent back as a tool message and the model asked again, at most max_rounds
// times).  A bad reply — arguments that are not a JSON object, an unknown tool or task,
// layers out of range, a duplicate experiment name, no tool call at all — is answered
// with the error (as the tool's result, or a user message when there was no call) and the
// model asked again, at most max_retries times; then the step fails.  When one reply
// holds several valid actions, the first is taken and the others are queued in the
// action record ("queued") and taken, re-checked, by the following steps without asking
// the model.  Every exchange is journalled as a kind "llm" record (never the API key).
// Called outside this module only by the tests (tests/unit/test_agent.c): agent_llm_call,
// agent_llm_tools.
#ifndef AUTOINTERP_AGENT_LLM_H
#define AUTOINTERP_AGENT_LLM_H
#include "agent/agent.h"
#include "agent/journal.h"
#include "io/llm.h"

#define AGENT_CONTEXT_BUDGET 24000   // characters of system prompt + journal summary
#define AGENT_MAX_RETRIES    3       // bad replies per step before giving up
#define AGENT_MAX_ROUNDS     8       // query-tool rounds per step
#define AGENT_QUERY_MAX      12000   // characters of one query tool's answer

typedef struct {
    int context_budget;   // AGENT_CONTEXT_BUDGET when 0
    int max_retries;      // AGENT_MAX_RETRIES when < 0
    int max_rounds;       // AGENT_MAX_ROUNDS when 0
} AgentLlmOptions;

// ----------------------------------------------------------------------------- prompts
// The system prompt for step `step` (malloc'd).
char *agent_llm_system_prompt(const AgentState *s, const AgentOptions *o, int step);
// The user message: the journal summary within `budget` characters (the caller subtracts
// the system prompt's length) and the instruction for this step.  Malloc'd.
// Its cost is bounded by the budget, not by the experiments in the journal: only the
// experiments it shows are rendered (and their rows read), unless every older experiment's
// one-liner fits.
char *agent_llm_user_prompt(const AgentState *s, const AgentOptions *o, int budget);
// Tests only: 1 makes agent_llm_user_prompt render every experiment at every level to
// choose what it shows (the reference the bounded choice must equal); 0 by default.
extern int agent_llm_levels_exhaustive;
// The tools array (JSON text) offered to the model, appended to tools (zeroed first).
void agent_llm_tools(JsonBuf *tools, const AgentState *s, const AgentOptions *o);

// ----------------------------------------------------------------------------- tool calls
enum { AGENT_CALL_ACTION = 1, AGENT_CALL_QUERY = 0, AGENT_CALL_BAD = -1 };
// Handle one tool call (name, arguments as the model sent them).  Returns
//   AGENT_CALL_ACTION  a valid run_experiment / add_note / write_report: *a filled
//   AGENT_CALL_QUERY   a query tool: *answer (malloc'd) is its result
//   AGENT_CALL_BAD     *answer (malloc'd) says what is wrong, for the model
int agent_llm_call(const AgentState *s, const AgentOptions *o, const char *name,
                   const char *arguments, AgentAction *a, char **answer);

// ----------------------------------------------------------------------------- a step
// The next queued call of the last action (see above) that is still valid, as *a (its
// "queued" set to the calls after it).  1 when one was taken, 0 when none.
int agent_llm_take_queued(const AgentState *s, const AgentOptions *o, AgentAction *a);

// Ask the model for the action of step `step` (the report when agent_report_due), with
// the exchanges journalled to j.  Returns 0 with *a filled; -1 with a message in err when
// the API could not be reached or refused the request (HTTP error after retries), or the
// journal could not be written; -2 with a message when the model gave no valid action
// within max_retries corrections; -3 when the state was found damaged (agent_state_damaged)
// before the step journalled anything (its exchange so far is not journalled): build it
// again and retry.
int agent_llm_step(LlmClient *c, const AgentState *s, const AgentOptions *o,
                   const AgentLlmOptions *lo, Journal *j, int step, AgentAction *a, char *err,
                   size_t errlen);

#endif
