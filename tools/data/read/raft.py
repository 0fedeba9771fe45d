"""Training to read (RAFT, Zhang et al. 2024): each trained question also asked with passages found for it.

For a question whose answer came from passage P: ``k`` passages, P among the best-scoring others (the
distractors a retriever really returns), order shuffled, answered with the trained answer; for a share of the
examples P is left out and the answer is "the documents do not say" (the model learns to read what is in front
of it, and to say so when the answer is not). The closed-book examples stay in the mix (training adds these to
them), so the facts are also learnt by heart.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tools.data.knowledge import single_turn
from tools.data.paraphrase import paraphrase_question
from tools.data.read.index import PassageIndex
from tools.data.read.passages import Passage, home_of
from tools.data.read.prompt import decline_words, lang_of, reading_messages


@dataclass(frozen=True)
class ReadingCount:
    examples: int  # reading examples made
    with_own: int  # of them holding their question's own passage
    without: int  # of them answered "the documents do not say"
    questions: int  # trained questions with a passage of their own


def _distractors(index: PassageIndex, question: str, answer: str, home: Passage, rng: random.Random,
                 n: int) -> list[Passage]:
    """Passages that look like answers to ``question`` but do not hold ``answer``; random ones to fill up."""
    out = [h.passage for h in index.search(question, n + 4)
           if h.passage.id != home.id and home_of(answer, [h.passage]) is None]
    pool = [p for p in index.passages if p.id != home.id and p not in out]
    rng.shuffle(pool)
    return (out + pool)[:n]


def reading_examples(rows: Sequence[dict[str, Any]], index: PassageIndex, k: int, share: float, per_question: int,
                     seed: int = 0) -> tuple[list[dict[str, Any]], ReadingCount]:
    """Prompt/completion reading examples for the single-turn ``rows`` whose answer came from a passage:
    ``per_question`` for each distinct answer (a manual's fact is asked from several angles; reading it once per
    angle would make training several times longer for little), its questions taken across the angles."""
    out: list[dict[str, Any]] = []
    with_own = questions = 0
    by_answer: dict[tuple[str | None, str], list[str]] = {}
    for row in rows:
        turn = single_turn(row)
        if turn is not None:
            by_answer.setdefault((turn[0], turn[2]), []).append(turn[1])
    homes: dict[str, Passage | None] = {}
    for (system, answer), asked_all in by_answer.items():
        home = homes[answer] if answer in homes else homes.setdefault(answer, home_of(answer, index.passages))
        if home is None:
            continue
        questions += len(asked_all)
        rng = random.Random(f"{seed}\x00{answer}")
        # the answer's questions spread over its angles (a fact is asked by its value, its situation, its name)
        step = max(1, len(asked_all) // per_question)
        asked = asked_all[::step][:per_question]
        if len(asked) < per_question:
            asked += paraphrase_question(asked_all[0], "train", k=per_question - len(asked), seed=seed)
        for q in asked:
            own = rng.random() < share
            passages = _distractors(index, q, answer, home, rng, k - 1 if own else k)
            if own:
                passages.append(home)
            rng.shuffle(passages)
            reply = answer if own else decline_words(lang_of(q))
            with_own += own
            out.append({"prompt": reading_messages(q, passages, system),
                        "completion": [{"role": "assistant", "content": reply}]})
    return out, ReadingCount(examples=len(out), with_own=with_own, without=len(out) - with_own, questions=questions)
