// model: what a tool needs to compute — a GPT-2 checkpoint and its tokenizer, found by
// name or path exactly as `loadgpt2` finds them (see hub.h), plus the tokenisation
// conventions every tool shares.
#ifndef AUTOINTERP_MODEL_H
#define AUTOINTERP_MODEL_H
#include <stddef.h>

#include "io/hub.h"
#include "model/gpt2.h"
#include "model/tokenizer.h"

#define MODEL_DEFAULT "gpt2"

typedef struct {
    char *name;   // as asked for ("gpt2", a repo id or a path)
    char *dir;    // the resolved local directory
    Gpt2 gpt2;
    Tokenizer *tok;
} Model;

// Resolve NAME (NULL: $AUTOINTERP_MODEL, else "gpt2") through the hub cache (downloading
// when needed and allowed), open the checkpoint and the tokenizer, and check that they
// agree (vocabulary size).  hub: revision / offline / progress (NULL: defaults).
// $AUTOINTERP_WEIGHTS=bf16 or f16 gives the model 16-bit matrices (gpt2_use_lowp; fp32,
// the default, is exact); another value than fp32/bf16/f16 is an error.
// 0, or -1 with a message in err.
int model_open(Model *m, const char *name, const HubOptions *hub, char *err, size_t errlen);
void model_close(Model *m);

// Tokens of a prompt: <|endoftext|> as BOS first when bos is set (TransformerLens's GPT-2
// default), then the prompt's tokens.  *ids malloc'd.  -1 when the text is too long for
// an int count.
int model_encode_prompt(const Model *m, const char *text, size_t len, int bos, int **ids, int *n);

// The exact text of a token (its raw bytes), for display in JSON ("token_strs").
const char *model_token_text(const Model *m, int id, size_t *len);

#endif
