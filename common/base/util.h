// util: small checked wrappers shared by every tool (allocation, errors, files).
// Called outside this module only by the tests (tests/unit/test_hugepages.c): smaps_field.
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
#define xmalloc(n)     xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(n, s)  xcalloc_at((n), (s), __FILE__, __LINE__)
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

// Environment switches.  env_off: the variable is "0" (how a default-on optimisation is
// turned off, e.g. AUTOINTERP_LAST_ROWS=0, to compare its output with the plain path's).
// env_on: the variable is set and not empty (e.g. AUTOINTERP_STATS=1).
int env_off(const char *name);
int env_on(const char *name);

// Huge pages for memory that is streamed over and over (the weights).  Reading through
// 4 KiB pages costs a TLB miss every 4 KiB and stops the hardware prefetchers at every
// page boundary: on the 2-core bench VM, ~15% of the read bandwidth.
//
// huge_pages_advise: madvise(MADV_HUGEPAGE) on [p, p + n) (advice: failure is harmless).
// On a file mapping it makes the kernel read a file that is not yet cached in 2 MiB folios,
// which then map as huge pages in this and every later process (kernels with large folios
// in the file system's page cache: ext4 from 6.16, xfs).
void huge_pages_advise(void *p, size_t n);
// n bytes on a 2 MiB boundary, advised as above; NULL when out of memory; free with free().
void *huge_alloc(size_t n);
// The alignment huge_alloc gives and the advice works on.
#define HUGE_PAGE_BYTES ((size_t)2 << 20)

// Gives stream f (just opened for writing, nothing written yet) a HUGE_PAGE_BYTES buffer,
// so that a large file is written in 2 MiB pieces at 2 MiB-aligned offsets (when written
// from offset 0): the page cache then holds it in 2 MiB folios where the file system can
// (ext4 from Linux 6.16, xfs), and a reader's mapping of it gets huge pages at once.
// (Written in the default 4 KiB pieces it is cached in 4 KiB folios until evicted.)
// Returns the buffer, to free after fclose(f); NULL (f unchanged) when out of memory.
char *huge_write_buffer(FILE *f);

// From /proc/self/smaps, for the mapping that holds addr: the value of `field` (e.g.
// "FilePmdMapped", "AnonHugePages", "Rss"; in kB) and, when flags is non-NULL, its
// VmFlags line ("rd mr ... hg").  -1 when the mapping or the field is not found.  For
// diagnostics (the bench, the tests): how much of the weights huge pages hold.
long smaps_field(const void *addr, const char *field, char *flags, size_t flagslen);

#endif
