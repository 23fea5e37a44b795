// Unit tests for common/base/json and common/ndjson.
#include <stdlib.h>

#include "base/json.h"
#include "base/ndjson.h"
#include "check.h"

static int parses(const char *s) {
    JsonDoc d;
    int rc = json_parse(&d, s, strlen(s), NULL, 0);
    json_free(&d);
    return rc == 0;
}

static void test_validation(void) {
    CHECK("parse object", parses("{\"a\": [1, 2.5e3, true, null, \"x\"]}"));
    CHECK("parse surrounding space", parses("  {}  "));
    CHECK("parse top-level string", parses(" \"abc\" "));
    CHECK("parse top-level number", parses("42"));
    CHECK("reject string then garbage", !parses("\"abc\" x"));
    CHECK("reject trailing garbage", !parses("{} x"));
    CHECK("reject two values", !parses("{}{}"));
    CHECK("reject bad literal", !parses("{\"a\": tru}"));
    CHECK("reject leading zero", !parses("[01]"));
    CHECK("reject bare exponent", !parses("[1e]"));
    CHECK("reject truncated", !parses("{\"a\": [1, 2"));
    CHECK("reject raw control char", !parses("\"a\tb\""));
    CHECK("reject lone surrogate", !parses("\"\\ud800\""));
    CHECK("reject bad escape", !parses("\"\\x41\""));
    CHECK("reject empty", !parses("   "));
    CHECK("reject unquoted key", !parses("{a: 1}"));
}

static void test_unescape(void) {
    const char *s = "{\"k\\u00e9y\": \"a\\\"b\\\\c\\n\\u20ac\\ud83d\\ude00\\u0000z\"}";
    JsonDoc d;
    CHECK("parse escapes", json_parse(&d, s, strlen(s), NULL, 0) == 0);
    int v = json_obj_get(&d, 0, "k\xc3\xa9y");
    CHECK("escaped key found", v > 0);
    char *out;
    size_t n;
    CHECK("json_str ok", json_str(&d, v, &out, &n) == 0);
    const char want[] = "a\"b\\c\n\xe2\x82\xac\xf0\x9f\x98\x80\0z";
    CHECK_INT("unescaped length (with NUL)", n, sizeof want - 1);
    CHECK("unescaped bytes", memcmp(out, want, n) == 0);
    free(out);
    json_free(&d);
}

static void test_numbers(void) {
    const char *s = "[3, -7, 3.0, 2.5, 1e3, 9223372036854775807, 99999999999999999999, true]";
    JsonDoc d;
    json_parse(&d, s, strlen(s), NULL, 0);
    long long x = 0;
    double f = 0;
    CHECK("int 3", json_int(&d, json_arr_at(&d, 0, 0), &x) == 0 && x == 3);
    CHECK("int -7", json_int(&d, json_arr_at(&d, 0, 1), &x) == 0 && x == -7);
    CHECK("int 3.0 accepted", json_int(&d, json_arr_at(&d, 0, 2), &x) == 0 && x == 3);
    CHECK("int 2.5 rejected", json_int(&d, json_arr_at(&d, 0, 3), &x) != 0);
    CHECK("int 1e3", json_int(&d, json_arr_at(&d, 0, 4), &x) == 0 && x == 1000);
    CHECK("int max", json_int(&d, json_arr_at(&d, 0, 5), &x) == 0 && x == 9223372036854775807LL);
    CHECK("int overflow rejected", json_int(&d, json_arr_at(&d, 0, 6), &x) != 0);
    CHECK("bool is not a number", json_double(&d, json_arr_at(&d, 0, 7), &f) != 0);
    CHECK("double 2.5", json_double(&d, json_arr_at(&d, 0, 3), &f) == 0 && f == 2.5);
    CHECK("arr_at out of range", json_arr_at(&d, 0, 8) == -1);
    json_free(&d);
}

static void test_writer(void) {
    JsonBuf b = {0};
    jb_string(&b, "a\"\\\n\x01\xc3\xa9\xff", 8);
    CHECK_STR("escape + utf8 + invalid byte", b.buf, "\"a\\\"\\\\\\n\\u0001\xc3\xa9\\ufffd\"");
    jb_reset(&b);
    double vals[] = {0.1, 1.0 / 3.0, 1e300, -2.5e-310, 123456789.0};
    for (int i = 0; i < 5; i++) {
        jb_reset(&b);
        jb_double(&b, vals[i]);
        CHECK("double round trip", strtod(b.buf, NULL) == vals[i]);
    }
    jb_reset(&b);
    jb_double(&b, 0.1);
    CHECK_STR("shortest double", b.buf, "0.1");
    jb_reset(&b);
    jb_float(&b, 0.1f);
    CHECK_STR("shortest float", b.buf, "0.1");
    float fv[] = {3.14159274f, 1e-30f, 16777217.0f, -0.0f};
    for (int i = 0; i < 4; i++) {
        jb_reset(&b);
        jb_float(&b, fv[i]);
        CHECK("float round trip", strtof(b.buf, NULL) == fv[i]);
    }
    jb_reset(&b);
    jb_double(&b, NAN);
    CHECK_STR("nan as null", b.buf, "null");
    jb_reset(&b);
    jb_raw(&b, "{", 1);
    jb_key(&b, "a");
    jb_int(&b, 1);
    jb_key(&b, "b");
    int arr[] = {1, 2};
    jb_int_array(&b, arr, 2);
    jb_raw(&b, "}", 1);
    CHECK_STR("object separators", b.buf, "{\"a\":1,\"b\":[1,2]}");
    jb_free(&b);
}

static void test_record_passthrough(void) {
    const char *line =
        "{ \"id\" : 7, \"x\":{\"deep\": [1, {\"y\": \"\\u00e9\"}]}, \"layers\": [0, 1], \"z\": 1.50 }";
    Record r;
    char err[200];
    CHECK("record parses", record_parse(&r, line, strlen(line), 1, err, sizeof err) == 0);
    JsonBuf out = {0}, lines = {0};
    const char *owned[] = {"layers", NULL};
    record_begin(&out, &r, owned);
    jb_key(&out, "layers");
    int l[] = {2};
    jb_int_array(&out, l, 1);
    record_end(&out, &lines);
    CHECK_STR("pass-through byte-for-byte", lines.buf,
              "{\"id\":7,\"x\":{\"deep\": [1, {\"y\": \"\\u00e9\"}]},\"z\":1.50,\"layers\":[2]}\n");
    int *v, n;
    CHECK_INT("int array read", record_int_array(&r, "layers", &v, &n, err, sizeof err), 1);
    CHECK("int array values", n == 2 && v[0] == 0 && v[1] == 1);
    free(v);
    char *s;
    CHECK_INT("string of wrong type", record_string(&r, "id", &s, NULL, err, sizeof err), -1);
    CHECK_STR("wrong type message", err, "field \"id\" must be a string");
    CHECK_INT("absent field", record_string(&r, "nope", &s, NULL, err, sizeof err), 0);
    record_free(&r);

    const char *notobj = "[1,2]";
    CHECK("array is not a record", record_parse(&r, notobj, 5, 2, err, sizeof err) != 0);
    CHECK_STR("not-object message", err, "not a JSON object");
    record_free(&r);
    jb_reset(&lines);
    record_bad_line(&lines, 3, "invalid JSON", "{oops\x01", 6);
    CHECK_STR("bad line record", lines.buf,
              "{\"error\":\"invalid JSON\",\"line\":3,\"input\":\"{oops\\u0001\"}\n");
    jb_free(&out);
    jb_free(&lines);
}

static void test_line_reader(void) {
    FILE *f = tmpfile();
    size_t big = (size_t)3 << 20;   // a 3 MiB line
    fputs("first\r\n", f);
    for (size_t i = 0; i < big; i++) fputc('a' + (int)(i % 26), f);
    fputs("\nlast", f);
    rewind(f);
    LineReader r;
    lines_init(&r, f);
    char *line;
    CHECK_INT("line 1 length (CR stripped)", lines_next(&r, &line), 5);
    CHECK_INT("long line length", lines_next(&r, &line), (long long)big);
    CHECK("long line content", line[big - 1] == 'a' + (int)((big - 1) % 26));
    CHECK_INT("last line without newline", lines_next(&r, &line), 4);
    CHECK_INT("line number", r.lineno, 3);
    CHECK_INT("eof", lines_next(&r, &line), -1);
    rewind(f);
    lines_free(&r);
    lines_init(&r, f);
    r.max_len = 1024;
    CHECK_INT("short line under limit", lines_next(&r, &line), 5);
    CHECK_INT("line over limit reported", lines_next(&r, &line), -3);
    CHECK_INT("reader continues after", lines_next(&r, &line), 4);
    lines_free(&r);
    fclose(f);
}

int main(void) {
    test_validation();
    test_unescape();
    test_numbers();
    test_writer();
    test_record_passthrough();
    test_line_reader();
    CHECK_DONE();
}
