#!/bin/sh
# topk_readout.sh: topk unembeds the rows it reads out of several runs together (the
# variants of an ablation sweep, the depths of the lens, the records of a packed group;
# up to 128 rows per pass over the output matrix).  Each run's records must be the same
# bytes as that run read out alone: an ablation sweep's variant == the record with that
# ablation as its own "ablate"; records packed == --pack 1; on every kernel path.
. "$(dirname "$0")/../lib.sh"
: "${UNIT:=$ROOT/build/release/tests}"
M=$TMP/model
tiny_model "$M"
cd "$TMP" || exit 1

gentasks facts-pairs | head -n 3 > pairs.ndjson
gentasks facts > facts.ndjson

# singles SWEEP_OUTPUT > INPUT: a record per variant line (position 0 only), its sweep
# ablation as the record's own "ablate".
singles() {
  $PY -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["position"] != 0 or "ablated" not in r: continue
    out = {k: r[k] for k in ("prompt", "corrupt_prompt", "answer", "wrong_answer") if k in r}
    out["ablate"] = r["ablated"]
    print(json.dumps(out))' "$1"
}

# readouts FILE [ablated]: the read-out fields of every record as written (raw text).
readouts() {
  $PY -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line, parse_float=str)
    if len(sys.argv) > 2 and "ablated" not in r: continue
    print(json.dumps([r.get(k) for k in ("position", "ablated", "topk", "rose", "fell", "kl_from_intact", "answer_rank", "answer_logprob")]))' "$@"
}

for K in $("$UNIT/test_transformer" --kernel-paths); do
  export AUTOINTERP_KERNEL=$K
  topk --model "$M" --sweep ablate-heads --positions 0,-1 -k 3 < pairs.ndjson > sweep.out; s1=$?
  singles sweep.out > singles.ndjson
  topk --model "$M" --positions 0,-1 -k 3 < singles.ndjson > singles.out; s2=$?
  readouts sweep.out ablated | $PY -c '
import sys
lines = sys.stdin.read().splitlines()
print("\n".join(l for l in lines if l.startswith("[0,")))' > a.txt
  readouts singles.out | $PY -c '
import sys
lines = sys.stdin.read().splitlines()
print("\n".join(l for l in lines if l.startswith("[0,")))' > b.txt
  n=$(wc -l < a.txt | tr -d ' ')
  if [ "$s1$s2" = 00 ] && [ "$n" -ge 48 ] && cmp -s a.txt b.txt; then
    pass "$K: topk ablate-heads: every variant's readout == that ablation alone, bit for bit ($n)"
  else
    failed "$K: topk ablate-heads vs alone" "exit $s1/$s2, $n lines; $(diff a.txt b.txt | head -3)"
  fi
  topk --model "$M" --lens logit --positions 0,-1 -k 2 < pairs.ndjson > lens.out; s1=$?
  topk --model "$M" --lens logit --positions 0,-1 -k 2 --pack 1 < pairs.ndjson > lens1.out; s2=$?
  check_eq "$K: topk --lens logit: every depth read out (5 x 2 rows x 3 records), == --pack 1" \
    "$s1 $s2 $(wc -l < lens.out | tr -d ' ') $(cmp -s lens.out lens1.out && echo same)" "0 0 30 same"
  for spec in "--sweep skip-one" "--sweep drop-last --positions all"; do
    topk --model "$M" $spec < facts.ndjson > packed.out; s1=$?
    topk --model "$M" $spec --pack 1 < facts.ndjson > one.out; s2=$?
    if [ "$s1$s2" = 00 ] && [ -s packed.out ] && cmp -s packed.out one.out; then
      pass "$K: topk $spec: $(wc -l < facts.ndjson | tr -d ' ') records read out together == one at a time ($(wc -l < packed.out | tr -d ' ') lines)"
    else
      failed "$K: topk $spec: together vs alone" "exit $s1/$s2; $(cmp packed.out one.out 2>&1)"
    fi
  done
done
unset AUTOINTERP_KERNEL
