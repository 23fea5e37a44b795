#!/bin/sh
# tests/run.sh: runs every unit test program and every tool test script, counts the
# PASS/FAIL lines they print and ends with "N passed, N failed".
# Env: BIN (built tools), UNIT (built unit tests); optional ONLY=substring filter;
# TEST_JOBS=N programs at once (default: `nproc`; TEST_JOBS=1 runs them one after another).
#
# Parallel runs: each program runs in the background with its own scratch directory, its
# own sanitizer log directory and its own secret scan; its lines (FAILs, then
# "NAME: N passed, N failed (Ns)") are printed whole when it ends, never mixed with
# another's.  The longest programs start first, so that the run does not end waiting on
# one: the seconds each took in the last full run (TEST_TIMES, default
# $UNIT/../.test-times), else the list SLOW below.  Programs listed in ALONE (none today)
# run with nothing beside them, after the others.
#
# Secrets (tests/secret_scan.sh, docs/robustness.md): every program runs with sentinel
# keys in OPENAI_API_KEY and HF_TOKEN, fresh for each run, and with TMPDIR set to a
# scratch directory of its own; AUTOINTERP_TEST_KEEP_TMP=1 asks tests/lib.sh and the unit
# tests to leave their scratch there.  After each program its output stream, its scratch
# directory and any sanitizer report are searched for the sentinels; each hit is a FAIL
# naming the program, the file (or "output stream") and the line.  Then the scratch goes.
cd "$(dirname "$0")/.." || exit 2
. tests/secret_scan.sh
: "${BIN:=$(pwd)/bin}" "${UNIT:=$(pwd)/build/release/tests}"
export BIN UNIT
: "${TEST_JOBS:=$(nproc 2>/dev/null || echo 1)}"
case "$TEST_JOBS" in
  '' | *[!0-9]* | 0) echo "tests/run.sh: TEST_JOBS=$TEST_JOBS is not a positive integer" >&2; exit 2 ;;
esac
: "${TEST_TIMES:=$(dirname "$UNIT")/.test-times}"
# The slowest programs of a clean clone's release pass (2026-12-05), longest first: the
# order when TEST_TIMES has no figure for them (a clean clone).
SLOW="patch_resume.sh bad_inputs.sh dump_pack.sh fuzz_smoke.sh agent_kill.sh lowp_ref.sh
  packing.sh topk_readout.sh runlayers_streams.sh interp.sh tokenizer_parity.sh agent.sh
  pipelines.sh test_gpt2_small agent_state.sh agent_interp.sh test_matmul"
# Programs that need the machine to themselves (timing): none today (docs/testing.md).
ALONE=""

res=$(mktemp -d)
scratch_root=$(mktemp -d "${TMPDIR:-/tmp}/autointerp-run.XXXXXX")
trap 'rm -rf "$res" "$scratch_root"' EXIT
trap 'for p in $(cat "$res"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null; done; exit 130' INT TERM
secret_scan_init
export AUTOINTERP_TEST_KEEP_TMP=1
asan_opts=${ASAN_OPTIONS:-} ubsan_opts=${UBSAN_OPTIONS:-}
# Background jobs of a non-interactive shell ignore SIGINT and SIGQUIT: the programs get
# them back (GNU env), as when run in the foreground.
sigdfl=""
env --default-signal=INT,QUIT true 2>/dev/null && sigdfl="--default-signal=INT,QUIT"

# weight NAME: the order key (larger starts first).
weight() {
  w=$(awk -F '\t' -v n="$1" '$1 == n { print $2; exit }' "$TEST_TIMES" 2>/dev/null)
  [ -n "$w" ] && { echo "$w"; return; }
  rank=0
  for s in $SLOW; do
    rank=$((rank + 1))
    [ "$s" = "$1" ] && { echo $((1000000 - rank)); return; }
  done
  echo 0
}

# The programs to run, one a line, longest first (sort -s: otherwise in name order).
for t in "$UNIT"/test_* tests/tool/*.sh; do
  [ -e "$t" ] || continue
  case "$t" in *.o|*.d) continue ;; esac
  [ -n "$ONLY" ] && case "$t" in *"$ONLY"*) ;; *) continue ;; esac
  printf '%s\t%s\n' "$(weight "$(basename "$t")")" "$t"
done | sort -s -t "$(printf '\t')" -k1,1nr | cut -f2- >"$res/list"

# run_one I PATH: runs one program; leaves in $res: I.out (the lines to print), I.log
# (its PASS/FAIL lines for the count), I.ss (the secret scan's figures), I.time.
run_one() {
  i=$1 t=$2
  name=$(basename "$t")
  start=$(date +%s)
  # Only [A-Za-z0-9.-] in the path: tests compare paths with what tools print (Markdown
  # escapes "_").
  scratch=$scratch_root/$(printf '%s' "$name" | tr -c 'A-Za-z0-9.-' '-')
  # Sanitizer reports (make check-asan) from any process, tools run by scripts included,
  # land in files here; each one is a failure.
  sanlogs=$res/$i.san
  mkdir -p "$scratch" "$sanlogs"
  set -- env $sigdfl TMPDIR="$scratch" ASAN_OPTIONS="log_path=$sanlogs/asan:$asan_opts" \
    UBSAN_OPTIONS="log_path=$sanlogs/ubsan:print_stacktrace=1:$ubsan_opts"
  if [ "${t%.sh}" != "$t" ]; then out=$("$@" sh "$t" 2>&1 3>&- 4>&-); rc=$?
  else out=$("$@" "$t" 2>&1 3>&- 4>&-); rc=$?; fi
  log=$res/$i.log
  {
    printf '%s\n' "$out" | grep -E '^(PASS|FAIL) ' | sed "s|^|$name: |" >>"$log"
    printf '%s\n' "$out" | grep -E '^FAIL ' | sed "s|^|  $name: |"
    npass=$(printf '%s\n' "$out" | grep -c '^PASS ')
    nfail=$(printf '%s\n' "$out" | grep -c '^FAIL ')
    if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then
      echo "FAIL $name: exited $rc without reporting a failure" >>"$log"
      echo "  $name: exited $rc without a FAIL line:"; printf '%s\n' "$out" | tail -n 15 | sed 's/^/    /'
    fi
    leaks=$res/$i.leaks
    { secret_scan_text "$name" "$out"; secret_scan_dir "$name" "$scratch"; secret_scan_dir "$name" "$sanlogs"; } >"$leaks"
    cat "$leaks" >>"$log"
    sed 's/^FAIL /  /' "$leaks"
    echo "$SECRET_SCAN_HITS $SECRET_SCAN_FILES $SECRET_SCAN_BYTES" >"$res/$i.ss"
    rm -rf "$scratch" "$leaks"
    for f in "$sanlogs"/*; do
      [ -e "$f" ] || continue
      echo "FAIL $name: sanitizer report $(basename "$f")" >>"$log"
      echo "  $name: sanitizer report:"; head -n 30 "$f" | sed 's/^/    /'
      rm -f "$f"
    done
    elapsed=$(($(date +%s) - start))
    printf '%s\t%s\n' "$name" "$elapsed" >"$res/$i.time"
    echo "$name: $npass passed, $nfail failed (${elapsed}s)"
  } >"$res/$i.out"
}

# Each finished job writes its number to this FIFO (held open for reading and writing on
# fd 3, so that a read waits for the next one); the main shell prints its lines.
mkfifo "$res/done"
exec 3<>"$res/done"
running=0 n=0
finish() {
  read -r j <&3
  cat "$res/$j.out"
  rm -f "$res/$j.pid"
  running=$((running - 1))
}
# start I PATH: run_one in the background, its number on fd 3 when it ends.
start() {
  { run_one "$1" "$2"; echo "$1" >&3; } 4<&- </dev/null &
  echo $! >"$res/$1.pid"
  running=$((running + 1))
}
while IFS= read -r t <&4; do
  case " $(echo $ALONE) " in *" $(basename "$t") "*) echo "$t" >>"$res/alone"; continue ;; esac
  [ "$running" -lt "$TEST_JOBS" ] || finish
  n=$((n + 1))
  start "$n" "$t"
done 4<"$res/list"
while [ "$running" -gt 0 ]; do finish; done
if [ -f "$res/alone" ]; then
  while IFS= read -r t <&4; do
    n=$((n + 1))
    start "$n" "$t"
    finish
  done 4<"$res/alone"
fi
wait

# The figures of every program; the times for the next run's order (this run's, and the
# earlier figures of programs it did not run; a build tree that cannot be written keeps
# none).
cat "$res"/*.log 2>/dev/null >"$res/all.log"
if [ "$n" -gt 0 ]; then
  { cat "$res"/*.time; cat "$TEST_TIMES" 2>/dev/null; } | awk -F '\t' 'NF == 2 && !seen[$1]++' |
    sort >"$res/times"
  cp "$res/times" "$TEST_TIMES" 2>/dev/null
fi
SECRET_SCAN_HITS=0 SECRET_SCAN_FILES=0 SECRET_SCAN_BYTES=0
while read -r h f b; do
  [ -n "$b" ] || continue
  SECRET_SCAN_HITS=$((SECRET_SCAN_HITS + h)) SECRET_SCAN_FILES=$((SECRET_SCAN_FILES + f))
  SECRET_SCAN_BYTES=$((SECRET_SCAN_BYTES + b))
done <<EOT
$(cat "$res"/*.ss 2>/dev/null)
EOT
passed=$(grep -c ': PASS ' "$res/all.log")
failed=$(grep -c ': FAIL \|^FAIL ' "$res/all.log")
secret_scan_summary
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
