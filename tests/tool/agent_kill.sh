#!/bin/sh
# agent_kill.sh: nothing is lost when the agent loop is killed.  pipelines/agent-loop.sh
# (built-in planner, the tiny synthetic model, task facts, 12 steps) is killed with
# SIGKILL, its whole process group, at random moments, many times, each run resuming the
# journal the last one left.  After every run: `journal check` reads the journal back and
# agrees with an independent reader (tests/ref/journal_ref.py); the journal only grew by
# appending; a torn last line is reported and terminated by the next run, never glued to
# a record or costing an earlier one; no result (by its identity), complete experiment or
# note that was in before is missing.  Every fifth kill also leaves a torn last line, as a
# kill inside a record's write(2) would.  A run that finishes ends the investigation: its
# results (deduplicated as the report does) equal those of an uninterrupted reference
# run, once each, its notes and report.md too; the next kill starts a new journal.  At the
# end one uninterrupted run finishes the last journal.  Before the random kills, kills at
# chosen moments: three while one experiment's tools run, one while the report is written.
# The delays: a quarter of the kills within 30 ms of the start, the others spread over a
# third of an uninterrupted run's duration (measured first), from a seed printed below.
# After every kill the journal's writer lock is free (the kernel dropped the killed loop's).
# Env: AGENT_KILL_ITERATIONS (40; 20 in the sanitizer pass, tests/lib.sh; 4 under
# valgrind, BAD_INPUTS_SLOW > 1); AGENT_KILL_SEED (default: random) and AGENT_KILL_RUN_MS
# (default: measured) replay a run's delays.
. "$(dirname "$0")/../lib.sh"
M=$TMP/model
tiny_model "$M"
agent_isolate
REF=$ROOT/tests/ref/journal_ref.py
SLOW=${BAD_INPUTS_SLOW:-1}
# The investigation: 6 experiments of the built-in plan on facts and their notes (12
# steps), then the report.  Interrupted runs are no steps, so --max-steps must end the
# killed runs where it ends the reference.  Under valgrind (BAD_INPUTS_SLOW > 1: every
# tool ~50x slower) 2 experiments, 1 example, 4 kills, a torn line left after every other.
N_EXP=6 EXAMPLES=2 KILLS=${AGENT_KILL_ITERATIONS:-40} TEAR_EVERY=5
sanitized && KILLS=${AGENT_KILL_ITERATIONS:-20}
[ "$SLOW" -gt 1 ] && N_EXP=2 EXAMPLES=1 KILLS=${AGENT_KILL_ITERATIONS:-4} TEAR_EVERY=2
TASK="--model $M --tasks facts --examples $EXAMPLES --max-steps $((2 * N_EXP))"   # split into words below
SEED=${AGENT_KILL_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
GPID=""
trap '[ -z "$GPID" ] || group_kill; tmp_cleanup' EXIT
cd "$TMP" || exit 1
# The killed loops' scratch directories (their EXIT trap never runs) stay in here.
mkdir -p loops
export TMPDIR=$TMP/loops
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---------------------------------------------------------------- the uninterrupted reference
t0=$(now_ms)
bash "$LOOP" --journal ref.ndjson --report-dir refrep $TASK > ref.out 2> ref.err
rc=$?
T=${AGENT_KILL_RUN_MS:-$(($(now_ms) - t0))}
check_eq "reference run: exit 0" "$rc" 0
[ "$rc" -eq 0 ] || { tail -n 5 ref.err; exit 1; }
WANT=$($PY "$REF" final ref.ndjson ref.ndjson)
check_eq "reference run: $N_EXP experiments, complete, a note each, a report" \
  "$(echo "$WANT" | sed 's/results=[0-9]*\/[0-9]* //')" \
  "experiments=$N_EXP complete=$N_EXP missing=0 extra=0 differ=0 records_per_result>=1:True notes=$N_EXP/$N_EXP same_notes=True reports=1 meta=1 tasks=1"
echo "agent_kill: $KILLS kills, seed $SEED, an uninterrupted run $T ms (AGENT_KILL_SEED=$SEED AGENT_KILL_RUN_MS=$T replays the delays)"

# The delays (seconds): every fourth within 30 ms of the start, the others up to T/3.
$PY - "$SEED" "$KILLS" "$T" > delays <<'EOF'
import random, sys
seed, n, t = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
for i in range(3 * n):   # more than needed: runs that finish before their kill take one too
    ms = rng.uniform(0, 30) if i % 4 == 3 else rng.uniform(30, max(t / 3, 60))
    print("%.3f" % (ms / 1000))
EOF

# report.md without the lines that count the journal's records and unreadable lines
# (which kills change), and the plots' data.
report_body() { grep -v -e '^- \*\*Journal\*\*' -e '^- \*\*Warning\*\*' "$1/report.md"; cat "$1"/*.dat 2>/dev/null; }
report_body refrep > ref.report

# finished JOURNAL REPORT_DIR LABEL: the checks on a finished investigation.
finished() {
  check_eq "$3: results (deduplicated), notes, report records as uninterrupted" "$($PY "$REF" final "$1" ref.ndjson)" "$WANT"
  report_body "$2" > got.report 2>&1
  check "$3: report.md and the plots' data as uninterrupted" cmp ref.report got.report
}

# ---------------------------------------------------------------- kills at chosen moments
# Three kills as soon as a run has (re)started facts/drop-first, while its tools run.
# (Each cut-off run used to count as one of the experiment's 3 attempts: after the third
# kill the experiment was given up, its results and note never came.)  Then a kill as
# soon as the report record is in: while `report` writes report.md.
lines_of() { cat "$1" 2>/dev/null | grep -c "$2"; }
running() { [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ] && [ -e "/proc/$1" ]; }   # not a zombie
kill_when() {   # JOURNAL PATTERN: run the loop, kill it once one more line matches PATTERN
  n=$(lines_of "$1" "$2")
  group_start bash "$LOOP" --journal "$1" --report-dir "$1.rep" $TASK > /dev/null 2>> chosen.err
  i=0
  while running "$GPID" && [ "$(lines_of "$1" "$2")" -le "$n" ] && [ $i -lt $((3000 * SLOW)) ]; do
    sleep 0.01; i=$((i + 1))
  done
  group_kill
}
# The experiments' tools start 2 s late (a bin/ of links whose measuring tools sleep
# first), so that the kill lands while they run however soon the tiny model would let
# them finish (and however late a loaded machine lets the polling see the action).
mkdir -p slowbin
for t in "$BIN"/*; do
  case ${t##*/} in
    scoreloss|runlayers|topk|lens|judge) printf '#!/bin/sh\nsleep %s\nexec "%s" "$@"\n' $((2 * SLOW)) "$t" > "slowbin/${t##*/}"; chmod +x "slowbin/${t##*/}" ;;
    *) ln -s "$t" "slowbin/${t##*/}" ;;
  esac
done
export AUTOINTERP_BIN=$TMP/slowbin
for k in 1 2 3; do kill_when chosen.ndjson '"kind":"action".*"name":"facts/drop-first"'; done
export AUTOINTERP_BIN=$BIN   # as agent_isolate set it
check_eq "three kills in one experiment: each while it ran" \
  "$(val chosen.ndjson '[(a.get("resume", False), a.get("after_interruption", False)) for a in L if a["kind"] == "action" and a.get("name") == "facts/drop-first"], len([r for r in L if r["kind"] == "result" and r["experiment"] == "facts/drop-first"])')" \
  "([(False, False), (True, True), (True, True)], 0)"
kill_when chosen.ndjson '"kind":"report"'
check_eq "a kill while the report is written: killed" "$GST" 137
bash "$LOOP" --journal chosen.ndjson --report-dir chosen.ndjson.rep $TASK > /dev/null 2>> chosen.err
check_eq "kills at chosen moments: then the loop finishes" "$?" 0
finished chosen.ndjson chosen.ndjson.rep "kills at chosen moments"

# ---------------------------------------------------------------- the kills
# kill_once DELAY: the loop on $J, killed after DELAY seconds (unless it ended first);
# sets ST (137: killed) and PHASE (the programs the group was running).
kill_once() {
  group_start bash "$LOOP" --journal "$J" --report-dir "$R" $TASK > run.out 2> run.err
  sleep "$1"
  PHASE=$(pgrep -l -g "$GPID" 2>/dev/null | cut -d' ' -f2 | sort -u | tr '\n' ' ')
  group_kill
  ST=$GST
  # The killed loop's writer lock (docs/journal.md) went with it: the kernel dropped it.
  if [ "$ST" -eq 137 ]; then
    ( exec 9>>"$J"; journal lock --journal "$J" --fd 9 ) 2>> lock.err && locks_free=$((locks_free + 1))
  fi
}
# phase_of "PROGRAMS": what the kill interrupted, by the busiest program in the group.
phase_of() {
  for p in report journal scoreloss runlayers judge topk agentstep gentasks loadgpt2; do
    case " $1" in *" $p "*) echo "$p"; return ;; esac
  done
  case "$1" in *bash*) echo "loop shell" ;; *) echo "nothing (ended)" ;; esac
}

# after_run LABEL [STDERR]: the state checks on $J after a run (tests/ref/journal_ref.py
# state); counts the journals read back (read_back), what was lost (lost_items), the runs
# with a problem (bad_runs), the torn last lines (tears) and those terminated (repairs).
# Sets RES.
after_run() {
  journal check --journal "$J" > check.json 2> /dev/null
  crc=$?
  [ -e "$J" ] || { echo '{"records":0,"invalid_lines":0,"torn":false}' > check.json; crc=0; }
  RES=$($PY "$REF" state "$J" "$J.state" "$J.state.new" --check check.json --rc "$crc" ${2:+--stderr "$2"})
  mv "$J.state.new" "$J.state"
  case "$RES" in *readback=1*) read_back=$((read_back + 1)) ;; esac
  lost_items=$((lost_items + $(echo "$RES" | sed 's/.* lost=\([0-9]*\).*/\1/')))
  case "$RES" in *repaired=1*) repairs=$((repairs + 1)) ;; esac
  case "$RES" in *new_tear=1*) tears=$((tears + 1)) ;; esac
  case "$RES" in ok*) ;; *) bad_runs=$((bad_runs + 1)); failed "$1" "$RES" ;; esac
}
# finished_episode LABEL: the investigation in $J is finished; counts results missing.
finished_episode() {
  finished "$J" "$R" "$1"
  final=$($PY "$REF" final "$J" ref.ndjson)
  missing=$((missing + $(echo "$final" | sed 's/.* missing=\([0-9]*\).*/\1/')))
}

episode=1
J=e1.ndjson R=e1rep
locks_free=0 kills=0 runs=0 injected=0 read_back=0 lost_items=0 bad_runs=0 missing=0 finishes=0 tears=0 repairs=0 bad_exits=0
: > phases
for d in $(cat delays); do
  [ "$kills" -ge "$KILLS" ] && break
  [ $((bad_runs + bad_exits)) -ge 3 ] && { failed "kills" "stopped after 3 failed runs"; break; }
  runs=$((runs + 1))
  kill_once "$d"
  after_run "kill: run $runs (episode $episode, delay ${d}s, during: $(phase_of "$PHASE"))" run.err
  if [ "$ST" -eq 137 ]; then
    kills=$((kills + 1))
    phase_of "$PHASE" >> phases
    # Every fifth kill also leaves a torn last line, as a kill inside write(2) would.
    if [ $((kills % TEAR_EVERY)) -eq 0 ] && [ -s "$J" ] && ! grep -q '"kind":"report"' "$J"; then
      case "$RES" in *torn=0*)
        $PY "$REF" tear "$J"
        injected=$((injected + 1))
        runs_before=$read_back
        after_run "torn last line left after run $runs"
        read_back=$runs_before   # counted per run, not per check
        case "$RES" in *torn=1*) ;; *) failed "torn last line left after run $runs" "$RES" ;; esac ;;
      esac
    fi
  elif [ "$ST" -eq 0 ]; then
    # The loop finished before its kill: the investigation is complete.
    finishes=$((finishes + 1))
    finished_episode "finished after kills (episode $episode)"
    episode=$((episode + 1))
    J=e$episode.ndjson R=e${episode}rep
  else
    bad_exits=$((bad_exits + 1))
    failed "kill: run $runs" "the loop exited $ST: $(tail -n 3 run.err | tr '\n' ' ')"
  fi
done
GPID=""

# ---------------------------------------------------------------- the end: one uninterrupted run
bash "$LOOP" --journal "$J" --report-dir "$R" $TASK > run.out 2> run.err
check_eq "last run, uninterrupted: exit 0" "$?" 0
runs=$((runs + 1))
after_run "last run: journal read back, nothing lost" run.err
case "$RES" in ok*) pass "last run: journal read back, nothing lost" ;; esac
finished_episode "last run (episode $episode)"

check_eq "$KILLS kills made (in $runs runs)" "$kills" "$KILLS"
check_eq "after every run: journal read back, nothing lost" "read back $read_back/$runs, lost $lost_items" "read back $runs/$runs, lost 0"
check_eq "every loop ended by the kill or finished (exit 137 or 0)" "$bad_exits" 0
check_eq "after every kill -9 the journal's writer lock was free" "$locks_free/$kills" "$kills/$kills"
check_eq "every torn last line was terminated by the next run" "$repairs" "$tears"
check_eq "every finished investigation: no result missing" "$missing" 0
echo "agent_kill: kills during: $(sort phases | uniq -c | sort -rn | awk '{n = $1; $1 = ""; printf "%s%s %d", sep, substr($0, 2), n; sep = ", "}')"
echo "agent_kill: $episode investigations ($finishes finished between kills), $tears torn last lines ($injected left on purpose), $repairs terminated"
summary="$kills kills (seed $SEED, run $T ms): journal read back $read_back/$runs, results lost $((lost_items + missing))"
if [ "$kills" -eq "$KILLS" ] && [ "$read_back" -eq "$runs" ] && [ $((lost_items + missing + bad_runs + bad_exits)) -eq 0 ]; then
  echo "PASS $summary"
else
  echo "FAIL $summary"
fi
