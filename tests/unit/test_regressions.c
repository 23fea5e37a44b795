// Regression tests for bugs found by fuzzing (tests/fuzz) and by the bad-input table
// (tests/tool/bad_inputs.sh), one function per bug, each named after what went wrong.
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http.h"
#include "hub.h"

static void add(HttpHeaders *h, const char *line, size_t n) { http_headers_add_line(h, line, n); }

// A header line holding a NUL byte was kept, cut short at the NUL: "\0:x" became a
// header with an empty name, "Retry-After: Wed, \0..." a value ending in a space, and
// "X-Repo-Commit: abc\0/../x" the commit "abc".  Such lines are now ignored.
static void test_http_header_nul(void) {
    HttpHeaders h = {0};
    static const char l1[] = "\0:x\r\n", l2[] = "Retry-After: Wed, \0 junk\r\n",
                      l3[] = "X-Repo-Commit: abc\0/../../etc\r\n", l4[] = "ETag: \"e\"\r\n";
    add(&h, l1, sizeof l1 - 1);
    add(&h, l2, sizeof l2 - 1);
    add(&h, l3, sizeof l3 - 1);
    add(&h, l4, sizeof l4 - 1);
    CHECK_INT("header lines with NUL ignored", h.n, 1);
    CHECK("no empty header name", http_header_get(&h, "") == NULL);
    CHECK("no cut Retry-After", http_header_get(&h, "Retry-After") == NULL);
    HubFileMeta m;
    char err[256];
    CHECK_INT("a NUL-cut commit is not used", hub_meta_from_headers(&h, &m, err, sizeof err), -1);
    CHECK("the commit is reported missing", strstr(err, "X-Repo-Commit") != NULL);
    http_headers_free(&h);
}

int main(void) {
    test_http_header_nul();
    CHECK_DONE();
}
