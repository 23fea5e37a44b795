// progress: the pv-like progress line of the record loop; see progress.h.
#include "base/progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

#define PROGRESS_MAX_COUNT_BYTES (1LL << 30)
#define PROGRESS_REDRAW_S        0.2

long progress_count_records(int fd, long long max_bytes) {
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    off_t off = lseek(fd, 0, SEEK_CUR);
    if (off < 0 || st.st_size - off > max_bytes) return -1;
    static char buf[1 << 16];
    long n = 0;
    int blank = 1;   // the current line has only spaces and tabs so far
    for (;;) {
        ssize_t r = pread(fd, buf, sizeof buf, off);
        if (r < 0) return -1;
        if (r == 0) break;
        for (ssize_t i = 0; i < r; i++) {
            char c = buf[i];
            if (c == '\n') {
                if (!blank) n++;
                blank = 1;
            } else if (c != ' ' && c != '\t' && c != '\r') {
                blank = 0;
            }
        }
        off += r;
    }
    return n + !blank;   // a last line without its '\n'
}

void progress_format_time(char *buf, size_t len, double seconds) {
    if (!isfinite(seconds) || seconds < 0 || seconds > 1e9) {
        snprintf(buf, len, "-");
        return;
    }
    long s = (long)seconds;
    if (s >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
}

void progress_begin(Progress *p, FILE *in) {
    memset(p, 0, sizeof *p);
    const char *env = getenv("AUTOINTERP_PROGRESS");
    if (env && strcmp(env, "0") == 0) p->enabled = 0;
    else if (env && strcmp(env, "1") == 0) p->enabled = p->forced = 1;
    else p->enabled = isatty(STDERR_FILENO);
    p->total = -1;
    p->t0 = p->last = now_seconds();
    if (!p->enabled) return;
    if (in) p->total = progress_count_records(fileno(in), PROGRESS_MAX_COUNT_BYTES);
    const char *label = getenv("AUTOINTERP_PROGRESS_LABEL");
    if (label && *label) snprintf(p->label, sizeof p->label, "%s [%s]", util_progname, label);
    else snprintf(p->label, sizeof p->label, "%s", util_progname);
}

static void progress_draw(Progress *p, double now) {
    double elapsed = now - p->t0, rate = elapsed > 0 ? p->done / elapsed : 0;
    char el[32], eta[32], line[256];
    progress_format_time(el, sizeof el, elapsed);
    int k;
    if (p->total >= 0) {
        long total = p->total > p->done ? p->total : p->done;
        double pct = total ? 100.0 * (double)p->done / (double)total : 100.0;
        progress_format_time(eta, sizeof eta, rate > 0 ? (double)(total - p->done) / rate : NAN);
        k = snprintf(line, sizeof line,
                     "%s: %ld/%ld records (%.0f%%)  %.1f records/s  %s elapsed  ETA %s", p->label,
                     p->done, total, pct, rate, el, eta);
    } else {
        k = snprintf(line, sizeof line, "%s: %ld records  %.1f records/s  %s elapsed", p->label,
                     p->done, rate, el);
    }
    (void)k;
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    p->visible = p->shown = 1;
    p->last = now;
}

void progress_update(Progress *p, long done) {
    if (!p->enabled) return;
    p->done = done;
    double now = now_seconds();
    if (!p->forced && now - p->t0 < PROGRESS_DELAY_S) return;
    if (p->visible && now - p->last < PROGRESS_REDRAW_S) return;
    progress_draw(p, now);
}

void progress_hide(Progress *p) {
    if (!p->visible) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->visible = 0;
}

void progress_end(Progress *p) {
    if (!p->enabled || !p->shown) return;
    progress_draw(p, now_seconds());
    fputc('\n', stderr);
    fflush(stderr);
    p->visible = 0;
}
