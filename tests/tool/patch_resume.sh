#!/bin/sh
# patch_resume.sh: a --patch-sweep cell at (block, position p) runs only positions p.. from
# its block, over the corrupted run's cached keys/values (docs/interp.md).  Every cell must
# give the same bytes as that patch applied alone in a full run from the embeddings (a
# record with the cell as its "patch"), and as --pack 1 and small passes, for every hook
# the sweep takes (the head sweep too), over configurations with skipped and repeated
# blocks, with a record ablation, on every kernel path.
. "$(dirname "$0")/../lib.sh"
: "${UNIT:=$ROOT/build/release/tests}"
M=$TMP/model
tiny_model "$M"
cd "$TMP" || exit 1

gentasks facts-pairs | head -n 3 > pairs.ndjson
echo '{"prompt":"When Mary and John went to the store, John gave a drink to","corrupt_prompt":"When Mary and John went to the store, Mary gave a drink to","answer":"Mary","wrong_answer":"John","layers":[0,2,2,3]}' >> pairs.ndjson

# singles SWEEP_OUTPUT > INPUT: one record per cell, the cell as its "patch" (same
# configuration, through "layers"), the other input fields kept.
singles() {
  $PY -c '
import json, sys
owned = {"label", "answer_loss", "answer_token_losses", "answer_tokens", "answer_exact", "logit_diff",
         "ablated", "dump_key", "clean_answer_loss", "corrupt_answer_loss", "clean_logit_diff",
         "corrupt_logit_diff", "patch_metric", "patch_effect", "patch_hook", "layer", "position", "head",
         "token", "corrupt_token", "patch_cells"}
for line in open(sys.argv[1]):
    r = json.loads(line)
    site = {"hook": r["patch_hook"], "layer": r["layer"]}
    for k in ("head", "position"):
        if k in r: site[k] = r[k]
    out = {k: v for k, v in r.items() if k not in owned}
    out["patch"] = [site]
    print(json.dumps(out))' "$1"
}

# results FILE: the numbers of every record as written (raw text), one line each.
results() {
  $PY -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line, parse_float=str)
    print(" ".join(str(r.get(k)) for k in ("layers", "answer_loss", "answer_token_losses", "logit_diff", "patch_effect", "answer_exact")))' "$1"
}

# Every hook on the first kernel path; on the others (whose kernels differ) the position
# grid over repeated blocks, the head grid and an ablation, to keep the test short.
ALL='resid_pre|resid_mid --sweep skip-one|resid_post --sweep repeat-one|attn_out|mlp_out --sweep drop-last|head --sweep skip-one|resid_pre --ablate [{"component":"head","layer":1,"head":2}]'
SOME='resid_post --sweep repeat-one|head|attn_out --ablate [{"component":"mlp","layer":2}]'
SPECS=$ALL
for K in $("$UNIT/test_transformer" --kernel-paths); do
  export AUTOINTERP_KERNEL=$K
  IFS='|'
  set -- $SPECS
  unset IFS
  for spec; do
    set -- $spec
    hook=$1; shift
    scoreloss --model "$M" --patch-sweep="$hook" "$@" < pairs.ndjson > sweep.out; s1=$?
    scoreloss --model "$M" --patch-sweep="$hook" --pack 1 "$@" < pairs.ndjson > one.out; s2=$?
    if [ "$SPECS" = "$ALL" ]; then scoreloss --model "$M" --patch-sweep="$hook" --pack 3 --mem-budget 1M "$@" < pairs.ndjson > small.out; s3=$?
    else cp sweep.out small.out; s3=$s1; fi
    cells=$(wc -l < sweep.out | tr -d ' ')
    if [ "$s1$s2$s3" = 000 ] && [ "$cells" -gt 40 ] && cmp -s sweep.out one.out && cmp -s sweep.out small.out; then
      pass "$K: --patch-sweep=$spec: packed == --pack 1 == small passes, bit for bit ($cells cells)"
    else
      failed "$K: --patch-sweep=$spec: packings" "exit $s1/$s2/$s3, $cells lines; $(cmp sweep.out one.out 2>&1) $(cmp sweep.out small.out 2>&1)"
    fi
    # the record ablation (if any) goes with every single run too
    singles sweep.out > singles.ndjson
    ablate=""
    [ "$1" = "--ablate" ] && ablate=$2
    if [ -n "$ablate" ]; then scoreloss --model "$M" --ablate "$ablate" < singles.ndjson > singles.out
    else scoreloss --model "$M" < singles.ndjson > singles.out; fi
    results sweep.out > a.txt
    results singles.out > b.txt
    if [ -s a.txt ] && [ "$(wc -l < b.txt)" = "$cells" ] && cmp -s a.txt b.txt; then
      pass "$K: --patch-sweep=$spec: every cell == its patch alone in a full run, bit for bit"
    else
      failed "$K: --patch-sweep=$spec: cells vs full runs" "$(diff a.txt b.txt | head -4)"
    fi
  done
  SPECS=$SOME
done
unset AUTOINTERP_KERNEL
