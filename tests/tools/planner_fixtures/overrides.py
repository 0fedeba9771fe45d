"""Plan overrides from words ('r=32, batch 2, use LoRA'): a helper for the planner tests."""

from __future__ import annotations

import re

from tools.core.errors import InputError
from tools.plan.record import PlanOverrides

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
