// tool: the read-record → compute → write-record loop every filter shares, and the
// command-line handling every tool shares (tool_getopt, tool_no_operands, arg_*).
//
// Exit statuses (documented in the README):
//   0  every record was processed
//   2  usage error, or a system error (unreadable input, write failure)
//   5  at least one input record failed (it came out with an "error" field)
#ifndef AUTOINTERP_TOOL_H
#define AUTOINTERP_TOOL_H
#include <stdio.h>

#include "base/ndjson.h"

enum { EXIT_USAGE = 2, EXIT_BAD_INPUT = 5 };

// Process a batch of n parsed records, appending every output line, in input order, to
// `lines`.  Return the number of records that failed (each one written as an error
// record with record_error).
typedef int (*BatchFn)(void *ctx, Record *const *recs, int n, JsonBuf *lines);

// Read NDJSON from `in`, parse up to `batch` records at a time (fewer when the input
// pauses: a batch never waits for more input than is available) and hand them to fn;
// blank lines are skipped; bytes that are not well-formed UTF-8 become U+FFFD before
// parsing (as jq reads input), so that every line written is valid UTF-8; a record that already carries an "error" (it failed in an
// earlier tool) passes through untouched and unprocessed; a line that is not a JSON object comes out as an error record
// (line number and raw text kept) in its place.  Output is written after each batch.
// Returns the exit status (0, 2 or 5).
// While it runs, a progress line (records done/total, rate, ETA) is kept on stderr when
// stderr is a terminal and the run lasts over 2 s (base/progress.h; AUTOINTERP_PROGRESS=0/1
// forces it off/on); it is updated after each batch.
int tool_run(FILE *in, FILE *out, int batch, BatchFn fn, void *ctx);

// Append `in` with its "error" field set to msg (every other field passes through), and
// report "prog: error (at <stdin>:LINE): msg" on stderr.
void record_error(JsonBuf *lines, const Record *in, const char *msg);

// A usage error: "prog: MESSAGE", then `usage` (the tool's short usage text; NULL: none)
// on stderr; exits 2.
void usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

struct option;
// getopt_long for a tool's command line, doing what every tool does the same way; returns
// the next option of the tool's own (getopt_long's value for it, optarg set), -1 after the
// last.  The tool's longopts map --help to 'h' and its optstring has 'h'.
//   -h, --help     `usage` on stdout, then, when `more` is not NULL, a newline and `more`;
//                  exits 0.
//   a refused option (unknown, ambiguous, a value missing or one it does not take): exits 2.
//     optstring ":..." (getopt's quiet mode): "prog: unknown option 'OPT'" or
//     "prog: option 'OPT' needs a value", then `usage`, on stderr; OPT as written (a short
//     one from a cluster as -c).
//     optstring without ':': getopt_long's own message, then `usage`, on stderr.
//   (The two ways are the tools' two older styles, kept so that no message changed.)
int tool_getopt(int argc, char **argv, const char *optstring, const struct option *longopts,
                const char *usage, const char *more);

// After the options of a tool that takes no operands: when one is left (argv[optind]),
// exits 2 with "prog: unexpected argument 'X'" then `usage` (as usage_error), or, when
// usage is NULL, with "prog: unexpected argument "X" (NOTE)" (" (NOTE)" left out when note
// is NULL).
void tool_no_operands(int argc, char **argv, const char *usage, const char *note);

// Command-line numbers: the value of `flag`'s argument s, or exit 2 with
// "FLAG needs a whole number in LO..HI, not 'S'".
long long arg_integer(const char *s, long long lo, long long hi, const char *flag);
// A seed: any decimal in 0..2^64-1.
unsigned long long arg_seed(const char *s, const char *flag);
// As arg_integer and arg_seed, the message followed by `usage` (as usage_error).
long long usage_arg_integer(const char *usage, const char *s, long long lo, long long hi,
                            const char *flag);
unsigned long long usage_arg_seed(const char *usage, const char *s, const char *flag);
// A finite decimal number in [lo, hi].
double arg_real(const char *s, double lo, double hi, const char *flag);

#endif
