// safetensors: read-only mmap of a .safetensors file, validated strictly before any use,
// and a small writer that lays files out exactly as the official library does.
//
// File format: u64 little-endian header length N, N bytes of JSON header, then the data
// buffer.  The header is an object: name -> {"dtype": "F32", "shape": [2, 3],
// "data_offsets": [begin, end]} (offsets relative to the data buffer), plus an optional
// "__metadata__" object of string -> string.
//
// Validation done by safetensors_open (the security rules of the official library, a bit
// stricter): file >= 8 bytes; N <= 100 MB and N <= file size - 8; header is one JSON
// object; each entry has exactly a known dtype, a shape of non-negative integers and two
// integer offsets; end - begin == numel * dtype size (overflow checked); entries sorted by
// begin tile the data buffer exactly from 0 to the end of the file; names are unique.
// Every error names the tensor and the problem.
// Called outside this module only by the tests (tests/fuzz/fuzz_safetensors.c,
// tests/unit/test_gpt2.c, tests/unit/test_safetensors.c): safetensors_meta.
#ifndef AUTOINTERP_SAFETENSORS_H
#define AUTOINTERP_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#define ST_MAX_HEADER ((uint64_t)100000000)   // 100 MB, as the official library
#define ST_MAX_DIMS   8

// Dtypes, in the order of the official library's enum (its writer sorts by it).
typedef enum {
    ST_BOOL,
    ST_U8,
    ST_I8,
    ST_F8_E5M2,
    ST_F8_E4M3,
    ST_I16,
    ST_U16,
    ST_F16,
    ST_BF16,
    ST_I32,
    ST_U32,
    ST_F32,
    ST_F64,
    ST_I64,
    ST_U64,
    ST_NDTYPE
} StDtype;

// "F32" -> ST_F32 etc.; -1 for an unknown name.
int st_dtype_parse(const char *s, size_t n);
const char *st_dtype_name(StDtype dt);
size_t st_dtype_size(StDtype dt);   // bytes per element

typedef struct {
    char *name;   // owned, NUL-terminated
    StDtype dtype;
    int ndim;   // 0 for a scalar
    int64_t shape[ST_MAX_DIMS];
    size_t numel;        // product of shape (1 for a scalar)
    size_t begin, end;   // offsets into the data buffer
    const void *data;    // into the mapping; alignment not guaranteed
    size_t nbytes;       // end - begin
} StTensor;

typedef struct SafeTensors {
    char *path;   // owned copy
    void *map;    // the whole file, PROT_READ (NULL for an empty data buffer)
    size_t map_size;
    size_t header_len;           // N
    const unsigned char *data;   // data buffer: map + 8 + N
    size_t data_size;
    StTensor *tensors;   // (n_tensors) sorted by name
    int n_tensors;
    char **meta_keys, **meta_values;   // (n_meta) "__metadata__", in file order
    int n_meta;
} SafeTensors;

// Map and validate path.  0 on success; -1 with "path: problem" in err (st is then
// empty and need not be closed, though closing it is harmless).
int safetensors_open(SafeTensors *st, const char *path, char *err, size_t errlen);
void safetensors_close(SafeTensors *st);

// The tensor called name, or NULL.  Iterate with st->tensors[0 .. n_tensors).
const StTensor *safetensors_find(const SafeTensors *st, const char *name);
// The __metadata__ value of key, or NULL.
const char *safetensors_meta(const SafeTensors *st, const char *key);

// n elements of src (F32, F16 or BF16; any alignment) to fp32 dst.  -1 for another dtype.
int st_to_f32(float *dst, const void *src, StDtype dt, size_t n);
// n fp32 values to dst in dtype dt (F32, F16 or BF16).  -1 for another dtype.
int st_from_f32(void *dst, const float *src, StDtype dt, size_t n);

// "(768, 2304)" into buf; returns buf.
char *st_shape_str(const int64_t *shape, int ndim, char *buf, size_t buflen);

// ---------------------------------------------------------------------------
// Writer.  Tensors are laid out as the official library (safetensors.torch.save_file)
// does: sorted by dtype (descending enum order) then name; header in that order with
// "__metadata__" first, compact JSON, padded with spaces to a multiple of 8 bytes.
typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;   // numel * dtype size bytes, or NULL to use `fill`
} StWriteTensor;

// Produces the bytes of tensor `index` (into the specs array) into buf[0..nbytes);
// 0 on success, -1 with a message in err.
typedef int (*StFillFn)(void *ctx, int index, void *buf, size_t nbytes, char *err, size_t errlen);

// Write n tensors to path.  meta: n_meta key/value pairs (meta[2k], meta[2k+1]), or
// NULL.  Tensors with data == NULL get their bytes from fill(ctx, index, ...), called
// once per tensor in file order with a buffer of exactly its size.  On failure the
// partial file is removed.  0 on success, -1 with a message in err.
int safetensors_write(const char *path, const StWriteTensor *t, int n, const char *const *meta,
                      int n_meta, StFillFn fill, void *ctx, char *err, size_t errlen);

#endif
