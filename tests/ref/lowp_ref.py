#!/usr/bin/env python3
"""NumPy reference for the 16-bit weight conversions (common/model/matmul.c lowp_round,
lowp_widen; tests/tool/lowp_ref.sh).

  lowp_ref.py values IN
      writes fp32 edge cases (ties, subnormals of both types, the largest values and the
      first that overflow, inf, NaN, signed zeros) and 200000 random values to IN
  lowp_ref.py check f16|bf16 IN OUT
      OUT (test_lowp --convert): IN rounded to the type (uint16 each), then the 65536
      16-bit values widened to fp32.  f16 against NumPy's np.float16 (round to nearest
      even); bf16 against the same rounding done on the integer bits (NumPy has no
      bfloat16).  A NaN must stay a NaN (its payload is free).  Exit 0 when all agree,
      else 1 with the first mismatches printed.
"""
import sys

import numpy as np


def values():
    rng = np.random.default_rng(17)
    edge = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 65504.0, 65519.99, 65520.0, 65536.0, 1e5, -1e5,
            2.0**-14, 2.0**-24, 2.0**-25, 3 * 2.0**-25, 1023.5 * 2.0**-24, 2.0**-26, 1e-9, 6.1e-5,
            1 + 2.0**-11, 1 + 3 * 2.0**-11, 1 + 2.0**-8, 1 + 3 * 2.0**-8, 3.3895314e38, 3.4028235e38,
            np.float32(1e-40), np.float32(1.4e-45)]
    edge = np.array(edge, dtype=np.float32)
    # every f16 value, and the midpoints between neighbours (ties), plus or minus one fp32 ulp
    h = np.arange(0, 0x7c00, dtype=np.uint16).view(np.float16).astype(np.float32)
    mid = ((h[:-1].astype(np.float64) + h[1:]) / 2).astype(np.float32)
    near = np.concatenate([mid, np.nextafter(mid, np.float32(0)), np.nextafter(mid, np.float32(np.inf))])
    scale = np.float32(2.0) ** rng.integers(-30, 18, 200000).astype(np.float32)
    rand = (rng.uniform(-1, 1, 200000).astype(np.float32) * scale).astype(np.float32)
    return np.concatenate([edge, -edge, h, -h, near, -near, rand]).astype(np.float32)


def bf16_round(x):
    u = x.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(x), np.uint16(0x7FC0), r)


def main():
    if sys.argv[1] == "values":
        values().tofile(sys.argv[2])
        return 0
    kind, x = sys.argv[2], np.fromfile(sys.argv[3], dtype=np.float32)
    out = np.fromfile(sys.argv[4], dtype=np.uint8)
    n = len(x)
    if len(out) != 2 * n + 4 * 65536:
        print("OUT has %d bytes, want %d" % (len(out), 2 * n + 4 * 65536))
        return 1
    got = out[:2 * n].view(np.uint16)
    wide = out[2 * n:].view(np.float32)
    codes = np.arange(65536, dtype=np.uint16)
    with np.errstate(over="ignore"):
        if kind == "f16":
            want = x.astype(np.float16).view(np.uint16)
            want_wide = codes.view(np.float16).astype(np.float32)
            is_nan16 = lambda h: ((h & 0x7C00) == 0x7C00) & ((h & 0x3FF) != 0)
        else:
            want = bf16_round(x)
            want_wide = (codes.astype(np.uint32) << 16).view(np.float32)
            is_nan16 = lambda h: ((h & 0x7F80) == 0x7F80) & ((h & 0x7F) != 0)
    nan = np.isnan(x)
    bad = np.nonzero((~nan & (got != want)) | (nan & ~is_nan16(got)))[0]
    for i in bad[:5]:
        print("round %r: got %#06x want %#06x" % (float(x[i]), got[i], want[i]))
    wnan = np.isnan(want_wide)
    bad_w = np.nonzero((~wnan & (wide.view(np.uint32) != want_wide.view(np.uint32))) | (wnan & ~np.isnan(wide)))[0]
    for i in bad_w[:5]:
        print("widen %#06x: got %r want %r" % (i, float(wide[i]), float(want_wide[i])))
    print("%s: %d values rounded, %d mismatches; 65536 widened, %d mismatches" % (kind, n, len(bad), len(bad_w)))
    return 1 if len(bad) or len(bad_w) else 0


if __name__ == "__main__":
    sys.exit(main())
