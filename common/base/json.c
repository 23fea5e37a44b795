// json: jsmn-based reader and a small writer; see json.h.
// The jsmn implementation lives in this translation unit only.
#define JSON_JSMN_IMPLEMENTATION
#include "base/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "base/util.h"

// ----------------------------------------------------------------------------- parsing

static int only_space(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return 0;
    return 1;
}

// jsmn's strict mode accepts some malformed primitives ("tru", "01", "1e"); check them.
static int primitive_valid(const char *s, size_t n) {
    if (n == 4 && !memcmp(s, "true", 4)) return 1;
    if (n == 5 && !memcmp(s, "false", 5)) return 1;
    if (n == 4 && !memcmp(s, "null", 4)) return 1;
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    if (i >= n) return 0;
    if (s[i] == '0') i++;
    else if (s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    else return 0;
    if (i < n && s[i] == '.') {
        i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return 0;
    }
    return i == n;
}

static int json_unescape(const char *s, size_t n, char **out, size_t *outlen);

// Strings: control characters must be escaped; escapes must be valid (jsmn checks most).
static int string_valid(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20) return 0;
    char *tmp;
    size_t tl;
    if (json_unescape(s, n, &tmp, &tl) != 0) return 0;
    free(tmp);
    return 1;
}

// The grammar around the tokens.  jsmn, even in strict mode, does not check where commas
// and colons go: it accepts {"a"} (a key without a value: its members then run past the
// token array), {"a":1 "b":2} (the second member is lost), [1 2] and {"a":1,}.  This
// pass checks RFC 8259's structure with a stack of open containers (no recursion) and
// refuses nesting deeper than JSON_MAX_DEPTH before jsmn sees the text;
// strings and literals are checked token by token below.  0, or -1 with the offending
// byte's offset in *at.
enum { SX_VALUE, SX_VALUE_OR_CLOSE, SX_KEY, SX_KEY_OR_CLOSE, SX_COLON, SX_AFTER };

static size_t string_end(const char *s, size_t n, size_t i) {   // i at the opening quote
    for (i++; i < n; i++) {
        if (s[i] == '\\') i++;
        else if (s[i] == '"') return i + 1;
    }
    return 0;   // unterminated
}

static int syntax_check(const char *s, size_t n, size_t *at) {
    char stack[JSON_MAX_DEPTH];   // '{' or '[' per open container
    size_t depth = 0, i = 0;
    int state = SX_VALUE;
    for (;;) {
        while (i < n && only_space(s + i, 1)) i++;
        if (i == n) break;
        char c = s[i];
        *at = i;
        if (state == SX_COLON) {
            if (c != ':') return -1;
            state = SX_VALUE;
            i++;
        } else if (state == SX_AFTER) {
            if (depth == 0) return -1;
            char open = stack[depth - 1];
            if (c == ',') state = open == '{' ? SX_KEY : SX_VALUE;
            else if (c == (open == '{' ? '}' : ']')) depth--;
            else return -1;
            i++;
        } else if ((c == '}' && state == SX_KEY_OR_CLOSE) ||
                   (c == ']' && state == SX_VALUE_OR_CLOSE)) {
            depth--;
            state = SX_AFTER;
            i++;
        } else if (c == '"') {
            size_t e = string_end(s, n, i);
            if (!e) {
                *at = n;
                return -1;
            }   // unterminated: truncated
            i = e;
            state = state == SX_KEY || state == SX_KEY_OR_CLOSE ? SX_COLON : SX_AFTER;
        } else if (state == SX_KEY || state == SX_KEY_OR_CLOSE) {
            return -1;
        } else if (c == '{' || c == '[') {
            if (depth == JSON_MAX_DEPTH) return -1;
            stack[depth++] = c;
            state = c == '{' ? SX_KEY_OR_CLOSE : SX_VALUE_OR_CLOSE;
            i++;
        } else {   // a literal: up to the next delimiter
            size_t e = i;
            while (e < n && !only_space(s + e, 1) && !strchr(",:]}[{\"", s[e])) e++;
            if (!primitive_valid(s + i, e - i)) {
                if (e == n) *at = n;   // cut at the end ("[tru"): truncated
                return -1;
            }
            i = e;
            state = SX_AFTER;
        }
    }
    *at = n;
    return state == SX_AFTER && depth == 0 ? 0 : -1;
}

static const char *jsmn_error_text(int rc) {
    switch (rc) {
    case JSMN_ERROR_INVAL: return "invalid JSON";
    case JSMN_ERROR_PART: return "truncated JSON";
    default: return "JSON too large";
    }
}

int json_parse(JsonDoc *d, const char *text, size_t len, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    d->text = text;
    d->len = len;
    if (memchr(text, '\0', len)) return fail(err, errlen, "invalid JSON: NUL byte in input");
    // jsmn's strict mode cannot end the input on a primitive: take a lone one here.
    size_t lead = 0, trail = len;
    while (lead < len && only_space(text + lead, 1)) lead++;
    while (trail > lead && only_space(text + trail - 1, 1)) trail--;
    if (lead < trail && !strchr("{[\"", text[lead])) {
        if (!primitive_valid(text + lead, trail - lead)) return fail(err, errlen, "invalid JSON");
        d->tok = xcalloc(1, sizeof(jsmntok_t));
        d->tok[0] = (jsmntok_t){
            .type = JSMN_PRIMITIVE, .start = (int)lead, .end = (int)trail, .size = 0, .parent = -1};
        d->ntok = 1;
        return 0;
    }
    size_t at;
    if (syntax_check(text, len, &at) != 0) {
        if (at >= len) return fail(err, errlen, "truncated JSON");
        if (text[at] == '{' || text[at] == '[')
            return fail(err, errlen, "invalid JSON: nested deeper than %d at byte %zu",
                        JSON_MAX_DEPTH, at);
        return fail(err, errlen, "invalid JSON: unexpected '%c' at byte %zu", text[at], at);
    }
    jsmn_parser p;
    jsmn_init(&p);
    int need = jsmn_parse(&p, text, len, NULL, 0);
    if (need < 0) return fail(err, errlen, "%s", jsmn_error_text(need));
    if (need == 0) return fail(err, errlen, "invalid JSON: empty input");
    d->tok = xmalloc(sizeof(jsmntok_t) * (size_t)need);
    jsmn_init(&p);
    int n = jsmn_parse(&p, text, len, d->tok, (unsigned)need);
    if (n < 0) return fail(err, errlen, "%s", jsmn_error_text(n));
    d->ntok = n;
    // One root value spanning the text.
    int after = json_skip(d, 0);
    size_t root_len, root_start;
    root_start = (size_t)(json_raw(d, 0, &root_len) - text);   // strings: with their quotes
    if (after != n || !only_space(text + root_start + root_len, len - root_start - root_len) ||
        !only_space(text, root_start))
        return fail(err, errlen, "invalid JSON: more than one value on the line");
    for (int i = 0; i < n; i++) {
        const char *s = text + d->tok[i].start;
        size_t sl = (size_t)(d->tok[i].end - d->tok[i].start);
        if (d->tok[i].type == JSMN_PRIMITIVE && !primitive_valid(s, sl))
            return fail(err, errlen, "invalid JSON: bad literal '%.*s' at byte %d",
                        (int)(sl > 20 ? 20 : sl), s, d->tok[i].start);
        if (d->tok[i].type == JSMN_STRING && !string_valid(s, sl))
            return fail(err, errlen, "invalid JSON: bad string at byte %d", d->tok[i].start);
    }
    return 0;
}

void json_free(JsonDoc *d) {
    free(d->tok);
    d->tok = NULL;
    d->ntok = 0;
}

int json_type(const JsonDoc *d, int i) {
    return (i >= 0 && i < d->ntok) ? (int)d->tok[i].type : JSMN_UNDEFINED;
}

int json_skip(const JsonDoc *d, int i) {
    // Tokens are in document order, so a subtree ends at the first token starting past it.
    int end = d->tok[i].end;
    int j = i + 1;
    while (j < d->ntok && d->tok[j].start < end) j++;
    return j;
}

int json_size(const JsonDoc *d, int i) { return (i >= 0 && i < d->ntok) ? d->tok[i].size : 0; }

int json_obj_get(const JsonDoc *d, int obj, const char *key) {
    if (json_type(d, obj) != JSMN_OBJECT) return -1;
    int k = obj + 1, found = -1;
    for (int m = 0; m < d->tok[obj].size; m++) {
        int v = k + 1;
        if (json_str_eq(d, k, key)) found = v;   // the last duplicate wins, as in jq
        k = json_skip(d, v);
    }
    return found;
}

int json_arr_at(const JsonDoc *d, int arr, int k) {
    if (json_type(d, arr) != JSMN_ARRAY || k < 0 || k >= d->tok[arr].size) return -1;
    int i = arr + 1;
    while (k-- > 0) i = json_skip(d, i);
    return i;
}

const char *json_raw(const JsonDoc *d, int i, size_t *len) {
    int start = d->tok[i].start, end = d->tok[i].end;
    if (d->tok[i].type == JSMN_STRING) start--, end++;
    *len = (size_t)(end - start);
    return d->text + start;
}

int json_str_eq(const JsonDoc *d, int i, const char *s) {
    if (json_type(d, i) != JSMN_STRING) return 0;
    const char *t = d->text + d->tok[i].start;
    size_t n = (size_t)(d->tok[i].end - d->tok[i].start), sl = strlen(s);
    if (!memchr(t, '\\', n)) return n == sl && memcmp(t, s, n) == 0;
    char *u;
    size_t ul;
    if (json_unescape(t, n, &u, &ul) != 0) return 0;
    int eq = ul == sl && memcmp(u, s, ul) == 0;
    free(u);
    return eq;
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *o, unsigned cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

// Unescape a JSON string body (without quotes) into a malloc'd buffer; -1 on bad escape.
static int json_unescape(const char *s, size_t n, char **out, size_t *outlen) {
    char *o = xmalloc(n + 1);   // unescaping never grows the text
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            o[k++] = s[i];
            continue;
        }
        if (++i >= n) goto bad;
        switch (s[i]) {
        case '"': o[k++] = '"'; break;
        case '\\': o[k++] = '\\'; break;
        case '/': o[k++] = '/'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (i + 4 >= n || hex4(s + i + 1, &cp) != 0) goto bad;
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {   // high surrogate: a low one must follow
                unsigned lo;
                if (i + 6 >= n || s[i + 1] != '\\' || s[i + 2] != 'u' ||
                    hex4(s + i + 3, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                    goto bad;
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                goto bad;
            }
            k += utf8_put(o + k, cp);
            break;
        }
        default: goto bad;
        }
    }
    o[k] = '\0';
    *out = o;
    if (outlen) *outlen = k;
    return 0;
bad:
    free(o);
    *out = NULL;
    return -1;
}

int json_str(const JsonDoc *d, int i, char **out, size_t *len) {
    *out = NULL;
    if (json_type(d, i) != JSMN_STRING) return -1;
    return json_unescape(d->text + d->tok[i].start, (size_t)(d->tok[i].end - d->tok[i].start), out,
                         len);
}

static int primitive_copy(const JsonDoc *d, int i, char *buf, size_t cap) {
    if (json_type(d, i) != JSMN_PRIMITIVE) return -1;
    size_t n = (size_t)(d->tok[i].end - d->tok[i].start);
    if (n == 0 || n >= cap) return -1;
    memcpy(buf, d->text + d->tok[i].start, n);
    buf[n] = '\0';
    return 0;
}

int json_int(const JsonDoc *d, int i, long long *out) {
    char buf[64];
    if (primitive_copy(d, i, buf, sizeof buf) != 0) return -1;
    if (!(buf[0] == '-' || (buf[0] >= '0' && buf[0] <= '9'))) return -1;
    if (strpbrk(buf, ".eE")) {   // 3.0 or 1e3 is integral; 2.5 is not
        double v;
        if (json_double(d, i, &v) != 0 || v != floor(v) || fabs(v) > 9.007199254740992e15)
            return -1;
        *out = (long long)v;
        return 0;
    }
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int json_double(const JsonDoc *d, int i, double *out) {
    char buf[512];
    if (primitive_copy(d, i, buf, sizeof buf) != 0) return -1;
    if (!(buf[0] == '-' || (buf[0] >= '0' && buf[0] <= '9'))) return -1;
    char *end;
    double v = strtod(buf, &end);
    if (*end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

int json_bool(const JsonDoc *d, int i, int *out) {
    char buf[8];
    if (primitive_copy(d, i, buf, sizeof buf) != 0) return -1;
    if (!strcmp(buf, "true")) *out = 1;
    else if (!strcmp(buf, "false")) *out = 0;
    else return -1;
    return 0;
}

int json_is_null(const JsonDoc *d, int i) {
    char buf[8];
    return primitive_copy(d, i, buf, sizeof buf) == 0 && !strcmp(buf, "null");
}

// ----------------------------------------------------------------------------- writing

static void jb_reserve(JsonBuf *b, size_t extra) {
    size_t need;
    if (add_size(b->len, extra + 1, &need) != 0) eprintf(2, "JSON output too large");
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->buf = xrealloc(b->buf, cap);
    b->cap = cap;
}

void jb_free(JsonBuf *b) {
    free(b->buf);
    memset(b, 0, sizeof *b);
}

void jb_reset(JsonBuf *b) {
    b->len = 0;
    if (b->buf) b->buf[0] = '\0';
}

void jb_raw(JsonBuf *b, const char *s, size_t n) {
    jb_reserve(b, n);
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void jb_puts(JsonBuf *b, const char *s) { jb_raw(b, s, strlen(s)); }

char *jb_take(JsonBuf *b) {
    if (!b->buf) jb_raw(b, "", 0);
    char *s = b->buf;
    memset(b, 0, sizeof *b);
    return s;
}

void jb_printf(JsonBuf *b, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        jb_raw(b, small, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    jb_raw(b, big, (size_t)n);
    free(big);
}

static char last_byte(const JsonBuf *b) { return b->len ? b->buf[b->len - 1] : '\0'; }

void jb_sep(JsonBuf *b) {
    char c = last_byte(b);
    if (c && c != '[' && c != '{' && c != ':' && c != '\n') jb_raw(b, ",", 1);
}

void jb_key(JsonBuf *b, const char *key) {
    jb_sep(b);
    jb_cstr(b, key);
    jb_raw(b, ":", 1);
}

void jb_string(JsonBuf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    jb_reserve(b, n + 2);
    jb_raw(b, "\"", 1);
    size_t run = 0;   // start of a run of bytes copied as they are
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t vl = c >= 0x20 && c != '"' && c != '\\' ? utf8_decode(u + i, n - i, NULL) : 0;
        if (vl) {
            i += vl;
            continue;
        }
        jb_raw(b, s + run, i - run);
        char esc[8];
        switch (c) {
        case '"': jb_raw(b, "\\\"", 2); break;
        case '\\': jb_raw(b, "\\\\", 2); break;
        case '\n': jb_raw(b, "\\n", 2); break;
        case '\r': jb_raw(b, "\\r", 2); break;
        case '\t': jb_raw(b, "\\t", 2); break;
        case '\b': jb_raw(b, "\\b", 2); break;
        case '\f': jb_raw(b, "\\f", 2); break;
        default:
            if (c < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                jb_raw(b, esc, 6);
            } else {
                jb_raw(b, "\\ufffd", 6);   // an invalid UTF-8 byte
            }
        }
        run = ++i;
    }
    jb_raw(b, s + run, n - run);
    jb_raw(b, "\"", 1);
}

void jb_cstr(JsonBuf *b, const char *s) { jb_string(b, s, strlen(s)); }

void jb_int(JsonBuf *b, long long v) {
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%lld", v);
    jb_raw(b, buf, (size_t)n);
}

void jb_double(JsonBuf *b, double v) {
    if (!isfinite(v)) {
        jb_raw(b, "null", 4);
        return;
    }
    char buf[40];
    int n = 0;
    for (int prec = 1; prec <= 17; prec++) {   // shortest text that reads back exactly
        n = snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    jb_raw(b, buf, (size_t)n);
}

void jb_float(JsonBuf *b, float v) {
    if (!isfinite(v)) {
        jb_raw(b, "null", 4);
        return;
    }
    char buf[40];
    int n = 0;
    for (int prec = 1; prec <= 9; prec++) {
        n = snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    jb_raw(b, buf, (size_t)n);
}

void jb_int_array(JsonBuf *b, const int *v, int n) {
    jb_raw(b, "[", 1);
    for (int i = 0; i < n; i++) {
        if (i) jb_raw(b, ",", 1);
        jb_int(b, v[i]);
    }
    jb_raw(b, "]", 1);
}
