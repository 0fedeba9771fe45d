"""An answer with documents, the same everywhere the product answers (``ask``, chat, the evaluation, the endpoint).

:func:`prepare` finds the passages for a question and writes the prompt; the caller has the model answer it
(in-process, through vLLM, in a batch); :func:`finish` checks the answer against the passages
(:mod:`tools.data.read.guard`) and returns it with its sources. Closed-book asks the question alone, unchecked.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.core.messages import say
from tools.data.read.extract import (
    HEDGE,
    WEAK,
    Rarity,
    answer_kind,
    cannot_answer,
    choose_sentence,
    grams,
    holds_kind,
)
from tools.data.read.guard import facts_in, is_decline, unsupported
from tools.data.read.index import PassageIndex
from tools.data.read.passages import Passage
from tools.data.read.prompt import lang_of, reading_messages

WIDE = 5  # passages looked at for a value of the kind asked for when the top k hold none
READ_K = 2  # passages in a prompt when the plan names none (dense + BM25 found the right one in the top 2 for every question of the project's manuals)

Mode = Literal["model", "quoted", "closest", "declined", "closed_book"]


class SourceRef(BaseModel):
    """Where an answer's passage is: the document, the section, the passage's id in ``passages.jsonl``."""

    model_config = ConfigDict(extra="forbid")

    id: str
    source: str
    where: str
    text: str
    score: float


class Prepared(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str
    lang: str
    messages: list[dict[str, str]]
    passages: list[Passage] = Field(default_factory=list)
    scores: list[float] = Field(default_factory=list)
    closed_book: bool = False
    pick: str = ""  # the passages' sentence that answers the question (:mod:`tools.data.read.extract`)
    pick_id: str = ""  # its passage
    pick_strength: float = 0.0  # how much of the question it shares (0–1)
    pick_kind: bool = False  # it holds the kind of value asked for (a weight for "多重")
    unanswerable: bool = False  # the question asks for a kind of value (a price, a weight) no passage holds


class GroundedAnswer(BaseModel):
    """What the person reads, with what the model said and what the guard did."""

    model_config = ConfigDict(extra="forbid")

    question: str
    answer: str
    model_answer: str
    mode: Mode
    guard_fired: bool = False
    unsupported: list[str] = Field(default_factory=list)
    sources: list[SourceRef] = Field(default_factory=list)


def prepare(question: str, index: PassageIndex | None, system: str | None = None, k: int = READ_K,
            closed_book: bool = False) -> Prepared:
    lang = lang_of(question)
    if closed_book or index is None or not len(index):
        sys_msg = [{"role": "system", "content": system}] if system else []
        return Prepared(question=question, lang=lang, messages=[*sys_msg, {"role": "user", "content": question}],
                        closed_book=True)
    hits = index.search(question, max(k, WIDE))
    passages = [h.passage for h in hits[:k]]
    scores = [h.score for h in hits[:k]]
    kind = answer_kind(question)
    if kind is not None and passages and not any(holds_kind(p.text, kind) for p in passages):
        extra = next((h for h in hits[k:] if holds_kind(h.passage.text, kind)), None)
        if extra is not None:  # "几点开门" and no time of day in the top k: the best-ranked passage with one
            passages[-1], scores[-1] = extra.passage, extra.score
    rarity = _RARITY.get(index)
    if rarity is None:
        rarity = _RARITY[index] = Rarity(index.passages)
    chosen = choose_sentence(question, passages, rarity)
    return Prepared(question=question, lang=lang, passages=passages, scores=scores,
                    messages=reading_messages(question, passages, system),
                    pick=chosen.sentence if chosen else "", pick_id=chosen.passage.id if chosen else "",
                    pick_strength=chosen.strength if chosen else 0.0, pick_kind=chosen.kind if chosen else False,
                    unanswerable=cannot_answer(question, passages))


_RARITY: weakref.WeakKeyDictionary[PassageIndex, Rarity] = weakref.WeakKeyDictionary()


def agrees(answer: str, prep: Prepared) -> bool:
    """The model's answer says what the picked sentence says: the numbers and codes it adds to the question are
    the sentence's (at least one, when the sentence has any); without any, most of what it adds is the passage's
    words (with no sentence picked, the passages' words). An answer that only repeats the question adds nothing
    and does not agree."""
    if len(grams(answer) - grams(prep.question)) < 2:
        return False
    asked = set(facts_in(prep.question))
    pick_facts = set(facts_in(prep.pick)) - asked
    said = set(facts_in(answer)) - asked
    if pick_facts:
        return bool(said) and said <= pick_facts
    new = grams(answer) - grams(prep.question)
    home = next((p.text for p in prep.passages if p.id == prep.pick_id), " ".join(p.text for p in prep.passages))
    return len(new & grams(home)) >= 0.5 * len(new)


def topics(passages: Sequence[Passage], lang: str, limit: int = 4) -> str:
    """What the documents cover: their titles and first sections, for a decline."""
    seen: list[str] = []
    for p in passages:
        name = p.title or p.source
        if name not in seen:
            seen.append(name)
    return say("text.list_sep", lang).join(seen[:limit])


def finish(prep: Prepared, raw: str, covered: Sequence[Passage] = ()) -> GroundedAnswer:
    """The answer the person reads. With documents:

    - a decline when the passages cannot hold the answer (none found, none holds the kind of value asked for, or
      the model says the documents do not say it and no sentence shares much with the question);
    - the model's own answer when it states nothing the passages lack and says what the picked sentence says;
    - when the model declines but a sentence is close to the question: "may not answer this directly; the closest
      passage says …" (a small reader declines at random, with the answer in front of it); the same words when
      the model's answer does not hold up and the picked sentence shares little with the question;
    - else the picked sentence, quoted with where it is (the guard fired)."""
    text = raw.strip()
    if prep.closed_book:
        return GroundedAnswer(question=prep.question, answer=text, model_answer=raw, mode="closed_book")
    sources = [SourceRef(id=p.id, source=p.source, where=p.where, text=p.text, score=round(s, 3))
               for p, s in zip(prep.passages, prep.scores, strict=True)]
    about = topics(list(covered) or prep.passages, prep.lang)
    declined = GroundedAnswer(question=prep.question, answer=say("read.declined", prep.lang, topics=about),
                              model_answer=raw, mode="declined", sources=sources)
    if not prep.passages or prep.unanswerable:
        return declined
    missing = unsupported(text, prep.passages, prep.question)
    model_declined = bool(text) and is_decline(text)
    if text and not model_declined and not missing and agrees(text, prep):
        return declined.model_copy(update={"answer": text, "mode": "model"})
    if not prep.pick or (model_declined and prep.pick_strength < WEAK and not prep.pick_kind):
        return declined.model_copy(update={"guard_fired": bool(missing), "unsupported": missing})
    passage = next(p for p in prep.passages if p.id == prep.pick_id)
    if model_declined or (prep.pick_strength < HEDGE and not prep.pick_kind):
        # the model found no answer, or the sentence shares little with the question: it may not answer it
        return declined.model_copy(update={
            "answer": say("read.closest", prep.lang, where=passage.where, sentence=prep.pick), "mode": "closest",
            "guard_fired": not model_declined, "unsupported": missing})
    return declined.model_copy(update={
        "answer": say("read.quoted", prep.lang, where=passage.where, sentence=prep.pick), "mode": "quoted",
        "guard_fired": True, "unsupported": missing})


def sources_line(answer: GroundedAnswer, lang: str) -> str:
    """"Sources: …" under an answer: each passage's document and section."""
    if not answer.sources:
        return ""
    return say("read.sources", lang, sources=say("text.list_sep", lang).join(
        dict.fromkeys(f"{s.where} [{s.id}]" for s in answer.sources)))
