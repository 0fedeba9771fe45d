"""The plan's things in words: methods, models, strategies, on/off and durations (by code where read)."""

from __future__ import annotations

from tools.core.messages import Said, said
from tools.plan.model_facts import ModelFacts, human_params

STRATEGY_WORDS = {
    "single": "one GPU",
    "ddp": "DDP (a full copy per GPU)",
    "fsdp": "FSDP (weights sharded across GPUs)",
    "zero2": "DeepSpeed ZeRO-2 (gradients and optimizer sharded)",
    "zero3": "DeepSpeed ZeRO-3 (everything sharded)",
    "cpu": "CPU",
}


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


def duration_said(secs: float) -> Said:
    if secs < 90:
        return said("plan.word.seconds", n=secs)
    if secs < 5400:
        return said("plan.word.minutes", n=secs / 60)
    return said("plan.word.hours", n=secs / 3600)
