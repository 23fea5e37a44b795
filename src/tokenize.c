// tokenize: show token boundaries (TransformerLens's to_str_tokens).  Adds "tokens" (ids)
// and "token_strs" (exact strings) to records with "text" (or "prompt"); --decode turns
// "tokens" back into "text".  See README.md.
#include <stdlib.h>
#include <string.h>

#include "base/tool.h"
#include "base/util.h"
#include "experiment/experiment.h"

static const char usage_text[] =
    "usage: tokenize [--model NAME|PATH] [--no-bos] [--decode] < records.ndjson\n"
    "Adds \"tokens\" and \"token_strs\" for the record's \"text\" (else \"prompt\"), with\n"
    "<|endoftext|> prepended unless --no-bos.  --decode: \"tokens\" -> \"text\".\n";

typedef struct {
    Model model;
    int bos, decode;
} Tokenize;

static void write_token_strs(JsonBuf *out, const Model *m, const int *ids, int n) {
    jb_key(out, "token_strs");
    jb_raw(out, "[", 1);
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *s = model_token_text(m, ids[i], &len);
        jb_sep(out);
        jb_string(out, s, len);
    }
    jb_raw(out, "]", 1);
}

static int encode_record(Tokenize *t, const Record *in, JsonBuf *lines) {
    static const char *const owned[] = {"tokens", "token_strs", NULL};
    char err[256], *text = NULL;
    size_t len;
    int got = record_string(in, "text", &text, &len, err, sizeof err);
    if (got == 0) got = record_string(in, "prompt", &text, &len, err, sizeof err);
    if (got <= 0) {
        record_error(lines, in, got == 0 ? "missing \"text\" (or \"prompt\")" : err);
        return 1;
    }
    int *ids, n;
    if (model_encode_prompt(&t->model, text, len, t->bos, &ids, &n) != 0) {
        free(text);
        record_error(lines, in, "text too long to tokenize");
        return 1;
    }
    JsonBuf out = {0};
    record_begin(&out, in, owned);
    jb_key(&out, "tokens");
    jb_int_array(&out, ids, n);
    write_token_strs(&out, &t->model, ids, n);
    record_end(&out, lines);
    jb_free(&out);
    free(ids);
    free(text);
    return 0;
}

static int decode_record(Tokenize *t, const Record *in, JsonBuf *lines) {
    static const char *const owned[] = {"text", NULL};
    char err[256];
    int *ids, n;
    int got = record_int_array(in, "tokens", &ids, &n, err, sizeof err);
    if (got <= 0) {
        record_error(lines, in, got == 0 ? "missing \"tokens\"" : err);
        return 1;
    }
    char *text;
    size_t len;
    if (tok_decode(t->model.tok, ids, n, &text, &len) != 0) {
        free(ids);
        record_error(lines, in, "token id out of range");
        return 1;
    }
    JsonBuf out = {0};
    record_begin(&out, in, owned);
    jb_key(&out, "text");
    jb_string(&out, text, len);
    record_end(&out, lines);
    jb_free(&out);
    free(text);
    free(ids);
    return 0;
}

static int tokenize_batch(void *ctx, Record *const *recs, int n, JsonBuf *lines) {
    Tokenize *t = ctx;
    int failed = 0;
    for (int i = 0; i < n; i++)
        failed += t->decode ? decode_record(t, recs[i], lines) : encode_record(t, recs[i], lines);
    return failed;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    enum { DECODE = OPT_TOOL_FIRST };
    static const struct option longopts[] = {{"model", required_argument, 0, OPT_MODEL},
                                             {"no-bos", no_argument, 0, OPT_NO_BOS},
                                             {"decode", no_argument, 0, DECODE},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    ExperimentOptions opt;
    experiment_defaults(&opt);
    Tokenize t = {0};
    int c;
    while ((c = tool_getopt(argc, argv, "h", longopts, usage_text, NULL)) != -1) {
        if (experiment_option(&opt, c, optarg)) continue;
        if (c == DECODE) t.decode = 1;
    }
    tool_no_operands(argc, argv, NULL, "records come on stdin");
    t.bos = opt.bos;
    char err[2048];
    if (model_open(&t.model, opt.model, NULL, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
    int status = tool_run(stdin, stdout, 64, tokenize_batch, &t);
    model_close(&t.model);
    return status;
}
