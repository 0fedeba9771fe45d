"""Pick LoRA or QLoRA settings that fit a machine, with the reasons in words.

``plan_training(PlanRequest) -> TrainingPlan`` is a pure function of the model's
facts (:mod:`tools.plan.model_facts`), the machine's facts (:mod:`tools.plan.hardware`),
the dataset's token lengths and the person's overrides. Nothing here probes the
machine or loads weights, so every machine can be planned from anywhere.

The memory model is :mod:`tools.plan.memory`; the schedule :mod:`tools.plan.schedule`; the search
:mod:`tools.plan.search`; the refusal :mod:`tools.plan.refusal`; the launch files :mod:`tools.plan.launch_files`;
serving :mod:`tools.plan.serving`; the records :mod:`tools.plan.record`.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from tools.core.errors import InputError
from tools.core.messages import Said, said
from tools.core.said import SaidList
from tools.plan.context import PlanContext
from tools.plan.cpu_time import cpu_time
from tools.plan.hardware import HardwareFacts
from tools.plan.kinds import Method, Precision, Strategy
from tools.plan.launch_files import DistributedPlan, distributed_files
from tools.plan.memory import MemoryEstimate, MemorySettings, estimate_memory, gib
from tools.plan.reading import plan_reading
from tools.plan.record import BnbSettings, LoraSettings, PlanRequest, TrainingPlan
from tools.plan.refusal import nothing_fits, too_large_for_cpu
from tools.plan.schedule import KNOWLEDGE_BATCH, KNOWLEDGE_MIN_EPOCHS, KNOWLEDGE_RANK, Schedule, plan_schedule
from tools.plan.search import Found, Shape, find_fit, length_ladder, pow2_down
from tools.plan.serving import serving_plan
from tools.plan.words import method_said, on_off

DEFAULT_EFFECTIVE_BATCH = 16
DEFAULT_RANK = 16
_TORCH_DTYPE = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def plan_training(request: PlanRequest) -> TrainingPlan:
    """Choose method, precision, LoRA, batch, length, strategy and serving settings that fit, with reasons.

    One small function per decision, each returning its value and adding its reason; this one composes them."""
    reading = plan_reading(request, "cuda" if request.hardware.gpus else "cpu", SaidList())
    if reading.k and request.tokens is not None:
        request = request.model_copy(update={"tokens": request.tokens.for_reading(reading.tokens)})
    c = PlanContext(request)
    facts = c.facts
    _quantised_warning(c)
    precision, available = _precision(c)
    r = _rank(c)
    alpha, targets, dropout = _alpha(c, r), _targets(c), _dropout(c)
    eff, max_mb = _effective_batch(c)
    cpu_refusal = too_large_for_cpu(c)
    methods, strategies = _methods(c), _strategies(c)
    shape = Shape(c, precision, r, targets, dropout)
    found = find_fit(c, shape, methods, strategies, max_mb, available) if cpu_refusal is None else Found()
    est, refusal = _chosen_or_smallest(c, shape, found, cpu_refusal, methods, strategies, available, max_mb)
    s = est.settings
    accum, effective = _accumulation(c, s.micro_batch, eff)
    repeats = (request.tokens.answer_repeats if request.tokens is not None else None) or 1.0
    sched = plan_schedule(request, facts, c.count, effective, c.reasons,
                          reading.per_question / repeats if reading.k else 0.0)
    if reading.k:
        plan_reading(request, c.device, c.reasons)
    attn = _attention(c, s.max_length)
    packing = _packing(c, attn, s.max_length)
    bnb = _quantisation(c, s)
    lora = LoraSettings(r=r, alpha=alpha, dropout=dropout,
                        target_modules="all-linear" if targets == ["all-linear"] else targets,
                        trainable_params=facts.lora_param_count(r, targets))
    alternatives = _alternatives(c, shape, s, strategies, available)
    distributed = _distributed(s.strategy, c.n_gpus, c.procs, precision, s.method, request)
    c.reasons.extend(distributed.said_reasons)
    cpu_estimate = cpu_time(c, s, sched)
    return TrainingPlan(
        model=facts.name, model_facts=facts, **_said_fields(c, found.chosen is not None, refusal),
        device=c.device, num_gpus=c.n_gpus, method=s.method, precision=precision,
        torch_dtype=_TORCH_DTYPE[precision],  # type: ignore[arg-type]
        load_in_4bit=s.method == "qlora", bnb=bnb, lora=lora, max_grad_norm=0.3 if s.method == "qlora" else 1.0,
        micro_batch_size=s.micro_batch, grad_accum=accum, effective_batch=effective, max_length=s.max_length,
        gradient_checkpointing=s.gradient_checkpointing, packing=packing, optimizer=s.optimizer,
        attn_implementation=attn, seed=c.ov.seed if c.ov.seed is not None else 42, **_schedule_fields(sched),
        memory=est, alternatives=alternatives, distributed=distributed, cpu_estimate=cpu_estimate,
        serving=serving_plan(facts, c.hw, r, s.max_length, precision), tokens=c.st, overrides=c.ov,
        system_prompt=request.system_prompt, style=request.style, reading_k=reading.k,
        reading_share=reading.share, reading_per_question=reading.per_question,
    )


def _chosen_or_smallest(c: PlanContext, shape: Shape, found: Found, cpu_refusal: Said | None, methods: list[Method],
                        strategies: list[Strategy], available: int, max_mb: int) -> tuple[MemoryEstimate, Said | None]:
    """The estimate that fits, its reasons said; else the smallest one seen, with why nothing fits."""
    if found.chosen is not None:
        est = found.chosen
        _method_reasons(c, est.settings, est, found, available, max_mb)
        return est, None
    if found.smallest is None:  # refused on CPU before any estimate
        est = estimate_memory(c.facts, shape(methods[0], strategies[0], 1, length_ladder(c.req)[-1][0], True),
                              available, c.req.headroom)
        return est, cpu_refusal
    return found.smallest, nothing_fits(c.req, found.smallest, methods, strategies, available, plan_training)


def _schedule_fields(sched: Schedule) -> dict[str, Any]:
    """The plan's fields that come from the schedule: rate, epochs, steps, the task and its learning check."""
    return dict(
        learning_rate=sched.learning_rate, num_epochs=sched.epochs, warmup_ratio=sched.warmup,
        steps_per_epoch=sched.steps_per_epoch, total_steps=sched.total_steps, eval_steps=sched.eval_steps,
        save_steps=sched.eval_steps, logging_steps=sched.logging_steps, task=sched.task,
        paraphrases=sched.paraphrases, learning_check=sched.learning_check, replay=sched.replay,
        check_target=sched.check_target, check_min_epochs=KNOWLEDGE_MIN_EPOCHS if sched.learning_check else 0,
    )


def _said_fields(c: PlanContext, fits: bool, refusal: Said | None) -> dict[str, Any]:
    """Whether the plan fits, its refusal, reasons and warnings, each in English and by code."""
    reasons = c.reasons.items if fits else [refusal or said("plan.refusal.does_not_fit"), *c.reasons.items]
    return dict(
        fits=fits, refusal=refusal.text() if refusal else None, said_refusal=refusal,
        reasons=[r.text() for r in reasons], said_reasons=reasons,
        warnings=c.warnings.text(), said_warnings=c.warnings.items,
    )


def _flash_attn_installed(hw: HardwareFacts) -> bool:
    return any(hw.versions.get(k) for k in ("flash-attn", "flash_attn", "flash-attention"))


def _pkg_missing(hw: HardwareFacts, name: str) -> bool:
    """True only when the facts say the package is known and absent (an empty versions dict says nothing)."""
    return name in hw.versions and not hw.versions.get(name)


def _quantised_warning(c: PlanContext) -> None:
    if c.facts.quantized:
        c.warnings.add("plan.quantised_warning.already_quantised_train_from", name=c.facts.name,
                       quantized=c.facts.quantized)


def _precision(c: PlanContext) -> tuple[Precision, int]:
    """The training precision, and the memory it has to fit in (the smallest GPU's free memory, or RAM)."""
    hw = c.hw
    if c.device == "cuda":
        cc = min(g.compute_capability for g in hw.gpus)
        if all(g.bf16 for g in hw.gpus):
            c.reasons.add("plan.precision.precision_bf_compute_capability", cc0=cc[0], cc1=cc[1])
            return "bf16", min(g.free_memory_bytes for g in hw.gpus)
        c.reasons.add("plan.precision.precision_fp_compute_capability", cc0=cc[0], cc1=cc[1])
        return "fp16", min(g.free_memory_bytes for g in hw.gpus)
    if hw.cpu.bf16:
        flag = "AMX" if hw.cpu.amx else "AVX512-BF16"
        c.reasons.add("plan.precision.precision_bf_cpu_this", flag=flag)
        return "bf16", hw.cpu.ram_available_bytes
    c.reasons.add("plan.precision.precision_fp_cpu_no")
    return "fp32", hw.cpu.ram_available_bytes


def _rank(c: PlanContext) -> int:
    count, ov = c.count, c.ov
    r = ov.rank or (KNOWLEDGE_RANK if c.small_knowledge else 32 if count and count >= 20000 else DEFAULT_RANK)
    if ov.rank:
        c.reasons.add("plan.rank.lora_rank_your_setting", r=r)
    elif c.small_knowledge:
        c.reasons.add("plan.rank.lora_rank_many_separate", r=r)
    elif r == 32:
        c.reasons.add("plan.rank.lora_rank_examples_large", count=count)
    else:
        c.reasons.add("plan.rank.lora_rank_enough_capacity")
    return r


def _alpha(c: PlanContext, r: int) -> int:
    alpha = c.ov.alpha or 2 * r
    if c.ov.alpha:
        c.reasons.add("plan.alpha.lora_alpha_your_setting", alpha=alpha)
    else:
        c.reasons.add("plan.alpha.lora_alpha_alpha_r", alpha=alpha)
    return alpha


def _targets(c: PlanContext) -> list[str]:
    targets = list(c.facts.lora_target_modules)
    names = ", ".join(targets)
    if targets == ["all-linear"]:
        c.reasons.add("plan.targets.lora_targets_all_linear")
    elif not c.facts.dense:
        c.reasons.add("plan.targets.lora_targets_attention_projections", names=names)
    else:
        c.reasons.add("plan.targets.lora_targets_every_linear", names=names)
    return targets


def _dropout(c: PlanContext) -> float:
    if c.ov.lora_dropout is not None:
        c.reasons.add("plan.dropout.lora_dropout_your_setting", lora_dropout=c.ov.lora_dropout)
        return c.ov.lora_dropout
    if c.device == "cpu":
        c.reasons.add("plan.dropout.lora_dropout_cpu_dropout")
        return 0.0
    c.reasons.add("plan.dropout.lora_dropout_light_regularisation")
    return 0.05


def _effective_batch(c: PlanContext) -> tuple[int, int]:
    """The effective batch, and the largest micro-batch worth trying."""
    count = c.count
    if c.ov.effective_batch:
        eff = c.ov.effective_batch
        c.reasons.add("plan.effective_batch.effective_batch_your_setting", eff=eff)
    elif c.small_knowledge:
        eff = KNOWLEDGE_BATCH
        c.reasons.add("plan.effective_batch.effective_batch_facts_their", eff=eff)
    elif count is not None and count < DEFAULT_EFFECTIVE_BATCH * 8:
        eff = max(2, min(DEFAULT_EFFECTIVE_BATCH, pow2_down(max(1, count // 8))))
        c.reasons.add("plan.effective_batch.effective_batch_only_examples", eff=eff, count=count)
    else:
        eff = DEFAULT_EFFECTIVE_BATCH
        c.reasons.add("plan.effective_batch.effective_batch_stable_default", eff=eff)
    eff = max(eff, c.procs)
    max_mb = max(1, eff // c.procs)
    if c.device == "cpu":
        max_mb = min(max_mb, 4)
    if count:
        max_mb = min(max_mb, max(1, count))
    return eff, max_mb


def _methods(c: PlanContext) -> list[Method]:
    methods: list[Method] = [c.want] if c.want else ["lora", "qlora"]
    if c.device == "cpu" and not c.want and _pkg_missing(c.hw, "bitsandbytes"):
        methods = ["lora"]
    if c.device == "cuda" and "qlora" in methods and _pkg_missing(c.hw, "bitsandbytes"):
        c.warnings.add("plan.methods.bitsandbytes_not_installed_qlora")
    return methods


def _strategies(c: PlanContext) -> list[Strategy]:
    ov = c.ov
    if c.device == "cuda" and c.n_gpus > 1:
        if ov.strategy:
            if ov.strategy in ("single", "cpu"):
                raise InputError(f"strategy {ov.strategy!r} does not use {c.n_gpus} GPUs", where="strategy",
                                 hint="Choose ddp, fsdp, zero2 or zero3")
            return [ov.strategy]
        return ["ddp", "fsdp"]
    if c.device == "cuda":
        if ov.strategy and ov.strategy not in ("single",):
            raise InputError(f"strategy {ov.strategy!r} needs several GPUs and this machine has one",
                             where="strategy", hint="Leave the strategy to the planner")
        return ["single"]
    return ["cpu"]


def _method_reasons(c: PlanContext, s: MemorySettings, est: MemoryEstimate, found: Found, available: int,
                    max_mb: int) -> None:
    """Why this method, length and checkpointing (only for a plan that fits)."""
    precision, device, ov = s.precision, c.device, c.ov
    pct, need = int(c.req.headroom * 100), gib(est.total_bytes)
    budget = said("plan.word.budget_gpu" if device == "cuda" else "plan.word.budget_ram",
                  usable=gib(est.budget_bytes), pct=pct, available=gib(available))
    if s.method == "lora" and not c.want:
        c.reasons.insert(0, "plan.method.lora", bits="32" if precision == "fp32" else "16", need=need,
                         per=said("plan.word.per_gpu" if device == "cuda" else "plan.word.per_machine"), budget=budget)
    elif s.method == "qlora" and not c.want:
        lora_alt = estimate_memory(c.facts, s.model_copy(update={
            "method": "lora", "weight_format": "fp32" if precision == "fp32" else "16bit",
            "optimizer": "adamw_torch"}), available, c.req.headroom)
        c.reasons.insert(0, "plan.method.qlora", lora_need=gib(lora_alt.total_bytes), budget=budget, need=need)
    else:
        c.reasons.insert(0, "plan.method.yours", method=method_said(s.method, precision), need=need, budget=budget)
    if s.method == "qlora":
        c.reasons.add("plan.method.nf4_old_gpu" if precision == "fp16" else "plan.method.nf4", precision=precision)
    if found.length_reason:
        c.reasons.extend([found.length_reason])
        if len(found.tried_lengths) > 1:
            c.warnings.add("plan.method_reasons.max_length_lowered_tokens", max_length=s.max_length)
    if s.gradient_checkpointing and ov.gradient_checkpointing is None:
        c.reasons.add("plan.method_reasons.gradient_checkpointing_without_it", n=max(1, min(2, max_mb)))
    elif s.gradient_checkpointing:
        c.reasons.add("plan.method_reasons.gradient_checkpointing_your_setting")
    elif ov.gradient_checkpointing is None:
        c.reasons.add("plan.method_reasons.gradient_checkpointing_off_activations")
    else:
        c.reasons.add("plan.method_reasons.gradient_checkpointing_off_your")


def _accumulation(c: PlanContext, mb: int, eff: int) -> tuple[int, int]:
    """Gradient accumulation and the effective batch it gives with this micro-batch."""
    procs, device = c.procs, c.device
    accum = max(1, int(math.ceil(eff / (mb * procs))))
    effective = mb * accum * procs
    unit = said(f"plan.word.unit_{'gpu' if device == 'cuda' else 'process'}{'_many' if procs > 1 else ''}")
    c.reasons.add("plan.batch.yours" if c.ov.micro_batch else "plan.batch.largest", mb=mb, accum=accum, procs=procs,
                  unit=unit, effective=effective)
    return accum, effective


# on a CPU, examples at most this long train with plain-matmul attention (tools/train/short_attention.py): its
# weights (heads × length per token and layer) stay small, and PyTorch's fused attention is slow for them
SHORT_ATTENTION_MAX_LENGTH = 256


def _attention(c: PlanContext, max_length: int) -> Literal["sdpa", "flash_attention_2", "eager"]:
    hw = c.hw
    if c.device == "cuda" and _flash_attn_installed(hw) and min(g.compute_capability for g in hw.gpus) >= (8, 0):
        c.reasons.add("plan.attention.attention_flash_attention_installed")
        return "flash_attention_2"
    if c.device == "cuda":
        why = said("plan.word.no_flash_attn" if not _flash_attn_installed(hw) else "plan.word.old_gpu")
        c.reasons.add("plan.attention.sdpa_because", why=why)
    elif max_length <= SHORT_ATTENTION_MAX_LENGTH:
        c.reasons.add("plan.attention.eager_short_cpu", length=max_length)
        return "eager"
    else:
        c.reasons.add("plan.attention.attention_sdpa_pytorch_s")
    return "sdpa"


def _packing(c: PlanContext, attn: str, max_length: int) -> bool:
    p50 = c.st.p50 if c.st else None
    if c.ov.packing is not None:
        packing = c.ov.packing
        c.reasons.add("plan.packing.yours", value=on_off(packing))
        if packing and attn != "flash_attention_2":
            c.warnings.add("plan.packing.packing_without_flash_attention")
        return packing
    if c.device == "cpu":
        c.reasons.add("plan.packing.packing_off_measured_far")
    elif attn != "flash_attention_2":
        c.reasons.add("plan.packing.packing_off_without_flash")
    elif p50 is not None and p50 * 4 <= max_length:
        c.reasons.add("plan.packing.packing_examples_are_short", p50=p50, max_length=max_length)
        return True
    else:
        c.reasons.add("plan.packing.packing_off_examples_are")
    return False


def _quantisation(c: PlanContext, s: MemorySettings) -> BnbSettings | None:
    """QLoRA's BitsAndBytes settings (None for LoRA), and why this optimizer."""
    precision = s.precision
    sharded = s.strategy in ("fsdp", "zero3")
    bnb = None
    if s.method == "qlora":
        store = _TORCH_DTYPE[precision] if sharded else "uint8"
        bnb = BnbSettings(bnb_4bit_compute_dtype=_TORCH_DTYPE[precision],  # type: ignore[arg-type]
                          bnb_4bit_quant_storage=store)  # type: ignore[arg-type]
        if sharded:
            c.reasons.add("plan.quantisation.bnb_bit_quant_storage", store=store)
    if s.optimizer == "paged_adamw_8bit":
        c.reasons.add("plan.quantisation.optimizer_paged_bit_adamw")
    elif s.method == "qlora" and s.strategy in ("fsdp", "zero2", "zero3"):
        c.reasons.add("plan.quantisation.optimizer_adamw_fp_bit")
    elif s.method == "qlora":
        c.reasons.add("plan.quantisation.optimizer_adamw_fp_paged")
    else:
        c.reasons.add("plan.quantisation.optimizer_adamw_fp_states")
    return bnb


def _alternatives(c: PlanContext, shape: Shape, s: MemorySettings, strategies: list[Strategy],
                  available: int) -> list[MemoryEstimate]:
    """The other methods and strategies at the chosen batch and length, for the card's comparison."""
    out: list[MemoryEstimate] = []
    alt_strats: list[Strategy] = (["ddp", "zero2", "fsdp", "zero3"] if c.n_gpus > 1 else list(strategies))
    for m in ("lora", "qlora"):
        for strat in alt_strats:
            alt = estimate_memory(c.facts, shape(m, strat, s.micro_batch, s.max_length, s.gradient_checkpointing),
                                  available, c.req.headroom)
            if alt.settings != s:
                out.append(alt)
    return out


def _distributed(strategy: Strategy, n_gpus: int, procs: int, precision: Precision, method: Method,
                 req: PlanRequest) -> DistributedPlan:
    reasons = SaidList()
    if req.machines > 1:
        reasons.add("plan.distributed.machines_cpu" if strategy == "cpu" else "plan.distributed.machines_gpus",
                    machines=req.machines, per=len(req.hardware.gpus), procs=procs, ip=req.main_process_ip,
                    port=req.main_process_port)
    if strategy == "cpu":
        if req.machines == 1:
            reasons.add("plan.distributed.one_process_cpu")
    elif strategy == "single":
        reasons.add("plan.distributed.one_gpu_one_process")
    elif strategy == "ddp":
        reasons.add("plan.distributed.gpus_ddp_model_fits", n_gpus=n_gpus)
    elif strategy == "fsdp":
        reasons.add("plan.distributed.fsdp_qlora" if method == "qlora" else "plan.distributed.fsdp", n_gpus=n_gpus)
    else:
        reasons.add("plan.distributed.zero3" if strategy == "zero3" else "plan.distributed.zero2", n_gpus=n_gpus)
        if not req.hardware.versions.get("deepspeed"):
            reasons.add("plan.distributed.deepspeed_must_be_installed")
    return distributed_files(
        DistributedPlan(strategy=strategy, num_processes=procs if strategy != "single" else 1,
                        num_machines=req.machines, main_process_ip=req.main_process_ip if req.machines > 1 else None,
                        main_process_port=req.main_process_port if req.machines > 1 else None,
                        launch_command="", reasons=reasons.text(), said_reasons=reasons.items),
        precision, data_dir=req.data_dir, run_dir=req.run_dir,
    )
