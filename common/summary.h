// summary: aggregate scored records (scoreloss output) per (task, configuration).
#ifndef AUTOINTERP_SUMMARY_H
#define AUTOINTERP_SUMMARY_H
#include <stdio.h>

// Read records carrying "answer_loss" (and "task", "label", "layers", "answer_exact")
// from in; at the end write one record per (task, label), in order of first appearance:
//   {"task", "label", "layers", "n", "mean_loss", "stderr", "exact_rate", "delta_loss"}
// stderr is the standard error of the mean (sample standard deviation / sqrt(n); 0 for
// n = 1); delta_loss = mean_loss − the same task's "intact" mean_loss (null when the
// task has no intact configuration).  A record without a numeric answer_loss is an
// error record.  Returns the exit status as tool_run does.
int summary_run(FILE *in, FILE *out);

#endif
