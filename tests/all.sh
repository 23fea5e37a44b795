#!/bin/sh
# tests/all.sh (make test, .ci/run): the whole suite twice — once with the tools and unit
# tests as users build them (-O2, bin/), once built with AddressSanitizer and
# UndefinedBehaviorSanitizer (build/asan/) — and the total.  Ends with "N passed, N failed";
# the exit status is 0 only when both passes have no failure.
#
# The sanitizer pass replays the fuzz regressions without fuzzing again (the fuzz harnesses
# are sanitizer builds already, and the first pass fuzzed them), and runs with
# AUTOINTERP_TEST_SANITIZED=1: the tests with the heaviest grids (bit-equality over every
# kernel path, many kills) take a smaller grid that still goes through every code path
# (tests/lib.sh, `sanitized`); the release pass runs the full grids.  Every process's ASan/UBSan
# report is a failure of the test that caused it (tests/run.sh collects them).
# Env: BIN, UNIT (the first pass's tools and unit tests; default bin/ and
# build/release/tests), ONLY=substring as for tests/run.sh (both passes), SANITIZE=0 skips
# the second pass.
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)
: "${BIN:=$root/bin}" "${UNIT:=$root/build/release/tests}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# pass LABEL BIN UNIT [VAR=value...]: one run of tests/run.sh, its lines shown as they come.
pass() {
  label=$1 bin=$2 unit=$3
  shift 3
  echo "== $label"
  env "$@" BIN="$bin" UNIT="$unit" sh tests/run.sh | tee -a "$log"
}

# The sanitizer build runs while the release pass does (its tests leave a core idle much
# of the time), at a lower priority than the tests (nice +5: with +10, a suite run at
# nice 10 built at 19, starved by other work); its output is shown after the pass.
if [ "${SANITIZE:-1}" != 0 ]; then
  asan_log=$(mktemp)
  trap 'rm -f "$log" "$asan_log"' EXIT
  nice -n 5 make -s --no-print-directory -j"$(nproc 2>/dev/null || echo 1)" asan-build \
    >"$asan_log" 2>&1 </dev/null &
  asan_pid=$!
fi

passes=1
pass "release build ($BIN)" "$BIN" "$UNIT"
if [ "${SANITIZE:-1}" != 0 ]; then
  echo "== building with AddressSanitizer + UndefinedBehaviorSanitizer (build/asan/, begun with the release pass)"
  wait "$asan_pid"
  asan_rc=$?
  cat "$asan_log"
  if [ "$asan_rc" -eq 0 ]; then
    passes=2
    pass "sanitizer build (build/asan/)" "$root/build/asan/bin" "$root/build/asan/tests" FUZZ_SMOKE_SECONDS=0 \
      AUTOINTERP_TEST_SANITIZED=1
  else
    echo "FAIL sanitizer build: make asan-build failed" | tee -a "$log"
  fi
fi

# Each pass ends with its own "N passed, N failed"; the total is their sum.
passed=0 failed=0
while read -r p _ f _; do
  passed=$((passed + p)) failed=$((failed + f))
done <<EOF
$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log")
EOF
failed=$((failed + $(grep -c '^FAIL sanitizer build' "$log")))
# A pass that died before its summary line is a failure too.
summaries=$(grep -cE '^[0-9]+ passed, [0-9]+ failed$' "$log")
[ "$summaries" -ge "$passes" ] || { echo "FAIL a pass ended without its summary line"; failed=$((failed + 1)); }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
