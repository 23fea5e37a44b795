#!/usr/bin/python3
"""bench/peer_torch.py: the workloads of `make bench` side by side with PyTorch eager.

    make bench-peers                      # installs python3-torch when missing, then this
    bench/peer_torch.py --model DIR --bin DIR [--reps N] [--quick] [--jobs a,b] [--json FILE]
                          [--torch-threads N]

The jobs are those of bench/workloads.c (keep the two lists alike): the same gentasks
inputs, the same checkpoint (read here from its model.safetensors), run once through our
tools (bin/, a child process each, timed end to end) and once in PyTorch eager, written
the way a TransformerLens user batches them: one padded batch per job, the residual
stream cached per block so that a configuration starts from the block where it departs
from the intact run, only the answer rows unembedded, generation with a KV cache. Before
anything is timed, the PyTorch results are checked against ours (losses, logit
differences and top-k log-probabilities to 1e-4; greedy completions token for token), so
that both sides compute the same thing. Then ours and PyTorch run alternately (ours,
torch, ours, torch, ...), N rounds, the best of each kept, and the ratio is taken from
that same run. Torch's threads are set to the number of CPUs.

Deliberately not done on the PyTorch side: the tools' JSON parsing, tokenization and
process start-up (ours pays them inside its timed run; they are milliseconds), and
prefix sharing between the configurations of a generation job (a user runs
model.generate once per configuration).
"""
import argparse
import json
import math
import os
import resource

# Torch's OpenMP threads spin between the small operations of a decoding step; on a shared
# machine (more runnable threads than CPUs) that made its generation 5-7x slower than with
# passive waiting.  The peer gets its better setting unless the caller chose one.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

# The jobs of bench/workloads.c: name, gentasks arguments (full, --quick), tool, arguments.
JOBS = [
    ("drop-last", ["addition", "-n", "200"], ["addition", "-n", "40"], "scoreloss", ["--sweep", "drop-last"]),
    ("ablate-heads", ["facts-pairs", "-n", "8"], ["facts-pairs", "-n", "2"], "scoreloss", ["--sweep", "ablate-heads"]),
    ("patch-sweep", ["facts-pairs", "-n", "8"], ["facts-pairs", "-n", "2"], "scoreloss", ["--patch-sweep"]),
    ("skip-one generation", ["facts", "-n", "3"], ["facts", "-n", "1"], "runlayers",
     ["--sweep", "skip-one", "--max-tokens", "20"]),
    ("topk skip-one", ["facts", "-n", "30"], ["facts", "-n", "8"], "topk", ["--sweep", "skip-one", "-k", "10"]),
    ("sampled generation", ["facts", "-n", "30"], ["facts", "-n", "4"], "runlayers",
     ["--sweep", "drop-last", "--temperature", "1", "--top-k", "40", "--seed", "1", "--max-tokens", "20"]),
]
TOL = 1e-4
BOS = 50256
# A masked score: finite, so that a padding row that sees no key gets a uniform softmax
# instead of NaNs (which 0 x NaN would carry into the real rows of later blocks).
NEG = -1e9


# ----------------------------------------------------------------------------------------
# the model: a safetensors GPT-2 checkpoint (Hugging Face layout, Conv1D weights [in, out])

def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if e["dtype"] != "F32":
            raise SystemExit("peer_torch: %s is %s; only F32 checkpoints are read" % (name, e["dtype"]))
        a, b = e["data_offsets"]
        out[name] = torch.from_numpy(np.array(data[a:b]).view(np.float32).reshape(e["shape"]))
    return out


class GPT2:
    def __init__(self, model_dir):
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        self.L, self.C, self.H = cfg["n_layer"], cfg["n_embd"], cfg["n_head"]
        self.D = self.C // self.H
        self.eps = cfg.get("layer_norm_epsilon", 1e-5)
        w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
        pre = "transformer." if "transformer.wte.weight" in w else ""
        g = lambda k: w[pre + k].contiguous()
        self.wte, self.wpe = g("wte.weight"), g("wpe.weight")
        self.lm = w["lm_head.weight"].contiguous() if "lm_head.weight" in w else self.wte
        self.lnf = (g("ln_f.weight"), g("ln_f.bias"))
        self.blocks = []
        for l in range(self.L):
            p = "h.%d." % l
            self.blocks.append({k: g(p + k) for k in (
                "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
                "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
                "mlp.c_proj.weight", "mlp.c_proj.bias")})
        self.V = self.wte.shape[0]

    def embed(self, tokens, positions):
        return self.wte[tokens] + self.wpe[positions]

    def block(self, x, l, mask, head_keep=None, past=None):
        """x (B, T, C) -> (B, T, C).  mask: additive (B or 1, 1, T, T_keys); head_keep:
        (B, H) 0/1 multiplying each head's z (zero ablation); past: [K, V] of this block,
        (B, H, T_past, D) each, extended in place."""
        w = self.blocks[l]
        B, T, C = x.shape
        h = F.layer_norm(x, (C,), w["ln_1.weight"], w["ln_1.bias"], self.eps)
        qkv = torch.addmm(w["attn.c_attn.bias"], h.reshape(B * T, C), w["attn.c_attn.weight"]).view(B, T, 3, self.H, self.D)
        q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
        if past is not None:
            if past[0] is not None:
                k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
            past[0], past[1] = k, v
        att = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(self.D)) + mask, dim=-1)
        z = att @ v                                     # (B, H, T, D)
        if head_keep is not None:
            z = z * head_keep[:, :, None, None]
        z = z.transpose(1, 2).reshape(B * T, C)
        x = x + torch.addmm(w["attn.c_proj.bias"], z, w["attn.c_proj.weight"]).view(B, T, C)
        h = F.layer_norm(x, (C,), w["ln_2.weight"], w["ln_2.bias"], self.eps).reshape(B * T, C)
        h = F.gelu(torch.addmm(w["mlp.c_fc.bias"], h, w["mlp.c_fc.weight"]), approximate="tanh")
        return x + torch.addmm(w["mlp.c_proj.bias"], h, w["mlp.c_proj.weight"]).view(B, T, C)

    def logits(self, rows):
        """rows (R, C) of the residual stream -> (R, V)."""
        return F.linear(F.layer_norm(rows, (self.C,), self.lnf[0], self.lnf[1], self.eps), self.lm)


def causal_mask(T):
    return torch.triu(torch.full((T, T), NEG), 1)[None, None]


# ----------------------------------------------------------------------------------------
# inputs: gentasks records, tokenized by bin/tokenize (the tools' own tokenizer)

def run_tool(bin_dir, tool, args, stdin_text):
    r = subprocess.run([os.path.join(bin_dir, tool)] + args, input=stdin_text, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("peer_torch: %s %s failed (%d): %s" % (tool, " ".join(args), r.returncode, r.stderr[-500:]))
    return r.stdout


def tokenize(bin_dir, model_dir, texts, bos):
    lines = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    args = ["--model", model_dir] + ([] if bos else ["--no-bos"])
    return [json.loads(l)["tokens"] for l in run_tool(bin_dir, "tokenize", args, lines).splitlines()]


class Record:
    pass


def make_records(bin_dir, model_dir, text):
    raw = [json.loads(l) for l in text.splitlines() if l.strip()]
    prompts = tokenize(bin_dir, model_dir, [r["prompt"] for r in raw], True)
    answers = tokenize(bin_dir, model_dir, [r.get("separator", " ") + r.get("answer", "") for r in raw], False)
    corrupt = tokenize(bin_dir, model_dir, [r.get("corrupt_prompt", r["prompt"]) for r in raw], True)
    wrong = tokenize(bin_dir, model_dir, [r.get("separator", " ") + r.get("wrong_answer", "x") for r in raw], False)
    out = []
    for i, r in enumerate(raw):
        rec = Record()
        rec.raw, rec.prompt, rec.answer, rec.corrupt, rec.wrong = r, prompts[i], answers[i], corrupt[i], wrong[i]
        out.append(rec)
    return out


def sweep_configs(name, L):
    """The configurations of a named sweep, intact first (docs/tools.md)."""
    intact = list(range(L))
    if name == "drop-last":
        return [intact] + [list(range(n)) for n in range(L - 1, -1, -1)]
    if name == "skip-one":
        return [intact] + [[b for b in intact if b != i] for i in range(L)]
    raise ValueError(name)


# ----------------------------------------------------------------------------------------
# the jobs in PyTorch; each returns the figures to check against ours

def padded(seqs, pad=0):
    T = max(len(s) for s in seqs)
    return torch.tensor([s + [pad] * (T - len(s)) for s in seqs]), T


def answer_rows(recs, prompts):
    """(batch index, position, target) of every answer row, record by record."""
    bi, pos, tgt, owner = [], [], [], []
    for i, r in enumerate(recs):
        P = len(prompts[i])
        for j, t in enumerate(r.answer):
            bi.append(i), pos.append(P - 1 + j), tgt.append(t), owner.append(i)
    return torch.tensor(bi), torch.tensor(pos), torch.tensor(tgt), owner


def mean_losses(nll, owner, n):
    s, c = [0.0] * n, [0] * n
    for v, o in zip(nll.tolist(), owner):
        s[o] += v
        c[o] += 1
    return [s[i] / c[i] for i in range(n)]


def intact_resids(m, tokens, T):
    """The residual stream entering each block and after the last: L + 1 of (B, T, C)."""
    mask = causal_mask(T)
    x = m.embed(tokens, torch.arange(T)[None])
    res = [x]
    for l in range(m.L):
        x = m.block(x, l, mask)
        res.append(x)
    return res, mask


def torch_drop_last(m, recs):
    seqs = [r.prompt + r.answer for r in recs]
    tokens, T = padded(seqs)
    res, _ = intact_resids(m, tokens, T)
    bi, pos, tgt, owner = answer_rows(recs, [r.prompt for r in recs])
    cfgs = sweep_configs("drop-last", m.L)
    rows = torch.cat([res[len(c)][bi, pos] for c in cfgs])          # every configuration's answer rows
    nll = F.cross_entropy(m.logits(rows), tgt.repeat(len(cfgs)), reduction="none")
    k = len(tgt)
    # per record x configuration, in the tools' order (record-major)
    per_cfg = [mean_losses(nll[c * k:(c + 1) * k], owner, len(recs)) for c in range(len(cfgs))]
    return [per_cfg[c][i] for i in range(len(recs)) for c in range(len(cfgs))]


def torch_ablate_heads(m, recs):
    seqs = [r.prompt + r.answer for r in recs]
    tokens, T = padded(seqs)
    res, mask = intact_resids(m, tokens, T)
    B, H = len(recs), m.H
    bi, pos, tgt, owner = answer_rows(recs, [r.prompt for r in recs])
    out = {("intact", i): v for i, v in enumerate(mean_losses(
        F.cross_entropy(m.logits(res[m.L][bi, pos]), tgt, reduction="none"), owner, B))}
    for l in range(m.L):
        x = res[l].repeat(H, 1, 1)                                   # copy h ablates head h
        keep = torch.ones(H * B, H)
        for h in range(H):
            keep[h * B:(h + 1) * B, h] = 0
        x = m.block(x, l, mask, head_keep=keep)
        for l2 in range(l + 1, m.L):
            x = m.block(x, l2, mask)
        rows = torch.cat([x[h * B + bi, pos] for h in range(H)])
        nll = F.cross_entropy(m.logits(rows), tgt.repeat(H), reduction="none")
        k = len(tgt)
        for h in range(H):
            for i, v in enumerate(mean_losses(nll[h * k:(h + 1) * k], owner, B)):
                out[((l, h), i)] = v
    order = ["intact"] + [(l, h) for l in range(m.L) for h in range(H)]
    return [out[(c, i)] for i in range(B) for c in order]


def torch_patch_sweep(m, recs):
    """resid_pre patching: each (block, prompt position) cell restarts from the patched
    block with the clean run's residual at that position; answer_loss and logit_diff."""
    B = len(recs)
    clean, T = padded([r.prompt + r.answer for r in recs])
    corr, _ = padded([r.corrupt + r.answer for r in recs])
    res_clean, mask = intact_resids(m, clean, T)
    res_corr, _ = intact_resids(m, corr, T)
    cells = [(i, p) for i in range(B) for p in range(len(recs[i].corrupt))]
    ci = torch.tensor([c[0] for c in cells])
    cp = torch.tensor([c[1] for c in cells])
    # answer rows of each cell's sequence
    rb, rp, rt, rowner = [], [], [], []
    for n, (i, p) in enumerate(cells):
        P = len(recs[i].corrupt)
        for j, t in enumerate(recs[i].answer):
            rb.append(n), rp.append(P - 1 + j), rt.append(t), rowner.append(n)
    rb, rp, rt = torch.tensor(rb), torch.tensor(rp), torch.tensor(rt)
    first = [k for k in range(len(rowner)) if k == 0 or rowner[k - 1] != rowner[k]]
    good = torch.tensor([recs[i].answer[0] for i, _ in cells])
    bad = torch.tensor([recs[i].wrong[0] for i, _ in cells])
    out = {}
    for l in range(m.L):
        x = res_corr[l][ci].clone()
        x[torch.arange(len(cells)), cp] = res_clean[l][ci, cp]
        for l2 in range(l, m.L):
            x = m.block(x, l2, mask)
        lg = m.logits(x[rb, rp])
        loss = mean_losses(F.cross_entropy(lg, rt, reduction="none"), rowner, len(cells))
        lf = lg[torch.tensor(first)]
        diff = (lf[torch.arange(len(cells)), good] - lf[torch.arange(len(cells)), bad]).tolist()
        for n, (i, p) in enumerate(cells):
            out[(i, l, p)] = (loss[n], diff[n])
    return [out[(i, l, p)] for i in range(B) for l in range(m.L) for p in range(len(recs[i].corrupt))]


def torch_topk(m, recs, k=10):
    tokens, T = padded([r.prompt for r in recs])
    res, mask = intact_resids(m, tokens, T)
    last = torch.tensor([len(r.prompt) - 1 for r in recs])
    bi = torch.arange(len(recs))
    cfg_rows = [res[m.L][bi, last]]
    for i in range(m.L):                    # skip i: from the residual entering block i
        x = res[i]
        for l in range(i + 1, m.L):
            x = m.block(x, l, mask)
        cfg_rows.append(x[bi, last])
    lp = torch.log_softmax(m.logits(torch.cat(cfg_rows)), -1)
    n = len(recs)
    ref = lp[:n].repeat(len(cfg_rows), 1)
    kl = (ref.exp() * (ref - lp)).sum(-1)   # KL(intact || configuration), as topk writes it
    top = torch.topk(lp, k, dim=-1)
    vals = top.values.view(len(cfg_rows), n, k)
    del kl
    return [vals[c, i].tolist() for i in range(n) for c in range(len(cfg_rows))]


def torch_generate(m, recs, configs, max_tokens, top_k=0, temperature=0.0, seed=1):
    """Every configuration in turn over all prompts (left-padded, one batch, a KV cache per
    block); greedy, or top-k sampling.  Returns the completion tokens, record-major."""
    gen = torch.Generator().manual_seed(seed)
    prompts = [r.prompt for r in recs]
    B, P = len(prompts), max(len(p) for p in prompts)
    tokens = torch.tensor([[0] * (P - len(p)) + p for p in prompts])
    valid = torch.tensor([[0] * (P - len(p)) + [1] * len(p) for p in prompts], dtype=torch.bool)
    pos0 = (valid.cumsum(1) - 1).clamp(min=0)
    out = {}
    for c, cfg in enumerate(configs):
        keys = valid.clone()
        mask = causal_mask(P) + torch.where(keys, 0.0, NEG)[:, None, None, :]
        caches = [[None, None] for _ in cfg]
        x = m.embed(tokens, pos0)
        for j, l in enumerate(cfg):
            x = m.block(x, l, mask, past=caches[j])
        pos = pos0[:, -1]
        seqs = [[] for _ in range(B)]
        for step in range(max_tokens):
            lg = m.logits(x[:, -1])
            if temperature > 0:
                lg = lg / temperature
                if top_k > 0:
                    v, ix = torch.topk(lg, top_k, dim=-1)
                    nxt = ix.gather(1, torch.multinomial(torch.softmax(v, -1), 1, generator=gen)).squeeze(1)
                else:
                    nxt = torch.multinomial(torch.softmax(lg, -1), 1, generator=gen).squeeze(1)
            else:
                nxt = lg.argmax(-1)
            for b in range(B):
                seqs[b].append(int(nxt[b]))
            if step == max_tokens - 1:
                break
            pos = pos + 1
            keys = torch.cat([keys, torch.ones(B, 1, dtype=torch.bool)], 1)
            mask = torch.where(keys, 0.0, NEG)[:, None, None, :]
            x = m.embed(nxt[:, None], pos[:, None])
            for j, l in enumerate(cfg):
                x = m.block(x, l, mask, past=caches[j])
        for b in range(B):
            out[(b, c)] = seqs[b]
    return [out[(b, c)] for b in range(B) for c in range(len(configs))]


# ----------------------------------------------------------------------------------------
# checking PyTorch against our output

def check_job(name, m, recs, ours_text):
    ours = [json.loads(l) for l in ours_text.splitlines()]
    if name == "drop-last":
        got, want = torch_drop_last(m, recs), [o["answer_loss"] for o in ours]
    elif name == "ablate-heads":
        got, want = torch_ablate_heads(m, recs), [o["answer_loss"] for o in ours]
    elif name == "patch-sweep":
        pairs = torch_patch_sweep(m, recs)
        got = [v for p in pairs for v in p]
        want = [v for o in ours for v in (o["answer_loss"], o["logit_diff"])]
    elif name == "topk skip-one":
        got = [v for row in torch_topk(m, recs) for v in row]
        want = [t["logprob"] for o in ours for t in o["topk"]]
    elif name == "skip-one generation":
        got = torch_generate(m, recs, sweep_configs("skip-one", m.L), 20)
        want = [o["completion_tokens"] for o in ours]
        same = sum(g[:len(w)] == w for g, w in zip(got, want))
        return same == len(want) and len(got) == len(want), "%d/%d greedy completions token for token" % (same, len(want))
    else:   # sampled: different generators, nothing to compare but the shape of the work
        got = torch_generate(m, recs, sweep_configs("drop-last", m.L), 20, top_k=40, temperature=1.0)
        n_ours = sum(len(o["completion_tokens"]) for o in ours)
        return len(got) == len(ours), "sampled: %d streams, %d tokens (ours %d); not comparable token for token" % (
            len(got), sum(map(len, got)), n_ours)
    if len(got) != len(want):
        return False, "%d values, ours %d" % (len(got), len(want))
    diff = max(abs(a - b) for a, b in zip(got, want))
    return diff <= TOL, "max |diff| %.2g over %d values" % (diff, len(want))


def torch_job(name, m, recs):
    if name == "drop-last":
        torch_drop_last(m, recs)
    elif name == "ablate-heads":
        torch_ablate_heads(m, recs)
    elif name == "patch-sweep":
        torch_patch_sweep(m, recs)
    elif name == "topk skip-one":
        torch_topk(m, recs)
    elif name == "skip-one generation":
        torch_generate(m, recs, sweep_configs("skip-one", m.L), 20)
    else:
        torch_generate(m, recs, sweep_configs("drop-last", m.L), 20, top_k=40, temperature=1.0)


# ----------------------------------------------------------------------------------------
# main

def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def busy_seconds():
    """CPU seconds of everything on the machine since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="build/bench/gpt2-random")
    ap.add_argument("--bin", default="bin")
    ap.add_argument("--reps", type=int, default=3, help="rounds of (ours, torch); the best of each is kept")
    ap.add_argument("--quick", action="store_true", help="smaller inputs (a smoke run)")
    ap.add_argument("--jobs", default="", help="comma-separated job names (default: all)")
    ap.add_argument("--json", default="", help="also write the rows as NDJSON to FILE")
    ap.add_argument("--torch-threads", type=int, default=0, help="torch's threads (default: the number of CPUs)")
    a = ap.parse_args()
    ncpu = os.cpu_count() or 1
    torch.set_num_threads(a.torch_threads or ncpu)
    torch.set_grad_enabled(False)
    wanted = [j for j in JOBS if not a.jobs or j[0] in a.jobs.split(",")]
    if not wanted:
        raise SystemExit("peer_torch: no job named in --jobs; known: " + ", ".join(j[0] for j in JOBS))
    m = GPT2(a.model)
    t_start, busy0 = time.time(), busy_seconds()
    self0 = os.times()
    jobs = []
    for name, tasks, quick_tasks, tool, args in wanted:
        text = run_tool(a.bin, "gentasks", quick_tasks if a.quick else tasks, "")
        recs = make_records(a.bin, a.model, text)
        argv = [os.path.join(a.bin, tool), "--model", a.model] + args
        cmd = "gentasks %s | %s %s" % (" ".join(quick_tasks if a.quick else tasks), tool, " ".join(args))
        jobs.append({"name": name, "cmd": cmd, "records": len(recs), "recs": recs, "text": text, "argv": argv,
                     "ours": [], "torch": [], "ours_cpu": [], "torch_cpu": [], "agrees": False,
                     "check": ""})
    # interleaved: ours, torch, ours, torch ...  The first round keeps our output and checks
    # PyTorch's results against it (the comparison's cost is negligible beside the job).
    with tempfile.TemporaryFile("w+") as inp, tempfile.TemporaryFile("w+") as outp:
        for r in range(a.reps):
            for j in jobs:
                inp.seek(0), inp.truncate(), inp.write(j["text"]), inp.flush(), inp.seek(0)
                outp.seek(0), outp.truncate()
                c0, t0 = cpu_seconds(resource.RUSAGE_CHILDREN), time.perf_counter()
                rc = subprocess.run(j["argv"], stdin=inp, stdout=outp if r == 0 else subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL).returncode
                j["ours"].append(time.perf_counter() - t0)
                j["ours_cpu"].append(cpu_seconds(resource.RUSAGE_CHILDREN) - c0)
                if rc != 0:
                    raise SystemExit("peer_torch: %s exited %d" % (j["cmd"], rc))
                c0, t0 = cpu_seconds(resource.RUSAGE_SELF), time.perf_counter()
                if r == 0:
                    outp.seek(0)
                    j["agrees"], j["check"] = check_job(j["name"], m, j["recs"], outp.read())
                    print("check %-20s %s  %s" % (j["name"], "agrees" if j["agrees"] else "DISAGREES", j["check"]),
                          flush=True)
                else:
                    torch_job(j["name"], m, j["recs"])
                j["torch"].append(time.perf_counter() - t0)
                j["torch_cpu"].append(cpu_seconds(resource.RUSAGE_SELF) - c0)
                print("round %d/%d %-20s ours %.2f s  torch %.2f s" % (r + 1, a.reps, j["name"], j["ours"][-1],
                                                                     j["torch"][-1]), file=sys.stderr, flush=True)
    seconds = time.time() - t_start
    self1 = os.times()
    ours_cpu = (self1.user + self1.system + self1.children_user + self1.children_system) - (
        self0.user + self0.system + self0.children_user + self0.children_system)
    others = max(0.0, (busy_seconds() - busy0 - ours_cpu) / seconds)
    print("\nautointerp vs PyTorch eager, %s" % time.strftime("%Y-%m-%d %H:%M %Z"))
    print("machine: %s, %d CPUs; torch %s, %d threads; model %s (L=%d C=%d H=%d V=%d)" % (
        cpu_name(), ncpu, torch.__version__, torch.get_num_threads(), a.model, m.L, m.C, m.H, m.V))
    print("best of %d interleaved rounds (ours, torch, ours, torch ...); speed-up = torch s / ours s;" % a.reps)
    print("cpu s: CPU seconds (user + system, all threads) of the fastest round by CPU time\n")
    print("%-22s %7s %9s %9s %10s %10s %8s %9s %9s  %s" % ("job", "records", "ours s", "torch s", "ours rec/s",
                                                          "torch rec/s", "speed-up", "ours cpu", "torch cpu", "check"))
    rows = []
    for j in jobs:
        o, t = min(j["ours"]), min(j["torch"])
        oc, tc = min(j["ours_cpu"]), min(j["torch_cpu"])
        print("%-22s %7d %9.2f %9.2f %10.2f %10.2f %7.2fx %9.2f %9.2f  %s" % (
            j["name"], j["records"], o, t, j["records"] / o, j["records"] / t, t / o, oc, tc, j["check"]))
        rows.append({"job": j["name"], "command": j["cmd"], "records": j["records"], "ours_s": o, "torch_s": t,
                     "ours_cpu_s": oc, "torch_cpu_s": tc,
                     "ours_runs": j["ours"], "torch_runs": j["torch"], "speedup": t / o, "agrees": j["agrees"],
                     "check": j["check"]})
    print("\npeer_torch took %.0f s; other processes used %.2f of the %d CPUs on average meanwhile%s" % (
        seconds, others, ncpu, "\nWARNING: the machine was shared; ratios from the same run, times are lower bounds"
        if others > 0.25 else ""))
    if a.json:
        with open(a.json, "w") as f:
            f.write(json.dumps({"bench": "peer_torch", "date": time.strftime("%Y-%m-%d %H:%M %Z"), "cpu": cpu_name(),
                                "cpus": ncpu, "torch": torch.__version__, "threads": torch.get_num_threads(),
                                "reps": a.reps, "seconds": seconds, "others_cpus": others}) + "\n")
            for r in rows:
                f.write(json.dumps(r) + "\n")
    if not all(j["agrees"] for j in jobs):
        print("peer_torch: PyTorch and ours DISAGREE on a job (see check); the ratios compare different work",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
