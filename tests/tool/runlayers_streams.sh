#!/bin/sh
# runlayers_streams.sh: runlayers decodes many record x configuration streams together
# (continuous batching: passes by block across configurations, prefills packed across
# records, --streams/--mem-budget bounding the streams) — the output must be the same
# bytes as ONE STREAM AT A TIME (--streams 1 --batch 1), greedy and sampled, on every
# kernel path, for sweeps whose configurations skip, repeat and reorder blocks; exit
# statuses and error records included.
. "$(dirname "$0")/../lib.sh"
: "${UNIT:=$ROOT/build/release/tests}"
M=$TMP/model
tiny_model "$M"
cd "$TMP" || exit 1

# Ragged records: facts and additions, records with their own "layers", a prompt that
# fills the 128-token context (finish "context"), a bad line, an upstream error.
gentasks facts -n 6 > facts.ndjson
gentasks addition -n 6 --seed 5 > add.ndjson
long=$($PY -c 'print(" ".join(["one"] * 125))')
{
  head -n 3 facts.ndjson
  echo '{"prompt":"The cat sat on the","layers":[1,0,1]}'
  head -n 3 add.ndjson
  echo 'not json'
  echo "{\"prompt\":\"$long\",\"id\":\"long\"}"
  tail -n 3 facts.ndjson
  echo '{"error":"from upstream"}'
  echo '{"prompt":"Hello","layers":[3,3,2]}'
  tail -n 3 add.ndjson
} > mixed.ndjson
check_eq "inputs made" "$(wc -l < mixed.ndjson | tr -d ' ')" 17

# same NAME ARGS...: the default decoding, a small --streams and a small --mem-budget give
# the bytes and status of one stream at a time.
same() {
  name=$1; shift
  runlayers --model "$M" --max-tokens 7 "$@" < mixed.ndjson > a.out 2>/dev/null; sa=$?
  runlayers --model "$M" --max-tokens 7 --streams 1 --batch 1 "$@" < mixed.ndjson > b.out 2>/dev/null; sb=$?
  runlayers --model "$M" --max-tokens 7 --streams 5 --batch 3 "$@" < mixed.ndjson > c.out 2>/dev/null; sc=$?
  runlayers --model "$M" --max-tokens 7 --mem-budget 1M "$@" < mixed.ndjson > d.out 2>/dev/null; sd=$?
  lines=$(wc -l < a.out | tr -d ' ')
  if [ "$lines" -gt 10 ] && cmp -s a.out b.out && cmp -s a.out c.out && cmp -s a.out d.out &&
     [ $sa = $sb ] && [ $sa = $sc ] && [ $sa = $sd ]; then
    pass "$K: runlayers $name: batched == one stream at a time, bit for bit ($lines lines, exit $sa)"
  else
    failed "$K: runlayers $name" "exit $sa/$sb/$sc/$sd; $(cmp a.out b.out 2>&1) $(cmp a.out c.out 2>&1) $(cmp a.out d.out 2>&1)"
  fi
}

FIRST=1
for K in $("$UNIT/test_transformer" --kernel-paths); do
  # The sanitizer pass: the first kernel path only (the release pass compares every path).
  sanitized && [ $FIRST = 0 ] && break
  export AUTOINTERP_KERNEL=$K
  same "skip-one + reverse, greedy" --sweep skip-one --sweep reverse
  same "drop-last, sampled top-k" --sweep drop-last --temperature 1 --top-k 40 --seed 1
  [ $FIRST = 1 ] || continue
  FIRST=0
  same "records' own layers, sampled" --temperature 0.8 --seed 3
  same "repeat-one + swap-adjacent + shuffle, sampled" --sweep repeat-one --sweep swap-adjacent --sweep shuffle:3:7 --temperature 1.5 --seed 9
  same "drop-first + skip-range:2, --stop" --sweep drop-first --sweep skip-range:2 --stop ","
done
unset AUTOINTERP_KERNEL

# The long prompt fills the context: its completions end with "context", the bad line and
# the upstream error come out as error records, and the exit status says so.
runlayers --model "$M" --max-tokens 7 --sweep skip-one < mixed.ndjson > e.out 2>/dev/null
check_eq "error records: exit 5 (bad input)" "$?" 5
check_eq "skip-one: 5 configurations x 15 records + 2 errors" "$(wc -l < e.out | tr -d ' ')" 77
check_eq "the long prompt: every completion ends on the context" \
  "$(grep '"id":"long"' e.out | grep -c '"finish_reason":"context"')" 5
check_eq "the other completions run to --max-tokens or eos" \
  "$(grep -v '"id":"long"' e.out | grep -v '"error"' | grep -c '"finish_reason":"\(length\|eos\)"')" 70

# --mem-budget smaller than one stream's KV cache still decodes (one stream at a time).
runlayers --model "$M" --max-tokens 3 --sweep skip-one --mem-budget 1M < facts.ndjson > f.out 2>/dev/null
check_eq "--mem-budget 1M: every stream decoded" "$(grep -c '"completion_tokens":\[' f.out)" 30
runlayers --model "$M" --streams 0 < facts.ndjson > /dev/null 2> g.err
check_eq "--streams 0: usage error" "$?" 2
check_grep "--streams 0: the message names the option" "streams" g.err
