"""The training child process: ``python -m tools.train.worker RUN_DIR [--resume]``.

Reads ``RUN_DIR/config.yaml``, trains a LoRA (or QLoRA) adapter with TRL's
SFTTrainer and writes events to ``RUN_DIR/events.jsonl``. Loss is on assistant
turns only: each assistant turn becomes a prompt/completion pair (the prompt is
the conversation before it, rendered with the model's own chat template), so
the template used in training is exactly the one saved with the adapter and
given to vLLM, and the end-of-turn token stays in the labels (the model learns
to stop).

Exit codes: 0 done or cancelled, 75 out of memory, 1 other failure.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.core.events import EventWriter
from tools.core.jsonio import write_json
from tools.core.messages import said
from tools.core.payloads import Done
from tools.core.procs import world_rank, world_size
from tools.core.runs import CONFIG_FILE
from tools.train.archive import archive_adapter, save_adapter
from tools.train.checkpoints import incomplete_checkpoints, last_checkpoint
from tools.train.examples import training_examples
from tools.train.failure import report_failure
from tools.train.learning_check import build_learning_check, keep_best
from tools.train.loss import give_back_freed_memory
from tools.train.model import drop_default_system, load_model, load_tokenizer, with_adapter
from tools.train.progress import build_callback
from tools.train.record import TrainSettings, read_config
from tools.train.replay import replayed_examples
from tools.train.speed import record_speed_sample
from tools.train.stopping import Stop, stop_on_signals, stop_with_parent
from tools.train.trainer import sft_config, trainer_class


def train(run_dir: Path, resume: bool) -> int:
    """The child's whole job: settings from ``config.yaml``, examples, model, TRL, then the adapter."""
    settings = read_config(run_dir / CONFIG_FILE)
    events = EventWriter(run_dir)
    stop_on_signals()

    import torch
    from datasets import Dataset
    if settings.give_back_memory:
        give_back_freed_memory()
    torch.manual_seed(settings.seed)
    examples = training_examples(settings, events)
    if examples is None:
        return 1
    train_rows, eval_rows, items = examples
    tok = load_tokenizer(settings)
    dropped = drop_default_system(tok, settings)
    if dropped:
        events.emit("train", "info", said=said("train.default_system_dropped", prompt=dropped[0], tokens=dropped[1]),
                    default_system_dropped=dropped[0])
    cuda = torch.cuda.is_available()
    model = load_model(settings, tok, cuda)
    if settings.replay:
        train_rows = train_rows + replayed_examples(model, tok, settings, run_dir, events)
    params = sum(p.numel() for p in model.parameters())
    gpu_names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []
    model, peft_config = with_adapter(model, settings, events)
    args = sft_config(settings, run_dir, bool(eval_rows), cuda)
    check = build_learning_check(events, settings, tok, items, len(train_rows), run_dir)
    trainer = trainer_class(settings, cuda)(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tok,
        peft_config=peft_config,
        callbacks=[callback := build_callback(events, settings, Stop)] + ([check] if check is not None else []),
    )
    if trainer.eval_dataset is not None and len(trainer.eval_dataset) == 0:  # TRL dropped every one: cut off
        from transformers.trainer_utils import IntervalStrategy

        trainer.eval_dataset, trainer.args.eval_strategy = None, IntervalStrategy.NO
        events.emit("train", "warning", said=said("train.held_out_too_long", max_length=settings.max_length))
    _fault_injection(settings)
    ckpt = _resume_point(run_dir, resume, events)
    result = trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    return _finish(trainer, result, check, tok, run_dir, events, lambda tokens: record_speed_sample(
        callback.timing, settings, run_dir, tokens - callback.start_tokens, params, gpu_names))


def _fault_injection(settings: TrainSettings) -> None:
    """Drills only: TUNEPILOT_FAULT_OOM_ABOVE_BATCH=N makes micro-batches above N fail as out-of-memory."""
    limit = os.environ.get("TUNEPILOT_FAULT_OOM_ABOVE_BATCH")
    if limit and settings.micro_batch_size > int(limit):
        import torch

        raise torch.OutOfMemoryError(f"(fault drill) micro-batch {settings.micro_batch_size} does not fit")


def _resume_point(run_dir: Path, resume: bool, events: EventWriter) -> Path | None:
    """The checkpoint to resume from; half-written ones (a kill during a save) are removed first."""
    ckpt = last_checkpoint(run_dir) if resume else None
    for partial in incomplete_checkpoints(run_dir) if resume else []:
        # a kill during a save left it; the trainer would otherwise write into it or rotate the good one away
        shutil.rmtree(partial, ignore_errors=True)
        events.emit("train", "warning", f"removed {partial.name}: it was half-written when training was "
                    f"interrupted; resuming from {ckpt.name if ckpt else 'the beginning'}", removed=partial.name)
    if resume and ckpt is None:
        events.emit("train", "warning", "no checkpoint to resume from: starting from the beginning")
    return ckpt


def _finish(trainer: Any, result: Any, check: Any, tok: Any, run_dir: Path, events: EventWriter,
            measured: Callable[[int], None]) -> int:
    """After training: the metrics, then either the cancel event or the adapter, its archive and the done event
    (and this training's speed, measured)."""
    state = trainer.state
    write_json(run_dir / "metrics.json", {"log_history": state.log_history, "global_step": state.global_step,
                                          "max_steps": state.max_steps})
    if Stop.requested and state.global_step < state.max_steps:
        events.emit(
            "train",
            "cancelled",
            f"training cancelled at step {state.global_step}; the last checkpoint is kept (resume with --resume)",
            step=state.global_step,
            total=state.max_steps,
        )
        return 0
    saves = world_rank() == 0  # of several processes (machines), the first one saves the one adapter
    if saves:
        Stop.saving = "the adapter"
        save_adapter(trainer, tok, run_dir / "adapter")
        if check is not None:
            keep_best(check, tok, run_dir, events)
        archive_adapter(run_dir)
        Stop.saving = None
    events.emit(
        "train",
        "done",
        f"training finished: {state.global_step} steps, train loss {result.training_loss:.4f}"
        + ("" if saves else f" (process {world_rank()} of {world_size()}: the first machine saved the adapter)"),
        step=state.global_step,
        total=state.max_steps,
        **Done(train_loss=float(result.training_loss), adapter=str(run_dir / "adapter") if saves else None,
               peak_rss_mb=round(_peak_rss_mb(), 1),
               train_runtime_s=round(float(result.metrics.get("train_runtime", 0.0)), 2),
               tokens_seen=int(getattr(state, "num_input_tokens_seen", 0) or 0)).fields(),
    )
    if saves and world_size() == 1:  # a speed measured on one process is what the next plan can use
        measured(int(getattr(state, "num_input_tokens_seen", 0) or 0))
    return 0


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.train.worker RUN_DIR [--resume]``: train, and turn every failure into an event."""
    parser = argparse.ArgumentParser(prog="python -m tools.train.worker")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_dir = args.run_dir.resolve()
    events = EventWriter(run_dir)
    try:
        stop_with_parent()
        return train(run_dir, args.resume)
    except BaseException as exc:  # noqa: BLE001 - report every failure as an event
        with contextlib.suppress(OSError):  # the log sits in the run folder, maybe on the disk that is full
            traceback.print_exc()
        return report_failure(exc, run_dir, events)


if __name__ == "__main__":
    sys.exit(main())
