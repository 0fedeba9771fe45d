"""The person's own fixes to a dataset before training: edit an answer, remove a pair.

``dataset_pairs`` lists the training pairs as the page shows them (their line in ``train.jsonl``, question,
answer); ``apply_pair_edits`` writes the person's changes back: an edited answer replaces that answer in every
record that gives it and, for a document's fact, in every record of that fact (train and eval: all the questions of
the fact then have one answer, even where they began with the clause they asked about), a pair whose answer
is cleared is removed. Both files are rewritten atomically and ``report.json`` counts what was edited and
removed. Nothing is changed when an edit names a line that does not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from tools.core.errors import InputError
from tools.core.jsonio import iter_jsonl, write_json, write_jsonl
from tools.data.clean import normalise
from tools.data.schema import DatasetReport


class EditResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    edited: int  # distinct answers changed
    records_changed: int  # records that now carry an edited answer (train and eval)
    removed: int
    train: int  # training records now


def _qa(row: dict[str, Any]) -> tuple[str, str] | None:
    """(question, answer) of a single-answer record, in either schema; None for other shapes."""
    if isinstance(row.get("messages"), list):
        msgs = [m for m in row["messages"] if isinstance(m, dict) and isinstance(m.get("content"), str)]
        users = [m for m in msgs if m.get("role") == "user"]
        if users and msgs and msgs[-1].get("role") == "assistant":
            return users[-1]["content"], msgs[-1]["content"]
        return None
    if isinstance(row.get("output"), str):
        return str(row.get("instruction", "")), row["output"]
    return None


def _set_answer(row: dict[str, Any], answer: str) -> None:
    if isinstance(row.get("messages"), list):
        row["messages"][-1]["content"] = answer
    else:
        row["output"] = answer


def _rows(path: Path) -> list[dict[str, Any]]:
    return [rec for _, rec in iter_jsonl(path) if isinstance(rec, dict)] if path.exists() else []


def dataset_pairs(data_dir: Path, limit: int = 500) -> list[tuple[int, str, str]]:
    """(line number from 1, question, answer) of the first ``limit`` training pairs."""
    out = []
    for i, row in enumerate(_rows(Path(data_dir) / "train.jsonl"), 1):
        qa = _qa(row)
        if qa is not None:
            out.append((i, qa[0], qa[1]))
        if len(out) >= limit:
            break
    return out


def apply_pair_edits(data_dir: Path, edits: dict[int, str]) -> EditResult:
    """Apply ``{line: new answer}`` to ``train.jsonl`` (an empty answer removes the pair); see the module text."""
    data_dir = Path(data_dir)
    train_path, eval_path = data_dir / "train.jsonl", data_dir / "eval.jsonl"
    train, held = _rows(train_path), _rows(eval_path)
    if not train:
        raise InputError("no training pairs to edit", where=str(train_path), hint="Convert your files first")
    bad = sorted(i for i in edits if not 1 <= i <= len(train) or _qa(train[i - 1]) is None)
    if bad:
        raise InputError(f"no pair on line {bad[0]} of the training set ({len(train)} lines)", where=str(train_path),
                         hint="Reload the page: the dataset changed since it was shown")
    replace: dict[str, str] = {}
    by_fact: dict[str, str] = {}  # a document's fact: each of its questions gets the new answer
    remove: set[int] = set()
    for line, answer in edits.items():
        old = _qa(train[line - 1])[1]  # type: ignore[index]
        new = normalise(answer or "")
        if not new:
            remove.add(line - 1)
        elif new != old:
            replace[old] = new
            fact = (train[line - 1].get("meta") or {}).get("fact")
            if fact:
                by_fact[fact] = new
    changed = 0
    for row in train + held:
        qa = _qa(row)
        fixed = by_fact.get((row.get("meta") or {}).get("fact") or "") or (replace.get(qa[1]) if qa else None)
        if qa is not None and fixed is not None and fixed != qa[1]:
            _set_answer(row, fixed)
            changed += 1
    kept = [r for i, r in enumerate(train) if i not in remove]
    if not kept:
        raise InputError("that would remove every training pair", where=str(train_path),
                         hint="Keep at least one pair, or convert other files")
    write_jsonl(train_path, kept)
    if held:
        write_jsonl(eval_path, held)
    report = DatasetReport.read(data_dir / "report.json")
    if report is not None:
        report.edited += len(replace)
        report.removed += len(remove)
        report.totals.train = len(kept)
        report.reasons.append(f"edited by hand before training: {len(replace)} answer(s) changed "
                              f"({changed} records), {len(remove)} pair(s) removed")
        write_json(data_dir / "report.json", report.model_dump(mode="json"))
    return EditResult(edited=len(replace), records_changed=changed, removed=len(remove), train=len(kept))
