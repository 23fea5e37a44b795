#!/bin/sh
# layering.sh: common/ is layered base < io < model < experiment < agent (README, "How it
# is built"); a module includes only modules of its own layer or below, always by
# "layer/name.h", and a tool (src/) never includes another tool's file.
. "$(dirname "$0")/../lib.sh"
cd "$ROOT" || exit 2
rank() {
  case $1 in base) echo 0 ;; io) echo 1 ;; model) echo 2 ;; experiment) echo 3 ;; agent) echo 4 ;; *) echo 99 ;; esac
}
bad=""
for f in common/*/*.[ch]; do
  layer=$(echo "$f" | cut -d/ -f2)
  [ "$(rank "$layer")" -lt 99 ] || { bad="$bad $f(unknown layer folder)"; continue; }
  for inc in $(grep -o '^#include "[^"]*"' "$f" | sed 's/^#include "//; s/"$//'); do
    dep=${inc%%/*}
    if [ "$dep" = "$inc" ]; then bad="$bad $f->$inc(no layer folder)"; continue; fi
    [ -f "common/$inc" ] || { bad="$bad $f->$inc(missing)"; continue; }
    [ "$(rank "$dep")" -le "$(rank "$layer")" ] || bad="$bad $f->$inc"
  done
done
check_eq "common/ includes go down the layers only" "$bad" ""
loose=$(ls common/*.[ch] 2>/dev/null | tr '\n' ' ')
check_eq "every module of common/ lives in a layer folder" "$loose" ""
tools=$(grep -l '^#include "[a-z]*\.c"' src/*.c 2>/dev/null | tr '\n' ' ')
check_eq "no tool includes another tool's source" "$tools" ""
# Every module is named in the README's map of the code.
missing=""
for f in common/*/*.h; do
  m=$(basename "$f" .h)
  grep -q "$m" README.md || missing="$missing $m"
done
check_eq "README's map names every module of common/" "$missing" ""
