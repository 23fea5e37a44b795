#!/bin/sh
# bf16_ref.sh: AUTOINTERP_WEIGHTS=bf16 (the block matrices and the output matrix read as
# bfloat16, computed in fp32) against the independent NumPy reference tests/ref/gpt2_ref.py,
# on every kernel path: logits equal to the reference on weights rounded to bf16 in NumPy
# (1e-3, the bound of the fp32 path) and greedy generation, on large weights (std 0.3); at
# GPT-2's init scale (std 0.02) within 1e-2 of the exact model (the rounding error grows
# with the weights: 0.2 at std 0.3, see docs/bench.md); a BF16 checkpoint computes
# bit-identical logits either way; a bad value is an error.
. "$(dirname "$0")/../lib.sh"
: "${UNIT:=$ROOT/build/release/tests}"
TT="$UNIT/test_transformer"
REF="$ROOT/tests/ref/gpt2_ref.py"
M="$TMP/model"

# The synthetic checkpoint of transformer_ref.sh (4 layers, C=64, std 0.3).
check "write synthetic checkpoint" "$TT" --write-model "$M" --std 0.3 --seed 7
check "write synthetic checkpoint, std 0.02" "$TT" --write-model "$M.02" --seed 7
TOK=50256,464,2068,7586,21831,18045,625,262,16931,3290,13,198,40,1842

for K in $("$TT" --kernel-paths); do
  export AUTOINTERP_KERNEL=$K
  AUTOINTERP_WEIGHTS=fp32 "$TT" --logits "$M" 0,1,2,3 "$TOK" "$TMP/f32.f32"
  for spec in intact:0,1,2,3 permuted:3,1,0,2; do
    cfg=${spec%%:*}
    layers=${spec#*:}
    if AUTOINTERP_WEIGHTS=bf16 "$TT" --logits "$M" "$layers" "$TOK" "$TMP/$cfg.bf16" 2>"$TMP/err"; then
      check "$K: bf16 logits $cfg [$layers] == numpy on bf16-rounded weights (1e-3)" \
        "$PY" "$REF" "$M" --bf16-weights --layers "$layers" --tokens "$TOK" --compare "$TMP/$cfg.bf16" --tol 1e-3
    else
      failed "$K: bf16 logits $cfg [$layers]" "$(cat "$TMP/err")"
    fi
  done
  AUTOINTERP_WEIGHTS=bf16 "$TT" --logits "$M.02" 0,1,2,3 "$TOK" "$TMP/02.bf16"
  check "$K: bf16 logits, std 0.02, within 1e-2 of the exact numpy model" \
    "$PY" "$REF" "$M.02" --layers 0,1,2,3 --tokens "$TOK" --compare "$TMP/02.bf16" --tol 1e-2
  # The bf16 run is not the fp32 one (the switch is honoured).
  if cmp -s "$TMP/f32.f32" "$TMP/intact.bf16"; then
    failed "$K: bf16 logits differ from fp32 ones" "identical files"
  else
    pass "$K: bf16 logits differ from fp32 ones"
  fi
  for layers in 0,1,2,3 3,2; do
    got=$(AUTOINTERP_WEIGHTS=bf16 "$TT" --generate "$M" "$layers" "$TOK" 10 2>&1)
    want=$("$PY" "$REF" "$M" --bf16-weights --layers "$layers" --tokens "$TOK" --generate 10 2>/dev/null)
    check_eq "$K: bf16 greedy 10 tokens [$layers] == numpy on bf16-rounded weights" "$got" "$want"
  done

  # A BF16 checkpoint: its matrices used in place, the very weights the fp32 path widens,
  # the same order of operations: the same bits.
  d="$TMP/model-BF16"
  [ -d "$d" ] || "$TT" --write-model "$d" --std 0.3 --seed 7 --dtype BF16
  AUTOINTERP_WEIGHTS=fp32 "$TT" --logits "$d" 2,3,0 "$TOK" "$TMP/ck.f32"
  AUTOINTERP_WEIGHTS=bf16 "$TT" --logits "$d" 2,3,0 "$TOK" "$TMP/ck.bf16"
  check "$K: BF16 checkpoint: bf16 logits bit-identical to fp32" cmp "$TMP/ck.f32" "$TMP/ck.bf16"
  check_eq "$K: BF16 checkpoint: bf16 greedy == fp32 greedy" \
    "$(AUTOINTERP_WEIGHTS=bf16 "$TT" --generate "$d" 0,1,2,3 "$TOK" 10 2>&1)" \
    "$(AUTOINTERP_WEIGHTS=fp32 "$TT" --generate "$d" 0,1,2,3 "$TOK" 10 2>&1)"
done
unset AUTOINTERP_KERNEL

# Every tool opens its model through model_open, which honours the switch: loadgpt2 on a
# BF16 checkpoint it wrote; a bad value is a clear error.
B="$TMP/tool-BF16"
check "loadgpt2 --random --dtype BF16 with AUTOINTERP_WEIGHTS=bf16" \
  env AUTOINTERP_WEIGHTS=bf16 loadgpt2 --random --out "$B" --layers 2 --heads 2 --embd 32 --ctx 32 --dtype BF16
AUTOINTERP_WEIGHTS=bf16 loadgpt2 "$B" >"$TMP/out" 2>"$TMP/err"
check_grep "loadgpt2 with bf16 weights: dtype BF16" '"dtype":"BF16"' "$TMP/out"
AUTOINTERP_WEIGHTS=int8 loadgpt2 "$B" >"$TMP/out" 2>"$TMP/err"
check_eq "AUTOINTERP_WEIGHTS=int8: exit status" "$?" 5
check_grep "AUTOINTERP_WEIGHTS=int8: message" "AUTOINTERP_WEIGHTS=int8 is not fp32 or bf16" "$TMP/err"
