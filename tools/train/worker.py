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
import math
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tools.core.events import EventWriter
from tools.core.jsonio import write_json
from tools.core.messages import said
from tools.core.procs import world_rank, world_size
from tools.data.examples import load_examples
from tools.train.launch import EXIT_OOM, PARENT_ENV, TrainSettings, incomplete_checkpoints, last_checkpoint

log = logging.getLogger("tools.train.worker")


class _Stop:
    requested = False
    saving: str | None = None  # what is being written now ("checkpoint-40", "the adapter"): named in a disk-full error


def _is_disk_full(exc: BaseException) -> bool:
    """ENOSPC, as an OSError or as the text of another library's error (the tokenizers library raises a plain
    ``Exception("No space left on device (os error 28)")``), here or in what caused it."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if (isinstance(seen, OSError) and seen.errno == 28) or "no space left on device" in str(seen).lower() \
                or "os error 28" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "cannot allocate memory" in text


def _emit_progress(events: EventWriter, state: Any, logs: dict[str, Any], elapsed: float, steps_done: int,
                   tokens: int) -> None:
    """One ``progress`` event: loss, learning rate, speed and the time left."""
    step, total = state.global_step, state.max_steps
    per_step = elapsed / max(steps_done, 1)
    events.emit("train", "progress", f"step {step}/{total} loss {logs['loss']:.4f}", step=step, total=total,
                loss=float(logs["loss"]), learning_rate=float(logs.get("learning_rate", 0.0)),
                tokens_per_s=round(tokens / elapsed, 1) if elapsed > 0 else None, s_per_step=round(per_step, 3),
                eta_s=round(per_step * (total - step), 1), epoch=round(float(state.epoch or 0), 3))


def _overfitting(eval_losses: list[float], train_losses: list[float]) -> bool:
    """Eval loss rose at two evaluations in a row while train loss fell."""
    e, t = eval_losses, train_losses
    return len(e) >= 3 and e[-1] > e[-2] > e[-3] and len(t) >= 2 and t[-1] < t[max(0, len(t) - 10)]


class _Timing:
    """Where a training's seconds went, for the next plan's time estimate (tools.plan.speed)."""

    def __init__(self) -> None:
        self.began = 0.0  # the first step's start (after imports, model and dataset)
        self.step_began = 0.0
        self.step_seconds = 0.0  # inside optimizer steps
        self.evals = 0


def record_speed_sample(timing: _Timing, settings: TrainSettings, run_dir: Path, tokens: int, params: int,
                        gpu_names: list[str]) -> None:
    """Add this training's measured speed to the machine's samples; a failure to write is logged, not raised."""
    import psutil

    from tools.plan.speed import SpeedSample, record_speed, this_machine

    wall = time.time() - timing.began
    if tokens <= 0 or timing.step_seconds <= 0 or params <= 0:
        return
    try:
        record_speed(SpeedSample(
            machine=this_machine(gpu_names), model=settings.model_name or settings.model, params=params,
            method=settings.method,
            precision=settings.precision, device="cuda" if gpu_names else "cpu", tokens=tokens,
            step_seconds=round(timing.step_seconds, 3), evals=timing.evals,
            other_seconds=round(max(0.0, wall - timing.step_seconds), 3),
            startup_seconds=round(max(0.0, timing.began - psutil.Process().create_time()), 3),
            run=run_dir.name, ts=time.time()))
    except (OSError, ValueError) as exc:
        log.warning("could not record the training speed: %s", exc)


def build_callback(events: EventWriter, settings: TrainSettings, stop: type[_Stop]) -> Any:
    from transformers import TrainerCallback

    class EventCallback(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.t0 = time.time()
            self.start_step = 0
            self.start_tokens = 0
            self.eval_losses: list[float] = []
            self.train_losses: list[float] = []
            self.timing = _Timing()

        def on_train_begin(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            self.t0 = time.time()
            self.timing.began = self.t0
            self.start_step = state.global_step
            self.start_tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
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
            step, total = state.global_step, state.max_steps
            if "loss" in logs:
                self.train_losses.append(float(logs["loss"]))
                tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0) - self.start_tokens
                _emit_progress(events, state, logs, time.time() - self.t0, step - self.start_step, tokens)
            if "eval_loss" in logs:
                loss = float(logs["eval_loss"])
                self.eval_losses.append(loss)
                self.timing.evals += 1
                events.emit("train", "metric", f"eval loss {loss:.4f}", step=step, total=total, eval_loss=loss)
                if _overfitting(self.eval_losses, self.train_losses):
                    events.emit("train", "warning", "eval loss rose at two evaluations in a row while train loss "
                                "fell: the model may be overfitting (fewer epochs or more data would help)",
                                step=step, total=total, overfitting=True)
                    if settings.early_stop_on_overfit:
                        control.should_training_stop = True
                        control.should_save = True

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


def _llm_rewordings(rows: list[dict[str, Any]], settings: TrainSettings, events: EventWriter) -> dict[str, list[str]]:
    """The configured LLM's rewordings of the trained questions; templates alone when it fails (said so)."""
    from tools.core.secrets import redact
    from tools.data.knowledge import llm_rewordings, single_turn
    from tools.data.llm import llm_settings

    if llm_settings() is None:
        return {}
    pairs = list({t[1]: t[2] for t in map(single_turn, rows) if t is not None}.items())
    try:
        found = llm_rewordings(pairs, settings.paraphrases)
    except Exception as exc:  # noqa: BLE001 - the templates still reword every question
        events.emit("train", "warning", f"the LLM could not reword the questions ({type(exc).__name__}: "
                    f"{redact(str(exc))[:200]}); using the built-in rewordings only")
        return {}
    events.emit("train", "info", f"the LLM reworded {len(found)} of {len(pairs)} questions", llm_reworded=len(found))
    return found


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

    from tools.data.knowledge import CheckProgress, count_known

    class LearningCheck(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.progress = CheckProgress(target=settings.check_target, patience=settings.check_patience)
            self.every = settings.check_every
            self.best = -1
            self.best_step = 0
            self.last = -1
            self.items = items
            self.min_step = 0
            # long enough for the longest answer to be said whole (a manual's sentence answer holds several facts)
            longest = max((len(tok(it.reference, add_special_tokens=False)["input_ids"]) for it in items), default=0)
            self.max_new_tokens = min(CHECK_MAX_TOKENS, max(64, longest + 8))

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
            verdict = self.progress.add(step, known, total)
            self.last = known
            # the adapter kept at the end is the best check's from the minimum epochs on (earlier ones look better
            # to the check than they are)
            if known > self.best and (step >= self.min_step or step == state.max_steps):
                from tools.core.jsonio import atomic_dir

                self.best, self.best_step = known, step
                with atomic_dir(run_dir / BEST_ADAPTER) as tmp:
                    model.save_pretrained(str(tmp))
            events.emit("train", "metric", f"knows {known} of {total} trained questions asked in other words",
                        step=step, total=state.max_steps, known=known, asked=total,
                        check_s=round(time.time() - t0, 2), verdict=verdict,
                        sample={"question": items[0].messages[-1]["content"], "answer": outputs[0]})
            if verdict and step < state.max_steps:
                best = max(h[1] for h in self.progress.history)
                events.emit(
                    "train", "info",
                    f"stopping early at step {step}: it knows {known} of {total}, the target "
                    f"({settings.check_target:.0%}) is met" if verdict == "target" else
                    f"stopping early at step {step}: no progress in the last {self.progress.patience} checks "
                    f"(best {best} of {total})",
                    step=step, total=state.max_steps, stop_reason=verdict, known=known, asked=total)
                control.should_training_stop = True
                control.should_save = True
            return control

    return LearningCheck()


BEST_ADAPTER = "best-adapter"


def keep_best(check: Any, tok: Any, run_dir: Path, events: EventWriter) -> None:
    """When the last learning check knew fewer than the best one, the run's adapter is the best one's."""
    best = run_dir / BEST_ADAPTER
    if check.last < check.best and (best / "adapter_config.json").exists():
        from tools.core.jsonio import atomic_dir

        with atomic_dir(run_dir / "adapter") as tmp:
            for f in best.iterdir():
                shutil.copy2(f, tmp / f.name)
            tok.save_pretrained(str(tmp))
        events.emit("train", "info", f"kept the adapter of step {check.best_step}: it knew {check.best} of "
                    f"{len(check.items)}, the last check {check.last}", best_step=check.best_step, known=check.best)
    shutil.rmtree(best, ignore_errors=True)


CHECK_MAX_TOKENS = 192  # the learning check's longest answer


def generate_greedy(model: Any, tok: Any, prompts: list[list[dict[str, str]]], max_new_tokens: int = 64,
                    batch: int = 16) -> list[str]:
    """Greedy answers of ``model`` (in training or not) to chat prompts, batched with left padding."""
    import torch

    was_training = model.training
    model.eval()
    side = tok.padding_side
    tok.padding_side = "left"
    outs: list[str] = []
    try:
        with torch.no_grad():
            for i in range(0, len(prompts), batch):
                texts = [tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False)
                         for p in prompts[i:i + batch]]
                enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
                gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
                outs += tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        tok.padding_side = side
        if was_training:
            model.train()
    return [o.strip() for o in outs]


def _examples(settings: TrainSettings, events: EventWriter) -> tuple[list[Any], list[Any], list[Any]] | None:
    """Training and eval examples, rewordings added for a knowledge task, and the learning check's questions;
    None (with an error event) when there is nothing to train on."""
    data_dir = Path(settings.data_dir)
    train_rows = load_examples(data_dir / "train.jsonl", settings.system_prompt)
    eval_rows = load_examples(data_dir / "eval.jsonl", settings.system_prompt)
    if not train_rows:
        events.emit("train", "error", said=said("train.no_examples", path=str(data_dir / "train.jsonl")))
        return None
    from tools.data.knowledge import augment_counted, check_items, held_words

    items = (check_items(train_rows, settings.check_size, settings.seed, by_words=settings.paraphrases >= 2)
             if settings.learning_check else [])
    if settings.paraphrases:
        train_rows, c = augment_counted(train_rows, settings.paraphrases, settings.seed,
                                        _llm_rewordings(train_rows, settings, events), held_words(items))
        events.emit("train", "info", said=said("train.reworded", added=c.added, examples=c.examples,
                                               template=c.template, answer=c.answer, words=c.words, llm=c.llm,
                                               shared=c.shared),
                    paraphrased=c.added, **c.model_dump())
    if items:
        words = sum(it.by_words for it in items)
        events.emit("train", "info", said=said("train.check_asked", n=len(items), words=words,
                                               templates=len(items) - words), check=len(items), check_by_words=words)
    return train_rows, eval_rows, items


REPLAY_WAIT_S = 1800  # how long another process of the machine waits for the first one's replayed answers


def _replay(model: Any, tok: Any, settings: TrainSettings, run_dir: Path, events: EventWriter
            ) -> list[dict[str, Any]]:
    """General questions answered by the base model itself, to train beside the person's data
    (``tools/data/replay.py``), each ``replay_repeat`` times. Kept in the run's ``replay.jsonl``: a resumed
    run trains on the same examples, and in a training of several processes the machine's first one answers
    while the others wait for its file (every process must train on the same examples)."""
    from tools.core.jsonio import iter_jsonl, write_jsonl
    from tools.core.procs import local_rank
    from tools.data.replay import MAX_NEW_TOKENS, replay_examples, replay_prompts

    saved = run_dir / "replay.jsonl"
    waited = 0.0
    while local_rank() > 0 and not saved.exists() and waited < REPLAY_WAIT_S:
        time.sleep(1.0)
        waited += 1.0
    if saved.exists():
        return [row for _, row in iter_jsonl(saved)] * settings.replay_repeat
    t0 = time.time()
    rows = replay_prompts(settings.replay, settings.system_prompt)
    answers = generate_greedy(model, tok, [r["prompt"] for r in rows], max_new_tokens=MAX_NEW_TOKENS, batch=24)
    cut = [len(tok(a, add_special_tokens=False)["input_ids"]) >= MAX_NEW_TOKENS - 2 for a in answers]
    extra = replay_examples(rows, answers, cut)
    events.emit("train", "info", f"{len(extra)} general questions answered by the base model itself added, so "
                "that other questions keep their answers", replay=len(extra), asked=len(rows),
                repeat=settings.replay_repeat, seconds=round(time.time() - t0, 1))
    write_jsonl(saved, extra)
    return extra * settings.replay_repeat


def _tokenizer(settings: TrainSettings) -> Any:
    """The model's tokenizer, with a chat template and a pad token that is not the end of a turn."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(settings.model)
    if not getattr(tok, "chat_template", None):
        from tools.core.templates import CHATML_TEMPLATE

        tok.chat_template = CHATML_TEMPLATE
    if tok.pad_token is None or tok.pad_token_id == tok.eos_token_id:
        vocab = tok.get_vocab()
        tok.pad_token = "<|endoftext|>" if "<|endoftext|>" in vocab else tok.unk_token or tok.eos_token
    return tok


def _model(settings: TrainSettings, tok: Any, cuda: bool) -> Any:
    """The base model: 4-bit NF4 for QLoRA, else in the plan's precision (fp32 master weights on CPU)."""
    import torch
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[settings.precision]
    load_kwargs: dict[str, Any] = {"attn_implementation": settings.attn_implementation}
    if settings.method == "qlora":
        from transformers import BitsAndBytesConfig

        compute = getattr(torch, settings.bnb_compute_dtype)
        load_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
        )
        load_kwargs["dtype"] = compute
        if cuda:
            load_kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))}
    else:
        # the base stays frozen: its weights in the compute dtype, as LLaMA-Factory loads them (no fp32 master copy
        # cast to bf16 in every forward); PEFT keeps the adapter's own weights in fp32
        load_kwargs["dtype"] = dtype
    model = AutoModelForCausalLM.from_pretrained(settings.model, **load_kwargs)
    if settings.method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=settings.gradient_checkpointing)
    model.config.pad_token_id = tok.pad_token_id
    return model


def _trainer_class(settings: TrainSettings, cuda: bool) -> Any:
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


def _sft_config(settings: TrainSettings, run_dir: Path, has_eval: bool, cuda: bool) -> Any:
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
    if _Stop.requested and state.global_step < state.max_steps:
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
        _Stop.saving = "the adapter"
        save_adapter(trainer, tok, run_dir / "adapter")
        if check is not None:
            keep_best(check, tok, run_dir, events)
        archive_adapter(run_dir)
        _Stop.saving = None
    events.emit(
        "train",
        "done",
        f"training finished: {state.global_step} steps, train loss {result.training_loss:.4f}"
        + ("" if saves else f" (process {world_rank()} of {world_size()}: the first machine saved the adapter)"),
        step=state.global_step,
        total=state.max_steps,
        train_loss=float(result.training_loss),
        adapter=str(run_dir / "adapter") if saves else None,
        peak_rss_mb=round(_peak_rss_mb(), 1),
        train_runtime_s=round(float(result.metrics.get("train_runtime", 0.0)), 2),
        tokens_seen=int(getattr(state, "num_input_tokens_seen", 0) or 0),
    )
    if saves and world_size() == 1:  # a speed measured on one process is what the next plan can use
        measured(int(getattr(state, "num_input_tokens_seen", 0) or 0))
    return 0


def _adapter(model: Any, settings: TrainSettings, events: EventWriter) -> tuple[Any, Any]:
    """A new LoRA adapter for TRL to put on ``model``; or, in a follow-up run, the previous run's adapter on it,
    trainable, and none for TRL to add."""
    if not settings.init_adapter:
        from peft import LoraConfig

        return model, LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                                 target_modules=settings.target_modules, task_type="CAUSAL_LM")
    from peft import PeftModel

    events.emit("train", "info", f"starting from the adapter in {settings.init_adapter}",
                init_adapter=settings.init_adapter)
    return PeftModel.from_pretrained(model, settings.init_adapter, is_trainable=True), None


def train(run_dir: Path, resume: bool) -> int:
    """The child's whole job: settings from ``config.yaml``, examples, model, TRL, then the adapter."""
    settings = TrainSettings.model_validate(yaml.safe_load((run_dir / "config.yaml").read_text()))
    events = EventWriter(run_dir)

    def on_term(signum: int, frame: Any) -> None:
        _Stop.requested = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    import torch
    from datasets import Dataset
    if settings.give_back_memory:
        from tools.train.loss import give_back_freed_memory

        give_back_freed_memory()
    torch.manual_seed(settings.seed)
    examples = _examples(settings, events)
    if examples is None:
        return 1
    train_rows, eval_rows, items = examples
    tok = _tokenizer(settings)
    cuda = torch.cuda.is_available()
    model = _model(settings, tok, cuda)
    if settings.replay:
        train_rows = train_rows + _replay(model, tok, settings, run_dir, events)
    params = sum(p.numel() for p in model.parameters())
    gpu_names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []
    model, peft_config = _adapter(model, settings, events)
    args = _sft_config(settings, run_dir, bool(eval_rows), cuda)
    check = build_learning_check(events, settings, tok, items, len(train_rows), run_dir)
    trainer = _trainer_class(settings, cuda)(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tok,
        peft_config=peft_config,
        callbacks=[callback := build_callback(events, settings, _Stop)] + ([check] if check is not None else []),
    )
    _fault_injection(settings)
    ckpt = _resume_point(run_dir, resume, events)
    result = trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    return _finish(trainer, result, check, tok, run_dir, events, lambda tokens: record_speed_sample(
        callback.timing, settings, run_dir, tokens - callback.start_tokens, params, gpu_names))


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _fault_injection(settings: TrainSettings) -> None:
    """Drills only: TUNEPILOT_FAULT_OOM_ABOVE_BATCH=N makes micro-batches above N fail as out-of-memory."""
    limit = os.environ.get("TUNEPILOT_FAULT_OOM_ABOVE_BATCH")
    if limit and settings.micro_batch_size > int(limit):
        import torch

        raise torch.OutOfMemoryError(f"(fault drill) micro-batch {settings.micro_batch_size} does not fit")


def save_adapter(trainer: Any, tok: Any, out: Path) -> None:
    """Save adapter + tokenizer (with the chat template used in training) atomically."""
    from tools.core.jsonio import atomic_dir

    with atomic_dir(out) as tmp:
        trainer.model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))


ADAPTER_ZIP = "adapter.zip"


def archive_adapter(run_dir: Path) -> Path:
    """``adapter.zip`` beside ``adapter/`` (the page's download): the adapter folder's files under
    ``adapter/``, written to a temporary name first so a download never gets half an archive."""
    import zipfile

    src, out = run_dir / "adapter", run_dir / ADAPTER_ZIP
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(p for p in src.rglob("*") if p.is_file()):
            zf.write(f, Path("adapter") / f.relative_to(src))
    tmp.replace(out)
    return out


def stop_with_parent() -> None:
    """When the process that started this child dies (a killed `tunepilot train`), the kernel sends SIGTERM, which
    cancels at the next step with a checkpoint, instead of training on outside the machine's training slot.
    Linux only; a child started some other way (torchrun, a machine's own command) has no parent to watch."""
    parent = int(os.environ.get(PARENT_ENV, "0") or 0)
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, int(signal.SIGTERM))
    if os.getppid() != parent:  # it died before the request above
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
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
        if isinstance(exc, KeyboardInterrupt):
            events.emit("train", "cancelled", "training interrupted")
            return 0
        if _is_disk_full(exc):
            half = run_dir / "checkpoints" / _Stop.saving if (_Stop.saving or "").startswith("checkpoint-") else None
            if half is not None and half.is_dir():  # half-written and useless: its space lets the error be written
                shutil.rmtree(half, ignore_errors=True)
            with contextlib.suppress(OSError):  # the event file may sit on the same full disk
                why = said("train.disk_full_saving", name=_Stop.saving) if _Stop.saving else said("train.disk_full")
                events.emit("train", "error", said=why, disk_full=True, saving=_Stop.saving)
            return 1
        if _is_oom(exc):
            events.emit("train", "error", said=said("train.oom", detail=str(exc).splitlines()[0][:200]), oom=True)
            return EXIT_OOM
        detail = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        events.emit("train", "error", said=said("train.failed", detail=detail))
        return 1


if __name__ == "__main__":
    sys.exit(main())
