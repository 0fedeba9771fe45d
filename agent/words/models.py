"""The base model, its size and the document paths a message names."""

from __future__ import annotations

import re

from agent.words.gpus import GPU_RE
from agent.words.text import Text, in_range, rx
from tools.plan.families import FAMILIES

_DOC_EXT = r"(?:pdf|docx?|html?|md|markdown|txt|csv|tsv|xlsx|xls|jsonl|json|parquet)"
_HUB_RE = rx(r"(?<![A-Za-z0-9_./~-])([A-Za-z][A-Za-z0-9_.-]{1,95})/([A-Za-z0-9][A-Za-z0-9_.-]{0,95})(?![A-Za-z0-9_/-])")
_PATH_RE = rx(r"(?<![A-Za-z0-9_.-])((?:~|\.{1,2})/[^\s,;，。；'\"“”()（）]+|/[^\s,;，。；'\"“”()（）/]+/[^\s,;，。；'\"“”()（）]+|[A-Za-z]:\\[^\s,;，。；'\"“”]+)")
_NOT_OWNERS = {"lora", "qlora", "yes", "no", "zh", "en", "and", "or", "epoch", "epochs", "batch", "tokens", "step",
               "steps", "gpu", "gpus", "cpu", "lr", "r", "input", "output", "q", "a", "train", "eval", "before", "after"}

_GENERIC_RE = rx(r"(?<![A-Za-z0-9_.-])([A-Za-z][A-Za-z0-9.]*(?:-[A-Za-z0-9.]+)*-(\d+(?:\.\d+)?)[Bb](?:-[A-Za-z0-9.]+)*)(?![A-Za-z0-9_.-])")
_DEMO_RE = rx(
    r"\b(?:small(?:est|er)?|tiny|little|demo|toy|default)\s+(?:base\s+)?(?:model|llm|one)\b"
    r"|\bthe\s+default\b(?!\s+(?:batch|rank|lr|learning|settings?|epochs?|length|values?|config|method|parameters?))"
    r"|\bdemo\b|\bsmollm2?\b"
    r"|小模型|小一点的模型|最小的模型|(?:默认|演示)的?模型|默认(?!的?(?:参数|设置|配置|值|batch|学习率|方法|秩|长度))"
)


def _params_from_name(name: str) -> float | None:
    low = name.lower()
    mt = re.search(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)b(?![a-z0-9])", low) or re.search(r"-(\d+(?:\.\d+)?)b(?![a-z0-9])", low)
    if mt:
        value = float(mt.group(1))
        return value if in_range(value, 0.01, 5000) else None  # "0B" in a name is no size (found by fuzzing)
    mt = re.search(r"(?<![a-z0-9.])(\d+)m(?![a-z0-9])", low)
    return int(mt.group(1)) / 1000 if mt and int(mt.group(1)) > 0 else None


def read_base_model(tx: Text) -> tuple[str | None, float | None, list[str]]:
    """(base model, size in billions, document paths named in the message)."""
    found: list[tuple[int, str, float | None]] = []
    files: list[str] = []
    for mt in _HUB_RE.finditer(tx.norm):
        if tx.m[mt.start():mt.end()].strip() == "":
            continue  # inside a payload
        owner, name = mt.group(1), mt.group(2)
        text = mt.group(0)
        if re.search(rf"\.{_DOC_EXT}$", text, re.I):
            files.append(text)
            tx.mask(mt.start(), mt.end())
            continue
        if (owner.lower() in _NOT_OWNERS or not re.search(r"[\d-]", name) or owner.lower().startswith("http")
                or GPU_RE.fullmatch(owner.lower()) or GPU_RE.fullmatch(name.lower())):
            continue
        found.append((mt.start(), text, _params_from_name(name)))
        tx.mask(mt.start(), mt.end())
    for mt in _PATH_RE.finditer(tx.norm):
        if tx.m[mt.start():mt.end()].strip() == "":
            continue
        path = mt.group(1).rstrip(".")
        if len(path) < 2:
            continue
        if re.search(rf"\.{_DOC_EXT}$", path, re.I):
            files.append(path)
        else:
            found.append((mt.start(), path, _params_from_name(path.rsplit("/", 1)[-1])))
        tx.mask(mt.start(), mt.start() + len(mt.group(1)))
    for family in FAMILIES:  # the family catalog (tools/plan/families.py); each masks what it found
        for mt in family.pattern.finditer(tx.m):
            name, size = family.hub_id(mt)
            found.append((mt.start(), name, size))
            tx.mask(mt.start(), mt.end())
    for mt in _GENERIC_RE.finditer(tx.norm):
        if tx.m[mt.start():mt.end()].strip() == "":
            continue
        found.append((mt.start(), mt.group(1), float(mt.group(2))))
        tx.mask(mt.start(), mt.end())
    if found:
        found.sort(key=lambda f: f[0])
        return found[0][1], found[0][2], files
    demo = _DEMO_RE.search(tx.m)
    if demo:
        tx.mask(demo.start(), demo.end())
        return "demo", None, files
    return None, None, files


_PARAMS_RE = rx(
    r"(?<![a-z0-9.])(\d+(?:\.\d+)?)(?:(b)|(m)|\s*(billion)|\s*(million)|\s*(亿))(?![a-z0-9])"
)


def read_params(m: str) -> float | None:
    for mt in _PARAMS_RE.finditer(m):
        value = float(mt.group(1))
        if mt.group(2) or mt.group(4):
            result = value
        elif mt.group(3) or mt.group(5):
            if value < 10:
                continue  # "2m" is more likely minutes or metres
            result = value / 1000
        else:
            result = value / 10  # 70亿 = 7B
        if in_range(result, 0.01, 5000):
            return result
    return None
