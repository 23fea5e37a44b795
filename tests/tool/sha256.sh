#!/bin/sh
# sha256.sh: common/io/sha256 against python's hashlib on files of block-boundary and
# larger sizes (test_sha256 FILE prints the digest).
. "$(dirname "$0")/../lib.sh"
UNIT=${UNIT:-$ROOT/build/release/tests}
for n in 0 1 55 56 63 64 65 1000 65536 1048577 3000001; do
  $PY -c "import os,sys; sys.stdout.buffer.write(os.urandom($n))" > "$TMP/f$n"
  want=$($PY -c "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())" "$TMP/f$n")
  got=$("$UNIT/test_sha256" "$TMP/f$n" | cut -d' ' -f1)
  check_eq "sha256 $n bytes vs hashlib" "$got" "$want"
done
if "$UNIT/test_sha256" "$TMP/missing" >/dev/null 2>"$TMP/err"; then
  failed "missing file" "exited 0"
else
  check_grep "missing file message" "$TMP/missing" "$TMP/err"
fi
