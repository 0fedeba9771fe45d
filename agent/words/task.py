"""What the model should learn, in the person's words: the clauses of a message that say it."""

from __future__ import annotations

import re

from agent.words.language import HAN_RE
from agent.words.style import STYLE_RES
from agent.words.text import Text, rx
from tools.core.cjk import HAN

_CLAUSE_SPLIT_RE = rx(r"[,;!?\n。；！？、]|(?<!\d)\.(?!\d)")
_TASK_HINT_RE = rx(
    r"fine[\s-]*tun|finetun|\btrain|\bteach|\blearn|\banswer|\bon\s+(?:these|this|our|my|the)\b|\bbot\b|assistant|\bbuild"
    r"|微调|训练|学会|学习|回答|客服|助手|机器人|教|用|基于|根据"
)
_TASK_FILLER_RE = rx(
    r"fine[\s-]*tun\w*|finetun\w*|\btrain(?:ing)?\b|\bplease\b|\bhelp\s+me\b|\bi\s+want\s+to\b|\bi'?d\s+like\s+to\b"
    r"|\bcan\s+you\b|\bcould\s+you\b|\buse\b|\busing\b|\bwith\b|\bon\b|\bthese\b|\bthis\b|\bthe\b|\ba\b|\ban\b|\bmy\b|\bour\b"
    r"|\bmodel\b|\bsmall\b|\bfor\b|\bto\b|\bit\b|\bme\b|\bq?lora\b|\bdo\b|\bfiles?\b|\bdocs?\b"
    r"|微调|训练|精调|一个|一下|我们的|张|块|卡|显卡|轮|我的|我们|我想|我要|帮我|请|用|做|小模型|模型|这些|文件|文档|数据|吧|下|个|的|给|能|把|来"
    rf"|\d+(?:\.\d+)?\s*[a-z]*|[^a-z{HAN}]+"
)
_TASK_LEAD_RE = rx(
    r"^(?:(?:please|pls|can\s+you|could\s+you|help\s+me|i\s+want\s+to|i'?d\s+like\s+to|let'?s)\s+"
    r"|请|帮我|我想|我要|麻烦|帮忙)+",
    re.IGNORECASE,
)


_TRAIN_WORD_RE = rx(r"fine[\s-]*tun|finetun|\btrain|\bteach|微调|训练|精调|学会|教")


def read_task(tx: Text) -> str | None:
    """The clauses that say what the model should learn; clauses that only hold settings or style are left out."""
    parts: list[str] = []
    pos = 0
    for piece in _CLAUSE_SPLIT_RE.split(tx.m):  # every separator is one character
        start, end = pos, pos + len(piece)
        pos = end + 1
        if not piece.strip() or not _TASK_HINT_RE.search(piece):
            continue
        if any(pattern.search(piece) for pattern, _ in STYLE_RES) and not _TRAIN_WORD_RE.search(piece):
            continue  # "回答要简短": a style, not a task
        residue = _TASK_FILLER_RE.sub(" ", piece)
        if len(HAN_RE.findall(residue)) < 2 and not re.search(r"[a-z]{3,}", residue):
            continue  # "训练3轮", "用Qwen做QLoRA": settings only
        text = _TASK_LEAD_RE.sub("", tx.norm[start:end].strip(), count=1).strip()
        if text:
            parts.append(text)
    return ", ".join(parts)[:500] or None
