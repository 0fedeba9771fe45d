"""The plan of a follow-up run: the previous run's plan, starting from its adapter, with fewer epochs.

A follow-up (``tunepilot train --continue RUN``) trains the previous run's data plus the person's corrections
(:mod:`tools.data.corrections`). Its adapter already knows the previous data, so it needs fewer passes than a
run from scratch: half the previous epochs, at least :data:`FOLLOW_UP_MIN_EPOCHS` so that each correction is seen
as often as a fact of a short knowledge run. Everything else (model, method, rank, rate, batch, the learning
check) is the previous plan's, so the adapter it starts from fits.
"""

from __future__ import annotations

import math
from pathlib import Path

from tools.core.messages import Said, said
from tools.plan.record import TrainingPlan
from tools.plan.schedule import REPLAY_REPEAT, eval_interval

FOLLOW_UP_MIN_EPOCHS = 3
# the previous plan's reasons about these are replaced (its step counts and its epochs no longer hold)
_REPLACED = frozenset({
    "plan.schedule.epochs_your_setting", "plan.schedule.epoch_your_setting", "plan.schedule.epochs_no_dataset_size",
    "plan.schedule.up_epochs_written", "plan.schedule.up_epochs_questions_are", "plan.schedule.epochs_small",
    "plan.schedule.epochs_large", "plan.schedule.epochs_large_one", "plan.schedule.warmup_steps_short_run",
    "plan.schedule.warmup_steps_qlora_paper", "plan.schedule.eval_every", "plan.schedule.eval_every_unknown",
    "plan.schedule.learning_check_once_epoch",
})


def follow_up_epochs(previous: int) -> int:
    return max(FOLLOW_UP_MIN_EPOCHS, math.ceil(previous / 2))


def follow_up_plan(previous: TrainingPlan, previous_run: Path, adapter: Path, *, records: int, corrections: int,
                   replaced: int, reworded: bool, epochs: int | None = None,
                   learning_rate: float | None = None) -> TrainingPlan:
    """``previous`` made into a follow-up's plan: from ``adapter``, ``records`` training records (the previous
    data plus ``corrections``, ``replaced`` of the previous pairs answered anew), fewer epochs, each said why.
    ``epochs`` and ``learning_rate``: the person's own settings, said as theirs."""
    yours = epochs is not None
    epochs = epochs or min(previous.num_epochs, follow_up_epochs(previous.num_epochs))
    per_example = 2 * previous.paraphrases if previous.paraphrases else 0
    examples = records * (1 + per_example) + previous.replay * REPLAY_REPEAT
    steps_per_epoch = math.ceil(examples / max(1, previous.effective_batch))
    total = steps_per_epoch * epochs
    eval_steps, every = eval_interval(total, max(1, records // 9), previous.effective_batch)
    first: list[Said] = [
        said("plan.follow_up.starts_from", run=previous_run.name, corrections=corrections, replaced=replaced),
        said("plan.follow_up.reworded_in_training" if not reworded else "plan.follow_up.reworded_in_data",
             paraphrases=previous.paraphrases),
        said(("plan.schedule.epochs_your_setting" if epochs > 1 else "plan.schedule.epoch_your_setting") if yours
             else "plan.follow_up.fewer_epochs" if epochs < previous.num_epochs else "plan.follow_up.as_many_epochs",
             epochs=epochs, **({} if yours else {"previous": previous.num_epochs})),
        every,
    ]
    if learning_rate is not None:
        first.append(said("plan.learning_rate.learning_rate_your_setting", lr=learning_rate))
    if previous.learning_check:
        first.append(said("plan.follow_up.check_at_the_end", epochs=epochs))
    kept = [s for s in previous.said_reasons if s.code not in _REPLACED
            and not (learning_rate is not None and s.code.startswith("plan.learning_rate."))]
    reasons = first + kept
    return previous.model_copy(update={
        "init_adapter": str(adapter), "num_epochs": epochs, "steps_per_epoch": steps_per_epoch, "total_steps": total,
        "warmup_ratio": 0.03 if total >= 100 else 0.1, "eval_steps": eval_steps,
        "save_steps": max(previous.save_steps, eval_steps), "check_min_epochs": float(epochs),
        "said_reasons": reasons, "reasons": [s.text() for s in reasons], "reasons_zh": [],
        "learning_rate": learning_rate if learning_rate is not None else previous.learning_rate,
    })
