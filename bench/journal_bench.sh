#!/bin/sh
# journal_bench.sh: how the readers of journals and record streams scale (make bench-journal;
# docs/robustness.md has a table it printed).  Synthetic inputs (bench/synth_journal.py) of
# each size in SIZES: an agent-shaped journal of N records through `journal check`,
# `journal cat`, `report --no-plots`; `agentstep` (built-in planner) on such a journal
# without its report record and with its actions' configurations (--planned: the agent's
# state holds every result), five ways: reading the whole journal (--no-state), the first
# step (which writes JOURNAL.agentstate), a step after 70 new records (one step's worth: the
# state file and those records read), the LLM's prompt after them (--print-prompt: the
# rows of the experiments it shows read from the state file), a step after N/100 new
# records (the state file rewritten) — the records are the journal's last ones again, and
# what a step appends is cut off after it; N scored
# records over N distinct labels through `scoreloss --summary`, N example records of N
# distinct tasks through `gentasks --from`.  Per run: wall-clock seconds, CPU seconds
# (user + system), CPU microseconds per record, peak RSS (GNU time).  Time per record
# must stay flat as N grows (the readers are linear); a quadratic reader shows as a
# time per record that grows tenfold per row.
#
#   sh bench/journal_bench.sh [--bin DIR] [--dir DIR] [--sizes "10000 100000 1000000"]
# The inputs are made once per size in DIR (default build/bench/journal; 1 M records is
# ~340 MB) and reused.
set -u
BIN=bin DIR=build/bench/journal SIZES="10000 100000 1000000"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    *) echo "usage: journal_bench.sh [--bin DIR] [--dir DIR] [--sizes \"N ...\"]" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
SYNTH="python3 $here/synth_journal.py"
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "journal_bench: GNU time (/usr/bin/time) is needed for peak RSS" >&2; exit 2; }
mkdir -p "$DIR" || exit 2

# run LABEL N CMD...: one measured run, its row of the table.
run() {
  label=$1 n=$2
  shift 2
  if ! $TIME -f '%e %U %S %M' -o "$DIR/time.txt" "$@" > /dev/null 2> "$DIR/run.err"; then
    case "$label" in *check*|*cat*|*report*) ;; *) echo "journal_bench: $label failed: $(tail -n 2 "$DIR/run.err")" >&2 ;; esac
  fi
  read -r wall user sys rss < "$DIR/time.txt" 2>/dev/null || { wall=0 user=0 sys=0 rss=0; }
  awk -v l="$label" -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
    printf "| %s | %d | %.2f | %.2f | %.2f | %.0f |\n", l, n, w, u + s, (u + s) * 1e6 / n, r / 1024 }'
}

echo "| command | records | wall s | CPU s | CPU µs / record | peak RSS MB |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for n in $SIZES; do
  J=$DIR/journal_$n.ndjson A=$DIR/agent_$n.ndjson S=$DIR/scored_$n.ndjson T=$DIR/tasks_$n.ndjson
  [ -s "$J" ] || $SYNTH journal "$n" > "$J" || exit 2
  [ -s "$A" ] || $SYNTH journal "$n" --unfinished --planned > "$A" || exit 2
  [ -s "$S" ] || $SYNTH scored "$n" "$n" > "$S" || exit 2
  [ -s "$T" ] || $SYNTH tasks "$n" > "$T" || exit 2
  run "journal check" "$n" "$BIN/journal" check --journal "$J"
  run "journal cat" "$n" "$BIN/journal" cat --journal "$J"
  run "report --no-plots" "$n" "$BIN/report" --journal "$J" --no-plots
  size=$(wc -c < "$A")
  step="$BIN/agentstep --journal $A --planner builtin --max-steps 0 --tasks facts"
  rm -f "$A.agentstate"
  run "agentstep, whole journal (--no-state)" "$n" $step --no-state
  truncate -s "$size" "$A"
  run "agentstep, first step (writes JOURNAL.agentstate)" "$n" $step
  truncate -s "$size" "$A"
  tail -n 70 "$A" > "$DIR/more.ndjson" && cat "$DIR/more.ndjson" >> "$A"
  run "agentstep, a step: JOURNAL.agentstate + 70 new records" "$n" $step
  truncate -s "$size" "$A"
  cat "$DIR/more.ndjson" >> "$A"
  run "agentstep --print-prompt (the LLM's prompt): JOURNAL.agentstate + 70 new records" "$n" $step --print-prompt
  truncate -s "$size" "$A"
  tail -n $((n / 100)) "$A" > "$DIR/more.ndjson" && cat "$DIR/more.ndjson" >> "$A"
  run "agentstep, a step: JOURNAL.agentstate + N/100 new records, rewritten" "$n" $step
  truncate -s "$size" "$A"
  rm -f "$A.agentstate" "$DIR/more.ndjson"
  run "scoreloss --summary ($n labels)" "$n" sh -c "exec \"$BIN/scoreloss\" --summary < \"$S\""
  run "gentasks --from ($n tasks)" "$n" "$BIN/gentasks" --from "$T"
done
rm -f "$DIR/time.txt" "$DIR/run.err"
