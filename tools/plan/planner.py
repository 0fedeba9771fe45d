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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.core.errors import InputError, ResourceError
from tools.core.messages import Said, is_zh, said
from tools.plan.hardware import HardwareFacts
from tools.plan.model_facts import ModelFacts, human_params
from tools.plan.speed import SpeedSample, machine_of

log = logging.getLogger(__name__)

GIB = 1024**3
HEADROOM = 0.9
CUDA_CONTEXT_BYTES = int(0.75 * GIB)
NCCL_BYTES = int(0.5 * GIB)
FRAGMENTATION = 0.05
CPU_RUNTIME_BYTES = int(1.5 * GIB)
CPU_MAX_PARAMS = 2_000_000_000
# SmolLM2-135M-Instruct (134.5M parameters), LoRA r=64 on all linear layers, micro-batch 4 × 2, 2 CPU cores (AMD
# EPYC), the identity journey's knowledge plan: 221 real (non-padding) tokens/s measured, rounded down (125 before
# the bf16 base and the answer-only loss, tools/train/loss.py)
CPU_MEASURED_TOKENS_PER_S = 200.0
CPU_MEASURED_PARAMS = 134_515_008
CPU_MEASURED_CORES = 2
CPU_STARTUP_S = 10.0  # process start to the first step (imports, model, dataset), measured on 2 cores
CPU_EVAL_SHARE = 0.05  # one evaluation of the held-out set, as a share of an epoch (a tenth of the data, forward only)
# knowledge tasks on small datasets (bench/knowledge.py measured these on the demo model)
KNOWLEDGE_MAX_QUESTIONS = 2000  # rewordings and many epochs pay off up to about this many questions
KNOWLEDGE_PARAPHRASES = 4
KNOWLEDGE_MAX_EPOCHS = 8
# Chinese questions also asked by their answers' words: each epoch holds ~3× the wordings; customers' questions
# from other angles peaked at epoch 3-4 and fell after (bench/knowledge.py --lang zh --faq clinic: 42% at epoch 3,
# 35% at 8 on the demo model; Gemma 62% at 4, 60% at 6), and 4 epochs keep the journey within 15 minutes
KNOWLEDGE_WORDS_EPOCHS = 4
KNOWLEDGE_LR_SMALL = 1e-3  # under 1B parameters
KNOWLEDGE_LR = 5e-4  # 1B-3B
KNOWLEDGE_TARGET = 1.0
KNOWLEDGE_BATCH = 8
KNOWLEDGE_RANK = 64  # bench: r=64 learnt a 24-entry Chinese FAQ faster and further than r=16
KNOWLEDGE_PARAPHRASES_FEW = 1  # when the data already asks each answer in many words (identity sets)
KNOWLEDGE_SHARED_ANSWERS = 4  # examples per distinct answer from which the data counts as asking in many words
KNOWLEDGE_REPLAY = 48  # general questions the base answers, trained beside the facts (tools/data/replay.py)
REPLAY_REPEAT = 2  # each replayed answer twice an epoch (identity run: general questions kept 13/40, once: 5/40)
KNOWLEDGE_DOC_EPOCHS = 5  # a manual's written questions: recall flat after epoch 4 (bench/knowledge.py --doc dev)
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


def in_language(en: list[str], zh: list[str] | None, lang: str | None,
                said_: list[Said] | list[dict[str, Any]] | None = None) -> list[str]:
    """The sentences in ``lang``: rendered from their codes when the plan has one per English sentence;
    else, in a plan written before codes, its ``zh`` sentences for a Chinese reader (when there is one per
    English one), else ``en`` as written.
    """
    if said_ and len(said_) == len(en):
        return [Said.model_validate(x).text(lang) for x in said_]
    return list(zh) if is_zh(lang) and zh and len(zh) == len(en) else list(en)


def as_written(text: str) -> Said:
    """A sentence that has no code (a note written by another tool in one language), shown as written."""
    return said("text.as_written", text=text)


class _Said:
    """What one plan says, by code (rendered in any language with a catalog), in the order it was said."""

    def __init__(self) -> None:
        self.items: list[Said] = []

    def add(self, code: str, /, **params: Any) -> None:
        self.items.append(said(code, **params))

    def insert(self, i: int, code: str, /, **params: Any) -> None:
        self.items.insert(i, said(code, **params))

    def extend(self, items: list[Said]) -> None:
        self.items.extend(items)

    def text(self, lang: str = "en") -> list[str]:
        return [s.text(lang) for s in self.items]


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
    rewordings: float | None = Field(default=None, ge=0, description="template rewordings training adds per "
                                     "example (counted on the data, as many asked per question as the plan will)")
    answer_repeats: float | None = Field(default=None, ge=0, description="examples per distinct answer: an "
                                         "identity set gives a few answers to many questions")
    by_words: float | None = Field(default=None, ge=0, description="of the rewordings per example, those asked "
                                   "by the words of an answer that tell its entry apart (Chinese)")
    shared: int | None = Field(default=None, ge=0, description="rewordings left out because they would fit two "
                               "entries with different answers")
    written_share: float | None = Field(default=None, ge=0, le=1, description="share of the examples whose "
                                        "question tunepilot wrote from a document's fact (tools/data/facts/)")

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

    def described(self) -> list[Said]:
        """Each setting the person gave, as words (``plan.setting.*``)."""
        return [said(f"plan.setting.{k}", value=on_off(v) if isinstance(v, bool) else v)
                for k, v in self.model_dump(exclude_none=True).items()]


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
    machines: int = Field(default=1, ge=1, le=1024, description="machines like this one training together")
    main_process_ip: str = Field(default="MAIN_MACHINE_IP", description="address of machine 0, for several machines")
    main_process_port: int = Field(default=29500, ge=1, le=65535)
    measured: list[SpeedSample] = Field(default_factory=list,
                                        description="training speeds measured on this machine (tools.plan.speed)")

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
    said_note: Said | None = Field(default=None, description="the note by code (absent in older plans)")
    note_zh: str | None = Field(default=None, description="the note in Chinese, in plans written before codes")

    def note_in(self, lang: str) -> str:
        if self.said_note is not None:
            return self.said_note.text(lang)
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


def on_off(value: bool) -> Said:
    return said("plan.word.on" if value else "plan.word.off")


def method_said(method: str, precision: str) -> Said:
    if method == "qlora":
        return said("plan.word.method_qlora", precision=precision)
    return said("plan.word.method_lora", bits="32" if precision == "fp32" else "16", precision=precision)


def method_words(method: str, precision: str, lang: str = "en") -> str:
    return method_said(method, precision).text(lang)


def model_said(facts: ModelFacts) -> Said:
    """The model's name, size and architecture (``facts.describe()``), by code."""
    return said("plan.word.model", name=facts.name, params=human_params(facts.param_count),
                architecture=facts.architecture)


def describe_model(facts: ModelFacts, lang: str = "en") -> str:
    """``facts.describe()`` in the reader's language: name, size and architecture."""
    return model_said(facts).text(lang)


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


class MachineLaunch(_Model):
    """What one machine of several runs: its accelerate config (``machine_rank`` is its rank) and command."""

    rank: int
    accelerate_config: str
    command: str


class DistributedPlan(_Model):
    strategy: Strategy
    num_processes: int = Field(default=1, description="processes across all machines")
    num_machines: int = 1
    main_process_ip: str | None = None
    main_process_port: int | None = None
    machines: list[MachineLaunch] = Field(default_factory=list, description="one per machine, for several machines")
    accelerate_config: str | None = Field(default=None, description="text of accelerate_config.yaml")
    deepspeed_config: str | None = Field(default=None, description="text of deepspeed_config.json (ZeRO)")
    launch_command: str = Field(description="the exact command that starts training")
    reasons: list[str] = Field(default_factory=list)
    said_reasons: list[Said] = Field(default_factory=list, description="the reasons by code, one per reason")
    reasons_zh: list[str] = Field(default_factory=list, description="the reasons in Chinese, in plans before codes")

    def reasons_in(self, lang: str) -> list[str]:
        return in_language(self.reasons, self.reasons_zh, lang, self.said_reasons)


class CpuEstimate(_Model):
    tokens_per_second: float
    seconds_per_epoch: float | None
    basis: str
    source: Literal["measured", "measured_other_model", "reference"] = Field(
        default="reference", description="this machine's last training of this model, of another model "
        "(scaled by parameters), or the reference figure tunepilot was written with")
    total_seconds: float | None = Field(default=None, description="start-up + every epoch + the evaluations")
    said_basis: Said | None = None


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
    replay: int = Field(default=0, description="general questions answered by the base model, trained beside the data")
    check_target: float = 0.9
    check_min_epochs: float = Field(default=0, description="the learning check stops nothing before this")
    init_adapter: str | None = Field(default=None, description="a follow-up starts from this adapter (the previous "
                                     "run's), not from a new one (tools/plan/follow_up.py)")
    reasons: list[str] = Field(description="every decision, in words")
    warnings: list[str] = Field(default_factory=list)
    # the same sentences by code, one per English one, rendered in the reader's language (tools/core/catalog)
    said_reasons: list[Said] = Field(default_factory=list, description="the reasons by code, in the same order")
    said_warnings: list[Said] = Field(default_factory=list, description="the warnings by code, in the same order")
    said_refusal: Said | None = None
    # plans written before codes kept their Chinese here (and plans before that read in English)
    reasons_zh: list[str] = Field(default_factory=list, description="the reasons in Chinese, in plans before codes")
    warnings_zh: list[str] = Field(default_factory=list, description="the warnings in Chinese, in plans before codes")
    refusal_zh: str | None = None

    def reasons_in(self, lang: str) -> list[str]:
        return in_language(self.reasons, self.reasons_zh, lang, self.said_reasons)

    def warnings_in(self, lang: str) -> list[str]:
        return in_language(self.warnings, self.warnings_zh, lang, self.said_warnings)

    def refusal_in(self, lang: str) -> str | None:
        if self.said_refusal is not None:
            return self.said_refusal.text(lang)
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


def _gpu_words(hw: HardwareFacts) -> Said:
    g = min(hw.gpus, key=lambda x: x.free_memory_bytes)
    names = " / ".join(sorted({x.name for x in hw.gpus}))
    if len(hw.gpus) > 1:
        return said("plan.word.gpus", count=len(hw.gpus), names=names, free=gib(g.free_memory_bytes))
    return said("plan.word.gpu", names=names, free=gib(g.free_memory_bytes))


# --- choosing -------------------------------------------------------------------------------


def _length_ladder(req: PlanRequest) -> list[tuple[int, Said]]:
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
                ladder.append((n, said(code, n=n, share=said(f"plan.word.share_{key}"), key=key, v=v)))
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
        notes = self.facts.said_notes
        self.warnings.extend(notes if len(notes) == len(self.facts.notes) else
                             [as_written(n) for n in self.facts.notes])
        self.want: Method | None = self.ov.method or (None if req.method == "auto" else req.method)
        self.device: Literal["cuda", "cpu"] = "cuda" if self.hw.gpus else "cpu"
        self.machines = req.machines
        self.n_gpus = len(self.hw.gpus) * req.machines  # every GPU of every machine: one process each
        self.procs = self.n_gpus if self.device == "cuda" else req.machines
        self.count = self.st.count if self.st else None
        self.small_knowledge = (_task(req)[0] == "knowledge" and self.count is not None
                                and self.count <= KNOWLEDGE_MAX_QUESTIONS)


def _quantised_warning(c: _Facts) -> None:
    if c.facts.quantized:
        c.warnings.add("plan.quantised_warning.already_quantised_train_from", name=c.facts.name,
                       quantized=c.facts.quantized)


def _precision(c: _Facts) -> tuple[Precision, int]:
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


def _rank(c: _Facts) -> int:
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


def _alpha(c: _Facts, r: int) -> int:
    alpha = c.ov.alpha or 2 * r
    if c.ov.alpha:
        c.reasons.add("plan.alpha.lora_alpha_your_setting", alpha=alpha)
    else:
        c.reasons.add("plan.alpha.lora_alpha_alpha_r", alpha=alpha)
    return alpha


def _targets(c: _Facts) -> list[str]:
    targets = list(c.facts.lora_target_modules)
    names = ", ".join(targets)
    if targets == ["all-linear"]:
        c.reasons.add("plan.targets.lora_targets_all_linear")
    elif not c.facts.dense:
        c.reasons.add("plan.targets.lora_targets_attention_projections", names=names)
    else:
        c.reasons.add("plan.targets.lora_targets_every_linear", names=names)
    return targets


def _dropout(c: _Facts) -> float:
    if c.ov.lora_dropout is not None:
        c.reasons.add("plan.dropout.lora_dropout_your_setting", lora_dropout=c.ov.lora_dropout)
        return c.ov.lora_dropout
    if c.device == "cpu":
        c.reasons.add("plan.dropout.lora_dropout_cpu_dropout")
        return 0.0
    c.reasons.add("plan.dropout.lora_dropout_light_regularisation")
    return 0.05


def _effective_batch(c: _Facts) -> tuple[int, int]:
    """The effective batch, and the largest micro-batch worth trying."""
    count = c.count
    if c.ov.effective_batch:
        eff = c.ov.effective_batch
        c.reasons.add("plan.effective_batch.effective_batch_your_setting", eff=eff)
    elif c.small_knowledge:
        eff = KNOWLEDGE_BATCH
        c.reasons.add("plan.effective_batch.effective_batch_facts_their", eff=eff)
    elif count is not None and count < DEFAULT_EFFECTIVE_BATCH * 8:
        eff = max(2, min(DEFAULT_EFFECTIVE_BATCH, _pow2_down(max(1, count // 8))))
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


def _cpu_refusal(c: _Facts) -> Said | None:
    """Why this model is too large to train on this CPU, or None."""
    facts, hw = c.facts, c.hw
    if c.device != "cpu" or facts.param_count <= CPU_MAX_PARAMS:
        return None
    tps = _cpu_tokens_per_s(facts, hw)
    return said("plan.refusal.cpu_too_large", model=model_said(facts), limit=human_params(CPU_MAX_PARAMS), tps=tps,
                hours=1000 * 200 / tps / 3600)


def _methods(c: _Facts) -> list[Method]:
    methods: list[Method] = [c.want] if c.want else ["lora", "qlora"]
    if c.device == "cpu" and not c.want and _pkg_missing(c.hw, "bitsandbytes"):
        methods = ["lora"]
    if c.device == "cuda" and "qlora" in methods and _pkg_missing(c.hw, "bitsandbytes"):
        c.warnings.add("plan.methods.bitsandbytes_not_installed_qlora")
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
    length_reason: Said | None = None
    smallest: MemoryEstimate | None = None
    tried_lengths: list[int] = []


def _search(c: _Facts, shape: _Shape, methods: list[Method], strategies: list[Strategy], max_mb: int,
            available: int) -> _Found:
    """The first candidate that fits, longest length first, then method, strategy, checkpointing and the
    largest micro-batch; the smallest candidate seen, for the refusal."""
    found = _Found()
    ov = c.ov
    ckpt_options = [ov.gradient_checkpointing] if ov.gradient_checkpointing is not None else [False, True]
    for length, length_reason in _length_ladder(c.req):
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


def _method_reasons(c: _Facts, s: MemorySettings, est: MemoryEstimate, found: _Found, available: int,
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


def _accumulation(c: _Facts, mb: int, eff: int) -> tuple[int, int]:
    """Gradient accumulation and the effective batch it gives with this micro-batch."""
    procs, device = c.procs, c.device
    accum = max(1, int(math.ceil(eff / (mb * procs))))
    effective = mb * accum * procs
    unit = said(f"plan.word.unit_{'gpu' if device == 'cuda' else 'process'}{'_many' if procs > 1 else ''}")
    c.reasons.add("plan.batch.yours" if c.ov.micro_batch else "plan.batch.largest", mb=mb, accum=accum, procs=procs,
                  unit=unit, effective=effective)
    return accum, effective


def _attention(c: _Facts) -> Literal["sdpa", "flash_attention_2", "eager"]:
    hw = c.hw
    if c.device == "cuda" and _flash_attn_installed(hw) and min(g.compute_capability for g in hw.gpus) >= (8, 0):
        c.reasons.add("plan.attention.attention_flash_attention_installed")
        return "flash_attention_2"
    if c.device == "cuda":
        why = said("plan.word.no_flash_attn" if not _flash_attn_installed(hw) else "plan.word.old_gpu")
        c.reasons.add("plan.attention.sdpa_because", why=why)
    else:
        c.reasons.add("plan.attention.attention_sdpa_pytorch_s")
    return "sdpa"


def _packing(c: _Facts, attn: str, max_length: int) -> bool:
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


def _measured(c: _Facts, method: str, precision: str) -> SpeedSample | None:
    """This machine's latest measured training of this model with this method and precision; else the one of
    the model nearest in size, within a factor of 4 (speed scales with parameters only between like sizes)."""
    here = [m for m in c.req.measured if m.machine == machine_of(c.hw) and m.device == c.device
            and m.method == method and m.precision == precision]
    same = [m for m in here if m.model == c.facts.name]
    if same:
        return max(same, key=lambda m: m.ts)
    n = c.facts.param_count
    like = [m for m in here if 0.25 <= m.params / n <= 4]
    return min(like, key=lambda m: (abs(math.log(m.params / n)), -m.ts)) if like else None


def _cpu_time(c: _Facts, s: MemorySettings, sched: _Schedule) -> CpuEstimate | None:
    """How long an epoch, and the whole training, take on this CPU (None on a GPU): from this machine's
    measured speed when there is one, else from the reference figure."""
    if c.device != "cpu":
        return None
    facts, hw, st = c.facts, c.hw, c.st
    sample = _measured(c, s.method, s.precision)
    if sample is not None and sample.model == facts.name:
        tps, source = sample.tokens_per_second, "measured"
        basis = said("plan.cpu.basis_measured", tps=tps, model=sample.model, run=sample.run or "?")
    elif sample is not None:
        tps, source = sample.tokens_per_second * sample.params / facts.param_count, "measured_other_model"
        basis = said("plan.cpu.basis_other_model", measured=sample.tokens_per_second, model=sample.model,
                     run=sample.run or "?", params=human_params(facts.param_count))
    else:
        tps, source = _cpu_tokens_per_s(facts, hw), "reference"
        basis = said("plan.cpu.basis", tps=CPU_MEASURED_TOKENS_PER_S, cores=CPU_MEASURED_CORES,
                     params=human_params(facts.param_count), here=hw.cpu.logical_cores)
    tps *= c.machines  # several machines split the batches
    mean = (st.mean or st.p50) if st else None
    examples = sched.examples
    secs = examples * mean / tps if (examples and mean) else None
    total = None
    if secs:
        evals = math.ceil(sched.total_steps / sched.eval_steps) if sched.total_steps else 10
        startup = sample.startup_seconds if sample else CPU_STARTUP_S
        per_eval = sample.seconds_per_eval if sample else secs * CPU_EVAL_SHARE
        total = startup + secs * sched.epochs + evals * per_eval
        c.reasons.add("plan.cpu.per_epoch_at_most" if sched.learning_check else "plan.cpu.per_epoch",
                      epoch=duration_said(secs), total=duration_said(total), count=examples, mean=mean, tps=tps,
                      basis=basis)
        if total > 8 * 3600:
            c.warnings.add("plan.cpu.too_long", total=duration_said(total))
    else:
        c.reasons.add("plan.cpu.speed", tps=tps, basis=basis)
    return CpuEstimate(tokens_per_second=round(tps, 1), seconds_per_epoch=round(secs, 1) if secs else None,
                       basis=basis.text(), source=source,  # type: ignore[arg-type]
                       total_seconds=round(total, 1) if total else None, said_basis=basis)


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
    refusal: Said | None = None
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
    distributed = _distributed(s.strategy, c.n_gpus, c.procs, precision, s.method, request)
    c.reasons.extend(distributed.said_reasons)
    cpu_estimate = _cpu_time(c, s, sched)
    fits = found.chosen is not None
    reasons = c.reasons.items if fits else [refusal or said("plan.refusal.does_not_fit"), *c.reasons.items]
    return TrainingPlan(
        model=facts.name, model_facts=facts, fits=fits,
        refusal=refusal.text() if refusal else None, said_refusal=refusal,
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
        learning_check=sched.learning_check, replay=sched.replay, check_target=sched.check_target,
        check_min_epochs=KNOWLEDGE_MIN_EPOCHS if sched.learning_check else 0,
        reasons=[r.text() for r in reasons], said_reasons=reasons,
        warnings=c.warnings.text(), said_warnings=c.warnings.items,
    )


class _Schedule(_Model):
    task: Literal["knowledge", "style"]
    examples: int | None = Field(default=None, description="examples trained per epoch, rewordings included")
    epochs: int
    learning_rate: float
    warmup: float
    paraphrases: int = 0
    learning_check: bool = False
    replay: int = 0
    check_target: float = KNOWLEDGE_TARGET
    steps_per_epoch: int | None = None
    total_steps: int | None = None
    eval_steps: int = 50
    logging_steps: int = 10


def _task(req: PlanRequest) -> tuple[Literal["knowledge", "style"], Said]:
    """Knowledge (answers carry facts the model must learn) or style (a way of answering), with the reason."""
    if req.task != "auto":
        return req.task, said("plan.task.your_setting")
    share = req.fact_share
    if share is None:
        return "style", said("plan.task.no_dataset")
    if share >= 0.5:
        return "knowledge", said("plan.task.facts", share=share)
    return "style", said("plan.task.few_facts", share=share)


def _learning_rate(ov: PlanOverrides, facts: ModelFacts, knowledge: bool, reasons: _Said) -> float:
    """The LoRA learning rate: the person's, a higher one for facts in a small model, else the usual."""
    if ov.learning_rate:
        lr = ov.learning_rate
        reasons.add("plan.learning_rate.learning_rate_your_setting", lr=lr)
    elif knowledge and facts.param_count < 3e9:
        lr = KNOWLEDGE_LR_SMALL if facts.param_count < 1e9 else KNOWLEDGE_LR
        reasons.add("plan.learning_rate.learning_rate_cosine_decay", lr=lr, params=human_params(facts.param_count))
    elif facts.param_count >= 30e9:
        lr = 1e-4
        reasons.add("plan.learning_rate.learning_rate_e_models")
    else:
        lr = 2e-4
        reasons.add("plan.learning_rate.learning_rate_e_cosine")
    return lr


def paraphrases_for(answer_repeats: float | None) -> int:
    """Rewordings per question for a knowledge task: fewer when the data already asks each answer in many words
    (an identity set: 80 questions, 8 answers), where more only lengthen training and teach every question to
    get the same answer."""
    if answer_repeats is not None and answer_repeats >= KNOWLEDGE_SHARED_ANSWERS:
        return KNOWLEDGE_PARAPHRASES_FEW
    return KNOWLEDGE_PARAPHRASES


def _schedule(req: PlanRequest, facts: ModelFacts, count: int | None, effective: int, reasons: _Said) -> _Schedule:
    """Epochs, learning rate, warmup, rewordings and the learning check: one decision, its reasons said."""
    ov = req.overrides
    task, why = _task(req)
    knowledge = task == "knowledge"
    small_set = count is not None and count <= KNOWLEDGE_MAX_QUESTIONS
    repeats = req.tokens.answer_repeats if req.tokens is not None else None
    written = (req.tokens.written_share or 0.0) >= 0.5 if req.tokens is not None else False
    paraphrases = paraphrases_for(repeats) if knowledge and small_set and not written else 0
    if knowledge:
        reasons.add("plan.task.knowledge", why=why)
    else:
        reasons.add("plan.task.style", why=why)
    if knowledge and small_set and written:
        reasons.add("plan.schedule.rewordings_written", repeats=repeats or 0)
    elif paraphrases == KNOWLEDGE_PARAPHRASES_FEW:
        reasons.add("plan.schedule.rewordings_shared_answers", paraphrases=paraphrases, repeats=repeats)
    elif paraphrases:
        reasons.add("plan.schedule.rewordings_every_question_are", paraphrases=paraphrases)
    if paraphrases and req.tokens is not None and req.tokens.by_words:
        reasons.add("plan.schedule.rewordings_by_words", words=req.tokens.by_words, shared=req.tokens.shared or 0)
    # counted on the data when the plan has it; else each template rewording brings about one more (brand-less,
    # other words, the answer's facts)
    measured = req.tokens.rewordings if req.tokens is not None else None
    per_example = (measured if measured is not None else 2 * paraphrases) if paraphrases else 0
    replay = KNOWLEDGE_REPLAY if knowledge and small_set else 0
    if replay:
        reasons.add("plan.schedule.replay", n=replay)
    examples = round(count * (1 + per_example)) + replay * REPLAY_REPEAT if count else None
    if ov.epochs:
        epochs = ov.epochs
        reasons.add("plan.schedule.epochs_your_setting" if epochs > 1 else "plan.schedule.epoch_your_setting",
                    epochs=epochs)
    elif count is None:
        epochs = 3
        reasons.add("plan.schedule.epochs_no_dataset_size")
    elif knowledge and small_set and written:
        epochs = KNOWLEDGE_DOC_EPOCHS
        reasons.add("plan.schedule.up_epochs_written", epochs=epochs)
    elif knowledge and small_set and paraphrases and req.tokens is not None and req.tokens.by_words:
        epochs = KNOWLEDGE_WORDS_EPOCHS
        reasons.add("plan.schedule.up_epochs_by_words", epochs=epochs, count=count)
    elif knowledge and small_set:
        epochs = KNOWLEDGE_MAX_EPOCHS
        reasons.add("plan.schedule.up_epochs_questions_are", epochs=epochs, count=count)
    else:
        epochs = 5 if count < 100 else 3 if count < 1000 else 2 if count < 10000 else 1
        code = "small" if epochs >= 3 else "large" if epochs > 1 else "large_one"
        reasons.add(f"plan.schedule.epochs_{code}", epochs=epochs, count=count)
    lr = _learning_rate(ov, facts, knowledge, reasons)
    steps_per_epoch = int(math.ceil(examples / effective)) if examples else None
    total_steps = steps_per_epoch * epochs if steps_per_epoch else None
    if total_steps is not None and total_steps < 100:
        warmup = 0.1
        reasons.add("plan.schedule.warmup_steps_short_run", total_steps=total_steps)
    else:
        warmup = 0.03
        reasons.add("plan.schedule.warmup_steps_qlora_paper")
    if total_steps:
        eval_steps = max(1, min(total_steps, int(math.ceil(total_steps / 10))))
        logging_steps = max(1, min(10, total_steps // 50))
    else:
        eval_steps, logging_steps = 50, 10
    reasons.add("plan.schedule.eval_every" if total_steps else "plan.schedule.eval_every_unknown",
                eval_steps=eval_steps, total_steps=total_steps)
    check = knowledge
    if check:
        reasons.add("plan.schedule.learning_check_once_epoch", min_epochs=KNOWLEDGE_MIN_EPOCHS,
                    target=KNOWLEDGE_TARGET)
    return _Schedule(task=task, examples=examples, epochs=epochs, learning_rate=lr, warmup=warmup, paraphrases=paraphrases,
                     learning_check=check, replay=replay, steps_per_epoch=steps_per_epoch, total_steps=total_steps,
                     eval_steps=eval_steps, logging_steps=logging_steps)


def duration_said(secs: float) -> Said:
    if secs < 90:
        return said("plan.word.seconds", n=secs)
    if secs < 5400:
        return said("plan.word.minutes", n=secs / 60)
    return said("plan.word.hours", n=secs / 3600)


def _cpu_tokens_per_s(facts: ModelFacts, hw: HardwareFacts) -> float:
    cores = max(1, hw.cpu.logical_cores)
    return CPU_MEASURED_TOKENS_PER_S * (CPU_MEASURED_PARAMS / facts.param_count) * (cores / CPU_MEASURED_CORES)


def _refusal(req: PlanRequest, smallest: MemoryEstimate, methods: list[Method], strategies: list[Strategy],
             available: int) -> Said:
    """Why nothing fits, and what would."""
    facts, hw, ov = req.model, req.hardware, req.overrides
    s = smallest.settings
    where = _gpu_words(hw) if hw.gpus else said("plan.word.this_ram", available=gib(available))
    head = said("plan.refusal.head", model=model_said(facts), where=where, method=method_said(s.method, s.precision),
                mb=s.micro_batch, length=s.max_length, ckpt=on_off(s.gradient_checkpointing),
                need=gib(smallest.total_bytes), usable=gib(smallest.budget_bytes), pct=int(req.headroom * 100),
                available=gib(available))
    options = _Said()
    if ov.model_dump(exclude_none=True) or req.method != "auto":
        free_req = req.model_copy(update={"overrides": PlanOverrides(), "method": "auto"})
        alt = plan_training(free_req)
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


def _distributed(strategy: Strategy, n_gpus: int, procs: int, precision: Precision, method: Method,
                 req: PlanRequest) -> DistributedPlan:
    reasons = _Said()
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


def distributed_files(
    dist: DistributedPlan,
    precision: Precision,
    *,
    config_dir: str = ".",
    plan_path: str = "plan.json",
    data_dir: str | None = None,
    run_dir: str | None = None,
) -> DistributedPlan:
    """Fill in the launch command and the accelerate / DeepSpeed config texts for these paths (for several
    machines, one config and one command per machine)."""
    strategy, n = dist.strategy, dist.num_processes
    if dist.num_machines > 1:
        return _machine_files(dist, precision, config_dir, plan_path, data_dir, run_dir)
    cmd = _launch(strategy, n, config_dir, plan_path, data_dir, run_dir)
    if strategy in ("single", "cpu"):
        return dist.model_copy(update={"launch_command": cmd, "accelerate_config": None, "deepspeed_config": None})
    return dist.model_copy(update={"launch_command": cmd, **_accelerate_texts(dist, precision, config_dir, cmd)})


def _accelerate_texts(dist: DistributedPlan, precision: Precision, config_dir: str, cmd: str,
                      machine_rank: int = 0) -> dict[str, str | None]:
    """The accelerate config (and DeepSpeed's) for one machine of ``dist``."""
    import yaml

    strategy, n = dist.strategy, dist.num_processes

    cfg: dict[str, object] = {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        "machine_rank": machine_rank,
        "main_training_function": "main",
        "mixed_precision": "no" if precision == "fp32" else precision,
        "num_machines": dist.num_machines,
        "num_processes": n,
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": strategy == "cpu",
    }
    if dist.num_machines > 1:
        cfg["main_process_ip"] = dist.main_process_ip
        cfg["main_process_port"] = dist.main_process_port
    ds_text = None
    if strategy == "cpu":
        cfg["distributed_type"] = "MULTI_CPU"  # gloo; each machine runs one process
    elif strategy == "ddp":
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
    return {"accelerate_config": header + yaml.safe_dump(cfg, sort_keys=True), "deepspeed_config": ds_text}


def machine_config_name(rank: int) -> str:
    return f"accelerate_config.machine{rank}.yaml"


def _machine_files(dist: DistributedPlan, precision: Precision, config_dir: str, plan_path: str,
                   data_dir: str | None, run_dir: str | None) -> DistributedPlan:
    """One accelerate config and one command per machine: the same files, each with its ``machine_rank``.

    GPU machines start ``accelerate launch`` (torchrun underneath) with their GPUs as processes. CPU machines
    run one process each; accelerate's CPU launcher leaves the process's rank to the environment, so the
    command sets ``RANK``/``WORLD_SIZE`` (the machine's rank; gloo connects them)."""
    train = ["-m", "tunepilot.cli", "train", "--plan", plan_path, "--data", data_dir or "DATA_DIR", "--run",
             run_dir or "RUN_DIR"]
    machines, ds = [], None
    for rank in range(dist.num_machines):
        cfg = _join(config_dir, machine_config_name(rank))
        argv = ["accelerate", "launch", "--config_file", cfg, *train]
        if dist.strategy == "cpu":
            argv = ["env", f"RANK={rank}", f"WORLD_SIZE={dist.num_machines}", "LOCAL_RANK=0", *argv]
        cmd = shlex.join(argv)
        texts = _accelerate_texts(dist, precision, config_dir, cmd, machine_rank=rank)
        ds = texts["deepspeed_config"]
        machines.append(MachineLaunch(rank=rank, accelerate_config=texts["accelerate_config"] or "", command=cmd))
    return dist.model_copy(update={"launch_command": machines[0].command, "machines": machines,
                                   "accelerate_config": machines[0].accelerate_config, "deepspeed_config": ds})


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
