// Unit tests for common/io/npz: the archive is read back here with zlib (headers, CRC-32,
// inflate, the .npy header and values); tests/tool/interp.sh loads the files with NumPy.
//
//   test_npz                 unit tests
//   test_npz --write FILE    the known arrays of write_known() (for np.load in a tool test)
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#include "base/util.h"
#include "check.h"
#include "io/npz.h"

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static unsigned get_u16(const unsigned char *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

// a: (3, 4) = i * 0.5 - 1; b: (5,) = 1 / (i + 1); c: (2, 0); d: (2, 3, 2) with odd values
static int write_known(const char *path, char *err, size_t errlen) {
    float a[12], b[5], d[12];
    for (int i = 0; i < 12; i++) a[i] = i * 0.5f - 1.0f;
    for (int i = 0; i < 5; i++) b[i] = 1.0f / (float)(i + 1);
    for (int i = 0; i < 12; i++) d[i] = (i % 2 ? -1.0f : 1.0f) * (float)i * 1e-30f;
    d[5] = 3.4e38f;
    long sa[] = {3, 4}, sb[] = {5}, sc[] = {2, 0}, sd[] = {2, 3, 2};
    NpzWriter *w = npz_open(path, err, errlen);
    if (!w) return -1;
    int rc = npz_add_f32(w, "rec0.blocks.0.hook_resid_post", a, sa, 2, err, errlen);
    rc |= npz_add_f32(w, "b", b, sb, 1, err, errlen);
    rc |= npz_add_f32(w, "empty", a, sc, 2, err, errlen);
    rc |= npz_add_f32(w, "rec1.cfg2.blocks.11.hook_z", d, sd, 3, err, errlen);
    return npz_close(w, err, errlen) | rc;
}

// Walk the archive: every local header, inflate, CRC, the .npy header of member k.
static void test_read_back(const char *path) {
    size_t len;
    unsigned char *f = (unsigned char *)read_file(path, &len);
    CHECK("read the archive", f != NULL);
    if (!f) return;
    size_t off = 0;
    int members = 0, crc_ok = 1, inflate_ok = 1, aligned = 1, values_ok = 1;
    while (off + 30 <= len && get_u32(f + off) == 0x04034b50) {
        unsigned method = get_u16(f + off + 8);
        uint32_t crc = get_u32(f + off + 14), csize = get_u32(f + off + 18),
                 usize = get_u32(f + off + 22);
        unsigned nlen = get_u16(f + off + 26), xlen = get_u16(f + off + 28);
        const unsigned char *data = f + off + 30 + nlen + xlen;
        if (method != 8) inflate_ok = 0;
        unsigned char *out = xmalloc(usize + 1);
        z_stream zs = {0};
        inflateInit2(&zs, -15);
        zs.next_in = (Bytef *)data;
        zs.avail_in = csize;
        zs.next_out = out;
        zs.avail_out = usize + 1;
        if (inflate(&zs, Z_FINISH) != Z_STREAM_END || zs.total_out != usize) inflate_ok = 0;
        inflateEnd(&zs);
        if (crc32(0, out, usize) != crc) crc_ok = 0;
        if (memcmp(out, "\x93NUMPY\x01\x00", 8) != 0 || (10 + get_u16(out + 8)) % 64 != 0 ||
            out[9 + get_u16(out + 8)] != '\n')
            aligned = 0;
        if (members == 0) {   // a: i * 0.5 - 1
            size_t h = 10 + get_u16(out + 8);
            CHECK("member 0 header",
                  strstr((char *)out + 10,
                         "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }") != NULL);
            for (int i = 0; i < 12; i++) {
                uint32_t u = get_u32(out + h + 4 * i);
                float v;
                memcpy(&v, &u, 4);
                values_ok &= v == i * 0.5f - 1.0f;
            }
        }
        if (members == 1)
            CHECK("1-D shape is written (5,)",
                  strstr((char *)out + 10, "'shape': (5,), }") != NULL);
        free(out);
        members++;
        off = (size_t)(data - f) + csize;
    }
    CHECK_INT("four members", members, 4);
    CHECK("every member deflated and inflates to its size", inflate_ok);
    CHECK("every CRC-32 matches", crc_ok);
    CHECK(".npy v1.0 headers, data aligned to 64 bytes", aligned);
    CHECK("values little-endian float32, C order", values_ok);
    CHECK("central directory follows", off + 4 <= len && get_u32(f + off) == 0x02014b50);
    CHECK("end of central directory: 4 entries",
          len >= 22 && get_u32(f + len - 22) == 0x06054b50 && get_u16(f + len - 12) == 4);
    free(f);
}

static void test_errors(const char *dir) {
    char err[256], path[512];
    snprintf(path, sizeof path, "%s/bad.npz", dir);
    NpzWriter *w = npz_open(path, err, sizeof err);
    float x[2] = {1, 2};
    long s[] = {2}, neg[] = {-1};
    CHECK("bad name refused",
          npz_add_f32(w, "a/b", x, s, 1, err, sizeof err) == -1 && strstr(err, "bad array name"));
    CHECK("no dimensions refused", npz_add_f32(w, "a", x, s, 0, err, sizeof err) == -1);
    CHECK("negative dimension refused", npz_add_f32(w, "a", x, neg, 1, err, sizeof err) == -1);
    CHECK("first add", npz_add_f32(w, "a", x, s, 1, err, sizeof err) == 0);
    CHECK("a name twice refused",
          npz_add_f32(w, "a", x, s, 1, err, sizeof err) == -1 && strstr(err, "twice"));
    CHECK_INT("count", npz_count(w), 1);
    CHECK("close after refused adds: ok", npz_close(w, err, sizeof err) == 0);
    CHECK("unwritable path", npz_open("/nonexistent/dir/x.npz", err, sizeof err) == NULL &&
                                 strstr(err, "cannot create"));
    w = npz_open("/dev/full", err, sizeof err);
    if (w) {
        int rc = npz_add_f32(w, "a", x, s, 1, err, sizeof err);
        rc |= npz_close(w, err, sizeof err);
        CHECK("/dev/full: the write error is reported", rc != 0 && strstr(err, "cannot write"));
    }
}

int main(int argc, char **argv) {
    char err[256];
    if (argc == 3 && !strcmp(argv[1], "--write")) {
        if (write_known(argv[2], err, sizeof err) != 0) eprintf(1, "%s", err);
        return 0;
    }
    char dir[400], path[600];
    if (check_scratch(dir, sizeof dir, "test_npz") != 0) return 2;
    snprintf(path, sizeof path, "%s/known.npz", dir);
    CHECK("write known arrays", write_known(path, err, sizeof err) == 0);
    test_read_back(path);
    test_errors(dir);
    check_scratch_remove(dir);
    CHECK_DONE();
}
