#!/bin/sh
# examples/regenerate.sh: refreshes examples/output/ — what each pipeline prints on the
# small GPT-2 trained on the built-in tasks and shipped in examples/model/ (4 blocks,
# width 128, GPT-2's vocabulary; examples/model/README.md).  It knows the tasks, so the
# losses, completions and top tokens are meaningful; the hand-written `capitals` task is
# phrased differently from anything it was trained on.
#
#   examples/regenerate.sh           rewrite examples/output/*
#   examples/regenerate.sh --check   regenerate into a scratch directory and diff against
#                                    the committed files (exit 1 when they differ)
#
# Needs the tools (PATH, else ../bin), GNU make, and GNU parallel for the sharded example.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
PATH="$PATH:$root/bin"
check=0
case "${1:-}" in
  --check) check=1 ;;
  '') ;;
  *) echo "usage: examples/regenerate.sh [--check]" >&2; exit 2 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/regenerate.XXXXXX")
trap 'rm -rf "$work"' EXIT
out=$here/output
[ "$check" = 0 ] || out=$work/output
mkdir -p "$out"
rm -f "$out"/*.txt "$out"/*.ndjson

# The make DAG on the shipped model.
model=$here/model
tasks="facts counting addition copy capitals"
make -s --no-print-directory -C "$here" OUT="$work/dag" MODEL="$model" TASKS="$tasks" >/dev/null
cp "$work/dag/summary.ndjson" "$out/make-summary.ndjson"
cp "$work/dag/summary.txt" "$out/make-summary.txt"
cp "$work/dag/topk.txt" "$out/make-topk.txt"
cp "$work/dag/samples.txt" "$out/make-samples.txt"

# pipelines/layer-sweep.sh in both output forms.
ls=$root/pipelines/layer-sweep.sh
sh "$ls" --model "$model" --task facts --sweep drop-last -n 20 --samples 2 --max-tokens 10 --table \
  | sed "s|$model|examples/model|" > "$out/layer-sweep.facts.drop-last.txt"
sh "$ls" --model "$model" --task facts --sweep drop-last -n 20 --ndjson > "$out/layer-sweep.facts.drop-last.ndjson"
sh "$ls" --model "$model" --task copy --sweep skip-one --sweep reverse --samples 2 \
  --max-tokens 8 --table | sed "s|$model|examples/model|" > "$out/layer-sweep.copy.txt"

# The sharded form (docs/scaling.md): equal to the unsharded run above.
if command -v parallel >/dev/null 2>&1; then
  gentasks facts -n 20 | parallel --pipe -N 5 -j2 --keep-order scoreloss --sweep drop-last --model "$model" \
    | scoreloss --summary > "$out/sharded.facts.drop-last.ndjson"
  cmp -s "$out/sharded.facts.drop-last.ndjson" "$out/layer-sweep.facts.drop-last.ndjson" ||
    { echo "regenerate: the sharded summary differs from the unsharded one" >&2; exit 1; }
else
  echo "regenerate: GNU parallel not installed; sharded example skipped" >&2
fi

if [ "$check" = 1 ]; then
  diff -r "$here/output" "$out" && echo "examples/output is up to date"
else
  echo "regenerate: wrote $(ls "$out" | wc -l) files, $(du -sk "$out" | cut -f1) KB in $out" >&2
fi
