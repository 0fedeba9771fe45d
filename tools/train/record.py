"""The training's records: the settings a run is trained with (``config.yaml``), the request and the result.

``run_training`` (:mod:`tools.train.launch`) writes ``config.yaml`` (:func:`write_config`); the worker reads it back
(:func:`read_config`), and merge, deploy, export and the evaluation read what a run was trained with
(:func:`run_settings`). :func:`settings_from_plan` derives the settings from the plan record.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from tools.core.errors import InputError
from tools.core.jsonio import atomic_write_text
from tools.core.models import resolve_model
from tools.core.runs import CONFIG_FILE
from tools.plan.record import TrainingPlan
from tools.plan.schedule import REPLAY_REPEAT


class TrainSettings(BaseModel):
    """Everything the worker needs, resolved. Saved as ``config.yaml`` in the run directory."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="local model folder (resolved)")
    model_name: str | None = Field(default=None, description="the model as the plan names it ('demo', a hub id)")
    data_dir: str
    method: Literal["lora", "qlora"] = "lora"
    precision: Literal["bf16", "fp16", "fp32"] = "fp32"
    lora_r: int = 16
    lora_alpha: int = 32  # usually 2*r
    lora_dropout: float = 0.0
    target_modules: list[str] | str = "all-linear"
    learning_rate: float = 2e-4
    num_epochs: float = 3.0
    max_steps: int = -1
    warmup_ratio: float = 0.05
    lr_scheduler: str = "cosine"
    micro_batch_size: int = 4
    grad_accum: int = 4
    max_length: int = 512
    gradient_checkpointing: bool = False
    packing: bool = False
    group_by_length: bool = True
    optimizer: str = "adamw_torch"
    attn_implementation: str = "sdpa"
    # CPU speed and memory (bench/train.py measures them against the seeds' recipe and a LLaMA-Factory-style setup)
    answer_only_head: bool = Field(default=True, description="on a CPU, only answer tokens go through the output layer")
    give_back_memory: bool = Field(default=True, description="return freed buffers to the system (glibc mallopt)")
    seed: int = 42
    logging_steps: int = 1
    save_steps: int = 25
    save_total_limit: int = 2
    eval_steps: int = 25
    early_stop_on_overfit: bool = False
    bnb_compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    system_prompt: str | None = None
    style: list[str] = Field(default_factory=list, description="the goal's style phrases (length limits are measured)")
    # knowledge: rewordings of each question mixed into training, and the learning check (tools/data/knowledge.py)
    paraphrases: int = Field(default=0, ge=0, le=20, description="extra rewordings per trained question")
    # reading: questions trained with the passages found for them (RAFT; tools/data/read/raft.py), 0 = closed-book only
    reading_k: int = Field(default=0, ge=0, le=8, description="passages a reading example carries")
    reading_share: float = Field(default=0.8, ge=0, le=1, description="reading examples that hold their own passage")
    reading_per_question: int = Field(default=3, ge=1, le=8, description="reading examples per distinct answer")
    learning_check: bool = False
    replay: int = Field(default=0, ge=0, le=48, description="general questions answered by the base model, trained "
                        "beside the data (tools/data/replay.py)")
    replay_repeat: int = Field(default=REPLAY_REPEAT, ge=1, le=8, description="times each replay example is seen per epoch")
    check_every: int = Field(default=0, ge=0, description="steps between checks; 0: about once per epoch")
    check_target: float = Field(default=0.9, gt=0, le=1)
    check_patience: int = Field(default=3, ge=1)
    check_size: int = Field(default=32, ge=1)
    check_min_epochs: float = Field(default=0, ge=0, description="no early stop before this many epochs")
    init_adapter: str | None = Field(default=None, description="start from this adapter (a follow-up run)")

    @property
    def effective_batch(self) -> int:
        return self.micro_batch_size * self.grad_accum


class TrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: Path
    data_dir: Path | None = None
    plan_path: Path | None = None
    config_path: Path | None = None
    settings: TrainSettings | None = None
    max_steps: int | None = None
    resume: bool = False


class TrainResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["done", "cancelled", "failed"]
    adapter_dir: Path | None = None
    steps: int = 0
    final_loss: float | None = None
    message: str = ""
    oom_retries: int = 0


def settings_from_plan(plan: TrainingPlan, data_dir: Path) -> TrainSettings:
    """The worker's settings, derived from the plan record: every value is the plan's own, none guessed.

    A plan from JSON is read with :func:`tools.plan.record.parse_plan` first (a hand-written one that lacks a
    field is refused there with the field's name rather than filled with a default the planner did not choose)."""
    if not plan.fits:
        raise InputError("this plan does not fit the machine, so it cannot be trained",
                         hint=plan.refusal or "Make a new plan with a smaller model or shorter sequences")
    return TrainSettings(
        model=str(resolve_model(plan.model)), model_name=plan.model, data_dir=str(data_dir), method=plan.method,
        precision=plan.precision, lora_r=plan.lora.r, lora_alpha=plan.lora.alpha, lora_dropout=plan.lora.dropout,
        target_modules=plan.lora.target_modules, learning_rate=plan.learning_rate, num_epochs=plan.num_epochs,
        warmup_ratio=plan.warmup_ratio, lr_scheduler=plan.lr_scheduler, micro_batch_size=plan.micro_batch_size,
        grad_accum=plan.grad_accum, max_length=plan.max_length, gradient_checkpointing=plan.gradient_checkpointing,
        packing=plan.packing, optimizer=plan.optimizer, attn_implementation=plan.attn_implementation,
        seed=plan.seed, save_steps=plan.save_steps,  # logging: every step, the page's progress bar
        save_total_limit=plan.save_total_limit, eval_steps=plan.eval_steps,
        bnb_compute_dtype=plan.bnb.bnb_4bit_compute_dtype if plan.bnb else "bfloat16",
        system_prompt=plan.system_prompt, style=list(plan.style), paraphrases=plan.paraphrases,
        learning_check=plan.learning_check, replay=plan.replay, check_target=plan.check_target,
        check_min_epochs=plan.check_min_epochs, init_adapter=plan.init_adapter, reading_k=plan.reading_k,
        reading_share=plan.reading_share, reading_per_question=plan.reading_per_question,
    )


# --- config.yaml ------------------------------------------------------------------------------------


def write_config(run_dir: Path, settings: TrainSettings) -> None:
    """``config.yaml`` (the settings record) and ``train_command.sh`` (the command that trains from it)."""
    header = "# Resolved training settings. Reproduce with: bash train_command.sh\n"
    atomic_write_text(run_dir / CONFIG_FILE, header + yaml.safe_dump(settings.model_dump(), sort_keys=False))
    cmd = (
        "#!/usr/bin/env bash\n"
        "# Reproduces this run outside the product (same settings, same data).\n"
        "set -euo pipefail\n"
        f"cd {shlex.quote(str(Path.cwd()))}\n"
        f"{shlex.quote(sys.executable)} -m tools.train.worker {shlex.quote(str(run_dir.resolve()))}\n"
    )
    atomic_write_text(run_dir / "train_command.sh", cmd)
    os.chmod(run_dir / "train_command.sh", 0o755)


def read_config(path: Path) -> TrainSettings:
    """A ``config.yaml`` read back; a file that is not YAML or not a settings record raises (yaml.YAMLError, a
    pydantic ValidationError)."""
    return TrainSettings.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def run_settings(run_dir: Path) -> TrainSettings | None:
    """The run's training settings record (``config.yaml``): how merge, deploy and the evaluation read what the
    run was trained with. None before training, or for a file that is not a settings record."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        return read_config(path)
    except (OSError, yaml.YAMLError, ValueError):
        return None
