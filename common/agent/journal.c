// journal: append-only NDJSON experiment journal; see journal.h and docs/journal.md.
#include "agent/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"

const char *const journal_kinds[] = {"meta", "task",   "result",  "note", "action",
                                     "llm",  "report", "verdict", NULL};

int journal_kind_known(const char *kind) {
    for (int i = 0; journal_kinds[i]; i++)
        if (!strcmp(journal_kinds[i], kind)) return 1;
    return 0;
}

// ----------------------------------------------------------------------------- time

void journal_time(char *out, size_t outlen) {
    time_t sec;
    long ms = 0;
    const char *fixed = getenv("SOURCE_DATE_EPOCH");
    char *end;
    long long v = fixed ? strtoll(fixed, &end, 10) : 0;
    if (fixed && *fixed && !*end && v >= 0) {
        sec = (time_t)v;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        sec = ts.tv_sec;
        ms = ts.tv_nsec / 1000000;
    }
    struct tm tm;
    gmtime_r(&sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03ldZ", base, ms);
}

// ----------------------------------------------------------------------------- writing

// ----------------------------------------------------------------------------- the writer lock

static char *lock_info_path(const char *path) { return xasprintf("%s.lock", path); }

long journal_lock_holder(const char *path) {
    char *info = lock_info_path(path);
    FILE *fp = fopen(info, "r");
    free(info);
    long pid = -1;
    if (fp) {
        if (fscanf(fp, "%ld", &pid) != 1 || pid <= 0) pid = -1;
        fclose(fp);
    }
    return pid;
}

// The holder takes the flock first and records its pid just after, so a writer that
// finds the lock taken before the first holder of a journal has recorded its pid reads
// none: it waits up to LOCK_PID_WAIT_MS for one.
#define LOCK_PID_WAIT_MS 1000

static int lock_busy(const char *path, char *err, size_t errlen) {
    long pid = journal_lock_holder(path);
    for (int waited = 0; pid <= 0 && waited < LOCK_PID_WAIT_MS; waited += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        pid = journal_lock_holder(path);
    }
    if (pid > 0)
        return fail(
            err, errlen,
            "journal %s is in use: process %ld holds its writer lock (one writer per journal)",
            path, pid);
    return fail(
        err, errlen,
        "journal %s is in use: another process holds its writer lock (one writer per journal)",
        path);
}

// Record pid as the holder in PATH.lock (for the message a second writer gets; the lock
// itself is the flock on the journal), written to a temporary file renamed over it, so a
// reader sees the old pid or the new one, never an empty file.  Best effort: a failure
// only loses the pid.
static void lock_info_write(const char *path, long pid) {
    char *info = lock_info_path(path);
    char *tmp = xasprintf("%s.%ld.tmp", info, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        char text[32];
        int n = snprintf(text, sizeof text, "%ld\n", pid);
        int ok = write(fd, text, (size_t)n) == n;
        if (close(fd) != 0) ok = 0;
        if (!ok || rename(tmp, info) != 0) unlink(tmp);
    }
    free(tmp);
    free(info);
}

static int same_file(int fd, const struct stat *st) {
    struct stat other;
    return fstat(fd, &other) == 0 && other.st_dev == st->st_dev && other.st_ino == st->st_ino;
}

int journal_lock_fd(int fd, const char *path, long pid, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) != 0)
        return fail(err, errlen, "cannot lock journal %s: %s", path, strerror(errno));
    if (!same_file(fd, &st))
        return fail(err, errlen, "cannot lock journal %s: descriptor %d is another file", path, fd);
    int rc;
    do rc = flock(fd, LOCK_EX | LOCK_NB);
    while (rc != 0 && errno == EINTR);
    if (rc != 0)
        return errno == EWOULDBLOCK
                   ? lock_busy(path, err, errlen)
                   : fail(err, errlen, "cannot lock journal %s: %s", path, strerror(errno));
    lock_info_write(path, pid);
    return 0;
}

// The writer lock for j (its fd open on the regular file st): the lock an ancestor holds
// on the descriptor $AUTOINTERP_JOURNAL_LOCK_FD when that is this file, else a lock
// of its own.
static int lock_take(Journal *j, const struct stat *st, char *err, size_t errlen) {
    const char *env = getenv(JOURNAL_LOCK_FD_ENV);
    char *end;
    long fd = env && *env ? strtol(env, &end, 10) : -1;
    int rc;
    if (fd >= 0 && fd < 65536 && env && *end == '\0' && fd != j->fd && same_file((int)fd, st)) {
        // The open file description behind fd holds the lock (or nobody does, and then it
        // takes it): flock on it succeeds.  Anyone else's lock makes it fail.
        do rc = flock((int)fd, LOCK_EX | LOCK_NB);
        while (rc != 0 && errno == EINTR);
        if (rc == 0) return 0;
    } else {
        do rc = flock(j->fd, LOCK_EX | LOCK_NB);
        while (rc != 0 && errno == EINTR);
        if (rc == 0) {
            lock_info_write(j->path, (long)getpid());
            return 0;
        }
    }
    return errno == EWOULDBLOCK
               ? lock_busy(j->path, err, errlen)
               : fail(err, errlen, "cannot lock journal %s: %s", j->path, strerror(errno));
}

int journal_open(Journal *j, const char *path, int flags, char *err, size_t errlen) {
    memset(j, 0, sizeof *j);
    j->fd = -1;
    j->repaired_at = -1;
    j->flags = flags;
    j->path = xstrdup(path);
    int fd;
    // O_RDWR, not O_WRONLY: journal_append reads the last byte to detect a torn line.
    do fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return fail(err, errlen, "cannot open journal %s: %s", path, strerror(errno));
    struct stat st;
    // A journal is a regular file (character devices such as /dev/full are let through
    // for tests of write errors).
    if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) {
        close(fd);
        return fail(err, errlen, "journal %s is not a regular file", path);
    }
    j->fd = fd;
    if (S_ISREG(st.st_mode) && lock_take(j, &st, err, errlen) != 0) {
        close(fd);
        j->fd = -1;
        return -1;
    }
    return 0;
}

int journal_close(Journal *j, char *err, size_t errlen) {
    int rc = 0;
    if (j->fd >= 0 && close(j->fd) != 0)
        rc = fail(err, errlen, "closing journal %s: %s", j->path ? j->path : "?", strerror(errno));
    j->fd = -1;
    free(j->path);
    j->path = NULL;
    return rc;
}

void journal_record_begin(JsonBuf *b, const char *kind) {
    char now[40];
    journal_time(now, sizeof now);
    jb_reset(b);
    jb_raw(b, "{", 1);
    jb_key(b, "kind"), jb_cstr(b, kind);
    jb_key(b, "time"), jb_cstr(b, now);
}

static int key_in(const JsonDoc *d, int k, const char *const *list) {
    for (int i = 0; list && list[i]; i++)
        if (json_str_eq(d, k, list[i])) return 1;
    return 0;
}

void journal_record_copy(JsonBuf *b, const Record *in, const char *const *skip) {
    static const char *const ours[] = {"kind", "time", NULL};
    const JsonDoc *d = &in->doc;
    if (d->ntok < 1 || json_type(d, 0) != JSMN_OBJECT) return;
    int k = 1;
    for (int m = 0; m < d->tok[0].size; m++) {
        int v = k + 1, next = json_skip(d, v);
        if (!key_in(d, k, ours) && !key_in(d, k, skip)) {
            size_t kl, vl;
            const char *ks = json_raw(d, k, &kl), *vs = json_raw(d, v, &vl);
            jb_sep(b);
            jb_raw(b, ks, kl);
            jb_raw(b, ":", 1);
            jb_raw(b, vs, vl);
        }
        k = next;
    }
}

// Does the file end in a torn line (a last byte that is not '\n')?  1, 0, or -1 (errno).
static int ends_torn(int fd, long long *size) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    *size = (long long)st.st_size;
    if (!S_ISREG(st.st_mode) || st.st_size == 0) return 0;
    char c;
    ssize_t got;
    do got = pread(fd, &c, 1, st.st_size - 1);
    while (got < 0 && errno == EINTR);
    if (got < 0) return -1;
    return got == 1 && c != '\n';
}

static int contains_api_key(const char *s, size_t n) {
    const char *key = getenv("OPENAI_API_KEY");
    size_t kl = key ? strlen(key) : 0;
    return kl >= 8 && memmem(s, n, key, kl) != NULL;
}

// One write(2) of buf[0..n); EINTR before anything was written is retried.
static int write_once(Journal *j, const char *buf, size_t n, char *err, size_t errlen) {
    ssize_t w;
    do w = write(j->fd, buf, n);
    while (w < 0 && errno == EINTR);
    if (w < 0) return fail(err, errlen, "writing journal %s: %s", j->path, strerror(errno));
    if ((size_t)w != n)
        return fail(err, errlen, "writing journal %s: short write (%zd of %zu bytes; disk full?)",
                    j->path, w, n);
    return 0;
}

int journal_append(Journal *j, JsonBuf *b, char *err, size_t errlen) {
    int rc = -1;
    if (j->fd < 0) {
        fail(err, errlen, "journal is not open");
        goto out;
    }
    if (b->len == 0 || b->buf[0] != '{') {
        fail(err, errlen, "journal record does not start with journal_record_begin");
        goto out;
    }
    if (memchr(b->buf, '\n', b->len)) {
        fail(err, errlen, "journal record holds a raw newline");
        goto out;
    }
    if (contains_api_key(b->buf, b->len)) {
        fail(err, errlen, "journal record contains the value of OPENAI_API_KEY; not written");
        goto out;
    }
    long long size = 0;
    int torn = ends_torn(j->fd, &size);
    if (torn < 0) {
        fail(err, errlen, "reading the end of journal %s: %s", j->path, strerror(errno));
        goto out;
    }
    // The line to write: ["\n"] + record + "}\n", in one buffer, for one write(2).
    JsonBuf line = {0};
    if (torn) jb_raw(&line, "\n", 1);
    jb_raw(&line, b->buf, b->len);
    jb_raw(&line, "}\n", 2);
    rc = write_once(j, line.buf, line.len, err, errlen);
    jb_free(&line);
    if (rc == 0 && torn) {
        j->n_repaired++;
        j->repaired_at = size;
    }
    if (rc == 0 && (j->flags & JOURNAL_FSYNC) && fsync(j->fd) != 0 && errno != EINVAL &&
        errno != EROFS)
        rc = fail(err, errlen, "fsync journal %s: %s", j->path, strerror(errno));
out:
    jb_reset(b);
    return rc;
}

int journal_append_object(Journal *j, const char *kind, const char *obj, size_t len, char *err,
                          size_t errlen) {
    Record r;
    char perr[160];
    if (record_parse(&r, obj, len, 0, perr, sizeof perr) != 0) {
        record_free(&r);
        return fail(err, errlen, "journal %s record: %s", kind, perr);
    }
    JsonBuf b = {0};
    journal_record_begin(&b, kind);
    journal_record_copy(&b, &r, NULL);
    record_free(&r);
    int rc = journal_append(j, &b, err, errlen);
    jb_free(&b);
    return rc;
}

// ----------------------------------------------------------------------------- reading

static JournalIssue *issue_add(JournalLog *log, long lineno, long long offset, const char *raw,
                               size_t len) {
    if (log->n_issues == log->issues_cap) {
        log->issues_cap = log->issues_cap ? 2 * log->issues_cap : 16;
        log->issues = xrealloc(log->issues, sizeof(JournalIssue) * (size_t)log->issues_cap);
    }
    JournalIssue *is = &log->issues[log->n_issues++];
    memset(is, 0, sizeof *is);
    is->lineno = lineno;
    is->offset = offset;
    is->raw = raw;
    is->len = len;
    return is;
}

// Parse one line into e; 1 when it is an object with a string "kind" (the caller then owns
// e->rec and e->kind), 0 otherwise (msg says why).
static int entry_read(JournalEntry *e, const char *line, size_t len, long lineno, long long offset,
                      char *msg, size_t msglen) {
    *e = (JournalEntry){.offset = offset};
    char perr[96];
    if (record_parse(&e->rec, line, len, lineno, perr, sizeof perr) != 0) {
        record_free(&e->rec);
        snprintf(msg, msglen, "invalid JSON: %s", perr);
        return 0;
    }
    char *kind = NULL;
    if (record_string(&e->rec, "kind", &kind, NULL, NULL, 0) != 1) {
        record_free(&e->rec);
        free(kind);
        snprintf(msg, msglen, "a JSON object without a string \"kind\"");
        return 0;
    }
    e->kind = kind;
    return 1;
}

static void entry_free(JournalEntry *e) {
    record_free(&e->rec);
    free((char *)e->kind);
}

static int is_blank(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') return 0;
    return 1;
}

// One line p[0..len) (without its '\n'; torn: the file ended before one), number lineno at
// byte offset: 1 when it is a record (in *e, owned by the caller); an issue goes to
// log->issues (raw pointing at p when keep_raw, else NULL).
static int line_read(JournalLog *log, JournalEntry *e, const char *p, size_t len, int torn,
                     long lineno, long long offset, int keep_raw) {
    if (is_blank(p, len) && !(torn && len > 0)) return 0;   // blank lines are skipped silently
    size_t body = len > 0 && p[len - 1] == '\r' ? len - 1 : len;
    char msg[128] = "a blank line";
    int ok = !is_blank(p, body) && entry_read(e, p, body, lineno, offset, msg, sizeof msg);
    if (torn) {
        e->torn = ok;
        JournalIssue *is = issue_add(log, lineno, offset, keep_raw ? p : NULL, len);
        is->torn = 1;
        is->kept = ok;
        log->torn = 1;
        snprintf(is->msg, sizeof is->msg,
                 "torn last line, %zu bytes without a newline (a crash or a full disk cut it); %s",
                 len, ok ? "a complete record, kept" : "skipped");
    } else if (!ok) {
        JournalIssue *is = issue_add(log, lineno, offset, keep_raw ? p : NULL, len);
        snprintf(is->msg, sizeof is->msg, "%s; line skipped", msg);
    }
    return ok;
}

static void parse_text(JournalLog *log) {
    const char *p = log->text, *end = log->text + log->len;
    long lineno = 0;
    int cap = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        JournalEntry e;
        if (line_read(log, &e, p, (size_t)(stop - p), nl == NULL, ++lineno,
                      (long long)(p - log->text), 1)) {
            if (log->n == cap)
                log->e =
                    xrealloc(log->e, sizeof(JournalEntry) * (size_t)(cap = cap ? 2 * cap : 64));
            log->e[log->n++] = e;
        }
        p = nl ? nl + 1 : end;
    }
}

int journal_parse(JournalLog *log, const char *text, size_t len) {
    memset(log, 0, sizeof *log);
    log->text = xmalloc(len + 1);
    memcpy(log->text, text, len);
    log->text[len] = '\0';
    log->len = len;
    parse_text(log);
    return 0;
}

int journal_load(JournalLog *log, const char *path, char *err, size_t errlen) {
    memset(log, 0, sizeof *log);
    size_t len;
    char *text = read_file(path, &len);
    if (!text) return fail(err, errlen, "cannot read journal %s: %s", path, strerror(errno));
    log->text = text;
    log->len = len;
    parse_text(log);
    return 0;
}

int journal_scan(JournalLog *log, const char *path, JournalVisit visit, void *ctx, char *err,
                 size_t errlen) {
    return journal_scan_from(log, path, 0, 0, visit, ctx, err, errlen);
}

int journal_scan_from(JournalLog *log, const char *path, long long start, long lines_before,
                      JournalVisit visit, void *ctx, char *err, size_t errlen) {
    memset(log, 0, sizeof *log);
    FILE *fp = fopen(path, "rb");
    if (!fp) return fail(err, errlen, "cannot read journal %s: %s", path, strerror(errno));
    if (start > 0 && fseeko(fp, (off_t)start, SEEK_SET) != 0) {
        fclose(fp);
        return fail(err, errlen, "cannot read journal %s: %s", path, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = lines_before;
    long long offset = start;
    int stop = 0;
    log->complete = start;
    log->lines_complete = lines_before;
    while (!stop && (got = getdelim(&line, &cap, '\n', fp)) != -1) {
        int torn = line[got - 1] != '\n';
        size_t len = (size_t)got - !torn;
        JournalEntry e;
        if (line_read(log, &e, line, len, torn, ++lineno, offset, 0)) {
            log->n++;
            stop = visit(ctx, &e) != 0;
            entry_free(&e);
        }
        offset += got;
        if (!torn) log->complete = offset, log->lines_complete = lineno;
    }
    int rc = 0;
    if (ferror(fp)) rc = fail(err, errlen, "cannot read journal %s: %s", path, strerror(errno));
    free(line);
    fclose(fp);
    return rc;
}

void journal_log_free(JournalLog *log) {
    for (int i = 0; log->e && i < log->n; i++) entry_free(&log->e[i]);
    free(log->e);
    free(log->issues);
    free(log->text);
    memset(log, 0, sizeof *log);
}

// The identity of a result: its experiment, tool and the raw JSON of id, layers, position,
// and of what tells the runs of one configuration apart (docs/interp.md): label (ablation
// sweeps), patch_hook, layer, head (patch-sweep cells), lens_depth (lens readouts).
char *journal_result_key(const JournalEntry *e) {
    static const char *const parts[] = {"experiment", "tool",      "id",         "layers",
                                        "position",   "label",     "patch_hook", "layer",
                                        "head",       "lens_depth"};
    JsonBuf b = {0};
    for (size_t k = 0; k < sizeof parts / sizeof *parts; k++) {
        int v = json_obj_get(&e->rec.doc, 0, parts[k]);
        size_t len = 0;
        const char *raw = v >= 0 ? json_raw(&e->rec.doc, v, &len) : "";
        jb_raw(&b, raw, len);
        jb_raw(&b, "\x1f", 1);   // a separator no raw JSON text contains
    }
    return b.buf;
}

typedef struct {
    char *key;
    int index;
} KeyedEntry;

static int by_key_then_index(const void *a, const void *b) {
    const KeyedEntry *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : x->index - y->index;
}

void journal_latest_results(const JournalLog *log, JournalLog *view) {
    *view = *log;
    view->e = xmalloc(sizeof *view->e * (size_t)(log->n ? log->n : 1));
    KeyedEntry *keyed = xmalloc(sizeof *keyed * (size_t)(log->n ? log->n : 1));
    unsigned char *superseded = xcalloc((size_t)(log->n ? log->n : 1), 1);
    int n = 0;
    for (int i = 0; i < log->n; i++)   // without an "id" a result has no identity to repeat
        if (!strcmp(log->e[i].kind, "result") && json_obj_get(&log->e[i].rec.doc, 0, "id") >= 0)
            keyed[n++] = (KeyedEntry){journal_result_key(&log->e[i]), i};
    qsort(keyed, (size_t)n, sizeof *keyed, by_key_then_index);
    for (int i = 0; i + 1 < n; i++)
        if (!strcmp(keyed[i].key, keyed[i + 1].key)) superseded[keyed[i].index] = 1;
    for (int i = 0; i < n; i++) free(keyed[i].key);
    view->n = 0;
    for (int i = 0; i < log->n; i++)
        if (!superseded[i]) view->e[view->n++] = log->e[i];
    free(keyed);
    free(superseded);
}

void journal_view_free(JournalLog *view) {
    free(view->e);
    memset(view, 0, sizeof *view);
}

void journal_issues_print(const JournalLog *log, const char *path, FILE *fp) {
    for (int i = 0; i < log->n_issues; i++) {
        const JournalIssue *is = &log->issues[i];
        fprintf(fp, "%s: warning: %s:%ld (byte %lld): %s\n", util_progname, path, is->lineno,
                is->offset, is->msg);
    }
}

char *journal_entry_str(const JournalEntry *e, const char *key) {
    char *s = NULL;
    if (record_string(&e->rec, key, &s, NULL, NULL, 0) != 1) {
        free(s);
        return NULL;
    }
    return s;
}

// ----------------------------------------------------------------------------- schema

typedef struct {
    const char *kind, *key;
    int type;   // JSMN_OBJECT, JSMN_ARRAY, JSMN_STRING, or JSMN_PRIMITIVE for an integer
    int required;
} FieldRule;

static const FieldRule field_rules[] = {
    {"meta", "model", JSMN_OBJECT, 1},         {"meta", "goal", JSMN_STRING, 0},
    {"meta", "max_steps", JSMN_PRIMITIVE, 0},  {"task", "task", JSMN_STRING, 1},
    {"task", "description", JSMN_STRING, 0},   {"task", "eval_questions", JSMN_ARRAY, 0},
    {"task", "n_examples", JSMN_PRIMITIVE, 0}, {"result", "experiment", JSMN_STRING, 1},
    {"result", "tool", JSMN_STRING, 1},        {"note", "observation", JSMN_STRING, 1},
    {"note", "hypothesis", JSMN_STRING, 0},    {"note", "experiment", JSMN_STRING, 0},
    {"note", "task", JSMN_STRING, 0},          {"action", "type", JSMN_STRING, 1},
    {"action", "step", JSMN_PRIMITIVE, 0},     {"llm", "request", JSMN_OBJECT, 1},
    {"llm", "step", JSMN_PRIMITIVE, 0},        {"report", "markdown", JSMN_STRING, 1},
    {"verdict", "question", JSMN_STRING, 1},   {"verdict", "prompt", JSMN_STRING, 1},
    {"verdict", "completion", JSMN_STRING, 1}, {"verdict", "verdict", JSMN_STRING, 1},
    {"verdict", "reason", JSMN_STRING, 0},     {"verdict", "model", JSMN_STRING, 0},
};

static const char *type_name(int type) {
    switch (type) {
    case JSMN_OBJECT: return "an object";
    case JSMN_ARRAY: return "an array";
    case JSMN_STRING: return "a string";
    default: return "an integer";
    }
}

int journal_validate(const char *kind, const Record *r, char *err, size_t errlen) {
    for (size_t i = 0; i < sizeof field_rules / sizeof field_rules[0]; i++) {
        const FieldRule *f = &field_rules[i];
        if (strcmp(f->kind, kind)) continue;
        int v = json_obj_get(&r->doc, 0, f->key);
        if (v < 0 || json_is_null(&r->doc, v)) {
            if (f->required)
                return fail(err, errlen, "a %s record needs \"%s\" (%s)", kind, f->key,
                            type_name(f->type));
            continue;
        }
        long long n;
        int ok = f->type == JSMN_PRIMITIVE ? json_int(&r->doc, v, &n) == 0
                                           : json_type(&r->doc, v) == f->type;
        if (!ok)
            return fail(err, errlen, "field \"%s\" of a %s record must be %s", f->key, kind,
                        type_name(f->type));
    }
    return 0;
}
