// checkpoint: writes synthetic GPT-2 checkpoints in exactly the Hugging Face format
// (config.json, model.safetensors with HF tensor names and Conv1D input-major layout,
// h.{i}.attn.bias mask buffers, tied lm_head) so that tests, examples and benchmarks can
// run where real weights cannot be downloaded.
#ifndef AUTOINTERP_CHECKPOINT_H
#define AUTOINTERP_CHECKPOINT_H
#include <stddef.h>
#include <stdint.h>

#include "model/gpt2.h"

typedef struct {
    Gpt2Config cfg;
    uint64_t seed;
    const char *dtype;       // "F32" (default when NULL), "F16" or "BF16"
    int prefix;              // 1: names carry "transformer." (as GPT2LMHeadModel saves them)
    int untied;              // 1: write a separate lm_head.weight
    int with_mask_buffers;   // 1: write h.{i}.attn.bias (as the real gpt2 checkpoint does)
    float init_std;          // weight std (0: 0.02 like GPT-2's init; LN weights near 1)
} CheckpointSpec;

// Write dir/config.json and dir/model.safetensors (dir is created).  Values are
// deterministic in seed.  0 on success, -1 with a message in err.
int checkpoint_write_random(const char *dir, const CheckpointSpec *spec, char *err, size_t errlen);

// The shapes of named GPT-2 sizes: "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl",
// "distilgpt2".  0 on success, -1 for an unknown name.
int checkpoint_named_shape(const char *name, Gpt2Config *cfg);

#endif
