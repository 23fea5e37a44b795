#!/bin/sh
# progress: the record loop's progress line on stderr (common/base/progress.h) — shown
# under a pseudo-terminal once a run lasts over 2 s, with the total when stdin is a
# regular file; nothing when stderr is not a terminal or the run is short;
# AUTOINTERP_PROGRESS=0/1 forces it off/on; the data on stdout is unchanged.
. "$(dirname "$0")/../lib.sh"
M="$TMP/tiny"
tiny_model "$M"
unset AUTOINTERP_PROGRESS AUTOINTERP_PROGRESS_LABEL

# slow.py [--no-tty] OUT CMD...: runs CMD with stderr on a fresh pseudo-terminal (or a
# pipe with --no-tty) and stdout to OUT; feeds it one record, waits until CMD has read it
# (so CMD is in its record loop, however long it took to start), 2.3 s more — past the
# 2 s delay — then a second record.  What stderr showed goes to stdout.
cat >"$TMP/slow.py" <<'PY'
import fcntl, os, pty, struct, subprocess, sys, termios, time
args = sys.argv[1:]
tty = args[0] != "--no-tty"
if not tty:
    args = args[1:]
out, cmd = args[0], args[1:]
master, slave = pty.openpty() if tty else os.pipe()
r, w = os.pipe()
p = subprocess.Popen(cmd, stdin=r, stdout=open(out, "wb"), stderr=slave)
os.close(r), os.close(slave)
os.write(w, b'{"prompt":"one"}\n')
while struct.unpack("i", fcntl.ioctl(w, termios.FIONREAD, b"\0" * 4))[0] > 0:
    time.sleep(0.01)
time.sleep(2.3)
os.write(w, b'{"prompt":"two"}\n')
os.close(w)
shown = b""
while True:
    try:
        chunk = os.read(master, 4096)
    except OSError:   # EIO: the terminal's other side is closed
        break
    if not chunk:
        break
    shown += chunk
p.wait()
sys.stdout.buffer.write(shown)
PY
# pty CMD: the shell command CMD with stdin, stdout and stderr on a pseudo-terminal
# (script(1)); what the terminal showed goes to stdout.
pty() { script -qec "$1" /dev/null </dev/null; }
printf '{"prompt":"one"}\n{"prompt":"two"}\n' >"$TMP/in.ndjson"
tokenize --model "$M" <"$TMP/in.ndjson" >"$TMP/want.ndjson" 2>/dev/null

# --- a terminal, a slow run: shown; records on stdout unchanged -----------------
$PY "$TMP/slow.py" "$TMP/out.ndjson" tokenize --model "$M" >"$TMP/tty.txt"
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
$PY "$TMP/slow.py" --no-tty /dev/null tokenize --model "$M" >"$TMP/notty.txt"
check_eq "stderr not a terminal, slow run: nothing" "$(cat "$TMP/notty.txt")" ""
pty "tokenize --model '$M' <'$TMP/in.ndjson' 2>&1 >/dev/null" >"$TMP/short.txt"
check_eq "tty, short run: nothing" "$(cat "$TMP/short.txt")" ""
AUTOINTERP_PROGRESS=0 $PY "$TMP/slow.py" /dev/null tokenize --model "$M" >"$TMP/off.txt"
check_eq "tty, slow run, AUTOINTERP_PROGRESS=0: nothing" "$(cat "$TMP/off.txt")" ""
