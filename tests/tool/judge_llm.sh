#!/bin/sh
# judge_llm.sh: `judge` with an LLM, against tests/ref/mockllm.py: what is sent (items
# with their questions, several completions per request, JSON output, the Bearer header),
# verdicts written per record, identical completions asked once, the journal cache (a
# re-run asks nothing), malformed replies asked again then an error record, a 429 with
# Retry-After and a hung reply retried, a server that stays down, --budget; and the
# pipeline gentasks | runlayers --sweep drop-last | judge | judge --summary.  The API key
# appears in no output or file.
. "$(dirname "$0")/../lib.sh"
MOCK="$ROOT/tests/ref/mockllm.py"
SENTINEL=${OPENAI_API_KEY:-sk-SENTINEL-judge-5d1f0a7c93}
export AUTOINTERP_LLM_BACKOFF_BASE=0.01 AUTOINTERP_LLM_RETRIES=2 AUTOINTERP_LLM_TIMEOUT=20
unset OPENAI_API_KEY OPENAI_BASE_URL AUTOINTERP_LLM_MODEL
mkdir -p "$TMP/logs"
start_mock() {   # start_mock NAME: serves $TMP/NAME.script.json; sets URL and LOG
  LOG="$TMP/logs/$1.log"
  : > "$LOG"
  $PY "$MOCK" "$TMP/$1.script.json" --log "$LOG" --lifetime 60 > "$TMP/$1.port" &
  PIDS="$PIDS $!"
  i=0
  while [ ! -s "$TMP/$1.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  URL="http://127.0.0.1:$(head -n 1 "$TMP/$1.port")/v1"
}
val() { $PY -c 'import json,sys; L=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; print(eval(sys.argv[2]))' "$1" "$2"; }
# llm FILE N: "verdict:reason" of the LLM judgements of record N
llm() { val "$1" '[(j["verdict"], j["reason"], j.get("cached", False)) for j in L['"$2"']["judgements"] if j["judge"] == "llm"]'; }
script() { printf '%s\n' "$2" > "$TMP/$1.script.json"; }
# judge_run NAME ARGS...: judge on $TMP/in.ndjson against the mock of NAME, with the key
judge_run() {
  n=$1; shift
  OPENAI_API_KEY="$SENTINEL" OPENAI_BASE_URL="$URL" judge "$@" < "$TMP/in.ndjson" > "$TMP/$n.out" 2> "$TMP/$n.err"
  RC=$?
}

# Three records: the first and third share prompt and completion (asked once).
$PY - "$TMP/in.ndjson" <<'PYEOF'
import json, sys
base = {"task": "facts", "prompt": "Madrid is the capital of", "answer": "Spain",
        "eval_questions": ["Does the continuation state the correct fact?"]}
recs = [dict(base, completion=" Spain.", label="intact", layers=[0, 1]),
        dict(base, completion=" of of of", label="first 1", layers=[0]),
        dict(base, completion=" Spain.", label="first 1", layers=[0], id="again")]
with open(sys.argv[1], "w") as f:
    for r in recs: f.write(json.dumps(r) + "\n")
PYEOF

# ---------------------------------------------------------------- good replies, the cache
script good '[{"judge": "answer"}]'
start_mock good
judge_run good --journal "$TMP/j.ndjson" --llm-model judge-model
check_eq "good: exit 0" "$RC" 0
check_eq "good: one request for two distinct completions" "$(val "$LOG" 'len(L)')" 1
check_eq "good: sent items" "$(val "$LOG" 'json.loads(L[0]["body"]["messages"][1]["content"].split(chr(10), 1)[1].split(chr(10) + chr(10))[0])')" \
  "[{'item': 1, 'prompt': 'Madrid is the capital of', 'continuation': ' Spain.', 'expected_answer': 'Spain', 'questions': ['Does the continuation state the correct fact?']}, {'item': 2, 'prompt': 'Madrid is the capital of', 'continuation': ' of of of', 'expected_answer': 'Spain', 'questions': ['Does the continuation state the correct fact?']}]"
check_eq "good: model, JSON output, temperature 0" "$(val "$LOG" '(L[0]["body"]["model"], L[0]["body"]["response_format"], L[0]["body"]["temperature"])')" \
  "('judge-model', {'type': 'json_object'}, 0)"
check_eq "good: Bearer header" "$(val "$LOG" 'L[0]["headers"].get("authorization") == "'"$(bearer_digest "$SENTINEL")"'"')" "True"
check_eq "good: verdicts per record" "$(llm "$TMP/good.out" 0) $(llm "$TMP/good.out" 1) $(llm "$TMP/good.out" 2)" \
  "[('yes', 'mock: yes for item 1', False)] [('no', 'mock: no for item 2', False)] [('yes', 'mock: yes for item 1', False)]"
check_eq "good: the judgement names its model" "$(val "$TMP/good.out" '[(j["question"], j["model"]) for j in L[0]["judgements"] if j["judge"] == "llm"]')" \
  "[('Does the continuation state the correct fact?', 'mock-model')]"
check_eq "good: nothing unjudged" "$(val "$TMP/good.out" 'sum("unjudged" in r for r in L)')" 0
check_eq "good: offline judges too" "$(val "$TMP/good.out" '[j["judge"] for j in L[1]["judgements"]]')" \
  "['answer-start', 'repeats-last-token', 'ngram-loop', 'english-words', 'llm']"
check_eq "journal: two verdicts and the exchange" "$(val "$TMP/j.ndjson" '[(r["kind"], r.get("verdict"), r.get("outcome")) for r in L]')" \
  "[('verdict', 'yes', None), ('verdict', 'no', None), ('llm', None, 'verdicts')]"
check_eq "journal: verdict record" "$(val "$TMP/j.ndjson" 'sorted(L[1].keys())')" \
  "['completion', 'kind', 'model', 'prompt', 'question', 'reason', 'time', 'verdict']"
journal check --journal "$TMP/j.ndjson" > "$TMP/check.out"
check_eq "journal: check passes" $? 0
check_grep "good: summary line" "judge: LLM judge-model: 1 request, 2 verdicts received, 0 from the cache" "$TMP/good.err"

script nothing '[]'
start_mock nothing
judge_run rerun --journal "$TMP/j.ndjson"
check_eq "re-run with the journal: exit 0" "$RC" 0
check_eq "re-run: no request" "$(val "$LOG" 'len(L)')" 0
check_eq "re-run: cached verdicts" "$(llm "$TMP/rerun.out" 0) $(llm "$TMP/rerun.out" 1)" \
  "[('yes', 'mock: yes for item 1', True)] [('no', 'mock: no for item 2', True)]"
check_grep "re-run: 3 from the cache" "0 requests, 0 verdicts received, 3 from the cache" "$TMP/rerun.err"

# ---------------------------------------------------------------- malformed replies
script bad '[{"reply": {"content": "Sure! Item 1 is correct."}},
 {"reply": {"content": "{\"verdicts\": [{\"item\": 1, \"question\": 1, \"verdict\": \"Yes\", \"reason\": \"states Spain\"}, {\"item\": 2, \"question\": 1, \"verdict\": \"maybe\", \"reason\": \"?\"}, {\"item\": 7, \"question\": 1, \"verdict\": \"no\", \"reason\": \"x\"}]}"}},
 {"reply": {"content": "```json\n{\"verdicts\": [{\"item\": 1, \"question\": 1, \"verdict\": \"no\", \"reason\": \"repeats of\"}]}\n```"}}]'
start_mock bad
judge_run bad --journal "$TMP/bad.ndjson"
check_eq "malformed: exit 0 after two bad replies" "$RC" 0
check_eq "malformed: three requests" "$(val "$LOG" 'len(L)')" 3
check_eq "malformed: valid entries of a bad reply kept" "$(llm "$TMP/bad.out" 0) $(llm "$TMP/bad.out" 1)" \
  "[('yes', 'states Spain', False)] [('no', 'repeats of', False)]"
check_eq "malformed: the retry names the problems" "$(val "$LOG" '"Your previous reply could not be used: the reply is not JSON" in L[1]["body"]["messages"][1]["content"]')" "True"
check_eq "malformed: the third request asks only what is open" "$(val "$LOG" '[(i["item"], i["continuation"]) for i in json.loads(L[2]["body"]["messages"][1]["content"].split(chr(10), 1)[1].split(chr(10) + chr(10))[0])]')" \
  "[(1, ' of of of')]"
check_eq "malformed: problems journalled" "$(val "$TMP/bad.ndjson" '[(r["outcome"], r.get("problems", "")[:60]) for r in L if r["kind"] == "llm"]')" \
  "[('retry', 'the reply is not JSON (invalid JSON)'), ('retry', 'verdict 2 (item 2 question 1): \"verdict\" must be \"yes\", \"no\"'), ('verdicts', '')]"

script gaveup '[{"reply": {"content": "no"}, "repeat": 2}]'
start_mock gaveup
judge_run gaveup --max-retries 1
check_eq "gave up: exit 5" "$RC" 5
check_eq "gave up: two requests" "$(val "$LOG" 'len(L)')" 2
check_eq "gave up: error records, the stream goes on" "$(val "$TMP/gaveup.out" '[r.get("error", "")[:104] for r in L]')" \
  "['judge: question 1 (Does the continuation state the correct fact?): no valid verdict after 2 replies: the', 'judge: question 1 (Does the continuation state the correct fact?): no valid verdict after 2 replies: the', 'judge: question 1 (Does the continuation state the correct fact?): no valid verdict after 2 replies: the']"

# ---------------------------------------------------------------- 429, timeout, down
script busy '[{"status": 429, "headers": {"Retry-After": "0"}, "error": {"message": "slow down"}}, {"hang": true}, {"judge": "yes"}]'
start_mock busy
AUTOINTERP_LLM_TIMEOUT=1 judge_run busy --journal "$TMP/busy.ndjson"
check_eq "429 then a hung reply: exit 0" "$RC" 0
check_eq "429 then a hung reply: three attempts of one request" "$(val "$TMP/busy.ndjson" '[(r["attempts"], r["status"]) for r in L if r["kind"] == "llm"]')" "[(3, 200)]"
check_eq "429 then a hung reply: verdicts" "$(val "$TMP/busy.out" '[j["verdict"] for r in L for j in r["judgements"] if j["judge"] == "llm"]')" "['yes', 'yes', 'yes']"
check_grep "429: retry said" "HTTP 429" "$TMP/busy.err"

script down '[{"status": 503, "error": {"message": "overloaded"}, "repeat": 10}]'
start_mock down
judge_run down --per-request 1
check_eq "server down: exit 5" "$RC" 5
check_eq "server down: one request (3 attempts), then no more" "$(val "$LOG" 'len(L)')" 3
check_eq "server down: every record an error" "$(val "$TMP/down.out" '[("overloaded" in r["error"], "the LLM failed" in r["error"]) for r in L]')" \
  "[(True, True), (True, True), (True, True)]"

# ---------------------------------------------------------------- --budget
script budget '[{"judge": "no"}, {"judge": "no"}]'
start_mock budget
judge_run budget --per-request 1 --budget 1 --journal "$TMP/budget.ndjson"
check_eq "budget: exit 0" "$RC" 0
check_eq "budget: one request" "$(val "$LOG" 'len(L)')" 1
check_eq "budget: the rest unjudged" "$(val "$TMP/budget.out" '[("unjudged" in r, sum(j["judge"] == "llm" for j in r["judgements"])) for r in L]')" \
  "[(False, 1), (True, 0), (False, 1)]"
check_grep "budget: said" "the budget of 1 request was reached: 1 question left unjudged" "$TMP/budget.err"
judge_run budget2 --per-request 1 --budget 5 --journal "$TMP/budget.ndjson"
check_eq "budget: a re-run asks only what is left" "$(val "$LOG" 'len(L)') $(val "$TMP/budget2.out" 'sum("unjudged" in r for r in L)')" "2 0"

# ---------------------------------------------------------------- the pipeline
tiny_model "$TMP/tiny"
script pipe '[{"judge": "answer", "repeat": 20}]'
start_mock pipe
gentasks facts -n 3 | runlayers --model "$TMP/tiny" --sweep drop-last --max-tokens 8 |
  OPENAI_API_KEY="$SENTINEL" OPENAI_BASE_URL="$URL" judge | judge --summary > "$TMP/pipe.out" 2> "$TMP/pipe.err"
check_eq "pipeline: exit 0" $? 0
check_eq "pipeline: 5 configurations x (4 offline + 1 eval question)" \
  "$(val "$TMP/pipe.out" '(len(L), sorted(set(r["n"] for r in L)), sorted(set(r["judge"] for r in L)))')" \
  "(25, [3], ['answer-start', 'english-words', 'llm', 'ngram-loop', 'repeats-last-token'])"
check_eq "pipeline: the mock's verdicts agree with answer-start where it begins with the answer" \
  "$(val "$TMP/pipe.out" 'all(r["yes_rate"] >= a["yes_rate"] for r in L if r["judge"] == "llm" for a in L if a["judge"] == "answer-start" and a["label"] == r["label"])')" True

leaks=$(grep -rlF -- "$SENTINEL" "$TMP" || true)
check_eq "the key appears in no output or file" "$leaks" ""
