#!/usr/bin/python3
"""NumPy reference for the interventions of scoreloss/topk (docs/interp.md): hooks,
activation patching, zero/mean ablation, logit and tuned lens, activation dumps.

  interp_ref.py MODEL_DIR scoreloss OUT.ndjson TOKENS.ndjson [--patch JSON] [--means MEANS.ndjson]
  interp_ref.py MODEL_DIR topk OUT.ndjson TOKENS.ndjson [--patch JSON] [--means MEANS.ndjson] [--tuned LENS.bin]
  interp_ref.py MODEL_DIR dump OUT.ndjson TOKENS.ndjson FILE.npz [--patch JSON]
  interp_ref.py MODEL_DIR tunedfit LENS.bin CORPUS_TOKENS.ndjson RIDGE

TOKENS.ndjson maps each record "id" to "prompt_ids" (BOS included), "answer_ids",
"corrupt_ids" (the corrupted prompt, BOS included) and "wrong_id" (first token of
separator + wrong_answer), as the test builds them with `tokenize`.  MEANS.ndjson holds
{"prompt_ids": [...]} lines: the reference set of mean ablation.  Every output record is
recomputed from its own fields ("layers", "ablated", the patch-sweep cell, "lens_depth")
and compared; one PASS/FAIL line per record and check.

Independent of the C code: the forward pass is gpt2_ref's (float64), with hooks added
here at the TransformerLens points.  Zero-ablating head h zeroes its slice of z (the
attention output before c_proj); an MLP/attention ablation replaces hook_mlp_out /
hook_attn_out; patching copies the clean run's activation of the same slot.
"""
import argparse
import json
import math
import struct
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import gpt2_ref  # noqa: E402
from gpt2_ref import gelu_new, layernorm  # noqa: E402

TOL = 1e-3
POINTS = ["resid_pre", "z", "attn_out", "resid_mid", "mlp_out", "resid_post"]
COMPONENT_POINT = {"head": "z", "attn": "attn_out", "mlp": "mlp_out"}


FAILED = []


def report(name, ok, detail=""):
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))
    if not ok:
        FAILED.append(name)
    return ok


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


# ----------------------------------------------------------------------------- hooked forward

def block(m, l, x, hook):
    T, C = x.shape
    NH, hs = m.NH, C // m.NH
    x = hook("resid_pre", l, x)
    h = layernorm(x, m.w(l, "ln_1.weight"), m.w(l, "ln_1.bias"), m.eps)
    qkv = h @ m.w(l, "attn.c_attn.weight") + m.w(l, "attn.c_attn.bias")
    q, k, v = np.split(qkv, 3, axis=1)
    q = q.reshape(T, NH, hs).transpose(1, 0, 2)
    k = k.reshape(T, NH, hs).transpose(1, 0, 2)
    v = v.reshape(T, NH, hs).transpose(1, 0, 2)
    att = q @ k.transpose(0, 2, 1) / math.sqrt(hs)
    att = np.where(np.tril(np.ones((T, T), dtype=bool)), att, -np.inf)
    att = np.exp(att - att.max(-1, keepdims=True))
    att /= att.sum(-1, keepdims=True)
    z = hook("z", l, (att @ v).transpose(1, 0, 2).reshape(T, C))
    a = hook("attn_out", l, z @ m.w(l, "attn.c_proj.weight") + m.w(l, "attn.c_proj.bias"))
    x = hook("resid_mid", l, x + a)
    h = layernorm(x, m.w(l, "ln_2.weight"), m.w(l, "ln_2.bias"), m.eps)
    h = gelu_new(h @ m.w(l, "mlp.c_fc.weight") + m.w(l, "mlp.c_fc.bias"))
    mo = hook("mlp_out", l, h @ m.w(l, "mlp.c_proj.weight") + m.w(l, "mlp.c_proj.bias"))
    return hook("resid_post", l, x + mo)


class Run:
    """One forward pass with ablations, patches (from `source`, keyed by (slot, point)) and
    capture of every point per slot."""

    def __init__(self, m, ablations=(), means=None, patches=(), source=None):
        self.m, self.ablations, self.means = m, list(ablations), means
        self.patches, self.source = list(patches), source
        self.acts = {}
        self.slot = 0

    def hook(self, point, l, act):
        act = act.copy()
        hs = self.m.C // self.m.NH
        for a in self.ablations:
            if a["layer"] != l or COMPONENT_POINT[a["component"]] != point:
                continue
            cols = slice(a["head"] * hs, (a["head"] + 1) * hs) if a["component"] == "head" else slice(None)
            act[:, cols] = self.means[point][l][cols] if a.get("mode") == "mean" else 0.0
        for p in self.patches:
            if p["layer"] != l or p["point"] != point:
                continue
            src = self.source[(self.slot, point)]
            rows = slice(None) if p.get("position") is None else slice(p["position"], p["position"] + 1)
            cols = slice(p["head"] * hs, (p["head"] + 1) * hs) if p.get("head") is not None else slice(None)
            act[rows, cols] = src[rows, cols]
        self.acts[(self.slot, point)] = act
        return act

    def forward(self, layers, tokens):
        m = self.m
        x = m.wte[tokens] + m.wpe[np.arange(len(tokens))]
        self.embed = x
        for s, l in enumerate(layers):
            self.slot = s
            x = block(m, l, x, self.hook)
        self.final = x
        return x


def logits_of(m, x):
    return layernorm(x, m.t["ln_f.weight"], m.t["ln_f.bias"], m.eps) @ m.lm_head.T


def means_of(m, prompts):
    """Mean z / attn_out / mlp_out per block over every position of every prompt (intact)."""
    sums = {p: np.zeros((m.L, m.C)) for p in ("z", "attn_out", "mlp_out")}
    n = 0
    for ids in prompts:
        r = Run(m)
        r.forward(range(m.L), ids)
        for (slot, point), act in r.acts.items():
            if point in sums:
                sums[point][slot] += act.sum(0)
        n += len(ids)
    return {p: s / n for p, s in sums.items()}


def patch_sites(spec, n_prompt):
    out = []
    for p in spec:
        hook = p["hook"][5:] if p["hook"].startswith("hook_") else p["hook"]
        pos = p.get("position")
        if pos is not None and pos < 0:
            pos += n_prompt
        out.append({"point": "z" if hook == "head" else hook, "layer": p["layer"], "head": p.get("head"), "position": pos})
    return out


# ----------------------------------------------------------------------------- scoreloss

def answer_scores(m, x, t, r):
    p, a = t["prompt_ids"], t["answer_ids"]
    lg = logits_of(m, x)
    lp = log_softmax(lg)
    losses = -lp[np.arange(len(p) - 1, len(p) - 1 + len(a)), a]
    row = lg[len(p) - 1]
    ld = row[a[0]] - row[t["wrong_id"]] if "wrong_answer" in r else None
    return losses, ld


def sites_of_record(r, t, cli_patch):
    if "patch_hook" in r:
        return [{"point": "z" if r["patch_hook"] == "head" else r["patch_hook"], "layer": r["layer"],
                 "head": r.get("head"), "position": r.get("position")}]
    spec = r.get("patch", cli_patch)
    return patch_sites(spec or [], len(t["prompt_ids"]))


def check_scoreloss(m, recs, toks, cli_patch, means):
    baselines = {}
    for r in recs:
        t = toks[r["id"]]
        seq = t["prompt_ids"] + t["answer_ids"]
        abl = r.get("ablated", [])
        name = "scoreloss id=%s %s" % (r["id"], r["label"])
        if "patch_effect" in r:
            sites = sites_of_record(r, t, cli_patch)
            name += " patch %s" % json.dumps(sites)
            cseq = t["corrupt_ids"] + t["answer_ids"]
            key = (r["id"], tuple(r["layers"]), json.dumps(abl))
            if key not in baselines:   # the clean and corrupted runs of a sweep's cells are shared
                clean = Run(m, abl, means)
                clean_x = clean.forward(r["layers"], seq)
                baselines[key] = (clean, clean_x, Run(m, abl, means).forward(r["layers"], cseq))
            clean, clean_x, corrupt_x = baselines[key]
            x = Run(m, abl, means, sites, clean.acts).forward(r["layers"], cseq)
            cl, cld = answer_scores(m, clean_x, t, r)
            kl, kld = answer_scores(m, corrupt_x, t, r)
            losses, ld = answer_scores(m, x, t, r)
            report(name + " clean loss", abs(r["clean_answer_loss"] - cl.mean()) <= TOL, "%s vs %s" % (r["clean_answer_loss"], cl.mean()))
            report(name + " corrupt loss", abs(r["corrupt_answer_loss"] - kl.mean()) <= TOL, "%s vs %s" % (r["corrupt_answer_loss"], kl.mean()))
            metric = (ld, cld, kld) if ld is not None else (losses.mean(), cl.mean(), kl.mean())
            den = metric[1] - metric[2]
            if abs(den) > 1e-2:
                eff = (metric[0] - metric[2]) / den
                report(name + " patch effect", abs(r["patch_effect"] - eff) * abs(den) <= 2 * TOL,
                       "got %s want %s" % (r["patch_effect"], eff))
        else:
            x = Run(m, abl, means).forward(r["layers"], seq)
            losses, ld = answer_scores(m, x, t, r)
        got = np.array(r["answer_token_losses"])
        report(name + " token losses", got.shape == losses.shape and np.abs(got - losses).max() <= TOL,
               "got %s want %s" % (got, losses))
        if ld is not None:
            report(name + " logit_diff", abs(r["logit_diff"] - ld) <= TOL, "got %s want %s" % (r["logit_diff"], ld))


# ----------------------------------------------------------------------------- topk

def load_tuned(path, L, C):
    raw = open(path, "rb").read()
    magic, version, n, c = struct.unpack("<4sIII", raw[:16])
    assert magic == b"TLNS" and version == 1 and n == L and c == C, (magic, version, n, c)
    per = C * C + C
    vals = np.frombuffer(raw[16:], dtype="<f4").astype(np.float64).reshape(L, per)
    return [(v[:C * C].reshape(C, C), v[C * C:]) for v in vals]


def check_topk(m, recs, toks, cli_patch, means, tuned):
    intact = list(range(m.L))
    for r in recs:
        t = toks[r["id"]]
        pos, abl = r["position"], r.get("ablated", [])
        p = t["prompt_ids"]
        ref = log_softmax(logits_of(m, Run(m).forward(intact, p)))[pos]
        patching = "corrupt_ids" in t and (cli_patch is not None or "patch" in r)
        run_tokens = t["corrupt_ids"] if patching else p
        source = None
        if patching:
            clean = Run(m, abl, means)
            clean.forward(r["layers"], p)
            source = clean.acts
        run = Run(m, abl, means, sites_of_record(r, t, cli_patch) if patching else [], source)
        x = run.forward(r["layers"], run_tokens)
        d = r.get("lens_depth", len(r["layers"]))
        if d < len(r["layers"]):
            x = run.embed if d == 0 else run.acts[(d - 1, "resid_post")]
            if d == 0 and (0, "resid_pre") in run.acts:
                x = run.acts[(0, "resid_pre")]
        if r.get("lens") == "tuned":
            W, b = tuned[d - 1]
            x = x @ W + b
        lp = log_softmax(logits_of(m, x))[pos]
        name = "topk id=%s %s pos %d%s" % (r["id"], r["label"], pos, " lens %s depth %d" % (r["lens"], d) if "lens" in r else "")
        s = np.sort(lp)[::-1]
        k = len(r["topk"])
        clear = [i for i in range(k) if (i == 0 or s[i - 1] - s[i] > TOL) and (i + 1 >= len(s) or s[i] - s[i + 1] > TOL)]
        want_ids = list(np.argsort(-lp, kind="stable")[:k])
        got_ids = [e["id"] for e in r["topk"]]
        report(name + " top-k ids", all(got_ids[i] == want_ids[i] for i in clear), "got %s want %s" % (got_ids, want_ids))
        report(name + " top-k logprobs", all(abs(e["logprob"] - lp[e["id"]]) <= TOL for e in r["topk"]), str(r["topk"][:2]))
        kl = float((np.exp(ref) * (ref - lp)).sum())
        report(name + " kl", abs(r["kl_from_intact"] - kl) <= 1e-5 + 1e-3 * kl, "got %s want %s" % (r["kl_from_intact"], kl))
        if "lens" in r:
            want_layer = None if d == 0 else r["layers"][d - 1]
            report(name + " lens_layer", r["lens_layer"] == want_layer, "got %s want %s" % (r["lens_layer"], want_layer))


# ----------------------------------------------------------------------------- dumps

def check_dump(m, recs, toks, npz_path, cli_patch):
    z = np.load(npz_path)
    seen = set()
    for r in recs:
        key = r.get("dump_key")
        if key is None or key in seen:
            continue
        seen.add(key)
        t = toks[r["id"]]
        seq = t["prompt_ids"] + (t["answer_ids"] if "answer_loss" in r else [])
        abl = r.get("ablated", [])
        patching = "patch_effect" in r or ("topk" in r and "corrupt_ids" in t and cli_patch is not None)
        source = None
        if patching:
            clean = Run(m, abl)
            clean.forward(r["layers"], seq)
            source = clean.acts
            seq = t["corrupt_ids"] + seq[len(t["corrupt_ids"]):]
        run = Run(m, abl, None, sites_of_record(r, t, cli_patch) if patching else [], source)
        run.forward(r["layers"], seq)
        names = [n for n in z.files if n.startswith(key + ".")]
        if not r["layers"]:
            report("dump %s: no blocks, no arrays" % key, not names, str(names))
            continue
        report("dump %s has arrays" % key, len(names) > 0, "none named %s.*" % key)
        for n in names:
            rest = n[len(key) + 1:].split(".")   # blocks, L, hook_X[, occurrence]
            l, point = int(rest[1]), rest[2][len("hook_"):]
            occ = int(rest[3]) if len(rest) > 3 else 1
            slots = [s for s, b in enumerate(r["layers"]) if b == l]
            want = run.acts[(slots[occ - 1], point)]
            got = z[n]
            if point == "z":
                ok_shape = got.shape == (len(seq), m.NH, m.C // m.NH)
                got = got.reshape(len(seq), m.C)
            else:
                ok_shape = got.shape == (len(seq), m.C)
            report("dump %s shape %s" % (n, got.shape), ok_shape and got.dtype == np.float32, str(got.shape))
            scale = max(1.0, np.abs(want).max())
            diff = np.abs(got.astype(np.float64) - want).max()
            report("dump %s values" % n, diff <= TOL * scale, "max diff %.3g (scale %.3g)" % (diff, scale))


# ----------------------------------------------------------------------------- tuned lens fit

def check_tunedfit(m, lens_path, corpus_path, ridge):
    """The C fit against NumPy's ridge solution on the same corpus (float64 residuals)."""
    L, C = m.L, m.C
    X = [[] for _ in range(L)]
    for line in open(corpus_path):
        ids = json.loads(line)["ids"]
        run = Run(m)
        run.forward(range(L), ids)
        for l in range(L):
            X[l].append(run.acts[(l, "resid_post")][1:])   # the BOS position is left out
    Y = np.concatenate(X[L - 1])
    got = load_tuned(lens_path, L, C)
    for l in range(L):
        x = np.concatenate(X[l])
        xm, ym = x.mean(0), Y.mean(0)
        sxx = (x - xm).T @ (x - xm)
        lam = ridge * np.trace(sxx) / C
        W = np.linalg.solve(sxx + lam * np.eye(C), (x - xm).T @ (Y - ym))
        b = ym - xm @ W
        pred_ref, pred_got = x @ W + b, x @ got[l][0] + got[l][1]
        scale = np.abs(Y).max()
        diff = np.abs(pred_ref - pred_got).max()
        report("tuned lens layer %d: C fit predicts as NumPy's ridge solution" % l, diff <= 1e-2 * scale,
               "max prediction diff %.3g (scale %.3g)" % (diff, scale))
        report("tuned lens layer %d: W close to NumPy's" % l, np.abs(W - got[l][0]).max() <= 1e-2 * max(1, np.abs(W).max()),
               "max |dW| %.3g" % np.abs(W - got[l][0]).max())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("mode")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--patch")
    ap.add_argument("--means")
    ap.add_argument("--tuned")
    a = ap.parse_args()
    m = gpt2_ref.Model(a.dir)
    if a.mode == "tunedfit":
        check_tunedfit(m, a.files[0], a.files[1], float(a.files[2]))
        return
    recs = [json.loads(line) for line in open(a.files[0]) if line.strip()]
    recs = [r for r in recs if "error" not in r]
    toks = {}
    for line in open(a.files[1]):
        t = json.loads(line)
        toks[t["id"]] = t
    cli_patch = json.loads(a.patch) if a.patch is not None else None
    means = means_of(m, [json.loads(l)["prompt_ids"] for l in open(a.means)]) if a.means else None
    if not recs:
        report("records to check", False, "none")
    elif a.mode == "scoreloss":
        check_scoreloss(m, recs, toks, cli_patch, means)
    elif a.mode == "topk":
        tuned = load_tuned(a.tuned, m.L, m.C) if a.tuned else None
        check_topk(m, recs, toks, cli_patch, means, tuned)
    elif a.mode == "dump":
        check_dump(m, recs, toks, a.files[2], cli_patch)


if __name__ == "__main__":
    main()
    sys.exit(1 if FAILED else 0)
