#!/bin/sh
# bad_inputs: runs every row of tests/fixtures/bad_inputs.tsv (the table says what each
# row tries and what must happen: exit status, message, records that still come out).
# Every row also checks that nothing crashed (no signal but SIGPIPE, no sanitizer
# report), that every line written is a JSON object in valid UTF-8, and, where the row
# gives limits, the peak memory and the time.
# Env: BAD_INPUTS_HUGE_MB (80) size of the huge lines; BAD_INPUTS_SLOW (1) factor on
# time limits (tests/valgrind.sh sets both: valgrind is ~50x slower).
. "$(dirname "$0")/../lib.sh"
HUGE_MB=${BAD_INPUTS_HUGE_MB:-80}
M=$TMP/m
B=$TMP/b
tiny_model "$M"
mkdir -p "$B" "$TMP/emptycache"

# A copy of $M whose files are links, except the one a broken variant replaces.
variant() {
  mkdir -p "$B/$1"
  for f in "$M"/*; do ln -s "$f" "$B/$1/$(basename "$f")"; done
  [ -n "$2" ] && rm "$B/$1/$2"
  return 0
}
variant st-is-dir model.safetensors; mkdir "$B/st-is-dir/model.safetensors"
variant config-is-dir config.json; mkdir "$B/config-is-dir/config.json"
variant truncated model.safetensors; head -c "$(($(wc -c <"$M/model.safetensors") - 100))" "$M/model.safetensors" >"$B/truncated/model.safetensors"
variant stub model.safetensors; printf '\020\000\000\000' >"$B/stub/model.safetensors"
variant empty-st model.safetensors; : >"$B/empty-st/model.safetensors"
variant bad-hlen model.safetensors; { printf '\000\000\000\005\000\000\000\000'; tail -c +9 "$M/model.safetensors"; } >"$B/bad-hlen/model.safetensors"
variant huge-hlen model.safetensors; { printf '\000\000\000\000\000\001\000\000'; tail -c +9 "$M/model.safetensors"; } >"$B/huge-hlen/model.safetensors"
variant not-object-header model.safetensors; { head -c 8 "$M/model.safetensors"; printf '!!!!'; tail -c +13 "$M/model.safetensors"; } >"$B/not-object-header/model.safetensors"
variant bad-header model.safetensors; { head -c 8 "$M/model.safetensors"; printf '{!!!'; tail -c +13 "$M/model.safetensors"; } >"$B/bad-header/model.safetensors"
for v in nan inf; do variant $v model.safetensors; cp "$M/model.safetensors" "$B/$v/model.safetensors"; done
$PY - "$B" <<'EOF'
import json, struct, sys
def poke(path, name, index, value):
    with open(path, 'r+b') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        h = json.loads(f.read(n))
        f.seek(8 + n + h[name]['data_offsets'][0] + 4 * index)
        f.write(struct.pack('<f', value))
poke(sys.argv[1] + '/nan/model.safetensors', 'h.1.mlp.c_fc.weight', 5, float('nan'))
poke(sys.argv[1] + '/inf/model.safetensors', 'ln_f.weight', 0, float('inf'))
EOF
variant vocab-merges merges.txt; sed '2s/.*/a zzzzqq/' "$M/merges.txt" >"$B/vocab-merges/merges.txt"
variant vocab-truncated vocab.json; head -c 1000 "$M/vocab.json" >"$B/vocab-truncated/vocab.json"
variant shape config.json; sed 's/"n_embd": *64/"n_embd": 128/' "$M/config.json" >"$B/shape/config.json"
variant depth config.json; sed 's/"n_layer": *4/"n_layer": 5/' "$M/config.json" >"$B/depth/config.json"
variant config-junk config.json; echo '{"n_layer": 4,' >"$B/config-junk/config.json"
variant config-type config.json; sed 's/"n_layer": *4/"n_layer": "4"/' "$M/config.json" >"$B/config-type/config.json"
echo 'junk' >"$B/junk.json"

# Generated inputs (@NAME in the table).
AFTER='{"prompt":"ok","answer":"x","id":"after"}'
$PY - "$TMP" "$HUGE_MB" "$AFTER" <<'EOF'
import json, sys
tmp, mb, after = sys.argv[1], int(sys.argv[2]), sys.argv[3] + '\n'
n = mb * 1024 * 1024
def write(name, text):
    with open(f'{tmp}/in.{name}', 'w') as f:
        f.write(text + after)
write('huge-words', json.dumps({'prompt': 'word ' * (n // 5), 'answer': 'x'}) + '\n')
write('huge-word', json.dumps({'prompt': 'a' * n, 'answer': 'x'}) + '\n')
write('huge-nest', '{"a":' + '[' * n + '\n')
write('many-layers', json.dumps({'prompt': 'hi', 'answer': 'x', 'layers': [0] * 5000}) + '\n')
write('long-prompt', json.dumps({'prompt': 'hello ' * 300, 'answer': 'x'}) + '\n')
write('full-prompt', json.dumps({'prompt': ' hello' * 127}) + '\n')   # + BOS = 128 tokens
write('many', ''.join(json.dumps({'prompt': f'hello world {i}', 'answer': 'x'}) + '\n' for i in range(3000)))
write('many-completions', ''.join(json.dumps({'prompt': f'hello world {i}', 'completion': ' a a a a'}) + '\n' for i in range(3000)))
# judge's offline judges on huge text: a deep JSON prompt, a long loop, a long word run
write('huge-judge', json.dumps({'task': 'json', 'prompt': '[' * (n // 2), 'completion': ' a' * (n // 4),
                                'completion_tokens': [7] * 100000}) + '\n')
EOF

# Tools built with a sanitizer, or run through valgrind wrappers, use more memory.
plain=1
if [ -f "$BIN/scoreloss" ] && { head -c 2 "$BIN/scoreloss" | grep -q '#!' || grep -q __asan_init "$BIN/scoreloss"; }; then plain=0; fi

export M B TMP
$PY - "$ROOT/tests/fixtures/bad_inputs.tsv" "$TMP" "$AFTER" "$plain" "${BAD_INPUTS_SLOW:-1}" <<'EOF'
import codecs, json, os, re, signal, subprocess, sys, time

table, tmp, after, plain, slow = sys.argv[1], sys.argv[2], sys.argv[3].encode() + b'\n', sys.argv[4] == '1', float(sys.argv[5])
unesc = lambda s: codecs.escape_decode(s.encode())[0]

def stdin_of(spec):
    if spec == '-':
        return open(os.devnull, 'rb')
    if spec == '@dir':
        return os.open(tmp, os.O_RDONLY)   # reading a directory fails with EISDIR
    if spec.startswith('@') and not spec.startswith('@AFTER'):
        return open(f'{tmp}/in.{spec[1:]}', 'rb')
    path = f'{tmp}/row.in'
    with open(path, 'wb') as f:
        f.write(unesc(spec).replace(b'@AFTER', after))
    return open(path, 'rb')

def run(cmd, stdin, limit_s):
    """Runs cmd; returns (status, stdout bytes, stderr bytes, peak RSS in MB, seconds)."""
    out, err = open(f'{tmp}/row.out', 'w+b'), open(f'{tmp}/row.err', 'w+b')
    sigpipe = cmd.startswith('sigpipe: ')
    t0 = time.time()
    if sigpipe:   # read one line, then close the pipe, as `cmd | head -1` does
        p = subprocess.Popen(['sh', '-c', 'exec ' + cmd[9:]], stdin=stdin, stdout=subprocess.PIPE, stderr=err)
        out.write(p.stdout.readline())
        p.stdout.close()
    else:
        p = subprocess.Popen(['sh', '-c', cmd], stdin=stdin, stdout=out, stderr=err)
    timed_out = False
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.time() - t0 > limit_s:
            os.kill(p.pid, signal.SIGKILL)
            timed_out = True
        time.sleep(0.02)
    secs = time.time() - t0
    code = os.waitstatus_to_exitcode(status)
    code = 128 - code if code < 0 else code   # killed by a signal: 128 + its number
    if not isinstance(stdin, int):
        stdin.close()
    else:
        os.close(stdin)
    out.seek(0), err.seek(0)
    res = (code, out.read(), err.read(), ru.ru_maxrss / 1024, secs, timed_out)
    out.close(), err.close()
    return res

rows = 0
for line in open(table, encoding='utf-8'):
    line = line.rstrip('\n')
    if not line or line.startswith('#'):
        continue
    f = line.split('\t')
    name, cmd, stdin, status, msg, limits, expect = f[0], f[1], f[2], f[3], f[4], f[5], f[6:]
    rows += 1
    lim = dict(re.findall(r'(rss|time)<(\d+)', limits))
    limit_s = float(lim.get('time', 120)) * slow
    code, out, err, rss, secs, timed_out = run(cmd, stdin_of(stdin), limit_s)
    bad = []
    if timed_out:
        bad.append(f'killed after {limit_s:.0f} s')
    if str(code) not in status.split('|'):
        bad.append(f'exit {code}, want {status}')
    if msg == '-':
        if err:
            bad.append(f'stderr not empty: {err[:200]!r}')
    elif unesc(msg) not in err:
        bad.append(f'stderr lacks {msg!r}: {err[:300]!r}')
    for word in (b'AddressSanitizer', b'runtime error:', b'LeakSanitizer', b'Segmentation fault', b'core dumped'):
        if word in err:
            bad.append(f'stderr has {word.decode()}')
    for e in expect:
        if unesc(e) not in out:
            bad.append(f'stdout lacks {e!r}: {out[:300]!r}')
    for k, l in enumerate(out.splitlines()):
        try:
            if not isinstance(json.loads(l.decode('utf-8')), dict):
                raise ValueError('not an object')
        except (ValueError, UnicodeDecodeError) as x:
            bad.append(f'output line {k + 1} is not a UTF-8 JSON object ({x}): {l[:120]!r}')
            break
    if 'rss' in lim and plain and rss > float(lim['rss']):
        bad.append(f'peak memory {rss:.0f} MB > {lim["rss"]} MB')
    how = f'exit {code}, {len(out.splitlines())} lines, {secs:.1f} s' + (f', {rss:.0f} MB' if lim else '')
    if bad:
        print(f'FAIL bad input: {name}: ' + '; '.join(bad))
    else:
        print(f'PASS bad input: {name} ({how})')
print(f'# {rows} bad inputs tried')
EOF
