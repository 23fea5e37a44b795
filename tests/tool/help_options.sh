#!/bin/sh
# help_options: every tool's --help names exactly the options the tool accepts.
#   - the long options of its getopt tables (src/TOOL.c through the preprocessor, so the
#     shared tables of common/ count) are the long options its --help names (text in
#     `backquotes`, which quotes other tools' command lines, left out), --help itself aside;
#   - its short options (the option string it gives tool_getopt) are the "-x" its --help
#     lists at the start of a line, -h aside;
#   - run with each long option its --help names, the tool neither calls it unknown nor
#     refuses it as another tool's ("--X is a scoreloss option"); the run is harmless: a
#     tiny model, no network, empty input, in a scratch directory.
. "$(dirname "$0")/../lib.sh"

# Every tool of src/ (a new tool is checked without being listed here).
TOOLS=$(cd "$ROOT/src" && ls *.c | sed "s/[.]c$//" | tr "\n" " ")
mkdir -p "$TMP/probe"
tiny_model "$TMP/probe/model"

# words: one per line, sorted, unique.
words() { tr ' ' '\n' | sed '/^$/d' | sort -u; }

for t in $TOOLS; do
  src="$ROOT/src/$t.c"
  help=$("$BIN/$t" --help 2>&1)
  check_eq "$t --help exits 0" "$?" 0
  help_long=$(printf '%s\n' "$help" | sed 's/`[^`]*`//g' | grep -oE -- '--[a-z][a-z0-9-]*' |
              sed 's/^--//' | grep -vx help | words)
  table_long=$(${CC:-cc} -E -P -std=c11 -D_GNU_SOURCE -I"$ROOT/common" "$src" |
               grep -oE '\{ *"[a-z][a-z0-9-]*" *, *[0-2] *,' | sed -E 's/\{ *"([^"]*)".*/\1/' |
               grep -vx help | words)
  if [ -z "$table_long" ]; then failed "$t: long options found in $src" "none"; continue; fi
  check_eq "$t: --help names every long option it accepts" \
    "$(comm -23 "$(printf '%s\n' "$table_long" >"$TMP/a"; echo "$TMP/a")" \
                "$(printf '%s\n' "$help_long" >"$TMP/b"; echo "$TMP/b")" | tr '\n' ' ')" ""
  check_eq "$t: every long option --help names is accepted" "$(comm -13 "$TMP/a" "$TMP/b" | tr '\n' ' ')" ""

  optstring=$(grep -oE 'tool_getopt\(argc, argv, "[^"]*"' "$src" | sed -E 's/.*"(.*)"/\1/')
  table_short=$(printf '%s' "$optstring" | tr -d ':' | fold -w1 | grep -vx h | words)
  help_short=$(printf '%s\n' "$help" | grep -oE '^ +-[a-zA-Z0-9]\b' | tr -d ' -' | grep -vx h | words)
  check_eq "$t: --help lists exactly its short options" "$(echo $help_short)" "$(echo $table_short)"

  # Run with each named long option (last on the line, so one that takes a value is
  # refused for the missing value before anything runs).
  sub=""
  [ "$t" = journal ] && sub=check
  unknown=""
  for o in $help_long; do
    err=$(cd "$TMP/probe" && env HOME="$TMP/probe" AUTOINTERP_MODEL="$TMP/probe/model" HF_HUB_OFFLINE=1 \
          OPENAI_BASE_URL=http://127.0.0.1:9/v1 OPENAI_API_KEY=none GNUPLOT=false \
          timeout 30 "$BIN/$t" $sub "--$o" </dev/null 2>&1 >/dev/null)
    printf '%s\n' "$err" | grep -qE "(unrecognized|unknown) option '--$o'|--$o is an? [a-z]+ option" &&
      unknown="$unknown --$o"
  done
  check_eq "$t: no option its --help names is unknown to it or another tool's" "$unknown" ""
done
