#!/bin/sh
# pipelines/ndjson-table.sh: our NDJSON records as aligned text for people to read.
#
#   ndjson-table.sh summary < summary.ndjson   scoreloss --summary records: one row each
#   ndjson-table.sh samples < gen.ndjson       runlayers records: completions per prompt
#   ndjson-table.sh topk    < topk.ndjson      topk records: answer rank, KL, top tokens
#
# Reads stdin (or the FILE operands), writes the text to stdout.  Only POSIX sh and awk:
# a small JSON member reader in awk (no jq).  String values are shown with the escapes of
# control characters intact, so a completion stays on one line ("\n" shows as \n);
# \uXXXX escapes of printable characters (\ufffd for bytes that were not UTF-8) are shown
# as the characters.  Records that
# carry "error" are reported on stderr and left out.
# Exit status: 0 ok, 2 usage error or unreadable input.
set -eu

usage() {
  echo "usage: ndjson-table.sh summary|samples|topk [FILE...]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
mode=$1; shift
case "$mode" in
  summary|samples|topk) ;;
  -h|--help) usage ;;
  *) echo "ndjson-table.sh: unknown mode \"$mode\" (summary, samples or topk)" >&2; usage ;;
esac

# LC_ALL=C: awk counts bytes everywhere, and width() turns bytes into columns.
LC_ALL=C exec awk -v mode="$mode" '
# ---------------------------------------------------------------- JSON members
# Enough JSON to read our own records: the raw text of a top-level member, the
# elements of an array, and a string value for display.
function skip_ws(s, i) {
  while (i <= length(s) && index(" \t\r\n", substr(s, i, 1)) > 0) i++
  return i
}
function string_end(s, i,    n, c) {        # i at the opening quote; returns past the closing one
  n = length(s)
  for (i++; i <= n; i++) {
    c = substr(s, i, 1)
    if (c == "\\") i++
    else if (c == "\"") return i + 1
  }
  return n + 1
}
function value_end(s, i,    n, c, depth) {  # i at a value; returns the index just past it
  n = length(s); c = substr(s, i, 1)
  if (c == "\"") return string_end(s, i)
  if (c == "{" || c == "[") {
    depth = 0
    while (i <= n) {
      c = substr(s, i, 1)
      if (c == "\"") { i = string_end(s, i); continue }
      if (c == "{" || c == "[") depth++
      else if (c == "}" || c == "]") { if (--depth == 0) return i + 1 }
      i++
    }
    return n + 1
  }
  while (i <= n && index(",}] \t\r\n", substr(s, i, 1)) == 0) i++
  return i
}
# member(s, key): raw JSON text of member KEY of the object s, "" when absent.
function member(s, key,    i, n, e, k) {
  n = length(s); i = skip_ws(s, 1)
  if (substr(s, i, 1) != "{") return ""
  for (i = skip_ws(s, i + 1); i <= n && substr(s, i, 1) == "\""; i = skip_ws(s, i + 1)) {
    e = string_end(s, i); k = substr(s, i + 1, e - i - 2)
    i = skip_ws(s, e)
    if (substr(s, i, 1) != ":") return ""
    i = skip_ws(s, i + 1); e = value_end(s, i)
    if (k == key) return substr(s, i, e - i)
    i = skip_ws(s, e)
    if (substr(s, i, 1) != ",") return ""
  }
  return ""
}
# elements(s, out): splits the JSON array s into out[1..n]; returns n.
function elements(s, out,    i, n, e, k) {
  n = length(s); k = 0; i = skip_ws(s, 1)
  if (substr(s, i, 1) != "[") return 0
  i = skip_ws(s, i + 1)
  if (substr(s, i, 1) == "]") return 0
  while (i <= n) {
    e = value_end(s, i); out[++k] = substr(s, i, e - i)
    i = skip_ws(s, e)
    if (substr(s, i, 1) != ",") break
    i = skip_ws(s, i + 1)
  }
  return k
}
# text(v): a JSON string without its quotes, \" \\ \/ and \uXXXX of printable characters
# decoded (to UTF-8: "\ufffd" shows as the replacement character), the escapes of
# control characters kept visible; a number, literal or container as it is; "-" for absent or null.
function text(v,    out, i, n, c, d, cp, lo) {
  if (v == "" || v == "null") return "-"
  if (substr(v, 1, 1) != "\"") return v
  n = length(v) - 1; out = ""
  for (i = 2; i <= n; i++) {
    c = substr(v, i, 1)
    if (c != "\\") { out = out c; continue }
    d = substr(v, ++i, 1)
    if (d == "u") {
      cp = hex4(substr(v, i + 1, 4)); lo = -1
      if (cp >= 55296 && cp < 56320 && substr(v, i + 5, 2) == "\\u") lo = hex4(substr(v, i + 7, 4))
      if (lo >= 56320 && lo < 57344) { out = out utf8(65536 + (cp - 55296) * 1024 + (lo - 56320)); i += 10; continue }
      if (cp >= 32 && cp != 127 && (cp < 55296 || cp >= 57344)) { out = out utf8(cp); i += 4; continue }
    }
    out = out ((d == "\"" || d == "\\" || d == "/") ? d : c d)
  }
  return out
}
# hex4(s): the value of four hex digits, -1 when s is not that.
function hex4(s,    k, h, val) {
  if (length(s) != 4) return -1
  for (k = 1; k <= 4; k++) {
    h = index("0123456789abcdef", tolower(substr(s, k, 1)))
    if (h == 0) return -1
    val = val * 16 + h - 1
  }
  return val
}
# utf8(cp): the UTF-8 bytes of code point cp (LC_ALL=C: %c writes one byte).
function utf8(cp) {
  if (cp < 128) return sprintf("%c", cp)
  if (cp < 2048) return sprintf("%c%c", 192 + int(cp / 64), 128 + cp % 64)
  if (cp < 65536) return sprintf("%c%c%c", 224 + int(cp / 4096), 128 + int(cp / 64) % 64, 128 + cp % 64)
  return sprintf("%c%c%c%c", 240 + int(cp / 262144), 128 + int(cp / 4096) % 64, 128 + int(cp / 64) % 64, 128 + cp % 64)
}
function num(v, fmt) { return (v == "" || v == "null") ? "-" : sprintf(fmt, v + 0) }

# ---------------------------------------------------------------- layout
# width(s): columns s takes on a terminal (UTF-8 continuation bytes take none).
function width(s,    t) { t = s; return length(s) - gsub(/[\200-\277]/, "", t) }
function pad(s, w, right,    k, sp) {
  sp = ""
  for (k = width(s); k < w; k++) sp = sp " "
  return right ? sp s : s sp
}
# cell(r, c, s): row r, column c; widths kept per column.
function cell(r, c, s) { cells[r, c] = s; if (width(s) > w[c]) w[c] = width(s) }
function print_rows(first, last, ncol, right, indent,    r, c, line) {
  for (r = first; r <= last; r++) {
    line = indent
    for (c = 1; c <= ncol; c++) {
      if (!((r, c) in cells)) continue
      line = line (c > 1 ? "  " : "") (c == ncol ? cells[r, c] : pad(cells[r, c], w[c], substr(right, c, 1) == "r"))
    }
    sub(/ +$/, "", line)
    print line
  }
}
function warn_error(e) { printf "ndjson-table: record %d: error: %s\n", NR, text(e) > "/dev/stderr" }

# ---------------------------------------------------------------- summary
# Columns: task, sweep (when a record has one: the make DAG adds it), label, n,
# mean_loss, stderr, exact_rate, delta, layers.
mode == "summary" {
  if ((e = member($0, "error")) != "") { warn_error(e); next }
  if (rows == 0) {
    rows = 1
    cell(1, 1, "task"); cell(1, 3, "label"); cell(1, 4, "n"); cell(1, 5, "mean_loss")
    cell(1, 6, "\302\261 stderr"); cell(1, 7, "exact_rate"); cell(1, 8, "delta"); cell(1, 9, "layers")
  }
  r = ++rows
  cell(r, 1, text(member($0, "task")))
  if ((sw = member($0, "sweep")) != "") { cell(r, 2, text(sw)); has_sweep = 1 }
  cell(r, 3, text(member($0, "label"))); cell(r, 4, text(member($0, "n")))
  cell(r, 5, num(member($0, "mean_loss"), "%.4f"))
  cell(r, 6, "\302\261 " num(member($0, "stderr"), "%.4f"))
  cell(r, 7, num(member($0, "exact_rate"), "%.3f"))
  cell(r, 8, num(member($0, "delta_loss"), "%+.4f"))
  cell(r, 9, text(member($0, "layers")))
  next
}
function finish_summary(    r) {
  if (has_sweep) {
    cell(1, 2, "sweep")
    for (r = 2; r <= rows; r++) if (!((r, 2) in cells)) cell(r, 2, "-")
  }
  print_rows(1, rows, 9, "lllrrrrrl", "")
}

# ---------------------------------------------------------------- samples, topk
# Consecutive records with the same id (else prompt) form one group: a heading with
# the prompt, then one row per configuration.
function group_of(s,    id) {
  id = member(s, "id")
  return id != "" ? id : member(s, "prompt")
}
function start_group(s,    head, a) {
  groups++
  head = "== " text(member(s, "id"))
  a = member(s, "answer")
  if (a != "") head = head "  (answer: " text(a) ")"
  heading[groups] = head
  prompt[groups] = text(member(s, "prompt"))
  first[groups] = rows + 1
}
mode != "summary" {
  if ((e = member($0, "error")) != "") { warn_error(e); next }
  g = group_of($0)
  if (groups == 0 || g != last_group) start_group($0)
  last_group = g
  r = ++rows; last[groups] = r
}
mode == "samples" {
  reason = text(member($0, "finish_reason"))
  cell(r, 1, text(member($0, "label")))
  cell(r, 2, "|" text(member($0, "completion")) (reason == "length" || reason == "-" ? "" : "  [" reason "]"))
}
mode == "topk" {
  cell(r, 1, text(member($0, "label"))); cell(r, 2, text(member($0, "position")))
  cell(r, 3, text(member($0, "answer_rank"))); cell(r, 4, num(member($0, "answer_prob"), "%.3g"))
  cell(r, 5, num(member($0, "kl_from_intact"), "%.4f"))
  k = elements(member($0, "topk"), top); list = ""
  for (j = 1; j <= k; j++)
    list = list (j > 1 ? "  " : "") member(top[j], "token") " " num(member(top[j], "prob"), "%.3f")
  cell(r, 6, list)
}

END {
  if (mode == "summary") { if (rows) finish_summary(); exit }
  if (mode == "topk" && groups) {
    cell(0, 1, "label"); cell(0, 2, "pos"); cell(0, 3, "answer_rank"); cell(0, 4, "answer_prob")
    cell(0, 5, "kl_from_intact"); cell(0, 6, "top tokens (prob)")
  }
  for (gi = 1; gi <= groups; gi++) {
    if (gi > 1) print ""
    print heading[gi]
    print "   " prompt[gi]
    if (mode == "topk") print_rows(0, 0, 6, "lrrrrl", "   ")
    print_rows(first[gi], last[gi], mode == "topk" ? 6 : 2, mode == "topk" ? "lrrrrl" : "ll", "   ")
  }
}
' "$@"
