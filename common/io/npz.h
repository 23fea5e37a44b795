// npz: NumPy .npz files written from C — a ZIP archive holding one .npy file per array,
// each compressed with deflate (ZIP method 8, zlib) and carrying its CRC-32, as
// numpy.savez_compressed writes them; np.load(path)["name"] reads array "name" back.
//
// Each member NAME.npy is a .npy version 1.0 file: the magic "\x93NUMPY", version 1.0, a
// little-endian u16 header length, the header dictionary
//   {'descr': '<f4', 'fortran_order': False, 'shape': (T, C), }
// padded with spaces and a final '\n' so that the data starts at a multiple of 64 bytes,
// then the values as little-endian float32 in C order.  Every member has the fixed DOS
// time 1980-01-01 00:00, so the same arrays give the same bytes.
//
// Limits (no ZIP64): at most 65535 arrays and 4 GiB in all; exceeding either is an error.
// Called outside this module only by the tests (tests/unit/test_npz.c): npz_count.
#ifndef AUTOINTERP_NPZ_H
#define AUTOINTERP_NPZ_H
#include <stddef.h>

#define NPZ_MAX_DIMS 8
#define NPZ_MAX_NAME 200   // bytes of an array name ([A-Za-z0-9_.:#+-], no ".npy")

typedef struct NpzWriter NpzWriter;

// Create (truncate) the file at path.  NULL with a message when it cannot be opened.
NpzWriter *npz_open(const char *path, char *err, size_t errlen);

// Append array `name` of float32 values data (shape[0] x ... x shape[ndim-1], C order;
// 1 <= ndim <= NPZ_MAX_DIMS, every dimension >= 0).  0, or -1 with a message: a bad name
// or shape, a name already written, a limit exceeded, a write error (the writer is then
// failed: further adds fail, npz_close reports it).
int npz_add_f32(NpzWriter *w, const char *name, const float *data, const long *shape, int ndim,
                char *err, size_t errlen);

// Number of arrays written so far.
int npz_count(const NpzWriter *w);

// Write the ZIP central directory, close the file and free w (w may be NULL: 0).  0, or
// -1 with a message when anything failed (an earlier add included); the file is then
// incomplete.
int npz_close(NpzWriter *w, char *err, size_t errlen);

#endif
