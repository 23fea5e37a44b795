// fuzz_safetensors: safetensors_open's validation of untrusted files.
// Two input forms, chosen by the first byte:
//   'H' + HEADER + u16 K  a header (JSON text) wrapped into a file by the harness: the
//                         8-byte length, the header, then K zero bytes of data (so the
//                         fuzzer works on the JSON without having to fix up the length)
//   anything else         the file's bytes as they are
// The file is an anonymous memfd opened by path.  When safetensors_open accepts it, the
// promises of safetensors.h must hold: names unique and sorted, every entry's bytes
// inside the data buffer, nbytes == numel * dtype size, the entries tiling the buffer
// exactly; every tensor's bytes are then read (F32/F16/BF16 converted to fp32).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "io/safetensors.h"

static void check_open(const uint8_t *file, size_t n) {
    char path[64], err[512];
    int fd = fuzz_memfd(file, n, path, sizeof path);
    SafeTensors st;
    err[0] = '\0';
    int rc = safetensors_open(&st, path, err, sizeof err);
    close(fd);
    if (rc != 0) {
        FUZZ_REQUIRE(err[0] != '\0' && memchr(err, '\0', sizeof err), "refusal without a message");
        FUZZ_REQUIRE(st.tensors == NULL && st.map == NULL && st.n_tensors == 0,
                     "a refused file leaves state behind");
        safetensors_close(&st);   // harmless, as documented
        return;
    }
    FUZZ_REQUIRE(st.map_size == n && st.header_len <= ST_MAX_HEADER &&
                     8 + st.header_len + st.data_size == n,
                 "sizes: file %zu header %zu data %zu", n, st.header_len, st.data_size);
    size_t covered = 0;
    float *tmp = NULL;
    for (int i = 0; i < st.n_tensors; i++) {
        const StTensor *t = &st.tensors[i];
        FUZZ_REQUIRE(i == 0 || strcmp(st.tensors[i - 1].name, t->name) < 0,
                     "names sorted and unique");
        FUZZ_REQUIRE(safetensors_find(&st, t->name) == t, "safetensors_find");
        FUZZ_REQUIRE((unsigned)t->dtype < ST_NDTYPE && t->ndim >= 0 && t->ndim <= ST_MAX_DIMS,
                     "dtype/ndim");
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            FUZZ_REQUIRE(t->shape[d] >= 0, "negative dim");
            numel *= (size_t)t->shape[d];   // cannot overflow: the validator checked
        }
        FUZZ_REQUIRE(numel == t->numel && t->nbytes == numel * st_dtype_size(t->dtype),
                     "numel/nbytes");
        FUZZ_REQUIRE(t->begin <= t->end && t->end <= st.data_size && t->end - t->begin == t->nbytes,
                     "offsets");
        FUZZ_REQUIRE(t->data == st.data + t->begin, "data pointer");
        covered += t->nbytes;
        // Read every byte (a wrong bound would fault past the mapping).
        volatile unsigned char sum = 0;
        const unsigned char *p = t->data;
        for (size_t b = 0; b < t->nbytes; b++) sum ^= p[b];
        (void)sum;
        if (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16) {
            tmp = realloc(tmp, t->numel ? t->numel * sizeof(float) : 1);
            FUZZ_REQUIRE(tmp != NULL, "alloc");
            FUZZ_REQUIRE(st_to_f32(tmp, t->data, t->dtype, t->numel) == 0, "st_to_f32");
        }
        char shape[160];
        st_shape_str(t->shape, t->ndim, shape, sizeof shape);
        FUZZ_REQUIRE(memchr(shape, '\0', sizeof shape) != NULL, "st_shape_str terminates");
    }
    FUZZ_REQUIRE(covered == st.data_size, "tensors cover %zu of %zu data bytes", covered,
                 st.data_size);
    for (int i = 0; i < st.n_meta; i++)
        FUZZ_REQUIRE(safetensors_meta(&st, st.meta_keys[i]) != NULL, "metadata lookup");
    free(tmp);
    safetensors_close(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 3 && data[0] == 'H') {
        size_t hlen = size - 3, dlen = (size_t)data[size - 2] | (size_t)data[size - 1] << 8;
        size_t n = 8 + hlen + dlen;
        uint8_t *file = calloc(1, n);
        FUZZ_REQUIRE(file != NULL, "alloc");
        for (int i = 0; i < 8; i++) file[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
        memcpy(file + 8, data + 1, hlen);
        check_open(file, n);
        free(file);
    } else {
        check_open(data, size);
    }
    return 0;
}
