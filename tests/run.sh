#!/bin/sh
# tests/run.sh: runs every unit test program and every tool test script, counts the
# PASS/FAIL lines they print and ends with "N passed, N failed".
# Env: BIN (built tools), UNIT (built unit tests); optional ONLY=substring filter.
cd "$(dirname "$0")/.." || exit 2
: "${BIN:=$(pwd)/bin}" "${UNIT:=$(pwd)/build/release/tests}"
export BIN UNIT
log=$(mktemp)
# Sanitizer reports (make check-asan) from any process, tools run by scripts included,
# land in files here; each one is a failure.
sanlogs=$(mktemp -d)
trap 'rm -rf "$log" "$sanlogs"' EXIT
export ASAN_OPTIONS="log_path=$sanlogs/asan:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="log_path=$sanlogs/ubsan:print_stacktrace=1:${UBSAN_OPTIONS:-}"
for t in "$UNIT"/test_* tests/tool/*.sh; do
  [ -e "$t" ] || continue
  case "$t" in *.o|*.d) continue ;; esac
  [ -n "$ONLY" ] && case "$t" in *"$ONLY"*) ;; *) continue ;; esac
  name=$(basename "$t")
  start=$(date +%s)
  if [ "${t%.sh}" != "$t" ]; then out=$(sh "$t" 2>&1); rc=$?; else out=$("$t" 2>&1); rc=$?; fi
  printf '%s\n' "$out" | grep -E '^(PASS|FAIL) ' | sed "s|^|$name: |" >>"$log"
  printf '%s\n' "$out" | grep -E '^FAIL ' | sed "s|^|  $name: |"
  npass=$(printf '%s\n' "$out" | grep -c '^PASS ')
  nfail=$(printf '%s\n' "$out" | grep -c '^FAIL ')
  if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then
    echo "FAIL $name: exited $rc without reporting a failure" >>"$log"
    echo "  $name: exited $rc without a FAIL line:"; printf '%s\n' "$out" | tail -n 15 | sed 's/^/    /'
  fi
  for f in "$sanlogs"/*; do
    [ -e "$f" ] || continue
    echo "FAIL $name: sanitizer report $(basename "$f")" >>"$log"
    echo "  $name: sanitizer report:"; head -n 30 "$f" | sed 's/^/    /'
    rm -f "$f"
  done
  echo "$name: $npass passed, $nfail failed ($(( $(date +%s) - start ))s)"
done
passed=$(grep -c ': PASS ' "$log")
failed=$(grep -c ': FAIL \|^FAIL ' "$log")
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
