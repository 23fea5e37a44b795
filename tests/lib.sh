# tests/lib.sh: helpers for tool-level tests.  Source it; each check prints
# "PASS name" or "FAIL name: detail", and tests/run.sh counts those lines.
# $BIN is the directory of built tools (default: the checkout's bin/), $TMP a fresh
# scratch directory.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/bin}
UNIT=${UNIT:-$ROOT/build/release/tests}
PATH="$BIN:$PATH"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/autointerp-test.XXXXXX")
# tmp_cleanup: removes $TMP at exit (scripts with their own EXIT trap call it there).
# Under tests/run.sh (AUTOINTERP_TEST_KEEP_TMP=1) the scratch stays: run.sh searches it
# for the sentinel secrets after the script ends, then removes it.
tmp_cleanup() { [ -n "${AUTOINTERP_TEST_KEEP_TMP:-}" ] || rm -rf "$TMP"; }
trap tmp_cleanup EXIT
PY=/usr/bin/python3          # Debian's python3, which has python3-numpy
VOCAB="$ROOT/build/vocab"

pass() { echo "PASS $1"; }
failed() { echo "FAIL $1: $2"; }

# bearer_digest KEY: the Authorization header as tests/ref/mockllm.py logs it (a digest,
# so that its request log does not hold the key).
bearer_digest() { printf 'Bearer sha256:%s' "$(printf '%s' "$1" | sha256sum | cut -c1-16)"; }

# check NAME CMD...: passes when CMD exits 0.
check() {
  name=$1; shift
  if out=$("$@" 2>&1); then pass "$name"; else failed "$name" "$(printf '%s' "$out" | tail -n 5 | tr '\n' ' ')"; fi
}

# check_eq NAME GOT WANT
check_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else failed "$1" "got [$2] want [$3]"; fi
}

# check_grep NAME PATTERN FILE: passes when FILE contains PATTERN (fixed string).
check_grep() {
  if grep -qF -- "$2" "$3"; then pass "$1"; else failed "$1" "[$2] not in $3: $(head -c 300 "$3")"; fi
}

# A small synthetic GPT-2 checkpoint (real vocabulary), made once per test run.  Weights
# with std 0.3 (not GPT-2's 0.02) so that next-token distributions are peaked and greedy
# generation varies between configurations.
# Usage: tiny_model DIR [extra loadgpt2 flags]
tiny_model() {
  dir=$1; shift
  [ -f "$dir/model.safetensors" ] || loadgpt2 --random --out "$dir" --layers 4 --heads 4 --embd 64 --ctx 128 --seed 1 --init-std 0.3 "$@" >/dev/null
}
