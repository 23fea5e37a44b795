// experiment: what runlayers, scoreloss and topk share — the command-line options that
// choose the model and the layer configurations, the configurations of each record, and
// the tokens of a record's prompt and answer.
#ifndef AUTOINTERP_EXPERIMENT_H
#define AUTOINTERP_EXPERIMENT_H
#include <getopt.h>

#include "experiment/layers.h"
#include "model/model.h"
#include "base/ndjson.h"

#define EXPERIMENT_MAX_SPECS 256

typedef struct {
    const char *model;       // --model NAME|PATH (NULL: $AUTOINTERP_MODEL, else gpt2)
    int bos;                 // prepend <|endoftext|> (default 1; --no-bos)
    const char *specs[EXPERIMENT_MAX_SPECS];   // --layers SPEC, in order
    int n_specs;
    const char *sweeps[EXPERIMENT_MAX_SPECS];  // --sweep NAME, in order
    int n_sweeps;
} ExperimentOptions;

enum { OPT_MODEL = 1000, OPT_NO_BOS, OPT_LAYERS, OPT_SWEEP, OPT_TOOL_FIRST };

// getopt_long entries of the shared options (put inside a struct option array).
#define EXPERIMENT_LONGOPTS                                                     \
    {"model", required_argument, 0, OPT_MODEL}, {"no-bos", no_argument, 0, OPT_NO_BOS}, \
    {"layers", required_argument, 0, OPT_LAYERS}, {"sweep", required_argument, 0, OPT_SWEEP}

#define EXPERIMENT_USAGE                                                                       \
    "  --model NAME|PATH  model name (gpt2, ORG/NAME) or directory (default $AUTOINTERP_MODEL or gpt2)\n" \
    "  --layers SPEC      a configuration, e.g. 0-5,7,7,11 or [0,2,1] (repeatable)\n"          \
    "  --sweep NAME       drop-last, drop-first, skip-one, skip-range[:W], repeat-one,\n"       \
    "                     swap-adjacent, reverse, shuffle:K:SEED, intact (repeatable)\n"        \
    "  --no-bos           do not prepend <|endoftext|>\n"                                      \
    "Without --layers/--sweep, a record's own \"layers\" is used, else the intact model.\n"

void experiment_defaults(ExperimentOptions *o);
// Handle one shared option (opt from getopt_long): 1 when it was one, 0 otherwise.
// Exits with status 2 when too many --layers/--sweep are given.
int experiment_option(ExperimentOptions *o, int opt, const char *arg);

// Expand the command line's --sweep and --layers (in that order; only the first intact
// configuration is kept) for an n_layer model into *out (empty when none were given).
// -1 with a message for a bad SPEC or sweep name.
int experiment_plan(const ExperimentOptions *o, int n_layer, ConfigList *out, char *err, size_t errlen);

// The configurations of one record: the command line's (when non-empty), else the
// record's "layers" (labelled by its "label" when it is a string, else "intact" or the
// compact form), else the intact model.  -1 with a message for bad "layers".
int experiment_configs(const ConfigList *cmdline, const Record *r, int n_layer, ConfigList *out,
                       char *err, size_t errlen);

// Index of the intact configuration in list, or -1.
int configs_find_intact(const ConfigList *list, int n_layer);

// The tokens of a record: [BOS] + prompt, then (with_answer) separator + answer, the
// two parts tokenized separately.  The separator is the record's "separator" when it is
// a string, else " ".  Must fit the context window.
typedef struct {
    int *ids;           // (n_prompt + n_answer) owned
    int n_prompt;       // tokens before the answer, BOS included
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
