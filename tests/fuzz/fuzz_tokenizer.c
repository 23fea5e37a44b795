// fuzz_tokenizer: the GPT-2 tokenizer on any bytes, with the real vocabulary
// ($AUTOINTERP_VOCAB, else build/vocab from `make`).  Properties, for every input:
//   - tok_encode and tok_encode_ordinary succeed, every id is in range;
//   - tok_decode(tok_encode(x)) == x byte for byte, for both;
//   - tok_encode_ordinary never yields <|endoftext|> (50256) unless... never: the special
//     token comes only from step 1;
//   - utf8_incomplete_tail(x) is at most 3 and at most |x|, and the held-back bytes are
//     a prefix of a valid sequence (x minus them ends on a character boundary when x is
//     otherwise valid UTF-8);
//   - tok_decode of arbitrary ids (the input read as 16-bit ids) fails exactly when an id
//     is out of range.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "model/tokenizer.h"

static Tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("AUTOINTERP_VOCAB");
    char err[512];
    tok = tok_load(dir && *dir ? dir : "build/vocab", err, sizeof err);
    if (!tok) {
        fprintf(stderr, "fuzz_tokenizer: %s (run make first, or set AUTOINTERP_VOCAB)\n", err);
        exit(2);
    }
    return 0;
}

static void round_trip(const uint8_t *data, size_t size, int ordinary) {
    int *ids = NULL, n = -1;
    int rc = ordinary ? tok_encode_ordinary(tok, (const char *)data, size, &ids, &n)
                      : tok_encode(tok, (const char *)data, size, &ids, &n);
    FUZZ_REQUIRE(rc == 0 && ids != NULL && n >= 0 && (size_t)n <= size, "encode rc %d n %d", rc, n);
    for (int i = 0; i < n; i++) {
        FUZZ_REQUIRE(ids[i] >= 0 && ids[i] < tok_vocab_size(tok), "id %d out of range", ids[i]);
        if (ordinary) FUZZ_REQUIRE(ids[i] != TOK_EOT, "encode_ordinary produced <|endoftext|>");
    }
    char *out = NULL;
    size_t len = 0;
    FUZZ_REQUIRE(tok_decode(tok, ids, n, &out, &len) == 0 && out, "decode");
    FUZZ_REQUIRE(len == size && memcmp(out, data, size) == 0 && out[len] == '\0',
                 "decode(encode(x)) != x (%zu vs %zu bytes, ordinary %d)", len, size, ordinary);
    free(out);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    round_trip(data, size, 0);
    round_trip(data, size, 1);

    size_t tail = utf8_incomplete_tail((const char *)data, size);
    FUZZ_REQUIRE(tail <= 3 && tail <= size, "utf8_incomplete_tail %zu of %zu", tail, size);
    if (tail && fuzz_utf8_valid((const char *)data, size - tail))
        FUZZ_REQUIRE(!fuzz_utf8_valid((const char *)data, size),
                     "held back %zu bytes of a complete text", tail);

    // Arbitrary ids: decode fails exactly when one is out of range.
    int n = (int)(size / 2), bad = 0;
    int *ids = malloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        ids[i] =
            (int)(data[2 * i] | data[2 * i + 1] << 8) - 1024;   // some negative, some past 50256
        bad |= ids[i] < 0 || ids[i] >= tok_vocab_size(tok);
        size_t bl;
        const char *b = tok_bytes(tok, ids[i], &bl);
        FUZZ_REQUIRE((b == NULL) == (ids[i] < 0 || ids[i] >= tok_vocab_size(tok)),
                     "tok_bytes range");
        if (b)
            FUZZ_REQUIRE(bl >= 1 && tok_find(tok, b, bl) >= 0, "tok_find of a token's own bytes");
    }
    char *out = NULL;
    size_t len;
    int rc = tok_decode(tok, ids, n, &out, &len);
    FUZZ_REQUIRE((rc != 0) == bad && (rc != 0) == (out == NULL),
                 "decode of arbitrary ids: rc %d bad %d", rc, bad);
    free(out);
    free(ids);
    return 0;
}
