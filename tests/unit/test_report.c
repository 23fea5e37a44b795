// test_report: Markdown escaping and truncation; a report rendered from a small in-memory
// journal with hand-computed statistics; plot notes when gnuplot is missing.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/journal.h"
#include "agent/report.h"
#include "base/util.h"
#include "check.h"

static char *escaped(const char *s, size_t n, size_t max_chars, int from_end) {
    static char out[512];
    JsonBuf b = {0};
    md_escape(&b, s, n, max_chars, from_end);
    snprintf(out, sizeof out, "%.*s", (int)b.len, b.buf ? b.buf : "");
    jb_free(&b);
    return out;
}

static void test_escape(void) {
    CHECK_STR("escape: table and emphasis characters", escaped("a|b*c_d`e[f]g~h\\i", 17, 0, 0),
              "a\\|b\\*c\\_d\\`e\\[f\\]g\\~h\\\\i");
    CHECK_STR("escape: HTML", escaped("<b>&", 4, 0, 0), "&lt;b&gt;&amp;");
    CHECK_STR("escape: newline, tab, CR", escaped("a\nb\tc\r", 6, 0, 0),
              "a\xE2\x86\xB5"
              "b c");
    CHECK_STR("escape: control and invalid bytes become U+FFFD", escaped("\x01x\xff", 3, 0, 0),
              "\xEF\xBF\xBDx\xEF\xBF\xBD");
    CHECK_STR("escape: overlong encoding is invalid", escaped("\xC0\xAF", 2, 0, 0),
              "\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK_STR("escape: multibyte kept", escaped("caf\xC3\xA9 \xE6\x97\xA5", 9, 0, 0),
              "caf\xC3\xA9 \xE6\x97\xA5");
    CHECK_STR("truncate: first 3 characters", escaped("caf\xC3\xA9s", 6, 3, 0), "caf\xE2\x80\xA6");
    CHECK_STR("truncate: last 2 characters, multibyte", escaped("caf\xC3\xA9s", 6, 2, 1),
              "\xE2\x80\xA6\xC3\xA9s");
    CHECK_STR("truncate: short text unchanged", escaped("abc", 3, 3, 1), "abc");
    CHECK_STR("escape: embedded NUL", escaped("a\0b", 3, 0, 0),
              "a\xEF\xBF\xBD"
              "b");
}

static const char journal_text[] =
    "{\"kind\":\"meta\",\"time\":\"t\",\"model\":{\"name\":\"tiny|model\",\"n_layer\":2,\"n_head\":1},\"goal\":\"find it\"}\n"
    "{\"kind\":\"task\",\"time\":\"t\",\"task\":\"t1\",\"description\":\"a <b> task\",\"n_examples\":2}\n"
    "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"x\",\"tool\":\"scoreloss\",\"task\":\"t1\",\"label\":\"intact\",\"layers\":[0,1],\"answer_loss\":1.0,\"answer_exact\":true}\n"
    "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"x\",\"tool\":\"scoreloss\",\"task\":\"t1\",\"label\":\"intact\",\"layers\":[0,1],\"answer_loss\":3.0,\"answer_exact\":false}\n"
    "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"x\",\"tool\":\"scoreloss\",\"task\":\"t1\",\"label\":\"skip 1\",\"layers\":[0],\"answer_loss\":5.5,\"answer_exact\":false}\n"
    "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"x\",\"tool\":\"scoreloss\",\"task\":\"t1\",\"label\":\"skip 1\",\"error\":\"boom\"}\n"
    "not json at all\n"
    "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"x\",\"tool\":\"runlayers\",\"task\":\"t1\",\"label\":\"skip 1\",\"prompt\":\"p|q\",\"completion\":\" a\\nb\",\"finish_reason\":\"length\"}\n"
    "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"y\",\"tool\":\"scoreloss\",\"task\":\"t2\",\"label\":\"first 1\",\"layers\":[0],\"answer_loss\":2.0}\n"
    "{\"kind\":\"note\",\"time\":\"t\",\"experiment\":\"x\",\"observation\":\"skip 1 *hurts*\\nsecond line\",\"hypothesis\":\"block 1 matters\"}\n"
    "{\"kind\":\"report\",\"time\":\"t\",\"markdown\":\"old\"}\n"
    "{\"kind\":\"report\",\"time\":\"t\",\"markdown\":\"Block 1 **matters**.\"}\n";

static int has(const JsonBuf *md, const char *s) {
    char *text = xstrndup(md->buf, md->len);
    int yes = strstr(text, s) != NULL;
    free(text);
    return yes;
}

static void test_render(void) {
    JournalLog log;
    journal_parse(&log, journal_text, strlen(journal_text));
    CHECK_INT("render: journal records", log.n, 11);
    ReportOptions opt;
    report_options_default(&opt);
    opt.plot_dir = NULL;
    JsonBuf md = {0};
    ReportStatus st;
    report_render(&log, &opt, &md, &st);
    CHECK("render: title escaped", has(&md, "# Investigation report: tiny\\|model\n"));
    CHECK("render: model line", has(&md, "- **Model**: tiny\\|model, 2 blocks, 1 heads\n"));
    CHECK("render: goal", has(&md, "- **Goal**: find it\n"));
    CHECK("render: kinds counted",
          has(&md, "- **Journal**: 11 records (1 meta, 1 task, 6 result, 1 note, 2 report)\n"));
    CHECK("render: bad line warned", has(&md, "1 unreadable line skipped (line 7)"));
    CHECK("render: task row", has(&md, "| t1 | 2 | a &lt;b&gt; task |\n"));
    // intact: losses 1 and 3 -> mean 2, sample sd sqrt(2), stderr 1; exact 1 of 2.
    CHECK("render: intact row",
          has(&md, "| intact | 0,1 | 2 | 2.0000 ± 1.0000 | +0.0000 | 0.50 |\n"));
    CHECK("render: skip row (delta 3.5; the error record left out)",
          has(&md, "| skip 1 | 0 | 1 | 5.5000 ± 0.0000 | +3.5000 | 0.00 |\n"));
    CHECK("render: error counted",
          has(&md, "1 of them carry an error (left out below); the first: boom\n"));
    CHECK("render: completion escaped", has(&md, "| skip 1 | p\\|q | \xE2\x80\x9C a\xE2\x86\xB5"
                                                 "b\xE2\x80\x9D | length |\n"));
    CHECK("render: no intact, no delta",
          has(&md, "| first 1 | 0 | 1 | 2.0000 ± 0.0000 | \xE2\x80\x94 | 0.00 |\n"));
    CHECK(
        "render: note as written, continuation indented",
        has(&md,
            "1. *(experiment x)* skip 1 *hurts*\n   second line\n   **Hypothesis:** block 1 matters\n"));
    CHECK("render: the last report record",
          has(&md, "## Results\n\nBlock 1 **matters**.\n") && !has(&md, "old"));
    CHECK("render: no plots section without a plot dir", !has(&md, "## Plots"));
    CHECK_INT("render: nothing drawn", st.plots_drawn + st.plots_skipped + st.plot_errors, 0);
    jb_free(&md);

    char dir[512];
    if (check_scratch(dir, sizeof dir, "test_report") == 0) {
        opt.plot_dir = dir;
        opt.plot_link = "p/";
        opt.gnuplot = "/nonexistent/gnuplot";
        report_render(&log, &opt, &md, &st);
        CHECK_INT("no gnuplot: both plots skipped", st.plots_skipped, 2);
        CHECK_INT("no gnuplot: not errors", st.plot_errors, 0);
        CHECK(
            "no gnuplot: notes in the Markdown",
            has(&md,
                "## Plots\n\n*Answer loss against the number of blocks kept: not drawn, gnuplot is not installed"));
        const char *files[] = {"loss_vs_layers.dat", "loss_vs_layers.gp", "skip_one_delta.dat",
                               "skip_one_delta.gp", NULL};
        for (int i = 0; files[i] && !check_keep_scratch(); i++) {
            char *p = path_join(dir, files[i]);
            unlink(p);
            free(p);
        }
        rmdir(dir);
        jb_free(&md);
    }
    journal_log_free(&log);
}

// A patch sweep over two pairs of different lengths (one layer): example a has 3 positions
// (BOS, "X", " of"), b has 2 (BOS, " of").  Baselines (logit differences): a clean 4,
// corrupted -2; b clean 3.1, corrupted 3.0 (degenerate: 0.1 apart, under a tenth of the
// mean difference 3.55 - 0.5 = 3.05).  Columns line up at the end of the prompts:
//   -3: a only:  (-2 - -2) / (4 - -2)                  = 0
//   -2: a "X" 4, b BOS 3.0:  ((4 + 3)/2 - 0.5) / 3.05   = 0.9836
//   -1: a 1, b 3.1:  ((1 + 3.1)/2 - 0.5) / 3.05         = 0.5082
// (the mean of the per-pair effects at -1 would be (0.5 + 1) / 2 = 0.75).
#define CELL(id, pos, tok, ld, clean, corrupt)                                                     \
    "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"p\",\"tool\":\"scoreloss\",\"id\":\"" id \
    "\",\"task\":\"fp\",\"patch_hook\":\"resid_pre\",\"layer\":0,\"position\":" #pos               \
    ",\"token\":\"" tok "\",\"corrupt_token\":\"" tok                                              \
    "\",\"patch_metric\":\"logit_diff\",\"logit_diff\":" #ld ",\"clean_logit_diff\":" #clean       \
    ",\"corrupt_logit_diff\":" #corrupt ",\"patch_effect\":0}\n"

static const char patch_journal[] =
    "{\"kind\":\"meta\",\"time\":\"t\",\"model\":{\"name\":\"m\",\"n_layer\":1}}\n" CELL(
        "a", 0, "<|endoftext|>", -2, 4, -2) CELL("a", 1, "X", 4, 4, -2)
        CELL("a", 2, " of", 1, 4, -2) CELL("b", 0, "<|endoftext|>", 3.0, 3.1, 3.0) CELL(
            "b", 1, " of", 3.1, 3.1,
            3.0) "{\"kind\":\"report\",\"time\":\"t\",\"markdown\":\"## Results\\n\\nDone.\"}\n";

static void test_patching(void) {
    JournalLog log;
    journal_parse(&log, patch_journal, strlen(patch_journal));
    ReportOptions opt;
    report_options_default(&opt);
    opt.plot_dir = NULL;
    JsonBuf md = {0};
    ReportStatus st;
    report_render(&log, &opt, &md, &st);
    CHECK("patching: positions from the end, labelled with the longest prompt's tokens",
          has(&md, " | -2 \xE2\x80\x9CX\xE2\x80\x9D | -1 \xE2\x80\x9C of\xE2\x80\x9D |\n"));
    CHECK("patching: batch-normalised effects, prompts aligned at their ends",
          has(&md, "| 0 | 0.00 | 0.98 | 0.51 |\n"));
    CHECK("patching: the degenerate pair counted", has(&md, "1 of 2 pairs are degenerate"));
    CHECK("patching: the longest prompt named",
          has(&md, "tokens are example a's clean prompt (the longest)"));
    CHECK("results: the planner's own heading written once",
          has(&md, "## Results\n\nDone.\n") && !has(&md, "## Results\n\n## Results"));
    jb_free(&md);
    journal_log_free(&log);
}

// Effects that round to zero print 0.00, whatever their sign: example c's three positions
// (clean 4, corrupted -2) have effects -0.001, -0.006 and 1.
static const char patch_zero_journal[] =
    "{\"kind\":\"meta\",\"time\":\"t\",\"model\":{\"name\":\"m\",\"n_layer\":1}}\n" CELL(
        "c", 0, "A", -2.006, 4, -2) CELL("c", 1, "B", -2.036, 4, -2) CELL("c", 2, "C", 4, 4, -2);

static void test_patching_zero(void) {
    JournalLog log;
    journal_parse(&log, patch_zero_journal, strlen(patch_zero_journal));
    ReportOptions opt;
    report_options_default(&opt);
    opt.plot_dir = NULL;
    JsonBuf md = {0};
    ReportStatus st;
    report_render(&log, &opt, &md, &st);
    CHECK("patching: an effect that rounds to zero prints 0.00, not -0.00; -0.006 stays -0.01",
          has(&md, "| 0 | 0.00 | -0.01 | 1.00 |\n"));
    CHECK("patching: no -0.00 anywhere", !has(&md, "-0.00"));
    jb_free(&md);
    journal_log_free(&log);
}

// report_render_file (passes over the file) writes what report_render writes on the loaded
// journal, byte for byte: the journals above, and one with re-run results (the earlier
// copies, with other values, left out) and a torn last line.
static void render_both(const char *text, const char *what) {
    char path[] = "/tmp/test_report_XXXXXX";
    int fd = mkstemp(path);
    CHECK("file: temporary journal",
          fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    JournalLog log, info;
    journal_parse(&log, text, strlen(text));
    ReportOptions opt;
    report_options_default(&opt);
    opt.plot_dir = NULL;
    JsonBuf a = {0}, b = {0};
    ReportStatus st;
    report_render(&log, &opt, &a, &st);
    char err[256] = "";
    int rc = report_render_file(path, &info, &opt, &b, &st, err, sizeof err);
    char label[128];
    snprintf(label, sizeof label, "file: %s: same Markdown as in memory", what);
    CHECK(label, rc == 0 && a.len == b.len && a.len > 0 && !memcmp(a.buf, b.buf, a.len));
    snprintf(label, sizeof label, "file: %s: the same records and issues", what);
    CHECK(label, info.n == log.n && info.n_issues == log.n_issues);
    unlink(path);
    jb_free(&a);
    jb_free(&b);
    journal_log_free(&log);
    journal_log_free(&info);
}

static const char rerun_journal[] =
    "{\"kind\":\"result\",\"experiment\":\"x\",\"tool\":\"scoreloss\",\"id\":\"e1\",\"task\":\"t\",\"label\":\"intact\",\"answer_loss\":9.0}\n"
    "{\"kind\":\"result\",\"experiment\":\"x\",\"tool\":\"scoreloss\",\"id\":\"e2\",\"task\":\"t\",\"label\":\"intact\",\"answer_loss\":2.0}\n"
    "{\"kind\":\"result\",\"experiment\":\"x\",\"tool\":\"scoreloss\",\"id\":\"e1\",\"task\":\"t\",\"label\":\"intact\",\"answer_loss\":1.0}\n"
    "{\"kind\":\"note\",\"observation\":\"cut";

static void test_file(void) {
    render_both(journal_text, "the small journal");
    render_both(patch_journal, "the patch sweep");
    render_both(rerun_journal, "re-runs and a torn line");
    JournalLog log;
    journal_parse(&log, rerun_journal, strlen(rerun_journal));
    ReportOptions opt;
    report_options_default(&opt);
    opt.plot_dir = NULL;
    JsonBuf md = {0};
    ReportStatus st;
    report_render(&log, &opt, &md, &st);
    CHECK("re-run: the last copy counts (mean of 2 and 1)",
          has(&md, "| intact | \xE2\x80\x94 | 2 | 1.5000 ± 0.5000 |"));
    CHECK("re-run: every record counted in the header",
          has(&md, "- **Journal**: 3 records (3 result)\n"));
    jb_free(&md);
    journal_log_free(&log);
    JournalLog info;
    char err[256] = "";
    CHECK("file: a missing journal is an error",
          report_render_file("/nonexistent/j.ndjson", &info, &opt, &md, &st, err, sizeof err) ==
                  -1 &&
              strstr(err, "cannot read journal"));
    journal_log_free(&info);
    jb_free(&md);
}

int main(void) {
    test_escape();
    test_render();
    test_patching();
    test_patching_zero();
    test_file();
    CHECK_DONE();
}
