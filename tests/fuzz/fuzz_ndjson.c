// fuzz_ndjson: the NDJSON reader and writer (common/base/json, common/base/ndjson, common/base/tool).
// The input is a stream of lines.  Properties checked on every line:
//   - record_parse accepts a line exactly when it is one JSON object (RFC 8259, checked by
//     the independent recogniser in fuzz_util.h);
//   - pass-through: record_begin + a written field + record_end gives a line that parses
//     again to the same fields, in the same order, with the same raw key and value bytes,
//     followed by the written field;
//   - strings: json_str then jb_string then json_str gives the same bytes (valid UTF-8;
//     invalid bytes come back as U+FFFD, and the text written is always valid UTF-8);
//   - record_bad_line writes a valid object whose "input" holds the raw line;
//   - typed readers never crash, whatever the field types are.
// And on the whole stream: tool_run writes one valid line (JSON object, UTF-8) per
// non-blank input line, in order, and reports failures in its exit status.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "base/ndjson.h"
#include "base/tool.h"
#include "fuzz_util.h"

// The string token i of d, unescaped, must survive jb_string and a second parse.
static void check_string_round_trip(const JsonDoc *d, int i) {
    char *s;
    size_t n;
    FUZZ_REQUIRE(json_str(d, i, &s, &n) == 0, "json_str refused a string the parser accepted");
    JsonBuf b = {0};
    jb_string(&b, s, n);
    FUZZ_REQUIRE(fuzz_json_valid(b.buf, b.len), "jb_string wrote invalid JSON: %s", b.buf);
    FUZZ_REQUIRE(fuzz_utf8_valid(b.buf, b.len), "jb_string wrote invalid UTF-8");
    JsonDoc d2;
    FUZZ_REQUIRE(json_parse(&d2, b.buf, b.len, NULL, 0) == 0, "jb_string output does not parse: %s",
                 b.buf);
    char *s2;
    size_t n2;
    FUZZ_REQUIRE(json_str(&d2, 0, &s2, &n2) == 0, "json_str on jb_string output");
    if (fuzz_utf8_valid(s, n))
        FUZZ_REQUIRE(n2 == n && memcmp(s, s2, n) == 0, "string changed in a round trip");
    else FUZZ_REQUIRE(fuzz_utf8_valid(s2, n2) && n2 >= n, "invalid UTF-8 not replaced");
    free(s2);
    json_free(&d2);
    jb_free(&b);
    free(s);
}

// Raw bytes (anything) through jb_string: valid JSON and UTF-8, and the same bytes back
// when they were valid UTF-8.
static void check_raw_string(const char *s, size_t n) {
    JsonBuf b = {0};
    jb_string(&b, s, n);
    FUZZ_REQUIRE(fuzz_json_valid(b.buf, b.len) && fuzz_utf8_valid(b.buf, b.len),
                 "jb_string of raw bytes");
    if (fuzz_utf8_valid(s, n)) {
        JsonDoc d;
        char *u;
        size_t un;
        FUZZ_REQUIRE(json_parse(&d, b.buf, b.len, NULL, 0) == 0 && json_str(&d, 0, &u, &un) == 0,
                     "reparse");
        FUZZ_REQUIRE(un == n && memcmp(u, s, n) == 0, "raw string changed in a round trip");
        free(u);
        json_free(&d);
    }
    jb_free(&b);
}

// Member m (0-based) of object 0: raw key and value.
typedef struct {
    const char *k, *v;
    size_t kl, vl;
} Member;

static int members(const JsonDoc *d, Member *out, int max) {
    int k = 1, n = json_size(d, 0);
    for (int m = 0; m < n; m++) {
        int v = k + 1;
        FUZZ_REQUIRE(k < d->ntok && v < d->ntok, "object member %d outside the token array", m);
        FUZZ_REQUIRE(json_type(d, k) == JSMN_STRING, "key %d is not a string", m);
        if (m < max) {
            out[m].k = json_raw(d, k, &out[m].kl);
            out[m].v = json_raw(d, v, &out[m].vl);
        }
        k = json_skip(d, v);
    }
    FUZZ_REQUIRE(k == d->ntok, "object members do not cover the tokens (%d of %d)", k, d->ntok);
    return n;
}

#define MAX_MEMBERS 512

static void check_pass_through(const Record *in) {
    static const char *const owned[] = {"layers", "error", NULL};
    static Member a[MAX_MEMBERS], b[MAX_MEMBERS + 1];
    JsonBuf out = {0}, lines = {0};
    record_begin(&out, in, owned);
    jb_key(&out, "error");
    jb_cstr(&out, "fuzz");
    record_end(&out, &lines);
    FUZZ_REQUIRE(lines.len > 0 && lines.buf[lines.len - 1] == '\n', "record_end adds a newline");
    FUZZ_REQUIRE(fuzz_json_object(lines.buf, lines.len - 1),
                 "pass-through output is not a JSON object: %s", lines.buf);
    Record r2;
    char err[256];
    FUZZ_REQUIRE(record_parse(&r2, lines.buf, lines.len - 1, 1, err, sizeof err) == 0,
                 "output does not parse: %s", err);
    int na = members(&in->doc, a, MAX_MEMBERS), nb = members(&r2.doc, b, MAX_MEMBERS + 1);
    if (na <= MAX_MEMBERS) {
        int j = 0;
        for (int i = 0; i < na; i++) {
            // Owned keys are recognised by their unescaped value.
            JsonDoc kd;
            char *key = NULL;
            size_t klen = 0;
            FUZZ_REQUIRE(json_parse(&kd, a[i].k, a[i].kl, NULL, 0) == 0 &&
                             json_str(&kd, 0, &key, &klen) == 0,
                         "key reparse");
            json_free(&kd);
            int is_owned = 0;
            for (int o = 0; owned[o]; o++)
                is_owned |= klen == strlen(owned[o]) && !memcmp(key, owned[o], klen);
            free(key);
            if (is_owned) continue;
            FUZZ_REQUIRE(j < nb, "field %d lost", i);
            FUZZ_REQUIRE(a[i].kl == b[j].kl && !memcmp(a[i].k, b[j].k, a[i].kl), "key %d changed",
                         i);
            FUZZ_REQUIRE(a[i].vl == b[j].vl && !memcmp(a[i].v, b[j].v, a[i].vl), "value %d changed",
                         i);
            j++;
        }
        FUZZ_REQUIRE(j == nb - 1, "fields added or lost: %d passed of %d", j, nb);
        FUZZ_REQUIRE(b[j].kl == 7 && !memcmp(b[j].k, "\"error\"", 7) && b[j].vl == 6 &&
                         !memcmp(b[j].v, "\"fuzz\"", 6),
                     "written field last");
    }
    record_free(&r2);
    jb_free(&out);
    jb_free(&lines);
}

static void check_readers(const Record *r) {
    static const char *const keys[] = {"prompt", "answer", "layers", "label", "tokens", "k", ""};
    char err[256], *s;
    size_t n;
    long long ll;
    double x;
    int b, *v, nv;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        int got = record_string(r, keys[i], &s, &n, err, sizeof err);
        FUZZ_REQUIRE(got >= -1 && got <= 1 && (got == 1) == (s != NULL), "record_string");
        free(s);
        record_int(r, keys[i], &ll, err, sizeof err);
        record_double(r, keys[i], &x, err, sizeof err);
        record_bool(r, keys[i], &b, err, sizeof err);
        got = record_int_array(r, keys[i], &v, &nv, err, sizeof err);
        FUZZ_REQUIRE(got != 1 || nv == 0 || v != NULL, "record_int_array");
        free(v);
        (void)record_has(r, keys[i]);
    }
    // Every token: walk arrays and objects with the public accessors.
    const JsonDoc *d = &r->doc;
    for (int i = 0; i < d->ntok; i++) {
        FUZZ_REQUIRE(json_skip(d, i) > i && json_skip(d, i) <= d->ntok, "json_skip");
        if (json_type(d, i) == JSMN_ARRAY && json_size(d, i) > 0) {
            int last = json_arr_at(d, i, json_size(d, i) - 1);
            FUZZ_REQUIRE(last > i && last < d->ntok, "json_arr_at");
        }
        if (json_type(d, i) == JSMN_STRING) check_string_round_trip(d, i);
    }
}

static void check_line(const char *line, size_t n, long lineno) {
    Record r;
    char err[256];
    int ok = record_parse(&r, line, n, lineno, err, sizeof err) == 0;
    FUZZ_REQUIRE(ok == fuzz_json_object(line, n),
                 "record_parse %s a line the recogniser %s: [%.*s]", ok ? "accepted" : "refused",
                 ok ? "refuses" : "accepts", (int)(n > 200 ? 200 : n), line);
    if (ok) {
        check_pass_through(&r);
        check_readers(&r);
    } else {
        FUZZ_REQUIRE(err[0] != '\0', "a refusal without a message");
        JsonBuf lines = {0};
        record_bad_line(&lines, lineno, err, line, n);
        FUZZ_REQUIRE(fuzz_json_object(lines.buf, lines.len - 1), "record_bad_line output: %s",
                     lines.buf);
        jb_free(&lines);
    }
    record_free(&r);
    check_raw_string(line, n);
}

// The record loop: each record gets one field.
static int add_field(void *ctx, Record *const *recs, int n, JsonBuf *lines) {
    (void)ctx;
    JsonBuf out = {0};
    for (int i = 0; i < n; i++) {
        record_begin(&out, recs[i], NULL);
        jb_key(&out, "seen");
        jb_int(&out, recs[i]->lineno);
        record_end(&out, lines);
    }
    jb_free(&out);
    return 0;
}

static void check_tool_run(const uint8_t *data, size_t size) {
    FILE *in = fmemopen((void *)data, size, "r");
    if (!in) return;
    char *obuf = NULL;
    size_t olen = 0;
    FILE *out = open_memstream(&obuf, &olen);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);   // diagnostics: discarded
    fflush(stderr);
    dup2(devnull, 2);
    int rc = tool_run(in, out, 3, add_field, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    fclose(in);
    fclose(out);
    // Count the non-blank input lines (as lines_next splits them).
    long want = 0;
    int bad = 0;
    for (size_t i = 0; i < size;) {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t e = nl ? (size_t)(nl - data) : size, len = e - i;
        if (len && data[e - 1] == '\r') len--;
        size_t sp = 0;
        while (sp < len && (data[i + sp] == ' ' || data[i + sp] == '\t')) sp++;
        if (sp < len) want++;   // not blank (strspn(" \t") stops at a NUL too)
        if (sp < len && !fuzz_json_object((const char *)data + i, len)) bad = 1;
        i = e + 1;
    }
    long got = 0;
    for (size_t i = 0; i < olen;) {
        char *nl = memchr(obuf + i, '\n', olen - i);
        FUZZ_REQUIRE(nl != NULL, "tool_run output ends without a newline");
        size_t len = (size_t)(nl - (obuf + i));
        FUZZ_REQUIRE(fuzz_json_object(obuf + i, len),
                     "tool_run wrote a line that is not an object: %.*s", (int)len, obuf + i);
        FUZZ_REQUIRE(fuzz_utf8_valid(obuf + i, len), "tool_run wrote invalid UTF-8: %.*s", (int)len,
                     obuf + i);
        got++;
        i += len + 1;
    }
    FUZZ_REQUIRE(got == want, "tool_run wrote %ld lines for %ld input lines", got, want);
    FUZZ_REQUIRE(rc == (bad ? EXIT_BAD_INPUT : 0), "tool_run exit %d (bad lines: %d)", rc, bad);
    free(obuf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // Each line alone (the reader strips "\n" and one trailing "\r").
    FILE *in = fmemopen((void *)data, size, "r");
    if (!in) return 0;   // fmemopen refuses size 0
    LineReader lr;
    lines_init(&lr, in);
    lr.max_len = 1 << 16;
    char *line;
    ssize_t n;
    while ((n = lines_next(&lr, &line)) >= 0 || n == -3)
        if (n >= 0) check_line(line, (size_t)n, lr.lineno);
    FUZZ_REQUIRE(n == -1, "lines_next ended with %zd", n);
    lines_free(&lr);
    fclose(in);
    check_tool_run(data, size);
    return 0;
}
