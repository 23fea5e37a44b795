// ndjson: records in, records out; see ndjson.h.
#include "base/ndjson.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/util.h"

// ----------------------------------------------------------------------------- lines

void lines_init(LineReader *r, FILE *fp) {
    memset(r, 0, sizeof *r);
    r->fp = fp;
    r->max_len = (size_t)1 << 30;
}

void lines_free(LineReader *r) {
    free(r->buf);
    r->buf = NULL;
    r->cap = 0;
}

ssize_t lines_next(LineReader *r, char **line) {
    size_t n = 0;
    int c = EOF, too_long = 0;
    if (!r->buf) r->buf = xmalloc(r->cap = 4096);
    // getc_unlocked keeps this simple and fast; lines may hold NUL bytes.
    while ((c = getc_unlocked(r->fp)) != EOF && c != '\n') {
        if (too_long) continue;
        if (n + 1 >= r->cap) {
            if (r->cap >= r->max_len) {
                too_long = 1;
                continue;
            }
            r->cap = r->cap * 2 > r->max_len ? r->max_len : r->cap * 2;
            r->buf = xrealloc(r->buf, r->cap);
        }
        r->buf[n++] = (char)c;
    }
    if (c == EOF && ferror(r->fp)) return -2;
    if (c == EOF && n == 0 && !too_long) return -1;
    r->lineno++;
    if (too_long) {
        r->buf[0] = '\0';
        *line = r->buf;
        return -3;
    }
    if (n > 0 && r->buf[n - 1] == '\r') n--;
    r->buf[n] = '\0';
    *line = r->buf;
    return (ssize_t)n;
}

// ----------------------------------------------------------------------------- records

int record_parse(Record *r, const char *line, size_t len, long lineno, char *err, size_t errlen) {
    r->lineno = lineno;
    if (json_parse(&r->doc, line, len, err, errlen) != 0) return -1;
    if (json_type(&r->doc, 0) != JSMN_OBJECT) return fail(err, errlen, "not a JSON object");
    return 0;
}

void record_free(Record *r) { json_free(&r->doc); }

static int field(const Record *r, const char *key) {
    int i = json_obj_get(&r->doc, 0, key);
    return (i < 0 || json_is_null(&r->doc, i)) ? -1 : i;
}

int record_has(const Record *r, const char *key) { return field(r, key) >= 0; }

static int wrong_type(char *err, size_t errlen, const char *key, const char *want) {
    return fail(err, errlen, "field \"%s\" must be %s", key, want);
}

int record_string(const Record *r, const char *key, char **out, size_t *len, char *err,
                  size_t errlen) {
    *out = NULL;
    int i = field(r, key);
    if (i < 0) return 0;
    if (json_str(&r->doc, i, out, len) != 0) return wrong_type(err, errlen, key, "a string");
    return 1;
}

int record_int(const Record *r, const char *key, long long *out, char *err, size_t errlen) {
    int i = field(r, key);
    if (i < 0) return 0;
    if (json_int(&r->doc, i, out) != 0) return wrong_type(err, errlen, key, "an integer");
    return 1;
}

int record_double(const Record *r, const char *key, double *out, char *err, size_t errlen) {
    int i = field(r, key);
    if (i < 0) return 0;
    if (json_double(&r->doc, i, out) != 0) return wrong_type(err, errlen, key, "a number");
    return 1;
}

int record_bool(const Record *r, const char *key, int *out, char *err, size_t errlen) {
    int i = field(r, key);
    if (i < 0) return 0;
    if (json_bool(&r->doc, i, out) != 0) return wrong_type(err, errlen, key, "true or false");
    return 1;
}

int record_int_array(const Record *r, const char *key, int **out, int *n, char *err,
                     size_t errlen) {
    *out = NULL;
    *n = 0;
    int a = field(r, key);
    if (a < 0) return 0;
    if (json_type(&r->doc, a) != JSMN_ARRAY)
        return wrong_type(err, errlen, key, "an array of integers");
    int count = json_size(&r->doc, a);
    int *v = count ? xmalloc(sizeof(int) * (size_t)count) : NULL;
    int t = a + 1;
    for (int k = 0; k < count; k++, t = json_skip(&r->doc, t)) {
        long long x;
        if (json_int(&r->doc, t, &x) != 0 || x < -2147483647LL || x > 2147483647LL) {
            free(v);
            return fail(err, errlen, "field \"%s\" element %d must be an integer", key, k);
        }
        v[k] = (int)x;
    }
    *out = v;
    *n = count;
    return 1;
}

// ----------------------------------------------------------------------------- output

static int is_owned(const JsonDoc *d, int key, const char *const *owned) {
    for (; owned && *owned; owned++)
        if (json_str_eq(d, key, *owned)) return 1;
    return 0;
}

void record_begin(JsonBuf *out, const Record *in, const char *const *owned) {
    jb_reset(out);
    jb_raw(out, "{", 1);
    if (!in) return;
    const JsonDoc *d = &in->doc;
    int k = 1;
    for (int m = 0; m < d->tok[0].size; m++) {
        int v = k + 1, next = json_skip(d, v);
        if (!is_owned(d, k, owned)) {
            // Copy "key": value exactly as the input spelled it.
            size_t kl, vl;
            const char *ks = json_raw(d, k, &kl), *vs = json_raw(d, v, &vl);
            jb_sep(out);
            jb_raw(out, ks, kl);
            jb_raw(out, ":", 1);
            jb_raw(out, vs, vl);
        }
        k = next;
    }
}

void record_end(JsonBuf *out, JsonBuf *lines) {
    jb_raw(out, "}\n", 2);
    jb_raw(lines, out->buf, out->len);
    jb_reset(out);
}

void record_bad_line(JsonBuf *lines, long lineno, const char *msg, const char *raw, size_t rawlen) {
    JsonBuf b = {0};
    jb_raw(&b, "{", 1);
    jb_key(&b, "error");
    jb_cstr(&b, msg);
    jb_key(&b, "line");
    jb_int(&b, lineno);
    jb_key(&b, "input");
    jb_string(&b, raw, rawlen);
    record_end(&b, lines);
    jb_free(&b);
}

int lines_write(JsonBuf *lines, FILE *fp) {
    static int regular = -1;   // is stdout a regular file?  (decided once)
    if (regular < 0) {
        struct stat st;
        regular = fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode);
    }
    int rc = 0;
    if (lines->len && fwrite(lines->buf, 1, lines->len, fp) != lines->len) rc = -1;
    if (!regular && fflush(fp) != 0) rc = -1;
    jb_reset(lines);
    return rc;
}
