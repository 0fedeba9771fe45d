"""The training loss on a CPU: only the answer tokens go through the output layer.

TRL's SFTTrainer scores every position of the batch through its chunked LM head when it runs without Triton (a
CPU): the prompt, the padding and the answer, with an fp32 gradient matmul and the entropy of each position for its
log. With ``completion_only_loss`` only the answer tokens count, so the rest is work thrown away; for a small model
with a large vocabulary the output layer is the largest matmul of the step (SmolLM2-135M: 49,152 × 576).

``answer_loss`` runs the model's backbone, keeps the hidden states whose next token is a label, projects those
through the output layer (bf16 under autocast) and takes the cross-entropy in fp32. The logits of a batch with
many answer tokens are made in slices that are recomputed in the backward pass, so memory stays bounded (a 262k
vocabulary, Gemma 3, would otherwise need gigabytes for a long batch).
"""

from __future__ import annotations

from typing import Any

# logits held at once (elements): 16M × (2 bytes bf16 + 4 fp32 + 4 gradient) ≈ 160 MB (341 answer tokens of a 49k
# vocabulary); a longer batch's slices are recomputed in the backward pass
LOGIT_BUDGET = 16 * 1024 * 1024
MIN_SLICE = 64  # fewer tokens per matmul would waste the CPU's vector units
DROP_KEYS = ("labels", "completion_mask", "assistant_masks")


# config fields by which a family's forward rescales or caps its logits before the loss (Gemma 2, Cohere, Granite,
# Falcon-H1, MiniCPM3…): such a model keeps TRL's head, which applies them
LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier",
                    "logits_scaling")


def plain_head(config: Any) -> bool:
    """True when the model's logits are its output layer's, unscaled and uncapped (Llama, Qwen, SmolLM, Gemma 3)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return all(getattr(text, name, None) in (None, 1, 1.0) for name in LOGIT_TRANSFORMS)


def slice_tokens(vocab: int) -> int:
    """How many answer tokens go through the output layer at once."""
    return max(MIN_SLICE, LOGIT_BUDGET // max(1, vocab))


def _sum_nll(hidden: Any, weight: Any, bias: Any, targets: Any) -> Any:
    import torch.nn.functional as F

    logits = F.linear(hidden, weight, bias)
    return F.cross_entropy(logits.float(), targets, reduction="sum")


def answer_loss(peft_model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
    """Mean negative log-likelihood of the answer tokens (labels ≠ -100), like the model's own loss."""
    import torch
    from torch.utils.checkpoint import checkpoint

    causal = peft_model.get_base_model()
    backbone = getattr(causal, causal.base_model_prefix)
    labels = inputs["labels"]
    kwargs = {k: v for k, v in inputs.items() if k not in DROP_KEYS}
    kwargs["use_cache"] = False
    hidden = backbone(**kwargs).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    mask = targets != -100
    hidden, targets = hidden[mask], targets[mask]
    head = causal.get_output_embeddings()
    step = slice_tokens(head.weight.shape[0])
    if hidden.shape[0] <= step:
        total = _sum_nll(hidden, head.weight, head.bias, targets)
    else:  # keep only one slice's logits alive: recompute each slice in the backward pass
        total = sum(checkpoint(_sum_nll, hidden[i:i + step], head.weight, head.bias, targets[i:i + step],
                               use_reentrant=False) for i in range(0, hidden.shape[0], step))
    count = mask.sum() if num_items_in_batch is None else num_items_in_batch
    return total / torch.as_tensor(count, device=total.device).clamp(min=1)


def give_back_freed_memory() -> bool:
    """Let glibc return large freed buffers to the system at once (mmap threshold 1 MiB), instead of keeping
    them in its heap: a training step's buffers change shape with every batch, and the heap only grew (measured:
    peak RSS 2.10 GB → 1.66 GB, SmolLM2-135M, same speed). False where the C library is not glibc."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 1 << 20)) and bool(libc.mallopt(m_trim_threshold, 1 << 20))
    except (OSError, AttributeError):
        return False
