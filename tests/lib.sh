# tests/lib.sh: helpers for tool-level tests.  Source it; each check prints
# "PASS name" or "FAIL name: detail", and tests/run.sh counts those lines.
# $BIN is the directory of built tools (default: the checkout's bin/), $TMP a fresh
# scratch directory.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/bin}
UNIT=${UNIT:-$ROOT/build/release/tests}
PATH="$BIN:$PATH"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/autointerp-test.XXXXXX")
# tmp_cleanup: removes $TMP at exit (scripts with their own EXIT trap call it there).
# Under tests/run.sh (AUTOINTERP_TEST_KEEP_TMP=1) the scratch stays: run.sh searches it
# for the sentinel secrets after the script ends, then removes it.
tmp_cleanup() { [ -n "${AUTOINTERP_TEST_KEEP_TMP:-}" ] || rm -rf "$TMP"; }
PY=/usr/bin/python3          # Debian's python3, which has python3-numpy
VOCAB="$ROOT/build/vocab"

# At exit: local test servers started with `serve` are stopped, and $TMP removed.
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; tmp_cleanup' EXIT

# sanitized: true in the sanitizer pass (AUTOINTERP_TEST_SANITIZED=1, set by `make
# check-asan`, the second pass of `make test` and `make check-valgrind`), where every tool
# runs several times slower.  Tests whose grids repeat one code path many times
# (bit-equality over every kernel path, many records, many kills) take a smaller grid
# there that still goes through every code path; the release pass keeps the full grid.
sanitized() { [ "${AUTOINTERP_TEST_SANITIZED:-0}" = 1 ]; }

pass() { echo "PASS $1"; }
failed() { echo "FAIL $1: $2"; }

# bearer_digest KEY: the Authorization header as tests/ref/mockllm.py logs it (a digest,
# so that its request log does not hold the key).
bearer_digest() { printf 'Bearer sha256:%s' "$(printf '%s' "$1" | sha256sum | cut -c1-16)"; }

# check NAME CMD...: passes when CMD exits 0.
check() {
  name=$1; shift
  if out=$("$@" 2>&1); then pass "$name"; else failed "$name" "$(printf '%s' "$out" | tail -n 5 | tr '\n' ' ')"; fi
}

# check_eq NAME GOT WANT
check_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else failed "$1" "got [$2] want [$3]"; fi
}

# check_grep NAME PATTERN FILE: passes when FILE contains PATTERN (fixed string).
check_grep() {
  if grep -qF -- "$2" "$3"; then pass "$1"; else failed "$1" "[$2] not in $3: $(head -c 300 "$3")"; fi
}

# A small synthetic GPT-2 checkpoint (real vocabulary), made once per test run.  Weights
# with std 0.3 (not GPT-2's 0.02) so that next-token distributions are peaked and greedy
# generation varies between configurations.
# Usage: tiny_model DIR [extra loadgpt2 flags]
tiny_model() {
  dir=$1; shift
  [ -f "$dir/model.safetensors" ] || loadgpt2 --random --out "$dir" --layers 4 --heads 4 --embd 64 --ctx 128 --seed 1 --init-std 0.3 "$@" >/dev/null
}

# ragged_pairs STEP [bad] < facts-pairs > records: patched records of ragged lengths — record
# i's prompts prefixed with STEP * i + 2 words — record 2 with its own ablation, record 4
# a length mismatch (its error line); with "bad", a line that is not JSON after record 3
# and an upstream error after record 6.
ragged_pairs() {
  $PY -c '
import json, sys
step, bad = int(sys.argv[1]), sys.argv[2] == "bad"
words = ("once upon a time in a quiet village far away from the sea there lived "
         "many people who told long stories about the old days and the kings").split()
for i, line in enumerate(sys.stdin):
    r = json.loads(line)
    pre = " ".join(words[:step * i + 2]).capitalize() + ". "
    r["prompt"] = pre + r["prompt"]
    r["corrupt_prompt"] = pre + r["corrupt_prompt"]
    if i == 2: r["ablate"] = [{"component": "mlp", "layer": 1}]
    if i == 4: r["corrupt_prompt"] += " at all"   # a length mismatch: its error line
    print(json.dumps(r))
    if bad and i == 3: print("not json")
    if bad and i == 6: print(json.dumps({"error": "from upstream"}))' "$1" "${2:-}"
}

# sweep_singles SWEEP_OUTPUT > INPUT: each line of a scoreloss sweep as a record of its own,
# its patch cell as the record's "patch" or its ablations as its "ablate", in the same
# configuration ("layers"), the other input fields kept and scoreloss's own fields dropped:
# scoreloss on it runs each cell or variant alone.
sweep_singles() {
  $PY -c '
import json, sys
owned = {"label", "answer_loss", "answer_token_losses", "answer_tokens", "answer_exact", "logit_diff",
         "ablated", "dump_key", "clean_answer_loss", "corrupt_answer_loss", "clean_logit_diff",
         "corrupt_logit_diff", "patch_metric", "patch_effect", "patch_hook", "layer", "position",
         "head", "token", "corrupt_token", "patch_cells"}
for line in open(sys.argv[1]):
    r = json.loads(line)
    out = {k: v for k, v in r.items() if k not in owned}
    if "patch_hook" in r:
        site = {"hook": r["patch_hook"], "layer": r["layer"]}
        for k in ("head", "position"):
            if k in r: site[k] = r[k]
        out["patch"] = [site]
    else:
        out["ablate"] = [{k: v for k, v in a.items() if k != "mode"} for a in r.get("ablated", [])]
    print(json.dumps(out))' "$1"
}

# prompts_corpus < records > corpus: a lens corpus ({"text": prompt}) of the records' prompts
# (lines that are not JSON or have no prompt are skipped).
prompts_corpus() {
  $PY -c '
import json, sys
for line in sys.stdin:
    try: r = json.loads(line)
    except ValueError: continue
    if "prompt" in r: print(json.dumps({"text": r["prompt"]}))'
}

# serve NAME CMD...: starts a local test server (tests/ref/*.py print their port as the
# first line on stdout) in the background, stdout in $TMP/NAME.port and stderr in
# $TMP/NAME.err, and waits up to 10 s for the port.  Sets PORT and SPID.
serve() {
  _srv=$1; shift
  "$@" > "$TMP/$_srv.port" 2> "$TMP/$_srv.err" &
  SPID=$!
  PIDS="$PIDS $SPID"
  _i=0
  while [ ! -s "$TMP/$_srv.port" ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
  PORT=$(head -n 1 "$TMP/$_srv.port")
}
# stop_server: stops the server `serve` started last.
stop_server() { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; return 0; }

# serve_hub DIR [hubserver flags]: tests/ref/hubserver.py serving DIR's files, its request
# log in a fresh $LOG; sets PORT, LOG and SPID (as serve).  fresh_cache: an empty Hugging
# Face cache (HF_HUB_CACHE) for what comes next.
_hub_n=0
serve_hub() {
  _hub_n=$((_hub_n + 1)); _hub_dir=$1; shift
  LOG="$TMP/hub.$_hub_n.log"
  : > "$LOG"
  serve "hub.$_hub_n" $PY "$ROOT/tests/ref/hubserver.py" "$_hub_dir" --log "$LOG" --lifetime 300 "$@"
}
fresh_cache() { _hub_n=$((_hub_n + 1)); export HF_HUB_CACHE="$TMP/cache.$_hub_n"; }

# hub_isolate: keeps the user's Hugging Face cache, token, endpoint and timeouts out of a
# test (HF_HOME under $TMP).
hub_isolate() {
  unset HF_TOKEN HF_TOKEN_PATH HF_HUB_OFFLINE HF_HUB_CACHE HUGGINGFACE_HUB_CACHE HF_ENDPOINT \
        HF_HUB_DOWNLOAD_TIMEOUT HF_HUB_ETAG_TIMEOUT
  export HF_HOME="$TMP/hfhome"
}

# agent_isolate: the agent's built-in planner whatever the environment (no LLM key, URL
# or chat model); LOOP is pipelines/agent-loop.sh, which runs the tools of $BIN (not
# those of the checkout's bin/: the sanitizer and valgrind passes test their own).
agent_isolate() {
  unset OPENAI_API_KEY OPENAI_BASE_URL AUTOINTERP_LLM_MODEL
  LOOP=$ROOT/pipelines/agent-loop.sh
  export AUTOINTERP_BIN=$BIN
}

# val FILE EXPR: EXPR evaluated in Python with L = the JSON lines of FILE (unreadable ones
# skipped), printed.
val() {
  $PY -c '
import json, sys
L = []
for l in open(sys.argv[1], encoding="utf-8"):
    try: L.append(json.loads(l))
    except ValueError: pass
print(eval(sys.argv[2]))' "$1" "$2"
}

# group_start CMD...: CMD in the background in a session and process group of its own
# (setsid), so that group_kill reaches every process it starts.  Sets GPID.
group_start() { setsid "$@" & GPID=$!; }
# group_kill: SIGKILL to every process of that group (`kill -9 -PGID`: dash's kill takes
# no `--`), then waits for CMD, and (up to 5 s) until no process of the group is left —
# only then has the kernel dropped what they held (a journal's writer lock).  Sets GST:
# 137 when the kill ended it, else its own exit status (it had ended before).
group_kill() {
  kill -9 "-$GPID" 2>/dev/null; wait "$GPID" 2>/dev/null; GST=$?
  _i=0
  while pgrep -g "$GPID" > /dev/null 2>&1 && [ $_i -lt 500 ]; do sleep 0.01; _i=$((_i + 1)); done
}
