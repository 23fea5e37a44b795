// report: render an experiment journal as Markdown with SVG plots (common/agent/report.h,
// docs/journal.md).
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/journal.h"
#include "agent/report.h"
#include "base/tool.h"
#include "base/util.h"

static const char usage_short[] =
    "usage: report --journal FILE [--out DIR] [--plots DIR] [--no-plots] [--samples N]\n"
    "              [--topk-rows N] [--top-tokens N] [--gnuplot PROG]\n";

static const char usage_long[] =
    "Render an experiment journal as Markdown: the model, the tasks, per experiment and\n"
    "task the loss per configuration (as `scoreloss --summary` computes it), sample\n"
    "completions, top tokens, the notes, the final results; plus SVG plots drawn with\n"
    "gnuplot (loss against blocks kept; skip-one loss change per block and task).\n"
    "\n"
    "  --journal FILE     the journal to read\n"
    "  --out DIR          write DIR/report.md and the plots into DIR (default: the\n"
    "                     Markdown on stdout, the plots into report/)\n"
    "  --plots DIR        the plot directory when the Markdown goes to stdout\n"
    "  --no-plots         draw no plots\n"
    "  --samples N        completions per experiment, task and configuration (2)\n"
    "  --topk-rows N      topk records per experiment, task and configuration (2)\n"
    "  --top-tokens N     tokens per topk cell (5)\n"
    "  --gnuplot PROG     the gnuplot program (default $GNUPLOT, else gnuplot); when it\n"
    "                     is missing the report says so in place of each plot\n"
    "\n"
    "Exit status: 0 ok; 2 usage or system error (journal unreadable, report or a plot\n"
    "not written); 5 the journal has torn or invalid lines (the report is still written).\n";

typedef struct {
    const char *journal, *out, *plots;
    int no_plots;
    ReportOptions opt;
} Args;

// A count (--samples, --topk-rows, --top-tokens): 0..1000, or a usage error.
static int parse_count(const char *s, const char *opt) {
    return (int)usage_arg_integer(usage_short, s, 0, 1000, opt);
}

static void parse_args(Args *a, int argc, char **argv) {
    enum {
        OPT_JOURNAL = 256,
        OPT_OUT,
        OPT_PLOTS,
        OPT_NO_PLOTS,
        OPT_SAMPLES,
        OPT_TOPK_ROWS,
        OPT_TOP_TOKENS,
        OPT_GNUPLOT
    };
    static const struct option longopts[] = {
        {"journal", required_argument, NULL, OPT_JOURNAL},
        {"out", required_argument, NULL, OPT_OUT},
        {"plots", required_argument, NULL, OPT_PLOTS},
        {"no-plots", no_argument, NULL, OPT_NO_PLOTS},
        {"samples", required_argument, NULL, OPT_SAMPLES},
        {"topk-rows", required_argument, NULL, OPT_TOPK_ROWS},
        {"top-tokens", required_argument, NULL, OPT_TOP_TOKENS},
        {"gnuplot", required_argument, NULL, OPT_GNUPLOT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    report_options_default(&a->opt);
    int c;
    while ((c = tool_getopt(argc, argv, ":h", longopts, usage_short, usage_long)) != -1) {
        switch (c) {
        case OPT_JOURNAL: a->journal = optarg; break;
        case OPT_OUT: a->out = optarg; break;
        case OPT_PLOTS: a->plots = optarg; break;
        case OPT_NO_PLOTS: a->no_plots = 1; break;
        case OPT_SAMPLES: a->opt.samples = parse_count(optarg, "--samples"); break;
        case OPT_TOPK_ROWS: a->opt.topk_rows = parse_count(optarg, "--topk-rows"); break;
        case OPT_TOP_TOKENS: a->opt.top_tokens = parse_count(optarg, "--top-tokens"); break;
        case OPT_GNUPLOT: a->opt.gnuplot = optarg; break;
        }
    }
    tool_no_operands(argc, argv, usage_short, NULL);
    if (!a->journal) usage_error(usage_short, "--journal FILE is needed");
    if (a->out && a->plots)
        usage_error(usage_short,
                    "--plots goes with the Markdown on stdout; with --out the plots go into DIR");
    // Plot links are relative to the Markdown: with --out both live in DIR.
    a->opt.plot_dir = a->no_plots ? NULL : a->out ? a->out : a->plots ? a->plots : "report";
    a->opt.plot_link = a->out ? "" : a->plots ? NULL : "report/";
}

// Write md to DIR/report.md (through a temporary file, renamed when complete).
static int write_report(const char *dir, const JsonBuf *md) {
    if (mkdir_p(dir) != 0) {
        weprintf("cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    char *path = path_join(dir, "report.md"), *tmp = path_join(dir, ".report.md.tmp");
    FILE *f = fopen(tmp, "w");
    int rc = 0;
    if (!f || fwrite(md->buf, 1, md->len, f) != md->len || fflush(f) != 0 || ferror(f)) rc = -1;
    if (f && fclose(f) != 0) rc = -1;
    if (rc == 0 && rename(tmp, path) != 0) rc = -1;
    if (rc != 0) {
        weprintf("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(path);
    free(tmp);
    return rc;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    Args a;
    parse_args(&a, argc, argv);
    // A plot link prefix for --plots DIR: "DIR/".
    char *link = NULL;
    if (a.plots && !a.no_plots) {
        size_t n = strlen(a.plots);
        link = xmalloc(n + 2);
        snprintf(link, n + 2, "%s%s", a.plots, n && a.plots[n - 1] == '/' ? "" : "/");
        a.opt.plot_link = link;
    }

    JournalLog log;
    char err[512];
    JsonBuf md = {0};
    ReportStatus st;
    if (report_render_file(a.journal, &log, &a.opt, &md, &st, err, sizeof err) != 0) {
        journal_log_free(&log);
        jb_free(&md);
        free(link);
        eprintf(EXIT_USAGE, "%s", err);
    }
    journal_issues_print(&log, a.journal, stderr);
    int status = log.n_issues ? EXIT_BAD_INPUT : 0;
    if (st.plots_skipped)
        weprintf("warning: gnuplot not found; %d plot%s not drawn", st.plots_skipped,
                 st.plots_skipped > 1 ? "s" : "");
    if (st.plot_errors) {
        weprintf("%s", st.plot_err);
        status = EXIT_USAGE;
    }
    if (a.out) {
        if (write_report(a.out, &md) != 0) status = EXIT_USAGE;
    } else if (fwrite(md.buf, 1, md.len, stdout) != md.len || fflush(stdout) != 0) {
        weprintf("error writing output");
        status = EXIT_USAGE;
    }
    jb_free(&md);
    journal_log_free(&log);
    free(link);
    return status;
}
