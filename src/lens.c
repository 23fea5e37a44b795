// lens: fit a tuned lens (one affine translator per block, ridge least squares) on a text
// corpus, or check a lens file.  `topk --lens tuned --tuned-lens FILE` applies it.
// docs/interp.md describes the fit and the file format.
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/tool.h"
#include "base/util.h"
#include "experiment/lens.h"
#include "model/model.h"

static const char usage_text[] =
    "usage: lens --corpus FILE|- --out LENS.bin [--model M] [--ridge R] [--max-records N] [--no-bos]\n"
    "       lens --check LENS.bin [--model M]\n"
    "Fits, for every block l, y = x W_l + b_l from the residual after block l (x) to the final\n"
    "residual (y) by ridge least squares over every position (BOS excepted) of the corpus's\n"
    "records (\"text\", else \"prompt\" + answer), and writes the translators to LENS.bin.\n"
    "Prints one JSON line: out, n_layer, n_embd, records, rows, ridge, r2 (per block).\n"
    "  --model M          model name or directory (default $AUTOINTERP_MODEL or gpt2)\n"
    "  --ridge R          lambda = R * tr(Sxx) / C (default 1e-4)\n"
    "  --max-records N    use at most N records (default all)\n"
    "  --no-bos           do not prepend <|endoftext|>\n"
    "  --check FILE       validate a lens file (against --model when given) and describe it\n"
    "Exit status: 0 ok; 2 usage or system error; 5 a bad corpus record or lens file.\n";

typedef struct {
    const char *corpus, *out, *check, *model;
    double ridge;
    long max_records;
    int bos;
} Options;

static void print_json(JsonBuf *b) {
    jb_raw(b, "}\n", 2);
    if (fwrite(b->buf, 1, b->len, stdout) != b->len || fflush(stdout) != 0)
        eprintf(EXIT_USAGE, "cannot write the output");
    jb_free(b);
}

static int check_file(const Options *o) {
    char err[512];
    Model m;
    int L = 0, C = 0;
    if (o->model) {
        if (model_open(&m, o->model, NULL, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
        L = m.gpt2.cfg.n_layer;
        C = m.gpt2.cfg.n_embd;
        model_close(&m);
    }
    TunedLens t;
    if (lens_load(&t, o->check, L, C, err, sizeof err) != 0) {
        weprintf("%s", err);
        return EXIT_BAD_INPUT;
    }
    JsonBuf b = {0};
    jb_raw(&b, "{", 1);
    jb_key(&b, "file"), jb_cstr(&b, o->check);
    jb_key(&b, "n_layer"), jb_int(&b, t.n_layer);
    jb_key(&b, "n_embd"), jb_int(&b, t.C);
    print_json(&b);
    lens_free(&t);
    return 0;
}

static int fit(const Options *o) {
    char err[1024];
    Model m;
    if (model_open(&m, o->model, NULL, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
    FILE *fp = strcmp(o->corpus, "-") ? fopen(o->corpus, "r") : stdin;
    if (!fp) eprintf(EXIT_USAGE, "cannot open %s", o->corpus);
    TfWorkspace ws;
    if (tf_workspace_init(&ws, &m.gpt2, m.gpt2.cfg.n_ctx, threadpool_global(), err, sizeof err) !=
        0)
        eprintf(EXIT_USAGE, "%s", err);
    TunedLens t;
    LensFitReport rep;
    int rc = lens_fit_corpus(&m, fp, strcmp(o->corpus, "-") ? o->corpus : "<stdin>", o->bos,
                             o->ridge, o->max_records, &ws, &t, &rep, err, sizeof err);
    if (fp != stdin) fclose(fp);
    tf_workspace_free(&ws);
    int status = 0;
    if (rc != 0) {
        weprintf("%s", err);
        status = EXIT_BAD_INPUT;
    } else if (lens_save(&t, o->out, err, sizeof err) != 0) {
        weprintf("%s", err);
        status = EXIT_USAGE;
    } else {
        JsonBuf b = {0};
        jb_raw(&b, "{", 1);
        jb_key(&b, "out"), jb_cstr(&b, o->out);
        jb_key(&b, "n_layer"), jb_int(&b, t.n_layer);
        jb_key(&b, "n_embd"), jb_int(&b, t.C);
        jb_key(&b, "records"), jb_int(&b, rep.records);
        jb_key(&b, "rows"), jb_int(&b, rep.rows);
        jb_key(&b, "ridge"), jb_double(&b, o->ridge);
        jb_key(&b, "r2"), jb_raw(&b, "[", 1);
        for (int l = 0; l < t.n_layer; l++) jb_sep(&b), jb_double(&b, rep.r2[l]);
        jb_raw(&b, "]", 1);
        print_json(&b);
    }
    if (rc == 0) {
        lens_free(&t);
        free(rep.r2);
    }
    model_close(&m);
    return status;
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    enum { CORPUS = 256, OUT, CHECK, MODEL, RIDGE, MAX_RECORDS, NO_BOS };
    static const struct option longopts[] = {{"corpus", required_argument, 0, CORPUS},
                                             {"out", required_argument, 0, OUT},
                                             {"check", required_argument, 0, CHECK},
                                             {"model", required_argument, 0, MODEL},
                                             {"ridge", required_argument, 0, RIDGE},
                                             {"max-records", required_argument, 0, MAX_RECORDS},
                                             {"no-bos", no_argument, 0, NO_BOS},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    Options o = {.ridge = 1e-4, .bos = 1};
    int c;
    while ((c = tool_getopt(argc, argv, "h", longopts, usage_text, NULL)) != -1) {
        switch (c) {
        case CORPUS: o.corpus = optarg; break;
        case OUT: o.out = optarg; break;
        case CHECK: o.check = optarg; break;
        case MODEL: o.model = optarg; break;
        case RIDGE: o.ridge = arg_real(optarg, 0, 1e6, "--ridge"); break;
        case MAX_RECORDS:
            o.max_records = (long)arg_integer(optarg, 1, 1000000000, "--max-records");
            break;
        case NO_BOS: o.bos = 0; break;
        }
    }
    tool_no_operands(argc, argv, NULL, NULL);
    if (o.check) {
        if (o.corpus || o.out) eprintf(EXIT_USAGE, "--check does not combine with --corpus/--out");
        return check_file(&o);
    }
    if (!o.corpus || !o.out) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    return fit(&o);
}
