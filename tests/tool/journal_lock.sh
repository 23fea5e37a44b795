#!/bin/sh
# journal_lock.sh: one writer per journal (docs/journal.md, "One writer").  While a
# process holds a journal's writer lock, `journal append`, `agentstep` and a second
# pipelines/agent-loop.sh on it exit at once (exit 2) naming the holder's pid, and leave
# the journal as it was; children of the holder (AUTOINTERP_JOURNAL_LOCK_FD) append; a
# SIGKILLed holder's lock is dropped by the kernel.  Two agent loops started together on
# one journal: one runs the investigation, the other exits at once; no action, result or
# note twice.
. "$(dirname "$0")/../lib.sh"
M=$TMP/model
tiny_model "$M"
agent_isolate
GPID=""
trap '[ -z "$GPID" ] || group_kill; tmp_cleanup' EXIT
cd "$TMP" || exit 1
export SOURCE_DATE_EPOCH=1700000000
J=j.ndjson
note() { printf '{"observation":"%s"}\n' "$1" | journal append -q --journal "$J" --kind note; }

# ---- a holder: a shell that locks the journal on fd 9 and sleeps
note "before"
check_eq "append without a holder: exit 0" "$?" 0
group_start sh -c 'exec 9>>"$1"; journal lock --journal "$1" --fd 9 --pid $$ && echo locked > ready; exec sleep 60' sh $J
i=0; while [ ! -s ready ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
check_eq "journal lock: the holder has the lock" "$(cat ready 2>/dev/null)" locked
check_eq "journal lock: its pid (--pid) recorded in $J.lock" "$(cat $J.lock)" "$GPID"
cp $J before.ndjson
note "while held" 2> append.err
check_eq "append while another process holds the lock: exit 2" "$?" 2
check_grep "append: the holder's pid named" "journal $J is in use: process $GPID holds its writer lock" append.err
( exec 8>>$J; journal lock --journal $J --fd 8 ) 2> lock.err
check_eq "a second journal lock: exit 2" "$?" 2
check_grep "journal lock: the holder's pid named" "process $GPID holds" lock.err
agentstep --journal $J --model "$M" --max-steps 4 > /dev/null 2> step.err
check_eq "agentstep while another process holds the lock: exit 2" "$?" 2
check_grep "agentstep: the holder's pid named" "process $GPID holds its writer lock" step.err
t0=$(date +%s%N)
bash "$LOOP" --journal $J --model "$M" --tasks facts --examples 1 --max-steps 2 --report-dir rep > loop.out 2> loop.err
rc=$? t1=$(date +%s%N)
check_eq "a loop on a journal another process holds: exit 2" "$rc" 2
check_grep "the loop: the holder's pid named" "process $GPID holds its writer lock" loop.err
check "the loop exits at once (under 2 s: $(( (t1 - t0) / 1000000 )) ms)" test $(( (t1 - t0) / 1000000 )) -lt $((2000 * ${BAD_INPUTS_SLOW:-1}))
check "nothing written while held" cmp $J before.ndjson
group_kill
check_eq "the holder killed with SIGKILL" "$GST" 137
note "after the kill"
check_eq "after kill -9 the kernel has dropped the lock: append exits 0" "$?" 0
( exec 9>>$J; journal lock --journal $J --fd 9 --pid 777; printf '{"observation":"child"}\n' |
  AUTOINTERP_JOURNAL_LOCK_FD=9 journal append -q --journal $J --kind note; echo "child $?" > child.rc
  printf '{"observation":"no env"}\n' | journal append -q --journal $J --kind note 2> noenv.err; echo "noenv $?" >> child.rc )
check_eq "children of a holder: append with AUTOINTERP_JOURNAL_LOCK_FD, not without" "$(cat child.rc | tr '\n' ' ')" "child 0 noenv 2 "
check_grep "without the descriptor a child is a second writer (pid of --pid named)" "process 777 holds" noenv.err
check_eq "notes in: before, after the kill, the child's" \
  "$(journal cat --journal $J --kind note | $PY -c 'import json,sys; print(",".join(json.loads(l)["observation"] for l in sys.stdin))')" \
  "before,after the kill,child"
check_eq "the lock is released when the holder's descriptors close" "$(note free; echo $?)" 0

# ---- two loops started together on one journal
L2=two.ndjson
ARGS="--model $M --tasks facts --examples 1 --max-steps 4"
bash "$LOOP" --journal $L2 $ARGS --report-dir rep_a > a.out 2> a.err & A=$!
bash "$LOOP" --journal $L2 $ARGS --report-dir rep_b > b.out 2> b.err & B=$!
wait $A; ra=$?
wait $B; rb=$?
check_eq "two loops on one journal: one finishes, one exits 2" "$(echo "$ra $rb" | tr ' ' '\n' | sort | tr '\n' ' ')" "0 2 "
if [ "$ra" -eq 2 ]; then loser=a.err winner=$B; else loser=b.err winner=$A; fi
check_grep "the second loop names the first one's pid" "process $winner holds its writer lock" $loser
check_eq "one meta, each step's action once, each result identity once, one report" \
  "$(val $L2 '(sum(r["kind"] == "meta" for r in L), len([r["step"] for r in L if r["kind"] == "action"]) == len({r["step"] for r in L if r["kind"] == "action"}), len([r for r in L if r["kind"] == "result"]) == len({(r["experiment"], r["tool"], r.get("id"), str(r.get("layers")), r.get("position"), r.get("label")) for r in L if r["kind"] == "result"}), sum(r["kind"] == "report" for r in L))')" \
  "(1, True, True, 1)"
journal check --journal $L2 > /dev/null
check_eq "its journal reads back clean" "$?" 0

# ---- the holder has the lock but has not recorded its pid yet (the window between its
# flock and its PATH.lock): a second writer waits for the pid (up to 1 s) and names it.
L3=late.ndjson
: > $L3
$PY -c '
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_APPEND)
fcntl.flock(fd, fcntl.LOCK_EX)
open("late.ready", "w").close()
time.sleep(0.3)
with open(sys.argv[1] + ".lock.tmp", "w") as f: f.write("4242\n")
os.rename(sys.argv[1] + ".lock.tmp", sys.argv[1] + ".lock")
time.sleep(3)' $L3 & H3=$!
while [ ! -e late.ready ]; do sleep 0.02; done
printf '{"observation":"late"}\n' | journal append -q --journal $L3 --kind note 2> late.err
check_eq "append while the holder's pid is not recorded yet: exit 2" "$?" 2
check_grep "... naming the pid recorded a moment later" "journal $L3 is in use: process 4242 holds its writer lock" late.err
check_eq "nothing written" "$(wc -c < $L3)" 0
kill $H3 2>/dev/null; wait $H3 2>/dev/null || true
