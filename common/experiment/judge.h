// judge: verdicts on how a (corrupted) model speaks — the judgements `judge` adds to
// runlayers records, the offline judges that need no LLM, and the yes-rate summary
// (`judge --summary`, the report's "how it speaks" table).  The LLM judge is
// common/agent/judge_llm.h; docs/tools.md has the fields.
//
// A judgement answers one yes/no question about one completion:
//   {"question": "...", "verdict": "yes"|"no"|"unsure", "reason": "...", "judge": NAME
//    [, "score": X][, "model": M][, "cached": true]}
// NAME is the offline judge that answered (judge_offline_names) or "llm" (then "model"
// names the chat model, and "cached" marks a verdict taken from the cache).
//
// Offline judges (each applies only when the record has what it needs):
//   answer-start        Does the completion begin with the answer?   (needs "answer")
//   repeats-last-token  Does the completion only repeat the prompt's last token?
//   ngram-loop          Does the completion fall into a loop of a repeated n-gram?
//                       (of its tokens, "completion_tokens", else of its pieces)
//   english-words       Are most of the completion's words English?  (needs a word list)
//   valid-json          Is the prompt + completion valid JSON?       (task "json" only)
// Text is cut into pieces the way a reader would count tokens: a run of letters (bytes
// >= 0x80 count as letters), a run of digits, or any other single non-space character
// (the first JUDGE_MAX_PIECES of a completion; the prompt's last piece is read from its end).
// Called outside this module only by the tests (tests/fuzz/fuzz_judge.c): judge_json_prefix,
// judge_offline_names.
#ifndef AUTOINTERP_JUDGE_H
#define AUTOINTERP_JUDGE_H
#include <stddef.h>
#include <stdio.h>

#include "base/json.h"
#include "base/ndjson.h"

#define JUDGE_REASON_MAX      300                       // bytes of a reason (longer ones are cut)
#define JUDGE_MAX_QUESTIONS   16                        // questions of one record
#define JUDGE_QUESTION_MAX    500                       // bytes of a question
#define JUDGE_WORDS_DEFAULT   "/usr/share/dict/words"   // Debian's wamerican
#define JUDGE_ENGLISH_MIN     0.8   // english-words: "yes" from this share of words on
#define JUDGE_REPEAT_MIN      0.8   // repeats-last-token: "yes" from this share of pieces on
#define JUDGE_LOOP_MAX_N      4     // ngram-loop: n-grams of 1..4 pieces ...
#define JUDGE_LOOP_MIN_REPS   3     // ... repeated at least 3 times in a row ...
#define JUDGE_LOOP_MIN_PIECES 4     // ... covering at least 4 pieces
// Pieces, tokens or words of a completion read by the judges that count them; the rest
// is ignored.
#define JUDGE_MAX_PIECES      2048

typedef enum { JUDGE_YES, JUDGE_NO, JUDGE_UNSURE } JudgeVerdict;
extern const char *const judge_verdict_names[3];   // "yes", "no", "unsure"
// The verdict named s (case-insensitive), or -1.
int judge_verdict_parse(const char *s);

// What a record offers for judging.
typedef struct {
    char *prompt, *completion;   // owned, required
    char *answer, *separator;    // owned, NULL when absent
    char *task;                  // owned, NULL when absent
    int *tokens;                 // (n_tokens) owned "completion_tokens"; NULL when absent
    int n_tokens;
    char **questions;   // (n_questions) owned: "eval_questions", then the extra ones
    int n_questions;
} JudgeItem;

// Read r's prompt, completion, completion_tokens, answer, separator, task and eval_questions (an array of
// non-empty strings), followed by extra[0..n_extra) that are not already among them.
// 0, or -1 with a message in err: no "completion" (not a runlayers record) or no
// "prompt", a field of the wrong type, more than JUDGE_MAX_QUESTIONS questions.
// Free *it with judge_item_free in both cases.
int judge_item_read(JudgeItem *it, const Record *r, const char *const *extra, int n_extra,
                    char *err, size_t errlen);
void judge_item_free(JudgeItem *it);

// ----------------------------------------------------------------------------- results

typedef struct {
    const char *question;   // borrowed
    const char *judge;      // borrowed: an offline judge's name, or "llm"
    const char *model;      // borrowed: the LLM's model, or NULL
    JudgeVerdict verdict;
    char reason[JUDGE_REASON_MAX + 1];
    int has_score;
    double score;   // offline judges: the measured share (see docs/tools.md)
    int cached;     // an LLM verdict taken from the cache
} JudgeResult;

// Append r as a judgement object (the format at the top of this file).
void judge_result_json(JsonBuf *b, const JudgeResult *r);

// ----------------------------------------------------------------------------- offline

enum {
    JUDGE_ANSWER_START,
    JUDGE_REPEATS_LAST,
    JUDGE_NGRAM_LOOP,
    JUDGE_ENGLISH,
    JUDGE_VALID_JSON,
    JUDGE_N_OFFLINE
};
extern const char *const judge_offline_names[JUDGE_N_OFFLINE];

// A word list: one word a line (Debian's /usr/share/dict/words), kept sorted for lookup.
typedef struct {
    char **w;   // (n) owned, sorted by strcmp
    size_t n;
} JudgeWords;
// 0, or -1 with a message when path cannot be read or holds no words.
int judge_words_load(JudgeWords *w, const char *path, char *err, size_t errlen);
void judge_words_free(JudgeWords *w);

// Run offline judge k on it (words: NULL when there is no list).  1 with *out filled
// (question and judge set to static texts), 0 when the judge does not apply.
int judge_offline(int k, const JudgeItem *it, const JudgeWords *words, JudgeResult *out);

// JSON syntax of text[0..n) read from its start: JUDGE_JSON_COMPLETE (one whole value,
// ending at *at; whatever follows is not read), JUDGE_JSON_INVALID (a syntax error at
// byte *at), JUDGE_JSON_INCOMPLETE (valid so far, the text ends inside the value).
// Nesting deeper than JSON_MAX_DEPTH (json_parse's limit) is invalid.
enum { JUDGE_JSON_COMPLETE, JUDGE_JSON_INVALID, JUDGE_JSON_INCOMPLETE };
int judge_json_prefix(const char *text, size_t n, size_t *at);

// ----------------------------------------------------------------------------- summary

typedef struct {
    char *task, *label, *question;   // "" when the records had no task / label
    char *judge;                     // the judge of the first verdict
    char *layers_json;               // raw "layers" of the first record, or NULL
    long n, yes, no, unsure;
} JudgeGroup;

typedef struct {
    JudgeGroup *g;   // (n) in order of first appearance
    int n, cap;
} JudgeSummary;   // zero-initialise; free with judge_summary_free

typedef struct {
    double yes_rate;      // yes / n
    double stderr_rate;   // standard error of yes_rate: the sample standard deviation of
                          //   the 0/1 verdicts / sqrt(n) (0 for n = 1), as scoreloss --summary
    int has_delta;
    double delta;   // yes_rate − the same task's and question's "intact" yes_rate
} JudgeStats;

// Add every judgement of r (its "judgements" array) to its (task, label, question)
// group.  Returns the number added (0: none, a record judge did not see), or -1 with a
// message when "judgements" is malformed.
int judge_summary_add(JudgeSummary *s, const Record *r, char *err, size_t errlen);
// The same for a "judgements" array given as JSON text (json[0..len)) of a record of
// (task, label) with raw "layers" text layers_json (or NULL).
int judge_summary_add_json(JudgeSummary *s, const char *task, const char *label,
                           const char *layers_json, const char *json, size_t len, char *err,
                           size_t errlen);
JudgeStats judge_summary_stats(const JudgeSummary *s, const JudgeGroup *g);
void judge_summary_free(JudgeSummary *s);

// judge --summary: read judged records from in, write one record per (task, label,
// question) at the end: {"task","label","layers","question","judge","n","yes","no",
// "unsure","yes_rate","stderr","delta_yes_rate"}; with table, a Markdown table instead.
// A record without "judgements" is an error record.  Returns the exit status.
int judge_summary_run(FILE *in, FILE *out, int table);

#endif
