"""The 👍/👎 a person gives answers on the page: appended to ``eval/human.jsonl`` and counted in the table."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tools.core.errors import InputError
from tools.core.jsonio import iter_jsonl
from tools.evaluate.match import load_human_scores
from tools.evaluate.render import write_tables
from tools.evaluate.score import with_human_votes
from tools.evaluate.table import read_table

HUMAN_SCORES = "human.jsonl"


def record_human_score(run_dir: Path, sample_id: str, model: str, score: int) -> None:
    """Append one 👍 (1) / 👎 (-1) from the page to ``eval/human.jsonl``; an evaluated run's table files
    are written again with the vote counted in its human row."""
    import os

    if model not in ("base", "tuned") or score not in (1, -1):
        raise InputError("a human score is base|tuned and 1|-1")
    path = run_dir / "eval" / HUMAN_SCORES
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps({"id": str(sample_id), "model": model, "score": score, "ts": time.time()}) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    refresh_human_row(path.parent)


def refresh_human_row(eval_dir: Path) -> bool:
    """Rewrite ``table.{md,csv,json}`` in ``eval_dir`` with the human row from ``human.jsonl`` (False when
    the run has no table yet: the evaluation counts the votes when it runs)."""
    table_path, before = eval_dir / "table.json", eval_dir / "before.jsonl"
    if not table_path.is_file() or not (eval_dir / HUMAN_SCORES).is_file():
        return False
    table = read_table(table_path)
    ids = {str(obj.get("id")) for _, obj in iter_jsonl(before) if isinstance(obj, dict)} if before.is_file() else set()
    write_tables(with_human_votes(table, load_human_scores(eval_dir / HUMAN_SCORES), ids), eval_dir)
    return True
