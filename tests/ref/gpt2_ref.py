#!/usr/bin/python3
"""Independent NumPy reference for the GPT-2 forward pass over a layer configuration.

Reads DIR/config.json and DIR/model.safetensors itself (8-byte little-endian header
length, JSON header, raw data; F32, F16 and BF16), runs the forward pass in float64 and
either compares with logits dumped by the C code or generates greedy tokens.

  gpt2_ref.py DIR --layers 0,1,2 --tokens 50256,11,22 --compare logits.f32 [--tol 1e-3]
      exit 0 when max |C - reference| <= tol over all (T, V) logits, else 1
  gpt2_ref.py DIR --layers 3,1 --tokens 5,6 --generate 10
      prints 10 greedy token ids (recomputing the whole sequence each step, no cache)
  --bf16-weights: the four block matrices and the output matrix rounded to bfloat16 (to
      nearest even), as AUTOINTERP_WEIGHTS=bf16 does; embeddings, LayerNorm, biases exact
  --f16-weights: the same matrices rounded to IEEE half by NumPy (np.float16, to nearest
      even), as AUTOINTERP_WEIGHTS=f16 does

--layers "" is the empty configuration (embed -> ln_f -> unembed).
"""
import argparse
import json
import math
import struct
import sys

import numpy as np


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        buf = data[begin:end]
        shape = tuple(info["shape"])
        dt = info["dtype"]
        if dt == "F32":
            a = np.frombuffer(buf, dtype="<f4")
        elif dt == "F16":
            a = np.frombuffer(buf, dtype="<f2")
        elif dt == "BF16":
            a = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            continue  # masks and other buffers are not needed
        tensors[name] = a.reshape(shape).astype(np.float64)
    return tensors


class Model:
    def __init__(self, d):
        with open(d + "/config.json") as f:
            cfg = json.load(f)
        self.L = cfg["n_layer"]
        self.NH = cfg["n_head"]
        self.C = cfg["n_embd"]
        self.eps = cfg.get("layer_norm_epsilon", 1e-5)
        t = load_safetensors(d + "/model.safetensors")
        t = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in t.items()}
        self.t = t
        self.wte, self.wpe = t["wte.weight"], t["wpe.weight"]
        self.lm_head = t.get("lm_head.weight", self.wte)
        if cfg.get("tie_word_embeddings", True):
            self.lm_head = self.wte

    def w(self, l, name):
        return self.t["h.%d.%s" % (l, name)]


LOWP_MATRICES = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def bf16_round(a):
    """float32 values rounded to bfloat16, to nearest even, as float64 (no NaN expected)."""
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32).astype(np.float64)


def f16_round(a):
    """float32 values rounded to IEEE half by NumPy, as float64."""
    return a.astype(np.float32).astype(np.float16).astype(np.float64)


def use_lowp(m, rounding):
    for l in range(m.L):
        for name in LOWP_MATRICES:
            key = "h.%d.%s" % (l, name)
            m.t[key] = rounding(m.t[key])
    m.lm_head = rounding(m.lm_head)   # a copy: token embeddings stay exact


def layernorm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def block(m, l, x):
    T, C = x.shape
    NH, hs = m.NH, C // m.NH
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
    y = (att @ v).transpose(1, 0, 2).reshape(T, C)
    x = x + y @ m.w(l, "attn.c_proj.weight") + m.w(l, "attn.c_proj.bias")
    h = layernorm(x, m.w(l, "ln_2.weight"), m.w(l, "ln_2.bias"), m.eps)
    h = gelu_new(h @ m.w(l, "mlp.c_fc.weight") + m.w(l, "mlp.c_fc.bias"))
    return x + h @ m.w(l, "mlp.c_proj.weight") + m.w(l, "mlp.c_proj.bias")


def forward(m, layers, tokens):
    """logits (T, V) in float64 for configuration `layers`."""
    x = m.wte[tokens] + m.wpe[np.arange(len(tokens))]
    for l in layers:
        x = block(m, l, x)
    return layernorm(x, m.t["ln_f.weight"], m.t["ln_f.bias"], m.eps) @ m.lm_head.T


def ints(s):
    return [int(v) for v in s.split(",")] if s else []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--layers", default="")
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--compare")
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--generate", type=int, default=0)
    ap.add_argument("--bf16-weights", action="store_true")
    ap.add_argument("--f16-weights", action="store_true")
    a = ap.parse_args()
    m = Model(a.dir)
    if a.bf16_weights:
        use_lowp(m, bf16_round)
    if a.f16_weights:
        use_lowp(m, f16_round)
    layers, tokens = ints(a.layers), ints(a.tokens)
    if any(l < 0 or l >= m.L for l in layers):
        sys.exit("layer index out of range")
    if a.compare:
        want = forward(m, layers, tokens)
        got = np.fromfile(a.compare, dtype="<f4").astype(np.float64)
        if got.size != want.size:
            print("size mismatch: got %d values, want %d" % (got.size, want.size))
            return 1
        diff = np.abs(got.reshape(want.shape) - want).max()
        print("max_abs_diff %.3g (logit scale %.3g)" % (diff, np.abs(want).max()))
        return 0 if diff <= a.tol else 1
    if a.generate:
        seq, out, gaps = list(tokens), [], []
        for _ in range(a.generate):
            row = forward(m, layers, seq)[-1]
            top2 = np.sort(row)[-2:]
            gaps.append(top2[1] - top2[0])
            nxt = int(np.argmax(row))  # first maximum = lowest id on ties
            out.append(nxt)
            seq.append(nxt)
        print(" ".join(map(str, out)))
        print("smallest top-1/top-2 gap %.3g" % min(gaps), file=sys.stderr)
        return 0
    np.savetxt(sys.stdout, forward(m, layers, tokens), fmt="%.6f")
    return 0


if __name__ == "__main__":
    sys.exit(main())
