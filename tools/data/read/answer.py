"""An answer with documents, the same everywhere the product answers (``ask``, chat, the evaluation, the endpoint).

:func:`prepare` finds the passages for a question and writes the prompt; the caller has the model answer it
(in-process, through vLLM, in a batch); :func:`finish` checks the answer against the passages
(:mod:`tools.data.read.guard`) and returns it with its sources. Closed-book asks the question alone, unchecked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.core.messages import say
from tools.data.read.guard import best_sentence, is_decline, unsupported
from tools.data.read.index import PassageIndex
from tools.data.read.passages import Passage
from tools.data.read.prompt import lang_of, reading_messages

READ_K = 2  # passages in a prompt when the plan names none (dense + BM25 found the right one in the top 2 for every question of the project's manuals)

Mode = Literal["model", "quoted", "declined", "closed_book"]


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
    hits = index.search(question, k)
    return Prepared(question=question, lang=lang, passages=[h.passage for h in hits],
                    scores=[h.score for h in hits],
                    messages=reading_messages(question, [h.passage for h in hits], system))


def topics(passages: Sequence[Passage], lang: str, limit: int = 4) -> str:
    """What the documents cover: their titles and first sections, for a decline."""
    seen: list[str] = []
    for p in passages:
        name = p.title or p.source
        if name not in seen:
            seen.append(name)
    return say("text.list_sep", lang).join(seen[:limit])


def finish(prep: Prepared, raw: str, covered: Sequence[Passage] = ()) -> GroundedAnswer:
    """The answer the person reads: the model's when it holds up, else a quote or a decline (see the module)."""
    text = raw.strip()
    if prep.closed_book:
        return GroundedAnswer(question=prep.question, answer=text, model_answer=raw, mode="closed_book")
    sources = [SourceRef(id=p.id, source=p.source, where=p.where, text=p.text, score=round(s, 3))
               for p, s in zip(prep.passages, prep.scores, strict=True)]
    base = {"question": prep.question, "model_answer": raw, "sources": sources}
    about = topics(list(covered) or prep.passages, prep.lang)
    if not prep.passages or (text and is_decline(text)):
        return GroundedAnswer(answer=say("read.declined", prep.lang, topics=about), mode="declined", **base)
    missing = unsupported(text, prep.passages, prep.question)
    if text and not missing:
        return GroundedAnswer(answer=text, mode="model", **base)
    found = best_sentence(prep.question, prep.passages)
    if found is None:
        return GroundedAnswer(answer=say("read.declined", prep.lang, topics=about), mode="declined",
                              guard_fired=True, unsupported=missing, **base)
    sentence, passage = found
    return GroundedAnswer(answer=say("read.quoted", prep.lang, where=passage.where, sentence=sentence), mode="quoted",
                          guard_fired=True, unsupported=missing, **base)


def sources_line(answer: GroundedAnswer, lang: str) -> str:
    """"Sources: …" under an answer: each passage's document and section."""
    if not answer.sources:
        return ""
    return say("read.sources", lang, sources=say("text.list_sep", lang).join(
        dict.fromkeys(f"{s.where} [{s.id}]" for s in answer.sources)))
