// test_sha256: FIPS 180-4 / NIST example vectors, streaming in odd-sized pieces, and
// the file reader.  `test_sha256 FILE...` prints "HEX  FILE" lines (for the comparison
// with python's hashlib in tests/tool/sha256.sh).
#include "base/util.h"
#include "check.h"
#include "io/sha256.h"

#include <stdlib.h>

static void check_vector(const char *name, const char *msg, size_t n, const char *want) {
    char hex[65];
    sha256_buf_hex(msg, n, hex);
    CHECK_STR(name, hex, want);
}

// Hash buf in pieces of `step` bytes; must equal the one-shot digest.
static void check_pieces(const char *name, const uint8_t *buf, size_t n, size_t step) {
    Sha256 s;
    uint8_t d[32];
    char got[65], want[65];
    sha256_init(&s);
    for (size_t i = 0; i < n; i += step) sha256_update(&s, buf + i, n - i < step ? n - i : step);
    sha256_final(&s, d);
    sha256_hex(d, got);
    sha256_buf_hex(buf, n, want);
    CHECK_STR(name, got, want);
}

static int print_files(int argc, char **argv) {
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        char hex[65], err[256];
        if (sha256_file_hex(argv[i], hex, err, sizeof err) != 0) {
            fprintf(stderr, "test_sha256: %s\n", err);
            rc = 1;
            continue;
        }
        printf("%s  %s\n", hex, argv[i]);
    }
    return rc;
}

int main(int argc, char **argv) {
    if (argc > 1) return print_files(argc, argv);

    check_vector("empty", "", 0,
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_vector("abc", "abc", 3,
                 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_vector("448 bits", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    check_vector(
        "896 bits",
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        112, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    check_vector("fox", "The quick brown fox jumps over the lazy dog", 43,
                 "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592");

    // One million 'a' (NIST), fed in 1000-byte pieces.
    char *a = xmalloc(1000);
    memset(a, 'a', 1000);
    Sha256 s;
    uint8_t d[32];
    char hex[65];
    sha256_init(&s);
    for (int i = 0; i < 1000; i++) sha256_update(&s, a, 1000);
    sha256_final(&s, d);
    sha256_hex(d, hex);
    CHECK_STR("million a", hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);

    // Block-boundary lengths, streamed in awkward piece sizes.
    uint8_t buf[300];
    for (int i = 0; i < 300; i++) buf[i] = (uint8_t)(i * 7 + 3);
    size_t lens[] = {55, 56, 63, 64, 65, 119, 120, 128, 300};
    size_t steps[] = {1, 3, 63, 64, 65};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++)
        for (size_t j = 0; j < sizeof steps / sizeof *steps; j++) {
            char name[64];
            snprintf(name, sizeof name, "pieces len %zu step %zu", lens[i], steps[j]);
            check_pieces(name, buf, lens[i], steps[j]);
        }

    CHECK("is_hex yes",
          sha256_is_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    CHECK("is_hex upper",
          sha256_is_hex("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
    CHECK("is_hex short",
          !sha256_is_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"));
    CHECK("is_hex long",
          !sha256_is_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555"));
    CHECK("is_hex sha1", !sha256_is_hex("2c2e6e8f3b7aa23e3e5f2e54c2bbd8c7b5bdf5a1"));
    CHECK("is_hex bad char",
          !sha256_is_hex("g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));

    char err[256];
    CHECK("file missing fails", sha256_file_hex("/nonexistent/x", hex, err, sizeof err) == -1);
    CHECK("file missing message", strstr(err, "/nonexistent/x") != NULL);
    CHECK_DONE();
}
