#!/bin/sh
# packing.sh: scoreloss and topk pack records (and the runs of ablation and patch sweeps;
# scoreloss also the ablation sweep's intact runs across records)
# into big forward passes; the output must be the same bytes as one record (one run) at a
# time, on every kernel path, for every sweep: default packing == --pack 1 (== small
# passes, --mem-budget 1M --pack 3, for some), exit statuses included.
. "$(dirname "$0")/../lib.sh"
: "${UNIT:=$ROOT/build/release/tests}"
M=$TMP/model
tiny_model "$M"
cd "$TMP" || exit 1

# Ragged records: additions, facts with corrupted prompts and wrong answers, records with
# their own "layers" (two share theirs), a bad line and an upstream error in between.
gentasks addition -n 8 --seed 3 > add.ndjson
gentasks facts-pairs | head -n 4 > pairs.ndjson
{
  head -n 4 add.ndjson
  echo '{"prompt":"The cat sat on the","answer":"mat","layers":[1,0]}'
  echo 'not json'
  head -n 2 pairs.ndjson
  echo '{"prompt":"Hello","answer":"world","layers":[1,0],"label":"swap"}'
  echo '{"error":"from upstream"}'
  tail -n 4 add.ndjson
  echo '{"prompt":"One two three","answer":"four","layers":[3,3]}'
  tail -n 2 pairs.ndjson
} > mixed.ndjson
check_eq "inputs made" "$(wc -l < mixed.ndjson | tr -d ' ')" 17

# same TOOL NAME ARGS...: the packings give the same bytes and status (small passes only
# when SMALL=1, to keep the test short).
same() {
  tool=$1 name=$2; shift 2
  $tool --model "$M" "$@" < mixed.ndjson > a.out 2>/dev/null; sa=$?
  $tool --model "$M" --pack 1 "$@" < mixed.ndjson > b.out 2>/dev/null; sb=$?
  if [ "${SMALL:-0}" = 1 ]; then $tool --model "$M" --mem-budget 1M --pack 3 "$@" < mixed.ndjson > c.out 2>/dev/null; sc=$?
  else cp a.out c.out; sc=$sa; fi
  if [ -s a.out ] && cmp -s a.out b.out && cmp -s a.out c.out && [ $sa = $sb ] && [ $sa = $sc ]; then
    pass "$K: $tool $name: packed == one at a time, bit for bit ($(wc -l < a.out | tr -d ' ') lines, exit $sa)"
  else
    failed "$K: $tool $name" "exit $sa/$sb/$sc; $(cmp a.out b.out 2>&1) $(cmp a.out c.out 2>&1)"
  fi
}

# Every tool and sweep on the default path; the others (whose kernels differ) on the
# sweeps that exercise each packing: records, records x configurations, ablation variants,
# patch cells (to keep the test short).
FIRST=1
for K in $("$UNIT/test_transformer" --kernel-paths); do
  export AUTOINTERP_KERNEL=$K
  SMALL=$FIRST same scoreloss drop-last --sweep drop-last
  SMALL=$FIRST same scoreloss ablate-heads --sweep ablate-heads
  SMALL=$FIRST same scoreloss "patch-sweep=head on drop-last" --patch-sweep=head --sweep drop-last
  same topk "drop-last, all positions" --sweep drop-last --positions all -k 3
  [ $FIRST = 1 ] || continue
  FIRST=0
  same scoreloss "records' own layers"
  SMALL=1 same scoreloss "skip-one + skip-range:2 + repeat-one" --sweep skip-one --sweep skip-range:2 --sweep repeat-one
  same scoreloss "drop-first + reverse + shuffle" --sweep drop-first --sweep reverse --sweep shuffle:3:7
  same scoreloss "ablate-mlps on skip-one, with an --ablate" --sweep ablate-mlps --sweep skip-one --ablate '[{"component":"head","layer":1,"head":2}]'
  same scoreloss "mean ablate-heads" --sweep ablate-heads --ablate-mode mean --ablate-mean-from add.ndjson
  same scoreloss patch-sweep --patch-sweep
  same scoreloss "patch-sweep=mlp_out on repeat-one" --patch-sweep=mlp_out --sweep repeat-one
  same scoreloss --patch --patch '[{"hook":"resid_pre","layer":1,"position":-1}]'
  same topk "records' own layers"
  same topk skip-one --sweep skip-one
  SMALL=1 same topk ablate-heads --sweep ablate-heads -k 2
  same topk "logit lens" --lens logit --positions 0,-1 -k 2
done
unset AUTOINTERP_KERNEL

# The default packing really packs: one pass per group of records (of the same
# configurations) shows in the rows scored at once; a budget below one record still works.
scoreloss --model "$M" --sweep drop-last --mem-budget 1M < add.ndjson > small.out; s1=$?
scoreloss --model "$M" --sweep drop-last < add.ndjson > big.out; s2=$?
check_eq "a 1M budget: same output, exit 0" "$(cmp -s small.out big.out && echo same) $s1 $s2" "same 0 0"
scoreloss --model "$M" --mem-budget 0.5G < add.ndjson > /dev/null 2> err.txt
check_eq "--mem-budget 0.5G: usage error" "$?" 2
check_grep "--mem-budget: the message says what it takes" "needs a size in 1M..1T" err.txt
topk --model "$M" --pack 0 < add.ndjson > /dev/null 2> err.txt
check_eq "--pack 0: usage error" "$?" 2

# Reading records in batches never waits for more input than is there: a record fed by an
# interactive loop (which waits for the answer before it sends the next) is answered at
# once.  The writer keeps stdin open until the first answer arrives (at most 60 s).
( echo '{"prompt":"a","answer":"b"}'
  i=0; while [ ! -s first.out ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
  [ -s first.out ] || echo waited > waited.txt ) |
  scoreloss --model "$M" --sweep drop-last | { head -n 1 > first.out; cat > /dev/null; }
check_eq "an interactive record is answered before stdin closes" "$(cat waited.txt 2>/dev/null)" ""
check_grep "  ... with its first configuration" '"label":"intact"' first.out
