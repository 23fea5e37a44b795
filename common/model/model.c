// model: open checkpoint + tokenizer by name; see model.h.
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "io/hub.h"

int model_open(Model *m, const char *name, const HubOptions *hub, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    if (!name) name = getenv("AUTOINTERP_MODEL");
    if (!name || !*name) name = MODEL_DEFAULT;
    m->name = xstrdup(name);
    char inner[1024];
    if (hub_resolve(name, hub, &m->dir, inner, sizeof inner) != 0) {
        fail(err, errlen, "%s", inner);
        goto bad;
    }
    Gpt2Weights weights;
    if (gpt2_weights_from_env(&weights, inner, sizeof inner) != 0) {
        fail(err, errlen, "%s", inner);
        goto bad;
    }
    if (gpt2_open(&m->gpt2, m->dir, inner, sizeof inner) != 0 ||
        gpt2_use_weights(&m->gpt2, weights, inner, sizeof inner) != 0) {
        fail(err, errlen, "model %s: %s", name, inner);
        goto bad;
    }
    m->tok = tok_load(m->dir, inner, sizeof inner);
    if (!m->tok) {
        fail(err, errlen, "model %s: %s", name, inner);
        goto bad;
    }
    if (tok_vocab_size(m->tok) > m->gpt2.cfg.vocab_size) {
        fail(err, errlen, "model %s: tokenizer has %d tokens but the model only %d (vocab_size)",
             name, tok_vocab_size(m->tok), m->gpt2.cfg.vocab_size);
        goto bad;
    }
    return 0;
bad:
    model_close(m);
    return -1;
}

void model_close(Model *m) {
    if (m->tok) tok_free(m->tok);
    gpt2_close(&m->gpt2);
    free(m->name);
    free(m->dir);
    memset(m, 0, sizeof *m);
}

int model_encode_prompt(const Model *m, const char *text, size_t len, int bos, int **ids, int *n) {
    int *body, nb;
    if (tok_encode(m->tok, text, len, &body, &nb) != 0) return -1;
    if (!bos) {
        *ids = body;
        *n = nb;
        return 0;
    }
    *ids = xmalloc(sizeof(int) * ((size_t)nb + 1));
    (*ids)[0] = TOK_EOT;
    memcpy(*ids + 1, body, sizeof(int) * (size_t)nb);
    *n = nb + 1;
    free(body);
    return 0;
}

const char *model_token_text(const Model *m, int id, size_t *len) {
    return tok_bytes(m->tok, id, len);
}
