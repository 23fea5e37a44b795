#!/bin/sh
# llm_client.sh: common/io/llm against tests/ref/mockllm.py through `test_llm --chat`: what is
# sent (model, tools, messages, Bearer header with and without a key), tool calls (several
# in one reply, invalid arguments, the follow-up turn), retries (429 + Retry-After /
# retry-after-ms honoured, 500 then success, a cut connection, retries used up), a hung
# reply (the timeout fires in bounded time), malformed bodies, a 401 (server's message,
# no retry), and a sentinel key that must never appear in any output or file written.
. "$(dirname "$0")/../lib.sh"
: "${UNIT:?UNIT must point at the built unit tests}"
MOCK="$ROOT/tests/ref/mockllm.py"
# The run's sentinel key (tests/run.sh) when there is one: the suite-wide secret scan then
# searches everything this script wrote for the very key that went through the client.
SENTINEL=${OPENAI_API_KEY:-sk-SENTINEL-7f3a9c2e51d04b86}
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; tmp_cleanup' EXIT
export AUTOINTERP_LLM_BACKOFF_BASE=0.01 AUTOINTERP_LLM_RETRIES=3 AUTOINTERP_LLM_TIMEOUT=20
unset OPENAI_API_KEY AUTOINTERP_LLM_MODEL
mkdir -p "$TMP/logs"

# start_mock NAME: serves $TMP/NAME.script.json; sets URL and LOG (the mock's request log,
# under $TMP/logs; it holds a digest of the key, never the key).
start_mock() {
  LOG="$TMP/logs/$1.log"
  : > "$LOG"
  $PY "$MOCK" "$TMP/$1.script.json" --log "$LOG" --lifetime 60 > "$TMP/$1.port" &
  PIDS="$PIDS $!"
  i=0
  while [ ! -s "$TMP/$1.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  URL="http://127.0.0.1:$(head -n 1 "$TMP/$1.port")/v1"
}

# val FILE EXPR: EXPR evaluated in Python with L = the JSON lines of FILE.
val() { $PY -c 'import json,sys; L=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; print(eval(sys.argv[2]))' "$1" "$2"; }

# chat NAME [test_llm flags]: runs the request $TMP/req.json against the mock of NAME;
# stdout in $TMP/NAME.out, stderr in $TMP/NAME.err, exit status in RC, seconds in SECS.
chat() {
  name=$1; shift
  t0=$($PY -c 'import time; print(time.time())')
  OPENAI_BASE_URL="$URL" "$UNIT/test_llm" --chat "$TMP/req.json" "$@" > "$TMP/$name.out" 2> "$TMP/$name.err"
  RC=$?
  SECS=$($PY -c "import time; print(round(time.time() - $t0, 2))")
}

cat > "$TMP/req.json" <<'EOF'
{"model": "test-model",
 "messages": [{"role": "system", "content": "You probe GPT-2."},
              {"role": "user", "content": "Run layers 0-3."}],
 "tools": [{"type": "function", "function": {"name": "run_layers", "description": "run",
            "parameters": {"type": "object", "properties": {"layers": {"type": "array"}}}}},
           {"type": "function", "function": {"name": "note", "parameters": {"type": "object"}}}],
 "tool_choice": "auto", "temperature": 0.2, "max_tokens": 300, "seed": 7}
EOF

# ---------------------------------------------------------------- tool calls, what was sent
cat > "$TMP/tools.script.json" <<'EOF'
[{"reply": {"content": null, "tool_calls": [
   {"id": "call_1", "name": "run_layers", "arguments": {"layers": [0, 1, 2, 3]}},
   {"id": "call_2", "name": "note", "arguments": "{\"text\": \"unterminated"}]}},
 {"reply": {"content": "Layers 0-3 keep the answer."}}]
EOF
start_mock tools
OPENAI_API_KEY="$SENTINEL" chat tools --followup --exchange "$TMP/tools.exchange.json"
check_eq "tool calls: exit 0" "$RC" 0
check_eq "tool calls: two lines (turn + follow-up)" "$(wc -l < "$TMP/tools.out" | tr -d ' ')" 2
check_eq "tool calls: ok, one attempt" "$(val "$TMP/tools.out" 'L[0]["ok"], L[0]["attempts"], L[0]["status"]')" "(True, 1, 200)"
check_eq "tool calls: two calls in one reply" "$(val "$TMP/tools.out" '[(t["id"], t["name"]) for t in L[0]["tool_calls"]]')" \
  "[('call_1', 'run_layers'), ('call_2', 'note')]"
check_eq "tool calls: arguments raw" "$(val "$TMP/tools.out" 'L[0]["tool_calls"][0]["arguments"]')" '{"layers": [0, 1, 2, 3]}'
check_eq "tool calls: valid arguments parse" "$(val "$TMP/tools.out" 'L[0]["tool_calls"][0]["args_ok"]')" "True"
check_eq "tool calls: invalid arguments flagged" "$(val "$TMP/tools.out" 'L[0]["tool_calls"][1]["args_ok"]')" "False"
check_grep "tool calls: invalid arguments message" "arguments of note are not valid JSON" "$TMP/tools.out"
check_eq "tool calls: content null, finish_reason" "$(val "$TMP/tools.out" '(L[0]["content"], L[0]["finish_reason"], L[0]["usage"])')" \
  "(None, 'tool_calls', [10, 5])"
check_eq "follow-up: content" "$(val "$TMP/tools.out" 'L[1]["content"]')" "Layers 0-3 keep the answer."
check_eq "sent: two requests" "$(val "$LOG" 'len(L)')" 2
check_eq "sent: POST to /v1/chat/completions" "$(val "$LOG" '(L[0]["method"], L[0]["path"])')" "('POST', '/v1/chat/completions')"
check_eq "sent: content type" "$(val "$LOG" 'L[0]["headers"]["content-type"]')" "application/json"
check_eq "sent: Bearer header carries the key" "$(val "$LOG" 'L[0]["headers"].get("authorization") == "'"$(bearer_digest "$SENTINEL")"'"')" "True"
check_eq "sent: model" "$(val "$LOG" 'L[0]["body"]["model"]')" "test-model"
check_eq "sent: tools" "$(val "$LOG" '[t["function"]["name"] for t in L[0]["body"]["tools"]]')" "['run_layers', 'note']"
check_eq "sent: tool schema" "$(val "$LOG" 'L[0]["body"]["tools"][0]["function"]["parameters"]["properties"]["layers"]')" "{'type': 'array'}"
check_eq "sent: options" "$(val "$LOG" '(L[0]["body"]["tool_choice"], L[0]["body"]["temperature"], L[0]["body"]["max_tokens"], L[0]["body"]["seed"])')" \
  "('auto', 0.2, 300, 7)"
check_eq "sent: messages" "$(val "$LOG" '[(m["role"], m["content"]) for m in L[0]["body"]["messages"]]')" \
  "[('system', 'You probe GPT-2.'), ('user', 'Run layers 0-3.')]"
check_eq "follow-up: roles sent" "$(val "$LOG" '[m["role"] for m in L[1]["body"]["messages"]]')" \
  "['system', 'user', 'assistant', 'tool', 'tool']"
check_eq "follow-up: assistant turn echoes the calls" \
  "$(val "$LOG" '[(t["id"], t["type"], t["function"]["name"], t["function"]["arguments"]) for t in L[1]["body"]["messages"][2]["tool_calls"]]')" \
  "[('call_1', 'function', 'run_layers', '{\"layers\": [0, 1, 2, 3]}'), ('call_2', 'function', 'note', '{\"text\": \"unterminated')]"
check_eq "follow-up: tool results by id" "$(val "$LOG" '[(m["tool_call_id"], m["content"][:36]) for m in L[1]["body"]["messages"][3:]]')" \
  "[('call_1', 'ok: run_layers'), ('call_2', 'arguments of note are not valid JSON')]"
check_eq "exchange: request and response, no headers" \
  "$(val "$TMP/tools.exchange.json" '(L[0]["request"]["model"], L[0]["response"]["choices"][0]["finish_reason"], L[0]["status"], "authorization" in json.dumps(L[0]).lower())')" \
  "('test-model', 'tool_calls', 200, False)"

# ---------------------------------------------------------------- no key: no Authorization
cat > "$TMP/nokey.script.json" <<'EOF'
[{"reply": {"content": "hi"}}]
EOF
start_mock nokey
URL="$URL/"   # a trailing slash is tolerated
chat nokey
check_eq "no key: ok" "$RC" 0
check_eq "no key: no Authorization header" "$(val "$LOG" '"authorization" in L[0]["headers"]')" "False"
check_eq "no key: trailing slash, same path" "$(val "$LOG" 'L[0]["path"]')" "/v1/chat/completions"
check_eq "no key: content" "$(val "$TMP/nokey.out" 'L[0]["content"]')" "hi"

# ---------------------------------------------------------------- a placeholder key
# Local servers take any key; a short placeholder such as "x" is not redacted (replacing
# every "x" would corrupt the reply), and is still sent.
cat > "$TMP/dummy.script.json" <<'EOF'
[{"reply": {"content": "x marks the spot", "tool_calls": [
   {"id": "call_x", "name": "run_layers", "arguments": {"layers": [0], "text": "xyz"}}]}}]
EOF
start_mock dummy
OPENAI_API_KEY=x chat dummy
check_eq "placeholder key: ok" "$RC" 0
check_eq "placeholder key: content intact" "$(val "$TMP/dummy.out" 'L[0]["content"]')" "x marks the spot"
check_grep "placeholder key: arguments intact" 'xyz' "$TMP/dummy.out"
check_eq "placeholder key: still sent" "$(val "$LOG" 'L[0]["headers"]["authorization"]')" "$(bearer_digest x)"

# ---------------------------------------------------------------- 429 + Retry-After
cat > "$TMP/r429.script.json" <<'EOF'
[{"status": 429, "headers": {"Retry-After": "1"}, "error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
 {"reply": {"content": "after the wait"}}]
EOF
start_mock r429
OPENAI_API_KEY="$SENTINEL" chat r429
check_eq "429: succeeds on the retry" "$(val "$TMP/r429.out" '(L[0]["ok"], L[0]["attempts"], L[0]["content"])')" "(True, 2, 'after the wait')"
check_eq "429: Retry-After honoured (gap between requests >= 0.9 s)" "$(val "$LOG" 'L[1]["t"] - L[0]["t"] >= 0.9')" "True"
check_eq "429: and not much longer (< 3 s)" "$(val "$LOG" 'L[1]["t"] - L[0]["t"] < 3')" "True"
check_grep "429: retry reported on stderr" "HTTP 429 (rate_limit_exceeded): Rate limit reached; retry 1/3 in 1.00 s" "$TMP/r429.err"

cat > "$TMP/r429ms.script.json" <<'EOF'
[{"status": 429, "headers": {"retry-after-ms": "400", "Retry-After": "30"}, "error": {"message": "slow down"}},
 {"reply": {"content": "ok"}}]
EOF
start_mock r429ms
chat r429ms
check_eq "retry-after-ms: retried" "$(val "$TMP/r429ms.out" '(L[0]["ok"], L[0]["attempts"])')" "(True, 2)"
check_eq "retry-after-ms: wins over Retry-After (0.35 s <= gap < 3 s)" "$(val "$LOG" '0.35 <= L[1]["t"] - L[0]["t"] < 3')" "True"

# ---------------------------------------------------------------- 500, cut connection, give up
cat > "$TMP/r500.script.json" <<'EOF'
[{"status": 500, "error": {"message": "internal", "type": "server_error"}},
 {"close": true},
 {"reply": {"content": "third time"}}]
EOF
start_mock r500
chat r500
check_eq "500 then cut then success" "$(val "$TMP/r500.out" '(L[0]["ok"], L[0]["attempts"], L[0]["content"])')" "(True, 3, 'third time')"
check_eq "500: backoff scaled down (< 2 s)" "$($PY -c "print($SECS < 2)")" "True"

cat > "$TMP/r503.script.json" <<'EOF'
[{"status": 503, "text": "upstream unavailable", "repeat": 10}]
EOF
start_mock r503
AUTOINTERP_LLM_RETRIES=2 chat r503
check_eq "503 forever: exit 1" "$RC" 1
check_eq "503 forever: bounded attempts" "$(val "$TMP/r503.out" '(L[0]["attempts"], L[0]["status"])')" "(3, 503)"
check_eq "503 forever: requests made" "$(val "$LOG" 'len(L)')" 3
check_grep "503 forever: message" "HTTP 503: upstream unavailable (after 3 attempts)" "$TMP/r503.out"

# ---------------------------------------------------------------- refused connection
FREE=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$FREE/v1"
chat refused
check_eq "refused: exit 1, not retried" "$RC:$(val "$TMP/refused.out" '(L[0]["attempts"], L[0]["status"])')" "1:(1, 0)"
check_grep "refused: message names the URL" "POST http://127.0.0.1:$FREE/v1/chat/completions: " "$TMP/refused.out"

# ---------------------------------------------------------------- hung reply
cat > "$TMP/hang.script.json" <<'EOF'
[{"hang": true, "repeat": 5}]
EOF
start_mock hang
AUTOINTERP_LLM_TIMEOUT=1 AUTOINTERP_LLM_RETRIES=1 chat hang
check_eq "hang: exit 1" "$RC" 1
check_eq "hang: timed out twice (retry)" "$(val "$TMP/hang.out" '(L[0]["attempts"], L[0]["status"])')" "(2, 0)"
check_grep "hang: timeout message" "timed out after" "$TMP/hang.out"
check_eq "hang: bounded time (1.8 s <= t < 6 s)" "$($PY -c "print(1.8 <= $SECS < 6)")" "True"

# ---------------------------------------------------------------- malformed bodies
cat > "$TMP/bad.script.json" <<'EOF'
[{"text": "<html>gateway says hi</html>"},
 {"body": {"choices": [{"message": {"content": 42}}]}},
 {"body": {"choices": [{"message": {"tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]}}]}},
 {"raw": "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"choices\": ["}]
EOF
start_mock bad
chat bad1
check_eq "not JSON: exit 1, not retried" "$RC:$(val "$TMP/bad1.out" 'L[0]["attempts"]')" "1:1"
check_grep "not JSON: message" "malformed reply: not JSON" "$TMP/bad1.out"
check_grep "not JSON: quotes the body" "<html>gateway says hi</html>" "$TMP/bad1.out"
chat bad2
check_grep "content 42: message" "malformed reply: message content is neither a string nor null" "$TMP/bad2.out"
chat bad3
check_grep "tool call without name: message" "malformed reply: tool call 0 has no function name" "$TMP/bad3.out"
AUTOINTERP_LLM_RETRIES=0 chat bad4
check_eq "truncated body: exit 1" "$RC" 1
check_grep "truncated body: connection cut" "connection cut" "$TMP/bad4.out"

# ---------------------------------------------------------------- 401 and the secret
cat > "$TMP/r401.script.json" <<EOF
[{"status": 401, "error": {"message": "Incorrect API key provided: {{key}}. You can find your API key at https://platform.openai.com/account/api-keys.", "type": "invalid_request_error", "code": "invalid_api_key"}},
 {"reply": {"content": "must not be reached"}}]
EOF
start_mock r401
OPENAI_API_KEY="$SENTINEL" chat r401 --exchange "$TMP/r401.exchange.json"
check_eq "401: exit 1" "$RC" 1
check_eq "401: not retried" "$(val "$TMP/r401.out" '(L[0]["attempts"], L[0]["status"], L[0]["error_type"])')" "(1, 401, 'invalid_request_error')"
check_eq "401: one request" "$(val "$LOG" 'len(L)')" 1
check_grep "401: server's message with status" "HTTP 401 (invalid_api_key): Incorrect API key provided: [redacted]. You can find" "$TMP/r401.out"
check_grep "401: exchange keeps the server's reply, key redacted" "Incorrect API key provided: [redacted]" "$TMP/r401.exchange.json"

cat > "$TMP/echo.script.json" <<EOF
[{"reply": {"content": "your key is {{key}}", "tool_calls": [{"id": "{{key}}", "name": "f", "arguments": "{\"k\": \"{{key}}\"}"}]}}]
EOF
start_mock echo
OPENAI_API_KEY="$SENTINEL" chat echo --exchange "$TMP/echo.exchange.json"
check_eq "echoed key: redacted in the reply" "$(val "$TMP/echo.out" '(L[0]["content"], L[0]["tool_calls"][0]["id"])')" "('your key is [redacted]', '[redacted]')"

# The mock echoed the key it received ({{key}}), yet no file holds it, not even the mock's
# log (tests/run.sh scans every file again, with the run's sentinel).
leaks=$(grep -rlF -- "$SENTINEL" "$TMP" || true)
check_eq "the key appears in no output or file written" "$leaks" ""
check_eq "the mock logged a digest of the key, not the key" "$(grep -cF -- "$(bearer_digest "$SENTINEL")" "$TMP/logs/tools.log")" 2
