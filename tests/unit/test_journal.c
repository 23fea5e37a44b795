// test_journal: append/read round trip, torn last lines (reported, repaired on append),
// invalid lines, write errors (/dev/full, a file size limit), concurrent appenders.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/journal.h"
#include "base/util.h"
#include "check.h"

static char dir[512];

static char *tmp_path(const char *name) { return path_join(dir, name); }

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static long long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

// Entry i's string field, compared and freed.
static int entry_str_is(const JournalLog *log, int i, const char *key, const char *want) {
    if (i >= log->n) return 0;
    char *s = journal_entry_str(&log->e[i], key);
    int eq = s && !strcmp(s, want);
    free(s);
    return eq;
}

static void test_round_trip(void) {
    char *path = tmp_path("round.ndjson"), err[256] = "";
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    Journal j;
    CHECK_INT("open creates the journal", journal_open(&j, path, 0, err, sizeof err), 0);
    JsonBuf b = {0};
    journal_record_begin(&b, "meta");
    jb_key(&b, "model"), jb_puts(&b, "{\"name\":\"m\",\"n_layer\":4}");
    jb_key(&b, "goal"), jb_cstr(&b, "which blocks matter?\nline two \"quoted\"");
    CHECK_INT("append meta", journal_append(&j, &b, err, sizeof err), 0);
    CHECK_INT("buffer reset after append", (long long)b.len, 0);
    const char *note =
        "{\"kind\":\"evil\",\"time\":\"never\",\"observation\":\"loss rises\",\"hypothesis\":\"block 0 matters\"}";
    CHECK_INT("append_object note",
              journal_append_object(&j, "note", note, strlen(note), err, sizeof err), 0);
    CHECK("append_object rejects a non-object",
          journal_append_object(&j, "note", "[1]", 3, err, sizeof err) == -1);
    CHECK("... and says why", strstr(err, "not a JSON object") != NULL);
    jb_reset(&b);
    journal_record_begin(&b, "note");
    jb_raw(&b, ",\"x\":\"a\nb\"", 10);
    CHECK("a raw newline in a record is refused", journal_append(&j, &b, err, sizeof err) == -1);
    CHECK_INT("fsync flag set", journal_close(&j, err, sizeof err), 0);
    CHECK_INT("fsync open", journal_open(&j, path, JOURNAL_FSYNC, err, sizeof err), 0);
    journal_record_begin(&b, "report");
    jb_key(&b, "markdown"), jb_cstr(&b, "# Results\n| a | b |");
    CHECK_INT("append with fsync", journal_append(&j, &b, err, sizeof err), 0);
    CHECK_INT("close", journal_close(&j, err, sizeof err), 0);
    CHECK_INT("close twice is harmless", journal_close(&j, err, sizeof err), 0);

    JournalLog log;
    CHECK_INT("load", journal_load(&log, path, err, sizeof err), 0);
    CHECK_INT("three records", log.n, 3);
    CHECK_INT("no issues", log.n_issues, 0);
    CHECK_INT("not torn", log.torn, 0);
    if (log.n == 3) {
        CHECK_STR("kind 1", log.e[0].kind, "meta");
        CHECK_STR("kind 2 (the object's own kind is replaced)", log.e[1].kind, "note");
        CHECK_STR("kind 3", log.e[2].kind, "report");
        CHECK("time from SOURCE_DATE_EPOCH",
              entry_str_is(&log, 0, "time", "2023-11-14T22:13:20.000Z"));
        CHECK("the object's own time is replaced",
              entry_str_is(&log, 1, "time", "2023-11-14T22:13:20.000Z"));
        CHECK("goal round trip (newline, quotes)",
              entry_str_is(&log, 0, "goal", "which blocks matter?\nline two \"quoted\""));
        CHECK("observation", entry_str_is(&log, 1, "observation", "loss rises"));
        CHECK("markdown", entry_str_is(&log, 2, "markdown", "# Results\n| a | b |"));
        CHECK_INT("line numbers", log.e[2].rec.lineno, 3);
        CHECK_INT("offset of line 1", log.e[0].offset, 0);
        CHECK_INT("offset of line 2", log.e[1].offset,
                  (long long)(strchr(log.text, '\n') - log.text) + 1);
        int mi = json_obj_get(&log.e[0].rec.doc, 0, "model");
        size_t ml = 0;
        const char *raw = mi >= 0 ? json_raw(&log.e[0].rec.doc, mi, &ml) : "";
        CHECK("model object copied raw",
              ml == 24 && !strncmp(raw, "{\"name\":\"m\",\"n_layer\":4}", ml));
    }
    journal_log_free(&log);
    unsetenv("SOURCE_DATE_EPOCH");

    char now[40];
    journal_time(now, sizeof now);
    CHECK("time format YYYY-MM-DDTHH:MM:SS.mmmZ",
          strlen(now) == 24 && now[4] == '-' && now[10] == 'T' && now[19] == '.' && now[23] == 'Z');
    jb_free(&b);
    free(path);
}

static void test_torn_last_line(void) {
    char *path = tmp_path("torn.ndjson"), err[256];
    const char *good =
        "{\"kind\":\"note\",\"observation\":\"a\"}\n{\"kind\":\"note\",\"observation\":\"b\"}\n";
    const char *torn = "{\"kind\":\"note\",\"obser";
    char text[256];
    snprintf(text, sizeof text, "%s%s", good, torn);
    write_text(path, text);

    JournalLog log;
    CHECK_INT("torn: load succeeds", journal_load(&log, path, err, sizeof err), 0);
    CHECK_INT("torn: complete records kept", log.n, 2);
    CHECK_INT("torn: one issue", log.n_issues, 1);
    CHECK_INT("torn: flagged", log.torn, 1);
    if (log.n_issues == 1) {
        const JournalIssue *is = &log.issues[0];
        CHECK_INT("torn: issue is torn", is->torn, 1);
        CHECK_INT("torn: not kept", is->kept, 0);
        CHECK_INT("torn: line 3", is->lineno, 3);
        CHECK_INT("torn: byte offset", is->offset, (long long)strlen(good));
        CHECK("torn: raw text exposed", is->len == strlen(torn) && !memcmp(is->raw, torn, is->len));
        CHECK("torn: message", strstr(is->msg, "torn last line") != NULL);
    }
    journal_log_free(&log);

    // Appending terminates the torn line first; the new record is a line of its own.
    long long before = file_size(path);
    Journal j;
    CHECK_INT("repair: open", journal_open(&j, path, 0, err, sizeof err), 0);
    CHECK_INT("repair: append",
              journal_append_object(&j, "note", "{\"observation\":\"c\"}", 19, err, sizeof err), 0);
    CHECK_INT("repair: counted", j.n_repaired, 1);
    CHECK_INT("repair: offset of the added newline", j.repaired_at, before);
    CHECK_INT("repair: second append adds no newline",
              journal_append_object(&j, "note", "{\"observation\":\"d\"}", 19, err, sizeof err), 0);
    CHECK_INT("repair: still one repair", j.n_repaired, 1);
    journal_close(&j, NULL, 0);
    CHECK_INT("repair: load", journal_load(&log, path, err, sizeof err), 0);
    CHECK_INT("repair: four records", log.n, 4);
    CHECK_INT("repair: the torn text is now one invalid line", log.n_issues, 1);
    CHECK_INT("repair: no longer torn", log.torn, 0);
    if (log.n_issues == 1) {
        CHECK_INT("repair: issue line 3", log.issues[0].lineno, 3);
        CHECK_INT("repair: issue is not torn now", log.issues[0].torn, 0);
        CHECK("repair: torn bytes intact",
              log.issues[0].len == strlen(torn) && !memcmp(log.issues[0].raw, torn, strlen(torn)));
    }
    CHECK("repair: new record not glued",
          entry_str_is(&log, 2, "observation", "c") && log.e[2].rec.lineno == 4);
    CHECK("repair: byte after the torn text is a newline",
          (long long)log.len > before && log.text[before] == '\n');
    journal_log_free(&log);

    // A last line missing only its newline is a complete record: reported and kept.
    write_text(
        path,
        "{\"kind\":\"note\",\"observation\":\"a\"}\n{\"kind\":\"note\",\"observation\":\"b\"}");
    CHECK_INT("cut newline: load", journal_load(&log, path, err, sizeof err), 0);
    CHECK_INT("cut newline: both kept", log.n, 2);
    CHECK("cut newline: reported as torn and kept",
          log.n_issues == 1 && log.issues[0].torn && log.issues[0].kept);
    journal_log_free(&log);
    free(path);
}

static void test_invalid_lines(void) {
    const char *text =
        "{\"kind\":\"a\"}\nnot json\n[1]\n{\"x\":1}\n\n   \n{\"kind\":2}\n{\"kind\":\"b\"}\r\n";
    JournalLog log;
    journal_parse(&log, text, strlen(text));
    CHECK_INT("invalid: two records", log.n, 2);
    CHECK_INT("invalid: four issues (blank lines are not)", log.n_issues, 4);
    CHECK_INT("invalid: not torn", log.torn, 0);
    if (log.n_issues == 4) {
        CHECK_INT("invalid: line 2", log.issues[0].lineno, 2);
        CHECK_INT("invalid: line 2 offset", log.issues[0].offset, 13);
        CHECK("invalid: line 2 says invalid JSON",
              strstr(log.issues[0].msg, "invalid JSON") != NULL);
        CHECK_INT("invalid: line 3 (an array)", log.issues[1].lineno, 3);
        CHECK_INT("invalid: line 4 (no kind)", log.issues[2].lineno, 4);
        CHECK("invalid: no kind message", strstr(log.issues[2].msg, "\"kind\"") != NULL);
        CHECK_INT("invalid: line 7 (kind not a string)", log.issues[3].lineno, 7);
    }
    CHECK("invalid: CRLF line read",
          log.n == 2 && !strcmp(log.e[1].kind, "b") && log.e[1].rec.lineno == 8);
    journal_log_free(&log);

    journal_parse(&log, "", 0);
    CHECK("empty journal: nothing, no issues", log.n == 0 && log.n_issues == 0 && !log.torn);
    journal_log_free(&log);

    char err[256];
    CHECK("missing file is an error",
          journal_load(&log, "/nonexistent/j.ndjson", err, sizeof err) == -1);
    journal_log_free(&log);
}

static void test_write_errors(void) {
    char err[256] = "";
    Journal j;
    CHECK_INT("/dev/full opens", journal_open(&j, "/dev/full", 0, err, sizeof err), 0);
    CHECK("/dev/full: append fails",
          journal_append_object(&j, "note", "{\"observation\":\"x\"}", 19, err, sizeof err) == -1);
    CHECK("/dev/full: ENOSPC reported", strstr(err, strerror(ENOSPC)) != NULL);
    journal_close(&j, NULL, 0);
    CHECK("a directory is not a journal", journal_open(&j, dir, 0, err, sizeof err) == -1);
    journal_close(&j, NULL, 0);

    // A file size limit: the write that crosses it is cut short, later ones fail with
    // EFBIG.  Done in a child, which reports how many records it appended and the
    // errors it saw.
    char *path = tmp_path("limit.ndjson");
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {1000, 1000};
        setrlimit(RLIMIT_FSIZE, &rl);
        Journal cj;
        char cerr[256], msg[600];
        int ok = 0;
        const char *first = NULL;
        journal_open(&cj, path, 0, cerr, sizeof cerr);
        char obj[128];
        snprintf(obj, sizeof obj, "{\"observation\":\"%s\"}",
                 "0123456789012345678901234567890123456789012345678901234567890123456789");
        for (int i = 0; i < 40; i++) {
            if (journal_append_object(&cj, "note", obj, strlen(obj), cerr, sizeof cerr) == 0) ok++;
            else if (!first) first = strstr(cerr, "short write") ? "short" : "other";
        }
        int second = journal_append_object(&cj, "note", obj, strlen(obj), cerr, sizeof cerr);
        snprintf(msg, sizeof msg, "%d %s %d %s", ok, first ? first : "none", second, cerr);
        journal_close(&cj, NULL, 0);
        free(path);   // the child's exit is leak-checked too (make check-valgrind)
        _exit(write(fds[1], msg, strlen(msg)) < 0 ? 2 : 0);
    }
    close(fds[1]);
    char msg[600] = "";
    ssize_t got = read(fds[0], msg, sizeof msg - 1);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    msg[got > 0 ? got : 0] = '\0';
    int ok = -1, second = 0;
    char first[16] = "";
    sscanf(msg, "%d %15s %d", &ok, first, &second);
    CHECK_STR("size limit: first failure is a short write", first, "short");
    CHECK("size limit: later appends fail with EFBIG",
          second == -1 && strstr(msg, strerror(EFBIG)) != NULL);
    JournalLog log;
    CHECK_INT("size limit: journal readable", journal_load(&log, path, err, sizeof err), 0);
    CHECK_INT("size limit: every appended record is intact", log.n, ok);
    CHECK("size limit: at least one record", ok > 0);
    CHECK("size limit: the cut record is one torn last line",
          log.n_issues == 1 && log.torn && log.issues[0].torn);
    CHECK_INT("size limit: file at the limit", file_size(path), 1000);
    journal_log_free(&log);
    free(path);
}

// The key is tests/run.sh's sentinel when there is one: were the record written, the
// suite's secret scan would find it in this test's scratch directory too.
static void test_api_key_guard(void) {
    char *path = tmp_path("key.ndjson"), err[256], leak[300];
    const char *run_key = getenv("OPENAI_API_KEY");
    char *saved = run_key ? xstrdup(run_key) : NULL;
    const char *key =
        saved && strlen(saved) >= 8 && strlen(saved) < 200 ? saved : "sk-test-0123456789abcdef";
    setenv("OPENAI_API_KEY", key, 1);
    Journal j;
    journal_open(&j, path, 0, err, sizeof err);
    snprintf(leak, sizeof leak, "{\"request\":{\"headers\":\"Authorization: Bearer %s\"}}", key);
    CHECK("a record holding the API key is refused",
          journal_append_object(&j, "llm", leak, strlen(leak), err, sizeof err) == -1);
    CHECK("... and says why", strstr(err, "OPENAI_API_KEY") != NULL);
    CHECK("... without the key", strstr(err, key) == NULL);
    CHECK_INT("... nothing written", file_size(path), 0);
    journal_close(&j, NULL, 0);
    if (saved) setenv("OPENAI_API_KEY", saved, 1);
    else unsetenv("OPENAI_API_KEY");
    free(saved);
    free(path);
}

static int validate_text(const char *kind, const char *obj) {
    Record r;
    char err[256];
    int rc = record_parse(&r, obj, strlen(obj), 1, err, sizeof err);
    if (rc == 0) rc = journal_validate(kind, &r, err, sizeof err);
    record_free(&r);
    return rc;
}

static void test_validate(void) {
    CHECK_INT("validate: note with observation",
              validate_text("note", "{\"observation\":\"x\",\"hypothesis\":\"y\"}"), 0);
    CHECK_INT("validate: note without observation", validate_text("note", "{\"hypothesis\":\"y\"}"),
              -1);
    CHECK_INT("validate: note hypothesis not a string",
              validate_text("note", "{\"observation\":\"x\",\"hypothesis\":1}"), -1);
    CHECK_INT("validate: meta model object",
              validate_text("meta", "{\"model\":{\"name\":\"gpt2\"},\"max_steps\":10}"), 0);
    CHECK_INT("validate: meta model string", validate_text("meta", "{\"model\":\"gpt2\"}"), -1);
    CHECK_INT("validate: meta max_steps fraction",
              validate_text("meta", "{\"model\":{},\"max_steps\":1.5}"), -1);
    CHECK_INT("validate: result tags",
              validate_text("result", "{\"experiment\":\"e\",\"tool\":\"topk\"}"), 0);
    CHECK_INT("validate: result without tool", validate_text("result", "{\"experiment\":\"e\"}"),
              -1);
    CHECK_INT("validate: report markdown", validate_text("report", "{\"markdown\":\"# r\"}"), 0);
    CHECK_INT("validate: report without markdown", validate_text("report", "{}"), -1);
    CHECK_INT("validate: action type", validate_text("action", "{\"type\":\"note\",\"step\":3}"),
              0);
    CHECK_INT("validate: unknown kind passes", validate_text("other", "{}"), 0);
    CHECK("kinds known", journal_kind_known("llm") && !journal_kind_known("nope"));
}

// Two processes append many long lines (over PIPE_BUF) at once: every line intact.  They
// share the writer lock their parent holds (as the tools of pipelines/agent-loop.sh do:
// an inherited descriptor named by AUTOINTERP_JOURNAL_LOCK_FD); a third process, not
// sharing it, is refused with the holder's pid.
static void test_concurrent(void) {
    char *path = tmp_path("concurrent.ndjson"), err[256];
    enum { PER_WRITER = 300, PAD = 6000 };
    char *pad = xmalloc(PAD + 1);
    pid_t pids[2];
    int lock_fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    CHECK_INT("concurrent: the parent takes the writer lock",
              journal_lock_fd(lock_fd, path, (long)getpid(), err, sizeof err), 0);
    CHECK_INT("concurrent: the holder's pid recorded", journal_lock_holder(path),
              (long long)getpid());
    Journal other;
    CHECK_INT("concurrent: a writer without the descriptor is refused",
              journal_open(&other, path, 0, err, sizeof err), -1);
    char want[160];
    snprintf(want, sizeof want, "process %ld holds its writer lock", (long)getpid());
    CHECK("concurrent: ... naming the holder's pid", strstr(err, want) != NULL);
    journal_close(&other, NULL, 0);
    char fdtext[16];
    snprintf(fdtext, sizeof fdtext, "%d", lock_fd);
    setenv(JOURNAL_LOCK_FD_ENV, fdtext, 1);
    for (int w = 0; w < 2; w++) {
        memset(pad, w ? 'b' : 'a', PAD);
        pad[PAD] = '\0';
        pids[w] = fork();
        if (pids[w] == 0) {
            Journal j;
            if (journal_open(&j, path, 0, err, sizeof err) != 0) _exit(1);
            JsonBuf b = {0};
            for (int i = 0; i < PER_WRITER; i++) {
                journal_record_begin(&b, "note");
                jb_key(&b, "writer"), jb_int(&b, w);
                jb_key(&b, "i"), jb_int(&b, i);
                jb_key(&b, "observation"), jb_cstr(&b, pad);
                if (journal_append(&j, &b, err, sizeof err) != 0) _exit(1);
            }
            int closed = journal_close(&j, err, sizeof err);
            jb_free(&b);
            free(pad);
            free(path);   // the child's exit is leak-checked too (make check-valgrind)
            _exit(closed == 0 ? 0 : 1);
        }
    }
    int ok = 1;
    for (int w = 0; w < 2; w++) {
        int st = 0;
        waitpid(pids[w], &st, 0);
        ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    CHECK("concurrent: both writers succeeded", ok);
    unsetenv(JOURNAL_LOCK_FD_ENV);
    close(lock_fd);
    Journal after;
    CHECK_INT("concurrent: the lock is free once the holder closes it",
              journal_open(&after, path, 0, err, sizeof err), 0);
    journal_close(&after, NULL, 0);
    JournalLog log;
    CHECK_INT("concurrent: load", journal_load(&log, path, err, sizeof err), 0);
    CHECK_INT("concurrent: every line a record", log.n, 2 * PER_WRITER);
    CHECK_INT("concurrent: no torn or invalid line", log.n_issues, 0);
    int next[2] = {0, 0}, intact = 1;
    for (int k = 0; k < log.n; k++) {
        long long w = -1, i = -1;
        char *obs = NULL;
        size_t len = 0;
        record_int(&log.e[k].rec, "writer", &w, NULL, 0);
        record_int(&log.e[k].rec, "i", &i, NULL, 0);
        record_string(&log.e[k].rec, "observation", &obs, &len, NULL, 0);
        if (w < 0 || w > 1 || i != next[w] || len != PAD || !obs || obs[0] != (w ? 'b' : 'a') ||
            obs[PAD - 1] != (w ? 'b' : 'a'))
            intact = 0;
        else next[w]++;
        free(obs);
    }
    CHECK("concurrent: each writer's lines complete and in order",
          intact && next[0] == PER_WRITER && next[1] == PER_WRITER);
    journal_log_free(&log);
    free(pad);
    free(path);
}

// A resumed experiment re-runs some results: only the last of each identity counts.
static void test_latest_results(void) {
    const char *text =
        "{\"kind\":\"meta\",\"time\":\"t\",\"model\":{}}\n"
        "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"e\",\"tool\":\"scoreloss\",\"id\":1,\"layers\":[0],\"answer_loss\":1}\n"
        "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"e\",\"tool\":\"scoreloss\",\"id\":1,\"layers\":[0,1],\"answer_loss\":2}\n"
        "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"e\",\"tool\":\"topk\",\"id\":1,\"layers\":[0],\"position\":3}\n"
        "{\"kind\":\"note\",\"time\":\"t\",\"experiment\":\"e\",\"task\":\"x\",\"observation\":\"o\",\"hypothesis\":\"h\"}\n"
        "{\"kind\":\"result\",\"time\":\"t\",\"experiment\":\"e\",\"tool\":\"scoreloss\",\"id\":1,\"layers\":[0],\"answer_loss\":3}\n";
    JournalLog log, view;
    journal_parse(&log, text, strlen(text));
    journal_latest_results(&log, &view);
    CHECK_INT("latest results: one superseded result dropped", view.n, log.n - 1);
    double loss = 0;
    int found = 0;
    for (int i = 0; i < view.n; i++) {
        long long id;
        int *l, n;
        if (strcmp(view.e[i].kind, "result") || record_int(&view.e[i].rec, "id", &id, NULL, 0) != 1)
            continue;
        if (record_int_array(&view.e[i].rec, "layers", &l, &n, NULL, 0) == 1 && n == 1 &&
            record_double(&view.e[i].rec, "answer_loss", &loss, NULL, 0) == 1)
            found++;
        free(l);
    }
    CHECK("latest results: the later record of an identity is kept", found == 1 && loss == 3);
    CHECK("latest results: other kinds kept in order",
          !strcmp(view.e[0].kind, "meta") && !strcmp(view.e[3].kind, "note"));
    journal_view_free(&view);
    journal_log_free(&log);
}

int main(void) {
    test_latest_results();
    if (check_scratch(dir, sizeof dir, "test_journal") != 0) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    test_round_trip();
    test_torn_last_line();
    test_invalid_lines();
    test_write_errors();
    test_api_key_guard();
    test_validate();
    test_concurrent();
    const char *names[] = {"round.ndjson", "torn.ndjson",       "limit.ndjson",
                           "key.ndjson",   "concurrent.ndjson", NULL};
    for (int i = 0; names[i] && !check_keep_scratch(); i++) {
        char *p = tmp_path(names[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
    CHECK_DONE();
}
