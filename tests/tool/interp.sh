#!/bin/sh
# interp.sh: activation patching, ablation, logit/tuned lens and activation export in
# scoreloss and topk (docs/interp.md) on a synthetic checkpoint: numbers against the NumPy
# reference tests/ref/interp_ref.py, bit-exact identities of the C code, record shapes,
# error records and usage errors.
. "$(dirname "$0")/../lib.sh"
M=$TMP/model
tiny_model "$M"
cd "$TMP" || exit 1
REF="$ROOT/tests/ref/interp_ref.py"

# Clean/corrupted pairs of equal token length (checked below), answers of 1 and 2 tokens.
cat > in.ndjson <<'EOF2'
{"id":"a","task":"pairs","prompt":"The Eiffel Tower is in the city of","corrupt_prompt":"The Colosseum is in the city of","answer":"Paris","wrong_answer":"Rome"}
{"id":"b","task":"pairs","prompt":"When Mary and John went to the store, John gave a drink to","corrupt_prompt":"When Mary and John went to the store, Mary gave a drink to","answer":"Mary","wrong_answer":"John"}
{"id":"c","task":"pairs","prompt":"The Golden Gate Bridge is in","corrupt_prompt":"The Statue of Liberty is in","answer":"San Francisco","wrong_answer":"New York","keep":{"x":[1,"\u00e9"]}}
EOF2

# Token ids from `tokenize` (its parity with the reference encoder is tested elsewhere).
tokenize --model "$M" < in.ndjson > p.ndjson
$PY -c '
import json
for l in open("in.ndjson"):
    r = json.loads(l)
    print(json.dumps({"id": r["id"], "text": r["corrupt_prompt"]}))' | tokenize --model "$M" > c.ndjson
$PY -c '
import json
for l in open("in.ndjson"):
    r = json.loads(l)
    print(json.dumps({"id": r["id"] + "/a", "text": " " + r["answer"]}))
    print(json.dumps({"id": r["id"] + "/w", "text": " " + r["wrong_answer"]}))' | tokenize --model "$M" --no-bos > aw.ndjson
$PY -c '
import json
P = {json.loads(l)["id"]: json.loads(l)["tokens"] for l in open("p.ndjson")}
K = {json.loads(l)["id"]: json.loads(l)["tokens"] for l in open("c.ndjson")}
A = {json.loads(l)["id"]: json.loads(l)["tokens"] for l in open("aw.ndjson")}
for i in P:
    print(json.dumps({"id": i, "prompt_ids": P[i], "corrupt_ids": K[i], "answer_ids": A[i + "/a"], "wrong_id": A[i + "/w"][0]}))' > tokens.ndjson
check_eq "test pairs have equal token lengths" "$($PY -c '
import json
print(all(len(t["prompt_ids"]) == len(t["corrupt_ids"]) for t in map(json.loads, open("tokens.ndjson"))))')" True

# ---- plain runs: logit_diff, and nothing else changes
scoreloss --model "$M" < in.ndjson > plain.ndjson
check_grep "logit_diff written with a wrong_answer" '"logit_diff":' plain.ndjson
check_grep "pass-through kept" '"keep":{"x":[1,"\u00e9"]}' plain.ndjson
$PY "$REF" "$M" scoreloss plain.ndjson tokens.ndjson
grep -v wrong_answer in.ndjson > /dev/null
$PY -c '
import json
for l in open("in.ndjson"):
    r = json.loads(l); del r["wrong_answer"]; print(json.dumps(r))' > nowrong.ndjson
scoreloss --model "$M" < nowrong.ndjson > nowrong.out
check_eq "no logit_diff without a wrong_answer" "$(grep -c logit_diff nowrong.out)" 0

# ---- patching: the identities, bit for bit in C
field() { $PY -c 'import json, sys; print(" ".join(json.dumps(json.loads(l)[sys.argv[1]]) for l in open(sys.argv[2])))' "$@"; }
for hook in resid_pre:0 resid_post:3 resid_mid:0; do
  scoreloss --model "$M" --patch "[{\"hook\":\"${hook%%:*}\",\"layer\":${hook#*:}}]" < in.ndjson > full.ndjson
  check_eq "patching ${hook%%:*} of block ${hook#*:} at every position from the clean run = clean losses, bit for bit" \
    "$(field answer_token_losses full.ndjson)" "$(field answer_token_losses plain.ndjson)"
  check_eq "... and clean logit_diff, bit for bit" "$(field logit_diff full.ndjson)" "$(field logit_diff plain.ndjson)"
  check_eq "... patch effect 1" "$(field patch_effect full.ndjson)" "1 1 1"
done
$PY -c '
import json
for l in open("in.ndjson"):
    r = json.loads(l); r["prompt"] = r["corrupt_prompt"]; del r["corrupt_prompt"]; print(json.dumps(r))' > corrupt_as_clean.ndjson
scoreloss --model "$M" < corrupt_as_clean.ndjson > corrupt_plain.ndjson
scoreloss --model "$M" --patch '[]' < in.ndjson > none.ndjson
check_eq "patching nothing = the corrupted run's losses, bit for bit" \
  "$(field answer_token_losses none.ndjson)" "$(field answer_token_losses corrupt_plain.ndjson)"
check_eq "patching nothing: corrupt_answer_loss = the corrupted run's" "$(field corrupt_answer_loss none.ndjson)" "$(field answer_loss corrupt_plain.ndjson)"
check_eq "patching nothing: clean_answer_loss = the clean run's" "$(field clean_answer_loss none.ndjson)" "$(field answer_loss plain.ndjson)"
check_eq "patching nothing: effect 0" "$(field patch_effect none.ndjson)" "0 0 0"
topk --model "$M" -k 5 --positions all < in.ndjson > topk_clean.ndjson
topk --model "$M" -k 5 --positions all --patch '[{"hook":"resid_pre","layer":0}]' < in.ndjson > topk_full.ndjson
check_eq "topk: full residual patch = the clean top-k, bit for bit" "$(field topk topk_full.ndjson)" "$(field topk topk_clean.ndjson)"
check_eq "topk: full residual patch: KL from the intact clean model 0" "$(field kl_from_intact topk_full.ndjson | tr ' ' '\n' | sort -u)" 0

# ---- patching against NumPy: record sites, command-line sites, heads, MLPs, negative positions
cat > rec_patch.ndjson <<'EOF2'
{"id":"a","prompt":"The Eiffel Tower is in the city of","corrupt_prompt":"The Colosseum is in the city of","answer":"Paris","wrong_answer":"Rome","patch":[{"hook":"resid_pre","layer":2,"position":5}]}
{"id":"b","prompt":"When Mary and John went to the store, John gave a drink to","corrupt_prompt":"When Mary and John went to the store, Mary gave a drink to","answer":"Mary","wrong_answer":"John","patch":[{"hook":"head","layer":1,"head":2},{"hook":"mlp_out","layer":0,"position":-1}]}
{"id":"c","prompt":"The Golden Gate Bridge is in","corrupt_prompt":"The Statue of Liberty is in","answer":"San Francisco","patch":[{"hook":"z","layer":3,"head":0,"position":3},{"hook":"attn_out","layer":2},{"hook":"resid_mid","layer":1,"position":2}]}
EOF2
scoreloss --model "$M" < rec_patch.ndjson > rec_patch.out
check_eq "per-record patches: one record each" "$(wc -l < rec_patch.out)" 3
check_grep "patch metric logit_diff with a wrong_answer" '"patch_metric":"logit_diff"' rec_patch.out
check_grep "patch metric answer_loss without" '"patch_metric":"answer_loss"' rec_patch.out
$PY "$REF" "$M" scoreloss rec_patch.out tokens.ndjson
scoreloss --model "$M" --patch '[{"hook":"resid_post","layer":1,"position":-2}]' < in.ndjson > cli_patch.ndjson
$PY "$REF" "$M" scoreloss cli_patch.ndjson tokens.ndjson --patch '[{"hook":"resid_post","layer":1,"position":-2}]'
topk --model "$M" -k 5 --patch '[{"hook":"head","layer":0,"head":1}]' < in.ndjson > topk_patch.ndjson
$PY "$REF" "$M" topk topk_patch.ndjson tokens.ndjson --patch '[{"hook":"head","layer":0,"head":1}]'

# ---- the patch sweep: layers x positions records, NumPy on every cell
scoreloss --model "$M" --patch-sweep < in.ndjson > sweep.ndjson
check_eq "patch sweep: 4 layers x (11 + 15 + 7) prompt positions" "$(wc -l < sweep.ndjson)" $((4 * (11 + 15 + 7)))
check_eq "patch sweep: patch_cells per record" "$(field patch_cells sweep.ndjson | tr ' ' '\n' | sort -u | tr '\n' ' ')" "28 44 60 "
check_eq "patch sweep: cells in layer-major order" "$(head -3 sweep.ndjson | $PY -c '
import json, sys
print(" ".join("%d:%d" % (r["layer"], r["position"]) for r in map(json.loads, sys.stdin)))')" "0:0 0:1 0:2"
$PY -c '
import json
rs = [json.loads(l) for l in open("sweep.ndjson")]
same = [r for r in rs if r["layer"] == 0 and r["token"] == r["corrupt_token"]]
print("ok" if same and all(r["patch_effect"] == 0 for r in same) else "bad")' > same.txt
check_eq "patch sweep: block 0 where both prompts have the same token: effect exactly 0" "$(cat same.txt)" ok
$PY "$REF" "$M" scoreloss sweep.ndjson tokens.ndjson
scoreloss --model "$M" --patch-sweep=head < in.ndjson > hsweep.ndjson
check_eq "head patch sweep: 4 layers x 4 heads per record" "$(wc -l < hsweep.ndjson)" 48
check_grep "head patch sweep: patch_hook head" '"patch_hook":"head","layer":0,"head":0,"patch_cells":16' hsweep.ndjson
$PY "$REF" "$M" scoreloss hsweep.ndjson tokens.ndjson
scoreloss --model "$M" --patch-sweep=mlp_out --layers 2,0 < in.ndjson > msweep.ndjson
check_eq "mlp_out sweep over configuration [2,0]: 2 blocks x positions" "$(wc -l < msweep.ndjson)" $((2 * (11 + 15 + 7)))
check_eq "grid blocks in the configuration's order" "$(head -1 msweep.ndjson | $PY -c 'import json,sys; print(json.load(sys.stdin)["layer"])')" 2
$PY "$REF" "$M" scoreloss msweep.ndjson tokens.ndjson

# ---- ablation
cat > mean_src.ndjson <<'EOF2'
{"prompt":"The quick brown fox jumps over the lazy dog."}
{"prompt":"1, 2, 3, 4, 5"}
EOF2
tokenize --model "$M" < mean_src.ndjson | $PY -c '
import json, sys
for l in sys.stdin: print(json.dumps({"prompt_ids": json.loads(l)["tokens"]}))' > means.ndjson
cat > rec_abl.ndjson <<'EOF2'
{"id":"a","prompt":"The Eiffel Tower is in the city of","answer":"Paris","wrong_answer":"Rome","ablate":[{"component":"head","layer":1,"head":3}]}
{"id":"b","prompt":"When Mary and John went to the store, John gave a drink to","answer":"Mary","ablate":[{"component":"mlp","layer":2,"mode":"mean"},{"component":"head","layer":0,"head":0,"mode":"mean"}]}
{"id":"c","prompt":"The Golden Gate Bridge is in","answer":"San Francisco","ablate":[{"component":"attn","layer":3},{"component":"mlp","layer":0,"mode":"zero"}]}
EOF2
scoreloss --model "$M" --ablate-mean-from mean_src.ndjson --sweep drop-last < rec_abl.ndjson > abl.ndjson
check_eq "ablations x drop-last: 5 records each" "$(wc -l < abl.ndjson)" 15
check_grep "ablated field lists the ablations" '"ablated":[{"component":"mlp","layer":2,"mode":"mean"},{"component":"head","layer":0,"head":0,"mode":"mean"}]' abl.ndjson
$PY "$REF" "$M" scoreloss abl.ndjson tokens.ndjson --means means.ndjson
scoreloss --model "$M" --sweep ablate-heads < in.ndjson > aheads.ndjson
check_eq "ablate-heads: 1 + 4 x 4 records per record" "$(wc -l < aheads.ndjson)" 51
check_eq "ablate-heads labels, intact first" "$(head -3 aheads.ndjson | $PY -c '
import json, sys
print(",".join(json.loads(l)["label"] for l in sys.stdin))')" "intact,ablate L0H0,ablate L0H1"
$PY "$REF" "$M" scoreloss aheads.ndjson tokens.ndjson
# The sweep restarts each cell from the cached residual: it must equal running the cell alone.
for cell in 1:2 3:3; do
  scoreloss --model "$M" --ablate "[{\"component\":\"head\",\"layer\":${cell%:*},\"head\":${cell#*:}}]" < in.ndjson > one.ndjson
  check_eq "ablate-heads cell L${cell%:*}H${cell#*:} == --ablate alone, bit for bit" \
    "$(grep "\"label\":\"ablate L${cell%:*}H${cell#*:}\"" aheads.ndjson | $PY -c 'import json,sys; print(" ".join(json.dumps(json.loads(l)["answer_token_losses"]) for l in sys.stdin))')" \
    "$(field answer_token_losses one.ndjson)"
done
scoreloss --model "$M" --sweep ablate-mlps --ablate-mode mean --ablate-mean-from mean_src.ndjson --layers 0,1 < in.ndjson > amlps.ndjson
check_eq "ablate-mlps on [0,1]: labels" "$(head -5 amlps.ndjson | $PY -c '
import json, sys
print("|".join(json.loads(l)["label"] for l in sys.stdin))')" "0,1|0,1, mean-ablate mlp 0|0,1, mean-ablate mlp 1|0,1, mean-ablate mlp 2|0,1, mean-ablate mlp 3"
$PY "$REF" "$M" scoreloss amlps.ndjson tokens.ndjson --means means.ndjson
scoreloss --summary < aheads.ndjson > asum.ndjson
check_grep "summary groups the ablation sweep by label" '"label":"ablate L3H3"' asum.ndjson
topk --model "$M" -k 4 --sweep ablate-mlps < in.ndjson > topk_abl.ndjson
check_eq "topk ablate-mlps: 5 records per record" "$(wc -l < topk_abl.ndjson)" 15
$PY "$REF" "$M" topk topk_abl.ndjson tokens.ndjson

# ---- logit lens and tuned lens
topk --model "$M" -k 5 --lens logit --positions 0,-1 < in.ndjson > lens.ndjson
check_eq "logit lens: (embeddings + 4 blocks) x 2 positions per record" "$(wc -l < lens.ndjson)" 30
check_grep "logit lens: embeddings have lens_layer null" '"lens":"logit","lens_depth":0,"lens_layer":null' lens.ndjson
$PY "$REF" "$M" topk lens.ndjson tokens.ndjson
topk --model "$M" -k 5 --sweep drop-last --positions 0,-1 < in.ndjson > droplast.ndjson
$PY -c '
import json
L = {(r["id"], r["lens_depth"], r["position"]): r for r in map(json.loads, open("lens.ndjson"))}
D = {(r["id"], len(r["layers"]), r["position"]): r for r in map(json.loads, open("droplast.ndjson"))}
ok = len(L) == len(D) and all(L[k]["topk"] == D[k]["topk"] and L[k]["kl_from_intact"] == D[k]["kl_from_intact"] for k in D)
print("same" if ok else "different")' > lens_cmp.txt
check_eq "logit lens after n blocks == drop-last 'first n', bit for bit" "$(cat lens_cmp.txt)" same
gentasks -n 6 | head -40 | $PY -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l); print(json.dumps({"text": r["prompt"] + r.get("separator", " ") + r["answer"]}))' > corpus.ndjson
lens --model "$M" --corpus corpus.ndjson --out tl.bin --ridge 0.001 > fit.json
check_grep "lens fit report" '"n_layer":4,"n_embd":64,"records":40' fit.json
check_eq "lens file size: 16 + 4 x (64*64 + 64) x 4" "$(wc -c < tl.bin | tr -d ' ')" $((16 + 4 * (4096 + 64) * 4))
check_eq "lens file header" "$(head -c 16 tl.bin | od -An -tx1 | tr -d ' \n')" "544c4e53010000000400000040000000"
tokenize --model "$M" < corpus.ndjson | $PY -c '
import json, sys
for l in sys.stdin: print(json.dumps({"ids": json.loads(l)["tokens"]}))' > corpus_ids.ndjson
$PY "$REF" "$M" tunedfit tl.bin corpus_ids.ndjson 0.001
topk --model "$M" -k 5 --lens tuned --tuned-lens tl.bin < in.ndjson > tuned.ndjson
check_eq "tuned lens: 4 depths per record (no translator for the embeddings)" "$(wc -l < tuned.ndjson)" 12
$PY "$REF" "$M" topk tuned.ndjson tokens.ndjson --tuned tl.bin
lens --check tl.bin --model "$M" > check.json
check_grep "lens --check" '{"file":"tl.bin","n_layer":4,"n_embd":64}' check.json
head -c 100 tl.bin > short.bin
lens --check short.bin 2> short.err
check_eq "lens --check of a truncated file: exit 5" "$?" 5
check_grep "truncated lens file: message" "bytes, 66576 expected" short.err
topk --model "$M" --lens tuned --tuned-lens short.bin < in.ndjson > /dev/null 2> usage.err
check_eq "topk with a bad lens file: usage error" "$?" 2

# ---- activation export
scoreloss --model "$M" --dump acts.npz --dump-hooks resid_pre,z,attn_out,resid_mid,mlp_out,resid_post --layers 0,2,2 < in.ndjson > dumped.ndjson
check_grep "dump_key written" '"dump_key":"rec0"' dumped.ndjson
$PY "$REF" "$M" dump dumped.ndjson tokens.ndjson acts.npz
check_eq "npz names" "$($PY -c '
import numpy as np
z = np.load("acts.npz"); print(len(z.files), "rec1.blocks.2.hook_z.2" in z.files, z["rec2.blocks.0.hook_z"].shape)')" "54 True (9, 4, 16)"
topk --model "$M" --dump t.npz --sweep drop-last < in.ndjson > tdump.ndjson
check_eq "topk --dump: keys per run" "$(field dump_key tdump.ndjson | cut -d' ' -f1-3)" '"rec0.run0" "rec0.run1" "rec0.run2"'
$PY "$REF" "$M" dump tdump.ndjson tokens.ndjson t.npz
scoreloss --model "$M" --dump p.npz --patch '[{"hook":"resid_pre","layer":1,"position":3}]' < in.ndjson > pdump.ndjson
$PY "$REF" "$M" dump pdump.ndjson tokens.ndjson p.npz --patch '[{"hook":"resid_pre","layer":1,"position":3}]'
"$UNIT/test_npz" --write known.npz
check_eq "np.load of the known arrays" "$($PY -c '
import numpy as np, zipfile
z = np.load("known.npz"); a = z["rec0.blocks.0.hook_resid_post"]
print(zipfile.ZipFile("known.npz").testzip(), a.dtype, a.shape, a[2, 3], z["b"].shape, z["empty"].shape, z["rec1.cfg2.blocks.11.hook_z"][0, 2, 1])')" \
  "None float32 (3, 4) 4.5 (5,) (2, 0) 3.4e+38"

# ---- error records and usage errors
printf '%s\n' \
  '{"id":1,"prompt":"The Eiffel Tower is in the city of","corrupt_prompt":"Rome","answer":"Paris","patch":[]}' \
  '{"id":2,"prompt":"The Eiffel Tower","answer":"Paris","patch":[]}' \
  '{"id":3,"prompt":"a b","corrupt_prompt":"a c","answer":"x","patch":[{"hook":"resid","layer":0}]}' \
  '{"id":4,"prompt":"a b","corrupt_prompt":"a c","answer":"x","patch":[{"hook":"head","layer":1,"head":4}]}' \
  '{"id":5,"prompt":"a b","answer":"x","ablate":[{"component":"mlp","layer":0,"mode":"mean"}]}' \
  '{"id":6,"prompt":"a b","answer":"Paris","wrong_answer":"Paris"}' \
  '{"id":7,"prompt":"a b","answer":"x","ablate":[{"component":"neuron","layer":0}]}' \
  '{"id":8,"prompt":"a b","corrupt_prompt":"a c","answer":"x","patch":[{"hook":"resid_pre","layer":0,"position":9}]}' \
  '{"id":9,"prompt":"a b","corrupt_prompt":"a c","answer":"x","patch":{"hook":"resid_pre"}}' \
  '{"id":10,"prompt":"a b","answer":"x"}' > bad.ndjson
scoreloss --model "$M" < bad.ndjson > bad.out 2> bad.err
check_eq "bad records: exit 5" "$?" 5
check_eq "bad records: one line each" "$(wc -l < bad.out)" 10
check_grep "length mismatch" '"error":"corrupt_prompt has 2 tokens, prompt 10: patching needs equal lengths"' bad.out
check_grep "patch without corrupt_prompt" '"error":"patching needs a \"corrupt_prompt\" (the clean one is \"prompt\")"' bad.out
check_grep "unknown hook" '"error":"patch[0]: unknown hook \"resid\"' bad.out
check_grep "head out of range" '"error":"patch[0]: head 4 out of range 0..3"' bad.out
check_grep "mean without reference set" '"error":"mean ablation needs --ablate-mean-from FILE"' bad.out
check_grep "wrong_answer = answer" 'starts with the same token as \"answer\"' bad.out
check_grep "unknown component" '"error":"ablate[0]: \"component\" must be \"head\", \"attn\" or \"mlp\""' bad.out
check_grep "position out of range" '"error":"patch[0]: position out of range for a prompt of 3 tokens"' bad.out
check_grep "patch not an array" '"error":"\"patch\" must be an array' bad.out
check_grep "the good record still scored" '{"id":10,"prompt":"a b","answer":"x","layers":[0,1,2,3],"label":"intact","answer_loss"' bad.out
for args in "--patch-sweep --sweep ablate-heads" "--patch-sweep --dump x.npz" "--sweep ablate-heads --ablate-mode mean" \
            "--patch [{\"hook\":\"resid_pre\"}]" "--patch-sweep=bogus" "--dump-hooks resid" "--sweep ablate-heads --sweep ablate-mlps"; do
  # shellcheck disable=SC2086
  scoreloss --model "$M" $args < in.ndjson > /dev/null 2> usage.err
  check_eq "usage error: $args" "$?" 2
done
topk --model "$M" --patch-sweep < in.ndjson > /dev/null 2> usage.err
check_eq "topk has no --patch-sweep (a scoreloss option)" "$?" 2
check_grep "topk --patch-sweep: message" "unrecognized option '--patch-sweep'" usage.err
topk --model "$M" --lens tuned < in.ndjson > /dev/null 2> usage.err
check_eq "topk --lens tuned without --tuned-lens: usage error" "$?" 2
scoreloss --model "$M" --lens logit < in.ndjson > /dev/null 2> usage.err
check_eq "scoreloss has no --lens" "$?" 2
scoreloss --model "$M" --dump /nonexistent/dir/x.npz < in.ndjson > /dev/null 2> usage.err
check_eq "unwritable dump: usage error" "$?" 2

# ---- the journal and the report: a patching table and heatmap, ablation labels kept apart
echo '{"model":{"name":"tiny","n_layer":4},"source":"interp.sh"}' | journal append -q --journal j.ndjson --kind meta
journal append -q --journal j.ndjson --kind result --experiment pairs/patching --tool scoreloss < sweep.ndjson
journal append -q --journal j.ndjson --kind result --experiment pairs/ablate-heads --tool scoreloss < aheads.ndjson
report --journal j.ndjson --out rep > /dev/null 2>&1
check_grep "report: a patching section" "### Activation patching" rep/report.md
check_grep "report: every example in the mean, none degenerate" "over 3 examples" rep/report.md
check_grep "report: degenerate pairs counted" "0 of 3 pairs are degenerate" rep/report.md
# Block 1's row, batch-normalised over the examples that have each cell, the prompts
# aligned at their ends: (mean patched - mean corrupted) / (mean clean - mean corrupted).
$PY -c '
import json
rs = [json.loads(l) for l in open("sweep.ndjson") if "patch_effect" in l]
width = {}
for r in rs: width[r["id"]] = max(width.get(r["id"], 0), r["position"] + 1)
W = max(width.values())
cells = {}
for r in rs:
    if r["layer"] != 1: continue
    c = W - width[r["id"]] + r["position"]
    cells.setdefault(c, []).append((r["logit_diff"], r["clean_logit_diff"], r["corrupt_logit_diff"]))
def eff(v):
    n = len(v); p = sum(x[0] for x in v) / n; cl = sum(x[1] for x in v) / n; co = sum(x[2] for x in v) / n
    e = (p - co) / (cl - co)
    return 0.0 if abs(e) < 0.005 else e   # as the report prints it: never "-0.00"
print("| 1 |" + "".join(" %.2f |" % eff(cells[c]) for c in range(W)))' > row1.txt
check_grep "report: block 1 row = the batch-normalised effects (Python)" "$(cat row1.txt)" rep/report.md
check_grep "report: column headers carry the longest prompt's tokens, counted from the end" '| -1 “ to” |' rep/report.md
check_eq "report: every ablation label has its loss row (the journal keeps them apart)" \
  "$(grep -c '^| ablate L[0-3]H[0-3] | 0-3 | 3 |' rep/report.md)" 16
check_eq "report: patch records are not in the loss table" "$(grep -c '^| intact | 0-3 | 3 |' rep/report.md)" 1
if command -v gnuplot > /dev/null 2>&1; then
  check_grep "report: the heatmap is linked" "](patch_1.svg)" rep/report.md
  check "report: the heatmap is drawn" grep -q "<svg" rep/patch_1.svg
  check_eq "report: heatmap data, 4 blocks x 15 positions (the longest prompt)" "$(grep -vc '^#' rep/patch_1.dat)" 60
else
  check_grep "report: heatmap noted as not drawn" "not drawn, gnuplot is not installed" rep/report.md
fi

# ---- gentasks facts-pairs: clean and corrupted prompts of equal token length, ready to patch
gentasks facts-pairs > fp.ndjson
check_eq "facts-pairs: 16 pairs" "$(wc -l < fp.ndjson)" 16
tokenize --model "$M" < fp.ndjson > fp_p.ndjson
$PY -c '
import json
for l in open("fp.ndjson"):
    r = json.loads(l)
    print(json.dumps({"id": r["id"], "text": r["corrupt_prompt"]}))
    print(json.dumps({"id": r["id"] + "/a", "text": " " + r["answer"]}))
    print(json.dumps({"id": r["id"] + "/w", "text": " " + r["wrong_answer"]}))' | tokenize --model "$M" --no-bos > fp_c.ndjson
$PY -c '
import json
P = {json.loads(l)["id"]: json.loads(l)["tokens"] for l in open("fp_p.ndjson")}
K = {json.loads(l)["id"]: json.loads(l)["tokens"] for l in open("fp_c.ndjson")}
bad = [i for i in P if len(P[i]) != len(K[i]) + 1 or K[i + "/a"][0] == K[i + "/w"][0]]
print("ok" if not bad else "bad: %s" % bad)' > fp.txt
check_eq "facts-pairs: every corrupted prompt has the clean one's token length, answers differ in their first token" "$(cat fp.txt)" ok
scoreloss --model "$M" --patch-sweep < fp.ndjson > fp_sweep.ndjson
check_eq "facts-pairs: the patch sweep runs on every pair" "$(grep -c '"error"' fp_sweep.ndjson)" 0
check_grep "facts-pairs: the metric is the logit difference" '"patch_metric":"logit_diff"' fp_sweep.ndjson
