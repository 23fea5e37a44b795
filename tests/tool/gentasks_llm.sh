#!/bin/sh
# gentasks_llm.sh: `gentasks --llm` end to end against tests/ref/mockllm.py: the request
# (model, JSON output, the seed tasks and counts asked for, Bearer header), valid tasks
# emitted as ordinary records, invalid items reported with their index and reason (exit
# 5), tasks of one name merged and repeated examples dropped, --llm-save reusable with
# --from, seeds from stdin records, a server error (exit 2) and a reply that is not JSON
# (exit 5); the API key appears in no output or file.
. "$(dirname "$0")/../lib.sh"
MOCK="$ROOT/tests/ref/mockllm.py"
# The run's sentinel key (tests/run.sh) when there is one, so that the suite-wide secret
# scan searches for the key that went through gentasks.
SENTINEL=${OPENAI_API_KEY:-sk-SENTINEL-gentasks-44b1e0c9}
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; tmp_cleanup' EXIT
export AUTOINTERP_LLM_BACKOFF_BASE=0.01 AUTOINTERP_LLM_RETRIES=2 AUTOINTERP_LLM_TIMEOUT=20
unset OPENAI_API_KEY AUTOINTERP_LLM_MODEL
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

# A reply mixing valid, mergeable and invalid tasks, as the content string of a completion.
$PY - "$TMP/mixed.script.json" <<'EOF'
import json, sys
def ex(w, i): return {"prompt": "After %s %d comes %s" % (w, i, w), "answer": str(i + 1)}
tasks = [
    {"name": "successor", "description": "the next whole number",
     "examples": [ex("step", i) for i in range(15)], "eval_questions": ["Is the number one more?"]},
    {"name": "colors", "description": "colour of familiar things",
     "examples": [{"prompt": "What colour is grass?", "answer": "green"},
                  {"prompt": "Fresh snow is", "answer": " white"}]
                 + [{"prompt": "Colour %d of the flag is" % i, "answer": "red"} for i in range(20)],
     "eval_questions": ["Is a colour named?"]},
    {"name": "successor", "description": "again",
     "examples": [ex("step", i) for i in range(10, 25)], "eval_questions": ["Is the number one more?", "Is it a number?"]},
    {"name": "tiny", "description": "too few examples", "examples": [ex("t", i) for i in range(5)],
     "eval_questions": ["q"]},
    {"name": "facts", "description": "a seed's name", "examples": [ex("f", i) for i in range(20)],
     "eval_questions": ["q"]},
    "not a task",
]
json.dump([{"reply": {"content": json.dumps({"tasks": tasks})}}], open(sys.argv[1], "w"))
EOF
start_mock mixed
OPENAI_API_KEY="$SENTINEL" OPENAI_BASE_URL="$URL" gentasks --llm facts addition --llm-tasks 4 --llm-model mock-4 \
  --llm-save "$TMP/saved.json" > "$TMP/mixed.out" 2> "$TMP/mixed.err"
check_eq "mixed: exit 5" $? 5
check_eq "mixed: records per task" "$(val "$TMP/mixed.out" 'sorted(set((r["task"], sum(1 for q in L if q["task"] == r["task"])) for r in L))')" \
  "[('colors', 20), ('successor', 25)]"
check_eq "mixed: record fields" "$(val "$TMP/mixed.out" 'sorted(L[0].keys())')" \
  "['answer', 'description', 'eval_questions', 'id', 'prompt', 'separator', 'task']"
check_eq "mixed: ids and first record" "$(val "$TMP/mixed.out" '(L[0]["id"], L[0]["prompt"], L[0]["answer"], L[0]["separator"], L[0]["description"])')" \
  "('successor-0', 'After step 0 comes step', '1', ' ', 'the next whole number')"
check_eq "mixed: merged questions" "$(val "$TMP/mixed.out" 'L[0]["eval_questions"]')" "['Is the number one more?', 'Is it a number?']"
check_eq "mixed: merged examples in order, no repeats" "$(val "$TMP/mixed.out" '[r["answer"] for r in L if r["task"] == "successor"] == [str(i + 1) for i in range(25)]')" "True"
check_grep "mixed: chat question reported" "gentasks: llm: skipped task 1 (colors), example 0: the prompt ends in '?'" "$TMP/mixed.err"
check_grep "mixed: leading space reported" "task 1 (colors), example 1: the answer starts with a space" "$TMP/mixed.err"
check_grep "mixed: too few reported" "skipped task 3 (tiny): only 5 valid examples, at least 20 needed" "$TMP/mixed.err"
check_grep "mixed: seed name reported" "skipped task 4 (facts): has the name of an existing task" "$TMP/mixed.err"
check_grep "mixed: non-object reported" "skipped task 5: not an object" "$TMP/mixed.err"
check_grep "mixed: summary" "llm: 2 new tasks (45 examples) of 4 asked for; 5 items skipped, 5 repeated examples dropped" "$TMP/mixed.err"
check_eq "sent: one request, model, JSON output" "$(val "$LOG" '(len(L), L[0]["body"]["model"], L[0]["body"]["response_format"])')" \
  "(1, 'mock-4', {'type': 'json_object'})"
check_eq "sent: Bearer header" "$(val "$LOG" 'L[0]["headers"].get("authorization") == "'"$(bearer_digest "$SENTINEL")"'"')" "True"
check_eq "sent: roles" "$(val "$LOG" '[m["role"] for m in L[0]["body"]["messages"]]')" "['system', 'user']"
check_eq "sent: counts asked for" "$(val "$LOG" '"Write 4 new tasks of the same kind, different from these, each with at least 20 examples" in L[0]["body"]["messages"][1]["content"]')" "True"
check_eq "sent: the seeds, with examples" \
  "$(val "$LOG" '[t["name"] for t in json.loads(L[0]["body"]["messages"][1]["content"].split("\n", 1)[1].rsplit("\n\n", 1)[0])]')" \
  "['facts', 'addition']"
check_eq "sent: a seed example" "$(val "$LOG" '"{\"prompt\":\"Madrid is the capital of\",\"answer\":\"Spain\"}" in L[0]["body"]["messages"][1]["content"]')" "True"
check_eq "sent: no seed without --seed" "$(val "$LOG" '"seed" in L[0]["body"]')" "False"

gentasks --from "$TMP/saved.json" > "$TMP/again.out" 2> "$TMP/again.err"
check_eq "--llm-save: reusable with --from (exit 0)" $? 0
check "--llm-save: same records" cmp "$TMP/mixed.out" "$TMP/again.out"

# --llm-save on a full device: the buffered write only fails at fclose, which is reported
# once (the FILE was closed a second time, a double free under ASan); as any failed
# --llm-save, exit 2 and no records.
if [ -w /dev/full ]; then
  cp "$TMP/mixed.script.json" "$TMP/full.script.json"
  start_mock full
  OPENAI_API_KEY="$SENTINEL" OPENAI_BASE_URL="$URL" gentasks --llm facts addition --llm-tasks 4 --llm-model mock-4 \
    --llm-save /dev/full > "$TMP/full.out" 2> "$TMP/full.err"
  check_eq "--llm-save on a full device: exit 2" $? 2
  check_grep "--llm-save on a full device: the message" "/dev/full: cannot write: No space left on device" "$TMP/full.err"
  check_eq "--llm-save on a full device: no records" "$(wc -c < "$TMP/full.out")" 0
fi

# ---------------------------------------------------------------- clean reply, -n, --list, stdin seeds
$PY - "$TMP/clean.script.json" <<'EOF'
import json, sys
tasks = [{"name": "months-after", "description": "the month after another",
          "examples": [{"prompt": "The month after %s is" % m, "answer": n}
                       for m, n in zip(["January", "February", "March", "April", "May", "June", "July",
                                        "August", "September", "October", "November"] * 2,
                                       ["February", "March", "April", "May", "June", "July", "August",
                                        "September", "October", "November", "December"] * 2)]
                      + [{"prompt": "Month number %d is" % i, "answer": "M%d" % i} for i in range(12)],
          "eval_questions": ["Is the month right?"]}]
body = {"reply": {"content": "```json\n" + json.dumps({"tasks": tasks}) + "\n```"}}
json.dump([body, body], open(sys.argv[1], "w"))
EOF
start_mock clean
gentasks facts -n 3 | OPENAI_BASE_URL="$URL" gentasks --llm --from - -n 5 --seed 9 --llm-tasks 1 > "$TMP/clean.out" 2> "$TMP/clean.err"
check_eq "clean: exit 0" $? 0
check_eq "clean: -n 5 of the 23 distinct examples" "$(val "$TMP/clean.out" '[(r["id"], r["answer"]) for r in L][-1], len(L)')" "(('months-after-4', 'June'), 5)"
check_grep "clean: summary (repeats dropped)" "llm: 1 new task (23 examples) of 1 asked for; 0 items skipped, 11 repeated examples dropped" "$TMP/clean.err"
check_eq "clean: stdin records seed the request" \
  "$(val "$LOG" '[t["name"] for t in json.loads(L[0]["body"]["messages"][1]["content"].split("\n", 1)[1].rsplit("\n\n", 1)[0])]')" "['facts']"
check_eq "clean: 3 seed examples (all stdin had)" \
  "$(val "$LOG" 'len(json.loads(L[0]["body"]["messages"][1]["content"].split("\n", 1)[1].rsplit("\n\n", 1)[0])[0]["examples"])')" 3
check_eq "clean: --seed sent, -n raises nothing below 20" "$(val "$LOG" '(L[0]["body"]["seed"], "at least 20 examples" in L[0]["body"]["messages"][1]["content"])')" "(9, True)"
check_eq "clean: no key, no Authorization" "$(val "$LOG" '"authorization" in L[0]["headers"]')" "False"
OPENAI_BASE_URL="$URL" gentasks --llm facts --list > "$TMP/list.out" 2>/dev/null
check_eq "--list lists the new tasks" "$(val "$TMP/list.out" '[(r["name"], r["n_available"]) for r in L]')" "[('months-after', 23)]"

# ---------------------------------------------------------------- failures
cat > "$TMP/down.script.json" <<'EOF'
[{"status": 503, "error": {"message": "overloaded"}, "repeat": 5}]
EOF
start_mock down
OPENAI_BASE_URL="$URL" gentasks --llm facts > "$TMP/down.out" 2> "$TMP/down.err"
check_eq "server down: exit 2" $? 2
check_eq "server down: no records" "$(wc -c < "$TMP/down.out" | tr -d ' ')" 0
check_grep "server down: message" "HTTP 503: overloaded (after 3 attempts)" "$TMP/down.err"

cat > "$TMP/prose.script.json" <<'EOF'
[{"reply": {"content": "Sure! Here are some tasks: ...", "finish_reason": "length"}}]
EOF
start_mock prose
OPENAI_BASE_URL="$URL" gentasks --llm facts > "$TMP/prose.out" 2> "$TMP/prose.err"
check_eq "prose reply: exit 5" $? 5
check_grep "prose reply: message" "gentasks: llm: the model's reply is not JSON" "$TMP/prose.err"
check_grep "prose reply: cut at the limit said" "finish_reason \"length\"" "$TMP/prose.err"

OPENAI_BASE_URL="ftp://nowhere" gentasks --llm facts > /dev/null 2> "$TMP/badurl.err"
check_eq "bad base URL: exit 2" $? 2
gentasks --llm-model x facts > /dev/null 2>&1
check_eq "--llm-model without --llm: usage error" $? 2
gentasks --llm --llm-tasks 0 > /dev/null 2>&1
check_eq "--llm-tasks 0: usage error" $? 2

leaks=$(grep -rlF -- "$SENTINEL" "$TMP" || true)   # the mock's logs included: they hold a digest
check_eq "the key appears in no output or file" "$leaks" ""
