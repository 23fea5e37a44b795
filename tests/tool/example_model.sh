#!/bin/sh
# example_model.sh: known answers on the small GPT-2 shipped in examples/model/ (trained by
# examples/model/train.py on gentasks' tasks with --seed 101; see examples/model/README.md).
# On fresh examples (--seed 7, never trained on): at least 90% exact match on every task;
# the embeddings alone (--layers none) fail; activation patching on facts-pairs restores the
# clean answer where the information is and nowhere else; every unused token's logit is
# exactly -30 (it never wins); the numbers agree with the NumPy reference.
. "$(dirname "$0")/../lib.sh"
M=${EXAMPLE_MODEL:-$ROOT/examples/model}   # EXAMPLE_MODEL: another checkpoint of train.py, while training
SEED=7
TASKS="facts facts-pairs addition counting days opposites alphabet plural copy json"
cd "$TMP" || exit 1

check "the shipped model loads (F16, all 50257 rows)" sh -c \
  "loadgpt2 '$M' | grep -q '\"vocab\":50257,.*\"dtype\":\"F16\"'"

# ---------------------------------------------------------------- known answers
for t in $TASKS; do gentasks "$t" -n 50 --seed $SEED; done > fresh.ndjson
scoreloss --model "$M" --layers all --layers none < fresh.ndjson > scored.ndjson
check_eq "scoreloss on 500 fresh examples x 2 configurations: exit 0" "$?" 0
scoreloss --summary < scored.ndjson > summary.ndjson
for t in $TASKS; do
  rate=$(val summary.ndjson "[r['exact_rate'] for r in L if r['task'] == '$t' and r['label'] == 'intact'][0]")
  check "$t: exact match >= 90% on fresh examples (got $rate)" $PY -c "import sys; sys.exit(not $rate >= 0.9)"
done
none=$(val summary.ndjson "max(r['exact_rate'] for r in L if r['label'] == 'none')")
check "--layers none (embeddings only) fails: exact match <= 25% on every task (got at most $none)" \
  $PY -c "import sys; sys.exit(not $none <= 0.25)"
check "--layers none: the loss rises by more than 2 nats on average" $PY -c "
import json, sys
L = [json.loads(l) for l in open('summary.ndjson')]
d = [r['delta_loss'] for r in L if r['label'] == 'none']
sys.exit(not sum(d) / len(d) > 2)"

# ---------------------------------------------------------------- activation patching
# facts-pairs: "The Eiffel Tower is located in the city of" -> Paris, corrupted "The
# Colosseum ..." -> Rome.  The clean run prefers the clean answer, the corrupted run the
# wrong one; patching the residual stream at the last position entering the last block
# restores the clean answer (the information has moved there), patching it entering
# block 0 changes nothing where the last token is the same in both prompts (all pairs but
# "... in New" / "... in San"), and some changed token (the subject) carries the answer
# in block 0.
gentasks facts-pairs --seed $SEED > pairs.ndjson
scoreloss --model "$M" --patch-sweep < pairs.ndjson > grid.ndjson
check_eq "patch sweep on facts-pairs: exit 0" "$?" 0
cat > patch.py <<'EOF'
import json, sys
R = [json.loads(l) for l in open("grid.ndjson")]
L = max(r["layer"] for r in R) + 1
width = {}
for r in R: width[r["id"]] = max(width.get(r["id"], 0), r["position"] + 1)
base = {r["id"]: (r["clean_logit_diff"], r["corrupt_logit_diff"]) for r in R}
def effect(rows):   # batch-normalised, as the notes and the report
    p = sum(r["logit_diff"] for r in rows) / len(rows)
    c = sum(base[r["id"]][0] for r in rows) / len(rows)
    k = sum(base[r["id"]][1] for r in rows) / len(rows)
    return (p - k) / (c - k)
last = lambda l: [r for r in R if r["layer"] == l and r["position"] == width[r["id"]] - 1]
what = sys.argv[1]
if what == "clean":
    print(min(c for c, k in base.values()))
elif what == "corrupt":
    print(max(k for c, k in base.values()))
elif what == "last-block":
    rows = last(L - 1)
    print("%.3f %.3f" % (effect(rows), sum(r["answer_exact"] for r in rows) / len(rows)))
elif what == "first-block":   # pairs whose last token is the same: not one bit changes
    rows = [r for r in last(0) if r["token"] == r["corrupt_token"]]
    print("%d %g" % (len(rows), max(abs(r["logit_diff"] - base[r["id"]][1]) for r in rows)))
elif what == "subject":
    best = {}
    for r in R:
        if r["layer"] == 0 and r["token"] != r["corrupt_token"]:
            best[r["id"]] = max(best.get(r["id"], -1e9), r["logit_diff"])
    c = sum(base[i][0] for i in best) / len(best)
    k = sum(base[i][1] for i in best) / len(best)
    print("%.3f" % ((sum(best.values()) / len(best) - k) / (c - k)))
EOF
clean=$($PY patch.py clean)
corrupt=$($PY patch.py corrupt)
check "patching: every clean run prefers the clean answer (min logit diff $clean > 1)" $PY -c "import sys; sys.exit(not $clean > 1)"
check "patching: every corrupted run prefers the wrong answer (max logit diff $corrupt < -1)" $PY -c "import sys; sys.exit(not $corrupt < -1)"
set -- $($PY patch.py last-block)
check "patching the last position entering the last block restores the clean answer (effect $1 >= 0.9, exact $2 >= 0.9)" \
  $PY -c "import sys; sys.exit(not ($1 >= 0.9 and $2 >= 0.9))"
set -- $($PY patch.py first-block)
check "patching the last position entering block 0 changes nothing where the last tokens agree ($1 pairs, largest change $2)" \
  $PY -c "import sys; sys.exit(not ($1 >= 10 and $2 == 0))"
subj=$($PY patch.py subject)
check "patching the best changed token entering block 0 restores most of it (effect $subj >= 0.5)" \
  $PY -c "import sys; sys.exit(not $subj >= 0.5)"

# ---------------------------------------------------------------- unused tokens, reference
# The reserved dimension (examples/model/README.md): the rows of wte whose last dimension is
# -30 are the tokens training never saw; their logit is exactly -30 under every
# configuration (NumPy reference, float64), so they never win, and topk never shows one.
$PY -c "
import sys
sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np, gpt2_ref
m = gpt2_ref.Model('$M')
print(','.join(map(str, np.nonzero(m.wte[:, -1] != -30.0)[0])))" > used.txt
n_used=$($PY -c "print(len(open('used.txt').read().split(',')))")
check "training used between 500 and 2000 tokens ($n_used)" $PY -c "import sys; sys.exit(not 500 <= $n_used <= 2000)"
for spec in all none 3,1,0,2; do
  gentasks copy json -n 2 --seed $SEED | topk --model "$M" --layers "$spec" -k 5 --positions all
done > topk.ndjson
check "topk: every top-5 token at every position and configuration is a used token" $PY -c "
import json, sys
used = set(int(x) for x in open('used.txt').read().split(','))
L = [json.loads(l) for l in open('topk.ndjson')]
sys.exit(not (L and all(t['id'] in used for r in L for t in r['topk'])))"

TT=$UNIT/test_transformer
REF=$ROOT/tests/ref/gpt2_ref.py
TOK=$(gentasks facts-pairs -n 1 | tokenize --model "$M" | val /dev/stdin "','.join(map(str, L[0]['tokens']))")
for spec in intact:0,1,2,3 permuted:3,1,0,2 repeated:0,0,1,1,3 partial:0,1 empty:; do
  name=${spec%%:*}
  layers=${spec#*:}
  if "$TT" --logits "$M" "$layers" "$TOK" "$name.f32" 2>err; then
    check "logits $name [$layers] == numpy reference (1e-3)" \
      $PY "$REF" "$M" --layers "$layers" --tokens "$TOK" --compare "$name.f32" --tol 1e-3
  else
    failed "logits $name [$layers]" "$(cat err)"
  fi
done
check "unused tokens' logits are exactly -30 (numpy reference, 4 configurations)" $PY -c "
import sys
sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np, gpt2_ref
m = gpt2_ref.Model('$M')
used = set(int(x) for x in open('used.txt').read().split(','))
unused = np.array(sorted(set(range(50257)) - used))
toks = [int(x) for x in '$TOK'.split(',')]
sys.exit(not all(np.all(gpt2_ref.forward(m, c, toks)[:, unused] == -30.0) for c in ([0, 1, 2, 3], [], [3, 1, 0, 2], [0, 0])))"

# scoreloss's numbers against the reference (tests/ref/tools_ref.py) on the fresh copy examples.
gentasks copy json -n 4 --seed $SEED > ref_in.ndjson
scoreloss --model "$M" --sweep drop-last < ref_in.ndjson > ref_out.ndjson
tokenize --model "$M" < ref_in.ndjson > p_tok.ndjson
$PY -c '
import json
for l in open("ref_in.ndjson"):
    r = json.loads(l); print(json.dumps({"id": r["id"], "text": r.get("separator", " ") + r["answer"]}))' > a_in.ndjson
tokenize --model "$M" --no-bos < a_in.ndjson > a_tok.ndjson
$PY -c '
import json
p = {json.loads(l)["id"]: json.loads(l)["tokens"] for l in open("p_tok.ndjson")}
a = {json.loads(l)["id"]: json.loads(l)["tokens"] for l in open("a_tok.ndjson")}
for i in p: print(json.dumps({"id": i, "prompt_ids": p[i], "answer_ids": a[i]}))' > ref_tok.ndjson
$PY "$ROOT/tests/ref/tools_ref.py" "$M" scoreloss ref_out.ndjson ref_tok.ndjson
