// journal: the append-only experiment journal — one NDJSON file holding everything an
// investigation produced (its setup, the tasks, every tool result, the notes, the agent's
// actions and LLM exchanges, the final report).  docs/journal.md has the full schema.
//
// Every line is one JSON object with
//   "kind": "meta" | "task" | "result" | "note" | "action" | "llm" | "report"
//   "time": UTC ISO-8601 with milliseconds, "2024-05-01T12:34:56.789Z"
//           ($SOURCE_DATE_EPOCH, when set, fixes it: reproducible journals in tests)
// and the fields of its kind:
//   meta    {"model": <loadgpt2 description object>, "goal"?: text, "max_steps"?: int, ...}
//   task    {"task", "description", "eval_questions"?, "n_examples"}
//   result  {"experiment": NAME, "tool": "scoreloss"|"topk"|"runlayers", ...every field of
//            the tool's output record, errors included}
//   note    {"experiment"?, "task"?, "observation", "hypothesis"?}
//   action  {"step": N, "type": "experiment"|"note"|"report", ...as agentstep printed it}
//   llm     {"step"?: N, "request": {...}, "reply": {...}}   (never the API key)
//   report  {"markdown": text}: the results section; the investigation is finished.
// Readers ignore fields they do not know, and records of kinds they do not know.
//
// Writing.  journal_append writes a whole record — the object and its '\n' — with ONE
// write(2) on a descriptor opened with O_APPEND.  On a local file system that write is
// atomic with respect to other appenders (Linux holds the inode lock for the whole write
// of a regular file, whatever its size — lines over PIPE_BUF included), so concurrent
// processes never interleave bytes inside a line.  What a crash (power loss, kill -9 in
// the middle of the kernel's copy, disk full) can leave is at most ONE torn line at the
// end of the file: a prefix of a record without its '\n'.  A short write (disk full,
// file size limit) is reported as an error; the bytes that did reach the file are such a
// torn last line.
//
// Repair.  Before each append, journal_append looks at the file's last byte; when it is
// not '\n' (a torn last line), the record is written as "\n" + record, in the same single
// write.  The torn text thus stays in the file as a line of its own, which readers report
// and skip — nothing is ever silently deleted, and a new record is never glued to torn
// bytes.  (Two appenders that both see the torn end can each add a '\n'; the result is a
// blank line, which readers skip silently.)
//
// Reading.  journal_load reads the whole file: every line that is a JSON object with a
// string "kind" becomes a JournalEntry; every other non-blank line becomes a JournalIssue
// (line number, byte offset, raw text, what is wrong) and is skipped.  A last line
// without its '\n' is an issue with torn = 1 — reported even when its text happens to be
// a complete object (a crash that cut exactly the '\n'); then the record is also kept
// (kept = 1), which is what the reader will see after the next append repairs the end.
// Issues are never fatal: journal_load fails only when the file cannot be read.
#ifndef AUTOINTERP_JOURNAL_H
#define AUTOINTERP_JOURNAL_H
#include <stdio.h>

#include "base/json.h"
#include "base/ndjson.h"

// The kinds this project writes, NULL-terminated: meta, task, result, note, action, llm,
// report, verdict (an LLM judge's verdict, cached by `judge --journal`).
extern const char *const journal_kinds[];
int journal_kind_known(const char *kind);   // 1 when kind is one of journal_kinds

// ----------------------------------------------------------------------------- writing
enum { JOURNAL_FSYNC = 1 };   // flag: fsync(2) after every append (durable, slower)

typedef struct {
    int fd;                  // O_RDWR | O_APPEND | O_CREAT, mode 0644
    int flags;               // JOURNAL_FSYNC or 0
    char *path;              // owned copy, for messages
    int n_repaired;          // torn last lines this handle terminated before appending
    long long repaired_at;   // byte offset of the last '\n' so added, -1 when none
} Journal;

// One writer per journal.  journal_open takes an advisory flock(2), exclusive and without
// waiting, on the journal (a regular file) and holds it until journal_close — or until the
// process ends, however it ends: the kernel drops a killed holder's lock, so a run resumed
// after kill -9 finds the journal free.  A second writer fails at once: "journal inv.ndjson
// is in use: process 1234 holds its writer lock (one writer per journal)".  The pid comes
// from PATH.lock, a one-line text file each new holder writes (informational; the lock is
// the flock on the journal itself, and a stale PATH.lock means nothing).
// A process tree holds the lock across many processes this way (pipelines/agent-loop.sh):
// the shell opens the journal on a descriptor N, locks it (`journal lock --fd N`; the lock
// belongs to that open file description, which every child inherits) and exports
// AUTOINTERP_JOURNAL_LOCK_FD=N.  journal_open in a child then uses that descriptor's lock
// instead of taking its own (flock on the inherited description succeeds; were another
// process holding the lock, it would fail).  Readers take no lock.
#define JOURNAL_LOCK_FD_ENV "AUTOINTERP_JOURNAL_LOCK_FD"

// Open (create when missing) path for appending and take the writer lock (above).  0, or
// -1 with a message in err (the journal cannot be opened, or another writer holds it).
int journal_open(Journal *j, const char *path, int flags, char *err, size_t errlen);
// Lock the journal at path through descriptor fd (open on that file; inherited by the
// caller's children, which keep the lock alive after this process exits) and record pid as
// the holder.  0, or -1 with a message in err: fd is another file, or the journal is in use
// (the message names the holder's pid when PATH.lock has it).
int journal_lock_fd(int fd, const char *path, long pid, char *err, size_t errlen);
// The pid recorded in PATH.lock by the last holder of the lock, or -1.
long journal_lock_holder(const char *path);
// Close; reports a failing close(2) (some file systems report write errors only there).
// Safe on a Journal that failed to open or was already closed.  0 or -1.
int journal_close(Journal *j, char *err, size_t errlen);

// Start a record in b (reset first): {"kind":KIND,"time":NOW — left open; add fields
// with jb_key + a value writer or journal_record_copy, then call journal_append.
void journal_record_begin(JsonBuf *b, const char *kind);
// Copy every member of the object `in` into the open record b, raw bytes, except "kind",
// "time" and the keys in `skip` (NULL-terminated; NULL for none).
void journal_record_copy(JsonBuf *b, const Record *in, const char *const *skip);

// Close the open record in b with "}\n" and append it in one write(2) (after a repair
// '\n' when the file ends in a torn line); fsync when the journal has JOURNAL_FSYNC.
// b is reset in any case.  0, or -1 with a message in err on: a record holding a '\n'
// (the builder never writes one raw), the value of $OPENAI_API_KEY appearing in the
// record (a key must never reach the journal), a write error (ENOSPC, EIO, EFBIG...), a
// short write (the file then ends in a torn line, which the next append terminates), a
// failing fsync.
int journal_append(Journal *j, JsonBuf *b, char *err, size_t errlen);

// Append the record {"kind":KIND,"time":NOW, ...members of the JSON object obj[0..len)}
// ("kind"/"time" members of obj are dropped).  0, or -1 when obj is not one valid JSON
// object, or as journal_append.
int journal_append_object(Journal *j, const char *kind, const char *obj, size_t len, char *err,
                          size_t errlen);

// Check that r (the fields of a record, "kind"/"time" not needed) has what a record of
// `kind` requires (see the schema above; docs/journal.md lists them): meta "model" object;
// task "task" string; result "experiment" and "tool" strings; note "observation" string;
// action "type" string; llm "request" object; report "markdown" string; and that the
// optional fields it names have their types.  Unknown kinds pass.  0, or -1 with a
// message in err.
int journal_validate(const char *kind, const Record *r, char *err, size_t errlen);

// Write the current time as the journal does, "2024-05-01T12:34:56.789Z" (or
// $SOURCE_DATE_EPOCH's), into out (at least 32 bytes).
void journal_time(char *out, size_t outlen);

// ----------------------------------------------------------------------------- reading
typedef struct {
    Record rec;         // rec.doc.text points into JournalLog.text; rec.lineno is the
                        // 1-based line number; typed access with record_string etc.
    const char *kind;   // the "kind" value, NUL-terminated (owned by the log)
    long long offset;   // byte offset of the line's first byte in the file
    int torn;           // 1: the file's torn last line, a complete record (issue kept)
} JournalEntry;

typedef struct {
    long lineno;        // 1-based line number
    long long offset;   // byte offset of the line's first byte
    int torn;           // 1: the last line, without its '\n' (cut by a crash)
    int kept;           // 1: the torn line was a complete record and is also an entry
    const char *raw;    // the line's bytes (points into JournalLog.text, not NUL-terminated)
    size_t len;
    char msg[192];   // what is wrong: "invalid JSON: ...", "no \"kind\"", "torn ..."
} JournalIssue;

typedef struct {
    char *text;   // the file's bytes, NUL-terminated (owned)
    size_t len;
    JournalEntry *e;   // (n) the records, in file order
    int n;
    JournalIssue *issues;   // (n_issues) invalid and torn lines, in file order
    int n_issues, issues_cap;
    int torn;              // 1 when the file ends in a torn line
    long long complete;    // journal_scan: bytes up to the end of the last complete line
    long lines_complete;   // journal_scan: the lines up to there
} JournalLog;

// Read and parse the journal at path.  0 (issues, if any, are in log->issues), or -1 with
// a message in err when the file cannot be read.  A missing file is an error.  Free with
// journal_log_free in either case.
int journal_load(JournalLog *log, const char *path, char *err, size_t errlen);
// The same on a buffer (copied); for tests and stdin.
int journal_parse(JournalLog *log, const char *text, size_t len);
void journal_log_free(JournalLog *log);

// Read the journal at path one line at a time, keeping no record: visit(ctx, e) sees each
// record in file order (e and what it points to live only during the call; a non-zero
// return stops the scan).  Memory is one line, not the file: `journal check` and `cat`
// read journals of any length this way.  log gets what journal_load would give but the
// records: n (the records visited), the issues (with raw = NULL: their text is gone;
// len, lineno, offset, torn, kept and msg as journal_load has them) and torn; e and text
// stay NULL.  0, or -1 with a message in err when the file cannot be opened or
// read.  Free log with journal_log_free in either case.
typedef int (*JournalVisit)(void *ctx, const JournalEntry *e);
int journal_scan(JournalLog *log, const char *path, JournalVisit visit, void *ctx, char *err,
                 size_t errlen);
// The same from byte start (the first byte of a line) on, numbering lines from
// lines_before + 1: the lines appended since an earlier scan whose complete and
// lines_complete were start and lines_before.
int journal_scan_from(JournalLog *log, const char *path, long long start, long lines_before,
                      JournalVisit visit, void *ctx, char *err, size_t errlen);

// A view of log without superseded results: of the "result" records with the same
// (experiment, tool, id, layers, position, label, patch_hook, layer, head, lens_depth) —
// a resumed experiment re-runs some — only the
// last is kept; every other record stays, in file order.  view shares log's records
// (log must outlive it); free it with journal_view_free, not journal_log_free.
void journal_latest_results(const JournalLog *log, JournalLog *view);
void journal_view_free(JournalLog *view);
// The identity of result e that journal_latest_results compares (the raw JSON of the
// fields above, separated by 0x1f), malloc'd; a result without "id" has none to repeat:
// the caller checks that (journal_latest_results keys only results with an "id").
char *journal_result_key(const JournalEntry *e);

// Print each issue as "PROG: warning: PATH:LINE (byte OFFSET): MSG" on fp.
void journal_issues_print(const JournalLog *log, const char *path, FILE *fp);

// Entry i's string field key as a NUL-terminated malloc'd copy, or NULL when absent or
// not a string.
char *journal_entry_str(const JournalEntry *e, const char *key);

#endif
