#!/bin/sh
# format-check: is C code in the style of .clang-format (clang-format 14, Debian's
# `clang-format` package)?
#   scripts/format-check.sh                every *.c / *.h of bench, common, src, tests
#   scripts/format-check.sh --base REV     the lines of *.c / *.h that differ from REV
#                                          (e.g. --base main for a branch); untracked
#                                          files whole
#   scripts/format-check.sh --files F...   whole files
# Prints what clang-format would change; exits 1 when that is anything, 2 on a usage or
# setup error.
cd "$(dirname "$0")/.." || exit 2
for p in clang-format clang-format-diff; do
  command -v "$p" >/dev/null 2>&1 || { echo "format-check: $p missing (apt-get install clang-format)" >&2; exit 2; }
done
case ${1:-} in
--files)
  shift
  [ $# -gt 0 ] || { echo "format-check: --files needs at least one file" >&2; exit 2; }
  clang-format --dry-run --Werror "$@" || exit 1
  echo "format-check: $# file(s) formatted"
  exit 0 ;;
--base) base=${2:?--base needs a revision} ;;
"")
  # shellcheck disable=SC2046
  set -- $(find bench common src tests -name '*.[ch]' | sort)
  clang-format --dry-run --Werror "$@" || exit 1
  echo "format-check: all $# C files formatted"
  exit 0 ;;
*) echo "usage: scripts/format-check.sh [--base REV | --files FILE...]" >&2; exit 2 ;;
esac
git rev-parse --verify -q "$base^{commit}" >/dev/null || { echo "format-check: no revision $base" >&2; exit 2; }
out=$(git diff -U0 --no-color "$base" -- '*.c' '*.h' | clang-format-diff -p1) || exit 2
untracked=$(git ls-files --others --exclude-standard -- '*.c' '*.h')
status=0
if [ -n "$out" ]; then printf '%s\n' "$out"; status=1; fi
# shellcheck disable=SC2086
if [ -n "$untracked" ] && ! clang-format --dry-run --Werror $untracked; then status=1; fi
[ $status = 0 ] && echo "format-check: the changes since $base are formatted"
exit $status
