// test_gpt2_small: a GPT-2-small-shaped checkpoint (~550 MB, laid out like the real
// openai-community/gpt2 model.safetensors: no prefix, mask buffers, tied head) is written,
// opened and counted like transformers counts it.  The file lives in $TMPDIR (or /tmp) and
// is removed at the end.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "check.h"
#include "fixture_model.h"
#include "model/checkpoint.h"
#include "model/gpt2.h"

int main(void) {
    char dir[512], err[512];
    snprintf(dir, sizeof dir, "%s/test_gpt2_small.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    CheckpointSpec s = {0};
    CHECK_INT("named shape gpt2", checkpoint_named_shape("gpt2", &s.cfg), 0);
    s.seed = 1234;
    s.with_mask_buffers = 1;
    double t0 = now_seconds();
    int rc = fixture_write_model(dir, &s);
    double t1 = now_seconds();
    CHECK_INT("write gpt2-small checkpoint", rc, 0);
    Gpt2 m;
    rc = rc == 0 ? fixture_open_model(&m, dir) : -1;
    double t2 = now_seconds();
    CHECK_INT("open gpt2-small checkpoint", rc, 0);
    if (rc == 0) {
        CHECK_INT("n_params as transformers (124439808)", m.n_params, 124439808LL);
        CHECK("tied", m.tied && m.lm_head == m.wte);
        CHECK("in place", m.converted == NULL);
        CHECK_STR("dtype", m.dtype, "F32");
        // The data buffer is exactly as large as the real gpt2 file's: 124439808 floats plus
        // 12 (1, 1, 1024, 1024) F32 mask buffers.
        CHECK_INT("data size as the real file", m.st->data_size,
                  124439808LL * 4 + 12LL * 1024 * 1024 * 4);
        CHECK_INT("tensor count as the real file", m.st->n_tensors, 2 + 12 * 13 + 2);
        double t3 = now_seconds();
        CHECK_INT("all weights finite", gpt2_check_finite(&m, err, sizeof err), 0);
        double t4 = now_seconds();
        printf("# write %.2fs, open %.3fs, finite check %.2fs\n", t1 - t0, t2 - t1, t4 - t3);
        gpt2_close(&m);
    }
    char *mp = path_join(dir, "model.safetensors"), *cp = path_join(dir, "config.json");
    remove(mp);
    remove(cp);
    remove(dir);
    free(mp);
    free(cp);
    CHECK("checkpoint removed", !is_dir(dir));
    CHECK_DONE();
}
