#!/bin/sh
# dump_pack.sh: records that write a --dump (scoreloss and topk) are packed like the
# others, their arrays kept in memory and written in input order a stretch of records at a
# time (half of --mem-budget); topk unembeds the readouts of a group's records together
# (128 rows a call, fewer when half of --mem-budget holds fewer log-probabilities).  The
# stdout, the exit status and the npz file must be the bytes of --pack 1 and of a 1M
# budget (several stretches, two readout rows per unembedding), and each record's lines
# and arrays those of the record run alone in its own process, on every kernel path, with
# ragged records, error lines in the middle, records with their own ablation.
. "$(dirname "$0")/../lib.sh"
: "${UNIT:=$ROOT/build/release/tests}"
M=$TMP/model
tiny_model "$M"
cd "$TMP" || exit 1

# Ragged patched records (15-40 tokens), a bad line, a length mismatch, a record with its
# own ablation, an upstream error.
gentasks facts-pairs | head -n 9 | ragged_pairs 3 bad > batch.ndjson
check_eq "inputs made" "$(wc -l < batch.ndjson | tr -d ' ')" 11
# seen IN > FILE: for each line, the records the tool has read before it (valid JSON
# without "error": what numbers the dump keys).
seen() {
  $PY -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    print(n)
    try: r = json.loads(line)
    except ValueError: continue
    n += "error" not in r' "$1"
}

# arrays NPZ...: each member of the npz files, in file order: its name and the CRC-32 and
# size of its bytes (the .npy header and the values).
arrays() {
  $PY -c '
import sys, zipfile
for path in sys.argv[1:]:
    with zipfile.ZipFile(path) as z:
        for i in z.infolist(): print(i.filename, i.CRC, i.file_size)' "$@"
}

# same NAME ARGS...: TOOL (scoreloss) on IN (batch.ndjson): default, --pack 1 and --mem-budget
# 1M give the same stdout, status and npz bytes (with DUMP=1, --dump added); each record
# alone in a process (after as many error lines as records came before it, so that its
# dump key is the same) gives its lines and arrays.  ERRORS (3) error lines expected.
same() {
  name=$1; shift
  tool=${TOOL:-scoreloss}; in=${IN:-batch.ndjson}
  d1="" d2="" d3=""
  [ -n "${DUMP:-}" ] && d1="--dump d1.npz" d2="--dump d2.npz" d3="--dump d3.npz"
  rm -f d*.npz p*.npz
  $tool --model "$M" $d1 "$@" < "$in" > o1.out 2>/dev/null; s1=$?
  $tool --model "$M" $d2 --pack 1 "$@" < "$in" > o2.out 2>/dev/null; s2=$?
  $tool --model "$M" $d3 --mem-budget 1M "$@" < "$in" > o3.out 2>/dev/null; s3=$?
  : > o4.out; : > a4.txt; i=0
  seen "$in" > seen.txt
  paste -d '\t' seen.txt "$in" > numbered.txt
  while IFS="$(printf '\t')" read -r seen line; do
    dp=""
    [ -n "${DUMP:-}" ] && dp="--dump p$i.npz"
    { j=0; while [ $j -lt "$seen" ]; do echo '{}'; j=$((j + 1)); done; printf '%s\n' "$line"; } |
      $tool --model "$M" $dp "$@" 2>/dev/null | tail -n +$((seen + 1)) >> o4.out
    [ -n "${DUMP:-}" ] && [ -f p$i.npz ] && arrays p$i.npz >> a4.txt
    i=$((i + 1))
  done < numbered.txt
  npz=same
  if [ -n "${DUMP:-}" ]; then
    arrays d1.npz > a1.txt
    if ! cmp -s d1.npz d2.npz || ! cmp -s d1.npz d3.npz || ! cmp -s a1.txt a4.txt || [ ! -s a1.txt ]; then
      npz="npz differ: $(cmp d1.npz d2.npz 2>&1) $(cmp d1.npz d3.npz 2>&1) $(diff a1.txt a4.txt | head -3)"
    fi
  fi
  errors=$(grep -c '"error"' o1.out)
  if [ "$s1" = 5 ] && [ "$s1$s1" = "$s2$s3" ] && [ "$errors" = "${ERRORS:-3}" ] && [ "$(wc -l < o1.out)" -ge "${MIN:-10}" ] &&
     cmp -s o1.out o2.out && cmp -s o1.out o3.out && cmp -s o1.out o4.out && [ "$npz" = same ]; then
    pass "$K: $tool $name: packed == --pack 1 == 1M budget == one record per process, bit for bit ($(wc -l < o1.out | tr -d ' ') lines, $errors error lines${DUMP:+, $(wc -l < a1.txt | tr -d ' ') arrays})"
  else
    failed "$K: $tool $name" "exit $s1$s2$s3, $errors errors; $(cmp o1.out o2.out 2>&1) $(cmp o1.out o3.out 2>&1) $(cmp o1.out o4.out 2>&1); $npz"
  fi
}

PATCH='[{"hook":"resid_pre","layer":1,"position":-1}]'
# A tuned lens of the test model and records whose configuration (5 blocks) it cannot read
# after their last block: their error comes from a run in the middle of a packed group (the
# arrays dumped before it stay in the file, as when the record ran alone).
prompts_corpus < batch.ndjson > corpus.ndjson
lens --model "$M" --corpus corpus.ndjson --out tl.bin --ridge 0.001 > /dev/null
$PY -c '
import json
for i, line in enumerate(open("batch.ndjson")):
    try: r = json.loads(line)
    except ValueError: print(line, end=""); continue
    if i in (2, 3, 9): r["layers"] = [0, 1, 2, 3, 3]
    print(json.dumps(r))' > tuned.ndjson
HOOKS=resid_pre,z,attn_out,resid_mid,mlp_out,resid_post
for K in $("$UNIT/test_transformer" --kernel-paths); do
  # The sanitizer pass: the first kernel path only (each job starts a process per record;
  # the release pass compares every path, test_matmul runs every path's kernels under ASan).
  sanitized && [ -n "${SHORT:-}" ] && break
  export AUTOINTERP_KERNEL=$K
  if [ -z "${FIRST_DONE:-}" ]; then
    FIRST_DONE=1
    # Every hook dumped over skip-one: 6 hooks x 16 slots x 64 x 4 bytes a token, 24 kB;
    # the records' 8 x 15-40 tokens take well over the 512 kB a stretch holds under 1M.
    scoreloss --model "$M" --patch "$PATCH" --sweep skip-one --dump all.npz --dump-hooks $HOOKS < batch.ndjson > /dev/null 2>&1
    bytes=$(arrays all.npz | awk '{s += $3} END {print s + 0}')
    if [ "$bytes" -gt 1572864 ]; then pass "the dump holds $bytes bytes of arrays: 1M takes 4 stretches at least"
    else failed "the dump is big enough to take several stretches" "$bytes bytes"; fi
  fi
  DUMP=1 MIN=40 same "--patch --dump (every hook, skip-one)" --patch "$PATCH" --sweep skip-one --dump-hooks $HOOKS
  TOOL=topk DUMP=1 MIN=60 same "--patch --dump (every hook, skip-one, 2 positions)" --patch "$PATCH" --sweep skip-one --positions 0,-1 -k 3 --dump-hooks $HOOKS
  # The readouts: under 1M two rows a tf_logits call; by default every record's together.
  ERRORS=2 TOOL=topk MIN=500 same "--sweep skip-one --positions all" --sweep skip-one --positions all -k 2
  # The other kernel paths (their kernels differ): the jobs above, to keep the test short.
  [ -n "${SHORT:-}" ] && continue
  SHORT=1
  DUMP=1 same "--patch --dump" --patch "$PATCH"
  ERRORS=2 DUMP=1 MIN=40 same "--dump (no patch, every hook, skip-one)" --sweep skip-one --dump-hooks $HOOKS
  ERRORS=2 TOOL=topk DUMP=1 MIN=80 same "--lens logit --dump z" --lens logit --positions 0,-1 -k 2 --dump-hooks z
  ERRORS=2 TOOL=topk MIN=500 same "--lens logit --sweep skip-one --positions 0,-1,3" --lens logit --sweep skip-one --positions 0,-1,3 -k 2
  IN=tuned.ndjson ERRORS=6 TOOL=topk DUMP=1 MIN=20 same "--lens tuned --patch --dump, 3 records the lens cannot read" --lens tuned --tuned-lens tl.bin --patch "$PATCH" -k 2
  IN=tuned.ndjson ERRORS=5 TOOL=topk DUMP=1 MIN=20 same "--lens tuned --dump, 3 records the lens cannot read" --lens tuned --tuned-lens tl.bin -k 2
  TOOL=topk MIN=15 same "--patch --ablate --positions 0,-1" --patch "$PATCH" --ablate '[{"component":"head","layer":2,"head":1}]' --positions 0,-1 -k 2
done
unset AUTOINTERP_KERNEL
