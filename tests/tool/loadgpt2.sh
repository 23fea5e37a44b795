#!/bin/sh
# loadgpt2: synthetic checkpoints, the description line, dtype/prefix/tie variants, broken
# checkpoints, and the end-to-end path a user takes — `loadgpt2 gpt2` downloading from a
# (local) hub into the Hugging Face cache, then every tool finding it there offline.
. "$(dirname "$0")/../lib.sh"
TOKEN=${HF_TOKEN:-hf_loadgpt2SENTINEL}   # tests/run.sh's sentinel, which it scans for
unset HF_TOKEN HF_TOKEN_PATH HF_HUB_OFFLINE HF_HUB_CACHE HUGGINGFACE_HUB_CACHE HF_ENDPOINT AUTOINTERP_MODEL
export HF_HOME="$TMP/hfhome"
SPID=""
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; tmp_cleanup' EXIT
cd "$TMP" || exit 1

# ---- synthetic checkpoint and its description
loadgpt2 --random --out m --layers 3 --heads 2 --embd 32 --ctx 64 --seed 5 > desc.json
check_eq "random: exit status" "$?" 0
check_eq "random: description line" "$(cat desc.json)" \
  '{"name":"m","dir":"m","n_layer":3,"n_head":2,"n_embd":32,"n_ctx":64,"vocab":50257,"params":1648448,"dtype":"F32","tied":true}'
# params as transformers counts them: wte + wpe + per block (2 LN + attn + proj + 2 LN + fc + proj) + ln_f
check_eq "random: parameter count formula" \
  "$($PY -c 'V,C,T,L=50257,32,64,3; print(V*C+T*C+L*(4*C+C*3*C+3*C+C*C+C+C*4*C+4*C+4*C*C+C)+2*C)')" 1648448
check_eq "random: Hugging Face files" "$(ls m | tr '\n' ' ')" "config.json merges.txt model.safetensors vocab.json "
check "random: vocab.json is the real GPT-2 vocabulary" cmp m/vocab.json "$VOCAB/vocab.json"
check_grep "random: config names the architecture" '"GPT2LMHeadModel"' m/config.json
check_grep "random: mask buffers as the real checkpoint" '"h.0.attn.bias"' m/model.safetensors
check_eq "describe a local directory" "$(loadgpt2 m)" "$(cat desc.json)"
loadgpt2 --random --out m2 --layers 3 --heads 2 --embd 32 --ctx 64 --seed 5 > /dev/null
check "random: same seed, same bytes" cmp m/model.safetensors m2/model.safetensors
loadgpt2 --random --out m3 --layers 3 --heads 2 --embd 32 --ctx 64 --seed 6 > /dev/null
if cmp -s m/model.safetensors m3/model.safetensors; then failed "random: another seed differs" same; else pass "random: another seed differs"; fi

for v in "F16" "BF16"; do
  loadgpt2 --random --out "m_$v" --layers 2 --heads 2 --embd 32 --ctx 64 --dtype "$v" > d.json
  check_grep "random --dtype $v loads" "\"dtype\":\"$v\"" d.json
done
loadgpt2 --random --out mp --layers 2 --heads 2 --embd 32 --ctx 64 --prefix --untied > d.json
check_grep "transformer. prefix and untied lm_head load" '"tied":false' d.json
check_grep "prefixed names written" '"transformer.h.0.ln_1.weight"' mp/model.safetensors

# ---- broken checkpoints: clear errors, exit 5, no crash
mkdir bad && cp m/* bad/
head -c 100000 m/model.safetensors > bad/model.safetensors
loadgpt2 bad > /dev/null 2> err.txt
check_eq "truncated checkpoint: exit 5" "$?" 5
check_grep "truncated checkpoint: says so" "model.safetensors" err.txt
cp m/model.safetensors bad/
$PY - bad/model.safetensors <<'EOF2'
import json, struct, sys
p = sys.argv[1]; raw = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", raw[:8])[0]; h = json.loads(raw[8:8 + n])
off = 8 + n + h["h.1.mlp.c_fc.weight"]["data_offsets"][0] + 4 * 7
raw[off:off + 4] = struct.pack("<f", float("nan"))
open(p, "wb").write(raw)
EOF2
loadgpt2 bad > /dev/null 2> err.txt
check_eq "NaN weight: exit 5" "$?" 5
check_grep "NaN weight: names the tensor" "h.1.mlp.c_fc.weight" err.txt
$PY -c 'import json; c = json.load(open("m/config.json")); c["n_embd"] = 64; json.dump(c, open("bad/config.json", "w"))'
cp m/model.safetensors bad/
loadgpt2 bad > /dev/null 2> err.txt
check_eq "config/shape mismatch: exit 5" "$?" 5
check_grep "config/shape mismatch: names a tensor" "wte.weight" err.txt
rm bad/merges.txt
cp m/config.json bad/
loadgpt2 bad > /dev/null 2> err.txt
check_grep "missing merges.txt reported" "merges.txt" err.txt
loadgpt2 --random > /dev/null 2>&1
check_eq "--random without --out is a usage error" "$?" 2

# ---- download from a local hub, then offline use from the cache
mkdir -p serve/openai-community
loadgpt2 --random --out serve/openai-community/gpt2 --layers 2 --heads 2 --embd 32 --ctx 64 --seed 9 > /dev/null
echo 607a30d783dfa663caf39e06633721c8d4cfcd7e > serve/openai-community/gpt2/.commit
$PY "$ROOT/tests/ref/hubserver.py" serve --lifetime 120 --lfs-threshold 100000 --rename gpt2=openai-community/gpt2 > port.txt 2> server.err &
SPID=$!
i=0; while [ ! -s port.txt ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
export HF_ENDPOINT="http://127.0.0.1:$(head -n 1 port.txt)"
HF_TOKEN=$TOKEN loadgpt2 gpt2 > dl.json 2> dl.err   # the token is sent, never written
check_eq "loadgpt2 gpt2 downloads from the hub" "$?" 0
check_grep "download: description" '"name":"gpt2","dir":"'"$HF_HOME"'/hub/models--' dl.json
check_grep "download: snapshot of the served commit" '/snapshots/607a30d783dfa663caf39e06633721c8d4cfcd7e"' dl.json
dir=$($PY -c 'import json; print(json.load(open("dl.json"))["dir"])')
check "download: model identical to the served one" cmp "$dir/model.safetensors" serve/openai-community/gpt2/model.safetensors
check_eq "download: snapshot files are relative links into blobs" "$(readlink "$dir/model.safetensors" | cut -c1-12)" "../../blobs/"
kill "$SPID"; SPID=""
echo '{"prompt":"Madrid is the capital of","answer":"Spain"}' | HF_HUB_OFFLINE=1 scoreloss --model gpt2 > s.json 2> s.err
check_eq "tools find the cached model offline" "$?" 0
check_grep "scored with the cached model" '"label":"intact","answer_loss":' s.json
HF_HUB_OFFLINE=1 loadgpt2 gpt2-medium > /dev/null 2> off.err
check_eq "offline and not cached: exit 5" "$?" 5
check_grep "offline and not cached: says so" "offline" off.err
