#!/bin/sh
# threads_same.sh: the tools spread per-row work over the thread pool (topk's log-softmax,
# top-k, rose/fell, KL and answer rank of each row read; scoreloss's log-probability and
# argmax of each answer row; runlayers' sampling) and the matmul passes' tiles; which
# thread computes a row or a tile must not change an output bit.  Each job's stdout with
# AUTOINTERP_THREADS=1 (every task on the calling thread) == with 2 and 3 workers, byte
# for byte, on every kernel path.
. "$(dirname "$0")/../lib.sh"
: "${UNIT:=$ROOT/build/release/tests}"
M=$TMP/model
tiny_model "$M"
cd "$TMP" || exit 1

gentasks facts-pairs | head -n 4 > pairs.ndjson
gentasks addition -n 6 > add.ndjson
gentasks facts | head -n 3 > facts.ndjson

# same NAME INPUT TOOL ARGS...: TOOL's stdout with 1 worker == with 2 and with 3.
same() {
  name=$1 input=$2; shift 2
  AUTOINTERP_THREADS=1 "$@" --model "$M" < "$input" > t1.out; s1=$?
  AUTOINTERP_THREADS=2 "$@" --model "$M" < "$input" > t2.out; s2=$?
  AUTOINTERP_THREADS=3 "$@" --model "$M" < "$input" > t3.out; s3=$?
  n=$(wc -l < t1.out | tr -d ' ')
  if [ "$s1$s2$s3" = 000 ] && [ "$n" -gt 0 ] && cmp -s t1.out t2.out && cmp -s t1.out t3.out; then
    pass "$K: $name: 1, 2 and 3 workers write the same bytes ($n lines)"
  else
    failed "$K: $name" "exit $s1/$s2/$s3, $n lines; $(cmp t1.out t2.out; cmp t1.out t3.out)"
  fi
}

for K in $("$UNIT/test_transformer" --kernel-paths); do
  export AUTOINTERP_KERNEL=$K
  same "topk --sweep skip-one --positions all (answers ranked)" pairs.ndjson \
    topk --sweep skip-one --positions all -k 5
  same "topk --sweep ablate-heads --positions 0,-1 (readouts)" pairs.ndjson \
    topk --sweep ablate-heads --positions 0,-1 -k 3
  same "topk --lens logit" facts.ndjson topk --lens logit -k 2
  same "scoreloss --sweep drop-last" add.ndjson scoreloss --sweep drop-last
  same "scoreloss --patch-sweep" pairs.ndjson scoreloss --patch-sweep
  same "runlayers --sweep skip-one (greedy)" facts.ndjson runlayers --sweep skip-one --max-tokens 6
  same "runlayers sampled" facts.ndjson \
    runlayers --sweep drop-last --temperature 1 --top-k 40 --seed 1 --max-tokens 6
done
