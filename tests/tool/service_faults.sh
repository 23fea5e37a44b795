#!/bin/sh
# service_faults.sh: what the network tools do when a service fails, against local servers:
#   - DNS: a hub endpoint and an LLM base URL under the reserved .invalid TLD (RFC 6761);
#   - TLS: a self-signed certificate (made here with openssl), a certificate for another
#     host name, an http server spoken to with https://; and, as the control, the same
#     servers trusted through CURL_CA_BUNDLE / SSL_CERT_FILE (verification is never off);
#   - a download of model.safetensors cut at 10 %, 20 %, ... 90 %: every try resumes from
#     the partial file (Range requests at exactly those offsets), the blob's sha256 is the
#     original's and the model loads and computes what the original computes.
# Each tool runs under `timeout`, so a hang is a failure, not a stuck test.
. "$(dirname "$0")/../lib.sh"
MOCK="$ROOT/tests/ref/mockllm.py"
hub_isolate
# No proxy (it would do the DNS lookups) and no CA file from the environment: each check
# names the trust it wants.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy no_proxy NO_PROXY \
      CURL_CA_BUNDLE SSL_CERT_FILE OPENAI_API_KEY AUTOINTERP_LLM_MODEL
export AUTOINTERP_LLM_BACKOFF_BASE=0.01 AUTOINTERP_LLM_RETRIES=2 AUTOINTERP_LLM_TIMEOUT=20
LIMIT=60   # seconds any one tool may take here

# run NAME CMD...: CMD under `timeout`, stdout in $TMP/NAME.out, stderr in $TMP/NAME.err;
# sets RC (124: it hung).
run() {
  _run=$1; shift
  timeout "$LIMIT" "$@" > "$TMP/$_run.out" 2> "$TMP/$_run.err"
  RC=$?
}
sha256() { sha256sum "$1" | cut -d' ' -f1; }
val() { $PY -c 'import json,sys; L=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; print(eval(sys.argv[2]))' "$1" "$2"; }
cdn_ranges() { $PY -c 'import json,sys; print(" ".join(str(r["range"]) for r in map(json.loads, open(sys.argv[1])) if r["path"].startswith("/cdn/")))' "$1"; }

# --- the model served: a tiny random checkpoint (14 MB: 10 % steps of 1.4 MB) ------------
SERVE="$TMP/serve"
SRC="$SERVE/tiny/gpt2"
mkdir -p "$SERVE/tiny"
tiny_model "$SRC"
SHA=$(sha256 "$SRC/model.safetensors")
SIZE=$(wc -c < "$SRC/model.safetensors" | tr -d ' ')
PROMPT='{"prompt":"The capital of France is"}'
printf '%s\n' "$PROMPT" | topk --model "$SRC" -k 5 > "$TMP/topk.want"
check "the served model computes" [ -s "$TMP/topk.want" ]

# hub [hubserver flags]: a hub serving $SERVE; sets PORT and LOG.
hub() { serve_hub "$SERVE" "$@"; }
blobs() { ls "$HF_HUB_CACHE/models--tiny--gpt2/blobs" 2>/dev/null; }

# --- certificates ---------------------------------------------------------------------------
# ip.pem: for 127.0.0.1 only (so https://localhost:PORT is another host name).
CERTS="$TMP/certs"
mkdir -p "$CERTS"
if ! command -v openssl >/dev/null 2>&1; then
  failed "openssl" "the openssl command is missing (Debian package openssl; scripts/install-deps.sh)"
  exit 1
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=autointerp-test -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$CERTS/ip.key" -out "$CERTS/ip.pem" > "$TMP/openssl.log" 2>&1
check "self-signed certificate made" [ -s "$CERTS/ip.pem" ]

# =========================================================================== DNS failure
fresh_cache
HF_ENDPOINT=http://hub.autointerp.invalid run dns loadgpt2 tiny/gpt2
check_eq "dns hub: loadgpt2 exits 5 (not hung)" "$RC" 5
check_grep "dns hub: says the name did not resolve" "the host name hub.autointerp.invalid could not be resolved" "$TMP/dns.err"
check_grep "dns hub: names the endpoint and file" "cannot reach the hub for tiny/gpt2/config.json: HEAD http://hub.autointerp.invalid/tiny/gpt2/resolve/main/config.json" "$TMP/dns.err"
check_grep "dns hub: says what to do" "check the network or HF_ENDPOINT" "$TMP/dns.err"
check_eq "dns hub: nothing in the cache" "$(find "$HF_HUB_CACHE" -type f 2>/dev/null | wc -l | tr -d ' ')" 0

# The hub answers, but the CDN it redirects to does not resolve.
hub --cdn-host cdn.autointerp.invalid
fresh_cache
HF_ENDPOINT=http://127.0.0.1:$PORT run dnscdn loadgpt2 tiny/gpt2
check_eq "dns cdn: loadgpt2 exits 5" "$RC" 5
check_grep "dns cdn: names the CDN host" "the host name cdn.autointerp.invalid could not be resolved" "$TMP/dnscdn.err"
check_grep "dns cdn: names the file" "downloading tiny/gpt2/model.safetensors failed" "$TMP/dnscdn.err"
check_eq "dns cdn: not retried (one HEAD per file, then stop)" "$(grep -c '"HEAD"' "$LOG")" 2
stop_server

OPENAI_BASE_URL=http://llm.autointerp.invalid/v1 run dnsllm gentasks --llm facts
check_eq "dns llm: gentasks --llm exits 2" "$RC" 2
check_grep "dns llm: says the name did not resolve" "the host name llm.autointerp.invalid could not be resolved" "$TMP/dnsllm.err"
check_grep "dns llm: names the URL" "POST http://llm.autointerp.invalid/v1/chat/completions" "$TMP/dnsllm.err"
check_eq "dns llm: not retried" "$(grep -c 'retry\|attempts' "$TMP/dnsllm.err")" 0
check_eq "dns llm: no records" "$(wc -c < "$TMP/dnsllm.out" | tr -d ' ')" 0
OPENAI_BASE_URL=https://llm.autointerp.invalid/v1 run dnsagent \
  agentstep --journal "$TMP/dns.journal" --model "$SRC" --planner llm
check_eq "dns agentstep: exits 2" "$RC" 2
check_grep "dns agentstep: says the name did not resolve" "agentstep: POST https://llm.autointerp.invalid/v1/chat/completions: the host name llm.autointerp.invalid could not be resolved" "$TMP/dnsagent.err"

# =========================================================================== TLS: the hub
hub --tls "$CERTS/ip.pem" "$CERTS/ip.key"
TLSHUB=https://127.0.0.1:$PORT
fresh_cache
HF_ENDPOINT=$TLSHUB run selfsigned loadgpt2 tiny/gpt2
check_eq "self-signed hub: loadgpt2 exits 5" "$RC" 5
check_grep "self-signed hub: certificate not verified" "the TLS certificate of 127.0.0.1:$PORT could not be verified" "$TMP/selfsigned.err"
check_grep "self-signed hub: names the endpoint" "HEAD $TLSHUB/tiny/gpt2/resolve/main/config.json" "$TMP/selfsigned.err"
check_grep "self-signed hub: says what to do" "name a CA file in CURL_CA_BUNDLE" "$TMP/selfsigned.err"
check_eq "self-signed hub: no request got through" "$(wc -l < "$LOG" | tr -d ' ')" 0
check_eq "self-signed hub: nothing in the cache" "$(find "$HF_HUB_CACHE" -type f 2>/dev/null | wc -l | tr -d ' ')" 0
# The control: the same server, its certificate trusted, serves the model.
fresh_cache
CURL_CA_BUNDLE="$CERTS/ip.pem" HF_ENDPOINT=$TLSHUB run trusted loadgpt2 tiny/gpt2
check_eq "trusted hub (CURL_CA_BUNDLE): downloads" "$RC" 0
check_eq "trusted hub: sha256 of the blob" "$(sha256 "$HF_HUB_CACHE/models--tiny--gpt2/blobs/$SHA")" "$SHA"
check_grep "trusted hub: the requests arrived" '"path": "/tiny/gpt2/resolve/main/config.json"' "$LOG"
fresh_cache
SSL_CERT_FILE="$CERTS/ip.pem" HF_ENDPOINT=$TLSHUB run trusted2 loadgpt2 tiny/gpt2
check_eq "trusted hub (SSL_CERT_FILE): downloads" "$RC" 0
# Trusted certificate, wrong host name: still refused.
fresh_cache
CURL_CA_BUNDLE="$CERTS/ip.pem" HF_ENDPOINT=https://localhost:$PORT run wrongname loadgpt2 tiny/gpt2
check_eq "certificate for another name: exits 5" "$RC" 5
check_grep "certificate for another name: not verified" "the TLS certificate of localhost:$PORT could not be verified" "$TMP/wrongname.err"
check_grep "certificate for another name: the CA file in use is named" "(CURL_CA_BUNDLE=$CERTS/ip.pem now)" "$TMP/wrongname.err"
fresh_cache
CURL_CA_BUNDLE="$TMP/no-such-ca.pem" HF_ENDPOINT=$TLSHUB run badca loadgpt2 tiny/gpt2
check_eq "unreadable CA file: exits 5" "$RC" 5
check_grep "unreadable CA file: message" "the CA certificates could not be read" "$TMP/badca.err"
check_grep "unreadable CA file: names it" "CURL_CA_BUNDLE=$TMP/no-such-ca.pem" "$TMP/badca.err"
stop_server

# An http server spoken to with https://: the handshake fails.
hub
fresh_cache
HF_ENDPOINT=https://127.0.0.1:$PORT run plainhub loadgpt2 tiny/gpt2
check_eq "https to an http hub: exits 5" "$RC" 5
check_grep "https to an http hub: handshake failed" "the TLS handshake with 127.0.0.1:$PORT failed" "$TMP/plainhub.err"
check_grep "https to an http hub: asks the right question" "is it an https server?" "$TMP/plainhub.err"
stop_server

# ============================================================================ TLS: the LLM
$PY - "$TMP/tasks.script.json" <<'EOF'
import json, sys
ex = [{"prompt": "After step %d comes step" % i, "answer": str(i + 1)} for i in range(20)]
task = {"name": "successor", "description": "the next whole number", "examples": ex,
        "eval_questions": ["Is the number one more?"]}
json.dump([{"reply": {"content": json.dumps({"tasks": [task]})}}], open(sys.argv[1], "w"))
EOF
# llm NAME [mockllm flags]: a mock serving the tasks script; sets PORT and LOG.
llm() { LOG="$TMP/$1.llm.log"; : > "$LOG"; _m=$1; shift; serve "$_m" $PY "$MOCK" "$TMP/tasks.script.json" --log "$LOG" "$@"; }

llm tlsllm --tls "$CERTS/ip.pem" "$CERTS/ip.key"
OPENAI_BASE_URL=https://127.0.0.1:$PORT/v1 run selfllm gentasks --llm facts
check_eq "self-signed llm: gentasks --llm exits 2" "$RC" 2
check_grep "self-signed llm: certificate not verified" "the TLS certificate of 127.0.0.1:$PORT could not be verified" "$TMP/selfllm.err"
check_grep "self-signed llm: names the URL" "POST https://127.0.0.1:$PORT/v1/chat/completions" "$TMP/selfllm.err"
check_eq "self-signed llm: no request got through, none retried" "$(wc -l < "$LOG" | tr -d ' ')" 0
OPENAI_BASE_URL=https://127.0.0.1:$PORT/v1 run selfagent agentstep --journal "$TMP/tls.journal" --model "$SRC" --planner llm
check_eq "self-signed llm: agentstep exits 2" "$RC" 2
check_grep "self-signed llm: agentstep message" "the TLS certificate of 127.0.0.1:$PORT could not be verified" "$TMP/selfagent.err"
CURL_CA_BUNDLE="$CERTS/ip.pem" OPENAI_BASE_URL=https://127.0.0.1:$PORT/v1 run trustllm gentasks --llm facts
check_eq "trusted llm (control): gentasks --llm succeeds" "$RC" 0
check_eq "trusted llm: the tasks arrived" "$(val "$TMP/trustllm.out" '(len(L), L[0]["task"], L[0]["answer"])')" "(20, 'successor', '1')"
stop_server

llm plainllm
OPENAI_BASE_URL=https://127.0.0.1:$PORT/v1 run plainllm gentasks --llm facts
check_eq "https to an http llm: exits 2" "$RC" 2
check_grep "https to an http llm: handshake failed" "the TLS handshake with 127.0.0.1:$PORT failed" "$TMP/plainllm.err"
stop_server

# =================================================== a download cut at 10 %, 20 %, ... 90 %
CUTS="10%,20%,30%,40%,50%,60%,70%,80%,90%"
hub --cut-at "$CUTS"
export HF_ENDPOINT=http://127.0.0.1:$PORT
fresh_cache
PART="$HF_HUB_CACHE/models--tiny--gpt2/blobs/$SHA.incomplete"
# One run tries 5 times (each try resumes), so the first run ends after the 5th cut...
run cut1 loadgpt2 --no-progress tiny/gpt2
check_eq "cut run 1: gives up after 5 tries (exit 5)" "$RC" 5
check_grep "cut run 1: says the connection was cut" "connection cut" "$TMP/cut1.err"
check_grep "cut run 1: says how to go on" "run again to resume" "$TMP/cut1.err"
check_eq "cut run 1: the partial file ends at the 5th cut (50 %)" "$(wc -c < "$PART" | tr -d ' ')" "$((SIZE * 50 / 100))"
check_eq "cut run 1: the partial file is the original's first half" \
  "$(head -c $((SIZE * 50 / 100)) "$SRC/model.safetensors" | sha256sum | cut -d' ' -f1)" "$(sha256 "$PART")"
# ... and the next run goes on from there.
run cut2 loadgpt2 --no-progress tiny/gpt2
check_eq "cut run 2: completes" "$RC" 0
want="None"
for p in 10 20 30 40 50 60 70 80 90; do want="$want bytes=$((SIZE * p / 100))-"; done
check_eq "cut: each try resumed exactly where the last one was cut" "$(cdn_ranges "$LOG")" "$want"
DIR=$(val "$TMP/cut2.out" 'L[0]["dir"]' 2>/dev/null)
[ -n "$DIR" ] || DIR="$TMP/no-download"
check_eq "cut: sha256 of the downloaded file is the original's" "$(sha256 "$DIR/model.safetensors")" "$SHA"
check_eq "cut: no partial file left" "$(blobs | grep -c incomplete)" 0
check_eq "cut: the model loads" "$(val "$TMP/cut2.out" '(L[0]["n_layer"], L[0]["n_embd"], L[0]["params"])' 2>/dev/null)" \
  "$(loadgpt2 "$SRC" | $PY -c 'import json,sys; d=json.load(sys.stdin); print((d["n_layer"], d["n_embd"], d["params"]))')"
printf '%s\n' "$PROMPT" | timeout "$LIMIT" topk --model "$DIR" -k 5 > "$TMP/topk.got"
check_eq "cut: the downloaded model computes what the original does" "$(cat "$TMP/topk.got")" "$(cat "$TMP/topk.want")"
stop_server
