// Regression tests for common/json's grammar check (found by tests/fuzz/fuzz_ndjson):
// jsmn's strict mode does not check where commas and colons go, so json_parse accepted
// {"a"} (a key without a value: record_begin then read past the token array and copied
// heap bytes into its output), {"a":1 "b":2} (field b was lost), [1 2] and {"a":1,}.
#include <stdlib.h>

#include "check.h"
#include "json.h"
#include "ndjson.h"

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
        "{\"a\"}", "{\"a\" 1}", "{\"a\":1 \"b\":2}", "[1 2]", "{\"x\":[1 2]}", "{\"a\":1,}", "[1,]",
        "{,\"a\":1}", "[,1]", "{\"a\"::1}", "[\"a\":1]", "{\"a\":1}}", "[1]]", "{\"a\":1,,\"b\":2}",
        "{\"a\",1}", "{1:2}", "{\"a\":}", "[:]", "{:1}", "\"a\":1", "[1:2]", "{\"a\":1 }x", "[{]}",
        "{\"a\":[}", "[\"a\" \"b\"]", "{\"errolayersstream\",\"x\":[1,2]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char name[96];
        snprintf(name, sizeof name, "reject %s", bad[i]);
        CHECK(name, !parses(bad[i]));
    }
}

static void test_accepted(void) {
    static const char *const good[] = {
        "{}", "[]", "{\"a\":1}", " { \"a\" : [ 1 , { } , [ ] , \"x\" ] , \"b\" : null } ", "[[[[]]]]",
        "{\"a\":{\"b\":{\"c\":[1,2,{\"d\":\"}\"}]}}}", "[\"]\",\"[\",\"{\",\"\\\"\"]", "[-0.5e+3,0,true,false]",
        "{\"a\":1,\"a\":2}", "\"lone\"", "17",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char name[96];
        snprintf(name, sizeof name, "accept %s", good[i]);
        CHECK(name, parses(good[i]));
    }
}

static void test_messages(void) {
    CHECK_STR("missing value: says where", message("{\"a\"}"), "invalid JSON: unexpected '}' at byte 4");
    CHECK_STR("missing comma: says where", message("{\"a\":1 \"b\":2}"), "invalid JSON: unexpected '\"' at byte 7");
    CHECK_STR("plain garbage keeps its message", message("not json"), "invalid JSON");
    CHECK_STR("truncated keeps its message", message("{\"a\": [1, 2"), "truncated JSON");
}

// A deep nest parses without recursion (the grammar check keeps a heap stack).
static void test_deep(void) {
    size_t depth = 200000;
    char *s = malloc(2 * depth + 1);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    CHECK("200000 nested arrays parse", parses(s));
    s[2 * depth - 1] = '}';
    CHECK("mismatched close at depth rejected", !parses(s));
    free(s);
}

// The line that read past the token array: now an error record, nothing copied.
static void test_record(void) {
    Record r;
    char err[256];
    const char *line = "{\"a\"}";
    CHECK_INT("record_parse refuses a key without a value", record_parse(&r, line, strlen(line), 1, err, sizeof err), -1);
    record_free(&r);
    line = "{\"a\":1 \"b\":2}";
    CHECK_INT("record_parse refuses a missing comma", record_parse(&r, line, strlen(line), 1, err, sizeof err), -1);
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
