"""The pairs a run will train on, under the dataset report: editable until training starts (``tools.data.edits``).

Before training the person may edit an answer or clear it to remove the pair, then save.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from tools.core.errors import TunepilotError
from tools.core.messages import say
from tools.core.runs import standing
from tools.data.edits import apply_pair_edits, dataset_pairs

SHOWN = 500  # pairs shown at most (the rest are trained as they are)


def editable(run_dir: Path | None) -> bool:
    """Pairs can be changed until training starts."""
    if run_dir is None or not (run_dir / "data" / "train.jsonl").exists():
        return False
    stage, _ = standing(run_dir)
    return stage in ("convert", "data", "plan")


def signature(run_dir: Path | None, lang: str) -> str:
    path = run_dir / "data" / "train.jsonl" if run_dir else None
    if path is None or not path.exists():
        return ""
    st = path.stat()
    return f"{path}:{st.st_mtime_ns}:{st.st_size}:{editable(run_dir)}:{lang}"


def pairs_frame(run_dir: Path | None, lang: str) -> Any:
    import pandas as pd

    rows = dataset_pairs(run_dir / "data", SHOWN) if run_dir else []
    return pd.DataFrame([list(r) for r in rows], columns=say("page.pairs_cols", lang).split(","))


def pairs_tick(run_dir_of: Callable[[str], Path | None]) -> Callable[..., list[Any]]:
    """The timer's view of the pairs: unchanged while the file is (so an edit in progress is never overwritten)."""
    def tick(thread_id: str, lang: str, shown: str) -> list[Any]:
        rd = run_dir_of(thread_id) if thread_id else None
        sig = signature(rd, lang)
        if sig == shown:
            return [gr.update(), gr.update(), gr.update(), shown]
        can = editable(rd)
        visible = bool(sig)
        return [gr.update(value=pairs_frame(rd, lang), visible=visible, interactive=can),
                gr.update(visible=visible and can), gr.update(value=say("page.pairs_hint", lang) if can and visible else ""),
                sig]
    return tick


def save_pairs(run_dir_of: Callable[[str], Path | None]) -> Callable[..., list[Any]]:
    """Compare the table with the file and apply what the person changed."""
    def save(thread_id: str, lang: str, table: Any) -> list[Any]:
        rd = run_dir_of(thread_id) if thread_id else None
        if not editable(rd):
            return [gr.update(), say("page.pairs_locked", lang), gr.update()]
        assert rd is not None
        current = {i: a for i, _, a in dataset_pairs(rd / "data", SHOWN)}
        edits: dict[int, str] = {}
        for row in (table.values.tolist() if hasattr(table, "values") else table or []):
            try:
                line = int(row[0])
            except (TypeError, ValueError, IndexError):
                continue
            answer = "" if row[2] is None else str(row[2])
            if line in current and answer.strip() != current[line].strip():
                edits[line] = answer
        if not edits:
            return [gr.update(), say("page.pairs_nothing", lang), gr.update()]
        if all(not edits.get(line, current[line]).strip() for line in current):
            return [gr.update(), say("page.pairs_all_removed", lang), gr.update()]
        try:
            result = apply_pair_edits(rd / "data", edits)
        except TunepilotError as exc:
            return [gr.update(), say("page.pairs_failed", lang, detail=exc.message), gr.update()]
        return [gr.update(value=pairs_frame(rd, lang)),
                say("page.pairs_saved", lang, edited=result.edited, records=result.records_changed, removed=result.removed,
                  train=result.train),
                signature(rd, lang)]
    return save
