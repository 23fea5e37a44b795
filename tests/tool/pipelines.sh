#!/bin/sh
# pipelines: pipelines/layer-sweep.sh (NDJSON and table forms, usage errors, bad records),
# the examples/Makefile DAG (full run, nothing left to do, one task file's chain, a model
# change, -j2 = -j1), and GNU parallel sharding equal to one unsharded run.
. "$(dirname "$0")/../lib.sh"
M=$TMP/model
tiny_model "$M"
LS=$ROOT/pipelines/layer-sweep.sh
cd "$TMP" || exit 1

# ---- layer-sweep.sh, NDJSON: the summary records exactly as the tools write them
sh "$LS" --model "$M" --task facts --task counting -n 6 > ls.ndjson 2> ls.err
check_eq "layer-sweep: exit 0" "$?" 0
gentasks --task facts --task counting -n 6 | scoreloss --model "$M" --sweep drop-last | scoreloss --summary > direct.ndjson
check "layer-sweep NDJSON (stdout not a terminal) = gentasks | scoreloss | --summary" cmp ls.ndjson direct.ndjson
check_eq "layer-sweep: one record per task x configuration" "$(wc -l < ls.ndjson)" 10
check_eq "layer-sweep: nothing on stderr" "$(cat ls.err)" ""
sh "$LS" --model "$M" --task facts -n 4 --sweep skip-one --layers 3,2,1,0 --ndjson > ls2.ndjson
gentasks facts -n 4 | scoreloss --model "$M" --sweep skip-one --layers 3,2,1,0 | scoreloss --summary > direct2.ndjson
check "layer-sweep --ndjson with --sweep and --layers" cmp ls2.ndjson direct2.ndjson

# ---- layer-sweep.sh --table: a row per configuration with the summary's numbers, then
# each configuration's completion of the sample prompts.
sh "$LS" --model "$M" --task facts --task counting -n 6 --sweep drop-last --sweep reverse \
  --samples 2 --max-tokens 5 --table --keep keep > table.txt
check_eq "layer-sweep --table: exit 0" "$?" 0
gentasks --task facts --task counting -n 6 | scoreloss --model "$M" --sweep drop-last --sweep reverse \
  | scoreloss --summary > direct3.ndjson
gentasks --task facts --task counting -n 2 | runlayers --model "$M" --sweep drop-last --sweep reverse \
  --max-tokens 5 > gen.ndjson
check "--keep keeps the summary" cmp keep/summary.ndjson direct3.ndjson
check "--keep keeps the completions" cmp keep/samples.ndjson gen.ndjson
check "--keep keeps the task records" test -s keep/tasks.ndjson -a -s keep/scores.ndjson
$PY - direct3.ndjson gen.ndjson table.txt > table.check <<'EOF'
import json, re, sys
summary = [json.loads(l) for l in open(sys.argv[1])]
gen = [json.loads(l) for l in open(sys.argv[2])]
raw_completions = [re.search(r'"completion":("(?:[^"\\]|\\.)*")', l).group(1) for l in open(sys.argv[2])]
lines = open(sys.argv[3]).read().split("\n")
problems = []
h = next(i for i, l in enumerate(lines) if l.startswith("task "))
rows = lines[h + 1:h + 1 + len(summary)]
if lines[h + 1 + len(summary)] != "":
    problems.append("table has more rows than the summary")
fmt = lambda x, f: "-" if x is None else f % x
for rec, row in zip(summary, rows):
    cells = [rec["task"], rec["label"], str(rec["n"]), fmt(rec["mean_loss"], "%.4f"), "\u00b1",
             fmt(rec["stderr"], "%.4f"), fmt(rec["exact_rate"], "%.3f"), fmt(rec["delta_loss"], "%+.4f"),
             json.dumps(rec["layers"], separators=(",", ":"))]
    if not re.fullmatch(r"\s*".join(re.escape(c) for c in cells), row):
        problems.append("row %r != %r" % (row, cells))
if len({r.index("\u00b1") for r in rows + [lines[h]]}) != 1:
    problems.append("columns not aligned")
# Completions: the JSON string decoded, control characters (and lone surrogates) shown
# as their JSON escapes.
ESC = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
def shown(s):
    return "".join(ESC.get(c) or ("\\u%04x" % ord(c) if ord(c) < 32 or 0xD800 <= ord(c) < 0xE000 else c)
                   for c in json.loads(s))
heads = [l for l in lines if l.startswith("== ")]
ids = [r["id"] for r in gen]
want_heads = ["== %s  (answer: %s)" % (r["id"], r["answer"]) for i, r in enumerate(gen) if r["id"] not in ids[:i]]
if heads != want_heads or [h.split()[1] for h in heads] != ["facts-0", "facts-1", "counting-0", "counting-1"]:
    problems.append("sample headings %r" % heads)
start = lines.index(heads[0]) if heads else len(lines)
for rec, rawc in zip(gen, raw_completions):
    want = re.compile(r"   " + re.escape(rec["label"]) + r" *\|" + re.escape(shown(rawc)) + "$")
    if not any(want.match(l) for l in lines[start:]):
        problems.append("no sample line for %s / %s: %r" % (rec["id"], rec["label"], shown(rawc)))
print("\n".join(problems) if problems else "ok")
EOF
check_eq "table rows = summary records (values, order, alignment), samples = runlayers" "$(cat table.check)" ok
printf '%s\n' '{"id":"t-0","label":"a","completion":"x\u00e9\ufffd\ud83d\ude00\u0001\n\"q\"\\\/\ud800z","prompt":"p"}' |
  sh "$ROOT/pipelines/ndjson-table.sh" samples > escapes.txt
check_eq "table shows \\uXXXX of printable characters as UTF-8, control escapes kept" "$(sed -n 3p escapes.txt)" \
  "$(printf '   a  |x\303\251\357\277\275\360\237\230\200\\u0001\\n"q"\\/\\ud800z')"
check_grep "table header names the run" "layer sweep: model $M; facts counting; --sweep drop-last --sweep reverse; -n 6" table.txt
sh "$LS" --model "$M" --task facts -n 3 --samples 0 --table > nosamples.txt
check_eq "--samples 0: no completions" "$(grep -c '^== ' nosamples.txt)" 0
check_eq "--samples 0: header + rows" "$(grep -c '^facts ' nosamples.txt)" 5

# Tools found next to the script when they are not on PATH.
if [ -x "$ROOT/bin/gentasks" ]; then
  env PATH=/usr/bin:/bin sh "$LS" --model "$M" --task facts -n 6 --ndjson > nopath.ndjson 2>&1
  head -5 direct.ndjson > direct.facts
  check "tools from the checkout's bin/ when not on PATH" cmp nopath.ndjson direct.facts
fi

# Bad records: the summary of the good ones comes out, the status is 5.
$PY -c '
import json
print(json.dumps([{"name": "mixed", "examples": [
  {"prompt": "The capital of France is", "answer": "Paris"},
  {"prompt": " ".join(["word"] * 200), "answer": "end"},
  {"prompt": "The capital of Italy is", "answer": "Rome"}]}]))' > mixed.json
sh "$LS" --model "$M" --from mixed.json --sweep reverse > mixed.ndjson 2> mixed.err
check_eq "bad records: exit status 5" "$?" 5
check_grep "bad records: the good ones are summarised" '{"task":"mixed","label":"intact","layers":[0,1,2,3],"n":2,' mixed.ndjson
check_grep "bad records: reported on stderr" "exceeds the context window" mixed.err
check_grep "bad records: the script says which step" "layer-sweep.sh: scoreloss reported bad records" mixed.err

# Usage errors: status 2 and a message.
usage_case() {  # usage_case NAME PATTERN ARGS...
  name=$1 pat=$2; shift 2
  sh "$LS" "$@" > usage.out 2> usage.err
  rc=$?
  check_eq "usage: $name: status 2" "$rc" 2
  check_grep "usage: $name: message" "$pat" usage.err
  check_eq "usage: $name: no output" "$(wc -c < usage.out)" 0
}
usage_case "no task" "no task: give --task NAME" --model "$M"
usage_case "unknown option" 'unknown argument "--bogus"' --model "$M" --task facts --bogus
usage_case "bad -n" '-n must be a whole number >= 1, not "0"' --model "$M" --task facts -n 0
usage_case "bad --samples" '--samples must be a whole number, not "x"' --model "$M" --task facts --samples x
usage_case "missing value" "option --sweep needs a value" --model "$M" --task facts --sweep
usage_case "unknown sweep" 'unknown sweep "nope"' --model "$M" --task facts --sweep nope
usage_case "unknown task" "unknown task 'nope'" --model "$M" --task nope
usage_case "missing model" "layer-sweep.sh: scoreloss failed (status 2)" --model "$TMP/nowhere" --task facts
sh "$LS" --help > help.out 2>&1
check_eq "--help: status 0" "$?" 0
check_grep "--help: usage" "usage: layer-sweep.sh --task NAME" help.out

# ---- examples/Makefile: the experiment DAG, into $TMP (the checkout stays clean)
cp -R "$ROOT/examples/tasks" tasks
# A clean make: nothing inherited from a `make test` above us (jobserver, variables).
MK="env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -C $ROOT/examples TASKDIR=$TMP/tasks N=6"
$MK OUT="$TMP/dag" > dag.log 2>&1
check_eq "make: full run succeeds" "$?" 0
for t in facts counting capitals everyday; do
  for s in drop-last skip-one; do
    [ -s "dag/summary/$t.$s.ndjson" ] && [ -s "dag/topk/$t.$s.ndjson" ] && [ -s "dag/samples/$t.$s.ndjson" ] || echo "$t.$s" >> missing.txt
  done
done
check_eq "make: every task x sweep has scores, summary, topk, samples" "$(cat missing.txt 2>/dev/null)" ""
check "make: the synthetic model is the test's tiny model" cmp dag/model/model.safetensors "$M/model.safetensors"
check "make: hand-written task file copied" cmp dag/tasks/capitals.ndjson tasks/capitals.ndjson
gentasks --from tasks/everyday.json > everyday.ndjson
check "make: task list through gentasks --from" cmp dag/tasks/everyday.ndjson everyday.ndjson
gentasks facts -n 6 | scoreloss --model "$M" --sweep skip-one | scoreloss --summary > facts.skip.ndjson
check "make: summary = gentasks | scoreloss | --summary" cmp dag/summary/facts.skip-one.ndjson facts.skip.ndjson
sed 's/^{/{"sweep":"skip-one",/' facts.skip.ndjson > facts.skip.tagged
check "make: combined summary carries the sweep" grep -qxF "$(head -1 facts.skip.tagged)" dag/summary.ndjson
check_eq "make: combined summary has every record" "$(wc -l < dag/summary.ndjson)" "$(cat dag/summary/*.ndjson | wc -l)"
check_eq "make: summary table has a row per record" "$(($(wc -l < dag/summary.txt) - 1))" "$(wc -l < dag/summary.ndjson)"
check_eq "make: two sample prompts per task and sweep" "$(grep -c '^== ' dag/samples.txt)" 20
check_grep "make: topk table" "== capitals-0  (answer: Paris)" dag/topk.txt

# Nothing to do the second time.
$MK OUT="$TMP/dag" -q
check_eq "make -q: up to date" "$?" 0
check_eq "make -n: no commands" "$($MK OUT="$TMP/dag" -n | grep -v 'Nothing to be done')" ""

# One task file changes: only its chain is redone.
sleep 1
touch stamp
touch tasks/capitals.ndjson
$MK OUT="$TMP/dag" -n > redo.txt
check_eq "touched task file: 2 sweeps rescored" "$(grep -c '^scoreloss --model' redo.txt)" 2
check_eq "touched task file: no other task rescored" "$(grep '^scoreloss --model\|| topk --model\|| runlayers --model' redo.txt | grep -vc capitals)" 0
$MK OUT="$TMP/dag" > /dev/null 2>&1
find dag -type f -newer stamp | sed 's|^dag/||' | sort | tr '\n' ' ' > redone.txt
check_eq "touched task file: exactly its chain rewritten" "$(cat redone.txt)" \
  "samples.txt samples/capitals.drop-last.ndjson samples/capitals.skip-one.ndjson scores/capitals.drop-last.ndjson scores/capitals.skip-one.ndjson summary.ndjson summary.txt summary/capitals.drop-last.ndjson summary/capitals.skip-one.ndjson tasks/capitals.ndjson topk.txt topk/capitals.drop-last.ndjson topk/capitals.skip-one.ndjson "

# The model changes: every experiment is redone, no task file.
touch dag/model/config.json
$MK OUT="$TMP/dag" -n > redo2.txt
check_eq "model changed: all 8 experiments rescored" "$(grep -c '^scoreloss --model' redo2.txt)" 8
check_eq "model changed: task files kept" "$(grep -c '^gentasks\|^cp ' redo2.txt)" 0

# -j2 gives the same files as -j1.
$MK OUT="$TMP/dag2" -j2 > /dev/null 2>&1
check_eq "make -j2: succeeds" "$?" 0
check "make -j2 = make -j1, file for file" diff -r dag dag2

# A model that is not there.
$MK OUT="$TMP/dag3" MODEL="$TMP/nowhere" > nomodel.out 2>&1
check_eq "make: missing model fails" "$?" 2
check_grep "make: missing model message" "is not a checkpoint directory" nomodel.out

# ---- GNU parallel: sharded = unsharded, byte for byte
if command -v parallel > /dev/null 2>&1; then
  gentasks facts counting -n 25 > big.ndjson
  scoreloss --sweep drop-last --model "$M" < big.ndjson > one.ndjson
  parallel --pipe -N 7 -j2 --keep-order --joblog jobs.log scoreloss --sweep drop-last --model "$M" < big.ndjson > sharded.ndjson
  check_eq "parallel: 50 records in 8 shards" "$(($(wc -l < jobs.log) - 1))" 8
  check "parallel --keep-order: records byte-identical to one run" cmp sharded.ndjson one.ndjson
  scoreloss --summary < one.ndjson > one.summary
  gentasks facts counting -n 25 | parallel --pipe -N 7 -j2 --keep-order scoreloss --sweep drop-last --model "$M" \
    | scoreloss --summary > sharded.summary
  check "parallel: summary equal to the unsharded summary" cmp sharded.summary one.summary
  head -12 big.ndjson > small.ndjson
  runlayers --sweep reverse --max-tokens 4 --model "$M" < small.ndjson > gen1.ndjson
  parallel --pipe -N 5 -j2 --keep-order runlayers --sweep reverse --max-tokens 4 --model "$M" < small.ndjson > gen2.ndjson
  check "parallel: greedy runlayers sharded = one run" cmp gen1.ndjson gen2.ndjson
else
  failed "parallel: GNU parallel" "not installed (scripts/install-deps.sh installs it)"
fi
