// util: checked wrappers; see util.h.
#include "base/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

const char *util_progname = "autointerp";

void util_set_progname(const char *argv0) {
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
    util_progname = slash ? slash + 1 : (argv0 ? argv0 : "autointerp");
}

static void vwarn(const char *fmt, va_list ap) {
    fprintf(stderr, "%s: ", util_progname);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void eprintf(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
    exit(status);
}

void weprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
}

static void out_of_memory(size_t n, const char *file, int line) {
    fprintf(stderr, "%s: out of memory allocating %zu bytes (%s:%d)\n", util_progname, n, file,
            line);
    abort();
}

void *xmalloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory(n, file, line);
    return p;
}

void *xcalloc_at(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) out_of_memory(n * size, file, line);
    return p;
}

void *xrealloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) out_of_memory(n, file, line);
    return q;
}

char *xstrndup(const char *s, size_t n) {
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return xstrdup("");
    char *s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

int mul_size(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

int add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return -1;
    *out = a + b;
    return 0;
}

char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

char *path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    int slash = la > 0 && a[la - 1] != '/';
    char *p = xmalloc(la + slash + lb + 1);
    memcpy(p, a, la);
    if (slash) p[la] = '/';
    memcpy(p + la + slash, b, lb + 1);
    return p;
}

int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int mkdir_p(const char *path) {
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rc = (mkdir(p, 0777) == 0 || errno == EEXIST) && is_dir(p) ? 0 : -1;
    free(p);
    return rc;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int env_off(const char *name) {
    const char *v = getenv(name);
    return v && !strcmp(v, "0");
}

int env_on(const char *name) {
    const char *v = getenv(name);
    return v && *v;
}

void huge_pages_advise(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
    // madvise wants a page-aligned start: advise the whole pages inside [p, p + n)
    uintptr_t page = 4096, lo = ((uintptr_t)p + page - 1) / page * page,
              hi = ((uintptr_t)p + n) / page * page;
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

void *huge_alloc(size_t n) {
    size_t bytes;
    if (add_size(n, HUGE_PAGE_BYTES - 1, &bytes)) return NULL;
    bytes = bytes / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;   // aligned_alloc wants a multiple
    if (bytes == 0) bytes = HUGE_PAGE_BYTES;
    void *p = aligned_alloc(HUGE_PAGE_BYTES, bytes);
    if (p) huge_pages_advise(p, bytes);
    return p;
}

char *huge_write_buffer(FILE *f) {
    char *buf = malloc(HUGE_PAGE_BYTES);
    if (buf && setvbuf(f, buf, _IOFBF, HUGE_PAGE_BYTES) != 0) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

long smaps_field(const void *addr, const char *field, char *flags, size_t flagslen) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    int inside = 0;
    long value = -1;
    uintptr_t a = (uintptr_t)addr;
    size_t flen = strlen(field);
    while (getline(&line, &cap, f) > 0) {
        unsigned long lo, hi;
        char dash;
        if (sscanf(line, "%lx%c%lx ", &lo, &dash, &hi) == 3 &&
            dash == '-') {       // a mapping's first line
            if (inside) break;   // past the one wanted
            inside = a >= lo && a < hi;
            continue;
        }
        if (!inside) continue;
        if (flags && strncmp(line, "VmFlags:", 8) == 0) snprintf(flags, flagslen, "%s", line + 8);
        if (strncmp(line, field, flen) == 0 && line[flen] == ':')
            value = strtol(line + flen + 1, NULL, 10);
    }
    free(line);
    fclose(f);
    return value;
}
