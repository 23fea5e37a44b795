// Unit tests for common/model/tokenizer: known GPT-2 encodings (checked against the npm
// package tiktoken, encoding gpt2), round trips on arbitrary bytes, <|endoftext|>,
// utf8_incomplete_tail, vocabulary validation errors, speed.
//
// Test-only program modes, used by tests/tool/tokenizer_parity.sh:
//   test_tokenizer --encode-lines FILE [VOCAB_DIR]  each line of FILE is a JSON string
//       (lines starting with '#' and empty lines are skipped): print its ids, space-separated
//   test_tokenizer --encode-file FILE [VOCAB_DIR]   the ids of the whole file as one text
//   test_tokenizer --classes                        the pre-tokenizer class of every code
//       point but surrogates, one letter each: L N S O, or U for one utf8proc (Unicode 15)
//       leaves unassigned
// With no arguments it runs the unit tests (vocabulary in build/vocab, from the repo root).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>

#include "base/json.h"
#include "base/util.h"
#include "check.h"
#include "model/tokenizer.h"

#define VOCAB_DIR "build/vocab"

// The ids of text[0..len) as "a,b,c" (static buffer), or "ERROR".
static const char *enc_n(const Tokenizer *tok, const char *text, size_t len) {
    static char buf[8192];
    int *ids, n;
    if (tok_encode(tok, text, len, &ids, &n) < 0) return "ERROR";
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < sizeof buf - 16; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%d", i ? "," : "", ids[i]);
    free(ids);
    return buf;
}

static const char *enc(const Tokenizer *tok, const char *text) {
    return enc_n(tok, text, strlen(text));
}

// Does decode(encode(s)) give back s[0..n) exactly?
static int round_trips(const Tokenizer *tok, const char *s, size_t n) {
    int *ids, k;
    char *out;
    size_t outlen;
    if (tok_encode(tok, s, n, &ids, &k) < 0) return 0;
    int ok = tok_decode(tok, ids, k, &out, &outlen) == 0 && outlen == n && memcmp(out, s, n) == 0;
    free(ids);
    free(out);
    return ok;
}

static uint64_t rng_state = 12345;
static uint32_t rng_next(void) {   // xorshift64*
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static void test_known(const Tokenizer *tok) {
    CHECK_INT("vocab size", tok_vocab_size(tok), 50257);
    // Expected ids from node third_party/node_modules/tiktoken, get_encoding("gpt2").
    CHECK_STR("Hello world", enc(tok, "Hello world"), "15496,995");
    CHECK_STR("Madrid", enc(tok, " Madrid is the capital of"), "14708,318,262,3139,286");
    CHECK_STR("France", enc(tok, "The capital of France is"), "464,3139,286,4881,318");
    CHECK_STR("contractions", enc(tok, "I'm can't we'll THEY'LL it'S"),
              "40,1101,460,470,356,1183,33302,6,3069,340,6,50");
    CHECK_STR("spaces", enc(tok, "  hello   world  "), "220,23748,220,220,995,220,220");
    CHECK_STR("digits", enc(tok, "1234567 3.14159"), "10163,2231,3134,513,13,1415,19707");
    CHECK_STR("code", enc(tok, "\tdef f(x):\n    return x\n"),
              "197,4299,277,7,87,2599,198,220,220,220,1441,2124,198");
    CHECK_STR("chinese", enc(tok, "你好，世界"),
              "19526,254,25001,121,171,120,234,10310,244,45911,234");
    CHECK_STR("accents", enc(tok, "naïve café"), "2616,38776,40304");
    CHECK_STR("emoji zwj", enc(tok, "🤖👍🏽👨‍👩‍👧"),
              "8582,97,244,41840,235,8582,237,121,41840,101,447,235,41840,102,447,235,41840,100");
    CHECK_STR("nbsp",
              enc(tok, "a\xc2\xa0"
                       "b"),
              "64,1849,65");
    // \s is Unicode White_Space: U+0085 is a space, U+FEFF is not (gpt-3-encoder, with
    // JavaScript's \s, gives 64,1587,227,65 and 64,220,171,119,123,65).
    // (Octal escapes: a hex escape would run on into the "b".)
    CHECK_STR("U+0085 is a space", enc(tok, "a \302\205b"), "64,220,126,227,65");
    CHECK_STR("U+FEFF is not a space", enc(tok, "a \357\273\277b"), "64,27332,119,123,65");
    CHECK_STR("y diaeresis", enc(tok, "\xc3\xbf"), "127,123");
    CHECK_STR("single space", enc(tok, " "), "220");
    CHECK_STR("backslash", enc(tok, "\\"), "59");
    CHECK_STR("empty", enc(tok, ""), "");
    int *ids, n;
    CHECK("empty gives an array", tok_encode(tok, "", 0, &ids, &n) == 0 && ids && n == 0);
    free(ids);
}

static void test_bytes(const Tokenizer *tok) {
    size_t len;
    const char *b = tok_bytes(tok, 262, &len);
    CHECK("bytes of 262 are \" the\"", b && len == 4 && memcmp(b, " the", 4) == 0);
    b = tok_bytes(tok, TOK_EOT, &len);
    CHECK("bytes of EOT", b && len == 13 && memcmp(b, "<|endoftext|>", 13) == 0);
    b = tok_bytes(tok, 220, &len);
    CHECK("bytes of 220 are a space", b && len == 1 && b[0] == ' ');
    CHECK("bytes of -1", tok_bytes(tok, -1, &len) == NULL);
    CHECK("bytes of 50257", tok_bytes(tok, 50257, &len) == NULL);
    CHECK_INT("find \" the\"", tok_find(tok, " the", 4), 262);
    CHECK_INT("find byte 0xff", tok_find(tok, "\xff", 1), 187);
    CHECK_INT("find missing", tok_find(tok, "zzzzqqqq", 8), -1);
    // Every byte is a token, and each decodes to that byte.
    int ok = 1;
    for (int c = 0; c < 256; c++) {
        char s = (char)c;
        int id = tok_find(tok, &s, 1);
        const char *p = tok_bytes(tok, id, &len);
        ok &= id >= 0 && p && len == 1 && p[0] == s;
    }
    CHECK("all 256 bytes are tokens", ok);
    char *out;
    int bad[2] = {15496, 50257};
    CHECK("decode rejects id 50257", tok_decode(tok, bad, 2, &out, &len) < 0 && out == NULL);
    int hello[2] = {15496, 995};
    CHECK("decode Hello world", tok_decode(tok, hello, 2, &out, &len) == 0 && len == 11 &&
                                    strcmp(out, "Hello world") == 0);
    free(out);
    CHECK("decode nothing",
          tok_decode(tok, NULL, 0, &out, &len) == 0 && len == 0 && out && out[0] == '\0');
    free(out);
}

static void test_endoftext(const Tokenizer *tok) {
    CHECK_STR("eot alone", enc(tok, "<|endoftext|>"), "50256");
    CHECK_STR("eot between", enc(tok, "a<|endoftext|>b"), "64,50256,65");
    CHECK_STR("eot spaces", enc(tok, "Hello <|endoftext|> world"), "15496,220,50256,995");
    CHECK_STR("eot twice", enc(tok, "<|endoftext|><|endoftext|>"), "50256,50256");
    CHECK_STR("eot partial", enc(tok, "<|endoftext|"), "27,91,437,1659,5239,91");
    int *ids, n;
    CHECK("ordinary keeps eot as text",
          tok_encode_ordinary(tok, "<|endoftext|>", 13, &ids, &n) == 0 && n == 7 && ids[0] == 27 &&
              ids[1] == 91 && ids[2] == 437 && ids[3] == 1659 && ids[4] == 5239 && ids[5] == 91 &&
              ids[6] == 29);
    free(ids);
}

static void test_invalid_utf8(const Tokenizer *tok) {
    // Each invalid byte is an "other" character: it joins punctuation runs.
    // Expected ids: the byte-level BPE of those bytes (Python reference of encoder.py).
    CHECK_STR("lone 0xff", enc(tok, "\xff"), "187");
    CHECK_STR("invalid bytes are not letters",
              enc(tok, "a\xff\xfe"
                       "b"),
              "64,187,186,65");
    CHECK_STR("space joins invalid bytes", enc(tok, "x \xe2\x80"), "87,564");
    CHECK_STR("invalid bytes join punctuation", enc(tok, " .\xe2\x80"), "764,447");
    const char *cases[] = {
        "\xff\xfe abc \xc3( \xed\xa0\x80 \xf4\x90\x80\x80 \xe4\xb8",
        "\xc0\xaf\xe0\x80\xaf \xf8\x88\x80\x80\x80",
        "\x80\x80\x80",
        "\xe4\xb8\xad\xe4",
        "it\xe2\x80s 's\xff'll",
        "\xef\xbb\xbf\xef\xbb\xbf hi",
        "\xf0\x9f\xa4",
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        ok &= round_trips(tok, cases[i], strlen(cases[i]));
    CHECK("invalid UTF-8 round trips", ok);
    char all[512];
    for (int i = 0; i < 512; i++) all[i] = (char)(i % 256);
    CHECK("all bytes incl NUL round trip", round_trips(tok, all, sizeof all));
    ok = 1;
    char buf[300];
    for (int t = 0; t < 2000 && ok; t++) {
        size_t n = rng_next() % sizeof buf;
        for (size_t i = 0; i < n; i++) {
            uint32_t r = rng_next();
            // Mix random bytes with spaces, letters, quotes and UTF-8 lead bytes.
            const char pick[] = " 'sa1\n\xc3\xe4\xf0\x80\xbf\xa0";
            buf[i] = (r & 3) ? (char)(r >> 8) : pick[(r >> 8) % (sizeof pick - 1)];
        }
        ok &= round_trips(tok, buf, n);
        if (!ok) fprintf(stderr, "round trip failed on random case %d\n", t);
    }
    CHECK("2000 random byte strings round trip", ok);
}

static void test_incomplete_tail(void) {
    CHECK_INT("tail empty", utf8_incomplete_tail("", 0), 0);
    CHECK_INT("tail ascii", utf8_incomplete_tail("abc", 3), 0);
    CHECK_INT("tail complete 2", utf8_incomplete_tail("a\xc3\xa9", 3), 0);
    CHECK_INT("tail complete 4", utf8_incomplete_tail("\xf0\x9f\xa4\x96", 4), 0);
    CHECK_INT("tail 1 of 2", utf8_incomplete_tail("a\xc3", 2), 1);
    CHECK_INT("tail 1 of 3", utf8_incomplete_tail("a\xe4", 2), 1);
    CHECK_INT("tail 2 of 3", utf8_incomplete_tail("a\xe4\xb8", 3), 2);
    CHECK_INT("tail 3 of 4", utf8_incomplete_tail("\xf0\x9f\xa4", 3), 3);
    CHECK_INT("tail 2 of 4", utf8_incomplete_tail("\xf0\x9f", 2), 2);
    CHECK_INT("tail stray continuation", utf8_incomplete_tail("a\x80", 2), 0);
    CHECK_INT("tail 4 continuations", utf8_incomplete_tail("\x80\x80\x80\x80", 4), 0);
    CHECK_INT("tail invalid lead", utf8_incomplete_tail("a\xff", 2), 0);
    CHECK_INT("tail C0", utf8_incomplete_tail("a\xc0", 2), 0);
    CHECK_INT("tail overlong E0 80", utf8_incomplete_tail("\xe0\x80", 2), 0);
    CHECK_INT("tail surrogate ED A0", utf8_incomplete_tail("\xed\xa0", 2), 0);
    CHECK_INT("tail ED 9F ok", utf8_incomplete_tail("\xed\x9f", 2), 2);
    CHECK_INT("tail F4 90 too big", utf8_incomplete_tail("\xf4\x90", 2), 0);
    CHECK_INT("tail after complete", utf8_incomplete_tail("\xc3\xa9\xe4", 3), 1);
}

// ----------------------------------------------------------------------------
// Validation errors: small broken vocabularies in a temporary directory

static char tmpdir[512];

static void write_text(const char *name, const char *text, size_t len) {
    char *path = path_join(tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) eprintf(2, "cannot write %s", path);
    free(path);
}

static void remove_files(void) {
    const char *names[] = {"vocab.json", "merges.txt", "encoder.json", "vocab.bpe"};
    for (size_t i = 0; i < 4; i++) {
        char *path = path_join(tmpdir, names[i]);
        unlink(path);
        free(path);
    }
}

// Load tmpdir; "OK" or the error message (static buffer).
static const char *load_msg(void) {
    static char err[512];
    Tokenizer *tok = tok_load(tmpdir, err, sizeof err);
    if (!tok) return err;
    tok_free(tok);
    return "OK";
}

// Does loading tmpdir fail with a message containing `want`?
static int load_fails_with(const char *want) {
    const char *msg = load_msg();
    if (strcmp(msg, "OK") != 0 && strstr(msg, want)) return 1;
    fprintf(stderr, "load: got [%s], wanted [%s]\n", msg, want);
    return 0;
}

// A merges.txt: the real one with line `lineno` (1-based) replaced by `line` (NULL: kept).
static char *merges_with(const char *real, size_t len, int lineno, const char *line,
                         size_t *outlen) {
    char *out = xmalloc(len + strlen(line ? line : "") + 2);
    size_t k = 0;
    int no = 1;
    for (size_t i = 0; i < len;) {
        const char *eol = memchr(real + i, '\n', len - i);
        size_t n = eol ? (size_t)(eol - (real + i)) + 1 : len - i;
        if (no == lineno && line) {
            memcpy(out + k, line, strlen(line));
            k += strlen(line);
            out[k++] = '\n';
        } else {
            memcpy(out + k, real + i, n);
            k += n;
        }
        i += n;
        no++;
    }
    *outlen = k;
    return out;
}

static void test_errors(void) {
    if (check_scratch(tmpdir, sizeof tmpdir, "test_tokenizer") != 0) eprintf(2, "mkdtemp failed");
    size_t vlen, mlen;
    char *vocab = read_file(VOCAB_DIR "/vocab.json", &vlen);
    char *merges = read_file(VOCAB_DIR "/merges.txt", &mlen);
    if (!vocab || !merges) eprintf(2, "no vocabulary in " VOCAB_DIR " (run make)");

    CHECK("missing files", load_fails_with("no vocab.json + merges.txt"));
    write_text("vocab.json", vocab, vlen);
    CHECK("missing merges.txt", load_fails_with("no vocab.json + merges.txt"));
    write_text("merges.txt", merges, mlen);
    CHECK_STR("real files load", load_msg(), "OK");
    remove_files();
    write_text("encoder.json", vocab, vlen);
    write_text("vocab.bpe", merges, mlen);
    CHECK_STR("encoder.json + vocab.bpe load", load_msg(), "OK");
    remove_files();

    write_text("merges.txt", merges, mlen);
    write_text("vocab.json", "{\"a\": 0,", 8);
    CHECK("truncated vocab.json", load_fails_with("vocab.json: truncated JSON"));
    write_text("vocab.json", "[1, 2]", 6);
    CHECK("vocab.json not an object", load_fails_with("not a JSON object"));
    write_text("vocab.json", "{\"a\": 0, \"b\": 1}", 16);
    CHECK("vocab.json too small", load_fails_with("vocab.json: 2 tokens"));

    // The real vocab with one id changed: "\u0120informants": 50254 -> other values.
    const char *needle = "\"\\u0120informants\": 50254";
    char *at = strstr(vocab, needle);
    CHECK("needle in vocab.json", at != NULL);
    if (at) {
        size_t key = (size_t)(at - vocab) + 1, pos = key + strlen(needle) - 6;
        char *v = xmalloc(vlen + 1);
        memcpy(v, vocab, vlen + 1);
        memcpy(v + pos, "99999", 5);
        write_text("vocab.json", v, vlen);
        CHECK("id out of range", load_fails_with("(\"\\u0120informants\"): id 99999 out of range"));
        memcpy(v + pos, "50255", 5);
        write_text("vocab.json", v, vlen);
        CHECK("id used twice", load_fails_with("id 50255 used twice"));
        memcpy(v + pos, "50.25", 5);
        write_text("vocab.json", v, vlen);
        CHECK("id not an integer", load_fails_with("id is not an integer"));
        memcpy(v + pos, "50254", 5);
        memcpy(v + key, "\\u0121", 6);   // "ġinformants": merges.txt no longer matches
        write_text("vocab.json", v, vlen);
        CHECK("vocab and merges mismatch",
              load_fails_with(
                  "merges.txt:50000: the merge of \"Ġinform ants\" makes a token not in"));
        memcpy(v + key, "\\u3000", 6);   // a character outside the alphabet
        write_text("vocab.json", v, vlen);
        CHECK("key outside the alphabet", load_fails_with("outside the byte-level alphabet"));
        memcpy(v + key, "\\u0120gaze\\u0064", 16);   // " gazed" again (it is 50255), escaped
        write_text("vocab.json", v, vlen);
        CHECK("duplicate token bytes", load_fails_with("the same bytes as another token"));
        free(v);
    }
    char *eot = strstr(vocab, "\"<|endoftext|>\": 50256");
    if (eot) {
        char *v = xmalloc(vlen + 1);
        memcpy(v, vocab, vlen + 1);
        memcpy(v + (eot - vocab) + 2, "E", 1);   // "<Eendoftext|>"
        write_text("vocab.json", v, vlen);
        CHECK("no endoftext", load_fails_with("no token \"<|endoftext|>\""));
        free(v);
    }
    write_text("vocab.json", vocab, vlen);

    size_t n;
    char *m = merges_with(merges, mlen, 5, "\xc4\xa0t \xc4\xa0q", &n);   // "Ġt Ġq"
    write_text("merges.txt", m, n);
    CHECK("merge result not in vocab", load_fails_with("merges.txt:5: the merge of"));
    free(m);
    m = merges_with(merges, mlen, 7, "Ġ t x", &n);
    write_text("merges.txt", m, n);
    CHECK("merge line with 3 fields", load_fails_with("merges.txt:7: expected two tokens"));
    free(m);
    m = merges_with(merges, mlen, 9, "", &n);
    write_text("merges.txt", m, n);
    CHECK("empty merge line", load_fails_with("merges.txt:9: expected two tokens"));
    free(m);
    m = merges_with(merges, mlen, 3, "zzqqxxyy ab", &n);
    write_text("merges.txt", m, n);
    CHECK("merge part not a token", load_fails_with("merges.txt:3: \"zzqqxxyy\" is not a token"));
    free(m);
    m = merges_with(merges, mlen, 4, "a \xe3\x80\x80", &n);
    write_text("merges.txt", m, n);
    CHECK("merge part outside alphabet",
          load_fails_with("merges.txt:4: \"\xe3\x80\x80\" has a character outside"));
    free(m);
    m = merges_with(merges, mlen, 50001, "\xc4\xa0 t", &n);   // "Ġ t" is line 2 already
    write_text("merges.txt", m, n);
    CHECK("duplicate merge", load_fails_with("merges.txt:50001: the pair \"Ġ t\" is listed twice"));
    free(m);
    write_text("merges.txt", "#version: 0.2\n", 14);
    CHECK("no merges", load_fails_with("merges.txt: no merges"));
    // CRLF line ends are accepted.
    char *crlf = xmalloc(2 * mlen + 1);
    size_t k = 0;
    for (size_t i = 0; i < mlen; i++) {
        if (merges[i] == '\n') crlf[k++] = '\r';
        crlf[k++] = merges[i];
    }
    write_text("merges.txt", crlf, k);
    CHECK_STR("CRLF merges.txt loads", load_msg(), "OK");
    free(crlf);

    if (!check_keep_scratch()) {
        remove_files();
        rmdir(tmpdir);
    }
    free(vocab);
    free(merges);
}

static void test_speed(const Tokenizer *tok) {
    const char *para =
        "The quick brown fox jumps over the lazy dog. It's 2024, and we'll test 12345 "
        "tokens/sec: {\"key\": [1, 2, 3]} -- naïve café, 東京都, Привет мир!\n\t  ";
    size_t plen = strlen(para), n = 0, cap = (1u << 20) + plen;
    char *text = xmalloc(cap);
    while (n + plen <= cap) {
        memcpy(text + n, para, plen);
        n += plen;
    }
    double t0 = now_seconds();
    int *ids, k;
    int rc = tok_encode(tok, text, n, &ids, &k);
    double dt = now_seconds() - t0;
    printf("# encoded %zu bytes into %d tokens in %.3f s\n", n, k, dt);
    CHECK("1 MB encodes", rc == 0 && k > 200000);
    free(ids);
    // One 200 kB "word" (no spaces): the heap keeps BPE O(n log n).
    for (size_t i = 0; i < 200000; i++) text[i] = "abcdefghij"[rng_next() % 10];
    t0 = now_seconds();
    rc = tok_encode(tok, text, 200000, &ids, &k);
    double dt2 = now_seconds() - t0;
    printf("# encoded a 200000-byte word into %d tokens in %.3f s\n", k, dt2);
    CHECK("long word round trips", rc == 0 && round_trips(tok, text, 200000));
    free(ids);
#ifndef __SANITIZE_ADDRESS__   // timings under sanitizers (or valgrind: set AUTOINTERP_NO_TIMING) mean little
    if (!getenv("AUTOINTERP_NO_TIMING")) {
        CHECK("1 MB in under 1 s", dt < 1.0);
        CHECK("200 kB word in under 1 s", dt2 < 1.0);
    }
#endif
    free(text);
}

// ----------------------------------------------------------------------------
// Program modes for the parity test

static void print_ids(const int *ids, int n) {
    for (int i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
    putchar('\n');
}

static Tokenizer *load_or_die(const char *dir) {
    char err[512];
    Tokenizer *tok = tok_load(dir, err, sizeof err);
    if (!tok) eprintf(2, "%s", err);
    return tok;
}

static int encode_lines(const char *path, const char *dir) {
    Tokenizer *tok = load_or_die(dir);
    size_t len;
    char *text = read_file(path, &len);
    if (!text) eprintf(2, "%s: cannot read", path);
    int status = 0, lineno = 0;
    for (char *line = text, *eol; line < text + len; line = eol + 1) {
        eol = memchr(line, '\n', (size_t)(text + len - line));
        if (!eol) eol = text + len;
        lineno++;
        size_t n = (size_t)(eol - line);
        if (n == 0 || line[0] == '#') continue;
        // Parsed as the one element of an array: the case is exactly one JSON string.
        char *arr = xmalloc(n + 3);
        arr[0] = '[';
        memcpy(arr + 1, line, n);
        memcpy(arr + n + 1, "]", 2);
        JsonDoc doc;
        char jerr[200], *s = NULL;
        size_t slen;
        int *ids, k;
        if (json_parse(&doc, arr, n + 2, jerr, sizeof jerr) < 0 || json_size(&doc, 0) != 1 ||
            json_str(&doc, 1, &s, &slen) < 0 || tok_encode(tok, s, slen, &ids, &k) < 0) {
            printf("ERROR %s:%d\n", path, lineno);
            status = 1;
        } else {
            print_ids(ids, k);
            free(ids);
        }
        free(s);
        free(arr);
        json_free(&doc);
    }
    free(text);
    tok_free(tok);
    return status;
}

static int encode_file(const char *path, const char *dir) {
    Tokenizer *tok = load_or_die(dir);
    size_t len;
    char *text = read_file(path, &len);
    if (!text) eprintf(2, "%s: cannot read", path);
    int *ids, k;
    int rc = tok_encode(tok, text, len, &ids, &k);
    if (rc == 0) print_ids(ids, k);
    free(ids);
    free(text);
    tok_free(tok);
    return rc ? 1 : 0;
}

static int print_classes(void) {
    static const char letter[] = {[TOK_CLASS_OTHER] = 'O',
                                  [TOK_CLASS_LETTER] = 'L',
                                  [TOK_CLASS_NUMBER] = 'N',
                                  [TOK_CLASS_SPACE] = 'S'};
    for (int cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        int cls = tok_char_class(cp);
        int unassigned = utf8proc_category(cp) == UTF8PROC_CATEGORY_CN;
        putchar(cls == TOK_CLASS_OTHER && unassigned ? 'U' : letter[cls]);
    }
    putchar('\n');
    return 0;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    if (argc >= 3 && strcmp(argv[1], "--encode-lines") == 0)
        return encode_lines(argv[2], argc >= 4 ? argv[3] : VOCAB_DIR);
    if (argc >= 3 && strcmp(argv[1], "--encode-file") == 0)
        return encode_file(argv[2], argc >= 4 ? argv[3] : VOCAB_DIR);
    if (argc == 2 && strcmp(argv[1], "--classes") == 0) return print_classes();
    if (argc > 1)
        eprintf(
            2, "usage: test_tokenizer [--encode-lines|--encode-file FILE [VOCAB_DIR] | --classes]");

    Tokenizer *tok = load_or_die(VOCAB_DIR);
    test_known(tok);
    test_bytes(tok);
    test_endoftext(tok);
    test_invalid_utf8(tok);
    test_incomplete_tail();
    test_errors();
    test_speed(tok);
    tok_free(tok);
    CHECK_DONE();
}
