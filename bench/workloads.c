// workloads: the real tools on the experiments users run; see workloads.h.
#include "workloads.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/json.h"
#include "base/ndjson.h"
#include "base/util.h"
#include "model/tokenizer.h"

extern char **environ;

#define BOS_TOKEN 50256

// ----------------------------------------------------------------------------
// child processes

int child_run(char *const argv[], const char *input, const char *out_path, double *seconds,
              long *maxrss_kb) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[0], 0);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
    if (out_path)
        posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    else posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    double t0 = now_seconds();
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[0]);
    if (rc != 0) {
        close(fd[1]);
        return -1;
    }
    size_t len = strlen(input), off = 0;
    while (off < len) {
        ssize_t w = write(fd[1], input + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;   // the child stopped reading (EPIPE): its status tells
        off += (size_t)w;
    }
    close(fd[1]);
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR) return -1;
    *seconds = now_seconds() - t0;
    *maxrss_kb = ru.ru_maxrss;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

long configs_prefix_blocks(const ConfigList *list) {
    long n = 0;
    for (int k = 0; k < list->n; k++)
        for (int d = 1; d <= list->cfg[k].n; d++) {
            int seen = 0;
            for (int j = 0; j < k && !seen; j++)
                if (list->cfg[j].n >= d &&
                    memcmp(list->cfg[j].idx, list->cfg[k].idx, sizeof(int) * (size_t)d) == 0)
                    seen = 1;
            if (!seen) n++;
        }
    return n;
}

long configs_leaf_blocks(const ConfigList *list) {
    long n = 0;
    for (int k = 0; k < list->n; k++) {
        const LayerConfig *c = &list->cfg[k];
        int leaf = c->n > 0;
        for (int j = 0; j < list->n && leaf; j++) {
            const LayerConfig *d = &list->cfg[j];
            if (j != k && (d->n > c->n || (d->n == c->n && j > k)) &&
                memcmp(d->idx, c->idx, sizeof(int) * (size_t)c->n) == 0)
                leaf = 0;
        }
        n += leaf;
    }
    return n;
}

// ----------------------------------------------------------------------------
// the jobs

typedef enum { JOB_SWEEP, JOB_ABLATE_HEADS, JOB_PATCH, JOB_TOPK, JOB_GENERATE } JobKind;

typedef struct {
    const char *name;
    const char *tasks[4], *quick_tasks[4];   // gentasks arguments
    const char *tool;
    const char *args[12];   // the tool's arguments after --model DIR
    JobKind kind;
    const char *sweep;   // the configurations, for the FLOP count
} JobSpec;

// The jobs (bench/peer_torch.py runs the same list; keep them alike).
static const JobSpec jobs[] = {
    {"drop-last",
     {"addition", "-n", "200"},
     {"addition", "-n", "40"},
     "scoreloss",
     {"--sweep", "drop-last"},
     JOB_SWEEP,
     "drop-last"},
    {"ablate-heads",
     {"facts-pairs", "-n", "8"},
     {"facts-pairs", "-n", "2"},
     "scoreloss",
     {"--sweep", "ablate-heads"},
     JOB_ABLATE_HEADS,
     NULL},
    {"patch-sweep",
     {"facts-pairs", "-n", "8"},
     {"facts-pairs", "-n", "2"},
     "scoreloss",
     {"--patch-sweep"},
     JOB_PATCH,
     NULL},
    {"skip-one generation",
     {"facts", "-n", "3"},
     {"facts", "-n", "1"},
     "runlayers",
     {"--sweep", "skip-one", "--max-tokens", "20"},
     JOB_GENERATE,
     "skip-one"},
    {"topk skip-one",
     {"facts", "-n", "30"},
     {"facts", "-n", "8"},
     "topk",
     {"--sweep", "skip-one", "-k", "10"},
     JOB_TOPK,
     "skip-one"},
    {"sampled generation",
     {"facts", "-n", "30"},
     {"facts", "-n", "4"},
     "runlayers",
     {"--sweep", "drop-last", "--temperature", "1", "--top-k", "40", "--seed", "1", "--max-tokens",
      "20"},
     JOB_GENERATE,
     "drop-last"},
};
enum { N_JOBS = sizeof jobs / sizeof jobs[0] };

// FLOPs of rows p0 .. p1-1 through one block.
static double rows_flops(const WorkloadEnv *e, int p0, int p1) {
    double C = e->C, f = 0;
    for (int q = p0; q < p1; q++) f += 24.0 * C * C + 4.0 * C * (q + 1);
    return f;
}
// What the last block of a run (its rows 0 .. T-1) does not run when only its rows from
// t0 are read (tf_block_forward_tail): rows p0 .. t0-1 keep their ln_1 and q/k/v matmul
// (6 C^2 a row) and lose the rest; rows of a run resumed at p0 (a patch cell) start there.
static double trimmed_flops(const WorkloadEnv *e, int p0, int t0) {
    if (!e->last_rows || t0 <= p0) return 0;
    return rows_flops(e, p0, t0) - 6.0 * e->C * e->C * (t0 - p0);
}
static double logit_flops(const WorkloadEnv *e, double rows) {
    return 2.0 * e->C * (double)e->V * rows;
}

// Tokens of text (no BOS); -1 on failure.
static int count_tokens(const Tokenizer *tok, const char *s, size_t len) {
    int *ids = NULL, n = 0;
    if (tok_encode(tok, s, len, &ids, &n) != 0) return -1;
    free(ids);
    return n;
}

// P (prompt tokens with BOS) and A (answer tokens, separator included) of a record.
static int record_lengths(const Tokenizer *tok, const Record *r, int *P, int *A) {
    char *s, err[128];
    size_t len;
    if (record_string(r, "prompt", &s, &len, err, sizeof err) != 1) return -1;
    *P = 1 + count_tokens(tok, s, len);
    free(s);
    *A = 0;
    if (record_string(r, "answer", &s, &len, err, sizeof err) != 1) return 0;
    char *sep = NULL;
    size_t seplen = 1;
    if (record_string(r, "separator", &sep, &seplen, err, sizeof err) != 1) sep = NULL, seplen = 1;
    char *full = xmalloc(seplen + len + 1);
    memcpy(full, sep ? sep : " ", seplen);
    memcpy(full + seplen, s, len);
    *A = count_tokens(tok, full, seplen + len);
    free(full), free(sep), free(s);
    return *P > 0 && *A >= 0 ? 0 : -1;
}

// The cells of the patch sweep (block l, position p < P) that patch nothing, which
// scoreloss does not run (nor unembed): the clean and corrupted activations entering
// block l at p are the same bits when the tokens agree up to p, and entering block 0 when
// token p does.  noop[l * P + p] set for those (from the tokens of both prompts, BOS
// first; none when they cannot be read or differ in length: scoreloss runs every cell or
// none).
static void patch_noop_cells(const Tokenizer *tok, const Record *r, int L, int P,
                             unsigned char *noop) {
    memset(noop, 0, (size_t)L * (size_t)P);
    char *s[2] = {NULL, NULL}, err[128];
    size_t len[2];
    int *ids[2] = {NULL, NULL}, n[2] = {0, 0};
    static const char *const keys[2] = {"prompt", "corrupt_prompt"};
    for (int k = 0; k < 2; k++)
        if (record_string(r, keys[k], &s[k], &len[k], err, sizeof err) != 1 ||
            tok_encode(tok, s[k], len[k], &ids[k], &n[k]) != 0)
            n[k] = -1;
    if (n[0] >= 0 && n[0] == n[1] && n[0] + 1 == P) {
        int prefix = 1;   // BOS
        for (int p = 0; p < P; p++) {
            int same = p == 0 || ids[0][p - 1] == ids[1][p - 1];
            prefix = prefix && same;
            for (int l = 0; l < L; l++) noop[l * P + p] = prefix || (l == 0 && same);
        }
    }
    for (int k = 0; k < 2; k++) free(s[k]), free(ids[k]);
}

// Analytic FLOPs of one record of a scoring or topk job (workloads.h); noop: JOB_PATCH's
// cells not run (patch_noop_cells), not charged.
static double record_flops(const WorkloadEnv *e, const JobSpec *j, const ConfigList *cfgs, int P,
                           int A, const unsigned char *noop) {
    int T = P + A - 1, L = e->L, H = e->H;
    // The last block of each run no other continues from (a leaf) runs only the rows read:
    // from the last prompt token's (scoreloss: the rows predicting the answer; topk at the
    // last position; runlayers' prefill: the last row), except the ablation variants of
    // the last block itself (their hooks act there).
    double leaf = trimmed_flops(e, 0, P - 1);
    switch (j->kind) {
    case JOB_SWEEP:
        return (double)configs_prefix_blocks(cfgs) * rows_flops(e, 0, T) +
               logit_flops(e, (double)cfgs->n * A) - (double)configs_leaf_blocks(cfgs) * leaf;
    case JOB_ABLATE_HEADS: {
        double blocks = L;
        for (int l = 0; l < L; l++) blocks += (double)H * (L - l);
        return blocks * rows_flops(e, 0, T) + logit_flops(e, (1.0 + (double)L * H) * A) -
               (1.0 + (double)(L - 1) * H) * leaf;
    }
    case JOB_PATCH: {
        double f = 2.0 * L * rows_flops(e, 0, T) + logit_flops(e, 2.0 * A) - 2.0 * leaf;
        for (int l = 0; l < L; l++)
            for (int p = 0; p < P; p++)
                if (!noop[l * P + p])
                    f += (L - l) * rows_flops(e, p, T) + logit_flops(e, A) -
                         trimmed_flops(e, p, P - 1);
        return f;
    }
    case JOB_TOPK:
    case JOB_GENERATE:
        return (double)configs_prefix_blocks(cfgs) * rows_flops(e, 0, P) + logit_flops(e, cfgs->n) -
               (double)configs_leaf_blocks(cfgs) * leaf;
    }
    return 0;
}

// One runlayers output record: a stream of a record.
typedef struct {
    int *ids, G;       // completion_tokens
    int *layers, nl;   // its configuration
    int steps;         // decoding steps it ran: G-1, G when it ended on <|endoftext|>
} GenStream;

// The streams of one input record (its output records, consecutive), keyed by its
// "id" and prompt.
typedef struct {
    char *key;
    int P;   // prompt tokens (BOS included)
    GenStream *s;
    int n, cap;
} GenRecord;

static int gen_common_prefix(const GenStream *a, const GenStream *b) {
    int d = 0;
    while (d < a->nl && d < b->nl && a->layers[d] == b->layers[d]) d++;
    return d;
}

// The decoding FLOPs of a record's streams: at step t (from 1) a stream feeds its first
// t tokens, one row at position P+t-1 through its blocks and a logit row; the streams
// whose first t tokens agree run the blocks their layer lists begin with in common once
// (runlayers shares them; the bench's records start whole, so every agreeing pair
// shares).  A stream's own rows: its blocks less the longest prefix it has in common with
// an earlier stream of its group.
static double gen_record_flops(const WorkloadEnv *e, const GenRecord *g) {
    int max_steps = 0;
    for (int i = 0; i < g->n; i++)
        if (g->s[i].steps > max_steps) max_steps = g->s[i].steps;
    double f = 0;
    for (int t = 1; t <= max_steps; t++) {
        long rows = 0;
        int active = 0;
        for (int i = 0; i < g->n; i++) {
            const GenStream *a = &g->s[i];
            if (a->steps < t) continue;
            int shared = 0;
            active++;
            for (int j = 0; j < i; j++) {
                const GenStream *b = &g->s[j];
                if (b->steps < t || memcmp(a->ids, b->ids, sizeof(int) * (size_t)t) != 0) continue;
                int d = gen_common_prefix(a, b);
                if (d > shared) shared = d;
            }
            rows += a->nl - shared;
        }
        f += (double)rows * rows_flops(e, g->P + t - 1, g->P + t) + logit_flops(e, active);
    }
    return f;
}

static void gen_record_clear(GenRecord *g) {
    for (int i = 0; i < g->n; i++) free(g->s[i].ids), free(g->s[i].layers);
    free(g->key);
    g->key = NULL;
    g->n = 0;
}

// Reads one runlayers output record into s (and its key and P); -1 when it is not one.
static int gen_stream_read(const Tokenizer *tok, const Record *r, GenStream *s, char **key,
                           int *P) {
    char err[128], *id = NULL, *prompt = NULL, *finish = NULL;
    size_t id_len = 0, prompt_len = 0, finish_len = 0;
    int A, rc = -1;
    *s = (GenStream){0};
    if (record_int_array(r, "completion_tokens", &s->ids, &s->G, err, sizeof err) == 1 &&
        record_int_array(r, "layers", &s->layers, &s->nl, err, sizeof err) >= 0 &&
        record_lengths(tok, r, P, &A) == 0 &&
        record_string(r, "prompt", &prompt, &prompt_len, err, sizeof err) == 1 &&
        record_string(r, "finish_reason", &finish, &finish_len, err, sizeof err) == 1 &&
        record_string(r, "id", &id, &id_len, err, sizeof err) >= 0) {
        s->steps = s->G - (strcmp(finish, "eos") != 0);
        JsonBuf k = {0};
        jb_raw(&k, id ? id : "", id_len);
        jb_raw(&k, "\n", 1);
        jb_raw(&k, prompt, prompt_len);
        *key = k.buf;
        rc = 0;
    } else {
        free(s->ids), free(s->layers);
    }
    free(id), free(prompt), free(finish);
    return rc;
}

// Runs bin/gentasks ARGS; its stdout, malloc'd (NULL on failure).
static char *gentasks_output(const WorkloadEnv *e, const char *const *args) {
    JsonBuf cmd = {0};
    jb_printf(&cmd, "'%s/gentasks'", e->bin_dir);
    for (int i = 0; i < 4 && args[i]; i++) jb_printf(&cmd, " %s", args[i]);
    FILE *p = popen(cmd.buf, "r");
    jb_free(&cmd);
    if (!p) return NULL;
    JsonBuf out = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) jb_raw(&out, buf, n);
    if (pclose(p) != 0 || !out.buf) {
        jb_free(&out);
        return NULL;
    }
    return out.buf;
}

// Calls fn on each line of text parsed as a record; returns the number of lines, -1 when
// one is not a record.
static long each_record(const char *text, void (*fn)(void *, const Record *), void *ctx) {
    long n = 0;
    for (const char *s = text; *s;) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        if (len > 0) {
            Record r;
            char err[128];
            char *copy = xmalloc(len + 1);
            memcpy(copy, s, len);
            copy[len] = '\0';
            if (record_parse(&r, copy, len, n + 1, err, sizeof err) != 0) {
                free(copy);
                return -1;
            }
            if (fn) fn(ctx, &r);
            record_free(&r);
            free(copy);
            n++;
        }
        s += len + (nl != NULL);
    }
    return n;
}

typedef struct {
    const WorkloadEnv *e;
    const JobSpec *j;
    const ConfigList *cfgs;
    const Tokenizer *tok;
    double flops;
    int bad;
    GenRecord gen;   // runlayers: the streams of the record being read
} FlopCount;

static void count_input(void *ctx, const Record *r) {
    FlopCount *c = ctx;
    int P, A;
    if (record_lengths(c->tok, r, &P, &A) != 0) {
        c->bad++;
        return;
    }
    unsigned char *noop = NULL;
    if (c->j->kind == JOB_PATCH) {
        noop = xmalloc((size_t)c->e->L * (size_t)P);
        patch_noop_cells(c->tok, r, c->e->L, P, noop);
    }
    c->flops += record_flops(c->e, c->j, c->cfgs, P, A, noop);
    free(noop);
}
// Charges the decoding FLOPs of the streams read so far (one record's).
static void count_outputs_flush(FlopCount *c) {
    if (c->gen.n > 0) c->flops += gen_record_flops(c->e, &c->gen);
    gen_record_clear(&c->gen);
}

static void count_output(void *ctx, const Record *r) {
    FlopCount *c = ctx;
    GenStream s;
    char *key;
    int P;
    if (gen_stream_read(c->tok, r, &s, &key, &P) != 0) {
        c->bad++;
        return;
    }
    if (c->gen.key && strcmp(c->gen.key, key) != 0) count_outputs_flush(c);
    if (!c->gen.key) c->gen.key = key, c->gen.P = P;
    else free(key);
    if (c->gen.n == c->gen.cap)
        c->gen.s =
            xrealloc(c->gen.s, sizeof(GenStream) * (size_t)(c->gen.cap = c->gen.cap * 2 + 4));
    c->gen.s[c->gen.n++] = s;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int workloads_run(const WorkloadEnv *e, Workload *out, char *err, size_t errlen) {
    Tokenizer *tok = tok_load(e->model_dir, err, errlen);
    if (!tok) return -1;
    char *inputs[N_JOBS] = {0}, *argv[N_JOBS][20];
    char *exe[N_JOBS];
    double *times = xcalloc((size_t)N_JOBS * (size_t)e->rounds, sizeof(double));
    char out_path[] = "/tmp/autointerp-bench-workload.XXXXXX";
    int fd = mkstemp(out_path), rc = -1;
    if (fd < 0) {
        snprintf(err, errlen, "cannot make a scratch file: %s", strerror(errno));
        goto done;
    }
    close(fd);
    for (int k = 0; k < N_JOBS; k++) {
        const JobSpec *j = &jobs[k];
        Workload *w = &out[k];
        memset(w, 0, sizeof *w);
        snprintf(w->name, sizeof w->name, "%s", j->name);
        const char *const *ta = e->quick ? j->quick_tasks : j->tasks;
        int len = snprintf(w->command, sizeof w->command, "gentasks %s %s %s | %s", ta[0], ta[1],
                           ta[2], j->tool);
        for (int i = 0; j->args[i] && len < (int)sizeof w->command; i++)
            len += snprintf(w->command + len, sizeof w->command - (size_t)len, " %s", j->args[i]);
        inputs[k] = gentasks_output(e, ta);
        if (!inputs[k]) {
            snprintf(err, errlen, "%s/gentasks %s %s %s failed", e->bin_dir, ta[0], ta[1], ta[2]);
            goto done;
        }
        exe[k] = path_join(e->bin_dir, j->tool);
        int a = 0;
        argv[k][a++] = exe[k];
        argv[k][a++] = "--model";
        argv[k][a++] = (char *)e->model_dir;
        for (int i = 0; j->args[i]; i++) argv[k][a++] = (char *)j->args[i];
        argv[k][a] = NULL;
    }
    // Round-robin: every job once per round, so that background load falls on all alike.
    for (int r = 0; r < e->rounds; r++)
        for (int k = 0; k < N_JOBS; k++) {
            long rss = 0;
            double t = 0;
            out[k].status = child_run(argv[k], inputs[k], r == 0 ? out_path : NULL, &t, &rss);
            if (out[k].status != 0) {
                snprintf(err, errlen, "%s exited with status %d", out[k].command, out[k].status);
                goto done;
            }
            times[k * e->rounds + r] = t;
            if (rss > out[k].rss_kb) out[k].rss_kb = rss;
            if (r > 0) continue;
            // the first run's output: its records, and the decoding FLOPs of runlayers
            size_t olen;
            char *text = read_file(out_path, &olen);
            if (!text) {
                snprintf(err, errlen, "cannot read %s", out_path);
                goto done;
            }
            ConfigList cfgs = {0};
            char lerr[256];
            if (jobs[k].sweep && layers_sweep(jobs[k].sweep, e->L, &cfgs, lerr, sizeof lerr) != 0) {
                snprintf(err, errlen, "%s", lerr);
                free(text);
                goto done;
            }
            FlopCount c = {e, &jobs[k], &cfgs, tok, 0, 0, {0}};
            out[k].records = (int)each_record(inputs[k], count_input, &c);
            out[k].outputs =
                each_record(text, jobs[k].kind == JOB_GENERATE ? count_output : NULL, &c);
            count_outputs_flush(&c);
            free(c.gen.s);
            out[k].flops = c.flops;
            configs_free(&cfgs);
            free(text);
            if (c.bad || out[k].records < 0 || out[k].outputs < 0) {
                snprintf(err, errlen, "%s: cannot count the FLOPs of its records", out[k].command);
                goto done;
            }
        }
    for (int k = 0; k < N_JOBS; k++) {
        double *t = &times[k * e->rounds];
        qsort(t, (size_t)e->rounds, sizeof *t, cmp_double);
        out[k].best = t[0];
        out[k].median = t[e->rounds / 2];
    }
    rc = N_JOBS;
done:
    if (fd >= 0) unlink(out_path);
    for (int k = 0; k < N_JOBS; k++)
        if (inputs[k]) free(inputs[k]), free(exe[k]);
    free(times);
    tok_free(tok);
    return rc;
}
