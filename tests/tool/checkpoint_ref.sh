#!/bin/sh
# checkpoint_ref: checkpoints written by our C writer, parsed by an independent numpy
# reader (tests/ref/safetensors_ref.py): layout as the official safetensors library,
# names and shapes as transformers' GPT2LMHeadModel writes them, and the values our C
# loader returns (test_gpt2 --dump-tensor) equal to numpy's decoding bit for bit.
. "$(dirname "$0")/../lib.sh"
: "${UNIT:?UNIT must point at the built unit tests}"
REF="$ROOT/tests/ref/safetensors_ref.py"
SHAPE="3 2 16 32 50257"   # L NH C n_ctx V (the real vocabulary size)

# run_case LABEL DTYPE FLAGS: write, dump a few tensors through the C loader, check.
run_case() {
  label=$1 dtype=$2 flags=$3
  dir="$TMP/$label"
  if ! "$UNIT/test_gpt2" --write "$dir" "$dtype" "$flags" $SHAPE 2>"$TMP/err"; then
    failed "$label: write" "$(cat "$TMP/err")"; return
  fi
  set --
  for spec in wte.weight:64 wpe.weight:32 h.1.attn.c_attn.weight:64 h.2.mlp.c_proj.bias:16 \
              h.0.ln_2.weight:16 ln_f.bias:16 lm_head.weight:32; do
    name=${spec%:*} n=${spec#*:}
    if "$UNIT/test_gpt2" --dump-tensor "$dir" "$name" "$n" >"$dir.$name.txt" 2>"$TMP/err"; then
      set -- "$@" "$name=$dir.$name.txt"
    else
      failed "$label: dump $name" "$(cat "$TMP/err")"
    fi
  done
  $PY "$REF" "$label" "$dir" "$dtype" "$flags" "$@"
}

run_case plain F32 -
run_case save_pretrained BF16 prefix
run_case hub F32 masks
run_case f16_untied F16 prefix,untied,masks

# The reference must be able to fail: BF16 file checked against F32 values.
"$UNIT/test_gpt2" --dump-tensor "$TMP/plain" wte.weight 64 >"$TMP/f32.txt"
if $PY "$REF" cross "$TMP/save_pretrained" BF16 prefix "wte.weight=$TMP/f32.txt" >"$TMP/cross" 2>&1; then
  failed "reference rejects other values" "$(grep FAIL "$TMP/cross" | head -n 3)"
else
  check_grep "reference rejects other values" "FAIL cross: C loader values of wte.weight" "$TMP/cross"
fi
# ... and wrong flags (names without the prefix it expects).
if $PY "$REF" flags "$TMP/plain" F32 prefix >"$TMP/flags" 2>&1; then
  failed "reference rejects wrong names" "passed"
else
  check_grep "reference rejects wrong names" "FAIL flags: tensor names as GPT2LMHeadModel" "$TMP/flags"
fi
