#!/bin/sh
# progress: the record loop's progress line on stderr (common/base/progress.h) — shown
# under a pseudo-terminal once a run lasts over 2 s, with the total when stdin is a
# regular file; nothing when stderr is not a terminal or the run is short;
# AUTOINTERP_PROGRESS=0/1 forces it off/on; the data on stdout is unchanged.
. "$(dirname "$0")/../lib.sh"
M="$TMP/tiny"
tiny_model "$M"
unset AUTOINTERP_PROGRESS AUTOINTERP_PROGRESS_LABEL

# pty CMD: runs the shell command CMD with stdin, stdout and stderr on a fresh
# pseudo-terminal (script(1)); what the terminal shows goes to stdout.
pty() { script -qec "$1" /dev/null </dev/null; }
# slow.sh: two records 2.3 s apart, so that the run lasts over the 2 s delay.
printf '%s\n' "printf '{\"prompt\":\"one\"}\\n'; sleep 2.3; printf '{\"prompt\":\"two\"}\\n'" >"$TMP/slow.sh"
printf '{"prompt":"one"}\n{"prompt":"two"}\n' >"$TMP/in.ndjson"
tokenize --model "$M" <"$TMP/in.ndjson" >"$TMP/want.ndjson" 2>/dev/null

# --- a terminal, a slow run: shown; records on the pipe's stdout unchanged -----
pty "sh '$TMP/slow.sh' | tokenize --model '$M' 2>&1 >'$TMP/out.ndjson'" >"$TMP/tty.txt"
check_grep "tty, slow pipe: records done and rate" "tokenize: 2 records  " "$TMP/tty.txt"
check_grep "tty, slow pipe: elapsed" " elapsed" "$TMP/tty.txt"
check "tty: stdout unchanged" cmp -s "$TMP/out.ndjson" "$TMP/want.ndjson"
if grep -q "ETA" "$TMP/tty.txt"; then failed "tty, pipe: no total, no ETA" "$(cat "$TMP/tty.txt")"; else pass "tty, pipe: no total, no ETA"; fi

# --- a regular file on stdin: the total and the ETA -----------------------------
# (a file is read at once, so this run is forced on rather than made to last 2 s)
AUTOINTERP_PROGRESS=1 tokenize --model "$M" <"$TMP/in.ndjson" 2>"$TMP/forced.txt" >"$TMP/out2.ndjson"
check_grep "forced, file: done/total and percent" "tokenize: 2/2 records (100%)" "$TMP/forced.txt"
check_grep "forced, file: ETA" "ETA 0:00" "$TMP/forced.txt"
check_eq "forced: the line ends with a newline" "$(tail -c 1 "$TMP/forced.txt" | od -An -c | tr -d ' ')" '\n'
check "forced: stdout unchanged" cmp -s "$TMP/out2.ndjson" "$TMP/want.ndjson"
printf '{"prompt":"a"}\n\n  \nnot json\n{"prompt":"b"}\n' >"$TMP/mixed.ndjson"
AUTOINTERP_PROGRESS=1 AUTOINTERP_PROGRESS_LABEL="facts drop-last" tokenize --model "$M" <"$TMP/mixed.ndjson" 2>"$TMP/mixed.txt" >/dev/null
check_grep "blank lines not counted, a bad line counted; the label" "tokenize [facts drop-last]: 3/3 records" "$TMP/mixed.txt"
check_grep "the error diagnostic still reaches stderr" "tokenize: error (at <stdin>:4)" "$TMP/mixed.txt"

# --- nothing when it should not show -------------------------------------------
sh "$TMP/slow.sh" | tokenize --model "$M" >/dev/null 2>"$TMP/notty.txt"
check_eq "stderr not a terminal, slow run: nothing" "$(cat "$TMP/notty.txt")" ""
pty "tokenize --model '$M' <'$TMP/in.ndjson' 2>&1 >/dev/null" >"$TMP/short.txt"
check_eq "tty, short run: nothing" "$(cat "$TMP/short.txt")" ""
pty "sh '$TMP/slow.sh' | AUTOINTERP_PROGRESS=0 tokenize --model '$M' 2>&1 >/dev/null" >"$TMP/off.txt"
check_eq "tty, slow run, AUTOINTERP_PROGRESS=0: nothing" "$(cat "$TMP/off.txt")" ""
