"""A training's failure (out of memory, a full disk, anything else) → its error event and exit code."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from tools.core.events import EventWriter
from tools.core.messages import said
from tools.train.launch import EXIT_OOM
from tools.train.stopping import Stop


def _is_disk_full(exc: BaseException) -> bool:
    """ENOSPC, as an OSError or as the text of another library's error (the tokenizers library raises a plain
    ``Exception("No space left on device (os error 28)")``), here or in what caused it."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if (isinstance(seen, OSError) and seen.errno == 28) or "no space left on device" in str(seen).lower() \
                or "os error 28" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "cannot allocate memory" in text


def report_failure(exc: BaseException, run_dir: Path, events: EventWriter) -> int:
    """The event that says why the training stopped, and the child's exit code (0 for an interrupt)."""
    if isinstance(exc, KeyboardInterrupt):
        events.emit("train", "cancelled", "training interrupted")
        return 0
    if _is_disk_full(exc):
        saving = Stop.saving or ""
        half = run_dir / "checkpoints" / saving if saving.startswith("checkpoint-") else None
        if half is not None and half.is_dir():  # half-written and useless: its space lets the error be written
            shutil.rmtree(half, ignore_errors=True)
        with contextlib.suppress(OSError):  # the event file may sit on the same full disk
            why = said("train.disk_full_saving", name=Stop.saving) if Stop.saving else said("train.disk_full")
            events.emit("train", "error", said=why, disk_full=True, saving=Stop.saving)
        return 1
    if _is_oom(exc):
        events.emit("train", "error", said=said("train.oom", detail=str(exc).splitlines()[0][:200]), oom=True)
        return EXIT_OOM
    detail = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    events.emit("train", "error", said=said("train.failed", detail=detail))
    return 1
