"""Why a plan is refused and what would fit instead: a smaller model, more GPUs, shorter sequences."""

from __future__ import annotations

import math
from collections.abc import Callable

from tools.core.messages import Said, said
from tools.core.said import SaidList
from tools.plan.context import PlanContext
from tools.plan.cpu_time import CPU_MAX_PARAMS, cpu_tokens_per_s
from tools.plan.hardware import HardwareFacts
from tools.plan.kinds import Method, Strategy
from tools.plan.memory import MemoryEstimate, MemorySettings, estimate_memory, gib
from tools.plan.model_facts import facts_from_params, human_params
from tools.plan.record import PlanOverrides, PlanRequest, TrainingPlan
from tools.plan.words import method_said, model_said, on_off


def too_large_for_cpu(c: PlanContext) -> Said | None:
    """Why this model is too large to train on this CPU, or None."""
    facts, hw = c.facts, c.hw
    if c.device != "cpu" or facts.param_count <= CPU_MAX_PARAMS:
        return None
    tps = cpu_tokens_per_s(facts, hw)
    return said("plan.refusal.cpu_too_large", model=model_said(facts), limit=human_params(CPU_MAX_PARAMS), tps=tps,
                hours=1000 * 200 / tps / 3600)


def nothing_fits(req: PlanRequest, smallest: MemoryEstimate, methods: list[Method], strategies: list[Strategy],
                 available: int, replan: Callable[[PlanRequest], TrainingPlan]) -> Said:
    """Why nothing fits, and what would (``replan`` plans again without the person's settings)."""
    facts, hw, ov = req.model, req.hardware, req.overrides
    s = smallest.settings
    where = _gpu_words(hw) if hw.gpus else said("plan.word.this_ram", available=gib(available))
    head = said("plan.refusal.head", model=model_said(facts), where=where, method=method_said(s.method, s.precision),
                mb=s.micro_batch, length=s.max_length, ckpt=on_off(s.gradient_checkpointing),
                need=gib(smallest.total_bytes), usable=gib(smallest.budget_bytes), pct=int(req.headroom * 100),
                available=gib(available))
    options = SaidList()
    if ov.model_dump(exclude_none=True) or req.method != "auto":
        free_req = req.model_copy(update={"overrides": PlanOverrides(), "method": "auto"})
        alt = replan(free_req)
        if alt.fits:
            alt_need = gib(alt.memory.total_bytes)
            options.add("plan.refusal.without_yours",
                        settings=ov.described() or [said("plan.setting.method", value=req.method)],
                        method=method_said(alt.method, alt.precision), mb=alt.micro_batch_size,
                        length=alt.max_length, need=alt_need)
    if hw.gpus:
        # a smaller model with QLoRA on this GPU
        fit_b = _largest_fitting_params(smallest.settings.model_copy(update={
            "method": "qlora", "weight_format": "nf4", "optimizer": "paged_adamw_8bit", "strategy": "single",
            "num_gpus": 1, "gradient_checkpointing": True, "micro_batch": 1}), available, req.headroom)
        if fit_b:
            options.add("plan.refusal.model_up_about_parameters", params=human_params(fit_b))
        # more GPUs of this kind
        for n in (2, 4, 8, 16):
            if n <= len(hw.gpus):
                continue
            sh = smallest.settings.model_copy(update={
                "method": "qlora", "weight_format": "nf4", "optimizer": "adamw_torch", "strategy": "fsdp",
                "num_gpus": n, "gradient_checkpointing": True, "micro_batch": 1})
            if estimate_memory(facts, sh, available, req.headroom).fits:
                options.add("plan.refusal.gpus_like_this_one", n=n)
                break
        # shorter sequences
        if s.max_length > 256:
            short = estimate_memory(facts, s.model_copy(update={"max_length": 256, "micro_batch": 1,
                                                                "gradient_checkpointing": True}),
                                    available, req.headroom)
            if short.fits:
                options.add("plan.refusal.shorter_sequences_tokens_would", size=gib(short.total_bytes))
    else:
        options.add("plan.refusal.smaller_model_or_gpu")
    return said("plan.refusal.what_fits", head=head,
                options=options.items or [said("plan.refusal.more_memory")])


def _largest_fitting_params(s: MemorySettings, available: int, headroom: float) -> int | None:
    lo, hi = 0.1e9, 1000e9
    if not estimate_memory(facts_from_params(int(lo)), s.model_copy(update={"lora_targets": ["q_proj", "k_proj",
                           "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}), available, headroom).fits:
        return None
    for _ in range(30):
        mid = math.sqrt(lo * hi)
        f = facts_from_params(int(mid))
        if estimate_memory(f, s.model_copy(update={"lora_targets": f.lora_target_modules}), available,
                           headroom).fits:
            lo = mid
        else:
            hi = mid
        if hi / lo < 1.05:
            break
    return int(round(lo / 1e8) * 1e8) if lo >= 1e9 else int(round(lo / 1e7) * 1e7)


def _gpu_words(hw: HardwareFacts) -> Said:
    g = min(hw.gpus, key=lambda x: x.free_memory_bytes)
    names = " / ".join(sorted({x.name for x in hw.gpus}))
    if len(hw.gpus) > 1:
        return said("plan.word.gpus", count=len(hw.gpus), names=names, free=gib(g.free_memory_bytes))
    return said("plan.word.gpu", names=names, free=gib(g.free_memory_bytes))
