// Regression tests for bugs found by fuzzing (tests/fuzz) and by the bad-input table
// (tests/tool/bad_inputs.sh), one function per bug, each named after what went wrong.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "io/http.h"
#include "io/hub.h"
#include "model/gpt2.h"

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

static int read_config_text(const char *text, Gpt2Config *cfg, char *err, size_t errlen) {
    const char *tmp = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/test_regressions.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) return -2;
    close(fd);
    int rc = gpt2_read_config(path, cfg, err, errlen);
    unlink(path);
    return rc;
}

// layer_norm_epsilon was range-checked as a double and then rounded to float: 1e-50
// became 0 (LayerNorm then divides by sqrt(var + 0): NaN for a constant row), and
// 0.99999999999 became 1.
static void test_config_epsilon_float(void) {
    static const char base[] = "{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"n_positions\":16,"
                               "\"vocab_size\":300,\"layer_norm_epsilon\":%s}";
    char text[256], err[512];
    Gpt2Config cfg;
    snprintf(text, sizeof text, base, "1e-50");
    CHECK_INT("epsilon 1e-50 (0 as a float) refused", read_config_text(text, &cfg, err, sizeof err),
              -1);
    CHECK("epsilon message", strstr(err, "layer_norm_epsilon") != NULL);
    snprintf(text, sizeof text, base, "0.99999999999");
    CHECK_INT("epsilon 0.99999999999 (1 as a float) refused",
              read_config_text(text, &cfg, err, sizeof err), -1);
    snprintf(text, sizeof text, base, "1e-12");
    CHECK_INT("epsilon 1e-12 accepted", read_config_text(text, &cfg, err, sizeof err), 0);
    CHECK("epsilon 1e-12 kept", cfg.ln_eps > 0 && cfg.ln_eps < 2e-12f);
}

int main(void) {
    test_http_header_nul();
    test_config_epsilon_float();
    CHECK_DONE();
}
