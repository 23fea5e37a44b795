#!/bin/sh
# secrets.sh: the suite-wide secret scan (tests/secret_scan.sh, run by tests/run.sh) can
# fail.  First its functions on a directory and a stream holding the sentinels (a nested
# file, a binary file, a JSON string, the line numbers, the counts); then a throw-away
# sub-run of tests/run.sh over two fake test programs, one of which writes the run's
# sentinels into its stdout and into files under its TMPDIR, the other nothing: the
# sub-run must name both leaks (program, file or output stream, line), fail, leave the
# clean program alone, never print a sentinel, and remove the scratch it scanned.
. "$(dirname "$0")/../lib.sh"

# ---------------------------------------------------------------- the functions
(
  . "$ROOT/tests/secret_scan.sh"
  OPENAI_API_KEY=sk-sentinel-00112233445566778899aabb HF_TOKEN=hf_sentinelffeeddccbbaa998877665544
  d=$TMP/scan
  mkdir -p "$d/deep/er"
  printf 'one\ntwo\nAuthorization: Bearer %s\nfour\n' "$OPENAI_API_KEY" > "$d/deep/er/log.txt"
  printf '\000\001binary %s\000\n' "$HF_TOKEN" > "$d/blob.bin"
  printf '{"k":"a"}\n{"token":"%s"}\n' "$HF_TOKEN" > "$d/rec.ndjson"
  printf 'clean\n' > "$d/clean.txt"
  printf 'sk-sentinel-00112233445566778899aab\n' > "$d/almost.txt"   # one digit short
  chmod 000 "$d/clean.txt"
  mkfifo "$d/fifo"
  secret_scan_dir t "$d" > "$TMP/dir.unsorted"   # not in a pipeline: it counts in this shell
  sort "$TMP/dir.unsorted" > "$TMP/dir.hits"
  echo "$SECRET_SCAN_FILES $SECRET_SCAN_BYTES $SECRET_SCAN_HITS" > "$TMP/dir.counts"
  secret_scan_text t "$(printf 'a\n%s\nb\nHF %s\n' "$HF_TOKEN" "$HF_TOKEN")" > "$TMP/text.hits"
  secret_scan_text t "clean output" >> "$TMP/text.hits"
  echo "$SECRET_SCAN_HITS" > "$TMP/text.counts"
  secret_scan_summary > "$TMP/summary"
)
check_eq "scan: every leaking file named with its line" "$(cat "$TMP/dir.hits")" \
"FAIL t: secret HF_TOKEN in file blob.bin line 1
FAIL t: secret HF_TOKEN in file rec.ndjson line 2
FAIL t: secret OPENAI_API_KEY in file deep/er/log.txt line 3"
bytes=$(cat "$TMP/scan/deep/er/log.txt" "$TMP/scan/blob.bin" "$TMP/scan/rec.ndjson" "$TMP/scan/clean.txt" "$TMP/scan/almost.txt" | wc -c)
check_eq "scan: files and bytes counted (the FIFO skipped, the unreadable file read)" "$(cat "$TMP/dir.counts")" "5 $bytes 3"
check_eq "scan: the stream's lines" "$(cat "$TMP/text.hits")" "FAIL t: secret HF_TOKEN in output stream line 2,4"
check_eq "scan: hits counted" "$(cat "$TMP/text.counts")" 4
check_grep "scan: summary line" "hits" "$TMP/summary"
check_eq "scan: summary figures" "$(sed 's/[0-9.]* MB/x MB/' "$TMP/summary")" "secret scan: 5 files, x MB, 4 hits"
check_eq "scan: no sentinel printed" "$(grep -c sentinel "$TMP/dir.hits" "$TMP/text.hits" | cut -d: -f2 | tr '\n' ' ')" "0 0 "

# ---------------------------------------------------------------- a sub-run of tests/run.sh
fake=$TMP/fakeunit
mkdir -p "$fake"
# test_fake_leak writes the sentinels it was given where a careless program would: a log
# file in its scratch (line 2), a file made with mktemp, and its stdout (line 2).
cat > "$fake/test_fake_leak" <<'EOF'
#!/bin/sh
mkdir -p "$TMPDIR/work"
printf 'request\nAuthorization: Bearer %s\n' "$OPENAI_API_KEY" > "$TMPDIR/work/request.log"
f=$(mktemp) && printf 'token=%s\n' "$HF_TOKEN" > "$f"
echo "PASS harmless check"
echo "using token $HF_TOKEN"
printf '%s\n%s\n' "$OPENAI_API_KEY" "$HF_TOKEN" > "$SEEN"   # for the outer test only
EOF
cat > "$fake/test_fake_clean" <<'EOF'
#!/bin/sh
echo "PASS clean check"
printf 'no secret here\n' > "$TMPDIR/out.txt"
[ -n "$OPENAI_API_KEY" ] && [ -n "$HF_TOKEN" ] && [ "$AUTOINTERP_TEST_KEEP_TMP" = 1 ] && echo "PASS env set"
EOF
chmod +x "$fake/test_fake_leak" "$fake/test_fake_clean"
mkdir -p "$TMP/runtmp"
SEEN=$TMP/seen TMPDIR=$TMP/runtmp ONLY=test_fake_ UNIT=$fake sh "$ROOT/tests/run.sh" > "$TMP/run.out" 2>&1
rc=$?
check_eq "sub-run: fails" "$rc" 1
check_grep "sub-run: the file leak, with its line" "  test_fake_leak: secret OPENAI_API_KEY in file work/request.log line 2" "$TMP/run.out"
check_eq "sub-run: the mktemp file" "$(grep -c "  test_fake_leak: secret HF_TOKEN in file tmp\.[A-Za-z0-9]* line 1$" "$TMP/run.out")" 1
check_grep "sub-run: the stream leak, with its line" "  test_fake_leak: secret HF_TOKEN in output stream line 2" "$TMP/run.out"
check_grep "sub-run: counted as failures" "3 passed, 3 failed" "$TMP/run.out"
check_grep "sub-run: summary" "secret scan: 3 files," "$TMP/run.out"
check_grep "sub-run: summary hits" ", 3 hits" "$TMP/run.out"
check_eq "sub-run: the clean program passes" "$(grep -c 'test_fake_clean: 2 passed, 0 failed' "$TMP/run.out")" 1
check_eq "sub-run: nothing blamed on the clean program" "$(grep -c 'test_fake_clean: secret' "$TMP/run.out")" 0
check_eq "sub-run: sentinels of the run's own shape" \
  "$(sed -n '1s/^sk-sentinel-[0-9a-f]\{24\}$/ok/p; 2s/^hf_sentinel[0-9a-f]\{24\}$/ok/p' "$TMP/seen" | tr '\n' ' ')" "ok ok "
check_eq "sub-run: fresh sentinels, not this run's" "$(grep -cxF -e "${OPENAI_API_KEY:-none}" -e "${HF_TOKEN:-none}" "$TMP/seen")" 0
check_eq "sub-run: no sentinel in its output" "$(grep -cF -f "$TMP/seen" "$TMP/run.out")" 0
check_eq "sub-run: its scratch removed" "$(find "$TMP/runtmp" -mindepth 1 | wc -l | tr -d ' ')" 0
rm -f "$TMP/seen"   # the sub-run's sentinels are not this run's, but leave nothing behind
