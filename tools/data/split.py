"""Seeded train/eval split that keeps near-duplicate questions on one side, and every fact of a document in
training.

Records whose normalised first question is equal form a group; groups are ordered by a hash of
``(seed, group key)`` and taken into eval until it holds ``round(n * ratio)`` records (at least one when
there are 10 or more records). The same records and seed always give the same split.

A document's facts are held out *by wording*, never whole: a fact asked three or more ways may give one of
its questions to eval (a question training never sees, whose answer it does), and its other questions stay
in training. A document's section records (the sentences with no fact) are never held out.
"""

from __future__ import annotations

import hashlib

from tools.data.clean import question_key
from tools.data.document import Record

MIN_FOR_EVAL = 10


def eval_target(n: int, ratio: float) -> int:
    if ratio <= 0 or n < 2:
        return 0
    target = int(n * ratio + 0.5)
    if n >= MIN_FOR_EVAL:
        target = max(1, target)
    return min(target, n - 1)


def split_records(records: list[Record], ratio: float, seed: int) -> tuple[list[Record], list[Record], list[str]]:
    """Return ``(train, eval, reasons)``; both lists keep the input order."""
    reasons: list[str] = []
    n = len(records)
    target = eval_target(n, ratio)
    if ratio > 0 and target == 0:
        reasons.append(f"only {n} record(s): all kept for training, no eval set (an eval set needs "
                       f"at least {MIN_FOR_EVAL} records)")
    groups: dict[str, list[int]] = {}
    facts: dict[str, list[int]] = {}
    for i, rec in enumerate(records):
        if rec.method == "fact" and rec.meta.get("fact"):
            facts.setdefault(str(rec.meta["fact"]), []).append(i)
        elif rec.method != "section":
            groups.setdefault(question_key(rec) or f"#{i}", []).append(i)
    for fid, members in facts.items():
        if len(members) >= 3:  # the fact's last wording only: its first ones name it plainly
            groups[f"fact\x00{fid}"] = [members[-1]]

    def rank(key: str) -> str:
        return hashlib.sha256(f"{seed}\x00{key}".encode()).hexdigest()

    order = sorted(groups, key=rank)
    chosen: set[int] = set()
    for key in order:
        if len(chosen) >= target:
            break
        members = groups[key]
        if len(chosen) + len(members) <= target:
            chosen.update(members)
    if target and not chosen and order:
        smallest = min(order, key=lambda k: len(groups[k]))
        if len(groups[smallest]) < n:
            chosen.update(groups[smallest])
    if facts:
        reasons.append(f"{len(facts)} fact(s) of documents all trained; held out by wording only")
    together = sum(1 for m in groups.values() if len(m) > 1)
    if together:
        reasons.append(f"{together} group(s) of records with the same question kept on one side of the split")
    train = [r for i, r in enumerate(records) if i not in chosen]
    held = [r for i, r in enumerate(records) if i in chosen]
    if held:
        reasons.append(f"eval set: {len(held)} of {n} records ({len(held) / n:.0%}), seed {seed}")
    return train, held, reasons
