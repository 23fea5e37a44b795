#!/bin/sh
# patch_resume.sh: a --patch-sweep cell at (block, position p) runs only positions p.. from
# its block, over the corrupted run's cached keys/values (docs/interp.md).  Every cell must
# give the same bytes as that patch applied alone in a full run from the embeddings (a
# record with the cell as its "patch"), and as --pack 1 and small passes, for every hook
# the sweep takes (the head sweep too), over configurations with skipped and repeated
# blocks, with a record ablation, on every kernel path.  Batches of patched records
# (scoreloss --patch-sweep and --patch, topk --patch), packed across records, must give
# the bytes of --pack 1, of small budgets and of one record per process.
. "$(dirname "$0")/../lib.sh"
: "${UNIT:=$ROOT/build/release/tests}"
M=$TMP/model
tiny_model "$M"
cd "$TMP" || exit 1

gentasks facts-pairs | head -n 3 > pairs.ndjson
echo '{"prompt":"When Mary and John went to the store, John gave a drink to","corrupt_prompt":"When Mary and John went to the store, Mary gave a drink to","answer":"Mary","wrong_answer":"John","layers":[0,2,2,3]}' >> pairs.ndjson

# results FILE: the numbers of every record as written (raw text), one line each.
results() {
  $PY -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line, parse_float=str)
    print(" ".join(str(r.get(k)) for k in ("layers", "answer_loss", "answer_token_losses", "logit_diff", "patch_effect", "answer_exact")))' "$1"
}

# Every hook on the first kernel path; on the others (whose kernels differ) the position
# grid over repeated blocks, the head grid and an ablation, to keep the test short.  In
# the sanitizer pass the sweep-vs-singles comparison runs on the first kernel path only.
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
    # In the sanitizer pass (tests/lib.sh) the cells against single runs on the first
    # kernel path only, and every 8th cell (each a full run: ~2600 runs for the 7 specs;
    # every 8th still spans every block and hook): the single runs are plain --patch
    # records, the same code at more cells.
    sanitized && [ "$SPECS" != "$ALL" ] && continue
    if sanitized; then awk 'NR % 8 == 1' sweep.out > cells.out; else cp sweep.out cells.out; fi
    cells=$(wc -l < cells.out | tr -d ' ')
    # the record ablation (if any) goes with every single run too
    sweep_singles cells.out > singles.ndjson
    ablate=""
    [ "$1" = "--ablate" ] && ablate=$2
    if [ -n "$ablate" ]; then scoreloss --model "$M" --ablate "$ablate" < singles.ndjson > singles.out
    else scoreloss --model "$M" < singles.ndjson > singles.out; fi
    results cells.out > a.txt
    results singles.out > b.txt
    if [ -s a.txt ] && [ "$(wc -l < b.txt)" = "$cells" ] && cmp -s a.txt b.txt; then
      pass "$K: --patch-sweep=$spec: every cell == its patch alone in a full run, bit for bit ($cells cells)"
    else
      failed "$K: --patch-sweep=$spec: cells vs full runs" "$(diff a.txt b.txt | head -4)"
    fi
  done
  SPECS=$SOME
done
unset AUTOINTERP_KERNEL

# Several patched records in one batch: their clean and corrupted runs are packed across
# records into one forward pass (ragged lengths, a record's own ablation, a bad record in
# between), then each record's cells.  The bytes and the exit status must be those of
# --pack 1, of each record run alone, and of a --mem-budget whose half (what the records'
# captures may take) holds fewer records than the batch: on this model a record of T
# tokens keeps 4608 T bytes for the position sweep (resid_pre and keys/values of 4 blocks,
# C 64), so the batch's tokens must pass 512K / 4608 = 113.
gentasks facts-pairs | head -n 7 | ragged_pairs 4 > batch.ndjson
# prompt_tokens OUT: the tokens of every record scored (BOS + prompt + answer), summed;
# patch_cells / 4 blocks gives the prompt's.
prompt_tokens() {
  $PY -c '
import json, sys
seen, total = set(), 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "patch_cells" in r and r["id"] not in seen:
        seen.add(r["id"])
        total += r["patch_cells"] // 4 + len(r["answer_tokens"])
print(total)' "$1"
}
# batch NAME ARGS...: default, --pack 1, --mem-budget 1M (and with --pack 3) and one
# record per process give the same bytes and status (at least MIN lines, 100 unless set).
# IN (batch.ndjson unless set) is the input, ERRORS (1) its error lines; TOOL (scoreloss)
# the tool.  In the sanitizer pass (tests/lib.sh) one record per process (a process start
# per record, the code of --pack 1) only over batch.ndjson on the first kernel path.
batch() {
  name=$1; shift
  in=${IN:-batch.ndjson}; tool=${TOOL:-scoreloss}
  $tool --model "$M" "$@" < "$in" > b1.out 2>/dev/null; s1=$?
  $tool --model "$M" --pack 1 "$@" < "$in" > b2.out 2>/dev/null; s2=$?
  $tool --model "$M" --mem-budget 1M "$@" < "$in" > b3.out 2>/dev/null; s3=$?
  $tool --model "$M" --mem-budget 1M --pack 3 "$@" < "$in" > b4.out 2>/dev/null; s4=$?
  alone=" == one per process"
  if sanitized && { [ "$K" != "$K1" ] || [ "$in" != batch.ndjson ]; }; then
    cp b2.out b5.out; s5=$s2; alone=""
  else
    : > b5.out; s5=0
    while IFS= read -r line; do
      printf '%s\n' "$line" | $tool --model "$M" "$@" >> b5.out 2>/dev/null || s5=$?
    done < "$in"
  fi
  errors=$(grep -c '"error"' b1.out)
  records=$(wc -l < "$in" | tr -d ' ')
  if [ "$s1" != 0 ] && [ "$s1$s1$s1$s1$s1" = "$s1$s2$s3$s4$s5" ] && [ "$errors" = "${ERRORS:-1}" ] && [ "$(wc -l < b1.out)" -ge "${MIN:-100}" ] &&
     cmp -s b1.out b2.out && cmp -s b1.out b3.out && cmp -s b1.out b4.out && cmp -s b1.out b5.out; then
    pass "$K: $tool $name, $records ragged records: packed == --pack 1 == 1M budget$alone, bit for bit ($(wc -l < b1.out | tr -d ' ') lines, $errors error lines, exit $s1)"
  else
    failed "$K: $tool $name, $records ragged records" "exit $s1$s2$s3$s4$s5, $errors errors; $(cmp b1.out b2.out 2>&1) $(cmp b1.out b3.out 2>&1) $(cmp b1.out b4.out 2>&1) $(cmp b1.out b5.out 2>&1)"
  fi
}
# baselines: the packed clean and corrupted runs against the records scored without
# patching (each prompt alone, its ablation kept; no code of the patching path).
$PY -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    for key in ("prompt", "corrupt_prompt"):
        out = {k: r[k] for k in ("id", "answer", "separator", "wrong_answer", "ablate") if k in r}
        out["prompt"] = r[key]
        print(json.dumps(out))' batch.ndjson > plain.ndjson
baselines() {
  $PY -c '
import json, sys
plain = [json.loads(l, parse_float=str) for l in open(sys.argv[2])]
seen = set()
for line in open(sys.argv[1]):
    r = json.loads(line, parse_float=str)
    if "error" in r or r["id"] in seen: continue
    seen.add(r["id"])
    i = [p["id"] for p in plain].index(r["id"])
    print(r["id"], r["clean_answer_loss"], r["clean_logit_diff"], r["corrupt_answer_loss"], r["corrupt_logit_diff"])
    print(r["id"], plain[i]["answer_loss"], plain[i]["logit_diff"], plain[i + 1]["answer_loss"], plain[i + 1]["logit_diff"], file=sys.stderr)' "$1" "$2"
}
PATCH='[{"hook":"resid_pre","layer":1,"position":-1},{"hook":"mlp_out","layer":2}]'
# big.ndjson: batch.ndjson 8 times, each copy's prompts lengthened differently.
$PY -c '
import json, sys
lines = open("batch.ndjson").read().splitlines()
for k in range(8):
    for line in lines:
        r = json.loads(line)
        r["id"] = "%s-%d" % (r.get("id"), k)
        extra = " and then" * k
        r["prompt"] = "So" + extra + ", " + r["prompt"]
        r["corrupt_prompt"] = "So" + extra + ", " + r["corrupt_prompt"]
        print(json.dumps(r))' > big.ndjson
# The tokens of big.ndjson's patched records against what 1M's half holds: a record of T
# tokens keeps (2 points x 4 blocks + 3) x 64 x 4 = 2816 T bytes here, so more than
# 524288 / 2816 = 186 tokens take several chunks.
scoreloss --model "$M" --patch "$PATCH" < big.ndjson 2>/dev/null | $PY -c '
import json, sys
print(sum(len(json.loads(l).get("answer_tokens", [])) for l in sys.stdin))' > answer_tokens.txt
tokenize --model "$M" < big.ndjson | $PY -c '
import json, sys
ok = [json.loads(l) for l in sys.stdin]
print(sum(len(r["tokens"]) for r in ok if "error" not in r))' > prompt_tokens.txt
big_tokens=$(( $(cat answer_tokens.txt) + $(cat prompt_tokens.txt) ))
if [ "$big_tokens" -gt 400 ]; then pass "big.ndjson: $big_tokens tokens: 1M takes several chunks (186 tokens a chunk at most)"
else failed "big.ndjson forces several chunks" "$big_tokens tokens"; fi
K1=""
for K in $("$UNIT/test_transformer" --kernel-paths); do
  export AUTOINTERP_KERNEL=$K
  : "${K1:=$K}"
  batch "--patch-sweep" --patch-sweep
  scoreloss --model "$M" < plain.ndjson > plain.out 2>/dev/null
  baselines b1.out plain.out > base_a.txt 2> base_b.txt
  if [ "$(wc -l < base_a.txt)" = 6 ] && cmp -s base_a.txt base_b.txt; then
    pass "$K: the 6 records' packed clean/corrupted baselines == each prompt scored alone, bit for bit"
  else
    failed "$K: packed baselines" "$(diff base_a.txt base_b.txt | head -4)"
  fi
  if [ -z "$FIRST_DONE" ]; then
    FIRST_DONE=1
    tokens=$(prompt_tokens b1.out)
    if [ "$tokens" -gt 113 ]; then pass "the batch's 6 scored records have $tokens tokens: 1M forces several passes"
    else failed "the batch is big enough to force the fallback" "$tokens tokens"; fi
    for hook in resid_mid resid_post attn_out mlp_out; do batch "--patch-sweep=$hook" --patch-sweep=$hook; done
  fi
  batch "--patch-sweep=head on skip-one" --patch-sweep=head --sweep skip-one
  MIN=7 batch "--patch (resid_pre at the last position, mlp_out 2 everywhere)" --patch "$PATCH"
  # A single patch: the patched runs are packed across records too, a chunk of records
  # (their captures within half the budget) at a time.  big.ndjson's 56 records (8 of them
  # errors) must take several chunks under 1M (checked below); with an ablation on every
  # run, over a configuration that skips and repeats blocks; topk the same.
  IN=big.ndjson ERRORS=8 MIN=48 batch "--patch, several chunks" --patch "$PATCH"
  IN=big.ndjson ERRORS=8 MIN=48 batch "--patch --ablate --layers 0,2,2,3" --patch "$PATCH" --ablate '[{"component":"head","layer":2,"head":1}]' --layers 0,2,2,3
  TOOL=topk IN=big.ndjson ERRORS=8 MIN=48 batch "--patch" --patch "$PATCH" -k 3
  TOOL=topk ERRORS=1 MIN=24 batch "--patch --ablate --positions 0,-1 --sweep skip-one" --patch "$PATCH" --ablate '[{"component":"mlp","layer":0}]' --positions 0,-1 -k 2 --sweep skip-one
  TOOL=topk ERRORS=1 MIN=30 batch "--patch --lens logit" --patch "$PATCH" --lens logit -k 2
done
unset AUTOINTERP_KERNEL
