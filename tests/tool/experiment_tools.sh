#!/bin/sh
# scoreloss, topk, runlayers, tokenize on a synthetic checkpoint: numbers against the
# NumPy reference (tests/ref/tools_ref.py), prefix-shared sweeps against separate runs,
# pass-through of unknown fields, error records, exit statuses.
. "$(dirname "$0")/../lib.sh"
M=$TMP/model
tiny_model "$M"
cd "$TMP" || exit 1

cat > in.ndjson <<'EOF2'
{"id":1,"task":"facts","prompt":"Madrid is the capital of","answer":"Spain","keep": {"nested": [1, "x\u00e9"]}}
{"id":2,"task":"json","prompt":"{\"a\": 1, \"b\": \"","answer":"2\"}","separator":""}
{"id":3,"task":"count","prompt":"1, 2, 3,","answer":"4 5"}
EOF2

# Token ids of prompts (BOS first) and of separator + answer, from `tokenize`.
tokenize --model "$M" < in.ndjson > prompt_tok.ndjson
$PY -c '
import json, sys
for line in open("in.ndjson"):
    r = json.loads(line)
    print(json.dumps({"id": r["id"], "text": r.get("separator", " ") + r["answer"]}))' > answers.ndjson
tokenize --model "$M" --no-bos < answers.ndjson > answer_tok.ndjson
$PY -c '
import json
p = {json.loads(l)["id"]: json.loads(l)["tokens"] for l in open("prompt_tok.ndjson")}
a = {json.loads(l)["id"]: json.loads(l)["tokens"] for l in open("answer_tok.ndjson")}
for i in p: print(json.dumps({"id": i, "prompt_ids": p[i], "answer_ids": a[i]}))' > tokens.ndjson
check_eq "tokenize: BOS first" "$(head -c 40 prompt_tok.ndjson | grep -c '"tokens":\[50256,')" "0"
check_grep "tokenize: BOS in tokens" '"tokens":[50256,' prompt_tok.ndjson
check_grep "tokenize: exact token strings" '"token_strs":["<|endoftext|>","Mad","rid"," is"," the"," capital"," of"]' prompt_tok.ndjson

printf '%s\n' '{"text":"caf\u00e9 \u65e5\u672c <|endoftext|>\n\tx","n":1}' > text.ndjson
tokenize --model "$M" --no-bos < text.ndjson > enc.ndjson
check_grep "tokenize --no-bos: no BOS, special token in text" '"tokens":[66,1878,2634,10545,245,98,17312,105,220,50256,198,197,87]' enc.ndjson
check_grep "tokenize: partial UTF-8 bytes shown as U+FFFD" '" \ufffd","\ufffd","\ufffd"' enc.ndjson
$PY -c 'import json; r = json.load(open("enc.ndjson")); print(json.dumps({"tokens": r["tokens"], "n": 1}))' | tokenize --model "$M" --decode > dec.ndjson
check_eq "tokenize --decode restores the exact text" "$($PY -c 'import json; print(json.load(open("dec.ndjson"))["text"] == json.load(open("text.ndjson"))["text"])')" True
printf '%s\n' '{"tokens":[1,99999]}' '{"x":1}' | tokenize --model "$M" --decode > decbad.ndjson 2>/dev/null
check_eq "tokenize --decode: bad records exit 5" "$?" 5
check_grep "tokenize --decode: id out of range" '"error":"token id out of range"' decbad.ndjson
check_grep "tokenize --decode: missing tokens" '{"x":1,"error":"missing \"tokens\""}' decbad.ndjson

# ---- scoreloss
scoreloss --model "$M" --sweep drop-last < in.ndjson > sweep.ndjson
check_eq "scoreloss drop-last: 5 configurations x 3 records" "$(wc -l < sweep.ndjson)" 15
check_eq "scoreloss drop-last labels in order" "$(head -5 sweep.ndjson | sed 's/.*"label":"\([^"]*\)".*/\1/' | tr '\n' ,)" "intact,first 3,first 2,first 1,first 0,"
check_grep "scoreloss passes unknown fields byte-for-byte" '"keep":{"nested": [1, "x\u00e9"]}' sweep.ndjson
$PY "$ROOT/tests/ref/tools_ref.py" "$M" scoreloss sweep.ndjson tokens.ndjson
scoreloss --model "$M" --layers 3,1,1,0 --layers none --layers '[0,2]' < in.ndjson > custom.ndjson
check_eq "scoreloss custom configurations" "$(wc -l < custom.ndjson)" 9
$PY "$ROOT/tests/ref/tools_ref.py" "$M" scoreloss custom.ndjson tokens.ndjson
# Prefix-shared sweep gives the same numbers as each configuration run alone.
for spec in 0-3 0-2 0-1 0 none; do scoreloss --model "$M" --layers "$spec" < in.ndjson; done > alone.ndjson
$PY -c '
import json
def key(f): return sorted((json.loads(l)["id"], json.loads(l)["layers"], json.loads(l)["answer_token_losses"]) for l in open(f))
print("same" if key("sweep.ndjson") == key("alone.ndjson") else "different")' > cmp.txt
check_eq "prefix-shared sweep equals separate runs bit-for-bit" "$(cat cmp.txt)" same
# Records carrying their own layers.
echo '{"id":1,"prompt":"Madrid is the capital of","answer":"Spain","layers":[2,2],"label":"two twice"}' | scoreloss --model "$M" > own.ndjson
check_grep "record's own layers and label used" '"layers":[2,2],"label":"two twice"' own.ndjson

# ---- summary
scoreloss --summary < sweep.ndjson > summary.ndjson
check_eq "summary: one record per task x configuration" "$(wc -l < summary.ndjson)" 15
$PY -c '
import json
rows = [json.loads(l) for l in open("sweep.ndjson")]
s = {(r["task"], r["label"]): r for r in map(json.loads, open("summary.ndjson"))}
ok = all(abs(s[(r["task"], r["label"])]["mean_loss"] - r["answer_loss"]) < 1e-12 for r in rows)
intact = {r["task"]: r["answer_loss"] for r in rows if r["label"] == "intact"}
ok = ok and all(abs(s[(r["task"], r["label"])]["delta_loss"] - (r["answer_loss"] - intact[r["task"]])) < 1e-12 for r in rows)
print("ok" if ok else "bad")' > sum.txt
check_eq "summary means and deltas" "$(cat sum.txt)" ok
printf '%s\n' '{"task":"t","label":"intact","answer_loss":1.0,"answer_exact":true}' '{"task":"t","label":"intact","answer_loss":3.0,"answer_exact":false}' \
  '{"task":"t","label":"skip 1","answer_loss":5.0}' | scoreloss --summary > s2.ndjson
check_grep "summary n, mean, stderr, exact rate" '"n":2,"mean_loss":2,"stderr":1,"exact_rate":0.5,"delta_loss":0}' s2.ndjson
check_grep "summary delta against intact" '"label":"skip 1","layers":null,"n":1,"mean_loss":5,"stderr":0,"exact_rate":0,"delta_loss":3}' s2.ndjson

# ---- bad records: the stream goes on, the exit status says something failed
long=$($PY -c 'print(" ".join(["word"] * 200))')
printf '%s\n' '{"id":1,"prompt":"Madrid is the capital of","answer":"Spain"}' 'not json' '[1,2]' \
  '{"id":5,"answer":"x"}' '{"id":6,"prompt":"a","answer":"b","layers":[0,9]}' '{"id":7,"prompt":"a","answer":"b","layers":"x"}' \
  "{\"id\":8,\"prompt\":\"$long\",\"answer\":\"b\"}" '{"id":9,"prompt":"The","answer":"end"}' > bad.ndjson
scoreloss --model "$M" < bad.ndjson > bad.out 2> bad.err
check_eq "bad records: exit status 5" "$?" 5
check_eq "bad records: one output per input line" "$(wc -l < bad.out)" 8
check_grep "invalid JSON keeps line and text" '{"error":"invalid JSON","line":2,"input":"not json"}' bad.out
check_grep "non-object line" '{"error":"not a JSON object","line":3,"input":"[1,2]"}' bad.out
check_grep "missing prompt" '{"id":5,"answer":"x","error":"missing \"prompt\""}' bad.out
check_grep "layer out of range" '"error":"layer index 9 out of range 0..3"' bad.out
check_grep "layers of wrong type" '"error":"field \"layers\" must be an array of integers"' bad.out
check_grep "prompt longer than the context" 'exceeds the context window of 128' bad.out
check_grep "processing went on after errors" '{"id":9,"prompt":"The","answer":"end","layers":[0,1,2,3],"label":"intact","answer_loss"' bad.out
check_grep "diagnostic names the line" 'scoreloss: error (at <stdin>:2): invalid JSON' bad.err
scoreloss --model "$M" --sweep nope < in.ndjson > /dev/null 2> usage.err
check_eq "unknown sweep is a usage error" "$?" 2
check_grep "unknown sweep message" 'unknown sweep "nope"' usage.err
scoreloss --model "$M" --layers 0-9 < in.ndjson > /dev/null 2> usage.err
check_eq "out-of-range --layers is a usage error" "$?" 2
scoreloss --model "$TMP/nowhere" < in.ndjson > /dev/null 2>&1
check_eq "missing model is a usage error" "$?" 2

# ---- topk
topk --model "$M" --sweep skip-one -k 5 < in.ndjson > topk.ndjson
check_eq "topk skip-one: 5 configurations x 3 records" "$(wc -l < topk.ndjson)" 15
check_grep "topk intact has zero KL" '"kl_from_intact":0,' topk.ndjson
$PY "$ROOT/tests/ref/tools_ref.py" "$M" topk topk.ndjson tokens.ndjson 5
topk --model "$M" --layers 1,0,2 --positions all -k 3 < in.ndjson > topk_all.ndjson
check_eq "topk --positions all: one record per prompt position" "$(grep -c '"id":1,' topk_all.ndjson)" 7
$PY "$ROOT/tests/ref/tools_ref.py" "$M" topk topk_all.ndjson tokens.ndjson 3
# An empty --positions reads no row: a usage error before any record (it once reached a
# division by zero with --patch, SIGFPE).
printf '{"prompt":"a b c","corrupt_prompt":"a b d"}\n' > pp.ndjson
topk --model "$M" --positions "" --patch '[{"hook":"resid_pre","layer":1,"position":-1}]' < pp.ndjson > pos_empty.out 2> pos_empty.err
check_eq "topk --positions '' --patch: exit 2" "$?" 2
check_grep "topk --positions '': the message says what it needs" 'positions needs last, all or a list' pos_empty.err
check_eq "topk --positions '': no record written" "$(wc -c < pos_empty.out)" 0

# ---- runlayers
runlayers --model "$M" --sweep drop-last --max-tokens 6 < in.ndjson > gen.ndjson
check_eq "runlayers drop-last: 5 completions x 3 records" "$(wc -l < gen.ndjson)" 15
$PY "$ROOT/tests/ref/tools_ref.py" "$M" runlayers gen.ndjson tokens.ndjson
runlayers --model "$M" --sweep drop-last --max-tokens 6 --batch 1 < in.ndjson > gen1.ndjson
check "runlayers batched equals one record at a time" cmp gen.ndjson gen1.ndjson
runlayers --model "$M" --temperature 1.5 --top-k 50 --seed 7 --max-tokens 8 < in.ndjson > t7a.ndjson
runlayers --model "$M" --temperature 1.5 --top-k 50 --seed 7 --max-tokens 8 < in.ndjson > t7b.ndjson
runlayers --model "$M" --temperature 1.5 --top-k 50 --seed 8 --max-tokens 8 < in.ndjson > t8.ndjson
check "sampling is reproducible with a seed" cmp t7a.ndjson t7b.ndjson
if cmp -s t7a.ndjson t8.ndjson; then failed "another seed samples differently" "same output"; else pass "another seed samples differently"; fi
first=$($PY -c 'import json; print(json.loads(open("gen.ndjson").readline())["completion"])')
stop=$(printf '%s' "$first" | cut -c3-5)
runlayers --model "$M" --max-tokens 6 --stop "$stop" < in.ndjson | head -1 > stop.ndjson
check_grep "--stop ends the completion" '"finish_reason":"stop"' stop.ndjson
$PY -c '
import json, sys
r = json.loads(open("stop.ndjson").read()); stop = sys.argv[1]
print("ok" if stop not in r["completion"] and sys.argv[2].startswith(r["completion"]) else "bad")' "$stop" "$first" > stop.txt
check_eq "--stop text is cut before the stop string" "$(cat stop.txt)" ok
