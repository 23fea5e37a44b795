// tool: the shared record loop; see tool.h.
#include "base/tool.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/progress.h"
#include "base/utf8.h"
#include "base/util.h"

// The progress line of the running tool_run (progress.h), and the records finished
// before the batch now being computed.
static Progress progress;
static long progress_base;

void record_error(JsonBuf *lines, const Record *in, const char *msg) {
    static const char *const owned[] = {"error", NULL};
    JsonBuf b = {0};
    record_begin(&b, in, owned);
    jb_key(&b, "error");
    jb_cstr(&b, msg);
    record_end(&b, lines);
    jb_free(&b);
    progress_hide(&progress);
    fprintf(stderr, "%s: error (at <stdin>:%ld): %s\n", util_progname, in->lineno, msg);
}

// A malloc'd copy of line[0..n) with each byte that is not part of well-formed UTF-8
// replaced by U+FFFD (as jq reads input), so that a record with such bytes is processed
// and everything written, pass-through fields included, is valid UTF-8.  *outlen gets
// the new length.  Valid text (the usual case) is copied unchanged.
static char *utf8_repair(const char *line, size_t n, size_t *outlen) {
    const unsigned char *s = (const unsigned char *)line;
    size_t bad = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_decode(s + i, n - i, NULL);
        if (l) i += l;
        else bad++, i++;
    }
    size_t cap;
    if (mul_size(bad, 2, &cap) != 0 || add_size(cap, n, &cap) != 0)
        eprintf(EXIT_USAGE, "line too long");
    char *out = xmalloc(cap + 1);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_decode(s + i, n - i, NULL);
        if (l) {
            memcpy(out + k, line + i, l);
            k += l, i += l;
        } else {
            memcpy(out + k, "\xEF\xBF\xBD", 3);
            k += 3, i++;
        }
    }
    out[k] = '\0';
    *outlen = k;
    return out;
}

typedef struct {
    Record *recs;    // (cap)
    Record **ptrs;   // (cap) the parsed ones, in order
    int n, cap;
} Batch;

// Flush one batch: records go to fn; a bad line that came before them was already
// written, so order is kept by flushing the batch whenever a bad line arrives.
static int run_batch(Batch *b, BatchFn fn, void *ctx, JsonBuf *lines) {
    if (b->n == 0) return 0;
    for (int i = 0; i < b->n; i++) b->ptrs[i] = &b->recs[i];
    int failed = fn(ctx, b->ptrs, b->n, lines);
    progress_base += b->n;
    progress_update(&progress, progress_base);
    for (int i = 0; i < b->n; i++) {
        free((char *)b->recs[i].doc.text);
        record_free(&b->recs[i]);
    }
    b->n = 0;
    return failed;
}

// Write the output lines; the progress line is erased first when both go to a terminal.
static int write_lines(JsonBuf *lines, FILE *out, int out_tty) {
    if (out_tty && lines->len) progress_hide(&progress);
    return lines_write(lines, out);
}

// Can more input be read without waiting (buffered, or ready on the descriptor, or at its
// end)?  A batch is processed as soon as the input pauses, so that a record fed by an
// interactive loop is answered at once rather than after `batch` more records.
static int input_pending(FILE *in) {
#ifdef __GLIBC__
    if (in->_IO_read_ptr < in->_IO_read_end) return 1;
#endif
    struct pollfd p = {.fd = fileno(in), .events = POLLIN};
    return poll(&p, 1, 0) != 0;
}

int tool_run(FILE *in, FILE *out, int batch, BatchFn fn, void *ctx) {
    if (batch < 1) batch = 1;
    progress_begin(&progress, in);
    progress_base = 0;
    int out_tty = isatty(fileno(out));
    LineReader lr;
    lines_init(&lr, in);
    Batch b = {.recs = xcalloc((size_t)batch, sizeof(Record)),
               .ptrs = xcalloc((size_t)batch, sizeof(Record *)),
               .cap = batch};
    JsonBuf lines = {0};
    int failed = 0, io_error = 0;
    char *line, err[256];
    ssize_t len;
    while ((len = lines_next(&lr, &line)) != -1 && len != -2) {
        if (len >= 0 && strspn(line, " \t") == (size_t)len) continue;   // blank line
        size_t n = 0;
        char *copy = len >= 0 ? utf8_repair(line, (size_t)len, &n) : NULL;
        if (copy) len = (ssize_t)n;
        Record *r = &b.recs[b.n];
        if (len == -3) {
            snprintf(err, sizeof err, "line longer than %zu bytes", lr.max_len);
        } else if (record_parse(r, copy, (size_t)len, lr.lineno, err, sizeof err) == 0) {
            if (record_has(r, "error")) {   // failed upstream: passes through untouched
                record_free(r);
                failed += run_batch(&b, fn, ctx, &lines);
                jb_raw(&lines, copy, (size_t)len);
                jb_raw(&lines, "\n", 1);
                free(copy);
                progress_update(&progress, ++progress_base);
                if (write_lines(&lines, out, out_tty) != 0) {
                    io_error = 1;
                    break;
                }
                continue;
            }
            b.n++;
            if (b.n == b.cap || !input_pending(in)) {
                failed += run_batch(&b, fn, ctx, &lines);
                if (write_lines(&lines, out, out_tty) != 0) {
                    io_error = 1;
                    break;
                }
            }
            continue;
        }
        // A bad line: flush what came before it, then its error record.
        record_free(r);
        failed += run_batch(&b, fn, ctx, &lines) + 1;
        progress_hide(&progress);
        progress_update(&progress, ++progress_base);
        fprintf(stderr, "%s: error (at <stdin>:%ld): %s\n", util_progname, lr.lineno, err);
        record_bad_line(&lines, lr.lineno, err, copy ? copy : "", copy ? (size_t)len : 0);
        free(copy);
        if (write_lines(&lines, out, out_tty) != 0) {
            io_error = 1;
            break;
        }
    }
    if (len == -2) {
        weprintf("error reading input after line %ld", lr.lineno);
        io_error = 1;
    }
    failed += run_batch(&b, fn, ctx, &lines);
    if (out_tty) progress_hide(&progress);
    if (lines_write(&lines, out) != 0 || fflush(out) != 0 || ferror(out)) {
        weprintf("error writing output");
        io_error = 1;
    }
    progress_end(&progress);
    jb_free(&lines);
    lines_free(&lr);
    free(b.recs);
    free(b.ptrs);
    return io_error ? EXIT_USAGE : failed ? EXIT_BAD_INPUT : 0;
}

void usage_error(const char *usage, const char *fmt, ...) {
    fprintf(stderr, "%s: ", util_progname);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage ? usage : "");
    exit(EXIT_USAGE);
}

// The option getopt_long has just refused, as written: a long one (--name, --name=value) is
// the argument the call moved optind past; a short one is "-c", as it may stand inside a
// cluster (-Zq), where optind stays on the cluster (moving, if at all, past operands the
// call skipped, which do not start with "--").
static const char *refused_option(char **argv, int optind_before) {
    static char opt[3] = "-?";
    if (optind > optind_before && !strncmp(argv[optind - 1], "--", 2)) return argv[optind - 1];
    opt[1] = (char)optopt;
    return opt;
}

int tool_getopt(int argc, char **argv, const char *optstring, const struct option *longopts,
                const char *usage, const char *more) {
    int quiet = optstring[0] == ':', before = optind;
    opterr = !quiet;
    int c = getopt_long(argc, argv, optstring, longopts, NULL);
    if (c == 'h') {
        fputs(usage, stdout);
        if (more) printf("\n%s", more);
        exit(0);
    }
    if (c != '?' && c != ':') return c;
    if (!quiet) {   // getopt_long has said what is wrong
        fputs(usage, stderr);
        exit(EXIT_USAGE);
    }
    if (c == ':') usage_error(usage, "option '%s' needs a value", argv[optind - 1]);
    usage_error(usage, "unknown option '%s'", refused_option(argv, before));
}

void tool_no_operands(int argc, char **argv, const char *usage, const char *note) {
    if (optind >= argc) return;
    if (usage) usage_error(usage, "unexpected argument '%s'", argv[optind]);
    if (note) eprintf(EXIT_USAGE, "unexpected argument \"%s\" (%s)", argv[optind], note);
    eprintf(EXIT_USAGE, "unexpected argument \"%s\"", argv[optind]);
}

long long usage_arg_integer(const char *usage, const char *s, long long lo, long long hi,
                            const char *flag) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        usage_error(usage, "%s needs a whole number in %lld..%lld, not '%s'", flag, lo, hi, s);
    return v;
}

long long arg_integer(const char *s, long long lo, long long hi, const char *flag) {
    return usage_arg_integer(NULL, s, lo, hi, flag);
}

unsigned long long usage_arg_seed(const char *usage, const char *s, const char *flag) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[strspn(s, " \t")] == '-')
        usage_error(usage, "%s needs a whole number in 0..18446744073709551615, not '%s'", flag, s);
    return v;
}

unsigned long long arg_seed(const char *s, const char *flag) {
    return usage_arg_seed(NULL, s, flag);
}

double arg_real(const char *s, double lo, double hi, const char *flag) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        eprintf(EXIT_USAGE, "%s needs a number in %g..%g, not '%s'", flag, lo, hi, s);
    return v;
}
