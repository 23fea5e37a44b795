// fuzz_judge: judge's offline side (common/experiment/judge) on any record a pipeline
// might hand it, and its JSON-prefix reader on any text.  Properties:
//   - judge_item_read accepts the record or says why; each offline judge that applies
//     gives yes/no/unsure with a non-empty reason, a score in [0, 1] when it has one,
//     and judge_result_json writes valid JSON that judge_summary_add reads back, counting
//     exactly one verdict per judgement;
//   - judge_json_prefix agrees, on valid UTF-8, with an independent recogniser
//     (fuzz_json_valid, surrogate escapes paired as json_parse wants them): when it
//     says COMPLETE, text[0..at) is one valid JSON value; when the whole text is one
//     valid value (nesting within JSON_MAX_DEPTH), it says COMPLETE and only whitespace
//     follows `at`; INVALID and INCOMPLETE never for valid text, and `at` stays in bounds.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "experiment/judge.h"
#include "fuzz_util.h"

// judge reads records through tool_run, which makes every line valid UTF-8; the
// recogniser refuses other bytes, so the comparison is made on valid UTF-8 only.
static void check_json_prefix(const char *s, size_t n) {
    if (!fuzz_utf8_valid(s, n)) return;
    size_t at = (size_t)-1;
    int rc = judge_json_prefix(s, n, &at);
    FUZZ_REQUIRE(at <= n, "at %zu past the end %zu", at, n);
    if (rc == JUDGE_JSON_COMPLETE)
        FUZZ_REQUIRE(fuzz_json_valid(s, at), "COMPLETE at %zu but not valid JSON", at);
    if (fuzz_json_valid(s, n)) {
        FUZZ_REQUIRE(rc == JUDGE_JSON_COMPLETE, "valid text read as %d at %zu", rc, at);
        for (size_t i = at; i < n; i++)
            FUZZ_REQUIRE(s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r',
                         "more than whitespace after %zu", at);
    }
}

static void check_record(const char *s, size_t n) {
    Record r;
    char err[512];
    if (record_parse(&r, s, n, 1, err, sizeof err) != 0) {
        record_free(&r);
        return;
    }
    JudgeItem it;
    static const char *const extra[] = {"Is it English?"};
    if (judge_item_read(&it, &r, extra, 1, err, sizeof err) != 0) {
        FUZZ_REQUIRE(err[0], "refused without a message");
        judge_item_free(&it);
        record_free(&r);
        return;
    }
    static const char words_text[] = "a\nthe\ncat\n";
    char path[64];
    JudgeWords w;
    int have_words = 0;
    int fd = fuzz_memfd((const uint8_t *)words_text, sizeof words_text - 1, path, sizeof path);
    if (fd >= 0) {
        have_words = judge_words_load(&w, path, err, sizeof err) == 0;
        close(fd);
    }
    JsonBuf b = {0};
    jb_puts(&b, "{\"task\":\"t\",\"label\":\"l\",\"judgements\":[");
    int n_j = 0;
    for (int k = 0; k < JUDGE_N_OFFLINE; k++) {
        JudgeResult res;
        if (!judge_offline(k, &it, have_words ? &w : NULL, &res)) continue;
        FUZZ_REQUIRE(res.verdict >= JUDGE_YES && res.verdict <= JUDGE_UNSURE, "verdict %d",
                     (int)res.verdict);
        FUZZ_REQUIRE(res.reason[0], "%s: empty reason", judge_offline_names[k]);
        FUZZ_REQUIRE(!res.has_score || (res.score >= 0 && res.score <= 1), "%s: score %g",
                     judge_offline_names[k], res.score);
        jb_sep(&b);
        judge_result_json(&b, &res);
        n_j++;
    }
    jb_puts(&b, "]}");
    FUZZ_REQUIRE(fuzz_json_valid(b.buf, b.len), "judgements not valid JSON: %.300s", b.buf);
    Record out;
    FUZZ_REQUIRE(record_parse(&out, b.buf, b.len, 1, err, sizeof err) == 0,
                 "cannot read the judgements back: %s", err);
    JudgeSummary sum = {0};
    FUZZ_REQUIRE(judge_summary_add(&sum, &out, err, sizeof err) == n_j,
                 "summary counted otherwise: %s", err);
    long total = 0;
    for (int g = 0; g < sum.n; g++) {
        FUZZ_REQUIRE(sum.g[g].yes + sum.g[g].no + sum.g[g].unsure == sum.g[g].n, "group counts");
        JudgeStats st = judge_summary_stats(&sum, &sum.g[g]);
        FUZZ_REQUIRE(st.yes_rate >= 0 && st.yes_rate <= 1 && isfinite(st.stderr_rate), "stats");
        total += sum.g[g].n;
    }
    FUZZ_REQUIRE(total == n_j, "total %ld of %d", total, n_j);
    judge_summary_free(&sum);
    record_free(&out);
    jb_free(&b);
    if (have_words) judge_words_free(&w);
    judge_item_free(&it);
    record_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    check_json_prefix(s, size);
    char *line = malloc(size + 1);
    memcpy(line, data, size);
    line[size] = '\0';
    check_record(line, size);
    free(line);
    return 0;
}
