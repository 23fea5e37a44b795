// judge_llm: eval_questions answered by an LLM, with a verdict cache; see judge_llm.h.
#include "agent/judge_llm.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define MAX_PROBLEMS_SHOWN 8   // problems of one reply sent back and journalled

// ----------------------------------------------------------------------------- cache

// The cache's key: question, prompt and completion, each followed by its NUL (they are
// NUL-terminated, so the key is unambiguous).  Malloc'd; its length in *len.
static char *cache_key(const char *q, const char *p, const char *c, size_t *len) {
    size_t nq = strlen(q) + 1, np = strlen(p) + 1, nc = strlen(c) + 1;
    char *key = xmalloc(nq + np + nc);
    memcpy(key, q, nq);
    memcpy(key + nq, p, np);
    memcpy(key + nq + np, c, nc);
    *len = nq + np + nc;
    return key;
}

static const JudgeCacheEntry *cache_find(const JudgeLlm *jl, const char *q, const char *p,
                                         const char *c) {
    size_t len;
    char *key = cache_key(q, p, c, &len);
    int k = strmap_find(&jl->index, key, len);
    free(key);
    return k >= 0 ? &jl->entry[k] : NULL;
}

// Insert or replace the verdict of (q, p, c).
static void cache_put(JudgeLlm *jl, const char *q, const char *p, const char *c, JudgeVerdict v,
                      const char *reason, const char *model, int from_journal) {
    size_t len;
    char *key = cache_key(q, p, c, &len);
    int added, k = strmap_intern(&jl->index, key, len, &added);
    free(key);
    if (added) {
        jl->entry = xrealloc(jl->entry, sizeof *jl->entry * (size_t)jl->index.n);
        memset(&jl->entry[k], 0, sizeof jl->entry[k]);
    }
    JudgeCacheEntry *e = &jl->entry[k];
    free(e->reason);
    free(e->model);
    e->verdict = v;
    e->reason = xstrdup(reason ? reason : "");
    e->model = xstrdup(model ? model : "");
    e->from_journal = from_journal;
}

void judge_llm_init(JudgeLlm *jl, const JudgeLlmOptions *o) {
    memset(jl, 0, sizeof *jl);
    jl->o = *o;
    if (jl->o.per_request < 1) jl->o.per_request = JUDGE_LLM_PER_REQUEST;
    if (jl->o.max_retries < 0) jl->o.max_retries = JUDGE_LLM_MAX_RETRIES;
}

void judge_llm_free(JudgeLlm *jl) {
    for (int i = 0; i < jl->index.n; i++) {
        free(jl->entry[i].reason);
        free(jl->entry[i].model);
    }
    free(jl->entry);
    strmap_free(&jl->index);
    memset(jl, 0, sizeof *jl);
}

int judge_llm_load(JudgeLlm *jl, const JournalLog *log) {
    int loaded = 0;
    for (int i = 0; i < log->n; i++) {
        const JournalEntry *e = &log->e[i];
        if (strcmp(e->kind, "verdict")) continue;
        char *q = journal_entry_str(e, "question"), *p = journal_entry_str(e, "prompt");
        char *c = journal_entry_str(e, "completion"), *v = journal_entry_str(e, "verdict");
        char *reason = journal_entry_str(e, "reason"), *model = journal_entry_str(e, "model");
        int verdict = v ? judge_verdict_parse(v) : -1;
        if (q && p && c && verdict >= 0 && !strcmp(v, judge_verdict_names[verdict])) {
            cache_put(jl, q, p, c, (JudgeVerdict)verdict, reason, model, 1);
            loaded++;
        }
        free(q), free(p), free(c), free(v), free(reason), free(model);
    }
    return loaded;
}

// ----------------------------------------------------------------------------- prompt

static const char system_prompt[] =
    "You judge continuations written by GPT-2 small, a 124M-parameter base language model, "
    "in experiments that remove or reorder its layers: many continuations are broken "
    "(repetition, gibberish, wrong facts). Each item gives the prompt the model read, the "
    "continuation it wrote, the expected answer when there is one, and yes/no questions "
    "about the continuation. Answer every question of every item with \"yes\", \"no\" or "
    "\"unsure\" (only when the text does not allow a decision) and a short reason of at "
    "most 25 words quoting the continuation where it helps. Judge only the continuation; "
    "the prompt is context. Questions are numbered from 1 within their item.\n"
    "\n"
    "Reply with one JSON object and nothing else:\n"
    "{\"verdicts\": [{\"item\": 1, \"question\": 1, \"verdict\": \"yes\", \"reason\": \"...\"}, ...]}\n"
    "with exactly one entry for each question of each item.";

// The messages of one request (system, user) for items[0..n), item i with the questions
// qs[i][0..nq[i]); problems (or NULL): what was wrong with the last reply, said to the
// model.  Appended to msgs (llm_msg_add).
static void judge_llm_messages(const JudgeItem *const *items, const char *const *const *qs,
                               const int *nq, int n, const char *problems, JsonBuf *msgs) {
    JsonBuf user = {0}, arr = {0};
    jb_puts(&arr, "[");
    for (int i = 0; i < n; i++) {
        jb_sep(&arr);
        jb_puts(&arr, "{");
        jb_key(&arr, "item"), jb_int(&arr, i + 1);
        jb_key(&arr, "prompt"), jb_cstr(&arr, items[i]->prompt);
        jb_key(&arr, "continuation"), jb_cstr(&arr, items[i]->completion);
        if (items[i]->answer) jb_key(&arr, "expected_answer"), jb_cstr(&arr, items[i]->answer);
        jb_key(&arr, "questions");
        jb_puts(&arr, "[");
        for (int k = 0; k < nq[i]; k++) jb_sep(&arr), jb_cstr(&arr, qs[i][k]);
        jb_puts(&arr, "]}");
    }
    jb_puts(&arr, "]");
    int pairs = 0;
    for (int i = 0; i < n; i++) pairs += nq[i];
    jb_printf(&user, "Items (%d, with %d question%s in all):\n", n, pairs, pairs == 1 ? "" : "s");
    jb_raw(&user, arr.buf, arr.len);
    if (problems && problems[0]) {
        jb_puts(&user, "\n\nYour previous reply could not be used: ");
        jb_puts(&user, problems);
        jb_puts(&user, ". Answer these questions again.");
    }
    jb_puts(&user, "\n\nReply with the JSON object only.");
    llm_msg_add(msgs, "system", system_prompt);
    llm_msg_add(msgs, "user", user.buf);
    jb_free(&user);
    jb_free(&arr);
}

// ----------------------------------------------------------------------------- a batch

// One distinct (prompt, completion, answer) with the questions still asked of it.
typedef struct {
    const JudgeItem *it;                  // the first item that has it
    const char *q[JUDGE_MAX_QUESTIONS];   // (nq) questions, borrowed from the items
    int nq;
    int open[JUDGE_MAX_QUESTIONS];     // 1 while not answered
    char *fail[JUDGE_MAX_QUESTIONS];   // why it failed (owned), or NULL
} Subject;

static int same_text(const char *a, const char *b) {
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static int subject_for(Subject **subj, int *n, const JudgeItem *it) {
    for (int s = 0; s < *n; s++) {
        const JudgeItem *o = (*subj)[s].it;
        if (!strcmp(o->prompt, it->prompt) && !strcmp(o->completion, it->completion) &&
            same_text(o->answer, it->answer))
            return s;
    }
    *subj = xrealloc(*subj, sizeof **subj * (size_t)(*n + 1));
    memset(&(*subj)[*n], 0, sizeof **subj);
    (*subj)[*n].it = it;
    return (*n)++;
}

static void subject_add_question(Subject *s, const char *q) {
    for (int k = 0; k < s->nq; k++)
        if (!strcmp(s->q[k], q)) return;
    if (s->nq == JUDGE_MAX_QUESTIONS) return;   // cannot happen: an item holds at most that many
    s->open[s->nq] = 1;
    s->q[s->nq++] = q;
}

static void problem_add(JsonBuf *pr, int *n_pr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem_add(JsonBuf *pr, int *n_pr, const char *fmt, ...) {
    if ((*n_pr)++ >= MAX_PROBLEMS_SHOWN) return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (pr->len) jb_puts(pr, "; ");
    jb_puts(pr, msg);
}

// A reason for the cache: at most JUDGE_REASON_MAX bytes (not cutting a UTF-8
// character), control characters as spaces, surrounding spaces trimmed.  Malloc'd, or
// NULL when nothing is left.
static char *reason_clean(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    if (n > JUDGE_REASON_MAX) {
        n = JUDGE_REASON_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    if (n == 0) return NULL;
    char *r = xstrndup(s, n);
    for (char *p = r; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
    return r;
}

// The reply text without a ```json fence around it.
static void fence_strip(const char *text, size_t *start, size_t *len) {
    size_t a = 0, b = strlen(text);
    while (a < b && isspace((unsigned char)text[a])) a++;
    while (b > a && isspace((unsigned char)text[b - 1])) b--;
    if (b - a >= 6 && !strncmp(text + a, "```", 3) && !strncmp(text + b - 3, "```", 3)) {
        const char *nl = memchr(text + a, '\n', b - a);
        if (nl && (size_t)(nl - text) < b - 3) {
            a = (size_t)(nl - text) + 1;
            b -= 3;
        }
    }
    *start = a;
    *len = b - a;
}

typedef struct {
    JudgeLlm *jl;
    Subject *subj;   // the group's subjects
    int n_subj;
    int n;                             // items of the request: the subjects with open questions
    int *act;                          // (n) request item i -> its subject
    int (*idx)[JUDGE_MAX_QUESTIONS];   // (n) request question k of item i -> subject question
    int *nq;                           // (n) questions of item i in the request
    const char *model;                 // the model that answered
    char *err;
    size_t errlen;
} Group;

static int journal_verdict(Journal *j, const char *q, const JudgeItem *it, JudgeVerdict v,
                           const char *reason, const char *model, char *err, size_t errlen) {
    JsonBuf b = {0};
    journal_record_begin(&b, "verdict");
    jb_key(&b, "question"), jb_cstr(&b, q);
    jb_key(&b, "prompt"), jb_cstr(&b, it->prompt);
    jb_key(&b, "completion"), jb_cstr(&b, it->completion);
    jb_key(&b, "verdict"), jb_cstr(&b, judge_verdict_names[v]);
    jb_key(&b, "reason"), jb_cstr(&b, reason);
    jb_key(&b, "model"), jb_cstr(&b, model);
    int rc = journal_append(j, &b, err, errlen);
    jb_free(&b);
    return rc;
}

// Validate the reply text; keep its valid verdicts (cache, journal).  Problems in pr.
// -1 only when the journal cannot be written.
static int take_verdicts(Group *g, const char *content, JsonBuf *pr, int *n_pr) {
    if (!content) {
        problem_add(pr, n_pr, "the reply has no content");
        return 0;
    }
    size_t a, len;
    fence_strip(content, &a, &len);
    JsonDoc d;
    char jerr[160];
    if (json_parse(&d, content + a, len, jerr, sizeof jerr) != 0) {
        json_free(&d);
        problem_add(pr, n_pr, "the reply is not JSON (%s)", jerr);
        return 0;
    }
    int arr = json_type(&d, 0) == JSMN_ARRAY    ? 0
              : json_type(&d, 0) == JSMN_OBJECT ? json_obj_get(&d, 0, "verdicts")
                                                : -1;
    if (arr < 0 || json_type(&d, arr) != JSMN_ARRAY) {
        json_free(&d);
        problem_add(pr, n_pr, "the reply has no \"verdicts\" array");
        return 0;
    }
    int n = json_size(&d, arr), rc = 0;
    for (int k = 0, v = arr + 1; k < n && rc == 0; k++, v = json_skip(&d, v)) {
        long long item = 0, qn = 0;
        char *vs = NULL, *rs = NULL, *reason = NULL;
        int ti = json_type(&d, v) == JSMN_OBJECT ? json_obj_get(&d, v, "item") : -1;
        int tq = ti >= 0 ? json_obj_get(&d, v, "question") : -1;
        int tv = ti >= 0 ? json_obj_get(&d, v, "verdict") : -1,
            tr = ti >= 0 ? json_obj_get(&d, v, "reason") : -1;
        int verdict = -1;
        if (json_type(&d, v) != JSMN_OBJECT) {
            problem_add(pr, n_pr, "verdict %d is not an object", k + 1);
        } else if (ti < 0 || tq < 0 || json_int(&d, ti, &item) != 0 || json_int(&d, tq, &qn) != 0) {
            problem_add(pr, n_pr, "verdict %d needs whole numbers \"item\" and \"question\"",
                        k + 1);
        } else if (item < 1 || item > g->n || qn < 1 || qn > g->nq[item - 1]) {
            problem_add(pr, n_pr, "verdict %d names item %lld question %lld, which was not asked",
                        k + 1, item, qn);
        } else if (tv < 0 || json_str(&d, tv, &vs, NULL) != 0 ||
                   (verdict = judge_verdict_parse(vs)) < 0) {
            problem_add(
                pr, n_pr,
                "verdict %d (item %lld question %lld): \"verdict\" must be \"yes\", \"no\" or \"unsure\"",
                k + 1, item, qn);
        } else if (tr < 0 || json_str(&d, tr, &rs, NULL) != 0 || !(reason = reason_clean(rs))) {
            problem_add(
                pr, n_pr,
                "verdict %d (item %lld question %lld): \"reason\" must be a non-empty string",
                k + 1, item, qn);
        } else {
            Subject *s = &g->subj[g->act[item - 1]];
            int sq = g->idx[item - 1][qn - 1];
            if (!s->open[sq]) {
                problem_add(pr, n_pr, "verdict %d repeats item %lld question %lld", k + 1, item,
                            qn);
            } else {
                s->open[sq] = 0;
                g->jl->answered++;
                cache_put(g->jl, s->q[sq], s->it->prompt, s->it->completion, (JudgeVerdict)verdict,
                          reason, g->model, 0);
                if (g->jl->o.journal)
                    rc = journal_verdict(g->jl->o.journal, s->q[sq], s->it, (JudgeVerdict)verdict,
                                         reason, g->model, g->err, g->errlen);
            }
        }
        free(vs);
        free(rs);
        free(reason);
    }
    json_free(&d);
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nq[i]; k++)
            if (g->subj[g->act[i]].open[g->idx[i][k]])
                problem_add(pr, n_pr, "no verdict for item %d question %d", i + 1, k + 1);
    return rc;
}

static int journal_exchange(Journal *j, const LlmReply *reply, const char *error,
                            const char *problems, const char *outcome, char *err, size_t errlen) {
    JsonBuf b = {0};
    llm_exchange_json(reply, error, &b);
    b.len--;   // reopen the object
    jb_key(&b, "source"), jb_cstr(&b, "judge");
    if (problems && problems[0]) jb_key(&b, "problems"), jb_cstr(&b, problems);
    jb_key(&b, "outcome"), jb_cstr(&b, outcome);
    jb_puts(&b, "}");
    int rc = journal_append_object(j, "llm", b.buf, b.len, err, errlen);
    jb_free(&b);
    return rc;
}

static void group_fail(Group *g, const char *why) {
    for (int i = 0; i < g->n_subj; i++)
        for (int k = 0; k < g->subj[i].nq; k++)
            if (g->subj[i].open[k] && !g->subj[i].fail[k]) g->subj[i].fail[k] = xstrdup(why);
}

static int open_pairs(const Group *g) {
    int n = 0;
    for (int i = 0; i < g->n_subj; i++)
        for (int k = 0; k < g->subj[i].nq; k++) n += g->subj[i].open[k];
    return n;
}

// Ask for the open questions of subjects subj[0..n), retrying bad replies.
static int ask_group(JudgeLlm *jl, Subject *subj, int n, char *err, size_t errlen) {
    int(*idx)[JUDGE_MAX_QUESTIONS] = xcalloc((size_t)n, sizeof *idx);
    int *nq = xcalloc((size_t)n, sizeof *nq), *act = xcalloc((size_t)n, sizeof *act);
    const JudgeItem **items = xcalloc((size_t)n, sizeof *items);
    const char *(*qs)[JUDGE_MAX_QUESTIONS] = xcalloc((size_t)n, sizeof *qs);
    const char **qrow[64];
    Group g = {jl, subj, n, 0, act, idx, nq, NULL, err, errlen};
    JsonBuf pr = {0};
    int rc = 0;
    for (int attempt = 0; open_pairs(&g) > 0; attempt++) {
        if (jl->failed) {
            group_fail(&g, jl->fail_msg);
            break;
        }
        if (jl->o.budget >= 0 && jl->calls >= jl->o.budget) {
            jl->budget_reached = 1;
            break;
        }
        int pairs = 0, m = 0;   // the request's items: the subjects with open questions, renumbered
        for (int s = 0; s < n; s++) {
            nq[m] = 0;
            for (int k = 0; k < subj[s].nq; k++)
                if (subj[s].open[k]) idx[m][nq[m]] = k, qs[m][nq[m]++] = subj[s].q[k];
            if (!nq[m]) continue;
            items[m] = subj[s].it;
            qrow[m] = qs[m];
            act[m] = s;
            pairs += nq[m++];
        }
        g.n = m;
        JsonBuf msgs = {0};
        judge_llm_messages(items, (const char *const *const *)qrow, nq, m, pr.buf, &msgs);
        jb_reset(&pr);
        int n_pr = 0;
        LlmRequest req = {.messages = msgs.buf,
                          .response_format = "{\"type\":\"json_object\"}",
                          .has_temperature = 1,
                          .temperature = 0,
                          .max_tokens = 200 + 80 * pairs};
        LlmReply reply;
        char cerr[1024];
        int crc = llm_chat(jl->o.client, &req, &reply, cerr, sizeof cerr);
        jl->calls++;
        jl->asked += pairs;
        const char *outcome;
        g.model = reply.model ? reply.model : jl->o.client->model;
        if (crc != 0 && (reply.status < 200 || reply.status > 299)) {   // the server failed
            jl->failed = 1;
            snprintf(jl->fail_msg, sizeof jl->fail_msg, "the LLM failed: %s", cerr);
            group_fail(&g, jl->fail_msg);
            outcome = "failed";
        } else {
            if (crc != 0) problem_add(&pr, &n_pr, "%s", cerr);   // a 2xx that is no chat completion
            else rc = take_verdicts(&g, reply.content, &pr, &n_pr);
            if (n_pr > MAX_PROBLEMS_SHOWN)
                jb_printf(&pr, "; and %d more", n_pr - MAX_PROBLEMS_SHOWN);
            outcome = open_pairs(&g) == 0           ? "verdicts"
                      : attempt < jl->o.max_retries ? "retry"
                                                    : "gave up";
            if (!strcmp(outcome, "gave up")) {
                char *why = xasprintf("no valid verdict after %d repl%s: %s", attempt + 1,
                                      attempt ? "ies" : "y", pr.buf);
                group_fail(&g, why);
                free(why);
            }
        }
        if (rc == 0 && jl->o.journal)
            rc = journal_exchange(jl->o.journal, &reply, crc ? cerr : NULL, pr.buf, outcome, err,
                                  errlen);
        llm_reply_free(&reply);
        jb_free(&msgs);
        if (rc != 0 || strcmp(outcome, "retry") != 0) break;
    }
    jb_free(&pr);
    free(idx);
    free(nq);
    free(act);
    free(items);
    free(qs);
    return rc;
}

int judge_llm_run(JudgeLlm *jl, const JudgeItem *items, int n, JudgeAnswer **answers, char *err,
                  size_t errlen) {
    Subject *subj = NULL;
    int n_subj = 0;
    int *item_subj = xcalloc((size_t)n + 1, sizeof *item_subj);
    for (int i = 0; i < n; i++) {
        item_subj[i] = -1;
        answers[i] =
            items[i].n_questions ? xcalloc((size_t)items[i].n_questions, sizeof **answers) : NULL;
        for (int q = 0; q < items[i].n_questions; q++) {
            const JudgeCacheEntry *e =
                cache_find(jl, items[i].questions[q], items[i].prompt, items[i].completion);
            if (e) {
                answers[i][q].state = JUDGE_ANSWER_DONE;
                answers[i][q].r.cached = 1;
                jl->cache_hits++;
                continue;
            }
            if (item_subj[i] < 0) item_subj[i] = subject_for(&subj, &n_subj, &items[i]);
            subject_add_question(&subj[item_subj[i]], items[i].questions[q]);
        }
    }
    int rc = 0, per = jl->o.per_request > 64 ? 64 : jl->o.per_request;
    for (int s = 0; s < n_subj && rc == 0; s += per)
        rc = ask_group(jl, subj + s, n_subj - s < per ? n_subj - s : per, err, errlen);
    for (int i = 0; i < n; i++)
        for (int q = 0; q < items[i].n_questions; q++) {
            JudgeAnswer *a = &answers[i][q];
            const char *question = items[i].questions[q];
            const JudgeCacheEntry *e =
                cache_find(jl, question, items[i].prompt, items[i].completion);
            if (e) {
                a->state = JUDGE_ANSWER_DONE;
                a->r.question = question;
                a->r.judge = "llm";
                a->r.model = e->model;
                a->r.verdict = e->verdict;
                snprintf(a->r.reason, sizeof a->r.reason, "%s", e->reason);
                continue;
            }
            a->state = JUDGE_ANSWER_UNJUDGED;
            const Subject *sb = item_subj[i] >= 0 ? &subj[item_subj[i]] : NULL;
            for (int k = 0; sb && k < sb->nq; k++)
                if (!strcmp(sb->q[k], question) && sb->fail[k]) {
                    a->state = JUDGE_ANSWER_FAILED;
                    a->error = xstrdup(sb->fail[k]);
                }
        }
    for (int s = 0; s < n_subj; s++)
        for (int k = 0; k < subj[s].nq; k++) free(subj[s].fail[k]);
    free(subj);
    free(item_subj);
    return rc;
}

void judge_answers_free(JudgeAnswer **answers, const JudgeItem *items, int n) {
    for (int i = 0; i < n; i++) {
        for (int q = 0; answers[i] && q < items[i].n_questions; q++) free(answers[i][q].error);
        free(answers[i]);
        answers[i] = NULL;
    }
}
