#!/bin/sh
# tests/valgrind.sh (make check-valgrind): the whole suite — unit tests and tool tests —
# with every bin/ tool and every unit-test program run under valgrind memcheck:
#   valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
# Zero errors and zero definite/indirect leaks are required: a process that reports any
# leaves its valgrind log where tests/run.sh collects sanitizer reports, and each one is
# a FAIL naming the test.
#
# How: the tools and tests are built with -O2 -g (the flags of bin/, so that results
# compare equal to bin/'s) into build/valgrind/, and
# build/valgrind/wrap/{bin,tests}/ hold one small wrapper script per program, which run.sh
# uses as $BIN and $UNIT.  Programs listed in VALGRIND_NATIVE run without valgrind (too
# slow under it; they are covered by `make check-asan`):
#   test_gpt2_small   writes and loads a 124M-parameter GPT-2-small-shaped checkpoint
#   test_matmul       times matrix kernels at GPT-2 sizes
# Valgrind does not emulate AVX-512: AUTOINTERP_KERNEL is set to the best matrix kernel it
# can run, for every program.  The fuzz smoke test replays its regressions only (FUZZ_SMOKE_SECONDS=0): its harnesses
# are built with ASan and are not bin/ tools.  The bad-input table uses 8 MiB lines
# instead of 80 MiB and 30x its time limits (BAD_INPUTS_HUGE_MB, BAD_INPUTS_SLOW).  Like
# the sanitizer pass of make test, it runs with AUTOINTERP_TEST_SANITIZED=1: the heaviest
# grids take their smaller form, which still goes through every code path (tests/lib.sh,
# docs/testing.md).  TEST_JOBS as for tests/run.sh.
# Env: ONLY=substring as for make test; VALGRIND_NATIVE to change the list above.
cd "$(dirname "$0")/.." || exit 2
command -v valgrind >/dev/null 2>&1 || { echo "FAIL valgrind: not installed (apt-get install valgrind)"; echo "0 passed, 1 failed"; exit 1; }
: "${VALGRIND_NATIVE:=test_gpt2_small test_matmul}"
VG=build/valgrind
opt="-O2 -g"
# make does not track flags: start over when they changed.
[ "$(cat $VG/.opt 2>/dev/null)" = "$opt" ] || { rm -rf $VG; mkdir -p $VG; echo "$opt" >$VG/.opt; }
make -s BUILD=$VG BIN=$VG/bin OPT="$opt" all || exit 2
root=$(pwd)
rm -rf $VG/wrap
mkdir -p $VG/wrap/bin $VG/wrap/tests

# wrap REAL WRAPPER: a script that runs REAL under valgrind.  Its log goes to a temporary
# file, kept only when valgrind wrote something (-q: errors only), in the directory where
# tests/run.sh collects sanitizer reports (found through ASAN_OPTIONS=log_path=DIR/asan).
wrap() {
  real=$1 out=$2
  case " $VALGRIND_NATIVE " in
    *" $(basename "$real") "*) printf '#!/bin/sh\nexec "%s" "$@"\n' "$real" >"$out"; chmod +x "$out"; return ;;
  esac
  cat >"$out" <<EOF
#!/bin/sh
# valgrind wrapper for $real (tests/valgrind.sh)
dir=\${ASAN_OPTIONS#*log_path=}; dir=\${dir%%:*}; dir=\${dir%/*}
[ -d "\$dir" ] || dir=\${TMPDIR:-/tmp}
log=\$(mktemp "\$dir/.vg.XXXXXX")
valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \\
  --show-leak-kinds=definite,indirect --num-callers=30 --suppressions="$root/tests/valgrind.supp" \\
  --log-file="\$log" "$real" "\$@"
rc=\$?
if [ -s "\$log" ]; then
  { echo "valgrind: $(basename "$real") \$*"; cat "\$log"; } >"\$dir/valgrind.\$\$"
fi
rm -f "\$log"
exit \$rc
EOF
  chmod +x "$out"
}
for t in $VG/bin/*; do wrap "$root/$t" "$VG/wrap/bin/$(basename "$t")"; done
for t in $VG/tests/test_*; do
  case "$t" in *.o|*.d) continue ;; esac
  wrap "$root/$t" "$VG/wrap/tests/$(basename "$t")"
done

# Valgrind's CPU lacks AVX-512: every program, those run natively included (tests compare
# their outputs), uses the best matrix kernel valgrind can run (common/model/matmul.h), so that
# results are bit-identical.
AUTOINTERP_KERNEL=$(valgrind -q $VG/tests/test_transformer --kernel-paths 2>/dev/null | head -n 1)
export AUTOINTERP_KERNEL
BAD_INPUTS_HUGE_MB=${BAD_INPUTS_HUGE_MB:-8} BAD_INPUTS_SLOW=${BAD_INPUTS_SLOW:-30} \
FUZZ_SMOKE_SECONDS=0 AUTOINTERP_TEST_SANITIZED=1 BIN="$root/$VG/wrap/bin" UNIT="$root/$VG/wrap/tests" exec sh tests/run.sh
