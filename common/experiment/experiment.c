// experiment: shared options, configurations and tokens; see experiment.h.
#include "experiment/experiment.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/tool.h"
#include "base/util.h"
#include "experiment/sweep.h"

void experiment_defaults(ExperimentOptions *o) {
    memset(o, 0, sizeof *o);
    o->bos = 1;
}

int experiment_option(ExperimentOptions *o, int opt, const char *arg) {
    switch (opt) {
    case OPT_MODEL: o->model = arg; return 1;
    case OPT_NO_BOS: o->bos = 0; return 1;
    case OPT_LAYERS:
        if (o->n_specs == EXPERIMENT_MAX_SPECS) eprintf(EXIT_USAGE, "too many --layers");
        o->specs[o->n_specs++] = arg;
        return 1;
    case OPT_SWEEP:
        if (o->n_sweeps == EXPERIMENT_MAX_SPECS) eprintf(EXIT_USAGE, "too many --sweep");
        o->sweeps[o->n_sweeps++] = arg;
        return 1;
    case OPT_PACK: o->pack = (int)arg_integer(arg, 1, 1000000, "--pack"); return 1;
    case OPT_MEM_BUDGET: o->mem_budget = arg_mem_size(arg, "--mem-budget"); return 1;
    default: return 0;
    }
}

size_t arg_mem_size(const char *s, const char *flag) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    int shift = 0;
    if (*end == 'K' || *end == 'k') shift = 10, end++;
    else if (*end == 'M' || *end == 'm') shift = 20, end++;
    else if (*end == 'G' || *end == 'g') shift = 30, end++;
    if (errno || end == s || *end || s[0] == '-' || v > (1ULL << 40) >> shift ||
        (v << shift) < (1ULL << 20) || (v << shift) > (1ULL << 40))
        eprintf(EXIT_USAGE, "%s needs a size in 1M..1T such as 512M or 2G, not '%s'", flag, s);
    return (size_t)(v << shift);
}

int experiment_stretch_end(const size_t *bytes, int n, int from, size_t max_bytes) {
    int end = from + 1;
    size_t sum = bytes[from];
    while (end < n && sum + bytes[end] <= max_bytes && sum + bytes[end] >= sum) sum += bytes[end++];
    return end;
}

int experiment_groups(const GroupMember *members, int n, size_t max_bytes,
                      int (*run)(void *ctx, const int *idx, int n), void *ctx) {
    char *taken = xcalloc((size_t)(n > 0 ? n : 1), 1);
    int *idx = xmalloc(sizeof(int) * (size_t)(n > 0 ? n : 1)), sum = 0;
    for (int i = 0; i < n; i++) {
        if (!members[i].configs || taken[i]) continue;
        int g = 0;
        size_t bytes = 0;
        for (int j = i; j < n && (g == 0 || bytes < max_bytes); j++)
            if (members[j].configs && !taken[j] &&
                configs_same_blocks(members[i].configs, members[j].configs)) {
                taken[j] = 1;
                idx[g++] = j;
                bytes += members[j].bytes;
            }
        sum += run(ctx, idx, g);
    }
    free(idx);
    free(taken);
    return sum;
}

int configs_find_intact(const ConfigList *list, int n_layer) {
    for (int k = 0; k < list->n; k++)
        if (layers_is_intact(list->cfg[k].idx, list->cfg[k].n, n_layer)) return k;
    return -1;
}

size_t experiment_budget(const ExperimentOptions *o) { return sweep_budget(o->mem_budget); }

size_t experiment_group_bytes(const ExperimentOptions *o) {
    return experiment_budget(o) / EXPERIMENT_GROUP_SHARE;
}

int experiment_workspace(const ExperimentOptions *o, const Gpt2 *m, const ConfigList *cmdline,
                         TfWorkspace *ws, char *err, size_t errlen) {
    int depth = cmdline->n ? 0 : m->cfg.n_layer, rows = m->cfg.n_ctx;
    for (int k = 0; k < cmdline->n; k++)
        if (cmdline->cfg[k].n > depth) depth = cmdline->cfg[k].n;
    int packed = sweep_pack_rows(&m->cfg, depth, experiment_budget(o));
    if (o->pack != 1 && packed > rows) rows = packed;
    return tf_workspace_init(ws, m, rows, threadpool_global(), err, errlen);
}

void experiment_open(const ExperimentOptions *o, Model *model, ConfigList *cmdline,
                     TfWorkspace *ws) {
    char err[2048];
    if (model_open(model, o->model, NULL, err, sizeof err) != 0 ||
        experiment_plan(o, model->gpt2.cfg.n_layer, cmdline, err, sizeof err) != 0 ||
        experiment_workspace(o, &model->gpt2, cmdline, ws, err, sizeof err) != 0)
        eprintf(EXIT_USAGE, "%s", err);
}

void experiment_close(Model *model, ConfigList *cmdline, TfWorkspace *ws) {
    tf_workspace_free(ws);
    configs_free(cmdline);
    model_close(model);
}

static void add_unless_second_intact(ConfigList *out, const LayerConfig *c, int n_layer) {
    if (layers_is_intact(c->idx, c->n, n_layer) && configs_find_intact(out, n_layer) >= 0) return;
    configs_add(out, c->idx, c->n, c->label);
}

int experiment_plan(const ExperimentOptions *o, int n_layer, ConfigList *out, char *err,
                    size_t errlen) {
    memset(out, 0, sizeof *out);
    for (int s = 0; s < o->n_sweeps; s++) {
        ConfigList one = {0};
        int rc = layers_sweep(o->sweeps[s], n_layer, &one, err, errlen);
        for (int k = 0; rc == 0 && k < one.n; k++)
            add_unless_second_intact(out, &one.cfg[k], n_layer);
        configs_free(&one);
        if (rc) goto bad;
    }
    for (int s = 0; s < o->n_specs; s++) {
        LayerConfig c;
        char inner[256];
        if (layers_parse(o->specs[s], n_layer, &c, inner, sizeof inner) != 0) {
            fail(err, errlen, "--layers %s: %s", o->specs[s], inner);
            goto bad;
        }
        add_unless_second_intact(out, &c, n_layer);
        layer_config_free(&c);
    }
    return 0;
bad:
    configs_free(out);
    return -1;
}

int experiment_configs(const ConfigList *cmdline, const Record *r, int n_layer, ConfigList *out,
                       char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (cmdline->n) {
        for (int k = 0; k < cmdline->n; k++)
            configs_add(out, cmdline->cfg[k].idx, cmdline->cfg[k].n, cmdline->cfg[k].label);
        return 0;
    }
    int *idx = NULL, n = 0;
    int got = record_int_array(r, "layers", &idx, &n, err, errlen);
    if (got < 0) return -1;
    if (got == 0) {
        n = n_layer;
        idx = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
        for (int i = 0; i < n; i++) idx[i] = i;
    } else if (layers_check(idx, n, n_layer, err, errlen) != 0) {
        free(idx);
        return -1;
    }
    char label[LAYER_LABEL_MAX], *given = NULL;
    if (record_string(r, "label", &given, NULL, NULL, 0) == 1)
        snprintf(label, sizeof label, "%s", given);
    else if (layers_is_intact(idx, n, n_layer)) snprintf(label, sizeof label, "intact");
    else layers_compact(idx, n, label, sizeof label);
    configs_add(out, idx, n, label);
    free(given);
    free(idx);
    return 0;
}

static int string_field(const Record *r, const char *key, char **s, size_t *len, char *err,
                        size_t errlen) {
    int got = record_string(r, key, s, len, err, errlen);
    if (got == 0) return fail(err, errlen, "missing \"%s\"", key);
    return got < 0 ? -1 : 0;
}

int experiment_tokens(const Model *m, const Record *r, int bos, int with_answer, RecordTokens *t,
                      char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    char *prompt = NULL, *answer = NULL, *sep = NULL;
    size_t plen = 0, alen = 0, slen = 0;
    int *ans = NULL, rc = -1;
    if (string_field(r, "prompt", &prompt, &plen, err, errlen) != 0) goto done;
    if (plen == 0 && !bos) {
        fail(err, errlen, "empty \"prompt\" (and no BOS to start from)");
        goto done;
    }
    // A text of n bytes is at least n / maxb tokens: refuse one that cannot fit before
    // encoding it (an 80 MiB one-word prompt took 38 s and 3.9 GB to be refused).
    size_t maxb = tok_max_token_bytes(m->tok);
    if (plen / maxb + (size_t)(bos != 0) > (size_t)m->gpt2.cfg.n_ctx) {
        fail(err, errlen,
             "prompt of %zu bytes (at least %zu tokens) exceeds the context window of %d", plen,
             plen / maxb + (size_t)(bos != 0), m->gpt2.cfg.n_ctx);
        goto done;
    }
    if (model_encode_prompt(m, prompt, plen, bos, &t->ids, &t->n_prompt) != 0) {
        fail(err, errlen, "prompt too long to tokenize");
        goto done;
    }
    if (with_answer) {
        if (string_field(r, "answer", &answer, &alen, err, errlen) != 0) goto done;
        if (record_string(r, "separator", &sep, &slen, err, errlen) < 0) goto done;
        // The answer is scored as the tokens of separator + answer after the prompt.
        size_t tlen = (sep ? slen : 1) + alen;
        if (tlen / maxb + (size_t)t->n_prompt > (size_t)m->gpt2.cfg.n_ctx) {
            fail(err, errlen,
                 "prompt + answer of at least %zu tokens exceeds the context window of %d",
                 tlen / maxb + (size_t)t->n_prompt, m->gpt2.cfg.n_ctx);
            goto done;
        }
        char *text = xmalloc(tlen + 1);
        memcpy(text, sep ? sep : " ", sep ? slen : 1);
        memcpy(text + (sep ? slen : 1), answer, alen);
        int na;
        int erc = tok_encode(m->tok, text, tlen, &ans, &na);
        free(text);
        if (erc != 0 || na == 0) {
            fail(err, errlen, erc ? "answer too long" : "empty \"answer\"");
            goto done;
        }
        t->ids = xrealloc(t->ids, sizeof(int) * ((size_t)t->n_prompt + (size_t)na));
        memcpy(t->ids + t->n_prompt, ans, sizeof(int) * (size_t)na);
        t->n_answer = na;
    }
    int total = t->n_prompt + t->n_answer;
    if (total > m->gpt2.cfg.n_ctx) {
        fail(err, errlen, "%s of %d tokens exceeds the context window of %d",
             with_answer ? "prompt + answer" : "prompt", total, m->gpt2.cfg.n_ctx);
        goto done;
    }
    rc = 0;
done:
    if (rc) record_tokens_free(t);
    free(prompt);
    free(answer);
    free(sep);
    free(ans);
    return rc;
}

void record_tokens_free(RecordTokens *t) {
    free(t->ids);
    memset(t, 0, sizeof *t);
}

void experiment_write_config(JsonBuf *out, const LayerConfig *c) {
    jb_key(out, "layers");
    jb_int_array(out, c->idx, c->n);
    jb_key(out, "label");
    jb_cstr(out, c->label);
}
