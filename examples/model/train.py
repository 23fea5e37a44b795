#!/usr/bin/python3
"""examples/model/train.py: trains the small GPT-2 shipped in examples/model/ from scratch.

    /usr/bin/python3 examples/model/train.py [--out DIR] [--steps N] [--stop-after N]   (or: make examples-model)

A GPT-2 in Hugging Face's GPT2LMHeadModel layout (tensor names, Conv1D weights input-major,
tied embeddings, gelu_new, LayerNorm eps 1e-5) with the real GPT-2 vocabulary, trained on a
corpus made by this repository's own tools: `bin/gentasks` for every built-in task (with the
training seed, never the evaluation seed) plus seeded filler (template sentences, and lines
of random words repeated, which reward induction as the copy task does), tokenized by
`bin/tokenize` exactly as the tools score a record: [<|endoftext|>] + tokens(prompt), then
tokens(separator + answer), then "\\n".  Each example sits alone in its attention window
(packed rows, block-diagonal mask, positions from 0).  The answer's tokens weigh 1 in the
loss, the rest of a task example PROMPT_WEIGHT (see there), filler 1.

Training covers only the vocabulary the corpus uses (U rows of wte instead of 50 257): the
softmax over the rest would cost more than the model.  The shipped checkpoint still has all
50 257 rows, and unused tokens can never win: one residual dimension D0 (the last) is reserved,
ln_f.weight[D0] = 0 and ln_f.bias[D0] = 1 (so the final normed residual is exactly 1 there),
wte[used, D0] = 0 and wte[unused] = -30 at D0 and 0 elsewhere, so with the tied output layer
every unused token's logit is exactly -30 in every layer configuration.  Those values are
held fixed during training.

Deterministic: one CPU thread, torch.manual_seed, torch.use_deterministic_algorithms, the data
order from Python's random.Random(seed): the same machine and torch version retrain the same
bits.  Needs PyTorch (Debian: python3-torch) and NumPy; a development tool only, never needed
by the tools themselves.  Run from anywhere; it finds bin/ next to examples/.
"""

import argparse
import json
import math
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one thread, before the BLAS loads
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.path.join(ROOT, "bin")
VOCAB = 50257
EOT = 50256
NEWLINE = 198
UNUSED_LOGIT = -30.0

TASKS = ["facts", "facts-pairs", "addition", "counting", "days", "opposites", "alphabet",
         "plural", "copy", "json"]
# Examples drawn from gentasks per task (the task's mixture weight decides how often each
# is seen); fixed lists (facts, facts-pairs) have what they have.
POOL = {"addition": 20000, "counting": 2000, "days": 2000, "opposites": 20000,
        "alphabet": 2000, "plural": 20000, "copy": 20000, "json": 40000,
        "facts": 30, "facts-pairs": 16}
WEIGHT = {"facts": 0.5, "facts-pairs": 0.5, "addition": 1.5, "counting": 1.0, "days": 0.5,
          "opposites": 1.0, "alphabet": 0.75, "plural": 1.0, "copy": 2.0, "json": 2.5,
          "filler": 0.5, "repeat": 1.0}
# config.json: what transformers writes for GPT2LMHeadModel (the sizes filled in on saving).
HF_CONFIG = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
             "attn_pdrop": 0.0, "bos_token_id": EOT, "embd_pdrop": 0.0, "eos_token_id": EOT,
             "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2",
             "n_inner": None, "reorder_and_upcast_attn": False, "resid_pdrop": 0.0,
             "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True,
             "tie_word_embeddings": True, "use_cache": True, "vocab_size": VOCAB}
TRAIN_SEED = 101      # gentasks --seed for the training corpus
# The loss weight of a task example's prompt tokens and of the "\n" after its answer (the
# answer's tokens weigh 1).  Some tasks are ambiguous as plain text: a json counter cut
# at "c": may go on to "d" in a longer document, an alphabet run may end after any letter;
# the prompt always stops where the answer closes the document or gives the next letter.
# Weighing the answers above the rest of the text lets the model learn that.
PROMPT_WEIGHT = 0.2
EVAL_SEED = 7         # fresh examples: the known-answer tests use this seed


# ----------------------------------------------------------------------------- corpus

def run(cmd, stdin=None):
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if p.returncode != 0:
        sys.exit("train.py: %s failed (exit %d): %s" % (" ".join(cmd), p.returncode, p.stderr.decode()[-500:]))
    return p.stdout


def gentasks(task, n, seed):
    out = run([os.path.join(BIN, "gentasks"), task, "-n", str(n), "--seed", str(seed)])
    return [json.loads(line) for line in out.decode().splitlines()]


class Tokenizer:
    """bin/tokenize over a throwaway checkpoint (it needs a model directory for the vocabulary)."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "vocab-model")
        run([os.path.join(BIN, "loadgpt2"), "--random", "--out", self.dir, "--layers", "1",
             "--heads", "1", "--embd", "8", "--ctx", "128", "--seed", "1"])

    def encode(self, texts, bos):
        lines = "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()
        cmd = [os.path.join(BIN, "tokenize"), "--model", self.dir] + ([] if bos else ["--no-bos"])
        out = run(cmd, lines).decode().splitlines()
        assert len(out) == len(texts)
        return [json.loads(line)["tokens"] for line in out]


def example_tokens(tok, records):
    """([EOT] + prompt + separator + answer + "\\n", where the answer starts, its length,
    the loss weight of the other tokens)."""
    prompts = tok.encode([r["prompt"] for r in records], bos=True)
    answers = tok.encode([r.get("separator", " ") + r["answer"] for r in records], bos=False)
    return [(p + a + [NEWLINE], len(p), len(a), PROMPT_WEIGHT) for p, a in zip(prompts, answers)]


FILLER_WORDS = {
    "det": ["the", "a", "this", "that", "every", "one"],
    "adj": ["small", "large", "old", "new", "quiet", "bright", "dark", "warm", "cold", "green",
            "happy", "busy", "strange", "simple", "early", "late"],
    "noun": ["cat", "dog", "house", "river", "city", "teacher", "child", "garden", "book",
             "window", "train", "market", "letter", "song", "road", "friend", "mountain", "table"],
    "verb": ["sees", "finds", "likes", "opens", "reads", "follows", "builds", "paints", "visits",
             "remembers", "carries", "watches"],
    "adv": ["slowly", "today", "again", "often", "at night", "in the morning", "every day"],
    "prep": ["near", "behind", "under", "beside", "across", "inside"],
}


def filler_sentence(r):
    w = lambda k: r.choice(FILLER_WORDS[k])
    forms = [
        lambda: "%s %s %s %s %s %s." % (w("det"), w("adj"), w("noun"), w("verb"), w("det"), w("noun")),
        lambda: "%s %s %s %s %s %s %s." % (w("det"), w("noun"), w("verb"), w("det"), w("noun"), w("prep"), "the " + w("noun")),
        lambda: "%s %s %s %s %s." % (w("det"), w("noun"), w("verb"), "the " + w("adj") + " " + w("noun"), w("adv")),
    ]
    s = r.choice(forms)()
    return s[0].upper() + s[1:]


def filler_texts(seed, n):
    r = random.Random(seed)
    return [" ".join(filler_sentence(r) for _ in range(r.randint(1, 4))) for _ in range(n)]


def repeat_texts(seed, n):
    """A line of distinct random words, then the same line again: every word of the repeat
    follows from the word before it in the first line (induction), as in the copy task."""
    r = random.Random(seed)
    words = sorted({w for k in ("adj", "noun", "verb") for w in FILLER_WORDS[k]})
    out = []
    for _ in range(n):
        line = " ".join(r.sample(words, r.randint(3, 10)))
        out.append(line + "\n" + line)
    return out


def build_corpus(tok, seed):
    """{task: [(tokens, answer_start, answer_len)]}"""
    pools = {}
    for t in TASKS:
        recs = gentasks(t, POOL[t], TRAIN_SEED)
        if t == "facts-pairs":   # the corrupted prompts are facts too
            recs = recs + [dict(r, prompt=r["corrupt_prompt"], answer=r["wrong_answer"]) for r in recs]
        pools[t] = example_tokens(tok, recs)
    texts = filler_texts(seed, 4000)
    pools["filler"] = [(p + [NEWLINE], len(p), 0, 1.0) for p in tok.encode(texts, bos=True)]
    texts = repeat_texts(seed + 1, 8000)
    pools["repeat"] = [(p + [NEWLINE], len(p), 0, 1.0) for p in tok.encode(texts, bos=True)]
    return pools


# ----------------------------------------------------------------------------- model

def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class GPT2(torch.nn.Module):
    """GPT-2 over U used tokens; parameter names and shapes as GPT2LMHeadModel's (wte: U rows)."""

    def __init__(self, n_used, n_layer, n_head, n_embd, n_ctx):
        super().__init__()
        self.n_head, self.n_embd, self.d0 = n_head, n_embd, n_embd - 1
        C = n_embd
        self.p = {}   # GPT2LMHeadModel's names; registered with "." -> "_"

        def P(t):
            return torch.nn.Parameter(t)
        std, proj_std = 0.02, 0.02 / math.sqrt(2 * n_layer)
        self.p["wte.weight"] = P(torch.randn(n_used, C) * std)
        self.p["wpe.weight"] = P(torch.randn(n_ctx, C) * 0.01)
        for i in range(n_layer):
            h = "h.%d." % i
            for ln in ("ln_1", "ln_2"):
                self.p[h + ln + ".weight"] = P(torch.ones(C))
                self.p[h + ln + ".bias"] = P(torch.zeros(C))
            self.p[h + "attn.c_attn.weight"] = P(torch.randn(C, 3 * C) * std)
            self.p[h + "attn.c_attn.bias"] = P(torch.zeros(3 * C))
            self.p[h + "attn.c_proj.weight"] = P(torch.randn(C, C) * proj_std)
            self.p[h + "attn.c_proj.bias"] = P(torch.zeros(C))
            self.p[h + "mlp.c_fc.weight"] = P(torch.randn(C, 4 * C) * std)
            self.p[h + "mlp.c_fc.bias"] = P(torch.zeros(4 * C))
            self.p[h + "mlp.c_proj.weight"] = P(torch.randn(4 * C, C) * proj_std)
            self.p[h + "mlp.c_proj.bias"] = P(torch.zeros(C))
        self.p["ln_f.weight"] = P(torch.ones(C))
        self.p["ln_f.bias"] = P(torch.zeros(C))
        self.n_layer = n_layer
        for name, p in self.p.items():
            self.register_parameter(name.replace(".", "_"), p)
        self.pin_reserved()

    @torch.no_grad()
    def pin_reserved(self):
        """The reserved dimension: final normed residual 1, used tokens' embedding 0 there."""
        self.p["wte.weight"][:, self.d0] = 0.0
        self.p["ln_f.weight"][self.d0] = 0.0
        self.p["ln_f.bias"][self.d0] = 1.0

    def ln(self, x, name):
        return torch.nn.functional.layer_norm(x, (self.n_embd,), self.p[name + ".weight"], self.p[name + ".bias"], 1e-5)

    def forward(self, idx, pos, seg):
        """idx, pos, seg: (B, T) token (row of wte), position, example number; returns (B, T, U) logits."""
        B, T = idx.shape
        C, H = self.n_embd, self.n_head
        x = self.p["wte.weight"][idx] + self.p["wpe.weight"][pos]
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        mask = causal[None] & (seg[:, :, None] == seg[:, None, :])          # (B, T, T)
        bias = torch.zeros(B, 1, T, T).masked_fill(~mask[:, None], float("-inf"))
        for i in range(self.n_layer):
            h = "h.%d." % i
            a = self.ln(x, h + "ln_1") @ self.p[h + "attn.c_attn.weight"] + self.p[h + "attn.c_attn.bias"]
            q, k, v = a.split(C, dim=2)
            q = q.view(B, T, H, C // H).transpose(1, 2)
            k = k.view(B, T, H, C // H).transpose(1, 2)
            v = v.view(B, T, H, C // H).transpose(1, 2)
            att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(C // H) + bias, dim=-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, C)
            x = x + y @ self.p[h + "attn.c_proj.weight"] + self.p[h + "attn.c_proj.bias"]
            m = gelu_new(self.ln(x, h + "ln_2") @ self.p[h + "mlp.c_fc.weight"] + self.p[h + "mlp.c_fc.bias"])
            x = x + m @ self.p[h + "mlp.c_proj.weight"] + self.p[h + "mlp.c_proj.bias"]
        return self.ln(x, "ln_f") @ self.p["wte.weight"].t()


# ----------------------------------------------------------------------------- batches

def pack(examples, n_ctx, remap):
    """Examples (tokens, answer_start, answer_len) packed into rows of n_ctx: every example
    attends only to itself and counts positions from 0, as the tools run it alone.  Returns
    idx, pos, seg, target (-1: no loss), is_answer, loss weight (B, T) tensors."""
    rows, row, cur = [], [], 0
    for ex in examples:
        if cur + len(ex[0]) > n_ctx:
            rows.append(row)
            row, cur = [], 0
        row.append(ex)
        cur += len(ex[0])
    if row:
        rows.append(row)
    B = len(rows)
    idx = np.zeros((B, n_ctx), np.int64)
    pos = np.zeros((B, n_ctx), np.int64)
    seg = np.full((B, n_ctx), -1, np.int64)
    tgt = np.full((B, n_ctx), -1, np.int64)
    ans = np.zeros((B, n_ctx), bool)
    wgt = np.zeros((B, n_ctx), np.float32)
    for b, row in enumerate(rows):
        cur = 0
        for j, (toks, a0, na, w) in enumerate(row):
            n = len(toks)
            ids = remap[np.asarray(toks)]
            idx[b, cur:cur + n] = ids
            pos[b, cur:cur + n] = np.arange(n)
            seg[b, cur:cur + n] = j
            tgt[b, cur:cur + n - 1] = ids[1:]
            wgt[b, cur:cur + n - 1] = w
            ans[b, cur + a0 - 1:cur + a0 - 1 + na] = True
            wgt[b, cur + a0 - 1:cur + a0 - 1 + na] = 1.0
            cur += n
        seg[b, cur:] = 1000 + np.arange(n_ctx - cur)   # padding attends to itself only
    t = lambda a: torch.from_numpy(a)
    return t(idx), t(pos), t(seg), t(tgt), t(ans), t(wgt)


def sample_batch(r, pools, names, cum, n_tokens):
    out, total = [], 0
    while total < n_tokens:
        t = names[bisect(cum, r.random() * cum[-1])]
        ex = pools[t][r.randrange(len(pools[t]))]
        out.append(ex)
        total += len(ex[0])
    return out


def bisect(cum, x):
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] > x:
            hi = mid
        else:
            lo = mid + 1
    return lo


# ----------------------------------------------------------------------------- evaluation

@torch.no_grad()
def exact_match(model, examples, n_ctx, remap):
    """Fraction of examples whose every answer token is the argmax (greedy reproduces it),
    and the mean answer loss."""
    idx, pos, seg, tgt, ans, _ = pack(examples, n_ctx, remap)
    logits = model(idx, pos, seg)
    pred = logits.argmax(-1)
    lp = torch.log_softmax(logits, -1)
    ok, loss = [], []
    for b in range(idx.shape[0]):
        for j in sorted(set(seg[b][seg[b] < 1000].tolist())):
            m = (seg[b] == j) & ans[b]
            ok.append(bool((pred[b][m] == tgt[b][m]).all()))
            loss.append(float(-lp[b][m].gather(-1, tgt[b][m][:, None]).mean()))
    return sum(ok) / len(ok), sum(loss) / len(loss)


# ----------------------------------------------------------------------------- checkpoint

def f16_bytes(a):
    return np.ascontiguousarray(a, dtype=np.float16).tobytes()


def load_into(model, used, path):
    """Start from a checkpoint this script wrote (F16 safetensors, all 50 257 rows of wte)."""
    with open(os.path.join(path, "model.safetensors"), "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    with torch.no_grad():
        for name, p in model.p.items():
            h = header[name]
            if h["dtype"] != "F16":
                sys.exit("train.py: %s: %s is %s, not F16" % (path, name, h["dtype"]))
            a = np.frombuffer(data[base + h["data_offsets"][0]:base + h["data_offsets"][1]], np.float16)
            a = a.astype(np.float32).reshape(h["shape"])
            if name == "wte.weight":
                a = a[used]
            if tuple(a.shape) != tuple(p.shape):
                sys.exit("train.py: %s: %s has shape %s, the model %s" % (path, name, a.shape, tuple(p.shape)))
            p.copy_(torch.from_numpy(np.ascontiguousarray(a)))
    model.pin_reserved()


def save(model, used, out, n_ctx):
    """config.json, model.safetensors (F16, all 50 257 rows), vocab.json, merges.txt."""
    os.makedirs(out, exist_ok=True)
    tensors = {}
    for name, p in model.p.items():
        tensors[name] = p.detach().numpy().astype(np.float32)
    C = model.n_embd
    wte = np.zeros((VOCAB, C), np.float32)
    wte[:, model.d0] = UNUSED_LOGIT
    wte[used] = tensors["wte.weight"]
    tensors["wte.weight"] = wte
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        b = f16_bytes(tensors[name])
        header[name] = {"dtype": "F16", "shape": list(tensors[name].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt", "source": "examples/model/train.py"}
    h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    cfg = dict(HF_CONFIG)
    cfg.update({"n_layer": model.n_layer, "n_head": model.n_head, "n_embd": C, "n_ctx": n_ctx,
                "n_positions": n_ctx, "torch_dtype": "float16"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    for name in ("vocab.json", "merges.txt"):
        src = os.path.join(ROOT, "build", "vocab", name)
        dst = os.path.join(out, name)
        if os.path.abspath(src) != os.path.abspath(dst):
            with open(src, "rb") as a, open(dst, "wb") as b:
                b.write(a.read())


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description="train the example GPT-2 (examples/model/)")
    ap.add_argument("--out", default=os.path.join(ROOT, "examples", "model"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--embd", type=int, default=128)
    ap.add_argument("--ctx", type=int, default=128)
    ap.add_argument("--batch-tokens", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-n", type=int, default=50)
    ap.add_argument("--save-every-eval", action="store_true", help="also write the checkpoint at each evaluation")
    ap.add_argument("--init-from", metavar="DIR", help="start from a checkpoint this script wrote (a second stage)")
    ap.add_argument("--weight", action="append", default=[], metavar="TASK=W",
                    help="the mixture weight of a task (or filler, repeat); repeatable")
    ap.add_argument("--stop-after", type=int, default=0,
                    help="stop after this step (the learning-rate schedule still spans --steps)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    t0 = time.time()
    log = lambda *a: print("[%6.0fs]" % (time.time() - t0), *a, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        tok = Tokenizer(tmp)
        pools = build_corpus(tok, args.seed)
        evals = {t: example_tokens(tok, gentasks(t, args.eval_n, EVAL_SEED)) for t in TASKS}
    used = sorted({i for p in pools.values() for ex in p for i in ex[0]})
    remap = np.full(VOCAB, -1, np.int64)
    remap[used] = np.arange(len(used))
    for t, ex in evals.items():
        missing = {i for e in ex for i in e[0] if remap[i] < 0}
        if missing:
            sys.exit("train.py: %s evaluation examples use %d tokens the corpus never shows" % (t, len(missing)))
    log("corpus: %d used tokens; pools %s" % (len(used), {t: len(p) for t, p in pools.items()}))

    model = GPT2(len(used), args.layers, args.heads, args.embd, args.ctx)
    if args.init_from:
        load_into(model, used, args.init_from)
        log("started from %s" % args.init_from)
    weight = dict(WEIGHT)
    for kv in args.weight:
        k, _, v = kv.partition("=")
        if k not in weight:
            sys.exit("train.py: --weight %s: no such task (%s)" % (kv, ", ".join(sorted(weight))))
        weight[k] = float(v)
    decay = [p for n, p in model.p.items() if n.endswith(".weight") and "ln_" not in n]
    rest = [p for n, p in model.p.items() if not (n.endswith(".weight") and "ln_" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-8)
    names = sorted(weight)
    cum = list(np.cumsum([weight[t] for t in names]))
    r = random.Random(args.seed)
    warm = max(1, args.steps // 30)
    for step in range(1, args.steps + 1):
        lr = args.lr * (step / warm if step <= warm else 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - warm) / (args.steps - warm))))
        for g in opt.param_groups:
            g["lr"] = lr
        idx, pos, seg, tgt, ans, wgt = pack(sample_batch(r, pools, names, cum, args.batch_tokens), args.ctx, remap)
        logits = model(idx, pos, seg)
        ce = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), tgt.view(-1), ignore_index=-1,
                                               reduction="none")
        loss = (ce * wgt.view(-1)).sum() / wgt.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        model.pin_reserved()
        if step % 100 == 0:
            log("step %d lr %.2e loss %.3f" % (step, lr, loss.item()))
        if step % args.eval_every == 0 or step == args.steps:
            res = {t: exact_match(model, ex, args.ctx, remap) for t, ex in evals.items()}
            log("eval step %d: " % step + " ".join("%s %.0f%%/%.2f" % (t, 100 * a, l) for t, (a, l) in res.items()))
            if args.save_every_eval:
                save(model, used, args.out, args.ctx)
        if step == args.stop_after:
            break
    save(model, used, args.out, args.ctx)
    log("wrote %s after %d steps" % (args.out, step))


if __name__ == "__main__":
    main()
