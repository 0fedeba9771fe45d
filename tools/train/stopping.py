"""Stopping a training at the next step, with a checkpoint: the stop flag, SIGTERM/SIGINT and the parent's death."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any

from tools.train.launch import PARENT_ENV


class Stop:
    """The training's stop request, and what it is saving now (one training per process)."""

    requested = False
    saving: str | None = None  # what is being written now ("checkpoint-40", "the adapter"): named in a disk-full error


def stop_on_signals() -> None:
    """SIGTERM (a cancel, the parent's death) and SIGINT ask the training to stop at the next step."""

    def on_term(signum: int, frame: Any) -> None:
        Stop.requested = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)


def stop_with_parent() -> None:
    """When the process that started this child dies (a killed `tunepilot train`), the kernel sends SIGTERM, which
    cancels at the next step with a checkpoint, instead of training on outside the machine's training slot.
    Linux only; a child started some other way (torchrun, a machine's own command) has no parent to watch."""
    parent = int(os.environ.get(PARENT_ENV, "0") or 0)
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, int(signal.SIGTERM))
    if os.getppid() != parent:  # it died before the request above
        os.kill(os.getpid(), signal.SIGTERM)
