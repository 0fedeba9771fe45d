"""Pick LoRA or QLoRA settings that fit a machine, with the reasons in words.

``plan_training(PlanRequest) -> TrainingPlan`` is a pure function of the model's
facts (:mod:`tools.plan.model_facts`), the machine's facts (:mod:`tools.plan.hardware`),
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
import re
import shlex
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.core.errors import InputError, ResourceError
from tools.core.messages import is_zh
from tools.plan.hardware import HardwareFacts
from tools.plan.model_facts import ModelFacts, human_params

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
# knowledge tasks on small datasets (bench/knowledge.py measured these on the demo model)
KNOWLEDGE_MAX_QUESTIONS = 2000  # rewordings and many epochs pay off up to about this many questions
KNOWLEDGE_PARAPHRASES = 4
KNOWLEDGE_MAX_EPOCHS = 8
KNOWLEDGE_LR_SMALL = 1e-3  # under 1B parameters
KNOWLEDGE_LR = 5e-4  # 1B-3B
KNOWLEDGE_TARGET = 1.0
KNOWLEDGE_BATCH = 8
KNOWLEDGE_RANK = 64  # bench: r=64 learnt a 24-entry Chinese FAQ faster and further than r=16
KNOWLEDGE_MIN_EPOCHS = 3  # the check's wordings are easier than a person's (bench/knowledge.py)
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


# --- words in two languages ----------------------------------------------------


def in_language(en: list[str], zh: list[str] | None, lang: str | None) -> list[str]:
    """``zh`` for a Chinese reader when it has one sentence per English one, else ``en``.

    Plans written before the Chinese fields existed have none, and read in English.
    """
    return list(zh) if is_zh(lang) and zh and len(zh) == len(en) else list(en)


class _Said:
    """Sentences in English and Chinese kept in step: ``zh[i]`` says what ``en[i]`` says."""

    def __init__(self) -> None:
        self.en: list[str] = []
        self.zh: list[str] = []

    def add(self, en: str, zh: str) -> None:
        self.en.append(en)
        self.zh.append(zh)

    def insert(self, i: int, en: str, zh: str) -> None:
        self.en.insert(i, en)
        self.zh.insert(i, zh)

    def extend(self, en: list[str], zh: list[str]) -> None:
        if len(en) != len(zh):
            raise ValueError(f"{len(en)} English and {len(zh)} Chinese sentences")
        self.en.extend(en)
        self.zh.extend(zh)


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

    def described(self, lang: str = "en") -> str:
        if is_zh(lang):
            words = {
                "method": "方法", "rank": "r", "alpha": "alpha", "lora_dropout": "LoRA dropout",
                "micro_batch": "微批大小", "effective_batch": "有效批大小", "max_length": "最大长度",
                "epochs": "轮数", "learning_rate": "学习率", "gradient_checkpointing": "梯度检查点",
                "packing": "样本打包", "strategy": "策略", "seed": "随机种子",
            }
            on_off = {True: "开启", False: "关闭"}
            return "、".join(f"{words[k]}{on_off[v]}" if isinstance(v, bool) else f"{words[k]} {v}"
                            for k, v in self.model_dump(exclude_none=True).items())
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
    task: Literal["auto", "knowledge", "style"] = Field(
        default="auto", description="knowledge: answers carry facts to learn; style: a way of answering")
    fact_share: float | None = Field(default=None, ge=0, le=1,
                                     description="share of training answers with key facts (numbers, names, codes)")
    system_prompt: str | None = Field(default=None, description="the run's system prompt (from the goal's style)")
    style: list[str] = Field(default_factory=list, description="style phrases of the goal ('concise', 'at most 50 words')")

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
    note_zh: str | None = Field(default=None, description="the note in Chinese (absent in older plans)")

    def note_in(self, lang: str) -> str:
        return self.note_zh if is_zh(lang) and self.note_zh else self.note

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


def method_words(method: str, precision: str, lang: str = "en") -> str:
    if is_zh(lang):
        if method == "qlora":
            return f"QLoRA 4 位（NF4，{precision} 计算）"
        return f"LoRA {'32' if precision == 'fp32' else '16'} 位（{precision}）"
    if method == "qlora":
        return f"QLoRA 4-bit (NF4, {precision} compute)"
    return f"LoRA {'32-bit' if precision == 'fp32' else '16-bit'} ({precision})"


def describe_model(facts: ModelFacts, lang: str = "en") -> str:
    """``facts.describe()`` in the reader's language: name, size and architecture."""
    if is_zh(lang):
        return f"{facts.name}（{human_params(facts.param_count)} 参数，{facts.architecture}）"
    return facts.describe()


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


def _item(name: str, n_bytes: int, note: str, note_zh: str) -> MemoryItem:
    return MemoryItem(name=name, bytes=n_bytes, note=note, note_zh=note_zh)


def _weights_item(facts: ModelFacts, s: MemorySettings) -> MemoryItem:
    """The frozen base weights on one device, in their format, sharded when the strategy shards them."""
    a, n = _DTYPE_BYTES[s.precision], max(1, s.num_gpus)
    w = weight_bytes(facts, s.weight_format, rest_bytes=a, double_quant=s.double_quant)
    fmt_words = {
        "fp32": "fp32",
        "16bit": f"{s.precision} (2 bytes each)",
        "8bit": "8-bit (LLM.int8)",
        "nf4": "NF4 4-bit" + (" with double quantisation" if s.double_quant else "") + ", embeddings in 16-bit",
    }[s.weight_format]
    fmt_zh = {
        "fp32": "fp32",
        "16bit": f"{s.precision}（每个 2 字节）",
        "8bit": "8 位（LLM.int8）",
        "nf4": "NF4 4 位" + ("，双重量化" if s.double_quant else "") + "，嵌入层保持 16 位",
    }[s.weight_format]
    size = human_params(facts.param_count)
    root = facts.embedding_params + facts.lm_head_params + facts.hidden_size
    if s.strategy == "fsdp":
        root_b = root * a
        w_note = f"{size} base weights, {fmt_words}, sharded over {n} GPUs " \
                 f"(embeddings/output layer kept whole: {gib(root_b)})"
        w_zh = f"{size} 参数的基座权重，{fmt_zh}，切分到 {n} 块 GPU（嵌入层/输出层保持完整：{gib(root_b)}）"
        w = (w - root_b) // n + root_b
    elif s.strategy == "zero3":
        w_note = f"{size} base weights, {fmt_words}, sharded over {n} GPUs"
        w_zh = f"{size} 参数的基座权重，{fmt_zh}，切分到 {n} 块 GPU"
        w = w // n
    else:
        w_note = f"{size} base weights, {fmt_words}"
        w_zh = f"{size} 参数的基座权重，{fmt_zh}"
    return _item("weights", w, w_note, w_zh)


def _trainable_items(facts: ModelFacts, s: MemorySettings) -> list[MemoryItem]:
    """The LoRA weights, their gradients and the optimizer's states."""
    n = max(1, s.num_gpus)
    lora_n = facts.lora_param_count(s.lora_r, s.lora_targets)
    shard = n if s.strategy in ("fsdp", "zero3") else 1
    gshard = n if s.strategy in ("fsdp", "zero2", "zero3") else 1
    opt_per = 2 if s.optimizer == "paged_adamw_8bit" else 8
    if opt_per == 2:
        opt_note, opt_zh = "paged 8-bit AdamW states (2 bytes per parameter)", "分页 8 位 AdamW 状态（每个参数 2 字节）"
    else:
        opt_note, opt_zh = ("AdamW states, two fp32 moments (8 bytes per parameter)",
                            "AdamW 状态，两个 fp32 动量（每个参数 8 字节）")
    return [
        _item("lora_params", 4 * lora_n // shard, f"{lora_n / 1e6:.1f}M trainable LoRA parameters (r={s.lora_r}) "
              "in fp32", f"{lora_n / 1e6:.1f}M 个可训练的 LoRA 参数（r={s.lora_r}），fp32"),
        _item("gradients", 4 * lora_n // gshard, "fp32 gradients of the LoRA weights", "LoRA 权重的 fp32 梯度"),
        _item("optimizer", opt_per * lora_n // gshard, opt_note + (f", sharded over {n} GPUs" if gshard > 1 else ""),
              opt_zh + (f"，切分到 {n} 块 GPU" if gshard > 1 else "")),
    ]


def _activation_items(facts: ModelFacts, s: MemorySettings) -> list[MemoryItem]:
    """What one micro-batch needs while it passes: activations, logits, and the dequantised or gathered layers."""
    a, tokens = _DTYPE_BYTES[s.precision], s.micro_batch * s.max_length
    kept, full = activation_bytes_per_token(facts, s)
    L = facts.num_layers
    final = 4 * facts.hidden_size + 2 * a * facts.hidden_size
    if s.gradient_checkpointing:
        out = [_item("activations", tokens * (L * kept + 2 * full + final),
                     f"{tokens} tokens × ({L} layer inputs + 2 layers recomputed), gradient checkpointing on",
                     f"{tokens} 个 token ×（{L} 层的输入 + 2 层重算），梯度检查点开启")]
    else:
        out = [_item("activations", tokens * (L * full + full + final),
                     f"{tokens} tokens × {L} layers × {full / 1024:.0f} KiB per token, gradient checkpointing off",
                     f"{tokens} 个 token × {L} 层 × 每个 token {full / 1024:.0f} KiB，梯度检查点关闭")]
    out.append(_item("logits", tokens * facts.vocab_size * (a + 8),
                     f"vocabulary {facts.vocab_size} × {s.max_length} tokens × batch {s.micro_batch}, "
                     f"{a}-byte logits + fp32 copy + fp32 log-softmax",
                     f"词表 {facts.vocab_size} × {s.max_length} 个 token × 批大小 {s.micro_batch}，"
                     f"{a} 字节的 logits + fp32 副本 + fp32 log-softmax"))
    if s.weight_format in ("nf4", "8bit"):
        out.append(_item("dequant_buffer", facts.largest_linear() * a, "one projection dequantised to 16-bit at a time",
                         "每次把一个投影层反量化为 16 位"))
    if s.strategy in ("fsdp", "zero3"):
        root = facts.embedding_params + facts.lm_head_params + facts.hidden_size
        layer_w = weight_bytes(facts, s.weight_format, rest_bytes=a, double_quant=s.double_quant) - root * a
        per_layer = max(0, layer_w) // max(1, L)
        gathered = 2 * per_layer + (facts.embedding_params * a if s.strategy == "zero3" else 0)
        out.append(_item("gathered_params", gathered, "two layers gathered whole at a time (current + prefetched)",
                         "每次聚合两层的完整权重（当前层 + 预取层）"))
    return out


def _overhead_items(facts: ModelFacts, s: MemorySettings, dynamic: int) -> list[MemoryItem]:
    """Communication buffers, allocator fragmentation and the runtime itself."""
    n = max(1, s.num_gpus)
    out = []
    if s.device == "cuda" and n > 1:
        ddp = s.strategy == "ddp"
        comm = NCCL_BYTES + (4 * facts.lora_param_count(s.lora_r, s.lora_targets) if ddp else 0)
        out.append(_item("communication", comm, "NCCL buffers" + (" + DDP gradient bucket" if ddp else ""),
                         "NCCL 缓冲区" + (" + DDP 梯度桶" if ddp else "")))
        dynamic += comm
    if s.device == "cuda":
        out += [_item("allocator", int(FRAGMENTATION * dynamic), "PyTorch caching-allocator fragmentation (5%)",
                      "PyTorch 缓存分配器的碎片（5%）"),
                _item("cuda_context", CUDA_CONTEXT_BYTES, "CUDA context, cuBLAS workspace and kernels",
                      "CUDA 上下文、cuBLAS 工作区和内核")]
    else:
        out += [_item("allocator", int(FRAGMENTATION * dynamic), "malloc fragmentation (5%)", "malloc 碎片（5%）"),
                _item("runtime", CPU_RUNTIME_BYTES, "Python, torch, transformers, tokenizer and data in RAM",
                      "内存中的 Python、torch、transformers、分词器和数据")]
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
    reasons_zh: list[str] = Field(default_factory=list, description="the reasons in Chinese, one per reason")


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
    model: str = Field(description="name to pass to tools.core.models.resolve_model: 'demo', a folder, or a hub id")
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
    task: Literal["knowledge", "style"] = "style"
    system_prompt: str | None = None
    style: list[str] = Field(default_factory=list)
    paraphrases: int = Field(default=0, description="rewordings of each question added in training")
    learning_check: bool = Field(default=False, description="ask trained questions in other words while training")
    check_target: float = 0.9
    check_min_epochs: float = Field(default=0, description="the learning check stops nothing before this")
    reasons: list[str] = Field(description="every decision, in words")
    warnings: list[str] = Field(default_factory=list)
    # Chinese of the same sentences, one per English one; plans written before these fields read in English
    reasons_zh: list[str] = Field(default_factory=list, description="the reasons in Chinese, in the same order")
    warnings_zh: list[str] = Field(default_factory=list, description="the warnings in Chinese, in the same order")
    refusal_zh: str | None = None

    def reasons_in(self, lang: str) -> list[str]:
        return in_language(self.reasons, self.reasons_zh, lang)

    def warnings_in(self, lang: str) -> list[str]:
        return in_language(self.warnings, self.warnings_zh, lang)

    def refusal_in(self, lang: str) -> str | None:
        return self.refusal_zh if is_zh(lang) and self.refusal_zh else self.refusal

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


def _gpu_words(hw: HardwareFacts, lang: str = "en") -> str:
    g = min(hw.gpus, key=lambda x: x.free_memory_bytes)
    names = {x.name for x in hw.gpus}
    count = f"{len(hw.gpus)} × " if len(hw.gpus) > 1 else ""
    if is_zh(lang):
        return f"{count}{' / '.join(sorted(names))}（{'每块' if count else ''}空闲 {gib(g.free_memory_bytes)}）"
    return f"{count}{' / '.join(sorted(names))} ({gib(g.free_memory_bytes)} free{' each' if count else ''})"


# --- choosing -------------------------------------------------------------------------------


def _length_ladder(req: PlanRequest) -> list[tuple[int, str, str]]:
    """Max-length candidates, best first, each with its reason in English and Chinese."""
    facts, ov, st = req.model, req.overrides, req.tokens
    cap = facts.max_position_embeddings
    if ov.max_length:
        if ov.max_length > cap:
            raise InputError(
                f"max length {ov.max_length} is longer than the model's {cap} positions",
                where="max_length",
                hint=f"Ask for {cap} tokens or fewer",
            )
        return [(ov.max_length, f"max length {ov.max_length}: your setting", f"最大长度 {ov.max_length}：你的设置")]
    if st is not None and not st.empty:
        ladder: list[tuple[int, str, str]] = []
        for key, share, share_zh in (("p99", "99%", " 99% 的"), ("p95", "95%", " 95% 的"), ("max", "all", "全部"),
                                     ("p50", "half", "一半")):
            v = getattr(st, key)
            if v is None or (key == "max" and ladder):
                continue
            n = min(round_up(v), cap)
            over = round_up(v) > cap
            capped = " (capped by the model's positions)" if over else ""
            if n not in [x for x, _, _ in ladder]:
                ladder.append((n, f"max length {n}: covers {share} of your examples ({key} = {v} tokens), "
                                  f"rounded up to a multiple of 64{capped}",
                               f"最大长度 {n}：覆盖{share_zh}样本（{key} = {v} 个 token），向上取整到 64 的倍数"
                               + ("（受模型位置数限制）" if over else "")))
        return ladder
    first = min(DEFAULT_MAX_LENGTH, cap)
    ladder = [(first, f"max length {first}: no dataset statistics given, a common length for chat examples",
               f"最大长度 {first}：没有数据集统计，采用对话样本的常见长度")]
    for n in (512, 256):
        if n < first:
            ladder.append((n, f"max length {n}: no dataset statistics given and {first} tokens would not fit",
                           f"最大长度 {n}：没有数据集统计，而且 {first} 个 token 放不下"))
    return ladder


def _batch_ladder(max_mb: int, fixed: int | None) -> list[int]:
    if fixed:
        return [fixed]
    out, b = [], _pow2_down(max_mb)
    while b >= 1:
        out.append(b)
        b //= 2
    return out


class _Facts:
    """What every decision of one plan reads, and the reasons and warnings they add (English and Chinese)."""

    def __init__(self, req: PlanRequest) -> None:
        self.req, self.facts, self.hw, self.ov, self.st = req, req.model, req.hardware, req.overrides, req.tokens
        self.reasons, self.warnings = _Said(), _Said()
        self.warnings.extend(self.facts.notes_in("en"), self.facts.notes_in("zh"))
        self.want: Method | None = self.ov.method or (None if req.method == "auto" else req.method)
        self.device: Literal["cuda", "cpu"] = "cuda" if self.hw.gpus else "cpu"
        self.n_gpus = len(self.hw.gpus)
        self.procs = self.n_gpus if self.device == "cuda" else 1
        self.count = self.st.count if self.st else None
        self.small_knowledge = (_task(req)[0] == "knowledge" and self.count is not None
                                and self.count <= KNOWLEDGE_MAX_QUESTIONS)


def _quantised_warning(c: _Facts) -> None:
    if c.facts.quantized:
        c.warnings.add(f"{c.facts.name} is already quantised ({c.facts.quantized}); train from the 16-bit original "
                       "so the adapter can be merged into 16-bit weights",
                       f"{c.facts.name} 已经量化（{c.facts.quantized}）；请从 16 位原始模型训练，这样适配器才能合并进 16 位权重")


def _precision(c: _Facts) -> tuple[Precision, int]:
    """The training precision, and the memory it has to fit in (the smallest GPU's free memory, or RAM)."""
    hw = c.hw
    if c.device == "cuda":
        cc = min(g.compute_capability for g in hw.gpus)
        if all(g.bf16 for g in hw.gpus):
            c.reasons.add(f"precision bf16: compute capability {cc[0]}.{cc[1]} supports bfloat16",
                          f"精度 bf16：算力 {cc[0]}.{cc[1]} 支持 bfloat16")
            return "bf16", min(g.free_memory_bytes for g in hw.gpus)
        c.reasons.add(f"precision fp16: compute capability {cc[0]}.{cc[1]} is older than Ampere (8.0), "
                      "so no bfloat16; fp16 with loss scaling",
                      f"精度 fp16：算力 {cc[0]}.{cc[1]} 早于 Ampere（8.0），不支持 bfloat16；使用 fp16 并做损失缩放")
        return "fp16", min(g.free_memory_bytes for g in hw.gpus)
    if hw.cpu.bf16:
        flag = "AMX" if hw.cpu.amx else "AVX512-BF16"
        c.reasons.add(f"precision bf16 on CPU: this CPU has {flag} (bf16 autocast measured ~1.2–1.3× faster "
                      "than fp32 on such a CPU)",
                      f"CPU 上用 bf16 精度：这颗 CPU 支持 {flag}（实测在这类 CPU 上 bf16 自动混合精度比 fp32 快约 "
                      "1.2–1.3 倍）")
        return "bf16", hw.cpu.ram_available_bytes
    c.reasons.add("precision fp32 on CPU: no AVX512-BF16 or AMX, so bfloat16 would be emulated and slow",
                  "CPU 上用 fp32 精度：没有 AVX512-BF16 或 AMX，bfloat16 只能模拟，速度很慢")
    return "fp32", hw.cpu.ram_available_bytes


def _rank(c: _Facts) -> int:
    count, ov = c.count, c.ov
    r = ov.rank or (KNOWLEDGE_RANK if c.small_knowledge else 32 if count and count >= 20000 else DEFAULT_RANK)
    if ov.rank:
        c.reasons.add(f"LoRA rank {r}: your setting", f"LoRA 秩 {r}：你的设置")
    elif c.small_knowledge:
        c.reasons.add(f"LoRA rank {r}: many separate facts need more adapter capacity than a style (on a Chinese FAQ "
                      "asked in other words, r=16 knew 27% after 2 epochs and 56% at best; r=64 52% and 67%)",
                      f"LoRA 秩 {r}：要记住许多彼此独立的事实，适配器容量要比学风格时大（实测中文 FAQ 换个问法提问："
                      "r=16 两轮后答对 27%，最好 56%；r=64 分别是 52% 和 67%）")
    elif r == 32:
        c.reasons.add(f"LoRA rank 32: {count} examples is a large dataset, so a little more adapter capacity",
                      f"LoRA 秩 32：{count} 条样本算是大数据集，适配器容量稍大一些")
    else:
        c.reasons.add("LoRA rank 16: enough capacity for a task/style adaptation on up to ~20k examples",
                      "LoRA 秩 16：足以在约 20k 条以内的样本上学会任务或风格")
    return r


def _alpha(c: _Facts, r: int) -> int:
    alpha = c.ov.alpha or 2 * r
    if c.ov.alpha:
        c.reasons.add(f"LoRA alpha {alpha}: your setting", f"LoRA alpha {alpha}：你的设置")
    else:
        c.reasons.add(f"LoRA alpha {alpha}: alpha = 2 × r keeps the update scale steady when r changes",
                      f"LoRA alpha {alpha}：alpha = 2 × r，改变 r 时更新幅度保持稳定")
    return alpha


def _targets(c: _Facts) -> list[str]:
    targets = list(c.facts.lora_target_modules)
    names = ", ".join(targets)
    if targets == ["all-linear"]:
        c.reasons.add("LoRA targets 'all-linear': the planner does not know this architecture's module names, "
                      "PEFT finds every linear layer",
                      "LoRA 目标模块 'all-linear'：规划器不认识这种架构的模块名，由 PEFT 找出所有线性层")
    elif not c.facts.dense:
        c.reasons.add(f"LoRA targets {names}: the attention projections (MoE experts are fused parameters, not "
                      "linear layers)",
                      f"LoRA 目标模块 {names}：注意力投影层（MoE 专家是融合参数，不是线性层）")
    else:
        c.reasons.add(f"LoRA targets {names}: every linear projection of the layer, which trains better than "
                      "attention-only (QLoRA paper)",
                      f"LoRA 目标模块 {names}：层内的全部线性投影，训练效果好于只训练注意力层（QLoRA 论文）")
    return targets


def _dropout(c: _Facts) -> float:
    if c.ov.lora_dropout is not None:
        c.reasons.add(f"LoRA dropout {c.ov.lora_dropout}: your setting", f"LoRA dropout {c.ov.lora_dropout}：你的设置")
        return c.ov.lora_dropout
    if c.device == "cpu":
        c.reasons.add("LoRA dropout 0: on CPU dropout copies every adapter input, a measured cost; small data is "
                      "guarded by few epochs and eval loss instead",
                      "LoRA dropout 0：在 CPU 上 dropout 要复制每个适配器的输入，实测开销明显；小数据集改用较少的轮数"
                      "和评估 loss 防止过拟合")
        return 0.0
    c.reasons.add("LoRA dropout 0.05: light regularisation, the usual value for 7B–13B models",
                  "LoRA dropout 0.05：轻度正则化，7B–13B 模型的常用值")
    return 0.05


def _effective_batch(c: _Facts) -> tuple[int, int]:
    """The effective batch, and the largest micro-batch worth trying."""
    count = c.count
    if c.ov.effective_batch:
        eff = c.ov.effective_batch
        c.reasons.add(f"effective batch {eff}: your setting", f"有效批大小 {eff}：你的设置")
    elif c.small_knowledge:
        eff = KNOWLEDGE_BATCH
        c.reasons.add(f"effective batch {eff}: facts with their rewordings, measured best on a small FAQ "
                      "(bench/knowledge.py)",
                      f"有效批大小 {eff}：事实连同各种问法一起学，在小型 FAQ 上实测最好（bench/knowledge.py）")
    elif count is not None and count < DEFAULT_EFFECTIVE_BATCH * 8:
        eff = max(2, min(DEFAULT_EFFECTIVE_BATCH, _pow2_down(max(1, count // 8))))
        c.reasons.add(f"effective batch {eff}: only {count} examples, so a smaller batch gives at least ~8 "
                      "optimizer steps per epoch",
                      f"有效批大小 {eff}：只有 {count} 条样本，批小一些，每轮至少约有 8 个优化步")
    else:
        eff = DEFAULT_EFFECTIVE_BATCH
        c.reasons.add(f"effective batch {eff}: a stable default for LoRA fine-tuning",
                      f"有效批大小 {eff}：LoRA 微调稳妥的默认值")
    eff = max(eff, c.procs)
    max_mb = max(1, eff // c.procs)
    if c.device == "cpu":
        max_mb = min(max_mb, 4)
    if count:
        max_mb = min(max_mb, max(1, count))
    return eff, max_mb


def _cpu_refusal(c: _Facts) -> tuple[str, str] | None:
    """Why this model is too large to train on this CPU, or None."""
    facts, hw = c.facts, c.hw
    if c.device != "cpu" or facts.param_count <= CPU_MAX_PARAMS:
        return None
    tps = _cpu_tokens_per_s(facts, hw)
    hours = f"{1000 * 200 / tps / 3600:.0f}"
    return (
        f"{facts.describe()} is too large to fine-tune on this CPU: CPU training is for models up to "
        f"{human_params(CPU_MAX_PARAMS)} parameters (about {tps:.1f} tokens/s here for this size, so even 1,000 "
        f"short examples would take ~{hours} hours per epoch). What would fit: a small "
        "model such as SmolLM2-135M/360M-Instruct or Qwen2.5-0.5B/1.5B-Instruct here, or this model on a GPU "
        "machine (plan it with --hardware)",
        f"{describe_model(facts, 'zh')} 太大，无法在这台机器的 CPU 上微调：CPU 训练只适合不超过 "
        f"{human_params(CPU_MAX_PARAMS)} 参数的模型（这种规模在这里约 {tps:.1f} tokens/s，即使 1,000 条短样本，"
        f"每轮也要约 {hours} 小时）。可行的办法：在这里换用小模型，如 SmolLM2-135M/360M-Instruct 或 "
        "Qwen2.5-0.5B/1.5B-Instruct；或者在 GPU 机器上训练这个模型（用 --hardware 规划）",
    )


def _methods(c: _Facts) -> list[Method]:
    methods: list[Method] = [c.want] if c.want else ["lora", "qlora"]
    if c.device == "cpu" and not c.want and _pkg_missing(c.hw, "bitsandbytes"):
        methods = ["lora"]
    if c.device == "cuda" and "qlora" in methods and _pkg_missing(c.hw, "bitsandbytes"):
        c.warnings.add("bitsandbytes is not installed: QLoRA needs it (pip install 'tunepilot[gpu]')",
                       "未安装 bitsandbytes：QLoRA 需要它（pip install 'tunepilot[gpu]'）")
    return methods


def _strategies(c: _Facts) -> list[Strategy]:
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


class _Shape:
    """The memory settings of one candidate: method, strategy, micro-batch, length and checkpointing vary,
    the rest is decided."""

    def __init__(self, c: _Facts, precision: Precision, r: int, targets: list[str], dropout: float) -> None:
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


class _Found(BaseModel):
    chosen: MemoryEstimate | None = None
    length_reason: tuple[str, str] | None = None
    smallest: MemoryEstimate | None = None
    tried_lengths: list[int] = []


def _search(c: _Facts, shape: _Shape, methods: list[Method], strategies: list[Strategy], max_mb: int,
            available: int) -> _Found:
    """The first candidate that fits, longest length first, then method, strategy, checkpointing and the
    largest micro-batch; the smallest candidate seen, for the refusal."""
    found = _Found()
    ov = c.ov
    ckpt_options = [ov.gradient_checkpointing] if ov.gradient_checkpointing is not None else [False, True]
    for length, length_reason, length_reason_zh in _length_ladder(c.req):
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
                            found.chosen, found.length_reason = est, (length_reason, length_reason_zh)
                            return found
    return found


def _method_reasons(c: _Facts, s: MemorySettings, est: MemoryEstimate, found: _Found, available: int,
                    max_mb: int) -> None:
    """Why this method, length and checkpointing (only for a plan that fits)."""
    precision, device, ov = s.precision, c.device, c.ov
    pct, need = int(c.req.headroom * 100), gib(est.total_bytes)
    budget_words = f"{gib(est.budget_bytes)} usable ({pct}% of {gib(available)} " \
                   f"{'free on the smallest GPU' if device == 'cuda' else 'available RAM'})"
    budget_zh = f"可用的 {gib(est.budget_bytes)}（{'最小 GPU 空闲' if device == 'cuda' else '可用内存'} " \
                f"{gib(available)} 的 {pct}%）"
    if s.method == "lora" and not c.want:
        bits = "32" if precision == "fp32" else "16"
        c.reasons.insert(0, f"method LoRA {bits}-bit: needs about {need} per "
                            f"{'GPU' if device == 'cuda' else 'machine'}, within {budget_words}; 16-bit weights "
                            "train faster and a little better than 4-bit",
                         f"方法 LoRA {bits} 位：每{'块 GPU ' if device == 'cuda' else '台机器'}约需 {need}，"
                         f"在{budget_zh}之内；16 位权重比 4 位训练更快，效果也略好")
    elif s.method == "qlora" and not c.want:
        lora_alt = estimate_memory(c.facts, s.model_copy(update={
            "method": "lora", "weight_format": "fp32" if precision == "fp32" else "16bit",
            "optimizer": "adamw_torch"}), available, c.req.headroom)
        c.reasons.insert(0, f"method QLoRA 4-bit: LoRA 16-bit would need about {gib(lora_alt.total_bytes)}, more "
                            f"than {budget_words}; 4-bit NF4 weights need about {need}",
                         f"方法 QLoRA 4 位：LoRA 16 位约需 {gib(lora_alt.total_bytes)}，超过{budget_zh}；"
                         f"4 位 NF4 权重约需 {need}")
    else:
        c.reasons.insert(0, f"method {method_words(s.method, precision)}: your choice; needs about "
                            f"{need} of {budget_words}",
                         f"方法 {method_words(s.method, precision, 'zh')}：你的选择；约需 {need}，{budget_zh}")
    if s.method == "qlora":
        old_gpu = precision == "fp16"
        c.reasons.add(f"QLoRA: NF4 with double quantisation, {precision} compute"
                      + (" (bf16 needs compute capability 8.0)" if old_gpu else ""),
                      f"QLoRA：NF4 双重量化，{precision} 计算" + ("（bf16 需要算力 8.0）" if old_gpu else ""))
    if found.length_reason:
        c.reasons.add(*found.length_reason)
        if len(found.tried_lengths) > 1:
            c.warnings.add(f"max length lowered to {s.max_length} tokens to fit memory; longer examples "
                           "are truncated",
                           f"为了放进内存，最大长度降到 {s.max_length} 个 token；更长的样本会被截断")
    if s.gradient_checkpointing and ov.gradient_checkpointing is None:
        c.reasons.add("gradient checkpointing on: without it the activations would not fit at micro-batch "
                      f"{max(1, min(2, max_mb))}",
                      f"梯度检查点开启：不开的话，微批大小 {max(1, min(2, max_mb))} 的激活值放不下")
    elif s.gradient_checkpointing:
        c.reasons.add("gradient checkpointing on: your setting", "梯度检查点开启：你的设置")
    elif ov.gradient_checkpointing is None:
        c.reasons.add("gradient checkpointing off: activations fit, so no recomputation (~30% faster)",
                      "梯度检查点关闭：激活值放得下，不必重算（约快 30%）")
    else:
        c.reasons.add("gradient checkpointing off: your setting", "梯度检查点关闭：你的设置")


def _accumulation(c: _Facts, mb: int, eff: int) -> tuple[int, int]:
    """Gradient accumulation and the effective batch it gives with this micro-batch."""
    procs, device = c.procs, c.device
    accum = max(1, int(math.ceil(eff / (mb * procs))))
    effective = mb * accum * procs
    c.reasons.add(f"micro-batch {mb} × gradient accumulation {accum} × {procs} "
                  f"{'GPU' if device == 'cuda' else 'process'}{'s' if procs > 1 else ''} = effective batch "
                  f"{effective}" + (": the largest micro-batch that fits" if not c.ov.micro_batch else
                                    " (micro-batch: your setting)"),
                  f"微批大小 {mb} × 梯度累积 {accum} × {procs} {'块 GPU' if device == 'cuda' else '个进程'} = 有效批大小 "
                  f"{effective}" + ("：放得下的最大微批" if not c.ov.micro_batch else "（微批大小：你的设置）"))
    return accum, effective


def _attention(c: _Facts) -> Literal["sdpa", "flash_attention_2", "eager"]:
    hw = c.hw
    if c.device == "cuda" and _flash_attn_installed(hw) and min(g.compute_capability for g in hw.gpus) >= (8, 0):
        c.reasons.add("attention: flash_attention_2 (installed, and the GPU is Ampere or newer)",
                      "注意力：flash_attention_2（已安装，且 GPU 是 Ampere 或更新的架构）")
        return "flash_attention_2"
    if c.device == "cuda":
        missing = not _flash_attn_installed(hw)
        why = "flash-attn is not installed" if missing else "the GPU is older than Ampere"
        c.reasons.add(f"attention: sdpa (PyTorch's fused attention; {why})",
                      f"注意力：sdpa（PyTorch 的融合注意力；{'未安装 flash-attn' if missing else 'GPU 早于 Ampere'}）")
    else:
        c.reasons.add("attention: sdpa (PyTorch's fused attention; flash-attention needs a GPU)",
                      "注意力：sdpa（PyTorch 的融合注意力；flash-attention 需要 GPU）")
    return "sdpa"


def _packing(c: _Facts, attn: str, max_length: int) -> bool:
    p50 = c.st.p50 if c.st else None
    if c.ov.packing is not None:
        packing = c.ov.packing
        c.reasons.add(f"packing {'on' if packing else 'off'}: your setting",
                      f"样本打包{'开启' if packing else '关闭'}：你的设置")
        if packing and attn != "flash_attention_2":
            c.warnings.add("packing without flash_attention_2 lets packed examples attend to each other",
                           "没有 flash_attention_2 时打包，打包在一起的样本会互相看到")
        return packing
    if c.device == "cpu":
        c.reasons.add("packing off: measured far slower on CPU (TRL packing at 512 tokens took 40–60 s per step)",
                      "样本打包关闭：在 CPU 上实测慢得多（TRL 按 512 个 token 打包时每步要 40–60 秒）")
    elif attn != "flash_attention_2":
        c.reasons.add("packing off: without flash_attention_2 packed examples would attend to each other",
                      "样本打包关闭：没有 flash_attention_2 时，打包在一起的样本会互相看到")
    elif p50 is not None and p50 * 4 <= max_length:
        c.reasons.add(f"packing on: examples are short (median {p50} tokens vs max length {max_length}), so "
                      "packing removes padding; flash-attention keeps packed examples apart",
                      f"样本打包开启：样本较短（中位数 {p50} 个 token，最大长度 {max_length}），打包可以去掉填充；"
                      "flash-attention 让打包的样本互不干扰")
        return True
    else:
        c.reasons.add("packing off: examples are not short compared with the max length",
                      "样本打包关闭：和最大长度相比，样本并不短")
    return False


def _quantisation(c: _Facts, s: MemorySettings) -> BnbSettings | None:
    """QLoRA's BitsAndBytes settings (None for LoRA), and why this optimizer."""
    precision = s.precision
    sharded = s.strategy in ("fsdp", "zero3")
    bnb = None
    if s.method == "qlora":
        store = _TORCH_DTYPE[precision] if sharded else "uint8"
        bnb = BnbSettings(bnb_4bit_compute_dtype=_TORCH_DTYPE[precision],  # type: ignore[arg-type]
                          bnb_4bit_quant_storage=store)  # type: ignore[arg-type]
        if sharded:
            c.reasons.add(f"bnb_4bit_quant_storage {store}: FSDP/ZeRO-3 can only shard 4-bit weights stored in "
                          "the same dtype as the rest of the model",
                          f"bnb_4bit_quant_storage {store}：FSDP/ZeRO-3 只能切分以模型其余部分相同 dtype 存储的 4 位权重")
    if s.optimizer == "paged_adamw_8bit":
        c.reasons.add("optimizer paged 8-bit AdamW: a quarter of AdamW's state memory, paged to CPU on spikes "
                      "(QLoRA paper)",
                      "优化器：分页 8 位 AdamW，状态只占 AdamW 的四分之一，显存峰值时换页到 CPU（QLoRA 论文）")
    elif s.method == "qlora" and s.strategy in ("fsdp", "zero2", "zero3"):
        c.reasons.add("optimizer AdamW (fp32): 8-bit paged AdamW is not used with FSDP/DeepSpeed; the LoRA "
                      "states are small and sharded anyway",
                      "优化器 AdamW（fp32）：FSDP/DeepSpeed 下不用分页 8 位 AdamW；LoRA 的状态很小，而且已经切分")
    elif s.method == "qlora":
        c.reasons.add("optimizer AdamW (fp32): paged 8-bit optimizers need CUDA",
                      "优化器 AdamW（fp32）：分页 8 位优化器需要 CUDA")
    else:
        c.reasons.add("optimizer AdamW (fp32 states): the LoRA weights are small, so 8-bit states save little",
                      "优化器 AdamW（fp32 状态）：LoRA 权重很小，8 位状态省不了多少")
    return bnb


def _alternatives(c: _Facts, shape: _Shape, s: MemorySettings, strategies: list[Strategy],
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


def _cpu_time(c: _Facts, paraphrases: int, epochs: int) -> CpuEstimate | None:
    """How long an epoch takes on this CPU (None on a GPU)."""
    if c.device != "cpu":
        return None
    facts, hw, st, count = c.facts, c.hw, c.st, c.count
    tps = _cpu_tokens_per_s(facts, hw)
    mean = (st.mean or st.p50) if st else None
    secs = count * (1 + paraphrases) * mean / tps if (count and mean) else None
    basis = (f"{CPU_MEASURED_TOKENS_PER_S:.0f} tokens/s measured for SmolLM2-135M LoRA r=16 batch 4 on "
             f"{CPU_MEASURED_CORES} cores, scaled by parameters ({human_params(facts.param_count)}) and cores "
             f"({hw.cpu.logical_cores})")
    basis_zh = (f"以 SmolLM2-135M LoRA r=16、批大小 4 在 {CPU_MEASURED_CORES} 核上实测的 "
                f"{CPU_MEASURED_TOKENS_PER_S:.0f} tokens/s 为基准，按参数量（{human_params(facts.param_count)}）"
                f"和核数（{hw.cpu.logical_cores}）换算")
    if secs:
        c.reasons.add(f"time on CPU: about {_duration(secs)} per epoch ({count} examples × ~{mean:.0f} tokens "
                      f"at ~{tps:.0f} tokens/s; {basis})",
                      f"CPU 训练时间：每轮约 {_duration(secs, 'zh')}（{count} 条样本 × 约 {mean:.0f} 个 token，"
                      f"约 {tps:.0f} tokens/s；{basis_zh}）")
        if secs * epochs > 8 * 3600:
            c.warnings.add(f"training would take about {_duration(secs * epochs)} on this CPU; consider a "
                           "smaller model or a GPU",
                           f"在这颗 CPU 上训练约需 {_duration(secs * epochs, 'zh')}；建议换更小的模型或用 GPU")
    else:
        c.reasons.add(f"time on CPU: ~{tps:.0f} tokens/s ({basis}); give --data for a per-epoch estimate",
                      f"CPU 训练时间：约 {tps:.0f} tokens/s（{basis_zh}）；提供 --data 可估算每轮用时")
    return CpuEstimate(tokens_per_second=round(tps, 1), seconds_per_epoch=round(secs, 1) if secs else None,
                       basis=basis)


def plan_training(request: PlanRequest) -> TrainingPlan:
    """Choose method, precision, LoRA, batch, length, strategy and serving settings that fit, with reasons.

    One small function per decision, each returning its value and adding its reason; this one composes them."""
    c = _Facts(request)
    facts, ov = c.facts, c.ov
    _quantised_warning(c)
    precision, available = _precision(c)
    r = _rank(c)
    alpha, targets, dropout = _alpha(c, r), _targets(c), _dropout(c)
    eff, max_mb = _effective_batch(c)
    cpu_refusal = _cpu_refusal(c)
    methods, strategies = _methods(c), _strategies(c)
    shape = _Shape(c, precision, r, targets, dropout)
    found = _search(c, shape, methods, strategies, max_mb, available) if cpu_refusal is None else _Found()
    refusal: tuple[str, str] | None = None
    if found.chosen is not None:
        est = found.chosen
        _method_reasons(c, est.settings, est, found, available, max_mb)
    elif found.smallest is None:  # refused on CPU before any estimate
        est = estimate_memory(facts, shape(methods[0], strategies[0], 1, _length_ladder(request)[-1][0], True),
                              available, request.headroom)
        refusal = cpu_refusal
    else:
        est = found.smallest
        refusal = _refusal(request, est, methods, strategies, available)
    s = est.settings
    accum, effective = _accumulation(c, s.micro_batch, eff)
    sched = _schedule(request, facts, c.count, effective, c.reasons)
    attn = _attention(c)
    packing = _packing(c, attn, s.max_length)
    bnb = _quantisation(c, s)
    lora = LoraSettings(r=r, alpha=alpha, dropout=dropout,
                        target_modules="all-linear" if targets == ["all-linear"] else targets,
                        trainable_params=facts.lora_param_count(r, targets))
    alternatives = _alternatives(c, shape, s, strategies, available)
    distributed = _distributed(s.strategy, c.n_gpus, precision, s.method, request)
    c.reasons.extend(distributed.reasons, distributed.reasons_zh)
    cpu_estimate = _cpu_time(c, sched.paraphrases, sched.epochs)
    fits = found.chosen is not None
    return TrainingPlan(
        model=facts.name, model_facts=facts, fits=fits,
        refusal=refusal[0] if refusal else None, refusal_zh=refusal[1] if refusal else None,
        device=c.device, num_gpus=c.n_gpus, method=s.method, precision=precision,
        torch_dtype=_TORCH_DTYPE[precision],  # type: ignore[arg-type]
        load_in_4bit=s.method == "qlora", bnb=bnb, lora=lora,
        learning_rate=sched.learning_rate, num_epochs=sched.epochs, warmup_ratio=sched.warmup,
        max_grad_norm=0.3 if s.method == "qlora" else 1.0,
        micro_batch_size=s.micro_batch, grad_accum=accum, effective_batch=effective, max_length=s.max_length,
        gradient_checkpointing=s.gradient_checkpointing, packing=packing, optimizer=s.optimizer,
        attn_implementation=attn, seed=ov.seed if ov.seed is not None else 42,
        steps_per_epoch=sched.steps_per_epoch, total_steps=sched.total_steps, eval_steps=sched.eval_steps,
        save_steps=sched.eval_steps, logging_steps=sched.logging_steps,
        memory=est, alternatives=alternatives, distributed=distributed, cpu_estimate=cpu_estimate,
        serving=_serving(facts, c.hw, r, s.max_length, precision), tokens=c.st, overrides=ov, task=sched.task,
        system_prompt=request.system_prompt, style=request.style, paraphrases=sched.paraphrases,
        learning_check=sched.learning_check, check_target=sched.check_target,
        check_min_epochs=KNOWLEDGE_MIN_EPOCHS if sched.learning_check else 0,
        reasons=c.reasons.en if fits else [refusal[0] if refusal else "does not fit"] + c.reasons.en,
        reasons_zh=c.reasons.zh if fits else [refusal[1] if refusal else "放不下"] + c.reasons.zh,
        warnings=c.warnings.en, warnings_zh=c.warnings.zh,
    )


class _Schedule(_Model):
    task: Literal["knowledge", "style"]
    epochs: int
    learning_rate: float
    warmup: float
    paraphrases: int = 0
    learning_check: bool = False
    check_target: float = KNOWLEDGE_TARGET
    steps_per_epoch: int | None = None
    total_steps: int | None = None
    eval_steps: int = 50
    logging_steps: int = 10


def _task(req: PlanRequest) -> tuple[Literal["knowledge", "style"], str, str]:
    """Knowledge (answers carry facts the model must learn) or style (a way of answering), with the reason."""
    if req.task != "auto":
        return req.task, "your setting", "你的设置"
    share = req.fact_share
    if share is None:
        return "style", "no dataset to look at", "没有数据集可看"
    if share >= 0.5:
        return "knowledge", (f"{share:.0%} of the answers carry facts (numbers, names, codes) the model must "
                             "learn"), f"{share:.0%} 的回答带有模型要记住的事实（数字、名称、编号）"
    return "style", f"only {share:.0%} of the answers carry facts: the data teaches a way of answering", \
        f"只有 {share:.0%} 的回答带有事实：这份数据教的是回答方式"


def _learning_rate(ov: PlanOverrides, facts: ModelFacts, knowledge: bool, reasons: _Said) -> float:
    """The LoRA learning rate: the person's, a higher one for facts in a small model, else the usual."""
    if ov.learning_rate:
        lr = ov.learning_rate
        reasons.add(f"learning rate {lr:g}: your setting", f"学习率 {lr:g}：你的设置")
    elif knowledge and facts.param_count < 3e9:
        lr = KNOWLEDGE_LR_SMALL if facts.param_count < 1e9 else KNOWLEDGE_LR
        reasons.add(f"learning rate {lr:g} with cosine decay: new facts in a small model "
                    f"({human_params(facts.param_count)}) need a higher LoRA rate than a style (2e-4 left most "
                    "facts unlearnt in our measurements)",
                    f"学习率 {lr:g}，余弦衰减：要让小模型（{human_params(facts.param_count)}）记住新事实，LoRA 学习率要比"
                    "学风格时高（实测 2e-4 时大部分事实没有学会）")
    elif facts.param_count >= 30e9:
        lr = 1e-4
        reasons.add("learning rate 1e-4: models of 30B+ parameters train stably at half the usual LoRA rate "
                    "(QLoRA paper)",
                    "学习率 1e-4：30B 以上参数的模型用常规 LoRA 学习率的一半训练更稳定（QLoRA 论文）")
    else:
        lr = 2e-4
        reasons.add("learning rate 2e-4 with cosine decay: the usual LoRA/QLoRA rate (QLoRA paper)",
                    "学习率 2e-4，余弦衰减：LoRA/QLoRA 的常用学习率（QLoRA 论文）")
    return lr


def _schedule(req: PlanRequest, facts: ModelFacts, count: int | None, effective: int, reasons: _Said) -> _Schedule:
    """Epochs, learning rate, warmup, rewordings and the learning check: one decision, its reasons said."""
    ov = req.overrides
    task, why, why_zh = _task(req)
    knowledge = task == "knowledge"
    small_set = count is not None and count <= KNOWLEDGE_MAX_QUESTIONS
    paraphrases = KNOWLEDGE_PARAPHRASES if knowledge and small_set else 0
    if knowledge:
        reasons.add(f"task: knowledge ({why}), so the plan aims at answers to questions asked in other words",
                    f"任务：知识（{why_zh}），所以方案的目标是换个问法也能答对")
    else:
        reasons.add(f"task: style ({why})", f"任务：风格（{why_zh}）")
    if paraphrases:
        reasons.add(f"{paraphrases} rewordings of every question are added in training (answers kept word for "
                    "word): a small model learns a fact so that it can be asked differently only when it saw "
                    "the question phrased several ways (Physics of Language Models 3.1)",
                    f"训练时为每个问题加入 {paraphrases} 种换个说法的问法（答案逐字保留）：小模型只有见过同一问题的多种"
                    "问法，换个问法时才答得出（Physics of Language Models 3.1）")
    # each template rewording brings about one more (brand-less, other words, the answer's facts)
    examples = count * (1 + 2 * paraphrases) if count else None
    if ov.epochs:
        epochs = ov.epochs
        reasons.add(f"{epochs} epochs: your setting", f"{epochs} 轮：你的设置")
    elif count is None:
        epochs = 3
        reasons.add("3 epochs: no dataset size given", "3 轮：没有给出数据集大小")
    elif knowledge and small_set:
        epochs = KNOWLEDGE_MAX_EPOCHS
        reasons.add(f"up to {epochs} epochs: {count} questions are few, and facts need many passes; the learning "
                    "check stops training as soon as the model knows them",
                    f"最多 {epochs} 轮：{count} 个问题不多，记住事实需要多学几遍；学习检查一旦发现模型已经记住就停止训练")
    else:
        epochs = 5 if count < 100 else 3 if count < 1000 else 2 if count < 10000 else 1
        small = epochs >= 3
        reasons.add(f"{epochs} epoch{'s' if epochs > 1 else ''}: {count} examples "
                    + ("(small datasets need more passes)" if small else "(large datasets need fewer "
                                                                         "passes to avoid overfitting)"),
                    f"{epochs} 轮：{count} 条样本"
                    + ("（小数据集需要多学几遍）" if small else "（大数据集少学几遍，避免过拟合）"))
    lr = _learning_rate(ov, facts, knowledge, reasons)
    steps_per_epoch = int(math.ceil(examples / effective)) if examples else None
    total_steps = steps_per_epoch * epochs if steps_per_epoch else None
    if total_steps is not None and total_steps < 100:
        warmup = 0.1
        reasons.add(f"warmup 10% of {total_steps} steps: a short run still gets a few warmup steps",
                    f"预热 {total_steps} 步中的 10%：训练很短，也要有几步预热")
    else:
        warmup = 0.03
        reasons.add("warmup 3% of the steps (QLoRA paper)", "预热总步数的 3%（QLoRA 论文）")
    if total_steps:
        eval_steps = max(1, min(total_steps, int(math.ceil(total_steps / 10))))
        logging_steps = max(1, min(10, total_steps // 50))
    else:
        eval_steps, logging_steps = 50, 10
    reasons.add(f"evaluate and save every {eval_steps} steps"
                + (f" (~10 times over {total_steps} steps)" if total_steps else " (dataset size unknown)"),
                f"每 {eval_steps} 步评估并保存一次"
                + (f"（{total_steps} 步中约 10 次）" if total_steps else "（数据集大小未知）"))
    check = knowledge
    if check:
        reasons.add(f"learning check: once an epoch the trained questions are asked in wordings training never "
                    f"used; from epoch {KNOWLEDGE_MIN_EPOCHS} on, training stops when it knows "
                    f"{KNOWLEDGE_TARGET:.0%} of them, or when three checks in a row bring no progress; the adapter "
                    "of the best check is kept",
                    f"学习检查：每轮一次，用训练里没出现过的问法提问训练过的问题；从第 {KNOWLEDGE_MIN_EPOCHS} 轮起，答对 "
                    f"{KNOWLEDGE_TARGET:.0%} 就停止，连续三次没有进步也停止；保留检查结果最好的那次的适配器")
    return _Schedule(task=task, epochs=epochs, learning_rate=lr, warmup=warmup, paraphrases=paraphrases,
                     learning_check=check, steps_per_epoch=steps_per_epoch, total_steps=total_steps,
                     eval_steps=eval_steps, logging_steps=logging_steps)


def _duration(secs: float, lang: str = "en") -> str:
    zh = is_zh(lang)
    if secs < 90:
        return f"{secs:.0f} {'秒' if zh else 's'}"
    if secs < 5400:
        return f"{secs / 60:.0f} {'分钟' if zh else 'min'}"
    return f"{secs / 3600:.1f} {'小时' if zh else 'h'}"


def _cpu_tokens_per_s(facts: ModelFacts, hw: HardwareFacts) -> float:
    cores = max(1, hw.cpu.logical_cores)
    return CPU_MEASURED_TOKENS_PER_S * (CPU_MEASURED_PARAMS / facts.param_count) * (cores / CPU_MEASURED_CORES)


def _refusal(req: PlanRequest, smallest: MemoryEstimate, methods: list[Method], strategies: list[Strategy],
             available: int) -> tuple[str, str]:
    """Why nothing fits, and what would, in English and Chinese."""
    facts, hw, ov = req.model, req.hardware, req.overrides
    s = smallest.settings
    where = _gpu_words(hw) if hw.gpus else f"this machine's RAM ({gib(available)} available)"
    where_zh = _gpu_words(hw, "zh") if hw.gpus else f"本机内存（可用 {gib(available)}）"
    pct, need, usable = int(req.headroom * 100), gib(smallest.total_bytes), gib(smallest.budget_bytes)
    ckpt = s.gradient_checkpointing
    head = (f"{facts.describe()} does not fit on {where}: even {method_words(s.method, s.precision)} with "
            f"micro-batch {s.micro_batch}, {s.max_length} tokens and gradient checkpointing "
            f"{'on' if ckpt else 'off'} needs about {need} per device, "
            f"more than {usable} usable ({pct}% of {gib(available)})")
    head_zh = (f"{describe_model(facts, 'zh')} 在 {where_zh} 上放不下：即使用 {method_words(s.method, s.precision, 'zh')}、"
               f"微批大小 {s.micro_batch}、{s.max_length} 个 token、梯度检查点{'开启' if ckpt else '关闭'}，"
               f"每个设备也约需 {need}，超过可用的 {usable}（{gib(available)} 的 {pct}%）")
    options = _Said()
    if ov.model_dump(exclude_none=True) or req.method != "auto":
        free_req = req.model_copy(update={"overrides": PlanOverrides(), "method": "auto"})
        alt = plan_training(free_req)
        if alt.fits:
            alt_need = gib(alt.memory.total_bytes)
            options.add(
                f"without your settings ({ov.described() or 'method ' + req.method}) the planner would use "
                f"{method_words(alt.method, alt.precision)}, micro-batch {alt.micro_batch_size}, {alt.max_length} "
                f"tokens, needing {alt_need}",
                f"不用你的设置（{ov.described('zh') or '方法 ' + req.method}），规划器会选 "
                f"{method_words(alt.method, alt.precision, 'zh')}、微批大小 {alt.micro_batch_size}、"
                f"{alt.max_length} 个 token，约需 {alt_need}")
    if hw.gpus:
        # a smaller model with QLoRA on this GPU
        fit_b = _largest_fitting_params(smallest.settings.model_copy(update={
            "method": "qlora", "weight_format": "nf4", "optimizer": "paged_adamw_8bit", "strategy": "single",
            "num_gpus": 1, "gradient_checkpointing": True, "micro_batch": 1}), available, req.headroom)
        if fit_b:
            options.add(f"a model of up to about {human_params(fit_b)} parameters with QLoRA 4-bit on one of these "
                        "GPUs",
                        f"在一块这样的 GPU 上用 QLoRA 4 位训练不超过约 {human_params(fit_b)} 参数的模型")
        # more GPUs of this kind
        for n in (2, 4, 8, 16):
            if n <= len(hw.gpus):
                continue
            sh = smallest.settings.model_copy(update={
                "method": "qlora", "weight_format": "nf4", "optimizer": "adamw_torch", "strategy": "fsdp",
                "num_gpus": n, "gradient_checkpointing": True, "micro_batch": 1})
            if estimate_memory(facts, sh, available, req.headroom).fits:
                options.add(f"{n} GPUs like this one with FSDP + QLoRA", f"{n} 块同样的 GPU，用 FSDP + QLoRA")
                break
        # shorter sequences
        if s.max_length > 256:
            short = estimate_memory(facts, s.model_copy(update={"max_length": 256, "micro_batch": 1,
                                                                "gradient_checkpointing": True}),
                                    available, req.headroom)
            if short.fits:
                options.add(f"shorter sequences: 256 tokens would need {gib(short.total_bytes)}",
                            f"更短的序列：256 个 token 约需 {gib(short.total_bytes)}")
    else:
        options.add("a smaller model, or a GPU machine (plan it with --hardware FILE.json)",
                    "更小的模型，或者 GPU 机器（用 --hardware FILE.json 规划）")
    tail = "; ".join(options.en) if options.en else "a machine with more memory"
    tail_zh = "；".join(options.zh) if options.zh else "内存更大的机器"
    return f"{head}. What would fit: {tail}", f"{head_zh}。可行的办法：{tail_zh}"


def _largest_fitting_params(s: MemorySettings, available: int, headroom: float) -> int | None:
    from tools.plan.model_facts import facts_from_params

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
                  run_dir: str | None = None, plan_name: str = "plan.json") -> TrainingPlan:
    """The plan with its launch command and config texts pointing at files written in ``out_dir``."""
    dist = distributed_files(plan.distributed, plan.precision, config_dir=out_dir,
                             plan_path=_join(out_dir, plan_name), data_dir=data_dir, run_dir=run_dir or out_dir)
    return plan.model_copy(update={"distributed": dist})


def _launch(strategy: Strategy, n: int, config_dir: str, plan_path: str, data_dir: str | None,
            run_dir: str | None) -> str:
    train = ["tunepilot", "train", "--plan", plan_path, "--data", data_dir or "DATA_DIR", "--run",
             run_dir or "RUN_DIR"]
    if strategy in ("single", "cpu"):
        return shlex.join(train)
    cfg = _join(config_dir, ACCELERATE_CONFIG_NAME)
    return shlex.join(["accelerate", "launch", "--config_file", cfg, "--num_processes", str(n), "-m", "tunepilot.cli",
                       *train[1:]])


def _distributed(strategy: Strategy, n_gpus: int, precision: Precision, method: Method,
                 req: PlanRequest) -> DistributedPlan:
    reasons = _Said()
    if strategy == "cpu":
        reasons.add("one process on the CPU", "在 CPU 上单进程训练")
    elif strategy == "single":
        reasons.add("one GPU, one process", "单 GPU，单进程")
    elif strategy == "ddp":
        reasons.add(f"{n_gpus} GPUs with DDP: the model fits on one GPU, so each holds a copy and they split the "
                    "batches (fastest when it fits)",
                    f"{n_gpus} 块 GPU 用 DDP：一块 GPU 放得下模型，每块各放一份副本、分担批次（放得下时最快）")
    elif strategy == "fsdp":
        qlora = method == "qlora"
        reasons.add(f"{n_gpus} GPUs with FSDP (full shard): the model does not fit on one GPU, so its weights are "
                    "sharded across them" + (" (FSDP + QLoRA needs bnb_4bit_quant_storage = the compute dtype)"
                                             if qlora else ""),
                    f"{n_gpus} 块 GPU 用 FSDP（完全切分）：一块 GPU 放不下模型，权重切分到各块 GPU 上"
                    + ("（FSDP + QLoRA 需要 bnb_4bit_quant_storage = 计算 dtype）" if qlora else ""))
    else:
        stage = 3 if strategy == "zero3" else 2
        reasons.add(f"{n_gpus} GPUs with DeepSpeed ZeRO-{stage}"
                    + (": weights, gradients and optimizer sharded (QLoRA works with ZeRO-3 when "
                       "bnb_4bit_quant_storage = the compute dtype)" if stage == 3 else
                       ": gradients and optimizer sharded; the frozen weights are not, so it saves little with LoRA"),
                    f"{n_gpus} 块 GPU 用 DeepSpeed ZeRO-{stage}"
                    + ("：权重、梯度和优化器状态都切分（bnb_4bit_quant_storage = 计算 dtype 时，QLoRA 可以配合 "
                       "ZeRO-3 使用）" if stage == 3 else
                       "：切分梯度和优化器状态；冻结的权重不切分，所以对 LoRA 省得不多"))
        if not req.hardware.versions.get("deepspeed"):
            reasons.add("DeepSpeed must be installed on the training machine (pip install deepspeed)",
                        "训练机器上必须安装 DeepSpeed（pip install deepspeed）")
    return distributed_files(
        DistributedPlan(strategy=strategy, num_processes=n_gpus if strategy not in ("cpu", "single") else 1,
                        launch_command="", reasons=reasons.en, reasons_zh=reasons.zh),
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
