"""The parts of a message that are payload, not request: a system prompt, a run id, the text to send the model."""

from __future__ import annotations

import re

from agent.words.gpus import GPU_RE
from agent.words.text import QUOTE_RE, Text, quote_at, rx
from tools.plan.families import names_a_family

_SYSTEM_RE = rx(
    r"(?:system[\s_-]*(?:prompt|message|instructions?)|系统提示词|系统提示语|系统提示|系统消息|系统指令|系统设定|人设)"
    r"(?:\s*(?:is|to|as|=|:|为|是|设为|设置为|设成|改成|改为|换成|用))*\s*"
)


def read_system_prompt(tx: Text) -> str | None:
    for mt in _SYSTEM_RE.finditer(tx.m):
        q = quote_at(tx, mt.end(), within=3)
        if q:
            tx.mask(mt.start(), q[1])
            return tx.raw_span(q[2], q[3]).strip() or None
        if ":" in tx.m[mt.start():mt.end()]:  # 系统提示词：你是……  (to the end of the line)
            end = tx.m.find("\n", mt.end())
            end = len(tx.m) if end < 0 else end
            text = tx.raw_span(mt.end(), end).strip()
            if text:
                tx.mask(mt.start(), end)
                return text
    return None


_RUN_STD_RE = rx(r"(?<![0-9a-z-])(\d{8}-\d{6}-[0-9a-z]{2,16})(?![0-9a-z-])")
_RUN_KW_RE = rx(
    r"(?:\brun(?:[\s_-]*id)?|运行|任务|实验)\s*(?:[:#=]|号|编号|id)?\s*#?\s*([a-z0-9][a-z0-9._-]{0,99})(?![a-z0-9._-])"
)
_LATEST_RE = rx(
    r"\b(?:the\s+)?(?:latest|last|most\s+recent|newest|previous|current)\s+(?:run|model|training|one|adapter)\b"
    r"|上一次|上次|最近一次|最近的(?:运行|模型|训练)|最新的?(?:运行|模型|训练|一次)|刚才(?:的|那个)|刚(?:训练|训|跑)(?:好|完)?的"
)


def _looks_like_setting(token: str) -> bool:
    """A model name, a GPU or a size, not a run id ("run qwen2.5-7b on a 4090")."""
    if re.fullmatch(r"\d+(?:\.\d+)?(?:b|m|k|g|gb|bit)", token) or re.search(r"lora|epoch|batch|gpu", token):
        return True
    return names_a_family(token) or bool(GPU_RE.fullmatch(token))


def read_run_id(tx: Text) -> str | None:
    mt = _RUN_STD_RE.search(tx.m)
    if mt:
        kw = re.search(r"(?:\brun(?:[\s_-]*id)?|运行|任务)\s*[:#=]?\s*#?\s*$", tx.m[max(0, mt.start() - 12):mt.start()],
                       re.ASCII)
        start = mt.start() - (len(kw.group(0)) if kw else 0)
        tx.mask(start, mt.end())
        return tx.norm[mt.start(1):mt.end(1)]
    for mt in _RUN_KW_RE.finditer(tx.m):
        token = mt.group(1)
        if len(token) >= 4 and re.search(r"\d", token) and re.search(r"[a-z_-]", token) and not _looks_like_setting(token):
            tx.mask(mt.start(), mt.end())
            return tx.norm[mt.start(1):mt.end(1)]
    if _LATEST_RE.search(tx.m):
        return "latest"
    return None


_CHAT_TRIGGER_RE = rx(
    r"\b(?:chat|talk|speak)\s+(?:with|to)\s+(?:(?:the|my|our|this|your)\s+)?"
    r"(?:(?:new|fine-?tuned|trained|deployed|tuned)\s+)?(?:model|bot|assistant|it|llm)\b"
    r"|\bask\s+(?:it|the\s+(?:(?:new|fine-?tuned|trained|deployed)\s+)?(?:model|bot|assistant))\b"
    r"|\b(?:try|test)\s+(?:it|the\s+(?:new\s+|fine-?tuned\s+)?model)\s+(?:with|on)\b"
    r"|\b(?:say|send)\s+(?:this\s+)?to\s+(?:it|the\s+model)\b"
    r"|(?:和|跟|与|同)(?:新|微调后的?|训练好的?|部署的?|这个)?(?:的)?(?:模型|它|机器人|助手|bot)(?:聊聊|聊一聊|聊天|聊|对话|说话|说)"
    r"|问(?:一下|问|下)?(?:它|模型|新模型|这个模型|机器人|微调后的模型)|让(?:模型|它)回答|(?:对|给)(?:模型|它)说"
    r"|(?:发|发送)(?:给|到)(?:模型|它)|试(?:试|一下|下)(?:模型|它|新模型)"
)
_CHAT_WORD_RE = rx(r"(?<!-)\bchat\b(?!\s*(?:bot|logs?|history|data|transcripts?|templates?|records?))"
                           r"|聊天(?!记录|数据|日志|模板)|聊聊|(?:试试|体验一下)(?:看)?$")


def read_chat(tx: Text) -> tuple[bool, str | None, int, int]:
    """(asked to chat?, the message to send, where the request starts and ends)."""
    mt = _CHAT_TRIGGER_RE.search(tx.m)
    strong = mt is not None
    if mt is None:
        mt = _CHAT_WORD_RE.search(tx.m)
        if mt is None:
            return False, None, -1, -1
    pos, after = mt.start(), mt.end()
    q = quote_at(tx, after, within=8)
    if q is None:
        rest = tx.m[after:]
        takes_payload = strong and re.search(r"ask|问|回答|说|send|发|say|try|test|试", mt.group(0))
        if re.match(r"\s*:", rest) or takes_payload:
            lead = re.match(r"[\s:,]*", rest)  # always matches, maybe nothing
            start = after + (lead.end() if lead else 0)
            text = tx.raw_span(start, len(tx.m)).strip()
            if text:
                tx.mask(start, len(tx.m))
                return True, text, pos, after
            return True, None, pos, after
        q = next(((m.start(), m.end(), m.start(g), m.end(g)) for m in QUOTE_RE.finditer(tx.m, after)
                  for g in range(1, 7) if m.group(g) is not None), None)
    if q is not None:
        tx.mask(q[0], q[1])
        return True, tx.raw_span(q[2], q[3]).strip() or None, pos, after
    return True, None, pos, after
