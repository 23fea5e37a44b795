// judge: judgements, offline judges and the yes-rate summary; see judge.h.
#include "experiment/judge.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/tool.h"
#include "base/util.h"

const char *const judge_verdict_names[3] = {"yes", "no", "unsure"};

int judge_verdict_parse(const char *s) {
    for (int k = 0; k < 3; k++)
        if (!strcasecmp(s, judge_verdict_names[k])) return k;
    return -1;
}

const char *const judge_offline_names[JUDGE_N_OFFLINE] = {
    "answer-start", "repeats-last-token", "ngram-loop", "english-words", "valid-json"};
static const char *const judge_offline_questions[JUDGE_N_OFFLINE] = {
    "Does the completion begin with the answer?",
    "Does the completion only repeat the prompt's last token?",
    "Does the completion fall into a loop of a repeated n-gram?",
    "Are most of the completion's words English?",
    "Is the prompt + completion valid JSON?",
};

// ----------------------------------------------------------------------------- items

// A string field: 1 read (no NUL inside), 0 absent or null, -1 another type.
static int item_string(const Record *r, const char *key, char **out, char *err, size_t errlen) {
    size_t len;
    int got = record_string(r, key, out, &len, err, errlen);
    if (got == 1 && strlen(*out) != len) {
        free(*out);
        *out = NULL;
        return fail(err, errlen, "\"%s\" holds a NUL character", key);
    }
    return got;
}

static int has_question(const JudgeItem *it, const char *q) {
    for (int i = 0; i < it->n_questions; i++)
        if (!strcmp(it->questions[i], q)) return 1;
    return 0;
}

static int question_add(JudgeItem *it, const char *q, char *err, size_t errlen) {
    if (has_question(it, q)) return 0;
    if (it->n_questions == JUDGE_MAX_QUESTIONS)
        return fail(err, errlen, "more than %d questions", JUDGE_MAX_QUESTIONS);
    it->questions = xrealloc(it->questions, sizeof *it->questions * (size_t)(it->n_questions + 1));
    it->questions[it->n_questions++] = xstrdup(q);
    return 0;
}

static int questions_read(JudgeItem *it, const Record *r, char *err, size_t errlen) {
    const JsonDoc *d = &r->doc;
    int q = json_obj_get(d, 0, "eval_questions");
    if (q < 0 || json_is_null(d, q)) return 0;
    if (json_type(d, q) != JSMN_ARRAY)
        return fail(err, errlen, "\"eval_questions\" must be an array of strings");
    int n = json_size(d, q);
    for (int k = 0, v = q + 1; k < n; k++, v = json_skip(d, v)) {
        char *s = NULL;
        size_t len;
        if (json_str(d, v, &s, &len) != 0 || strlen(s) != len || len == 0 ||
            len > JUDGE_QUESTION_MAX) {
            free(s);
            return fail(err, errlen,
                        "\"eval_questions\" must hold non-empty strings of at most %d bytes",
                        JUDGE_QUESTION_MAX);
        }
        int rc = question_add(it, s, err, errlen);
        free(s);
        if (rc != 0) return -1;
    }
    return 0;
}

int judge_item_read(JudgeItem *it, const Record *r, const char *const *extra, int n_extra,
                    char *err, size_t errlen) {
    memset(it, 0, sizeof *it);
    int got = item_string(r, "completion", &it->completion, err, errlen);
    if (got == 0) return fail(err, errlen, "no \"completion\" (judge reads runlayers records)");
    if (got < 0) return -1;
    got = item_string(r, "prompt", &it->prompt, err, errlen);
    if (got == 0) return fail(err, errlen, "no \"prompt\"");
    if (got < 0) return -1;
    if (item_string(r, "answer", &it->answer, err, errlen) < 0 ||
        item_string(r, "separator", &it->separator, err, errlen) < 0 ||
        item_string(r, "task", &it->task, err, errlen) < 0 ||
        questions_read(it, r, err, errlen) != 0 ||
        record_int_array(r, "completion_tokens", &it->tokens, &it->n_tokens, err, errlen) < 0)
        return -1;
    for (int k = 0; k < n_extra; k++)
        if (question_add(it, extra[k], err, errlen) != 0) return -1;
    return 0;
}

void judge_item_free(JudgeItem *it) {
    free(it->prompt);
    free(it->completion);
    free(it->answer);
    free(it->separator);
    free(it->task);
    free(it->tokens);
    for (int i = 0; i < it->n_questions; i++) free(it->questions[i]);
    free(it->questions);
    memset(it, 0, sizeof *it);
}

// ----------------------------------------------------------------------------- results

void judge_result_json(JsonBuf *b, const JudgeResult *r) {
    jb_puts(b, "{");
    jb_key(b, "question"), jb_cstr(b, r->question);
    jb_key(b, "verdict"), jb_cstr(b, judge_verdict_names[r->verdict]);
    jb_key(b, "reason"), jb_cstr(b, r->reason);
    jb_key(b, "judge"), jb_cstr(b, r->judge);
    if (r->has_score) jb_key(b, "score"), jb_double(b, round(r->score * 1e4) / 1e4);
    if (r->model) jb_key(b, "model"), jb_cstr(b, r->model);
    if (r->cached) jb_key(b, "cached"), jb_puts(b, "true");
    jb_puts(b, "}");
}

// ----------------------------------------------------------------------------- pieces

typedef struct {
    const char *s;
    size_t len;
} Piece;

static int is_letter_byte(unsigned char c) { return isalpha(c) || c >= 0x80; }

// Cut text into pieces (judge.h): letter runs, digit runs, other single characters; at
// most JUDGE_MAX_PIECES (the rest is not read).  Returns the number of pieces; *out
// malloc'd (NULL when none).
static int pieces_cut(const char *text, Piece **out) {
    size_t n = strlen(text);
    Piece *p = NULL;
    int np = 0, cap = 0;
    for (size_t i = 0; i < n && np < JUDGE_MAX_PIECES;) {
        unsigned char c = (unsigned char)text[i];
        if (isspace(c)) {
            i++;
            continue;
        }
        size_t j = i + 1;
        if (is_letter_byte(c)) {
            while (j < n && is_letter_byte((unsigned char)text[j])) j++;
        } else if (isdigit(c)) {
            while (j < n && isdigit((unsigned char)text[j])) j++;
        }
        if (np == cap) p = xrealloc(p, sizeof *p * (size_t)(cap = cap ? 2 * cap : 32));
        p[np++] = (Piece){text + i, j - i};
        i = j;
    }
    *out = p;
    return np;
}

static int piece_eq(Piece a, Piece b) { return a.len == b.len && !memcmp(a.s, b.s, a.len); }

// "text" for a reason: at most max bytes of s, without cutting a UTF-8 character, with
// control characters shown as spaces.
static void quote_into(char *dst, size_t dstlen, const char *s, size_t len, size_t max) {
    size_t k = len < max ? len : max;
    while (k > 0 && k < len && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    size_t o = 0;
    if (o + 1 < dstlen) dst[o++] = '"';
    for (size_t i = 0; i < k && o + 1 < dstlen; i++)
        dst[o++] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
    if (k < len && o + 4 < dstlen) memcpy(dst + o, "...", 3), o += 3;
    if (o + 1 < dstlen) dst[o++] = '"';
    dst[o] = '\0';
}

// ----------------------------------------------------------------------------- the judges

static int word_boundary(const char *answer, size_t alen, const char *rest) {
    unsigned char last = (unsigned char)answer[alen - 1], next = (unsigned char)rest[0];
    if (!next || !(isalnum(last) || last >= 0x80)) return 1;
    return !(isalnum(next) || next >= 0x80);
}

static int judge_answer_start(const JudgeItem *it, JudgeResult *out) {
    if (!it->answer || !it->answer[0]) return 0;
    const char *sep = it->separator ? it->separator : " ";
    const char *c = it->completion, *a = it->answer;
    if (sep[0]) {   // a separator of spaces: the completion's leading whitespace is it
        while (isspace((unsigned char)*c)) c++;
        while (isspace((unsigned char)*a)) a++;
    }
    size_t alen = strlen(a);
    char shown[96], want[96];
    quote_into(want, sizeof want, a, alen, 60);
    if (!*c) {
        out->verdict = JUDGE_NO;
        snprintf(out->reason, sizeof out->reason, "the completion is empty; the answer is %s",
                 want);
        return 1;
    }
    int yes = alen > 0 && !strncmp(c, a, alen) && (!sep[0] || word_boundary(a, alen, c + alen));
    quote_into(shown, sizeof shown, c, strlen(c), alen + 10 < 60 ? alen + 10 : 60);
    out->verdict = yes ? JUDGE_YES : JUDGE_NO;
    if (yes) snprintf(out->reason, sizeof out->reason, "begins with the answer %s", want);
    else
        snprintf(out->reason, sizeof out->reason, "begins with %s, not the answer %s", shown, want);
    return 1;
}

// The last piece of text (len 0 when it has none), read from its end.
static Piece last_piece(const char *text) {
    size_t e = strlen(text);
    while (e > 0 && isspace((unsigned char)text[e - 1])) e--;
    if (e == 0) return (Piece){text, 0};
    unsigned char c = (unsigned char)text[e - 1];
    size_t b = e - 1;
    if (is_letter_byte(c))
        while (b > 0 && is_letter_byte((unsigned char)text[b - 1])) b--;
    else if (isdigit(c))
        while (b > 0 && isdigit((unsigned char)text[b - 1])) b--;
    return (Piece){text + b, e - b};
}

static int judge_repeats_last(const JudgeItem *it, JudgeResult *out) {
    Piece *cp;
    Piece last = last_piece(it->prompt);
    int nc = pieces_cut(it->completion, &cp);
    int applies = last.len > 0;
    if (applies) {
        int same = 0;
        for (int i = 0; i < nc; i++) same += piece_eq(cp[i], last);
        char shown[96];
        quote_into(shown, sizeof shown, last.s, last.len, 40);
        if (nc == 0) {
            out->verdict = JUDGE_UNSURE;
            snprintf(out->reason, sizeof out->reason, "the completion has no tokens");
        } else {
            out->has_score = 1;
            out->score = (double)same / nc;
            out->verdict = out->score >= JUDGE_REPEAT_MIN ? JUDGE_YES : JUDGE_NO;
            snprintf(out->reason, sizeof out->reason,
                     "%d of %d pieces are the prompt's last token %s", same, nc, shown);
        }
    }
    free(cp);
    return applies;
}

// The longest run of an n-gram (n <= JUDGE_LOOP_MAX_N) repeated at least
// JUDGE_LOOP_MIN_REPS times in a row in seq[0..n): its n, start and repetitions; 0 when none.
typedef struct {
    int cover, n, at, reps;
} Loop;

static Loop loop_find(const int *seq, int n) {
    Loop best = {0};
    for (int g = 1; g <= JUDGE_LOOP_MAX_N; g++)
        for (int s = 0; s + 2 * g <= n; s++) {
            int reps = 1;
            while (s + (reps + 1) * g <= n &&
                   !memcmp(seq + s, seq + s + reps * g, sizeof *seq * (size_t)g))
                reps++;
            if (reps >= JUDGE_LOOP_MIN_REPS && reps * g > best.cover)
                best = (Loop){reps * g, g, s, reps};
        }
    return best;
}

static int judge_ngram_loop(const JudgeItem *it, JudgeResult *out) {
    Piece *p = NULL;
    int use_tokens = it->tokens != NULL && it->n_tokens > 0;
    int n = use_tokens ? (it->n_tokens < JUDGE_MAX_PIECES ? it->n_tokens : JUDGE_MAX_PIECES)
                       : pieces_cut(it->completion, &p);
    int *seq = use_tokens ? it->tokens : xcalloc((size_t)n + 1, sizeof *seq);
    for (int i = 0; !use_tokens && i < n;
         i++) {   // pieces as ids: the index of their first occurrence
        seq[i] = i;
        for (int k = 0; k < i; k++)
            if (piece_eq(p[k], p[i])) {
                seq[i] = seq[k];
                break;
            }
    }
    const char *unit = use_tokens ? "token" : "piece";
    Loop lp = loop_find(seq, n);
    if (n == 0) {
        out->verdict = JUDGE_UNSURE;
        snprintf(out->reason, sizeof out->reason, "the completion is empty");
    } else if (lp.cover >= JUDGE_LOOP_MIN_PIECES) {
        char shown[96] = "";
        if (!use_tokens) {
            const char *from = p[lp.at].s, *to = p[lp.at + lp.n - 1].s + p[lp.at + lp.n - 1].len;
            quote_into(shown, sizeof shown, from, (size_t)(to - from), 40);
        } else {
            snprintf(shown, sizeof shown, "tokens %d..%d", lp.at, lp.at + lp.n - 1);
        }
        out->verdict = JUDGE_YES;
        out->has_score = 1;
        out->score = (double)lp.cover / n;
        snprintf(out->reason, sizeof out->reason, "%s (%d %s%s) %d times in a row: %d of %d %ss",
                 shown, lp.n, unit, lp.n == 1 ? "" : "s", lp.reps, lp.cover, n, unit);
    } else {
        out->verdict = JUDGE_NO;
        out->has_score = 1;
        out->score = 0;
        snprintf(out->reason, sizeof out->reason,
                 "no n-gram of 1-%d %ss repeats %d times in a row (%d %ss)", JUDGE_LOOP_MAX_N, unit,
                 JUDGE_LOOP_MIN_REPS, n, unit);
    }
    if (!use_tokens) free(seq);
    free(p);
    return 1;
}

// Is word[0..len) in the list (as written, or with its letters lower-cased)?
static int judge_words_has(const JudgeWords *w, const char *word, size_t len);

static int word_byte(unsigned char c) { return isalpha(c) || c >= 0x80 || c == '\''; }

static int judge_english(const JudgeItem *it, const JudgeWords *w, JudgeResult *out) {
    if (!w) return 0;
    const char *s = it->completion;
    size_t n = strlen(s);
    int words = 0, known = 0;
    char first_unknown[96] = "";
    for (size_t i = 0; i < n && words < JUDGE_MAX_PIECES;) {
        if (!word_byte((unsigned char)s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && word_byte((unsigned char)s[j])) j++;
        size_t a = i, b = j;   // apostrophes at the ends are quotes, not part of the word
        while (a < b && s[a] == '\'') a++;
        while (b > a && s[b - 1] == '\'') b--;
        i = j;
        if (a == b) continue;
        words++;
        if (judge_words_has(w, s + a, b - a)) known++;
        else if (!first_unknown[0])
            quote_into(first_unknown, sizeof first_unknown, s + a, b - a, 40);
    }
    if (words == 0) {
        out->verdict = JUDGE_UNSURE;
        snprintf(out->reason, sizeof out->reason, "the completion has no words");
        return 1;
    }
    out->has_score = 1;
    out->score = (double)known / words;
    out->verdict = out->score >= JUDGE_ENGLISH_MIN ? JUDGE_YES : JUDGE_NO;
    snprintf(out->reason, sizeof out->reason, "%d of %d words are English%s%s", known, words,
             first_unknown[0] ? "; not: " : "", first_unknown);
    return 1;
}

static int judge_valid_json(const JudgeItem *it, JudgeResult *out) {
    if (!it->task || strcmp(it->task, "json") != 0) return 0;
    size_t pl = strlen(it->prompt), cl = strlen(it->completion), at = 0;
    char *text = xasprintf("%s%s", it->prompt, it->completion);
    int rc = judge_json_prefix(text, pl + cl, &at);
    if (rc == JUDGE_JSON_COMPLETE && at <= pl) {   // the prompt alone was a whole document
        out->verdict = JUDGE_UNSURE;
        snprintf(out->reason, sizeof out->reason, "the prompt is already a complete JSON value");
    } else if (rc == JUDGE_JSON_COMPLETE) {
        out->verdict = JUDGE_YES;
        snprintf(out->reason, sizeof out->reason,
                 "a complete JSON value, closed at byte %zu of the completion", at - pl);
    } else if (rc == JUDGE_JSON_INVALID && at < pl) {
        out->verdict = JUDGE_UNSURE;
        snprintf(out->reason, sizeof out->reason, "the prompt itself is not valid JSON (byte %zu)",
                 at);
    } else if (rc == JUDGE_JSON_INVALID) {
        char shown[96];
        quote_into(shown, sizeof shown, text + at, pl + cl - at, 20);
        out->verdict = JUDGE_NO;
        snprintf(out->reason, sizeof out->reason, "invalid JSON at byte %zu of the completion: %s",
                 at - pl, shown);
    } else {
        out->verdict = JUDGE_UNSURE;
        snprintf(out->reason, sizeof out->reason,
                 "valid so far, but the completion ends before the document closes");
    }
    free(text);
    return 1;
}

int judge_offline(int k, const JudgeItem *it, const JudgeWords *words, JudgeResult *out) {
    memset(out, 0, sizeof *out);
    if (k < 0 || k >= JUDGE_N_OFFLINE) return 0;
    out->question = judge_offline_questions[k];
    out->judge = judge_offline_names[k];
    switch (k) {
    case JUDGE_ANSWER_START: return judge_answer_start(it, out);
    case JUDGE_REPEATS_LAST: return judge_repeats_last(it, out);
    case JUDGE_NGRAM_LOOP: return judge_ngram_loop(it, out);
    case JUDGE_ENGLISH: return judge_english(it, words, out);
    default: return judge_valid_json(it, out);
    }
}

// ----------------------------------------------------------------------------- JSON syntax

typedef struct {
    const char *s;
    size_t n, i;
} Scan;

enum { SCAN_OK = 0, SCAN_BAD = -1, SCAN_EOF = -2 };

static void scan_ws(Scan *c) {
    while (c->i < c->n &&
           (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r'))
        c->i++;
}

static int scan_literal(Scan *c, const char *lit) {
    for (size_t k = 0; lit[k]; k++, c->i++) {
        if (c->i >= c->n) return SCAN_EOF;
        if (c->s[c->i] != lit[k]) return SCAN_BAD;
    }
    return SCAN_OK;
}

// The 4 hex digits after "\\u" (c->i at the 'u'); c->i ends on the last digit.
static int scan_hex4(Scan *c, unsigned *u) {
    *u = 0;
    for (int k = 0; k < 4; k++) {
        if (++c->i >= c->n) return SCAN_EOF;
        unsigned char h = (unsigned char)c->s[c->i];
        if (!isxdigit(h)) return SCAN_BAD;
        *u = *u * 16 + (unsigned)(isdigit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
    }
    return SCAN_OK;
}

// A string; surrogate escapes must pair up (json_parse's rule: a lone one is an error).
static int scan_string(Scan *c) {
    c->i++;   // the opening quote
    while (c->i < c->n) {
        unsigned char ch = (unsigned char)c->s[c->i];
        if (ch == '"') return c->i++, SCAN_OK;
        if (ch < 0x20) return SCAN_BAD;
        if (ch == '\\') {
            if (++c->i >= c->n) return SCAN_EOF;
            char e = c->s[c->i];
            if (e == 'u') {
                unsigned u, lo;
                int rc = scan_hex4(c, &u);
                if (rc) return rc;
                if (u >= 0xDC00 && u <= 0xDFFF) return SCAN_BAD;
                if (u >= 0xD800 && u <= 0xDBFF) {   // the low half must follow
                    if (++c->i >= c->n) return SCAN_EOF;
                    if (c->s[c->i] != '\\') return SCAN_BAD;
                    if (++c->i >= c->n) return SCAN_EOF;
                    if (c->s[c->i] != 'u') return SCAN_BAD;
                    if ((rc = scan_hex4(c, &lo)) != 0) return rc;
                    if (lo < 0xDC00 || lo > 0xDFFF) return SCAN_BAD;
                }
            } else if (!strchr("\"\\/bfnrt", e) || !e) {
                return SCAN_BAD;
            }
        }
        c->i++;
    }
    return SCAN_EOF;
}

// A number ends at the first byte that cannot continue it (or at the end of the text:
// a number that is the whole text is complete; inside a container the container is not).
static int scan_number(Scan *c) {
    if (c->s[c->i] == '-' && ++c->i >= c->n) return SCAN_EOF;
    if (!isdigit((unsigned char)c->s[c->i])) return SCAN_BAD;
    if (c->s[c->i] == '0') c->i++;
    else
        while (c->i < c->n && isdigit((unsigned char)c->s[c->i])) c->i++;
    if (c->i < c->n && c->s[c->i] == '.') {
        if (++c->i >= c->n) return SCAN_EOF;
        if (!isdigit((unsigned char)c->s[c->i])) return SCAN_BAD;
        while (c->i < c->n && isdigit((unsigned char)c->s[c->i])) c->i++;
    }
    if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
        if (++c->i >= c->n) return SCAN_EOF;
        if (c->s[c->i] == '+' || c->s[c->i] == '-')
            if (++c->i >= c->n) return SCAN_EOF;
        if (!isdigit((unsigned char)c->s[c->i])) return SCAN_BAD;
        while (c->i < c->n && isdigit((unsigned char)c->s[c->i])) c->i++;
    }
    return SCAN_OK;
}

static int scan_value(Scan *c, int depth);

// An object or array: open at c->i.
static int scan_container(Scan *c, int depth) {
    char close = c->s[c->i] == '{' ? '}' : ']';
    int object = close == '}';
    c->i++;
    scan_ws(c);
    if (c->i >= c->n) return SCAN_EOF;
    if (c->s[c->i] == close) return c->i++, SCAN_OK;
    for (;;) {
        if (object) {
            if (c->s[c->i] != '"') return SCAN_BAD;
            int rc = scan_string(c);
            if (rc) return rc;
            scan_ws(c);
            if (c->i >= c->n) return SCAN_EOF;
            if (c->s[c->i] != ':') return SCAN_BAD;
            c->i++;
        }
        int rc = scan_value(c, depth + 1);
        if (rc) return rc;
        scan_ws(c);
        if (c->i >= c->n) return SCAN_EOF;
        if (c->s[c->i] == close) return c->i++, SCAN_OK;
        if (c->s[c->i] != ',') return SCAN_BAD;
        c->i++;
        scan_ws(c);
        if (c->i >= c->n) return SCAN_EOF;
    }
}

static int scan_value(Scan *c, int depth) {
    if (depth >= JSON_MAX_DEPTH) return SCAN_BAD;   // json_parse's limit
    scan_ws(c);
    if (c->i >= c->n) return SCAN_EOF;
    switch (c->s[c->i]) {
    case '{':
    case '[': return scan_container(c, depth);
    case '"': return scan_string(c);
    case 't': return scan_literal(c, "true");
    case 'f': return scan_literal(c, "false");
    case 'n': return scan_literal(c, "null");
    default: return scan_number(c);
    }
}

int judge_json_prefix(const char *text, size_t n, size_t *at) {
    Scan c = {text, n, 0};
    int rc = scan_value(&c, 0);
    *at = c.i;
    if (rc == SCAN_OK) return JUDGE_JSON_COMPLETE;
    if (rc == SCAN_BAD) return JUDGE_JSON_INVALID;
    return JUDGE_JSON_INCOMPLETE;
}

// ----------------------------------------------------------------------------- words

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int judge_words_load(JudgeWords *w, const char *path, char *err, size_t errlen) {
    memset(w, 0, sizeof *w);
    size_t len;
    char *text = read_file(path, &len);
    if (!text)
        return fail(err, errlen, "cannot read the word list %s (Debian: apt-get install wamerican)",
                    path);
    size_t cap = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && text[j] != '\n') j++;
        size_t e = j;
        while (e > i && (text[e - 1] == '\r' || text[e - 1] == ' ')) e--;
        if (e > i && e - i < 64 && !memchr(text + i, '\0', e - i)) {
            if (w->n == cap) w->w = xrealloc(w->w, sizeof *w->w * (cap = cap ? 2 * cap : 1024));
            w->w[w->n++] = xstrndup(text + i, e - i);
        }
        i = j + 1;
    }
    free(text);
    if (w->n == 0) return fail(err, errlen, "the word list %s holds no words", path);
    qsort(w->w, w->n, sizeof *w->w, cmp_str);
    return 0;
}

void judge_words_free(JudgeWords *w) {
    for (size_t i = 0; i < w->n; i++) free(w->w[i]);
    free(w->w);
    memset(w, 0, sizeof *w);
}

static int words_find(const JudgeWords *w, const char *s) {
    const char *key = s;
    return bsearch(&key, w->w, w->n, sizeof *w->w, cmp_str) != NULL;
}

static int judge_words_has(const JudgeWords *w, const char *word, size_t len) {
    if (len == 0 || len >= 64) return 0;
    char buf[64];
    memcpy(buf, word, len);
    buf[len] = '\0';
    if (words_find(w, buf)) return 1;
    for (size_t i = 0; i < len; i++) buf[i] = (char)tolower((unsigned char)buf[i]);
    return words_find(w, buf);
}

// ----------------------------------------------------------------------------- summary

static JudgeGroup *group_for(JudgeSummary *s, const char *task, const char *label,
                             const char *question) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->g[i].task, task) && !strcmp(s->g[i].label, label) &&
            !strcmp(s->g[i].question, question))
            return &s->g[i];
    if (s->n == s->cap)
        s->g = xrealloc(s->g, sizeof *s->g * (size_t)(s->cap = s->cap ? 2 * s->cap : 16));
    JudgeGroup *g = &s->g[s->n++];
    memset(g, 0, sizeof *g);
    g->task = xstrdup(task);
    g->label = xstrdup(label);
    g->question = xstrdup(question);
    return g;
}

static char *obj_str(const JsonDoc *d, int obj, const char *key) {
    int v = json_obj_get(d, obj, key);
    char *s = NULL;
    if (v < 0 || json_str(d, v, &s, NULL) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

// Add the judgements of array token arr of d to the groups of (task, label).
static int add_array(JudgeSummary *s, const JsonDoc *d, int arr, const char *task,
                     const char *label, const char *layers, size_t layers_len, char *err,
                     size_t errlen) {
    if (json_type(d, arr) != JSMN_ARRAY) return fail(err, errlen, "\"judgements\" is not an array");
    int n = json_size(d, arr);
    // Check every element before counting any, so that a bad record adds nothing.
    for (int k = 0, v = arr + 1; k < n; k++, v = json_skip(d, v)) {
        char *q = json_type(d, v) == JSMN_OBJECT ? obj_str(d, v, "question") : NULL;
        char *verdict = q ? obj_str(d, v, "verdict") : NULL;
        int vv = verdict ? judge_verdict_parse(verdict) : -1;
        int ok =
            q && vv >= 0 && !strcmp(verdict, judge_verdict_names[vv]);   // as judge writes them
        free(q);
        free(verdict);
        if (!ok)
            return fail(
                err, errlen,
                "judgement %d has no \"question\" string or no \"verdict\" yes, no or unsure", k);
    }
    for (int k = 0, v = arr + 1; k < n; k++, v = json_skip(d, v)) {
        char *q = obj_str(d, v, "question"), *verdict = obj_str(d, v, "verdict"),
             *judge = obj_str(d, v, "judge");
        JudgeGroup *g = group_for(s, task, label, q);
        if (!g->judge) g->judge = xstrdup(judge ? judge : "");
        if (!g->layers_json && layers) g->layers_json = xstrndup(layers, layers_len);
        int vv = judge_verdict_parse(verdict);
        g->n++;
        g->yes += vv == JUDGE_YES;
        g->no += vv == JUDGE_NO;
        g->unsure += vv == JUDGE_UNSURE;
        free(q);
        free(verdict);
        free(judge);
    }
    return n;
}

int judge_summary_add(JudgeSummary *s, const Record *r, char *err, size_t errlen) {
    const JsonDoc *d = &r->doc;
    int arr = json_obj_get(d, 0, "judgements");
    if (arr < 0 || json_is_null(d, arr)) return 0;
    char *task = NULL, *label = NULL;
    record_string(r, "task", &task, NULL, NULL, 0);
    record_string(r, "label", &label, NULL, NULL, 0);
    int li = json_obj_get(d, 0, "layers");
    size_t llen = 0;
    const char *layers = li >= 0 ? json_raw(d, li, &llen) : NULL;
    int n = add_array(s, d, arr, task ? task : "", label ? label : "", layers, llen, err, errlen);
    free(task);
    free(label);
    return n;
}

int judge_summary_add_json(JudgeSummary *s, const char *task, const char *label,
                           const char *layers_json, const char *json, size_t len, char *err,
                           size_t errlen) {
    JsonDoc d;
    char jerr[128];
    if (json_parse(&d, json, len, jerr, sizeof jerr) != 0) {
        json_free(&d);
        return fail(err, errlen, "\"judgements\": %s", jerr);
    }
    int n = add_array(s, &d, 0, task ? task : "", label ? label : "", layers_json,
                      layers_json ? strlen(layers_json) : 0, err, errlen);
    json_free(&d);
    return n;
}

JudgeStats judge_summary_stats(const JudgeSummary *s, const JudgeGroup *g) {
    JudgeStats st = {0};
    double n = (double)g->n, p = g->n ? (double)g->yes / n : 0;
    st.yes_rate = p;
    // Sample variance of 0/1 values: n p (1 - p) / (n - 1); its standard error / sqrt(n).
    st.stderr_rate = g->n > 1 ? sqrt(p * (1 - p) / (n - 1)) : 0;
    for (int i = 0; i < s->n; i++) {
        const JudgeGroup *r = &s->g[i];
        if (r->n && !strcmp(r->task, g->task) && !strcmp(r->question, g->question) &&
            !strcmp(r->label, "intact")) {
            st.has_delta = 1;
            st.delta = p - (double)r->yes / (double)r->n;
            break;
        }
    }
    return st;
}

void judge_summary_free(JudgeSummary *s) {
    for (int i = 0; i < s->n; i++) {
        free(s->g[i].task);
        free(s->g[i].label);
        free(s->g[i].question);
        free(s->g[i].judge);
        free(s->g[i].layers_json);
    }
    free(s->g);
    memset(s, 0, sizeof *s);
}

static int collect(void *ctx, Record *const *recs, int n, JsonBuf *lines) {
    int failed = 0;
    char err[256];
    for (int i = 0; i < n; i++) {
        int got = judge_summary_add(ctx, recs[i], err, sizeof err);
        if (got == 0 && !record_has(recs[i], "judgements"))
            got = fail(err, sizeof err, "no \"judgements\" (run judge first)");
        if (got < 0) {
            record_error(lines, recs[i], err);
            failed++;
        }
    }
    return failed;
}

static void write_group(JsonBuf *b, const JudgeSummary *s, const JudgeGroup *g) {
    JudgeStats st = judge_summary_stats(s, g);
    jb_raw(b, "{", 1);
    jb_key(b, "task"), jb_cstr(b, g->task);
    jb_key(b, "label"), jb_cstr(b, g->label);
    jb_key(b, "layers"), jb_puts(b, g->layers_json ? g->layers_json : "null");
    jb_key(b, "question"), jb_cstr(b, g->question);
    jb_key(b, "judge"), jb_cstr(b, g->judge ? g->judge : "");
    jb_key(b, "n"), jb_int(b, g->n);
    jb_key(b, "yes"), jb_int(b, g->yes);
    jb_key(b, "no"), jb_int(b, g->no);
    jb_key(b, "unsure"), jb_int(b, g->unsure);
    jb_key(b, "yes_rate"), jb_double(b, st.yes_rate);
    jb_key(b, "stderr"), jb_double(b, st.stderr_rate);
    jb_key(b, "delta_yes_rate");
    if (st.has_delta) jb_double(b, st.delta);
    else jb_puts(b, "null");
    jb_raw(b, "}\n", 2);
}

// A table cell: '|' and newlines would break the row.
static void cell(JsonBuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '|') jb_puts(b, "\\|");
        else if (*s == '\n' || *s == '\r') jb_puts(b, " ");
        else jb_raw(b, s, 1);
    }
}

static void write_table(JsonBuf *b, const JudgeSummary *s) {
    jb_puts(
        b,
        "| task | configuration | question | judge | n | yes-rate | ± stderr | Δ intact | yes / no / unsure |\n");
    jb_puts(b, "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |\n");
    for (int i = 0; i < s->n; i++) {
        const JudgeGroup *g = &s->g[i];
        JudgeStats st = judge_summary_stats(s, g);
        jb_puts(b, "| "), cell(b, g->task), jb_puts(b, " | "), cell(b, g->label), jb_puts(b, " | ");
        cell(b, g->question), jb_puts(b, " | "), cell(b, g->judge ? g->judge : ""),
            jb_puts(b, " | ");
        jb_printf(b, "%ld | %.2f | %.2f | ", g->n, st.yes_rate, st.stderr_rate);
        if (st.has_delta) jb_printf(b, "%+.2f", st.delta);
        else jb_puts(b, "–");
        jb_printf(b, " | %ld / %ld / %ld |\n", g->yes, g->no, g->unsure);
    }
}

int judge_summary_run(FILE *in, FILE *out, int table) {
    JudgeSummary s = {0};
    int status = tool_run(in, table ? stderr : out, 64, collect, &s);
    JsonBuf b = {0};
    if (table) write_table(&b, &s);
    else
        for (int i = 0; i < s.n; i++) write_group(&b, &s, &s.g[i]);
    if (lines_write(&b, out) != 0 || fflush(out) != 0 || ferror(out)) {
        weprintf("error writing output");
        status = EXIT_USAGE;
    }
    judge_summary_free(&s);
    jb_free(&b);
    return status;
}
