"""A run's checkpoints: which ones the trainer finished writing, the last of them, and the half-written ones."""

from __future__ import annotations

import json
from pathlib import Path


def _checkpoints(run_dir: Path) -> list[Path]:
    """The ``checkpoint-N`` folders of a run, by step."""
    found = [p for p in (run_dir / "checkpoints").glob("checkpoint-*") if p.is_dir() and p.name[11:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[11:]))


def checkpoint_complete(ckpt: Path) -> bool:
    """A checkpoint the trainer finished writing.

    The trainer writes the adapter, then optimizer/scheduler/RNG state, and ``trainer_state.json``
    last; a process killed while saving leaves a folder without it (or with a torn one).
    """
    state = ckpt / "trainer_state.json"
    weights = [ckpt / "adapter_model.safetensors", ckpt / "adapter_model.bin"]
    if not state.is_file() or not any(w.is_file() and w.stat().st_size > 0 for w in weights):
        return False
    try:
        return isinstance(json.loads(state.read_text(encoding="utf-8")).get("global_step"), int)
    except (OSError, ValueError, AttributeError):
        return False


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint (a half-written one, from a kill during a save, is skipped)."""
    complete = [p for p in _checkpoints(run_dir) if checkpoint_complete(p)]
    return complete[-1] if complete else None


def incomplete_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoint folders an interruption left half-written (newer than the last complete one)."""
    last = last_checkpoint(run_dir)
    floor = int(last.name[11:]) if last else -1
    return [p for p in _checkpoints(run_dir) if int(p.name[11:]) > floor and not checkpoint_complete(p)]
