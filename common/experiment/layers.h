// layers: layer configurations — which transformer blocks run, in which order.
//
// A configuration is an ordered list of block indices (TransformerLens numbering, 0-based),
// applied between the embeddings and the final LayerNorm: any order, repeats allowed,
// empty allowed.  [0..L-1] is the intact model.
//
// SPEC, as given on the command line (--layers): a JSON array ("[0,1,2]", "[]"), or the
// compact form "0-5,7,7,11" where "a-b" is an inclusive run (descending when a > b),
// "all" (the intact model) or "none" (no blocks); "SPEC=LABEL" names the configuration
// (e.g. "0-5=early half"), otherwise it is labelled "intact" or by its compact form.
//
// Sweeps expand one record into many configurations, always starting with the intact
// model so that deltas can be computed:
//   intact          the intact model only
//   drop-last       keep the first n blocks, n = L-1 .. 0           "first n"
//   drop-first      keep the last n blocks, n = L-1 .. 0            "last n"
//   skip-one        remove one block                                "skip i"
//   skip-range[:W]  remove a contiguous window of W blocks (W=2)     "skip i-j"
//   repeat-one      apply one block twice in place                  "repeat i"
//   swap-adjacent   exchange blocks i and i+1                       "swap i,i+1"
//   reverse         all blocks in reverse order                      "reversed"
//   shuffle:K:SEED  K random permutations (seeded)                   "shuffle k"
#ifndef AUTOINTERP_LAYERS_H
#define AUTOINTERP_LAYERS_H
#include <stddef.h>

#define LAYER_LABEL_MAX   64
#define LAYERS_MAX_BLOCKS 4096   // blocks in one configuration (repeats allowed)

typedef struct {
    int *idx;   // (n) block indices, owned
    int n;
    char label[LAYER_LABEL_MAX];   // short human label: "intact", "first 6", "skip 3", ...
} LayerConfig;

typedef struct {
    LayerConfig *cfg;   // (n) owned
    int n, cap;
} ConfigList;

// Parse SPEC into out (label "intact" when it equals the intact model, else the compact
// form).  Every index must lie in [0, n_layer).  0, or -1 with a message in err.
int layers_parse(const char *spec, int n_layer, LayerConfig *out, char *err, size_t errlen);
// Check a configuration against the model: -1 with "layer index 12 out of range 0..11",
// or for more than LAYERS_MAX_BLOCKS blocks.
int layers_check(const int *idx, int n, int n_layer, char *err, size_t errlen);
// The compact form of a configuration ("0-5,7,7,11", "none") into buf.
void layers_compact(const int *idx, int n, char *buf, size_t buflen);
// Is this the intact model [0..n_layer-1]?
int layers_is_intact(const int *idx, int n, int n_layer);

// Append the configurations of sweep NAME (see above) for an L-block model to list.
// -1 with a message naming the known sweeps for an unknown or malformed NAME.
int layers_sweep(const char *name, int n_layer, ConfigList *list, char *err, size_t errlen);

// Append a copy of (idx, n, label) to list.
void configs_add(ConfigList *list, const int *idx, int n, const char *label);
// Append the intact configuration [0..n_layer-1] labelled "intact".
void configs_add_intact(ConfigList *list, int n_layer);
void configs_free(ConfigList *list);
// 1 when a and b hold the same block lists in the same order (labels aside), else 0.
int configs_same_blocks(const ConfigList *a, const ConfigList *b);
void layer_config_free(LayerConfig *c);

#endif
