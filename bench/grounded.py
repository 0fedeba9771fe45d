"""``bench/knowledge.py --grounded``: answers from the person's documents, measured the way a new user gets them.

    python bench/knowledge.py --grounded --doc unseen [--faq driving] [--keep DIR]

The manuals of a set (a Chinese PDF printed by Chromium, an English Word file) and, with ``--faq``, a Chinese FAQ
of another domain, through the default CLI path: ``tunepilot data`` → ``tunepilot plan`` (no model named) →
``tunepilot train`` → ``tunepilot merge``, then ``tunepilot ask`` (in-process, greedy) four ways: the tuned model
and the base model with the documents, the tuned model closed-book, and the fixtures' out-of-scope questions
with the documents. Printed: retrieval recall@k of the customers' questions, right answers per language (the
fact a right answer holds, in the answer the person reads), how often the guard fired, declines, time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _tp(*args: str) -> float:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "tunepilot", *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        sys.exit(f"tunepilot {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return time.perf_counter() - t0


def inputs(doc: str, faq: str | None, root: Path) -> tuple[list[Path], list[tuple[str, str, str]], list[str]]:
    """Files, (question, fact, language) asked, and questions the documents do not answer."""
    from tests.fixtures import faq_zh, manuals

    sets = {"dev": manuals.DEV, "held": manuals.HELD, "fresh": manuals.FRESH, "unseen": manuals.UNSEEN}
    files, asked, scope = [], [], []
    for m in sets[doc]:
        path = root / (m.name + (".pdf" if m.lang == "zh" else ".docx"))
        files.append(manuals.write_pdf(path, m) if m.lang == "zh" else manuals.write_docx(path, m))
        asked += [(q, fact, m.lang) for q, fact in m.asked]
        scope += list(m.unasked)
    if faq:
        files.append(faq_zh.write_domain(faq, root))
        asked += [(q, fact, "zh-faq") for e in faq_zh.DOMAINS[faq] for q, fact in e.asked]
        scope += list(faq_zh.UNASKED.get(faq, ()))
    return files, asked, scope


def holds(answer: str, fact: str) -> bool:
    return fact.casefold() in answer.casefold()


def run(doc: str, faq: str | None, root: Path, ask_again: bool = False) -> dict[str, Any]:
    """``ask_again``: the run in ``root`` is trained and merged already; the data (passages, index) is built again
    and the questions asked again (for a change of how answers are read, not of how the model is trained)."""
    from tools.data.read.index import PassageIndex

    files, asked, scope = inputs(doc, faq, root)
    times = {"data": _tp("data", *map(str, files), "--out", str(root / "data"))}
    index = PassageIndex.load(root / "data")
    t0 = time.perf_counter()
    hits = [[h.passage.text for h in index.search(q, 5)] for q, _, _ in asked]
    per_q_ms = (time.perf_counter() - t0) / len(asked) * 1000
    recall = {k: sum(any(f in t for t in h[:k]) for h, (_, f, _) in zip(hits, asked, strict=True)) for k in (1, 2, 3, 5)}
    if not ask_again:
        times["plan"] = _tp("plan", "--data", str(root / "data"), "--out", str(root / "plan.json"))
        times["train"] = _tp("train", "--plan", str(root / "plan.json"), "--data", str(root / "data"), "--run",
                             str(root / "run"))
        times["merge"] = _tp("merge", "--run", str(root / "run"))
    plan = json.loads((root / "plan.json").read_text())
    (root / "asked.txt").write_text("\n".join(q for q, _, _ in asked) + "\n", encoding="utf-8")
    (root / "scope.txt").write_text("\n".join(scope) + "\n", encoding="utf-8")
    answers = {}
    for name, extra, qfile in (("tuned, with documents", [], "asked"), ("base, with documents", ["--base"], "asked"),
                               ("tuned, closed-book", ["--closed-book"], "asked"),
                               ("tuned, out of scope", [], "scope"), ("base, out of scope", ["--base"], "scope")):
        out = root / f"{name.replace(', ', '-').replace(' ', '_')}.jsonl"
        times[name] = _tp("ask", "--run", str(root / "run"), "--questions", str(root / f"{qfile}.txt"), "--out",
                          str(out), *extra)
        answers[name] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return {"asked": asked, "scope": scope, "recall": recall, "ms": per_q_ms, "times": times, "answers": answers,
            "plan": {k: plan.get(k) for k in ("model", "reading_k", "num_epochs", "total_steps", "max_length")},
            "passages": len(index)}


def _modes(answers: list[dict[str, Any]]) -> str:
    """How the answers the person reads came: the model's words, a quoted sentence, "the closest sentence"."""
    return " / ".join(str(sum(a["mode"] == m for a in answers)) for m in ("model", "quoted", "closest"))


def report(r: dict[str, Any], show: bool) -> None:
    asked, n = r["asked"], len(r["asked"])
    langs = sorted({lang for _, _, lang in asked})
    print(f"\nplan: {r['plan']}; {r['passages']} passages; times (s): "
          + ", ".join(f"{k} {v:.0f}" for k, v in r["times"].items()))
    print(f"retrieval ({r['ms']:.0f} ms a question): " + ", ".join(
        f"top {k}: {v}/{n}" for k, v in r["recall"].items()))
    print("\n| answers | " + " | ".join(langs) + " | all | guard fired | declined | model / quoted / closest |")
    print("|---|" + "---:|" * (len(langs) + 4))
    for name in ("tuned, with documents", "base, with documents", "tuned, closed-book"):
        ans = r["answers"][name]
        cells = []
        for lang in langs:
            pairs = [(a, f) for a, (_, f, lg) in zip(ans, asked, strict=True) if lg == lang]
            cells.append(f"{sum(holds(a['answer'], f) for a, f in pairs)}/{len(pairs)}")
        right = sum(holds(a["answer"], f) for a, (_, f, _) in zip(ans, asked, strict=True))
        print(f"| {name} | " + " | ".join(cells) + f" | {right}/{n} ({right / n:.0%}) | "
              f"{sum(a['guard_fired'] for a in ans)} | {sum(a['mode'] == 'declined' for a in ans)} | {_modes(ans)} |")
    for name in ("tuned, out of scope", "base, out of scope"):
        ans = r["answers"][name]
        d = sum(a["mode"] == "declined" for a in ans)
        print(f"| {name} | | | {d}/{len(ans)} declined | {sum(a['guard_fired'] for a in ans)} | {d} | {_modes(ans)} |")
    if show:
        for a, (_, f, lg) in zip(r["answers"]["tuned, with documents"], asked, strict=True):
            print(f"{'OK ' if holds(a['answer'], f) else 'MISS'} [{lg}] {a['question']} ({f}) -> {a['mode']}: "
                  f"{a['answer'][:100]!r} | model: {a['model_answer'][:80]!r}")
        for a in r["answers"]["tuned, out of scope"]:
            print(f"SCOPE {a['question']} -> {a['mode']}: {a['answer'][:80]!r}")
