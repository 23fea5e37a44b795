#!/bin/sh
# agent_state.sh: agentstep's state file (JOURNAL.agentstate, docs/agent.md "The state file")
# and its writer lock.
#  - Every step of a real agent loop (the tiny model, two tasks, a journal grown step by
#    step by the loop's tools) is taken twice by a wrapper around agentstep: first with
#    --no-state on a copy of the journal, then as the loop runs it (through the state file):
#    the two print the same action, write the same --sh file and leave byte-identical
#    journals; the report of the loop equals that of a loop run with --no-state.
#  - A state file left by a journal that was then truncated, or one that is garbage, gives
#    the same step as --no-state.
#  - A synthetic 10 k-record journal: the LLM's prompt (--print-prompt) and a built-in step
#    through the state file equal --no-state's, also after new results for experiments
#    whose rows the state file holds unread (lazily); with a rows section of the state file
#    damaged (found when the prompt reads it: the state is built from the journal again) or
#    the file cut to its core.
#  - A standalone agentstep takes the writer lock before it reads: while another process
#    holds it, agentstep exits 2 without reading (no warning about the journal's bad line,
#    no state file); two agentsteps started together: one takes the step, the other exits 2.
. "$(dirname "$0")/../lib.sh"
M=$TMP/model
tiny_model "$M"
agent_isolate
GPID=""
trap '[ -z "$GPID" ] || group_kill; tmp_cleanup' EXIT
cd "$TMP" || exit 1
export SOURCE_DATE_EPOCH=1700000000

# ---- a loop whose every step is taken with and without the state file
mkdir wbin
for t in "$BIN"/*; do ln -s "$t" wbin/; done
rm wbin/agentstep
cat > wbin/agentstep <<EOF
#!/bin/bash
# Take the step with --no-state on a copy of the journal, then for real; log differences.
real=$BIN/agentstep log=$TMP/steps.log
args=("\$@") shadow=() j="" sh=""
for ((i = 0; i < \${#args[@]}; i++)); do
  a=\${args[i]}
  if [ "\$a" = --journal ]; then j=\${args[i + 1]}; shadow+=(--journal "\$j.shadow"); i=\$((i + 1))
  elif [ "\$a" = --sh ]; then sh=\${args[i + 1]}; shadow+=(--sh "\$sh.shadow"); i=\$((i + 1))
  else shadow+=("\$a"); fi
done
cp "\$j" "\$j.shadow"
AUTOINTERP_JOURNAL_LOCK_FD= "\$real" "\${shadow[@]}" --no-state > "$TMP/shadow.out" 2> "$TMP/shadow.err"; rs=\$?
"\$real" "\$@" > "$TMP/real.out" 2> "$TMP/real.err"; rc=\$?
d=""
[ \$rs = \$rc ] || d="\$d exit(\$rs,\$rc)"
cmp -s "$TMP/shadow.out" "$TMP/real.out" || d="\$d stdout"
cmp -s "\$j.shadow" "\$j" || d="\$d journal"
[ -z "\$sh" ] || cmp -s "\$sh.shadow" "\$sh" || d="\$d sh"
sed "s|\$j.shadow|\$j|g" "$TMP/shadow.err" | cmp -s - "$TMP/real.err" || d="\$d stderr"
[ -s "\$j.agentstate" ] && u=state || u=nostate
echo "step \$(wc -l < "\$j") \$u\${d:+ DIFF\$d}" >> \$log
rm -f "\$j.shadow" "\$j.shadow.agentstate" "\$j.shadow.lock" "\$sh.shadow"
cat "$TMP/real.out"; cat "$TMP/real.err" >&2
exit \$rc
EOF
chmod +x wbin/agentstep
ARGS="--model $M --tasks facts,addition --examples 2 --max-steps 6"
AUTOINTERP_BIN=$TMP/wbin bash "$LOOP" --journal w.ndjson $ARGS --report-dir rep_w > loop_w.out 2> loop_w.err
check_eq "the loop through the wrapper: exit 0" "$?" 0
n=$(wc -l < steps.log); diffs=$(grep -c DIFF steps.log)
check "the loop took steps ($n)" test "$n" -ge 7
check_eq "every step: the same action, --sh file, journal bytes and warnings with the state file as without ($(grep DIFF steps.log | head -3 | tr '\n' ' '))" "$diffs" 0
check "the state file was written at the later steps" test "$(grep -c ' state' steps.log)" -ge $((n - 2))
check "w.ndjson.agentstate is a state file" test "$(head -c 8 w.ndjson.agentstate)" = AIAGSTAT
bash "$LOOP" --journal plain.ndjson $ARGS --report-dir rep_plain > loop_p.out 2> loop_p.err
check_eq "a loop without the wrapper: exit 0" "$?" 0
check "the loops' journals are byte-identical" cmp w.ndjson plain.ndjson
check "... and so are their reports" cmp rep_w/report.md rep_plain/report.md

# ---- stale and garbage state files
cp w.ndjson t.ndjson
cp w.ndjson.agentstate t.ndjson.agentstate
head -c $(( $(wc -c < w.ndjson) * 2 / 3 )) w.ndjson > cut.tmp && cat cut.tmp > t.ndjson   # in place: same inode
cp t.ndjson t2.ndjson
agentstep --journal t.ndjson --max-steps 20 --tasks facts,addition --examples 2 > t.out 2> t.err; rt=$?
agentstep --journal t2.ndjson --max-steps 20 --tasks facts,addition --examples 2 --no-state > t2.out 2> t2.err; rt2=$?
check_eq "journal truncated behind the state file's back: the same step as --no-state" "$rt $(cat t.out)" "$rt2 $(cat t2.out)"
check "... the same journal bytes" cmp t.ndjson t2.ndjson
check "... the same warnings (the torn line)" test "$(sed 's/t\.ndjson/X/g' t.err)" = "$(sed 's/t2\.ndjson/X/g' t2.err)"
head -c 5000 /dev/urandom > t2.ndjson.agentstate
agentstep --journal t2.ndjson --max-steps 20 --tasks facts,addition --examples 2 > t3.out 2> t3.err
agentstep --journal t.ndjson --max-steps 20 --tasks facts,addition --examples 2 --no-state > t4.out 2> t4.err
check "a garbage state file: the same step as --no-state" cmp t3.out t4.out
check "... the same journal bytes" cmp t.ndjson t2.ndjson
check "... and it is replaced by a good one" test "$(head -c 8 t2.ndjson.agentstate)" = AIAGSTAT

# ---- the writer lock before the journal is read
L=l.ndjson
agentstep --journal $L --model "$M" --max-steps 20 --tasks facts > /dev/null
rm -f $L.agentstate
printf 'not a record\n' >> $L
cp $L before.ndjson
group_start sh -c 'exec 9>>"$1"; journal lock --journal "$1" --fd 9 --pid $$ && echo locked > ready; exec sleep 60' sh $L
i=0; while [ ! -s ready ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
agentstep --journal $L --max-steps 20 --tasks facts > l.out 2> l.err
check_eq "agentstep while another process holds the lock: exit 2" "$?" 2
check_grep "... naming the holder" "process $GPID holds its writer lock" l.err
check "... before reading: no warning about the journal's unreadable line" test -z "$(grep 'not a record\|line skipped' l.err)"
check "... no state file written, the journal untouched" test ! -e $L.agentstate -a "$(cmp $L before.ndjson && echo same)" = same
group_kill
( exec 9>>$L; journal lock --journal $L --fd 9 --pid 4242
  AUTOINTERP_JOURNAL_LOCK_FD=9 agentstep --journal $L --max-steps 20 --tasks facts > inh.out 2> inh.err; echo $? > inh.rc )
check_eq "with the lock inherited (AUTOINTERP_JOURNAL_LOCK_FD, as in the loop): exit 0" "$(cat inh.rc)" 0
check_grep "... it reads the journal (the warning)" "line skipped" inh.err
check "... and writes the state file" test -s $L.agentstate
# two agentsteps at once, several rounds: each takes a step or exits 2 at once
steps() { val $L 'len([r for r in L if r["kind"] == "action"])'; }
n0=$(steps) zero=0 other=0
for r in 1 2 3 4 5 6; do
  agentstep --journal $L --max-steps 20 --tasks facts > r1.out 2> r1.err & p1=$!
  agentstep --journal $L --max-steps 20 --tasks facts > r2.out 2> r2.err & p2=$!
  wait $p1; s1=$?; wait $p2; s2=$?
  for st in $s1 $s2; do case $st in 0) zero=$((zero + 1)) ;; 2) ;; *) other=$((other + 1)) ;; esac; done
done
check_eq "two agentsteps at once: each exits 0 or 2" "$other" 0
check_eq "one action appended per agentstep that exited 0 ($zero)" "$(( $(steps) - n0 ))" "$zero"
check_eq "no step number twice in the journal" \
  "$(val $L 'len([r["step"] for r in L if r["kind"] == "action"]) == len({r["step"] for r in L if r["kind"] == "action"})')" True
agentstep --journal $L --print-prompt --tasks facts > pp.out 2>&1
agentstep --journal $L --print-prompt --tasks facts --no-state > pp2.out 2>&1
check "after the race: the prompt through the state file equals --no-state's" cmp pp.out pp2.out

# ---- a synthetic 10 k-record journal (182 experiments: the LLM's summary leaves the older
# ones out, and the rows of finished experiments stay unread in the state file until needed)
$PY "$ROOT/bench/synth_journal.py" journal 10000 --unfinished --planned > big.ndjson
B="--tasks facts --max-steps 0"
agentstep --journal big.ndjson $B --print-prompt --no-state > bp0.out 2>&1
check_grep "big: the prompt leaves older experiments out" "older experiments are left out here" bp0.out
cp big.ndjson bigref.ndjson
agentstep --journal big.ndjson $B --planner builtin > bs1.out 2> bs1.err   # writes the state file
agentstep --journal bigref.ndjson $B --planner builtin --no-state > bs0.out 2> bs0.err
check "big: a first step writes the state file" test -s big.ndjson.agentstate
check "big: ... the same action and journal as --no-state" \
  test "$(cmp bs0.out bs1.out && cmp big.ndjson bigref.ndjson && echo same)" = same
# new results: the last 70 records again (the running experiment), then a result of the
# first experiment and one of the last with another loss (the last one's shows in the
# prompt): their rows are read from the state file before the records are added
tail -n 70 big.ndjson > more.ndjson
loss() { sed 's/"answer_loss":[0-9.e+-]*/"answer_loss":9.5/'; }
first=$(grep -m 1 '"tool":"scoreloss"' big.ndjson | loss)
last=$(grep '"tool":"scoreloss"' big.ndjson | tail -n 1 | loss)
for f in big.ndjson bigref.ndjson; do
  cat more.ndjson >> $f
  printf '%s\n%s\n' "$first" "$last" >> $f
done
agentstep --journal big.ndjson $B --print-prompt > bp1.out 2>&1
agentstep --journal bigref.ndjson $B --print-prompt --no-state > bp2.out 2>&1
check "big: after new records, the prompt through the state file equals --no-state's" cmp bp1.out bp2.out
agentstep --journal big.ndjson $B --planner builtin > bs3.out 2> bs3.err
agentstep --journal bigref.ndjson $B --planner builtin --no-state > bs2.out 2> bs2.err
check "big: ... and the step: the same action, journal bytes and warnings" \
  test "$(cmp bs2.out bs3.out && cmp big.ndjson bigref.ndjson && cmp bs2.err bs3.err && echo same)" = same
# a rows section damaged (one byte of the last experiment's, which the prompt shows; the
# header and core intact): found when it is read, the state built again from the journal
flip() { $PY -c 'import sys; p = sys.argv[1]; d = bytearray(open(p, "rb").read()); d[-3] ^= 0x21; open(p, "wb").write(d)' "$1"; }
core_end() { $PY -c 'import struct, sys; print(88 + struct.unpack_from("<Q", open(sys.argv[1], "rb").read(88), 64)[0])' "$1"; }
cp big.ndjson.agentstate good.agentstate
flip big.ndjson.agentstate
cp big.ndjson.agentstate damaged.agentstate
check "big: the damaged byte lies after the state file's core" test "$(core_end big.ndjson.agentstate)" -lt "$(wc -c < big.ndjson.agentstate)"
agentstep --journal bigref.ndjson $B --print-prompt --no-state > bp5.out 2>&1
agentstep --journal big.ndjson $B --print-prompt > bp6.out 2>&1
check "big: a damaged rows section: the prompt equals --no-state's" cmp bp5.out bp6.out
check "... (the state file is left as it is: --print-prompt writes nothing)" cmp big.ndjson.agentstate damaged.agentstate
# the report (--finish) reads every experiment's rows: the damage is found while deciding,
# the step decided again from the whole journal, the state file rewritten
agentstep --journal big.ndjson $B --planner builtin --finish > bs5.out 2> bs5.err
agentstep --journal bigref.ndjson $B --planner builtin --finish --no-state > bs4.out 2> bs4.err
check "big: the report on the damaged state file: the same action, journal bytes and warnings as --no-state" \
  test "$(cmp bs4.out bs5.out && cmp big.ndjson bigref.ndjson && cmp bs4.err bs5.err && echo same)" = same
check "... and the state file was rewritten" test "$(cmp -s big.ndjson.agentstate damaged.agentstate || echo rewritten)" = rewritten
agentstep --journal big.ndjson $B --print-prompt > bp7.out 2>&1
agentstep --journal bigref.ndjson $B --print-prompt --no-state > bp8.out 2>&1
check "... which the next step uses: the same prompt" cmp bp7.out bp8.out
# the state file cut to its core: not used (its length), the same step
cp good.agentstate big.ndjson.agentstate
truncate -s "$(core_end good.agentstate)" big.ndjson.agentstate
agentstep --journal big.ndjson $B --planner builtin > bs6.out 2> bs6.err
agentstep --journal bigref.ndjson $B --planner builtin --no-state > bs7.out 2> bs7.err
check "big: the state file cut to its core: the same action, journal bytes and warnings as --no-state" \
  test "$(cmp bs7.out bs6.out && cmp big.ndjson bigref.ndjson && cmp bs7.err bs6.err && echo same)" = same
check "... and it is replaced by a whole one" test "$(wc -c < big.ndjson.agentstate)" -gt "$(core_end big.ndjson.agentstate)"
