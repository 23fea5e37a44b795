// agent_snapshot: the agent's state kept beside the journal; see agent_snapshot.h.
//
// File layout (native byte order; a machine of the other order sees a wrong magic):
//   header   "AIAGSTAT", u32 version, u32 0, then u64: journal dev, inode, covered bytes,
//            lines, FNV-1a of the first and of the last min(covered, 4096) bytes,
//            core length, sections' length, FNV-1a of the header before this field and
//            the core: any one byte changed in them is seen when the file is read
//   core     the issues of the covered prefix (count; line, offset, message each), then
//            the AgentState (put_state below; read back by get_state, field for field),
//            each experiment as what the walks over every experiment read (its name,
//            attempts, completeness: agent_experiment_complete's result and need[]) and
//            its section's offset among the sections, length and FNV-1a hash (u64 each),
//            each note as the experiment and task it names and its section's place
//   sections one per experiment, one after the other: its other fields, then its rows and
//            patch cells (put_experiment); one per note: its observation and hypothesis.
//            A step reads the header and the core; agent_experiment_load (agent_note_load)
//            reads a section (pread) when something first reads that experiment beyond its
//            name (that note's text), and checks its hash then: a section damaged
//            after the core was read (the file changed or truncated in place) marks the
//            state damaged (agent_state_damaged), and the caller builds it again from the
//            journal
// The serialised state of agent_state_serialise is the core with each section inline (its
// length, then its bytes) instead of its place: the same bytes however the state was read.
#include "agent/agent_snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

#define MAGIC            "AIAGSTAT"
#define WINDOW           4096
#define HEADER_BYTES     (8 + 4 + 4 + 9 * 8)
#define NO_STRING        0xFFFFFFFFu
#define REWRITE_FRACTION 32

// FNV-1a, 8 bytes at a time (the state file runs to tens of MB): each step
// h = (h ^ word) * odd prime is a bijection of h and, for a given h, of the word, so any one
// word (so any one byte) changed changes the result.  Not cryptographic: it catches files
// damaged by accident; a crafted file is the bounds checks' job.
static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 1099511628211ull;
    }
    for (; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}
#define FNV_SEED 14695981039346656037ull

// The serialiser below names every field of these structs.  A field added to one of them
// must be written and read here too (and AGENT_SNAPSHOT_VERSION bumped), or a state read
// back would lose it: their sizes on LP64 are pinned so that the build says so.
#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu
#define PINNED(type, size)                                                                         \
    _Static_assert(sizeof(type) == (size),                                                         \
                   #type " changed: update agent_snapshot.c's put_ and "                           \
                         "get_ functions and AGENT_SNAPSHOT_VERSION, then this size")
PINNED(AgentState, 160);
PINNED(AgentExperiment, 232);
PINNED(AgentRow, 176);
PINNED(AgentPatchRow, 96);
PINNED(AgentNote, 64);
PINNED(AgentExample, 24);
PINNED(LayerConfig, 80);
#endif

// ----------------------------------------------------------------------------- the open file

struct AgentStateFile {
    int fd;           // the state file, open read-only
    long long base;   // where its sections begin
    long long len;    // the sections' length
    int damaged;      // a section read from it was short, not of its hash, or invalid
    int n_layer;      // the state's (to check the configurations of a section)
};

void agent_state_file_free(AgentStateFile *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    free(f);
}

int agent_state_damaged(const AgentState *s) { return s->file && s->file->damaged; }

// Read exactly n bytes at off of fd: 0, or -1 when they are not all there.
static int pread_all(int fd, void *buf, size_t n, long long off) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (unsigned char *)buf + got, n - got, (off_t)(off + (long long)got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

// The section of len bytes at off of f's sections, read and checked against its hash: a
// new buffer (free with free()), or NULL with the file marked damaged.
static unsigned char *section_read(AgentStateFile *f, long long off, size_t len, uint64_t hash) {
    unsigned char *buf = xmalloc(len ? len : 1);
    if (pread_all(f->fd, buf, len, f->base + off) != 0 || fnv1a(FNV_SEED, buf, len) != hash) {
        f->damaged = 1;
        free(buf);
        return NULL;
    }
    return buf;
}

// ----------------------------------------------------------------------------- writing

static void put(JsonBuf *b, const void *p, size_t n) { jb_raw(b, (const char *)p, n); }
static void put_u32(JsonBuf *b, uint32_t v) { put(b, &v, 4); }
static void put_i32(JsonBuf *b, int v) { put(b, &(int32_t){(int32_t)v}, 4); }
static void put_i64(JsonBuf *b, long long v) { put(b, &(int64_t){(int64_t)v}, 8); }
static void put_u64(JsonBuf *b, uint64_t v) { put(b, &v, 8); }
static void put_f64(JsonBuf *b, double v) { put(b, &v, 8); }
static void put_str(JsonBuf *b, const char *s) {
    if (!s) {
        put_u32(b, NO_STRING);
        return;
    }
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    put(b, s, n);
}

static void put_row(JsonBuf *b, const AgentRow *r) {
    put_i32(b, r->ex), put_i32(b, r->cfg), put_i32(b, r->position);
    put_str(b, r->error);
    put_i64(b, r->lineno);
    put_f64(b, r->loss);
    put_i32(b, r->exact);
    put_str(b, r->completion), put_str(b, r->judgements), put_str(b, r->token);
    put_i32(b, r->n_top);
    for (int k = 0; k < r->n_top; k++) put_str(b, r->top[k]), put_f64(b, r->top_prob[k]);
    put_i64(b, r->answer_rank);
    put_f64(b, r->kl);
}

static void put_patch_row(JsonBuf *b, const AgentPatchRow *r) {
    put_i32(b, r->ex), put_i32(b, r->layer), put_i32(b, r->col), put_i32(b, r->is_head);
    put_f64(b, r->effect), put_f64(b, r->metric), put_f64(b, r->clean_ld),
        put_f64(b, r->corrupt_ld);
    put_f64(b, r->clean_loss), put_f64(b, r->corrupt_loss);
    put_i32(b, r->cells), put_i32(b, r->changed);
    put_str(b, r->token), put_str(b, r->error);
    put_i64(b, r->lineno);
}

// A section: with area NULL inline in b (its length, then its bytes), else appended to
// area, its offset there, length and hash in b.  section_begin, the section's bytes in
// section_buf, then section_end.
static size_t section_begin(JsonBuf *b, const JsonBuf *area) {
    if (!area) put_u64(b, 0);   // the length, filled in by section_end
    return area ? area->len : b->len;
}
static JsonBuf *section_buf(JsonBuf *b, JsonBuf *area) { return area ? area : b; }
static void section_end(JsonBuf *b, const JsonBuf *area, size_t at) {
    uint64_t len = (uint64_t)((area ? area->len : b->len) - at);
    if (area) {
        put_u64(b, (uint64_t)at), put_u64(b, len);
        put_u64(b, len ? fnv1a(FNV_SEED, (const unsigned char *)area->buf + at, (size_t)len)
                       : FNV_SEED);
    } else {
        memcpy(b->buf + at - 8, &len, 8);
    }
}
// The bytes of a section still in the file, copied into r (else the state is damaged: the
// caller rebuilds it).
static void section_copy(JsonBuf *r, AgentStateFile *f, long long off, size_t len, uint64_t hash) {
    unsigned char *sec = section_read(f, off, len, hash);
    if (sec) put(r, sec, len);
    free(sec);
}

// What the planners' walks over every experiment read — its name, attempts (a re-run
// changes them without reading the rest) and completeness — then the experiment's section:
// its other fields and its rows (get_detail, get_rows).
static void put_experiment(JsonBuf *b, const AgentExperiment *e, JsonBuf *area) {
    put_str(b, e->name);
    put_i32(b, e->attempts);
    int need[AGENT_N_TOOLS];
    put_i32(b, agent_experiment_complete(e, need));
    for (int t = 0; t < AGENT_N_TOOLS; t++) put_i32(b, need[t]);
    size_t at = section_begin(b, area);
    JsonBuf *r = section_buf(b, area);
    if (e->lazy) {   // the bytes the fields below wrote when the file was saved
        section_copy(r, e->lazy, e->lazy_off, e->lazy_len, e->lazy_hash);
    } else {
        put_str(r, e->task);
        put_i32(r, e->configs.n);
        for (int k = 0; k < e->configs.n; k++) {
            const LayerConfig *c = &e->configs.cfg[k];
            put_i32(r, c->n);
            for (int i = 0; i < c->n; i++) put_i32(r, c->idx[i]);
            put_str(r, c->label);
        }
        put_i32(r, e->examples), put_i32(r, e->samples), put_i32(r, e->step);
        put_str(r, e->planner), put_str(r, e->hypothesis), put_str(r, e->sweeps);
        put_i32(r, e->n_ex);
        for (int i = 0; i < e->n_ex; i++)
            put_str(r, e->ex[i].id), put_str(r, e->ex[i].prompt), put_str(r, e->ex[i].answer);
        put_i64(r, e->n_stray);
        put_str(r, e->method), put_str(r, e->method_arg);
        put_i32(r, e->judge);
        for (int t = 0; t < AGENT_N_TOOLS; t++) {
            put_i32(r, e->rows[t].n);
            for (int i = 0; i < e->rows[t].n; i++) put_row(r, &e->rows[t].row[i]);
        }
        put_i32(r, e->patch.n);
        for (int i = 0; i < e->patch.n; i++) put_patch_row(r, &e->patch.row[i]);
    }
    section_end(b, area, at);
}

// A note: what the walks over every note read (the experiment and task it names), then
// its section: its observation and hypothesis (agent_note_load).
static void put_note(JsonBuf *b, const AgentNote *n, JsonBuf *area) {
    put_str(b, n->experiment), put_str(b, n->task);
    size_t at = section_begin(b, area);
    JsonBuf *r = section_buf(b, area);
    if (n->lazy) section_copy(r, n->lazy, n->lazy_off, n->lazy_len, n->lazy_hash);
    else put_str(r, n->observation), put_str(r, n->hypothesis);
    section_end(b, area, at);
}

static void put_state(JsonBuf *b, const AgentState *s, JsonBuf *area) {
    put_str(b, s->model_name);
    put_i32(b, s->n_layer), put_i32(b, s->n_head), put_i32(b, s->vocab);
    put_str(b, s->model_json), put_str(b, s->goal);
    put_i32(b, s->n_exp);
    for (int i = 0; i < s->n_exp; i++) put_experiment(b, &s->exp[i], area);
    put_i32(b, s->n_note);
    for (int i = 0; i < s->n_note; i++) put_note(b, &s->note[i], area);
    put_i32(b, s->n_task_recorded);
    for (int i = 0; i < s->n_task_recorded; i++) put_str(b, s->task_recorded[i]);
    put_i32(b, s->n_actions), put_i32(b, s->n_after_interruption);
    put_str(b, s->last_experiment);
    put_i32(b, s->last_step);
    put_str(b, s->queued), put_str(b, s->report);
    put_i32(b, s->n_llm);
    put_i64(b, s->n_stray);
}

unsigned char *agent_state_serialise(const AgentState *s, size_t *len) {
    JsonBuf b = {0};
    put_state(&b, s, NULL);
    jb_raw(&b, "", 0);
    *len = b.len;
    return (unsigned char *)b.buf;
}

// ----------------------------------------------------------------------------- reading

// A cursor over untrusted bytes: every get checks the bytes left; the first failure sets
// bad (and what), and every later get returns zeros.
typedef struct {
    const unsigned char *p, *end;
    const char *bad;
} Cur;

static int take(Cur *c, void *out, size_t n) {
    if (c->bad || (size_t)(c->end - c->p) < n) {
        if (!c->bad) c->bad = "it ends early";
        memset(out, 0, n);
        return -1;
    }
    memcpy(out, c->p, n);
    c->p += n;
    return 0;
}
static uint32_t get_u32(Cur *c) {
    uint32_t v;
    take(c, &v, 4);
    return v;
}
static uint64_t get_u64(Cur *c) {
    uint64_t v;
    take(c, &v, 8);
    return v;
}
static long long get_i64(Cur *c) {
    int64_t v;
    take(c, &v, 8);
    return (long long)v;
}
static double get_f64(Cur *c) {
    double v;
    take(c, &v, 8);
    return v;
}
static void bad(Cur *c, const char *what) {
    if (!c->bad) c->bad = what;
}
// An int in lo..hi (else bad).
static int get_int(Cur *c, long long lo, long long hi, const char *what) {
    int32_t v;
    take(c, &v, 4);
    if (v < lo || v > hi) {
        bad(c, what);
        return (int)lo;
    }
    return v;
}
// A count of items of at least min_bytes each that the bytes left can hold.
static int get_count(Cur *c, size_t min_bytes, const char *what) {
    int n = get_int(c, 0, INT32_MAX, what);
    if ((size_t)n > (size_t)(c->end - c->p) / min_bytes) {
        bad(c, what);
        return 0;
    }
    return n;
}
static char *get_str(Cur *c) {
    uint32_t n = get_u32(c);
    if (c->bad || n == NO_STRING) return NULL;
    if (n > (size_t)(c->end - c->p) || memchr(c->p, '\0', n)) {
        bad(c, "a string runs past its end");
        return NULL;
    }
    char *s = xstrndup((const char *)c->p, n);
    c->p += n;
    return s;
}
static char *get_str_set(Cur *c, const char *what) {
    char *s = get_str(c);
    if (!s) bad(c, what);
    return s;
}

static void get_row(Cur *c, AgentRow *r, const AgentExperiment *e) {
    r->ex = get_int(c, 0, e->n_ex - 1, "a row names an example that does not exist");
    r->cfg = get_int(c, 0, e->configs.n - 1, "a row names a configuration that does not exist");
    r->position = get_int(c, -1, INT32_MAX, "a bad position");
    r->error = get_str(c);
    r->lineno = get_i64(c);
    r->loss = get_f64(c);
    r->exact = get_int(c, 0, 1, "a bad answer_exact");
    r->completion = get_str(c);
    r->judgements = get_str(c);
    r->token = get_str(c);
    int n_top = get_int(c, 0, AGENT_TOP_K, "too many top tokens");
    for (int k = 0; k < n_top && !c->bad; k++) {
        r->top[k] = get_str_set(c, "a top token without text");
        r->top_prob[k] = get_f64(c);
        if (r->top[k]) r->n_top = k + 1;
    }
    r->answer_rank = get_i64(c);
    r->kl = get_f64(c);
}

static void get_patch_row(Cur *c, AgentPatchRow *r, const AgentExperiment *e) {
    r->ex = get_int(c, 0, e->n_ex - 1, "a patch cell names an example that does not exist");
    r->layer = get_int(c, -1, 99999, "a bad patch layer");
    r->col = get_int(c, -1, 99999, "a bad patch column");
    r->is_head = get_int(c, 0, 1, "a bad is_head");
    r->effect = get_f64(c), r->metric = get_f64(c), r->clean_ld = get_f64(c),
    r->corrupt_ld = get_f64(c);
    r->clean_loss = get_f64(c), r->corrupt_loss = get_f64(c);
    r->cells = get_int(c, 0, 100000000, "a bad patch_cells");
    r->changed = get_int(c, 0, 1, "a bad changed flag");
    r->token = get_str(c);
    r->error = get_str(c);
    r->lineno = get_i64(c);
}

static void get_configs(Cur *c, ConfigList *cl, int n_layer) {
    int n = get_count(c, 8, "a bad configuration count");
    if (n == 0) bad(c, "an experiment without configurations");
    for (int k = 0; k < n && !c->bad; k++) {
        int m = get_count(c, 4, "a bad configuration length");
        int *idx = xmalloc(sizeof(int) * (size_t)(m ? m : 1));
        for (int i = 0; i < m; i++)
            idx[i] = get_int(c, 0, n_layer - 1, "a block index out of range");
        char *label = get_str_set(c, "a configuration without a label");
        if (label && strlen(label) >= LAYER_LABEL_MAX) bad(c, "a configuration label too long");
        if (!c->bad) configs_add(cl, idx, m, label);
        free(idx);
        free(label);
    }
}

// A section's place and hash (section_end), set in *lazy and the rest when valid.
static void get_section(Cur *c, AgentStateFile *f, AgentStateFile **lazy, long long *off,
                        size_t *len, unsigned long long *hash) {
    uint64_t o = get_u64(c), n = get_u64(c), h = get_u64(c);
    if (!c->bad && (o > (uint64_t)f->len || n > (uint64_t)f->len - o))
        bad(c, "a section lies outside the file");
    if (c->bad) return;
    *lazy = f;
    *off = (long long)o;
    *len = (size_t)n;
    *hash = h;
}

// An experiment of the core (put_experiment): its section is read when first needed
// (agent_experiment_load).
static void get_experiment(Cur *c, AgentExperiment *e, AgentStateFile *f) {
    e->name = get_str_set(c, "an experiment without a name");
    e->attempts = get_int(c, INT32_MIN, INT32_MAX, "");
    e->lazy_complete = get_int(c, 0, 1, "a bad complete flag");
    for (int t = 0; t < AGENT_N_TOOLS; t++) e->lazy_need[t] = get_int(c, 0, 1, "a bad need flag");
    get_section(c, f, &e->lazy, &e->lazy_off, &e->lazy_len, &e->lazy_hash);
}

// The fields of an experiment's section before its rows (put_experiment).
static void get_detail(Cur *c, AgentExperiment *e, int n_layer) {
    e->task = get_str_set(c, "an experiment without a task");
    get_configs(c, &e->configs, n_layer);
    e->examples = get_int(c, 1, AGENT_MAX_EXAMPLES, "a bad example count");
    e->samples = get_int(c, 0, e->examples, "a bad sample count");
    e->step = get_int(c, INT32_MIN, INT32_MAX, "");
    e->planner = get_str(c), e->hypothesis = get_str(c), e->sweeps = get_str(c);
    int n_ex = get_count(c, 12, "a bad example count");
    if (!c->bad) e->ex = xcalloc((size_t)(n_ex ? n_ex : 1), sizeof *e->ex);
    for (int i = 0; i < n_ex && !c->bad; i++) {
        char *id = get_str_set(c, "an example without an id");
        if (!id) break;
        e->ex[i].id = id;
        e->ex[i].prompt = get_str(c);
        e->ex[i].answer = get_str(c);
        e->n_ex = i + 1;
    }
    e->n_stray = get_i64(c);
    e->method = get_str(c), e->method_arg = get_str(c);
    e->judge = get_int(c, 0, 1, "a bad judge flag");
}

// The rows section of e (put_experiment), into e->rows and e->patch.
static void get_rows(Cur *c, AgentExperiment *e) {
    for (int t = 0; t < AGENT_N_TOOLS && !c->bad; t++) {
        AgentRows *rs = &e->rows[t];
        int n = get_count(c, 64, "a bad row count");
        if (c->bad || n == 0) continue;
        rs->row = xcalloc((size_t)n, sizeof *rs->row);
        rs->cap = n;
        for (int i = 0; i < n && !c->bad; i++) {
            get_row(c, &rs->row[i], e);
            rs->n = i + 1;
        }
    }
    int n_patch = get_count(c, 88, "a bad patch cell count");   // 88: a cell without strings
    if (!c->bad && n_patch > 0) {
        e->patch.row = xcalloc((size_t)n_patch, sizeof *e->patch.row);
        e->patch.cap = n_patch;
        for (int i = 0; i < n_patch && !c->bad; i++) {
            get_patch_row(c, &e->patch.row[i], e);
            e->patch.n = i + 1;
        }
    }
    if (!c->bad && c->p != c->end) bad(c, "bytes after a rows section");
}

void agent_experiment_load(const AgentExperiment *ce) {
    if (!ce->lazy) return;
    // The experiments live in the state's heap array: e is const only to the readers that
    // call this, so its fields can be filled in through it.
    AgentExperiment *e = (AgentExperiment *)ce;
    AgentStateFile *f = e->lazy;
    unsigned char *sec = section_read(f, e->lazy_off, e->lazy_len, e->lazy_hash);
    e->lazy = NULL;
    Cur c = {sec, sec ? sec + e->lazy_len : NULL, sec ? NULL : "damaged"};
    if (sec) {
        get_detail(&c, e, f->n_layer);
        get_rows(&c, e);
    }
    if (c.bad) {
        // Damaged (short, or not of its hash), or of the right hash but not parsing (a
        // crafted file): the state is damaged, and none of the section is kept — e is an
        // experiment planned and never run, which every reader handles, until the caller
        // builds the state again.
        f->damaged = 1;
        agent_experiment_reset(e, f->n_layer);
    }
    free(sec);
    e->lazy_len = 0;
}

void agent_note_load(const AgentNote *cn) {
    if (!cn->lazy) return;
    AgentNote *n = (AgentNote *)cn;   // in the state's heap array, as agent_experiment_load's
    AgentStateFile *f = n->lazy;
    unsigned char *sec = section_read(f, n->lazy_off, n->lazy_len, n->lazy_hash);
    n->lazy = NULL;
    Cur c = {sec, sec ? sec + n->lazy_len : NULL, sec ? NULL : "damaged"};
    if (sec) {
        n->observation = get_str_set(&c, "a note without an observation");
        n->hypothesis = get_str(&c);
        if (!c.bad && c.p != c.end) bad(&c, "bytes after a note");
    }
    if (c.bad) {   // damaged, or crafted: the state is damaged, the note left empty
        f->damaged = 1;
        free(n->observation);
        free(n->hypothesis);
        n->observation = xstrdup("");
        n->hypothesis = NULL;
    }
    free(sec);
    n->lazy_len = 0;
}

static void get_state(Cur *c, AgentState *s, AgentStateFile *f) {
    s->model_name = get_str_set(c, "no model name");
    s->n_layer = get_int(c, 1, 1000, "a bad n_layer");
    s->n_head = get_int(c, 0, 10000, "a bad n_head");
    s->vocab = get_int(c, 0, 100000000, "a bad vocab");
    s->model_json = get_str_set(c, "no model description");
    s->goal = get_str(c);
    f->n_layer = s->n_layer;
    int n_exp = get_count(c, 48, "a bad experiment count");
    if (!c->bad && n_exp > 0) s->exp = xcalloc((size_t)n_exp, sizeof *s->exp);
    for (int i = 0; i < n_exp && !c->bad; i++) {
        s->n_exp = i + 1;   // counted first: agent_state_free frees a half-read one
        get_experiment(c, &s->exp[i], f);
    }
    int n_note = get_count(c, 16, "a bad note count");
    if (!c->bad && n_note > 0) s->note = xcalloc((size_t)n_note, sizeof *s->note);
    for (int i = 0; i < n_note && !c->bad; i++) {
        AgentNote *n = &s->note[i];
        s->n_note = i + 1;
        n->experiment = get_str(c), n->task = get_str(c);
        get_section(c, f, &n->lazy, &n->lazy_off, &n->lazy_len, &n->lazy_hash);
    }
    int n_task = get_count(c, 4, "a bad task count");
    if (!c->bad && n_task > 0) s->task_recorded = xcalloc((size_t)n_task, sizeof(char *));
    for (int i = 0; i < n_task && !c->bad; i++) {
        s->task_recorded[i] = get_str_set(c, "a task without a name");
        s->n_task_recorded = i + 1;
    }
    s->n_actions = get_int(c, 0, INT32_MAX, "a bad action count");
    s->n_after_interruption = get_int(c, 0, INT32_MAX, "a bad interruption count");
    s->last_experiment = get_str(c);
    s->last_step = get_int(c, 0, 999999999, "a bad last step");
    s->queued = get_str(c), s->report = get_str(c);
    s->n_llm = get_int(c, 0, INT32_MAX, "a bad llm count");
    s->n_stray = get_i64(c);
}

// ----------------------------------------------------------------------------- the journal's identity

typedef struct {
    uint64_t dev, ino, covered, lines, head, tail;
} Identity;

// Hash [off, off + n) of the open journal (n <= WINDOW); -1 when the bytes cannot all be read.
static int hash_range(int fd, long long off, size_t n, uint64_t *h) {
    unsigned char buf[WINDOW];
    if (pread_all(fd, buf, n, off) != 0) return -1;
    *h = fnv1a(FNV_SEED, buf, n);
    return 0;
}

// The identity of the first `covered` bytes of the journal at path (lines: given).  -1 when
// the journal is shorter or cannot be read; *size gets its size.
static int identify(const char *path, long long covered, long lines, Identity *id,
                    long long *size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) == 0) {
        *size = (long long)st.st_size;
        size_t w = (size_t)(covered < WINDOW ? covered : WINDOW);
        *id = (Identity){
            (uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)covered, (uint64_t)lines, 0, 0};
        if (covered <= st.st_size && hash_range(fd, 0, w, &id->head) == 0 &&
            hash_range(fd, covered - (long long)w, w, &id->tail) == 0)
            rc = 0;
    }
    close(fd);
    return rc;
}

// ----------------------------------------------------------------------------- the file

typedef struct {
    JournalIssue *issues;   // of the covered prefix (raw NULL)
    int n_issues;
    long long covered;
    long lines;
    long long file_len;   // the state file's size
} Prefix;

static void issues_put(JsonBuf *b, const JournalIssue *is, int n) {
    put_i32(b, n);
    for (int i = 0; i < n; i++)
        put_i64(b, is[i].lineno), put_i64(b, is[i].offset), put_i64(b, (long long)is[i].len),
            put_str(b, is[i].msg);
}

// Read the state file at snap if it belongs to the journal at path: its header and core
// (the experiments' sections stay in the file, read when needed): 0 with *s (s->file open) and *p
// set, or -1 with why (and *s, *p empty).
static int snapshot_load(const char *snap, const char *path, AgentState *s, Prefix *p, char *why,
                         size_t whylen) {
    memset(s, 0, sizeof *s);
    memset(p, 0, sizeof *p);
    int fd = open(snap, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(why, whylen,
                    errno == ENOENT ? "no state file" : "the state file cannot be read");
    AgentStateFile *f = xcalloc(1, sizeof *f);
    f->fd = fd;
    struct stat st;
    unsigned char head[HEADER_BYTES];
    int have_head = fstat(fd, &st) == 0 && pread_all(fd, head, HEADER_BYTES, 0) == 0;
    Cur c = {head, head + (have_head ? HEADER_BYTES : 0), NULL};
    char magic[8];
    take(&c, magic, 8);
    uint32_t version = get_u32(&c), reserved = get_u32(&c);
    Identity want;
    want.dev = get_u64(&c), want.ino = get_u64(&c), want.covered = get_u64(&c),
    want.lines = get_u64(&c);
    want.head = get_u64(&c), want.tail = get_u64(&c);
    uint64_t core_len = get_u64(&c), rows_len = get_u64(&c), hash = get_u64(&c);
    uint64_t body = have_head ? (uint64_t)st.st_size - HEADER_BYTES : 0;
    unsigned char *core = NULL;
    Identity have;
    long long size = 0;
    int rc = -1;
    if (c.bad || memcmp(magic, MAGIC, 8) || reserved != 0)
        fail(why, whylen, "the state file is not one (no header)");
    else if (version != AGENT_SNAPSHOT_VERSION)
        fail(why, whylen, "the state file is of another version (%u, not %d)", version,
             AGENT_SNAPSHOT_VERSION);
    else if (core_len > body || rows_len != body - core_len ||
             pread_all(fd, core = xmalloc(core_len ? core_len : 1), core_len, HEADER_BYTES) != 0 ||
             hash != fnv1a(fnv1a(FNV_SEED, head, HEADER_BYTES - 8), core, core_len))
        fail(why, whylen, "the state file is corrupt (its length or hash does not match)");
    else if (want.covered > (uint64_t)1 << 62 || want.lines > (uint64_t)1 << 62 ||
             identify(path, (long long)want.covered, (long)want.lines, &have, &size) != 0)
        fail(
            why, whylen,
            "the journal is shorter than the state file says (%llu bytes, not %lld): truncated or replaced",
            (unsigned long long)want.covered, size);
    else if (have.dev != want.dev || have.ino != want.ino)
        fail(why, whylen, "the journal is another file than the state file's (replaced)");
    else if (have.head != want.head || have.tail != want.tail)
        fail(why, whylen, "the journal's bytes differ from those the state file covers (edited)");
    else rc = 0;
    if (rc == 0) {
        f->base = HEADER_BYTES + (long long)core_len;
        f->len = (long long)rows_len;
        s->file = f;   // the experiments' lazy rows are read from it
        f = NULL;
        c = (Cur){core, core + core_len, NULL};
        int n = get_count(&c, 28, "a bad issue count");
        if (!c.bad && n > 0) p->issues = xcalloc((size_t)n, sizeof *p->issues);
        for (int i = 0; i < n && !c.bad; i++) {
            JournalIssue *is = &p->issues[i];
            is->lineno = (long)get_i64(&c);
            is->offset = get_i64(&c);
            is->len = (size_t)get_i64(&c);
            char *msg = get_str_set(&c, "an issue without a message");
            if (msg) snprintf(is->msg, sizeof is->msg, "%s", msg);
            free(msg);
            p->n_issues = i + 1;
        }
        get_state(&c, s, s->file);
        if (!c.bad && c.p != c.end) bad(&c, "bytes after its end");
        if (c.bad) rc = fail(why, whylen, "the state file is invalid: %s", c.bad);
    }
    free(core);
    agent_state_file_free(f);
    if (rc != 0) {
        agent_state_free(s);
        free(p->issues);
        memset(p, 0, sizeof *p);
        return -1;
    }
    p->covered = (long long)want.covered;
    p->lines = (long)want.lines;
    p->file_len = (long long)st.st_size;
    return 0;
}

// Write the state file: a temporary file beside it, renamed over it.  0; -1 with a message
// in err; -2 when s is damaged (agent_state_damaged: a lazy section could not be copied).
static int snapshot_save(const char *snap, const char *path, const AgentState *s, const Prefix *p,
                         char *err, size_t errlen) {
    Identity id;
    long long size;
    if (identify(path, p->covered, p->lines, &id, &size) != 0)
        return fail(err, errlen, "cannot read journal %s back", path);
    JsonBuf core = {0}, area = {0};
    issues_put(&core, p->issues, p->n_issues);
    put_state(&core, s, &area);
    if (agent_state_damaged(s)) {   // a lazy section could not be copied
        jb_free(&core);
        jb_free(&area);
        return -2;
    }
    JsonBuf b = {0};
    put(&b, MAGIC, 8);
    put_u32(&b, AGENT_SNAPSHOT_VERSION), put_u32(&b, 0);
    put_u64(&b, id.dev), put_u64(&b, id.ino), put_u64(&b, id.covered), put_u64(&b, id.lines);
    put_u64(&b, id.head), put_u64(&b, id.tail);
    put_u64(&b, core.len), put_u64(&b, area.len);
    uint64_t hash = fnv1a(fnv1a(FNV_SEED, (const unsigned char *)b.buf, b.len),
                          (const unsigned char *)core.buf, core.len);
    put_u64(&b, hash);
    put(&b, core.buf, core.len);
    if (area.len) put(&b, area.buf, area.len);
    jb_free(&core);
    jb_free(&area);
    // One name: the writer lock serialises the writers, and one killed mid-write leaves a
    // file the next write truncates, not one more file.
    char *tmp = xasprintf("%s.tmp", snap);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = fail(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    } else {
        size_t done = 0;
        while (done < b.len && rc == 0) {
            ssize_t w = write(fd, b.buf + done, b.len - done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0)
                rc = fail(err, errlen, "cannot write %s: %s", tmp,
                          w < 0 ? strerror(errno) : "short write");
            else done += (size_t)w;
        }
        if (close(fd) != 0 && rc == 0)
            rc = fail(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        if (rc == 0 && rename(tmp, snap) != 0)
            rc = fail(err, errlen, "cannot rename %s to %s: %s", tmp, snap, strerror(errno));
        if (rc != 0) unlink(tmp);
    }
    free(tmp);
    jb_free(&b);
    return rc;
}

// ----------------------------------------------------------------------------- reading the journal

// A record kept for later: one read before the meta record, or the torn last one.
typedef struct {
    char *text;
    size_t len;
    long lineno;
    long long offset;
    char *kind;
} Held;

typedef struct {
    AgentState *s;
    int begun;         // the meta record was read
    int meta_failed;   // the first meta record was bad (err holds why)
    char err[512];
    Held *held;   // records before the meta record
    int n_held;
    Held torn;   // the torn last record, if complete (text NULL: none)
} ReadCtx;

static Held hold(const JournalEntry *e) {
    size_t len;
    const char *raw = json_raw(&e->rec.doc, 0, &len);
    return (Held){xstrndup(raw, len), len, e->rec.lineno, e->offset, xstrdup(e->kind)};
}

static void add_held(AgentState *s, const Held *h) {
    JournalEntry e = {.kind = h->kind, .offset = h->offset};
    char perr[96];
    if (record_parse(&e.rec, h->text, h->len, h->lineno, perr, sizeof perr) == 0)
        agent_state_add(s, &e);
    record_free(&e.rec);
}

static void held_free(Held *h) {
    free(h->text);
    free(h->kind);
}

static int visit(void *ctx, const JournalEntry *e) {
    ReadCtx *c = ctx;
    if (c->meta_failed) return 0;   // read on: the issues after it are reported too
    if (e->torn) {   // the last line: added once the state of the complete lines is saved
        c->torn = hold(e);
        return 0;
    }
    if (!c->begun) {
        if (strcmp(e->kind, "meta")) {
            c->held = xrealloc(c->held, sizeof *c->held * (size_t)(c->n_held + 1));
            c->held[c->n_held++] = hold(e);
            return 0;
        }
        if (agent_state_begin(c->s, &e->rec, c->err, sizeof c->err) != 0) {
            c->meta_failed = 1;
            return 0;
        }
        c->begun = 1;
        for (int i = 0; i < c->n_held; i++) add_held(c->s, &c->held[i]);
    }
    agent_state_add(c->s, e);
    return 0;
}

// The torn last record, when it is the first meta record: begin with it, then add the
// records held before it and itself.
static int begin_with_torn(ReadCtx *c) {
    JournalEntry e = {.kind = c->torn.kind, .offset = c->torn.offset};
    char perr[96];
    int rc = -1;
    if (strcmp(c->torn.kind, "meta")) return -1;
    if (record_parse(&e.rec, c->torn.text, c->torn.len, c->torn.lineno, perr, sizeof perr) == 0) {
        if (agent_state_begin(c->s, &e.rec, c->err, sizeof c->err) == 0) {
            c->begun = 1;
            for (int i = 0; i < c->n_held; i++) add_held(c->s, &c->held[i]);
            agent_state_add(c->s, &e);
            rc = 0;
        } else {
            c->meta_failed = 1;
        }
    }
    record_free(&e.rec);
    return rc;
}

// agent_journal_read once: a damaged state (agent_state_damaged) is the caller's to rebuild.
static int read_once(AgentState *s, const char *path, const char *snapshot, int flags, FILE *warn,
                     AgentReadInfo *info, char *err, size_t errlen) {
    int save = flags & AGENT_READ_SAVE;
    memset(info, 0, sizeof *info);
    memset(s, 0, sizeof *s);
    Prefix p = {0};
    ReadCtx c = {.s = s};
    if (snapshot && (flags & AGENT_READ_REBUILD)) {
        snprintf(info->why, sizeof info->why,
                 "the state file was damaged (an experiment's section short or not of its hash)");
    } else if (snapshot) {
        if (snapshot_load(snapshot, path, s, &p, info->why, sizeof info->why) == 0) {
            info->used = 1;
            c.begun = 1;
        }
    } else {
        snprintf(info->why, sizeof info->why, "no state file asked for");
    }
    info->start = p.covered;
    JournalLog log;
    int rc = journal_scan_from(&log, path, p.covered, p.lines, visit, &c, err, errlen);
    if (rc == 0 && warn) {
        JournalLog old = {.issues = p.issues, .n_issues = p.n_issues};
        journal_issues_print(&old, path, warn);
        journal_issues_print(&log, path, warn);
    }
    info->records = log.n;
    if (rc == 0 && !c.meta_failed && (c.begun || c.torn.text)) {
        // Rewritten when it was not used, or once the journal bytes read after it reach
        // 1/REWRITE_FRACTION of its size: the write costs O(state), parsing the tail
        // O(tail) every step until the next write, and this keeps both small.
        long long tail = log.complete - p.covered;
        if (c.begun && snapshot && save &&
            (!info->used || (tail > 0 && tail * REWRITE_FRACTION >= p.file_len))) {
            // The complete lines' issues join the prefix's; a torn one is not among them.
            int n_new = log.n_issues - (log.torn ? 1 : 0);
            p.issues = xrealloc(p.issues, sizeof *p.issues * (size_t)(p.n_issues + n_new + 1));
            if (n_new > 0)
                memcpy(p.issues + p.n_issues, log.issues, sizeof *p.issues * (size_t)n_new);
            p.covered = log.complete;
            p.lines = log.lines_complete;
            int n_old = p.n_issues;
            p.n_issues += n_new;
            char serr[512];
            int src = snapshot_save(snapshot, path, s, &p, serr, sizeof serr);
            if (src == 0) info->saved = 1;
            else if (src == -1 && warn)
                fprintf(warn, "%s: warning: %s (the next step reads the whole journal)\n",
                        util_progname, serr);
            p.n_issues = n_old;
        }
        if (c.torn.text && c.begun) add_held(s, &c.torn);
        else if (c.torn.text) begin_with_torn(&c);
    }
    if (rc == 0 && c.meta_failed) {
        fail(err, errlen, "%s", c.err);
        rc = -2;
    } else if (rc == 0 && !c.begun) {
        fail(err, errlen, "the journal has no meta record (the model studied)");
        rc = -2;
    }
    if (rc == 0) s->n_issues = p.n_issues + log.n_issues;
    for (int i = 0; i < c.n_held; i++) held_free(&c.held[i]);
    free(c.held);
    if (c.torn.text) held_free(&c.torn);
    free(p.issues);
    journal_log_free(&log);
    return rc;
}

int agent_journal_read(AgentState *s, const char *path, const char *snapshot, int flags, FILE *warn,
                       AgentReadInfo *info, char *err, size_t errlen) {
    AgentReadInfo local;
    if (!info) info = &local;
    int rc = read_once(s, path, snapshot, flags, warn, info, err, errlen);
    if (rc == 0 && agent_state_damaged(s)) {
        // A section read while the new records were added, or copied for the rewrite,
        // was damaged: the state is built again from the whole journal (and saved), its
        // issues not printed twice.
        agent_state_free(s);
        rc = read_once(s, path, snapshot, flags | AGENT_READ_REBUILD, NULL, info, err, errlen);
    }
    return rc;
}
