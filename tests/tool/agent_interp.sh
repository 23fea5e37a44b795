#!/bin/sh
# agent_interp.sh: the research agent with the interpretability methods (docs/interp.md):
# the built-in plan's activation patching and head ablation on facts-pairs, their notes
# against numbers recomputed from the journal, the report's sections, a resume mid-way
# through the patching results; the LLM tools run_patching and run_ablation through the
# mock server (a task without pairs refused).
. "$(dirname "$0")/../lib.sh"
M=$TMP/model
tiny_model "$M"
MOCK=$ROOT/tests/ref/mockllm.py
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; tmp_cleanup' EXIT
KEY=${OPENAI_API_KEY:-sk-test-agent-interp}   # tests/run.sh's sentinel, which it scans for
agent_isolate   # the built-in planner unless a test names the LLM; LOOP
export AUTOINTERP_LLM_BACKOFF_BASE=0.01
cd "$TMP" || exit 1

# ---------------------------------------------------------------- the built-in plan
bash "$LOOP" --journal b.ndjson --model "$M" --tasks facts-pairs --examples 3 --report-dir brep > b.out 2> b.err
check_eq "builtin loop on facts-pairs: exit 0" "$?" 0
check_eq "builtin: patching, its note, head ablation, its note, the report" \
  "$(val b.out '[(a["type"], a.get("name") or a.get("experiment")) for a in L]')" \
  "[('experiment', 'facts-pairs/patching'), ('note', 'facts-pairs/patching'), ('experiment', 'facts-pairs/ablate-heads'), ('note', 'facts-pairs/ablate-heads'), ('report', None)]"
check_eq "builtin: the patching action" "$(val b.out 'L[0]["method"], L[0]["patch_hook"], L[0]["samples"], L[0]["configurations"]')" \
  "('patching', 'resid_pre', 0, [[0, 1, 2, 3]])"
check_eq "builtin: the ablation action" "$(val b.out 'L[2]["method"], L[2]["sweeps"], L[2]["samples"]')" "('ablation', ['ablate-heads'], 0)"
check_eq "builtin: the other tasks keep their plan (facts-pairs only adds the methods)" \
  "$(bash "$LOOP" --journal o.ndjson --model "$M" --tasks facts --examples 1 --report-dir orep 2>/dev/null | wc -l)" 15

# The grid in the journal: 4 blocks x the prompt positions of each example (BOS included).
gentasks facts-pairs -n 3 | tokenize --model "$M" > fp_tok.ndjson
cells=$(val fp_tok.ndjson 'sum(4 * len(r["tokens"]) for r in L)')
check_eq "journal: every patching cell is a result" "$(val b.ndjson 'sum(1 for r in L if r["kind"] == "result" and r["experiment"] == "facts-pairs/patching")')" "$cells"
check_eq "journal: the head ablation, 3 examples x (1 + 16)" "$(val b.ndjson 'sum(1 for r in L if r["kind"] == "result" and r["experiment"] == "facts-pairs/ablate-heads")')" 51
check_eq "journal: only scoreloss ran" "$(val b.ndjson 'sorted(set(r["tool"] for r in L if r["kind"] == "result"))')" "['scoreloss']"

# The patching note against the grid, recomputed from the journal: per (block, offset from
# the end) the batch-normalised effect (mean patched - mean corrupted) / (mean clean - mean
# corrupted) of the logit difference over the examples that have the cell; the best cell
# among those at least half the examples have, labelled with the longest prompt's token;
# the degenerate pairs (|clean - corrupted| < 0.1 x the mean difference).
cat > best.py <<'EOF'
import json, sys
L = [json.loads(l) for l in open(sys.argv[1])]
R = [r for r in L if r["kind"] == "result" and r["experiment"] == "facts-pairs/patching"]
width, base = {}, {}
for r in R:
    width[r["id"]] = max(width.get(r["id"], 0), r["position"] + 1)
    base.setdefault(r["id"], (r["clean_logit_diff"], r["corrupt_logit_diff"]))
cells = {}
for r in R:
    c, k = base[r["id"]]
    cells.setdefault((r["layer"], width[r["id"]] - 1 - r["position"]), []).append((r[r["patch_metric"]], c, k))
def eff(v):
    n = len(v)
    p, c, k = (sum(x[i] for x in v) / n for i in range(3))
    return (p - k) / (c - k)
need = (len(width) + 1) // 2
best = max((k for k in cells if len(cells[k]) >= need), key=lambda k: (eff(cells[k]), -k[0], -k[1]))
widest = max(width, key=lambda i: width[i])   # the first of the widest, in journal order
tok = [r["token"] for r in R if r["id"] == widest and width[widest] - 1 - r["position"] == best[1]][0]
last = [eff(cells[(l, 0)]) for l in range(4)]
mc = sum(c for c, k in base.values()) / len(base)
mk = sum(k for c, k in base.values()) / len(base)
deg = sum(abs(c - k) < 0.1 * abs(mc - mk) for c, k in base.values())
note = [r for r in L if r["kind"] == "note" and r["experiment"] == "facts-pairs/patching"][0]["observation"]
want = ['Largest effect: block %d at position %d ("%s"), %.2f.' % (best[0], -(best[1] + 1), tok, eff(cells[best])),
        "At the last position (-1) the effect is %.2f at block 0, %.2f at block 2 and %.2f at block 3." % (last[0], last[2], last[3]),
        "clean %.2f, corrupted %.2f (means over %d pairs)" % (mc, mk, len(base)),
        "%d of %d pairs are degenerate" % (deg, len(base))]
missing = [w for w in want if w not in note]
print("ok" if not missing else "missing %s in %s" % (missing, note))
EOF
check_eq "patching note: the best cell, the last position's curve, the baselines, the degenerate pairs, from the journal" "$($PY best.py b.ndjson)" ok
cat > abl.py <<'EOF'
import json, sys
L = [json.loads(l) for l in open(sys.argv[1])]
R = [r for r in L if r["kind"] == "result" and r["experiment"] == "facts-pairs/ablate-heads"]
by = {}
for r in R: by.setdefault(r["label"], []).append(r["answer_loss"])
mean = {k: sum(v) / len(v) for k, v in by.items()}
worst = max((k for k in mean if k != "intact"), key=lambda k: mean[k])
note = [r for r in L if r["kind"] == "note" and r["experiment"] == "facts-pairs/ablate-heads"][0]["observation"]
want = "The head ablation that hurts most: %s: loss %.2f (%+.2f nats)" % (worst, mean[worst], mean[worst] - mean["intact"])
print("ok" if want in note else "missing [%s] in %s" % (want, note))
EOF
check_eq "ablation note: the most harmful head, from the journal" "$($PY abl.py b.ndjson)" ok
check_grep "report: the patching section" "### Activation patching" brep/report.md
check_grep "report: the results section files patching under information flow" "Where the information flows (activation patching)" brep/report.md
check_grep "report: the results section files ablation under components" "Critical components (ablation)" brep/report.md
check_grep "report: a loss row per ablated head" "| ablate L3H3 | 0-3 | 3 |" brep/report.md
if command -v gnuplot > /dev/null 2>&1; then check "report: the patching heatmap" test -s brep/patch_1.svg; fi

# ---------------------------------------------------------------- resume mid-way through the grid
n=$(grep -n '"experiment":"facts-pairs/patching","tool":"scoreloss"' b.ndjson | sed -n 20p | cut -d: -f1)
head -n "$n" b.ndjson > c.ndjson
bash "$LOOP" --journal c.ndjson --model "$M" --tasks facts-pairs --examples 3 --report-dir crep > c.out 2> c.err
check_eq "resume: exit 0" "$?" 0
check_eq "resume: the patching experiment re-run (scoreloss only), as patching" \
  "$(val c.out 'L[0]["name"], L[0]["resume"], L[0]["rerun"], L[0]["method"], L[0]["patch_hook"]')" \
  "('facts-pairs/patching', True, ['scoreloss'], 'patching', 'resid_pre')"
check_eq "resume: the notes as in the uninterrupted run" \
  "$(val c.ndjson '[r["observation"] for r in L if r["kind"] == "note"]')" "$(val b.ndjson '[r["observation"] for r in L if r["kind"] == "note"]')"

# ---------------------------------------------------------------- the LLM tools (mock server)
start_mock() {   # NAME: serves NAME.script.json; sets URL, LOG
  LOG="$TMP/$1.log"
  : > "$LOG"
  $PY "$MOCK" "$TMP/$1.script.json" --log "$LOG" --lifetime 60 > "$TMP/$1.port" &
  PIDS="$PIDS $!"
  i=0
  while [ ! -s "$TMP/$1.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  URL="http://127.0.0.1:$(head -n 1 "$TMP/$1.port")/v1"
}
cat > llm.script.json <<'EOF'
[
 {"reply": {"tool_calls": [{"name": "run_patching", "arguments": {"name": "f/heads", "task": "facts"}}]}},
 {"reply": {"tool_calls": [{"name": "run_patching", "arguments": {"name": "f/heads", "task": "facts-pairs", "hook": "head", "examples": 2, "hypothesis": "a head moves the subject"}}]}},
 {"reply": {"tool_calls": [{"name": "get_results", "arguments": {"experiment": "f/heads"}}]}},
 {"reply": {"tool_calls": [
    {"name": "add_note", "arguments": {"experiment": "f/heads", "observation": "one head matters (mock)"}},
    {"name": "run_ablation", "arguments": {"name": "f/mlps", "task": "facts", "components": "mlps", "examples": 2}}]}},
 {"reply": {"tool_calls": [{"name": "write_report", "arguments": {"markdown": "## Results\n\n- mock."}}]}}
]
EOF
start_mock llm
OPENAI_BASE_URL=$URL OPENAI_API_KEY=$KEY bash "$LOOP" --journal l.ndjson --model "$M" --tasks facts,facts-pairs \
  --examples 2 --llm-model test-model --report-dir lrep > l.out 2> l.err
check_eq "llm loop: exit 0" "$?" 0
check_eq "llm: the actions" "$(val l.out '[(a["type"], a.get("name") or a.get("experiment"), a.get("method"), a.get("patch_hook"), a.get("sweeps")) for a in L]')" \
  "[('experiment', 'f/heads', 'patching', 'head', None), ('note', 'f/heads', None, None, None), ('experiment', 'f/mlps', 'ablation', None, ['ablate-mlps']), ('report', None, None, None, None)]"
check_eq "llm: a task without pairs refused for run_patching" \
  "$(val "$LOG" 'L[1]["body"]["messages"][-1]["content"]')" \
  "error: run_patching: task facts has no corrupted prompts; use one with pairs (facts-pairs)"
check_eq "llm: the head patch sweep in the journal (2 examples x 4 blocks x 4 heads)" \
  "$(val l.ndjson 'sum(1 for r in L if r["kind"] == "result" and r["experiment"] == "f/heads" and r.get("patch_hook") == "head")')" 32
check_eq "llm: the MLP ablation in the journal (2 examples x 5)" \
  "$(val l.ndjson 'sorted(set(r["label"] for r in L if r["kind"] == "result" and r["experiment"] == "f/mlps"))')" \
  "['ablate mlp 0', 'ablate mlp 1', 'ablate mlp 2', 'ablate mlp 3', 'intact']"
check_eq "llm: get_results shows the top heads" "$(val "$LOG" '"largest effects of one head: L" in L[3]["body"]["messages"][-1]["content"]')" True
check_eq "llm: the system prompt offers the methods and names the pair tasks" \
  "$(val "$LOG" '"run_patching does activation patching on a task with clean/corrupted prompt pairs (facts-pairs)" in L[0]["body"]["messages"][0]["content"]')" True
# The built-in note on the LLM's head grid: the three heads with the largest batch-normalised effect.
grep -v '"kind":"report"' l.ndjson | grep -v '"type":"report"' | grep -v '"kind":"note"' > h.ndjson
agentstep --journal h.ndjson --planner builtin > h.out
$PY -c '
import json
L = [json.loads(l) for l in open("h.ndjson")]
d = {}
for r in L:
    if r["kind"] == "result" and r["experiment"] == "f/heads" and "patch_effect" in r:
        d.setdefault((r["layer"], r["head"]), []).append((r[r["patch_metric"]], r["clean_logit_diff"], r["corrupt_logit_diff"]))
def eff(v):
    p, c, k = (sum(x[i] for x in v) / len(v) for i in range(3))
    return (p - k) / (c - k)
top = sorted(((eff(v), k) for k, v in d.items()), key=lambda t: (-t[0], t[1]))[:3]
want = "Largest effects of a single head (all positions): " + ", ".join("L%dH%d %.2f" % (k[0], k[1], m) for m, k in top) + "."
a = json.load(open("h.out"))
print("ok" if a["type"] == "note" and a["experiment"] == "f/heads" and want in a["observation"] else "bad: %s vs %s" % (want, a.get("observation")))' > h.txt
check_eq "head-grid note: the three largest heads, from the journal" "$(cat h.txt)" ok
