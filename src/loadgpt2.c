// loadgpt2: get a GPT-2 checkpoint ready (cache, download, or a synthetic one) and print
// one NDJSON line describing it.  See README.md.
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/tool.h"
#include "base/util.h"
#include "io/hub.h"
#include "model/checkpoint.h"
#include "model/model.h"
#include "model/vocab.h"

static const char usage_text[] =
    "usage: loadgpt2 [options] [NAME|PATH]\n"
    "       loadgpt2 --random --out DIR [--shape NAME] [shape options]\n"
    "Finds NAME (gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2, or ORG/NAME; default\n"
    "gpt2) in the Hugging Face cache or downloads it, opens and validates it, and prints\n"
    "one JSON line: name, dir, n_layer, n_head, n_embd, n_ctx, vocab, params, dtype.\n"
    "  --revision REV   branch, tag or commit (default main)\n"
    "  --offline        never use the network (also HF_HUB_OFFLINE=1)\n"
    "  --no-progress    no progress bar\n"
    "Synthetic checkpoints in the Hugging Face format, with the real GPT-2 vocabulary:\n"
    "  --random         write a seeded random checkpoint to --out DIR, then describe it\n"
    "  --shape NAME     gpt2, gpt2-medium, gpt2-large, gpt2-xl or distilgpt2 shapes\n"
    "  --layers N --heads N --embd N --ctx N --vocab N   any shape (default 4,4,64,128,50257)\n"
    "  --seed S         (default 0)   --dtype F32|F16|BF16 (default F32)\n"
    "  --init-std X     weight standard deviation (default 0.02, GPT-2's init)\n"
    "  --prefix         tensor names with \"transformer.\"   --untied   a separate lm_head\n"
    "  --no-mask-buffers  omit h.{i}.attn.bias\n";

typedef struct {
    const char *name, *revision, *out, *shape, *dtype;
    int offline, progress, random, prefix, untied, no_masks;
    Gpt2Config cfg;
    unsigned long long seed;
    float init_std;
} Options;

static void parse_options(int argc, char **argv, Options *o) {
    enum {
        REVISION = 256,
        OFFLINE,
        NO_PROGRESS,
        RANDOM,
        OUT,
        SHAPE,
        LAYERS,
        HEADS,
        EMBD,
        CTX,
        VOCAB,
        SEED,
        DTYPE,
        PREFIX,
        UNTIED,
        NO_MASKS,
        INIT_STD
    };
    static const struct option longopts[] = {{"revision", required_argument, 0, REVISION},
                                             {"offline", no_argument, 0, OFFLINE},
                                             {"no-progress", no_argument, 0, NO_PROGRESS},
                                             {"random", no_argument, 0, RANDOM},
                                             {"out", required_argument, 0, OUT},
                                             {"shape", required_argument, 0, SHAPE},
                                             {"layers", required_argument, 0, LAYERS},
                                             {"heads", required_argument, 0, HEADS},
                                             {"embd", required_argument, 0, EMBD},
                                             {"ctx", required_argument, 0, CTX},
                                             {"vocab", required_argument, 0, VOCAB},
                                             {"seed", required_argument, 0, SEED},
                                             {"dtype", required_argument, 0, DTYPE},
                                             {"prefix", no_argument, 0, PREFIX},
                                             {"untied", no_argument, 0, UNTIED},
                                             {"no-mask-buffers", no_argument, 0, NO_MASKS},
                                             {"init-std", required_argument, 0, INIT_STD},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    *o = (Options){.cfg = {.n_layer = 4,
                           .n_head = 4,
                           .n_embd = 64,
                           .n_ctx = 128,
                           .vocab_size = 50257,
                           .ln_eps = 1e-5f}};
    int c;
    while ((c = tool_getopt(argc, argv, "h", longopts, usage_text, NULL)) != -1) {
        switch (c) {
        case REVISION: o->revision = optarg; break;
        case OFFLINE: o->offline = 1; break;
        case NO_PROGRESS: o->progress = -1; break;
        case RANDOM: o->random = 1; break;
        case OUT: o->out = optarg; break;
        case SHAPE: o->shape = optarg; break;
        case LAYERS: o->cfg.n_layer = (int)arg_integer(optarg, 0, 1000, "--layers"); break;
        case HEADS: o->cfg.n_head = (int)arg_integer(optarg, 1, 1000, "--heads"); break;
        case EMBD: o->cfg.n_embd = (int)arg_integer(optarg, 1, 100000, "--embd"); break;
        case CTX: o->cfg.n_ctx = (int)arg_integer(optarg, 1, 1 << 20, "--ctx"); break;
        case VOCAB: o->cfg.vocab_size = (int)arg_integer(optarg, 1, 1 << 24, "--vocab"); break;
        case SEED: o->seed = arg_seed(optarg, "--seed"); break;
        case DTYPE: o->dtype = optarg; break;
        case PREFIX: o->prefix = 1; break;
        case UNTIED: o->untied = 1; break;
        case NO_MASKS: o->no_masks = 1; break;
        case INIT_STD: o->init_std = (float)arg_real(optarg, 1e-6, 10, "--init-std"); break;
        }
    }
    if (optind < argc) o->name = argv[optind++];
    if (optind < argc) eprintf(EXIT_USAGE, "one model at a time (got \"%s\" too)", argv[optind]);
    if (o->random && !o->out) eprintf(EXIT_USAGE, "--random needs --out DIR");
    if (o->shape && checkpoint_named_shape(o->shape, &o->cfg) != 0)
        eprintf(EXIT_USAGE,
                "unknown --shape \"%s\" (gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2)",
                o->shape);
    if (o->cfg.n_embd % o->cfg.n_head) eprintf(EXIT_USAGE, "--embd must be a multiple of --heads");
}

// A synthetic checkpoint in DIR: weights, config and the real vocabulary files.
static void write_random(const Options *o) {
    char err[1024];
    CheckpointSpec spec = {.cfg = o->cfg,
                           .seed = o->seed,
                           .dtype = o->dtype,
                           .prefix = o->prefix,
                           .untied = o->untied,
                           .with_mask_buffers = !o->no_masks,
                           .init_std = o->init_std};
    if (checkpoint_write_random(o->out, &spec, err, sizeof err) != 0)
        eprintf(EXIT_USAGE, "%s", err);
    char *vocab = vocab_dir_default();
    if (!vocab)
        eprintf(EXIT_USAGE, "GPT-2 vocabulary not found (run make, or set AUTOINTERP_VOCAB)");
    if (vocab_copy(vocab, o->out, err, sizeof err) != 0) eprintf(EXIT_USAGE, "%s", err);
    free(vocab);
}

static void print_description(const Model *m) {
    const Gpt2Config *c = &m->gpt2.cfg;
    JsonBuf b = {0};
    jb_raw(&b, "{", 1);
    jb_key(&b, "name"), jb_cstr(&b, m->name);
    jb_key(&b, "dir"), jb_cstr(&b, m->dir);
    jb_key(&b, "n_layer"), jb_int(&b, c->n_layer);
    jb_key(&b, "n_head"), jb_int(&b, c->n_head);
    jb_key(&b, "n_embd"), jb_int(&b, c->n_embd);
    jb_key(&b, "n_ctx"), jb_int(&b, c->n_ctx);
    jb_key(&b, "vocab"), jb_int(&b, c->vocab_size);
    jb_key(&b, "params"), jb_int(&b, m->gpt2.n_params);
    jb_key(&b, "dtype"), jb_cstr(&b, m->gpt2.dtype);
    jb_key(&b, "tied"), jb_puts(&b, m->gpt2.tied ? "true" : "false");
    jb_raw(&b, "}\n", 2);
    fwrite(b.buf, 1, b.len, stdout);
    jb_free(&b);
}

int main(int argc, char **argv) {
    util_set_progname(argv[0]);
    Options o;
    parse_options(argc, argv, &o);
    if (o.random) write_random(&o);
    const char *name = o.random ? o.out : o.name;
    HubOptions hub = {.revision = o.revision, .offline = o.offline, .progress = o.progress};
    Model m;
    char err[2048];
    if (model_open(&m, name, &hub, err, sizeof err) != 0) eprintf(EXIT_BAD_INPUT, "%s", err);
    if (gpt2_check_finite(&m.gpt2, err, sizeof err) != 0)
        eprintf(EXIT_BAD_INPUT, "%s: %s", m.dir, err);
    print_description(&m);
    model_close(&m);
    if (fflush(stdout) != 0 || ferror(stdout)) eprintf(EXIT_USAGE, "error writing output");
    return 0;
}
