"""Pick LoRA or QLoRA settings that fit a machine, with the reasons in words.

``plan_training(PlanRequest) -> TrainingPlan`` is a pure function of the model's
facts (:mod:`tools.model_facts`), the machine's facts (:mod:`tools.hardware`),
the dataset's token lengths and the person's overrides. Nothing here probes the
machine or loads weights, so every machine can be planned from anywhere.

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

import json
import logging
import math
import shlex
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.errors import InputError, ResourceError
from tools.hardware import HardwareFacts
from tools.model_facts import ModelFacts, human_params

log = logging.getLogger(__name__)

GIB = 1024**3
HEADROOM = 0.9
CUDA_CONTEXT_BYTES = int(0.75 * GIB)
NCCL_BYTES = int(0.5 * GIB)
FRAGMENTATION = 0.05
CPU_RUNTIME_BYTES = int(1.5 * GIB)
CPU_MAX_PARAMS = 2_000_000_000
# DESIGN.md: SmolLM2-135M-Instruct (134.5M parameters), LoRA r=16 on all linear layers, batch 4,
# 2 CPU cores: about 125 real (non-padding) tokens per second.
CPU_MEASURED_TOKENS_PER_S = 125.0
CPU_MEASURED_PARAMS = 134_515_008
CPU_MEASURED_CORES = 2
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
DEFAULT_EFFECTIVE_BATCH = 16
DEFAULT_MAX_LENGTH = 1024
DEFAULT_RANK = 16

Method = Literal["lora", "qlora"]
Strategy = Literal["single", "ddp", "fsdp", "zero2", "zero3", "cpu"]
Precision = Literal["bf16", "fp16", "fp32"]
WeightFormat = Literal["fp32", "16bit", "8bit", "nf4"]
Optimizer = Literal["adamw_torch", "paged_adamw_8bit"]

_DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
_TORCH_DTYPE = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
_STRATEGY_WORDS = {
    "single": "one GPU",
    "ddp": "DDP (a full copy per GPU)",
    "fsdp": "FSDP (weights sharded across GPUs)",
    "zero2": "DeepSpeed ZeRO-2 (gradients and optimizer sharded)",
    "zero3": "DeepSpeed ZeRO-3 (everything sharded)",
    "cpu": "CPU",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests -----------------------------------------------------------------


class TokenStats(_Model):
    """Token lengths of the training examples (from the dataset report)."""

    count: int | None = Field(default=None, ge=0, description="number of training examples")
    p50: int | None = Field(default=None, ge=0)
    p95: int | None = Field(default=None, ge=0)
    p99: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)
    mean: float | None = Field(default=None, ge=0)

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.p50, self.p95, self.p99, self.max))


class PlanOverrides(_Model):
    """What the person asked for explicitly ("r=32", "batch 2", "max length 1024", "use LoRA")."""

    method: Method | None = None
    rank: int | None = Field(default=None, ge=1, le=1024)
    alpha: int | None = Field(default=None, ge=1)
    lora_dropout: float | None = Field(default=None, ge=0, lt=1)
    micro_batch: int | None = Field(default=None, ge=1, le=1024)
    effective_batch: int | None = Field(default=None, ge=1, le=65536)
    max_length: int | None = Field(default=None, ge=16, le=1_048_576)
    epochs: int | None = Field(default=None, ge=1, le=100)
    learning_rate: float | None = Field(default=None, gt=0, lt=1)
    gradient_checkpointing: bool | None = None
    packing: bool | None = None
    strategy: Strategy | None = None
    seed: int | None = None

    def described(self) -> str:
        words = {
            "method": "method", "rank": "r", "alpha": "alpha", "lora_dropout": "LoRA dropout",
            "micro_batch": "micro-batch", "effective_batch": "effective batch", "max_length": "max length",
            "epochs": "epochs", "learning_rate": "learning rate", "gradient_checkpointing": "gradient checkpointing",
            "packing": "packing", "strategy": "strategy", "seed": "seed",
        }
        parts = [f"{words[k]} {v}" for k, v in self.model_dump(exclude_none=True).items()]
        return ", ".join(parts)


class PlanRequest(_Model):
    """Everything the planner looks at. ``plan_training`` is a pure function of it."""

    model: ModelFacts
    hardware: HardwareFacts
    tokens: TokenStats | None = None
    method: Literal["auto", "lora", "qlora"] = "auto"
    overrides: PlanOverrides = Field(default_factory=PlanOverrides)
    headroom: float = Field(default=HEADROOM, gt=0.1, le=1.0, description="share of free memory a plan may use")
    data_dir: str | None = Field(default=None, description="dataset folder, only to write the launch command")
    run_dir: str | None = Field(default=None, description="run folder, only to write the launch command")

    @model_validator(mode="after")
    def _method_agrees(self) -> PlanRequest:
        if self.overrides.method and self.method != "auto" and self.overrides.method != self.method:
            raise ValueError(f"method {self.method!r} and override method {self.overrides.method!r} disagree")
        return self


# --- memory estimate ------------------------------------------------------------


class MemorySettings(_Model):
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


class MemoryItem(_Model):
    name: str
    bytes: int
    note: str

    @property
    def gib(self) -> float:
        return self.bytes / GIB


class MemoryEstimate(_Model):
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
            f"{method_words(s.method, s.precision)} · {_STRATEGY_WORDS[s.strategy]}"
            f"{f' ×{s.num_gpus}' if s.num_gpus > 1 else ''} · micro-batch {s.micro_batch} · {s.max_length} tokens"
            f" · checkpointing {'on' if s.gradient_checkpointing else 'off'}: {gib(self.total_bytes)} per device"
            f" of {gib(self.budget_bytes)} usable → {'fits' if self.fits else 'does not fit'}"
        )


def gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def method_words(method: str, precision: str) -> str:
    if method == "qlora":
        return f"QLoRA 4-bit (NF4, {precision} compute)"
    return f"LoRA {'32-bit' if precision == 'fp32' else '16-bit'} ({precision})"


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


def estimate_memory(
    facts: ModelFacts, s: MemorySettings, available_bytes: int, headroom: float = HEADROOM
) -> MemoryEstimate:
    """Itemised peak memory per device for these settings."""
    a = _DTYPE_BYTES[s.precision]
    n = max(1, s.num_gpus)
    tokens = s.micro_batch * s.max_length
    items: list[MemoryItem] = []

    w = weight_bytes(facts, s.weight_format, rest_bytes=a, double_quant=s.double_quant)
    fmt_words = {
        "fp32": "fp32",
        "16bit": f"{s.precision} (2 bytes each)",
        "8bit": "8-bit (LLM.int8)",
        "nf4": "NF4 4-bit" + (" with double quantisation" if s.double_quant else "") + ", embeddings in 16-bit",
    }[s.weight_format]
    root = facts.embedding_params + facts.lm_head_params + facts.hidden_size
    if s.strategy == "fsdp":
        root_b = root * a
        w_note = f"{human_params(facts.param_count)} base weights, {fmt_words}, sharded over {n} GPUs " \
                 f"(embeddings/output layer kept whole: {gib(root_b)})"
        w = (w - root_b) // n + root_b
    elif s.strategy == "zero3":
        w_note = f"{human_params(facts.param_count)} base weights, {fmt_words}, sharded over {n} GPUs"
        w = w // n
    else:
        w_note = f"{human_params(facts.param_count)} base weights, {fmt_words}"
    items.append(MemoryItem(name="weights", bytes=w, note=w_note))

    lora_n = facts.lora_param_count(s.lora_r, s.lora_targets)
    shard = n if s.strategy in ("fsdp", "zero3") else 1
    items.append(MemoryItem(name="lora_params", bytes=4 * lora_n // shard,
                            note=f"{lora_n / 1e6:.1f}M trainable LoRA parameters (r={s.lora_r}) in fp32"))
    gshard = n if s.strategy in ("fsdp", "zero2", "zero3") else 1
    items.append(MemoryItem(name="gradients", bytes=4 * lora_n // gshard, note="fp32 gradients of the LoRA weights"))
    opt_per = 2 if s.optimizer == "paged_adamw_8bit" else 8
    opt_note = "paged 8-bit AdamW states (2 bytes per parameter)" if opt_per == 2 else \
        "AdamW states, two fp32 moments (8 bytes per parameter)"
    items.append(MemoryItem(name="optimizer", bytes=opt_per * lora_n // gshard,
                            note=opt_note + (f", sharded over {n} GPUs" if gshard > 1 else "")))

    kept, full = activation_bytes_per_token(facts, s)
    L = facts.num_layers
    final = 4 * facts.hidden_size + 2 * a * facts.hidden_size
    if s.gradient_checkpointing:
        act = tokens * (L * kept + 2 * full + final)
        act_note = f"{tokens} tokens × ({L} layer inputs + 2 layers recomputed), gradient checkpointing on"
    else:
        act = tokens * (L * full + full + final)
        act_note = f"{tokens} tokens × {L} layers × {full / 1024:.0f} KiB per token, gradient checkpointing off"
    items.append(MemoryItem(name="activations", bytes=act, note=act_note))
    logits = tokens * facts.vocab_size * (a + 8)
    items.append(MemoryItem(name="logits", bytes=logits,
                            note=f"vocabulary {facts.vocab_size} × {s.max_length} tokens × batch {s.micro_batch}, "
                                 f"{a}-byte logits + fp32 copy + fp32 log-softmax"))
    if s.weight_format in ("nf4", "8bit"):
        items.append(MemoryItem(name="dequant_buffer", bytes=facts.largest_linear() * a,
                                note="one projection dequantised to 16-bit at a time"))
    if s.strategy in ("fsdp", "zero3"):
        layer_w = weight_bytes(facts, s.weight_format, rest_bytes=a, double_quant=s.double_quant) - root * a
        per_layer = max(0, layer_w) // max(1, L)
        gathered = 2 * per_layer + (facts.embedding_params * a if s.strategy == "zero3" else 0)
        items.append(MemoryItem(name="gathered_params", bytes=gathered,
                                note="two layers gathered whole at a time (current + prefetched)"))
    if s.device == "cuda" and n > 1:
        comm = NCCL_BYTES + (4 * lora_n if s.strategy == "ddp" else 0)
        items.append(MemoryItem(name="communication", bytes=comm,
                                note="NCCL buffers" + (" + DDP gradient bucket" if s.strategy == "ddp" else "")))
    dynamic = sum(i.bytes for i in items)
    if s.device == "cuda":
        items.append(MemoryItem(name="allocator", bytes=int(FRAGMENTATION * dynamic),
                                note="PyTorch caching-allocator fragmentation (5%)"))
        items.append(MemoryItem(name="cuda_context", bytes=CUDA_CONTEXT_BYTES,
                                note="CUDA context, cuBLAS workspace and kernels"))
    else:
        items.append(MemoryItem(name="allocator", bytes=int(FRAGMENTATION * dynamic), note="malloc fragmentation (5%)"))
        items.append(MemoryItem(name="runtime", bytes=CPU_RUNTIME_BYTES,
                                note="Python, torch, transformers, tokenizer and data in RAM"))
    total = sum(i.bytes for i in items)
    budget = int(headroom * available_bytes)
    return MemoryEstimate(settings=s, items=items, total_bytes=total, available_bytes=available_bytes,
                          budget_bytes=budget, fits=total <= budget)


# --- the plan ---------------------------------------------------------------------


class BnbSettings(_Model):
    """BitsAndBytesConfig arguments for QLoRA."""

    load_in_4bit: bool = True
    bnb_4bit_quant_type: Literal["nf4", "fp4"] = "nf4"
    bnb_4bit_use_double_quant: bool = True
    bnb_4bit_compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    bnb_4bit_quant_storage: Literal["uint8", "bfloat16", "float16", "float32"] = "uint8"


class LoraSettings(_Model):
    """peft.LoraConfig arguments (``target_modules`` is a list of names, or the string 'all-linear')."""

    r: int
    alpha: int
    dropout: float
    target_modules: list[str] | Literal["all-linear"]
    bias: Literal["none"] = "none"
    task_type: Literal["CAUSAL_LM"] = "CAUSAL_LM"
    trainable_params: int = 0


class DistributedPlan(_Model):
    strategy: Strategy
    num_processes: int = 1
    accelerate_config: str | None = Field(default=None, description="text of accelerate_config.yaml")
    deepspeed_config: str | None = Field(default=None, description="text of deepspeed_config.json (ZeRO)")
    launch_command: str = Field(description="the exact command that starts training")
    reasons: list[str] = Field(default_factory=list)


class CpuEstimate(_Model):
    tokens_per_second: float
    seconds_per_epoch: float | None
    basis: str


class ServingPlan(_Model):
    """vLLM settings for the trained model."""

    max_model_len: int
    gpu_memory_utilization: float | None = Field(description="None on CPU")
    max_lora_rank: int | None = Field(description="None when vLLM cannot serve this rank as an adapter")
    tensor_parallel_size: int = 1
    dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    cpu_kvcache_space_gib: int | None = Field(default=None, description="VLLM_CPU_KVCACHE_SPACE on CPU")
    fits: bool = True
    reasons: list[str] = Field(default_factory=list)


class TrainingPlan(_Model):
    """Everything the trainer needs, and why. Saved as ``plan.json``."""

    schema_version: int = 1
    model: str = Field(description="name to pass to tools.models.resolve_model: 'demo', a folder, or a hub id")
    model_facts: ModelFacts
    fits: bool = Field(description="False: the refusal says why and what would fit; do not train")
    refusal: str | None = None
    device: Literal["cuda", "cpu"]
    num_gpus: int = 0
    method: Method
    precision: Precision = Field(description="mixed-precision mode: bf16 / fp16 autocast, or fp32")
    torch_dtype: Literal["bfloat16", "float16", "float32"] = Field(description="dtype to load the base weights in")
    load_in_4bit: bool
    bnb: BnbSettings | None = None
    lora: LoraSettings
    learning_rate: float
    lr_scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    num_epochs: int
    warmup_ratio: float
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    micro_batch_size: int
    grad_accum: int
    effective_batch: int = Field(description="micro_batch_size × grad_accum × num processes")
    max_length: int
    gradient_checkpointing: bool
    packing: bool
    optimizer: Optimizer
    attn_implementation: Literal["sdpa", "flash_attention_2", "eager"]
    seed: int = 42
    steps_per_epoch: int | None = None
    total_steps: int | None = None
    eval_steps: int
    save_steps: int
    logging_steps: int
    save_total_limit: int = 2
    memory: MemoryEstimate
    alternatives: list[MemoryEstimate] = Field(default_factory=list, description="other methods/strategies")
    distributed: DistributedPlan
    cpu_estimate: CpuEstimate | None = None
    serving: ServingPlan
    tokens: TokenStats | None = None
    overrides: PlanOverrides = Field(default_factory=PlanOverrides)
    reasons: list[str] = Field(description="every decision, in words")
    warnings: list[str] = Field(default_factory=list)

    def require_fit(self) -> TrainingPlan:
        if not self.fits:
            raise PlanRefusedError(self.refusal or "the plan does not fit this machine",
                                   hint="See the plan's reasons for what would fit")
        return self


class PlanRefusedError(ResourceError):
    """No setting fits this machine."""


# --- helpers ----------------------------------------------------------------------------


def round_up(n: int, k: int = 64) -> int:
    return max(k, int(math.ceil(n / k)) * k)


def vllm_lora_rank(r: int) -> int | None:
    return next((v for v in VLLM_LORA_RANKS if v >= r), None)


def _pow2_down(n: int) -> int:
    return 1 << max(0, int(math.floor(math.log2(max(1, n)))))


def _flash_attn_installed(hw: HardwareFacts) -> bool:
    return any(hw.versions.get(k) for k in ("flash-attn", "flash_attn", "flash-attention"))


def _pkg_missing(hw: HardwareFacts, name: str) -> bool:
    """True only when the facts say the package is known and absent (an empty versions dict says nothing)."""
    return name in hw.versions and not hw.versions.get(name)


def _gpu_words(hw: HardwareFacts) -> str:
    g = min(hw.gpus, key=lambda x: x.free_memory_bytes)
    names = {x.name for x in hw.gpus}
    count = f"{len(hw.gpus)} × " if len(hw.gpus) > 1 else ""
    return f"{count}{' / '.join(sorted(names))} ({gib(g.free_memory_bytes)} free{' each' if count else ''})"


# --- choosing -------------------------------------------------------------------------------


def _length_ladder(req: PlanRequest) -> list[tuple[int, str]]:
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
        return [(ov.max_length, f"max length {ov.max_length}: your setting")]
    if st is not None and not st.empty:
        ladder: list[tuple[int, str]] = []
        for key, share in (("p99", "99%"), ("p95", "95%"), ("max", "all"), ("p50", "half")):
            v = getattr(st, key)
            if v is None or (key == "max" and ladder):
                continue
            n = min(round_up(v), cap)
            capped = " (capped by the model's positions)" if round_up(v) > cap else ""
            if n not in [x for x, _ in ladder]:
                ladder.append((n, f"max length {n}: covers {share} of your examples ({key} = {v} tokens), "
                                  f"rounded up to a multiple of 64{capped}"))
        return ladder
    ladder = [(min(DEFAULT_MAX_LENGTH, cap),
               f"max length {min(DEFAULT_MAX_LENGTH, cap)}: no dataset statistics given, a common length for chat "
               "examples")]
    for n in (512, 256):
        if n < ladder[0][0]:
            ladder.append((n, f"max length {n}: no dataset statistics given and {ladder[0][0]} tokens would not fit"))
    return ladder


def _batch_ladder(max_mb: int, fixed: int | None) -> list[int]:
    if fixed:
        return [fixed]
    out, b = [], _pow2_down(max_mb)
    while b >= 1:
        out.append(b)
        b //= 2
    return out


def plan_training(request: PlanRequest) -> TrainingPlan:
    """Choose method, precision, LoRA, batch, length, strategy and serving settings that fit, with reasons."""
    req = request
    facts, hw, ov, st = req.model, req.hardware, req.overrides, req.tokens
    reasons: list[str] = []
    warnings: list[str] = list(facts.notes)
    want = ov.method or (None if req.method == "auto" else req.method)
    device: Literal["cuda", "cpu"] = "cuda" if hw.gpus else "cpu"
    n_gpus = len(hw.gpus)

    if facts.quantized:
        warnings.append(f"{facts.name} is already quantised ({facts.quantized}); train from the 16-bit original "
                        "so the adapter can be merged into 16-bit weights")

    # precision ---------------------------------------------------------------------------
    precision: Precision
    if device == "cuda":
        cc = min(g.compute_capability for g in hw.gpus)
        if all(g.bf16 for g in hw.gpus):
            precision = "bf16"
            reasons.append(f"precision bf16: compute capability {cc[0]}.{cc[1]} supports bfloat16")
        else:
            precision = "fp16"
            reasons.append(f"precision fp16: compute capability {cc[0]}.{cc[1]} is older than Ampere (8.0), "
                           "so no bfloat16; fp16 with loss scaling")
        available = min(g.free_memory_bytes for g in hw.gpus)
    else:
        if hw.cpu.bf16:
            precision = "bf16"
            flag = "AMX" if hw.cpu.amx else "AVX512-BF16"
            reasons.append(f"precision bf16 on CPU: this CPU has {flag} (bf16 autocast measured ~1.2–1.3× faster "
                           "than fp32 on such a CPU)")
        else:
            precision = "fp32"
            reasons.append("precision fp32 on CPU: no AVX512-BF16 or AMX, so bfloat16 would be emulated and slow")
        available = hw.cpu.ram_available_bytes

    # LoRA ------------------------------------------------------------------------------------
    count = st.count if st else None
    r = ov.rank or (32 if count and count >= 20000 else DEFAULT_RANK)
    if ov.rank:
        reasons.append(f"LoRA rank {r}: your setting")
    elif r == 32:
        reasons.append(f"LoRA rank 32: {count} examples is a large dataset, so a little more adapter capacity")
    else:
        reasons.append("LoRA rank 16: enough capacity for a task/style adaptation on up to ~20k examples")
    alpha = ov.alpha or 2 * r
    reasons.append(f"LoRA alpha {alpha}: " + ("your setting" if ov.alpha else "alpha = 2 × r keeps the update scale "
                                                                              "steady when r changes"))
    targets = list(facts.lora_target_modules)
    if targets == ["all-linear"]:
        reasons.append("LoRA targets 'all-linear': the planner does not know this architecture's module names, "
                       "PEFT finds every linear layer")
    elif not facts.dense:
        reasons.append(f"LoRA targets {', '.join(targets)}: the attention projections (MoE experts are fused "
                       "parameters, not linear layers)")
    else:
        reasons.append(f"LoRA targets {', '.join(targets)}: every linear projection of the layer, which trains "
                       "better than attention-only (QLoRA paper)")
    if ov.lora_dropout is not None:
        dropout = ov.lora_dropout
        reasons.append(f"LoRA dropout {dropout}: your setting")
    elif device == "cpu":
        dropout = 0.0
        reasons.append("LoRA dropout 0: on CPU dropout copies every adapter input, a measured cost; small data is "
                       "guarded by few epochs and eval loss instead")
    else:
        dropout = 0.05
        reasons.append("LoRA dropout 0.05: light regularisation, the usual value for 7B–13B models")

    # batch ----------------------------------------------------------------------------------------
    procs = n_gpus if device == "cuda" else 1
    if ov.effective_batch:
        eff = ov.effective_batch
        reasons.append(f"effective batch {eff}: your setting")
    elif count is not None and count < DEFAULT_EFFECTIVE_BATCH * 8:
        eff = max(2, min(DEFAULT_EFFECTIVE_BATCH, _pow2_down(max(1, count // 8))))
        reasons.append(f"effective batch {eff}: only {count} examples, so a smaller batch gives at least ~8 "
                       "optimizer steps per epoch")
    else:
        eff = DEFAULT_EFFECTIVE_BATCH
        reasons.append(f"effective batch {eff}: a stable default for LoRA fine-tuning")
    eff = max(eff, procs)
    max_mb = max(1, eff // procs)
    if device == "cpu":
        max_mb = min(max_mb, 4)
    if count:
        max_mb = min(max_mb, max(1, count))

    lengths = _length_ladder(req)

    # CPU: small models only ---------------------------------------------------------------
    cpu_refusal: str | None = None
    if device == "cpu" and facts.param_count > CPU_MAX_PARAMS:
        tps = _cpu_tokens_per_s(facts, hw)
        cpu_refusal = (
            f"{facts.describe()} is too large to fine-tune on this CPU: CPU training is for models up to "
            f"{human_params(CPU_MAX_PARAMS)} parameters (about {tps:.1f} tokens/s here for this size, so even 1,000 "
            f"short examples would take ~{1000 * 200 / tps / 3600:.0f} hours per epoch). What would fit: a small "
            "model such as SmolLM2-135M/360M-Instruct or Qwen2.5-0.5B/1.5B-Instruct here, or this model on a GPU "
            "machine (plan it with --hardware)"
        )

    # methods and strategies ------------------------------------------------------------------
    methods: list[Method] = [want] if want else ["lora", "qlora"]
    if device == "cpu" and not want and _pkg_missing(hw, "bitsandbytes"):
        methods = ["lora"]
    if device == "cuda" and "qlora" in methods and _pkg_missing(hw, "bitsandbytes"):
        warnings.append("bitsandbytes is not installed: QLoRA needs it (pip install 'tunepilot[gpu]')")
    if device == "cuda" and n_gpus > 1:
        if ov.strategy:
            if ov.strategy in ("single", "cpu"):
                raise InputError(f"strategy {ov.strategy!r} does not use {n_gpus} GPUs", where="strategy",
                                 hint="Choose ddp, fsdp, zero2 or zero3")
            strategies: list[Strategy] = [ov.strategy]
        else:
            strategies = ["ddp", "fsdp"]
    elif device == "cuda":
        if ov.strategy and ov.strategy not in ("single",):
            raise InputError(f"strategy {ov.strategy!r} needs several GPUs and this machine has one",
                             where="strategy", hint="Leave the strategy to the planner")
        strategies = ["single"]
    else:
        strategies = ["cpu"]

    def settings(method: Method, strategy: Strategy, mb: int, length: int, ckpt: bool) -> MemorySettings:
        plain = strategy in ("single", "ddp")  # bnb's paged optimizer is not used under FSDP/DeepSpeed
        if method == "qlora":
            optimizer: Optimizer = "paged_adamw_8bit" if device == "cuda" and plain else "adamw_torch"
            fmt: WeightFormat = "nf4"
        else:
            optimizer = "adamw_torch"
            fmt = "fp32" if precision == "fp32" else "16bit"
        return MemorySettings(
            method=method, weight_format=fmt, precision=precision, device=device, strategy=strategy,
            num_gpus=n_gpus if device == "cuda" else 1, micro_batch=mb, max_length=length,
            gradient_checkpointing=ckpt, lora_r=r, lora_targets=targets, lora_dropout=dropout, optimizer=optimizer,
        )

    ckpt_options = [ov.gradient_checkpointing] if ov.gradient_checkpointing is not None else [False, True]
    chosen: MemoryEstimate | None = None
    chosen_length_reason = ""
    smallest: MemoryEstimate | None = None
    tried_lengths: list[int] = []
    if cpu_refusal is None:
        for length, length_reason in lengths:
            tried_lengths.append(length)
            for method in methods:
                for strategy in strategies:
                    for ckpt in ckpt_options:
                        batches = _batch_ladder(max_mb, ov.micro_batch)
                        if not ckpt and ov.micro_batch is None and ov.gradient_checkpointing is None:
                            # without checkpointing only while a useful micro-batch fits
                            batches = [b for b in batches if b >= min(2, max_mb)]
                        for mb in batches:
                            est = estimate_memory(facts, settings(method, strategy, mb, length, ckpt), available,
                                                  req.headroom)
                            if smallest is None or est.total_bytes < smallest.total_bytes:
                                smallest = est
                            if est.fits:
                                chosen = est
                                break
                        if chosen:
                            break
                    if chosen:
                        break
                if chosen:
                    break
            if chosen:
                chosen_length_reason = length_reason
                break

    fits = chosen is not None
    refusal: str | None = None
    if chosen is None:
        if smallest is None:  # CPU refusal before any estimate
            smallest = estimate_memory(
                facts, settings(methods[0], strategies[0], 1, lengths[-1][0], True), available, req.headroom
            )
            refusal = cpu_refusal
        else:
            refusal = _refusal(req, smallest, methods, strategies, available)
        est = smallest
    else:
        est = chosen
    s = est.settings

    # method reasons -------------------------------------------------------------------------
    budget_words = f"{gib(est.budget_bytes)} usable ({int(req.headroom * 100)}% of {gib(available)} " \
                   f"{'free on the smallest GPU' if device == 'cuda' else 'available RAM'})"
    if fits:
        if s.method == "lora" and not want:
            reasons.insert(0, f"method LoRA {'32' if precision == 'fp32' else '16'}-bit: needs about "
                              f"{gib(est.total_bytes)} per {'GPU' if device == 'cuda' else 'machine'}, within "
                              f"{budget_words}; 16-bit weights train faster and a little better than 4-bit")
        elif s.method == "qlora" and not want:
            lora_alt = estimate_memory(facts, s.model_copy(update={
                "method": "lora", "weight_format": "fp32" if precision == "fp32" else "16bit",
                "optimizer": "adamw_torch"}), available, req.headroom)
            reasons.insert(0, f"method QLoRA 4-bit: LoRA 16-bit would need about {gib(lora_alt.total_bytes)}, more "
                              f"than {budget_words}; 4-bit NF4 weights need about {gib(est.total_bytes)}")
        else:
            reasons.insert(0, f"method {method_words(s.method, precision)}: your choice; needs about "
                              f"{gib(est.total_bytes)} of {budget_words}")
        if s.method == "qlora":
            reasons.append(f"QLoRA: NF4 with double quantisation, {precision} compute"
                           + (" (bf16 needs compute capability 8.0)" if precision == "fp16" else ""))
        if chosen_length_reason:
            reasons.append(chosen_length_reason)
            if len(tried_lengths) > 1:
                warnings.append(f"max length lowered to {s.max_length} tokens to fit memory; longer examples "
                                "are truncated")
        if s.gradient_checkpointing:
            reasons.append("gradient checkpointing on: without it the activations would not fit at micro-batch "
                           f"{max(1, min(2, max_mb))}" if ov.gradient_checkpointing is None
                           else "gradient checkpointing on: your setting")
        else:
            reasons.append("gradient checkpointing off: activations fit, so no recomputation (~30% faster)"
                           if ov.gradient_checkpointing is None else "gradient checkpointing off: your setting")

    mb = s.micro_batch
    accum = max(1, int(math.ceil(eff / (mb * procs))))
    effective = mb * accum * procs
    reasons.append(f"micro-batch {mb} × gradient accumulation {accum} × {procs} "
                   f"{'GPU' if device == 'cuda' else 'process'}{'s' if procs > 1 else ''} = effective batch "
                   f"{effective}" + (": the largest micro-batch that fits" if not ov.micro_batch else
                                     " (micro-batch: your setting)"))

    # schedule -----------------------------------------------------------------------------------
    if ov.epochs:
        epochs = ov.epochs
        reasons.append(f"{epochs} epochs: your setting")
    elif count is None:
        epochs = 3
        reasons.append("3 epochs: no dataset size given")
    else:
        epochs = 5 if count < 100 else 3 if count < 1000 else 2 if count < 10000 else 1
        reasons.append(f"{epochs} epoch{'s' if epochs > 1 else ''}: {count} examples "
                       + ("(small datasets need more passes)" if epochs >= 3 else "(large datasets need fewer "
                                                                                   "passes to avoid overfitting)"))
    if ov.learning_rate:
        lr = ov.learning_rate
        reasons.append(f"learning rate {lr:g}: your setting")
    elif facts.param_count >= 30e9:
        lr = 1e-4
        reasons.append("learning rate 1e-4: models of 30B+ parameters train stably at half the usual LoRA rate "
                       "(QLoRA paper)")
    else:
        lr = 2e-4
        reasons.append("learning rate 2e-4 with cosine decay: the usual LoRA/QLoRA rate (QLoRA paper)")
    steps_per_epoch = int(math.ceil(count / effective)) if count else None
    total_steps = steps_per_epoch * epochs if steps_per_epoch else None
    if total_steps is not None and total_steps < 100:
        warmup = 0.1
        reasons.append(f"warmup 10% of {total_steps} steps: a short run still gets a few warmup steps")
    else:
        warmup = 0.03
        reasons.append("warmup 3% of the steps (QLoRA paper)")
    if total_steps:
        eval_steps = max(1, min(total_steps, int(math.ceil(total_steps / 10))))
        logging_steps = max(1, min(10, total_steps // 50))
    else:
        eval_steps, logging_steps = 50, 10
    reasons.append(f"evaluate and save every {eval_steps} steps"
                   + (f" (~10 times over {total_steps} steps)" if total_steps else " (dataset size unknown)"))

    # attention and packing ------------------------------------------------------------------------
    attn: Literal["sdpa", "flash_attention_2", "eager"] = "sdpa"
    if device == "cuda" and _flash_attn_installed(hw) and min(g.compute_capability for g in hw.gpus) >= (8, 0):
        attn = "flash_attention_2"
        reasons.append("attention: flash_attention_2 (installed, and the GPU is Ampere or newer)")
    elif device == "cuda":
        why = "flash-attn is not installed" if not _flash_attn_installed(hw) else "the GPU is older than Ampere"
        reasons.append(f"attention: sdpa (PyTorch's fused attention; {why})")
    else:
        reasons.append("attention: sdpa (PyTorch's fused attention; flash-attention needs a GPU)")
    packing = False
    p50 = st.p50 if st else None
    if ov.packing is not None:
        packing = ov.packing
        reasons.append(f"packing {'on' if packing else 'off'}: your setting")
        if packing and attn != "flash_attention_2":
            warnings.append("packing without flash_attention_2 lets packed examples attend to each other")
    elif device == "cpu":
        reasons.append("packing off: measured far slower on CPU (TRL packing at 512 tokens took 40–60 s per step)")
    elif attn != "flash_attention_2":
        reasons.append("packing off: without flash_attention_2 packed examples would attend to each other")
    elif p50 is not None and p50 * 4 <= s.max_length:
        packing = True
        reasons.append(f"packing on: examples are short (median {p50} tokens vs max length {s.max_length}), so "
                       "packing removes padding; flash-attention keeps packed examples apart")
    else:
        reasons.append("packing off: examples are not short compared with the max length")

    # precision of weights and the optimizer ------------------------------------------------------------
    sharded = s.strategy in ("fsdp", "zero3")
    bnb = None
    if s.method == "qlora":
        store = _TORCH_DTYPE[precision] if sharded else "uint8"
        bnb = BnbSettings(bnb_4bit_compute_dtype=_TORCH_DTYPE[precision],  # type: ignore[arg-type]
                          bnb_4bit_quant_storage=store)  # type: ignore[arg-type]
        if sharded:
            reasons.append(f"bnb_4bit_quant_storage {store}: FSDP/ZeRO-3 can only shard 4-bit weights stored in "
                           "the same dtype as the rest of the model")
    if s.optimizer == "paged_adamw_8bit":
        reasons.append("optimizer paged 8-bit AdamW: a quarter of AdamW's state memory, paged to CPU on spikes "
                       "(QLoRA paper)")
    elif s.method == "qlora" and s.strategy in ("fsdp", "zero2", "zero3"):
        reasons.append("optimizer AdamW (fp32): 8-bit paged AdamW is not used with FSDP/DeepSpeed; the LoRA "
                       "states are small and sharded anyway")
    elif s.method == "qlora":
        reasons.append("optimizer AdamW (fp32): paged 8-bit optimizers need CUDA")
    else:
        reasons.append("optimizer AdamW (fp32 states): the LoRA weights are small, so 8-bit states save little")

    seed = ov.seed if ov.seed is not None else 42
    lora = LoraSettings(r=r, alpha=alpha, dropout=dropout,
                        target_modules="all-linear" if targets == ["all-linear"] else targets,
                        trainable_params=facts.lora_param_count(r, targets))

    # alternatives -------------------------------------------------------------------------------------
    alternatives: list[MemoryEstimate] = []
    alt_strats: list[Strategy] = (["ddp", "zero2", "fsdp", "zero3"] if n_gpus > 1 else list(strategies))
    for m in ("lora", "qlora"):
        for strat in alt_strats:
            alt = estimate_memory(facts, settings(m, strat, s.micro_batch, s.max_length, s.gradient_checkpointing),
                                  available, req.headroom)
            if alt.settings != s:
                alternatives.append(alt)

    distributed = _distributed(s.strategy, n_gpus, precision, s.method, req)
    reasons.extend(distributed.reasons)
    cpu_estimate = None
    if device == "cpu":
        tps = _cpu_tokens_per_s(facts, hw)
        mean = (st.mean or st.p50) if st else None
        secs = count * mean / tps if (count and mean) else None
        basis = (f"{CPU_MEASURED_TOKENS_PER_S:.0f} tokens/s measured for SmolLM2-135M LoRA r=16 batch 4 on "
                 f"{CPU_MEASURED_CORES} cores, scaled by parameters ({human_params(facts.param_count)}) and cores "
                 f"({hw.cpu.logical_cores})")
        cpu_estimate = CpuEstimate(tokens_per_second=round(tps, 1),
                                   seconds_per_epoch=round(secs, 1) if secs else None, basis=basis)
        if secs:
            reasons.append(f"time on CPU: about {_duration(secs)} per epoch ({count} examples × ~{mean:.0f} tokens "
                           f"at ~{tps:.0f} tokens/s; {basis})")
            if secs * epochs > 8 * 3600:
                warnings.append(f"training would take about {_duration(secs * epochs)} on this CPU; consider a "
                                "smaller model or a GPU")
        else:
            reasons.append(f"time on CPU: ~{tps:.0f} tokens/s ({basis}); give --data for a per-epoch estimate")

    serving = _serving(facts, hw, r, s.max_length, precision)
    plan = TrainingPlan(
        model=facts.name,
        model_facts=facts,
        fits=fits,
        refusal=refusal,
        device=device,
        num_gpus=n_gpus,
        method=s.method,
        precision=precision,
        torch_dtype=_TORCH_DTYPE[precision],  # type: ignore[arg-type]
        load_in_4bit=s.method == "qlora",
        bnb=bnb,
        lora=lora,
        learning_rate=lr,
        num_epochs=epochs,
        warmup_ratio=warmup,
        max_grad_norm=0.3 if s.method == "qlora" else 1.0,
        micro_batch_size=mb,
        grad_accum=accum,
        effective_batch=effective,
        max_length=s.max_length,
        gradient_checkpointing=s.gradient_checkpointing,
        packing=packing,
        optimizer=s.optimizer,
        attn_implementation=attn,
        seed=seed,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        eval_steps=eval_steps,
        save_steps=eval_steps,
        logging_steps=logging_steps,
        memory=est,
        alternatives=alternatives,
        distributed=distributed,
        cpu_estimate=cpu_estimate,
        serving=serving,
        tokens=st,
        overrides=ov,
        reasons=reasons if fits else [refusal or "does not fit"] + reasons,
        warnings=warnings,
    )
    return plan


def _duration(secs: float) -> str:
    if secs < 90:
        return f"{secs:.0f} s"
    if secs < 5400:
        return f"{secs / 60:.0f} min"
    return f"{secs / 3600:.1f} h"


def _cpu_tokens_per_s(facts: ModelFacts, hw: HardwareFacts) -> float:
    cores = max(1, hw.cpu.logical_cores)
    return CPU_MEASURED_TOKENS_PER_S * (CPU_MEASURED_PARAMS / facts.param_count) * (cores / CPU_MEASURED_CORES)


def _refusal(req: PlanRequest, smallest: MemoryEstimate, methods: list[Method], strategies: list[Strategy],
             available: int) -> str:
    """Why nothing fits, and what would."""
    facts, hw, ov = req.model, req.hardware, req.overrides
    s = smallest.settings
    where = _gpu_words(hw) if hw.gpus else f"this machine's RAM ({gib(available)} available)"
    head = (f"{facts.describe()} does not fit on {where}: even {method_words(s.method, s.precision)} with "
            f"micro-batch {s.micro_batch}, {s.max_length} tokens and gradient checkpointing "
            f"{'on' if s.gradient_checkpointing else 'off'} needs about {gib(smallest.total_bytes)} per device, "
            f"more than {gib(smallest.budget_bytes)} usable ({int(req.headroom * 100)}% of {gib(available)})")
    options: list[str] = []
    if ov.model_dump(exclude_none=True) or req.method != "auto":
        free_req = req.model_copy(update={"overrides": PlanOverrides(), "method": "auto"})
        alt = plan_training(free_req)
        if alt.fits:
            options.append(
                f"without your settings ({ov.described() or 'method ' + req.method}) the planner would use "
                f"{method_words(alt.method, alt.precision)}, micro-batch {alt.micro_batch_size}, {alt.max_length} "
                f"tokens, needing {gib(alt.memory.total_bytes)}")
    if hw.gpus:
        # a smaller model with QLoRA on this GPU
        fit_b = _largest_fitting_params(smallest.settings.model_copy(update={
            "method": "qlora", "weight_format": "nf4", "optimizer": "paged_adamw_8bit", "strategy": "single",
            "num_gpus": 1, "gradient_checkpointing": True, "micro_batch": 1}), available, req.headroom)
        if fit_b:
            options.append(f"a model of up to about {human_params(fit_b)} parameters with QLoRA 4-bit on one of these "
                           "GPUs")
        # more GPUs of this kind
        for n in (2, 4, 8, 16):
            if n <= len(hw.gpus):
                continue
            sh = smallest.settings.model_copy(update={
                "method": "qlora", "weight_format": "nf4", "optimizer": "adamw_torch", "strategy": "fsdp",
                "num_gpus": n, "gradient_checkpointing": True, "micro_batch": 1})
            if estimate_memory(facts, sh, available, req.headroom).fits:
                options.append(f"{n} GPUs like this one with FSDP + QLoRA")
                break
        # shorter sequences
        if s.max_length > 256:
            short = estimate_memory(facts, s.model_copy(update={"max_length": 256, "micro_batch": 1,
                                                                "gradient_checkpointing": True}),
                                    available, req.headroom)
            if short.fits:
                options.append(f"shorter sequences: 256 tokens would need {gib(short.total_bytes)}")
    else:
        options.append("a smaller model, or a GPU machine (plan it with --hardware FILE.json)")
    tail = "; ".join(options) if options else "a machine with more memory"
    return f"{head}. What would fit: {tail}"


def _largest_fitting_params(s: MemorySettings, available: int, headroom: float) -> int | None:
    from tools.model_facts import facts_from_params

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


# --- several GPUs -------------------------------------------------------------------------------------

ACCELERATE_CONFIG_NAME = "accelerate_config.yaml"
DEEPSPEED_CONFIG_NAME = "deepspeed_config.json"


def relocate_plan(plan: TrainingPlan, out_dir: str, *, data_dir: str | None = None,
                  run_dir: str | None = None) -> TrainingPlan:
    """The plan with its launch command and config texts pointing at files written in ``out_dir``."""
    dist = distributed_files(plan.distributed, plan.precision, config_dir=out_dir,
                             plan_path=_join(out_dir, "plan.json"), data_dir=data_dir, run_dir=run_dir or out_dir)
    return plan.model_copy(update={"distributed": dist})


def _launch(strategy: Strategy, n: int, config_dir: str, plan_path: str, data_dir: str | None,
            run_dir: str | None) -> str:
    train = ["tunepilot", "train", "--plan", plan_path, "--data", data_dir or "DATA_DIR", "--run",
             run_dir or "RUN_DIR"]
    if strategy in ("single", "cpu"):
        return shlex.join(train)
    cfg = _join(config_dir, ACCELERATE_CONFIG_NAME)
    return shlex.join(["accelerate", "launch", "--config_file", cfg, "--num_processes", str(n), "-m", "tools.cli",
                       *train[1:]])


def _distributed(strategy: Strategy, n_gpus: int, precision: Precision, method: Method,
                 req: PlanRequest) -> DistributedPlan:
    reasons: list[str] = []
    if strategy == "cpu":
        reasons.append("one process on the CPU")
    elif strategy == "single":
        reasons.append("one GPU, one process")
    elif strategy == "ddp":
        reasons.append(f"{n_gpus} GPUs with DDP: the model fits on one GPU, so each holds a copy and they split the "
                       "batches (fastest when it fits)")
    elif strategy == "fsdp":
        reasons.append(f"{n_gpus} GPUs with FSDP (full shard): the model does not fit on one GPU, so its weights are "
                       "sharded across them" + (" (FSDP + QLoRA needs bnb_4bit_quant_storage = the compute dtype)"
                                                if method == "qlora" else ""))
    else:
        stage = 3 if strategy == "zero3" else 2
        reasons.append(f"{n_gpus} GPUs with DeepSpeed ZeRO-{stage}"
                       + (": weights, gradients and optimizer sharded (QLoRA works with ZeRO-3 when "
                          "bnb_4bit_quant_storage = the compute dtype)" if stage == 3 else
                          ": gradients and optimizer sharded; the frozen weights are not, so it saves little with LoRA"))
        if not req.hardware.versions.get("deepspeed"):
            reasons.append("DeepSpeed must be installed on the training machine (pip install deepspeed)")
    return distributed_files(
        DistributedPlan(strategy=strategy, num_processes=n_gpus if strategy not in ("cpu", "single") else 1,
                        launch_command="", reasons=reasons),
        precision, data_dir=req.data_dir, run_dir=req.run_dir,
    )


def distributed_files(
    dist: DistributedPlan,
    precision: Precision,
    *,
    config_dir: str = ".",
    plan_path: str = "plan.json",
    data_dir: str | None = None,
    run_dir: str | None = None,
) -> DistributedPlan:
    """Fill in the launch command and the accelerate / DeepSpeed config texts for these paths."""
    strategy, n = dist.strategy, dist.num_processes
    cmd = _launch(strategy, n, config_dir, plan_path, data_dir, run_dir)
    if strategy in ("single", "cpu"):
        return dist.model_copy(update={"launch_command": cmd, "accelerate_config": None, "deepspeed_config": None})
    import yaml

    cfg: dict[str, object] = {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        "machine_rank": 0,
        "main_training_function": "main",
        "mixed_precision": "no" if precision == "fp32" else precision,
        "num_machines": 1,
        "num_processes": n,
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": False,
    }
    ds_text = None
    if strategy == "ddp":
        cfg["distributed_type"] = "MULTI_GPU"
        cfg["gpu_ids"] = "all"
    elif strategy == "fsdp":
        cfg["distributed_type"] = "FSDP"
        cfg["fsdp_config"] = {
            "fsdp_version": 1,
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "fsdp_backward_prefetch": "BACKWARD_PRE",
            "fsdp_cpu_ram_efficient_loading": True,
            "fsdp_forward_prefetch": False,
            "fsdp_offload_params": False,
            "fsdp_sharding_strategy": "FULL_SHARD",
            "fsdp_state_dict_type": "SHARDED_STATE_DICT",
            "fsdp_sync_module_states": True,
            "fsdp_use_orig_params": False,
        }
    else:
        stage = 3 if strategy == "zero3" else 2
        zero: dict[str, object] = {
            "stage": stage,
            "overlap_comm": True,
            "contiguous_gradients": True,
            "reduce_bucket_size": "auto",
            "offload_optimizer": {"device": "none"},
            "offload_param": {"device": "none"},
        }
        if stage == 3:
            zero.update({"stage3_prefetch_bucket_size": "auto", "stage3_param_persistence_threshold": "auto",
                         "stage3_gather_16bit_weights_on_model_save": True})
        ds = {
            "bf16": {"enabled": "auto"},
            "fp16": {"enabled": "auto"},
            "zero_optimization": zero,
            "gradient_accumulation_steps": "auto",
            "gradient_clipping": "auto",
            "train_batch_size": "auto",
            "train_micro_batch_size_per_gpu": "auto",
        }
        ds_text = json.dumps(ds, indent=2) + "\n"
        cfg["distributed_type"] = "DEEPSPEED"
        cfg["deepspeed_config"] = {"deepspeed_config_file": _join(config_dir, DEEPSPEED_CONFIG_NAME),
                                   "zero3_init_flag": stage == 3}
    header = f"# {cmd}\n# written by `tunepilot plan`: {_STRATEGY_WORDS[strategy]}\n"
    return dist.model_copy(update={"launch_command": cmd,
                                   "accelerate_config": header + yaml.safe_dump(cfg, sort_keys=True),
                                   "deepspeed_config": ds_text})


def _join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder.rstrip('/')}/{name}"


# --- serving ---------------------------------------------------------------------------------------------


def _serving(facts: ModelFacts, hw: HardwareFacts, r: int, max_length: int, precision: Precision) -> ServingPlan:
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


# --- overrides in words ---------------------------------------------------------------------------------

_NUM = r"(\d+(?:\.\d+)?(?:e-?\d+)?)"


def parse_overrides(text: str) -> PlanOverrides:
    """'r=32, batch 2, max length 1024, use LoRA' → :class:`PlanOverrides` (unknown words are ignored)."""
    import re

    t = text.lower()
    found: dict[str, object] = {}
    m = re.search(r"\beffective[ _-]?batch(?:[ _-]?size)?\s*[=:]?\s*(\d+)", t)
    if m:
        found["effective_batch"] = int(m.group(1))
        t = t[: m.start()] + t[m.end():]
    pats: list[tuple[str, str, type]] = [
        (r"\b(?:r|rank|lora[ _-]?r|lora rank)\s*[=:]?\s*(\d+)", "rank", int),
        (r"\balpha\s*[=:]?\s*(\d+)", "alpha", int),
        (r"\b(?:micro[ _-]?batch(?:[ _-]?size)?|batch(?:[ _-]?size)?|bs)\s*[=:]?\s*(\d+)", "micro_batch", int),
        (r"\b(?:max(?:imum)?[ _-]?(?:seq(?:uence)?[ _-]?)?len(?:gth)?|seq(?:uence)?[ _-]?len(?:gth)?|cutoff[ _-]?len)"
         r"\s*[=:]?\s*(\d+)", "max_length", int),
        (r"\b(?:epochs?|num[ _-]?epochs)\s*[=:]?\s*(\d+)", "epochs", int),
        (r"\b(\d+)\s*epochs?\b", "epochs", int),
        (r"\b(?:lr|learning[ _-]?rate)\s*[=:]?\s*" + _NUM, "learning_rate", float),
        (r"\bseed\s*[=:]?\s*(\d+)", "seed", int),
    ]
    for pat, key, typ in pats:
        m = re.search(pat, t)
        if m and key not in found:
            found[key] = typ(float(m.group(1))) if typ is int else typ(m.group(1))
    if re.search(r"\bq-?lora\b|\b4[ -]?bit\b|\bnf4\b", t):
        found["method"] = "qlora"
    elif re.search(r"\blora\b|\b16[ -]?bit\b", t):
        found["method"] = "lora"
    if re.search(r"\bno (?:gradient )?checkpointing\b|checkpointing off", t):
        found["gradient_checkpointing"] = False
    elif re.search(r"\b(?:gradient )?checkpointing(?: on)?\b", t):
        found["gradient_checkpointing"] = True
    if re.search(r"\bno packing\b|packing off", t):
        found["packing"] = False
    elif re.search(r"\bpacking\b|\bpack\b", t):
        found["packing"] = True
    if re.search(r"\bzero-?3\b|\bdeepspeed\b", t):
        found["strategy"] = "zero3"
    elif re.search(r"\bzero-?2\b", t):
        found["strategy"] = "zero2"
    elif re.search(r"\bfsdp\b", t):
        found["strategy"] = "fsdp"
    elif re.search(r"\bddp\b", t):
        found["strategy"] = "ddp"
    try:
        return PlanOverrides.model_validate(found)
    except Exception as exc:
        raise InputError(f"cannot use these settings ({str(exc).splitlines()[0]})", where=text,
                         hint="Write them like: r=32, batch 2, max length 1024, use LoRA") from exc
