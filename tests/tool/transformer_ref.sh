#!/bin/sh
# transformer_ref.sh: the C forward pass (common/model/transformer) against the independent
# NumPy reference tests/ref/gpt2_ref.py on a synthetic checkpoint written by
# common/model/checkpoint (4 layers, 4 heads, C=64, n_ctx 128, the real vocabulary size):
# logits of several layer configurations to 1e-3, greedy generation with the KV cache.
. "$(dirname "$0")/../lib.sh"
: "${UNIT:=$ROOT/build/release/tests}"
TT="$UNIT/test_transformer"
REF="$ROOT/tests/ref/gpt2_ref.py"
M="$TMP/model"

# init_std 0.3: large enough that attention is far from uniform and greedy generation
# does not collapse onto one token, so configurations are told apart.
check "write synthetic checkpoint" "$TT" --write-model "$M" --std 0.3 --seed 7

# "<|endoftext|>The quick brown fox jumps over the lazy dog.\nI like"
TOK=50256,464,2068,7586,21831,18045,625,262,16931,3290,13,198,40,1842

# Every kernel path this CPU supports (common/model/matmul.h), forced with AUTOINTERP_KERNEL.
PATHS=$("$TT" --kernel-paths)
check "kernel paths listed (generic among them)" sh -c "echo '$PATHS' | grep -qx generic"
for K in $PATHS; do
  export AUTOINTERP_KERNEL=$K
  for spec in intact:0,1,2,3 permuted:3,1,0,2 repeated:0,0,1,1,3 partial:0,1 empty:; do
    name=${spec%%:*}
    layers=${spec#*:}
    if "$TT" --logits "$M" "$layers" "$TOK" "$TMP/$name.f32" 2>"$TMP/err"; then
      check "$K: logits $name [$layers] == numpy reference (1e-3)" \
        "$PY" "$REF" "$M" --layers "$layers" --tokens "$TOK" --compare "$TMP/$name.f32" --tol 1e-3
    else
      failed "$K: logits $name [$layers]" "$(cat "$TMP/err")"
    fi
  done

  # The comparison discriminates: the intact logits are not those of the permuted model.
  if "$PY" "$REF" "$M" --layers 3,1,0,2 --tokens "$TOK" --compare "$TMP/intact.f32" --tol 1e-3 >/dev/null; then
    failed "$K: reference tells intact from permuted" "intact logits matched the permuted reference"
  else
    pass "$K: reference tells intact from permuted"
  fi

  # Greedy generation: KV-cached C decoding vs the reference recomputing every step.
  for layers in 0,1,2,3 3,2 1,1; do
    got=$("$TT" --generate "$M" "$layers" "$TOK" 10 2>&1)
    want=$("$PY" "$REF" "$M" --layers "$layers" --tokens "$TOK" --generate 10 2>/dev/null)
    check_eq "$K: greedy 10 tokens [$layers] == numpy reference" "$got" "$want"
  done
done
unset AUTOINTERP_KERNEL

# Half-precision checkpoints are converted on load; the reference reads them itself.
for dt in BF16 F16; do
  d="$TMP/model-$dt"
  "$TT" --write-model "$d" --std 0.3 --seed 7 --dtype "$dt"
  if "$TT" --logits "$d" 2,3,0 "$TOK" "$TMP/$dt.f32" 2>"$TMP/err"; then
    check "logits $dt checkpoint [2,3,0] == numpy reference (1e-3)" \
      "$PY" "$REF" "$d" --layers 2,3,0 --tokens "$TOK" --compare "$TMP/$dt.f32" --tol 1e-3
  else
    failed "logits $dt checkpoint" "$(cat "$TMP/err")"
  fi
done

# Bad input is an error with a message, not a crash.
"$TT" --logits "$M" 0,4 "$TOK" "$TMP/bad.f32" 2>"$TMP/err"
check_eq "layer 4 of 4: exit status" "$?" 1
check_grep "layer 4 of 4: message" "layer index 4 out of range 0..3" "$TMP/err"
long=$(seq 1 129 | paste -sd, -)
"$TT" --logits "$M" 0 "$long" "$TMP/bad.f32" 2>"$TMP/err"
check_eq "129 tokens > n_ctx 128: exit status" "$?" 1
check_grep "129 tokens > n_ctx 128: message" "exceeds the context of 128" "$TMP/err"
"$TT" --logits "$M" 0 "1,50257" "$TMP/bad.f32" 2>"$TMP/err"
check_eq "token 50257: exit status" "$?" 1
check_grep "token 50257: message" "token id 50257 at position 1 out of range" "$TMP/err"
