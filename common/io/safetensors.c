// safetensors: strict mmap reader and a writer; see safetensors.h.
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/dtype.h"
#include "base/json.h"
#include "base/util.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this code assumes a little-endian host"
#endif

// ----------------------------------------------------------------------------- dtypes

static const struct {
    const char *name;
    size_t size;
} dtype_info[ST_NDTYPE] = {
    [ST_BOOL] = {"BOOL", 1},       [ST_U8] = {"U8", 1},           [ST_I8] = {"I8", 1},
    [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_I16] = {"I16", 2},
    [ST_U16] = {"U16", 2},         [ST_F16] = {"F16", 2},         [ST_BF16] = {"BF16", 2},
    [ST_I32] = {"I32", 4},         [ST_U32] = {"U32", 4},         [ST_F32] = {"F32", 4},
    [ST_F64] = {"F64", 8},         [ST_I64] = {"I64", 8},         [ST_U64] = {"U64", 8},
};

int st_dtype_parse(const char *s, size_t n) {
    for (int i = 0; i < ST_NDTYPE; i++)
        if (strlen(dtype_info[i].name) == n && memcmp(dtype_info[i].name, s, n) == 0) return i;
    return -1;
}

const char *st_dtype_name(StDtype dt) {
    return (unsigned)dt < ST_NDTYPE ? dtype_info[dt].name : "?";
}
size_t st_dtype_size(StDtype dt) { return (unsigned)dt < ST_NDTYPE ? dtype_info[dt].size : 0; }

// Element i of a little-endian 16-bit array at any alignment.
static inline uint16_t load_u16(const unsigned char *s, size_t i) {
    uint16_t h;
    memcpy(&h, s + 2 * i, 2);
    return h;
}

int st_to_f32(float *dst, const void *src, StDtype dt, size_t n) {
    const unsigned char *s = src;
    switch (dt) {
    case ST_F32: memcpy(dst, src, n * 4); return 0;
    case ST_F16:
        for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(load_u16(s, i));
        return 0;
    case ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)load_u16(s, i) << 16;
            memcpy(&dst[i], &u, 4);
        }
        return 0;
    default: return -1;
    }
}

int st_from_f32(void *dst, const float *src, StDtype dt, size_t n) {
    unsigned char *d = dst;
    switch (dt) {
    case ST_F32: memcpy(dst, src, n * 4); return 0;
    case ST_F16:
    case ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = dt == ST_F16 ? f32_to_f16(src[i]) : f32_to_bf16(src[i]);
            d[2 * i] = (unsigned char)(h & 0xff);
            d[2 * i + 1] = (unsigned char)(h >> 8);
        }
        return 0;
    default: return -1;
    }
}

char *st_shape_str(const int64_t *shape, int ndim, char *buf, size_t buflen) {
    size_t k = 0;
    if (!buflen) return buf;
    buf[0] = '\0';
    k += (size_t)snprintf(buf, buflen, "(");
    for (int i = 0; i < ndim && k < buflen; i++)
        k += (size_t)snprintf(buf + k, buflen - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < buflen) snprintf(buf + k, buflen - k, ")");
    return buf;
}

// ----------------------------------------------------------------------------- reading

static uint64_t read_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

// A JSON unsigned integer written with digits only (no sign, fraction or exponent).
static int json_u64(const JsonDoc *d, int i, uint64_t *out) {
    if (json_type(d, i) != JSMN_PRIMITIVE) return -1;
    const char *s = d->text + d->tok[i].start;
    size_t n = (size_t)(d->tok[i].end - d->tok[i].start);
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0')) return -1;
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++) {
        if (s[k] < '0' || s[k] > '9') return -1;
        unsigned dig = (unsigned)(s[k] - '0');
        if (v > (UINT64_MAX - dig) / 10) return -1;
        v = v * 10 + dig;
    }
    *out = v;
    return 0;
}

static void tensors_free(StTensor *t, int n) {
    for (int i = 0; i < n; i++) free(t[i].name);
    free(t);
}

void safetensors_close(SafeTensors *st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->map_size);
    tensors_free(st->tensors, st->n_tensors);
    for (int i = 0; i < st->n_meta; i++) free(st->meta_keys[i]), free(st->meta_values[i]);
    free(st->meta_keys);
    free(st->meta_values);
    free(st->path);
    memset(st, 0, sizeof *st);
}

// Parse "__metadata__": an object of string -> string.
static int meta_parse(SafeTensors *st, const JsonDoc *d, int v, char *err, size_t errlen) {
    if (st->meta_keys) return fail(err, errlen, "%s: duplicate \"__metadata__\"", st->path);
    if (json_type(d, v) != JSMN_OBJECT)
        return fail(err, errlen, "%s: \"__metadata__\" is not an object", st->path);
    int n = json_size(d, v);
    st->meta_keys = xcalloc((size_t)n + 1, sizeof(char *));
    st->meta_values = xcalloc((size_t)n + 1, sizeof(char *));
    int k = v + 1;
    for (int m = 0; m < n; m++, k = json_skip(d, k + 1)) {
        size_t kl, vl;
        if (json_type(d, k + 1) != JSMN_STRING)
            return fail(err, errlen, "%s: \"__metadata__\" value %d is not a string", st->path, m);
        json_str(d, k, &st->meta_keys[m], &kl);
        json_str(d, k + 1, &st->meta_values[m], &vl);
        st->n_meta = m + 1;
        if (!st->meta_keys[m] || !st->meta_values[m])
            return fail(err, errlen, "%s: bad string in \"__metadata__\"", st->path);
    }
    return 0;
}

// Parse the value of one tensor entry into t (whose name is set).  Checks the dtype, the
// shape and that the offsets span exactly numel * dtype size bytes.
static int entry_parse(StTensor *t, const JsonDoc *d, int v, const char *path, char *err,
                       size_t errlen) {
    const char *nm = t->name;
    if (json_type(d, v) != JSMN_OBJECT)
        return fail(err, errlen, "%s: tensor '%s': entry is not an object", path, nm);
    int dt = -1, shape = -1, offs = -1;
    int k = v + 1;
    for (int m = 0; m < json_size(d, v); m++, k = json_skip(d, k + 1)) {
        int *slot = json_str_eq(d, k, "dtype")          ? &dt
                    : json_str_eq(d, k, "shape")        ? &shape
                    : json_str_eq(d, k, "data_offsets") ? &offs
                                                        : NULL;
        size_t kl;
        const char *ks = json_raw(d, k, &kl);
        if (!slot)
            return fail(err, errlen, "%s: tensor '%s': unknown field %.*s", path, nm,
                        (int)(kl > 40 ? 40 : kl), ks);
        if (*slot >= 0)
            return fail(err, errlen, "%s: tensor '%s': duplicate field %.*s", path, nm, (int)kl,
                        ks);
        *slot = k + 1;
    }
    if (dt < 0 || shape < 0 || offs < 0)
        return fail(err, errlen, "%s: tensor '%s': missing \"%s\"", path, nm,
                    dt < 0      ? "dtype"
                    : shape < 0 ? "shape"
                                : "data_offsets");

    size_t rl;
    const char *raw = json_raw(d, dt, &rl);
    int code = json_type(d, dt) == JSMN_STRING ? st_dtype_parse(raw + 1, rl - 2) : -1;
    if (code < 0)
        return fail(err, errlen, "%s: tensor '%s': unknown dtype %.*s", path, nm,
                    (int)(rl > 40 ? 40 : rl), raw);
    t->dtype = (StDtype)code;

    if (json_type(d, shape) != JSMN_ARRAY)
        return fail(err, errlen, "%s: tensor '%s': shape is not an array", path, nm);
    t->ndim = json_size(d, shape);
    if (t->ndim > ST_MAX_DIMS)
        return fail(err, errlen, "%s: tensor '%s': %d dimensions (at most %d supported)", path, nm,
                    t->ndim, ST_MAX_DIMS);
    size_t numel = 1;
    for (int i = 0, e = shape + 1; i < t->ndim; i++, e = json_skip(d, e)) {
        uint64_t dim;
        if (json_u64(d, e, &dim) != 0 || dim > (uint64_t)INT64_MAX)
            return fail(err, errlen, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                        path, nm, i);
        t->shape[i] = (int64_t)dim;
        if (dim > SIZE_MAX || mul_size(numel, (size_t)dim, &numel) != 0)
            return fail(err, errlen, "%s: tensor '%s': shape overflows", path, nm);
    }
    t->numel = numel;

    uint64_t b, e;
    if (json_type(d, offs) != JSMN_ARRAY || json_size(d, offs) != 2 ||
        json_u64(d, offs + 1, &b) != 0 || json_u64(d, json_skip(d, offs + 1), &e) != 0)
        return fail(err, errlen,
                    "%s: tensor '%s': data_offsets is not [begin, end] of non-negative integers",
                    path, nm);
    if (e < b)
        return fail(err, errlen, "%s: tensor '%s': data_offsets [%llu, %llu] end before begin",
                    path, nm, (unsigned long long)b, (unsigned long long)e);
    size_t nbytes;
    if (mul_size(numel, st_dtype_size(t->dtype), &nbytes) != 0)
        return fail(err, errlen, "%s: tensor '%s': size overflows", path, nm);
    if (e - b != nbytes) {
        char sh[160];
        return fail(
            err, errlen,
            "%s: tensor '%s': data_offsets [%llu, %llu] span %llu bytes but %s %s needs %zu", path,
            nm, (unsigned long long)b, (unsigned long long)e, (unsigned long long)(e - b),
            st_dtype_name(t->dtype), st_shape_str(t->shape, t->ndim, sh, sizeof sh), nbytes);
    }
    if (e > SIZE_MAX) return fail(err, errlen, "%s: tensor '%s': offset overflows", path, nm);
    t->begin = (size_t)b;
    t->end = (size_t)e;
    t->nbytes = nbytes;
    return 0;
}

static int cmp_begin(const void *a, const void *b) {
    const StTensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const StTensor *)a)->name, ((const StTensor *)b)->name);
}

// Entries sorted by begin must cover [0, data_size) exactly once.
static int tiling_check(SafeTensors *st, char *err, size_t errlen) {
    StTensor *t = st->tensors;
    int n = st->n_tensors;
    for (int i = 0; i < n; i++)
        if (t[i].end > st->data_size)
            return fail(err, errlen,
                        "%s: tensor '%s': data_offsets [%zu, %zu] point past the end of the "
                        "data buffer (%zu bytes; file truncated?)",
                        st->path, t[i].name, t[i].begin, t[i].end, st->data_size);
    qsort(t, (size_t)n, sizeof *t, cmp_begin);
    size_t expect = 0;
    for (int i = 0; i < n; i++) {
        if (t[i].begin > expect)
            return fail(err, errlen,
                        "%s: tensor '%s': gap of %zu bytes before it (begins at %zu, previous data "
                        "ends at %zu)",
                        st->path, t[i].name, t[i].begin - expect, t[i].begin, expect);
        if (t[i].begin < expect)
            return fail(err, errlen, "%s: tensor '%s': data_offsets [%zu, %zu] overlap tensor '%s'",
                        st->path, t[i].name, t[i].begin, t[i].end, t[i - 1].name);
        expect = t[i].end;
    }
    if (expect != st->data_size)
        return fail(err, errlen,
                    "%s: %zu bytes after the last tensor%s%s%s are not covered by any tensor",
                    st->path, st->data_size - expect, n ? " ('" : "", n ? t[n - 1].name : "",
                    n ? "')" : "");
    return 0;
}

// Offset of the first byte that breaks UTF-8 (overlong forms, surrogates and code points
// past U+10FFFF included), or n when s[0..n) is valid.
static size_t utf8_invalid_at(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        if (len == 0 || i + len > n) return i;
        uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += len;
    }
    return n;
}

// Parse the header object into st->tensors / st->meta_*.
static int header_parse(SafeTensors *st, const char *text, size_t len, char *err, size_t errlen) {
    if (len == 0 || text[0] != '{')
        return fail(err, errlen, "%s: header is not a JSON object", st->path);
    size_t bad = utf8_invalid_at((const unsigned char *)text, len);
    if (bad < len)
        return fail(err, errlen, "%s: header is not valid UTF-8 (at byte %zu)", st->path, bad);
    JsonDoc d;
    char jerr[200];
    if (json_parse(&d, text, len, jerr, sizeof jerr) != 0) {
        json_free(&d);
        return fail(err, errlen, "%s: header is not valid JSON: %s", st->path, jerr);
    }
    int rc = 0;
    int n = json_size(&d, 0);
    st->tensors = xcalloc((size_t)n + 1, sizeof(StTensor));
    int k = 1;
    for (int m = 0; m < n && rc == 0; m++, k = json_skip(&d, k + 1)) {
        char *name;
        size_t nl;
        if (json_str(&d, k, &name, &nl) != 0) {
            rc = fail(err, errlen, "%s: bad tensor name in header", st->path);
            break;
        }
        if (strlen(name) != nl) {
            free(name);
            rc = fail(err, errlen, "%s: tensor name with a NUL byte", st->path);
            break;
        }
        if (strcmp(name, "__metadata__") == 0) {
            free(name);
            rc = meta_parse(st, &d, k + 1, err, errlen);
            continue;
        }
        StTensor *t = &st->tensors[st->n_tensors++];
        t->name = name;
        rc = entry_parse(t, &d, k + 1, st->path, err, errlen);
    }
    json_free(&d);
    return rc;
}

int safetensors_open(SafeTensors *st, const char *path, char *err, size_t errlen) {
    memset(st, 0, sizeof *st);
    st->path = xstrdup(path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(err, errlen, "%s: %s", path, strerror(errno));
        goto bad;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fail(err, errlen, "%s: not a regular file", path);
        close(fd);
        goto bad;
    }
    if (sb.st_size < 8) {
        fail(err, errlen, "%s: file is %lld bytes, too short for the 8-byte header length", path,
             (long long)sb.st_size);
        close(fd);
        goto bad;
    }
    if ((unsigned long long)sb.st_size > SIZE_MAX) {
        fail(err, errlen, "%s: file too large to map", path);
        close(fd);
        goto bad;
    }
    st->map_size = (size_t)sb.st_size;
    void *map = mmap(NULL, st->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        fail(err, errlen, "%s: mmap: %s", path, strerror(errno));
        goto bad;
    }
    st->map = map;
    huge_pages_advise(map, st->map_size);
    const unsigned char *p = map;
    uint64_t hlen = read_le64(p);
    if (hlen > ST_MAX_HEADER) {
        fail(err, errlen, "%s: header length %llu exceeds the 100 MB limit", path,
             (unsigned long long)hlen);
        goto bad;
    }
    if (hlen > st->map_size - 8) {
        fail(err, errlen, "%s: header length %llu exceeds the file size %zu - 8 (truncated?)", path,
             (unsigned long long)hlen, st->map_size);
        goto bad;
    }
    st->header_len = (size_t)hlen;
    st->data = p + 8 + st->header_len;
    st->data_size = st->map_size - 8 - st->header_len;
    if (header_parse(st, (const char *)p + 8, st->header_len, err, errlen) != 0) goto bad;
    if (tiling_check(st, err, errlen) != 0) goto bad;
    qsort(st->tensors, (size_t)st->n_tensors, sizeof(StTensor), cmp_name);
    for (int i = 0; i < st->n_tensors; i++) {
        if (i > 0 && strcmp(st->tensors[i].name, st->tensors[i - 1].name) == 0) {
            fail(err, errlen, "%s: tensor '%s': listed twice", path, st->tensors[i].name);
            goto bad;
        }
        st->tensors[i].data = st->data + st->tensors[i].begin;
    }
    return 0;
bad:
    safetensors_close(st);
    return -1;
}

const StTensor *safetensors_find(const SafeTensors *st, const char *name) {
    int lo = 0, hi = st->n_tensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(st->tensors[mid].name, name);
        if (c == 0) return &st->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

const char *safetensors_meta(const SafeTensors *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

// ----------------------------------------------------------------------------- writing

typedef struct {
    const StWriteTensor *t;
    int index;
    size_t nbytes;
} WriteSlot;

static int cmp_write(const void *a, const void *b) {
    const WriteSlot *x = a, *y = b;
    if (x->t->dtype != y->t->dtype) return x->t->dtype > y->t->dtype ? -1 : 1;   // descending
    return strcmp(x->t->name, y->t->name);
}

// Validates the specs and orders them as the file will hold them.
static int write_plan(WriteSlot *s, const StWriteTensor *t, int n, StFillFn fill, char *err,
                      size_t errlen) {
    for (int i = 0; i < n; i++) {
        const char *nm = t[i].name ? t[i].name : "(null)";
        if (!t[i].name || !t[i].name[0]) return fail(err, errlen, "tensor %d: empty name", i);
        if ((unsigned)t[i].dtype >= ST_NDTYPE)
            return fail(err, errlen, "tensor '%s': bad dtype", nm);
        if (t[i].ndim < 0 || t[i].ndim > ST_MAX_DIMS)
            return fail(err, errlen, "tensor '%s': bad ndim %d", nm, t[i].ndim);
        if (!t[i].data && !fill) return fail(err, errlen, "tensor '%s': no data", nm);
        size_t numel = 1;
        for (int k = 0; k < t[i].ndim; k++)
            if (t[i].shape[k] < 0 || (uint64_t)t[i].shape[k] > SIZE_MAX ||
                mul_size(numel, (size_t)t[i].shape[k], &numel) != 0)
                return fail(err, errlen, "tensor '%s': bad shape", nm);
        s[i].t = &t[i];
        s[i].index = i;
        if (mul_size(numel, st_dtype_size(t[i].dtype), &s[i].nbytes) != 0)
            return fail(err, errlen, "tensor '%s': size overflows", nm);
    }
    qsort(s, (size_t)n, sizeof *s, cmp_write);
    for (int i = 1; i < n; i++)
        if (strcmp(s[i].t->name, s[i - 1].t->name) == 0)
            return fail(err, errlen, "tensor '%s': listed twice", s[i].t->name);
    return 0;
}

static void header_build(JsonBuf *b, const WriteSlot *s, int n, const char *const *meta,
                         int n_meta) {
    jb_puts(b, "{");
    if (meta && n_meta > 0) {
        jb_key(b, "__metadata__");
        jb_puts(b, "{");
        for (int i = 0; i < n_meta; i++) {
            jb_key(b, meta[2 * i]);
            jb_cstr(b, meta[2 * i + 1]);
        }
        jb_puts(b, "}");
    }
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        const StWriteTensor *t = s[i].t;
        jb_key(b, t->name);
        jb_puts(b, "{\"dtype\":");
        jb_cstr(b, st_dtype_name(t->dtype));
        jb_puts(b, ",\"shape\":[");
        for (int k = 0; k < t->ndim; k++) {
            if (k) jb_puts(b, ",");
            jb_int(b, t->shape[k]);
        }
        jb_puts(b, "],\"data_offsets\":[");
        jb_int(b, (long long)offset);
        jb_puts(b, ",");
        jb_int(b, (long long)(offset + s[i].nbytes));
        jb_puts(b, "]}");
        offset += s[i].nbytes;
    }
    jb_puts(b, "}");
    while (b->len % 8) jb_raw(b, " ", 1);   // the official library aligns the data to 8 bytes
}

static int write_all(FILE *f, const void *p, size_t n, const char *path, char *err, size_t errlen) {
    if (n && fwrite(p, 1, n, f) != n)
        return fail(err, errlen, "%s: write: %s", path, strerror(errno));
    return 0;
}

int safetensors_write(const char *path, const StWriteTensor *t, int n, const char *const *meta,
                      int n_meta, StFillFn fill, void *ctx, char *err, size_t errlen) {
    if (n < 0) return fail(err, errlen, "%s: negative tensor count", path);
    WriteSlot *s = xcalloc((size_t)n + 1, sizeof *s);
    JsonBuf hb = {0};
    unsigned char *buf = NULL;
    char *wbuf = NULL;
    FILE *f = NULL;
    int rc = write_plan(s, t, n, fill, err, errlen);
    if (rc != 0) goto done;
    header_build(&hb, s, n, meta, n_meta);
    f = fopen(path, "wb");
    if (!f) {
        rc = fail(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    wbuf = huge_write_buffer(f);   // cached in huge folios (util.h); NULL: default buffer
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hb.len >> (8 * i));
    rc = write_all(f, len8, 8, path, err, errlen);
    if (rc == 0) rc = write_all(f, hb.buf, hb.len, path, err, errlen);
    size_t cap = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const void *data = s[i].t->data;
        if (!data) {
            if (s[i].nbytes > cap) {
                free(buf);
                buf = xmalloc(cap = s[i].nbytes);
            }
            rc = fill(ctx, s[i].index, buf, s[i].nbytes, err, errlen);
            data = buf;
        }
        if (rc == 0) rc = write_all(f, data, s[i].nbytes, path, err, errlen);
    }
    if (fclose(f) != 0 && rc == 0) rc = fail(err, errlen, "%s: close: %s", path, strerror(errno));
    if (rc != 0) remove(path);
done:
    free(wbuf);
    free(buf);
    jb_free(&hb);
    free(s);
    return rc;
}
