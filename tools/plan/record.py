"""The plan's records: the PlanRequest, the TrainingPlan and its parts, plan.json written and read."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from tools.core.errors import InputError, ResourceError
from tools.core.jsonio import atomic_write_text, read_json, write_json
from tools.core.messages import Said, is_zh, said
from tools.core.said import in_language
from tools.plan.hardware import HardwareFacts
from tools.plan.kinds import Method, Optimizer, Precision, Record, Strategy
from tools.plan.launch_files import (
    ACCELERATE_CONFIG_NAME,
    DEEPSPEED_CONFIG_NAME,
    DistributedPlan,
    distributed_files,
    in_folder,
    machine_config_name,
)
from tools.plan.memory import HEADROOM, MemoryEstimate
from tools.plan.model_facts import ModelFacts
from tools.plan.serving import ServingPlan
from tools.plan.speed import SpeedSample
from tools.plan.words import on_off

PLAN_FILE = "plan.json"


# --- what the planner is asked --------------------------------------------------------------------


class TokenStats(Record):
    """Token lengths of the training examples (from the dataset report)."""

    count: int | None = Field(default=None, ge=0, description="number of training examples")
    held_out: int | None = Field(default=None, ge=0, description="number of held-out examples (eval.jsonl): "
                                 "what each evaluation during training reads")
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
    system_tokens: int | None = Field(default=None, ge=0, description="tokens the run's system prompt adds to "
                                      "every example as training renders it (included in the lengths above)")
    passages: int | None = Field(default=None, ge=0, description="passages of the person's documents "
                                 "(passages.jsonl): the run answers by reading them")
    reading_tokens: dict[str, int] = Field(default_factory=dict, description="p95 tokens of a reading example with "
                                           "1, 2, 3 passages, without the system prompt")

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.p50, self.p95, self.p99, self.max))

    def with_system(self, tokens: int) -> TokenStats:
        """These lengths as training renders them once a system prompt of ``tokens`` tokens heads every example."""
        if tokens <= 0 or self.empty:
            return self
        grown = {k: v + tokens for k in ("p50", "p95", "p99", "max") if (v := getattr(self, k)) is not None}
        mean = None if self.mean is None else self.mean + tokens
        return self.model_copy(update={**grown, "mean": mean, "system_tokens": tokens})

    def for_reading(self, tokens: int) -> TokenStats:
        """These lengths once reading examples of ``tokens`` tokens (system prompt included) join the data."""
        grown = {k: max(v, tokens) for k in ("p95", "p99", "max") if (v := getattr(self, k)) is not None}
        return self.model_copy(update=grown)


class PlanOverrides(Record):
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


class PlanRequest(Record):
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


# --- what it writes -------------------------------------------------------------------------------


class BnbSettings(Record):
    """BitsAndBytesConfig arguments for QLoRA."""

    load_in_4bit: bool = True
    bnb_4bit_quant_type: Literal["nf4", "fp4"] = "nf4"
    bnb_4bit_use_double_quant: bool = True
    bnb_4bit_compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    bnb_4bit_quant_storage: Literal["uint8", "bfloat16", "float16", "float32"] = "uint8"


class LoraSettings(Record):
    """peft.LoraConfig arguments (``target_modules`` is a list of names, or the string 'all-linear')."""

    r: int
    alpha: int
    dropout: float
    target_modules: list[str] | Literal["all-linear"]
    bias: Literal["none"] = "none"
    task_type: Literal["CAUSAL_LM"] = "CAUSAL_LM"
    trainable_params: int = 0


class CpuEstimate(Record):
    tokens_per_second: float
    seconds_per_epoch: float | None
    basis: str
    source: Literal["measured", "measured_other_model", "reference"] = Field(
        default="reference", description="this machine's last training of this model, of another model "
        "(scaled by parameters), or the reference figure tunepilot was written with")
    total_seconds: float | None = Field(default=None, description="start-up + every epoch + the evaluations")
    said_basis: Said | None = None


class TrainingPlan(Record):
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
    reading_k: int = Field(default=0, description="passages a reading example carries; 0: closed-book only")
    reading_share: float = Field(default=0.8, description="reading examples that hold their own passage")
    reading_per_question: int = Field(default=3, description="reading examples per distinct answer")
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


# --- plan.json ------------------------------------------------------------------------------------


def relocate_plan(plan: TrainingPlan, out_dir: str, *, data_dir: str | None = None,
                  run_dir: str | None = None, plan_name: str = "plan.json") -> TrainingPlan:
    """The plan with its launch command and config texts pointing at files written in ``out_dir``."""
    dist = distributed_files(plan.distributed, plan.precision, config_dir=out_dir,
                             plan_path=in_folder(out_dir, plan_name), data_dir=data_dir, run_dir=run_dir or out_dir)
    return plan.model_copy(update={"distributed": dist})


def plan_target(out: Path) -> tuple[Path, str]:
    """(folder, file name) for ``--out``: a folder gets ``plan.json`` inside; a path ending in ``.json``
    that is not a folder is the plan file itself, its configs written beside it."""
    out = Path(out).resolve()
    if out.suffix.lower() == ".json" and not out.is_dir():
        return out.parent, out.name
    if out.exists() and not out.is_dir():
        raise InputError("is a file, not a folder", where=str(out),
                         hint="Pass a folder (plan.json is written inside) or a path ending in .json")
    return out, PLAN_FILE


def write_plan(plan: TrainingPlan, out: Path, data_dir: str | None = None) -> tuple[TrainingPlan, list[Path]]:
    """Write the plan (``out/plan.json``, or ``out`` itself when it ends in ``.json``) and the accelerate /
    DeepSpeed configs beside it.

    Returns the plan as written (its launch command names these files) and the paths written.
    """
    out_dir, name = plan_target(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = relocate_plan(plan, str(out_dir), data_dir=data_dir, plan_name=name)
    written = [out_dir / name]
    dist = plan.distributed
    if dist.deepspeed_config:
        atomic_write_text(out_dir / DEEPSPEED_CONFIG_NAME, dist.deepspeed_config)
        written.append(out_dir / DEEPSPEED_CONFIG_NAME)
    for machine in dist.machines:  # several machines: one config each, machine_rank set
        atomic_write_text(out_dir / machine_config_name(machine.rank), machine.accelerate_config)
        written.append(out_dir / machine_config_name(machine.rank))
    if dist.accelerate_config and not dist.machines:
        atomic_write_text(out_dir / ACCELERATE_CONFIG_NAME, dist.accelerate_config)
        written.append(out_dir / ACCELERATE_CONFIG_NAME)
    write_json(out_dir / name, plan.model_dump(mode="json"))
    return plan, written


def plan_file(path: Path) -> Path:
    """The plan file a user named: a ``plan.json``, or a folder holding one (what ``plan --out`` wrote)."""
    path = Path(path)
    if path.is_dir():
        if not (path / PLAN_FILE).is_file():
            raise InputError(f"this folder has no {PLAN_FILE}", where=str(path),
                             hint="Pass the plan file, or the folder given to `tunepilot plan --out`")
        return path / PLAN_FILE
    return path


def load_plan(path: Path) -> TrainingPlan:
    """Read a ``plan.json`` back (the trainer's entry point), naming the file on failure."""
    path = plan_file(path)
    return parse_plan(read_json(path), where=str(path))


def parse_plan(data: Any, where: str = PLAN_FILE) -> TrainingPlan:
    """A plan record from its JSON; a hand-written or damaged plan names the fields that are wrong."""
    from pydantic import ValidationError

    try:
        return TrainingPlan.model_validate(data)
    except ValidationError as exc:
        wrong = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'the plan'}: {e['msg']}" for e in exc.errors()[:3])
        raise InputError(f"not a plan written by `tunepilot plan` ({wrong})", where=where,
                         hint="Write a new one with `tunepilot plan --out DIR`") from None
