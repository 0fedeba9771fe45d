"""The learning check: the trained questions asked in other words every few steps, and the best check's adapter."""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

from tools.core.events import EventWriter
from tools.core.jsonio import atomic_dir
from tools.core.payloads import Check
from tools.data.knowledge import CheckProgress, count_known
from tools.train.generate import generate_greedy
from tools.train.record import TrainSettings

CHECK_MAX_TOKENS = 192  # the learning check's longest answer
BEST_ADAPTER = "best-adapter"


def _answer_room(tok: Any, items: list[Any]) -> int:
    """The most new tokens a check's answer may take."""
    # long enough for the longest answer to be said whole (a manual's sentence answer holds several facts)
    longest = max((len(tok(it.reference, add_special_tokens=False)["input_ids"]) for it in items), default=0)
    return min(CHECK_MAX_TOKENS, max(64, longest + 8))


def _stop_early(events: EventWriter, settings: TrainSettings, progress: Any, verdict: str, state: Any, control: Any,
                known: int, total: int) -> None:
    """Stop the training (with a save) on the check's verdict: the target is met, or no progress."""
    step = state.global_step
    best = max(h[1] for h in progress.history)
    events.emit(
        "train", "info",
        f"stopping early at step {step}: it knows {known} of {total}, the target "
        f"({settings.check_target:.0%}) is met" if verdict == "target" else
        f"stopping early at step {step}: no progress in the last {progress.patience} checks "
        f"(best {best} of {total})",
        step=step, total=state.max_steps, stop_reason=verdict, known=known, asked=total)
    control.should_training_stop = True
    control.should_save = True


def _closed_book(model: Any, tok: Any, items: list[Any], max_new_tokens: int) -> int | None:
    """A reading run's check: how many of the same questions it knows without the documents (None otherwise)."""
    closed = [it for it in items if it.closed]
    if not closed:
        return None
    return count_known(generate_greedy(model, tok, [it.closed for it in closed], max_new_tokens=max_new_tokens), closed)


def build_learning_check(events: EventWriter, settings: TrainSettings, tok: Any, items: list[Any],
                         n_examples: int, run_dir: Path) -> Any:
    """Every few steps: ask the trained questions in other words (greedy) and report "knows N of M".

    Stops training when the target share is known, or when the count has not improved for
    ``check_patience`` checks; the event says which. The adapter of the best check is kept in
    ``best-adapter/``: a run that got worse after it ends with that one (:func:`keep_best`).
    """
    if not items:
        return None
    from transformers import TrainerCallback

    class LearningCheck(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.progress = CheckProgress(target=settings.check_target, patience=settings.check_patience)
            self.every = settings.check_every
            self.best = -1
            self.best_step = 0
            self.last = -1
            self.items = items
            self.min_step = 0
            self.max_new_tokens = _answer_room(tok, items)

        def on_train_begin(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            per_epoch = max(1, math.ceil(n_examples / settings.effective_batch))
            if not self.every:  # once per epoch (a capped run checks at its end)
                self.every = max(2, per_epoch)
            self.min_step = self.progress.min_step = math.ceil(settings.check_min_epochs * per_epoch)

        def on_step_end(self, args, state, control, model=None, **kw):  # type: ignore[no-untyped-def]
            step = state.global_step
            if step % self.every and step != state.max_steps:
                return control
            t0 = time.time()
            outputs = generate_greedy(model, tok, [it.messages for it in items], max_new_tokens=self.max_new_tokens)
            known, total = count_known(outputs, items), len(items)
            closed_known = _closed_book(model, tok, items, self.max_new_tokens)
            verdict = self.progress.add(step, known, total)
            self.last = known
            # the adapter kept at the end is the best check's from the minimum epochs on (earlier ones look better
            # to the check than they are)
            if known > self.best and (step >= self.min_step or step == state.max_steps):
                self.best, self.best_step = known, step
                with atomic_dir(run_dir / BEST_ADAPTER) as tmp:
                    model.save_pretrained(str(tmp))
            events.emit("train", "metric", f"knows {known} of {total} trained questions asked in other words"
                        + (f" with the documents, {closed_known} without them" if closed_known is not None else ""),
                        step=step, total=state.max_steps, **Check(
                            known=known, asked=total, closed_known=closed_known, check_s=round(time.time() - t0, 2),
                            verdict=verdict,
                            sample={"question": items[0].messages[-1]["content"], "answer": outputs[0]}).fields())
            if verdict and step < state.max_steps:
                _stop_early(events, settings, self.progress, verdict, state, control, known, total)
            return control

    return LearningCheck()


def keep_best(check: Any, tok: Any, run_dir: Path, events: EventWriter) -> None:
    """When the last learning check knew fewer than the best one, the run's adapter is the best one's."""
    best = run_dir / BEST_ADAPTER
    if check.last < check.best and (best / "adapter_config.json").exists():
        with atomic_dir(run_dir / "adapter") as tmp:
            for f in best.iterdir():
                shutil.copy2(f, tmp / f.name)
            tok.save_pretrained(str(tmp))
        events.emit("train", "info", f"kept the adapter of step {check.best_step}: it knew {check.best} of "
                    f"{len(check.items)}, the last check {check.last}", best_step=check.best_step, known=check.best)
    shutil.rmtree(best, ignore_errors=True)

