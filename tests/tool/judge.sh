#!/bin/sh
# judge.sh: `judge` without an LLM — the offline judges on hand-written completions with
# known verdicts (answer at the start, the prompt's last token repeated, n-gram loops of
# pieces and of tokens, the share of English words, valid / invalid / unfinished JSON),
# bad records, --summary against an independent computation (tests/ref: Python here),
# and the pipeline gentasks | runlayers --sweep drop-last | judge | judge --summary.
. "$(dirname "$0")/../lib.sh"
unset OPENAI_API_KEY OPENAI_BASE_URL
val() { $PY -c 'import json,sys; L=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; print(eval(sys.argv[2]))' "$1" "$2"; }
# verdicts FILE N: "judge=verdict" of record N's judgements, space-separated
verdicts() { val "$1" '" ".join("%s=%s" % (j["judge"], j["verdict"]) for j in L['"$2"']["judgements"])'; }

$PY - "$TMP/cases.ndjson" <<'PYEOF'
import json, sys
facts = {"task": "facts", "prompt": "Madrid is the capital of", "answer": "Spain", "separator": " ",
         "eval_questions": ["Does the continuation state the correct fact?"], "layers": [0, 1], "label": "intact"}
js = {"task": "json", "prompt": '{"a": "gar', "answer": 'den"}', "separator": "", "layers": [0, 1], "label": "intact"}
def rec(base, completion, **kw):
    r = dict(base); r["completion"] = completion; r.update(kw); return r
cases = [
    rec(facts, " Spain, and the largest city."),                          # 0
    rec(facts, " of of of of of", layers=[0], label="first 1"),           # 1
    rec(facts, " Spainish food", layers=[0], label="first 1"),            # 2
    rec(js, 'den"}\n\nThe'),                                              # 3
    rec(js, 'den", }'),                                                   # 4
    rec(js, 'den", "b": [1, 2'),                                          # 5
    rec(facts, " xqzt blorf the cat", layers=[], label="first 0"),        # 6
    rec(facts, "", layers=[], label="first 0"),                           # 7
    rec(facts, " a b a b a b", completion_tokens=[5, 6, 5, 6, 5, 6]),     # 8
    {"task": "counting", "prompt": "1, 2, 3, 4,", "answer": "5", "completion": " 5, 6, 7, 8"},   # 9
    {"task": "counting", "prompt": "16, 18, 20, 22,", "answer": "24", "completion": ",,,,"},     # 10
]
with open(sys.argv[1], "w") as f:
    for c in cases: f.write(json.dumps(c) + "\n")
PYEOF
judge < "$TMP/cases.ndjson" > "$TMP/cases.out" 2> "$TMP/cases.err"
check_eq "offline: exit 0" $? 0
check_eq "answer stated, English" "$(verdicts "$TMP/cases.out" 0)" "answer-start=yes repeats-last-token=no ngram-loop=no english-words=yes"
check_eq "last token repeated, a loop" "$(verdicts "$TMP/cases.out" 1)" "answer-start=no repeats-last-token=yes ngram-loop=yes english-words=yes"
check_eq "repeats: the share" "$(val "$TMP/cases.out" '[(j["score"], j["reason"]) for j in L[1]["judgements"] if j["judge"] == "repeats-last-token"]')" \
  "[(1, '5 of 5 pieces are the prompt\\'s last token \"of\"')]"
check_eq "answer-start: a longer word is not the answer" "$(verdicts "$TMP/cases.out" 2)" "answer-start=no repeats-last-token=no ngram-loop=no english-words=no"
check_eq "json: complete, then more text" "$(verdicts "$TMP/cases.out" 3)" "answer-start=yes repeats-last-token=no ngram-loop=no english-words=yes valid-json=yes"
check_eq "json: invalid" "$(val "$TMP/cases.out" '[j["reason"] for j in L[4]["judgements"] if j["judge"] == "valid-json"]')" \
  "['invalid JSON at byte 6 of the completion: \"}\"']"
check_eq "json: unfinished is unsure" "$(val "$TMP/cases.out" '[j["verdict"] for j in L[5]["judgements"] if j["judge"] == "valid-json"]')" "['unsure']"
check_eq "english: 2 of 4 words" "$(val "$TMP/cases.out" '[(j["verdict"], j["score"]) for j in L[6]["judgements"] if j["judge"] == "english-words"]')" "[('no', 0.5)]"
check_eq "empty completion" "$(verdicts "$TMP/cases.out" 7)" "answer-start=no repeats-last-token=unsure ngram-loop=unsure english-words=unsure"
check_eq "loop of tokens (bigram x3)" "$(val "$TMP/cases.out" '[(j["verdict"], j["reason"]) for j in L[8]["judgements"] if j["judge"] == "ngram-loop"]')" \
  "[('yes', 'tokens 0..1 (2 tokens) 3 times in a row: 6 of 6 tokens')]"
check_eq "counting: no loop, no words" "$(verdicts "$TMP/cases.out" 9)" "answer-start=yes repeats-last-token=no ngram-loop=no english-words=unsure"
check_eq "punctuation repeated" "$(verdicts "$TMP/cases.out" 10)" "answer-start=no repeats-last-token=yes ngram-loop=yes english-words=unsure"
check_eq "eval questions left unjudged" "$(val "$TMP/cases.out" '(L[0]["unjudged"], "unjudged" in L[3])')" \
  "(['Does the continuation state the correct fact?'], False)"
check_grep "no LLM said" "judge: warning: no LLM" "$TMP/cases.err"
check_eq "input fields pass through byte for byte" \
  "$($PY -c 'import json,sys
a=[json.loads(l) for l in open(sys.argv[1])]; b=[json.loads(l) for l in open(sys.argv[2])]
print(all({k: v for k, v in y.items() if k not in ("judgements", "unjudged")} == x for x, y in zip(a, b)) and len(a) == len(b))' "$TMP/cases.ndjson" "$TMP/cases.out")" True
judge --question "Is it grammatical?" < "$TMP/cases.ndjson" 2>/dev/null | head -1 > "$TMP/q.out"
check_eq "--question joins the questions" "$(val "$TMP/q.out" 'L[0]["unjudged"]')" "['Does the continuation state the correct fact?', 'Is it grammatical?']"
judge --words "$TMP/nowords" < /dev/null > /dev/null 2>&1
check_eq "--words unreadable: usage error" $? 2
printf 'a\nthe\n' > "$TMP/words"
head -1 "$TMP/cases.ndjson" | judge --words "$TMP/words" > "$TMP/w.out" 2>/dev/null
check_eq "--words: another list" "$(val "$TMP/w.out" '[j["reason"] for j in L[0]["judgements"] if j["judge"] == "english-words"]')" \
  "['1 of 5 words are English; not: \"Spain\"']"

# ---------------------------------------------------------------- bad records
printf '%s\n' '{"prompt":"x"}' 'not json' '{"error":"upstream","prompt":"x"}' \
  '{"prompt":"x","completion":"y","eval_questions":"q"}' '{"prompt":"x","completion":"y"}' > "$TMP/bad.ndjson"
judge < "$TMP/bad.ndjson" > "$TMP/bad.out" 2> "$TMP/bad.err"
check_eq "bad records: exit 5" $? 5
check_eq "bad records: one line each, in order" "$(val "$TMP/bad.out" '[r.get("error", "ok")[:40] for r in L]')" \
  "['no \"completion\" (judge reads runlayers r', 'invalid JSON', 'upstream', '\"eval_questions\" must be an array of str', 'ok']"
check_grep "bad records: stderr names the line" "judge: error (at <stdin>:1): no \"completion\"" "$TMP/bad.err"

# ---------------------------------------------------------------- --summary
judge --summary < "$TMP/cases.out" > "$TMP/sum.out"
check_eq "--summary: exit 0" $? 0
check_eq "--summary: yes-rate and stderr as computed independently" "$($PY - "$TMP/cases.out" "$TMP/sum.out" <<'PYEOF'
import json, math, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
got = [json.loads(l) for l in open(sys.argv[2])]
groups = {}
for r in recs:
    for j in r["judgements"]:
        groups.setdefault((r.get("task", ""), r.get("label", ""), j["question"]), []).append(j["verdict"] == "yes")
ok = len(got) == len(groups)
for g in got:
    v = groups[(g["task"], g["label"], g["question"])]
    n, p = len(v), sum(v) / len(v)
    se = math.sqrt(sum((x - p) ** 2 for x in v) / (n - 1) / n) if n > 1 else 0
    ok &= g["n"] == n and abs(g["yes_rate"] - p) < 1e-12 and abs(g["stderr"] - se) < 1e-12
    intact = groups.get((g["task"], "intact", g["question"]))
    want = None if intact is None else p - sum(intact) / len(intact)
    ok &= (g["delta_yes_rate"] is None) == (want is None) and (want is None or abs(g["delta_yes_rate"] - want) < 1e-12)
print(ok, len(got))
PYEOF
)" "True 21"
check_eq "--summary: a row" "$(val "$TMP/sum.out" '[(r["n"], r["yes"], r["no"], r["unsure"], r["delta_yes_rate"]) for r in L if r["label"] == "first 0" and r["judge"] == "english-words"]')" \
  "[(2, 0, 1, 1, -1)]"
judge --summary --table < "$TMP/cases.out" > "$TMP/table.out"
check_grep "--summary --table: Markdown" "| facts | first 1 | Does the completion only repeat the prompt's last token? | repeats-last-token | 2 | 0.50 | 0.50 | +0.50 | 1 / 1 / 0 |" "$TMP/table.out"
judge --summary < "$TMP/cases.ndjson" > /dev/null 2>&1
check_eq "--summary of records never judged: exit 5" $? 5
judge --table < /dev/null > /dev/null 2>&1
check_eq "--table without --summary: usage error" $? 2

# ---------------------------------------------------------------- the pipeline
tiny_model "$TMP/tiny"
gentasks facts -n 3 | runlayers --model "$TMP/tiny" --sweep drop-last --max-tokens 8 | judge | judge --summary > "$TMP/pipe.out" 2> "$TMP/pipe.err"
check_eq "pipeline: exit 0" $? 0
check_eq "pipeline: 5 configurations x 4 offline questions, 3 examples each" \
  "$(val "$TMP/pipe.out" '(len(L), sorted(set(r["n"] for r in L)), [r["label"] for r in L][::4])')" \
  "(20, [3], ['intact', 'first 3', 'first 2', 'first 1', 'first 0'])"

# ---------------------------------------------------------------- the report
J="$TMP/j.ndjson"
printf '{"model":%s}\n' "$(loadgpt2 "$TMP/tiny")" | journal append -q --journal "$J" --kind meta
gentasks facts -n 3 | runlayers --model "$TMP/tiny" --sweep drop-last --max-tokens 8 | judge 2>/dev/null |
  journal append --journal "$J" --kind result --experiment facts/speaks --tool judge | judge --summary > "$TMP/jsum.out"
report --journal "$J" --out "$TMP/rep" --no-plots > /dev/null 2>&1
check_eq "report: exit 0" $? 0
check_grep "report: how it speaks" "### How it speaks" "$TMP/rep/report.md"
check_eq "report: every yes-rate as judge --summary gives it" "$($PY - "$TMP/jsum.out" "$TMP/rep/report.md" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
md = open(sys.argv[2]).read()
ok = True
for r in rows:
    delta = "%+.2f" % r["delta_yes_rate"] if r["delta_yes_rate"] is not None else "\u2014"
    line = "| %s | %s | %s | %d | %.2f \u00b1 %.2f | %s | %d / %d / %d |" % (
        r["label"], r["question"].replace("'", "'"), r["judge"], r["n"], r["yes_rate"], r["stderr"], delta, r["yes"], r["no"], r["unsure"])
    ok &= line in md
print(ok, len(rows))
PYEOF
)" "True 20"
check_grep "report: the completions of judge records" "| first 0 | The Eiffel Tower is located in the city of |" "$TMP/rep/report.md"
if command -v gnuplot > /dev/null 2>&1; then
  report --journal "$J" --out "$TMP/rep2" > /dev/null 2>&1
  check "report: yes-rate against blocks kept" test -s "$TMP/rep2/speaks_1.svg"
  check_eq "report: its data, 5 points per question" "$(grep -c '^[0-9]' "$TMP/rep2/speaks_1.dat")" 20
fi

# ---------------------------------------------------------------- verdict records
echo '{"question":"q","prompt":"p","completion":"c","verdict":"yes"}' | journal append -q --journal "$TMP/v.ndjson" --kind verdict
check_eq "journal: a verdict record" $? 0
echo '{"question":"q","prompt":"p"}' | journal append -q --journal "$TMP/v.ndjson" --kind verdict > /dev/null 2> "$TMP/v.err"
check_eq "journal: a verdict record needs its fields: exit 5" $? 5
check_grep "journal: says which" 'a verdict record needs "completion"' "$TMP/v.err"

# ---------------------------------------------------------------- valid-json against Python's json
# 400 json-task records: gentasks' documents completed exactly, cut short, with a byte
# changed, or with text after them.  "yes" exactly when Python's json.JSONDecoder
# raw_decode reads one whole value from prompt + completion that ends in the completion;
# for the others, "no" exactly when no continuation could make the text valid JSON
# (Python: parsing text + each of a set of closers fails before the end of text).
gentasks json -n 100 --seed 3 > "$TMP/json.tasks"
$PY - "$TMP/json.tasks" "$TMP/json.ndjson" <<'PYEOF'
import json, random, sys
rng = random.Random(7)
out = open(sys.argv[2], "w")
for l in open(sys.argv[1]):
    r = json.loads(l)
    doc = r["prompt"] + r["answer"]
    cut = len(r["prompt"])
    variants = [r["answer"], r["answer"][: max(0, len(r["answer"]) - 2)], r["answer"] + "\n\nThe end", ""]
    a = list(r["answer"] + "}")
    a[rng.randrange(len(a))] = rng.choice(['"', ':', ',', 'x', ']', '}', '{', ' '])
    variants[3] = "".join(a)
    for v in variants:
        out.write(json.dumps(dict(r, completion=v)) + "\n")
PYEOF
judge --offline < "$TMP/json.ndjson" > "$TMP/json.out" 2>/dev/null
check_eq "valid-json: agrees with Python's json on 400 completions" "$($PY - "$TMP/json.out" <<'PYEOF'
import json, sys
dec = json.JSONDecoder()
def python_verdict(prompt, completion):
    text = prompt + completion
    try:
        value, end = dec.raw_decode(text)
        return "yes" if end > len(prompt) else "unsure"
    except ValueError as e:
        pos = getattr(e, "pos", 0)
    # Invalid for good when the error lies before the end of the text whatever follows;
    # an unfinished document fails only at its end (or inside its last string).
    for closer in ["", '"', "0", '"}', "]", "}", '"]', '"}]}', "]}", "}]}", '"}}', "}}", '"]}', "0}", "0]}", '": 0}',
                   '"}]}]}', "}}}", "]]]", '"}}}']:
        try:
            dec.raw_decode(text + closer)
            return "unsure"
        except ValueError:
            pass
    return "no" if pos < len(text) else "unsure"
bad = []
n = 0
for l in open(sys.argv[1]):
    r = json.loads(l)
    got = [j["verdict"] for j in r["judgements"] if j["judge"] == "valid-json"][0]
    want = python_verdict(r["prompt"], r["completion"])
    n += 1
    if got != want:
        bad.append((r["prompt"][-30:], r["completion"], got, want))
print(n, len(bad), bad[:3])
PYEOF
)" "400 0 []"
check_eq "valid-json: the exact completions are all valid" "$(val "$TMP/json.out" 'sum(1 for r in L[0::4] for j in r["judgements"] if j["judge"] == "valid-json" and j["verdict"] == "yes")')" 100
