"""Training speed measured on this machine, for the plan's time estimate.

Every training that finishes adds a :class:`SpeedSample` to ``$TUNEPILOT_HOME/speed.jsonl``: how many
tokens it trained in how many seconds of optimizer steps, what each evaluation (and checkpoint) cost, and how
long the process took to start. The planner estimates from the latest sample of the same machine (the same
model first, else another one scaled by parameters), and says so; with none it falls back to the reference
figure measured when tunepilot was written, and says that instead.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools.core.paths import tunepilot_home
from tools.plan.hardware import HardwareFacts, probe_cpu

log = logging.getLogger(__name__)

SPEED_FILE = "speed.jsonl"
KEEP = 200  # samples kept when the file is trimmed (it is trimmed past twice that)


class SpeedSample(BaseModel):
    """One finished training, measured."""

    model_config = ConfigDict(extra="forbid")

    machine: str = Field(description="machine_key() of the machine that trained")
    model: str = Field(description="the model's name as the plan names it ('demo', a folder, a hub id)")
    params: int = Field(gt=0)
    method: Literal["lora", "qlora"]
    precision: str
    device: Literal["cpu", "cuda"] = "cpu"
    tokens: int = Field(gt=0, description="tokens trained (padding not counted)")
    step_seconds: float = Field(gt=0, description="seconds inside optimizer steps")
    evals: int = Field(default=0, ge=0, description="evaluations (each with its checkpoint)")
    other_seconds: float = Field(default=0, ge=0, description="seconds outside steps: evaluations, checkpoints, checks")
    startup_seconds: float = Field(default=0, ge=0, description="process start to the first step")
    run: str = ""
    ts: float = 0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.step_seconds

    @property
    def seconds_per_eval(self) -> float:
        return self.other_seconds / self.evals if self.evals else 0.0


def machine_key(cpu_model: str, logical_cores: int, gpu_names: list[str]) -> str:
    """What makes two machines train at the same speed, as one string."""
    gpus = ",".join(sorted(gpu_names)) or "no GPU"
    return f"{cpu_model.strip()} | {logical_cores} cores | {gpus}"


def speed_file(home: Path | None = None) -> Path:
    return (home or tunepilot_home()) / SPEED_FILE


def record_speed(sample: SpeedSample, home: Path | None = None) -> Path:
    """Append one sample (one line, appended whole); trim the file to the last :data:`KEEP` when it grows."""
    path = speed_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (sample.model_dump_json() + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) > 2 * KEEP:
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines[-KEEP:]) + "\n", encoding="utf-8")
        tmp.replace(path)
    return path


def read_speeds(machine: str | None = None, home: Path | None = None) -> list[SpeedSample]:
    """The samples of one machine (all when ``machine`` is None), oldest first; unreadable lines are skipped."""
    try:
        lines = speed_file(home).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            sample = SpeedSample.model_validate(json.loads(line))
        except (ValueError, ValidationError):
            log.debug("skipped a speed sample that does not read: %r", line[:80])
            continue
        if machine is None or sample.machine == machine:
            out.append(sample)
    return out


def machine_of(hw: HardwareFacts) -> str:
    """The key of a machine the planner was given (a described machine has its own, so it matches nothing)."""
    return machine_key(hw.cpu.model, hw.cpu.logical_cores, [g.name for g in hw.gpus])


def this_machine(gpu_names: list[str]) -> str:
    """The key of the machine this runs on, with the GPUs the caller sees (the trainer asks torch)."""
    cpu = probe_cpu()
    return machine_key(cpu.model, cpu.logical_cores, gpu_names)
