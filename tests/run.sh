#!/bin/sh
# tests/run.sh: runs every unit test program and every tool test script, counts the
# PASS/FAIL lines they print and ends with "N passed, N failed".
# Env: BIN (built tools), UNIT (built unit tests); optional ONLY=substring filter.
cd "$(dirname "$0")/.." || exit 2
: "${BIN:=$(pwd)/bin}" "${UNIT:=$(pwd)/build/release/tests}"
export BIN UNIT
log=$(mktemp)
trap 'rm -f "$log"' EXIT
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
  echo "$name: $npass passed, $nfail failed ($(( $(date +%s) - start ))s)"
done
passed=$(grep -c ': PASS ' "$log")
failed=$(grep -c ': FAIL \|^FAIL ' "$log")
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
