"""Peak memory per device of one set of LoRA/QLoRA settings, itemised against what the device has.

Memory model (per device, bytes; ``a`` = bytes of the compute dtype, ``T`` =
micro-batch × sequence tokens):

* weights: 16-bit ``2·P``; fp32 ``4·P``; LLM.int8 ``1·P_lin + 2·P_rest``; NF4
  ``(0.5 + 1/64 + 4/16384)·P_lin + 2·P_rest`` with double quantisation (absmax
  per 64 weights in 8 bits, fp32 per 256 absmax), ``(0.5 + 4/64)·P_lin``
  without. ``P_lin`` = the decoder layers' linear weights; embeddings, output
  layer and norms stay in 16-bit.
* LoRA: ``r·(in+out)`` per targeted projection, kept in fp32 by PEFT: weights
  4 B, gradients 4 B, AdamW 8 B (two fp32 moments) or paged 8-bit AdamW 2 B.
* activations per token per layer: RMSNorm (fp32 copy + output) ×2, attention
  (input, q, k, v, repeated k/v for GQA, output), MLP (input, gate, up,
  act(gate), product), LoRA dropout copies; the attention matrix itself is
  never stored (SDPA / flash attention). With gradient checkpointing only each
  layer's input (``a·h``) is kept, plus two layers' worth for recomputation
  and backward.
* logits: ``T·V·(a + 8)`` — the 16-bit logits, their fp32 copy in the loss and
  the fp32 log-softmax.
* QLoRA: one dequantised weight of the largest projection at a time.
* fixed: CUDA context and cuBLAS workspace (0.75 GiB), NCCL buffers with
  several GPUs (0.5 GiB), allocator fragmentation (5 % of the rest); on CPU the
  Python/torch runtime (1.5 GiB).
* several GPUs: DDP holds everything on each GPU (plus a gradient bucket);
  ZeRO-2 shards LoRA gradients and optimizer states; FSDP shards all weights
  except the root unit (embeddings, output layer), gathering two layers at a
  time; ZeRO-3 shards everything and gathers two layers and the embedding.

The estimates are anchored by tests to LLaMA-Factory's hardware table and
torchtune's measured Llama-2-7B peaks (±30 %).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tools.core.messages import Said, is_zh, said
from tools.plan.kinds import Method, Optimizer, Precision, Record, Strategy, WeightFormat
from tools.plan.model_facts import ModelFacts, human_params
from tools.plan.words import STRATEGY_WORDS, method_words

GIB = 1024**3
HEADROOM = 0.9
CUDA_CONTEXT_BYTES = int(0.75 * GIB)
NCCL_BYTES = int(0.5 * GIB)
FRAGMENTATION = 0.05
CPU_RUNTIME_BYTES = int(1.5 * GIB)

_DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


class MemorySettings(Record):
    """The choices that decide peak memory."""

    method: Method
    weight_format: WeightFormat
    precision: Precision
    device: Literal["cuda", "cpu"]
    strategy: Strategy
    num_gpus: int = 1
    micro_batch: int
    max_length: int
    gradient_checkpointing: bool
    lora_r: int
    lora_targets: list[str]
    lora_dropout: float
    optimizer: Optimizer
    double_quant: bool = True


class MemoryItem(Record):
    name: str
    bytes: int
    note: str
    said_note: Said | None = Field(default=None, description="the note by code (absent in older plans)")
    note_zh: str | None = Field(default=None, description="the note in Chinese, in plans written before codes")

    def note_in(self, lang: str) -> str:
        if self.said_note is not None:
            return self.said_note.text(lang)
        return self.note_zh if is_zh(lang) and self.note_zh else self.note

    @property
    def gib(self) -> float:
        return self.bytes / GIB


class MemoryEstimate(Record):
    """Peak memory per device for one set of settings, itemised, against what the device has."""

    settings: MemorySettings
    items: list[MemoryItem]
    total_bytes: int = Field(description="estimated peak per device")
    available_bytes: int = Field(description="free memory of the smallest GPU, or available RAM")
    budget_bytes: int = Field(description="headroom × available")
    fits: bool

    @property
    def total_gib(self) -> float:
        return self.total_bytes / GIB

    def summary(self) -> str:
        s = self.settings
        return (
            f"{method_words(s.method, s.precision)} · {STRATEGY_WORDS[s.strategy]}"
            f"{f' ×{s.num_gpus}' if s.num_gpus > 1 else ''} · micro-batch {s.micro_batch} · {s.max_length} tokens"
            f" · checkpointing {'on' if s.gradient_checkpointing else 'off'}: {gib(self.total_bytes)} per device"
            f" of {gib(self.budget_bytes)} usable → {'fits' if self.fits else 'does not fit'}"
        )


def gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def weight_bytes(facts: ModelFacts, fmt: WeightFormat, rest_bytes: int = 2, double_quant: bool = True) -> int:
    """Bytes of the frozen base weights in a given format (non-linear parts in ``rest_bytes`` each)."""
    lin, rest = facts.layer_linear_params, facts.non_linear_params
    if fmt == "fp32":
        return 4 * facts.param_count
    if fmt == "16bit":
        return 2 * facts.param_count
    if fmt == "8bit":
        return int(lin * (1 + 4 / 4096)) + rest_bytes * rest  # int8 + one fp32 scale per row (~4096 wide)
    per = 0.5 + (1 / 64 + 4 / (64 * 256) if double_quant else 4 / 64)
    return int(lin * per) + rest_bytes * rest


def activation_bytes_per_token(facts: ModelFacts, s: MemorySettings) -> tuple[int, int]:
    """(bytes kept per layer per token with checkpointing, bytes of one layer's full activations per token)."""
    a = _DTYPE_BYTES[s.precision]
    h, inter = facts.hidden_size, facts.intermediate_size * facts.experts_per_token
    qd, kvd = facts.q_dim, facts.kv_dim
    norm = 4 * h + a * h
    attn = a * (h + qd + 2 * kvd + qd)
    if facts.num_key_value_heads < facts.num_attention_heads:
        attn += a * 2 * qd  # k/v repeated to every query head for SDPA
    mlp = a * (h + 4 * inter) if facts.gated_mlp else a * (h + 2 * inter)
    n_targets = len(
        [m for m in facts.linear_modules if "all-linear" in s.lora_targets or m.name in s.lora_targets]
    )
    lora = a * s.lora_r * n_targets
    if s.lora_dropout > 0:
        lora += (a + 1) * facts.lora_input_features(s.lora_targets)  # dropout output + mask
    full = 2 * norm + attn + mlp + lora
    return a * h, full


def _item(name: str, n_bytes: int, code: str | Said, /, **params: Any) -> MemoryItem:
    note = code if isinstance(code, Said) else said(code, **params)
    return MemoryItem(name=name, bytes=n_bytes, note=note.text(), said_note=note)


def _weights_item(facts: ModelFacts, s: MemorySettings) -> MemoryItem:
    """The frozen base weights on one device, in their format, sharded when the strategy shards them."""
    a, n = _DTYPE_BYTES[s.precision], max(1, s.num_gpus)
    w = weight_bytes(facts, s.weight_format, rest_bytes=a, double_quant=s.double_quant)
    fmt = {
        "fp32": said("plan.memory.format_fp32"),
        "16bit": said("plan.memory.format_16bit", precision=s.precision),
        "8bit": said("plan.memory.format_8bit"),
        "nf4": said("plan.memory.format_nf4_double" if s.double_quant else "plan.memory.format_nf4"),
    }[s.weight_format]
    size = human_params(facts.param_count)
    root = facts.embedding_params + facts.lm_head_params + facts.hidden_size
    if s.strategy == "fsdp":
        root_b = root * a
        w = (w - root_b) // n + root_b
        return _item("weights", w, "plan.memory.weights_fsdp", size=size, format=fmt, n=n, root=gib(root_b))
    if s.strategy == "zero3":
        return _item("weights", w // n, "plan.memory.weights_zero3", size=size, format=fmt, n=n)
    return _item("weights", w, "plan.memory.weights", size=size, format=fmt)


def _trainable_items(facts: ModelFacts, s: MemorySettings) -> list[MemoryItem]:
    """The LoRA weights, their gradients and the optimizer's states."""
    n = max(1, s.num_gpus)
    lora_n = facts.lora_param_count(s.lora_r, s.lora_targets)
    shard = n if s.strategy in ("fsdp", "zero3") else 1
    gshard = n if s.strategy in ("fsdp", "zero2", "zero3") else 1
    opt_per = 2 if s.optimizer == "paged_adamw_8bit" else 8
    opt = said("plan.memory.optimizer_paged" if opt_per == 2 else "plan.memory.optimizer_adamw")
    if gshard > 1:
        opt = said("plan.memory.sharded", what=opt, n=n)
    return [
        _item("lora_params", 4 * lora_n // shard, "plan.memory.m_trainable_lora_parameters", millions=lora_n / 1e6,
              lora_r=s.lora_r),
        _item("gradients", 4 * lora_n // gshard, "plan.memory.fp_gradients_lora_weights"),
        _item("optimizer", opt_per * lora_n // gshard, opt),
    ]


def _activation_items(facts: ModelFacts, s: MemorySettings) -> list[MemoryItem]:
    """What one micro-batch needs while it passes: activations, logits, and the dequantised or gathered layers."""
    a, tokens = _DTYPE_BYTES[s.precision], s.micro_batch * s.max_length
    kept, full = activation_bytes_per_token(facts, s)
    L = facts.num_layers
    final = 4 * facts.hidden_size + 2 * a * facts.hidden_size
    if s.gradient_checkpointing:
        out = [_item("activations", tokens * (L * kept + 2 * full + final),
                     "plan.memory.tokens_layer_inputs_layers", tokens=tokens, L=L)]
    else:
        out = [_item("activations", tokens * (L * full + full + final), "plan.memory.tokens_layers_kib_per",
                     tokens=tokens, L=L, kib=full / 1024)]
    out.append(_item("logits", tokens * facts.vocab_size * (a + 8), "plan.memory.vocabulary_tokens_batch_byte",
                     vocab_size=facts.vocab_size, max_length=s.max_length, micro_batch=s.micro_batch, a=a))
    if s.weight_format in ("nf4", "8bit"):
        out.append(_item("dequant_buffer", facts.largest_linear() * a,
                         "plan.memory.one_projection_dequantised_bit"))
    if s.strategy in ("fsdp", "zero3"):
        root = facts.embedding_params + facts.lm_head_params + facts.hidden_size
        layer_w = weight_bytes(facts, s.weight_format, rest_bytes=a, double_quant=s.double_quant) - root * a
        per_layer = max(0, layer_w) // max(1, L)
        gathered = 2 * per_layer + (facts.embedding_params * a if s.strategy == "zero3" else 0)
        out.append(_item("gathered_params", gathered, "plan.memory.two_layers_gathered_whole"))
    return out


def _overhead_items(facts: ModelFacts, s: MemorySettings, dynamic: int) -> list[MemoryItem]:
    """Communication buffers, allocator fragmentation and the runtime itself."""
    n = max(1, s.num_gpus)
    out = []
    if s.device == "cuda" and n > 1:
        ddp = s.strategy == "ddp"
        comm = NCCL_BYTES + (4 * facts.lora_param_count(s.lora_r, s.lora_targets) if ddp else 0)
        out.append(_item("communication", comm, "plan.memory.nccl_ddp" if ddp else "plan.memory.nccl"))
        dynamic += comm
    if s.device == "cuda":
        out += [_item("allocator", int(FRAGMENTATION * dynamic),
                      "plan.memory.pytorch_caching_allocator_fragmentation"),
                _item("cuda_context", CUDA_CONTEXT_BYTES, "plan.memory.cuda_context_cublas_workspace")]
    else:
        out += [_item("allocator", int(FRAGMENTATION * dynamic), "plan.memory.malloc_fragmentation"),
                _item("runtime", CPU_RUNTIME_BYTES, "plan.memory.python_torch_transformers_tokenizer")]
    return out


def estimate_memory(
    facts: ModelFacts, s: MemorySettings, available_bytes: int, headroom: float = HEADROOM
) -> MemoryEstimate:
    """Itemised peak memory per device for these settings."""
    items = [_weights_item(facts, s), *_trainable_items(facts, s), *_activation_items(facts, s)]
    items += _overhead_items(facts, s, sum(i.bytes for i in items))
    total = sum(i.bytes for i in items)
    budget = int(headroom * available_bytes)
    return MemoryEstimate(settings=s, items=items, total_bytes=total, available_bytes=available_bytes,
                          budget_bytes=budget, fits=total <= budget)
