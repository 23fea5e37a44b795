// fuzz_config: gpt2_read_config on untrusted config.json text (an anonymous memfd read by
// path).  When the reader accepts, the checks gpt2.h promises must hold: every size in
// its range, n_embd a multiple of n_head, 0 < layer_norm_epsilon < 1.  When it refuses,
// the message names the file.
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "model/gpt2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64], err[512];
    int fd = fuzz_memfd(data, size, path, sizeof path);
    Gpt2Config cfg;
    err[0] = '\0';
    int rc = gpt2_read_config(path, &cfg, err, sizeof err);
    close(fd);
    if (rc != 0) {
        FUZZ_REQUIRE(rc == -1 && strncmp(err, path, strlen(path)) == 0,
                     "refusal must name the file: %s", err);
        return 0;
    }
    FUZZ_REQUIRE(cfg.n_layer >= 1 && cfg.n_layer <= 4096, "n_layer %d", cfg.n_layer);
    FUZZ_REQUIRE(cfg.n_head >= 1 && cfg.n_head <= 4096, "n_head %d", cfg.n_head);
    FUZZ_REQUIRE(cfg.n_embd >= 1 && cfg.n_embd <= 65536 && cfg.n_embd % cfg.n_head == 0,
                 "n_embd %d", cfg.n_embd);
    FUZZ_REQUIRE(cfg.n_ctx >= 1 && cfg.n_ctx <= (1 << 20), "n_ctx %d", cfg.n_ctx);
    FUZZ_REQUIRE(cfg.vocab_size >= 1 && cfg.vocab_size <= (1 << 24), "vocab_size %d",
                 cfg.vocab_size);
    FUZZ_REQUIRE(cfg.ln_eps > 0 && cfg.ln_eps < 1, "ln_eps %g", (double)cfg.ln_eps);
    FUZZ_REQUIRE(cfg.untied == 0 || cfg.untied == 1, "untied");
    return 0;
}
