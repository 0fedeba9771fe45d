"""A person's corrections of a trained model: a question it answered wrong and the right answer.

They are kept in the run that answered (``RUN/corrections.jsonl``, one JSON object a line, appended under a lock
so two writers never interleave; removing one rewrites the file atomically) and become the next run's data:
:func:`follow_up_data` is the previous run's dataset with each corrected question answered the corrected way
(the old pair of the same question removed) and one record per correction, which training then rewords as it
rewords every knowledge question, so a correction weighs as much as an FAQ entry.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools.core.errors import InputError
from tools.core.jsonio import atomic_write_text, iter_jsonl, read_json, write_json, write_jsonl
from tools.data.clean import normalise

CORRECTIONS_FILE = "corrections.jsonl"
FOLLOW_UP_FILE = "follow_up.json"
MAX_CHARS = 4000


class Correction(BaseModel):
    """One question the model got wrong, and the answer the person wants."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: secrets.token_hex(4))
    question: str
    answer: str
    wrong: str = Field(default="", description="what the model said")
    model: Literal["base", "tuned"] | str = Field(default="tuned", description="which model answered")
    created: float = Field(default_factory=time.time)


class FollowUp(BaseModel):
    """``RUN2/follow_up.json``: which run a follow-up continues and the corrections it was given."""

    model_config = ConfigDict(extra="forbid")

    previous_run: str  # the folder of the run it continues
    previous_adapter: str
    corrections: list[Correction]
    replaced: int = Field(description="pairs of the previous data whose question a correction answers anew")
    train: int = Field(description="training records of the follow-up (before rewordings)")


@contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    fd = os.open(run_dir / ".corrections.lock", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _clean(text: str, field: str) -> str:
    out = (text or "").strip()
    if not out:
        raise InputError(f"the {field} is empty", where=field,
                         hint="Give the question the model answered wrong and the answer it should give")
    if len(out) > MAX_CHARS:
        raise InputError(f"the {field} has {len(out)} characters, more than {MAX_CHARS}", where=field,
                         hint="Shorten it: a correction is one question and its answer")
    return out


def add_correction(run_dir: Path, question: str, answer: str, wrong: str = "", model: str = "tuned") -> Correction:
    """Append one correction to ``RUN/corrections.jsonl`` (one complete line, under the run's lock)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError("no such run", where=str(run_dir), hint="Name a run that exists (`tunepilot runs`)")
    corr = Correction(question=_clean(question, "question"), answer=_clean(answer, "answer"), wrong=wrong.strip(),
                      model=model)
    line = (json.dumps(corr.model_dump(), ensure_ascii=False) + "\n").encode("utf-8")
    with _locked(run_dir):
        fd = os.open(run_dir / CORRECTIONS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
    return corr


def load_corrections(run_dir: Path) -> list[Correction]:
    """The run's corrections, oldest first (none when it has no file); a line that is not a correction is an
    error that names the file and the line."""
    path = Path(run_dir) / CORRECTIONS_FILE
    if not path.exists():
        return []
    out = []
    for n, rec in iter_jsonl(path):
        try:
            out.append(Correction.model_validate(rec))
        except ValidationError as exc:
            field = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "?"
            raise InputError(f"line {n} is not a correction ({exc.errors()[0]['msg']}, field {field!r})",
                             where=str(path), hint="Fix or remove that line") from None
    return out


def remove_correction(run_dir: Path, correction_id: str) -> Correction:
    """Remove one correction by id; the file is rewritten atomically and the others are kept."""
    run_dir = Path(run_dir)
    with _locked(run_dir):
        items = load_corrections(run_dir)
        gone = next((c for c in items if c.id == correction_id), None)
        if gone is None:
            raise InputError(f"no correction with the id {correction_id!r}", where=str(run_dir / CORRECTIONS_FILE),
                             hint="`tunepilot correct --run RUN --list` shows the ids")
        atomic_write_text(run_dir / CORRECTIONS_FILE, "".join(
            json.dumps(c.model_dump(), ensure_ascii=False) + "\n" for c in items if c.id != correction_id))
    return gone


def _question_of(row: dict[str, Any]) -> str | None:
    if isinstance(row.get("messages"), list):
        users = [m.get("content") for m in row["messages"] if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if len(users) == 1 and isinstance(users[-1], str) else None
    if isinstance(row.get("instruction"), str):
        return row["instruction"]
    return None


def latest_per_question(corrections: list[Correction]) -> list[Correction]:
    """One correction per question (asked the same way): the last one given counts."""
    latest = {normalise(c.question).casefold(): c for c in corrections}
    return list(latest.values())


def correction_row(corr: Correction, like: dict[str, Any] | None) -> dict[str, Any]:
    """A training record for ``corr`` in the schema of ``like`` (a record of the same dataset), with its system
    prompt when it has one."""
    if like is not None and "messages" not in like and "output" in like:
        return {"instruction": corr.question, "input": "", "output": corr.answer}
    system = [dict(m) for m in (like or {}).get("messages", []) if isinstance(m, dict) and m.get("role") == "system"]
    return {"messages": [*system[:1], {"role": "user", "content": corr.question},
                         {"role": "assistant", "content": corr.answer}],
            "meta": {"source": "correction", "correction": corr.id}}


def follow_up_data(previous_data: Path, corrections: list[Correction], out_dir: Path) -> tuple[int, int]:
    """Write the follow-up's dataset into ``out_dir``: the previous data's files, its ``train.jsonl`` without the
    pairs whose question a correction answers anew, plus one record per correction. Returns (records, replaced)."""
    previous_data = Path(previous_data)
    src = previous_data / "train.jsonl"
    if not src.exists():
        raise InputError("the previous run has no training data", where=str(src),
                         hint="Continue a run that was trained from a dataset folder")
    rows = [rec for _, rec in iter_jsonl(src) if isinstance(rec, dict)]
    asked = {normalise(c.question).casefold() for c in corrections}
    kept = [r for r in rows if normalise(_question_of(r) or "").casefold() not in asked]
    out_dir.mkdir(parents=True, exist_ok=True)
    for f in previous_data.iterdir():
        if f.is_file() and f.name != "train.jsonl":
            shutil.copy2(f, out_dir / f.name)
    new = [correction_row(c, rows[0] if rows else None) for c in latest_per_question(corrections)]
    write_jsonl(out_dir / "train.jsonl", kept + new)
    return len(kept) + len(new), len(rows) - len(kept)


def write_follow_up(run_dir: Path, record: FollowUp) -> None:
    write_json(Path(run_dir) / FOLLOW_UP_FILE, record.model_dump())


def load_follow_up(run_dir: Path) -> FollowUp | None:
    path = Path(run_dir) / FOLLOW_UP_FILE
    if not path.exists():
        return None

    return FollowUp.model_validate(read_json(path))
