#!/bin/sh
# gentasks: exact output, reproducibility, record shape and answers checked by an
# independent recomputation in Python, --from import with invalid items, --list, usage.
. "$(dirname "$0")/../lib.sh"

# --- exact output for seed 0 -------------------------------------------------
got=$(gentasks addition -n 1 --seed 0)
want='{"id":"addition-0","task":"addition","description":"few-shot addition of two numbers: \"2 + 4 = 6\\n4 + 2 =\" -> \"6\"","prompt":"3 + 1 = 4\n9 + 4 = 13\n0 + 7 = 7\n1 + 1 =","answer":"2","separator":" ","eval_questions":["Does the continuation start with the correct sum?"]}'
check_eq "addition-0 seed 0 exact line" "$got" "$want"
check_eq "--task is the same as an operand" "$(gentasks --task addition -n 1)" "$want"

# --- reproducibility ---------------------------------------------------------
gentasks --seed 42 -n 30 >"$TMP/a" && gentasks --seed 42 -n 30 >"$TMP/b" && gentasks --seed 43 -n 30 >"$TMP/c"
check "same seed, same bytes" cmp -s "$TMP/a" "$TMP/b"
if cmp -s "$TMP/a" "$TMP/c"; then failed "other seed, other bytes" "seeds 42 and 43 agree"; else pass "other seed, other bytes"; fi
gentasks --seed 42 -n 5 copy >"$TMP/p5"
check_eq "-n 5 is a prefix of -n 30" "$(cat "$TMP/p5")" "$(grep '"task":"copy"' "$TMP/a" | head -n 5)"

# --- every record, checked in Python -----------------------------------------
cat >"$TMP/check.py" <<'EOF'
import json, re, sys
BUILTIN = {"addition", "json", "facts", "facts-pairs", "counting", "days", "opposites", "alphabet", "plural", "copy"}
want_n = {k: int(v) for k, v in (a.split("=") for a in sys.argv[1:])}
recs = [json.loads(l) for l in sys.stdin]
count, errs = {}, []
for r in recs:
    t = r["task"]
    i = count.get(t, 0)
    count[t] = i + 1
    def bad(msg): errs.append("%s: %s" % (r.get("id"), msg))
    pairs = {"corrupt_prompt", "wrong_answer"} if t == "facts-pairs" else set()
    if set(r) - {"id", "task", "description", "prompt", "answer", "separator", "eval_questions"} - pairs: bad("extra field")
    if t == "facts-pairs" and not all(isinstance(r.get(k), str) and r[k] for k in pairs): bad("pair fields")
    for k in ("id", "task", "description", "prompt", "answer", "separator"):
        if not isinstance(r.get(k), str): bad("%s not a string" % k)
    if r["id"] != "%s-%d" % (t, i): bad("id out of order")
    if not r["prompt"] or not r["answer"]: bad("empty field")
    if not r["description"] and t in BUILTIN: bad("no description")
    if not all(isinstance(q, str) for q in r.get("eval_questions", [])): bad("eval_questions")
    if r["separator"] == " " and (r["prompt"][-1].isspace() or r["answer"][0].isspace()): bad("space at the cut")
    if t == "json":
        if r["separator"] != "": bad("json separator")
        try: json.loads(r["prompt"] + r["answer"])
        except ValueError as e: bad("not JSON: %s" % e)
    if t == "addition":
        lines = r["prompt"].split("\n")
        for l in lines[:-1]:
            a, b, c = map(int, re.fullmatch(r"(\d+) \+ (\d+) = (\d+)", l).groups())
            if a + b != c: bad("shot sum")
        a, b = map(int, re.fullmatch(r"(\d+) \+ (\d+) =", lines[-1]).groups())
        if int(r["answer"]) != a + b: bad("answer %s != %d" % (r["answer"], a + b))
    if t == "counting":
        v = [int(x) for x in r["prompt"].rstrip(",").split(", ")]
        if int(r["answer"]) != v[-1] + v[1] - v[0]: bad("count")
for t, n in want_n.items():
    if count.get(t) != n: errs.append("%s: %s records, want %d" % (t, count.get(t), n))
print("\n".join(errs[:10]) if errs else "ok")
EOF
gentasks >"$TMP/all"
nfacts=$(gentasks --list | $PY -c 'import json,sys; print([json.loads(l) for l in sys.stdin if "facts" in l][0]["n_available"])')
check_eq "facts lists at least 20" "$([ "$nfacts" -ge 20 ] && echo yes)" yes
check_eq "default: 20 per generated task, whole fixed list" \
  "$($PY "$TMP/check.py" addition=20 json=20 facts="$nfacts" facts-pairs=16 counting=20 days=20 opposites=20 alphabet=20 plural=20 copy=20 <"$TMP/all")" ok
gentasks -n 7 >"$TMP/n7"
check_eq "-n 7 for every task" \
  "$($PY "$TMP/check.py" addition=7 json=7 facts=7 facts-pairs=7 counting=7 days=7 opposites=7 alphabet=7 plural=7 copy=7 <"$TMP/n7")" ok
check_eq "addition --digits 4 --shots 5: sums recomputed" \
  "$(gentasks addition --digits 4 --shots 5 -n 200 --seed 9 | $PY "$TMP/check.py" addition=200)" ok
check_eq "json x300: prompt + answer is valid JSON" "$(gentasks json -n 300 --seed 3 | $PY "$TMP/check.py" json=300)" ok
check_eq "facts -n 45 cycles" "$(gentasks facts -n 45 | $PY "$TMP/check.py" facts=45)" ok
check_eq "facts-$nfacts repeats facts-0" "$(gentasks facts -n $((nfacts + 1)) | sed -n "1p;\$p" | $PY -c '
import json,sys; a, b = [json.loads(l) for l in sys.stdin]; print(a["prompt"] == b["prompt"] and b["id"] == "facts-'"$nfacts"'")')" True
check_grep "facts: Madrid" '"prompt":"Madrid is the capital of","answer":"Spain"' "$TMP/all"
check_eq "--task twice, order kept" "$(gentasks --task days --task counting --task days -n 1 | cut -d'"' -f4 | tr '\n' ' ')" "days-0 counting-0 "

# --- --from ------------------------------------------------------------------
FIX="$ROOT/tests/fixtures/tasks_sample.json"
gentasks --from "$FIX" >"$TMP/from" 2>"$TMP/from.err"; rc=$?
check_eq "--from: invalid items give exit 5" "$rc" 5
check_grep "--from: bad example reported with indexes" "task 0 (capitals), example 2" "$TMP/from.err"
check_grep "--from: non-object task reported" "task 1: not an object" "$TMP/from.err"
check_grep "--from: task without examples reported" "task 3 (broken)" "$TMP/from.err"
check_eq "--from: three problems on stderr" "$(wc -l <"$TMP/from.err" | tr -d ' ')" 3
check_eq "--from: the valid rest emitted" "$($PY "$TMP/check.py" capitals=3 colors=1 <"$TMP/from")" ok
check_eq "--from: records" "$($PY -c '
import json,sys
for l in sys.stdin:
    r = json.loads(l); print(r["id"], repr(r["prompt"]), repr(r["answer"]), repr(r["separator"]), r.get("eval_questions"), r["description"])' <"$TMP/from")" \
"capitals-0 'Paris is the capital of' 'France' ' ' ['Does the model name the right country?', 'Is it one word?'] capital cities
capitals-1 'Rome is the capital of' 'Italy' ' ' ['Does the model name the right country?', 'Is it one word?'] capital cities
capitals-2 '{\"city\": \"Lon' 'don\"}' '' ['Does the model name the right country?', 'Is it one word?'] capital cities
colors-0 'The colour of the sky is' 'blue' ' ' None "
gentasks --from "$FIX" --task colors -n 2 >"$TMP/from2" 2>/dev/null; rc=$?
check_eq "--from --task -n: cycles, exit 5 still" "$rc $(cut -d'"' -f4 "$TMP/from2" | tr '\n' ' ')" "5 colors-0 colors-1 "
gentasks --from "$FIX" --list >"$TMP/fromlist" 2>/dev/null
check_eq "--from --list" "$($PY -c 'import json,sys; print([(r["name"], r["n_available"]) for r in map(json.loads, sys.stdin)])' <"$TMP/fromlist")" \
  "[('capitals', 3), ('colors', 1)]"
printf '[{"name": "ok", "examples": [{"prompt": "a", "answer": "b"}]}]' >"$TMP/good.json"
gentasks --from "$TMP/good.json" >"$TMP/good.out" 2>"$TMP/good.err"; rc=$?
check_eq "--from valid file: exit 0, no stderr" "$rc $(wc -c <"$TMP/good.err" | tr -d ' ')" "0 0"
printf '{"name": "x"}' >"$TMP/obj.json"
gentasks --from "$TMP/obj.json" >/dev/null 2>&1; check_eq "--from not an array: exit 2" $? 2
printf '[{"name": ' >"$TMP/trunc.json"
gentasks --from "$TMP/trunc.json" >/dev/null 2>&1; check_eq "--from not JSON: exit 2" $? 2
gentasks --from "$TMP/missing.json" >/dev/null 2>"$TMP/miss.err"; check_eq "--from missing file: exit 2" $? 2
check_grep "--from missing file named" "missing.json" "$TMP/miss.err"

# --from keeps clean/corrupted pairs: gentasks' own facts-pairs records round-trip, and a
# task list may carry them; a pair member that is not a string is refused with its place.
gentasks facts-pairs -n 3 >"$TMP/pairs"
gentasks --from "$TMP/pairs" >"$TMP/pairs2" 2>"$TMP/pairs2.err"; rc=$?
check_eq "--from records: pairs kept, exit 0" "$rc $($PY -c '
import json,sys
a = [json.loads(l) for l in open(sys.argv[1])]; b = [json.loads(l) for l in open(sys.argv[2])]
key = lambda r: (r["id"], r["prompt"], r["answer"], r["corrupt_prompt"], r["wrong_answer"])
print("same" if list(map(key, a)) == list(map(key, b)) and len(a) == 3 else "differ")' "$TMP/pairs" "$TMP/pairs2")" "0 same"
printf '[{"name": "p", "examples": [{"prompt": "A is in", "answer": "X", "corrupt_prompt": "B is in", "wrong_answer": "Y"}, {"prompt": "C", "answer": "D", "corrupt_prompt": 7}]}]' >"$TMP/pairs.json"
gentasks --from "$TMP/pairs.json" >"$TMP/pairs3" 2>"$TMP/pairs3.err"; rc=$?
check_eq "--from list: pair fields written" "$rc $($PY -c '
import json,sys
for l in sys.stdin: r = json.loads(l); print(r["corrupt_prompt"], r["wrong_answer"])' <"$TMP/pairs3")" "5 B is in Y"
check_grep "--from list: non-string corrupt_prompt named" 'task 0 (p), example 1: "corrupt_prompt" is not a string' "$TMP/pairs3.err"
printf '{"task":"t","prompt":"a","answer":"b","wrong_answer":["x"]}\n{"task":"t","prompt":"c","answer":"d"}\n' >"$TMP/badpair.ndjson"
gentasks --from "$TMP/badpair.ndjson" >"$TMP/badpair.out" 2>"$TMP/badpair.err"; rc=$?
check_eq "--from records: bad pair line skipped, rest kept" "$rc $(wc -l <"$TMP/badpair.out" | tr -d ' ')" "5 1"
check_grep "--from records: bad pair line named" 'line 1 (t): "corrupt_prompt" or "wrong_answer" is not a string' "$TMP/badpair.err"

# --- --list ------------------------------------------------------------------
gentasks --list >"$TMP/list"
check_eq "--list: one object per task" "$($PY -c '
import json,sys
rs = [json.loads(l) for l in sys.stdin]
print(len(rs), all(r["description"] and ("generated" in r) != ("n_available" in r) for r in rs),
      [r["name"] for r in rs if r.get("generated")][:2], [r["name"] for r in rs if "n_available" in r])' <"$TMP/list")" \
  "10 True ['addition', 'json'] ['facts', 'facts-pairs']"
check_eq "--list --task" "$(gentasks --list --task json | cut -c1-15)" '{"name":"json",'

# --- stdin, output errors, usage -----------------------------------------------
mkfifo "$TMP/fifo"
exec 3<>"$TMP/fifo"
timeout 10 gentasks facts -n 1 <&3 >/dev/null; rc=$?
exec 3>&-
check_eq "does not read stdin" "$rc" 0
if [ -w /dev/full ]; then
  gentasks >/dev/full 2>"$TMP/full.err"; rc=$?
  check_eq "write error: exit 2" "$rc" 2
  check_grep "write error reported" "error writing output" "$TMP/full.err"
fi
for args in "nosuchtask" "--task nosuchtask" "-n 0" "-n abc" "-n -3" "-n" "--digits 10" "--digits 0" \
            "--shots -1" "--seed -1" "--seed x" "--bogus" "--from $FIX --task addition"; do
  # shellcheck disable=SC2086
  gentasks $args >"$TMP/u.out" 2>"$TMP/u.err"; rc=$?
  check_eq "usage error [$args]: exit 2, nothing on stdout" "$rc $(wc -c <"$TMP/u.out" | tr -d ' ')" "2 0"
done
check_grep "--from: unknown task message" "no task 'addition' in the --from file" "$TMP/u.err"
gentasks nosuchtask 2>"$TMP/u.err"
check_grep "unknown task message" "unknown task 'nosuchtask'" "$TMP/u.err"
gentasks -h >"$TMP/help"; rc=$?
check_eq "-h exits 0" "$rc" 0
check_grep "-h prints usage" "usage: gentasks" "$TMP/help"
check_grep "--help documents --from" "--from FILE" "$TMP/help"
