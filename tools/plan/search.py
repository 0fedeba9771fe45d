"""The search for settings that fit: lengths and micro-batches tried longest first, each estimated."""

from __future__ import annotations

import math

from pydantic import BaseModel

from tools.core.errors import InputError
from tools.core.messages import Said, said
from tools.plan.context import PlanContext
from tools.plan.kinds import Method, Optimizer, Precision, Strategy, WeightFormat
from tools.plan.memory import MemoryEstimate, MemorySettings, estimate_memory
from tools.plan.record import PlanRequest

DEFAULT_MAX_LENGTH = 1024


def round_up(n: int, k: int = 64) -> int:
    return max(k, int(math.ceil(n / k)) * k)


def pow2_down(n: int) -> int:
    return 1 << max(0, int(math.floor(math.log2(max(1, n)))))


def length_ladder(req: PlanRequest) -> list[tuple[int, Said]]:
    """Max-length candidates, best first, each with its reason."""
    facts, ov, st = req.model, req.overrides, req.tokens
    cap = facts.max_position_embeddings
    if ov.max_length:
        if ov.max_length > cap:
            raise InputError(
                f"max length {ov.max_length} is longer than the model's {cap} positions",
                where="max_length",
                hint=f"Ask for {cap} tokens or fewer",
            )
        return [(ov.max_length, said("plan.length.your_setting", n=ov.max_length))]
    if st is not None and not st.empty:
        ladder: list[tuple[int, Said]] = []
        for key in ("p99", "p95", "max", "p50"):
            v = getattr(st, key)
            if v is None or (key == "max" and ladder):
                continue
            n = min(round_up(v), cap)
            code = "plan.length.covers_capped" if round_up(v) > cap else "plan.length.covers"
            if n not in [x for x, _ in ladder]:
                extra = said("plan.length.system_part", n=st.system_tokens) if st.system_tokens else ""
                ladder.append((n, said(code, n=n, share=said(f"plan.word.share_{key}"), key=key, v=v, extra=extra)))
        return ladder
    first = min(DEFAULT_MAX_LENGTH, cap)
    ladder = [(first, said("plan.length.common", n=first))]
    for n in (512, 256):
        if n < first:
            ladder.append((n, said("plan.length.would_not_fit", n=n, first=first)))
    return ladder


def _batch_ladder(max_mb: int, fixed: int | None) -> list[int]:
    if fixed:
        return [fixed]
    out, b = [], pow2_down(max_mb)
    while b >= 1:
        out.append(b)
        b //= 2
    return out


class Shape:
    """The memory settings of one candidate: method, strategy, micro-batch, length and checkpointing vary,
    the rest is decided."""

    def __init__(self, c: PlanContext, precision: Precision, r: int, targets: list[str], dropout: float) -> None:
        self.c, self.precision, self.r, self.targets, self.dropout = c, precision, r, targets, dropout

    def __call__(self, method: Method, strategy: Strategy, mb: int, length: int, ckpt: bool) -> MemorySettings:
        device = self.c.device
        plain = strategy in ("single", "ddp")  # bnb's paged optimizer is not used under FSDP/DeepSpeed
        if method == "qlora":
            optimizer: Optimizer = "paged_adamw_8bit" if device == "cuda" and plain else "adamw_torch"
            fmt: WeightFormat = "nf4"
        else:
            optimizer = "adamw_torch"
            fmt = "fp32" if self.precision == "fp32" else "16bit"
        return MemorySettings(
            method=method, weight_format=fmt, precision=self.precision, device=device, strategy=strategy,
            num_gpus=self.c.n_gpus if device == "cuda" else 1, micro_batch=mb, max_length=length,
            gradient_checkpointing=ckpt, lora_r=self.r, lora_targets=self.targets, lora_dropout=self.dropout,
            optimizer=optimizer,
        )


class Found(BaseModel):
    chosen: MemoryEstimate | None = None
    length_reason: Said | None = None
    smallest: MemoryEstimate | None = None
    tried_lengths: list[int] = []


def find_fit(c: PlanContext, shape: Shape, methods: list[Method], strategies: list[Strategy], max_mb: int,
            available: int) -> Found:
    """The first candidate that fits, longest length first, then method, strategy, checkpointing and the
    largest micro-batch; the smallest candidate seen, for the refusal."""
    found = Found()
    ov = c.ov
    ckpt_options = [ov.gradient_checkpointing] if ov.gradient_checkpointing is not None else [False, True]
    for length, length_reason in length_ladder(c.req):
        found.tried_lengths.append(length)
        for method in methods:
            for strategy in strategies:
                for ckpt in ckpt_options:
                    batches = _batch_ladder(max_mb, ov.micro_batch)
                    if not ckpt and ov.micro_batch is None and ov.gradient_checkpointing is None:
                        batches = [b for b in batches if b >= min(2, max_mb)]  # without checkpointing only
                        # while a useful micro-batch fits
                    for mb in batches:
                        est = estimate_memory(c.facts, shape(method, strategy, mb, length, ckpt), available,
                                              c.req.headroom)
                        if found.smallest is None or est.total_bytes < found.smallest.total_bytes:
                            found.smallest = est
                        if est.fits:
                            found.chosen, found.length_reason = est, length_reason
                            return found
    return found
