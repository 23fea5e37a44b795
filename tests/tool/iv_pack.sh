#!/bin/sh
# iv_pack.sh: the runs of records with interventions that are not a patch (--ablate, a
# record's own "ablate", --lens logit/tuned, --dump) are packed across the records of a
# group (interp_records_run), like plain and patched records; groups keep their rows
# within a quarter of --mem-budget.  Each record's lines (stdout and exit status) must be
# the bytes it gets alone in its own process, and the same under --pack 1 and --mem-budget
# 1M, on every kernel path: ragged records, plain, patched and ablated records mixed, error
# lines in the middle, records the tuned lens cannot read (their error from the middle of
# a packed group).
. "$(dirname "$0")/../lib.sh"
: "${UNIT:=$ROOT/build/release/tests}"
M=$TMP/model
tiny_model "$M"
cd "$TMP" || exit 1

# Ragged records (12-40 tokens): every third one not patched (no corrupt_prompt), record 2
# with its own ablation, record 4 with its own 5-block "layers", record 6 its own "patch";
# a bad line and an upstream error (the two error lines; a third: record 4 under the tuned lens).
gentasks facts-pairs | head -n 9 | $PY -c '
import json, sys
words = "once upon a time in a quiet village far away from the sea there lived many people".split()
for i, line in enumerate(sys.stdin):
    r = json.loads(line)
    pre = " ".join(words[:2 * i + 1]).capitalize() + ". "
    r["prompt"] = pre + r["prompt"]
    r["corrupt_prompt"] = pre + r["corrupt_prompt"]
    if i % 3 == 1: del r["corrupt_prompt"]
    if i == 2: r["ablate"] = [{"component": "mlp", "layer": 1}]
    if i == 4: r["layers"] = [0, 1, 2, 3, 3]
    if i == 6: r["patch"] = [{"hook": "resid_pre", "layer": 1, "position": -1}]
    print(json.dumps(r))
    if i == 3: print("not json")
    if i == 5: print(json.dumps({"error": "from upstream"}))' > mixed.ndjson
check_eq "inputs made" "$(wc -l < mixed.ndjson | tr -d ' ')" 11
prompts_corpus < mixed.ndjson > corpus.ndjson
lens --model "$M" --corpus corpus.ndjson --out tl.bin --ridge 0.001 > /dev/null

# same TOOL ERRORS MIN NAME ARGS...: default == --pack 1 == --mem-budget 1M == each line
# alone in a process (after as many '{}' lines, each an error line, as lines came before
# it: the error lines name their line), status 5 (error lines), ERRORS error lines, MIN
# lines at least.
same() {
  tool=$1 errors=$2 min=$3 name=$4; shift 4
  $tool --model "$M" "$@" < mixed.ndjson > o1.out 2>/dev/null; s1=$?
  $tool --model "$M" --pack 1 "$@" < mixed.ndjson > o2.out 2>/dev/null; s2=$?
  $tool --model "$M" --mem-budget 1M "$@" < mixed.ndjson > o3.out 2>/dev/null; s3=$?
  : > o4.out
  i=0
  while IFS= read -r line; do
    { j=0; while [ $j -lt $i ]; do echo '{}'; j=$((j + 1)); done; printf '%s\n' "$line"; } |
      $tool --model "$M" "$@" 2>/dev/null | tail -n +$((i + 1)) >> o4.out
    i=$((i + 1))
  done < mixed.ndjson
  got=$(grep -c '"error"' o1.out)
  if [ "$s1$s2$s3" = 555 ] && [ "$got" = "$errors" ] && [ "$(wc -l < o1.out)" -ge "$min" ] &&
     cmp -s o1.out o2.out && cmp -s o1.out o3.out && cmp -s o1.out o4.out; then
    pass "$K: $tool $name: packed == --pack 1 == 1M budget == one record per process, bit for bit ($(wc -l < o1.out | tr -d ' ') lines, $got error lines)"
  else
    failed "$K: $tool $name" "exit $s1$s2$s3, $got errors; $(cmp o1.out o2.out 2>&1) $(cmp o1.out o3.out 2>&1) $(cmp o1.out o4.out 2>&1)"
  fi
}

AB='[{"component":"head","layer":2,"head":1}]'
for K in $("$UNIT/test_transformer" --kernel-paths); do
  export AUTOINTERP_KERNEL=$K
  # plain, patched and ablated records side by side (no flag)
  same topk 2 20 "plain, patched, ablated records" --positions 0,-1 -k 2
  same topk 2 80 "--lens logit (every record's runs packed)" --lens logit --positions 0,-1 -k 2
  same topk 3 20 "--lens tuned, a record it cannot read" --lens tuned --tuned-lens tl.bin -k 2
  same scoreloss 2 40 "--ablate --sweep skip-one" --ablate "$AB" --sweep skip-one
  # The sanitizer pass: the jobs above on the first kernel path (a process per record).
  sanitized && break
  same topk 2 40 "--ablate --sweep skip-one" --ablate "$AB" --sweep skip-one -k 2
  same scoreloss 2 8 "plain, patched, ablated records"
done
unset AUTOINTERP_KERNEL
