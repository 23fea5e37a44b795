// test_safetensors: dtype conversions (known bit patterns, exhaustive round trips),
// writer -> reader round trip, and every kind of broken file giving a clear error.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/dtype.h"
#include "base/rng.h"
#include "base/util.h"
#include "check.h"
#include "io/safetensors.h"

static char tmpdir[512];

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

// ----------------------------------------------------------------------------- conversions

static void test_f16_to_f32(void) {
    CHECK("f16 1.0", f16_to_f32(0x3c00) == 1.0f);
    CHECK("f16 -2.0", f16_to_f32(0xc000) == -2.0f);
    CHECK("f16 max 65504", f16_to_f32(0x7bff) == 65504.0f);
    CHECK("f16 1/3", f16_to_f32(0x3555) == 0.333251953125f);
    CHECK("f16 smallest subnormal", f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    CHECK("f16 largest subnormal", f16_to_f32(0x03ff) == ldexpf(1023.0f, -24));
    CHECK("f16 smallest normal", f16_to_f32(0x0400) == ldexpf(1.0f, -14));
    CHECK("f16 -subnormal", f16_to_f32(0x8200) == -ldexpf(512.0f, -24));
    CHECK("f16 +inf", isinf(f16_to_f32(0x7c00)) && f16_to_f32(0x7c00) > 0);
    CHECK("f16 -inf", isinf(f16_to_f32(0xfc00)) && f16_to_f32(0xfc00) < 0);
    CHECK("f16 nan", isnan(f16_to_f32(0x7e00)) && isnan(f16_to_f32(0x7c01)));
    CHECK("f16 -0", f16_to_f32(0x8000) == 0.0f && signbit(f16_to_f32(0x8000)));
    // Every non-NaN half, by the definition of the format (independent arithmetic).
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        int e = (h >> 10) & 31, mant = h & 1023;
        if (e == 31) continue;
        double v = e ? ldexp(1.0 + mant / 1024.0, e - 15) : ldexp(mant, -24);
        if (h & 0x8000) v = -v;
        bad += (double)f16_to_f32((uint16_t)h) != v;
    }
    CHECK_INT("f16 all finite values", bad, 0);
}

static void test_bf16_to_f32(void) {
    CHECK("bf16 1.0", bf16_to_f32(0x3f80) == 1.0f);
    CHECK("bf16 -3.0", bf16_to_f32(0xc040) == -3.0f);
    CHECK("bf16 0.33203125", bf16_to_f32(0x3eaa) == 0.33203125f);
    CHECK("bf16 max", bf16_to_f32(0x7f7f) == from_bits(0x7f7f0000));
    CHECK("bf16 subnormal", bf16_to_f32(0x0001) == ldexpf(1.0f, -133));
    CHECK("bf16 inf", isinf(bf16_to_f32(0x7f80)));
    CHECK("bf16 nan", isnan(bf16_to_f32(0x7fc0)));
}

static void test_f32_to_16(void) {
    CHECK_INT("to f16 1.0", f32_to_f16(1.0f), 0x3c00);
    CHECK_INT("to f16 -2.0", f32_to_f16(-2.0f), 0xc000);
    CHECK_INT("to f16 0.1", f32_to_f16(0.1f), 0x2e66);
    CHECK_INT("to f16 65504", f32_to_f16(65504.0f), 0x7bff);
    CHECK_INT("to f16 65519 stays finite", f32_to_f16(65519.0f), 0x7bff);
    CHECK_INT("to f16 65520 rounds to inf", f32_to_f16(65520.0f), 0x7c00);
    CHECK_INT("to f16 1e9 -> inf", f32_to_f16(1e9f), 0x7c00);
    CHECK_INT("to f16 -inf", f32_to_f16(-INFINITY), 0xfc00);
    CHECK_INT("to f16 tie to even (down)", f32_to_f16(1.0f + ldexpf(1, -11)), 0x3c00);
    CHECK_INT("to f16 tie to even (up)", f32_to_f16(1.0f + 3 * ldexpf(1, -11)), 0x3c02);
    CHECK_INT("to f16 above tie rounds up",
              f32_to_f16(from_bits(to_bits(1.0f + ldexpf(1, -11)) + 1)), 0x3c01);
    CHECK_INT("to f16 2^-25 ties to 0", f32_to_f16(ldexpf(1, -25)), 0x0000);
    CHECK_INT("to f16 just above 2^-25", f32_to_f16(ldexpf(1.0000001f, -25)), 0x0001);
    CHECK_INT("to f16 3*2^-25 ties to 2", f32_to_f16(3 * ldexpf(1, -25)), 0x0002);
    CHECK_INT("to f16 subnormal -> normal by rounding", f32_to_f16(ldexpf(1023.5f, -24)), 0x0400);
    CHECK_INT("to f16 1e-10 -> 0", f32_to_f16(1e-10f), 0x0000);
    CHECK_INT("to f16 -0", f32_to_f16(-0.0f), 0x8000);
    uint16_t hn = f32_to_f16(NAN);
    CHECK("to f16 nan", (hn & 0x7c00) == 0x7c00 && (hn & 0x3ff) != 0);

    CHECK_INT("to bf16 1.0", f32_to_bf16(1.0f), 0x3f80);
    CHECK_INT("to bf16 tie to even (down)", f32_to_bf16(1.0f + ldexpf(1, -8)), 0x3f80);
    CHECK_INT("to bf16 tie to even (up)", f32_to_bf16(1.0f + 3 * ldexpf(1, -8)), 0x3f82);
    CHECK_INT("to bf16 above tie", f32_to_bf16(from_bits(0x3f808001)), 0x3f81);
    CHECK_INT("to bf16 below tie", f32_to_bf16(from_bits(0x3f807fff)), 0x3f80);
    CHECK_INT("to bf16 max float -> inf", f32_to_bf16(from_bits(0x7f7fffff)), 0x7f80);
    uint16_t bn = f32_to_bf16(from_bits(0x7f800001));   // a NaN whose top bits are inf's
    CHECK("to bf16 nan stays nan", (bn & 0x7f80) == 0x7f80 && (bn & 0x7f) != 0);

    // Exhaustive: every 16-bit value round-trips; and halfway points between neighbours
    // round to the even one.
    int bad16 = 0, badb = 0, badtie = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = f16_to_f32((uint16_t)h);
        if (!isnan(f)) bad16 += f32_to_f16(f) != h;
        float g = bf16_to_f32((uint16_t)h);
        if (!isnan(g)) badb += f32_to_bf16(g) != h;
        if ((h & 0x7fff) < 0x7bff) {   // tie between h and h+1 (same sign, both finite)
            double mid = ((double)f + (double)f16_to_f32((uint16_t)(h + 1))) / 2;
            uint16_t want = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
            badtie += f32_to_f16((float)mid) != want;
        }
    }
    CHECK_INT("f16 round trip all", bad16, 0);
    CHECK_INT("bf16 round trip all", badb, 0);
    CHECK_INT("f16 ties to even all", badtie, 0);

    float src[3] = {1.0f, -2.0f, 0.1f};
    unsigned char b16[6];
    float back[3];
    CHECK_INT("st_from_f32 F16", st_from_f32(b16, src, ST_F16, 3), 0);
    CHECK("st_from_f32 little-endian",
          b16[0] == 0x00 && b16[1] == 0x3c && b16[4] == 0x66 && b16[5] == 0x2e);
    CHECK_INT("st_to_f32 F16", st_to_f32(back, b16, ST_F16, 3), 0);
    CHECK("st_to_f32 F16 values",
          back[0] == 1.0f && back[1] == -2.0f && back[2] == f16_to_f32(0x2e66));
    CHECK_INT("st_to_f32 I64 refused", st_to_f32(back, b16, ST_I64, 1), -1);
}

// ----------------------------------------------------------------------------- round trip

static int fill_fail(void *ctx, int index, void *buf, size_t nbytes, char *err, size_t errlen) {
    (void)ctx, (void)index, (void)buf, (void)nbytes;
    return fail(err, errlen, "no bytes today");
}

static void test_round_trip(void) {
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/rt.safetensors", tmpdir);
    float a[6] = {1, 2, 3, 4, 5, -6.5f};
    uint16_t h[4] = {0x3c00, 0xc000, 0x7bff, 0x0001};
    uint16_t bf[3] = {0x3f80, 0xc040, 0x3eaa};
    int64_t i64 = -42;
    uint8_t u8[5] = {1, 2, 3, 4, 5};
    StWriteTensor t[] = {
        {"zeta.f32", ST_F32, 2, {2, 3}, a}, {"alpha.f16", ST_F16, 1, {4}, h},
        {"beta.bf16", ST_BF16, 1, {3}, bf}, {"scalar.i64", ST_I64, 0, {0}, &i64},
        {"bytes.u8", ST_U8, 1, {5}, u8},    {"empty.f32", ST_F32, 2, {0, 3}, a},
    };
    const char *meta[] = {"format", "pt", "note", "a \"quoted\" value"};
    int rc = safetensors_write(path, t, 6, meta, 2, NULL, NULL, err, sizeof err);
    CHECK_INT("write rc", rc, 0);
    SafeTensors st;
    rc = safetensors_open(&st, path, err, sizeof err);
    CHECK_INT("open rc", rc, 0);
    if (rc != 0) {
        printf("# %s\n", err);
        return;
    }
    CHECK_INT("n_tensors", st.n_tensors, 6);
    CHECK_INT("header 8-aligned", st.header_len % 8, 0);
    CHECK_INT("data size", st.data_size, 24 + 8 + 6 + 8 + 5 + 0);
    CHECK_STR("meta format", safetensors_meta(&st, "format"), "pt");
    CHECK_STR("meta escaped", safetensors_meta(&st, "note"), "a \"quoted\" value");
    CHECK("meta absent", safetensors_meta(&st, "nope") == NULL);

    const StTensor *z = safetensors_find(&st, "zeta.f32");
    CHECK("find zeta", z != NULL);
    if (z) {
        CHECK_INT("zeta dtype", z->dtype, ST_F32);
        CHECK_INT("zeta ndim", z->ndim, 2);
        CHECK("zeta shape", z->shape[0] == 2 && z->shape[1] == 3);
        CHECK_INT("zeta nbytes", z->nbytes, 24);
        CHECK("zeta data", memcmp(z->data, a, 24) == 0);
    }
    const StTensor *f = safetensors_find(&st, "alpha.f16");
    float v[4];
    CHECK("alpha f16", f && f->dtype == ST_F16 && f->numel == 4 &&
                           st_to_f32(v, f->data, ST_F16, 4) == 0 && v[0] == 1.0f && v[1] == -2.0f &&
                           v[2] == 65504.0f && v[3] == ldexpf(1, -24));
    const StTensor *b = safetensors_find(&st, "beta.bf16");
    CHECK("beta bf16", b && b->dtype == ST_BF16 && st_to_f32(v, b->data, ST_BF16, 3) == 0 &&
                           v[0] == 1.0f && v[1] == -3.0f && v[2] == 0.33203125f);
    const StTensor *s = safetensors_find(&st, "scalar.i64");
    int64_t sv = 0;
    if (s) memcpy(&sv, s->data, 8);
    CHECK("scalar i64", s && s->ndim == 0 && s->numel == 1 && s->nbytes == 8 && sv == -42);
    const StTensor *e = safetensors_find(&st, "empty.f32");
    CHECK("empty tensor",
          e && e->numel == 0 && e->nbytes == 0 && e->shape[0] == 0 && e->shape[1] == 3);
    const StTensor *u = safetensors_find(&st, "bytes.u8");
    CHECK("u8", u && u->nbytes == 5 && memcmp(u->data, u8, 5) == 0);
    CHECK("find missing",
          safetensors_find(&st, "zeta") == NULL && safetensors_find(&st, "") == NULL);
    // Layout as the official writer: dtype descending (I64 > F32 > BF16 > F16 > U8), then name.
    CHECK("layout I64 first", s && s->begin == 0);
    CHECK("layout F32 by name", e && z && e->begin == 8 && z->begin == 8);
    CHECK("layout BF16 then F16 then U8",
          b && f && u && b->begin == 32 && f->begin == 38 && u->begin == 46);
    // Iteration is sorted by name.
    int sorted = 1;
    for (int i = 1; i < st.n_tensors; i++)
        sorted &= strcmp(st.tensors[i - 1].name, st.tensors[i].name) < 0;
    CHECK("iteration sorted by name", sorted);
    safetensors_close(&st);
    safetensors_close(&st);   // harmless twice

    // The header bytes themselves: compact JSON, metadata first, padded with spaces.
    size_t len;
    char *raw = read_file(path, &len);
    CHECK("header text",
          raw && len > 8 && strncmp(raw + 8, "{\"__metadata__\":{\"format\":\"pt\",", 31) == 0 &&
              strstr(raw + 8,
                     "\"scalar.i64\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}"));
    free(raw);

    // Writer errors.
    StWriteTensor dup[] = {{"x", ST_F32, 1, {1}, a}, {"x", ST_F32, 1, {1}, a}};
    CHECK_INT("write duplicate",
              safetensors_write(path, dup, 2, NULL, 0, NULL, NULL, err, sizeof err), -1);
    CHECK("write duplicate message", strstr(err, "'x'") && strstr(err, "twice"));
    StWriteTensor neg[] = {{"n", ST_F32, 1, {-1}, a}};
    CHECK_INT("write negative dim",
              safetensors_write(path, neg, 1, NULL, 0, NULL, NULL, err, sizeof err), -1);
    StWriteTensor lazy[] = {{"lazy", ST_F32, 1, {2}, NULL}};
    CHECK_INT("write fill failure",
              safetensors_write(path, lazy, 1, NULL, 0, fill_fail, NULL, err, sizeof err), -1);
    CHECK("fill failure message", strstr(err, "no bytes today") != NULL);
    CHECK("fill failure removes file", access(path, F_OK) != 0);
    StWriteTensor ok[] = {{"only", ST_F32, 1, {2}, a}};
    CHECK_INT("write no metadata",
              safetensors_write(path, ok, 1, NULL, 0, NULL, NULL, err, sizeof err), 0);
    raw = read_file(path, &len);
    CHECK("no metadata header", raw && strncmp(raw + 8, "{\"only\":", 8) == 0);
    free(raw);
}

// ----------------------------------------------------------------------------- broken files

// A file of: u64 hlen (as given), header text, ndata bytes of 0x11.
static void raw_write(const char *path, uint64_t hlen, const char *header, size_t ndata) {
    FILE *f = fopen(path, "wb");
    unsigned char l[8];
    for (int i = 0; i < 8; i++) l[i] = (unsigned char)(hlen >> (8 * i));
    fwrite(l, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < ndata; i++) fputc(0x11, f);
    fclose(f);
}

// Open a file with this header and data size; expect failure mentioning every needle.
static void expect_bad(const char *name, const char *header, size_t ndata, const char *needle1,
                       const char *needle2) {
    char path[600], err[512] = "";
    snprintf(path, sizeof path, "%s/bad.safetensors", tmpdir);
    raw_write(path, strlen(header), header, ndata);
    SafeTensors st;
    int rc = safetensors_open(&st, path, err, sizeof err);
    char label[200];
    snprintf(label, sizeof label, "%s: rejected", name);
    CHECK_INT(label, rc, -1);
    snprintf(label, sizeof label, "%s: message", name);
    int ok = strstr(err, needle1) && (!needle2 || strstr(err, needle2));
    if (!ok) printf("# got: %s\n", err);
    CHECK(label, ok);
    CHECK("closed state empty", st.n_tensors == 0 && st.map == NULL);
    if (rc == 0) safetensors_close(&st);
}

static void test_broken(void) {
    char path[600], err[512];
    SafeTensors st;
    snprintf(path, sizeof path, "%s/short.safetensors", tmpdir);
    FILE *f = fopen(path, "wb");
    fwrite("\x02\x00\x00", 1, 3, f);
    fclose(f);
    CHECK_INT("short file", safetensors_open(&st, path, err, sizeof err), -1);
    CHECK("short file message", strstr(err, "too short") != NULL);

    snprintf(path, sizeof path, "%s/absurd.safetensors", tmpdir);
    raw_write(path, (uint64_t)1 << 40, "{}", 0);
    CHECK_INT("absurd header size", safetensors_open(&st, path, err, sizeof err), -1);
    CHECK("absurd header message", strstr(err, "100 MB") != NULL);
    raw_write(path, UINT64_MAX, "{}", 0);
    CHECK_INT("u64 max header size", safetensors_open(&st, path, err, sizeof err), -1);
    raw_write(path, 1000, "{}", 0);
    CHECK_INT("header past end of file", safetensors_open(&st, path, err, sizeof err), -1);
    CHECK("header past end message", strstr(err, "exceeds the file size") != NULL);

    CHECK_INT("missing file", safetensors_open(&st, "/nonexistent/x.safetensors", err, sizeof err),
              -1);
    CHECK("missing file message", strstr(err, "/nonexistent/x.safetensors") != NULL);
    CHECK_INT("directory", safetensors_open(&st, tmpdir, err, sizeof err), -1);

    expect_bad("unterminated object", "{\"a\":", 0, "not valid JSON", NULL);
    expect_bad("not JSON", "hello world", 0, "not a JSON object", NULL);
    expect_bad("JSON array", "[1,2]", 0, "not a JSON object", NULL);
    expect_bad("truncated JSON", "{\"a\":{\"dtype\":\"F32\"", 0, "not valid JSON", NULL);
    expect_bad("bad dtype", "{\"w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               "'w'", "unknown dtype \"F33\"");
    expect_bad("dtype not string", "{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               "'w'", "dtype");
    expect_bad("negative dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
               4, "'w'", "shape[0]");
    expect_bad("fractional dim",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,1.5],\"data_offsets\":[0,4]}}", 4, "'w'",
               "shape[1]");
    expect_bad("shape not array", "{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}",
               4, "'w'", "shape");
    expect_bad(
        "shape overflow",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,4]}}",
        4, "'w'", "overflow");
    expect_bad(
        "nbytes overflow",
        "{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,1073741824],\"data_offsets\":[0,4]}}", 4,
        "'w'", "overflow");
    expect_bad("nbytes mismatch",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 12, "'w'",
               "span 12 bytes but F32 (2, 2) needs 16");
    expect_bad("end before begin",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, "'w'",
               "end before begin");
    expect_bad("offsets not pair", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}",
               4, "'w'", "data_offsets");
    expect_bad("negative offset",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "'w'",
               "data_offsets");
    expect_bad(
        "offset too big",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999999]}}", 4,
        "'w'", "data_offsets");
    expect_bad("missing offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "'w'",
               "missing \"data_offsets\"");
    expect_bad("unknown field",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "'w'",
               "unknown field");
    expect_bad("entry not object", "{\"w\":[1]}", 0, "'w'", "not an object");
    expect_bad("outside the file",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "'w'",
               "past the end");
    expect_bad("gap",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
               20, "'b'", "gap of 4 bytes");
    expect_bad("gap at start", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, "'a'", "gap");
    expect_bad("overlap",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, "'b'", "overlap tensor 'a'");
    expect_bad("same offsets",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
               8, "overlap", NULL);
    expect_bad("trailing bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
               12, "4 bytes after", "'a'");
    expect_bad("data but no tensors", "{}", 4, "4 bytes after", NULL);
    expect_bad("duplicate name",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               8, "'a'", "twice");
    expect_bad("metadata not strings", "{\"__metadata__\":{\"format\":1}}", 0, "__metadata__",
               "not a string");
    expect_bad("metadata not object", "{\"__metadata__\":\"pt\"}", 0, "__metadata__",
               "not an object");
    expect_bad("invalid UTF-8",
               "{\"w\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               "not valid UTF-8", NULL);
    expect_bad("surrogate in UTF-8",
               "{\"w\xed\xa0\x80\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               "not valid UTF-8", NULL);
    expect_bad("too many dims",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
               4, "'w'", "dimensions");

    // A good file with no tensors, and one with padding spaces after the header.
    snprintf(path, sizeof path, "%s/ok.safetensors", tmpdir);
    raw_write(path, 8, "{}      ", 0);
    int rc = safetensors_open(&st, path, err, sizeof err);
    CHECK_INT("empty header with padding ok", rc, 0);
    if (rc == 0) {
        CHECK_INT("empty header no tensors", st.n_tensors, 0);
        safetensors_close(&st);
    }

    // A valid file truncated by 4 bytes.
    float w[4] = {1, 2, 3, 4};
    StWriteTensor t[] = {{"first", ST_F32, 1, {4}, w}, {"second", ST_F32, 1, {4}, w}};
    snprintf(path, sizeof path, "%s/trunc.safetensors", tmpdir);
    safetensors_write(path, t, 2, NULL, 0, NULL, NULL, err, sizeof err);
    size_t len;
    char *raw = read_file(path, &len);
    f = fopen(path, "wb");
    fwrite(raw, 1, len - 4, f);
    fclose(f);
    free(raw);
    CHECK_INT("truncated file", safetensors_open(&st, path, err, sizeof err), -1);
    CHECK("truncated file message", strstr(err, "'second'") && strstr(err, "truncated"));
}

// Random damage to a valid file (byte flips in the header and length, truncation): open
// either fails with a message or yields tensors that tile the data buffer exactly.
static void test_mutations(void) {
    char path[600], good[600], err[512];
    snprintf(good, sizeof good, "%s/good.safetensors", tmpdir);
    snprintf(path, sizeof path, "%s/mut.safetensors", tmpdir);
    float w[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[3] = {1, 2, 3};
    StWriteTensor t[] = {
        {"a", ST_F32, 2, {2, 3}, w}, {"b", ST_F16, 1, {3}, h}, {"c", ST_F32, 0, {0}, w}};
    const char *meta[] = {"format", "pt"};
    safetensors_write(good, t, 3, meta, 1, NULL, NULL, err, sizeof err);
    size_t len;
    unsigned char *orig = (unsigned char *)read_file(good, &len);
    if (!orig) {
        CHECK("mutations: base file", 0);
        return;
    }
    unsigned char *buf = xmalloc(len);
    Rng r;
    rng_seed(&r, 99);
    int opened = 0, rejected = 0, broken = 0, no_message = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, orig, len);
        size_t n = len;
        int kind = (int)rng_below(&r, 4);
        if (kind == 3) n = (size_t)rng_below(&r, len);
        else
            for (int k = 0; k <= kind; k++) {
                size_t at = (size_t)rng_below(&r, len < 200 ? len : 200);
                buf[at] = (unsigned char)(rng_next(&r) & 0xff);
            }
        FILE *f = fopen(path, "wb");
        fwrite(buf, 1, n, f);
        fclose(f);
        SafeTensors st;
        err[0] = '\0';
        if (safetensors_open(&st, path, err, sizeof err) != 0) {
            rejected++;
            no_message += err[0] == '\0';
            continue;
        }
        opened++;
        size_t sum = 0;
        for (int i = 0; i < st.n_tensors; i++) {
            const StTensor *x = &st.tensors[i];
            sum += x->nbytes;
            broken += x->end > st.data_size || x->end - x->begin != x->nbytes ||
                      (const unsigned char *)x->data != st.data + x->begin;
        }
        broken += sum != st.data_size;
        safetensors_close(&st);
    }
    printf("# mutations: %d opened, %d rejected\n", opened, rejected);
    CHECK("mutations: some rejected, some still open", rejected > 100 && opened > 10);
    CHECK_INT("mutations: opened files are consistent", broken, 0);
    CHECK_INT("mutations: every rejection has a message", no_message, 0);
    free(buf);
    free(orig);
}

int main(void) {
    if (check_scratch(tmpdir, sizeof tmpdir, "test_safetensors") != 0) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    test_f16_to_f32();
    test_bf16_to_f32();
    test_f32_to_16();
    test_round_trip();
    test_broken();
    test_mutations();
    check_scratch_remove(tmpdir);
    CHECK_DONE();
}
