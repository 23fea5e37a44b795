// hub: model names → local directories through the Hugging Face cache; see hub.h.
#include "io/hub.h"
#include "base/util.h"
#include "io/sha256.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// config.json, model.safetensors, vocab.json, merges.txt
static const char *const hub_default_files[] = {"config.json", "model.safetensors", "vocab.json",
                                                "merges.txt"};

#define DOWNLOAD_ATTEMPTS 5    // tries per blob; each resumes what the last one left
#define META_ATTEMPTS     3    // tries per metadata request on 429/5xx or a cut connection
#define MAX_HOPS          10   // redirects followed while looking for a file's metadata

// ----------------------------------------------------------------------------
// names

static const struct {
    const char *name, *repo;
} aliases[] = {
    {"gpt2", "openai-community/gpt2"},
    {"gpt2-medium", "openai-community/gpt2-medium"},
    {"gpt2-large", "openai-community/gpt2-large"},
    {"gpt2-xl", "openai-community/gpt2-xl"},
    {"distilgpt2", "distilbert/distilgpt2"},
};
#define NALIASES (int)(sizeof aliases / sizeof *aliases)

const char *hub_alias(const char *name) {
    for (int i = 0; i < NALIASES; i++)
        if (strcmp(aliases[i].name, name) == 0) return aliases[i].repo;
    return NULL;
}

const char *hub_alias_other(const char *repo) {
    for (int i = 0; i < NALIASES; i++) {
        if (strcmp(aliases[i].name, repo) == 0) return aliases[i].repo;
        if (strcmp(aliases[i].repo, repo) == 0) return aliases[i].name;
    }
    return NULL;
}

static int is_word(char c) { return isalnum((unsigned char)c) || c == '_'; }

// One part of a repo id: [A-Za-z0-9._-]+ starting and ending with [A-Za-z0-9_].
static int repo_part_valid(const char *s, size_t n) {
    if (n == 0 || !is_word(s[0]) || !is_word(s[n - 1])) return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_word(s[i]) && s[i] != '-' && s[i] != '.') return 0;
    return 1;
}

int hub_repo_id_valid(const char *repo) {
    size_t n = strlen(repo);
    if (n == 0 || n > 96 || strstr(repo, "--") || strstr(repo, "..")) return 0;
    if (n >= 4 && strcmp(repo + n - 4, ".git") == 0) return 0;
    const char *slash = strchr(repo, '/');
    if (!slash) return repo_part_valid(repo, n);
    if (strchr(slash + 1, '/')) return 0;
    return repo_part_valid(repo, (size_t)(slash - repo)) &&
           repo_part_valid(slash + 1, n - (size_t)(slash - repo) - 1);
}

// A '/'-separated relative path of printable, non-space characters without empty, "."
// or ".." components.
static int rel_path_valid(const char *s, size_t maxlen) {
    size_t n = strlen(s);
    if (n == 0 || n > maxlen || s[0] == '/' || s[n - 1] == '/') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 127 || c == '\\') return 0;
    }
    for (const char *p = s; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += len;
        if (*p == '/') p++;
    }
    return 1;
}

int hub_revision_valid(const char *rev) { return rel_path_valid(rev, 256); }
int hub_filename_valid(const char *file) { return rel_path_valid(file, 1024); }

// A single path component safe to use as a file name: [A-Za-z0-9._-]{1,128}, no leading '.'.
static int safe_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '.') return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-') return 0;
    return 1;
}

int hub_etag_normalize(const char *raw, char *out, size_t outlen) {
    if (!raw) return -1;
    while (*raw == ' ') raw++;
    if (strncmp(raw, "W/", 2) == 0) raw += 2;
    size_t n = strlen(raw);
    while (n > 0 && raw[n - 1] == ' ') n--;
    if (n >= 2 && raw[0] == '"' && raw[n - 1] == '"') {
        raw++;
        n -= 2;
    }
    if (n == 0 || n >= outlen) return -1;
    memcpy(out, raw, n);
    out[n] = '\0';
    return safe_name(out) ? 0 : -1;
}

// ----------------------------------------------------------------------------
// environment

static const char *env_nonempty(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static const char *home_dir(void) {
    const char *h = env_nonempty("HOME");
    if (h) return h;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir ? pw->pw_dir : "/";
}

// "~" and "~/x" → $HOME…; anything else copied.
static char *expand_user(const char *p) {
    if (p[0] == '~' && (p[1] == '\0' || p[1] == '/'))
        return path_join(home_dir(), p[1] ? p + 2 : "");
    return xstrdup(p);
}

// $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
static char *hf_home(void) {
    const char *v = env_nonempty("HF_HOME");
    if (v) return expand_user(v);
    const char *xdg = env_nonempty("XDG_CACHE_HOME");
    char *cache = xdg ? expand_user(xdg) : path_join(home_dir(), ".cache");
    char *home = path_join(cache, "huggingface");
    free(cache);
    return home;
}

char *hub_cache_root(void) {
    const char *v = env_nonempty("HF_HUB_CACHE");
    if (!v) v = env_nonempty("HUGGINGFACE_HUB_CACHE");
    if (v) return expand_user(v);
    char *home = hf_home();
    char *root = path_join(home, "hub");
    free(home);
    return root;
}

char *hub_endpoint(void) {
    const char *v = env_nonempty("HF_ENDPOINT");
    if (!v) v = "https://huggingface.co";
    size_t n = strlen(v);
    while (n > 1 && v[n - 1] == '/') n--;
    return xstrndup(v, n);
}

static int truthy(const char *v) {
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
                 strcasecmp(v, "on") == 0);
}

int hub_offline_env(void) { return truthy(getenv("HF_HUB_OFFLINE")); }

// Trims whitespace; NULL (and wiped) when empty or holding control characters.
static char *token_clean(char *t) {
    if (!t) return NULL;
    size_t n = strlen(t), b = 0;
    while (b < n && isspace((unsigned char)t[b])) b++;
    while (n > b && isspace((unsigned char)t[n - 1])) n--;
    int ok = n > b;
    for (size_t i = b; i < n; i++)
        if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f) ok = 0;
    char *clean = ok ? xstrndup(t + b, n - b) : NULL;
    explicit_bzero(t, strlen(t));
    free(t);
    return clean;
}

char *hub_token(void) {
    const char *v = env_nonempty("HF_TOKEN");
    if (v) return token_clean(xstrdup(v));
    const char *p = env_nonempty("HF_TOKEN_PATH");
    char *path;
    if (p) {
        path = expand_user(p);
    } else {
        char *home = hf_home();
        path = path_join(home, "token");
        free(home);
    }
    char *t = is_file(path) ? read_file(path, NULL) : NULL;
    free(path);
    return token_clean(t);
}

// A positive number of seconds from the environment, else def.
static long env_seconds(const char *name, long def) {
    const char *v = env_nonempty(name);
    if (!v) return def;
    char *end;
    double s = strtod(v, &end);
    if (*end != '\0' || !(s > 0) || s > 86400) return def;
    return s < 1 ? 1 : (long)(s + 0.5);
}

// ----------------------------------------------------------------------------
// cache

char *hub_repo_dir(const char *root, const char *repo) {
    size_t n = strlen(repo);
    char *folder = xmalloc(8 + 2 * n + 1), *p = folder;
    memcpy(p, "models--", 8);
    p += 8;
    for (size_t i = 0; i < n; i++) {
        if (repo[i] == '/') {
            *p++ = '-';
            *p++ = '-';
        } else *p++ = repo[i];
    }
    *p = '\0';
    char *dir = path_join(root, folder);
    free(folder);
    return dir;
}

// The commit a revision resolves to in a repo folder (malloc'd), or NULL.
static char *cache_commit(const char *repo_dir, const char *revision) {
    char *refs = path_join(repo_dir, "refs");
    char *ref = path_join(refs, revision);
    free(refs);
    char *commit = is_file(ref) ? read_file(ref, NULL) : NULL;
    free(ref);
    if (commit) {
        size_t n = strlen(commit);
        while (n > 0 && isspace((unsigned char)commit[n - 1])) commit[--n] = '\0';
        if (safe_name(commit)) return commit;
        free(commit);
        return NULL;
    }
    if (!safe_name(revision)) return NULL;   // a commit names a snapshot directly
    char *snaps = path_join(repo_dir, "snapshots");
    char *snap = path_join(snaps, revision);
    int found = is_dir(snap);
    free(snaps);
    free(snap);
    return found ? xstrdup(revision) : NULL;
}

// Appends ", name" (or "name") to a malloc'd list.
static void list_add(char **list, const char *name) {
    size_t old = *list ? strlen(*list) : 0, n = strlen(name);
    *list = xrealloc(*list, old + 2 + n + 1);
    if (old) memcpy(*list + old, ", ", 2), old += 2;
    memcpy(*list + old, name, n + 1);
}

// Comma-separated names of the files missing from dir (malloc'd), or NULL when none.
static char *files_missing(const char *dir, const char *const *files, int nfiles) {
    char *missing = NULL;
    for (int i = 0; i < nfiles; i++) {
        char *p = path_join(dir, files[i]);
        if (!is_file(p)) list_add(&missing, files[i]);
        free(p);
    }
    return missing;
}

char *hub_cache_lookup(const char *root, const char *repo, const char *revision,
                       const char *const *files, int nfiles, char **missing) {
    if (missing) *missing = NULL;
    char *repo_dir = hub_repo_dir(root, repo);
    char *commit = cache_commit(repo_dir, revision);
    char *snap = NULL;
    if (commit) {
        char *snaps = path_join(repo_dir, "snapshots");
        snap = path_join(snaps, commit);
        free(snaps);
        char *lack = files_missing(snap, files, nfiles);
        if (lack) {
            if (missing) *missing = lack;
            else free(lack);
            free(snap);
            snap = NULL;
        }
    }
    free(commit);
    free(repo_dir);
    return snap;
}

// Writes text to path atomically (temp file + rename), creating parent directories.
static int file_write_atomic(const char *path, const char *text, char *err, size_t errlen) {
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    int ok = !slash || mkdir_p(dir) == 0;
    free(dir);
    if (!ok)
        return fail(err, errlen, "cannot create the directory of %s: %s", path, strerror(errno));
    size_t n = strlen(path) + 32;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int rc = -1;
    if (f) {
        size_t len = strlen(text);
        int bad = fwrite(text, 1, len, f) != len;
        bad |= fclose(f) != 0;
        if (!bad && rename(tmp, path) == 0) rc = 0;
    }
    if (rc != 0) {
        fail(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

// snapshots/<commit>/<file> → ../../blobs/<etag> (one more ../ per directory in file).
static int snapshot_link(const char *repo_dir, const char *commit, const char *file,
                         const char *etag, char *err, size_t errlen) {
    size_t depth = 0;
    for (const char *p = file; *p; p++) depth += *p == '/';
    size_t tlen = 3 * (depth + 2) + 6 + strlen(etag) + 1;
    char *target = xmalloc(tlen), *t = target;
    for (size_t i = 0; i < depth + 2; i++, t += 3) memcpy(t, "../", 3);
    snprintf(t, tlen - (size_t)(t - target), "blobs/%s", etag);

    char *snaps = path_join(repo_dir, "snapshots");
    char *snap = path_join(snaps, commit);
    char *link = path_join(snap, file);
    free(snaps);
    free(snap);
    char *dir = xstrdup(link);
    *strrchr(dir, '/') = '\0';
    int rc = 0;
    char cur[512];
    ssize_t got = readlink(link, cur, sizeof cur - 1);
    if (got >= 0 && (size_t)got == strlen(target) && memcmp(cur, target, (size_t)got) == 0)
        goto done;
    if (mkdir_p(dir) != 0) {
        rc = fail(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        goto done;
    }
    size_t n = strlen(link) + 32;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.tmp.%ld", link, (long)getpid());
    unlink(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, link) != 0) {
        rc = fail(err, errlen, "cannot link %s -> %s: %s", link, target, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
done:
    free(dir);
    free(link);
    free(target);
    return rc;
}

// flock on <root>/.locks/models--ORG--NAME/<etag>.lock; the descriptor, or -1.
static int blob_lock(const char *root, const char *repo, const char *etag, char *err,
                     size_t errlen) {
    char *locks = path_join(root, ".locks");
    char *dir = hub_repo_dir(locks, repo);
    free(locks);
    size_t n = strlen(dir) + strlen(etag) + 8;
    char *path = xmalloc(n);
    snprintf(path, n, "%s/%s.lock", dir, etag);
    int fd = -1;
    if (mkdir_p(dir) == 0) fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail(err, errlen, "cannot open the lock %s: %s", path, strerror(errno));
    else if (flock(fd, LOCK_EX) != 0) {
        fail(err, errlen, "cannot lock %s: %s", path, strerror(errno));
        close(fd);
        fd = -1;
    }
    free(dir);
    free(path);
    return fd;
}

static void blob_unlock(int fd) {
    flock(fd, LOCK_UN);
    close(fd);
}

static long long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
}

// ----------------------------------------------------------------------------
// network

// Parses a non-negative decimal size; -1 when absent or malformed.
static long long parse_size(const char *v) {
    if (!v || !isdigit((unsigned char)*v)) return -1;
    long long s = 0;
    for (; isdigit((unsigned char)*v); v++) {
        if (s > (LLONG_MAX - 9) / 10) return -1;
        s = 10 * s + (*v - '0');
    }
    return *v == '\0' ? s : -1;
}

int hub_meta_from_headers(const HttpHeaders *h, HubFileMeta *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    const char *commit = http_header_get(h, "X-Repo-Commit");
    if (!commit)
        return fail(err, errlen,
                    "the server sent no X-Repo-Commit header: is HF_ENDPOINT a Hugging Face hub?");
    if (strlen(commit) >= sizeof m->commit || !safe_name(commit))
        return fail(err, errlen, "the server sent an unusable X-Repo-Commit header");
    strcpy(m->commit, commit);
    const char *etag = http_header_get(h, "X-Linked-Etag");
    if (!etag) etag = http_header_get(h, "ETag");
    if (!etag)
        return fail(err, errlen,
                    "the server sent no ETag header: is HF_ENDPOINT a Hugging Face hub?");
    if (hub_etag_normalize(etag, m->etag, sizeof m->etag) != 0)
        return fail(err, errlen, "the server sent an unusable ETag header");
    const char *size = http_header_get(h, "X-Linked-Size");
    m->size = parse_size(size ? size : http_header_get(h, "Content-Length"));
    return 0;
}

char *hub_file_url(const char *endpoint, const char *repo, const char *revision, const char *file) {
    char *rev = http_url_quote(revision, "");
    char *f = http_url_quote(file, "/");
    size_t n = strlen(endpoint) + strlen(repo) + strlen(rev) + strlen(f) + 16;
    char *url = xmalloc(n);
    snprintf(url, n, "%s/%s/resolve/%s/%s", endpoint, repo, rev, f);
    free(rev);
    free(f);
    return url;
}

typedef struct {
    const char *root;       // cache root
    const char *repo;       // repo id as asked (its cache folder)
    const char *revision;   // as asked
    char *repo_dir;
    char *endpoint;
    char *auth;   // "Authorization: Bearer …" or NULL (wiped when freed)
    int progress;
    long meta_timeout, stall_timeout;
} Hub;

// Request headers for url: the token only goes to the endpoint's own origin.
static void hub_headers(const Hub *h, const char *url, const char *first, const char *hdr[3]) {
    int k = 0;
    if (first) hdr[k++] = first;
    if (h->auth && http_same_origin(url, h->endpoint)) hdr[k++] = h->auth;
    hdr[k] = NULL;
}

static void sleep_seconds(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

// A value in [0, 1) for backoff jitter: the microseconds of the clock.
static double jitter(void) { return (double)((long long)(now_seconds() * 1e6) % 1000) / 1000.0; }

// A short printable excerpt of an untrusted server text, for messages.
static void excerpt(char *out, size_t n, const char *s) {
    size_t k = 0;
    for (; s && *s && k + 1 < n && k < 160; s++) out[k++] = isprint((unsigned char)*s) ? *s : '?';
    out[k] = '\0';
}

// The message for an HTTP error status on FILE.
static int status_fail(const Hub *h, const char *file, const char *rev, const char *url,
                       const HttpResponse *r, char *err, size_t errlen) {
    char code[64], msg[200], *u = http_url_for_message(url);
    excerpt(code, sizeof code, http_header_get(&r->headers, "X-Error-Code"));
    excerpt(msg, sizeof msg, http_header_get(&r->headers, "X-Error-Message"));
    char detail[300];
    snprintf(detail, sizeof detail, "HTTP %ld%s%s%s%s", r->status, code[0] ? " " : "", code,
             msg[0] ? ": " : "", msg);
    if (strcmp(code, "RepoNotFound") == 0)
        fail(err, errlen,
             "repository %s not found at %s (%s); check the name, or set HF_TOKEN if it is private",
             h->repo, h->endpoint, detail);
    else if (strcmp(code, "RevisionNotFound") == 0)
        fail(err, errlen, "%s has no revision '%s' (%s); check the revision", h->repo, rev, detail);
    else if (strcmp(code, "EntryNotFound") == 0 || (r->status == 404 && !code[0]))
        fail(err, errlen, "%s has no file %s at revision '%s' (%s, %s)", h->repo, file, rev, detail,
             u);
    else if (r->status == 401 || r->status == 403)
        fail(
            err, errlen,
            "access to %s/%s denied (%s): the repository is gated or private; accept its conditions "
            "at %s/%s and set HF_TOKEN to a token with read access%s",
            h->repo, file, detail, h->endpoint, h->repo,
            h->auth ? " (the token that was sent was refused)" : " (no token is set)");
    else fail(err, errlen, "%s/%s: %s from %s", h->repo, file, detail, u);
    free(u);
    return -1;
}

// HEAD the file's URL, following redirects until a response carries the metadata.
// *location: where the content is (the CDN for LFS files), malloc'd.
static int file_meta(Hub *h, const char *rev, const char *file, HubFileMeta *m, char **location,
                     char *err, size_t errlen) {
    char *url = hub_file_url(h->endpoint, h->repo, rev, file);
    HttpOptions o = {.connect_timeout_s = 10, .total_timeout_s = h->meta_timeout};
    HttpResponse r = {0};
    int rc = -1, hops = 0, attempt = 0;
    char neterr[1024];
    for (;;) {
        const char *hdr[3];
        hub_headers(h, url, "Accept-Encoding: identity", hdr);
        o.headers = hdr;
        http_response_free(&r);
        int got = http_request("HEAD", url, &o, NULL, 0, &r, neterr, sizeof neterr);
        int retry = got != 0 ? http_transport_retryable(&r) : http_status_retryable(r.status);
        if (retry && ++attempt < META_ATTEMPTS) {
            sleep_seconds(http_retry_delay(got == 0 ? &r : NULL, attempt - 1, 0.5, 8, jitter()));
            continue;
        }
        if (got != 0) {
            fail(err, errlen,
                 "cannot reach the hub for %s/%s: %s; check the network or HF_ENDPOINT, "
                 "or set HF_HUB_OFFLINE=1 to use only the cache",
                 h->repo, file, neterr);
            break;
        }
        int has_meta = http_header_get(&r.headers, "X-Repo-Commit") ||
                       http_header_get(&r.headers, "X-Linked-Etag");
        if (r.status >= 300 && r.status <= 399) {
            const char *loc = http_header_get(&r.headers, "Location");
            if (!loc || !*loc) {
                fail(err, errlen, "%s/%s: HTTP %ld redirect without a Location", h->repo, file,
                     r.status);
                break;
            }
            char *next = http_url_resolve(url, loc);
            if (has_meta) {   // an LFS file: the content is elsewhere
                *location = next;
                rc = hub_meta_from_headers(&r.headers, m, err, errlen);
                break;
            }
            free(url);   // a move (renamed repo): ask there
            url = next;
            if (++hops > MAX_HOPS) {
                fail(err, errlen, "%s/%s: more than %d redirects", h->repo, file, MAX_HOPS);
                break;
            }
            continue;
        }
        if (r.status >= 200 && r.status <= 299) {
            *location = xstrdup(url);
            rc = hub_meta_from_headers(&r.headers, m, err, errlen);
            break;
        }
        status_fail(h, file, rev, url, &r, err, errlen);
        break;
    }
    if (rc != 0 && *location) {
        free(*location);
        *location = NULL;
    }
    http_response_free(&r);
    free(url);
    return rc;
}

// Checks a finished .incomplete file against the metadata: 0 when good; -1 (message) when
// it must be thrown away.
static int blob_verify(const Hub *h, const char *file, const HubFileMeta *m, const char *path,
                       char *err, size_t errlen) {
    long long size = file_size(path);
    if (m->size >= 0 && size != m->size)
        return fail(err, errlen, "%s/%s: downloaded %lld bytes, the hub announced %lld", h->repo,
                    file, size, m->size);
    if (!sha256_is_hex(m->etag)) return 0;   // git-sha1 etag: size only
    char hex[65];
    if (sha256_file_hex(path, hex, err, errlen) != 0) return -1;
    if (strcasecmp(hex, m->etag) != 0)
        return fail(err, errlen,
                    "%s/%s: checksum mismatch: expected sha256 %s, got %s; the bad "
                    "download was removed, run again to retry",
                    h->repo, file, m->etag, hex);
    return 0;
}

// Transfers location into part, resuming and retrying cut, stalled or refused (429/5xx)
// transfers; 0 once the server has sent the whole content (checked by the caller).
static int part_fetch(Hub *h, const char *file, const HubFileMeta *m, const char *location,
                      const char *part, char *err, size_t errlen) {
    HttpOptions o = {.connect_timeout_s = 10,
                     .stall_timeout_s = h->stall_timeout,
                     .follow_redirects = 1,
                     .progress = h->progress,
                     .progress_label = file};
    const char *hdr[3];
    hub_headers(h, location, NULL, hdr);
    o.headers = hdr;
    for (int attempt = 0;; attempt++) {
        int last = attempt + 1 >= DOWNLOAD_ATTEMPTS;
        if (attempt > 0) sleep_seconds(0.2 * (1 << (attempt - 1)));
        HttpResponse r;
        char neterr[1024];
        int got = http_download(location, part, 1, &o, &r, neterr, sizeof neterr);
        if (got == 0 && r.status >= 200 && r.status <= 299) {
            http_response_free(&r);
            long long have = file_size(part);
            if (m->size < 0 || have >= m->size) return 0;
            if (!last) continue;   // short: resume
            return fail(err, errlen, "downloading %s/%s: the server sent %lld of %lld bytes",
                        h->repo, file, have, m->size);
        }
        int retry = got != 0 ? http_transport_retryable(&r) : http_status_retryable(r.status);
        if (retry && !last) {
            http_response_free(&r);
            continue;
        }
        if (got != 0)
            fail(err, errlen, "downloading %s/%s failed: %s%s", h->repo, file, neterr,
                 retry ? " (gave up after retries; run again to resume)" : "");
        else status_fail(h, file, h->revision, location, &r, err, errlen);
        http_response_free(&r);
        return -1;
    }
}

// Downloads the blob of file into blobs/<etag> through blobs/<etag>.incomplete, which an
// earlier run (ours or huggingface_hub's) may have left: it is resumed.
static int blob_download(Hub *h, const char *file, const HubFileMeta *m, const char *location,
                         const char *blob, char *err, size_t errlen) {
    size_t n = strlen(blob) + 16;
    char *part = xmalloc(n);
    snprintf(part, n, "%s.incomplete", blob);
    long long have = file_size(part);
    int done = 0;
    if (m->size >= 0 && have > m->size) {
        unlink(part);                               // longer than the file: useless
    } else if (m->size >= 0 && have == m->size) {   // complete already: check it
        done = blob_verify(h, file, m, part, err, errlen) == 0;
        if (!done) unlink(part);
    }
    int rc = 0;
    if (!done) {
        rc = part_fetch(h, file, m, location, part, err, errlen);
        if (rc == 0 && blob_verify(h, file, m, part, err, errlen) != 0) {
            unlink(part);   // never keep bad bytes
            rc = -1;
        }
    }
    if (rc == 0 && rename(part, blob) != 0)
        rc = fail(err, errlen, "cannot rename %s: %s", part, strerror(errno));
    free(part);
    return rc;
}

// Makes blobs/<etag> present (downloading it under the lock when missing).
static int blob_ensure(Hub *h, const char *file, const HubFileMeta *m, const char *location,
                       char *err, size_t errlen) {
    char *blobs = path_join(h->repo_dir, "blobs");
    char *blob = path_join(blobs, m->etag);
    int rc = 0;
    if (is_file(blob)) goto done;
    if (mkdir_p(blobs) != 0) {
        rc = fail(err, errlen, "cannot create %s: %s", blobs, strerror(errno));
        goto done;
    }
    int lock = blob_lock(h->root, h->repo, m->etag, err, errlen);
    if (lock < 0) {
        rc = -1;
        goto done;
    }
    if (!is_file(blob)) rc = blob_download(h, file, m, location, blob, err, errlen);
    blob_unlock(lock);
done:
    free(blobs);
    free(blob);
    return rc;
}

// Fetches every file into the cache; *dir_out = the snapshot directory.
static int hub_fetch(Hub *h, const char *const *files, int nfiles, char **dir_out, char *err,
                     size_t errlen) {
    char commit[129] = "";
    for (int i = 0; i < nfiles; i++) {
        HubFileMeta m;
        char *location = NULL;
        const char *rev = commit[0] ? commit : h->revision;   // the first file pins the commit
        if (file_meta(h, rev, files[i], &m, &location, err, errlen) != 0) return -1;
        if (!commit[0]) strcpy(commit, m.commit);
        int rc = blob_ensure(h, files[i], &m, location, err, errlen);
        free(location);
        if (rc != 0 || snapshot_link(h->repo_dir, commit, files[i], m.etag, err, errlen) != 0)
            return -1;
    }
    if (strcmp(commit, h->revision) != 0) {
        char *refs = path_join(h->repo_dir, "refs");
        char *ref = path_join(refs, h->revision);
        int rc = file_write_atomic(ref, commit, err, errlen);
        free(refs);
        free(ref);
        if (rc != 0) return -1;
    }
    char *snaps = path_join(h->repo_dir, "snapshots");
    *dir_out = path_join(snaps, commit);
    free(snaps);
    return 0;
}

// ----------------------------------------------------------------------------
// resolve

static int local_dir(const char *dir, const char *const *files, int nfiles, char **dir_out,
                     char *err, size_t errlen) {
    char *missing = files_missing(dir, files, nfiles);
    if (missing) {
        fail(err, errlen, "directory %s lacks %s", dir, missing);
        free(missing);
        return -1;
    }
    *dir_out = xstrdup(dir);
    return 0;
}

int hub_resolve(const char *name, const HubOptions *opt, char **dir_out, char *err, size_t errlen) {
    *dir_out = NULL;
    HubOptions o = opt ? *opt : (HubOptions){0};
    const char *const *files = o.files ? o.files : hub_default_files;
    int nfiles = o.files ? o.nfiles : HUB_DEFAULT_NFILES;
    const char *revision = o.revision ? o.revision : "main";
    if (!name || !*name) return fail(err, errlen, "empty model name");
    if (nfiles <= 0) return fail(err, errlen, "%s: no files asked for", name);
    for (int i = 0; i < nfiles; i++)
        if (!files[i] || !hub_filename_valid(files[i]))
            return fail(err, errlen, "invalid file name '%s'", files[i] ? files[i] : "(null)");
    if (!hub_revision_valid(revision)) return fail(err, errlen, "invalid revision '%s'", revision);
    if (is_dir(name)) return local_dir(name, files, nfiles, dir_out, err, errlen);
    if (!hub_repo_id_valid(name))
        return fail(err, errlen,
                    "%s: no such directory, and not a Hugging Face repo id (ORG/NAME, or "
                    "gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2)",
                    name);

    char *root = hub_cache_root();
    const char *names[2] = {name, hub_alias_other(name)};
    char *missing = NULL;
    for (int k = 0; k < 2 && names[k] && !*dir_out; k++) {
        char *lack = NULL;
        *dir_out = hub_cache_lookup(root, names[k], revision, files, nfiles, &lack);
        if (lack && !missing) missing = lack;
        else free(lack);
    }
    int rc = 0;
    if (*dir_out) {
        // found in the cache, no network
    } else if (o.offline || hub_offline_env()) {
        char *repo_dir = hub_repo_dir(root, name);
        if (missing)
            fail(err, errlen,
                 "%s (revision '%s') is only partly in the cache (missing %s) and offline "
                 "mode is on (HF_HUB_OFFLINE); unset HF_HUB_OFFLINE to download it",
                 name, revision, missing);
        else
            fail(err, errlen,
                 "%s (revision '%s') is not in the cache (%s) and offline mode is on "
                 "(HF_HUB_OFFLINE); unset HF_HUB_OFFLINE to download it, or pass a directory",
                 name, revision, repo_dir);
        free(repo_dir);
        rc = -1;
    } else {
        char *token = hub_token();
        Hub h = {.root = root, .repo = name, .revision = revision};
        h.repo_dir = hub_repo_dir(root, name);
        h.endpoint = hub_endpoint();
        if (token) {
            size_t n = strlen(token) + 32;
            h.auth = xmalloc(n);
            snprintf(h.auth, n, "Authorization: Bearer %s", token);
            explicit_bzero(token, strlen(token));
            free(token);
        }
        h.progress = o.progress > 0 || (o.progress == 0 && isatty(STDERR_FILENO));
        h.meta_timeout = env_seconds("HF_HUB_ETAG_TIMEOUT", 10);
        h.stall_timeout = env_seconds("HF_HUB_DOWNLOAD_TIMEOUT", 30);
        rc = hub_fetch(&h, files, nfiles, dir_out, err, errlen);
        if (h.auth) {
            explicit_bzero(h.auth, strlen(h.auth));
            free(h.auth);
        }
        free(h.repo_dir);
        free(h.endpoint);
    }
    free(missing);
    free(root);
    return rc;
}
