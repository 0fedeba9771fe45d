"""Where a training's seconds went, recorded as the machine's speed sample for the next plan's time estimate."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from tools.plan.speed import SpeedSample, record_speed, this_machine
from tools.train.record import TrainSettings

log = logging.getLogger("tools.train.worker")


class Timing:
    """Where a training's seconds went, for the next plan's time estimate (tools.plan.speed)."""

    def __init__(self) -> None:
        self.began = 0.0  # the first step's start (after imports, model and dataset)
        self.step_began = 0.0
        self.step_seconds = 0.0  # inside optimizer steps
        self.evals = 0


def record_speed_sample(timing: Timing, settings: TrainSettings, run_dir: Path, tokens: int, params: int,
                        gpu_names: list[str]) -> None:
    """Add this training's measured speed to the machine's samples; a failure to write is logged, not raised."""
    import psutil

    wall = time.time() - timing.began
    if tokens <= 0 or timing.step_seconds <= 0 or params <= 0:
        return
    try:
        record_speed(SpeedSample(
            machine=this_machine(gpu_names), model=settings.model_name or settings.model, params=params,
            method=settings.method,
            precision=settings.precision, device="cuda" if gpu_names else "cpu", tokens=tokens,
            step_seconds=round(timing.step_seconds, 3), evals=timing.evals,
            other_seconds=round(max(0.0, wall - timing.step_seconds), 3),
            startup_seconds=round(max(0.0, timing.began - psutil.Process().create_time()), 3),
            run=run_dir.name, ts=time.time()))
    except (OSError, ValueError) as exc:
        log.warning("could not record the training speed: %s", exc)
