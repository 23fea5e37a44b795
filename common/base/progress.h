// progress: a one-line progress display on stderr for long runs, like pv(1).
//
//   scoreloss: 120/200 records (60%)  45.2 records/s  0:03 elapsed  ETA 0:02
//
// Shown only when stderr is a terminal and the run has lasted PROGRESS_DELAY_S (2 s), so
// that short runs, pipes and log files see nothing; AUTOINTERP_PROGRESS=1 forces it on
// (from the first update, terminal or not), AUTOINTERP_PROGRESS=0 off.  The total is
// known when the input is a regular file: its non-blank lines from the current offset
// are counted once at the start (read with pread, so the stream is not disturbed; files
// over 1 GiB are not counted).  AUTOINTERP_PROGRESS_LABEL, when set, is shown after the
// program's name (the agent loop names the experiment with it).
//
// The line is redrawn in place (\r, erase to end of line) at most 5 times a second and
// ended with a newline by progress_end when it was shown.  progress_hide erases it before
// other output reaches the terminal (error diagnostics, records on a terminal stdout);
// the next update draws it again.
// Called outside this module only by the tests (tests/unit/test_progress.c):
// progress_count_records, progress_format_time.
#ifndef AUTOINTERP_PROGRESS_H
#define AUTOINTERP_PROGRESS_H
#include <stdio.h>

#define PROGRESS_DELAY_S 2.0

typedef struct {
    int enabled;       // decided at progress_begin (environment, isatty(2))
    int forced;        // AUTOINTERP_PROGRESS=1: no delay
    int visible;       // a line is on the terminal now
    int shown;         // a line was drawn at least once
    long done;         // records finished
    long total;        // records in the input, -1 when unknown
    double t0, last;   // start, last redraw (now_seconds)
    char label[96];    // "prog" or "prog [LABEL]"
} Progress;

// Start timing; `in` is the input (its total is counted when it is a regular file).
void progress_begin(Progress *p, FILE *in);
// `done` records are finished; redraws when due.
void progress_update(Progress *p, long done);
// Erase the line (if drawn) so that other output starts at the line's beginning.
void progress_hide(Progress *p);
// The final state and a newline, when the line was ever shown.
void progress_end(Progress *p);

// Records in `fd` from its current offset: non-blank lines (blank = only spaces and
// tabs, as the record loop skips them); -1 when fd is not a regular file, is larger than
// `max_bytes`, or cannot be read.  The offset of fd is not moved.
long progress_count_records(int fd, long long max_bytes);

// "1:05", "1:02:03" (seconds rounded down); "-" for a negative or non-finite value.
void progress_format_time(char *buf, size_t len, double seconds);

#endif
