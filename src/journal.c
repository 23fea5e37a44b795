// journal: write and read the experiment journal (common/agent/journal.h, docs/journal.md).
//   journal append --journal FILE --kind KIND [--experiment NAME] [--tool TOOL]
//   journal cat    --journal FILE [--kind K]... [--experiment NAME] [--task NAME]
//   journal check  --journal FILE
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "agent/journal.h"
#include "base/tool.h"
#include "base/util.h"

static const char usage_short[] =
    "usage: journal append --journal FILE --kind KIND [--experiment NAME] [--tool TOOL]\n"
    "                      [--fsync] [-q] < records.ndjson\n"
    "       journal cat    --journal FILE [--kind KIND]... [--experiment NAME] [--task NAME]\n"
    "       journal check  --journal FILE\n";

static const char usage_long[] =
    "append: wrap every input record as a journal record of KIND (meta, task, result, note,\n"
    "        action, llm, report) and append it; the input also goes to stdout unchanged,\n"
    "        so that `journal append` can sit in a pipeline.  A result needs --experiment\n"
    "        and --tool (scoreloss, topk, runlayers); error records are journalled too.\n"
    "        A record of another kind must hold that kind's fields (docs/journal.md).\n"
    "  --fsync            fsync after every record\n"
    "  -q, --quiet        do not echo the records to stdout\n"
    "cat:    print the journal's records (raw lines), filtered; torn and invalid lines\n"
    "        are reported on stderr\n"
    "check:  one JSON line: records per kind, experiments, invalid and torn lines\n"
    "\n"
    "Exit status: 0 ok; 2 usage or system error (the journal cannot be written or read);\n"
    "5 bad input: a record that is not JSON or lacks its kind's fields (append), a torn\n"
    "or invalid line in the journal (cat, check).\n";

typedef struct {
    const char *cmd, *path, *experiment, *tool, *task;
    const char **kinds;     // (n_kinds) --kind values
    int n_kinds;
    int fsync, quiet;
} Args;

static void parse_args(Args *a, int argc, char **argv) {
    enum { OPT_JOURNAL = 256, OPT_KIND, OPT_EXPERIMENT, OPT_TOOL, OPT_TASK, OPT_FSYNC };
    static const struct option longopts[] = {
        {"journal", required_argument, NULL, OPT_JOURNAL}, {"kind", required_argument, NULL, OPT_KIND},
        {"experiment", required_argument, NULL, OPT_EXPERIMENT}, {"tool", required_argument, NULL, OPT_TOOL},
        {"task", required_argument, NULL, OPT_TASK},       {"fsync", no_argument, NULL, OPT_FSYNC},
        {"quiet", no_argument, NULL, 'q'},                 {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("%s\n%s", usage_short, usage_long);
        exit(0);
    }
    if (argc < 2 || argv[1][0] == '-') usage_error(usage_short, "a command is needed: append, cat or check");
    a->cmd = argv[1];
    if (strcmp(a->cmd, "append") && strcmp(a->cmd, "cat") && strcmp(a->cmd, "check"))
        usage_error(usage_short, "unknown command '%s' (append, cat, check)", a->cmd);
    opterr = 0;
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_JOURNAL: a->path = optarg; break;
        case OPT_KIND:
            a->kinds = xrealloc(a->kinds, sizeof *a->kinds * (size_t)(a->n_kinds + 1));
            a->kinds[a->n_kinds++] = optarg;
            if (!journal_kind_known(optarg)) usage_error(usage_short, "unknown kind '%s' (meta, task, result, note, action, llm, report)", optarg);
            break;
        case OPT_EXPERIMENT: a->experiment = optarg; break;
        case OPT_TOOL: a->tool = optarg; break;
        case OPT_TASK: a->task = optarg; break;
        case OPT_FSYNC: a->fsync = 1; break;
        case 'q': a->quiet = 1; break;
        case 'h': printf("%s\n%s", usage_short, usage_long); exit(0);
        case ':': usage_error(usage_short, "option '%s' needs a value", argv[optind - 1]); break;
        default: {
            char opt[3] = {'-', (char)optopt, 0};
            usage_error(usage_short, "unknown option '%s'", optopt ? opt : argv[optind - 1]);
        }
        }
    }
    if (optind < argc) usage_error(usage_short, "unexpected argument '%s'", argv[optind]);
    if (!a->path) usage_error(usage_short, "--journal FILE is needed");
    if (!strcmp(a->cmd, "append")) {
        if (a->n_kinds != 1) usage_error(usage_short, "append needs exactly one --kind");
        if (!strcmp(a->kinds[0], "result") && (!a->experiment || !a->tool))
            usage_error(usage_short, "a result needs --experiment NAME and --tool TOOL");
    }
}

// ----------------------------------------------------------------------------- append

typedef struct {
    const Args *a;
    Journal j;
    FILE *echo;             // stdout, or NULL with --quiet
    long failed;            // input records refused or not JSON
    int io_error;
} Appender;

// The record for one input line: its fields (or, for a line that is not a JSON object,
// the error/line/input of an error record), tagged with --experiment and --tool.
static void compose(JsonBuf *b, const Args *a, const Record *in, long lineno, const char *msg, const char *raw,
                    size_t len) {
    static const char *const tags[] = {"experiment", "tool", NULL};
    journal_record_begin(b, a->kinds[0]);
    if (a->experiment) jb_key(b, "experiment"), jb_cstr(b, a->experiment);
    if (a->tool) jb_key(b, "tool"), jb_cstr(b, a->tool);
    if (in) {
        // A tag given on the command line replaces the record's own; otherwise it stays.
        const char *const skip[] = {a->experiment ? tags[0] : "", a->tool ? tags[1] : "", NULL};
        journal_record_copy(b, in, skip);
    } else {
        jb_key(b, "error"), jb_cstr(b, msg);
        jb_key(b, "line"), jb_int(b, lineno);
        jb_key(b, "input"), jb_string(b, raw, len);
    }
}

// Journal one line, then echo it; `bad` (or NULL) says why the line cannot be read at all.
// Returns -1 when the journal cannot be written.
static int append_line(Appender *ap, const char *line, size_t len, long lineno, const char *bad) {
    const char *kind = ap->a->kinds[0];
    int is_result = !strcmp(kind, "result");
    char err[512], perr[256] = "";
    Record r = {0};
    int parsed = !bad && record_parse(&r, line, len, lineno, perr, sizeof perr) == 0;
    if (bad) snprintf(perr, sizeof perr, "%s", bad);
    JsonBuf out = {0}, rec = {0};
    if (!is_result && (!parsed || journal_validate(kind, &r, perr, sizeof perr) != 0)) {
        // Refused, not journalled: a note without an observation is no note.
        if (parsed) record_error(&out, &r, perr);
        else {
            fprintf(stderr, "%s: error (at <stdin>:%ld): %s\n", util_progname, lineno, perr);
            record_bad_line(&out, lineno, perr, line, len);
        }
        ap->failed++;
    } else {
        if (!parsed) {
            // A result that is not JSON: journalled as an error record (results are data,
            // errors included).
            fprintf(stderr, "%s: error (at <stdin>:%ld): %s\n", util_progname, lineno, perr);
            record_bad_line(&out, lineno, perr, line, len);
            ap->failed++;
        } else {
            jb_raw(&out, line, len);
            jb_raw(&out, "\n", 1);
        }
        compose(&rec, ap->a, parsed ? &r : NULL, lineno, perr, line, len);
        if (journal_append(&ap->j, &rec, err, sizeof err) != 0) {
            weprintf("%s", err);
            ap->io_error = 1;
        } else if (ap->j.repaired_at >= 0) {
            weprintf("warning: %s ended in a torn line (byte %lld); it was terminated before appending",
                     ap->a->path, ap->j.repaired_at);
            ap->j.repaired_at = -1;
        }
    }
    record_free(&r);
    if (!ap->io_error && ap->echo && lines_write(&out, ap->echo) != 0) {
        weprintf("error writing output");
        ap->io_error = 1;
    }
    jb_free(&out);
    jb_free(&rec);
    return ap->io_error ? -1 : 0;
}

static int cmd_append(const Args *a) {
    Appender ap = {.a = a, .echo = a->quiet ? NULL : stdout};
    char err[512];
    if (journal_open(&ap.j, a->path, a->fsync ? JOURNAL_FSYNC : 0, err, sizeof err) != 0) {
        journal_close(&ap.j, NULL, 0);
        eprintf(EXIT_USAGE, "%s", err);
    }
    LineReader lr;
    lines_init(&lr, stdin);
    char *line;
    ssize_t len;
    while ((len = lines_next(&lr, &line)) != -1 && len != -2) {
        if (len >= 0 && strspn(line, " \t\r") == (size_t)len) continue;   // blank line
        if (len == -3) {
            char msg[64];
            snprintf(msg, sizeof msg, "line longer than %zu bytes", lr.max_len);
            if (append_line(&ap, "", 0, lr.lineno, msg) != 0) break;   // journalled as an error
            continue;
        }
        if (append_line(&ap, line, (size_t)len, lr.lineno, NULL) != 0) break;
    }
    if (len == -2) {
        weprintf("error reading input after line %ld", lr.lineno);
        ap.io_error = 1;
    }
    lines_free(&lr);
    if (journal_close(&ap.j, err, sizeof err) != 0) {
        weprintf("%s", err);
        ap.io_error = 1;
    }
    if (ap.echo && (fflush(stdout) != 0 || ferror(stdout))) {
        weprintf("error writing output");
        ap.io_error = 1;
    }
    return ap.io_error ? EXIT_USAGE : ap.failed ? EXIT_BAD_INPUT : 0;
}

// ----------------------------------------------------------------------------- cat, check

static int load(JournalLog *log, const char *path) {
    char err[512];
    if (journal_load(log, path, err, sizeof err) != 0) {
        journal_log_free(log);
        eprintf(EXIT_USAGE, "%s", err);
    }
    journal_issues_print(log, path, stderr);
    return log->n_issues ? EXIT_BAD_INPUT : 0;
}

static int str_field_is(const JournalEntry *e, const char *key, const char *want) {
    if (!want) return 1;
    char *s = journal_entry_str(e, key);
    int eq = s && !strcmp(s, want);
    free(s);
    return eq;
}

static int selected(const Args *a, const JournalEntry *e) {
    int kind_ok = a->n_kinds == 0;
    for (int k = 0; k < a->n_kinds; k++) kind_ok |= !strcmp(e->kind, a->kinds[k]);
    return kind_ok && str_field_is(e, "experiment", a->experiment) && str_field_is(e, "task", a->task);
}

static int cmd_cat(const Args *a) {
    JournalLog log;
    int status = load(&log, a->path);
    JsonBuf out = {0};
    for (int i = 0; i < log.n; i++) {
        const JournalEntry *e = &log.e[i];
        if (!selected(a, e)) continue;
        jb_raw(&out, e->rec.doc.text, e->rec.doc.len);
        jb_raw(&out, "\n", 1);
        if (out.len > (1 << 16) && lines_write(&out, stdout) != 0) break;
    }
    if (lines_write(&out, stdout) != 0 || fflush(stdout) != 0) {
        weprintf("error writing output");
        status = EXIT_USAGE;
    }
    jb_free(&out);
    journal_log_free(&log);
    return status;
}

static int cmd_check(const Args *a) {
    JournalLog log;
    int status = load(&log, a->path);
    JsonBuf b = {0};
    jb_raw(&b, "{", 1);
    jb_key(&b, "journal"), jb_cstr(&b, a->path);
    jb_key(&b, "records"), jb_int(&b, log.n);
    jb_key(&b, "kinds"), jb_raw(&b, "{", 1);
    // Known kinds first (in schema order, only those present), then any others.
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < log.n; i++) {
            const char *k = log.e[i].kind;
            if (journal_kind_known(k) != (pass == 0)) continue;
            int first = 1, count = 0;
            for (int m = 0; m < log.n; m++) {
                if (strcmp(log.e[m].kind, k)) continue;
                if (m < i) first = 0;
                count++;
            }
            if (first) jb_key(&b, k), jb_int(&b, count);
        }
    jb_raw(&b, "}", 1);
    jb_key(&b, "experiments"), jb_raw(&b, "[", 1);
    for (int i = 0; i < log.n; i++) {
        char *x = journal_entry_str(&log.e[i], "experiment");
        int first = x != NULL;
        for (int m = 0; first && m < i; m++) first = !str_field_is(&log.e[m], "experiment", x);
        if (first) jb_sep(&b), jb_cstr(&b, x);
        free(x);
    }
    jb_raw(&b, "]", 1);
    int finished = 0;
    for (int i = 0; i < log.n; i++) finished |= !strcmp(log.e[i].kind, "report");
    jb_key(&b, "finished"), jb_puts(&b, finished ? "true" : "false");
    jb_key(&b, "invalid_lines"), jb_int(&b, log.n_issues - log.torn);
    jb_key(&b, "torn"), jb_puts(&b, log.torn ? "true" : "false");
    jb_raw(&b, "}\n", 2);
    if (lines_write(&b, stdout) != 0 || fflush(stdout) != 0) {
        weprintf("error writing output");
        status = EXIT_USAGE;
    }
    jb_free(&b);
    journal_log_free(&log);
    return status;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    Args a;
    parse_args(&a, argc, argv);
    int status = !strcmp(a.cmd, "append") ? cmd_append(&a) : !strcmp(a.cmd, "cat") ? cmd_cat(&a) : cmd_check(&a);
    free(a.kinds);
    return status;
}
