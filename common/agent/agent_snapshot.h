// agent_snapshot: the agent's state (agent.h) kept in a file beside the journal, so that a
// step of `agentstep` reads only the records appended since the last step, not the whole
// journal again.  docs/agent.md, "The state file".
//
// The file (by convention JOURNAL.agentstate) holds the AgentState built from the journal's
// first `covered` bytes (which end with a '\n'), the issues (unreadable lines) among them
// and what identifies that prefix: the journal's device and inode, `covered`, the number of
// lines in it, and FNV-1a hashes of its first and last 4 KiB.  agent_journal_read trusts it
// only when all of these match the journal as it is now (and the file's own length,
// version and core hash check), then reads the journal from byte `covered` on and adds
// those records (agent_state_add).  Anything else — no file, another version, a journal
// that was truncated, replaced, or edited within those 4 KiB windows, a file cut short or
// corrupt — makes it build the state from the whole journal instead and say why.  The
// file is untrusted input like the journal: every count and index in it is bounds-checked
// (rows point at examples and configurations that exist, strings lie within the file, no
// allocation beyond what its bytes can hold), so a crafted file can at worst make the agent
// see another investigation, never read or write out of bounds.  An edit in the middle of
// the covered prefix that keeps its length and its first and last 4 KiB goes unseen: the
// journal is append-only by contract, and checking more would mean reading all of it.
//
// An experiment's fields other than its name, attempts and completeness — its task,
// configurations, examples, rows (its results) — are read from the file only when
// something reads them (agent_experiment_load, agent.h): a step reads the file's header and
// core (every experiment's name and status, what each note names), checked against the
// core's hash, and the sections of only the few experiments (and notes' texts) the
// planners look at, each (pread from the file, which stays open with the state:
// AgentState.file) checked against its own hash when it is read.  A section found damaged then (the file truncated or changed in place
// since the core was read) marks the state damaged (agent_state_damaged):
// agent_journal_read itself builds the state again from the journal when that happens
// while it reads; a caller that finds it after (a planner read the section) must do so
// too, with AGENT_READ_REBUILD, before it writes or decides anything from the state.
//
// The state is written (a temporary file renamed over it: readers see the old or the new
// file, whole) only by a holder of the journal's writer lock (journal.h), so two steps never
// race on it; it is rewritten when it could not be used, or when the journal has grown by
// 1/32 of the state file's size since it was written (so a step reads the state file and a
// bounded number of new records, and writes the state only every so many steps).
#ifndef AUTOINTERP_AGENT_SNAPSHOT_H
#define AUTOINTERP_AGENT_SNAPSHOT_H
#include <stdio.h>

#include "agent/agent.h"
#include "agent/journal.h"

// Bump when the meaning of the saved state changes (a field of AgentState, or what
// agent_state_add derives from a record): files of other versions are rebuilt.
#define AGENT_SNAPSHOT_VERSION 3

// agent_journal_read's flags.
#define AGENT_READ_SAVE    1   // write the state file back when due (the caller holds the lock)
#define AGENT_READ_REBUILD 2   // do not read the state file: build from the whole journal

typedef struct {
    int used;            // 1: the state file was read and trusted
    char why[200];       // when not used: why ("no state file", "the journal is shorter...")
    long long start;     // byte of the journal the read began at (0: the whole journal)
    long long records;   // records read from the journal (from start on)
    int saved;           // 1: the state file was (re)written
} AgentReadInfo;

// The agent's state of the journal at path into *s (free with agent_state_free whatever
// the result).  snapshot: the state file to use (not with AGENT_READ_REBUILD in flags, its
// `why` then says it was damaged) and, with AGENT_READ_SAVE, to write back (when due, above;
// always after a rebuild) covering every complete line read (the caller holds the writer
// lock); NULL: read the whole journal, write nothing.  warn (or NULL): where each unreadable line of the journal is reported,
// as journal_issues_print words it (the covered prefix's from the state file).  The result
// equals agent_state_build on journal_load of the file, n_issues included.  info (or NULL)
// says what happened.  0; -2 with a message in err when the journal has no usable meta
// record (agent_state_build's message); -1 with a message when it cannot be read.  A state
// file that cannot be written is a warning on warn, not an error.
int agent_journal_read(AgentState *s, const char *path, const char *snapshot, int flags, FILE *warn,
                       AgentReadInfo *info, char *err, size_t errlen);

// The serialised form of s (the state file's payload, without the journal's identity), for
// tests that compare two states: equal bytes, equal states.  Free with free().
unsigned char *agent_state_serialise(const AgentState *s, size_t *len);

#endif
