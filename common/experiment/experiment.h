// experiment: what runlayers, scoreloss and topk share — the command-line options that
// choose the model and the layer configurations, the configurations of each record, and
// the tokens of a record's prompt and answer.
#ifndef AUTOINTERP_EXPERIMENT_H
#define AUTOINTERP_EXPERIMENT_H
#include <getopt.h>

#include "base/ndjson.h"
#include "experiment/layers.h"
#include "model/model.h"
#include "model/transformer.h"

#define EXPERIMENT_MAX_SPECS 256

typedef struct {
    const char *model;   // --model NAME|PATH (NULL: $AUTOINTERP_MODEL, else gpt2)
    int bos;             // prepend <|endoftext|> (default 1; --no-bos)
    const char *specs[EXPERIMENT_MAX_SPECS];   // --layers SPEC, in order
    int n_specs;
    const char *sweeps[EXPERIMENT_MAX_SPECS];   // --sweep NAME, in order
    int n_sweeps;
    // packing (scoreloss, topk): EXPERIMENT_PACK_LONGOPTS
    int pack;            // --pack N: records per forward pass at most (0: as many as fit)
    size_t mem_budget;   // --mem-budget SIZE: bytes for one pass's activations (0: default)
} ExperimentOptions;

enum {
    OPT_MODEL = 1000,
    OPT_NO_BOS,
    OPT_LAYERS,
    OPT_SWEEP,
    OPT_PACK,
    OPT_MEM_BUDGET,
    OPT_TOOL_FIRST
};

// getopt_long entries of the shared options (put inside a struct option array).
// clang-format off
#define EXPERIMENT_LONGOPTS                                                     \
    {"model", required_argument, 0, OPT_MODEL}, {"no-bos", no_argument, 0, OPT_NO_BOS}, \
    {"layers", required_argument, 0, OPT_LAYERS}, {"sweep", required_argument, 0, OPT_SWEEP}
// clang-format on

#define EXPERIMENT_USAGE                                                                                  \
    "  --model NAME|PATH  model name (gpt2, ORG/NAME) or directory (default $AUTOINTERP_MODEL or gpt2)\n" \
    "  --layers SPEC      a configuration, e.g. 0-5,7,7,11 or [0,2,1] (repeatable)\n"                     \
    "  --sweep NAME       drop-last, drop-first, skip-one, skip-range[:W], repeat-one,\n"                 \
    "                     swap-adjacent, reverse, shuffle:K:SEED, intact (repeatable)\n"                  \
    "  --no-bos           do not prepend <|endoftext|>\n"                                                 \
    "Without --layers/--sweep, a record's own \"layers\" is used, else the intact model.\n"

// The packing options of the tools that pack records into big forward passes.
// clang-format off
#define EXPERIMENT_PACK_LONGOPTS \
    {"pack", required_argument, 0, OPT_PACK}, {"mem-budget", required_argument, 0, OPT_MEM_BUDGET}
// clang-format on

#define EXPERIMENT_PACK_USAGE                                                                      \
    "  --mem-budget SIZE  memory for packing, e.g. 64M (default 256M; bytes, or K/M/G): one\n"     \
    "                     forward pass's activations take SIZE at most (passes are <= 512\n"       \
    "                     rows), a group of records' rows kept for reading out SIZE/4, the\n"      \
    "                     --dump arrays kept SIZE/2 (one record at least each)\n"                  \
    "  --pack N           at most N records per forward pass (default: as many as fit; 1:\n"       \
    "                     one record at a time; the output is the same bits either way)\n"

// How a tool that packs records (scoreloss, topk) spends --mem-budget B (0: the default,
// SWEEP_DEFAULT_BUDGET, 256M), each part sized on its own (one record at least each):
//   a forward pass     its residual stack and workspace rows within B (sweep_pack_rows);
//   a group of records the rows its records keep until they are read out (final residual
//                      rows, readouts, references) within B / EXPERIMENT_GROUP_SHARE
//                      (experiment_group_bytes; 64M by default);
//   a dump stretch     the --dump arrays its records keep within B / 2.
// Inside a group, interp's captures (interp_patch_bytes) take B / 2 at most, and topk
// unembeds up to B / 2 of log-probabilities per call.
#define EXPERIMENT_GROUP_SHARE 4
// o->mem_budget, or SWEEP_DEFAULT_BUDGET when it is 0.
size_t experiment_budget(const ExperimentOptions *o);
// The bytes a group of records keeps at most: experiment_budget / EXPERIMENT_GROUP_SHARE.
size_t experiment_group_bytes(const ExperimentOptions *o);

void experiment_defaults(ExperimentOptions *o);
// Handle one shared option (opt from getopt_long): 1 when it was one, 0 otherwise.
// Exits with status 2 when too many --layers/--sweep are given.
int experiment_option(ExperimentOptions *o, int opt, const char *arg);

// A memory size: a whole number of bytes with an optional K, M or G suffix (powers of 1024),
// 1M..1T; exits 2 with a message otherwise.
size_t arg_mem_size(const char *s, const char *flag);

// Expand the command line's --sweep and --layers (in that order; only the first intact
// configuration is kept) for an n_layer model into *out (empty when none were given).
// -1 with a message for a bad SPEC or sweep name.
int experiment_plan(const ExperimentOptions *o, int n_layer, ConfigList *out, char *err,
                    size_t errlen);

// The configurations of one record: the command line's (when non-empty), else the
// record's "layers" (labelled by its "label" when it is a string, else "intact" or the
// compact form), else the intact model.  -1 with a message for bad "layers".
int experiment_configs(const ConfigList *cmdline, const Record *r, int n_layer, ConfigList *out,
                       char *err, size_t errlen);

// The workspace of a tool that packs records (scoreloss, topk) on the global pool: rows
// for the longest sequence (n_ctx) or for what one pass packs within o->mem_budget
// (sweep_pack_rows for the deepest configuration of cmdline, n_layer without one),
// whichever is more; n_ctx with --pack 1.  0, or -1 with a message.
int experiment_workspace(const ExperimentOptions *o, const Gpt2 *m, const ConfigList *cmdline,
                         TfWorkspace *ws, char *err, size_t errlen);

// Open what a tool that runs configurations over records needs, or exit 2 with the
// message: the model (o->model), the command line's configurations (experiment_plan) and
// the packing workspace (experiment_workspace).  experiment_close frees all three.
void experiment_open(const ExperimentOptions *o, Model *model, ConfigList *cmdline,
                     TfWorkspace *ws);
void experiment_close(Model *model, ConfigList *cmdline, TfWorkspace *ws);

// One record of a batch as experiment_groups sees it.
typedef struct {
    const ConfigList *configs;   // its configurations; NULL: not to be grouped (done already)
    size_t bytes;                // what it keeps while its group runs (its rows read out)
} GroupMember;

// Group the records of a batch that run the same blocks (configs_same_blocks), to be
// packed into forward passes together: the first member not yet grouped opens a group,
// which takes every later one with the same configurations, in batch order, until their
// bytes reach max_bytes (one member at least).  run(ctx, idx, n) is called once per group
// with the members' indices in batch order; returns the sum of what run returned.
int experiment_groups(const GroupMember *members, int n, size_t max_bytes,
                      int (*run)(void *ctx, const int *idx, int n), void *ctx);

// The end of the stretch of a batch that starts at `from` (< n): the records from..end-1
// whose bytes[i] sum to max_bytes at most (one record at least).  The tools run a batch's
// records that write a dump a stretch at a time and write the stretch's arrays, kept in
// memory, in input order after it.
int experiment_stretch_end(const size_t *bytes, int n, int from, size_t max_bytes);

// Index of the intact configuration in list, or -1.
int configs_find_intact(const ConfigList *list, int n_layer);

// The tokens of a record: [BOS] + prompt, then (with_answer) separator + answer, the
// two parts tokenized separately.  The separator is the record's "separator" when it is
// a string, else " ".  Must fit the context window.
typedef struct {
    int *ids;       // (n_prompt + n_answer) owned
    int n_prompt;   // tokens before the answer, BOS included
    int n_answer;
} RecordTokens;

// -1 with a message: missing/non-string "prompt" (or "answer" when with_answer), an
// empty prompt without BOS, an empty answer, or more tokens than n_ctx.
int experiment_tokens(const Model *m, const Record *r, int bos, int with_answer, RecordTokens *t,
                      char *err, size_t errlen);
void record_tokens_free(RecordTokens *t);

// Write the owned fields "layers" and "label" of configuration c.
void experiment_write_config(JsonBuf *out, const LayerConfig *c);

#endif
