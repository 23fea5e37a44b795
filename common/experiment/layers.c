// layers: SPEC parsing and named sweeps; see layers.h.
#include "experiment/layers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/rng.h"
#include "base/util.h"

#define MAX_CONFIG_LEN LAYERS_MAX_BLOCKS   // repeats make a configuration longer than L

// ----------------------------------------------------------------------------- lists

void configs_add(ConfigList *list, const int *idx, int n, const char *label) {
    if (list->n == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 16;
        list->cfg = xrealloc(list->cfg, sizeof(LayerConfig) * (size_t)list->cap);
    }
    LayerConfig *c = &list->cfg[list->n++];
    c->n = n;
    c->idx = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    if (n) memcpy(c->idx, idx, sizeof(int) * (size_t)n);
    snprintf(c->label, sizeof c->label, "%s", label);
}

void configs_add_intact(ConfigList *list, int n_layer) {
    int *idx = xmalloc(sizeof(int) * (size_t)(n_layer ? n_layer : 1));
    for (int i = 0; i < n_layer; i++) idx[i] = i;
    configs_add(list, idx, n_layer, "intact");
    free(idx);
}

void layer_config_free(LayerConfig *c) {
    free(c->idx);
    c->idx = NULL;
    c->n = 0;
}

int configs_same_blocks(const ConfigList *a, const ConfigList *b) {
    if (a->n != b->n) return 0;
    for (int k = 0; k < a->n; k++)
        if (a->cfg[k].n != b->cfg[k].n ||
            (a->cfg[k].n &&
             memcmp(a->cfg[k].idx, b->cfg[k].idx, sizeof(int) * (size_t)a->cfg[k].n) != 0))
            return 0;
    return 1;
}

void configs_free(ConfigList *list) {
    for (int i = 0; i < list->n; i++) layer_config_free(&list->cfg[i]);
    free(list->cfg);
    memset(list, 0, sizeof *list);
}

// ----------------------------------------------------------------------------- specs

int layers_check(const int *idx, int n, int n_layer, char *err, size_t errlen) {
    // A record's "layers" can be any length; each block costs a block's forward pass.
    if (n > MAX_CONFIG_LEN)
        return fail(err, errlen, "too many layers (%d > %d)", n, MAX_CONFIG_LEN);
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= n_layer)
            return fail(err, errlen, "layer index %d out of range 0..%d", idx[i], n_layer - 1);
    return 0;
}

int layers_is_intact(const int *idx, int n, int n_layer) {
    if (n != n_layer) return 0;
    for (int i = 0; i < n; i++)
        if (idx[i] != i) return 0;
    return 1;
}

void layers_compact(const int *idx, int n, char *buf, size_t buflen) {
    size_t used = 0;
    if (buflen == 0) return;
    buf[0] = '\0';
    if (n == 0) {
        snprintf(buf, buflen, "none");
        return;
    }
    for (int i = 0; i < n && used < buflen;) {
        int j = i;
        while (j + 1 < n && idx[j + 1] == idx[j] + 1) j++;   // ascending run
        int w = j > i + 1
                    ? snprintf(buf + used, buflen - used, "%s%d-%d", i ? "," : "", idx[i], idx[j])
                    : snprintf(buf + used, buflen - used, "%s%d", i ? "," : "", idx[i]);
        if (w < 0) break;
        used += (size_t)w;
        i = j > i + 1 ? j + 1 : i + 1;
    }
    if (used >= buflen && buflen > 4) memcpy(buf + buflen - 4, "...", 4);   // label truncated
}

static int parse_json_spec(const char *spec, int **out, int *n, char *err, size_t errlen) {
    JsonDoc d;
    int rc = -1;
    if (json_parse(&d, spec, strlen(spec), err, errlen) != 0) goto done;
    if (json_type(&d, 0) != JSMN_ARRAY) {
        fail(err, errlen, "layers must be an array of block indices");
        goto done;
    }
    *n = json_size(&d, 0);
    if (*n > MAX_CONFIG_LEN) {
        fail(err, errlen, "too many layers (%d > %d)", *n, MAX_CONFIG_LEN);
        goto done;
    }
    *out = xmalloc(sizeof(int) * (size_t)(*n ? *n : 1));
    for (int k = 0, t = 1; k < *n; k++, t = json_skip(&d, t)) {
        long long v;
        if (json_int(&d, t, &v) != 0 || v < -1000000 || v > 1000000) {
            fail(err, errlen, "layer %d is not an integer block index", k);
            free(*out);
            *out = NULL;
            goto done;
        }
        (*out)[k] = (int)v;
    }
    rc = 0;
done:
    json_free(&d);
    return rc;
}

static int parse_int(const char **p, int *v) {
    char *end;
    errno = 0;
    long x = strtol(*p, &end, 10);
    if (end == *p || errno || x < 0 || x > 1000000 || (**p != '+' && (**p < '0' || **p > '9')))
        return -1;
    *v = (int)x;
    *p = end;
    return 0;
}

static int parse_compact_spec(const char *spec, int **out, int *n, char *err, size_t errlen) {
    int cap = 16, count = 0;
    int *v = xmalloc(sizeof(int) * (size_t)cap);
    const char *p = spec;
    while (*p) {
        int a, b;
        if (parse_int(&p, &a) != 0) goto malformed;
        b = a;
        if (*p == '-') {
            p++;
            if (parse_int(&p, &b) != 0) goto malformed;
        }
        int step = b >= a ? 1 : -1, len = (b - a) * step + 1;
        if (count + len > MAX_CONFIG_LEN) {
            fail(err, errlen, "too many layers in \"%s\" (max %d)", spec, MAX_CONFIG_LEN);
            goto bad;
        }
        while (count + len > cap) cap *= 2;
        v = xrealloc(v, sizeof(int) * (size_t)cap);
        for (int x = a;; x += step) {
            v[count++] = x;
            if (x == b) break;
        }
        if (*p == ',') {
            p++;
            if (!*p) goto malformed;
        } else if (*p) {
            goto malformed;
        }
    }
    *out = v;
    *n = count;
    return 0;
malformed:
    fail(
        err, errlen,
        "malformed layer spec \"%s\" (expected e.g. \"0-5,7,7,11\", \"[0,1,2]\", \"all\" or \"none\")",
        spec);
bad:
    free(v);
    return -1;
}

static int parse_spec(const char *spec, int n_layer, LayerConfig *out, char *err, size_t errlen);

int layers_parse(const char *spec_label, int n_layer, LayerConfig *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    const char *eq = strchr(spec_label, '=');
    if (eq && (!eq[1] || strlen(eq + 1) >= LAYER_LABEL_MAX))
        return fail(err, errlen, "the label after '=' must be 1..%d characters",
                    LAYER_LABEL_MAX - 1);
    char *spec = eq ? xstrndup(spec_label, (size_t)(eq - spec_label)) : xstrdup(spec_label);
    int rc = parse_spec(spec, n_layer, out, err, errlen);
    free(spec);
    if (rc == 0 && eq) snprintf(out->label, sizeof out->label, "%s", eq + 1);
    return rc;
}

static int parse_spec(const char *spec, int n_layer, LayerConfig *out, char *err, size_t errlen) {
    while (*spec == ' ') spec++;
    int *idx = NULL, n = 0;
    if (!strcmp(spec, "all")) {
        n = n_layer;
        idx = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
        for (int i = 0; i < n; i++) idx[i] = i;
    } else if (!strcmp(spec, "none")) {
        idx = xmalloc(sizeof(int));
    } else if (spec[0] == '[') {
        if (parse_json_spec(spec, &idx, &n, err, errlen) != 0) return -1;
    } else if (!spec[0]) {
        return fail(err, errlen, "empty layer spec (use \"none\" or \"[]\" for no blocks)");
    } else if (parse_compact_spec(spec, &idx, &n, err, errlen) != 0) {
        return -1;
    }
    if (layers_check(idx, n, n_layer, err, errlen) != 0) {
        free(idx);
        return -1;
    }
    out->idx = idx;
    out->n = n;
    if (layers_is_intact(idx, n, n_layer)) snprintf(out->label, sizeof out->label, "intact");
    else layers_compact(idx, n, out->label, sizeof out->label);
    return 0;
}

// ----------------------------------------------------------------------------- sweeps

static void add_range(ConfigList *list, int lo, int hi, const char *label) {   // [lo, hi)
    int idx[MAX_CONFIG_LEN], n = 0;
    for (int i = lo; i < hi; i++) idx[n++] = i;
    configs_add(list, idx, n, label);
}

static void sweep_drop(ConfigList *list, int L, int keep_first) {
    char label[LAYER_LABEL_MAX];
    for (int n = L - 1; n >= 0; n--) {
        snprintf(label, sizeof label, keep_first ? "first %d" : "last %d", n);
        if (keep_first) add_range(list, 0, n, label);
        else add_range(list, L - n, L, label);
    }
}

static void sweep_skip_range(ConfigList *list, int L, int width) {
    int idx[MAX_CONFIG_LEN];
    char label[LAYER_LABEL_MAX];
    for (int s = 0; s + width <= L; s++) {
        int n = 0;
        for (int i = 0; i < L; i++)
            if (i < s || i >= s + width) idx[n++] = i;
        if (width == 1) snprintf(label, sizeof label, "skip %d", s);
        else snprintf(label, sizeof label, "skip %d-%d", s, s + width - 1);
        configs_add(list, idx, n, label);
    }
}

static void sweep_repeat_one(ConfigList *list, int L) {
    int idx[MAX_CONFIG_LEN];
    char label[LAYER_LABEL_MAX];
    for (int r = 0; r < L; r++) {
        int n = 0;
        for (int i = 0; i < L; i++) {
            idx[n++] = i;
            if (i == r) idx[n++] = i;
        }
        snprintf(label, sizeof label, "repeat %d", r);
        configs_add(list, idx, n, label);
    }
}

static void sweep_swap_adjacent(ConfigList *list, int L) {
    int idx[MAX_CONFIG_LEN];
    char label[LAYER_LABEL_MAX];
    for (int s = 0; s + 1 < L; s++) {
        for (int i = 0; i < L; i++) idx[i] = i;
        idx[s] = s + 1;
        idx[s + 1] = s;
        snprintf(label, sizeof label, "swap %d,%d", s, s + 1);
        configs_add(list, idx, L, label);
    }
}

static void sweep_reverse(ConfigList *list, int L) {
    int idx[MAX_CONFIG_LEN];
    for (int i = 0; i < L; i++) idx[i] = L - 1 - i;
    configs_add(list, idx, L, "reversed");
}

static void sweep_shuffle(ConfigList *list, int L, int k, unsigned long long seed) {
    int idx[MAX_CONFIG_LEN];
    char label[LAYER_LABEL_MAX];
    Rng rng;
    rng_seed(&rng, seed);
    for (int s = 1; s <= k; s++) {
        for (int i = 0; i < L; i++) idx[i] = i;
        for (int i = L - 1; i > 0; i--) {   // Fisher–Yates
            int j = (int)rng_below(&rng, (uint64_t)i + 1);
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        snprintf(label, sizeof label, "shuffle %d", s);
        configs_add(list, idx, L, label);
    }
}

// "name" or "name:a" or "name:a:b" → the numeric arguments after the name.
static int sweep_args(const char *name, const char *base, long *args, int max_args, int *nargs) {
    size_t bl = strlen(base);
    if (strncmp(name, base, bl) != 0 || (name[bl] && name[bl] != ':')) return 0;
    *nargs = 0;
    const char *p = name + bl;
    while (*p == ':') {
        if (*nargs == max_args) return -1;
        char *end;
        errno = 0;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || errno || v < 0) return -1;
        args[(*nargs)++] = v;
        p = end;
    }
    return *p ? -1 : 1;
}

int layers_sweep(const char *name, int L, ConfigList *list, char *err, size_t errlen) {
    static const char *known =
        "intact, drop-last, drop-first, skip-one, skip-range[:W], repeat-one, "
        "swap-adjacent, reverse, shuffle:K:SEED";
    if (L < 0 || L > MAX_CONFIG_LEN / 2) return fail(err, errlen, "model too deep for sweeps");
    long a[2];
    int na = 0, m;
    add_range(list, 0, L, "intact");
    if (!strcmp(name, "intact")) return 0;
    if (!strcmp(name, "drop-last")) sweep_drop(list, L, 1);
    else if (!strcmp(name, "drop-first")) sweep_drop(list, L, 0);
    else if (!strcmp(name, "skip-one")) sweep_skip_range(list, L, 1);
    else if ((m = sweep_args(name, "skip-range", a, 1, &na)) != 0) {
        long w = na ? a[0] : 2;
        if (m < 0 || w < 1 || w > L)
            return fail(err, errlen, "skip-range width must be 1..%d (e.g. skip-range:3)", L);
        sweep_skip_range(list, L, (int)w);
    } else if (!strcmp(name, "repeat-one")) sweep_repeat_one(list, L);
    else if (!strcmp(name, "swap-adjacent")) sweep_swap_adjacent(list, L);
    else if (!strcmp(name, "reverse")) sweep_reverse(list, L);
    else if ((m = sweep_args(name, "shuffle", a, 2, &na)) != 0) {
        if (m < 0 || na < 1 || a[0] < 1 || a[0] > 10000)
            return fail(err, errlen,
                        "shuffle needs K (1..10000) and an optional SEED: shuffle:K:SEED");
        sweep_shuffle(list, L, (int)a[0], na > 1 ? (unsigned long long)a[1] : 0);
    } else {
        return fail(err, errlen, "unknown sweep \"%s\" (known: %s)", name, known);
    }
    return 0;
}
