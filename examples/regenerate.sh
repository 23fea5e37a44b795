#!/bin/sh
# examples/regenerate.sh: refreshes examples/output/ — what each pipeline prints on the
# synthetic example model (4 layers, embedding 64, GPT-2's vocabulary, seed 1; made on
# the fly, never committed).  The numbers mean nothing about GPT-2: they show the shape
# of each output.
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

# The make DAG, which also builds the synthetic model (examples/Makefile's SYNTH).
make -s --no-print-directory -C "$here" OUT="$work/dag" >/dev/null
model=$work/dag/model
cp "$work/dag/summary.ndjson" "$out/make-summary.ndjson"
cp "$work/dag/summary.txt" "$out/make-summary.txt"
cp "$work/dag/topk.txt" "$out/make-topk.txt"
cp "$work/dag/samples.txt" "$out/make-samples.txt"

# pipelines/layer-sweep.sh in both output forms.
ls=$root/pipelines/layer-sweep.sh
sh "$ls" --model "$model" --task facts --sweep drop-last -n 20 --samples 2 --max-tokens 10 --table \
  | sed "s|$model|out/model (synthetic)|" > "$out/layer-sweep.facts.drop-last.txt"
sh "$ls" --model "$model" --task facts --sweep drop-last -n 20 --ndjson > "$out/layer-sweep.facts.drop-last.ndjson"
sh "$ls" --model "$model" --from "$here/tasks/everyday.json" --sweep skip-one --sweep reverse --samples 1 \
  --max-tokens 8 --table | sed "s|$model|out/model (synthetic)|; s|$here/||" > "$out/layer-sweep.everyday.txt"

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
