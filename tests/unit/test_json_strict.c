// Regression tests for common/base/json's grammar check (found by tests/fuzz/fuzz_ndjson):
// jsmn's strict mode does not check where commas and colons go, so json_parse accepted
// {"a"} (a key without a value: record_begin then read past the token array and copied
// heap bytes into its output), {"a":1 "b":2} (field b was lost), [1 2] and {"a":1,}.
#include <stdlib.h>
#include <time.h>

#include "base/json.h"
#include "base/ndjson.h"
#include "check.h"

static int parses(const char *s) {
    JsonDoc d;
    int rc = json_parse(&d, s, strlen(s), NULL, 0);
    json_free(&d);
    return rc == 0;
}

static const char *message(const char *s) {
    static char err[256];
    JsonDoc d;
    err[0] = '\0';
    json_parse(&d, s, strlen(s), err, sizeof err);
    json_free(&d);
    return err;
}

static void test_rejected(void) {
    static const char *const bad[] = {
        "{\"a\"}",
        "{\"a\" 1}",
        "{\"a\":1 \"b\":2}",
        "[1 2]",
        "{\"x\":[1 2]}",
        "{\"a\":1,}",
        "[1,]",
        "{,\"a\":1}",
        "[,1]",
        "{\"a\"::1}",
        "[\"a\":1]",
        "{\"a\":1}}",
        "[1]]",
        "{\"a\":1,,\"b\":2}",
        "{\"a\",1}",
        "{1:2}",
        "{\"a\":}",
        "[:]",
        "{:1}",
        "\"a\":1",
        "[1:2]",
        "{\"a\":1 }x",
        "[{]}",
        "{\"a\":[}",
        "[\"a\" \"b\"]",
        "{\"errolayersstream\",\"x\":[1,2]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char name[96];
        snprintf(name, sizeof name, "reject %s", bad[i]);
        CHECK(name, !parses(bad[i]));
    }
}

static void test_accepted(void) {
    static const char *const good[] = {
        "{}",
        "[]",
        "{\"a\":1}",
        " { \"a\" : [ 1 , { } , [ ] , \"x\" ] , \"b\" : null } ",
        "[[[[]]]]",
        "{\"a\":{\"b\":{\"c\":[1,2,{\"d\":\"}\"}]}}}",
        "[\"]\",\"[\",\"{\",\"\\\"\"]",
        "[-0.5e+3,0,true,false]",
        "{\"a\":1,\"a\":2}",
        "\"lone\"",
        "17",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char name[96];
        snprintf(name, sizeof name, "accept %s", good[i]);
        CHECK(name, parses(good[i]));
    }
}

static void test_messages(void) {
    CHECK_STR("missing value: says where", message("{\"a\"}"),
              "invalid JSON: unexpected '}' at byte 4");
    CHECK_STR("missing comma: says where", message("{\"a\":1 \"b\":2}"),
              "invalid JSON: unexpected '\"' at byte 7");
    CHECK_STR("plain garbage keeps its message", message("not json"), "invalid JSON");
    CHECK_STR("truncated keeps its message", message("{\"a\": [1, 2"), "truncated JSON");
}

// Nesting is limited to JSON_MAX_DEPTH: jsmn's closing bracket walks up the parent chain,
// so 200000 nested arrays took 90 s (and an 80 MiB line of them would never end).
static char *nest(size_t depth, size_t copies) {
    size_t one = 2 * depth + 1, n = copies * one;
    char *s = malloc(n + 2);
    s[0] = '[';
    for (size_t c = 0; c < copies; c++) {
        char *p = s + 1 + c * one;
        memset(p, '[', depth);
        memset(p + depth, ']', depth);
        p[2 * depth] = ',';
    }
    s[n] = ']';   // replaces the last ','
    s[n + 1] = '\0';
    return s;
}

static void test_deep(void) {
    char *s = nest(JSON_MAX_DEPTH - 1, 1);
    CHECK("nesting to JSON_MAX_DEPTH parses", parses(s));
    free(s);
    s = nest(JSON_MAX_DEPTH, 1);
    CHECK("one level deeper is refused", !parses(s));
    CHECK_STR("deep: message", message(s), "invalid JSON: nested deeper than 128 at byte 128");
    free(s);
    s = nest(1000000, 1);   // refused at byte 128, without a walk over the rest
    CHECK("a million nested arrays refused", !parses(s));
    free(s);
    s = nest(JSON_MAX_DEPTH - 1, 16000);   // 4 MB of chains at the limit: about 0.1 s
    double t0 = (double)clock() / CLOCKS_PER_SEC;
    CHECK("4 MB of chains at the depth limit parse", parses(s));
    double dt = (double)clock() / CLOCKS_PER_SEC - t0;
    printf("(4 MB at the depth limit: %.2f s of CPU)\n", dt);
    free(s);
}

// The line that read past the token array: now an error record, nothing copied.
static void test_record(void) {
    Record r;
    char err[256];
    const char *line = "{\"a\"}";
    CHECK_INT("record_parse refuses a key without a value",
              record_parse(&r, line, strlen(line), 1, err, sizeof err), -1);
    record_free(&r);
    line = "{\"a\":1 \"b\":2}";
    CHECK_INT("record_parse refuses a missing comma",
              record_parse(&r, line, strlen(line), 1, err, sizeof err), -1);
    record_free(&r);
}

int main(void) {
    test_rejected();
    test_accepted();
    test_messages();
    test_deep();
    test_record();
    CHECK_DONE();
}
