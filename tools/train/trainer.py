"""TRL's trainer for a run: its class (the answer-only loss on a CPU) and its SFTConfig."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.core.procs import world_size
from tools.train.loss import answer_loss, plain_head
from tools.train.record import TrainSettings

CPU_PAD_MULTIPLE = 16


def trainer_class(settings: TrainSettings, cuda: bool) -> Any:
    """TRL's SFTTrainer, with three savings: bf16 on a CPU computes under autocast (``cpu_autocast``), in 16-bit
    training the LoRA layers take their input as it comes (``uncast_lora_inputs``), and on a CPU in one process
    the loss is taken on the answer tokens only (``tools/train/loss.py``: TRL's CPU path scores every position)."""
    from trl import SFTTrainer

    cpu_bf16 = not cuda and settings.precision == "bf16"
    # the LoRA inputs stay 16-bit only where autocast runs: accelerate's on a GPU, ours for bf16 on a CPU
    mixed = settings.precision in ("bf16", "fp16") and (cuda or cpu_bf16)
    answer_only = not cuda and world_size() == 1 and settings.answer_only_head

    class Trainer(SFTTrainer):  # type: ignore[misc]
        answer_loss_only = answer_only  # the loss of tools/train/loss.py (else TRL's)
        autocast_on_cpu = cpu_bf16

        def training_step(self, model, inputs, num_items_in_batch=None):  # type: ignore[no-untyped-def]
            with cpu_autocast(cpu_bf16), uncast_lora_inputs(model, mixed):
                return super().training_step(model, inputs, num_items_in_batch)

        def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):  # type: ignore[no-untyped-def]
            with cpu_autocast(cpu_bf16), uncast_lora_inputs(model, mixed):  # evaluated as it is trained
                return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # type: ignore[no-untyped-def]
            if not answer_only or not hasattr(model, "get_base_model") or not plain_head(model.config):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            loss = answer_loss(model, inputs, num_items_in_batch)
            return (loss, {"loss": loss}) if return_outputs else loss

    return Trainer


def cpu_autocast(active: bool) -> Any:
    """bf16 autocast on the CPU while ``active``. The Trainer of transformers 5 computes in the weights' dtype on a
    CPU: the frozen base in bf16, but each LoRA adapter (fp32, for the optimizer) in fp32, with its input copied to
    fp32. Under autocast the adapters' matmuls run in bf16 too, as they do on a GPU (measured, SmolLM2-135M, LoRA
    r=16 on every linear layer, 2 cores: 26.3 → 20.4 s for 12 micro-batches of 4 with ``uncast_lora_inputs``)."""
    import contextlib

    if not active:
        return contextlib.nullcontext()
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16)


def uncast_lora_inputs(model: Any, active: bool) -> Any:
    """While ``active``: PEFT's LoRA layers stop copying their 16-bit input to the adapter's fp32 before the
    adapter's matmul. Under autocast that matmul runs in 16 bits anyway (the copy is cast straight back), so the
    numbers are the same; what goes is a cast per layer and the fp32 copy kept for the backward pass (SmolLM2,
    LoRA on every linear layer: about a third of a step's activation memory). Outside autocast (generation for the
    learning check) the layers cast as before."""
    import contextlib

    if not active:
        return contextlib.nullcontext()
    from peft.helpers import disable_input_dtype_casting

    return disable_input_dtype_casting(model)


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
        # on a CPU, batches padded to a multiple of 16 tokens: a dozen shapes instead of one per batch, so oneDNN's
        # kernels and the freed buffers of one batch serve the next, and memory stops growing over the run
        # (measured, identity set, 33 steps: peak RSS 2,957 → 2,198-2,363 MB)
        pad_to_multiple_of=None if cuda else CPU_PAD_MULTIPLE,
        train_sampling_strategy="group_by_length" if settings.group_by_length else "random",
        disable_tqdm=True,
        use_cpu=not cuda,
        save_only_model=False,
        ddp_find_unused_parameters=False if world_size() > 1 else None,  # every LoRA weight gets a gradient
    )

