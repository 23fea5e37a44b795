#!/bin/sh
# hub_download.sh: hub_resolve (driven by test_hub --resolve) against the local hub of
# tests/ref/hubserver.py: fresh download and cache layout, renamed repo and CDN
# redirects, resume after a cut, cache hits without network, offline mode, checksum
# mismatch, 404/401 messages, the token (sent, never printed, never to another origin),
# stalls and retries.
. "$(dirname "$0")/../lib.sh"
UNIT=${UNIT:-$ROOT/build/release/tests}
HUB="$UNIT/test_hub"
TOKEN=${HF_TOKEN:-hf_sekretTOKEN12345}   # tests/run.sh's sentinel, which it scans for

hub_isolate

# --- a synthetic checkpoint served as openai-community/gpt2 and org/gated -----------
SERVE="$TMP/serve"
SRC="$SERVE/openai-community/gpt2"
COMMIT=607a30d783dfa663caf39e06633721c8d4cfcd7e
mkdir -p "$SRC" "$SERVE/org/gated"
$PY - "$SRC" <<'EOF'
import json, struct, sys, random
d = sys.argv[1]
json.dump({"model_type": "gpt2", "n_layer": 2, "n_head": 2, "n_embd": 64, "n_ctx": 128,
           "n_positions": 128, "vocab_size": 50257}, open(d + "/config.json", "w"))
rnd = random.Random(1)
n = 3_000_000 // 4
hdr = json.dumps({"wte.weight": {"dtype": "F32", "shape": [n // 64, 64],
                                 "data_offsets": [0, n * 4]}}).encode()
hdr += b" " * (-len(hdr) % 8)
with open(d + "/model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hdr)) + hdr + bytes(rnd.getrandbits(8) for _ in range(n * 4)))
EOF
cp "$VOCAB/vocab.json" "$VOCAB/merges.txt" "$SRC/"
printf '%s\n' "$COMMIT" > "$SRC/.commit"
cp "$SRC"/* "$SERVE/org/gated/"
FILES="config.json model.safetensors vocab.json merges.txt"
SHA=$($PY -c "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())" "$SRC/model.safetensors")
SIZE=$(wc -c < "$SRC/model.safetensors")
gitsha() { $PY -c "import hashlib,sys; d=open(sys.argv[1],'rb').read(); print(hashlib.sha1(b'blob %d\0' % len(d) + d).hexdigest())" "$1"; }

# --- helpers ---------------------------------------------------------------------------
# start_server [hubserver flags]: sets PORT, LOG, SPID and HF_ENDPOINT.
start_server() {
  serve_hub "$SERVE" "$@"
  export HF_ENDPOINT="http://127.0.0.1:$PORT"
}
requests() { wc -l < "$LOG" | tr -d ' '; }
# resolve NAME [flags]: runs test_hub, stdout to $TMP/out, stderr to $TMP/err; sets RC.
resolve() { "$HUB" --resolve "$@" > "$TMP/out" 2> "$TMP/err"; RC=$?; }
# files_identical DIR: every served file has the same bytes in DIR.
files_identical() {
  for f in $FILES; do cmp -s "$SRC/$f" "$1/$f" || { echo "$f differs"; return 1; }; done
}
check_rc() { check_eq "$1" "$RC" "$2"; [ "$RC" = "$2" ] || sed 's/^/    /' "$TMP/err" | head -n 5; }

# --- 1. fresh download through both redirects ---------------------------------------
start_server
fresh_cache
resolve gpt2
check_rc "fresh download exits 0" 0
DIR=$(cat "$TMP/out")
REPO="$HF_HUB_CACHE/models--gpt2"
check_eq "snapshot dir" "$DIR" "$REPO/snapshots/$COMMIT"
check "files identical" files_identical "$DIR"
check_eq "refs/main holds the commit" "$(cat "$REPO/refs/main")" "$COMMIT"
check_eq "refs/main has no newline" "$(wc -c < "$REPO/refs/main" | tr -d ' ')" 40
check_eq "safetensors link" "$(readlink "$DIR/model.safetensors")" "../../blobs/$SHA"
check_eq "config link is the git sha1" "$(readlink "$DIR/config.json")" "../../blobs/$(gitsha "$SRC/config.json")"
check_eq "vocab link is the git sha1" "$(readlink "$DIR/vocab.json")" "../../blobs/$(gitsha "$SRC/vocab.json")"
check_eq "blob count" "$(ls "$REPO/blobs" | wc -l | tr -d ' ')" 4
check_eq "no .incomplete left" "$(ls "$REPO/blobs" | grep -c incomplete)" 0
check_grep "rename 307 followed" '"path": "/openai-community/gpt2/resolve/main/config.json"' "$LOG"
check_grep "asked under the short name" '"path": "/gpt2/resolve/main/config.json"' "$LOG"
check_grep "later files pinned to the commit" "\"path\": \"/gpt2/resolve/$COMMIT/vocab.json\"" "$LOG"
check_grep "LFS 302 to the CDN followed" "\"method\": \"GET\", \"path\": \"/cdn/$SHA\"" "$LOG"
check_eq "stdout is only the directory" "$(wc -l < "$TMP/out" | tr -d ' ')" 1
check_eq "stderr quiet without a terminal" "$(wc -c < "$TMP/err" | tr -d ' ')" 0
check_eq "lock file where huggingface_hub puts it" \
  "$(ls "$HF_HUB_CACHE/.locks/models--gpt2/" | grep -c "^$SHA.lock$")" 1
CACHE1=$HF_HUB_CACHE

# --- 2. cache hits: no request at all, then no server at all --------------------------
before=$(requests)
resolve gpt2
check_rc "cache hit exits 0" 0
check_eq "cache hit dir" "$(cat "$TMP/out")" "$DIR"
check_eq "cache hit made no request" "$(requests)" "$before"
resolve gpt2 --revision "$COMMIT"
check_eq "cache hit by commit" "$(cat "$TMP/out")" "$DIR"
stop_server
resolve gpt2
check_rc "cache hit with the server stopped" 0
check_eq "cache hit (stopped) dir" "$(cat "$TMP/out")" "$DIR"
HF_HUB_OFFLINE=1 resolve gpt2
check_rc "offline with cache" 0
check_eq "offline with cache dir" "$(cat "$TMP/out")" "$DIR"

# --- 3. offline without cache; connection refused -------------------------------------
start_server
fresh_cache
HF_HUB_OFFLINE=1 resolve gpt2
check_rc "offline without cache fails" 1
check_grep "offline message" "not in the cache" "$TMP/err"
check_grep "offline message names the switch" "HF_HUB_OFFLINE" "$TMP/err"
check_eq "offline made no request" "$(requests)" 0
stop_server
resolve gpt2
check_rc "connection refused fails" 1
check_grep "connection refused message" "cannot reach the hub for gpt2/config.json" "$TMP/err"
check_grep "connection refused names the endpoint" "127.0.0.1:$PORT" "$TMP/err"

# --- 4. canonical name; the alias finds its folder --------------------------------------
start_server
fresh_cache
resolve openai-community/gpt2
check_rc "canonical name download" 0
check_eq "canonical folder" "$(cat "$TMP/out")" "$HF_HUB_CACHE/models--openai-community--gpt2/snapshots/$COMMIT"
check_eq "no rename redirect needed" "$(grep -c '"/gpt2/' "$LOG")" 0
HF_HUB_OFFLINE=1 resolve gpt2
check_eq "short name finds the canonical folder" "$(cat "$TMP/out")" "$HF_HUB_CACHE/models--openai-community--gpt2/snapshots/$COMMIT"

# --- 5. partial cache: only the missing blob is downloaded ------------------------------
export HF_HUB_CACHE=$CACHE1
[ -n "$DIR" ] && rm -f "$DIR/vocab.json" "$REPO/blobs/$(gitsha "$SRC/vocab.json")"
: > "$LOG"
resolve gpt2
check_rc "partial cache completed" 0
check "partial cache files identical" files_identical "$DIR"
check_eq "partial cache: one GET" "$(grep -c '"method": "GET"' "$LOG")" 1
check_grep "partial cache: the GET is vocab.json" "\"method\": \"GET\", \"path\": \"/openai-community/gpt2/resolve/$COMMIT/vocab.json\"" "$LOG"
stop_server

# --- 5b. two processes fetching one model at once (the blob lock) --------------------------
start_server
fresh_cache
"$HUB" --resolve gpt2 > "$TMP/p1" 2>&1 &
p1=$!
"$HUB" --resolve gpt2 > "$TMP/p2" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
check_eq "concurrent resolves succeed" "$r1 $r2" "0 0"
check "concurrent: files identical" files_identical "$HF_HUB_CACHE/models--gpt2/snapshots/$COMMIT"
check_eq "concurrent: no stray temp files" "$(find "$HF_HUB_CACHE" -name '*.tmp.*' -o -name '*.incomplete' | wc -l | tr -d ' ')" 0
stop_server

# --- 6. resume after a cut, within one run ----------------------------------------------
start_server --cut-after 100000
fresh_cache
resolve gpt2
check_rc "cut connection recovered" 0
check "cut: files identical" files_identical "$(cat "$TMP/out")"
check_grep "cut: resumed with a Range request" '"range": "bytes=100000-"' "$LOG"
stop_server

# --- 7. resume of a previous run's .incomplete ------------------------------------------
start_server
fresh_cache
mkdir -p "$HF_HUB_CACHE/models--gpt2/blobs"
head -c 1234567 "$SRC/model.safetensors" > "$HF_HUB_CACHE/models--gpt2/blobs/$SHA.incomplete"
resolve gpt2
check_rc "incomplete resumed" 0
check "incomplete: files identical" files_identical "$(cat "$TMP/out")"
check_grep "incomplete: continued at its size" '"range": "bytes=1234567-"' "$LOG"
check_eq "incomplete: gone" "$(ls "$HF_HUB_CACHE/models--gpt2/blobs" | grep -c incomplete)" 0
# A corrupted prefix is caught by the sha256 of the whole blob.
fresh_cache
mkdir -p "$HF_HUB_CACHE/models--gpt2/blobs"
head -c 1000 /dev/zero > "$HF_HUB_CACHE/models--gpt2/blobs/$SHA.incomplete"
resolve gpt2
check_rc "bad prefix rejected" 1
check_grep "bad prefix: checksum mismatch" "checksum mismatch" "$TMP/err"
check_eq "bad prefix: removed" "$(ls "$HF_HUB_CACHE/models--gpt2/blobs" | grep -c "$SHA")" 0
resolve gpt2
check_rc "bad prefix: next run succeeds" 0
# A complete .incomplete is checked and kept without a transfer; a complete but wrong one
# is replaced in the same run.
fresh_cache
mkdir -p "$HF_HUB_CACHE/models--gpt2/blobs"
cp "$SRC/model.safetensors" "$HF_HUB_CACHE/models--gpt2/blobs/$SHA.incomplete"
: > "$LOG"
resolve gpt2
check_rc "complete incomplete kept" 0
check_eq "complete incomplete: no CDN request" "$(grep -c '/cdn/' "$LOG")" 0
fresh_cache
mkdir -p "$HF_HUB_CACHE/models--gpt2/blobs"
head -c "$SIZE" /dev/zero > "$HF_HUB_CACHE/models--gpt2/blobs/$SHA.incomplete"
resolve gpt2
check_rc "complete but wrong incomplete replaced" 0
check "replaced: files identical" files_identical "$(cat "$TMP/out")"
stop_server

# --- 8. a server that ignores Range: restart from zero ----------------------------------
start_server --no-range
fresh_cache
mkdir -p "$HF_HUB_CACHE/models--gpt2/blobs"
head -c 5000 "$SRC/model.safetensors" > "$HF_HUB_CACHE/models--gpt2/blobs/$SHA.incomplete"
resolve gpt2
check_rc "range ignored recovered" 0
check "range ignored: files identical" files_identical "$(cat "$TMP/out")"
check_grep "range ignored: a range was asked" '"range": "bytes=5000-"' "$LOG"
stop_server

# --- 9. checksum mismatch -----------------------------------------------------------------
start_server --corrupt
fresh_cache
resolve gpt2
check_rc "corrupt download rejected" 1
check_grep "corrupt: message" "checksum mismatch" "$TMP/err"
check_grep "corrupt: names the file" "gpt2/model.safetensors" "$TMP/err"
check_grep "corrupt: names the expected sha256" "$SHA" "$TMP/err"
check_eq "corrupt: no blob or partial kept" "$(ls "$HF_HUB_CACHE/models--gpt2/blobs" | grep -c "$SHA")" 0
check_eq "corrupt: no snapshot link" "$(ls "$HF_HUB_CACHE/models--gpt2/snapshots/$COMMIT" 2>/dev/null | grep -c safetensors)" 0
check_eq "corrupt: no refs written" "$(ls "$HF_HUB_CACHE/models--gpt2/refs" 2>/dev/null | wc -l | tr -d ' ')" 0
stop_server

# --- 10. not found --------------------------------------------------------------------------
start_server
fresh_cache
resolve org/nothing
check_rc "missing repo fails" 1
check_grep "missing repo message" "repository org/nothing not found" "$TMP/err"
check_grep "missing repo error code" "RepoNotFound" "$TMP/err"
resolve gpt2 --files config.json,nope.bin
check_rc "missing file fails" 1
check_grep "missing file message" "gpt2 has no file nope.bin at revision" "$TMP/err"
resolve gpt2 --revision v9
check_rc "missing revision fails" 1
check_grep "missing revision message" "gpt2 has no revision 'v9'" "$TMP/err"
stop_server

# --- 11. gated repo and the token ------------------------------------------------------------
start_server --gated org/gated --token "$TOKEN" --cdn-host localhost
fresh_cache
resolve org/gated
check_rc "gated without token fails" 1
check_grep "gated message: denied" "access to org/gated/config.json denied (HTTP 401 GatedRepo" "$TMP/err"
check_grep "gated message: what to do" "set HF_TOKEN" "$TMP/err"
check_grep "gated message: no token" "no token is set" "$TMP/err"
HF_TOKEN=hf_wrong resolve org/gated
check_rc "gated with a wrong token fails" 1
check_grep "wrong token message" "the token that was sent was refused" "$TMP/err"
check_eq "wrong token not printed" "$(grep -c hf_wrong "$TMP/err" "$TMP/out" | awk -F: '{s+=$2} END {print s}')" 0
: > "$LOG"
HF_TOKEN=$TOKEN resolve org/gated --progress
check_rc "gated with the token" 0
check "gated: files identical" files_identical "$(cat "$TMP/out")"
check_eq "token never printed" "$(cat "$TMP/out" "$TMP/err" | grep -c "$TOKEN")" 0
check_eq "token sent to the hub" "$(grep '/resolve/' "$LOG" | grep -vc '"auth": "valid"')" 0
check_grep "CDN on another origin" "\"path\": \"/cdn/$SHA\"" "$LOG"
check_eq "token not sent to the CDN" "$(grep '/cdn/' "$LOG" | grep -vc '"auth": "none"')" 0
check_grep "progress bar drawn when asked" "100%" "$TMP/err"
fresh_cache
mkdir -p "$HF_HOME"
printf '%s\n' "$TOKEN" > "$HF_HOME/token"
resolve org/gated
check_rc "token from HF_HOME/token" 0
rm -f "$HF_HOME/token"
stop_server

# --- 12. retries: 503 once, a stall once, a permanent stall -----------------------------------
start_server --fail-once 503
fresh_cache
resolve gpt2
check_rc "503 once retried" 0
check_eq "503 once: two CDN GETs" "$(grep -c "\"GET\", \"path\": \"/cdn/" "$LOG")" 2
stop_server
start_server --stall-after 200000 --stall-seconds 20
fresh_cache
HF_HUB_DOWNLOAD_TIMEOUT=1 resolve gpt2
check_rc "stall once recovered" 0
check "stall once: files identical" files_identical "$(cat "$TMP/out")"
check_grep "stall once: resumed" '"range": "bytes=200000-"' "$LOG"
stop_server
start_server --stall-after 200000 --stall-always --stall-seconds 60
fresh_cache
t0=$(date +%s)
HF_HUB_DOWNLOAD_TIMEOUT=1 resolve gpt2
t1=$(date +%s)
check_rc "permanent stall fails" 1
check_grep "permanent stall message" "stalled" "$TMP/err"
check "permanent stall gives up in time" [ $((t1 - t0)) -lt 20 ]
check_eq "permanent stall keeps the partial for later" "$(ls "$HF_HUB_CACHE/models--gpt2/blobs" | grep -c "$SHA.incomplete")" 1
stop_server

# --- 13. end to end: loadgpt2 NAME through the hub ------------------------------------------
mkdir -p "$SERVE/tiny"
tiny_model "$SERVE/tiny/gpt2" --layers 2 --heads 2 --embd 32 --ctx 64
start_server
fresh_cache
loadgpt2 tiny/gpt2 > "$TMP/out" 2> "$TMP/err"
RC=$?
check_rc "loadgpt2 downloads" 0
check_grep "loadgpt2 dir in the cache" "\"dir\":\"$HF_HUB_CACHE/models--tiny--gpt2/snapshots/" "$TMP/out"
check_grep "loadgpt2 reads the downloaded config" '"n_layer":2' "$TMP/out"
stop_server
HF_HUB_OFFLINE=1 loadgpt2 tiny/gpt2 > "$TMP/out2" 2> "$TMP/err"
check_eq "loadgpt2 offline from the cache" "$(cat "$TMP/out2")" "$(cat "$TMP/out")"
fresh_cache
loadgpt2 --offline tiny/gpt2 > "$TMP/out" 2> "$TMP/err"
RC=$?
check_eq "loadgpt2 offline without cache fails" "$([ "$RC" -ne 0 ] && echo failed)" failed
check_grep "loadgpt2 offline message" "not in the cache" "$TMP/err"
