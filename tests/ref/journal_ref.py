#!/usr/bin/env python3
"""An independent reader of the experiment journal (docs/journal.md), for the kill test
(tests/tool/agent_kill.sh): it reads a journal the way the rules say, remembers what it
saw, and says what changed since, so that a test can tell that nothing was lost.

  journal_ref.py state JOURNAL PREV NEXT [--check FILE --rc N] [--stderr FILE]
      Read JOURNAL, compare it with the state in PREV (a file this command wrote, or
      missing: an empty journal) and write the new state to NEXT.  Prints one line:
      "ok|bad readback=0|1 lost=N records=N results=N complete=N notes=N torn=0|1
      new_tear=0|1 repaired=0|1", then after " | " the problems, if any (new_tear: a torn
      last line PREV did not see; repaired: PREV's was terminated).
      readback=1: `journal check`'s line (--check, its exit status --rc) agrees with this
      reader (records, unreadable lines, torn); the only unreadable lines are earlier
      torn ends; a torn last line PREV saw was terminated by a newline, never glued to
      the next record, and the run's stderr (--stderr) says so.
      lost: what PREV saw and the journal no longer holds — result records (by their
      identity, as common/agent/journal.c journal_latest_results keys them), complete
      experiments, notes; 1 more when the journal did not grow by appending only (the
      bytes PREV saw are not a prefix of the file).
      Also a problem: more than one meta or report record, task record per task or note
      per experiment.
  journal_ref.py tear JOURNAL
      Append the first half of the journal's last complete line, without its newline:
      what a kill in the middle of a record's write(2) leaves.
  journal_ref.py final JOURNAL REFERENCE
      One line describing the finished investigation against an uninterrupted
      REFERENCE journal: experiments, results after deduplication (the last record per
      identity) present and equal to the reference's (all fields but kind and time),
      notes equal to the reference's, and the number of report, meta and task records.
      `final REF REF` prints the line wanted.
"""
import hashlib
import json
import os
import sys

# The identity of a result, as common/agent/journal.c result_key() builds it.
RESULT_KEY = ("experiment", "tool", "id", "layers", "position", "label", "patch_hook", "layer",
              "head", "lens_depth")
TOOLS_SAMPLED = ("runlayers", "topk")


class Journal:
    """The records of a journal file, read by the rules of docs/journal.md."""

    def __init__(self, path):
        self.data = open(path, "rb").read() if os.path.exists(path) else b""
        self.records = []        # complete records, in file order
        self.invalid = []        # byte offsets of unreadable lines other than a torn last line
        self.tail = None         # (offset, bytes) of a torn last line
        self.tail_record = None  # the torn last line's record when its text is complete
        offset = 0
        for line in self.data.split(b"\n")[:-1]:
            self._line(line, offset)
            offset += len(line) + 1
        rest = self.data[offset:]
        if rest:
            self.tail = (offset, rest)
            self.tail_record = parse_record(rest)

    def _line(self, line, offset):
        if not line.strip(b" \t\r"):
            return               # blank lines are skipped silently
        r = parse_record(line)
        if r is None:
            self.invalid.append(offset)
        else:
            self.records.append(r)

    def kind(self, k):
        return [r for r in self.all_records() if r["kind"] == k]

    def all_records(self):
        return self.records + ([self.tail_record] if self.tail_record else [])


def parse_record(line):
    try:
        r = json.loads(line.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return r if isinstance(r, dict) and isinstance(r.get("kind"), str) else None


def result_key(r):
    return json.dumps([r.get(k) for k in RESULT_KEY])


def latest_results(j):
    """The last record per identity (journal_latest_results)."""
    out = {}
    for r in j.kind("result"):
        if "id" in r:
            out[result_key(r)] = r
    return out


def experiments(j):
    """name -> the first experiment action (re-runs repeat it)."""
    out = {}
    for a in j.kind("action"):
        if a.get("type") == "experiment" and a.get("name") not in out:
            out[a["name"]] = a
    return out


def complete_experiments(j):
    """Experiments with every result in: each example's scoreloss record for every
    configuration, runlayers (judge for a judged experiment) and topk for the first
    `samples` examples."""
    have = {}
    for key in latest_results(j):
        exp, tool, ident, layers = json.loads(key)[:4]
        have.setdefault((exp, tool), set()).add((ident, json.dumps(layers)))
    done = []
    for name, a in experiments(j).items():
        n_cfg = len(a["configurations"])
        want = {"scoreloss": a["examples"] * n_cfg}
        for t in TOOLS_SAMPLED:
            # a judged experiment's runlayers records come from judge (runlayers | judge)
            want["judge" if t == "runlayers" and a.get("judge") else t] = a.get("samples", 0) * n_cfg
        if all(len(have.get((name, t), ())) >= n for t, n in want.items()):
            done.append(name)
    return sorted(done)


def notes(j):
    return {n.get("experiment", ""): [n["observation"], n.get("hypothesis")] for n in j.kind("note")}


def load_state(path):
    if not os.path.exists(path):
        return {"size": 0, "sha256": hashlib.sha256(b"").hexdigest(), "tail": None, "tears": [],
                "results": [], "complete": [], "notes": {}, "records": 0}
    with open(path) as f:
        return json.load(f)


def counts_once(j, problems):
    for kind in ("meta", "report"):
        if len(j.kind(kind)) > 1:
            problems.append("%d %s records" % (len(j.kind(kind)), kind))
    tasks = [t["task"] for t in j.kind("task")]
    if len(tasks) != len(set(tasks)):
        problems.append("task records repeated: %s" % tasks)
    noted = [n.get("experiment") for n in j.kind("note")]
    if len(noted) != len(set(noted)):
        problems.append("notes repeated: %s" % noted)


def agrees_with_check(j, check_path, rc, problems):
    """`journal check` (the C reader) sees what this reader sees."""
    try:
        c = json.loads(open(check_path, encoding="utf-8").read())
    except (OSError, ValueError) as e:
        problems.append("journal check printed no JSON line (exit %d): %s" % (rc, e))
        return
    want = {"records": len(j.all_records()), "invalid_lines": len(j.invalid), "torn": j.tail is not None}
    got = {k: c.get(k) for k in want}
    if got != want:
        problems.append("journal check says %s, this reader %s" % (got, want))
    want_rc = 5 if j.invalid or j.tail else 0
    if rc != want_rc:
        problems.append("journal check exit %d, want %d" % (rc, want_rc))


def cmd_state(args):
    path, prev_path, next_path = args[:3]
    opts = dict(zip(args[3::2], args[4::2]))
    prev = load_state(prev_path)
    j = Journal(path)
    unread, gone, other = [], [], []   # problems: reading back, something lost, the rest
    size = prev["size"]
    if len(j.data) < size or hashlib.sha256(j.data[:size]).hexdigest() != prev["sha256"]:
        gone.append("the journal is not the earlier one plus appended bytes (was %d bytes, now %d)" % (size, len(j.data)))
    n_lost = len(gone)
    tears = list(prev["tears"])
    repaired = False
    if prev["tail"] is not None and len(j.data) > size:
        repaired = True
        if j.data[size:size + 1] != b"\n":
            unread.append("the torn line at byte %d was not terminated: byte %d is %r" % (prev["tail"], size, j.data[size:size + 1]))
        err = open(opts["--stderr"], "rb").read() if "--stderr" in opts else b"torn"
        if b"torn" not in err:
            unread.append("the run that repaired the torn line at byte %d did not report it" % prev["tail"])
    new_tear = j.tail is not None and j.tail[0] not in tears
    if new_tear:
        tears.append(j.tail[0])
    for off in j.invalid:
        if off not in tears:
            unread.append("an unreadable line at byte %d that is no earlier torn end" % off)
    if "--check" in opts:
        agrees_with_check(j, opts["--check"], int(opts.get("--rc", "0")), unread)
    results = sorted(latest_results(j))
    lost = set(prev["results"]) - set(results)
    if lost:
        gone.append("%d results lost, e.g. %s" % (len(lost), sorted(lost)[0]))
    complete = complete_experiments(j)
    incomplete = set(prev["complete"]) - set(complete)
    if incomplete:
        gone.append("complete experiments no longer complete: %s" % sorted(incomplete))
    now_notes = notes(j)
    changed = [exp for exp, note in prev["notes"].items() if now_notes.get(exp) != note]
    if changed:
        gone.append("notes lost or changed: %s" % changed)
    n_lost += len(lost) + len(incomplete) + len(changed)
    if len(j.all_records()) < prev["records"]:
        other.append("%d records, fewer than the %d before" % (len(j.all_records()), prev["records"]))
    counts_once(j, other)
    state = {"size": len(j.data), "sha256": hashlib.sha256(j.data).hexdigest(),
             "tail": j.tail[0] if j.tail else None, "tears": tears, "results": results,
             "complete": complete, "notes": now_notes, "records": len(j.all_records())}
    with open(next_path, "w") as f:
        json.dump(state, f)
    problems = unread + gone + other
    print("%s readback=%d lost=%d records=%d results=%d complete=%d notes=%d torn=%d new_tear=%d repaired=%d%s"
          % ("bad" if problems else "ok", not unread, n_lost, len(j.all_records()), len(results), len(complete),
             len(now_notes), j.tail is not None, new_tear, repaired, " | " + "; ".join(problems) if problems else ""))


def cmd_tear(args):
    path = args[0]
    data = open(path, "rb").read()
    lines = data.split(b"\n")
    last = lines[-2] if len(lines) >= 2 else b""
    if not data.endswith(b"\n") or len(last) < 2:
        sys.exit("tear: %s does not end in a complete line" % path)
    with open(path, "ab") as f:
        f.write(last[:len(last) // 2])


def strip_record(r):
    return {k: v for k, v in r.items() if k not in ("kind", "time")}


def cmd_final(args):
    j, ref = Journal(args[0]), Journal(args[1])
    got, want = latest_results(j), latest_results(ref)
    raw = [result_key(r) for r in j.kind("result")]
    missing = len(set(want) - set(got))
    extra = len(set(got) - set(want))
    differ = sum(1 for k in want if k in got and strip_record(got[k]) != strip_record(want[k]))
    n_notes, ref_notes = notes(j), notes(ref)
    print("experiments=%d complete=%d results=%d/%d missing=%d extra=%d differ=%d records_per_result>=1:%s "
          "notes=%d/%d same_notes=%s reports=%d meta=%d tasks=%d"
          % (len(experiments(j)), len(complete_experiments(j)), len(got), len(want), missing, extra, differ,
             all(k in raw for k in want), len(j.kind("note")), len(ref_notes), n_notes == ref_notes,
             len(j.kind("report")), len(j.kind("meta")), len(j.kind("task"))))


def main():
    cmds = {"state": (cmd_state, 3), "tear": (cmd_tear, 1), "final": (cmd_final, 2)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or len(sys.argv) - 2 < cmds[sys.argv[1]][1]:
        sys.exit(__doc__)
    cmds[sys.argv[1]][0](sys.argv[2:])


if __name__ == "__main__":
    main()
