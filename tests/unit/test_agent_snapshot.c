// test_agent_snapshot: the agent's state file (agent_snapshot.h).  The state read through
// it equals agent_state_build on the whole journal, byte for byte once serialised, with
// the same warnings, at every length of a journal grown one byte at a time (torn last
// lines, records before the meta record, unreadable lines, re-runs, every experiment
// method); a state file changed in any one byte, cut at any length, of another version, or
// belonging to a journal that was truncated, replaced or edited is not used (the state is
// rebuilt, equal) — a change in an experiment's section (read lazily, each checked against its own
// hash) is found when the section is read, the state then marked damaged and built again
// from the journal, equal, whether that happens inside agent_journal_read (new results of
// that experiment) or after it (the planners read the rows, the file changed or truncated
// in place meanwhile); one crafted with a valid hash but any byte changed is read without
// a memory error (ASan+UBSan pass).
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/agent_llm.h"
#include "agent/agent_plan.h"
#include "agent/agent_snapshot.h"
#include "agent/journal.h"
#include "base/util.h"
#include "check.h"

static char dir[512];
static char *J, *SNAP;

// A journal exercising what agent_state_add reads.
static const char *const LINES[] = {
    "{\"kind\":\"task\",\"task\":\"facts\",\"description\":\"before the meta record\"}",
    "{\"kind\":\"meta\",\"model\":{\"name\":\"m\",\"n_layer\":2,\"n_head\":2,\"vocab\":50},\"goal\":\"which?\"}",
    "not json at all",
    "{\"kind\":\"action\",\"type\":\"experiment\",\"step\":1,\"name\":\"e1\",\"task\":\"facts\",\"examples\":2,"
    "\"configurations\":[[0,1],[1],[]],\"labels\":[\"intact\",\"skip 0\",\"none\"],\"planner\":\"builtin\","
    "\"hypothesis\":\"block 0 matters\",\"queued\":[{\"a\":1}]}",
    "{\"kind\":\"llm\",\"step\":1,\"request\":{}}",
    "{\"kind\":\"result\",\"experiment\":\"e1\",\"tool\":\"scoreloss\",\"id\":\"facts-0\",\"prompt\":\"P0\",\"answer\":\" A\","
    "\"layers\":[0,1],\"answer_loss\":0.25,\"answer_exact\":true}",
    "",
    "{\"kind\":\"result\",\"experiment\":\"e1\",\"tool\":\"scoreloss\",\"id\":\"facts-0\",\"layers\":[1],\"answer_loss\":2.5}",
    "{\"kind\":\"result\",\"experiment\":\"e1\",\"tool\":\"scoreloss\",\"id\":\"facts-1\",\"layers\":[],\"error\":\"boom\"}\r",
    "{\"kind\":\"result\",\"experiment\":\"e1\",\"tool\":\"scoreloss\",\"id\":\"facts-1\",\"error\":\"too long\"}",
    "{\"kind\":\"result\",\"experiment\":\"e1\",\"tool\":\"scoreloss\",\"id\":\"facts-0\",\"layers\":[1],\"answer_loss\":3.75}",
    "{\"kind\":\"result\",\"experiment\":\"e1\",\"tool\":\"runlayers\",\"id\":\"facts-0\",\"layers\":[1],"
    "\"completion\":\" of\",\"judgements\":[{\"q\":\"x\",\"verdict\":\"yes\"}]}",
    "{\"kind\":\"result\",\"experiment\":\"e1\",\"tool\":\"topk\",\"id\":\"facts-0\",\"layers\":[0,1],\"position\":3,"
    "\"token\":\" is\",\"topk\":[{\"token\":\" the\",\"prob\":0.5},{\"token\":\" a\",\"prob\":0.25}],\"answer_rank\":4,"
    "\"kl_from_intact\":0.125}",
    "{\"kind\":\"result\",\"experiment\":\"nowhere\",\"tool\":\"topk\",\"id\":\"x\"}",
    "{\"kind\":\"result\",\"experiment\":\"e1\",\"tool\":\"topk\",\"id\":\"facts-0\",\"layers\":[0]}",
    "{\"kind\":\"note\",\"experiment\":\"e1\",\"task\":\"facts\",\"observation\":\"loss rises\",\"hypothesis\":\"h\"}",
    "{\"kind\":\"action\",\"type\":\"note\",\"step\":2}",
    "{\"kind\":\"action\",\"type\":\"experiment\",\"step\":3,\"name\":\"abl\",\"task\":\"facts\",\"examples\":1,"
    "\"method\":\"ablation\",\"sweeps\":[\"ablate-heads\"]}",
    "{\"kind\":\"result\",\"experiment\":\"abl\",\"tool\":\"scoreloss\",\"id\":\"facts-0\",\"layers\":[0,1],"
    "\"label\":\"ablate L0H1\",\"answer_loss\":1.5}",
    "{\"kind\":\"action\",\"type\":\"experiment\",\"step\":4,\"name\":\"pat\",\"task\":\"facts-pairs\",\"examples\":1,"
    "\"method\":\"patching\",\"patch_hook\":\"resid_pre\"}",
    "{\"kind\":\"result\",\"experiment\":\"pat\",\"tool\":\"scoreloss\",\"id\":\"p-0\",\"layer\":1,\"position\":2,"
    "\"patch_effect\":0.5,\"patch_metric\":\"logit_diff\",\"logit_diff\":1.25,\"clean_logit_diff\":2,"
    "\"corrupt_logit_diff\":-1,\"patch_cells\":4,\"token\":\" Paris\",\"corrupt_token\":\" Rome\"}",
    "{\"kind\":\"result\",\"experiment\":\"pat\",\"tool\":\"scoreloss\",\"id\":\"p-1\",\"error\":\"no pair\"}",
    "[1,2]",
    "{\"kind\":\"action\",\"type\":\"experiment\",\"step\":5,\"name\":\"e1\",\"task\":\"facts\",\"examples\":2,"
    "\"resume\":true,\"after_interruption\":true,\"configurations\":[[0,1]]}",
    "{\"kind\":\"task\",\"task\":\"addition\"}",
    "{\"kind\":\"report\",\"markdown\":\"## Done\\n\"}",
    "{\"kind\":\"meta\",\"model\":{\"name\":\"other\",\"n_layer\":7}}",
    "{\"kind\":\"action\",\"type\":\"experiment\",\"step\":6,\"name\":\"e1\",\"task\":\"facts\",\"examples\":2,\"resume\":true}",
    NULL,
};

static char *journal_text(size_t *len) {
    JsonBuf b = {0};
    for (int i = 0; LINES[i]; i++) {
        jb_puts(&b, LINES[i]);
        jb_raw(&b, "\n", 1);
    }
    *len = b.len;
    return b.buf;
}

static void write_bytes(const char *path, const void *p, size_t n, const char *mode) {
    FILE *f = fopen(path, mode);
    if (!f) return;
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

// The reference: journal_load + agent_state_build, serialised; rc; the warnings.
typedef struct {
    int rc;
    unsigned char *ser;
    size_t len;
    int n_issues;
    char *warn;
    char *view;    // what the planners see: both LLM prompts and the built-in plan's action
    int damaged;   // a section was found damaged after the read (then rebuilt)
} Outcome;

// The state as the planners read it, independently of the serialiser.
static char *planner_view(const AgentState *s) {
    static const char *const tasks[] = {"facts", "addition"};
    AgentOptions o = {.tasks = tasks, .n_tasks = 2, .examples = 2, .max_steps = 0};
    JsonBuf b = {0};
    char *sys = agent_llm_system_prompt(s, &o, s->last_step + 1),
         *user = agent_llm_user_prompt(s, &o, 1000000);
    jb_puts(&b, sys);
    jb_puts(&b, user);
    free(sys);
    free(user);
    AgentAction a;
    char err[256];
    if (agent_forced_action(s, &o, &a) || agent_plan_builtin(s, &o, &a, err, sizeof err) == 0) {
        agent_action_json(&b, &a, s->last_step + 1);
        agent_action_free(&a);
    }
    jb_raw(&b, "", 0);
    return b.buf;
}

static void outcome_free(Outcome *o) {
    free(o->ser);
    free(o->warn);
    free(o->view);
}

static Outcome reference(const char *path) {
    Outcome o = {0};
    JournalLog log;
    AgentState s;
    char err[512];
    journal_load(&log, path, err, sizeof err);
    size_t wl;
    FILE *w = open_memstream(&o.warn, &wl);
    journal_issues_print(&log, path, w);
    fclose(w);
    o.rc = agent_state_build(&s, &log, err, sizeof err) == 0 ? 0 : -2;
    if (o.rc == 0) {
        o.ser = agent_state_serialise(&s, &o.len);
        o.n_issues = s.n_issues;
        o.view = planner_view(&s);
    }
    agent_state_free(&s);
    journal_log_free(&log);
    return o;
}

// The view and serialised form of s read with agent_journal_read: view_first: the planners
// read the state (loading the lazy rows of the experiments they look at) before it is
// serialised, else after (the rows left lazy are copied from the file).
static void outcome_of(Outcome *o, AgentState *s, int view_first) {
    if (view_first) o->view = planner_view(s);
    o->ser = agent_state_serialise(s, &o->len);
    o->n_issues = s->n_issues;
    if (!view_first) o->view = planner_view(s);
}

// As agentstep reads: a state found damaged after the read (agent_state_damaged) is
// built again with AGENT_READ_REBUILD, its view and form taken again.
static Outcome via_snapshot_as(const char *path, const char *snap, AgentReadInfo *info,
                               int view_first) {
    Outcome o = {0};
    AgentState s;
    char err[512];
    size_t wl;
    FILE *w = open_memstream(&o.warn, &wl);
    o.rc = agent_journal_read(&s, path, snap, AGENT_READ_SAVE, w, info, err, sizeof err);
    fclose(w);
    if (o.rc == 0) {
        outcome_of(&o, &s, view_first);
        if (agent_state_damaged(&s)) {
            o.damaged = 1;
            free(o.ser), free(o.view);
            agent_state_free(&s);
            o.rc = agent_journal_read(&s, path, snap, AGENT_READ_SAVE | AGENT_READ_REBUILD, NULL,
                                      info, err, sizeof err);
            if (o.rc == 0) outcome_of(&o, &s, view_first);
        }
    }
    agent_state_free(&s);
    return o;
}

static Outcome via_snapshot(const char *path, const char *snap, AgentReadInfo *info) {
    return via_snapshot_as(path, snap, info, 0);
}

static int same(const Outcome *a, const Outcome *b) {
    return a->rc == b->rc && a->len == b->len && (a->len == 0 || !memcmp(a->ser, b->ser, a->len)) &&
           a->n_issues == b->n_issues && !strcmp(a->warn, b->warn) &&
           (a->view && b->view ? !strcmp(a->view, b->view) : a->view == b->view);
}

// The journal grown one byte at a time: at every length the state read through the state
// file (kept from the previous length) equals the one built from scratch.
static void test_grown(void) {
    size_t len;
    char *text = journal_text(&len);
    unlink(J);
    unlink(SNAP);
    write_bytes(J, "", 0, "wb");
    int mismatches = 0, used = 0, failed_same = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        if (cut > 0) write_bytes(J, text + cut - 1, 1, "ab");
        AgentReadInfo info;
        // every other length, the planners first: rows loaded lazily, then serialised
        Outcome ref = reference(J), got = via_snapshot_as(J, SNAP, &info, (int)(cut % 2));
        if (!same(&ref, &got)) {
            if (mismatches++ < 3)
                printf("# mismatch at %zu bytes (used %d: %s; ser %d, view %d)\n", cut, info.used,
                       info.why,
                       ref.len == got.len && (!ref.len || !memcmp(ref.ser, got.ser, ref.len)),
                       ref.view && got.view && !strcmp(ref.view, got.view));
        }
        used += info.used;
        failed_same += ref.rc != 0 && got.rc != 0;
        outcome_free(&ref);
        outcome_free(&got);
    }
    CHECK_INT(
        "grown byte by byte: the state through the state file equals the rebuilt one at every length",
        mismatches, 0);
    CHECK("grown: the state file was used (most lengths)", used > (int)len / 2);
    CHECK("grown: lengths before the meta record fail alike", failed_same > 0);
    AgentReadInfo info;
    Outcome a = via_snapshot(J, SNAP, &info);
    CHECK("grown: nothing new, the state file used, not rewritten",
          info.used == 1 && info.saved == 0 && info.records == 0);
    outcome_free(&a);
    free(text);
}

static unsigned char *read_all(const char *path, size_t *len) {
    return (unsigned char *)read_file(path, len);
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {   // agent_snapshot.c's
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 1099511628211ull;
    }
    for (; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}
enum { HEADER = 88, CORE_LEN_AT = 64, HASH_AT = 80 };

static size_t core_len(const unsigned char *d) {
    uint64_t v;
    memcpy(&v, d + CORE_LEN_AT, 8);
    return (size_t)v;
}

// Recompute the state file's hash (the layout of agent_snapshot.c): a crafted file.
static void fix_hash(unsigned char *d, size_t n) {
    size_t core = core_len(d);
    if (core > n - HEADER) core = n - HEADER;
    uint64_t h = fnv1a(fnv1a(14695981039346656037ull, d, HASH_AT), d + HEADER, core);
    memcpy(d + HASH_AT, &h, 8);
}

// The experiments' sections of the state file d (n bytes): where each one's hash lies in the core,
// its offset in the rows area and length — found as the (offset, length, hash) triples of
// the core whose hash matches those bytes of the area.  Their number.
typedef struct {
    size_t at;   // the hash's place in d
    uint64_t off, len;
} Section;
static int find_sections(const unsigned char *d, size_t n, Section *out, int max) {
    size_t base = HEADER + core_len(d);
    int k = 0;
    for (size_t p = HEADER; base <= n && p + 24 <= base && k < max; p++) {
        uint64_t off, len, h;
        memcpy(&off, d + p, 8), memcpy(&len, d + p + 8, 8), memcpy(&h, d + p + 16, 8);
        if (len > 0 && off <= n - base && len <= n - base - off &&
            fnv1a(14695981039346656037ull, d + base + off, (size_t)len) == h) {
            out[k++] = (Section){p + 16, off, len};
            p += 23;
        }
    }
    return k;
}

// A state file changed in any one byte or cut short is not used; the state equals the
// rebuilt one.
static void test_corrupt(void) {
    Outcome ref = reference(J);
    AgentReadInfo info;
    Outcome first = via_snapshot(J, SNAP, &info);
    size_t n;
    unsigned char *good = read_all(SNAP, &n);
    CHECK("corrupt: a state file to corrupt", good && n > HEADER);
    if (!good) return;
    unsigned char *bad = xmalloc(n);
    int not_used = 0, equal = 0, tries = 0, lazily = 0;
    size_t rows_at = HEADER + core_len(good);
    CHECK("corrupt: the file has a rows area", rows_at < n);
    for (size_t i = 0; i < n; i++) {
        memcpy(bad, good, n);
        bad[i] ^= 0x5A;
        write_bytes(SNAP, bad, n, "wb");
        Outcome got = via_snapshot(J, SNAP, &info);
        tries++;
        // the header or core: refused when read; a section: when it is read
        not_used += i < rows_at ? !info.used : got.damaged && !info.used;
        lazily += i >= rows_at && got.damaged;
        equal += same(&ref, &got);
        outcome_free(&got);
    }
    CHECK_INT("corrupt: any one byte changed: the state file is not used (a section's: "
              "found damaged when read, then rebuilt)",
              not_used, tries);
    CHECK_INT("corrupt: ... a section's byte: found damaged lazily", lazily, (int)(n - rows_at));
    CHECK_INT("corrupt: ... and the state equals the rebuilt one", equal, tries);
    not_used = equal = tries = 0;
    for (size_t cut = 0; cut < n; cut += cut < 200 ? 1 : 7) {
        write_bytes(SNAP, good, cut, "wb");
        Outcome got = via_snapshot(J, SNAP, &info);
        tries++;
        not_used += !info.used;
        equal += same(&ref, &got);
        outcome_free(&got);
    }
    CHECK_INT("truncated state file at any length: not used", not_used, tries);
    CHECK_INT("truncated: the state equals the rebuilt one", equal, tries);
    // Another version, with a valid hash.
    memcpy(bad, good, n);
    uint32_t v = AGENT_SNAPSHOT_VERSION + 1;
    memcpy(bad + 8, &v, 4);
    fix_hash(bad, n);
    write_bytes(SNAP, bad, n, "wb");
    Outcome got = via_snapshot(J, SNAP, &info);
    CHECK("another version: not used, says so", !info.used && strstr(info.why, "another version"));
    CHECK("another version: rebuilt, equal, and rewritten", same(&ref, &got) && info.saved);
    outcome_free(&got);
    // Crafted: any one byte after the header changed, the hashes made valid (the section's
    // it lies in, then the core's).  Never a memory error, whatever the planners read; a
    // file that passes is a valid state of some other investigation.
    Section sec[8];
    int n_sec = find_sections(good, n, sec, 8);
    CHECK_INT("crafted: the sections found (one per experiment, one per note)", n_sec, 4);
    int crafted_used = 0, rows_used = 0;
    for (size_t i = HEADER; i < n; i++) {
        memcpy(bad, good, n);
        bad[i] = (unsigned char)(bad[i] + 1 + (i % 5 == 0 ? 0x7E : 0));
        for (int k = 0; k < n_sec; k++) {
            const unsigned char *at = bad + rows_at + sec[k].off;
            if (i >= rows_at + sec[k].off && i < rows_at + sec[k].off + sec[k].len) {
                uint64_t h = fnv1a(14695981039346656037ull, at, (size_t)sec[k].len);
                memcpy(bad + sec[k].at, &h, 8);
            }
        }
        fix_hash(bad, n);
        write_bytes(SNAP, bad, n, "wb");
        AgentState s;
        char err[256];
        if (agent_journal_read(&s, J, SNAP, 0, NULL, &info, err, sizeof err) == 0 && info.used) {
            crafted_used++;
            AgentOptions o = {.tasks = (const char *const[]){"facts"}, .n_tasks = 1, .examples = 2};
            AgentAction a;
            if (agent_forced_action(&s, &o, &a)) agent_action_free(&a);
            free(planner_view(&s));   // both prompts, the built-in plan: rows read lazily
            for (int e = 0; e < s.n_exp; e++) {
                agent_experiment_complete(&s.exp[e], NULL);
                agent_experiment_load(&s.exp[e]);   // the lazy sections parsed too
                for (int k = 0; k < s.exp[e].configs.n; k++)
                    agent_config_stats(&s.exp[e], k, s.n_layer);
            }
            rows_used += i >= rows_at && !agent_state_damaged(&s);
        }
        agent_state_free(&s);
    }
    printf("# crafted: %d of %zu one-byte changes with valid hashes were accepted (%d in rows "
           "sections, read without damage)\n",
           crafted_used, n - HEADER, rows_used);
    CHECK("crafted: some sections' changes parsed and kept", rows_used > 0);
    CHECK("crafted: every one-byte change read without a memory error (ASan), some refused",
          crafted_used < (int)(n - HEADER));
    write_bytes(SNAP, good, n, "wb");
    free(bad);
    free(good);
    outcome_free(&first);
    outcome_free(&ref);
}

// The journal changed behind the state file's back: edited in its last bytes, truncated,
// replaced by a copy (another inode).  The state file is not used; the state is rebuilt.
static void test_edited(void) {
    AgentReadInfo info;
    Outcome a = via_snapshot(J, SNAP, &info);
    outcome_free(&a);
    size_t n;
    unsigned char *text = read_all(J, &n), *save = read_all(SNAP, &n);
    size_t jlen = strlen((char *)text), slen = n;
    // an edit of the same length within the last 4 KiB: "loss rises" -> "loss falls"
    char *p = strstr((char *)text, "loss rises");
    CHECK("edited: the text to edit", p != NULL);
    if (p) memcpy(p + 5, "falls", 5);
    int fd = open(J, O_WRONLY);   // in place: the same inode
    if (fd >= 0) {
        if (pwrite(fd, text, jlen, 0) != (ssize_t)jlen) printf("# pwrite failed\n");
        close(fd);
    }
    Outcome ref = reference(J), got = via_snapshot(J, SNAP, &info);
    CHECK("edited in place: the state file is not used", !info.used && strstr(info.why, "differ"));
    CHECK("edited in place: the state equals the rebuilt one (the new text)", same(&ref, &got));
    outcome_free(&ref);
    outcome_free(&got);
    // truncated (then grown by other records): shorter than covered
    write_bytes(SNAP, save, slen, "wb");
    if (truncate(J, (off_t)(jlen / 2)) != 0) printf("# truncate failed\n");
    ref = reference(J), got = via_snapshot(J, SNAP, &info);
    CHECK("truncated journal: the state file is not used",
          !info.used && strstr(info.why, "shorter"));
    CHECK("truncated journal: the state equals the rebuilt one", same(&ref, &got));
    outcome_free(&ref);
    outcome_free(&got);
    // replaced: the same bytes in another file renamed over it
    Outcome before = via_snapshot(J, SNAP, &info);
    char *copy = xasprintf("%s.copy", J);
    size_t cl;
    unsigned char *now = read_all(J, &cl);
    write_bytes(copy, now, cl, "wb");
    rename(copy, J);
    got = via_snapshot(J, SNAP, &info);
    CHECK("replaced journal: the state file is not used",
          !info.used && strstr(info.why, "another file"));
    CHECK("replaced journal: the state equals the one before", same(&before, &got));
    outcome_free(&before);
    outcome_free(&got);
    // no state file asked for: nothing written
    unlink(SNAP);
    AgentState s;
    char err[256];
    CHECK_INT("no state file: reads",
              agent_journal_read(&s, J, NULL, AGENT_READ_SAVE, NULL, &info, err, sizeof err), 0);
    agent_state_free(&s);
    CHECK("no state file: none written", access(SNAP, F_OK) != 0 && !info.saved);
    free(now);
    free(copy);
    free(text);
    free(save);
}

// A section damaged after the state file's core was read (changed or truncated in
// place during a step): found when the planners read it, never a memory error or a
// signal; the state built again equals the reference.  And one damaged before a read that
// loads it (a new result of its experiment): agent_journal_read rebuilds, says why,
// rewrites the file.
static void test_damaged_lazily(void) {
    size_t jlen;
    char *text = journal_text(&jlen);
    write_bytes(J, text, jlen, "wb");
    unlink(SNAP);
    AgentReadInfo info;
    Outcome ref = reference(J), first = via_snapshot(J, SNAP, &info);
    CHECK("lazily: a state file written", info.saved == 1 && same(&ref, &first));
    size_t n;
    unsigned char *good = read_all(SNAP, &n);
    size_t rows_at = good ? HEADER + core_len(good) : n;
    CHECK("lazily: a rows area", good && rows_at < n);
    for (int how = 0; how < 3 && good; how++) {
        write_bytes(SNAP, good, n, "wb");
        AgentState s;
        char err[256];
        int rc = agent_journal_read(&s, J, SNAP, 0, NULL, &info, err, sizeof err);
        CHECK("lazily: the state file read (its core)", rc == 0 && info.used == 1);
        int lazy = 0;
        for (int e = 0; e < s.n_exp; e++)
            lazy += s.exp[e].lazy && s.exp[e].name && !s.exp[e].task && !s.exp[e].configs.n;
        CHECK_INT("lazily: every experiment read as its name only (the rest in its section)", lazy,
                  3);
        CHECK("lazily: the note read as what it names only (its text in its section)",
              s.n_note == 1 && s.note[0].lazy && s.note[0].experiment && !s.note[0].observation);
        int fd = open(SNAP, O_WRONLY);   // in place: the file the state holds open
        if (how == 0 && fd >= 0) {
            unsigned char x = (unsigned char)(good[n - 3] ^ 0x21);
            if (pwrite(fd, &x, 1, (off_t)(n - 3)) != 1) printf("# pwrite failed\n");
        } else if (how == 1 && fd >= 0) {
            if (ftruncate(fd, (off_t)rows_at) != 0) printf("# ftruncate failed\n");
        } else if (fd >= 0) {
            if (ftruncate(fd, 0) != 0) printf("# ftruncate failed\n");
        }
        if (fd >= 0) close(fd);
        CHECK_INT("lazily: not damaged before a section is read", agent_state_damaged(&s), 0);
        char *view = planner_view(&s);   // reads the rows of the experiments it looks at
        size_t len;
        unsigned char *ser = agent_state_serialise(&s, &len);   // every lazy section
        free(view);
        free(ser);
        static const char *const what[] = {"a byte changed in place", "truncated to its core",
                                           "truncated to nothing"};
        printf("# %s\n", what[how]);
        CHECK_INT("lazily: the section found damaged when read", agent_state_damaged(&s), 1);
        agent_state_free(&s);
        Outcome got = via_snapshot(J, SNAP, &info);   // the next step: a new file or a rebuild
        CHECK("lazily: ... the state built again equals the reference", same(&ref, &got));
        outcome_free(&got);
    }
    // damaged before the read that needs it: a new result of e1 makes agent_journal_read
    // load e1's rows while it adds the record
    if (good) {
        unsigned char *bad = xmalloc(n);
        memcpy(bad, good, n);
        bad[n - 3] ^= 0x21;   // the last section's (of the last experiment)
        write_bytes(SNAP, bad, n, "wb");
        free(bad);
        const char *more = "{\"kind\":\"result\",\"experiment\":\"pat\",\"tool\":\"scoreloss\","
                           "\"id\":\"p-1\",\"error\":\"again\"}\n";
        write_bytes(J, more, strlen(more), "ab");
        Outcome ref2 = reference(J), got = via_snapshot(J, SNAP, &info);
        CHECK("lazily, while reading: rebuilt inside agent_journal_read, says why",
              !info.used && strstr(info.why, "damaged") && !got.damaged);
        CHECK("lazily, while reading: ... the state equals the reference", same(&ref2, &got));
        CHECK("lazily, while reading: ... the state file rewritten", info.saved == 1);
        Outcome again = via_snapshot(J, SNAP, &info);
        CHECK("lazily, while reading: ... and used at the next read",
              info.used && !again.damaged && same(&ref2, &again));
        outcome_free(&again);
        outcome_free(&got);
        outcome_free(&ref2);
    }
    free(good);
    free(text);
    outcome_free(&first);
    outcome_free(&ref);
}

int main(void) {
    if (check_scratch(dir, sizeof dir, "test_agent_snapshot") != 0) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    J = path_join(dir, "j.ndjson");
    SNAP = path_join(dir, "j.ndjson.agentstate");
    test_grown();
    test_corrupt();
    test_edited();
    test_damaged_lazily();
    if (!check_keep_scratch()) {
        unlink(J);
        unlink(SNAP);
        rmdir(dir);
    }
    free(J);
    free(SNAP);
    CHECK_DONE();
}
