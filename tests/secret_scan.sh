# tests/secret_scan.sh: the suite-wide secret scan (docs/robustness.md, "Secrets").
# Sourced by tests/run.sh (and by tests/tool/secrets.sh, which proves it can fail).
#
#   secret_scan_init         exports a fresh random sentinel for every secret the code
#                            reads (SECRET_SCAN_VARS): OPENAI_API_KEY=sk-sentinel-<hex>,
#                            HF_TOKEN=hf_sentinel<hex>.  Any real key in the caller's
#                            environment is replaced, so tests never send it anywhere.
#   secret_scan_text NAME TEXT   scans TEXT (a test program's stdout+stderr)
#   secret_scan_dir NAME DIR     scans every regular file under DIR, binary ones included
#
# Each hit is printed as one line, never showing the secret itself:
#   FAIL NAME: secret OPENAI_API_KEY in output stream line 3
#   FAIL NAME: secret HF_TOKEN in file autointerp-test.x1Y2z3/err line 1
# and SECRET_SCAN_HITS, SECRET_SCAN_FILES, SECRET_SCAN_BYTES count hits and what was read.
# The literal value is searched for.  The sentinels use only [A-Za-z0-9_-], so their JSON
# string form (and their URL-encoded form) is the same bytes; encodings that change them
# (base64 of an "Authorization: Bearer ..." line, hashes) are not searched for.

SECRET_SCAN_VARS="OPENAI_API_KEY HF_TOKEN"
SECRET_SCAN_HITS=0 SECRET_SCAN_FILES=0 SECRET_SCAN_BYTES=0

secret_scan_random_hex() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }

secret_scan_init() {
  OPENAI_API_KEY="sk-sentinel-$(secret_scan_random_hex)"
  HF_TOKEN="hf_sentinel$(secret_scan_random_hex)"
  export OPENAI_API_KEY HF_TOKEN
}

# secret_scan_value VAR: the current value of the variable named VAR.
secret_scan_value() { eval "printf '%s' \"\${$1:-}\""; }

# secret_scan_lines VAR: line numbers (comma-separated, at most 5) on stdin holding VAR's value.
secret_scan_lines() {
  grep -naF -- "$(secret_scan_value "$1")" | head -n 5 | cut -d: -f1 | tr '\n' ',' | sed 's/,$//'
}

# Variables of these functions start with ss_: the callers' are left alone.
secret_scan_text() {
  ss_name=$1 ss_text=$2
  SECRET_SCAN_BYTES=$((SECRET_SCAN_BYTES + $(printf '%s\n' "$ss_text" | wc -c)))
  for ss_var in $SECRET_SCAN_VARS; do
    [ -n "$(secret_scan_value "$ss_var")" ] || continue
    ss_lines=$(printf '%s\n' "$ss_text" | secret_scan_lines "$ss_var")
    [ -n "$ss_lines" ] || continue
    SECRET_SCAN_HITS=$((SECRET_SCAN_HITS + 1))
    echo "FAIL $ss_name: secret $ss_var in output stream line $ss_lines"
  done
}

secret_scan_dir() {
  ss_name=$1 ss_dir=$2
  [ -d "$ss_dir" ] || return 0
  # Tests may leave files without read permission (error-path checks): we own them.
  chmod -R u+rwX "$ss_dir" 2>/dev/null
  ss_count=$(find "$ss_dir" -type f -printf '%s\n' | awk '{ n++; s += $1 } END { print n + 0, s + 0 }')
  SECRET_SCAN_FILES=$((SECRET_SCAN_FILES + ${ss_count% *})) SECRET_SCAN_BYTES=$((SECRET_SCAN_BYTES + ${ss_count#* }))
  ss_hits=$(for ss_var in $SECRET_SCAN_VARS; do
    ss_value=$(secret_scan_value "$ss_var")
    [ -n "$ss_value" ] || continue
    # -r does not follow symbolic links (their targets are scanned where they live);
    # -D skip leaves FIFOs and sockets alone (reading one would block).
    grep -rlaF -D skip -- "$ss_value" "$ss_dir" | while IFS= read -r ss_f; do
      echo "FAIL $ss_name: secret $ss_var in file ${ss_f#"$ss_dir"/} line $(secret_scan_lines "$ss_var" < "$ss_f")"
    done
  done)
  [ -n "$ss_hits" ] || return 0
  SECRET_SCAN_HITS=$((SECRET_SCAN_HITS + $(printf '%s\n' "$ss_hits" | wc -l)))
  printf '%s\n' "$ss_hits"
}

# secret_scan_summary: the figure printed at the end of tests/run.sh.
secret_scan_summary() {
  awk -v f="$SECRET_SCAN_FILES" -v b="$SECRET_SCAN_BYTES" -v h="$SECRET_SCAN_HITS" \
    'BEGIN { printf "secret scan: %d files, %.1f MB, %d hits\n", f, b / 1e6, h }'
}
