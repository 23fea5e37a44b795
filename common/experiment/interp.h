// interp: interventions on the forward pass for the experiment tools (scoreloss, topk) —
// activation patching, component ablation, activation capture and export, and the
// options that select them.  docs/interp.md describes the fields, flags and conventions.
//
// Everything runs through the hooks of common/model/transformer.h, keyed by BLOCK INDEX
// (TransformerLens blocks.{l}): an intervention on block l applies wherever block l runs
// in a layer configuration (every occurrence when a configuration repeats it).
//
// Activation patching (causal tracing), TransformerLens's direction: the record's
// "prompt" is the CLEAN prompt, "corrupt_prompt" the CORRUPTED one (the same number of
// tokens).  The clean prompt is run and its activations cached; the corrupted prompt is
// run with the chosen activations overwritten by the clean run's (same configuration,
// same block occurrence, same positions).  Patch sites: the residual stream
// (resid_pre/resid_mid/resid_post), an attention or MLP output (attn_out, mlp_out), one
// head's output before c_proj (z / head), at one position or all.
//
// Ablation: an attention head (its slice of z, before c_proj), a whole attention output
// (attn_out) or an MLP output (mlp_out) replaced by zeros or by its mean over every
// position of a reference set of prompts run on the intact model (--ablate-mean-from).
#ifndef AUTOINTERP_INTERP_H
#define AUTOINTERP_INTERP_H
#include <getopt.h>

#include "experiment/experiment.h"
#include "experiment/lens.h"
#include "io/npz.h"
#include "model/transformer.h"

// ----------------------------------------------------------------------------- sites

typedef enum { INTERP_ZERO, INTERP_MEAN } InterpMode;

// A place in the forward pass.
typedef struct {
    int point;      // TfHookPoint
    int layer;      // block index
    int head;       // point TF_HOOK_Z: the head (columns head*hs ..), -1: every head
    int position;   // >= 0 one position; -1 every position
} InterpSite;

typedef struct {
    InterpSite site;   // TF_HOOK_Z + head (component "head"), TF_HOOK_ATTN_OUT ("attn"),
                       // TF_HOOK_MLP_OUT ("mlp"); position -1
    InterpMode mode;
} InterpAblation;

// Patch hooks: the points of tf_hook_names, the z hook also called "head" (a head's z
// patched at every position: how --patch-sweep=head, the patch_hook field and the agent's
// run_patching name it).  The point called `name` ("hook_" prefix accepted), or -1; "z"
// itself only when allow_z (--patch-sweep and run_patching say "head").
int interp_hook_find(const char *name, int allow_z);
// The name a patch hook is written under: "head" for TF_HOOK_Z, else its tf_hook_names.
const char *interp_hook_name(int point);

// "ablate L1H3", "ablate mlp 2", "ablate attn 2" (zero) or "mean-ablate ..." (mean).
void interp_ablation_label(const InterpAblation *a, char *buf, size_t buflen);

// ----------------------------------------------------------------------------- activations

// Activations of some hook points for every slot of one configuration: (n_slots, T, C)
// per stored point.
typedef struct {
    int n_slots, T, C;
    unsigned points;          // mask of stored TfHookPoints
    float *act[TF_N_HOOKS];   // (n_slots, T, C) each stored point; NULL otherwise
} ActCache;

// Activations (T, C) of `point` at slot `slot`, or NULL when not stored.
float *act_cache_at(const ActCache *c, int point, int slot);

// Mean activations per block over a reference set (intact model, every position).
typedef struct {
    int n_layer, C;
    long rows;     // positions averaged
    float *z;      // (n_layer, C) hook_z (heads concatenated)
    float *attn;   // (n_layer, C) hook_attn_out
    float *mlp;    // (n_layer, C) hook_mlp_out
} InterpMeans;

// ----------------------------------------------------------------------------- options

// Patched runs (patch-sweep cells and single patches) run, and skipped because they patch
// nothing (interp_patch_same at every site: the corrupted run's own bits), counted over
// the process.  interp_finish writes them to stderr when AUTOINTERP_STATS is set.
typedef struct {
    long patched_run, patched_skipped;
} InterpStats;

typedef enum { INTERP_SWEEP_NONE, INTERP_SWEEP_ABLATE_HEADS, INTERP_SWEEP_ABLATE_MLPS } InterpSweep;
typedef enum { INTERP_LENS_NONE, INTERP_LENS_LOGIT, INTERP_LENS_TUNED } InterpLens;

typedef struct {
    // from the command line
    const char *patch_json;    // --patch JSON: patch sites for every record
    int patch_sweep;           // --patch-sweep[=HOOK]
    int sweep_point;           // its hook (TF_HOOK_RESID_PRE by default; TF_HOOK_Z: heads)
    const char *ablate_json;   // --ablate JSON: ablations for every record
    const char *means_path;    // --ablate-mean-from FILE
    InterpMode sweep_mode;     // --ablate-mode (the ablation sweeps'); zero
    InterpSweep sweep;         // --sweep ablate-heads | ablate-mlps
    const char *dump_path;     // --dump FILE.npz
    unsigned dump_points;      // --dump-hooks (default: resid_post)
    InterpLens lens;           // --lens (topk)
    const char *tuned_path;    // --tuned-lens FILE (topk)
    // set up by interp_setup
    InterpSite *patch;   // (n_patch) from --patch
    int n_patch, has_patch;
    InterpAblation *abl;   // (n_abl) from --ablate
    int n_abl;
    InterpAblation *sweep_abl;   // (n_sweep_abl) the ablation sweep's cells, in order
    int n_sweep_abl;
    InterpMeans means;
    int has_means;
    TunedLens tuned;
    int has_tuned;
    NpzWriter *npz;
    unsigned capture;     // points captured in every output run: dump + lens
    long n_records;       // records seen so far (dump keys)
    size_t mem_budget;    // the tool's --mem-budget (0: SWEEP_DEFAULT_BUDGET): bounds the
                          // keys/values the patch sweep's cells resume from
    int pack;             // sweep runs packed per forward pass at most (0: as many as
                          // the workspace holds; 1: one at a time); the tool's --pack
    int run_noop;         // run the patched runs that patch nothing too (interp_setup: set
                          // when the environment has AUTOINTERP_PATCH_SKIP=0)
    InterpStats *stats;   // interp_setup's (NULL before): what the runs did
} InterpOptions;

enum {
    OPT_INTERP_FIRST = OPT_TOOL_FIRST + 100,
    OPT_PATCH = OPT_INTERP_FIRST,
    OPT_PATCH_SWEEP,
    OPT_ABLATE,
    OPT_ABLATE_MEAN_FROM,
    OPT_ABLATE_MODE,
    OPT_DUMP,
    OPT_DUMP_HOOKS,
    OPT_LENS,
    OPT_TUNED_LENS
};

// getopt_long entries of the options both tools share / scoreloss's patch sweep / topk's
// lens options.
// clang-format off
#define INTERP_LONGOPTS                                                                                  \
    {"patch", required_argument, 0, OPT_PATCH}, {"ablate", required_argument, 0, OPT_ABLATE},            \
    {"ablate-mean-from", required_argument, 0, OPT_ABLATE_MEAN_FROM},                                    \
    {"ablate-mode", required_argument, 0, OPT_ABLATE_MODE}, {"dump", required_argument, 0, OPT_DUMP},    \
    {"dump-hooks", required_argument, 0, OPT_DUMP_HOOKS}
// clang-format on
// clang-format off
#define INTERP_PATCH_SWEEP_LONGOPTS {"patch-sweep", optional_argument, 0, OPT_PATCH_SWEEP}
// clang-format on
// clang-format off
#define INTERP_LENS_LONGOPTS \
    {"lens", required_argument, 0, OPT_LENS}, {"tuned-lens", required_argument, 0, OPT_TUNED_LENS}
// clang-format on

// Help text of the shared options, with `extra` (INTERP_PATCH_SWEEP_USAGE or "") after --patch.
#define INTERP_USAGE_WITH(extra)                                                                                                 \
    "Interventions (docs/interp.md): a record's \"prompt\" is clean, its \"corrupt_prompt\" corrupted.\n"                        \
    "  --patch JSON          patch sites for every record, e.g. '[{\"hook\":\"resid_pre\",\"layer\":3,\"position\":5}]'\n" extra \
    "  --ablate JSON         ablations for every record, e.g. '[{\"component\":\"head\",\"layer\":1,\"head\":3}]'\n"             \
    "  --sweep ablate-heads  each attention head ablated alone (also ablate-mlps); intact first\n"                               \
    "  --ablate-mode M       zero (default) or mean: how the ablation sweeps ablate\n"                                           \
    "  --ablate-mean-from F  NDJSON prompts whose mean activations mean-ablation uses\n"                                         \
    "  --dump FILE.npz       write activations as NumPy arrays (\"dump_key\" names them)\n"                                      \
    "  --dump-hooks LIST     resid_pre,z,attn_out,resid_mid,mlp_out,resid_post (default resid_post)\n"
#define INTERP_USAGE INTERP_USAGE_WITH("")
#define INTERP_PATCH_SWEEP_USAGE                                                                    \
    "  --patch-sweep[=HOOK]  patch each (layer, position) cell alone (HOOK resid_pre by default;\n" \
    "                        =head: each (layer, head), all positions)\n"

#define INTERP_LENS_USAGE                                                                          \
    "  --lens logit|tuned    read the residual stream after every block (field lens_layer)\n"      \
    "  --tuned-lens FILE     the translators of --lens tuned (made by `lens --corpus`)\n"

void interp_defaults(InterpOptions *o);
// Handle one option (getopt_long's opt and optarg), OPT_SWEEP included when its name is an
// ablation sweep: 1 when it was one, 0 otherwise.  Exits 2 with a message for a bad value.
int interp_option(InterpOptions *o, int opt, const char *arg);
// Check the combination, parse --patch/--ablate against the model, compute the means,
// load the tuned lens, open the dump.  lens_allowed: the tool is topk (the lens options
// are allowed, --patch-sweep is not: it is scoreloss's).  0, or -1 with a message (a usage
// error).
int interp_setup(InterpOptions *o, const Model *m, int bos, int lens_allowed, TfWorkspace *ws,
                 char *err, size_t errlen);
// Close the dump (and with AUTOINTERP_STATS set, write o->stats to stderr: "interp:
// patched runs: N run, M skipped (patching nothing)").  0, or -1 with a message (a write
// error).
int interp_finish(InterpOptions *o, char *err, size_t errlen);
void interp_options_free(InterpOptions *o);
// Does anything need the intervention runner (rather than the plain prefix-shared sweep)?
int interp_active(const InterpOptions *o);
// Runs per configuration in the ablation sweep (1 + cells; 1 without a sweep).
int interp_n_variants(const InterpOptions *o);
// The label of variant k of configuration c (k = 0: c's own label) into buf
// (LAYER_LABEL_MAX): "ablate L1H3" on the intact model, "<c's label>, ablate L1H3" otherwise.
void interp_variant_label(const InterpOptions *o, const LayerConfig *c, int k, int n_layer,
                          char *buf);

// ----------------------------------------------------------------------------- records

typedef struct {
    InterpAblation *abl;   // (n_abl) --ablate + the record's "ablate"
    int n_abl;
    InterpSite *patch;   // (n_patch) the record's "patch", else --patch; positions resolved
    int n_patch;
    int patching;      // run patched (a "patch" field, --patch or --patch-sweep)
    int *corrupt;      // (T) corrupt_prompt tokens + the clean answer's, when patching
    int wrong_id;      // first token of separator + "wrong_answer", or -1
    int n_prompt, T;   // the clean tokens' counts (prompt incl. BOS; prompt + answer)
    int n_cells;       // patch sweep: cells of the grid per configuration (set per run)
    int tail;          // the first position of a run's final residual the visitor reads
                       // (0, interp_record_read's: every position; the tool sets it):
                       // the final block of each run then computes only positions tail..
                       // (tf_block_forward_tail; AUTOINTERP_LAST_ROWS=0 turns it off) where
                       // no hook acts there past resid_pre (the lens, --dump of other
                       // points, an ablation or patch at that block), and the positions
                       // before tail of the visited residuals are UNSPECIFIED
} InterpRecord;

// Read a record's intervention fields ("ablate", "patch", "corrupt_prompt",
// "wrong_answer") given its clean tokens t (the answer included when the tool scores one).
// -1 with a message for the error record: a malformed field, a "patch" without
// "corrupt_prompt", a corrupted prompt of another token length ("corrupt_prompt has 9
// tokens, prompt 8: patching needs equal lengths"), mean ablation without
// --ablate-mean-from, a wrong_answer starting with the answer's first token.
int interp_record_read(InterpRecord *ir, const InterpOptions *o, const Model *m, const Record *r,
                       int bos, const RecordTokens *t, char *err, size_t errlen);
void interp_record_free(InterpRecord *ir);

typedef enum { INTERP_RUN, INTERP_CLEAN, INTERP_CORRUPT } InterpRole;

typedef struct {
    InterpRole role;
    int variant;            // ablation sweep: 0 (no cell) or k (cell k-1); else 0
    int cell;               // patch sweep (role RUN): the cell's index in grid order; else -1
    InterpSite site;        // patch sweep: the cell's site
    const ActCache *acts;   // role RUN: the activations captured (o->capture), or NULL
    int noop;   // role RUN: a patched run that patches nothing, not run: its resid is the
                // corrupted run's, bit for bit what running it gives
} InterpVisitInfo;

// Does patching site s into a run change nothing: are the values it would write into act
// (the rows of positions pos0..pos0+T-1; src: every position from 0) those act holds,
// bit for bit (memcmp: NaN payloads and signed zeros as bits)?  1 yes, 0 no.  A patched
// run each of whose sites (at every slot of its block) changes nothing is the corrupted
// run: interp_records_run then visits the corrupted run's residual for it (noop) instead
// of running it, unless o->run_noop or, a single patch, the run captures (o->capture).
int interp_patch_same(const InterpSite *s, const float *src, const float *act, int pos0, int T,
                      int C, int n_head);

// Called for every run with its final residual (T, C), valid during the call; ws may be
// used.  0 to go on, -1 to stop (interp_records_run then returns -1, err untouched).
typedef int (*InterpVisit)(void *ctx, const InterpVisitInfo *info, const float *resid, int T,
                           TfWorkspace *ws);

// The grid of the patch sweep for configuration c: the distinct blocks of c in order of
// first use × the prompt's positions (× the heads for the head sweep).  Number of cells.
int interp_patch_cells(const InterpOptions *o, const InterpRecord *ir, const Gpt2Config *cfg,
                       const LayerConfig *c);

// Run configuration c on n records irs[0..n), all patching (ir->patching) or none,
// tokens[i] record i's clean tokens (irs[i]->T), visiting record i with ctxs[i], one record
// after another, each in this order:
//   patch sweep:     CLEAN, CORRUPT, then each cell patched alone (RUN, grid order: blocks,
//                    then positions or heads)
//   patching:        CLEAN, CORRUPT, the corrupted run with the patches (RUN)
//   ablation sweep:  RUN for variant 0 (the record's own ablations), 1, .. n
//   otherwise:       RUN with the record's ablations
// The record's ablations apply to every run.  Each run's results are bit for bit those of
// running it alone, whatever n and the packing below.
// Records not patched: a chunk at a time (interp_patch_chunk: their final residuals and
// captures within half of o->mem_budget), their runs (with their ablations, capturing
// o->capture; with an ablation sweep, variant 0 capturing the residual entering every
// slot) PACKED into forward passes (interp_patched_passes), then their visits (an ablation
// sweep's variants 1..n then run record by record, packed within the record).
// Patching: the clean and corrupted runs of all of them are PACKED into forward passes
// (run after run: record 0's clean and corrupted runs, then record 1's, ..; o->pack 1: one
// run a pass) of up to ws->max_T and SWEEP_PASS_ROWS rows and o->pack runs, whose records'
// captures (interp_patch_bytes a record) take at most half of o->mem_budget (one record at
// least).  The patch sweep: then each record's cells.  A single patch (--patch, a record's
// "patch"): records go a chunk at a time (interp_patch_chunk: their captures within half
// of o->mem_budget), the chunk's clean and corrupted runs packed (interp_patch_passes),
// then its patched runs packed as well (interp_patched_passes), then its records' visits.
// The runs of a sweep (variants 1..n, the patch cells) restart from the residual entering
// the first slot of their block, a patch cell at position p also at p (over the corrupted
// run's keys/values before p, kept when o->mem_budget holds them), and are PACKED into
// forward passes of up to ws->max_T rows (o->pack runs at most; the runs that ablate or
// patch the configuration's last block past resid_pre in passes of their own, so that the
// others run only the rows read there: InterpRecord.tail); a cell's positions before p
// are the corrupted run's.  A patched run (cell or single patch) whose patches
// change nothing (interp_patch_same, checked in the corrupted run's hooks against the
// clean run's activations) is not run: it is visited (info.noop) with the corrupted run's
// final residual, in its place in the order.  0, or -1 with a message (for the whole
// call).
int interp_records_run(const InterpOptions *o, const InterpRecord *const *irs,
                       const int *const *tokens, int n, const Gpt2 *m, const LayerConfig *c,
                       TfWorkspace *ws, InterpVisit visit, void *const *ctxs, char *err,
                       size_t errlen);

// How interp_records_run packs the clean and corrupted runs of records irs[0..n) (runs 2i
// and 2i + 1) on a configuration of n_slots slots: consecutive runs join a forward pass
// while its rows stay within max_rows (interp_records_run: ws->max_T and SWEEP_PASS_ROWS),
// its runs within o->pack, and the captures of the records begun in it (or held from the
// pass before) within half of o->mem_budget; a pass takes one run at least.  ends[p] (2n
// entries at most) gets the run after pass p; returns the number of passes.
int interp_patch_passes(const InterpOptions *o, const InterpRecord *const *irs, int n, int n_slots,
                        int C, int max_rows, int *ends);
// The bytes of one record's captures there (o->mem_budget counts them): the clean run's
// activations at the patched points and both final residuals; the patch sweep's corrupted
// run's residual entering every slot and (the sweep over positions, when the budget holds
// them) its keys/values; a single patch's patched run's final residual and captures
// (o->capture).  A record not patched: its run's final residual and captures (an ablation
// sweep: the residual entering every slot).
size_t interp_patch_bytes(const InterpOptions *o, const InterpRecord *ir, int n_slots, int C);
// A single patch (or records not patched): how many of irs[0..n) (n >= 1) the first chunk takes: the longest prefix
// whose interp_patch_bytes stay within half of o->mem_budget, one record at least.
int interp_patch_chunk(const InterpOptions *o, const InterpRecord *const *irs, int n, int n_slots,
                       int C);
// How the patched runs of a chunk irs[0..n) are packed: consecutive ones join a pass while
// its rows (ir->T each) stay within max_rows and its runs within o->pack; one at least.
// ends[p] (n entries at most) gets the record after pass p; returns the number of passes.
int interp_patched_passes(const InterpOptions *o, const InterpRecord *const *irs, int n,
                          int max_rows, int *ends);

// The arrays of one or more runs kept in memory (copies) until they are written to the
// dump, so that records run together still write their arrays in input order.
typedef struct {
    char name[NPZ_MAX_NAME + 1];
    long shape[3];
    int ndim;
    float *data;
} InterpDumpArray;
typedef struct {
    InterpDumpArray *a;   // (n) in the order kept
    int n, cap;
    size_t bytes;   // of the data kept
} InterpDumpBuf;

// Keep (copy into buf) the captured activations of one run as the arrays
// "{key}.blocks.{l}.hook_{point}" (an occurrence k >= 2 of a repeated block:
// "..hook_{point}.{k}"), shape (T, C), z as (T, n_head, head_dim), in the order they are
// to be written (slots, then hook points).  Nothing without a dump or without acts.
void interp_dump_keep(const InterpOptions *o, InterpDumpBuf *buf, const char *key,
                      const Gpt2Config *cfg, const LayerConfig *c, const ActCache *acts);
// Write buf's arrays to the dump in the order kept and empty buf.  0, or -1 with a message
// at the first that fails (the arrays before it are written, the rest dropped; the dump
// is then failed: npz_add_f32).
int interp_dump_flush(InterpOptions *o, InterpDumpBuf *buf, char *err, size_t errlen);
void interp_dump_buf_free(InterpDumpBuf *buf);
// The bytes interp_dump_keep keeps for one run of configuration c over T tokens.
size_t interp_dump_bytes(const InterpOptions *o, const Gpt2Config *cfg, const LayerConfig *c,
                         int T);

// The fields both tools write for an intervention run, when there is something to say:
// "ablated" (the ablations applied: the record's and the variant's), "dump_key".
void interp_write_fields(JsonBuf *out, const InterpOptions *o, const InterpRecord *ir, int variant,
                         const char *dump_key);

// The rows of a residual to unembed when read through the lens, into out (n_rows, C):
// rows[i] of resid (T, C), with the tuned lens's translator for `depth` blocks applied
// (1..n_layer) when o->lens is tuned (depth 0, the embeddings, has none: then -1 with a
// message).  tf_logits on them gives the lens's logits.
int interp_lens_rows(const InterpOptions *o, const Gpt2 *m, const float *resid, int T, int depth,
                     const int *rows, int n_rows, float *out, char *err, size_t errlen);

#endif
