#!/bin/sh
# lowp_ref.sh: AUTOINTERP_WEIGHTS=bf16 and =f16 (the block matrices and the output matrix
# read as bfloat16 or IEEE half, computed in fp32) against independent NumPy references,
# on every kernel path: the conversions themselves (rounding of edge cases, ties,
# subnormals, overflow, NaN/Inf and every f16 value and midpoint; widening of all 65536
# 16-bit values) against np.float16 (tests/ref/lowp_ref.py); logits equal to
# tests/ref/gpt2_ref.py on weights rounded in NumPy (1e-3, the bound of the fp32 path) and
# greedy generation, on large weights (std 0.3); at GPT-2's init scale (std 0.02) within
# 1e-2 of the exact model (the rounding error grows with the weights, see docs/bench.md);
# a checkpoint of the type's own dtype (BF16, F16) computes bit-identical logits either
# way; a bad value is an error.
. "$(dirname "$0")/../lib.sh"
: "${UNIT:=$ROOT/build/release/tests}"
TT="$UNIT/test_transformer"
TL="$UNIT/test_lowp"
REF="$ROOT/tests/ref/gpt2_ref.py"
CONV="$ROOT/tests/ref/lowp_ref.py"
M="$TMP/model"

# The synthetic checkpoint of transformer_ref.sh (4 layers, C=64, std 0.3).
check "write synthetic checkpoint" "$TT" --write-model "$M" --std 0.3 --seed 7
check "write synthetic checkpoint, std 0.02" "$TT" --write-model "$M.02" --seed 7
check "write conversion test values" "$PY" "$CONV" values "$TMP/values.f32"
TOK=50256,464,2068,7586,21831,18045,625,262,16931,3290,13,198,40,1842

for K in $("$TT" --kernel-paths); do
  export AUTOINTERP_KERNEL=$K
  AUTOINTERP_WEIGHTS=fp32 "$TT" --logits "$M" 0,1,2,3 "$TOK" "$TMP/f32.f32"
  for W in bf16 f16; do
    case $W in bf16) D=BF16 ;; f16) D=F16 ;; esac
    if "$TL" --convert "$W" "$K" "$TMP/values.f32" "$TMP/conv.$W" 2>"$TMP/err"; then
      check "$K: $W rounding and widening == numpy" "$PY" "$CONV" check "$W" "$TMP/values.f32" "$TMP/conv.$W"
    else
      failed "$K: $W conversions" "$(cat "$TMP/err")"
    fi
    for spec in intact:0,1,2,3 permuted:3,1,0,2; do
      cfg=${spec%%:*}
      layers=${spec#*:}
      if AUTOINTERP_WEIGHTS=$W "$TT" --logits "$M" "$layers" "$TOK" "$TMP/$cfg.$W" 2>"$TMP/err"; then
        check "$K: $W logits $cfg [$layers] == numpy on $W-rounded weights (1e-3)" \
          "$PY" "$REF" "$M" --$W-weights --layers "$layers" --tokens "$TOK" --compare "$TMP/$cfg.$W" --tol 1e-3
      else
        failed "$K: $W logits $cfg [$layers]" "$(cat "$TMP/err")"
      fi
    done
    AUTOINTERP_WEIGHTS=$W "$TT" --logits "$M.02" 0,1,2,3 "$TOK" "$TMP/02.$W"
    check "$K: $W logits, std 0.02, within 1e-2 of the exact numpy model" \
      "$PY" "$REF" "$M.02" --layers 0,1,2,3 --tokens "$TOK" --compare "$TMP/02.$W" --tol 1e-2
    # The 16-bit run is not the fp32 one (the switch is honoured).
    if cmp -s "$TMP/f32.f32" "$TMP/intact.$W"; then
      failed "$K: $W logits differ from fp32 ones" "identical files"
    else
      pass "$K: $W logits differ from fp32 ones"
    fi
    for layers in 0,1,2,3 3,2; do
      got=$(AUTOINTERP_WEIGHTS=$W "$TT" --generate "$M" "$layers" "$TOK" 10 2>&1)
      want=$("$PY" "$REF" "$M" --$W-weights --layers "$layers" --tokens "$TOK" --generate 10 2>/dev/null)
      check_eq "$K: $W greedy 10 tokens [$layers] == numpy on $W-rounded weights" "$got" "$want"
    done

    # A checkpoint of the type's dtype: its matrices used in place, the very weights the
    # fp32 path widens, the same order of operations: the same bits.
    d="$TMP/model-$D"
    [ -d "$d" ] || "$TT" --write-model "$d" --std 0.3 --seed 7 --dtype "$D"
    AUTOINTERP_WEIGHTS=fp32 "$TT" --logits "$d" 2,3,0 "$TOK" "$TMP/ck.f32"
    AUTOINTERP_WEIGHTS=$W "$TT" --logits "$d" 2,3,0 "$TOK" "$TMP/ck.$W"
    check "$K: $D checkpoint: $W logits bit-identical to fp32" cmp "$TMP/ck.f32" "$TMP/ck.$W"
    check_eq "$K: $D checkpoint: $W greedy == fp32 greedy" \
      "$(AUTOINTERP_WEIGHTS=$W "$TT" --generate "$d" 0,1,2,3 "$TOK" 10 2>&1)" \
      "$(AUTOINTERP_WEIGHTS=fp32 "$TT" --generate "$d" 0,1,2,3 "$TOK" 10 2>&1)"
  done
done
unset AUTOINTERP_KERNEL

# Every tool opens its model through model_open, which honours the switch: loadgpt2 on a
# checkpoint of each 16-bit dtype it wrote; a bad value is a clear error.
for W in bf16 f16; do
  case $W in bf16) D=BF16 ;; f16) D=F16 ;; esac
  B="$TMP/tool-$D"
  check "loadgpt2 --random --dtype $D with AUTOINTERP_WEIGHTS=$W" \
    env AUTOINTERP_WEIGHTS=$W loadgpt2 --random --out "$B" --layers 2 --heads 2 --embd 32 --ctx 32 --dtype "$D"
  AUTOINTERP_WEIGHTS=$W loadgpt2 "$B" >"$TMP/out" 2>"$TMP/err"
  check_grep "loadgpt2 with $W weights: dtype $D" "\"dtype\":\"$D\"" "$TMP/out"
done
AUTOINTERP_WEIGHTS=int8 loadgpt2 "$B" >"$TMP/out" 2>"$TMP/err"
check_eq "AUTOINTERP_WEIGHTS=int8: exit status" "$?" 5
check_grep "AUTOINTERP_WEIGHTS=int8: message" "AUTOINTERP_WEIGHTS=int8 is not fp32, bf16 or f16" "$TMP/err"

# GPT-2-small's shape (124M parameters at its init scale, 16 tokens, the default path):
# f16 meets issue 5's bound of 1e-2 from the exact model (0.0015 measured over 64
# positions; bf16's 7-bit mantissa gives 0.0125 there, over it, so it is not asserted),
# and equals NumPy on f16-rounded weights (1e-3); an F16 checkpoint of that shape gives
# fp32's logits bit for bit.
G="$TMP/gpt2-shape"
L12=0,1,2,3,4,5,6,7,8,9,10,11
TOK16=50256,464,2068,7586,21831,18045,625,262,16931,3290,13,198,40,1842,318,257
if loadgpt2 --random --shape gpt2 --out "$G" >/dev/null 2>"$TMP/err"; then
  AUTOINTERP_WEIGHTS=f16 "$TT" --logits "$G" "$L12" "$TOK16" "$TMP/g2.f16"
  check "GPT-2 shape: f16 logits == numpy on f16-rounded weights (1e-3)" \
    "$PY" "$REF" "$G" --f16-weights --layers "$L12" --tokens "$TOK16" --compare "$TMP/g2.f16" --tol 1e-3
  check "GPT-2 shape: f16 logits within 1e-2 of the exact numpy model" \
    "$PY" "$REF" "$G" --layers "$L12" --tokens "$TOK16" --compare "$TMP/g2.f16" --tol 1e-2
  rm -rf "$G"
else
  failed "GPT-2 shape: write the checkpoint" "$(cat "$TMP/err")"
fi
# The same shape written as F16 by loadgpt2: used in place, fp32's logits bit for bit.
if loadgpt2 --random --shape gpt2 --dtype F16 --out "$G" >/dev/null 2>"$TMP/err"; then
  AUTOINTERP_WEIGHTS=fp32 "$TT" --logits "$G" "$L12" "$TOK16" "$TMP/g2h.f32"
  AUTOINTERP_WEIGHTS=f16 "$TT" --logits "$G" "$L12" "$TOK16" "$TMP/g2h.f16"
  check "GPT-2 shape, F16 checkpoint: f16 logits bit-identical to fp32" cmp "$TMP/g2h.f32" "$TMP/g2h.f16"
  rm -rf "$G"
else
  failed "GPT-2 shape: write the F16 checkpoint" "$(cat "$TMP/err")"
fi
