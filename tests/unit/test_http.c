// test_http: header parsing, URL helpers, the retry policy and a refused connection.
// Modes driven by tests/tool/http.sh against tests/ref/hubserver.py:
//   test_http --get URL PATH [--resume] [--stall S]   http_download, prints a summary line
//   test_http --post URL JSON                         http_post_json, prints status + body
#include "base/util.h"
#include "check.h"
#include "io/http.h"

#include <stdlib.h>

static void add(HttpHeaders *h, const char *line) { http_headers_add_line(h, line, strlen(line)); }

static void test_headers(void) {
    HttpHeaders h = {0};
    add(&h, "HTTP/1.1 302 Found\r\n");
    add(&h, "Location: /cdn/abc\r\n");
    add(&h, "x-linked-etag:   \"abc\"  \r\n");
    add(&h, "no colon here\r\n");
    add(&h, " folded: continuation\r\n");
    add(&h, ": empty name\r\n");
    add(&h, "X-Empty:\r\n");
    add(&h, "\r\n");
    CHECK_INT("headers kept", h.n, 3);
    CHECK_STR("header case-insensitive", http_header_get(&h, "X-Linked-Etag"), "\"abc\"");
    CHECK_STR("header value trimmed", http_header_get(&h, "location"), "/cdn/abc");
    CHECK_STR("empty header value", http_header_get(&h, "X-Empty"), "");
    CHECK("absent header", http_header_get(&h, "ETag") == NULL);
    add(&h, "HTTP/1.1 200 OK\r\n");   // the next response of a redirect chain
    CHECK_INT("status line resets", h.n, 0);
    add(&h, "ETag: \"x\"\r\n");
    add(&h, "ETag: \"y\"\r\n");
    CHECK_STR("first of duplicates", http_header_get(&h, "etag"), "\"x\"");
    for (int i = 0; i < HTTP_MAX_HEADERS + 50; i++) add(&h, "X-Many: 1\r\n");
    CHECK_INT("header count capped", h.n, HTTP_MAX_HEADERS);
    http_headers_free(&h);
    CHECK_INT("freed", h.n, 0);
}

static void check_resolve(const char *name, const char *base, const char *loc, const char *want) {
    char *got = http_url_resolve(base, loc);
    CHECK_STR(name, got, want);
    free(got);
}

static void check_quote(const char *name, const char *s, const char *safe, const char *want) {
    char *got = http_url_quote(s, safe);
    CHECK_STR(name, got, want);
    free(got);
}

static void test_urls(void) {
    const char *b = "http://127.0.0.1:8080/gpt2/resolve/main/config.json?x=1#f";
    check_resolve("resolve absolute path", b, "/openai-community/gpt2/resolve/main/config.json",
                  "http://127.0.0.1:8080/openai-community/gpt2/resolve/main/config.json");
    check_resolve("resolve absolute url", b, "https://cdn.example/abc?sig=1",
                  "https://cdn.example/abc?sig=1");
    check_resolve("resolve scheme-relative", b, "//cdn.example/abc", "http://cdn.example/abc");
    check_resolve("resolve relative", b, "vocab.json",
                  "http://127.0.0.1:8080/gpt2/resolve/main/vocab.json");
    check_resolve("resolve query", b, "?y=2",
                  "http://127.0.0.1:8080/gpt2/resolve/main/config.json?y=2");
    check_resolve("resolve no base path", "http://h", "d", "http://h/d");
    check_resolve("resolve root base", "http://h/", "d", "http://h/d");

    CHECK("same origin", http_same_origin("http://127.0.0.1:8/a", "http://127.0.0.1:8/b?c"));
    CHECK("other port", !http_same_origin("http://127.0.0.1:8/a", "http://127.0.0.1:9/a"));
    CHECK("default port + case",
          http_same_origin("https://huggingface.co/x", "HTTPS://HuggingFace.co:443/y"));
    CHECK("other scheme", !http_same_origin("http://h/x", "https://h/x"));
    CHECK("other host", !http_same_origin("http://127.0.0.1:8/", "http://localhost:8/"));
    CHECK("userinfo ignored", http_same_origin("http://u:p@h/x", "http://h/"));
    CHECK("ipv6", http_same_origin("http://[::1]:8/x", "http://[::1]:8"));
    CHECK("not a url", !http_same_origin("/relative", "/relative"));
    CHECK("ftp refused", !http_same_origin("ftp://h/x", "ftp://h/x"));
    CHECK("bad port", !http_same_origin("http://h:99999/", "http://h:99999/"));

    check_quote("quote revision", "refs/pr/1", "", "refs%2Fpr%2F1");
    check_quote("quote file", "sub dir/a+b\xc3\xbc.json", "/", "sub%20dir/a%2Bb%C3%BC.json");
    check_quote("quote unreserved", "A-z_0.9~", "", "A-z_0.9~");

    char *m = http_url_for_message("https://cdn.example/abc?X-Amz-Signature=secret#f");
    CHECK_STR("message url drops query", m, "https://cdn.example/abc");
    free(m);
}

static void test_retry(void) {
    CHECK("retry 429", http_status_retryable(429));
    CHECK("retry 503", http_status_retryable(503));
    CHECK("retry 408", http_status_retryable(408));
    CHECK("no retry 404", !http_status_retryable(404));
    CHECK("no retry 401", !http_status_retryable(401));
    CHECK("no retry 200", !http_status_retryable(200));

    HttpResponse r = {0};
    CHECK_NEAR("backoff attempt 0", http_retry_delay(&r, 0, 1, 60, 0.5), 1.0, 1e-12);
    CHECK_NEAR("backoff attempt 3", http_retry_delay(&r, 3, 1, 60, 0.5), 8.0, 1e-12);
    CHECK_NEAR("backoff capped", http_retry_delay(&r, 20, 1, 60, 0.5), 60.0, 1e-12);
    CHECK_NEAR("jitter low", http_retry_delay(&r, 1, 1, 60, 0.0), 1.5, 1e-12);
    CHECK_NEAR("jitter high", http_retry_delay(NULL, 1, 1, 60, 0.999), 2 * (0.75 + 0.5 * 0.999),
               1e-12);
    add(&r.headers, "Retry-After: 3\r\n");
    CHECK_NEAR("retry-after seconds", http_retry_delay(&r, 5, 1, 60, 0.5), 3.0, 1e-12);
    add(&r.headers, "retry-after-ms: 250\r\n");
    CHECK_NEAR("retry-after-ms first", http_retry_delay(&r, 5, 1, 60, 0.5), 0.25, 1e-12);
    http_headers_free(&r.headers);
    add(&r.headers, "Retry-After: 100000\r\n");
    CHECK_NEAR("retry-after too long ignored", http_retry_delay(&r, 0, 1, 60, 0.5), 1.0, 1e-12);
    http_headers_free(&r.headers);
    add(&r.headers, "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n");
    CHECK_NEAR("retry-after date in the past", http_retry_delay(&r, 0, 1, 60, 0.5), 0.0, 1e-12);
    http_headers_free(&r.headers);
    add(&r.headers, "Retry-After: soon\r\n");
    CHECK_NEAR("retry-after garbage ignored", http_retry_delay(&r, 0, 2, 60, 0.5), 2.0, 1e-12);
    http_response_free(&r);
}

static void test_refused(void) {
    // Port 1 on the loopback: nothing listens there, the connection is refused at once.
    HttpResponse r;
    char err[512] = "";
    int rc = http_request("GET", "http://127.0.0.1:1/x?token=secret", NULL, NULL, 0, &r, err,
                          sizeof err);
    CHECK_INT("refused returns -1", rc, -1);
    CHECK_INT("refused no status", r.status, 0);
    CHECK("refused message names url", strstr(err, "http://127.0.0.1:1/x") != NULL);
    CHECK("refused message hides query", strstr(err, "secret") == NULL);
    CHECK("refused not retryable", !http_transport_retryable(&r));
    http_response_free(&r);
    rc = http_request("GET", "file:///etc/passwd", NULL, NULL, 0, &r, err, sizeof err);
    CHECK_INT("file url refused", rc, -1);
    CHECK("file url no body", r.body == NULL);
    http_response_free(&r);
}

static int mode_get(int argc, char **argv) {
    int resume = 0;
    HttpOptions o = {.follow_redirects = 1};
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--resume") == 0) resume = 1;
        else if (strcmp(argv[i], "--stall") == 0 && i + 1 < argc)
            o.stall_timeout_s = atol(argv[++i]);
    }
    HttpResponse r;
    char err[512];
    int rc = http_download(argv[2], argv[3], resume, &o, &r, err, sizeof err);
    if (rc != 0) fprintf(stderr, "error: %s\n", err);
    else
        printf("status=%ld offset=%lld received=%lld range_ignored=%d body=%s\n", r.status,
               r.offset, r.received, r.range_ignored, r.body ? r.body : "");
    http_response_free(&r);
    return rc == 0 ? 0 : 1;
}

static int mode_post(int argc, char **argv) {
    if (argc < 4) return 2;
    static const char *const hdr[] = {"Authorization: Bearer sk-test", NULL};
    HttpOptions o = {.headers = hdr, .total_timeout_s = 10};
    HttpResponse r;
    char err[512];
    int rc = http_post_json(argv[2], argv[3], strlen(argv[3]), &o, &r, err, sizeof err);
    if (rc != 0) fprintf(stderr, "error: %s\n", err);
    else
        printf("status=%ld x-echo=%s\n%s\n", r.status,
               http_header_get(&r.headers, "X-Echo") ? "yes" : "no", r.body ? r.body : "");
    http_response_free(&r);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "--get") == 0) return mode_get(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "--post") == 0) return mode_post(argc, argv);
    test_headers();
    test_urls();
    test_retry();
    test_refused();
    CHECK_DONE();
}
