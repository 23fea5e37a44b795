#!/bin/sh
# agent.sh: agentstep and pipelines/agent-loop.sh on a tiny synthetic model (4 blocks):
# the built-in planner's exact action sequence and configurations, a note's figures
# against scoreloss --summary, determinism (same journal -> same action), a full built-in
# loop ending in a report with plots; a full loop driven by the mock LLM (several calls
# in one reply, a query round trip, invalid arguments and an unknown task corrected, 429
# + Retry-After) with what the client sent and what the journal holds; an LLM that never
# gives a valid action (exit 5); the prompt kept within --context-budget; resume after
# kill -9 at several points and after a cut mid-experiment; a torn last line.
. "$(dirname "$0")/../lib.sh"
M=$TMP/model
tiny_model "$M"
MOCK=$ROOT/tests/ref/mockllm.py
# The run's sentinel key (tests/run.sh) when there is one, so that the suite-wide secret
# scan searches for the key that went through the loop.
SECRET=${OPENAI_API_KEY:-sk-agent-SENTINEL-51c0ffee}
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; tmp_cleanup' EXIT
agent_isolate   # the built-in planner unless a test names the LLM; LOOP
export AUTOINTERP_LLM_BACKOFF_BASE=0.01
cd "$TMP" || exit 1

# ---------------------------------------------------------------- the built-in planner, full loop
bash "$LOOP" --journal b.ndjson --model "$M" --tasks facts,addition --examples 3 --report-dir brep > b.out 2> b.err
check_eq "builtin loop: exit 0" "$?" 0
check_eq "builtin loop: one action line per step on stdout" "$(wc -l < b.out)" 29

# The exact plan: for each task, the seven corruption types with the sweeps' configurations.
cat > plan.py <<'EOF'
import json, sys
L = 4
def sweep(kind):
    intact = list(range(L))
    if kind == "drop-last": return [intact] + [list(range(n)) for n in range(L - 1, -1, -1)]
    if kind == "drop-first": return [intact] + [list(range(L - n, L)) for n in range(L - 1, -1, -1)]
    if kind == "skip-one": return [intact] + [[b for b in intact if b != i] for i in intact]
    if kind == "skip-range:2": return [intact] + [[b for b in intact if b not in (i, i + 1)] for i in range(L - 1)]
    if kind == "repeat-one": return [intact] + [sum(([b, b] if b == i else [b] for b in intact), []) for i in intact]
    if kind == "swap-adjacent":
        out = [intact]
        for i in range(L - 1):
            c = intact[:]; c[i], c[i + 1] = c[i + 1], c[i]; out.append(c)
        return out
kinds = ["drop-last", "drop-first", "skip-one", "skip-range:2", "repeat-one", "swap-adjacent", "permute"]
want = []
for task in ["facts", "addition"]:
    for k in kinds:
        want += [("experiment", task + "/" + k), ("note", task + "/" + k)]
want.append(("report", None))
acts = [json.loads(l) for l in open(sys.argv[1])]
got = [(a["type"], a.get("name", a.get("experiment"))) for a in acts]
if got != want:
    sys.exit("sequence: got %s" % got)
for a in acts:
    if a["type"] != "experiment": continue
    kind = a["name"].split("/", 1)[1]
    if a["examples"] != 3 or a["planner"] != "builtin": sys.exit("examples/planner of %s" % a["name"])
    if kind == "permute":
        c = a["configurations"]
        ok = c[0] == list(range(L)) and c[1] == list(range(L - 1, -1, -1)) and len(c) == 5 \
            and all(sorted(x) == list(range(L)) for x in c) and a["labels"][1:] == ["reversed", "shuffle 1", "shuffle 2", "shuffle 3"]
        if not ok: sys.exit("permute configurations %s" % c)
    elif a["configurations"] != sweep(kind):
        sys.exit("%s: configurations %s want %s" % (a["name"], a["configurations"], sweep(kind)))
if [a["step"] for a in acts] != list(range(1, 30)): sys.exit("steps")
print("ok")
EOF
check_eq "builtin: exact action sequence, names and configurations of every experiment" "$($PY plan.py b.out 2>&1)" ok
check_eq "builtin: drop-last labels" "$(val b.out 'L[0]["labels"]')" "['intact', 'first 3', 'first 2', 'first 1', 'first 0']"
check_eq "journal: one action record per step" "$(val b.ndjson 'sum(1 for r in L if r["kind"] == "action")')" 29
check_eq "journal: 14 notes, one per experiment" "$(val b.ndjson 'sorted(set(r["experiment"] for r in L if r["kind"] == "note")) == sorted(set(r["name"] for r in L if r["kind"] == "action" and r["type"] == "experiment")) and sum(r["kind"] == "note" for r in L)')" 14
# 33 configurations per task; scoreloss, runlayers and topk each see the 3 examples.
check_eq "journal: every result (3 tools x 3 examples x 66 configurations)" "$(val b.ndjson 'sum(1 for r in L if r["kind"] == "result")')" 594
check_eq "journal: a task record per task" "$(val b.ndjson '[r["task"] for r in L if r["kind"] == "task"]')" "['facts', 'addition']"
check_eq "journal: the report record" "$(val b.ndjson '[r["markdown"][:11] for r in L if r["kind"] == "report"]')" "['## Results\\n']"
check_grep "report.md holds the results section" "### addition" brep/report.md
check_grep "report.md holds the depth findings" "Where the capability appears along depth" brep/report.md
check_eq "builtin: drop-last experiments are judged, runlayers on every example" \
  "$(val b.out '[(a["name"], a["samples"]) for a in L if a["type"] == "experiment" and a.get("judge")]')" \
  "[('facts/drop-last', 3), ('addition/drop-last', 3)]"
check_eq "journal: judged completions (3 examples x 5 configurations x 2 tasks), offline verdicts" \
  "$(val b.ndjson 'sum(1 for r in L if r["kind"] == "result" and r["tool"] == "judge" and r["judgements"][0]["judge"] == "answer-start")')" 30
check_grep "report.md: how it speaks" "### How it speaks" brep/report.md
check_grep "report.md: a yes-rate row" "| first 0 | Does the completion begin with the answer? | answer-start | 3 |" brep/report.md
if command -v gnuplot > /dev/null 2>&1; then
  check "report: loss-vs-layers plot" test -s brep/loss_vs_layers.svg
  check "report: skip-one heatmap" test -s brep/skip_one_delta.svg
  check "report: yes-rate against blocks kept" test -s brep/speaks_1.svg
else
  check_grep "report: says the plots need gnuplot" "gnuplot" brep/report.md
fi

# A note's figures are the measured numbers: compare with scoreloss --summary.
gentasks --task facts -n 3 | scoreloss --model "$M" --sweep drop-last | scoreloss --summary > dl.summary
gentasks --task facts -n 3 | scoreloss --model "$M" --sweep skip-one | scoreloss --summary > so.summary
note_dl=$(val b.ndjson '[r["observation"] for r in L if r["kind"] == "note" and r["experiment"] == "facts/drop-last"][0]')
want=$(val dl.summary '"intact loss %.2f (exact %d%%)" % (L[0]["mean_loss"], round(L[0]["exact_rate"] * 100))')
check_grep "note: intact loss as scoreloss --summary" "$want" "$(printf '%s' "$note_dl" > note_dl.txt; echo note_dl.txt)"
want=$(val dl.summary '"Embeddings only (first 0): loss %.2f (%+.2f nats)" % (L[-1]["mean_loss"], L[-1]["delta_loss"])')
check_grep "note: embeddings-only loss and delta as scoreloss --summary" "$want" note_dl.txt
cat > smallest.py <<'EOF'
import json, sys
L = [json.loads(l) for l in open(sys.argv[1])]
I = L[0]["mean_loss"]
run = []
for g in L[1:]:                      # first 3, first 2, ...: the run within 10% from the top
    if g["mean_loss"] > I + max(0.1 * I, 0.05): break
    run.append(g)
print("Smallest prefix within 10%% of the intact loss: %s (loss %.2f vs %.2f)" % (run[-1]["label"], run[-1]["mean_loss"], I)
      if run else "No shorter prefix comes within 10% of the intact loss")
EOF
want=$($PY smallest.py dl.summary)
check_grep "note: smallest prefix within 10% from the summary" "$want" note_dl.txt
val b.ndjson '[r["observation"] for r in L if r["kind"] == "note" and r["experiment"] == "facts/skip-one"][0]' > note_so.txt
want=$(val so.summary '(lambda w: "hurts most: %s: loss %.2f (%+.2f nats)" % (w["label"], w["mean_loss"], w["delta_loss"]))(max(L[1:], key=lambda g: g["delta_loss"]))')
check_grep "note: the most harmful skip as scoreloss --summary" "$want" note_so.txt
# The random model does not do the task (exact 0%): the notes say so, give chance (ln V
# from the meta record's vocab) and conclude nothing about where the task is computed.
want=$(val dl.summary '"The intact model does not do the task: exact match 0%%, answer loss %.2f nats (chance, ln 50257, is 10.82)." % L[0]["mean_loss"]')
check_grep "note: an unsolved task is called unsolved, with the chance loss" "$want" note_dl.txt
check_eq "note: no conclusion on where an unsolved task is computed (every layer note)" \
  "$(val b.ndjson 'sorted(set(r["hypothesis"].split(":")[0] for r in L if r["kind"] == "note"))')" \
  "['No conclusion about where addition is computed', 'No conclusion about where facts is computed']"

# Same journal -> same action: the journal cut before step 6 decides step 6 twice alike,
# and as the full run did.
n=$(grep -n '"kind":"action".*"step":6,' b.ndjson | cut -d: -f1)
head -n "$((n - 1))" b.ndjson > cut1.ndjson
cp cut1.ndjson cut2.ndjson
agentstep --journal cut1.ndjson --tasks facts,addition --examples 3 > d1.out
agentstep --journal cut2.ndjson --tasks facts,addition --examples 3 > d2.out
check "determinism: same journal, same action" cmp d1.out d2.out
check_eq "determinism: the action the full run took at step 6" "$(cat d1.out)" "$(sed -n 6p b.out)"
check_eq "determinism: step 6 is the note on facts/skip-one" "$(val d1.out 'L[0]["type"], L[0]["experiment"]')" "('note', 'facts/skip-one')"

# After the report, agentstep only repeats it (nothing appended).
before=$(wc -l < b.ndjson)
agentstep --journal b.ndjson > fin.out
check_eq "finished: agentstep prints the report again" "$(val fin.out 'L[0]["type"], L[0].get("finished")')" "('report', True)"
check_eq "finished: nothing appended" "$(wc -l < b.ndjson)" "$before"

# ---------------------------------------------------------------- the LLM path (mock server)
start_mock() {   # NAME: serves NAME.script.json; sets URL, LOG (lives 60 s, longer under valgrind)
  LOG="$TMP/$1.log"
  : > "$LOG"
  $PY "$MOCK" "$TMP/$1.script.json" --log "$LOG" --lifetime $((60 * ${BAD_INPUTS_SLOW:-1})) > "$TMP/$1.port" &
  PIDS="$PIDS $!"
  i=0
  while [ ! -s "$TMP/$1.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  URL="http://127.0.0.1:$(head -n 1 "$TMP/$1.port")/v1"
}

cat > llm.script.json <<'EOF'
[
 {"reply": {"content": "Let me look first.", "tool_calls": [{"name": "list_experiments", "arguments": {}}]}},
 {"reply": {"tool_calls": [{"name": "run_experiment", "arguments": "{\"name\": \"facts/prefixes\", \"task\": \"facts\", \"configurations\": [[0,1"}]}},
 {"status": 429, "headers": {"Retry-After": "1"}, "error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
 {"reply": {"tool_calls": [{"name": "run_experiment", "arguments": {"name": "facts/prefixes", "task": "poetry", "configurations": [[0,1,2,3],[0,1],[0],[]]}}]}},
 {"reply": {"tool_calls": [{"name": "run_experiment", "arguments": {"name": "facts/prefixes", "task": "facts", "configurations": [[0,1,2,3],[0,1],[0],[]], "labels": ["intact", "first 2", "first 1", "first 0"], "examples": 3, "hypothesis": "facts need the late blocks"}}]}},
 {"reply": {"tool_calls": [{"name": "get_results", "arguments": {"experiment": "facts/prefixes", "group_by": "prompt"}}]}},
 {"reply": {"tool_calls": [
    {"name": "add_note", "arguments": {"experiment": "facts/prefixes", "observation": "Keeping only layer 0 raises the loss.", "hypothesis": "facts are recalled in blocks 1-3"}},
    {"name": "run_experiment", "arguments": {"name": "addition/skip", "task": "addition", "configurations": [[1,2,3],[0,2,3]], "examples": 2}}]}},
 {"reply": {"content": "I think we are done."}},
 {"reply": {"tool_calls": [{"name": "write_report", "arguments": {"markdown": "## Results\n\n- keeping only layer 0 breaks facts (mock)."}}]}}
]
EOF
start_mock llm
OPENAI_BASE_URL=$URL OPENAI_API_KEY=$SECRET bash "$LOOP" --journal l.ndjson --model "$M" --tasks facts,addition \
  --examples 3 --llm-model test-model --report-dir lrep > l.out 2> l.err
check_eq "llm loop: exit 0" "$?" 0
check_eq "llm loop: the actions" "$(val l.out '[(a["type"], a.get("name") or a.get("experiment"), a["planner"]) for a in L]')" \
  "[('experiment', 'facts/prefixes', 'llm'), ('note', 'facts/prefixes', 'llm'), ('experiment', 'addition/skip', 'llm'), ('report', None, 'llm')]"
check_eq "llm loop: the intact model added to the model's configurations" "$(val l.out 'L[2]["configurations"], L[2]["examples"]')" "([[0, 1, 2, 3], [1, 2, 3], [0, 2, 3]], 2)"
check_eq "llm: 9 requests (4 replies in step 1 + a 429, 2 in step 2, none for the queued call, 2 in step 4)" "$(wc -l < "$LOG")" 9
check_eq "llm: the model asked for" "$(val "$LOG" 'sorted(set(r["body"]["model"] for r in L))')" "['test-model']"
check_eq "llm: Authorization header" "$(val "$LOG" 'sorted(set(r["headers"].get("authorization") for r in L))')" "['$(bearer_digest "$SECRET")']"
check_eq "llm: the tools offered" "$(val "$LOG" '[t["function"]["name"] for t in L[0]["body"]["tools"]]')" \
  "['run_experiment', 'run_patching', 'run_ablation', 'run_judge', 'add_note', 'write_report', 'list_experiments', 'get_results']"
check_eq "llm: system prompt names the model and its blocks" \
  "$(val "$LOG" 'L[0]["body"]["messages"][0]["role"], "You study '"$M"', a GPT-2 model with 4 transformer blocks (numbered 0-3" in L[0]["body"]["messages"][0]["content"]')" \
  "('system', True)"
check_eq "llm: system prompt lists the tasks with descriptions" "$(val "$LOG" '"- addition: few-shot addition" in L[0]["body"]["messages"][0]["content"] and "- json" not in L[0]["body"]["messages"][0]["content"]')" True
check_eq "llm: the query answered as a tool message" "$(val "$LOG" 'L[1]["body"]["messages"][3]["role"], L[1]["body"]["messages"][3]["content"]')" "('tool', 'No experiments yet.\\n')"
check_eq "llm: invalid arguments sent back as a tool error" "$(val "$LOG" 'L[2]["body"]["messages"][-1]["content"].startswith("error: arguments of run_experiment are not valid JSON")')" True
check_eq "llm: the 429 was retried after Retry-After (1 s)" "$(val "$LOG" 'L[3]["t"] - L[2]["t"] >= 0.95 and L[3]["body"] == L[2]["body"]')" True
check_eq "llm: unknown task corrected" "$(val "$LOG" 'L[4]["body"]["messages"][-1]["content"]')" 'error: run_experiment: unknown task "poetry"; the tasks are: facts, addition'
check_eq "llm: get_results answered from the journal" "$(val "$LOG" '"facts-0: prompt \"The Eiffel Tower" in L[6]["body"]["messages"][-1]["content"] and "first 1: loss" in L[6]["body"]["messages"][-1]["content"]')" True
check_eq "llm: step 2's prompt shows the first results" "$(val "$LOG" '"## facts/prefixes (task facts, 3 examples, complete)" in L[5]["body"]["messages"][1]["content"]')" True
check_eq "llm: a reply without a tool call is corrected" "$(val "$LOG" 'L[8]["body"]["messages"][-1]["role"], L[8]["body"]["messages"][-1]["content"][:29]')" "('user', 'Your reply had no tool call. ')"
check_eq "journal: llm exchanges per step (the queued call asked nothing)" "$(val l.ndjson '[(r["step"], r["outcome"]) for r in L if r["kind"] == "llm"]')" \
  "[(1, 'query'), (1, 'retry'), (1, 'retry'), (1, 'action'), (2, 'query'), (2, 'action'), (4, 'retry'), (4, 'action')]"
check_eq "journal: the second call of the reply queued in step 2's action" "$(val l.ndjson '[r["queued"][0]["name"] for r in L if r["kind"] == "action" and r["step"] == 2]')" "['run_experiment']"
check_eq "journal: the note record" "$(val l.ndjson '[(r["experiment"], r["observation"]) for r in L if r["kind"] == "note"]')" "[('facts/prefixes', 'Keeping only layer 0 raises the loss.')]"
check_eq "journal: results of both experiments" "$(val l.ndjson 'sum(r["kind"] == "result" and r["experiment"] == "facts/prefixes" for r in L), sum(r["kind"] == "result" and r["experiment"] == "addition/skip" for r in L)')" "(36, 18)"
check_eq "journal: the report" "$(val l.ndjson '[r["markdown"] for r in L if r["kind"] == "report"]')" "['## Results\\n\\n- keeping only layer 0 breaks facts (mock).']"
check_eq "journal: the key never written" "$(grep -c "$SECRET" l.ndjson lrep/report.md | cut -d: -f2 | tr '\n' ' ')" "0 0 "
check_grep "report.md shows the LLM's results section" "keeping only layer 0 breaks facts (mock)" lrep/report.md

# A model that never gives a valid action: 1 + --max-retries replies, then exit 5.
cat > bad.script.json <<'EOF'
[
 {"reply": {"tool_calls": [{"name": "run_layers", "arguments": {}}]}},
 {"reply": {"tool_calls": [{"name": "run_experiment", "arguments": {"name": "x", "task": "facts", "configurations": [[0, 9]]}}]}},
 {"reply": {"content": "no"}},
 {"reply": {"tool_calls": [{"name": "add_note", "arguments": {"experiment": "nope", "observation": "o"}}]}}
]
EOF
start_mock bad
head -n 1 l.ndjson > bad.ndjson
OPENAI_BASE_URL=$URL OPENAI_API_KEY=$SECRET agentstep --journal bad.ndjson --max-retries 3 > bad.out 2> bad.err
check_eq "llm gives up: exit 5" "$?" 5
check_grep "llm gives up: says why" "the model gave no valid action in 4 corrected replies" bad.err
check_eq "llm gives up: nothing printed" "$(wc -c < bad.out)" 0
check_eq "llm gives up: exchanges journalled, no action" "$(val bad.ndjson '[r.get("outcome") for r in L if r["kind"] != "meta"]')" "['retry', 'retry', 'retry', 'gave up']"
check_eq "llm: an unknown tool is named" "$(val "$LOG" 'L[1]["body"]["messages"][-1]["content"][:37]')" 'error: unknown tool "run_layers"; the'
check_eq "llm: layers out of range" "$(val "$LOG" 'L[2]["body"]["messages"][-1]["content"]')" \
  "error: run_experiment: configuration 0: layer index 9 out of range 0..3 (blocks are numbered 0-3)"
check_eq "llm: no API key, no planner flag: built-in" "$(OPENAI_BASE_URL=$URL agentstep --journal bad.ndjson | cut -c1-60)" \
  '{"type":"experiment","step":1,"name":"facts/drop-last","task'

# The prompt stays within --context-budget: older experiments shrink first.
agentstep --journal b.ndjson --print-prompt --tasks facts,addition > p_full.txt
agentstep --journal b.ndjson --print-prompt --tasks facts,addition --context-budget 9000 > p_small.txt
check_eq "prompt: within the default budget" "$($PY -c '
import re, sys
t = open("p_full.txt").read()
n = [int(x) for x in re.findall(r"=== \w+ \((\d+) characters\)", t)]
print(sum(n) <= 24000 and "## addition/permute" in t)')" True
check_eq "prompt: within 9000 characters, newest in full, older in brief" "$($PY -c '
import re
t = open("p_small.txt").read()
n = [int(x) for x in re.findall(r"=== \w+ \((\d+) characters\)", t)]
print(sum(n) <= 9000, "## addition/permute" in t, "sample addition-0" in t, "Older experiments, in brief" in t or "left out" in t)')" "True True True True"

# ---------------------------------------------------------------- resume
# Cut mid-experiment: the clean journal up to half of facts/skip-one's scoreloss results.
n=$(grep -n '"experiment":"facts/skip-one","tool":"scoreloss"' b.ndjson | sed -n 7p | cut -d: -f1)
head -n "$n" b.ndjson > c.ndjson
bash "$LOOP" --journal c.ndjson --model "$M" --tasks facts --examples 3 --report-dir crep > c.out 2> c.err
check_eq "resume after a cut: exit 0" "$?" 0
check_eq "resume after a cut: the experiment re-run, all three tools, by its sweep" "$(val c.out 'L[0]["name"], L[0]["resume"], L[0]["rerun"], L[0]["sweeps"]')" \
  "('facts/skip-one', True, ['scoreloss', 'runlayers', 'topk'], ['skip-one'])"
check_eq "resume after a cut: the re-run labelled as the sweep labels" "$(val c.ndjson 'sorted(set(r["label"] for r in L if r["kind"] == "result" and r["experiment"] == "facts/skip-one"))')" \
  "['intact', 'skip 0', 'skip 1', 'skip 2', 'skip 3']"
cat > complete.py <<'EOF'
import json, sys
L = []
for l in open(sys.argv[1], encoding="utf-8"):
    try: L.append(json.loads(l))
    except ValueError: pass
exps = {}
for r in L:
    if r["kind"] == "action" and r["type"] == "experiment" and not r.get("resume"):
        exps[r["name"]] = r
keys = {}
for r in L:
    if r["kind"] == "result":
        keys.setdefault((r["experiment"], r["tool"]), set()).add((r["id"], json.dumps(r.get("layers")), r.get("position")))
bad = []
for name, a in exps.items():
    k = len(a["configurations"])
    # a judged experiment's runlayers records come from judge (runlayers | judge)
    for tool, n in (("scoreloss", a["examples"]), ("judge" if a.get("judge") else "runlayers", a["samples"]), ("topk", a["samples"])):
        if len(keys.get((name, tool), ())) != n * k: bad.append((name, tool, len(keys.get((name, tool), ()))))
notes = {r["experiment"]: r["observation"] for r in L if r["kind"] == "note"}
ref = {}
for l in open(sys.argv[2]):
    r = json.loads(l)
    if r["kind"] == "note": ref[r["experiment"]] = r["observation"]
diff = [e for e in notes if notes[e] != ref.get(e)]
print(len(exps), bad, sorted(notes) == sorted(exps), diff, sum(r["kind"] == "report" for r in L))
EOF
check_eq "resume after a cut: every result in once (deduplicated), notes as in the uninterrupted run, a report" \
  "$($PY complete.py c.ndjson b.ndjson)" "7 [] True [] 1"

# kill -9 the whole loop at several points, then run it to the end (tests/tool/agent_kill.sh
# kills it at many random moments).
run_until() {   # N: run the loop in its own process group; kill -9 it once the journal has grown by N lines
  want=$(( $(cat k.ndjson 2>/dev/null | wc -l) + $1 ))
  group_start bash "$LOOP" --journal k.ndjson --model "$M" --tasks facts --examples 3 --report-dir krep > /dev/null 2>> k.err
  i=0   # 5 s at most, times the slowness factor tests/valgrind.sh sets
  while kill -0 "$GPID" 2>/dev/null && [ "$(cat k.ndjson 2>/dev/null | wc -l)" -lt "$want" ] &&
        [ $i -lt $((500 * ${BAD_INPUTS_SLOW:-1})) ]; do
    sleep 0.01; i=$((i + 1))
  done
  group_kill
  kills="$kills $GST"
}
kills=""
run_until 25
run_until 60
run_until 90
k1=$(wc -l < k.ndjson)
check_eq "kill -9: each of the three runs killed (exit 137)" "$kills" " 137 137 137"
bash "$LOOP" --journal k.ndjson --model "$M" --tasks facts --examples 3 --report-dir krep > k.out 2>> k.err
check_eq "resume after kill -9: exit 0" "$?" 0
check_eq "resume after kill -9: one meta record" "$(val k.ndjson 'sum(r["kind"] == "meta" for r in L)')" 1
check "resume after kill -9: the journal grew in each run ($k1 lines before the last)" test "$k1" -ge 175
check_eq "resume after kill -9: every result in, notes as uninterrupted, a report" \
  "$($PY complete.py k.ndjson b.ndjson)" "7 [] True [] 1"
check "resume after kill -9: report written" test -s krep/report.md

# A journal cut mid-line (a torn last line): reported, skipped, the loop goes on.
n=$(grep -n '"kind":"action".*"step":9,' b.ndjson | cut -d: -f1)
head -n "$n" b.ndjson > t.ndjson
sed -n "$((n + 1))p" b.ndjson | head -c 80 >> t.ndjson
bash "$LOOP" --journal t.ndjson --model "$M" --tasks facts --examples 3 --report-dir trep > t.out 2> t.err
check_eq "torn line: exit 0" "$?" 0
check_eq "torn line: one meta record" "$(val t.ndjson 'sum(r["kind"] == "meta" for r in L)')" 1
check_grep "torn line: reported" "torn last line" t.err
check_eq "torn line: the loop finished the plan" "$($PY complete.py t.ndjson b.ndjson)" "7 [] True [] 1"
check_grep "torn line: the report says lines were skipped" "skipped" trep/report.md

# ---------------------------------------------------------------- agentstep alone
agentstep --journal new.ndjson --model "$M" --tasks counting --examples 2 > new.out 2> new.err
check_eq "a new journal: exit 0" "$?" 0
check_eq "a new journal: meta record describing --model" "$(val new.ndjson '[(r["kind"], r.get("model", {}).get("n_layer")) for r in L]')" \
  "[('meta', 4), ('task', None), ('action', None)]"
check_eq "a new journal: the first experiment" "$(val new.out 'L[0]["name"], L[0]["examples"], L[0]["samples"]')" "('counting/drop-last', 2, 2)"
agentstep --journal missing.ndjson > /dev/null 2> miss.err
check_eq "no journal, no --model: exit 2" "$?" 2
check_grep "no journal, no --model: says so" "no such journal (give --model M to start one)" miss.err
agentstep --journal new.ndjson --tasks facts,nonsense > /dev/null 2> task.err
check_eq "unknown task: exit 2" "$?" 2
check_grep "unknown task: named" 'unknown task "nonsense"' task.err
agentstep > /dev/null 2>&1
check_eq "no --journal: exit 2" "$?" 2
agentstep --journal new.ndjson --planner llm > /dev/null 2> pl.err
check_eq "--planner llm without key or URL: exit 2" "$?" 2
check_eq "usage errors append nothing" "$(wc -l < new.ndjson)" 3
bash "$LOOP" --journal x.ndjson --max-steps many > /dev/null 2>&1
check_eq "loop: a bad --max-steps is a usage error" "$?" 2
bash "$LOOP" --journal ms.ndjson --model "$M" --tasks facts --examples 2 --max-steps 3 --report-dir msrep > ms.out 2> /dev/null
check_eq "loop --max-steps 3: three actions, then the report" "$(val ms.out '[a["type"] for a in L]')" "['experiment', 'note', 'experiment', 'report']"
check_eq "loop --max-steps 3: the report describes the unnoted experiment too" \
  "$(val ms.out '"- facts/drop-first on facts (2 examples" in L[3]["markdown"]')" True
