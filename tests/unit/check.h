// check.h: the unit-test harness.  Each test_*.c is a program; every CHECK prints
// "PASS name" or "FAIL name: detail" and tests/run.sh counts them.
#ifndef AUTOINTERP_CHECK_H
#define AUTOINTERP_CHECK_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;

// Line-buffered stdout, so that PASS/FAIL lines survive a sanitizer's abrupt exit.
__attribute__((constructor)) static void check_line_buffered(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
}

#define CHECK(name, cond)                                                                          \
    do {                                                                                           \
        if (cond) printf("PASS %s\n", (name));                                                     \
        else {                                                                                     \
            printf("FAIL %s: %s (%s:%d)\n", (name), #cond, __FILE__, __LINE__);                    \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_INT(name, got, want)                                                                 \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        if (g_ == w_) printf("PASS %s\n", (name));                                                 \
        else {                                                                                     \
            printf("FAIL %s: got %lld want %lld (%s:%d)\n", (name), g_, w_, __FILE__, __LINE__);   \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_STR(name, got, want)                                                                 \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        if (g_ && w_ && strcmp(g_, w_) == 0) printf("PASS %s\n", (name));                          \
        else {                                                                                     \
            printf("FAIL %s: got [%s] want [%s] (%s:%d)\n", (name), g_ ? g_ : "(null)",            \
                   w_ ? w_ : "(null)", __FILE__, __LINE__);                                        \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_NEAR(name, got, want, tol)                                                           \
    do {                                                                                           \
        double g_ = (got), w_ = (want);                                                            \
        if (fabs(g_ - w_) <= (tol)) printf("PASS %s\n", (name));                                   \
        else {                                                                                     \
            printf("FAIL %s: got %.9g want %.9g tol %g (%s:%d)\n", (name), g_, w_, (double)(tol),  \
                   __FILE__, __LINE__);                                                            \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_DONE() return check_failures ? 1 : 0

// check_scratch(dir, len, name): makes a fresh directory $TMPDIR/NAME.XXXXXX (TMPDIR
// defaults to /tmp) for a test's files and writes its path to dir; 0 on success.
static inline int check_scratch(char *dir, size_t len, const char *name) {
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(dir, len, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    return n > 0 && (size_t)n < len && mkdtemp(dir) ? 0 : -1;
}

// Whether a test's scratch must stay when it ends: tests/run.sh sets
// AUTOINTERP_TEST_KEEP_TMP=1, searches the program's TMPDIR for the sentinel secrets
// afterwards (tests/secret_scan.sh), then removes it.
static inline int check_keep_scratch(void) {
    const char *v = getenv("AUTOINTERP_TEST_KEEP_TMP");
    return v && *v;
}

// Removes a test's scratch directory (check_scratch) unless it must stay (above).
static inline void check_scratch_remove(const char *dir) {
    char cmd[1100];
    if (check_keep_scratch()) return;
    int n = snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (n < 0 || (size_t)n >= sizeof cmd || system(cmd) != 0)
        printf("# could not remove %s\n", dir);
}

#endif
