#!/bin/sh
# journal + report on a tiny model: a journal built from real tool output piped through
# `journal append`; `journal cat`/`check`; `report` tables equal to `scoreloss --summary`,
# SVG plots well-formed with the expected series; torn and invalid lines reported,
# repaired on append; write errors; gnuplot missing or failing.
. "$(dirname "$0")/../lib.sh"
M=$TMP/model
tiny_model "$M"
cd "$TMP" || exit 1
export SOURCE_DATE_EPOCH=1700000000
J=inv.ndjson

# ---- build the journal
loadgpt2 "$M" | $PY -c '
import json, sys
print(json.dumps({"model": json.loads(sys.stdin.read()), "goal": "Which blocks | does the model need?", "max_steps": 5}))' \
  | journal append --journal $J --kind meta > meta_echo.ndjson
check_eq "append meta: exit 0" "$?" 0
gentasks --list | $PY -c '
import json, sys
for d in map(json.loads, sys.stdin):
    if d["name"] in ("facts", "addition"):
        print(json.dumps({"task": d["name"], "description": d["description"], "eval_questions": d.get("eval_questions", []), "n_examples": 3}))' \
  | journal append -q --journal $J --kind task > task_echo.ndjson
check_eq "append -q: nothing echoed" "$(wc -c < task_echo.ndjson)" 0
gentasks facts addition -n 3 > tasks.ndjson
scoreloss --model "$M" --sweep drop-last < tasks.ndjson > dl_direct.ndjson
scoreloss --model "$M" --sweep drop-last < tasks.ndjson | journal append --journal $J --kind result --experiment drop-last --tool scoreloss > dl.ndjson
check_eq "append result: exit 0" "$?" 0
check "append echoes the records unchanged" cmp dl.ndjson dl_direct.ndjson
scoreloss --model "$M" --sweep skip-one < tasks.ndjson | journal append --journal $J --kind result --experiment skip-one --tool scoreloss > so.ndjson
runlayers --model "$M" --sweep skip-one --max-tokens 6 < tasks.ndjson | journal append --journal $J --kind result --experiment speak --tool runlayers > run.ndjson
topk --model "$M" --layers 0-2 -k 3 < tasks.ndjson | journal append --journal $J --kind result --experiment tokens --tool topk > topk.ndjson
# An upstream error record is journalled (tagged) and passed on; it is not this tool's failure.
echo '{"task":"facts","prompt":"no answer here"}' | scoreloss --model "$M" 2>/dev/null \
  | journal append --journal $J --kind result --experiment broken --tool scoreloss > err_echo.ndjson
check_eq "upstream error record: journal append exits 0" "$?" 0
check_grep "upstream error record echoed" '"error":' err_echo.ndjson
printf '%s\n' '{"experiment":"drop-last","task":"facts","observation":"Loss *falls* when the last block goes.","hypothesis":"block 3 hurts facts"}' \
  | journal append -q --journal $J --kind note
printf '%s\n' '{"hypothesis":"no observation"}' 'not json' | journal append -q --journal $J --kind note 2> bad_note.err
check_eq "a note without observation / not JSON: exit 5" "$?" 5
check_grep "refused note reported" 'a note record needs "observation"' bad_note.err
printf '%s\n' '{"markdown":"## Summary\nDropping blocks **raises** the loss.\n"}' | journal append -q --journal $J --kind report

# ---- journal check, cat
journal check --journal $J > check.json
check_eq "check: counts per kind" "$(cat check.json)" \
  '{"journal":"inv.ndjson","records":102,"kinds":{"meta":1,"task":2,"result":97,"note":1,"report":1},"experiments":["drop-last","skip-one","speak","tokens","broken"],"finished":true,"invalid_lines":0,"torn":false}'
journal cat --journal $J --kind result --experiment drop-last > cat_dl.ndjson
check_eq "cat: exit 0" "$?" 0
$PY -c '
import json
got = [json.loads(l) for l in open("cat_dl.ndjson")]
want = [json.loads(l) for l in open("dl.ndjson")]
ok = len(got) == len(want) == 30
for g, w in zip(got, want):
    tags = {k: g.pop(k) for k in ("kind", "time", "experiment", "tool")}
    ok &= g == w and tags == {"kind": "result", "time": "2023-11-14T22:13:20.000Z", "experiment": "drop-last", "tool": "scoreloss"}
print("ok" if ok else "mismatch")' > cat_cmp.txt
check_eq "cat: result records = tool records + kind, time, experiment, tool" "$(cat cat_cmp.txt)" ok
check_eq "cat --kind note" "$(journal cat --journal $J --kind note | wc -l)" 1
check_eq "cat --kind task --kind meta" "$(journal cat --journal $J --kind task --kind meta | wc -l)" 3
check_eq "cat --task addition --kind result" "$(journal cat --journal $J --task addition --kind result | wc -l)" 48

# ---- usage and write errors
journal append --journal $J --kind result < /dev/null 2>/dev/null
check_eq "result without --experiment/--tool: exit 2" "$?" 2
journal append --journal $J --kind nonsense < /dev/null 2>/dev/null
check_eq "unknown kind: exit 2" "$?" 2
journal frobnicate --journal $J 2>/dev/null
check_eq "unknown command: exit 2" "$?" 2
journal append --journal /dev/full --kind result --experiment x --tool scoreloss < dl.ndjson > /dev/null 2> full.err
check_eq "/dev/full: exit 2" "$?" 2
check_grep "/dev/full: ENOSPC reported" "No space left on device" full.err
# A file size limit (SIGXFSZ ignored): the record that crosses it is cut short and the
# journal ends in one torn line; every record before it is intact.
( trap '' XFSZ; ulimit -f 8; journal append --journal limited.ndjson --kind result --experiment x --tool scoreloss < dl.ndjson > /dev/null 2> limit.err )
check_eq "file size limit: exit 2" "$?" 2
check_grep "file size limit: short write reported" "short write" limit.err
journal check --journal limited.ndjson > limit.json 2>/dev/null
check_eq "file size limit: check exit 5" "$?" 5
check_grep "file size limit: torn last line" '"invalid_lines":0,"torn":true' limit.json
$PY -c '
import json
lines = open("limited.ndjson", "rb").read().split(b"\n")
whole = [json.loads(l) for l in lines[:-1]]
want = [json.loads(l) for l in open("dl.ndjson")][:len(whole)]
print("ok" if len(whole) > 0 and lines[-1] and [{k: v for k, v in r.items() if k not in ("kind", "time", "experiment", "tool")} for r in whole] == want else "bad")' > limit_cmp.txt
check_eq "file size limit: the complete records are intact" "$(cat limit_cmp.txt)" ok

# ---- report
report --journal $J --out rep 2> report.err
check_eq "report: exit 0" "$?" 0
check "report.md written" test -s rep/report.md
check "loss_vs_layers.svg written" test -s rep/loss_vs_layers.svg
check "skip_one_delta.svg written" test -s rep/skip_one_delta.svg
check_grep "report: title with the model" "# Investigation report: $M" rep/report.md
check_grep "report: model line" "4 blocks, 4 heads, width 64, context 128" rep/report.md
check_grep "report: goal escaped" "Which blocks \\| does the model need?" rep/report.md
check_grep "report: task description escaped" '"Madrid is the capital of" -&gt; "Spain"' rep/report.md
check_grep "report: upstream error counted" "1 of them carry an error" rep/report.md
check_grep "report: note" "1. *(experiment drop-last, task facts)* Loss *falls* when the last block goes." rep/report.md
check_grep "report: hypothesis" "**Hypothesis:** block 3 hurts facts" rep/report.md
check_grep "report: plot link" "](loss_vs_layers.svg)" rep/report.md
check_eq "report: results section last" "$(tail -n 4 rep/report.md)" "## Results

## Summary
Dropping blocks **raises** the loss."
# Loss tables: the numbers of `scoreloss --summary` on the same records.
scoreloss --summary < dl.ndjson > dl_sum.ndjson
scoreloss --summary < so.ndjson > so_sum.ndjson
cat > tables.py <<'EOF'
import json, re, sys
md = open("rep/report.md", encoding="utf-8").read()
def rows(experiment):
    sec = md.split("## Experiment " + experiment + "\n", 1)[1].split("\n## ", 1)[0]
    out = {}
    for block in sec.split("**Task ")[1:]:
        task = block.split("**", 1)[0]
        for line in block.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if len(cells) == 6 and "±" in cells[3] and cells[0] != "configuration":
                out[(task, cells[0])] = cells
    return out
def fmt(r):
    delta = "%+.4f" % r["delta_loss"] if r["delta_loss"] is not None else "\u2014"
    return [str(r["n"]), "%.4f ± %.4f" % (r["mean_loss"], r["stderr"]), delta, "%.2f" % r["exact_rate"]]
bad = 0
for experiment, summary in (("drop-last", "dl_sum.ndjson"), ("skip-one", "so_sum.ndjson")):
    got = rows(experiment)
    want = [json.loads(l) for l in open(summary)]
    if len(got) != len(want):
        print("%s: %d rows, want %d" % (experiment, len(got), len(want))); bad += 1
    for r in want:
        cells = got.get((r["task"], r["label"]))
        if cells is None or cells[2:] != fmt(r):
            print("%s %s %s: got %s want %s" % (experiment, r["task"], r["label"], cells, fmt(r))); bad += 1
print("ok" if bad == 0 else "bad")
EOF
$PY tables.py > tables.txt
check_eq "report: loss tables equal scoreloss --summary (n, mean ± stderr, delta, exact)" "$(tail -n 1 tables.txt)" ok
check_grep "report: layers column compact" "| first 2 | 0,1 | 3 |" rep/report.md
# Completions: two per configuration and task, the first one as runlayers wrote it.
cat > samples.py <<'EOF'
import json
md = open("rep/report.md", encoding="utf-8").read()
def esc(s):
    out = ""
    for c in s:
        if c == "\n": out += "\u21b5"
        elif c in "|\\`*_[]~": out += "\\" + c
        elif c == "<": out += "&lt;"
        elif c == ">": out += "&gt;"
        elif c == "&": out += "&amp;"
        else: out += c
    return out
sec = md.split("## Experiment speak\n", 1)[1].split("\n## ", 1)[0]
rows = [l for l in sec.splitlines() if l.startswith("| skip ") or l.startswith("| intact ")]
runs = [json.loads(l) for l in open("run.ndjson")]
first = runs[0]
want = "| %s | %s | \u201c%s\u201d | %s |" % (first["label"], esc(first["prompt"]), esc(first["completion"]), first["finish_reason"])
tk = [json.loads(l) for l in open("topk.ndjson")][0]
tok = "\u201c%s\u201d %.3f" % (esc(tk["topk"][0]["token"]), tk["topk"][0]["prob"])
print(len(rows), want in md, tok in md, ("| %.4f | %d |" % (tk["kl_from_intact"], tk["answer_rank"])) in md)
EOF
check_eq "report: 2 completions x 5 configurations x 2 tasks; first completion; top token; KL and rank" "$($PY samples.py)" "20 True True True"

# ---- SVG plots
cat > svg.py <<'EOF'
import json, sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
def texts(path):
    return [("".join(t.itertext())).strip() for t in ET.parse(path).getroot().iter(ns + "text")]
lines = texts("rep/loss_vs_layers.svg")
heat = texts("rep/skip_one_delta.svg")
# Series of the line plot: one block per task in the data file, x = blocks kept, y = mean loss.
dl = [json.loads(l) for l in open("dl_sum.ndjson")]
blocks = open("rep/loss_vs_layers.dat").read().strip().split("\n\n\n")
ok = len(blocks) == 2 and "facts" in lines and "addition" in lines
for task, block in zip(("facts", "addition"), blocks):
    pts = [tuple(map(float, l.split())) for l in block.splitlines() if not l.startswith("#")]
    want = sorted((len(r["layers"]), r["mean_loss"]) for r in dl if r["task"] == task)
    ok &= len(pts) == 5 and all(p[0] == w[0] and abs(p[1] - w[1]) <= 1e-6 * abs(w[1]) for p, w in zip(pts, want))
# Heatmap: rows facts, addition; a cell label per block with the skip-one delta.
so = [json.loads(l) for l in open("so_sum.ndjson")]
for r in so:
    if r["label"].startswith("skip "):
        ok &= ("%.2f" % r["delta_loss"]) in heat
ok &= "facts" in heat and "addition" in heat and "block skipped" in heat
print("ok" if ok else "bad: %s %s" % (lines[:20], heat[:30]))
EOF
check_eq "plots: well-formed SVG, series and cells from the summary" "$($PY svg.py 2>&1 | tail -n 1)" ok

# ---- deterministic, stdout form
report --journal $J --out rep2 2>/dev/null
check "same journal, same report.md" cmp rep/report.md rep2/report.md
check "same journal, same SVG" cmp rep/skip_one_delta.svg rep2/skip_one_delta.svg
report --journal $J --plots figs > stdout.md 2>/dev/null
check_eq "report on stdout: plot links into --plots" "$(sed 's|](figs/|](|' stdout.md | cmp - rep/report.md && echo same)" same
check "report on stdout: plots in figs/" test -s figs/loss_vs_layers.svg
mkdir -p default && (cd default && report --journal ../$J > r.md 2>/dev/null && test -s report/skip_one_delta.svg)
check_eq "report default plot dir report/" "$?" 0

# ---- without gnuplot, with a failing gnuplot
report --journal $J --out nognu --gnuplot /nonexistent/gnuplot 2> nognu.err
check_eq "gnuplot missing: exit 0" "$?" 0
check_grep "gnuplot missing: note in place of the plot" "not drawn, gnuplot is not installed" nognu/report.md
check_eq "gnuplot missing: no SVG" "$(ls nognu | grep -c svg)" 0
check_grep "gnuplot missing: warning" "gnuplot not found" nognu.err
GNUPLOT=false report --journal $J --out failgnu 2> failgnu.err
check_eq "gnuplot failing: exit 2" "$?" 2
check_grep "gnuplot failing: note" "not drawn, the plot failed" failgnu/report.md
check_grep "gnuplot failing: exit status reported" "failed (exit 1)" failgnu.err

# ---- a journal cut mid-line
cp $J torn.ndjson
size=$(wc -c < torn.ndjson)
truncate -s $((size - 25)) torn.ndjson
last_start=$($PY -c 'd = open("torn.ndjson", "rb").read(); print(d.rindex(b"\n") + 1)')
journal cat --journal torn.ndjson > torn_cat.ndjson 2> torn_cat.err
check_eq "torn: cat exits 5" "$?" 5
check_grep "torn: reported with line and byte offset" "torn.ndjson:102 (byte $last_start): torn last line" torn_cat.err
check_eq "torn: all complete records kept" "$(wc -l < torn_cat.ndjson)" 101
check_eq "torn: the complete records are the journal's first 101 lines" "$(head -n 101 $J | cmp - torn_cat.ndjson && echo same)" same
journal check --journal torn.ndjson > torn_check.json 2>/dev/null
check_grep "torn: check says torn, not finished" '"finished":false,"invalid_lines":0,"torn":true' torn_check.json
report --journal torn.ndjson --no-plots > torn.md 2>/dev/null
check_eq "torn: report exits 5" "$?" 5
check_grep "torn: report warns" "1 unreadable line skipped (line 102, torn)" torn.md
check_grep "torn: report not finished" "has not finished" torn.md
printf '%s\n' '{"observation":"after the crash"}' | journal append -q --journal torn.ndjson --kind note 2> repair.err
check_eq "repair: append exits 0" "$?" 0
check_grep "repair: warned" "ended in a torn line (byte $((size - 25)))" repair.err
journal check --journal torn.ndjson > repaired.json 2> repaired.err
check_grep "repair: torn text is now an invalid middle line" '"records":102,"kinds":{"meta":1,"task":2,"result":97,"note":2},"experiments":["drop-last","skip-one","speak","tokens","broken"],"finished":false,"invalid_lines":1,"torn":false' repaired.json
check_grep "repair: the invalid line is reported" "torn.ndjson:102 (byte $last_start): invalid JSON" repaired.err
check_eq "repair: the new record is a line of its own" "$(tail -n 1 torn.ndjson)" '{"kind":"note","time":"2023-11-14T22:13:20.000Z","observation":"after the crash"}'

# ---- an invalid line in the middle
sed '5s/.*/{"kind": broken/' $J > mid.ndjson
journal cat --journal mid.ndjson > mid_cat.ndjson 2> mid.err
check_eq "invalid middle line: exit 5" "$?" 5
check_grep "invalid middle line: line number reported" "mid.ndjson:5 (byte $(head -n 4 $J | wc -c)): invalid JSON" mid.err
check_eq "invalid middle line: the others kept" "$(wc -l < mid_cat.ndjson)" 101
