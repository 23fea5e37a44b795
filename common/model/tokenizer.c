// tokenizer: GPT-2 byte-level BPE.  See tokenizer.h for the algorithm and its contract.
#include "model/tokenizer.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/json.h"
#include "base/utf8.h"
#include "base/util.h"

#define EOT_TEXT "<|endoftext|>"
#define EOT_LEN  (sizeof EOT_TEXT - 1)

// One merge rule, keyed by its pair of token ids.
typedef struct {
    uint64_t key;   // (left id << 32) | right id
    int rank;       // line order in merges.txt; -1 marks an empty slot
    int id;         // the token the pair merges into
} MergeSlot;

struct Tokenizer {
    int n_vocab;
    char *pool;          // the bytes of every token, back to back
    size_t *off, *len;   // (n_vocab) token id -> its bytes pool[off, off + len)
    int *str_slots;      // (str_cap) open-addressing map: token bytes -> id; -1 = empty
    size_t str_cap;
    int byte_id[256];    // the single-byte tokens
    MergeSlot *merges;   // (merge_cap) open-addressing map: pair -> rank, merged id
    size_t merge_cap;
    int n_merges;
};

// ----------------------------------------------------------------------------
// UTF-8

// Decode the character at s[0..n) (n >= 1): its length in bytes, and *cp its code point,
// or -1 when s[0] does not start a well-formed sequence (the length is then 1).
static size_t utf8_next(const unsigned char *s, size_t n, int *cp) {
    size_t len = utf8_decode(s, n, cp);
    return len ? len : 1;
}

// ----------------------------------------------------------------------------
// Character classes of the pre-tokenizer

// \s of the GPT-2 regex as Python's `regex` and tiktoken read it: the Unicode White_Space
// property (PropList.txt; unchanged since Unicode 6.3).  JavaScript's \s differs on two code
// points: it has U+FEFF and lacks U+0085.
static int white_space(int cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return cp == 0x0085 || cp == 0x00A0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int tok_char_class(int cp) {
    if (cp < 0 || cp > 0x10FFFF) return TOK_CLASS_OTHER;
    if (cp < 0x80) {   // fast path, same answers as below
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return TOK_CLASS_LETTER;
        if (cp >= '0' && cp <= '9') return TOK_CLASS_NUMBER;
        return white_space(cp) ? TOK_CLASS_SPACE : TOK_CLASS_OTHER;
    }
    if (white_space(cp)) return TOK_CLASS_SPACE;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: return TOK_CLASS_LETTER;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return TOK_CLASS_NUMBER;
    default: return TOK_CLASS_OTHER;
    }
}

// Class and byte length of the character at s[0..n), n >= 1 (invalid byte: OTHER, 1).
static int class_at(const unsigned char *s, size_t n, size_t *len) {
    int cp;
    *len = utf8_next(s, n, &cp);
    return tok_char_class(cp);
}

// ----------------------------------------------------------------------------
// Pre-tokenizer: the GPT-2 regex as a scanner

// Length of the contraction 's 't 're 've 'm 'll 'd at s[0..n) (s[0] == '\''), or 0.
static size_t contraction_len(const unsigned char *s, size_t n) {
    if (n >= 2 && (s[1] == 's' || s[1] == 't' || s[1] == 'm' || s[1] == 'd')) return 2;
    if (n >= 3 && ((s[1] == 'r' && s[2] == 'e') || (s[1] == 'v' && s[2] == 'e') ||
                   (s[1] == 'l' && s[2] == 'l')))
        return 3;
    return 0;
}

// End of the run of characters of class `cls` that starts at s[i].
static size_t run_end(const unsigned char *s, size_t n, size_t i, int cls) {
    size_t len;
    while (i < n && class_at(s + i, n - i, &len) == cls) i += len;
    return i;
}

// End of the word that starts at s[i] (i < n): the regex alternatives tried in order.
static size_t pretoken_end(const unsigned char *s, size_t n, size_t i) {
    size_t len;
    if (s[i] == '\'') {   // 's|'t|'re|'ve|'m|'ll|'d
        size_t k = contraction_len(s + i, n - i);
        if (k) return i + k;
    }
    size_t j = (s[i] == ' ' && i + 1 < n) ? i + 1 : i;   // the optional leading " "
    int cls = class_at(s + j, n - j, &len);
    if (cls != TOK_CLASS_SPACE)   // ` ?\p{L}+` ` ?\p{N}+` ` ?[^...]+`
        return run_end(s, n, j + len, cls);
    // s[i] is a space.  \s+(?!\S): the whole run of spaces when it ends the text, else the
    // run less its last character (a " " there starts the next word); \s+: a run of one.
    size_t last = i, end = i;
    while (end < n && class_at(s + end, n - end, &len) == TOK_CLASS_SPACE) {
        last = end;
        end += len;
    }
    if (end == n || last == i) return end;
    return last;
}

// ----------------------------------------------------------------------------
// Hash maps

static uint64_t hash_bytes(const char *s, size_t n) {   // FNV-1a
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static size_t hash_pair(uint64_t key, size_t cap) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static uint64_t pair_key(int a, int b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

// Smallest power of two >= 2 * n (load factor <= 1/2).
static size_t table_cap(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    return cap;
}

int tok_find(const Tokenizer *tok, const char *s, size_t len) {
    size_t mask = tok->str_cap - 1;
    for (size_t h = hash_bytes(s, len) & mask;; h = (h + 1) & mask) {
        int id = tok->str_slots[h];
        if (id < 0) return -1;
        if (tok->len[id] == len && memcmp(tok->pool + tok->off[id], s, len) == 0) return id;
    }
}

// Add token id (bytes already in the pool) to the string map; -1 when its bytes are taken.
static int str_insert(Tokenizer *tok, int id) {
    const char *s = tok->pool + tok->off[id];
    size_t len = tok->len[id], mask = tok->str_cap - 1;
    for (size_t h = hash_bytes(s, len) & mask;; h = (h + 1) & mask) {
        int other = tok->str_slots[h];
        if (other < 0) {
            tok->str_slots[h] = id;
            return 0;
        }
        if (tok->len[other] == len && memcmp(tok->pool + tok->off[other], s, len) == 0) return -1;
    }
}

static const MergeSlot *merge_find(const Tokenizer *tok, int a, int b) {
    uint64_t key = pair_key(a, b);
    size_t mask = tok->merge_cap - 1;
    for (size_t h = hash_pair(key, tok->merge_cap);; h = (h + 1) & mask) {
        const MergeSlot *m = &tok->merges[h];
        if (m->rank < 0) return NULL;
        if (m->key == key) return m;
    }
}

// Add a merge; -1 when the pair is already there.
static int merge_insert(Tokenizer *tok, int a, int b, int rank, int id) {
    uint64_t key = pair_key(a, b);
    size_t mask = tok->merge_cap - 1;
    for (size_t h = hash_pair(key, tok->merge_cap);; h = (h + 1) & mask) {
        MergeSlot *m = &tok->merges[h];
        if (m->rank < 0) {
            *m = (MergeSlot){key, rank, id};
            return 0;
        }
        if (m->key == key) return -1;
    }
}

// ----------------------------------------------------------------------------
// Loading

// GPT-2's byte-level alphabet: byte b is written as code point cp_of[b].  Printable
// Latin-1 bytes stand for themselves; the other 68 take U+0100.. in byte order.
static void byte_alphabet(int cp_of[256]) {
    int next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        cp_of[b] = printable ? b : next++;
    }
}

#define ALPHABET_MAX 324   // 256 + 68: code points of the alphabet are below this

// Decode alphabet text s[0..n) into bytes out[] (n bytes suffice); -1 when s holds a
// character outside the alphabet (or invalid UTF-8).
static int alphabet_decode(const int byte_of[ALPHABET_MAX], const char *s, size_t n, char *out,
                           size_t *outlen) {
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        int cp;
        i += utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (cp < 0 || cp >= ALPHABET_MAX || byte_of[cp] < 0) return -1;
        out[k++] = (char)byte_of[cp];
    }
    *outlen = k;
    return 0;
}

static void alphabet_inverse(int byte_of[ALPHABET_MAX]) {
    int cp_of[256];
    byte_alphabet(cp_of);
    for (int c = 0; c < ALPHABET_MAX; c++) byte_of[c] = -1;
    for (int b = 0; b < 256; b++) byte_of[cp_of[b]] = b;
}

// Show (a prefix of) raw JSON text or a merges.txt field in an error message.
#define SHOW_MAX  40
#define SHOW(len) (int)((len) > SHOW_MAX ? SHOW_MAX : (len))

// Add vocab.json entry e (key token k, id token k + 1) to tok, its bytes at pool + *used.
static int vocab_entry(Tokenizer *tok, const JsonDoc *doc, int k, int e,
                       const int byte_of[ALPHABET_MAX], size_t *used, const char *path, char *err,
                       size_t errlen) {
    size_t rawlen, keylen, blen;
    const char *raw = json_raw(doc, k, &rawlen);
    char *key = NULL;
    long long id;
    int rc = -1;
    if (json_str(doc, k, &key, &keylen) < 0)
        fail(err, errlen, "%s: entry %d (%.*s): bad key string", path, e, SHOW(rawlen), raw);
    else if (json_int(doc, k + 1, &id) < 0)
        fail(err, errlen, "%s: entry %d (%.*s): id is not an integer", path, e, SHOW(rawlen), raw);
    else if (id < 0 || id >= tok->n_vocab)
        fail(err, errlen, "%s: entry %d (%.*s): id %lld out of range 0..%d", path, e, SHOW(rawlen),
             raw, id, tok->n_vocab - 1);
    else if (tok->off[id] != SIZE_MAX)
        fail(err, errlen, "%s: entry %d (%.*s): id %lld used twice", path, e, SHOW(rawlen), raw,
             id);
    else if (alphabet_decode(byte_of, key, keylen, tok->pool + *used, &blen) < 0)
        fail(err, errlen, "%s: entry %d (%.*s): character outside the byte-level alphabet", path, e,
             SHOW(rawlen), raw);
    else if (blen == 0)
        fail(err, errlen, "%s: entry %d (%.*s): empty token", path, e, SHOW(rawlen), raw);
    else {
        tok->off[id] = *used;
        tok->len[id] = blen;
        if (str_insert(tok, (int)id) < 0) {
            fail(err, errlen, "%s: entry %d (%.*s): the same bytes as another token", path, e,
                 SHOW(rawlen), raw);
        } else {
            *used += blen;
            if (blen == 1) tok->byte_id[(unsigned char)tok->pool[tok->off[id]]] = (int)id;
            rc = 0;
        }
    }
    free(key);
    return rc;
}

// Parse vocab.json text into tok (n_vocab, pool, off, len, the string map, byte_id).
static int vocab_parse(Tokenizer *tok, const char *path, const char *text, size_t tlen, char *err,
                       size_t errlen) {
    char jerr[200];
    JsonDoc doc;
    int rc = -1;
    if (json_parse(&doc, text, tlen, jerr, sizeof jerr) < 0) {
        fail(err, errlen, "%s: %s", path, jerr);
        goto done;
    }
    if (json_type(&doc, 0) != JSMN_OBJECT) {
        fail(err, errlen, "%s: not a JSON object of token -> id", path);
        goto done;
    }
    int n = json_size(&doc, 0);
    if (n <= TOK_EOT) {
        fail(err, errlen, "%s: %d tokens; GPT-2 has %d", path, n, TOK_EOT + 1);
        goto done;
    }
    int byte_of[ALPHABET_MAX];
    alphabet_inverse(byte_of);
    tok->n_vocab = n;
    tok->off = xmalloc(sizeof(size_t) * (size_t)n);
    tok->len = xmalloc(sizeof(size_t) * (size_t)n);
    for (int id = 0; id < n; id++) tok->off[id] = SIZE_MAX;
    tok->pool = xmalloc(tlen + 1);   // decoded keys are no longer than their JSON text
    tok->str_cap = table_cap((size_t)n);
    tok->str_slots = xmalloc(sizeof(int) * tok->str_cap);
    for (size_t h = 0; h < tok->str_cap; h++) tok->str_slots[h] = -1;
    size_t used = 0;
    for (int e = 0, k = 1; e < n; e++, k = json_skip(&doc, k + 1))
        if (vocab_entry(tok, &doc, k, e, byte_of, &used, path, err, errlen) < 0) goto done;
    // n unique ids in 0..n-1: every id is present.
    for (int b = 0; b < 256; b++)
        if (tok->byte_id[b] < 0) {
            fail(err, errlen, "%s: no token for the single byte 0x%02x", path, b);
            goto done;
        }
    int eot = tok_find(tok, EOT_TEXT, EOT_LEN);
    if (eot != TOK_EOT) {
        if (eot < 0) fail(err, errlen, "%s: no token \"%s\"", path, EOT_TEXT);
        else fail(err, errlen, "%s: \"%s\" has id %d, not %d", path, EOT_TEXT, eot, TOK_EOT);
        goto done;
    }
    rc = 0;
done:
    json_free(&doc);
    return rc;
}

// Add the merge on one merges.txt line (without its newline) with the given rank.
static int merge_line(Tokenizer *tok, const int byte_of[ALPHABET_MAX], const char *line, size_t n,
                      int rank, char *buf, const char *path, int lineno, const char *vocab_path,
                      char *err, size_t errlen) {
    const char *sp = memchr(line, ' ', n);
    if (!sp || sp == line || sp == line + n - 1 || memchr(sp + 1, ' ', n - (size_t)(sp - line) - 1))
        return fail(err, errlen, "%s:%d: expected two tokens separated by one space: \"%.*s\"",
                    path, lineno, SHOW(n), line);
    const char *field[2] = {line, sp + 1};
    size_t flen[2] = {(size_t)(sp - line), n - (size_t)(sp - line) - 1}, blen[2];
    int id[2];
    char *dst = buf;
    for (int f = 0; f < 2; f++) {
        if (alphabet_decode(byte_of, field[f], flen[f], dst, &blen[f]) < 0)
            return fail(err, errlen,
                        "%s:%d: \"%.*s\" has a character outside the byte-level "
                        "alphabet",
                        path, lineno, SHOW(flen[f]), field[f]);
        id[f] = tok_find(tok, dst, blen[f]);
        if (id[f] < 0)
            return fail(err, errlen, "%s:%d: \"%.*s\" is not a token of %s", path, lineno,
                        SHOW(flen[f]), field[f], vocab_path);
        dst += blen[f];
    }
    int merged = tok_find(tok, buf, blen[0] + blen[1]);   // buf holds A's bytes then B's
    if (merged < 0)
        return fail(err, errlen, "%s:%d: the merge of \"%.*s\" makes a token not in %s", path,
                    lineno, SHOW(n), line, vocab_path);
    if (merge_insert(tok, id[0], id[1], rank, merged) < 0)
        return fail(err, errlen, "%s:%d: the pair \"%.*s\" is listed twice", path, lineno, SHOW(n),
                    line);
    return 0;
}

// Parse merges.txt text into tok->merges: rank = order of the merge lines.
static int merges_parse(Tokenizer *tok, const char *path, const char *text, size_t tlen,
                        const char *vocab_path, char *err, size_t errlen) {
    while (tlen > 0 && (text[tlen - 1] == '\n' || text[tlen - 1] == '\r')) tlen--;
    size_t nlines = 1;
    for (size_t i = 0; i < tlen; i++) nlines += text[i] == '\n';
    if (nlines > INT_MAX / 2) return fail(err, errlen, "%s: too many lines", path);
    tok->merge_cap = table_cap(nlines);
    tok->merges = xmalloc(sizeof(MergeSlot) * tok->merge_cap);
    for (size_t h = 0; h < tok->merge_cap; h++) tok->merges[h].rank = -1;
    int byte_of[ALPHABET_MAX];
    alphabet_inverse(byte_of);
    char *buf = xmalloc(tlen + 1);
    int rc = 0, lineno = 0;
    for (size_t pos = 0; pos < tlen && rc == 0;) {
        const char *line = text + pos, *eol = memchr(line, '\n', tlen - pos);
        size_t n = eol ? (size_t)(eol - line) : tlen - pos;
        pos += n + 1;
        lineno++;
        if (n > 0 && line[n - 1] == '\r') n--;
        if (lineno == 1 && n >= 8 && memcmp(line, "#version", 8) == 0) continue;
        rc = merge_line(tok, byte_of, line, n, tok->n_merges, buf, path, lineno, vocab_path, err,
                        errlen);
        tok->n_merges += rc == 0;
    }
    free(buf);
    if (rc == 0 && tok->n_merges == 0) rc = fail(err, errlen, "%s: no merges", path);
    return rc;
}

// Read a whole file; NULL with a message on failure.
static char *file_slurp(const char *path, size_t *len, char *err, size_t errlen) {
    char *text = read_file(path, len);
    if (!text) fail(err, errlen, "%s: %s", path, strerror(errno));
    return text;
}

Tokenizer *tok_load(const char *dir, char *err, size_t errlen) {
    static const char *names[2][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    char *vpath = NULL, *mpath = NULL;
    for (int k = 0; k < 2 && !vpath; k++) {
        vpath = path_join(dir, names[k][0]);
        mpath = path_join(dir, names[k][1]);
        if (!is_file(vpath) || !is_file(mpath)) {
            free(vpath);
            free(mpath);
            vpath = mpath = NULL;
        }
    }
    if (!vpath) {
        fail(err, errlen, "%s: no vocab.json + merges.txt (nor encoder.json + vocab.bpe)", dir);
        return NULL;
    }
    Tokenizer *tok = xcalloc(1, sizeof *tok);
    for (int b = 0; b < 256; b++) tok->byte_id[b] = -1;
    size_t vlen = 0, mlen = 0;
    char *vtext = file_slurp(vpath, &vlen, err, errlen);
    char *mtext = vtext ? file_slurp(mpath, &mlen, err, errlen) : NULL;
    int ok = mtext && vocab_parse(tok, vpath, vtext, vlen, err, errlen) == 0 &&
             merges_parse(tok, mpath, mtext, mlen, vpath, err, errlen) == 0;
    free(vtext);
    free(mtext);
    free(vpath);
    free(mpath);
    if (!ok) {
        tok_free(tok);
        return NULL;
    }
    return tok;
}

void tok_free(Tokenizer *tok) {
    if (!tok) return;
    free(tok->pool);
    free(tok->off);
    free(tok->len);
    free(tok->str_slots);
    free(tok->merges);
    free(tok);
}

int tok_vocab_size(const Tokenizer *tok) { return tok->n_vocab; }

size_t tok_max_token_bytes(const Tokenizer *tok) {
    size_t m = 1;
    for (int i = 0; i < tok->n_vocab; i++)
        if (tok->len[i] > m) m = tok->len[i];
    return m;
}

const char *tok_bytes(const Tokenizer *tok, int id, size_t *len) {
    if (id < 0 || id >= tok->n_vocab) return NULL;
    if (len) *len = tok->len[id];
    return tok->pool + tok->off[id];
}

int tok_decode(const Tokenizer *tok, const int *ids, int n, char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tok->n_vocab) return -1;
        if (add_size(total, tok->len[ids[i]], &total) < 0) return -1;
    }
    char *buf = xmalloc(total + 1);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        memcpy(buf + k, tok->pool + tok->off[ids[i]], tok->len[ids[i]]);
        k += tok->len[ids[i]];
    }
    buf[k] = '\0';
    *out = buf;
    if (len) *len = k;
    return 0;
}

// ----------------------------------------------------------------------------
// Byte-level BPE of one word

// An adjacent pair of tokens (a, b) starting at symbol `pos`, with a merge rule of `rank`.
typedef struct {
    int rank, pos, a, b;
} PairEntry;

// Scratch memory of one encode call, reused from word to word.
typedef struct {
    int *sym, *prev, *next;   // (cap) symbols as a linked list over byte positions; sym -1 = gone
    PairEntry *heap;          // (3 * cap) min-heap on (rank, pos): n - 1 pairs + 2 per merge
    PairEntry *batch;         // (cap) the current pairs of one rank, by position
    size_t cap, heap_n;
    int *out;   // (out_cap) the ids encoded so far
    size_t out_n, out_cap;
} Scratch;

static void scratch_reserve(Scratch *w, size_t n) {
    if (n <= w->cap) return;
    size_t cap = w->cap ? w->cap : 64;
    while (cap < n) cap *= 2;
    w->sym = xrealloc(w->sym, sizeof(int) * cap);
    w->prev = xrealloc(w->prev, sizeof(int) * cap);
    w->next = xrealloc(w->next, sizeof(int) * cap);
    w->heap = xrealloc(w->heap, sizeof(PairEntry) * 3 * cap);
    w->batch = xrealloc(w->batch, sizeof(PairEntry) * cap);
    w->cap = cap;
}

static void scratch_free(Scratch *w) {
    free(w->sym);
    free(w->prev);
    free(w->next);
    free(w->heap);
    free(w->batch);
    free(w->out);
}

static void out_push(Scratch *w, int id) {
    if (w->out_n == w->out_cap) {
        w->out_cap = w->out_cap ? 2 * w->out_cap : 256;
        w->out = xrealloc(w->out, sizeof(int) * w->out_cap);
    }
    w->out[w->out_n++] = id;
}

static int entry_less(const PairEntry *x, const PairEntry *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}

static void heap_push(Scratch *w, PairEntry e) {
    size_t i = w->heap_n++;
    while (i > 0 && entry_less(&e, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = e;
}

static PairEntry heap_pop(Scratch *w) {
    PairEntry top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && entry_less(&w->heap[c + 1], &w->heap[c])) c++;
        if (!entry_less(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n > 0) w->heap[i] = last;
    return top;
}

// Push the pair that starts at symbol p when it has a merge rule.
static void pair_push(const Tokenizer *tok, Scratch *w, int p) {
    int q = p >= 0 ? w->next[p] : -1;
    if (q < 0) return;
    const MergeSlot *m = merge_find(tok, w->sym[p], w->sym[q]);
    if (m) heap_push(w, (PairEntry){m->rank, p, w->sym[p], w->sym[q]});
}

// Is the pair still there (neither side merged away since it was pushed)?
static int pair_current(const Scratch *w, const PairEntry *e) {
    int q = w->next[e->pos];
    return w->sym[e->pos] == e->a && q >= 0 && w->sym[q] == e->b;
}

static void pair_merge(const Tokenizer *tok, Scratch *w, const PairEntry *e) {
    int p = e->pos, q = w->next[p];
    w->sym[p] = merge_find(tok, e->a, e->b)->id;
    w->sym[q] = -1;
    w->next[p] = w->next[q];
    if (w->next[q] >= 0) w->prev[w->next[q]] = p;
    pair_push(tok, w, w->prev[p]);
    pair_push(tok, w, p);
}

// BPE of the word s[0..n) (n >= 1), appending its ids to w->out.  As the reference: take
// the lowest-ranked adjacent pair, merge all its occurrences left to right, repeat.  The
// occurrences of one rank are taken off the heap together before any is merged, so pairs
// that the merges create wait for the next round, as in the reference loop.  Scratch
// memory: about 80 bytes per byte of the word.
static void bpe_word(const Tokenizer *tok, Scratch *w, const unsigned char *s, size_t n) {
    if (n == 1) {
        out_push(w, tok->byte_id[s[0]]);
        return;
    }
    scratch_reserve(w, n);
    for (size_t i = 0; i < n; i++) {
        w->sym[i] = tok->byte_id[s[i]];
        w->prev[i] = (int)i - 1;
        w->next[i] = i + 1 < n ? (int)i + 1 : -1;
    }
    w->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++) pair_push(tok, w, (int)i);
    while (w->heap_n > 0) {
        PairEntry top = heap_pop(w);
        if (!pair_current(w, &top)) continue;   // stale: a side was merged away
        size_t nb = 0;
        w->batch[nb++] = top;
        while (w->heap_n > 0 && w->heap[0].rank == top.rank) {
            PairEntry e = heap_pop(w);
            if (pair_current(w, &e) && nb < w->cap) w->batch[nb++] = e;   // one per position
        }
        // Merging one occurrence may consume the next when a == b ("aaa"): check again.
        for (size_t k = 0; k < nb; k++)
            if (pair_current(w, &w->batch[k])) pair_merge(tok, w, &w->batch[k]);
    }
    for (int p = 0; p >= 0; p = w->next[p]) out_push(w, w->sym[p]);
}

// ----------------------------------------------------------------------------
// Encoding

// Pre-tokenize and BPE-encode s[0..n), without special tokens.
static void encode_plain(const Tokenizer *tok, Scratch *w, const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t end = pretoken_end(s, n, i);
        bpe_word(tok, w, s + i, end - i);
        i = end;
    }
}

static int encode_text(const Tokenizer *tok, const char *text, size_t len, int special, int **ids,
                       int *n) {
    *ids = NULL;
    *n = 0;
    if (len > INT_MAX) return -1;   // at most one token per byte
    Scratch w = {0};
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (special && i < len) {
        const unsigned char *hit = memmem(s + i, len - i, EOT_TEXT, EOT_LEN);
        if (!hit) break;
        encode_plain(tok, &w, s + i, (size_t)(hit - (s + i)));
        out_push(&w, TOK_EOT);
        i = (size_t)(hit - s) + EOT_LEN;
    }
    encode_plain(tok, &w, s + i, len - i);
    *ids = w.out ? w.out : xmalloc(sizeof(int));   // non-NULL even for no tokens
    *n = (int)w.out_n;
    w.out = NULL;
    scratch_free(&w);
    return 0;
}

int tok_encode(const Tokenizer *tok, const char *text, size_t len, int **ids, int *n) {
    return encode_text(tok, text, len, 1, ids, n);
}

int tok_encode_ordinary(const Tokenizer *tok, const char *text, size_t len, int **ids, int *n) {
    return encode_text(tok, text, len, 0, ids, n);
}
