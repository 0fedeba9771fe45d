"""The table's rows with documents: the learnt questions asked the way the product answers (the passages found
for each in the prompt, the guard on the answer), and questions the documents do not answer.

Both models answer through the same server as the closed-book rows; each answer is finished by
:func:`tools.data.read.answer.finish` (what the person would read) and kept in ``documents.jsonl`` and
``out_of_scope.jsonl``. Out of scope: the person's file (``--out-of-scope``), else the general questions of the
kept set, which no product manual answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from tools.core.jsonio import write_jsonl
from tools.data.read.answer import GroundedAnswer, Prepared, finish, prepare
from tools.evaluate.sets import learnt_check, score_set
from tools.serve.ask import read_questions, run_reading


class GroundedAsk(NamedTuple):
    learnt: list[Prepared]
    references: list[str]
    out_of_scope: list[Prepared]
    source: str
    scope_source: str
    covered: list[Any]

    def prompts(self) -> list[list[dict[str, str]]]:
        return [p.messages for p in self.learnt] + [p.messages for p in self.out_of_scope]

    def __len__(self) -> int:
        return len(self.learnt) + len(self.out_of_scope)


def grounded_ask(run_dir: Path, learnt: Sequence[Any], learnt_source: str, out_of_scope: Path | None,
                 general: Sequence[str]) -> GroundedAsk | None:
    """What to ask with documents; None for a run without passages (ready-made pairs)."""
    index, system, k, _ = run_reading(run_dir)
    if index is None:
        return None
    scope = read_questions(out_of_scope) if out_of_scope is not None else list(general)
    return GroundedAsk(
        learnt=[prepare(it.messages[-1]["content"], index, system, k) for it in learnt],
        references=[it.reference for it in learnt],
        out_of_scope=[prepare(q, index, system, k) for q in scope], source=learnt_source,
        scope_source=out_of_scope.name if out_of_scope is not None else "built-in", covered=index.passages)


def grounded_sets(out_dir: Path, g: GroundedAsk, before: list[str], after: list[str]) -> list[Any]:
    """The two rows, scored on what the person reads; every answer kept on disk."""
    n = len(g.learnt)
    fin_b = [finish(p, r, g.covered) for p, r in zip(g.learnt + g.out_of_scope, before, strict=True)]
    fin_a = [finish(p, r, g.covered) for p, r in zip(g.learnt + g.out_of_scope, after, strict=True)]
    _keep(out_dir / "documents.jsonl", fin_b[:n], fin_a[:n], g.references)
    _keep(out_dir / "out_of_scope.jsonl", fin_b[n:], fin_a[n:], None)
    rows = [score_set("learnt_documents", g.source, [a.answer for a in fin_b[:n]], [a.answer for a in fin_a[:n]],
                      g.references, learnt_check)]
    if g.out_of_scope:
        declined = [True] * len(g.out_of_scope)
        rows.append(score_set("out_of_scope", g.scope_source, [a.mode for a in fin_b[n:]],
                              [a.mode for a in fin_a[n:]], declined, lambda mode, _: mode == "declined"))
    return rows


def _keep(path: Path, before: list[GroundedAnswer], after: list[GroundedAnswer], refs: list[str] | None) -> None:
    write_jsonl(path, [{"id": str(i), "question": b.question, "reference": refs[i] if refs else None,
                        "base": b.model_dump(mode="json", exclude={"question"}),
                        "tuned": a.model_dump(mode="json", exclude={"question"})}
                       for i, (b, a) in enumerate(zip(before, after, strict=True))])
