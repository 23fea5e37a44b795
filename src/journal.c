// journal: write and read the experiment journal (common/agent/journal.h, docs/journal.md).
//   journal append --journal FILE --kind KIND [--experiment NAME] [--tool TOOL]
//   journal cat    --journal FILE [--kind K]... [--experiment NAME] [--task NAME]
//   journal check  --journal FILE
//   journal lock   --journal FILE --fd N [--pid PID]
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/journal.h"
#include "base/strmap.h"
#include "base/tool.h"
#include "base/util.h"

static const char usage_short[] =
    "usage: journal append --journal FILE --kind KIND [--experiment NAME] [--tool TOOL]\n"
    "                      [--fsync] [-q] < records.ndjson\n"
    "       journal cat    --journal FILE [--kind KIND]... [--experiment NAME] [--task NAME]\n"
    "       journal check  --journal FILE\n"
    "       journal lock   --journal FILE --fd N [--pid PID]\n";

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
    "lock:   take the journal's writer lock through descriptor N, open on FILE and\n"
    "        inherited from the caller (a shell: exec 9>>FILE), for the caller and its\n"
    "        children; PID (default: the caller's) is named to a second writer.  Exits 2\n"
    "        at once, naming the holder's pid, when another process holds it.\n"
    "        append takes the lock itself (or uses $AUTOINTERP_JOURNAL_LOCK_FD's).\n"
    "\n"
    "Exit status: 0 ok; 2 usage or system error (the journal cannot be written or read,\n"
    "or another writer holds its lock);\n"
    "5 bad input: a record that is not JSON or lacks its kind's fields (append), a torn\n"
    "or invalid line in the journal (cat, check).\n";

typedef struct {
    const char *cmd, *path, *experiment, *tool, *task;
    long fd, pid;         // lock: --fd, --pid (-1: not given)
    const char **kinds;   // (n_kinds) --kind values
    int n_kinds;
    int fsync, quiet;
} Args;

static void parse_args(Args *a, int argc, char **argv) {
    enum {
        OPT_JOURNAL = 256,
        OPT_KIND,
        OPT_EXPERIMENT,
        OPT_TOOL,
        OPT_TASK,
        OPT_FSYNC,
        OPT_FD,
        OPT_PID
    };
    static const struct option longopts[] = {
        {"journal", required_argument, NULL, OPT_JOURNAL},
        {"kind", required_argument, NULL, OPT_KIND},
        {"experiment", required_argument, NULL, OPT_EXPERIMENT},
        {"tool", required_argument, NULL, OPT_TOOL},
        {"task", required_argument, NULL, OPT_TASK},
        {"fsync", no_argument, NULL, OPT_FSYNC},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"fd", required_argument, NULL, OPT_FD},
        {"pid", required_argument, NULL, OPT_PID},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->fd = a->pid = -1;
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("%s\n%s", usage_short, usage_long);
        exit(0);
    }
    if (argc < 2 || argv[1][0] == '-')
        usage_error(usage_short, "a command is needed: append, cat or check");
    a->cmd = argv[1];
    if (strcmp(a->cmd, "append") && strcmp(a->cmd, "cat") && strcmp(a->cmd, "check") &&
        strcmp(a->cmd, "lock"))
        usage_error(usage_short, "unknown command '%s' (append, cat, check, lock)", a->cmd);
    optind = 2;
    int c;
    while ((c = tool_getopt(argc, argv, ":qh", longopts, usage_short, usage_long)) != -1) {
        switch (c) {
        case OPT_JOURNAL: a->path = optarg; break;
        case OPT_KIND:
            a->kinds = xrealloc(a->kinds, sizeof *a->kinds * (size_t)(a->n_kinds + 1));
            a->kinds[a->n_kinds++] = optarg;
            if (!journal_kind_known(optarg))
                usage_error(usage_short,
                            "unknown kind '%s' (meta, task, result, note, action, llm, report)",
                            optarg);
            break;
        case OPT_EXPERIMENT: a->experiment = optarg; break;
        case OPT_TOOL: a->tool = optarg; break;
        case OPT_TASK: a->task = optarg; break;
        case OPT_FSYNC: a->fsync = 1; break;
        case 'q': a->quiet = 1; break;
        case OPT_FD: a->fd = usage_arg_integer(usage_short, optarg, 0, INT_MAX, "--fd"); break;
        case OPT_PID: a->pid = usage_arg_integer(usage_short, optarg, 0, INT_MAX, "--pid"); break;
        }
    }
    tool_no_operands(argc, argv, usage_short, NULL);
    if (!a->path) usage_error(usage_short, "--journal FILE is needed");
    if (!strcmp(a->cmd, "lock") && a->fd < 0) usage_error(usage_short, "lock needs --fd N");
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
    FILE *echo;    // stdout, or NULL with --quiet
    long failed;   // input records refused or not JSON
    int io_error;
} Appender;

// The record for one input line: its fields (or, for a line that is not a JSON object,
// the error/line/input of an error record), tagged with --experiment and --tool.
static void compose(JsonBuf *b, const Args *a, const Record *in, long lineno, const char *msg,
                    const char *raw, size_t len) {
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
            weprintf(
                "warning: %s ended in a torn line (byte %lld); it was terminated before appending",
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

// Scan the journal (one line in memory at a time), then report its unreadable lines;
// EXIT_BAD_INPUT when there were any.
static int scan(JournalLog *log, const char *path, JournalVisit visit, void *ctx) {
    char err[512];
    if (journal_scan(log, path, visit, ctx, err, sizeof err) != 0) {
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
    return kind_ok && str_field_is(e, "experiment", a->experiment) &&
           str_field_is(e, "task", a->task);
}

typedef struct {
    const Args *a;
    JsonBuf out;
    int write_error;
} Cat;

static int cat_visit(void *ctx, const JournalEntry *e) {
    Cat *c = ctx;
    if (!selected(c->a, e)) return 0;
    jb_raw(&c->out, e->rec.doc.text, e->rec.doc.len);
    jb_raw(&c->out, "\n", 1);
    if (c->out.len > (1 << 16) && lines_write(&c->out, stdout) != 0) c->write_error = 1;
    return c->write_error;
}

static int cmd_cat(const Args *a) {
    JournalLog log;
    Cat c = {.a = a};
    int status = scan(&log, a->path, cat_visit, &c);
    if (c.write_error || lines_write(&c.out, stdout) != 0 || fflush(stdout) != 0) {
        weprintf("error writing output");
        status = EXIT_USAGE;
    }
    jb_free(&c.out);
    journal_log_free(&log);
    return status;
}

// What `check` keeps: the kinds with their counts and the experiments, each in order of
// first appearance.
typedef struct {
    StrMap kinds, experiments;
    long *kind_count;   // (kinds.n)
    int finished;
} Check;

static int check_visit(void *ctx, const JournalEntry *e) {
    Check *c = ctx;
    int added, k = strmap_intern_cstr(&c->kinds, e->kind, &added);
    if (added)
        c->kind_count = xrealloc(c->kind_count, sizeof *c->kind_count * (size_t)c->kinds.n_cap),
        c->kind_count[k] = 0;
    c->kind_count[k]++;
    char *x = journal_entry_str(e, "experiment");
    if (x) strmap_intern_cstr(&c->experiments, x, NULL);
    free(x);
    c->finished |= !strcmp(e->kind, "report");
    return 0;
}

static int cmd_check(const Args *a) {
    JournalLog log;
    Check c = {0};
    int status = scan(&log, a->path, check_visit, &c);
    JsonBuf b = {0};
    jb_raw(&b, "{", 1);
    jb_key(&b, "journal"), jb_cstr(&b, a->path);
    jb_key(&b, "records"), jb_int(&b, log.n);
    jb_key(&b, "kinds"), jb_raw(&b, "{", 1);
    // The kinds this project writes first, then any others; each group in order of first
    // appearance.
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < c.kinds.n; k++)
            if (journal_kind_known(c.kinds.key[k]) == (pass == 0))
                jb_key(&b, c.kinds.key[k]), jb_int(&b, c.kind_count[k]);
    jb_raw(&b, "}", 1);
    jb_key(&b, "experiments"), jb_raw(&b, "[", 1);
    for (int x = 0; x < c.experiments.n; x++) jb_sep(&b), jb_cstr(&b, c.experiments.key[x]);
    jb_raw(&b, "]", 1);
    jb_key(&b, "finished"), jb_puts(&b, c.finished ? "true" : "false");
    jb_key(&b, "invalid_lines"), jb_int(&b, log.n_issues - log.torn);
    jb_key(&b, "torn"), jb_puts(&b, log.torn ? "true" : "false");
    jb_raw(&b, "}\n", 2);
    if (lines_write(&b, stdout) != 0 || fflush(stdout) != 0) {
        weprintf("error writing output");
        status = EXIT_USAGE;
    }
    jb_free(&b);
    strmap_free(&c.kinds);
    strmap_free(&c.experiments);
    free(c.kind_count);
    journal_log_free(&log);
    return status;
}

// ----------------------------------------------------------------------------- lock

static int cmd_lock(const Args *a) {
    char err[512];
    long pid = a->pid > 0 ? a->pid : (long)getppid();
    if (journal_lock_fd((int)a->fd, a->path, pid, err, sizeof err) != 0)
        eprintf(EXIT_USAGE, "%s", err);
    return 0;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    Args a;
    parse_args(&a, argc, argv);
    int status = !strcmp(a.cmd, "append") ? cmd_append(&a)
                 : !strcmp(a.cmd, "cat")  ? cmd_cat(&a)
                 : !strcmp(a.cmd, "lock") ? cmd_lock(&a)
                                          : cmd_check(&a);
    free(a.kinds);
    return status;
}
