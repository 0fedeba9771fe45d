"""The trainer callback that turns TRL's steps, logs and saves into the run's progress events."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tools.core.events import EventWriter
from tools.core.payloads import EvalLoss, Progress
from tools.train.record import TrainSettings
from tools.train.speed import Timing
from tools.train.stopping import Stop


def _emit_progress(events: EventWriter, state: Any, logs: dict[str, Any], elapsed: float, steps_done: int,
                   tokens: int, wall: float) -> None:
    """One ``progress`` event: loss, learning rate, speed and the time left. The speed is the tokens trained so far
    (template included, padding not) over ``wall``, the seconds since the training process started: start-up,
    evaluations and checkpoints count, as they do for the person waiting."""
    step, total = state.global_step, state.max_steps
    per_step = elapsed / max(steps_done, 1)
    data = Progress(loss=float(logs["loss"]), learning_rate=float(logs.get("learning_rate", 0.0)),
                    tokens_per_s=round(tokens / wall, 1) if wall > 0 else None, s_per_step=round(per_step, 3),
                    eta_s=round(per_step * (total - step), 1), epoch=round(float(state.epoch or 0), 3))
    events.emit("train", "progress", f"step {step}/{total} loss {data.loss:.4f}", step=step, total=total,
                **data.fields())


def _overfitting(eval_losses: list[float], train_losses: list[float]) -> bool:
    """Eval loss rose at two evaluations in a row while train loss fell."""
    e, t = eval_losses, train_losses
    return len(e) >= 3 and e[-1] > e[-2] > e[-3] and len(t) >= 2 and t[-1] < t[max(0, len(t) - 10)]


def _emit_start(events: EventWriter, settings: TrainSettings, state: Any) -> None:
    """The ``start`` event: method, rank, steps, and the step a resumed training goes on from."""
    events.emit(
        "train",
        "start",
        f"training {settings.method.upper()} r={settings.lora_r} for {state.max_steps} steps"
        + (f", resuming at step {state.global_step}" if state.global_step else ""),
        step=state.global_step,
        total=state.max_steps,
        resumed_from=state.global_step,
        effective_batch=settings.effective_batch,
    )


def _emit_eval(events: EventWriter, settings: TrainSettings, state: Any, control: Any, eval_losses: list[float],
               train_losses: list[float]) -> None:
    """The eval loss just measured (the last of ``eval_losses``); a warning, and the optional stop, on overfitting."""
    step, total = state.global_step, state.max_steps
    loss = eval_losses[-1]
    events.emit("train", "metric", f"eval loss {loss:.4f}", step=step, total=total, **EvalLoss(eval_loss=loss).fields())
    if _overfitting(eval_losses, train_losses):
        events.emit("train", "warning", "eval loss rose at two evaluations in a row while train loss "
                    "fell: the model may be overfitting (fewer epochs or more data would help)",
                    step=step, total=total, overfitting=True)
        if settings.early_stop_on_overfit:
            control.should_training_stop = True
            control.should_save = True


def build_callback(events: EventWriter, settings: TrainSettings, stop: type[Stop]) -> Any:
    """The callback that reports the training's start, progress, eval loss and checkpoints, and stops it when
    asked (``stop``); it keeps the training's :class:`Timing`."""
    from transformers import TrainerCallback

    class EventCallback(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            import psutil

            self.born = psutil.Process().create_time()  # the training process's start
            self.t0 = time.time()
            self.start_step = 0
            self.start_tokens = 0
            self.eval_losses: list[float] = []
            self.train_losses: list[float] = []
            self.timing = Timing()

        def on_train_begin(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            self.t0 = time.time()
            self.timing.began = self.t0
            self.start_step = state.global_step
            self.start_tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
            _emit_start(events, settings, state)

        def on_step_begin(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            self.timing.step_began = time.time()

        def on_step_end(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            self.timing.step_seconds += time.time() - self.timing.step_began
            if stop.requested:
                control.should_save = True
                control.should_training_stop = True
            stop.saving = f"checkpoint-{state.global_step}" if control.should_save else None
            return control

        def on_log(self, args, state, control, logs=None, **kw):  # type: ignore[no-untyped-def]
            logs = logs or {}
            step = state.global_step
            if "loss" in logs:
                self.train_losses.append(float(logs["loss"]))
                tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0) - self.start_tokens
                now = time.time()
                _emit_progress(events, state, logs, now - self.t0, step - self.start_step, tokens, now - self.born)
            if "eval_loss" in logs:
                self.eval_losses.append(float(logs["eval_loss"]))
                self.timing.evals += 1
                _emit_eval(events, settings, state, control, self.eval_losses, self.train_losses)

        def on_save(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            stop.saving = None
            events.emit(
                "train",
                "checkpoint",
                f"checkpoint saved at step {state.global_step}",
                step=state.global_step,
                total=state.max_steps,
                path=str(Path(args.output_dir) / f"checkpoint-{state.global_step}"),
            )

    return EventCallback()
