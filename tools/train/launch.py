"""Training: a child process that trains, and the caller's side.

``run_training`` writes ``config.yaml`` (the resolved settings, :mod:`tools.train.record`) and
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
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tools.core.errors import InputError
from tools.core.events import Event, EventReader, EventWriter
from tools.core.jsonio import atomic_write_text
from tools.core.paths import REPO_ROOT
from tools.core.payloads import Done, Failed
from tools.core.procs import local_rank, pid_alive, world_rank
from tools.core.runs import CONFIG_FILE, PID_FILE, SUPERVISOR_PID_FILE, supervisor_alive, training_alive
from tools.plan.record import PLAN_FILE, load_plan
from tools.train.checkpoints import last_checkpoint
from tools.train.record import (
    TrainRequest,
    TrainResult,
    TrainSettings,
    read_config,
    settings_from_plan,
    write_config,
)
from tools.train.slot import machine_slot

log = logging.getLogger(__name__)

EXIT_OOM = 75
MAX_OOM_RETRIES = 3


def _resolve_settings(req: TrainRequest) -> TrainSettings:
    run_dir = req.run_dir
    if req.settings is not None:
        settings = req.settings
    elif req.plan_path is not None:
        if req.data_dir is None:
            raise InputError("no dataset given", hint="Pass --data DIR (the folder with train.jsonl)")

        settings = settings_from_plan(load_plan(req.plan_path), req.data_dir)
    elif req.config_path is not None or (req.resume and (run_dir / CONFIG_FILE).exists()):
        cfg = Path(req.config_path or run_dir / CONFIG_FILE)
        if cfg.is_dir():
            cfg = cfg / CONFIG_FILE
        if not cfg.is_file():
            raise InputError("config file not found", where=str(cfg),
                             hint=f"Pass a {CONFIG_FILE} as written into a run folder, or the run folder")
        settings = read_config(cfg)
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
