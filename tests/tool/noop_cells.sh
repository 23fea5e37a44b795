#!/bin/sh
# noop_cells.sh: a patched run whose patches change nothing (the clean run's activations
# at every patched site bit for bit the corrupted run's: BOS, the positions before the
# first differing token, block 0's resid_pre where the tokens agree) is not run; it is
# visited with the corrupted run's result (docs/interp.md, "Patches that patch nothing").
# On every kernel path, for scoreloss's sweeps (positions at several hooks, heads, over a
# configuration that repeats a block) and single patches (scoreloss and topk): the bytes
# must be those of AUTOINTERP_PATCH_SKIP=0 (every run run), the number of runs skipped
# (AUTOINTERP_STATS) exactly the cells that the tokens say patch nothing, and each skipped
# cell's line the corrupted run's numbers (patch_effect 0).
. "$(dirname "$0")/../lib.sh"
: "${UNIT:=$ROOT/build/release/tests}"
M=$TMP/model
tiny_model "$M"
cd "$TMP" || exit 1

gentasks facts-pairs | head -n 3 > pairs.ndjson
echo '{"id":"ioi","prompt":"When Mary and John went to the store, John gave a drink to","corrupt_prompt":"When Mary and John went to the store, Mary gave a drink to","answer":"Mary","wrong_answer":"John","layers":[0,2,2,3]}' >> pairs.ndjson
echo '{"id":"same","prompt":"The capital of France is","corrupt_prompt":"The capital of France is","answer":"Paris","wrong_answer":"Rome"}' >> pairs.ndjson

# skipped STDERR: the runs the stats line says were skipped.
skipped() { sed -n 's/^interp: patched runs: [0-9]* run, \([0-9]*\) skipped.*/\1/p' "$1"; }

# expect HOOK OUT: the cells of OUT (a sweep's lines) that patch nothing by their tokens:
# every cell when the prompts agree (pairs.ndjson); a position whose tokens agree up to it; resid_pre of
# the configuration's first block where the token agrees (the embedding).  Then, on
# stderr, the skipped cells whose numbers are not the corrupted run's.
expect() {
  $PY -c '
import json, sys
hook, n, seen, toks = sys.argv[1], 0, {}, {}
lines = [json.loads(l, parse_float=str) for l in open(sys.argv[2])]
agree = {r.get("id") for r in map(json.loads, open("pairs.ndjson")) if r["prompt"] == r["corrupt_prompt"]}
for r in lines:   # the tokens of each record, from its cells
    if "position" in r:
        toks.setdefault(r["id"], {})[r["position"]] = (r["token"], r["corrupt_token"])
for r in lines:
    if "patch_hook" not in r: continue
    same = r["id"] in agree
    if "position" in r:
        t = toks[r["id"]]
        p = r["position"]
        same = all(t[q][0] == t[q][1] for q in range(p + 1)) or (
            hook == "resid_pre" and r["layer"] == r["layers"][0] and t[p][0] == t[p][1])
    if same:
        n += 1
        if r["answer_loss"] != r["corrupt_answer_loss"] or r.get("logit_diff") != r.get("corrupt_logit_diff"):
            print("cell", r["id"], r["layer"], r.get("position"), r.get("head"), file=sys.stderr)
print(n)' "$1" "$2"
}

PATCH0='[{"hook":"resid_pre","layer":1,"position":0},{"hook":"attn_out","layer":3,"position":0}]'
PATCH1='[{"hook":"resid_pre","layer":1,"position":0},{"hook":"resid_pre","layer":2,"position":-1}]'
for K in $("$UNIT/test_transformer" --kernel-paths); do
  export AUTOINTERP_KERNEL=$K
  for hook in resid_pre attn_out resid_post head; do
    AUTOINTERP_STATS=1 scoreloss --model "$M" --patch-sweep=$hook < pairs.ndjson > skip.out 2> skip.err; s1=$?
    AUTOINTERP_STATS=1 AUTOINTERP_PATCH_SKIP=0 scoreloss --model "$M" --patch-sweep=$hook < pairs.ndjson > all.out 2> all.err; s2=$?
    want=$(expect $hook skip.out 2> bad.txt)
    got=$(skipped skip.err)
    lines=$(wc -l < skip.out | tr -d ' ')
    if [ "$s1$s2" = 00 ] && [ "$lines" -gt 60 ] && cmp -s skip.out all.out; then
      pass "$K: --patch-sweep=$hook: the same bytes as every cell run ($lines lines)"
    else
      failed "$K: --patch-sweep=$hook: skip vs run" "exit $s1/$s2; $(cmp skip.out all.out 2>&1)"
    fi
    if [ -n "$got" ] && [ "$got" = "$want" ] && [ "$got" -gt 0 ] && [ "$(skipped all.err)" = 0 ] && [ ! -s bad.txt ]; then
      pass "$K: --patch-sweep=$hook: $got cells skipped, those the tokens say patch nothing (0 with AUTOINTERP_PATCH_SKIP=0); their lines the corrupted run's"
    else
      failed "$K: --patch-sweep=$hook: cells skipped" "stats $got (run all: $(skipped all.err)), expected $want; $(head -3 bad.txt)"
    fi
  done
  # Single patches: PATCH0 patches nothing (position 0, BOS), PATCH1 something (the last
  # position at block 2; its BOS site changes nothing) except in the record whose prompts
  # agree.  A run that captures (--dump, --lens) is run all the same.
  for tool in scoreloss topk; do
    for spec in "0 $PATCH0" "0 $PATCH0 --layers 0,2,2,3" "1 $PATCH1" "dump $PATCH0 --dump d.npz" "lens $PATCH0 --lens logit"; do
      set -- $spec
      kind=$1 patch=$2; shift 2
      [ "$tool" = scoreloss ] && [ "$kind" = lens ] && continue
      [ "$tool" = topk ] && set -- "$@" -k 3
      AUTOINTERP_STATS=1 $tool --model "$M" --patch "$patch" "$@" < pairs.ndjson > skip.out 2> skip.err; s1=$?
      [ -f d.npz ] && mv d.npz skip.npz
      AUTOINTERP_STATS=1 AUTOINTERP_PATCH_SKIP=0 $tool --model "$M" --patch "$patch" "$@" < pairs.ndjson > all.out 2> all.err; s2=$?
      [ -f d.npz ] && mv d.npz all.npz
      records=$(grep -c . pairs.ndjson)
      want=0
      [ "$kind" = 0 ] && want=$records
      [ "$kind" = 1 ] && want=1
      got=$(skipped skip.err)
      if [ "$s1$s2" = 00 ] && [ "$(wc -l < skip.out)" -ge "$records" ] && cmp -s skip.out all.out &&
         { [ "$kind" != dump ] || cmp -s skip.npz all.npz; } && [ "$got" = "$want" ] && [ "$(skipped all.err)" = 0 ]; then
        pass "$K: $tool --patch ($kind) $*: the same bytes as the patched runs run; $got of $records skipped"
      else
        failed "$K: $tool --patch ($kind) $*" "exit $s1/$s2, skipped $got (want $want); $(cmp skip.out all.out 2>&1)"
      fi
      rm -f skip.npz all.npz
    done
  done
done
unset AUTOINTERP_KERNEL
