// npz: NumPy .npz writer (ZIP + deflate + .npy v1.0); see npz.h.
#include "io/npz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/util.h"

#define ZIP_LIMIT       0xFFFFFFFFull
#define ZIP_MAX_ENTRIES 65535
#define DOS_DATE        0x21   // 1980-01-01
#define DOS_TIME        0

typedef struct {
    char *name;   // member name, "NAME.npy"
    uint32_t crc, csize, usize, offset;
} NpzEntry;

struct NpzWriter {
    FILE *fp;
    char *path;
    uint64_t offset;   // bytes written so far
    NpzEntry *e;
    int n, cap;
    int failed;
    char msg[256];   // the first failure
};

// ----------------------------------------------------------------------------- bytes

typedef struct {
    unsigned char *p;
    size_t len, cap;
} Bytes;

static void bytes_put(Bytes *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_u16(Bytes *b, unsigned v) {
    unsigned char x[2] = {(unsigned char)(v & 0xFF), (unsigned char)(v >> 8 & 0xFF)};
    bytes_put(b, x, 2);
}

static void put_u32(Bytes *b, uint32_t v) {
    unsigned char x[4] = {(unsigned char)(v & 0xFF), (unsigned char)(v >> 8 & 0xFF),
                          (unsigned char)(v >> 16 & 0xFF), (unsigned char)(v >> 24 & 0xFF)};
    bytes_put(b, x, 4);
}

// ----------------------------------------------------------------------------- writer

static int writer_fail(NpzWriter *w, char *err, size_t errlen, const char *fmt, const char *arg) {
    if (!w->failed) snprintf(w->msg, sizeof w->msg, fmt, arg);
    w->failed = 1;
    return fail(err, errlen, "%s", w->msg);
}

static int write_bytes(NpzWriter *w, const void *p, size_t n, char *err, size_t errlen) {
    if (w->offset + n > ZIP_LIMIT)
        return writer_fail(w, err, errlen, "%s: more than 4 GiB (no ZIP64 support)", w->path);
    if (n && fwrite(p, 1, n, w->fp) != n)
        return writer_fail(w, err, errlen, "cannot write %s", w->path);
    w->offset += n;
    return 0;
}

NpzWriter *npz_open(const char *path, char *err, size_t errlen) {
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        fail(err, errlen, "cannot create %s", path);
        return NULL;
    }
    NpzWriter *w = xcalloc(1, sizeof *w);
    w->fp = fp;
    w->path = xstrdup(path);
    return w;
}

int npz_count(const NpzWriter *w) { return w ? w->n : 0; }

static int name_ok(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > NPZ_MAX_NAME) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("_.:#+-", c)))
            return 0;
    }
    return 1;
}

// The .npy v1.0 preamble (magic, version, header length, header) of a float32 array.
static void npy_header(Bytes *b, const long *shape, int ndim) {
    char dict[64 + NPZ_MAX_DIMS * 24];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int d = 0; d < ndim; d++)
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%s%ld", d ? ", " : "", shape[d]);
    len += snprintf(dict + len, sizeof dict - (size_t)len, "%s), }", ndim == 1 ? "," : "");
    size_t total = 10 + (size_t)len + 1;   // magic 6 + version 2 + length 2, dict, '\n'
    size_t pad = (64 - total % 64) % 64;
    bytes_put(b, "\x93NUMPY\x01\x00", 8);
    put_u16(b, (unsigned)(len + pad + 1));
    bytes_put(b, dict, (size_t)len);
    for (size_t i = 0; i < pad; i++) bytes_put(b, " ", 1);
    bytes_put(b, "\n", 1);
}

// Raw deflate of in[0..n) into a malloc'd buffer.
static int deflate_all(const unsigned char *in, size_t n, unsigned char **out, size_t *outlen) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t cap = deflateBound(&zs, (uLong)n);
    unsigned char *buf = xmalloc(cap ? cap : 1);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = buf;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    size_t got = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = got;
    return 0;
}

static void local_header(Bytes *b, const NpzEntry *e) {
    put_u32(b, 0x04034b50);
    put_u16(b, 20);   // version needed: 2.0 (deflate)
    put_u16(b, 0);    // flags
    put_u16(b, 8);    // method: deflate
    put_u16(b, DOS_TIME);
    put_u16(b, DOS_DATE);
    put_u32(b, e->crc);
    put_u32(b, e->csize);
    put_u32(b, e->usize);
    put_u16(b, (unsigned)strlen(e->name));
    put_u16(b, 0);   // extra field length
    bytes_put(b, e->name, strlen(e->name));
}

int npz_add_f32(NpzWriter *w, const char *name, const float *data, const long *shape, int ndim,
                char *err, size_t errlen) {
    if (w->failed) return fail(err, errlen, "%s", w->msg);
    if (!name_ok(name)) return fail(err, errlen, "bad array name \"%s\"", name);
    if (ndim < 1 || ndim > NPZ_MAX_DIMS)
        return fail(err, errlen, "array %s: %d dimensions (1..%d)", name, ndim, NPZ_MAX_DIMS);
    uint64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] > 0 && count > ZIP_LIMIT / (uint64_t)shape[d]))
            return fail(err, errlen, "array %s: bad or too large shape", name);
        count *= (uint64_t)shape[d];
    }
    if (count * 4 > ZIP_LIMIT - 4096) return fail(err, errlen, "array %s: more than 4 GiB", name);
    if (w->n == ZIP_MAX_ENTRIES)
        return writer_fail(w, err, errlen, "%s: more than 65535 arrays (no ZIP64 support)",
                           w->path);
    char member[NPZ_MAX_NAME + 8];
    snprintf(member, sizeof member, "%s.npy", name);
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->e[i].name, member)) return fail(err, errlen, "array %s written twice", name);

    Bytes raw = {0};
    npy_header(&raw, shape, ndim);
    for (uint64_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        put_u32(&raw, u);   // little-endian whatever the host
    }
    unsigned char *z = NULL;
    size_t zlen = 0;
    if (deflate_all(raw.p, raw.len, &z, &zlen) != 0) {
        free(raw.p);
        return writer_fail(w, err, errlen, "%s: deflate failed", w->path);
    }
    if (w->n == w->cap)
        w->e = xrealloc(w->e, sizeof *w->e * (size_t)(w->cap = w->cap ? 2 * w->cap : 64));
    NpzEntry e = {xstrdup(member), (uint32_t)crc32(crc32(0L, Z_NULL, 0), raw.p, (uInt)raw.len),
                  (uint32_t)zlen, (uint32_t)raw.len, (uint32_t)w->offset};
    free(raw.p);
    Bytes hdr = {0};
    local_header(&hdr, &e);
    int rc = write_bytes(w, hdr.p, hdr.len, err, errlen);
    if (rc == 0) rc = write_bytes(w, z, zlen, err, errlen);
    free(hdr.p);
    free(z);
    if (rc != 0) {
        free(e.name);
        return -1;
    }
    w->e[w->n++] = e;
    return 0;
}

int npz_close(NpzWriter *w, char *err, size_t errlen) {
    if (!w) return 0;
    Bytes cd = {0};
    for (int i = 0; i < w->n; i++) {
        const NpzEntry *e = &w->e[i];
        put_u32(&cd, 0x02014b50);
        put_u16(&cd, 20);   // version made by: 2.0, MS-DOS attributes
        put_u16(&cd, 20);
        put_u16(&cd, 0);
        put_u16(&cd, 8);
        put_u16(&cd, DOS_TIME);
        put_u16(&cd, DOS_DATE);
        put_u32(&cd, e->crc);
        put_u32(&cd, e->csize);
        put_u32(&cd, e->usize);
        put_u16(&cd, (unsigned)strlen(e->name));
        put_u16(&cd, 0);   // extra
        put_u16(&cd, 0);   // comment
        put_u16(&cd, 0);   // disk
        put_u16(&cd, 0);   // internal attributes
        put_u32(&cd, 0);   // external attributes
        put_u32(&cd, e->offset);
        bytes_put(&cd, e->name, strlen(e->name));
    }
    uint64_t cd_offset = w->offset;
    Bytes end = {0};
    put_u32(&end, 0x06054b50);
    put_u16(&end, 0);
    put_u16(&end, 0);
    put_u16(&end, (unsigned)w->n);
    put_u16(&end, (unsigned)w->n);
    put_u32(&end, (uint32_t)cd.len);
    put_u32(&end, (uint32_t)cd_offset);
    put_u16(&end, 0);
    char ignore[256];
    if (!w->failed) write_bytes(w, cd.p, cd.len, ignore, sizeof ignore);
    if (!w->failed) write_bytes(w, end.p, end.len, ignore, sizeof ignore);
    if (fclose(w->fp) != 0 && !w->failed)
        writer_fail(w, ignore, sizeof ignore, "cannot write %s", w->path);
    int rc = w->failed ? fail(err, errlen, "%s", w->msg) : 0;
    free(cd.p);
    free(end.p);
    for (int i = 0; i < w->n; i++) free(w->e[i].name);
    free(w->e);
    free(w->path);
    free(w);
    return rc;
}
