#!/bin/sh
# last_rows.sh: a run's final block computed only for the rows that are read
# (tf_block_forward_tail; docs/tools.md, AUTOINTERP_LAST_ROWS).  On every kernel path, for
# scoreloss (drop-last, skip-one, ablate-heads, the patch sweeps over positions and heads, a
# single patch), topk (skip-one at the last position and at two earlier ones, ablate-heads,
# a single patch) and runlayers (greedy skip-one, sampled drop-last), over packed records of
# ragged lengths with answers of one and several tokens, and the fall-backs (--dump, --lens):
# the bytes must be those of AUTOINTERP_LAST_ROWS=0 (every block on every row), and the rows
# trimmed (AUTOINTERP_STATS) exactly what the token counts predict (the head sweep one run
# a pass, --pack 1: its clean run, which captures the last block's z, falls back with the
# corrupted run packed beside it).
. "$(dirname "$0")/../lib.sh"
: "${UNIT:=$ROOT/build/release/tests}"
M=$TMP/model
tiny_model "$M"   # 4 blocks, 4 heads
cd "$TMP" || exit 1

gentasks addition -n 12 > add.ndjson
echo '{"id":"long","prompt":"The Eiffel Tower is located in","answer":"the city of Paris in France"}' >> add.ndjson
gentasks facts-pairs | head -n 4 | ragged_pairs 3 > pairs.ndjson   # record 2 ablates mlp 1
gentasks facts -n 6 > facts.ndjson
head -n 3 facts.ndjson > facts3.ndjson

# stat FILE: "RUNS ROWS" from the stats line.
stat() { sed -n "s/^last rows: \([0-9]*\) runs' final blocks trimmed, \([0-9]*\) rows.*/\1 \2/p" "$1"; }

# predict KIND FILE: "RUNS ROWS" the token counts predict for FILE's records, from n - 1
# (n: a record's prompt tokens), which topk's last position is.
predict() {
  topk --model "$M" --layers all < "$2" > pos.out || return 1
  $PY -c '
import json, sys
kind, L, H = sys.argv[1], 4, 4
P = [json.loads(l)["position"] for l in open("pos.out")]
runs = rows = 0
for p in P:                      # p = n - 1
    n = p + 1
    if kind == "drop-last": r = [p]
    elif kind == "skip-one": r = [p] * L            # intact and every skip but the last block
    elif kind == "ablate-heads": r = [p] * (1 + (L - 1) * H)   # not the last block heads
    elif kind == "topk-ablate": r = [p] * (2 + (L - 1) * H)    # and the intact reference
    elif kind == "patch-sweep": r = [p, p] + [p - q for q in range(n) for _ in range(L)]
    elif kind == "head-sweep": r = [p] * (1 + (L - 1) * H)   # the corrupted run, cells
    elif kind == "early": r = [min(1, n - 2)] * L   # --positions 1,-2, skip-one
    runs += sum(1 for x in r if x > 0)
    rows += sum(r)
print(runs, rows)' "$1"
}

# same NAME KIND INPUT TOOL ARGS..: on == off, bit for bit; with KIND, the stats as predicted.
same() {
  name=$1 kind=$2 in=$3; shift 3
  AUTOINTERP_STATS=1 "$@" < "$in" > on.out 2> on.err; s1=$?
  AUTOINTERP_LAST_ROWS=0 AUTOINTERP_STATS=1 "$@" < "$in" > off.out 2> off.err; s2=$?
  if [ $s1 -eq $s2 ] && [ -s on.out ] && cmp -s on.out off.out; then pass "$K $name: on == off ($(wc -l < on.out) lines)"
  else failed "$K $name: on == off" "exit $s1/$s2, $(cmp on.out off.out 2>&1)"; fi
  [ "$(stat off.err)" = "0 0" ] || failed "$K $name: off trims nothing" "$(stat off.err)"
  [ -n "$kind" ] || return 0
  want=$(predict "$kind" "$in"); got=$(stat on.err)
  if [ "$kind" = none ]; then want="0 0"; fi
  if [ -n "$want" ] && [ "$got" = "$want" ]; then pass "$K $name: trimmed runs, rows = $got"
  else failed "$K $name: trimmed runs, rows" "got '$got', want '$want'"; fi
}

PATCH='[{"hook":"resid_pre","layer":1,"position":2},{"hook":"mlp_out","layer":2}]'
for K in $("$UNIT/test_transformer" --kernel-paths); do
  export AUTOINTERP_KERNEL=$K
  same "scoreloss drop-last" drop-last add.ndjson scoreloss --model "$M" --sweep drop-last
  same "scoreloss skip-one" skip-one add.ndjson scoreloss --model "$M" --sweep skip-one
  same "scoreloss skip-one, one record a pass" skip-one add.ndjson scoreloss --model "$M" --sweep skip-one --pack 1
  same "scoreloss ablate-heads" ablate-heads pairs.ndjson scoreloss --model "$M" --sweep ablate-heads
  same "scoreloss ablate-heads --pack 1" ablate-heads pairs.ndjson scoreloss --model "$M" --sweep ablate-heads --pack 1
  same "scoreloss patch-sweep" "" pairs.ndjson scoreloss --model "$M" --patch-sweep
  AUTOINTERP_PATCH_SKIP=0 same "scoreloss patch-sweep, every cell, --pack 1" patch-sweep pairs.ndjson scoreloss --model "$M" --patch-sweep --pack 1
  same "scoreloss patch-sweep=head" "" pairs.ndjson scoreloss --model "$M" --patch-sweep=head
  AUTOINTERP_PATCH_SKIP=0 same "scoreloss patch-sweep=head, every cell, --pack 1" head-sweep pairs.ndjson scoreloss --model "$M" --patch-sweep=head --pack 1
  same "scoreloss --patch" "" pairs.ndjson scoreloss --model "$M" --patch "$PATCH" --sweep drop-last
  same "topk skip-one" skip-one facts.ndjson topk --model "$M" --sweep skip-one
  same "topk skip-one --positions 1,-2" early facts.ndjson topk --model "$M" --sweep skip-one --positions 1,-2
  same "topk ablate-heads" topk-ablate pairs.ndjson topk --model "$M" --sweep ablate-heads
  same "topk --patch" "" pairs.ndjson topk --model "$M" --patch "$PATCH"
  same "runlayers skip-one greedy" skip-one facts3.ndjson runlayers --model "$M" --sweep skip-one --max-tokens 5
  same "runlayers drop-last sampled" drop-last facts.ndjson runlayers --model "$M" --sweep drop-last --temperature 1 --top-k 40 --seed 1 --max-tokens 5
  # the fall-backs: every run's activations written, the residual after every block read
  rm -f on.npz off.npz
  AUTOINTERP_STATS=1 scoreloss --model "$M" --sweep drop-last --dump on.npz < pairs.ndjson > on.out 2> on.err
  AUTOINTERP_LAST_ROWS=0 scoreloss --model "$M" --sweep drop-last --dump off.npz < pairs.ndjson > off.out 2> off.err
  if [ -s on.npz ] && cmp -s on.npz off.npz && cmp -s on.out off.out && [ "$(stat on.err)" = "0 0" ]; then
    pass "$K --dump: nothing trimmed, the same arrays and lines"
  else failed "$K --dump" "$(stat on.err); $(cmp on.npz off.npz 2>&1)"; fi
  same "topk --lens logit (only the intact references trimmed)" drop-last facts.ndjson topk --model "$M" --sweep drop-last --lens logit
  same "scoreloss --dump-hooks resid_pre (trimmed)" drop-last add.ndjson scoreloss --model "$M" --layers all --dump on-pre.npz --dump-hooks resid_pre
done
