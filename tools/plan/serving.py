"""The serving plan: vLLM settings for the trained model, and the LoRA ranks vLLM accepts."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from tools.plan.hardware import HardwareFacts
from tools.plan.kinds import Precision, Record
from tools.plan.memory import GIB, HEADROOM, gib
from tools.plan.model_facts import ModelFacts

VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def vllm_lora_rank(r: int) -> int | None:
    """The smallest rank vLLM accepts that is >= r; None above its largest."""
    return next((v for v in VLLM_LORA_RANKS if v >= r), None)


class ServingPlan(Record):
    """vLLM settings for the trained model."""

    max_model_len: int
    gpu_memory_utilization: float | None = Field(description="None on CPU")
    max_lora_rank: int | None = Field(description="None when vLLM cannot serve this rank as an adapter")
    tensor_parallel_size: int = 1
    dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    cpu_kvcache_space_gib: int | None = Field(default=None, description="VLLM_CPU_KVCACHE_SPACE on CPU")
    fits: bool = True
    reasons: list[str] = Field(default_factory=list)


def serving_plan(facts: ModelFacts, hw: HardwareFacts, r: int, max_length: int, precision: Precision) -> ServingPlan:
    reasons: list[str] = []
    cap = facts.max_position_embeddings
    mml = min(cap, max(max_length, 2048))
    reasons.append(f"max_model_len {mml}: room for prompts and answers as long as the training examples "
                   f"({max_length} tokens), at least 2048, at most the model's {cap} positions")
    rank = vllm_lora_rank(r)
    if rank is None:
        reasons.append(f"max_lora_rank: vLLM accepts ranks up to 512 and this adapter has r={r}: serve the merged "
                       "model instead")
    else:
        reasons.append(f"max_lora_rank {rank}: the smallest value vLLM accepts that is >= r={r}")
    kv_per_token = 2 * facts.num_layers * facts.kv_dim * 2
    weights16 = 2 * facts.param_count
    if not hw.gpus:
        kv = kv_per_token * mml * 8
        space = max(1, min(int(math.ceil(kv / GIB)), max(1, int(hw.cpu.ram_available_bytes * 0.25 / GIB))))
        dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16" if hw.cpu.bf16 else "float32"
        reasons.append(f"VLLM_CPU_KVCACHE_SPACE {space} GiB: KV cache for ~8 concurrent {mml}-token requests "
                       f"({kv_per_token / 1024:.0f} KiB per token)")
        fits = weights16 + space * GIB < hw.cpu.ram_available_bytes * HEADROOM
        if not fits:
            reasons.append("the 16-bit model and its KV cache do not fit in the available RAM")
        return ServingPlan(max_model_len=mml, gpu_memory_utilization=None, max_lora_rank=rank,
                           tensor_parallel_size=1, dtype=dtype, cpu_kvcache_space_gib=space, fits=fits,
                           reasons=reasons)
    g = min(hw.gpus, key=lambda x: x.free_memory_bytes)
    util = min(0.9, math.floor((g.free_memory_bytes / g.total_memory_bytes - 0.02) * 100) / 100)
    util = max(0.1, util)
    if util < 0.9:
        reasons.append(f"gpu_memory_utilization {util:.2f}: other processes already use part of the GPU")
    else:
        reasons.append("gpu_memory_utilization 0.90: vLLM's default, leaving room for the CUDA context")
    tp, fits = 1, False
    for cand in (1, 2, 4, 8, 16):
        if cand > len(hw.gpus) or facts.num_attention_heads % cand:
            continue
        need = weights16 / cand + kv_per_token * mml / cand + GIB
        if need <= util * g.total_memory_bytes:
            tp, fits = cand, True
            break
    if fits:
        reasons.append(f"tensor_parallel_size {tp}: the 16-bit model ({gib(weights16)}) "
                       + ("fits on one GPU" if tp == 1 else f"is split over {tp} GPUs"))
    else:
        tp = max((c for c in (1, 2, 4, 8, 16) if c <= len(hw.gpus) and not facts.num_attention_heads % c),
                 default=1)
        reasons.append(f"the 16-bit model ({gib(weights16)}) does not fit these GPUs for serving even with "
                       f"tensor_parallel_size {tp}: serve a quantised copy or use bigger GPUs")
    return ServingPlan(max_model_len=mml, gpu_memory_utilization=util, max_lora_rank=rank, tensor_parallel_size=tp,
                       dtype="bfloat16" if precision == "bf16" else "float16", fits=fits, reasons=reasons)
