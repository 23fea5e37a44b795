// Unit tests for common/experiment/experiment: experiment_groups, the grouping of a batch's
// records for packed runs (scoreloss, topk), and experiment_stretch_end, the stretches of
// records whose dump arrays are kept together; the share of --mem-budget a group takes.
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "experiment/experiment.h"

typedef struct {
    char log[256];   // the groups seen, "[0 2] [1] ..."
} Seen;

static int log_group(void *ctx, const int *idx, int n) {
    Seen *s = ctx;
    size_t used = strlen(s->log);
    used += (size_t)snprintf(s->log + used, sizeof s->log - used, "%s[", used ? " " : "");
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(s->log + used, sizeof s->log - used, "%s%d", i ? " " : "", idx[i]);
    snprintf(s->log + used, sizeof s->log - used, "]");
    return n == 1;   // the sum counts the groups of one
}

int main(void) {
    ConfigList a = {0}, b = {0}, a2 = {0};
    int blocks_a[] = {0, 1, 2}, blocks_b[] = {0, 2};
    configs_add(&a, blocks_a, 3, "intact");
    configs_add(&a2, blocks_a, 3, "another label");   // same blocks, another label: same group
    configs_add(&b, blocks_b, 2, "skip 1");
    // members: a, b, (done), a2, a, b
    GroupMember m[6] = {{&a, 10}, {&b, 10}, {NULL, 10}, {&a2, 10}, {&a, 10}, {&b, 10}};
    Seen s = {""};
    int sum = experiment_groups(m, 6, 1000, log_group, &s);
    CHECK_STR("groups by blocks, batch order, done members left out", s.log, "[0 3 4] [1 5]");
    CHECK("run's results summed", sum == 0);

    Seen small = {""};
    sum = experiment_groups(m, 6, 20, log_group, &small);   // a group closes once it holds 20 bytes
    CHECK_STR("groups close at max_bytes", small.log, "[0 3] [1 5] [4]");
    CHECK("run's results summed (one group of one)", sum == 1);

    Seen tiny = {""};
    experiment_groups(m, 6, 1, log_group, &tiny);   // below one member: one member a group
    CHECK_STR("max_bytes below one member: groups of one", tiny.log, "[0] [1] [3] [4] [5]");

    Seen none = {""};
    CHECK("no members: no group",
          experiment_groups(m, 0, 1000, log_group, &none) == 0 && none.log[0] == '\0');
    configs_free(&a), configs_free(&a2), configs_free(&b);

    // Stretches: consecutive records whose bytes sum to max_bytes at most, one at least.
    size_t bytes[7] = {300, 200, 600, 0, 0, 1000, 100};
    char got[128] = "";
    for (int i0 = 0, i1; i0 < 7; i0 = i1) {
        i1 = experiment_stretch_end(bytes, 7, i0, 500);
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d-%d", i0 ? " " : "", i0, i1 - 1);
    }
    CHECK_STR("stretches within 500 bytes (a bigger record alone)", got, "0-1 2-2 3-4 5-5 6-6");
    size_t huge[3] = {(size_t)-1, (size_t)-1, 1};
    CHECK("a sum that would overflow closes the stretch",
          experiment_stretch_end(huge, 3, 0, (size_t)-1) == 1 &&
              experiment_stretch_end(huge, 3, 1, (size_t)-1) == 2);
    CHECK("the last record: a stretch of one", experiment_stretch_end(bytes, 7, 6, 0) == 7);

    // A group's rows: a quarter of --mem-budget (the default 256M: 64M, as it was fixed).
    ExperimentOptions o;
    experiment_defaults(&o);
    CHECK_INT("no --mem-budget: the default budget", (long)experiment_budget(&o), 256L << 20);
    CHECK_INT("no --mem-budget: groups of 64M", (long)experiment_group_bytes(&o), 64L << 20);
    o.mem_budget = (size_t)1 << 20;
    CHECK_INT("--mem-budget 1M: groups of 256K", (long)experiment_group_bytes(&o), 256L << 10);
    o.mem_budget = (size_t)8 << 30;
    CHECK_INT("--mem-budget 8G: groups of 2G", (long)experiment_group_bytes(&o), 2L << 30);
    CHECK_DONE();
}
