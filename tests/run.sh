#!/bin/sh
# tests/run.sh: runs every unit test program and every tool test script, counts the
# PASS/FAIL lines they print and ends with "N passed, N failed".
# Env: BIN (built tools), UNIT (built unit tests); optional ONLY=substring filter.
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
log=$(mktemp)
# Sanitizer reports (make check-asan) from any process, tools run by scripts included,
# land in files here; each one is a failure.
sanlogs=$(mktemp -d)
scratch_root=$(mktemp -d "${TMPDIR:-/tmp}/autointerp-run.XXXXXX")
trap 'rm -rf "$log" "$sanlogs" "$scratch_root"' EXIT
secret_scan_init
export AUTOINTERP_TEST_KEEP_TMP=1
export ASAN_OPTIONS="log_path=$sanlogs/asan:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="log_path=$sanlogs/ubsan:print_stacktrace=1:${UBSAN_OPTIONS:-}"
for t in "$UNIT"/test_* tests/tool/*.sh; do
  [ -e "$t" ] || continue
  case "$t" in *.o|*.d) continue ;; esac
  [ -n "$ONLY" ] && case "$t" in *"$ONLY"*) ;; *) continue ;; esac
  name=$(basename "$t")
  start=$(date +%s)
  # Only [A-Za-z0-9.-] in the path: tests compare paths with what tools print (Markdown
  # escapes "_").
  scratch=$scratch_root/$(printf '%s' "$name" | tr -c 'A-Za-z0-9.-' '-')
  mkdir -p "$scratch"
  if [ "${t%.sh}" != "$t" ]; then out=$(TMPDIR=$scratch sh "$t" 2>&1); rc=$?
  else out=$(TMPDIR=$scratch "$t" 2>&1); rc=$?; fi
  printf '%s\n' "$out" | grep -E '^(PASS|FAIL) ' | sed "s|^|$name: |" >>"$log"
  printf '%s\n' "$out" | grep -E '^FAIL ' | sed "s|^|  $name: |"
  npass=$(printf '%s\n' "$out" | grep -c '^PASS ')
  nfail=$(printf '%s\n' "$out" | grep -c '^FAIL ')
  if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then
    echo "FAIL $name: exited $rc without reporting a failure" >>"$log"
    echo "  $name: exited $rc without a FAIL line:"; printf '%s\n' "$out" | tail -n 15 | sed 's/^/    /'
  fi
  leaks=$scratch_root/leaks
  { secret_scan_text "$name" "$out"; secret_scan_dir "$name" "$scratch"; secret_scan_dir "$name" "$sanlogs"; } >"$leaks"
  cat "$leaks" >>"$log"
  sed 's/^FAIL /  /' "$leaks"
  rm -rf "$scratch" "$leaks"
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
secret_scan_summary
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
