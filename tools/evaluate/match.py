"""Reading the before/after answer files and the 👍/👎 votes, and pairing the answers by id.

Input is two JSONL files written by the generation step, one line per eval example,
``{"id", "prompt", "reference", "output"}`` (other keys are ignored): ``eval/before.jsonl`` from the base model
and ``eval/after.jsonl`` from the fine-tuned one. They are matched by ``id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from tools.core.errors import InputError
from tools.core.jsonio import iter_jsonl


class EvalRecord(BaseModel):
    """One line of ``before.jsonl``/``after.jsonl``. Unknown keys (latency, model name ...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str
    prompt: str
    reference: str
    output: str
    metrics: dict[str, Any] | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_to_str(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        return v


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(x) for x in err["loc"]) or "line"
        parts.append(f"field {field!r}: {err['msg']}")
    return "; ".join(parts)


def load_records(path: Path) -> list[tuple[int, EvalRecord]]:
    """``(line, record)`` for each line of a before/after file; errors name ``file:line``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "file not found", where=str(path), hint="Generate the answers first (tunepilot eval)"
        )
    out: list[tuple[int, EvalRecord]] = []
    first_line: dict[str, int] = {}
    for n, obj in iter_jsonl(path):
        where = f"{path}:{n}"
        if not isinstance(obj, dict):
            raise InputError(
                f"expected a JSON object, got {type(obj).__name__}",
                where=where,
                hint='Each line must be {"id", "prompt", "reference", "output"}',
            )
        try:
            rec = EvalRecord.model_validate(obj)
        except ValidationError as exc:
            raise InputError(
                _validation_message(exc),
                where=where,
                hint='Each line must be {"id", "prompt", "reference", "output"} with string values',
            ) from exc
        if rec.id in first_line:
            raise InputError(
                f"duplicate id {rec.id!r} (first on line {first_line[rec.id]})",
                where=where,
                hint="Give every eval example a unique id",
            )
        first_line[rec.id] = n
        out.append((n, rec))
    if not out:
        raise InputError("no records", where=str(path), hint="The file is empty; generate the answers again")
    return out


def _sample(ids: Sequence[str], k: int = 5) -> str:
    shown = ", ".join(repr(i) for i in ids[:k])
    return shown + (f" and {len(ids) - k} more" if len(ids) > k else "")


def match_records(before_path: Path, after_path: Path) -> tuple[list[EvalRecord], list[EvalRecord]]:
    """Records of both files paired by id (in the order of the before file)."""
    before = load_records(before_path)
    after = load_records(after_path)
    after_by_id = {r.id: (n, r) for n, r in after}
    before_ids = [r.id for _, r in before]
    only_before = [i for i in before_ids if i not in after_by_id]
    before_set = set(before_ids)
    only_after = [r.id for _, r in after if r.id not in before_set]
    if only_before or only_after:
        parts = []
        if only_before:
            parts.append(f"{len(only_before)} only in {Path(before_path).name} ({_sample(only_before)})")
        if only_after:
            parts.append(f"{len(only_after)} only in {Path(after_path).name} ({_sample(only_after)})")
        raise InputError(
            "the before and after files cover different ids: " + "; ".join(parts),
            where=f"{before_path} / {after_path}",
            hint="Generate both files from the same eval split",
        )
    paired_after = []
    for n_b, b in before:
        n_a, a = after_by_id[b.id]
        for field in ("reference", "prompt"):
            if getattr(a, field) != getattr(b, field):
                raise InputError(
                    f"id {b.id!r}: the {field} differs from {Path(before_path).name} line {n_b}",
                    where=f"{after_path}:{n_a}",
                    hint="Generate both files from the same eval split",
                )
        paired_after.append(a)
    return [r for _, r in before], paired_after


def load_human_scores(path: Path) -> list[tuple[int, str, Literal["base", "tuned"], int]]:
    """``(line, id, model, score)`` from a 👍/👎 JSONL: ``{"id", "model": "base"|"tuned", "score": 1|-1}``."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", where=str(path), hint="Rate some answers on the page first")
    out: list[tuple[int, str, Literal["base", "tuned"], int]] = []
    hint = 'Each line must be {"id": ..., "model": "base" or "tuned", "score": 1 or -1}'
    for n, obj in iter_jsonl(path):
        where = f"{path}:{n}"
        if not isinstance(obj, dict):
            raise InputError("expected a JSON object", where=where, hint=hint)
        sid, model, score = obj.get("id"), obj.get("model"), obj.get("score")
        who: Literal["base", "tuned"] = "base" if model == "base" else "tuned"
        if isinstance(sid, int) and not isinstance(sid, bool):
            sid = str(sid)
        if not isinstance(sid, str):
            raise InputError("missing or non-string 'id'", where=where, hint=hint)
        if model not in ("base", "tuned"):
            raise InputError(f"'model' must be 'base' or 'tuned', got {model!r}", where=where, hint=hint)
        if isinstance(score, bool) or score not in (1, -1):
            raise InputError(f"'score' must be 1 or -1, got {score!r}", where=where, hint=hint)
        out.append((n, sid, who, int(score)))
    return out
