// judge_llm: the tasks' eval_questions answered by an LLM over an OpenAI-compatible chat
// API (common/io/llm.h), for `judge`.  docs/tools.md describes the fields.
//
// Requests.  Up to per_request items (a prompt, its completion, the expected answer when
// there is one, and the questions still open on it) go into one request, the questions
// numbered from 1 within each item; response_format {"type":"json_object"} and the
// system prompt ask for exactly
//   {"verdicts": [{"item": 1, "question": 1, "verdict": "yes"|"no"|"unsure",
//                  "reason": "<at most 25 words>"}, ...]}
// with one entry per (item, question).  The reply is untrusted and validated entry by
// entry: a verdict other than yes/no/unsure (any case), an item or question number out of
// range, a missing or empty reason, a repeated pair — each is a problem; valid entries
// are kept.  The pairs still open are asked again (a new request naming the problems of
// the last reply), at most max_retries times; then they fail (the record becomes an
// error record).  A reply that is not JSON, or a 2xx that is not a chat completion, is
// a bad reply like the others.  HTTP errors, 429s and timeouts are retried by the chat
// client; one that remains stops all further requests of the run (each open question
// fails with its message).
//
// Cache.  Verdicts are keyed by (question, prompt, completion): a pair already answered
// — earlier in the run, or in the journal (`verdict` records) — is never asked again.
// With a journal every new verdict is appended at once as
//   {"kind":"verdict","time",...,"question","prompt","completion","verdict","reason","model"}
// and every exchange as a kind "llm" record with "source":"judge", "problems" and
// "outcome" ("verdicts", "retry", "gave up", "failed").  The API key never reaches the
// journal (the client redacts it; the journal refuses it).
//
// Budget.  budget >= 0 caps the chat requests (llm_chat calls; the client's own retries of
// one call are not counted).  When it is reached the questions still open are left
// unjudged (budget_reached is set); a re-run with a larger budget asks only those.
#ifndef AUTOINTERP_JUDGE_LLM_H
#define AUTOINTERP_JUDGE_LLM_H
#include <stdint.h>

#include "agent/journal.h"
#include "base/strmap.h"
#include "experiment/judge.h"
#include "io/llm.h"

#define JUDGE_LLM_PER_REQUEST 8   // items per request (default)
#define JUDGE_LLM_MAX_RETRIES 2   // bad replies re-asked (default)

typedef struct {
    LlmClient *client;   // borrowed
    int per_request;     // 1..64
    int max_retries;     // 0..20
    long budget;         // chat requests allowed; < 0: no limit
    Journal *journal;    // NULL: the cache lives only for the run
} JudgeLlmOptions;

typedef struct {
    char *reason, *model;   // owned
    JudgeVerdict verdict;
    int from_journal;   // loaded, not asked in this run
} JudgeCacheEntry;

typedef struct {
    JudgeLlmOptions o;
    StrMap index;             // question\0prompt\0completion\0 -> its number in entry
    JudgeCacheEntry *entry;   // (index.n) the cached verdicts
    long calls;               // chat requests made
    long asked;               // (item, question) pairs sent in them, retries included
    long answered;            // verdicts received
    long cache_hits;          // pairs answered from the cache
    int budget_reached;
    int failed;   // the server failed after its retries: no more requests
    char fail_msg[1100];
} JudgeLlm;

void judge_llm_init(JudgeLlm *jl, const JudgeLlmOptions *o);
void judge_llm_free(JudgeLlm *jl);
// Put the journal's verdict records into the cache.  Returns how many were loaded
// (malformed ones are skipped).
int judge_llm_load(JudgeLlm *jl, const JournalLog *log);

enum { JUDGE_ANSWER_DONE, JUDGE_ANSWER_UNJUDGED, JUDGE_ANSWER_FAILED };
typedef struct {
    int state;
    JudgeResult r;   // DONE: question borrowed from the item, model from the cache
    char *error;     // FAILED: why (malloc'd)
} JudgeAnswer;

// Answer every question of items[0..n): answers[i] is set to a malloc'd array of
// items[i].n_questions answers (NULL when it has none); free them with
// judge_answers_free.  0, or -1 with a message in err when the journal cannot be
// written (the answers are still set).
int judge_llm_run(JudgeLlm *jl, const JudgeItem *items, int n, JudgeAnswer **answers, char *err,
                  size_t errlen);
void judge_answers_free(JudgeAnswer **answers, const JudgeItem *items, int n);

#endif
