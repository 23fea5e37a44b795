// http: libcurl helpers shared by the hub downloader and the chat-completions client:
// a general request (any method, body in memory), a GET into a file that resumes with a
// Range request, a JSON POST, header capture and the retry policy of OpenAI-style APIs.
//
// Conventions:
//   - Functions return -1 (message in err) only when no complete HTTP response arrived:
//     DNS, connection refused, TLS, connect timeout, stalled transfer, connection cut.
//     Any HTTP status, 4xx and 5xx included, is a successful exchange: 0 with r->status
//     set, and the caller decides what the status means.
//   - Messages name the method and the URL without its query string (signed CDN URLs
//     carry credentials there); request headers (Authorization) are never printed.
//   - libcurl's global state is initialised once, on first use, thread-safely.
//   - Only http:// and https:// URLs are fetched, also when following redirects.
//   - TLS certificates are always verified, against libcurl's CA store or the CA file named
//     by CURL_CA_BUNDLE (else SSL_CERT_FILE), as curl and Python's requests do.
//   - A failed exchange's message says what failed in words (the host name could not be
//     resolved, could not connect, the TLS certificate could not be verified, the TLS
//     handshake failed, the connection was cut, timed out), curl's own text in parentheses.
// Called outside this module only by the tests (tests/fuzz/fuzz_http_headers.c,
// tests/unit/test_http.c, tests/unit/test_hub.c, tests/unit/test_regressions.c):
// http_headers_add_line, http_headers_free.
#ifndef AUTOINTERP_HTTP_H
#define AUTOINTERP_HTTP_H
#include <stddef.h>

typedef struct {
    char *name;    // as received (case preserved), NUL-terminated
    char *value;   // surrounding whitespace and CR/LF removed
} HttpHeader;

typedef struct {
    HttpHeader *items;   // (n) owned
    int n, cap;
} HttpHeaders;

// At most this many header lines are kept per response; more are ignored.
#define HTTP_MAX_HEADERS 256

// Value of the first header called `name` (case-insensitive), or NULL.  Not owned.
const char *http_header_get(const HttpHeaders *h, const char *name);
// Adds one raw header line ("Name: value\r\n", n bytes, not NUL-terminated).  A status
// line ("HTTP/1.1 302 Found") clears the list, so that after a redirect chain the list
// holds the last response's headers.  Lines without a colon, and lines holding a NUL
// byte, are ignored.
void http_headers_add_line(HttpHeaders *h, const char *line, size_t n);
void http_headers_free(HttpHeaders *h);

typedef struct {
    const char *const
        *headers;             // extra request headers "Name: value", NULL-terminated; may be NULL
    long connect_timeout_s;   // 0 → 10 s
    long stall_timeout_s;     // abort when no byte moves either way for this long, waiting
                              // for the reply included; 0 → 30 s, -1 → never (a slow API)
    long total_timeout_s;     // whole exchange; 0 → no limit (downloads can be long)
    int follow_redirects;     // follow 3xx (at most 10 hops); 0: return the 3xx itself
    int progress;             // draw a progress bar on stderr (caller checks the tty)
    const char *progress_label;   // shown before the bar; NULL → "download"
    size_t max_body;              // cap on a body kept in memory; 0 → 64 MiB (error bodies
                                  // of http_download: 64 KiB, silently truncated)
} HttpOptions;

typedef struct {
    long status;           // HTTP status of the last response; 0 when none arrived
    HttpHeaders headers;   // headers of the last response (after redirects)
    char *body;            // NUL-terminated, owned (may be NULL when empty): the body of
    size_t body_len;       //   http_request / http_post_json, or an error body of http_download
    char *url;             // effective URL after redirects (owned; NULL before any response)
    long long offset;      // http_download: where the received body was written from (0 = fresh)
    long long received;    // body bytes received in this exchange
    int curl_code;         // libcurl's CURLcode (0 = CURLE_OK)
    int range_ignored;     // http_download asked for a range and got a full 200 instead
} HttpResponse;

// Frees the owned fields and zeroes *r (safe on a zeroed or already-freed response).
void http_response_free(HttpResponse *r);

// METHOD url with an optional body (NULL, 0 for none; HEAD sends none and reads none).
// The response body is kept in r->body up to o->max_body (beyond: -1, "too large").
// *r is overwritten (free a previous response first) and is filled, as far as the
// exchange went, even when -1 is returned; free it with http_response_free either way.
int http_request(const char *method, const char *url, const HttpOptions *o, const char *body,
                 size_t body_len, HttpResponse *r, char *err, size_t errlen);

// GET url into the file at path.  resume=1 and path already holding N > 0 bytes: asks
// for "Range: bytes=N-"; a 206 whose Content-Range starts at N is appended (r->offset = N),
// a 200 rewrites the file from the start (r->offset = 0, r->range_ignored = 1), a 206 at
// another offset is an error, and 416 (range not satisfiable) restarts the download once
// from scratch.  resume=0 (or no file): the file is created or truncated when the first
// 2xx byte arrives.  A non-2xx status leaves the file untouched: 0 with r->status, the
// error body in r->body.  A transfer cut midway leaves what arrived in the file (resume
// from it) and returns -1.
int http_download(const char *url, const char *path, int resume, const HttpOptions *o,
                  HttpResponse *r, char *err, size_t errlen);

// POST json (len bytes) with "Content-Type: application/json" plus o->headers; the reply
// body lands in r->body.  Same return convention as http_request.
int http_post_json(const char *url, const char *json, size_t len, const HttpOptions *o,
                   HttpResponse *r, char *err, size_t errlen);

// Is this status worth retrying (408, 409, 429 and 5xx)?
int http_status_retryable(long status);
// Is this failed exchange (r after a -1) a transient network failure worth retrying:
// connection cut or reset, empty reply, timeout or stall?  Refused connections and DNS
// or TLS failures are not.
int http_transport_retryable(const HttpResponse *r);
// Seconds to wait before retry number `attempt` (0-based): the server's "retry-after-ms"
// or "Retry-After" (seconds or an HTTP date) header when present and sane (≤ max_s),
// otherwise min(base_s * 2^attempt, max_s) scaled by (0.75 + 0.5 * jitter01), where
// jitter01 ∈ [0, 1) is drawn by the caller (keeps this function deterministic).
double http_retry_delay(const HttpResponse *r, int attempt, double base_s, double max_s,
                        double jitter01);

// The URL without its query string and fragment, for messages (malloc'd).
char *http_url_for_message(const char *url);
// Resolves a Location header against the URL it came from: absolute URLs are returned
// as is, "//host/p" takes the scheme, "/p" the origin, "p" the directory.  Malloc'd.
char *http_url_resolve(const char *base, const char *location);
// Do two absolute http(s) URLs share scheme, host and port (default ports filled in)?
int http_same_origin(const char *a, const char *b);
// Percent-encodes s; bytes in [A-Za-z0-9._~-] and in `safe` pass through.  Malloc'd.
char *http_url_quote(const char *s, const char *safe);

#endif
