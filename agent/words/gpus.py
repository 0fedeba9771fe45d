"""The GPU a message names: card, memory per card, how many (or none at all)."""

from __future__ import annotations

from agent.goal import GPUHint
from agent.words.text import CN_NUM, Text, in_range, rx, to_int
from tools.plan.gpus import GPUS

_GPUS: list[tuple[str, str, float | None]] = [(g.pattern, g.name, g.memory_gb) for g in GPUS]
GPU_RE = rx(
    r"(?:(?<![a-z0-9.-])|(?<=\dx))(?:nvidia\s*)?(?:" + "|".join(f"({p})" for p, _, _ in _GPUS) + r")(?![0-9])(?![a-rt-wyz])"
)
_COUNT_WORD = rf"(\d+|{CN_NUM}|one|a|an|single|two|dual|three|four|quad|eight|sixteen)"
_COUNT_BEFORE_RE = rx(
    r"(?:(?:^|[\s,(])(\d+|one|a|an|single|two|dual|three|four|quad|eight|sixteen)\s*(?:x|\*)?\s*"
    rf"|(\d+|{CN_NUM})\s*(?:张|块|个|台|片|卡|张卡|块卡)\s*)(?:nvidia\s*)?$"
)
_COUNT_AFTER_RE = rx(
    r"^(?:\s*-?\s*\d+\s*(?:gb|g)(?![a-z]))?(?:s\b)?\s*(?:(?:x|\*)\s*(\d+)"
    rf"|(\d+|{CN_NUM})\s*(?:张|块|个|台|片|卡))"
)
_COUNT_RE = rx(
    rf"(?<![a-z0-9.]){_COUNT_WORD}\s*(?:x\s*)?(?:张|块|个|台|片)?\s*(?:卡|显卡|gpus?\b|cards?\b|graphics\s+cards?\b)"
    r"|(双卡|单卡|多卡|multi[\s-]*gpu)"
)
_NO_GPU_RE = rx(
    r"\bno\s+(?:nvidia\s+|cuda\s+|dedicated\s+)?(?:gpus?|graphics\s+cards?|cuda|video\s+cards?)\b"
    r"|\bwithout\s+(?:a\s+|any\s+)?gpus?\b|\bcpu[\s-]*only\b|\bonly\s+(?:a\s+|have\s+(?:a\s+)?)?cpus?\b"
    r"|\bdon'?t\s+have\s+(?:a\s+|any\s+)?gpus?\b|\bon\s+(?:the\s+|my\s+|a\s+)?cpu\b"
    r"|没有(?:独立)?(?:显卡|gpu|n卡)|无显卡|没显卡|没有卡|只有cpu|纯cpu|仅cpu|用cpu|cpu(?:跑|训练)"
)
_MEM_RE = rx(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)\s*(?:gb|gib|g)(?![a-z0-9])")
_NOT_VRAM_AFTER = rx(
    r"^\s*(?:of\s+)?(?:system\s+|cpu\s+)?(?:ram\b|内存|disk|ssd|hdd|storage|硬盘|磁盘|存储|数据|文件|文本|语料|data\b|files?\b|text\b|corpus|of\s+(?:data|text|files?|documents?|pdfs?)|download|network|网络|流量)"
)
_NOT_VRAM_BEFORE = rx(r"(?:内存|\bram|disk|硬盘|磁盘|数据|文件|存储|data|dataset)\s*(?:有|是|:|of|is)?\s*$")


def read_gpu(tx: Text) -> GPUHint | None:
    name = mem = None
    count: int | None = None
    name_span = (-1, -1)
    mt = GPU_RE.search(tx.m)
    if mt:
        idx = next(i for i in range(1, len(_GPUS) + 1) if mt.group(i) is not None)
        _, name, mem = _GPUS[idx - 1]
        name_span = mt.span()
        before = _COUNT_BEFORE_RE.search(tx.m[max(0, mt.start() - 12):mt.start()])
        after = _COUNT_AFTER_RE.match(tx.m[mt.end():mt.end() + 16])
        if before:
            count = to_int(before.group(1) or before.group(2))
        elif after:
            count = to_int(after.group(1) or after.group(2))
    mems: list[tuple[int, float]] = []
    for mm in _MEM_RE.finditer(tx.m):
        if _NOT_VRAM_AFTER.match(tx.m[mm.end():mm.end() + 24]) or _NOT_VRAM_BEFORE.search(tx.m[max(0, mm.start() - 12):mm.start()]):
            continue
        value = float(mm.group(1))
        if in_range(value, 1, 2048):
            mems.append((mm.start(), value))
    if mems:
        if name_span[0] >= 0:
            mems.sort(key=lambda p: abs(p[0] - name_span[0]))
        mem = mems[0][1]
    if count is None:
        for cm in _COUNT_RE.finditer(tx.m):
            if cm.group(2):
                word = cm.group(2)
                count = 2 if word == "双卡" else 1 if word == "单卡" else None
            else:
                count = to_int(cm.group(1))
            break
    if _NO_GPU_RE.search(tx.m) and name is None:
        return GPUHint(count=0)
    if count is not None and not in_range(count, 0, 1024):
        count = None
    if name is None and mem is None and count is None:
        return None
    return GPUHint(name=name, memory_gb=mem, count=count)
