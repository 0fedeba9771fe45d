"""Training: a run's resolved settings, a child process that trains, and the caller's side.

``run_training`` writes ``config.yaml`` (the resolved settings) and
``train_command.sh`` into the run directory, then starts ``python -m
tools.train.worker RUN_DIR`` as a separate process group and relays its events.
A crash of the child never takes the caller down. When the child reports that it
ran out of memory it is started again with half the micro-batch and twice the
gradient accumulation (same effective batch), from the last checkpoint, at most
``MAX_OOM_RETRIES`` times.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from tools.core.errors import InputError
from tools.core.events import Event, EventReader, EventWriter
from tools.core.jsonio import atomic_write_text
from tools.core.paths import REPO_ROOT
from tools.core.payloads import Done, Failed
from tools.core.procs import local_rank, pid_alive, world_rank
from tools.core.runs import (  # noqa: F401 - where a run's training stands is the run folder's to say
    CONFIG_FILE,
    PID_FILE,
    SUPERVISOR_PID_FILE,
    supervisor_alive,
    training_alive,
    training_state,
)
from tools.plan.record import TrainingPlan
from tools.plan.schedule import REPLAY_REPEAT
from tools.train.checkpoints import last_checkpoint
from tools.train.slot import machine_slot

log = logging.getLogger(__name__)

EXIT_OOM = 75
MAX_OOM_RETRIES = 3


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


def run_settings(run_dir: Path) -> TrainSettings | None:
    """The run's training settings record (``config.yaml``): how merge, deploy and the evaluation read what the
    run was trained with. None before training, or for a file that is not a settings record."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        return TrainSettings.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValueError):
        return None


def settings_from_plan(plan: TrainingPlan, data_dir: Path) -> TrainSettings:
    """The worker's settings, derived from the plan record: every value is the plan's own, none guessed.

    A plan from JSON is read with :func:`tools.plan.record.parse_plan` first (a hand-written one that lacks a
    field is refused there with the field's name rather than filled with a default the planner did not choose)."""
    from tools.core.models import resolve_model

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


def _resolve_settings(req: TrainRequest) -> TrainSettings:
    run_dir = req.run_dir
    if req.settings is not None:
        settings = req.settings
    elif req.plan_path is not None:
        if req.data_dir is None:
            raise InputError("no dataset given", hint="Pass --data DIR (the folder with train.jsonl)")
        from tools.plan.record import load_plan

        settings = settings_from_plan(load_plan(req.plan_path), req.data_dir)
    elif req.config_path is not None or (req.resume and (run_dir / CONFIG_FILE).exists()):
        cfg = Path(req.config_path or run_dir / CONFIG_FILE)
        if cfg.is_dir():
            cfg = cfg / CONFIG_FILE
        if not cfg.is_file():
            raise InputError("config file not found", where=str(cfg),
                             hint=f"Pass a {CONFIG_FILE} as written into a run folder, or the run folder")
        settings = TrainSettings.model_validate(yaml.safe_load(cfg.read_text(encoding="utf-8")))
    else:
        raise InputError("no plan given", hint="Pass --plan plan.json (from `tunepilot plan --out`)")
    if req.data_dir is not None:
        settings = settings.model_copy(update={"data_dir": str(req.data_dir.resolve())})
    if req.max_steps is not None:
        settings = settings.model_copy(update={"max_steps": req.max_steps})
    train_file = Path(settings.data_dir) / "train.jsonl"
    if not train_file.exists():
        raise InputError(
            "no train.jsonl in the dataset folder",
            where=settings.data_dir,
            hint="Make one with `tunepilot data FILES --out DIR`",
        )
    return settings


def write_config(run_dir: Path, settings: TrainSettings) -> None:
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


PARENT_ENV = "TUNEPILOT_TRAIN_PARENT"


def start_worker(run_dir: Path, resume: bool) -> subprocess.Popen[bytes]:
    """Start the training child in its own process group; its output goes to logs/train.log."""
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "tools.train.worker", str(run_dir.resolve())]
    if resume:
        cmd.append("--resume")
    env = dict(os.environ)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    env[PARENT_ENV] = str(os.getpid())  # the child stops when this process dies (stopping.stop_with_parent)
    root = str(REPO_ROOT)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with open(logs / "train.log", "ab") as logf:
        proc = subprocess.Popen(
            cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    atomic_write_text(run_dir / PID_FILE, f"{proc.pid}\n")
    return proc


def cancel_training(run_dir: Path, timeout_s: float = 30.0) -> bool:
    """Ask a running training to stop (SIGTERM); it saves a checkpoint first. True if one was running."""
    pid_file = run_dir / PID_FILE
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().strip() or 0)
    if not pid or not pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)
    return True


def keep_plan(plan_path: Path | None, run_dir: Path) -> None:
    """A run folder holds the plan it was trained with (``train --continue`` and ``runs`` read it there), also when
    the plan file given lives elsewhere."""
    from tools.plan.record import PLAN_FILE

    if plan_path is None or world_rank() != 0:
        return
    source = plan_path / PLAN_FILE if plan_path.is_dir() else plan_path
    kept = run_dir / PLAN_FILE
    if source.is_file() and not (kept.exists() and os.path.samefile(source, kept)):
        shutil.copyfile(source, kept)


def run_training(req: TrainRequest, on_event: Callable[[Event], None] | None = None) -> TrainResult:
    """Train in a child process and wait for it, relaying events; retries on out-of-memory."""
    run_dir = req.run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = _resolve_settings(req)
    write_config(run_dir, settings)
    keep_plan(req.plan_path, run_dir)
    events = EventWriter(run_dir)
    reader = EventReader(run_dir, offset=(run_dir / "events.jsonl").stat().st_size
                         if (run_dir / "events.jsonl").exists() else 0)
    resume = req.resume
    retries = 0
    # the machine's first process holds the machine's slot for the whole training; the others of the same
    # training must not queue behind it (they would wait for each other forever)
    slot = machine_slot(run_dir, events, on_event, reader) if local_rank() == 0 else contextlib.nullcontext()
    with slot:
        return _train_loop(run_dir, settings, events, reader, resume, retries, on_event)


def _train_loop(run_dir: Path, settings: TrainSettings, events: EventWriter, reader: EventReader, resume: bool,
                retries: int, on_event: Callable[[Event], None] | None) -> TrainResult:
    """Start the child and follow it to its end; after an out-of-memory exit, again with half the micro-batch."""
    while True:
        proc = start_worker(run_dir, resume=resume)
        code, last = _follow_child(proc, reader, on_event)
        if code == EXIT_OOM and retries < MAX_OOM_RETRIES and settings.micro_batch_size > 1:
            retries += 1
            settings = _halve_micro_batch(run_dir, settings, events, retries)
            resume = last_checkpoint(run_dir) is not None
            continue
        break
    return _train_result(run_dir, code, last, retries)


def _relay(reader: EventReader, on_event: Callable[[Event], None] | None, last: Event | None) -> Event | None:
    """Pass the new events on; the last training event read so far."""
    for ev in reader.read_new():
        if on_event:
            on_event(ev)
        if ev.stage == "train":
            last = ev
    return last


def _follow_child(proc: subprocess.Popen[bytes], reader: EventReader, on_event: Callable[[Event], None] | None
                  ) -> tuple[int, Event | None]:
    """Relay the child's events until it exits: its exit code and its last training event."""
    last: Event | None = None
    while True:
        last = _relay(reader, on_event, last)
        code = proc.poll()
        if code is not None:
            return code, _relay(reader, on_event, last)
        time.sleep(0.2)


def _halve_micro_batch(run_dir: Path, settings: TrainSettings, events: EventWriter, retries: int) -> TrainSettings:
    """After an out-of-memory exit: half the micro-batch, twice the accumulation, written and said."""
    settings = settings.model_copy(
        update={"micro_batch_size": settings.micro_batch_size // 2, "grad_accum": settings.grad_accum * 2}
    )
    write_config(run_dir, settings)
    events.emit(
        "train",
        "warning",
        f"out of memory: retrying with micro-batch {settings.micro_batch_size} × accumulation "
        f"{settings.grad_accum} (same effective batch {settings.effective_batch}), retry {retries}/"
        f"{MAX_OOM_RETRIES}",
        micro_batch_size=settings.micro_batch_size,
        grad_accum=settings.grad_accum,
        retry=retries,
    )  # the reader relays it like every other event
    return settings


def _train_result(run_dir: Path, code: int, last: Event | None, retries: int) -> TrainResult:
    """What the child's exit code and its last training event say about the training."""
    if local_rank() > 0:  # one process of several on this machine: the machine's first one reports the training
        return TrainResult(status="done" if code == 0 else "failed", oom_retries=retries,
                           message=f"process {world_rank()} of the training exited with code {code}")
    adapter = run_dir / "adapter"
    done = Done.of(last) if last is not None else None
    if code == 0 and last is not None and done is not None:
        return TrainResult(
            status="done",
            adapter_dir=adapter if done.adapter else None,  # another machine saved it
            steps=last.step or 0,
            final_loss=done.train_loss,
            message=last.message,
            oom_retries=retries,
        )
    if last is not None and last.kind == "cancelled":
        return TrainResult(status="cancelled", steps=last.step or 0, message=last.message, oom_retries=retries)
    msg = last.message if last is not None and last.kind == "error" else f"training process exited with code {code}"
    tail = _log_tail(run_dir / "logs" / "train.log")
    failed = Failed.of(last) if last is not None else None
    if _disk_nearly_full(run_dir) and not (failed is not None and failed.disk_full):
        msg = ("no space left on the device while training: free some disk space, then resume with --resume "
               "(the last complete checkpoint is kept)")
        tail = ""  # the sentence says it all; the traceback stays in logs/train.log
    if code == EXIT_OOM:
        msg += f" (gave up after {retries} out-of-memory retries; try a smaller max length or QLoRA)"
    return TrainResult(status="failed", steps=(last.step or 0) if last else 0,
                       message=msg + (f"\n{tail}" if tail and not (last and last.kind == "error") else ""),
                       oom_retries=retries)


def _disk_nearly_full(path: Path, margin: int = 16 * 1024**2) -> bool:
    import shutil

    try:
        return shutil.disk_usage(path).free < margin
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def launch_training(
    run_dir: Path, *, data_dir: Path | None = None, plan_path: Path | None = None,
    settings: TrainSettings | None = None, max_steps: int | None = None, resume: bool = False,
) -> int:
    """Start ``tunepilot train`` as a detached process (it survives the caller) and return its pid.

    The detached process runs :func:`run_training`, so out-of-memory back-off and events work the
    same as from the CLI; the page and the agent follow ``events.jsonl`` and never block on it.
    """
    run_dir = run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if settings is not None:
        write_config(run_dir, settings)
        resume = resume or False
    if training_alive(run_dir) or supervisor_alive(run_dir):
        raise InputError("a training is already running for this run", where=str(run_dir),
                         hint="Wait for it, or cancel it first")
    cmd = [sys.executable, "-m", "tunepilot.cli", "train", "--run", str(run_dir)]
    if data_dir is not None:
        cmd += ["--data", str(Path(data_dir).resolve())]
    if plan_path is not None:
        cmd += ["--plan", str(Path(plan_path).resolve())]
    elif settings is not None or (run_dir / CONFIG_FILE).exists():
        cmd += ["--config", str(run_dir / CONFIG_FILE)]
    if max_steps is not None:
        cmd += ["--max-steps", str(max_steps)]
    if resume:
        cmd.append("--resume")
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    root = str(REPO_ROOT)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with open(logs / "supervisor.log", "ab") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    atomic_write_text(run_dir / SUPERVISOR_PID_FILE, f"{proc.pid}\n")
    return proc.pid
