#!/bin/sh
# run_parallel.sh: tests/run.sh running programs side by side (TEST_JOBS) — sub-runs over
# fake test programs.  Two programs that each wait for the other's mark pass only when run
# together; each program's lines come out whole, never mixed with another's; the counts,
# the exit status and a program that exits non-zero without a FAIL line are reported as
# in a serial run (TEST_JOBS=1, which gives the same counts); a sanitizer report and a
# leaked sentinel are blamed on the program that made them alone; the longest program
# (TEST_TIMES) starts first; a bad TEST_JOBS is refused.
. "$(dirname "$0")/../lib.sh"

fake=$TMP/fakeunit
mkdir -p "$fake" "$TMP/runtmp" "$TMP/marks"
# test_pair_a and test_pair_b: each leaves its mark, then waits (up to $WAIT s) for the
# other's: both pass only when they run at the same time.
for p in a b; do
  o=$([ $p = a ] && echo b || echo a)
  cat >"$fake/test_pair_$p" <<EOS
#!/bin/sh
touch "\$MARKS/$p"
i=0
while [ ! -e "\$MARKS/$o" ] && [ \$i -lt \$((WAIT * 10)) ]; do sleep 0.1; i=\$((i + 1)); done
if [ -e "\$MARKS/$o" ]; then echo "PASS $p saw $o"; else echo "FAIL $p saw $o: no mark"; fi
i=0
while [ \$i -lt 40 ]; do echo "PASS $p line \$i"; i=\$((i + 1)); done
EOS
done
# test_noisy: 3 FAIL lines among 20 PASS lines, printed slowly (the others run meanwhile).
cat >"$fake/test_noisy" <<'EOS'
#!/bin/sh
i=0
while [ $i -lt 20 ]; do
  echo "PASS noisy $i"
  [ $((i % 7)) -eq 3 ] && echo "FAIL noisy $i: on purpose"
  i=$((i + 1))
done
EOS
# test_crash: exits 3 without a FAIL line.
printf '#!/bin/sh\necho "PASS before the crash"\necho "last words"\nexit 3\n' >"$fake/test_crash"
# test_sanrep: leaves a sanitizer report where run.sh told ASan to write it.
cat >"$fake/test_sanrep" <<'EOS'
#!/bin/sh
dir=${ASAN_OPTIONS#*log_path=}; dir=${dir%%:*}
echo "ERROR: AddressSanitizer: a fake report" >"$dir.4242"
echo "PASS sanrep ran"
EOS
# test_leak: writes the run's sentinel into its scratch.
cat >"$fake/test_leak" <<'EOS'
#!/bin/sh
printf 'x\nkey %s\n' "$OPENAI_API_KEY" >"$TMPDIR/leak.txt"
echo "PASS leak ran"
EOS
chmod +x "$fake"/test_*

# subrun OUT [VAR=value...]: tests/run.sh over the fake programs; its exit status in OUT.rc.
subrun() {
  out=$1
  shift
  rm -f "$TMP/marks"/*
  env MARKS="$TMP/marks" WAIT=${WAIT:-120} TMPDIR="$TMP/runtmp" ONLY=fakeunit UNIT="$fake" \
    "$@" sh "$ROOT/tests/run.sh" >"$out" 2>&1
  echo $? >"$out.rc"
}

subrun "$TMP/par.out" TEST_JOBS=7
check_eq "parallel: fails (the programs that fail)" "$(cat "$TMP/par.out.rc")" 1
check_grep "parallel: the pair ran together (a)" "test_pair_a: 41 passed, 0 failed" "$TMP/par.out"
check_grep "parallel: the pair ran together (b)" "test_pair_b: 41 passed, 0 failed" "$TMP/par.out"
check_eq "parallel: the total" "$(tail -n 1 "$TMP/par.out")" "105 passed, 6 failed"
check_grep "parallel: the crash reported" "  test_crash: exited 3 without a FAIL line:" "$TMP/par.out"
check_grep "parallel: the crash's last lines shown" "    last words" "$TMP/par.out"
check_grep "parallel: the sanitizer report blamed on its program" "  test_sanrep: sanitizer report:" "$TMP/par.out"
check_eq "parallel: no other program blamed for it" "$(grep -c 'sanitizer report' "$TMP/par.out")" 1
check_grep "parallel: the leak blamed on its program" "  test_leak: secret OPENAI_API_KEY in file leak.txt line 2" "$TMP/par.out"
check_eq "parallel: no other program blamed for a leak" "$(grep -c ': secret ' "$TMP/par.out")" 1
check_grep "parallel: the secret scan's figures summed" ", 1 hits" "$TMP/par.out"
check_eq "parallel: each program's lines together (its FAILs, then its count)" \
  "$(grep -A3 '^  test_noisy: FAIL noisy 3' "$TMP/par.out" | sed 's/ (.*//')" \
  "  test_noisy: FAIL noisy 3: on purpose
  test_noisy: FAIL noisy 10: on purpose
  test_noisy: FAIL noisy 17: on purpose
test_noisy: 20 passed, 3 failed"
check_eq "parallel: one count line a program" "$(grep -c '^test_[a-z_]*: [0-9]* passed, [0-9]* failed ([0-9]*s)$' "$TMP/par.out")" 6
check_eq "parallel: its scratch removed" "$(find "$TMP/runtmp" -mindepth 1 | wc -l | tr -d ' ')" 0

# Serially the pair cannot both see the other's mark (the first waits WAIT s in vain);
# every other figure is the same.
WAIT=1 subrun "$TMP/ser.out" TEST_JOBS=1
check_eq "serial: the first of the pair waited in vain" "$(grep -c '^  test_pair_[ab]: FAIL [ab] saw [ab]: no mark' "$TMP/ser.out")" 1
check_eq "serial: the total (one more FAIL, one PASS less)" "$(tail -n 1 "$TMP/ser.out")" "104 passed, 7 failed"
check_eq "serial: the other lines as in parallel" \
  "$(grep -v 'test_pair\|^secret scan\|passed, [0-9]* failed$' "$TMP/ser.out" | sed 's/ ([0-9]*s)$//' | sort)" \
  "$(grep -v 'test_pair\|^secret scan\|passed, [0-9]* failed$' "$TMP/par.out" | sed 's/ ([0-9]*s)$//' | sort)"

# The longest first: with times saying test_leak took longest and test_crash next, a
# serial run starts with them; programs without a time follow, in name order.
printf 'test_crash\t50\ntest_leak\t90\ntest_noisy\t1\n' >"$TMP/times"
WAIT=1 subrun "$TMP/order.out" TEST_JOBS=1 TEST_TIMES="$TMP/times"
check_eq "order: longest first, then by name" \
  "$(sed -n 's/^\(test_[a-z_]*\): [0-9]* passed.*/\1/p' "$TMP/order.out" | tr '\n' ' ')" \
  "test_leak test_crash test_noisy test_pair_a test_pair_b test_sanrep "
check_eq "order: this run's times written back, one a program" \
  "$(cut -f1 "$TMP/times" | tr '\n' ' ')" "test_crash test_leak test_noisy test_pair_a test_pair_b test_sanrep "
check_eq "order: the default times file, next to the unit tests" "$(wc -l <"$TMP/.test-times" | tr -d ' ')" 6

for j in 0 x -1; do
  subrun "$TMP/bad.out" TEST_JOBS=$j
  check_eq "TEST_JOBS=$j: refused" "$(cat "$TMP/bad.out.rc") $(cat "$TMP/bad.out")" \
    "2 tests/run.sh: TEST_JOBS=$j is not a positive integer"
done
