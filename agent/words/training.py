"""Training settings named in words (the plan edits): LoRA/QLoRA, epochs, rank, batch, length, learning rate."""

from __future__ import annotations

import re
from typing import Any

from agent.words.text import NUM, in_range, rx, to_int

_CONN = r"(?:\s*(?:=|:|is|of|to|at|as|为|是|改成|改为|改到|设为|设成|设置为|设置成|调成|调到|调为|换成|用|定为|取)?\s*){0,2}"


def _first_int(patterns: list[str], text: str, lo: int, hi: int) -> int | None:
    for p in patterns:
        for mt in re.finditer(p, text, re.ASCII):
            raw = mt.group("v")
            k = re.fullmatch(r"(\d+(?:\.\d+)?)\s*k", raw.strip())
            value = int(float(k.group(1)) * 1024) if k else to_int(raw)
            if in_range(value, lo, hi):
                return value
    return None


def read_epochs(m: str) -> int | None:
    return _first_int([
        rf"(?<![a-z0-9.])(?P<v>{NUM})\s*(?:个\s*)?(?:epochs?\b|轮|遍(?!历))",
        rf"(?:\bepochs?|num[_\s]train[_\s]epochs|训练轮数|轮数|epoch数){_CONN}(?P<v>{NUM})",
    ], m, 1, 1000)


def read_rank(m: str) -> int | None:
    return _first_int([
        r"(?<![a-z])(?:lora[\s_-]*)?r\s*[=:]\s*(?P<v>\d+)",
        r"(?<![a-z0-9])r(?P<v>\d{1,4})(?![\w.])",
        rf"(?:lora[\s_-]*)?\brank{_CONN}(?P<v>\d+)",
        rf"(?:lora\s*)?秩{_CONN}(?P<v>\d+)",
    ], m, 1, 4096)


def read_micro_batch(m: str) -> int | None:
    return _first_int([
        rf"(?:micro[\s_-]*)?batch(?:[\s_-]*size)?{_CONN}(?P<v>{NUM})(?![0-9.])",
        r"\bbs\s*[=:]?\s*(?P<v>\d+)",
        rf"(?:批大小|批次大小|批量大小|批量|批次|批){_CONN}(?P<v>{NUM})",
    ], m, 1, 4096)


def read_max_length(m: str) -> int | None:
    return _first_int([
        r"(?:max(?:imum)?[\s_-]*(?:seq(?:uence)?[\s_-]*)?len(?:gth)?|seq(?:uence)?[\s_-]*len(?:gth)?"
        r"|context[\s_-]*(?:length|window|len)|cutoff[\s_-]*len|max[\s_-]*tokens|最大序列长度|最大长度|序列长度"
        r"|上下文长度|最大token数?|截断长度|最大输入长度)" + _CONN + r"(?P<v>\d+(?:\.\d+)?\s*k?)(?![a-z0-9])",
    ], m, 16, 1 << 20)


def read_learning_rate(m: str) -> float | None:
    for mt in re.finditer(r"(?:\blr|learning[\s_-]*rate|学习率)" + _CONN + r"(\d+(?:\.\d+)?(?:e-?\d+)?)", m, re.ASCII):
        try:
            value = float(mt.group(1))
        except ValueError:
            continue
        if 0 < value < 1:
            return value
    return None


_METHOD_SWITCH_RE = rx(r"(?:换成|改成|改为|换为|切换到|切到|改用|switch(?:ed)?\s+to|change\s+(?:it\s+)?to|go\s+with|use)\s*(q-?lora|lora)(?![a-z])")
_NO_QLORA_RE = rx(
    r"(?:(?<!要)不要|不用|别用|别|(?<!要)不|\bno|\bnot|\bwithout|\bdon'?t|\bdo\s+not)\s*(?:用|使用|做|use)?\s*(?:q-?lora|量化|quantiz\w*|4[\s-]*bit)"
    r"|不量化|no\s+quantization|全精度|16[\s-]*bit\s+lora|bf16\s+lora"
)
_QLORA_RE = rx(r"q-?lora|4[\s-]*bit|4\s*位|4\s*比特|\bint4\b|\bnf4\b|量化|quantiz|bitsandbytes")
_LORA_RE = rx(r"(?<![a-z-])lora(?![a-z])")


def read_method(m: str) -> str | None:
    switches = list(_METHOD_SWITCH_RE.finditer(m))
    if switches:  # the last "换成 X" / "switch to X" wins
        sw = switches[-1]
        return "qlora" if sw.group(1).startswith("q") else "lora"
    if _NO_QLORA_RE.search(m):
        return "lora"
    if _QLORA_RE.search(m):
        return "qlora"
    if _LORA_RE.search(m):
        return "lora"
    return None


def read_settings(m: str) -> dict[str, Any]:
    """Every training setting the (masked) message names, by Goal field; ``None`` where it names none."""
    return {
        "method": read_method(m),
        "epochs": read_epochs(m),
        "rank": read_rank(m),
        "micro_batch": read_micro_batch(m),
        "max_length": read_max_length(m),
        "learning_rate": read_learning_rate(m),
    }
