// report: render an experiment journal (common/agent/journal.h) as Markdown, with SVG plots.
//
// The document, in order (docs/journal.md shows an example):
//   # title with the model's name; model, goal, what the journal holds, its problems
//   ## Tasks            one row per "task" record
//   ## Experiment NAME  per experiment (order of first appearance among the results):
//     ### Answer loss      per task, one row per configuration of the scoreloss results:
//                          label, layers, n, mean loss ± stderr, Δ vs intact, exact-match
//                          rate — summary_add/summary_stats, so the numbers are those of
//                          `scoreloss --summary` on the same records
//     ### Activation patching  per task and hook of `scoreloss --patch-sweep` results: the
//                          mean patch_effect per block x position (or head), over the
//                          examples as long as the first (docs/interp.md); these records
//                          are left out of the loss table
//     ### How it speaks    per task, the yes-rate ± stderr of each judged question per
//                          configuration (records with "judgements": judge_summary_*)
//     ### Completions      per task and configuration, the first few runlayers completions
//     ### Top next tokens  per task and configuration, the first few topk records
//   ## Plots            loss_vs_layers.svg: mean loss against the number of blocks kept,
//                       one line per task, from every experiment with "first n" labels;
//                       speaks_N.svg: per task, the yes-rate of each judged question
//                       against the number of blocks kept ("first n" labels)
//                       skip_one_delta.svg: Δ loss of "skip i" per block (x) and task (y)
//                       patch_N.svg: per patch sweep (experiment, task, hook), the mean
//                       effect per block (y, the last on top) and position or head (x)
//   ## Notes            every note, in journal order, with its hypothesis
//   ## Results          the markdown of the last "report" record (or a line saying that
//                       the investigation has not finished)
// Text from records is escaped for Markdown (tables: | \ ` * _ [ ] < > & and newlines);
// the notes and the results section are the agent's own Markdown and are kept as written.
// The Markdown depends only on the journal's records and the options: no dates, no paths
// other than the plot links.
#ifndef AUTOINTERP_REPORT_H
#define AUTOINTERP_REPORT_H
#include "agent/journal.h"
#include "base/json.h"

typedef struct {
    const char *plot_dir;    // directory for the plot files (created when missing); NULL: no plots
    const char *plot_link;   // prefix of the plot links in the Markdown, e.g. "report/" or ""
    const char *gnuplot;     // NULL: $GNUPLOT, else "gnuplot"
    int samples;             // completions shown per (experiment, task, configuration); 2
    int topk_rows;           // topk records shown per (experiment, task, configuration); 2
    int top_tokens;          // tokens listed in a topk cell; 5
} ReportOptions;

void report_options_default(ReportOptions *o);

typedef struct {
    int plots_drawn;      // SVG files written
    int plots_skipped;    // plots not drawn because gnuplot is not installed
    int plot_errors;      // plots that failed (gnuplot error, unwritable directory)
    char plot_err[256];   // the first failure's message
} ReportStatus;

// Render log as Markdown, appended to md (a byte buffer; use md->buf, md->len).  Plots
// are drawn into opt->plot_dir; a plot that cannot be drawn gets a note in its place in
// the Markdown and is counted in *st.  Never fails: the Markdown is always complete.
void report_render(const JournalLog *log, const ReportOptions *opt, JsonBuf *md, ReportStatus *st);
// The same, reading the journal at path in two or three passes of journal_scan (one line
// at a time) and keeping only what the report shows: the aggregates of its tables and
// plots, the rows and notes it prints, one bit per record (is it a result a re-run
// replaces, as journal_latest_results has it), and during the first pass a 16-byte
// identity per result with an "id".  Memory follows the report, not the journal.  Records appended while it reads are left for the
// next report.  info gets what journal_scan gives (the issues; free it with
// journal_log_free in any case).  0, or -1 with a message in err when the journal cannot
// be read.  The Markdown is the same as report_render's on the loaded journal.
int report_render_file(const char *path, JournalLog *info, const ReportOptions *opt, JsonBuf *md,
                       ReportStatus *st, char *err, size_t errlen);

// Markdown helpers, exposed for tests and for the agent.
// Append s[0..n) escaped for a table cell / inline text; at most max_chars characters
// (0: all), keeping the end of the text when from_end (then "…" comes first, else last).
void md_escape(JsonBuf *md, const char *s, size_t n, size_t max_chars, int from_end);

#endif
