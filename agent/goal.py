"""The typed goal one chat message is turned into (by :mod:`agent.intent` or by an LLM).

A :class:`Goal` says what the person asked for (``intents``) and every setting
they named in words: base model, GPU, answer style, LoRA/QLoRA, epochs, rank,
batch, sequence length, learning rate, system prompt, a run id, a message for
the model. Fields the message did not mention stay ``None`` (or empty), so a
goal can be laid over the planner's defaults: defaults < config < chat.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Intent = Literal[
    "finetune",  # the whole journey: data → plan → confirm → train → merge → deploy → evaluate
    "convert",  # only turn files into train/eval JSONL
    "plan",  # "what would you pick for a 4090?": plan only, no training
    "train",
    "merge",
    "export",  # the merged model as GGUF, or an Ollama model
    "deploy",
    "evaluate",
    "chat",  # send chat_message to the deployed model
    "cancel",  # stop the running training
    "status",
    "list_runs",
    "follow_up",  # train again from the run's adapter with the person's corrections ("retrain with my fixes")
    "help",
    "confirm_yes",
    "confirm_no",
    "edit",  # change settings (during a confirmation, or ahead of the next plan)
    "unknown",
]
Language = Literal["zh", "en", "mixed"]
Method = Literal["lora", "qlora"]

# The fields an "edit" can change; the agent keeps them as plan overrides.
OVERRIDE_FIELDS = ("method", "epochs", "rank", "micro_batch", "max_length", "learning_rate")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GPUHint(_Model):
    """A GPU named in words: "24GB", "4090", "A100 80G", "两张A100", "no GPU" (count 0).

    ``memory_gb`` is per card: what the person said, else the card's only
    memory size when the name has one (4090 → 24); ``None`` for cards sold
    with several sizes (A100 40/80 GB, V100 16/32 GB) unless the size was said.
    """

    name: str | None = Field(default=None, description="normalised card name: 'RTX 4090', 'A100', 'H100', 'T4'")
    memory_gb: float | None = Field(default=None, gt=0, description="memory per card in GB")
    count: int | None = Field(default=None, ge=0, description="number of cards; 0 means no GPU (CPU only)")


def _unknown() -> list[Intent]:
    return ["unknown"]


class Goal(_Model):
    """What one message asks for, with the settings it names."""

    intents: list[Intent] = Field(default_factory=_unknown, min_length=1,
                                  description="in the order the message names them")
    task: str | None = Field(default=None, description="what the model should learn, in the person's words")
    base_model: str | None = Field(
        default=None,
        description="hub id ('Qwen/Qwen2.5-7B-Instruct'), 'demo' for a small/default model, or a local path",
    )
    params_b: float | None = Field(default=None, gt=0, description="model size in billions of parameters")
    gpu: GPUHint | None = None
    style: list[str] = Field(default_factory=list, description="answer style: 'concise', 'formal', ...")
    language: Language = Field(default="en", description="the language the message is written in")
    method: Method | None = None
    epochs: int | None = Field(default=None, ge=1)
    rank: int | None = Field(default=None, ge=1)
    micro_batch: int | None = Field(default=None, ge=1)
    max_length: int | None = Field(default=None, ge=1)
    learning_rate: float | None = Field(default=None, gt=0)
    system_prompt: str | None = None
    run_id: str | None = Field(default=None, description="a run id, or 'latest' for 'the last run'")
    chat_message: str | None = Field(default=None, description="the text to send to the model (intent chat)")
    files: list[str] = Field(default_factory=list, description="document paths named in the message")
    missing: list[str] = Field(default_factory=list,
                               description="what the asked journey still needs: 'files', 'chat_message'")

    @property
    def intent(self) -> Intent:
        """The first (main) intent."""
        return self.intents[0]

    def overrides(self) -> dict[str, Any]:
        """The training settings the message named (method, epochs, rank, batch, length, lr)."""
        return {k: getattr(self, k) for k in OVERRIDE_FIELDS if getattr(self, k) is not None}

    def has_settings(self) -> bool:
        """True when the message names anything a plan could change."""
        return bool(
            self.overrides()
            or self.base_model
            or self.params_b
            or self.gpu
            or self.style
            or self.system_prompt
        )
