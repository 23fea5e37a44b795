#!/bin/sh
# options: what every tool of src/ does with -h, --help, an unknown option, a value missing
# or not taken, an operand too many and an option value out of range: the exit status, the
# first line on stderr (the message, as a fixed text), what follows it on stderr (`help`:
# the whole -h text; `usage`: the usage, -h's text up to its first blank line; `-`:
# nothing) and an empty stdout; with -h/--help, status 0, the help on stdout and nothing on
# stderr.  The rows were captured from the tools as they were before tool_getopt,
# tool_no_operands and usage_arg_integer (common/base/tool.h) took this over (59736a1),
# except where a row is marked "(was ...)": a refused option is now named as written
# (--help=x, not -h; -Z from the cluster -Zh, not the program or the option before it).
. "$(dirname "$0")/../lib.sh"

mkdir -p "$TMP/run"
# run TOOL ARGS...: in a scratch directory, no model, no network; $TMP/out, $TMP/err, $rc.
run() {
  (cd "$TMP/run" && env HOME="$TMP/run" AUTOINTERP_MODEL="$TMP/run/none" HF_HUB_OFFLINE=1 \
     OPENAI_BASE_URL=http://127.0.0.1:9/v1 OPENAI_API_KEY=none GNUPLOT=false \
     timeout 30 "$@" </dev/null >"$TMP/out" 2>"$TMP/err")
  rc=$?
}

# Every tool of src/ parses its command line with tool_getopt, and has rows below.
for t in $(cd "$ROOT/src" && ls *.c | sed "s/[.]c$//"); do
  check_eq "$t uses tool_getopt" "$(grep -c 'tool_getopt(argc, argv, ' "$ROOT/src/$t.c")" 1
  run "$t" -h
  check_eq "$t -h: status, stderr" "$rc $(wc -c <"$TMP/err")" "0 0"
  cp "$TMP/out" "$TMP/help.$t"
  sed '/^$/,$d' "$TMP/help.$t" >"$TMP/usage.$t"
  check_eq "$t -h: the help starts with its usage" "$(head -c $((7 + ${#t})) "$TMP/help.$t")" "usage: $t"
  check_eq "$t -h: the help is more than its usage line" "$(test "$(wc -l <"$TMP/help.$t")" -gt 2 && echo yes)" yes
  grep -q "^[0-9]|[a-z-]*|$t[ |]" "$0" || failed "$t has rows in options.sh" "none"
done

# STATUS|AFTER|COMMAND|MESSAGE
while IFS='|' read -r want_rc want_after cmd want_msg; do
  case $want_rc in '#'*|'') continue ;; esac
  t=${cmd%% *}
  run $cmd
  if [ "$want_rc" = 0 ]; then
    got="$rc $(wc -c <"$TMP/err") $(cmp -s "$TMP/out" "$TMP/help.$t" && echo help || echo other)"
    check_eq "$cmd" "$got" "0 0 help"
    continue
  fi
  tail -n +2 "$TMP/err" >"$TMP/rest"
  if [ -s "$TMP/out" ]; then after="stdout: $(head -c 80 "$TMP/out")"
  elif cmp -s "$TMP/rest" "$TMP/help.$t"; then after=help
  elif cmp -s "$TMP/rest" "$TMP/usage.$t"; then after=usage
  elif [ ! -s "$TMP/rest" ]; then after=-
  else after="other: $(head -c 80 "$TMP/rest")"; fi
  check_eq "$cmd" "$rc|$after|$(head -n 1 "$TMP/err")" "$want_rc|$want_after|$want_msg"
done <<'ROWS'
0|help|agentstep -h|
0|help|agentstep --help|
2|usage|agentstep --no-such-option|agentstep: unknown option '--no-such-option'
2|usage|agentstep -Z|agentstep: unknown option '-Z'
2|usage|agentstep --help=x|agentstep: unknown option '--help=x'
2|usage|agentstep --journal|agentstep: option '--journal' needs a value
2|usage|agentstep extra|agentstep: unexpected argument 'extra'
# (was "unknown option 'agentstep'": the program's name)
2|usage|agentstep -Zh|agentstep: unknown option '-Z'
0|help|gentasks -h|
0|help|gentasks --help|
2|usage|gentasks --no-such-option|gentasks: unknown option '--no-such-option'
2|usage|gentasks -Z|gentasks: unknown option '-Z'
# (was "unknown option '-h'")
2|usage|gentasks --help=x|gentasks: unknown option '--help=x'
2|usage|gentasks --task|gentasks: option '--task' needs a value
2|usage|gentasks -n|gentasks: option '-n' needs a value
2|usage|gentasks --ll|gentasks: unknown option '--ll'
0|help|journal -h|
0|help|journal --help|
0|help|journal check -h|
0|help|journal check --help|
2|usage|journal check --no-such-option|journal: unknown option '--no-such-option'
2|usage|journal check -Z|journal: unknown option '-Z'
# (was "unknown option '-h'")
2|usage|journal check --help=x|journal: unknown option '--help=x'
2|usage|journal check --journal|journal: option '--journal' needs a value
2|usage|journal check extra|journal: unexpected argument 'extra'
0|help|judge -h|
0|help|judge --help|
2|help|judge --no-such-option|judge: unrecognized option '--no-such-option'
2|help|judge -Z|judge: invalid option -- 'Z'
2|help|judge --help=x|judge: option '--help' doesn't allow an argument
2|help|judge --journal|judge: option '--journal' requires an argument
2|-|judge extra|judge: unexpected argument "extra" (records come on stdin)
0|help|lens -h|
0|help|lens --help|
2|help|lens --no-such-option|lens: unrecognized option '--no-such-option'
2|help|lens -Z|lens: invalid option -- 'Z'
2|help|lens --help=x|lens: option '--help' doesn't allow an argument
2|help|lens --model|lens: option '--model' requires an argument
2|-|lens extra|lens: unexpected argument "extra"
0|help|loadgpt2 -h|
0|help|loadgpt2 --help|
2|help|loadgpt2 --no-such-option|loadgpt2: unrecognized option '--no-such-option'
2|help|loadgpt2 -Z|loadgpt2: invalid option -- 'Z'
2|help|loadgpt2 --help=x|loadgpt2: option '--help' doesn't allow an argument
2|help|loadgpt2 --out|loadgpt2: option '--out' requires an argument
2|-|loadgpt2 one two|loadgpt2: one model at a time (got "two" too)
0|help|report -h|
0|help|report --help|
2|usage|report --no-such-option|report: unknown option '--no-such-option'
2|usage|report -Z|report: unknown option '-Z'
# (was "unknown option '-h'")
2|usage|report --help=x|report: unknown option '--help=x'
2|usage|report --journal|report: option '--journal' needs a value
2|usage|report extra|report: unexpected argument 'extra'
0|help|runlayers -h|
0|help|runlayers --help|
2|help|runlayers --no-such-option|runlayers: unrecognized option '--no-such-option'
2|help|runlayers -Z|runlayers: invalid option -- 'Z'
2|help|runlayers --help=x|runlayers: option '--help' doesn't allow an argument
2|help|runlayers --model|runlayers: option '--model' requires an argument
2|-|runlayers extra|runlayers: unexpected argument "extra" (records come on stdin)
0|help|scoreloss -h|
0|help|scoreloss --help|
2|help|scoreloss --no-such-option|scoreloss: unrecognized option '--no-such-option'
2|help|scoreloss -Z|scoreloss: invalid option -- 'Z'
2|help|scoreloss --help=x|scoreloss: option '--help' doesn't allow an argument
2|help|scoreloss --model|scoreloss: option '--model' requires an argument
2|-|scoreloss extra|scoreloss: unexpected argument "extra" (records come on stdin)
0|help|tokenize -h|
0|help|tokenize --help|
2|help|tokenize --no-such-option|tokenize: unrecognized option '--no-such-option'
2|help|tokenize -Z|tokenize: invalid option -- 'Z'
2|help|tokenize --help=x|tokenize: option '--help' doesn't allow an argument
2|help|tokenize --model|tokenize: option '--model' requires an argument
2|-|tokenize extra|tokenize: unexpected argument "extra" (records come on stdin)
0|help|topk -h|
0|help|topk --help|
2|help|topk --no-such-option|topk: unrecognized option '--no-such-option'
2|help|topk -Z|topk: invalid option -- 'Z'
2|help|topk --help=x|topk: option '--help' doesn't allow an argument
2|help|topk --model|topk: option '--model' requires an argument
2|help|topk -k|topk: option requires an argument -- 'k'
2|-|topk extra|topk: unexpected argument "extra" (records come on stdin)
2|usage|gentasks -n 0|gentasks: -n needs a whole number in 1..10000000, not '0'
2|usage|gentasks --seed -1|gentasks: --seed needs a whole number in 0..18446744073709551615, not '-1'
2|usage|gentasks --digits x|gentasks: --digits needs a whole number in 1..9, not 'x'
2|usage|gentasks --shots 99999|gentasks: --shots needs a whole number in 0..50, not '99999'
2|usage|gentasks --llm-tasks 0|gentasks: --llm-tasks needs a whole number in 1..50, not '0'
2|usage|report --samples 2000|report: --samples needs a whole number in 0..1000, not '2000'
2|usage|report --journal j --topk-rows -1|report: --topk-rows needs a whole number in 0..1000, not '-1'
2|usage|journal lock --journal j --fd x|journal: --fd needs a whole number in 0..2147483647, not 'x'
2|usage|journal lock --journal j --fd 3 --pid -5|journal: --pid needs a whole number in 0..2147483647, not '-5'
# (was "unknown option '-q'")
2|usage|journal check --quiet=x|journal: unknown option '--quiet=x'
2|usage|journal check -qZ|journal: unknown option '-Z'
2|usage|gentasks -Zn|gentasks: unknown option '-Z'
2|usage|report --no-plots -Zh|report: unknown option '-Z'
# (was "unknown option '--finish'")
2|usage|agentstep --finish -Zh|agentstep: unknown option '-Z'
2|help|judge -Zh|judge: invalid option -- 'Z'
2|help|judge extra --nope|judge: unrecognized option '--nope'
2|help|tokenize --no-bos extra -Z|tokenize: invalid option -- 'Z'
2|-|topk -k 0|topk: -k needs a whole number in 1..100000, not '0'
2|-|loadgpt2 --seed -1|loadgpt2: --seed needs a whole number in 0..18446744073709551615, not '-1'
2|-|runlayers --temperature nan|runlayers: --temperature needs a number in 0..1000, not 'nan'
ROWS
