#!/usr/bin/python3
"""NumPy reference for the experiment tools' numbers (scoreloss, topk, runlayers).

  tools_ref.py MODEL_DIR scoreloss OUT.ndjson TOKENS.ndjson
  tools_ref.py MODEL_DIR topk OUT.ndjson TOKENS.ndjson K
  tools_ref.py MODEL_DIR runlayers OUT.ndjson TOKENS.ndjson

OUT.ndjson is the tool's output; TOKENS.ndjson maps each record "id" to its prompt token
ids ("prompt_ids", BOS included) and answer token ids ("answer_ids"), as produced by the
test from `tokenize` (whose parity with the reference encoder is tested on its own).
Prints one PASS/FAIL line per output record and check.  The forward pass is
gpt2_ref.forward (float64), written independently of the C code.
"""
import json
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import gpt2_ref  # noqa: E402

TOL = 1e-3


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def report(name, ok, detail=""):
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))
    return ok


def check_scoreloss(m, recs, toks):
    for r in recs:
        t = toks[r["id"]]
        p, a = t["prompt_ids"], t["answer_ids"]
        lp = log_softmax(gpt2_ref.forward(m, r["layers"], p + a))
        rows = lp[len(p) - 1:len(p) - 1 + len(a)]
        losses = -rows[np.arange(len(a)), a]
        name = "scoreloss id=%s %s" % (r["id"], r["label"])
        got = np.array(r["answer_token_losses"])
        report(name + " token losses", got.shape == losses.shape and np.abs(got - losses).max() <= TOL,
               "got %s want %s" % (got, losses))
        report(name + " mean loss", abs(r["answer_loss"] - losses.mean()) <= TOL,
               "got %s want %s" % (r["answer_loss"], losses.mean()))
        # exact: each answer token is the argmax; only judged where the top-2 gap is clear
        margins = np.sort(rows, -1)[:, -1] - np.sort(rows, -1)[:, -2]
        if margins.min() > 1e-4:
            want = bool(all(rows[i].argmax() == a[i] for i in range(len(a))))
            report(name + " exact", r["answer_exact"] == want, "got %s want %s" % (r["answer_exact"], want))


def check_topk(m, recs, toks, k):
    intact = list(range(m.L))
    for r in recs:
        t = toks[r["id"]]
        p = t["prompt_ids"]
        pos = r["position"]
        lp = log_softmax(gpt2_ref.forward(m, r["layers"], p))[pos]
        ref = log_softmax(gpt2_ref.forward(m, intact, p))[pos]
        name = "topk id=%s %s pos %d" % (r["id"], r["label"], pos)
        got_ids = [e["id"] for e in r["topk"]]
        want_ids = list(np.argsort(-lp, kind="stable")[:k])
        # ids must match wherever the reference's neighbours are separated by more than TOL
        s = np.sort(lp)[::-1]
        clear = [i for i in range(k) if (i == 0 or s[i - 1] - s[i] > TOL) and (i + 1 >= len(s) or s[i] - s[i + 1] > TOL)]
        report(name + " top-k ids", all(got_ids[i] == want_ids[i] for i in clear), "got %s want %s" % (got_ids, want_ids))
        report(name + " top-k probs", all(abs(e["prob"] - np.exp(lp[e["id"]])) <= 1e-6 + 1e-3 * np.exp(lp[e["id"]])
                                          for e in r["topk"]), str(r["topk"][:2]))
        kl = float((np.exp(ref) * (ref - lp)).sum())
        report(name + " kl", abs(r["kl_from_intact"] - kl) <= 1e-5 + 1e-3 * kl, "got %s want %s" % (r["kl_from_intact"], kl))
        for e in r["rose"] + r["fell"]:
            if abs(e["delta_logprob"] - (lp[e["id"]] - ref[e["id"]])) > TOL:
                report(name + " rose/fell deltas", False, str(e))
                break
        else:
            report(name + " rose/fell deltas", True)
        report(name + " rose positive, fell negative",
               all(e["delta_logprob"] > 0 for e in r["rose"]) and all(e["delta_logprob"] < 0 for e in r["fell"]))
        if "answer_rank" in r:
            a0 = t["answer_ids"][0]
            rank = int((lp > lp[a0]).sum()) + 1
            report(name + " answer rank", abs(r["answer_rank"] - rank) <= 1 if np.sort(np.abs(lp - lp[a0]))[1] < TOL
                   else r["answer_rank"] == rank, "got %s want %s" % (r["answer_rank"], rank))


def check_runlayers(m, recs, toks):
    for r in recs:
        seq = list(toks[r["id"]]["prompt_ids"])
        want, clear = [], True
        for _ in range(len(r["completion_tokens"])):
            row = gpt2_ref.forward(m, r["layers"], seq)[-1]
            s = np.sort(row)
            clear = clear and s[-1] - s[-2] > 1e-4
            nxt = int(np.argmax(row))
            want.append(nxt)
            seq.append(nxt)
        name = "runlayers id=%s %s greedy tokens" % (r["id"], r["label"])
        if clear:
            report(name, r["completion_tokens"] == want, "got %s want %s" % (r["completion_tokens"], want))
        else:
            report(name + " (near tie: first token)", r["completion_tokens"][:1] == want[:1], "got %s want %s" % (r["completion_tokens"], want))


def main():
    d, tool, out, tokfile = sys.argv[1:5]
    m = gpt2_ref.Model(d)
    recs = [json.loads(line) for line in open(out) if line.strip()]
    recs = [r for r in recs if "error" not in r]
    toks = {}
    for line in open(tokfile):
        t = json.loads(line)
        toks[t["id"]] = t
    if not recs:
        report("records to check", False, "none")
    elif tool == "scoreloss":
        check_scoreloss(m, recs, toks)
    elif tool == "topk":
        check_topk(m, recs, toks, int(sys.argv[5]))
    elif tool == "runlayers":
        check_runlayers(m, recs, toks)


if __name__ == "__main__":
    main()
