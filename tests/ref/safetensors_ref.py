#!/usr/bin/python3
"""Independent check of a checkpoint written by our C writer (numpy only, no safetensors).

usage: safetensors_ref.py LABEL DIR DTYPE FLAGS [NAME=DUMPFILE ...]

FLAGS: "-" or a comma list of prefix, untied, masks (as given to the writer).
Checks, against the safetensors format and what transformers' GPT2LMHeadModel writes:
  - u64 header length, header padded with spaces to 8 bytes, compact JSON exactly as the
    official serializer writes it ("__metadata__" {"format": "pt"} first, then tensors
    sorted by name, keys dtype/shape/data_offsets), offsets tiling the data to the end;
  - the exact set of tensor names and shapes for the config (transformer. prefix, tied
    head without lm_head.weight, h.{i}.attn.bias causal masks (1, 1, n_ctx, n_ctx));
  - config.json fields transformers writes for GPT-2;
  - values: finite, LayerNorm weights near but not 1, biases near but not 0, weights
    spread like N(0, 0.02), masks lower-triangular ones;
  - each NAME=DUMPFILE (first N values printed by our C loader, %.9g per line) equals the
    values decoded here, bit for bit.
Prints PASS/FAIL lines; exits 1 on any failure.
"""
import json
import math
import os
import sys

import numpy as np

SIZES = {"F32": 4, "F16": 2, "BF16": 2}
failures = 0


def report(label, ok, detail=""):
    global failures
    if ok:
        print("PASS %s" % label)
    else:
        failures += 1
        print("FAIL %s: %s" % (label, detail))


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def expected_tensors(cfg, prefix, untied, masks):
    """name -> shape, as GPT2LMHeadModel's state dict (Conv1D weights input-major)."""
    L, C, V = cfg["n_layer"], cfg["n_embd"], cfg["vocab_size"]
    T = cfg["n_positions"]
    p = "transformer." if prefix else ""
    want = {p + "wte.weight": [V, C], p + "wpe.weight": [T, C],
            p + "ln_f.weight": [C], p + "ln_f.bias": [C]}
    for i in range(L):
        h = "%sh.%d." % (p, i)
        want.update({
            h + "ln_1.weight": [C], h + "ln_1.bias": [C],
            h + "attn.c_attn.weight": [C, 3 * C], h + "attn.c_attn.bias": [3 * C],
            h + "attn.c_proj.weight": [C, C], h + "attn.c_proj.bias": [C],
            h + "ln_2.weight": [C], h + "ln_2.bias": [C],
            h + "mlp.c_fc.weight": [C, 4 * C], h + "mlp.c_fc.bias": [4 * C],
            h + "mlp.c_proj.weight": [4 * C, C], h + "mlp.c_proj.bias": [C],
        })
        if masks:
            want[h + "attn.bias"] = [1, 1, T, T]
    if untied:
        want["lm_head.weight"] = [V, C]
    return want


def decode(buf, dtype, shape):
    if dtype == "F32":
        a = np.frombuffer(buf, dtype="<f4")
    elif dtype == "F16":
        a = np.frombuffer(buf, dtype="<f2").astype(np.float32)
    elif dtype == "BF16":
        a = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        raise ValueError(dtype)
    return a.reshape(shape)


def main():
    label, d, dtype, flags = sys.argv[1:5]
    dumps = [a.split("=", 1) for a in sys.argv[5:]]
    prefix, untied, masks = ("prefix" in flags), ("untied" in flags), ("masks" in flags)
    p = "transformer." if prefix else ""

    cfg = json.load(open(os.path.join(d, "config.json")))
    report(label + ": config architectures", cfg.get("architectures") == ["GPT2LMHeadModel"], cfg.get("architectures"))
    report(label + ": config gpt2 fields",
           cfg.get("model_type") == "gpt2" and cfg.get("activation_function") == "gelu_new"
           and cfg.get("n_ctx") == cfg.get("n_positions") and cfg.get("layer_norm_epsilon") == 1e-5
           and cfg.get("n_inner", None) is None
           and cfg.get("torch_dtype") == {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype],
           json.dumps(cfg)[:300])
    special = min(50256, cfg["vocab_size"] - 1)
    report(label + ": config bos/eos", cfg.get("bos_token_id") == special and cfg.get("eos_token_id") == special)
    report(label + ": config tie_word_embeddings", cfg.get("tie_word_embeddings", True) == (not untied))

    raw = open(os.path.join(d, "model.safetensors"), "rb").read()
    n = int.from_bytes(raw[:8], "little")
    report(label + ": header length 8-aligned", n % 8 == 0 and 8 + n <= len(raw), n)
    header = raw[8:8 + n]
    text = header.rstrip(b" ")
    report(label + ": padding is < 8 spaces", len(header) - len(text) < 8)
    h = json.loads(text.decode("utf-8"), object_pairs_hook=no_duplicates)
    compact = json.dumps(h, separators=(",", ":")).encode()
    report(label + ": header is compact JSON in serializer order", compact == text, text[:200])
    keys = list(h)
    report(label + ": __metadata__ first", keys[0] == "__metadata__" and h["__metadata__"] == {"format": "pt"})
    names = keys[1:]
    report(label + ": tensors sorted by name", names == sorted(names))
    report(label + ": entry keys", all(list(h[k]) == ["dtype", "shape", "data_offsets"] for k in names))

    want = expected_tensors(cfg, prefix, untied, masks)
    got = {k: h[k]["shape"] for k in names}
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    report(label + ": tensor names as GPT2LMHeadModel", not missing and not extra,
           "missing %s extra %s" % (missing[:5], extra[:5]))
    report(label + ": tensor shapes", all(got.get(k) == v for k, v in want.items()),
           [(k, got.get(k), v) for k, v in want.items() if got.get(k) != v][:5])
    report(label + ": dtypes", all(h[k]["dtype"] == dtype for k in names))

    off, tiled = 0, True
    for k in names:
        b, e = h[k]["data_offsets"]
        tiled &= b == off and e - b == math.prod(h[k]["shape"]) * SIZES[dtype]
        off = e
    report(label + ": offsets tile the data to the end of file", tiled and 8 + n + off == len(raw), off)

    data = raw[8 + n:]
    t = {k: decode(data[h[k]["data_offsets"][0]:h[k]["data_offsets"][1]], dtype, h[k]["shape"]) for k in names}
    report(label + ": all finite", all(np.isfinite(v).all() for v in t.values()))
    L = cfg["n_layer"]
    lnw = np.concatenate([t[p + "h.%d.ln_%d.weight" % (i, j)] for i in range(L) for j in (1, 2)] + [t[p + "ln_f.weight"]])
    lnb = np.concatenate([t[p + "h.%d.ln_%d.bias" % (i, j)] for i in range(L) for j in (1, 2)] + [t[p + "ln_f.bias"]])
    report(label + ": LayerNorm weights near 1, none exactly",
           abs(lnw.mean() - 1) < 0.05 and np.abs(lnw - 1).min() > 0.02 and np.abs(lnw - 1).max() < 1, lnw[:4])
    report(label + ": LayerNorm biases near 0, none exactly",
           abs(lnb.mean()) < 0.03 and np.abs(lnb).min() > 0.01 and np.abs(lnb).max() < 0.5, lnb[:4])
    wte = t[p + "wte.weight"].astype(np.float64)
    report(label + ": wte ~ N(0, 0.02)", abs(wte.mean()) < 0.002 and abs(wte.std() - 0.02) < 0.002, (wte.mean(), wte.std()))
    fc = np.concatenate([t[p + "h.%d.mlp.c_fc.weight" % i].ravel() for i in range(L)]).astype(np.float64)
    proj = np.concatenate([t[p + "h.%d.mlp.c_proj.weight" % i].ravel() for i in range(L)]).astype(np.float64)
    report(label + ": c_fc ~ N(0, 0.02), c_proj ~ N(0, 0.02/sqrt(2L))",
           abs(fc.std() - 0.02) < 0.002 and abs(proj.std() - 0.02 / math.sqrt(2 * L)) < 0.1 * 0.02 / math.sqrt(2 * L),
           (fc.std(), proj.std()))
    if masks:
        T = cfg["n_positions"]
        tril = np.tril(np.ones((T, T), dtype=np.float32)).reshape(1, 1, T, T)
        report(label + ": mask buffers are causal ones", all(np.array_equal(t[p + "h.%d.attn.bias" % i], tril) for i in range(L)))
    if untied:
        report(label + ": untied lm_head differs from wte", not np.array_equal(t["lm_head.weight"], t[p + "wte.weight"]))

    for name, path in dumps:
        c_vals = np.array([float(x) for x in open(path).read().split()], dtype=np.float32)
        key = name if name == "lm_head.weight" and untied else p + (("wte.weight") if name == "lm_head.weight" else name)
        ref = t[key].ravel()[:len(c_vals)]
        ok = len(c_vals) > 0 and np.array_equal(c_vals.view(np.uint32), ref.view(np.uint32))
        report(label + ": C loader values of " + name, ok,
               "C %s vs numpy %s" % (c_vals[:3], ref[:3]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
