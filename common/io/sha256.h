// sha256: SHA-256 (FIPS 180-4), streaming and whole-file.  Used to verify downloads
// whose ETag is the content's sha256 (Hugging Face LFS files).
// Called outside this module only by the tests (tests/unit/test_sha256.c): sha256_buf_hex,
// sha256_final, sha256_hex, sha256_init, sha256_update.
#ifndef AUTOINTERP_SHA256_H
#define AUTOINTERP_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];     // chaining state
    uint64_t nbytes;   // bytes hashed so far
    uint8_t buf[64];   // pending partial block
    size_t nbuf;       // bytes in buf, < 64
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t n);
// Writes the 32-byte digest; s must be re-initialised before reuse.
void sha256_final(Sha256 *s, uint8_t digest[32]);

// Lowercase hex of a digest into out (65 bytes: 64 hex digits + NUL).
void sha256_hex(const uint8_t digest[32], char out[65]);
// One-shot digest of a buffer as lowercase hex.
void sha256_buf_hex(const void *data, size_t n, char out[65]);
// Hex digest of a whole file, read in chunks.  0 on success; -1 with a message in err.
int sha256_file_hex(const char *path, char out[65], char *err, size_t errlen);
// Is s exactly 64 hex digits (a sha256 in hex, either case)?
int sha256_is_hex(const char *s);

#endif
