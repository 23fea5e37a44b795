// http: libcurl helpers; see http.h.
#include "io/http.h"
#include "base/util.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define HTTP_USER_AGENT  "autointerp/0.1"
#define DEFAULT_MAX_BODY ((size_t)64 << 20)
#define ERROR_BODY_MAX   ((size_t)64 << 10)

// ----------------------------------------------------------------------------
// global init, once per process

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static CURLcode http_init_rc;

static void http_global_cleanup(void) { curl_global_cleanup(); }

static void http_global_init(void) {
    http_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (http_init_rc == CURLE_OK) atexit(http_global_cleanup);
}

static int http_ready(char *err, size_t errlen) {
    pthread_once(&http_once, http_global_init);
    if (http_init_rc != CURLE_OK)
        return fail(err, errlen, "libcurl initialisation failed: %s",
                    curl_easy_strerror(http_init_rc));
    return 0;
}

// ----------------------------------------------------------------------------
// headers

const char *http_header_get(const HttpHeaders *h, const char *name) {
    for (int i = 0; i < h->n; i++)
        if (strcasecmp(h->items[i].name, name) == 0) return h->items[i].value;
    return NULL;
}

void http_headers_free(HttpHeaders *h) {
    for (int i = 0; i < h->n; i++) {
        free(h->items[i].name);
        free(h->items[i].value);
    }
    free(h->items);
    h->items = NULL;
    h->n = h->cap = 0;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

void http_headers_add_line(HttpHeaders *h, const char *line, size_t n) {
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {   // a new response begins
        http_headers_free(h);
        return;
    }
    // NUL is never valid in a field (RFC 9110 5.5); it would cut the name or value short.
    if (memchr(line, '\0', n)) return;
    const char *colon = memchr(line, ':', n);
    if (!colon || colon == line || h->n >= HTTP_MAX_HEADERS) return;
    size_t nlen = (size_t)(colon - line);
    while (nlen > 0 && is_space(line[nlen - 1])) nlen--;
    if (nlen == 0 || is_space(line[0])) return;   // obsolete folded line: ignore
    const char *v = colon + 1, *end = line + n;
    while (v < end && is_space(*v)) v++;
    while (end > v && is_space(end[-1])) end--;
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 16;
        h->items = xrealloc(h->items, (size_t)h->cap * sizeof *h->items);
    }
    h->items[h->n].name = xstrndup(line, nlen);
    h->items[h->n].value = xstrndup(v, (size_t)(end - v));
    h->n++;
}

void http_response_free(HttpResponse *r) {
    http_headers_free(&r->headers);
    free(r->body);
    free(r->url);
    memset(r, 0, sizeof *r);
}

// ----------------------------------------------------------------------------
// URLs

char *http_url_for_message(const char *url) { return xstrndup(url, strcspn(url, "?#")); }

// Length of "scheme:" at the start of s, or 0 when s has no scheme.
static size_t scheme_len(const char *s) {
    if (!isalpha((unsigned char)s[0])) return 0;
    size_t i = 1;
    while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.') i++;
    return s[i] == ':' ? i + 1 : 0;
}

// Length of "scheme://authority" at the start of an absolute URL (0 when not one).
static size_t origin_len(const char *url) {
    size_t s = scheme_len(url);
    if (s == 0 || strncmp(url + s, "//", 2) != 0) return 0;
    return s + 2 + strcspn(url + s + 2, "/?#");
}

char *http_url_resolve(const char *base, const char *location) {
    if (scheme_len(location) > 0) return xstrdup(location);
    size_t blen = strlen(base), llen = strlen(location);
    size_t keep;
    if (strncmp(location, "//", 2) == 0) keep = scheme_len(base);
    else if (location[0] == '/') keep = origin_len(base);
    else if (location[0] == '?' || location[0] == '#' || location[0] == '\0')
        keep = strcspn(base, location[0] == '#' ? "#" : "?#");
    else {   // relative path: the base's directory
        size_t path_end = strcspn(base, "?#"), o = origin_len(base);
        keep = path_end;
        while (keep > o && base[keep - 1] != '/') keep--;
        if (keep == o) {   // no path at all: "http://h" + "/" + location
            char *u = xmalloc(o + 1 + llen + 1);
            memcpy(u, base, o);
            u[o] = '/';
            memcpy(u + o + 1, location, llen + 1);
            return u;
        }
    }
    if (keep > blen) keep = blen;
    char *u = xmalloc(keep + llen + 1);
    memcpy(u, base, keep);
    memcpy(u + keep, location, llen + 1);
    return u;
}

// Splits an absolute http(s) URL's origin into lowercase scheme, host and port.
static int origin_parse(const char *url, char *scheme, size_t sn, char *host, size_t hn,
                        long *port) {
    size_t s = scheme_len(url), o = origin_len(url);
    if (s < 2 || o == 0 || s - 1 >= sn) return -1;
    for (size_t i = 0; i < s - 1; i++) scheme[i] = (char)tolower((unsigned char)url[i]);
    scheme[s - 1] = '\0';
    int https = strcmp(scheme, "https") == 0;
    if (!https && strcmp(scheme, "http") != 0) return -1;
    const char *a = url + s + 2, *end = url + o;
    const char *at = memchr(a, '@', (size_t)(end - a));
    if (at) a = at + 1;   // drop userinfo
    const char *hend = end, *colon = NULL;
    if (*a == '[') {   // [IPv6]
        const char *rb = memchr(a, ']', (size_t)(end - a));
        if (!rb) return -1;
        hend = rb + 1;
        if (hend < end && *hend == ':') colon = hend;
    } else {
        colon = memchr(a, ':', (size_t)(end - a));
        if (colon) hend = colon;
    }
    size_t hl = (size_t)(hend - a);
    if (hl == 0 || hl >= hn) return -1;
    for (size_t i = 0; i < hl; i++) host[i] = (char)tolower((unsigned char)a[i]);
    host[hl] = '\0';
    *port = https ? 443 : 80;
    if (colon && colon + 1 < end) {
        char *pe;
        long p = strtol(colon + 1, &pe, 10);
        if (pe != end || p <= 0 || p > 65535) return -1;
        *port = p;
    }
    return 0;
}

int http_same_origin(const char *a, const char *b) {
    char sa[8], sb[8], ha[256], hb[256];
    long pa, pb;
    if (origin_parse(a, sa, sizeof sa, ha, sizeof ha, &pa) != 0) return 0;
    if (origin_parse(b, sb, sizeof sb, hb, sizeof hb, &pb) != 0) return 0;
    return strcmp(sa, sb) == 0 && strcmp(ha, hb) == 0 && pa == pb;
}

char *http_url_quote(const char *s, const char *safe) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = xmalloc(3 * n + 1), *p = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '.' || c == '_' || c == '~' || c == '-' || (c && strchr(safe, c))) {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return out;
}

// ----------------------------------------------------------------------------
// one transfer: where the body goes, progress

typedef struct {
    CURL *curl;
    HttpResponse *r;
    // body in memory
    size_t max_body;
    int truncate_body;   // keep the first max_body bytes instead of failing
    int too_large;
    size_t cap;
    // body into a file (http_download)
    const char *path;   // NULL: memory transfer
    FILE *f;
    char *fbuf;         // f's buffer (huge_write_buffer), freed after fclose
    long long offset;   // resume offset asked for
    int decided;        // status examined and destination chosen
    int to_file;
    char ioerr[512];
    // stall detection: no byte either way for stall_s seconds aborts the exchange
    long stall_s;
    double last_activity;
    curl_off_t last_dl, last_ul;
    int stalled;
    // progress bar
    int progress;
    const char *label;
    double start, last_draw;
    int drawn;
} Transfer;

static void body_append(Transfer *t, const char *p, size_t n) {
    HttpResponse *r = t->r;
    if (r->body_len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < r->body_len + n + 1) cap *= 2;
        r->body = xrealloc(r->body, cap);
        t->cap = cap;
    }
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
}

// Start offset of "bytes START-END/TOTAL", or -1.
static long long content_range_start(const char *v) {
    if (!v || strncasecmp(v, "bytes", 5) != 0) return -1;
    v += 5;
    while (*v == ' ') v++;
    if (!isdigit((unsigned char)*v)) return -1;
    errno = 0;
    char *end;
    long long start = strtoll(v, &end, 10);
    if (errno || *end != '-') return -1;
    return start;
}

// First body byte of a download (or its end when the body is empty): choose the
// destination from the status.  0, or -1 with t->ioerr set.
static int transfer_decide(Transfer *t) {
    HttpResponse *r = t->r;
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    t->decided = 1;
    if (status < 200 || status > 299) {   // error body: memory, truncated
        t->to_file = 0;
        t->max_body = ERROR_BODY_MAX;
        t->truncate_body = 1;
        return 0;
    }
    const char *mode = "wb";
    r->offset = 0;
    if (status == 206) {
        long long start = content_range_start(http_header_get(&r->headers, "Content-Range"));
        if (t->offset == 0 || start != t->offset) {
            snprintf(t->ioerr, sizeof t->ioerr,
                     "server answered 206 from byte %lld, asked for %lld", start, t->offset);
            return -1;
        }
        mode = "ab";
        r->offset = t->offset;
    } else if (t->offset > 0) {
        r->range_ignored = 1;   // full content instead of the rest: restart
    }
    t->f = fopen(t->path, mode);
    if (!t->f) {
        snprintf(t->ioerr, sizeof t->ioerr, "%s: %s", t->path, strerror(errno));
        return -1;
    }
    t->fbuf = huge_write_buffer(t->f);   // a checkpoint cached in huge folios (util.h)
    t->to_file = 1;
    return 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *userdata) {
    Transfer *t = userdata;
    size_t n = size * nmemb;
    if (t->path && !t->decided && transfer_decide(t) != 0) return 0;
    t->r->received += (long long)n;
    if (t->to_file) {
        if (fwrite(p, 1, n, t->f) != n) {
            snprintf(t->ioerr, sizeof t->ioerr, "%s: write error: %s", t->path, strerror(errno));
            return 0;
        }
        return n;
    }
    if (t->r->body_len + n > t->max_body) {
        if (!t->truncate_body) {
            t->too_large = 1;
            return 0;
        }
        n = t->max_body - t->r->body_len;
        body_append(t, p, n);
        return size * nmemb;
    }
    body_append(t, p, n);
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *userdata) {
    Transfer *t = userdata;
    http_headers_add_line(&t->r->headers, p, size * nmemb);
    return size * nmemb;
}

static void format_bytes(char *out, size_t n, double b) {
    if (b >= 1e9) snprintf(out, n, "%.2f GB", b / 1e9);
    else if (b >= 1e6) snprintf(out, n, "%.1f MB", b / 1e6);
    else if (b >= 1e3) snprintf(out, n, "%.1f kB", b / 1e3);
    else snprintf(out, n, "%.0f B", b);
}

static void progress_draw(Transfer *t, double total, double done, double now) {
    char d[32], tot[32], rate[32];
    double secs = now - t->start;
    format_bytes(d, sizeof d, done);
    format_bytes(rate, sizeof rate, secs > 0 ? (done - (double)t->r->offset) / secs : 0);
    if (total > 0) {
        int width = 24, fill = (int)(width * (done / total));
        if (fill > width) fill = width;
        char bar[32];
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, '.', (size_t)(width - fill));
        bar[width] = '\0';
        format_bytes(tot, sizeof tot, total);
        fprintf(stderr, "\r%-28.28s %3d%% [%s] %s / %s  %s/s   ", t->label,
                (int)(100 * done / total), bar, d, tot, rate);
    } else {
        fprintf(stderr, "\r%-28.28s %s  %s/s   ", t->label, d, rate);
    }
    fflush(stderr);
    t->drawn = 1;
    t->last_draw = now;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
    (void)ultotal;
    Transfer *t = userdata;
    double now = now_seconds();
    if (dlnow != t->last_dl || ulnow != t->last_ul) {
        t->last_dl = dlnow;
        t->last_ul = ulnow;
        t->last_activity = now;
    } else if (t->stall_s > 0 && now - t->last_activity > (double)t->stall_s) {
        t->stalled = 1;
        return 1;   // abort: CURLE_ABORTED_BY_CALLBACK
    }
    if (!t->progress || dlnow == 0 || now - t->last_draw < 0.1) return 0;
    double base = t->to_file ? (double)t->r->offset : 0;
    progress_draw(t, dltotal > 0 ? base + (double)dltotal : 0, base + (double)dlnow, now);
    return 0;
}

static void progress_end(Transfer *t) {
    if (!t->drawn && t->r->received == 0) return;
    curl_off_t len = -1;
    curl_easy_getinfo(t->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    double base = t->to_file ? (double)t->r->offset : 0;
    progress_draw(t, len > 0 ? base + (double)len : 0, base + (double)t->r->received,
                  now_seconds());
    fputc('\n', stderr);
}

// ----------------------------------------------------------------------------
// the exchange

static struct curl_slist *headers_build(const HttpOptions *o, const char *const *more) {
    struct curl_slist *l = NULL;
    const char *const *lists[2] = {more, o->headers};
    for (int k = 0; k < 2; k++)
        for (const char *const *h = lists[k]; h && *h; h++) {
            struct curl_slist *n = curl_slist_append(l, *h);
            if (!n) {
                fprintf(stderr, "%s: out of memory building request headers\n", util_progname);
                abort();
            }
            l = n;
        }
    return l;
}

// The CA certificate file the user named, or NULL for libcurl's default store.
static const char *ca_bundle(const char **var) {
    static const char *const vars[] = {"CURL_CA_BUNDLE", "SSL_CERT_FILE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            if (var) *var = vars[i];
            return v;
        }
    }
    return NULL;
}

static void options_apply(CURL *c, const HttpOptions *o, Transfer *t, char *errbuf) {
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, HTTP_USER_AGENT);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
                     o->connect_timeout_s > 0 ? o->connect_timeout_s : 10L);
    if (o->total_timeout_s > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT, o->total_timeout_s);
    const char *ca = ca_bundle(NULL);
    if (ca) curl_easy_setopt(c, CURLOPT_CAINFO, ca);   // verification stays on: another trust root
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, o->follow_redirects ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);   // stall detection and the bar
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
}

static int curl_code_is_tls(CURLcode rc) {
    switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS: return 1;
    default: return 0;
    }
}

// A plain sentence for the failures users meet (DNS, refused, TLS), with curl's own words
// in parentheses; host: the host (and port) the exchange was talking to.
static void transport_explain(CURLcode rc, const char *host, const char *detail, char *out,
                              size_t n) {
    const char *var = NULL, *ca = ca_bundle(&var);
    char in_use[300] = "";
    if (ca) snprintf(in_use, sizeof in_use, " (%s=%s now)", var, ca);
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(out, n, "the host name %s could not be resolved (no DNS answer)", host);
        break;
    case CURLE_COULDNT_RESOLVE_PROXY:
        snprintf(out, n,
                 "the proxy's host name could not be resolved (%s); check http_proxy, "
                 "https_proxy and ALL_PROXY",
                 detail);
        break;
    case CURLE_COULDNT_CONNECT:
        snprintf(out, n, "could not connect to %s (%s)", host, detail);
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
        snprintf(
            out, n,
            "the TLS certificate of %s could not be verified (%s); certificates are always "
            "verified: add the server's CA certificate to the system store, or name a CA file in "
            "CURL_CA_BUNDLE%s",
            host, detail, in_use);
        break;
    case CURLE_SSL_CACERT_BADFILE:
        snprintf(out, n, "the CA certificates could not be read (%s)%s", detail, in_use);
        break;
    case CURLE_SSL_CONNECT_ERROR:
        snprintf(out, n, "the TLS handshake with %s failed (%s): is it an https server?", host,
                 detail);
        break;
    default:
        if (curl_code_is_tls(rc)) snprintf(out, n, "TLS error with %s (%s)", host, detail);
        else snprintf(out, n, "%s", detail);
    }
}

// The message of a failed exchange: "GET url: what happened".  where: the URL the failure
// happened at (after redirects), for the host name.
static int transport_fail(const char *method, const char *url, const char *where, CURLcode rc,
                          const char *errbuf, const Transfer *t, char *err, size_t errlen) {
    char *u = http_url_for_message(url);
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    char scheme[8], name[256], host[280], what[1536];
    long port;
    if (origin_parse(where ? where : url, scheme, sizeof scheme, name, sizeof name, &port) != 0)
        snprintf(host, sizeof host, "the server");
    else if (rc == CURLE_COULDNT_RESOLVE_HOST) snprintf(host, sizeof host, "%s", name);
    else snprintf(host, sizeof host, "%s:%ld", name, port);
    if (t->stalled)
        fail(err, errlen, "%s %s: transfer stalled (no data for %ld s)", method, u, t->stall_s);
    else if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING)
        fail(err, errlen, "%s %s: connection cut (%s)", method, u, detail);
    else {
        transport_explain(rc, host, detail, what, sizeof what);
        fail(err, errlen, "%s %s: %s", method, u, what);
    }
    free(u);
    return -1;
}

// Runs one exchange; t->path selects a download.  extra: more request headers.
static int transfer_run(const char *method, const char *url, const HttpOptions *o,
                        const char *const *extra, const char *body, size_t body_len, Transfer *t,
                        char *err, size_t errlen) {
    static const HttpOptions none;
    if (!o) o = &none;
    if (http_ready(err, errlen) != 0) return -1;
    CURL *c = curl_easy_init();
    if (!c) return fail(err, errlen, "%s %s: cannot create a libcurl handle", method, url);
    char errbuf[CURL_ERROR_SIZE] = "";
    char range[32];
    t->curl = c;
    t->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
    t->progress = o->progress;
    t->label = o->progress_label ? o->progress_label : "download";
    t->start = t->last_draw = t->last_activity = now_seconds();
    t->stall_s = o->stall_timeout_s == 0 ? 30 : o->stall_timeout_s;
    options_apply(c, o, t, errbuf);
    struct curl_slist *hdrs = headers_build(o, extra);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0) {
        if (strcmp(method, "POST") != 0) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (body || strcmp(method, "POST") == 0) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        }
    }
    if (t->path && t->offset > 0) {
        snprintf(range, sizeof range, "%lld-", t->offset);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }

    CURLcode rc = curl_easy_perform(c);

    HttpResponse *r = t->r;
    if (t->stalled) rc = CURLE_OPERATION_TIMEDOUT;   // reported (and retried) as a timeout
    r->curl_code = (int)rc;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *eff = NULL;
    if (curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff)
        r->url = xstrdup(eff);
    if (rc == CURLE_OK && t->path && !t->decided && strcmp(method, "HEAD") != 0) transfer_decide(t);
    if (t->progress) progress_end(t);
    if (t->f && fclose(t->f) != 0 && !t->ioerr[0])
        snprintf(t->ioerr, sizeof t->ioerr, "%s: write error: %s", t->path, strerror(errno));
    t->f = NULL;
    free(t->fbuf);
    t->fbuf = NULL;
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);

    if (t->ioerr[0]) return fail(err, errlen, "%s", t->ioerr);
    if (t->too_large) {
        char *u = http_url_for_message(url);
        fail(err, errlen, "%s %s: response body larger than %zu bytes", method, u, t->max_body);
        free(u);
        return -1;
    }
    if (rc != CURLE_OK) return transport_fail(method, url, r->url, rc, errbuf, t, err, errlen);
    return 0;
}

int http_request(const char *method, const char *url, const HttpOptions *o, const char *body,
                 size_t body_len, HttpResponse *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    Transfer t = {.r = r};
    static const char *const extra[] = {"Expect:", NULL};
    return transfer_run(method, url, o, extra, body, body_len, &t, err, errlen);
}

int http_post_json(const char *url, const char *json, size_t len, const HttpOptions *o,
                   HttpResponse *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    Transfer t = {.r = r};
    static const char *const extra[] = {"Content-Type: application/json",
                                        "Accept: application/json", "Expect:", NULL};
    return transfer_run("POST", url, o, extra, json, len, &t, err, errlen);
}

int http_download(const char *url, const char *path, int resume, const HttpOptions *o,
                  HttpResponse *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    struct stat st;
    long long offset =
        resume && stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : 0;
    Transfer t = {.r = r, .path = path, .offset = offset};
    int rc = transfer_run("GET", url, o, NULL, NULL, 0, &t, err, errlen);
    if (rc == 0 && r->status == 416 && offset > 0) {   // the range does not fit: start over
        http_response_free(r);
        Transfer again = {.r = r, .path = path};
        rc = transfer_run("GET", url, o, NULL, NULL, 0, &again, err, errlen);
    }
    return rc;
}

// ----------------------------------------------------------------------------
// retry policy

int http_status_retryable(long status) {
    return status == 408 || status == 409 || status == 429 || (status >= 500 && status <= 599);
}

int http_transport_retryable(const HttpResponse *r) {
    switch ((CURLcode)r->curl_code) {
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return 1;
    default: return 0;
    }
}

// A non-negative decimal number (fraction allowed) filling all of s, or -1.
static double parse_seconds(const char *s) {
    if (!s || !isdigit((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ') end++;
    if (errno || *end != '\0' || !isfinite(v) || v < 0) return -1;
    return v;
}

double http_retry_delay(const HttpResponse *r, int attempt, double base_s, double max_s,
                        double jitter01) {
    if (r) {
        double ms = parse_seconds(http_header_get(&r->headers, "retry-after-ms"));
        if (ms >= 0 && ms / 1000 <= max_s) return ms / 1000;
        const char *ra = http_header_get(&r->headers, "Retry-After");
        double s = parse_seconds(ra);
        if (s < 0 && ra) {   // an HTTP date
            time_t when = curl_getdate(ra, NULL);
            if (when != -1) {
                s = difftime(when, time(NULL));
                if (s < 0) s = 0;
            }
        }
        if (s >= 0 && s <= max_s) return s;
    }
    double d = base_s;
    for (int i = 0; i < attempt && d < max_s; i++) d *= 2;
    if (d > max_s) d = max_s;
    if (jitter01 < 0) jitter01 = 0;
    if (jitter01 >= 1) jitter01 = 1;
    return d * (0.75 + 0.5 * jitter01);
}
