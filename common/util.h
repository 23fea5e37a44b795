// util: small checked wrappers shared by every tool (allocation, errors, files).
#ifndef AUTOINTERP_UTIL_H
#define AUTOINTERP_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// The program name used as the prefix of every diagnostic ("scoreloss: ...").
extern const char *util_progname;
void util_set_progname(const char *argv0);

// Diagnostics on stderr, prefixed with the program name.  eprintf exits with `status`.
void eprintf(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
void weprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Allocation that never returns NULL (aborts with file:line on exhaustion).
#define xmalloc(n) xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(n, s) xcalloc_at((n), (s), __FILE__, __LINE__)
#define xrealloc(p, n) xrealloc_at((p), (n), __FILE__, __LINE__)
void *xmalloc_at(size_t n, const char *file, int line);
void *xcalloc_at(size_t n, size_t size, const char *file, int line);
void *xrealloc_at(void *p, size_t n, const char *file, int line);
char *xstrdup(const char *s);
// printf into a malloc'd string ("" if the format fails).
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xstrndup(const char *s, size_t n);

// Overflow-checked size arithmetic: return 0 on success, -1 on overflow.
int mul_size(size_t a, size_t b, size_t *out);
int add_size(size_t a, size_t b, size_t *out);

// Read a whole file into a NUL-terminated malloc'd buffer; NULL + errno on failure.
char *read_file(const char *path, size_t *len);

// snprintf into err (if non-NULL) and return -1: `return fail(err, errlen, "...")`.
int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// path join into a malloc'd string: "a" + "/" + "b".
char *path_join(const char *a, const char *b);
int is_dir(const char *path);
int is_file(const char *path);
// mkdir -p; 0 on success.
int mkdir_p(const char *path);

// Monotonic wall-clock seconds.
double now_seconds(void);

#endif
