#!/bin/sh
# score_rows.sh: scoreloss's runs stop before the last answer token (its row would predict
# the token after the answer, which no score reads; src/scoreloss.c run_rows), except when
# a --dump captures every position.  So the same job with --dump (runs of every token) and
# without (one row fewer) must write the same numbers, bit for bit, on every kernel path:
# the plain sweep, the ablation sweep, the patch sweep, a single patch and a record
# ablation, with one-token and multi-token answers (the second-to-last answer row is the
# last one run; a run one row shorter than that changes the last answer token's loss).
. "$(dirname "$0")/../lib.sh"
: "${UNIT:=$ROOT/build/release/tests}"
M=$TMP/model
tiny_model "$M"
cd "$TMP" || exit 1

gentasks facts-pairs | head -n 3 > pairs.ndjson
# multi-token answers, a patched one and one whose answer is a single token
echo '{"prompt":"When Mary and John went to the store, John gave a drink to","corrupt_prompt":"When Mary and John went to the store, Mary gave a drink to","answer":"Mary and then went home","wrong_answer":"John"}' >> pairs.ndjson
echo '{"prompt":"One two three","corrupt_prompt":"Four five six","answer":"four five six seven"}' >> pairs.ndjson
gentasks addition | head -n 4 > adds.ndjson
echo '{"prompt":"The numbers are","answer":" 12345 67890 and 13579","separator":""}' >> adds.ndjson
A='[{"component":"head","layer":1,"head":2}]'
P='[{"hook":"resid_pre","layer":2,"position":-1}]'

# results FILE: the numbers of every line as written (raw text).
results() {
  $PY -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line, parse_float=str)
    print(" ".join(str(r.get(k)) for k in ("answer_loss", "answer_token_losses", "logit_diff", "patch_effect", "answer_exact")))' "$1"
}

# Jobs that take --dump: the same job with it, its dump keys removed.
DIRECT="adds.ndjson --sweep drop-last|adds.ndjson --ablate $A --sweep skip-one|pairs.ndjson --patch $P"
# Sweeps (they do not combine with --dump): each line against its cell or ablation run
# alone with --dump (sweep_singles).
SWEEPS="pairs.ndjson --patch-sweep|pairs.ndjson --patch-sweep=head|pairs.ndjson --sweep ablate-heads"
for K in $("$UNIT/test_transformer" --kernel-paths); do
  export AUTOINTERP_KERNEL=$K
  IFS='|'
  set -- $DIRECT
  unset IFS
  for job; do
    set -- $job
    in=$1; shift
    scoreloss --model "$M" "$@" < "$in" > short.out; s1=$?
    scoreloss --model "$M" "$@" --dump full.npz < "$in" > full.out; s2=$?
    n=$(wc -l < short.out | tr -d ' ')
    sed 's/,"dump_key":"[^"]*"//' full.out > full.num
    if [ "$s1$s2" = 00 ] && [ "$n" -ge 5 ] && ! grep -q '"error"' short.out &&
      cmp -s short.out full.num; then
      pass "$K: $job: one row fewer == every row (--dump), bit for bit ($n lines)"
    else
      failed "$K: $job" "exit $s1/$s2, $n lines; $(cmp short.out full.num 2>&1)"
    fi
  done
  IFS='|'
  set -- $SWEEPS
  unset IFS
  for job; do
    set -- $job
    in=$1; shift
    scoreloss --model "$M" "$@" < "$in" > sweep.out; s1=$?
    grep '"patch_hook"\|"ablated"' sweep.out > runs.out
    sweep_singles runs.out > singles.ndjson
    scoreloss --model "$M" --dump full.npz < singles.ndjson > full.out; s2=$?
    n=$(wc -l < runs.out | tr -d ' ')
    results runs.out > a.num
    results full.out > b.num
    if [ "$s1$s2" = 00 ] && [ "$n" -ge 40 ] && ! grep -q '"error"' sweep.out full.out &&
      cmp -s a.num b.num; then
      pass "$K: $job: one row fewer == each run alone with every row (--dump), bit for bit ($n runs)"
    else
      failed "$K: $job" "exit $s1/$s2, $n runs; $(cmp a.num b.num 2>&1)"
    fi
  done
done
