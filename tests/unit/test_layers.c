// Unit tests for common/experiment/layers: SPEC parsing and every sweep's exact configurations.
#include <stdlib.h>

#include "check.h"
#include "experiment/layers.h"

static const char *fmt(const LayerConfig *c) {
    static char buf[512];
    size_t used = (size_t)snprintf(buf, sizeof buf, "%s:[", c->label);
    for (int i = 0; i < c->n; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%d", i ? "," : "", c->idx[i]);
    snprintf(buf + used, sizeof buf - used, "]");
    return buf;
}

// All configurations of a sweep joined with " | ".
static const char *sweep(const char *name, int L) {
    static char all[4096];
    ConfigList list = {0};
    char err[256];
    all[0] = '\0';
    if (layers_sweep(name, L, &list, err, sizeof err) != 0) {
        snprintf(all, sizeof all, "ERROR %s", err);
    } else {
        for (int i = 0; i < list.n; i++) {
            if (i) strcat(all, " | ");
            strcat(all, fmt(&list.cfg[i]));
        }
    }
    configs_free(&list);
    return all;
}

static const char *parse(const char *spec, int L) {
    static char out[512];
    LayerConfig c;
    char err[256];
    if (layers_parse(spec, L, &c, err, sizeof err) != 0) snprintf(out, sizeof out, "ERROR %s", err);
    else snprintf(out, sizeof out, "%s", fmt(&c));
    layer_config_free(&c);
    return out;
}

int main(void) {
    CHECK_STR("compact spec", parse("0-2,5,5,3", 6), "0-2,5,5,3:[0,1,2,5,5,3]");
    CHECK_STR("descending run", parse("3-1", 6), "3,2,1:[3,2,1]");
    CHECK_STR("json spec", parse("[0, 2, 1]", 6), "0,2,1:[0,2,1]");
    CHECK_STR("spec with a label", parse("0-2=early half", 6), "early half:[0,1,2]");
    CHECK_STR("json spec with a label", parse("[5,5]=five twice", 6), "five twice:[5,5]");
    CHECK("empty label", !strncmp(parse("0-2=", 6), "ERROR the label after '='", 25));
    CHECK_STR("labelled spec still checked", parse("0-9=x", 6),
              "ERROR layer index 6 out of range 0..5");
    CHECK_STR("json empty", parse("[]", 6), "none:[]");
    CHECK_STR("none", parse("none", 6), "none:[]");
    CHECK_STR("all is intact", parse("all", 3), "intact:[0,1,2]");
    CHECK_STR("explicit intact", parse("0-2", 3), "intact:[0,1,2]");
    CHECK_STR("out of range", parse("0-6", 6), "ERROR layer index 6 out of range 0..5");
    CHECK_STR("negative json", parse("[-1]", 6), "ERROR layer index -1 out of range 0..5");
    CHECK_STR("non-integer json", parse("[1.5]", 6), "ERROR layer 0 is not an integer block index");
    CHECK_STR("huge json", parse("[1e300]", 6), "ERROR layer 0 is not an integer block index");
    CHECK("malformed compact", !strncmp(parse("1,,2", 6), "ERROR malformed layer spec", 26));
    CHECK("trailing comma", !strncmp(parse("1,", 6), "ERROR malformed", 15));
    CHECK("letters", !strncmp(parse("abc", 6), "ERROR malformed", 15));
    CHECK("negative compact", !strncmp(parse("-1", 6), "ERROR malformed", 15));
    CHECK("empty", !strncmp(parse("", 6), "ERROR empty layer spec", 22));
    CHECK("bad json", !strncmp(parse("[1,", 6), "ERROR", 5));

    CHECK_STR("sweep intact", sweep("intact", 3), "intact:[0,1,2]");
    CHECK_STR("sweep drop-last", sweep("drop-last", 3),
              "intact:[0,1,2] | first 2:[0,1] | first 1:[0] | first 0:[]");
    CHECK_STR("sweep drop-first", sweep("drop-first", 3),
              "intact:[0,1,2] | last 2:[1,2] | last 1:[2] | last 0:[]");
    CHECK_STR("sweep skip-one", sweep("skip-one", 3),
              "intact:[0,1,2] | skip 0:[1,2] | skip 1:[0,2] | skip 2:[0,1]");
    CHECK_STR("sweep skip-range default width 2", sweep("skip-range", 4),
              "intact:[0,1,2,3] | skip 0-1:[2,3] | skip 1-2:[0,3] | skip 2-3:[0,1]");
    CHECK_STR("sweep skip-range:3", sweep("skip-range:3", 4),
              "intact:[0,1,2,3] | skip 0-2:[3] | skip 1-3:[0]");
    CHECK_STR("sweep repeat-one", sweep("repeat-one", 3),
              "intact:[0,1,2] | repeat 0:[0,0,1,2] | repeat 1:[0,1,1,2] | repeat 2:[0,1,2,2]");
    CHECK_STR("sweep swap-adjacent", sweep("swap-adjacent", 3),
              "intact:[0,1,2] | swap 0,1:[1,0,2] | swap 1,2:[0,2,1]");
    CHECK_STR("sweep reverse", sweep("reverse", 3), "intact:[0,1,2] | reversed:[2,1,0]");
    // shuffle: seeded, each a permutation, reproducible and seed-dependent.
    char a[4096];
    snprintf(a, sizeof a, "%s", sweep("shuffle:3:7", 6));
    CHECK_STR("shuffle reproducible", sweep("shuffle:3:7", 6), a);
    CHECK("shuffle seed matters", strcmp(sweep("shuffle:3:8", 6), a) != 0);
    ConfigList list = {0};
    char err[256];
    CHECK_INT("shuffle count", layers_sweep("shuffle:3:7", 6, &list, err, sizeof err), 0);
    CHECK_INT("shuffle configs (intact + 3)", list.n, 4);
    int perm_ok = 1;
    for (int c = 1; c < list.n; c++) {
        int seen[6] = {0};
        for (int i = 0; i < list.cfg[c].n; i++) seen[list.cfg[c].idx[i]]++;
        for (int i = 0; i < 6; i++) perm_ok &= seen[i] == 1;
    }
    CHECK("shuffle gives permutations", perm_ok);
    configs_free(&list);
    CHECK("unknown sweep",
          !strncmp(sweep("drop-middle", 3), "ERROR unknown sweep \"drop-middle\"", 33));
    CHECK("bad skip-range width", !strncmp(sweep("skip-range:9", 3), "ERROR skip-range width", 22));
    CHECK("bad shuffle", !strncmp(sweep("shuffle", 3), "ERROR shuffle needs K", 21));
    CHECK("bad shuffle args", !strncmp(sweep("shuffle:x", 3), "ERROR shuffle needs K", 21));
    CHECK_STR("drop-last of 12 has 13 configs", strrchr(sweep("drop-last", 12), '|') + 2,
              "first 0:[]");
    CHECK_DONE();
}
