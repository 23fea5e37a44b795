// gpt2: a GPT-2 checkpoint in the Hugging Face format (config.json + model.safetensors)
// opened as a model struct of fp32 weight pointers.  F32 tensors are used in place from
// the mmap (no copy, fast start-up) when aligned; F16/BF16 tensors are converted to fp32
// once at open.  Tensor names follow transformers' GPT2Model, with or without a
// "transformer." prefix; h.{i}.attn.bias / attn.masked_bias buffers and unknown tensors
// are ignored; the output layer is tied to wte unless lm_head.weight is present.  As in
// transformers, config.json's tie_word_embeddings (default true) decides: a present
// lm_head.weight is used when it is false; when it is true, an lm_head.weight equal to wte
// is accepted as tied and a different one is an error (transformers would silently
// replace it with wte); false without lm_head.weight is an error.
// Called outside this module only by the tests (tests/fuzz/fuzz_config.c, tests/unit/test_gpt2.c,
// tests/unit/test_lowp.c, tests/unit/test_regressions.c): gpt2_read_config, gpt2_use_lowp,
// gpt2_weight.
#ifndef AUTOINTERP_GPT2_H
#define AUTOINTERP_GPT2_H
#include <stddef.h>
#include <stdint.h>

#include "base/dtype.h"
#include "io/safetensors.h"

typedef struct {
    int n_layer;      // L, number of transformer blocks
    int n_head;       // NH
    int n_embd;       // C
    int n_ctx;        // maximum sequence length (n_positions)
    int vocab_size;   // V
    float ln_eps;     // layer_norm_epsilon (1e-5)
    int untied;       // config.json's tie_word_embeddings is false (read only; the
                      // checkpoint writer uses CheckpointSpec.untied instead)
} Gpt2Config;

// One block's weights.  Matrices are stored as Hugging Face Conv1D does: input-major,
// out[j] = sum_i x[i] * W[i][j] + b[j].
typedef struct {
    const float *ln1_w, *ln1_b;               // (C), (C)
    const float *qkv_w, *qkv_b;               // attn.c_attn: (C, 3C), (3C)
    const float *attn_proj_w, *attn_proj_b;   // attn.c_proj: (C, C), (C)
    const float *ln2_w, *ln2_b;               // (C), (C)
    const float *fc_w, *fc_b;                 // mlp.c_fc: (C, 4C), (4C)
    const float *mlp_proj_w, *mlp_proj_b;     // mlp.c_proj: (4C, C), (C)
    // 16-bit copies (Gpt2.w16_type) of the four matrices the forward pass uses instead
    // (NULL unless gpt2_use_lowp): same shapes
    const uint16_t *qkv_w16, *attn_proj_w16, *fc_w16, *mlp_proj_w16;
} Gpt2Block;

typedef struct {
    Gpt2Config cfg;
    const float *wte;             // (V, C) token embeddings
    const float *wpe;             // (n_ctx, C) position embeddings
    Gpt2Block *blocks;            // (L)
    const float *lnf_w, *lnf_b;   // (C), (C)
    const float *lm_head;         // (V, C): == wte when tied
    int tied;                     // 1 when lm_head is wte
    char dtype[8];                // checkpoint dtype: "F32", "F16", "BF16" (the most common one)
    long long n_params;           // parameters excluding buffers and a tied lm_head
    SafeTensors *st;              // the mmap'd checkpoint
    float *converted;             // fp32 storage for converted/realigned tensors (or NULL)
    // 16-bit weights (gpt2_use_lowp; NULL otherwise): lm_head (V, C) for the unembedding
    // (wte's when tied: embedding lookups stay fp32), rounded storage
    const uint16_t *lm_head16;
    LowpType w16_type;       // the type of lm_head16 and the blocks' *_w16 (bf16 or f16)
    uint16_t *converted16;   // 16-bit copies rounded from fp32 (or NULL)
    int n_w16_in_place;      // matrices used in place from a BF16/F16 checkpoint's mapping
    // The in-place fp32 weights copied onto anonymous huge pages (gpt2_weights_huge; NULL:
    // they are read from the mapping): each tensor at its offset in the mapping, so
    // that its alignment within a page is the mapping's.
    char *huge_copy;
    size_t huge_copy_size;
} Gpt2;

// Read config.json into cfg; unknown keys ignored, missing required keys are errors.
// Accepts n_positions (preferred) or n_ctx.  Checks every size is positive and sane
// (L <= 4096, NH <= 4096, C <= 65536, n_ctx <= 1M, V <= 16M), n_embd % n_head == 0,
// 0 < layer_norm_epsilon < 1, and rejects variants this code does not compute:
// model_type other than "gpt2", activation_function other than gelu_new (or its
// equivalents gelu_pytorch_tanh, gelu_fast), n_inner other than null / 4*n_embd,
// scale_attn_weights false, scale_attn_by_inverse_layer_idx true.
// 0 on success, -1 with a message in err.
int gpt2_read_config(const char *path, Gpt2Config *cfg, char *err, size_t errlen);

// Open dir/config.json + dir/model.safetensors.  Every required tensor must exist with
// the exact shape the config implies; the error names the tensor otherwise.  Then
// gpt2_weights_huge with the mode $AUTOINTERP_WEIGHTS_HUGE says (GPT2_HUGE_MAP when unset;
// an unknown value is an error).
int gpt2_open(Gpt2 *m, const char *dir, char *err, size_t errlen);

// Where the fp32 weights used in place are read from.  Decoding streams every weight once
// per token; read through 4 KiB pages that costs a TLB miss every 4 KiB and stops the
// hardware prefetchers at every page boundary (docs/bench.md, "Huge pages").  The
// mapping gets huge pages only where the page cache holds the file in 2 MiB folios
// (io/safetensors.h advises it, but a file another program wrote stays in 4 KiB folios
// until evicted), so:
//   GPT2_HUGE_MAP   read them from the mapping, whatever its pages;
//   GPT2_HUGE_COPY  copy them onto anonymous huge pages (huge_alloc), the mapping's
//                   pages released; kept only when the copy did get huge pages;
//   GPT2_HUGE_AUTO  COPY when the in-place weights are at least GPT2_HUGE_MIN_BYTES, less
//                   than 90% of them map on huge pages (one byte read per 2 MiB, then
//                   /proc/self/smaps), and the copy fits in half of MemAvailable; else MAP.
// The resident size stays that of the weights (the copy replaces the mapping's pages in
// it); the page cache may keep its own copy of the file meanwhile (reclaimable).
// Values are the same bits either way.  gpt2_use_lowp reads from the mapping again (its
// 16-bit copies are on huge pages).  Returns 1 when the weights are now in the copy, 0
// when read from the mapping.
// Not the default: the copy costs ~0.1 s of start-up for GPT-2 small where fresh memory is
// cheap, and up to ~1 s of zeroing huge pages in a VM whose memory the host hands out on
// first touch (docs/bench.md, 2026-12-05), against ~5-10% faster single-stream decoding.
typedef enum { GPT2_HUGE_AUTO, GPT2_HUGE_MAP, GPT2_HUGE_COPY } Gpt2Huge;
#define GPT2_HUGE_MIN_BYTES ((size_t)64 << 20)
int gpt2_weights_huge(Gpt2 *m, Gpt2Huge mode);

// $AUTOINTERP_WEIGHTS_HUGE: unset or empty -> MAP, "map", "auto", "copy".  0, or -1 with
// a message in err for any other value.
int gpt2_huge_from_env(Gpt2Huge *mode, char *err, size_t errlen);
// Frees everything and unmaps the file; m is zeroed (closing twice is harmless).
void gpt2_close(Gpt2 *m);

// Scan every weight for NaN/Inf (one pass over ~4 bytes per parameter; kept out of
// gpt2_open so that tools start fast).  0 when all are finite; -1 with
// "tensor NAME: element K is nan" in err for the first bad one.
int gpt2_check_finite(const Gpt2 *m, char *err, size_t errlen);

// Weights of the matrix products.  "fp32" (the default): every weight as fp32, exact.
// "bf16" and "f16" (opt-in): the four block matrices and the unembedding read as
// bfloat16 or IEEE half (half the bytes: faster where memory-bound), computed in fp32
// (matmul.h).  f16's 10-bit mantissa rounds ~8x closer than bf16's 7 bits (docs/bench.md).
typedef enum { GPT2_WEIGHTS_FP32, GPT2_WEIGHTS_BF16, GPT2_WEIGHTS_F16 } Gpt2Weights;

// $AUTOINTERP_WEIGHTS: unset, empty or "fp32" -> FP32, "bf16" -> BF16, "f16" -> F16.  0,
// or -1 with a message in err for any other value.
int gpt2_weights_from_env(Gpt2Weights *w, char *err, size_t errlen);

// Give the model 16-bit copies of type t of c_attn, attn.c_proj, c_fc and mlp.c_proj of
// every block and of lm_head (the Gpt2Block *_w16 fields, lm_head16, w16_type), which the
// forward pass (transformer.h) then uses instead of the fp32 ones.  A checkpoint's tensors
// of that very type (BF16 for bf16, F16 for f16) are used in place from the mapping when
// 2-byte aligned (then the forward computes with exactly the fp32 path's weights); other
// tensors are rounded to nearest even from their fp32 values, and the resident pages of
// those fp32 matrices that lie in the mapping are released (madvise; read again from the
// file if ever needed).  The fp32 pointers stay valid and unchanged (embedding lookups,
// LayerNorm, biases, gpt2_weight, gpt2_check_finite use them).  Calling it twice with the
// same t is harmless, with another t an error.  0, or -1 with a message (a weight that
// overflows the type, named; the model then stays fp32).
int gpt2_use_lowp(Gpt2 *m, LowpType t, char *err, size_t errlen);

// gpt2_use_lowp for w = BF16 or F16; nothing for FP32.
int gpt2_use_weights(Gpt2 *m, Gpt2Weights w, char *err, size_t errlen);

// The fp32 weights of tensor `name` ("h.3.mlp.c_fc.weight", "lm_head.weight"; a
// "transformer." prefix is accepted) and its element count, or NULL if the model has no
// such weight.  lm_head.weight is wte when tied.
const float *gpt2_weight(const Gpt2 *m, const char *name, size_t *numel);

#endif
