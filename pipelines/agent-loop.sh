#!/usr/bin/env bash
# pipelines/agent-loop.sh: the research agent's loop — agentstep decides, the tools run,
# the journal records everything, `report` writes the report.  docs/agent.md.
#
#   agent-loop.sh --journal FILE [--model M] [--max-steps N] [--examples N]
#                 [--tasks a,b,c] [--report-dir DIR] [--planner builtin|llm]
#                 [--llm-model NAME] [--judge-budget N]
#
# Each step: `agentstep` appends one action to the journal and prints it;
#   experiment -> gentasks, then scoreloss (every example), runlayers and topk (the first
#                 few examples) over the experiment's configurations, each output record
#                 appended to the journal as a result tagged with the experiment and tool;
#                 a method experiment (docs/interp.md) runs scoreloss alone: patching with
#                 --patch-sweep=HOOK, ablation with its sweep (--sweep ablate-heads);
#                 a judged experiment ("judge": true) pipes runlayers through `judge`
#                 (the journal is its verdict cache; an LLM judges when OPENAI_API_KEY or
#                 OPENAI_BASE_URL is set, at most --judge-budget requests per experiment)
#                 and journals those records with the tool "judge";
#   note       -> nothing more (agentstep journalled it);
#   report     -> `report --journal FILE --out DIR`, and the loop ends.
# With OPENAI_API_KEY set the LLM plans (agentstep --planner llm), else the built-in planner.
#
# Resumable: run it again after an interruption (even kill -9) and it carries on from the
# journal.  An experiment whose results are incomplete is run again (agentstep says which
# tools); its records are written again and readers keep the last record per (tool,
# example, configuration), so completed results are never lost or double-counted.  The
# first step of a run passes agentstep --new-run: an experiment the last run was cut off
# in is re-run without counting the cut-off run as one of its attempts or as a step.
# One loop per journal at a time, enforced: the loop holds the journal's writer lock
# (flock on the journal, fd 9, inherited by every tool it runs; docs/journal.md) from start
# to end; a second loop on the same journal exits at once (exit 2), naming the first's
# pid.  The kernel drops the lock of a killed loop, so a resumed run finds it free.
#
# Exit status: 0 report written; 2 usage or a tool/system failure; 5 the LLM gave no
# valid action (see the journal's llm records).
set -u
set -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
BIN=${AUTOINTERP_BIN:-$here/../bin}
[ -x "$BIN/agentstep" ] || BIN=$(dirname "$(command -v agentstep 2>/dev/null || echo /nonexistent/x)")

usage() {
  sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
die() { echo "agent-loop: $*" >&2; exit 2; }

journal="" model=${AUTOINTERP_MODEL:-gpt2} max_steps=80 examples=8 tasks="" report_dir="" planner="" llm_model="" judge_budget=""
while [ $# -gt 0 ]; do
  case "$1" in
    --journal) journal=${2-}; shift 2 || usage ;;
    --model) model=${2-}; shift 2 || usage ;;
    --max-steps) max_steps=${2-}; shift 2 || usage ;;
    --examples) examples=${2-}; shift 2 || usage ;;
    --tasks) tasks=${2-}; shift 2 || usage ;;
    --report-dir) report_dir=${2-}; shift 2 || usage ;;
    --planner) planner=${2-}; shift 2 || usage ;;
    --llm-model) llm_model=${2-}; shift 2 || usage ;;
    --judge-budget) judge_budget=${2-}; shift 2 || usage ;;
    -h|--help) usage ;;
    *) echo "agent-loop: unknown argument '$1'" >&2; usage ;;
  esac
done
[ -n "$journal" ] || { echo "agent-loop: --journal FILE is needed" >&2; usage; }
case "$max_steps" in ''|*[!0-9]*) die "--max-steps must be a number" ;; esac
case "$examples" in ''|*[!0-9]*) die "--examples must be a number" ;; esac
case "$judge_budget" in *[!0-9]*) die "--judge-budget must be a number" ;; esac
[ -n "$report_dir" ] || report_dir="${journal%.ndjson}-report"
[ -x "$BIN/agentstep" ] || die "agentstep not found (run make)"

step_args=(--journal "$journal" --max-steps "$max_steps" --examples "$examples")
[ -n "$tasks" ] && step_args+=(--tasks "$tasks")
[ -n "$planner" ] && step_args+=(--planner "$planner")
[ -n "$llm_model" ] && step_args+=(--llm-model "$llm_model")

# The writer lock, for this shell and every child (journal append and agentstep use it
# through AUTOINTERP_JOURNAL_LOCK_FD).  Taken before anything is read or written.
exec 9>>"$journal" || die "cannot open $journal"
"$BIN/journal" lock --journal "$journal" --fd 9 --pid $$ || exit 2
export AUTOINTERP_JOURNAL_LOCK_FD=9

work=$(mktemp -d "${TMPDIR:-/tmp}/agent-loop.XXXXXX") || die "cannot make a scratch directory"
trap 'rm -rf "$work"' EXIT

# The meta record: the model studied, as loadgpt2 describes it.
# (journal cat exits 5 on a journal with a torn line: only its output counts here.)
has_meta=""
[ -s "$journal" ] && has_meta=$("$BIN/journal" cat --journal "$journal" --kind meta 2>/dev/null | head -c 1)
if [ -z "$has_meta" ]; then
  desc=$("$BIN/loadgpt2" "$model") || die "cannot load the model '$model'"
  printf '{"model":%s,"source":"agent-loop.sh"}\n' "$desc" |
    "$BIN/journal" append -q --journal "$journal" --kind meta || die "cannot write $journal"
fi

# Run one tool over a file of task records, then journal its output as results, tagged
# with the experiment and the tool.  The output is appended only once the tool has
# finished, so an interruption leaves at most a partial append (which the re-run repairs).
# Records that failed (tool exit 5) are journalled as error results like the others.
run_tool() {   # TOOL INPUT ARGS...
  local tool=$1 input=$2 st
  shift 2
  # On a terminal the tool's progress line names the experiment (docs/tools.md).
  AUTOINTERP_PROGRESS_LABEL="$name" "$BIN/$tool" --model "$model" "$@" <"$input" >"$work/out.ndjson"
  st=$?
  [ "$st" -eq 0 ] || [ "$st" -eq 5 ] || die "$tool failed for $name (exit $st)"
  "$BIN/journal" append -q --journal "$journal" --kind result --experiment "$name" --tool "$tool" \
    <"$work/out.ndjson" || die "journal append failed for $tool ($name)"
}

# runlayers over the samples, its completions judged (judge --journal: verdicts already in
# the journal are not asked again), journalled as results of the tool "judge".
run_judged() {   # INPUT ARGS...
  local input=$1 jargs=(--journal "$journal")
  shift
  [ -n "$judge_budget" ] && jargs+=(--budget "$judge_budget")
  [ -n "$llm_model" ] && jargs+=(--llm-model "$llm_model")
  "$BIN/runlayers" --model "$model" "$@" --max-tokens 12 --stop $'\n' <"$input" | "$BIN/judge" "${jargs[@]}" >"$work/out.ndjson"
  local st=("${PIPESTATUS[@]}")
  { [ "${st[0]}" -eq 0 ] || [ "${st[0]}" -eq 5 ]; } || die "runlayers failed for $name (exit ${st[0]})"
  { [ "${st[1]}" -eq 0 ] || [ "${st[1]}" -eq 5 ]; } || die "judge failed for $name (exit ${st[1]})"
  "$BIN/journal" append -q --journal "$journal" --kind result --experiment "$name" --tool judge \
    <"$work/out.ndjson" || die "journal append failed for judge ($name)"
}

run_experiment() {
  "$BIN/gentasks" --task "$task" -n "$examples" >"$work/tasks.ndjson" || die "gentasks --task $task failed"
  head -n "$samples" "$work/tasks.ndjson" >"$work/samples.ndjson"
  local cfg=() k v l lab
  if [ "$n_sweeps" -gt 0 ]; then     # a named sweep: the tools label configurations alike
    for ((k = 1; k <= n_sweeps; k++)); do v="sweep_$k"; cfg+=(--sweep "${!v}"); done
  else
    # SPEC=LABEL: the results carry the action's own labels
    for ((k = 1; k <= n_configs; k++)); do
      v="config_$k"; l="label_$k"; lab=${!l:-}
      if [ -n "$lab" ] && [ "${#lab}" -lt 64 ]; then cfg+=(--layers "${!v}=$lab"); else cfg+=(--layers "${!v}"); fi
    done
  fi
  case "${method:-}" in
    patching) [ "$need_scoreloss" = 1 ] && run_tool scoreloss "$work/tasks.ndjson" --patch-sweep="${patch_hook:-resid_pre}"
              return 0 ;;
    ablation) [ "$need_scoreloss" = 1 ] && run_tool scoreloss "$work/tasks.ndjson" "${cfg[@]}"
              return 0 ;;
  esac
  [ "$need_scoreloss" = 1 ] && run_tool scoreloss "$work/tasks.ndjson" "${cfg[@]}"
  if [ "$need_runlayers" = 1 ] && [ "${judge:-}" = 1 ]; then run_judged "$work/samples.ndjson" "${cfg[@]}"
  elif [ "$need_runlayers" = 1 ]; then run_tool runlayers "$work/samples.ndjson" "${cfg[@]}" --max-tokens 12 --stop $'\n'
  fi
  [ "$need_topk" = 1 ] && run_tool topk "$work/samples.ndjson" "${cfg[@]}" -k 5
  return 0
}

iterations=0
finish=()
# The first step of this run: an experiment the last run left incomplete was interrupted
# (kill -9, a crash); agentstep re-runs it without counting the cut-off run as an attempt.
new_run=(--new-run)
while :; do
  iterations=$((iterations + 1))
  # A safety net beyond agentstep's own --max-steps (re-runs are steps too).
  [ "$max_steps" -gt 0 ] && [ "$iterations" -gt $((max_steps + 10)) ] && finish=(--finish)
  "$BIN/agentstep" "${step_args[@]}" ${finish[@]+"${finish[@]}"} ${new_run[@]+"${new_run[@]}"} --sh "$work/action.sh" >"$work/action.json"
  rc=$?
  if [ "$rc" -ne 0 ] && [ "${#finish[@]}" -gt 0 ]; then
    # The LLM could not write the report: assemble it from the notes instead.
    "$BIN/agentstep" "${step_args[@]}" --planner builtin --finish --sh "$work/action.sh" >"$work/action.json"
    rc=$?
  fi
  [ "$rc" -eq 0 ] || { echo "agent-loop: agentstep failed (exit $rc)" >&2; exit "$rc"; }
  new_run=()
  cat "$work/action.json"
  unset type step name task examples samples n_configs n_sweeps need_scoreloss need_runlayers need_topk method patch_hook judge
  # shellcheck disable=SC1091
  . "$work/action.sh"
  case "$type" in
    experiment)
      echo "agent-loop: step $step: $name (task $task, $n_configs configurations, $examples examples)" >&2
      run_experiment ;;
    note) ;;
    report)
      "$BIN/report" --journal "$journal" --out "$report_dir" >&2
      rc=$?   # 5: the journal has torn lines; the report is written all the same
      [ "$rc" -eq 0 ] || [ "$rc" -eq 5 ] || die "report failed (exit $rc)"
      echo "agent-loop: report written to $report_dir" >&2
      exit 0 ;;
    *) die "agentstep printed an unknown action type '$type'" ;;
  esac
done
