"""Attention for the short batches of a CPU training, and RMSNorms recomputed instead of kept.

On a CPU, PyTorch's fused attention (``sdpa``) is slow in the backward pass for short sequences: at ~130 tokens it
took a fifth of a SmolLM2 step. Two plain matmuls and a softmax do the same work faster (measured 16% per step);
transformers' own ``eager`` keeps the softmax in fp32 for the backward pass (heads × length × 4 bytes per token and
layer), this one keeps it in bf16 (the softmax itself still computes in fp32 inside the kernel). The planner picks
``eager`` for CPU trainings whose examples are short (``tools.plan.planner.SHORT_ATTENTION_MAX_LENGTH``), where
those weights stay small, and a CPU training loads the model with this one for it.

The RMSNorms of a layer keep an fp32 copy of their input for the backward pass (about a fifth of a step's
activations, SmolLM2); ``recompute_norms`` makes each keep only its 16-bit input and redo the few elementwise
operations in the backward pass.
"""

from __future__ import annotations

from typing import Any

NAME = "tunepilot_short"


def short_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float,
                    dropout: float = 0.0, **kwargs: Any) -> tuple[Any, Any]:
    """transformers' attention-function contract: (batch, length, heads, dim) output and the weights."""
    import torch

    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask[:, :, :, :key.shape[-2]]
    weights = torch.softmax(weights, dim=-1)
    if dropout and module.training:
        weights = torch.nn.functional.dropout(weights, p=dropout)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


def register() -> str:
    """Make ``NAME`` an attention implementation transformers can load a model with (its masks as eager's)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(NAME, short_attention)
    AttentionMaskInterface.register(NAME, eager_mask)
    return NAME


def recompute_norms(model: Any) -> int:
    """Every RMSNorm of ``model`` recomputed in the backward pass instead of keeping its fp32 intermediates; how
    many. Outside training (evaluation, generation) they run as before."""
    import torch
    from torch.utils.checkpoint import checkpoint

    count = 0
    for module in model.modules():
        if not type(module).__name__.endswith("RMSNorm"):
            continue
        forward = module.forward

        def light(hidden: Any, _forward: Any = forward) -> Any:
            if not torch.is_grad_enabled():
                return _forward(hidden)
            return checkpoint(_forward, hidden, use_reentrant=False)

        module.forward = light
        count += 1
    return count
