#!/bin/sh
# pipelines/layer-sweep.sh: one command from a task and a sweep to a readable result.
#
#   layer-sweep.sh --model M --task facts --sweep drop-last [-n 20] [--samples 3]
#
# runs   gentasks --task T [-n N]                       > tasks.ndjson
#        scoreloss --model M --sweep S  < tasks.ndjson  > scores.ndjson
#        scoreloss --summary            < scores.ndjson > summary.ndjson
#        head-per-task.sh K < tasks.ndjson | runlayers --model M --sweep S > samples.ndjson
# and prints the summary: an aligned table followed by the sample completions of every
# configuration when stdout is a terminal (or with --table), else the summary records as
# NDJSON, byte for byte what `scoreloss --summary` wrote (or with --ndjson; runlayers is
# then skipped unless --keep asks for its file).  See docs/pipelines.md.
#
# Tools come from $PATH, else from the bin/ directory of the checkout holding this script.
# Exit status: 0 ok; 2 usage error, or a tool stopped on a usage or system error;
# 5 a tool reported bad records or skipped items (the results of the rest are printed).
set -eu

prog=layer-sweep.sh
here=$(cd "$(dirname "$0")" && pwd)
PATH="$PATH:$here/../bin"
nl='
'

usage() {
  cat <<EOF
usage: $prog --task NAME [--task NAME]... [options]
       $prog --from FILE [--task NAME]... [options]
Scores task examples under each layer configuration of a sweep and prints the loss
per configuration (task, label, n, mean_loss +- stderr, exact_rate, delta vs intact),
then greedy completions of a few sample prompts under each configuration.
  --model NAME|PATH  model name or directory (default \$AUTOINTERP_MODEL, else gpt2)
  --task NAME        a task (repeatable); see \`gentasks --list\`
  --from FILE        tasks from a gentasks task-list JSON (default: all of its tasks)
  --sweep NAME       a sweep: drop-last, drop-first, skip-one, skip-range[:W],
                     repeat-one, swap-adjacent, reverse, shuffle:K:SEED (repeatable;
                     default drop-last unless --layers is given)
  --layers SPEC      one configuration, e.g. 0-5,7 or [0,2,1] (repeatable)
  -n N               examples per task (default: gentasks' own, 20 for a generated
                     task and the whole list for a fixed one)
  --seed S           seed of the task generators (default 0)
  --samples K        sample prompts per task for completions (default 3; 0: none)
  --max-tokens N     tokens per sample completion (default 12)
  --table            aligned text (default when stdout is a terminal)
  --ndjson           the summary records (default otherwise)
  --keep DIR         keep tasks.ndjson, scores.ndjson, summary.ndjson and
                     samples.ndjson in DIR
  -h, --help         this help
Exit status: 0 ok; 2 usage or system error; 5 bad records (the rest is reported).
EOF
}

die_usage() {
  echo "$prog: $1" >&2
  echo "Try '$prog --help'." >&2
  exit 2
}

# ---------------------------------------------------------------- options
model="" from="" tasks="" configs="" n="" seed=0 samples=3 max_tokens=12 form="" keep=""
need_arg() { [ $# -ge 2 ] || die_usage "option $1 needs a value"; }
is_count() { case "$1" in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac; }
while [ $# -gt 0 ]; do
  case "$1" in
    --*=*) opt=${1%%=*} val=${1#*=}; shift; set -- "$opt" "$val" "$@"; continue ;;
  esac
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --model) need_arg "$@"; model=$2 ;;
    --task) need_arg "$@"; tasks="$tasks--task$nl$2$nl" ;;
    --from) need_arg "$@"; from=$2 ;;
    --sweep) need_arg "$@"; configs="$configs--sweep$nl$2$nl" ;;
    --layers) need_arg "$@"; configs="$configs--layers$nl$2$nl" ;;
    -n) need_arg "$@"; n=$2 ;;
    --seed) need_arg "$@"; seed=$2 ;;
    --samples) need_arg "$@"; samples=$2 ;;
    --max-tokens) need_arg "$@"; max_tokens=$2 ;;
    --table) form=table; shift; continue ;;
    --ndjson) form=ndjson; shift; continue ;;
    --keep) need_arg "$@"; keep=$2 ;;
    *) die_usage "unknown argument \"$1\"" ;;
  esac
  shift 2
done
[ -n "$tasks" ] || [ -n "$from" ] || die_usage "no task: give --task NAME (see gentasks --list) or --from FILE"
[ -n "$configs" ] || configs="--sweep${nl}drop-last$nl"
[ -z "$n" ] || { is_count "$n" && [ "$n" -ge 1 ]; } || die_usage "-n must be a whole number >= 1, not \"$n\""
is_count "$seed" || die_usage "--seed must be a whole number, not \"$seed\""
is_count "$samples" || die_usage "--samples must be a whole number, not \"$samples\""
is_count "$max_tokens" && [ "$max_tokens" -ge 1 ] || die_usage "--max-tokens must be a whole number >= 1, not \"$max_tokens\""
if [ -z "$form" ]; then
  if [ -t 1 ]; then form=table; else form=ndjson; fi
fi
for tool in gentasks scoreloss runlayers awk; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$prog: $tool not found in PATH or $here/../bin (run make)" >&2; exit 2; }
done
table=$here/ndjson-table.sh head=$here/head-per-task.sh
for f in "$table" "$head"; do
  [ -f "$f" ] || { echo "$prog: $f is missing" >&2; exit 2; }
done

# From here on the option lists expand one argument per line, and nothing globs.
IFS=$nl
set -f
model_args=${model:+--model$nl$model}
from_args=${from:+--from$nl$from}
n_args=${n:+-n$nl$n}

# ---------------------------------------------------------------- work directory
if [ -n "$keep" ]; then
  dir=$keep
  mkdir -p "$dir" || exit 2
else
  dir=$(mktemp -d "${TMPDIR:-/tmp}/layer-sweep.XXXXXX") || exit 2
  trap 'rm -rf "$dir"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
fi

# step NAME CMD...: runs CMD; a usage/system failure (any status but 0 and 5) ends the
# pipeline with status 2, bad records (5) are remembered and the pipeline goes on.
status=0
step() {
  what=$1; shift
  rc=0
  "$@" || rc=$?
  case $rc in
    0) ;;
    5) echo "$prog: $what reported bad records or skipped items (status 5)" >&2; status=5 ;;
    *) echo "$prog: $what failed (status $rc)" >&2; exit 2 ;;
  esac
}

# ---------------------------------------------------------------- pipeline
rm -f "$dir/samples.ndjson"
step gentasks gentasks $from_args $tasks $n_args --seed "$seed" >"$dir/tasks.ndjson"
[ -s "$dir/tasks.ndjson" ] || { echo "$prog: gentasks wrote no examples" >&2; exit 2; }
step scoreloss scoreloss $model_args $configs <"$dir/tasks.ndjson" >"$dir/scores.ndjson"
step "scoreloss --summary" scoreloss --summary <"$dir/scores.ndjson" >"$dir/summary.ndjson"
if [ "$samples" -gt 0 ] && { [ "$form" = table ] || [ -n "$keep" ]; }; then
  sh "$head" "$samples" <"$dir/tasks.ndjson" >"$dir/sample_tasks.ndjson"
  step runlayers runlayers $model_args $configs --max-tokens "$max_tokens" \
    <"$dir/sample_tasks.ndjson" >"$dir/samples.ndjson"
  rm -f "$dir/sample_tasks.ndjson"
fi

# ---------------------------------------------------------------- report
if [ "$form" = ndjson ]; then
  cat "$dir/summary.ndjson"
  exit "$status"
fi
what=$(printf '%s ' $tasks $from_args | sed 's/--task //g; s/ $//')
printf 'layer sweep: model %s; %s; %s%s\n\n' "${model:-${AUTOINTERP_MODEL:-gpt2}}" "$what" \
  "$(printf '%s ' $configs | sed 's/ $//')" "${n:+; -n $n}"
sh "$table" summary <"$dir/summary.ndjson"
if [ -s "$dir/samples.ndjson" ]; then
  printf '\nsample completions (greedy, %s tokens; the first %s prompt(s) of each task):\n\n' \
    "$max_tokens" "$samples"
  sh "$table" samples <"$dir/samples.ndjson"
fi
exit "$status"
