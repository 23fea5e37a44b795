#!/bin/sh
# report_stream.sh: `report` reads the journal in passes, one record at a time, and keeps
# only what it shows.  (1) An experiment's section, the plots, the notes and the results do
# not change when records of another experiment are interleaved, some of them repeated,
# and when earlier copies of the experiment's own results (same identity, other values —
# one with another task) come before the ones that count: re-runs replace them.  The
# journal has every kind of section: loss tables, sweeps for the plots, judged
# completions, top tokens, a patch sweep.  (2) A 200 k-record journal (67 MB) is
# reported under `ulimit -v` of 120 MB (the old reader, which kept every record parsed,
# needed about 4.3x the file).
. "$(dirname "$0")/../lib.sh"
cd "$TMP" || exit 1

# ---- (1) the same experiment, alone and among others
$PY - <<'EOF'
import json
def rec(**kw):
    return json.dumps(dict(kind="result", time="t", **kw))
x = []
x.append(json.dumps({"kind": "meta", "time": "t", "model": {"name": "tiny", "n_layer": 3}, "goal": "g"}))
x.append(json.dumps({"kind": "task", "time": "t", "task": "facts", "description": "d", "n_examples": 2}))
stale = []   # (index in x before which a stale copy goes, the stale line)
for i, ex in enumerate(["a", "b", "c"]):
    for label, layers, loss in [("intact", [0, 1, 2], 1.0 + i), ("first 1", [0], 3.0 + i * 0.5),
                                ("first 2", [0, 1], 2.0 + i * 0.25), ("skip 1", [0, 2], 2.5 - i * 0.1)]:
        line = rec(experiment="x", tool="scoreloss", id=ex, task="facts", label=label, layers=layers,
                   answer_loss=loss, answer_exact=i == 0)
        if label == "first 1":
            stale.append((len(x), rec(experiment="x", tool="scoreloss", id=ex, task="facts", label=label,
                                      layers=layers, answer_loss=99.0 + i, answer_exact=True)))
        x.append(line)
    for label in ["intact", "first 1"]:
        x.append(rec(experiment="x", tool="judge", id=ex, task="facts", label=label, prompt="p" + ex,
                     completion=" c" + label, finish_reason="length",
                     judgements=[{"question": "fluent?", "judge": "words", "verdict": "yes" if i or label == "intact" else "no"}]))
    x.append(rec(experiment="x", tool="topk", id=ex, task="facts", label="intact", prompt="q" + ex,
                 topk=[{"token": " Paris", "prob": 0.5 - i * 0.1}], kl_from_intact=0.01 * i, answer_rank=i))
    for layer in range(3):
        for pos in range(2 + i):
            cell = dict(experiment="x", tool="scoreloss", id=ex, task="facts", label="patch", patch_hook="resid_pre",
                        layer=layer, position=pos, token="t%d" % pos, patch_effect=0.1 * layer + 0.01 * pos,
                        patch_metric="logit_diff", logit_diff=0.5 * layer - 0.2 * pos + i,
                        clean_logit_diff=3.0 + i, corrupt_logit_diff=-1.0 - 0.5 * i)
            if layer == 1 and pos == 0:
                bad = dict(cell, task="stale-task", logit_diff=50.0, clean_logit_diff=9.0)
                stale.append((len(x), rec(**bad)))
            x.append(rec(**cell))
x.append(json.dumps({"kind": "note", "time": "t", "experiment": "x", "observation": "block 2 *matters*"}))
x.append(json.dumps({"kind": "report", "time": "t", "markdown": "## Results\n\nDone."}))
open("alone.ndjson", "w").write("\n".join(x) + "\n")

y = []
for k in range(40):
    y.append(rec(experiment="y", tool="scoreloss", id="y%d" % (k % 7), task="other", label="alt %d" % (k % 3),
                 layers=[0], answer_loss=0.5 + k))
    y.append(rec(experiment="y", tool="topk", id="y%d" % k, task="other", label="alt", prompt="r",
                 topk=[{"token": " x", "prob": 0.1}]))
mixed, yi = [], 0
stale_at = {}
for at, line in stale:
    stale_at.setdefault(at, []).append(line)
for i, line in enumerate(x):
    mixed += stale_at.get(i, [])
    mixed.append(line)
    if yi < len(y):
        mixed.append(y[yi]); yi += 1
    if i % 5 == 0 and yi > 2:
        mixed.append(y[yi - 3])   # a line of y repeated later
mixed += y[yi:]
open("mixed.ndjson", "w").write("\n".join(mixed) + "\n")
EOF
check "journals written" test -s alone.ndjson -a -s mixed.ndjson
report --journal alone.ndjson --out alone 2> alone.err
check_eq "alone: exit 0" "$?" 0
report --journal mixed.ndjson --out mixed 2> mixed.err
check_eq "mixed: exit 0" "$?" 0
# section NAME FILE: the lines of the level-2 section "## NAME" up to the next one.
section() { awk -v h="## $1" '/^## /{on = ($0 == h)} on' "$2"; }
for s in "Experiment x" "Tasks" "Plots" "Notes" "Results"; do
  section "$s" alone/report.md > a.txt
  section "$s" mixed/report.md > m.txt
  check "section '$s' present" test -s a.txt
  check "section '$s': the same among other records and re-runs" cmp a.txt m.txt
done
check_grep "mixed: experiment y reported too" "## Experiment y" mixed/report.md
check_grep "mixed: records counted as in the file" "$(wc -l < mixed.ndjson | tr -d ' ') records" mixed/report.md
check_grep "the re-run's loss, not the stale one (mean of 3.0, 3.5, 4.0)" "| first 1 | 0 | 3 | 3.5000 ± 0.2887 | +1.5000 | 0.33 |" alone/report.md
check "no stale loss" sh -c "! grep -q '99\\.' mixed/report.md"
check "no grid of the stale copy's task" sh -c "! grep -q 'stale-task' mixed/report.md"
check_grep "patch sweep over 3 examples" "over 3 examples" mixed/report.md
check_grep "judged completions" "### How it speaks" mixed/report.md
for f in alone/*.svg alone/*.dat; do
  check "plot file $(basename "$f") the same" cmp "$f" "mixed/$(basename "$f")"
done
check_eq "plots: loss, speaks, skip-one, patching" "$(cd alone && ls *.svg | tr '\n' ' ')" \
  "loss_vs_layers.svg patch_1.svg skip_one_delta.svg speaks_1.svg "

# ---- (2) memory follows the report, not the journal
plain=1
if head -c 2 "$BIN/report" | grep -q '#!' || grep -q __asan_init "$BIN/report"; then plain=0; fi
if [ "$plain" = 1 ]; then
  $PY "$ROOT/bench/synth_journal.py" journal 200000 > big.ndjson
  (ulimit -v 120000 && exec report --journal big.ndjson --no-plots > big.md 2> big.err)
  check_eq "200 k records (67 MB) under ulimit -v 120 MB: exit 0" "$?" 0
  check_grep "200 k records: all counted" "200000 records" big.md
  check_grep "200 k records: results section" "## Results" big.md
else
  pass "memory bound: skipped under a sanitizer (it reserves shadow memory)"
fi
