#!/bin/sh
# runlayers_share.sh: a decoding step runs the blocks that the layer lists of a record's
# streams begin with in common once for the streams whose tokens still agree (the same
# history: the same inputs), the keys/values copied into each member's cache
# (docs/tools.md, runlayers).  On every kernel path, on the trained example model (whose
# configurations keep the intact model's tokens for a while, then part): the bytes and
# exit status must be those of AUTOINTERP_DECODE_SHARE=0 (every stream runs all its
# blocks) — greedy and sampled sweeps, ragged prompts (facts, additions), --stop,
# slots refilled (--streams 4) — and the block rows AUTOINTERP_STATS counts as shared
# exactly those the completion tokens predict: at step t a record's streams whose first
# t tokens agree run the distinct prefixes of their layer lists once.
. "$(dirname "$0")/../lib.sh"
: "${UNIT:=$ROOT/build/release/tests}"
M=$ROOT/examples/model
cd "$TMP" || exit 1

{
  gentasks facts -n 8
  echo '{"id":"own","prompt":"The capital of France is","layers":[1,0,1,3]}'
  gentasks addition -n 8 --seed 3
  echo 'not json'
} > in.ndjson

# stats STDERR: "RUN SHARED" from the stats line.
stats() { sed -n 's/^runlayers: decoding block rows: \([0-9]*\) run, \([0-9]*\) shared.*/\1 \2/p' "$1"; }

# predict OUT: "RUN SHARED" as the completion tokens say, then "DIVERGED" (pairs of
# streams of a record that agreed on their first token and parted later).  A stream of G
# tokens ran G-1 steps (G when it ended on <|endoftext|>, which is not in its tokens);
# at step t (from 1) it fed its first t tokens.
predict() {
  $PY -c '
import json, sys
recs, key = [], None
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "error" in r: continue
    k = (r.get("id"), r["prompt"])
    if k != key: recs.append([]); key = k
    toks = r["completion_tokens"]
    recs[-1].append((tuple(r["layers"]), toks, len(toks) - (r["finish_reason"] != "eos")))
run = shared = diverged = 0
for streams in recs:
    for t in range(1, max(s[2] for s in streams) + 1):
        groups = {}
        for layers, toks, steps in streams:
            if steps >= t: groups.setdefault(tuple(toks[:t]), []).append(layers)
        for g in groups.values():
            nodes = {l[:d] for l in g for d in range(1, len(l) + 1)}
            run += len(nodes)
            shared += sum(map(len, g)) - len(nodes)
    for i, a in enumerate(streams):
        for b in streams[i + 1:]:
            n = min(len(a[1]), len(b[1]))
            if n > 1 and a[1][0] == b[1][0] and a[1][:n] != b[1][:n]: diverged += 1
print(run, shared, diverged)' "$1"
}

# same NAME ARGS...: sharing on == off, bit for bit; unless CHECK_STATS=0 the stats too
# (some rows shared; unless DIVERGED=0, some streams parted after agreeing).
same() {
  name=$1; shift
  AUTOINTERP_STATS=1 runlayers --model "$M" --max-tokens 12 "$@" < in.ndjson > on.out 2> on.err; s1=$?
  AUTOINTERP_STATS=1 AUTOINTERP_DECODE_SHARE=0 runlayers --model "$M" --max-tokens 12 "$@" < in.ndjson > off.out 2> off.err; s2=$?
  lines=$(wc -l < on.out | tr -d ' ')
  if [ "$lines" -gt 20 ] && cmp -s on.out off.out && [ $s1 = $s2 ]; then
    pass "$K: $name: sharing on == off, bit for bit ($lines lines, exit $s1)"
  else
    failed "$K: $name" "exit $s1/$s2; $(cmp on.out off.out 2>&1)"
  fi
  [ "${CHECK_STATS:-1}" = 1 ] || return 0
  set -- $(predict off.out)
  got_on=$(stats on.err) got_off=$(stats off.err)
  if [ "$got_on" = "$1 $2" ] && [ "$got_off" = "$(($1 + $2)) 0" ] && [ "$2" -gt 0 ] &&
     { [ "$3" -gt 0 ] || [ "${DIVERGED:-1}" = 0 ]; }; then
    pass "$K: $name: $2 of $(($1 + $2)) block rows shared, as the tokens predict ($3 pairs of streams parted after agreeing)"
  else
    failed "$K: $name: shared rows" "on [$got_on] off [$got_off] predicted [$1 $2] diverged [$3]"
  fi
}

FIRST=1
for K in $("$UNIT/test_transformer" --kernel-paths); do
  sanitized && [ $FIRST = 0 ] && break
  export AUTOINTERP_KERNEL=$K
  same "skip-one + drop-last, greedy" --sweep skip-one --sweep drop-last
  same "drop-last, sampled top-k" --sweep drop-last --temperature 1 --top-k 40 --seed 1
  CHECK_STATS=0 same "skip-one, --streams 4 (slots refilled, records split)" --sweep skip-one --streams 4 --batch 5
  [ $FIRST = 1 ] || continue
  FIRST=0
  DIVERGED=0 same "skip-one, --stop at the line's end" --sweep skip-one --stop "
"
  n=$(grep -c '"finish_reason":"stop"' on.out)
  if [ "$n" -gt 20 ]; then pass "$K: --stop: $n streams stopped on it"; else failed "$K: --stop" "$n stopped"; fi
  same "skip-one, sampled T=0.3" --sweep skip-one --temperature 0.3 --seed 2
done
unset AUTOINTERP_KERNEL

AUTOINTERP_DECODE_SHARE=0 runlayers --model "$M" --max-tokens 3 < in.ndjson > /dev/null 2> off.err
check_eq "no AUTOINTERP_STATS: no stats line" "$(grep -c 'decoding block rows' off.err)" 0
