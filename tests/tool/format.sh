#!/bin/sh
# format: every C file of the tree is in the style of .clang-format (clang-format 14, which
# scripts/install-deps.sh installs), and format-check notices a file that is not.
. "$(dirname "$0")/../lib.sh"

(cd "$ROOT" && sh scripts/format-check.sh) > "$TMP/all.out" 2>&1
check_eq "format-check exits 0 on the tree" "$?" 0
check_grep "format-check checked the C files" "C files formatted" "$TMP/all.out"
n=$(sed -n 's/^format-check: all \([0-9]*\) C files formatted$/\1/p' "$TMP/all.out")
check "it checked more than 100 files (${n:-none})" test "${n:-0}" -gt 100

# A file the style would change: the check fails and names it.
printf 'int  f( int x ){return x;}\n' > "$TMP/bad.c"
(cd "$ROOT" && sh scripts/format-check.sh --files "$TMP/bad.c") > "$TMP/bad.out" 2>&1
check_eq "format-check exits 1 on an unformatted file" "$?" 1
check_grep "and names it" "bad.c" "$TMP/bad.out"
printf 'int f(int x) { return x; }\n' > "$TMP/good.c"
(cd "$ROOT" && sh scripts/format-check.sh --files "$TMP/good.c") > "$TMP/good.out" 2>&1
check_eq "format-check exits 0 on a formatted file" "$?" 0
