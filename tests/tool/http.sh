#!/bin/sh
# http.sh: common/io/http against tests/ref/hubserver.py: downloads (fresh, resumed with
# Range, a server that ignores Range, 416, cut, stall, error status), a JSON POST, and a
# download cached in 2 MiB folios (mapped as huge pages, where the kernel can; test_hugepages).
. "$(dirname "$0")/../lib.sh"
UNIT=${UNIT:-$ROOT/build/release/tests}
T="$UNIT/test_http"
SERVER="$ROOT/tests/ref/hubserver.py"

PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; tmp_cleanup' EXIT

mkdir -p "$TMP/serve/org/m"
BLOB="$TMP/serve/org/m/model.safetensors"
$PY -c "import random,sys; r=random.Random(7); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(1500000)))" > "$BLOB"
SHA=$($PY -c "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())" "$BLOB")

n=0
start_server() {
  n=$((n + 1))
  LOG="$TMP/log.$n"
  : > "$LOG"
  $PY "$SERVER" "$TMP/serve" --log "$LOG" --lifetime 120 "$@" > "$TMP/port.$n" &
  SPID=$!
  PIDS="$PIDS $SPID"
  i=0
  while [ ! -s "$TMP/port.$n" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  URL="http://127.0.0.1:$(head -n 1 "$TMP/port.$n")"
}
stop_server() { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; return 0; }
get() { "$T" --get "$@" > "$TMP/out" 2> "$TMP/err"; RC=$?; }

start_server
get "$URL/cdn/$SHA" "$TMP/a"
check_eq "fresh get" "$RC" 0
check_grep "fresh get status" "status=200 offset=0 received=1500000 range_ignored=0" "$TMP/out"
check "fresh get identical" cmp "$BLOB" "$TMP/a"

head -c 700001 "$BLOB" > "$TMP/b"
get "$URL/cdn/$SHA" "$TMP/b" --resume
check_grep "resume 206 appended" "status=206 offset=700001 received=799999" "$TMP/out"
check "resume identical" cmp "$BLOB" "$TMP/b"
check_grep "resume sent Range" '"range": "bytes=700001-"' "$LOG"

cp "$BLOB" "$TMP/c"
printf 'x' >> "$TMP/c"
get "$URL/cdn/$SHA" "$TMP/c" --resume
check_grep "416 restarts from zero" "status=200 offset=0 received=1500000" "$TMP/out"
check "416 restart identical" cmp "$BLOB" "$TMP/c"

printf 'keep me' > "$TMP/d"
get "$URL/cdn/0000" "$TMP/d"
check_eq "404 is not a transport error" "$RC" 0
check_grep "404 status and body" "status=404 offset=0 received=12 range_ignored=0 body=no such blob" "$TMP/out"
check_eq "404 leaves the file alone" "$(cat "$TMP/d")" "keep me"

"$T" --post "$URL/echo" '{"model":"x","messages":[{"role":"user","content":"h\u00e9"}]}' > "$TMP/post" 2>&1
check_grep "post status" "status=200 x-echo=yes" "$TMP/post"
check_grep "post content type" '"content_type": "application/json"' "$TMP/post"
check_grep "post body echoed" '"body": "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9\"}]}"' "$TMP/post"
check_grep "post extra header sent" '"authorization": true' "$TMP/post"
stop_server

start_server --no-range
head -c 1000 "$BLOB" > "$TMP/e"
get "$URL/cdn/$SHA" "$TMP/e" --resume
check_grep "range ignored restarts" "status=200 offset=0 received=1500000 range_ignored=1" "$TMP/out"
check "range ignored identical" cmp "$BLOB" "$TMP/e"
stop_server

start_server --cut-after 300000
get "$URL/cdn/$SHA" "$TMP/f"
check_eq "cut is an error" "$RC" 1
check_grep "cut message" "connection cut" "$TMP/err"
check_eq "cut keeps what arrived" "$(wc -c < "$TMP/f" | tr -d ' ')" 300000
get "$URL/cdn/$SHA" "$TMP/f" --resume
check_grep "cut then resume" "status=206 offset=300000" "$TMP/out"
check "cut then resume identical" cmp "$BLOB" "$TMP/f"
stop_server

start_server --stall-after 100000 --stall-always --stall-seconds 30
t0=$(date +%s)
get "$URL/cdn/$SHA" "$TMP/g" --stall 1
t1=$(date +%s)
check_eq "stall is an error" "$RC" 1
check_grep "stall message" "transfer stalled (no data for 1 s)" "$TMP/err"
check "stall detected quickly" [ $((t1 - t0)) -le 4 ]
stop_server

# A download is written in 2 MiB pieces, so the page cache holds it in 2 MiB folios and a
# tool's mapping of it gets huge pages (common/base/util.h huge_write_buffer) -- where this
# kernel and file system cache files in 2 MiB folios at all (a control file written in one
# write decides).
HP="$UNIT/test_hugepages"
BIG="$TMP/serve/org/m/big.safetensors"
$PY -c "import random,sys; sys.stdout.buffer.write(random.Random(9).randbytes(7 << 20))" > "$BIG"
BIGSHA=$($PY -c "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())" "$BIG")
start_server
get "$URL/cdn/$BIGSHA" "$TMP/big"
check_grep "7 MiB download" "status=200 offset=0 received=7340032" "$TMP/out"
check "7 MiB download identical" cmp "$BIG" "$TMP/big"
stop_server
control=$("$HP" --control "$TMP")
if [ "${control:-0}" -ge 2048 ]; then
  check_eq "download mapped in huge pages (kB of its first 6 MiB)" "$("$HP" --pmd-kb "$TMP/big")" 6144
else
  echo "NOTE this kernel/file system does not cache files in 2 MiB folios: huge-page check not applicable"
fi
