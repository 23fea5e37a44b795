// fixture_model.h: the checkpoint fixture the model unit tests share (test_gpt2,
// test_gpt2_small, test_lowp, test_weights_huge): a random checkpoint written to a
// directory and a GPT-2 opened from one.  Both return what the library call returns (0 on
// success) and, on failure, print the library's message as a "# " comment line naming the
// directory: the caller decides what fails (a CHECK or a FAIL line of its own), so that
// the PASS/FAIL counts are the caller's alone.
#ifndef AUTOINTERP_FIXTURE_MODEL_H
#define AUTOINTERP_FIXTURE_MODEL_H
#include <stdio.h>

#include "model/checkpoint.h"
#include "model/gpt2.h"

// fixture_write_model: checkpoint_write_random(dir, s); on failure "# write DIR: ERROR".
static inline int fixture_write_model(const char *dir, const CheckpointSpec *s) {
    char err[512];
    int rc = checkpoint_write_random(dir, s, err, sizeof err);
    if (rc != 0) printf("# write %s: %s\n", dir, err);
    return rc;
}

// fixture_open_model: gpt2_open(m, dir); on failure "# open DIR: ERROR".  On success the
// caller owns m (gpt2_close).
static inline int fixture_open_model(Gpt2 *m, const char *dir) {
    char err[512];
    int rc = gpt2_open(m, dir, err, sizeof err);
    if (rc != 0) printf("# open %s: %s\n", dir, err);
    return rc;
}

#endif
