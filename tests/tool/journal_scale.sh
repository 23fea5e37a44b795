#!/bin/sh
# journal_scale.sh: the readers of journals and record streams on large synthetic inputs
# (bench/synth_journal.py), against independent Python readers, within time bounds a
# quadratic reader cannot meet (the old ones: journal check ~2 minutes at 20 k records,
# scoreloss --summary ~10 s at 40 k labels, gentasks --from ~15 s at 20 k tasks).
# `journal check` and `journal cat` on a journal with unknown kinds, escaped experiment
# names, an invalid line and a torn last line; `report --no-plots`: one section per
# experiment, in order; `scoreloss --summary` over 20 k labels; `gentasks --from` over
# 20 k tasks.  make bench-journal has the timings up to 1 M records.
. "$(dirname "$0")/../lib.sh"
cd "$TMP" || exit 1
SYNTH="$PY $ROOT/bench/synth_journal.py"
LIMIT=${JOURNAL_SCALE_LIMIT_S:-20}
[ "${BAD_INPUTS_SLOW:-1}" -gt 1 ] && LIMIT=$((LIMIT * BAD_INPUTS_SLOW))
ms() { echo $(($(date +%s%N) / 1000000)); }
# timed LABEL CMD...: run CMD (stdout to out.txt, stderr to err.txt); its time in $DT ms.
timed() { _l=$1; shift; t0=$(ms); "$@" > out.txt 2> err.txt; RC=$?; DT=$(($(ms) - t0)); }
in_time() { check "$1: within ${LIMIT} s (${DT} ms)" test "$DT" -lt $((LIMIT * 1000)); }

# ---- a 20 k-record journal, with what a reader must get right at any size
$SYNTH journal 20000 > r.ndjson
cp r.ndjson j.ndjson
{
  printf '%s\n' '{"kind":"custom","time":"t","experiment":"x\u00e9\"q"}' '{"kind":"result","experiment":"a\\b","tool":"scoreloss"}' 'not json' '{"kind":"note","observation":"o","experiment":"x\u00e9\"q"}'
  printf '%s' '{"kind":"note","observation":"cut'
} >> j.ndjson
$PY - j.ndjson > want_check.json <<'EOF'
import json, sys
path = sys.argv[1]
data = open(path, "rb").read()
lines = data.split(b"\n")
torn = lines[-1] != b""
body = lines if torn else lines[:-1]
kinds, experiments, records, invalid, finished = {}, [], 0, 0, False
for i, raw in enumerate(body):
    last = torn and i == len(body) - 1
    if raw.strip(b" \t\r") == b"":
        continue
    try:
        r = json.loads(raw.rstrip(b"\r"))
        ok = isinstance(r, dict) and isinstance(r.get("kind"), str)
    except ValueError:
        ok = False
    if not ok:
        invalid += not last
        continue
    records += 1
    kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    x = r.get("experiment")
    if isinstance(x, str) and x not in experiments:
        experiments.append(x)
    finished |= r["kind"] == "report"
known = ["meta", "task", "result", "note", "action", "llm", "report"]
ordered = {k: v for k, v in kinds.items() if k in known}
ordered.update({k: v for k, v in kinds.items() if k not in known})
print(json.dumps({"journal": path, "records": records, "kinds": ordered, "experiments": experiments,
                  "finished": finished, "invalid_lines": invalid, "torn": torn}, separators=(",", ":"), ensure_ascii=False))
EOF
timed check journal check --journal j.ndjson
check_eq "journal check, 20 k records: exit 5 (an invalid line, a torn one)" "$RC" 5
check "journal check: the line of the Python reader (kinds, experiments in order, escapes)" cmp out.txt want_check.json
in_time "journal check"
check_grep "journal check: the invalid line reported" "j.ndjson:20003 (byte" err.txt
X=$($PY -c 'import json; print(json.loads(open("want_check.json").read())["experiments"][100])')
timed cat journal cat --journal j.ndjson --kind result --experiment "$X"
$PY - j.ndjson "$X" > want_cat.ndjson <<'EOF'
import json, sys
for raw in open(sys.argv[1], "rb").read().split(b"\n")[:-1]:
    try:
        r = json.loads(raw)
    except ValueError:
        continue
    if isinstance(r, dict) and r.get("kind") == "result" and r.get("experiment") == sys.argv[2]:
        sys.stdout.buffer.write(raw + b"\n")
EOF
check "journal cat --kind result --experiment X: the raw lines the Python reader selects" cmp out.txt want_cat.ndjson
check "journal cat: some lines ($(wc -l < want_cat.ndjson))" test "$(wc -l < want_cat.ndjson)" -gt 10
in_time "journal cat"

# ---- report: one section per experiment, in order of first appearance among the results
timed report report --journal r.ndjson --no-plots
check_eq "report --no-plots, 20 k records: exit 0" "$RC" 0
in_time "report"
$PY -c '
import json, sys
xs = []
for l in open("r.ndjson"):
    r = json.loads(l)
    if r["kind"] == "result" and r["experiment"] not in xs:
        xs.append(r["experiment"])
print("\n".join(xs))' > want_x.txt
sed -n 's/^## Experiment //p' out.txt | sed 's/\\//g' > got_x.txt
check "report: a section per experiment, in order ($(wc -l < want_x.txt))" cmp got_x.txt want_x.txt

# ---- scoreloss --summary over 20 k labels
$SYNTH scored 40000 20000 > s.ndjson
timed summary sh -c 'scoreloss --summary < s.ndjson'
check_eq "scoreloss --summary, 20 k labels: exit 0" "$RC" 0
in_time "scoreloss --summary"
$PY - s.ndjson > want_s.txt <<'EOF'
import json, math, sys
groups = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    g = groups.setdefault((r["task"], r["label"]), {"layers": r["layers"], "x": [], "exact": 0})
    g["x"].append(r["answer_loss"])
    g["exact"] += r["answer_exact"]
for (task, label), g in groups.items():
    n, x = len(g["x"]), g["x"]
    mean = sum(x) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1) / n) if n > 1 else 0
    intact = groups.get((task, "intact"))
    delta = mean - sum(intact["x"]) / len(intact["x"]) if intact else None
    print(task, label, g["layers"], n, "%.9f %.9f %.6f" % (mean, sd, g["exact"] / n), "null" if delta is None else "%.9f" % delta)
EOF
$PY -c '
import json, sys
for l in open("out.txt"):
    r = json.loads(l)
    d = "null" if r["delta_loss"] is None else "%.9f" % r["delta_loss"]
    print(r["task"], r["label"], r["layers"], r["n"], "%.9f %.9f %.6f" % (r["mean_loss"], r["stderr"], r["exact_rate"]), d)' > got_s.txt
check "scoreloss --summary: every group as the Python reference computes it, in order ($(wc -l < want_s.txt))" cmp got_s.txt want_s.txt

# ---- gentasks --from over 20 k tasks
$SYNTH tasks 20000 > t.ndjson
timed gentasks gentasks --from t.ndjson -n 1
check_eq "gentasks --from, 20 k tasks: exit 0" "$RC" 0
in_time "gentasks --from"
check_eq "gentasks --from: one example per task, in order, as given" \
  "$($PY -c '
import json
got = [json.loads(l) for l in open("out.txt")]
want = [json.loads(l) for l in open("t.ndjson")]
print(len(got), all(g["task"] == w["task"] and g["prompt"] == w["prompt"] and g["answer"] == w["answer"] for g, w in zip(got, want)))')" \
  "20000 True"
