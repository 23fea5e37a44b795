// fuzz_layers: layer SPEC parsing and named sweeps (common/experiment/layers).
// Input: byte 0 and 1 give the model depth L (0..2047 for specs, 0..2200 for sweeps so
// that "too deep" is reached); the rest, up to a NUL, is the SPEC or the sweep NAME
// (byte 0's low bit chooses).  Properties:
//   - layers_parse: on success every index is in [0, L), at most 4096 of them, the label
//     is NUL-terminated: the one given after '=' (SPEC=LABEL), else "intact" exactly
//     when the list is 0..L-1; and the compact form of the list parses back to it;
//   - layers_sweep: on success the first configuration is the intact model, every index
//     is in range and every label is NUL-terminated and nonempty;
//   - failures come with a message.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "experiment/layers.h"
#include "fuzz_util.h"

static void check_config(const LayerConfig *c, int L) {
    FUZZ_REQUIRE(c->n >= 0 && c->n <= 4096 && (c->n == 0 || c->idx), "n %d", c->n);
    for (int i = 0; i < c->n; i++)
        FUZZ_REQUIRE(c->idx[i] >= 0 && c->idx[i] < L, "index %d of %d", c->idx[i], L);
    FUZZ_REQUIRE(memchr(c->label, '\0', sizeof c->label) != NULL && c->label[0], "label");
}

static void check_spec(const char *spec, int L) {
    LayerConfig c;
    char err[512];
    err[0] = '\0';
    if (layers_parse(spec, L, &c, err, sizeof err) != 0) {
        FUZZ_REQUIRE(err[0], "refusal without a message");
        FUZZ_REQUIRE(c.idx == NULL, "a refused spec leaves an allocation");
        return;
    }
    check_config(&c, L);
    const char *eq = strchr(spec, '=');   // SPEC=LABEL: the label is the caller's
    if (eq) FUZZ_REQUIRE(!strcmp(c.label, eq + 1), "label %s, given %s", c.label, eq + 1);
    else
        FUZZ_REQUIRE(layers_is_intact(c.idx, c.n, L) == !strcmp(c.label, "intact"),
                     "intact label: %s", c.label);
    // The compact form reads back to the same list.
    static char compact[65536];
    layers_compact(c.idx, c.n, compact, sizeof compact);
    LayerConfig back;
    FUZZ_REQUIRE(layers_parse(compact, L, &back, err, sizeof err) == 0,
                 "compact form '%s' does not parse: %s", compact, err);
    FUZZ_REQUIRE(back.n == c.n && (c.n == 0 || !memcmp(back.idx, c.idx, sizeof(int) * (size_t)c.n)),
                 "compact form '%s' reads back differently", compact);
    layer_config_free(&back);
    layer_config_free(&c);
}

static void check_sweep(const char *name, int L) {
    ConfigList list = {0};
    char err[512];
    err[0] = '\0';
    int rc = layers_sweep(name, L, &list, err, sizeof err);
    if (rc != 0) {
        FUZZ_REQUIRE(err[0], "refusal without a message");
    } else {
        FUZZ_REQUIRE(list.n >= 1 && layers_is_intact(list.cfg[0].idx, list.cfg[0].n, L),
                     "intact first");
        for (int k = 0; k < list.n; k++) check_config(&list.cfg[k], L > 0 ? L : 1);
    }
    configs_free(&list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2 || size > 4096) return 0;
    int sweep = data[0] & 1;
    int L = (int)((data[0] >> 1) | (unsigned)data[1] << 7) % (sweep ? 2201 : 2048);
    char *s = malloc(size - 1);
    memcpy(s, data + 2, size - 2);
    s[size - 2] = '\0';
    if (sweep) check_sweep(s, L);
    else check_spec(s, L);
    free(s);
    return 0;
}
