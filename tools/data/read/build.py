"""The data stage's part of reading: passages from the converted documents, their index, and its recall.

Called by :func:`tools.data.convert.convert_documents` with the paragraphs of the documents' sections and the
kept records: FAQ entries (from sheets, Word/Markdown Q/A, tables) become passages of their own; each question
the product wrote about a manual's facts is added to the passage its answer came from (the index finds a
customer's wording through them). Recall@k is measured with the questions reworded the way the learning check
rewords them (a wording the index never saw).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from tools.data.document import Record
from tools.data.paraphrase import paraphrase_question
from tools.data.read.index import INDEX_DIR, PassageIndex, recall_at
from tools.data.read.passages import PASSAGES_FILE, Passage, faq_passage, home_of, numbered, write_passages
from tools.data.read.prompt import reading_turn
from tools.data.schema import PassageStats
from tools.data.tokens import percentile

PASSAGE_METHODS = ("faq", "table")  # records that are an entry of the person's FAQ
QUESTION_METHODS = ("fact", "section", "llm")  # questions the product wrote about a passage
RECALL_KS = (1, 3, 5)
RECALL_SAMPLE = 60
MAX_PASSAGES = 20_000  # beyond this a file is not a manual (the index and its report stay quick)


def _clear(out_dir: Path) -> None:
    (out_dir / PASSAGES_FILE).unlink(missing_ok=True)
    shutil.rmtree(out_dir / INDEX_DIR, ignore_errors=True)


READING_KS = (1, 2, 3)
LENGTH_SAMPLE = 30


def reading_lengths(index: PassageIndex, asked: Sequence[tuple[str, str, str]],
                    count: Callable[[list[str]], list[int]], overhead: int) -> dict[str, int]:
    """p95 tokens of a reading example (:mod:`tools.data.read.raft`) with 1, 2, 3 passages, counted on a sample of the
    trained questions with their answers (the template's frame for a user and an assistant turn included)."""
    by_id = {p.id: p for p in index.passages}
    step = max(1, len(asked) // LENGTH_SAMPLE)
    sample = asked[::step]
    found = [[h.passage for h in index.search(q, max(READING_KS) + 1) if h.passage.id != pid] for q, _, pid in sample]
    out: dict[str, int] = {}
    for k in READING_KS:
        texts = [reading_turn(question, [by_id[pid], *others[: k - 1]]) + "\n" + answer
                 for (question, answer, pid), others in zip(sample, found, strict=True)]
        lengths = sorted(n + overhead for n in count(texts))
        out[str(k)] = percentile(lengths, 95) if lengths else 0
    return out


def build_passages(out_dir: Path, section_passages: Sequence[Passage], kept: Sequence[Record],
                   counter: Any = None) -> PassageStats | None:
    """Write ``passages.jsonl`` and ``index/`` into ``out_dir``; ``None`` (and neither file) when the inputs hold
    no document (a ready dataset of pairs)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    faq = [faq_passage(r.source, r.first("user"), r.last("assistant"), title=PurePosixPath(r.source).stem)
           for r in kept if r.method in PASSAGE_METHODS]
    passages = numbered([*faq, *section_passages])[:MAX_PASSAGES]
    if not passages:
        _clear(out_dir)
        return None
    asked: list[tuple[str, str]] = []
    answered: list[tuple[str, str, str]] = []
    for r in kept:
        if r.method not in QUESTION_METHODS:
            continue
        home = home_of(r.last("assistant"), passages, r.source, str(r.meta.get("section") or "") or None)
        if home is not None:
            question = r.last("user")
            if question not in home.questions:
                home.questions.append(question)
            asked.append((question, home.id))
            answered.append((question, r.last("assistant"), home.id))
    for p in passages:
        if p.kind == "faq":
            asked.append((p.text.split("\n", 1)[0], p.id))
            question, sep, answer = p.text.partition("\n")
            answered.append((question, answer if sep else p.text, p.id))
    write_passages(out_dir, passages)
    index = PassageIndex(passages)
    index.save(out_dir)
    step = max(1, len(asked) // RECALL_SAMPLE)
    reworded = [(w[0], pid) for q, pid in asked[::step] if (w := paraphrase_question(q, "check", k=1))]
    recall = recall_at(index, reworded, RECALL_KS)
    lengths = (reading_lengths(index, answered, counter.count, counter.overhead(("user", "assistant")))
               if counter is not None and answered else {})
    return PassageStats(passages=len(passages), faq=len(faq), paragraphs=len(passages) - len(faq),
                        asked=len(reworded), recall={f"@{k}": v for k, v in recall.items()}, reading_tokens=lengths)
