#!/usr/bin/env python3
"""Synthetic inputs for the journal scaling benchmark (bench/journal_bench.sh) and the
large-input tests (tests/tool/journal_scale.sh).  Deterministic: the same arguments give
the same bytes.

  synth_journal.py journal N [--unfinished] [--planned]
                                     a journal of N records shaped like an agent run's:
                                     a meta, 8 tasks, then per step an action, an llm
                                     exchange, ~60 results of one experiment (scoreloss
                                     over drop-last/skip-one configurations, some topk and
                                     runlayers) and a note; a report record at the end
                                     (not with --unfinished: the agent can go on);
                                     --planned: the actions carry their configurations
                                     and labels, as agentstep journals them, so that the
                                     agent's state holds every result (without, the
                                     experiments are unknown to it and it skips them)
  synth_journal.py scored N LABELS   N scoreloss records over LABELS distinct labels
                                     (and N / LABELS tasks) for `scoreloss --summary`
  synth_journal.py tasks N           NDJSON example records of N distinct tasks for
                                     `gentasks --from`
"""
import json
import sys

TASKS = ["facts", "addition", "capitals", "antonyms", "plural", "past_tense", "country_lang", "ioi"]
N_BLOCKS = 12


def dumps(o):
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False)


def rng(seed):
    """A small LCG so that the output does not depend on Python's random module."""
    x = seed & 0xFFFFFFFF
    while True:
        x = (1103515245 * x + 12345) & 0x7FFFFFFF
        yield x


def configs(step):
    if step % 2 == 0:
        return [("intact", list(range(N_BLOCKS)))] + [
            ("first %d" % n, list(range(n))) for n in range(1, N_BLOCKS)]
    return [("intact", list(range(N_BLOCKS)))] + [
        ("skip %d" % i, [b for b in range(N_BLOCKS) if b != i]) for i in range(N_BLOCKS)]


def journal(n, finished=True, planned=False):
    out = sys.stdout
    t = "2024-05-01T12:00:00.000Z"
    r = rng(n)
    w = [0]

    def put(rec):
        if w[0] < n - finished:
            out.write(dumps(rec) + "\n")
            w[0] += 1

    put({"kind": "meta", "time": t, "model": {"name": "gpt2", "n_layer": N_BLOCKS, "n_head": 12,
         "n_embd": 768, "n_ctx": 1024, "params": 124439808, "dtype": "f32"},
         "goal": "Which blocks does the model need?", "max_steps": 1000000})
    for task in TASKS:
        put({"kind": "task", "time": t, "task": task, "description": "the %s task" % task,
             "eval_questions": ["Which block matters for %s?" % task], "n_examples": 4})
    step = 0
    while w[0] < n - finished:
        step += 1
        task = TASKS[step % len(TASKS)]
        name = "%s/%s-%d" % (task, "drop-last" if step % 2 == 0 else "skip-one", step)
        action = {"kind": "action", "time": t, "type": "experiment", "step": step, "name": name,
                  "task": task, "examples": 4}
        if planned:
            action["configurations"] = [layers for _, layers in configs(step)]
            action["labels"] = [label for label, _ in configs(step)]
        put(action)
        put({"kind": "llm", "time": t, "step": step, "request": {"model": "m", "messages": [
            {"role": "user", "content": "step %d" % step}]}, "response": {"choices": []},
            "status": 200, "attempts": 1, "elapsed_s": 0.5})
        for ex in range(4):
            for label, layers in configs(step):
                loss = (next(r) % 100000) / 10000.0
                put({"kind": "result", "time": t, "experiment": name, "tool": "scoreloss",
                     "task": task, "id": "%s-%d" % (task, ex), "prompt": "Prompt %d of %s is" % (ex, task),
                     "answer": "answer %d" % ex, "layers": layers, "label": label,
                     "answer_loss": loss, "answer_token_losses": [loss],
                     "answer_tokens": [" answer"], "answer_exact": loss < 1.0})
        if step % 3 == 0:
            for label, layers in configs(step)[:3]:
                put({"kind": "result", "time": t, "experiment": name, "tool": "topk", "task": task,
                     "id": "%s-0" % task, "prompt": "Prompt 0 of %s is" % task, "answer": "answer 0",
                     "layers": layers, "label": label, "position": 5, "token": " is",
                     "topk": [{"token": " the", "id": 262, "prob": 0.25, "logprob": -1.386}],
                     "rose": [], "fell": [], "kl_from_intact": 0.01, "answer_rank": 3})
                put({"kind": "result", "time": t, "experiment": name, "tool": "runlayers", "task": task,
                     "id": "%s-0" % task, "prompt": "Prompt 0 of %s is" % task, "layers": layers,
                     "label": label, "completion": " the answer", "completion_tokens": [262, 3280],
                     "finish_reason": "length"})
        put({"kind": "note", "time": t, "experiment": name, "task": task,
             "observation": "step %d: loss rises when blocks go" % step,
             "hypothesis": "block %d matters" % (step % N_BLOCKS)})
    if finished:
        out.write(dumps({"kind": "report", "time": t, "markdown": "## Summary\nDone.\n"}) + "\n")


def scored(n, labels):
    r = rng(labels)
    n_tasks = max(1, n // labels)
    for i in range(n):
        loss = (next(r) % 100000) / 10000.0
        print(dumps({"task": "task%d" % (i % n_tasks), "label": "intact" if i % labels == 0 else "cfg %d" % (i % labels),
                     "layers": [i % N_BLOCKS], "answer_loss": loss, "answer_exact": loss < 1.0}))


def tasks(n):
    for i in range(n):
        print(dumps({"task": "task%d" % i, "prompt": "Question %d:" % i, "answer": "a%d" % i}))


def main():
    a = sys.argv[1:]
    if len(a) >= 2 and a[0] == "journal" and set(a[2:]) <= {"--unfinished", "--planned"}:
        journal(int(a[1]), finished="--unfinished" not in a[2:], planned="--planned" in a[2:])
    elif len(a) == 3 and a[0] == "scored":
        scored(int(a[1]), int(a[2]))
    elif len(a) == 2 and a[0] == "tasks":
        tasks(int(a[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
