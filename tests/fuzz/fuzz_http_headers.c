// fuzz_http_headers: what the hub and the LLM client make of a server's headers and
// redirects (common/io/http, common/io/hub).  The input is split at '\n': line 1 is a base URL,
// line 2 a Location, every line (the first two included) is also fed to
// http_headers_add_line as a raw header line with its "\r\n".  Properties:
//   - every kept header has a nonempty name without surrounding space, at most
//     HTTP_MAX_HEADERS are kept, http_header_get finds the first of each name;
//   - hub_meta_from_headers, when it accepts, gives a commit and an etag that are safe
//     single file names ([A-Za-z0-9._-]{1,128}, not starting with '.'): they become
//     cache paths, so anything else would let a server write outside the cache;
//   - hub_etag_normalize of each value: the same rule;
//   - http_retry_delay is within [0, 1.25 max] for any Retry-After / retry-after-ms
//     (a server's value is honoured up to max; the backoff is capped at max, then +-25 %);
//   - http_url_resolve: an absolute Location is returned as is; the result always
//     ends with the Location;
//   - http_url_quote leaves only [A-Za-z0-9._~-], the safe set and %XX;
//   - hub_filename_valid / hub_revision_valid / hub_repo_id_valid never accept a name
//     with a "." or ".." component or a leading '/', and hub_repo_dir of a valid repo id
//     stays one folder below the root.
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "io/http.h"
#include "io/hub.h"

static int safe_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '.') return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i])) return 0;
    return 1;
}

static int has_dot_component(const char *s) {
    for (const char *p = s;;) {
        size_t len = strcspn(p, "/");
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) return 1;
        if (!p[len]) return 0;
        p += len + 1;
    }
}

static void check_names(const char *s) {
    if (hub_filename_valid(s) || hub_revision_valid(s))
        FUZZ_REQUIRE(s[0] != '/' && !has_dot_component(s) && !strchr(s, '\\'),
                     "unsafe relative path accepted: %s", s);
    if (hub_repo_id_valid(s)) {
        FUZZ_REQUIRE(!has_dot_component(s) && s[0] != '/', "unsafe repo id accepted: %s", s);
        char *dir = hub_repo_dir("/root", s);
        FUZZ_REQUIRE(strncmp(dir, "/root/models--", 14) == 0 && !strchr(dir + 6, '/') &&
                         strcmp(dir + 6, "..") != 0,
                     "repo dir %s", dir);
        char *url = hub_file_url("https://h", s, "main", "config.json");
        FUZZ_REQUIRE(strncmp(url, "https://h/", 10) == 0, "file url");
        free(url);
        free(dir);
    }
    char *q = http_url_quote(s, "/");
    for (const char *p = q; *p; p++) {
        if (*p == '%') {
            FUZZ_REQUIRE(isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]),
                         "bad escape in %s", q);
            p += 2;
        } else {
            FUZZ_REQUIRE(isalnum((unsigned char)*p) || strchr("._~-/", *p), "unquoted byte in %s",
                         q);
        }
    }
    free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    HttpHeaders h = {0};
    char *lines[3] = {NULL, NULL, NULL};
    int nl = 0;
    for (size_t i = 0; i <= size;) {
        const char *end = memchr(text + i, '\n', size - i);
        size_t e = end ? (size_t)(end - text) : size;
        char *raw = malloc(e - i + 3);
        memcpy(raw, text + i, e - i);
        memcpy(raw + (e - i), "\r\n", 3);
        http_headers_add_line(&h, raw, e - i + 2);
        if (nl < 3) lines[nl++] = strndup(text + i, e - i);   // up to a NUL, as C strings go
        free(raw);
        i = e + 1;
    }
    FUZZ_REQUIRE(h.n >= 0 && h.n <= HTTP_MAX_HEADERS && h.n <= h.cap, "header count %d", h.n);
    for (int i = 0; i < h.n; i++) {
        const char *nm = h.items[i].name, *v = h.items[i].value;
        size_t nn = strlen(nm), vn = strlen(v);
        FUZZ_REQUIRE(nn > 0 && !strchr(" \t\r\n", nm[0]) && !strchr(" \t\r\n", nm[nn - 1]),
                     "name [%s]", nm);
        FUZZ_REQUIRE(vn == 0 || (!strchr(" \t\r\n", v[0]) && !strchr(" \t\r\n", v[vn - 1])),
                     "value [%s]", v);
        const char *first = http_header_get(&h, nm);
        FUZZ_REQUIRE(first != NULL, "header %s not found", nm);
        char etag[129];
        if (hub_etag_normalize(v, etag, sizeof etag) == 0)
            FUZZ_REQUIRE(safe_name(etag), "etag %s", etag);
    }
    HubFileMeta m;
    char err[256];
    if (hub_meta_from_headers(&h, &m, err, sizeof err) == 0) {
        FUZZ_REQUIRE(safe_name(m.commit) && safe_name(m.etag),
                     "unsafe cache names: commit [%s] etag [%s]", m.commit, m.etag);
        FUZZ_REQUIRE(m.size >= -1, "size %lld", m.size);
    } else {
        FUZZ_REQUIRE(err[0], "refusal without a message");
    }
    HttpResponse r = {0};
    r.headers = h;
    for (int attempt = 0; attempt < 40; attempt += 13) {
        double d = http_retry_delay(&r, attempt, 0.5, 60, 0.999);
        FUZZ_REQUIRE(d >= 0 && d <= 60 * 1.25, "retry delay %g", d);
    }
    if (lines[0] && lines[1]) {
        char *u = http_url_resolve(lines[0], lines[1]);
        size_t ul = strlen(u), ll = strlen(lines[1]);
        FUZZ_REQUIRE(ul >= ll && strcmp(u + ul - ll, lines[1]) == 0,
                     "resolved %s does not end with %s", u, lines[1]);
        char *msg = http_url_for_message(u);
        FUZZ_REQUIRE(!strpbrk(msg, "?#"), "message URL keeps a query");
        free(msg);
        (void)http_same_origin(lines[0], u);
        FUZZ_REQUIRE(http_same_origin(lines[0], lines[1]) == http_same_origin(lines[1], lines[0]),
                     "same_origin symmetric");
        free(u);
    }
    for (int i = 0; i < nl; i++) {
        check_names(lines[i]);
        free(lines[i]);
    }
    http_headers_free(&h);
    free(text);
    return 0;
}
