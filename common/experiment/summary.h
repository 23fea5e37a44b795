// summary: aggregate scored records (scoreloss output) per (task, configuration).
// `scoreloss --summary` (summary_run) and `report` share the aggregation below.
#ifndef AUTOINTERP_SUMMARY_H
#define AUTOINTERP_SUMMARY_H
#include <stdio.h>

#include "base/ndjson.h"
#include "base/strmap.h"

// Read records carrying "answer_loss" (and "task", "label", "layers", "answer_exact")
// from in; at the end write one record per (task, label), in order of first appearance:
//   {"task", "label", "layers", "n", "mean_loss", "stderr", "exact_rate", "delta_loss"}
// stderr is the standard error of the mean (sample standard deviation / sqrt(n); 0 for
// n = 1); delta_loss = mean_loss − the same task's "intact" mean_loss (null when the
// task has no intact configuration).  A record without a numeric answer_loss, or with a
// field of the wrong type ("task", "label" not a string; "answer_exact" not a boolean;
// "layers" not an array of integers; null counts as absent) is an error record and is
// not counted; the others still are.  Returns the exit status as tool_run does (5 when
// a record was refused).  Time and memory are linear in the records and the groups.
int summary_run(FILE *in, FILE *out);

// ----------------------------------------------------------------------------- groups
typedef struct {
    char *task, *label;   // "" when the records had none
    char *layers_json;    // raw JSON text of the first record's "layers", NULL if none
    long n, exact;        // records, and those with "answer_exact": true
    double sum, sumsq;    // of answer_loss
} SummaryGroup;

typedef struct {
    SummaryGroup *g;   // (n) in order of first appearance
    int n, cap;
    StrMap index;   // "task\0label" -> group number (entry i is group i)
} Summary;          // zero-initialise; free with summary_free

typedef struct {
    double mean_loss, stderr_loss, exact_rate;
    double delta_loss;   // mean_loss − the task's "intact" mean_loss, when has_delta
    int has_delta;
} SummaryStats;

// Add one scored record to its (task, label) group.  0, or -1 with a message in err when
// it has no numeric "answer_loss" or a field of the wrong type (see summary_run; the
// record is then not counted).
int summary_add(Summary *s, const Record *r, char *err, size_t errlen);
// The statistics of group g of s, as summary_run writes them.
SummaryStats summary_stats(const Summary *s, const SummaryGroup *g);
void summary_free(Summary *s);

#endif
