"""TRL's trainer for a run: its class (the answer-only loss on a CPU) and its SFTConfig."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.core.procs import world_size
from tools.train.launch import TrainSettings


def trainer_class(settings: TrainSettings, cuda: bool) -> Any:
    """TRL's SFTTrainer; on a CPU in one process, with the loss taken on the answer tokens only
    (``tools/train/loss.py``: TRL's CPU path scores every position)."""
    from trl import SFTTrainer

    if cuda or world_size() > 1 or not settings.answer_only_head:
        return SFTTrainer
    from tools.train.loss import answer_loss, plain_head

    class AnswerLossTrainer(SFTTrainer):  # type: ignore[misc]
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # type: ignore[no-untyped-def]
            if not hasattr(model, "get_base_model") or not plain_head(model.config):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            loss = answer_loss(model, inputs, num_items_in_batch)
            return (loss, {"loss": loss}) if return_outputs else loss

    return AnswerLossTrainer


def sft_config(settings: TrainSettings, run_dir: Path, has_eval: bool, cuda: bool) -> Any:
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=settings.micro_batch_size,
        per_device_eval_batch_size=settings.micro_batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        num_train_epochs=settings.num_epochs,
        max_steps=settings.max_steps,
        learning_rate=settings.learning_rate,
        warmup_steps=settings.warmup_ratio,  # a float < 1 is a ratio of the total steps
        lr_scheduler_type=settings.lr_scheduler,
        logging_steps=settings.logging_steps,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=settings.save_total_limit,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=settings.eval_steps if has_eval else None,
        bf16=settings.precision == "bf16",
        fp16=settings.precision == "fp16",
        gradient_checkpointing=settings.gradient_checkpointing,
        max_length=settings.max_length,
        packing=settings.packing,
        completion_only_loss=True,
        optim=settings.optimizer,
        seed=settings.seed,
        data_seed=settings.seed,
        report_to=[],
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        train_sampling_strategy="group_by_length" if settings.group_by_length else "random",
        disable_tqdm=True,
        use_cpu=not cuda,
        save_only_model=False,
        ddp_find_unused_parameters=False if world_size() > 1 else None,  # every LoRA weight gets a gradient
    )

