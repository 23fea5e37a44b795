#!/bin/sh
# fuzz_smoke: builds the libFuzzer harnesses (tests/fuzz/fuzz_*.c, see tests/fuzz/fuzz.mk),
# replays every fixed crash (tests/fuzz/regressions/NAME/) and the seeds, then fuzzes each
# harness for FUZZ_SMOKE_SECONDS (default 3; 0 = replay only): a smoke, not a search.  The
# long fuzzing is `make fuzz` (FUZZ_SECONDS each, 60 by default; docs/robustness.md).
# Needs clang with libFuzzer: without them this FAILs and says what to install (it does
# not skip).
. "$(dirname "$0")/../lib.sh"
cd "$ROOT" || exit 2
secs=${FUZZ_SMOKE_SECONDS:-3}

if ! command -v clang >/dev/null 2>&1; then
  failed "fuzz: clang" "clang not found; install it: apt-get install clang libclang-rt-14-dev (or sh scripts/install-deps.sh)"
  exit 0
fi
if ! printf 'int LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; (void)n; return 0; }\n' |
     clang -x c -fsanitize=fuzzer - -o "$TMP/probe" >"$TMP/probe.log" 2>&1; then
  failed "fuzz: libFuzzer" "clang cannot link -fsanitize=fuzzer ($(tail -n 1 "$TMP/probe.log")); install libclang-rt-14-dev (the package of clang's libclang_rt.fuzzer)"
  exit 0
fi
if ! make -s -f tests/fuzz/fuzz.mk -j2 fuzz-build >"$TMP/build.log" 2>&1; then
  failed "fuzz: build" "$(tail -n 8 "$TMP/build.log" | tr '\n' ' ')"
  exit 0
fi
pass "fuzz: harnesses build"

# The harnesses' own sanitizer output goes to their logs (shown on failure), not to
# tests/run.sh's report files; leaks count as crashes (libFuzzer's -detect_leaks).
ASAN_OPTIONS=detect_leaks=1
UBSAN_OPTIONS=print_stacktrace=1
export ASAN_OPTIONS UBSAN_OPTIONS
export AUTOINTERP_VOCAB="$VOCAB"
mkdir -p build/fuzz/crash
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c); name=${name#fuzz_}
  bin=build/fuzz/fuzz_$name
  # Fixed crashes and the seeds: each input once.
  set -- tests/fuzz/regressions/$name/* tests/fuzz/corpus/$name/*
  inputs=""
  for f in "$@"; do [ -f "$f" ] && inputs="$inputs $f"; done
  if [ -n "$inputs" ]; then
    # shellcheck disable=SC2086
    if "$bin" -runs=1 $inputs >"$TMP/replay-$name.log" 2>&1; then
      pass "fuzz $name: $(echo $inputs | wc -w) regression and seed inputs replay cleanly"
    else
      failed "fuzz $name: replay" "$(grep -E 'property failed|ERROR|SUMMARY|Running:' "$TMP/replay-$name.log" | tail -n 4 | tr '\n' ' ')"
    fi
  fi
  [ "$secs" -gt 0 ] || continue
  mkdir -p "$TMP/corpus-$name" "build/fuzz/crash/$name"
  if timeout $((secs + 60)) "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="build/fuzz/crash/$name/" "$TMP/corpus-$name" "tests/fuzz/corpus/$name" \
       >"$TMP/fuzz-$name.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$TMP/fuzz-$name.log")
    pass "fuzz $name: ${secs}s, ${runs:-?} inputs, no crash"
  else
    failed "fuzz $name" "crash saved in build/fuzz/crash/$name/: $(grep -E 'property failed|ERROR|SUMMARY' "$TMP/fuzz-$name.log" | head -n 3 | tr '\n' ' ')"
  fi
done
