"""Understanding a chat message without an LLM: Chinese or English words → :class:`agent.goal.Goal`.

:func:`parse_message` is deterministic and never raises. It works on an NFKC
copy of the message (full-width digits and punctuation become ASCII), lower
case, with the parts that are payload rather than request masked out: a
system prompt in quotes, the text to send to the model ("ask it '你是谁'"),
a run id. Then it reads

- settings: base model, size, GPU, LoRA/QLoRA, epochs, rank, batch, length,
  learning rate, answer style;
- intents, in the order the message names them; "finetune" (the whole
  journey) absorbs the steps it already contains, a feasibility question
  ("can I …", "what would you pick …", "能跑吗") makes it "plan" only;
- during a confirmation: yes / no / an edit of the settings.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

from agent.goal import Goal, GPUHint, Intent, Language
from tools.plan.families import FAMILIES, names_a_family
from tools.plan.gpus import GPUS

log = logging.getLogger(__name__)


def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """ASCII word boundaries: ``\\b`` must see one between 用 and QLoRA, which Unicode ``\\w`` would not."""
    return re.compile(pattern, flags | re.ASCII)


MAX_CHARS = 8000  # longer messages are read up to here (a goal is a sentence or two, not a document)

# --- text preparation ---------------------------------------------------------------


class _Text:
    """The message three ways, all the same length: NFKC (``norm``), lower case (``low``), masked (``m``).

    ``raw_span`` maps a span of the normalised text back to the original, so
    payloads (a system prompt, a chat message) keep the person's own characters.
    """

    def __init__(self, raw: str) -> None:
        self.raw = raw
        chars: list[str] = []
        origin: list[int] = []
        for i, c in enumerate(raw):
            n = unicodedata.normalize("NFKC", c)
            n = n.replace("\u00d7", "x")  # 2×A100
            for ch in n:
                chars.append(ch)
                origin.append(i)
        self.norm = "".join(chars)
        self.origin = origin
        self.low = "".join(c.lower() if len(c.lower()) == 1 else c for c in self.norm)
        self.m = self.low  # masked as payloads are found

    def mask(self, start: int, end: int) -> None:
        self.m = self.m[:start] + " " * (end - start) + self.m[end:]

    def raw_span(self, start: int, end: int) -> str:
        if start >= end or start >= len(self.origin):
            return ""
        return self.raw[self.origin[start]: self.origin[end - 1] + 1]


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_EN_NUMBERS = {"one": 1, "a": 1, "an": 1, "single": 1, "two": 2, "dual": 2, "three": 3, "four": 4, "quad": 4,
               "five": 5, "six": 6, "seven": 7, "eight": 8, "ten": 10, "sixteen": 16}
CN_NUM = r"[零〇一二两俩三四五六七八九十百]+"
NUM = rf"(?:\d+|{CN_NUM})"


def _cn_to_int(s: str) -> int | None:
    """一 → 1, 十五 → 15, 二十 → 20, 一百二十八 → 128 (small numbers only)."""
    total, cur = 0, 0
    for ch in s:
        if ch in _CN_DIGITS:
            cur = _CN_DIGITS[ch]
        elif ch == "十":
            total += (cur or 1) * 10
            cur = 0
        elif ch == "百":
            total += (cur or 1) * 100
            cur = 0
        else:
            return None
    return total + cur


def _to_int(s: str) -> int | None:
    s = s.strip()
    if s.isdigit():
        return int(s) if len(s) < 10 else None
    if s in _EN_NUMBERS:
        return _EN_NUMBERS[s]
    return _cn_to_int(s)


def _in_range(value: float | int | None, lo: float, hi: float) -> bool:
    return value is not None and lo <= value <= hi


# Quoted text: "…", “…”, ‘…’, 「…」, 『…』, '…' (not an apostrophe).
_QUOTE_RE = _rx(
    r'"([^"\n]{1,2000})"|“([^”\n]{1,2000})”|‘([^’\n]{1,2000})’|「([^」\n]{1,2000})」|『([^』\n]{1,2000})』'
    r"|(?<![a-z0-9])'([^'\n]{1,2000})'(?![a-z0-9])"
)


def _quote_at(tx: _Text, pos: int, within: int = 12) -> tuple[int, int, int, int] | None:
    """The first quote starting within ``within`` characters of ``pos``: (outer start, outer end, inner start, inner end)."""
    for q in _QUOTE_RE.finditer(tx.m, pos):
        if q.start() - pos > within:
            return None
        if tx.m[pos:q.start()].strip(" :=,是为用") == "":
            g = next(i for i in range(1, 7) if q.group(i) is not None)
            return q.start(), q.end(), q.start(g), q.end(g)
        return None
    return None


# --- payloads: system prompt, run id, chat message ------------------------------------------

_SYSTEM_RE = _rx(
    r"(?:system[\s_-]*(?:prompt|message|instructions?)|系统提示词|系统提示语|系统提示|系统消息|系统指令|系统设定|人设)"
    r"(?:\s*(?:is|to|as|=|:|为|是|设为|设置为|设成|改成|改为|换成|用))*\s*"
)


def _system_prompt(tx: _Text) -> str | None:
    for mt in _SYSTEM_RE.finditer(tx.m):
        q = _quote_at(tx, mt.end(), within=3)
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


_RUN_STD_RE = _rx(r"(?<![0-9a-z-])(\d{8}-\d{6}-[0-9a-z]{2,16})(?![0-9a-z-])")
_RUN_KW_RE = _rx(
    r"(?:\brun(?:[\s_-]*id)?|运行|任务|实验)\s*(?:[:#=]|号|编号|id)?\s*#?\s*([a-z0-9][a-z0-9._-]{0,99})(?![a-z0-9._-])"
)
_LATEST_RE = _rx(
    r"\b(?:the\s+)?(?:latest|last|most\s+recent|newest|previous|current)\s+(?:run|model|training|one|adapter)\b"
    r"|上一次|上次|最近一次|最近的(?:运行|模型|训练)|最新的?(?:运行|模型|训练|一次)|刚才(?:的|那个)|刚(?:训练|训|跑)(?:好|完)?的"
)


def _looks_like_setting(token: str) -> bool:
    """A model name, a GPU or a size, not a run id ("run qwen2.5-7b on a 4090")."""
    if re.fullmatch(r"\d+(?:\.\d+)?(?:b|m|k|g|gb|bit)", token) or re.search(r"lora|epoch|batch|gpu", token):
        return True
    return names_a_family(token) or bool(_GPU_RE.fullmatch(token))


def _run_id(tx: _Text) -> str | None:
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


_CHAT_TRIGGER_RE = _rx(
    r"\b(?:chat|talk|speak)\s+(?:with|to)\s+(?:(?:the|my|our|this|your)\s+)?"
    r"(?:(?:new|fine-?tuned|trained|deployed|tuned)\s+)?(?:model|bot|assistant|it|llm)\b"
    r"|\bask\s+(?:it|the\s+(?:(?:new|fine-?tuned|trained|deployed)\s+)?(?:model|bot|assistant))\b"
    r"|\b(?:try|test)\s+(?:it|the\s+(?:new\s+|fine-?tuned\s+)?model)\s+(?:with|on)\b"
    r"|\b(?:say|send)\s+(?:this\s+)?to\s+(?:it|the\s+model)\b"
    r"|(?:和|跟|与|同)(?:新|微调后的?|训练好的?|部署的?|这个)?(?:的)?(?:模型|它|机器人|助手|bot)(?:聊聊|聊一聊|聊天|聊|对话|说话|说)"
    r"|问(?:一下|问|下)?(?:它|模型|新模型|这个模型|机器人|微调后的模型)|让(?:模型|它)回答|(?:对|给)(?:模型|它)说"
    r"|(?:发|发送)(?:给|到)(?:模型|它)|试(?:试|一下|下)(?:模型|它|新模型)"
)
_CHAT_WORD_RE = _rx(r"(?<!-)\bchat\b(?!\s*(?:bot|logs?|history|data|transcripts?|templates?|records?))"
                           r"|聊天(?!记录|数据|日志|模板)|聊聊|(?:试试|体验一下)(?:看)?$")


def _chat(tx: _Text) -> tuple[bool, str | None, int, int]:
    """(asked to chat?, the message to send, where the request starts and ends)."""
    mt = _CHAT_TRIGGER_RE.search(tx.m)
    strong = mt is not None
    if mt is None:
        mt = _CHAT_WORD_RE.search(tx.m)
        if mt is None:
            return False, None, -1, -1
    pos, after = mt.start(), mt.end()
    q = _quote_at(tx, after, within=8)
    if q is None:
        rest = tx.m[after:]
        takes_payload = strong and re.search(r"ask|问|回答|说|send|发|say|try|test|试", mt.group(0))
        if re.match(r"\s*:", rest) or takes_payload:
            start = after + len(re.match(r"[\s:,]*", rest).group(0))  # type: ignore[union-attr]
            text = tx.raw_span(start, len(tx.m)).strip()
            if text:
                tx.mask(start, len(tx.m))
                return True, text, pos, after
            return True, None, pos, after
        q = next(((m.start(), m.end(), m.start(g), m.end(g)) for m in _QUOTE_RE.finditer(tx.m, after)
                  for g in range(1, 7) if m.group(g) is not None), None)
    if q is not None:
        tx.mask(q[0], q[1])
        return True, tx.raw_span(q[2], q[3]).strip() or None, pos, after
    return True, None, pos, after


# --- settings -------------------------------------------------------------------------

_DOC_EXT = r"(?:pdf|docx?|html?|md|markdown|txt|csv|tsv|xlsx|xls|jsonl|json|parquet)"
_HUB_RE = _rx(r"(?<![A-Za-z0-9_./~-])([A-Za-z][A-Za-z0-9_.-]{1,95})/([A-Za-z0-9][A-Za-z0-9_.-]{0,95})(?![A-Za-z0-9_/-])")
_PATH_RE = _rx(r"(?<![A-Za-z0-9_.-])((?:~|\.{1,2})/[^\s,;，。；'\"“”()（）]+|/[^\s,;，。；'\"“”()（）/]+/[^\s,;，。；'\"“”()（）]+|[A-Za-z]:\\[^\s,;，。；'\"“”]+)")
_NOT_OWNERS = {"lora", "qlora", "yes", "no", "zh", "en", "and", "or", "epoch", "epochs", "batch", "tokens", "step",
               "steps", "gpu", "gpus", "cpu", "lr", "r", "input", "output", "q", "a", "train", "eval", "before", "after"}

_GENERIC_RE = _rx(r"(?<![A-Za-z0-9_.-])([A-Za-z][A-Za-z0-9.]*(?:-[A-Za-z0-9.]+)*-(\d+(?:\.\d+)?)[Bb](?:-[A-Za-z0-9.]+)*)(?![A-Za-z0-9_.-])")
_DEMO_RE = _rx(
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
        return value if _in_range(value, 0.01, 5000) else None  # "0B" in a name is no size (found by fuzzing)
    mt = re.search(r"(?<![a-z0-9.])(\d+)m(?![a-z0-9])", low)
    return int(mt.group(1)) / 1000 if mt and int(mt.group(1)) > 0 else None


def _base_model(tx: _Text) -> tuple[str | None, float | None, list[str]]:
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
                or _GPU_RE.fullmatch(owner.lower()) or _GPU_RE.fullmatch(name.lower())):
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


_PARAMS_RE = _rx(
    r"(?<![a-z0-9.])(\d+(?:\.\d+)?)(?:(b)|(m)|\s*(billion)|\s*(million)|\s*(亿))(?![a-z0-9])"
)


def _params(m: str) -> float | None:
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
        if _in_range(result, 0.01, 5000):
            return result
    return None


# GPUs: (pattern, name, memory per card in GB when the name has only one size), from the one catalog
_GPUS: list[tuple[str, str, float | None]] = [(g.pattern, g.name, g.memory_gb) for g in GPUS]
_GPU_RE = _rx(
    r"(?:(?<![a-z0-9.-])|(?<=\dx))(?:nvidia\s*)?(?:" + "|".join(f"({p})" for p, _, _ in _GPUS) + r")(?![0-9])(?![a-rt-wyz])"
)
_COUNT_WORD = rf"(\d+|{CN_NUM}|one|a|an|single|two|dual|three|four|quad|eight|sixteen)"
_COUNT_BEFORE_RE = _rx(
    r"(?:(?:^|[\s,(])(\d+|one|a|an|single|two|dual|three|four|quad|eight|sixteen)\s*(?:x|\*)?\s*"
    rf"|(\d+|{CN_NUM})\s*(?:张|块|个|台|片|卡|张卡|块卡)\s*)(?:nvidia\s*)?$"
)
_COUNT_AFTER_RE = _rx(
    r"^(?:\s*-?\s*\d+\s*(?:gb|g)(?![a-z]))?(?:s\b)?\s*(?:(?:x|\*)\s*(\d+)"
    rf"|(\d+|{CN_NUM})\s*(?:张|块|个|台|片|卡))"
)
_COUNT_RE = _rx(
    rf"(?<![a-z0-9.]){_COUNT_WORD}\s*(?:x\s*)?(?:张|块|个|台|片)?\s*(?:卡|显卡|gpus?\b|cards?\b|graphics\s+cards?\b)"
    r"|(双卡|单卡|多卡|multi[\s-]*gpu)"
)
_NO_GPU_RE = _rx(
    r"\bno\s+(?:nvidia\s+|cuda\s+|dedicated\s+)?(?:gpus?|graphics\s+cards?|cuda|video\s+cards?)\b"
    r"|\bwithout\s+(?:a\s+|any\s+)?gpus?\b|\bcpu[\s-]*only\b|\bonly\s+(?:a\s+|have\s+(?:a\s+)?)?cpus?\b"
    r"|\bdon'?t\s+have\s+(?:a\s+|any\s+)?gpus?\b|\bon\s+(?:the\s+|my\s+|a\s+)?cpu\b"
    r"|没有(?:独立)?(?:显卡|gpu|n卡)|无显卡|没显卡|没有卡|只有cpu|纯cpu|仅cpu|用cpu|cpu(?:跑|训练)"
)
_MEM_RE = _rx(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)\s*(?:gb|gib|g)(?![a-z0-9])")
_NOT_VRAM_AFTER = _rx(
    r"^\s*(?:of\s+)?(?:system\s+|cpu\s+)?(?:ram\b|内存|disk|ssd|hdd|storage|硬盘|磁盘|存储|数据|文件|文本|语料|data\b|files?\b|text\b|corpus|of\s+(?:data|text|files?|documents?|pdfs?)|download|network|网络|流量)"
)
_NOT_VRAM_BEFORE = _rx(r"(?:内存|\bram|disk|硬盘|磁盘|数据|文件|存储|data|dataset)\s*(?:有|是|:|of|is)?\s*$")


def _gpu(tx: _Text) -> GPUHint | None:
    name = mem = None
    count: int | None = None
    name_span = (-1, -1)
    mt = _GPU_RE.search(tx.m)
    if mt:
        idx = next(i for i in range(1, len(_GPUS) + 1) if mt.group(i) is not None)
        _, name, mem = _GPUS[idx - 1]
        name_span = mt.span()
        before = _COUNT_BEFORE_RE.search(tx.m[max(0, mt.start() - 12):mt.start()])
        after = _COUNT_AFTER_RE.match(tx.m[mt.end():mt.end() + 16])
        if before:
            count = _to_int(before.group(1) or before.group(2))
        elif after:
            count = _to_int(after.group(1) or after.group(2))
    mems: list[tuple[int, float]] = []
    for mm in _MEM_RE.finditer(tx.m):
        if _NOT_VRAM_AFTER.match(tx.m[mm.end():mm.end() + 24]) or _NOT_VRAM_BEFORE.search(tx.m[max(0, mm.start() - 12):mm.start()]):
            continue
        value = float(mm.group(1))
        if _in_range(value, 1, 2048):
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
                count = _to_int(cm.group(1))
            break
    if _NO_GPU_RE.search(tx.m) and name is None:
        return GPUHint(count=0)
    if count is not None and not _in_range(count, 0, 1024):
        count = None
    if name is None and mem is None and count is None:
        return None
    return GPUHint(name=name, memory_gb=mem, count=count)


_CONN = r"(?:\s*(?:=|:|is|of|to|at|as|为|是|改成|改为|改到|设为|设成|设置为|设置成|调成|调到|调为|换成|用|定为|取)?\s*){0,2}"


def _first_int(patterns: list[str], text: str, lo: int, hi: int) -> int | None:
    for p in patterns:
        for mt in re.finditer(p, text, re.ASCII):
            raw = mt.group("v")
            k = re.fullmatch(r"(\d+(?:\.\d+)?)\s*k", raw.strip())
            value = int(float(k.group(1)) * 1024) if k else _to_int(raw)
            if _in_range(value, lo, hi):
                return value
    return None


def _epochs(m: str) -> int | None:
    return _first_int([
        rf"(?<![a-z0-9.])(?P<v>{NUM})\s*(?:个\s*)?(?:epochs?\b|轮|遍(?!历))",
        rf"(?:\bepochs?|num[_\s]train[_\s]epochs|训练轮数|轮数|epoch数){_CONN}(?P<v>{NUM})",
    ], m, 1, 1000)


def _rank(m: str) -> int | None:
    return _first_int([
        r"(?<![a-z])(?:lora[\s_-]*)?r\s*[=:]\s*(?P<v>\d+)",
        r"(?<![a-z0-9])r(?P<v>\d{1,4})(?![\w.])",
        rf"(?:lora[\s_-]*)?\brank{_CONN}(?P<v>\d+)",
        rf"(?:lora\s*)?秩{_CONN}(?P<v>\d+)",
    ], m, 1, 4096)


def _micro_batch(m: str) -> int | None:
    return _first_int([
        rf"(?:micro[\s_-]*)?batch(?:[\s_-]*size)?{_CONN}(?P<v>{NUM})(?![0-9.])",
        r"\bbs\s*[=:]?\s*(?P<v>\d+)",
        rf"(?:批大小|批次大小|批量大小|批量|批次|批){_CONN}(?P<v>{NUM})",
    ], m, 1, 4096)


def _max_length(m: str) -> int | None:
    return _first_int([
        r"(?:max(?:imum)?[\s_-]*(?:seq(?:uence)?[\s_-]*)?len(?:gth)?|seq(?:uence)?[\s_-]*len(?:gth)?"
        r"|context[\s_-]*(?:length|window|len)|cutoff[\s_-]*len|max[\s_-]*tokens|最大序列长度|最大长度|序列长度"
        r"|上下文长度|最大token数?|截断长度|最大输入长度)" + _CONN + r"(?P<v>\d+(?:\.\d+)?\s*k?)(?![a-z0-9])",
    ], m, 16, 1 << 20)


def _learning_rate(m: str) -> float | None:
    for mt in re.finditer(r"(?:\blr|learning[\s_-]*rate|学习率)" + _CONN + r"(\d+(?:\.\d+)?(?:e-?\d+)?)", m, re.ASCII):
        try:
            value = float(mt.group(1))
        except ValueError:
            continue
        if 0 < value < 1:
            return value
    return None


_METHOD_SWITCH_RE = _rx(r"(?:换成|改成|改为|换为|切换到|切到|改用|switch(?:ed)?\s+to|change\s+(?:it\s+)?to|go\s+with|use)\s*(q-?lora|lora)(?![a-z])")
_NO_QLORA_RE = _rx(
    r"(?:(?<!要)不要|不用|别用|别|(?<!要)不|\bno|\bnot|\bwithout|\bdon'?t|\bdo\s+not)\s*(?:用|使用|做|use)?\s*(?:q-?lora|量化|quantiz\w*|4[\s-]*bit)"
    r"|不量化|no\s+quantization|全精度|16[\s-]*bit\s+lora|bf16\s+lora"
)
_QLORA_RE = _rx(r"q-?lora|4[\s-]*bit|4\s*位|4\s*比特|\bint4\b|\bnf4\b|量化|quantiz|bitsandbytes")
_LORA_RE = _rx(r"(?<![a-z-])lora(?![a-z])")


def _method(m: str) -> str | None:
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


_STYLES: list[tuple[str, str]] = [
    (r"\bconcise\b|\bbrief(?:ly)?\b|\bshort(?:er)?\s+(?:answers?|replies|responses)|\bsuccinct"
     r"|\b(?:answers?|replies|responses)\s+(?:should|must|need\s+to|have\s+to)?\s*(?:be\s+)?(?:short|brief|concise)"
     r"|\bkeep\s+(?:it|them|the\s+answers?|answers?|replies)\s+short|\bto\s+the\s+point"
     r"|简短|简洁|简明|精简|简练|言简意赅|别太长|不要太长|不要啰嗦|别啰嗦|短一点|简单明了", "concise"),
    (r"\bdetailed\b|\bin\s+detail\b|\bthorough|详细|详尽|具体一点", "detailed"),
    (r"(?:code|代码)[^.,;!?\n。，；]{0,30}markdown|markdown[^.,;!?\n。，；]{0,20}(?:code|代码)", "always give code in Markdown"),
    (r"\bmarkdown\b(?!\s*(?:files?|docs?|documents?|文件|文档))", "use Markdown"),
    (r"\bformal(?:ly)?\b|正式(?!上线|发布|环境|版|训练)|书面语", "formal"),
    (r"\bprofessional(?:ly)?\b(?!\s+(?:documents?|data|domain|field|knowledge))|专业(?!领域|知识|术语|文档|资料|数据|问题|人士|课程|词汇)", "professional"),
    (r"\bfriendly\b|\bwarm\b|友好|亲切|热情|温柔|和蔼", "friendly"),
    (r"\bcasual(?:ly)?\b|口语化", "casual"),
    (r"\bpolite(?:ly)?\b|礼貌|客气", "polite"),
    (r"\bhumou?r(?:ous)?\b|\bfunny\b|幽默|风趣", "humorous"),
    (r"(?:answer|reply|respond|write|speak|talk)\w*\s+(?:only\s+)?in\s+chinese|\bin\s+chinese\b|用中文|中文回答|中文回复|说中文|用汉语", "answer in Chinese"),
    (r"(?:answer|reply|respond|write|speak|talk)\w*\s+(?:only\s+)?in\s+english|\bin\s+english\b|用英文|用英语|英文回答|英文回复|说英语", "answer in English"),
    (r"bullet|分点|要点形式|条列|列表形式|分条", "use bullet points"),
    (r"step[\s-]by[\s-]step|分步骤|一步一步|逐步", "step by step"),
    (r"\bcite\b|给出(?:出处|来源)|引用(?:来源|出处|原文)|注明出处", "cite sources"),
    (r"don'?t\s+(?:make\s+(?:things|stuff|anything)\s+up|hallucinate|guess)|say\s+(?:you|it|so)\s+(?:don'?t|do\s+not)\s+know"
     r"|不知道就说不知道|不要编造|不要瞎编|别编|不要胡编|不要乱编", "say so when unsure"),
    (r"\bno\s+emojis?\b|不要(?:用)?表情|别用表情", "no emoji"),
]
_STYLE_RES = [(_rx(p), phrase) for p, phrase in _STYLES]
_LIMIT_EN_RE = _rx(r"(?:within|under|at\s+most|no\s+more\s+than|less\s+than|max(?:imum)?\s+(?:of\s+)?)\s*(\d+)\s*(words|sentences|characters|chars|lines)")
_LIMIT_ZH_RE = _rx(r"(?:不超过|少于|控制在|最多|限制在)\s*(\d+)\s*个?(字|句|词|行)|(\d+)\s*个?(字|句话?|词|行)以内")
_ZH_UNITS = {"字": "characters", "句": "sentences", "句话": "sentences", "词": "words", "行": "lines"}


def _style(m: str) -> list[str]:
    out: list[str] = []
    for rx, phrase in _STYLE_RES:
        if rx.search(m) and phrase not in out:
            if phrase == "use Markdown" and "always give code in Markdown" in out:
                continue
            out.append(phrase)
    lim = _LIMIT_EN_RE.search(m)
    if lim:
        unit = "characters" if lim.group(2) == "chars" else lim.group(2)
        out.append(f"at most {lim.group(1)} {unit}")
    else:
        lz = _LIMIT_ZH_RE.search(m)
        if lz:
            n, unit = (lz.group(1), lz.group(2)) if lz.group(1) else (lz.group(3), lz.group(4))
            out.append(f"at most {n} {_ZH_UNITS.get(unit, 'characters')}")
    return out


# --- language -------------------------------------------------------------------------

_HAN_RE = _rx(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_TECH_WORDS = {
    "lora", "qlora", "gpu", "gpus", "cpu", "faq", "faqs", "epoch", "epochs", "batch", "size", "rank", "lr", "gb",
    "vram", "rtx", "nvidia", "qwen", "llama", "meta", "mistral", "instruct", "gemma", "smollm", "deepseek", "phi",
    "json", "jsonl", "pdf", "pdfs", "csv", "xlsx", "docx", "md", "markdown", "txt", "html", "api", "vllm", "bit",
    "run", "id", "demo", "ok", "okay", "bf", "fp", "int", "nf", "max", "len", "seq", "token", "tokens", "llm", "ai",
    "app", "model", "bot", "prompt", "system", "ft", "sft", "cuda", "colab", "server", "url", "http", "https",
    "www", "com", "hf", "eval", "adapter", "fine", "tune", "finetune", "tuning", "deploy", "merge", "train",
    "training", "chat", "chatbot", "loss", "step", "steps", "base", "chatml", "qa", "excel", "word",
    "ppt", "ui", "web", "yes", "no", "hi", "hello", "k", "b", "m", "x",
}


def _language(text: str) -> Language:
    han = len(_HAN_RE.findall(text))
    if han == 0:
        return "en"
    words = [w for w in re.findall(r"[a-z]{2,}", text.lower()) if w not in _TECH_WORDS]
    if len(words) <= 1:
        return "zh"
    han_words = han / 2
    if han_words >= 2 * len(words):
        return "zh"
    if len(words) >= 2 * han_words:
        return "en"
    return "mixed"


# --- intents --------------------------------------------------------------------------

_NEGATION_BEFORE = _rx(
    r"(?:不要|不用|不必|无需|别|先不|(?<!要)不|\bdon'?t|\bdo\s+not|\bno\s+need\s+to|\bnever|\bskip(?:\s+the)?|\bwithout)\s*(?:要|用|去|再|急着|急于)?\s*$"
)

_INTENT_PATTERNS: list[tuple[Intent, str]] = [
    ("finetune",
     r"fine[\s-]*tun(?!ed)|finetun(?!ed)|微调(?!前|后|之后|过的|好的|完|的模型)|精调|调优|(?<![a-z])sft(?![a-z])"
     r"|\bteach\s+(?:it|the\s+model|a\s+model|him|her)\b|\bmake\s+(?:it|the\s+model)\s+(?:learn|know)"
     r"|\btrain\s+(?:(?:a|an|the|my|our|me\s+a)\s+)?(?:[\w-]+\s+){0,3}?(?:model|bot|chatbot|assistant|llm|lora|qlora|adapter|agent)s?\b"
     r"|\btrain\s+(?:\S+\s+){0,3}?(?:on|with|using|from)\s+(?:these|this|my|our|the|all)\b"
     r"|训练(?:一个|个|出|成|一下(?!进度))|(?<!不)(?:用|拿|基于|根据)[^,.;!?，。；！？]{0,40}?(?:训练|学习)(?!记录|进度|状态|得|的怎么样|率)"
     r"|(?:做|搞|跑|来)(?:一[个次下]|个)?\s*q?lora|\b(?:do|run)\s+(?:a\s+)?q?lora\b"
     r"|\bbuild\s+(?:a|an|me\s+a)\s+(?:[\w-]+\s+){0,3}?(?:bot|chatbot|assistant)"
     r"|(?:做|打造|搭建|搞|定制)(?:一个|个)?[^,.;!?，。；！？]{0,12}?(?:机器人|助手|客服模型|专属模型)"
     r"|让(?:模型|它)[^,.;!?，。；！？]{0,6}?学会|教(?:会)?(?:模型|它)"),
    ("follow_up",
     r"\b(?:re-?train|train\s+(?:it\s+)?again|fine-?tune\s+(?:it\s+)?again)\s+(?:\w+\s+){0,2}?with\s+(?:my|the|these|those|our)\s+"
     r"(?:\w+\s+)?(?:fix(?:es)?|corrections?|edits?|changes?)\b"
     r"|\b(?:train|teach)\s+(?:it\s+|the\s+model\s+)?(?:on\s+)?(?:my|the|these|those)\s+(?:fix(?:es)?|corrections?)\b"
     r"|\b(?:add|include|use)\s+my\s+(?:fix(?:es)?|corrections?)\b.{0,30}\b(?:train|retrain|run)"
     r"|把?我(?:改|纠正|修改|更正|改正)(?:过)?的(?:答案|内容|问题)?(?:也|都)?(?:一起)?(?:训练|学|加)进去"
     r"|(?:用|带上|加上|拿)(?:我的)?(?:纠正|修改|更正|改正)(?:的答案|的内容)?(?:再|重新)?(?:训练|微调|训)"
     r"|(?:纠正|修改|更正|改正)(?:的|过的)?(?:答案|内容)?(?:也|都)?(?:训练|学)进去"
     r"|把(?:我的)?(?:纠正|修改|更正|改正)(?:都|也)?(?:训练|学)进去"),
    ("train",
     r"\b(?:start|begin|kick\s+off|launch|resume|continue|restart|rerun|re-run)\s+(?:the\s+)?(?:training|train|fine-?tuning)\b"
     r"|\btrain\s+(?:it\s+)?(?:now|again)\b|^\s*train\s*[.!]?\s*$"
     r"|\brun\s+(?:the\s+)?training\b|开始训练|继续训练|恢复训练|重新训练|接着训练|再训练|启动训练|开训|训练吧"),
    ("convert",
     r"\bconvert|\bturn\s+(?:these|this|the|my|our)\s+(?:[\w-]+\s+){0,2}?(?:files?|docs?|documents?|pdfs?|faqs?)\s+into"
     r"|\b(?:prepare|make|build|create|generate)\s+(?:a\s+|the\s+|me\s+a\s+)?(?:training\s+)?(?:dataset|data\s*set|training\s+data|jsonl)"
     r"|\bclean\s+(?:up\s+)?(?:the\s+)?data|转换|转成|转为|转化|整理成|处理成|做成数据集|生成数据集|制作数据集|构建数据集|准备数据"
     r"|数据处理|处理(?:一下)?(?:这些)?(?:文件|文档|数据)|只(?:要|做)?(?:数据|转换)"),
    ("merge", r"\bmerg(?:e|ing)\b|合并|融合|\bexport\s+(?:the\s+)?(?:merged|full)\s+model|导出(?:完整)?模型"),
    ("export", r"\bgguf\b|\bollama\b"),
    ("deploy",
     r"\bdeploy(?!ed)|\bserve\b|\bserving\b|\bstart\s+(?:a\s+|the\s+)?(?:server|endpoint|api)|\bput\s+it\s+online"
     r"|\bhost\s+(?:it|the\s+model)|\bexpose\s+(?:an?\s+)?api|部署(?!好|完|成功|了吗|了没)|上线(?!了吗|了没)|发布|启动服务|开(?:个|一个)?(?:接口|服务)|提供(?:api|接口|服务)"
     r"|起(?:个|一个)?服务"),
    ("evaluate",
     r"\beval(?:uate|uation)?s?\b|\bbenchmark|\bscore\s+(?:it|the\s+model)|\bcompare\s+(?:the\s+)?(?:base|before|models?|it)"
     r"|\bbefore[\s/-]+(?:and\s+|vs\.?\s+|versus\s+)?after\b|\bhow\s+(?:good|well)\s+(?:is|does)\s+(?:it|the\s+model)"
     r"|\btest\s+(?:it|the\s+(?:new\s+|fine-?tuned\s+)?model)\b(?!\s+(?:with|on)\b)|评估|评测|测评|测试(?!集|数据)|效果(?:怎么样|如何|好不好)"
     r"|打分|对比|比较一下|比一比|前后对比|跑(?:个|一下)?分"),
    ("cancel",
     r"\bcancel|\babort\b|\bstop\b|\bkill\b|\bhalt\b|\bterminate\b|停止|停掉|停下|停了|暂停|取消|终止|中止|别训练了|不要训练了|别跑了|不训了"),
    ("status",
     r"\bstatus\b|\bprogress\b|\bhow(?:'s|\s+is)\s+(?:it|the\s+(?:training|run|job|fine-?tuning))\s+going|\bhow\s+far\b"
     r"|\bhow\s+long\s+(?:left|remaining|until|till|to\s+go)|\bhow\s+much\s+longer|\bwhere\s+are\s+we\b"
     r"|\bis\s+it\s+(?:done|finished|ready|deployed|trained|running)|\beta\b|\bcurrent\s+loss|\bwhat(?:'s|\s+is)\s+the\s+loss"
     r"|进度|状态|(?<!效果)怎么样了|到哪(?:一步)?了|(?:训练|跑)(?:得|的)(?:怎么样|如何)|(?:还要|还需要|还剩)多久"
     r"|多久(?:能|才能)?(?:好|完|结束)|完成了吗|好了吗|训练完了吗|跑完了吗|loss(?:是)?多少"),
    ("list_runs",
     r"\blist\b.{0,20}\bruns?\b|\b(?:my|all|past|previous|old|recent|earlier)\s+(?:training\s+)?runs\b"
     r"|\bshow\s+(?:me\s+)?(?:the\s+|my\s+|all\s+)?runs\b|\bruns\s+(?:list|history)|\bwhich\s+runs\b|\brun\s+history"
     r"|运行记录|训练记录|历史(?:记录|运行|训练)|(?:我的|所有|之前的|以前的|过去的|全部)(?:运行|训练|任务|实验)"
     r"|有哪些(?:运行|训练|任务)|列出(?:所有)?(?:的)?(?:运行|训练|任务)|跑过(?:哪些|什么)"),
    ("help",
     r"^\s*(?:help|\?|帮助|help\s+me|帮忙|帮我|hi|hello|hey|你好|您好|嗨|哈喽|在吗)\s*[.!?~]*\s*$|\bhelp\b(?!\s+me\s+\w)|\bwhat\s+can\s+you\s+do|\bwhat\s+do\s+you\s+do"
     r"|\bhow\s+(?:do\s+i|to)\s+use\b|\bhow\s+does\s+this\s+work|\bwho\s+are\s+you|帮助|你能(?:做|干)(?:什么|啥|些什么)"
     r"|你会(?:做)?(?:什么|啥)|(?:有|有哪些)(?:什么)?功能|怎么用|如何使用|使用说明|能干(?:嘛|啥)|你是谁"),
]
_INTENT_RES = [(intent, _rx(p, re.M)) for intent, p in _INTENT_PATTERNS]

_PLAN_STRONG_RE = _rx(
    r"\bwhat\s+would\s+you\s+(?:pick|use|choose|recommend|suggest|do|go\s+with)|\bwhich\s+(?:model|method|settings?|one)\b"
    r"|\bwhat\s+(?:settings|config(?:uration)?|model|method)\s+(?:should|would|do|for)\b|\bcan\s+i\s+(?:fine-?tune|train|run|fit)\b"
    r"|\b(?:will|would|does|can)\s+(?:it|this|that|a\s+\w+)\s+fit|\bis\s+it\s+(?:possible|feasible|enough)"
    r"|\benough\s+(?:memory|vram)|\bhow\s+much\s+(?:memory|vram|gpu\s+memory|time)|\bplan\s+only|\bjust\s+(?:a\s+|the\s+)?plan"
    r"|\bonly\s+(?:a\s+|the\s+)?plan|\bdry[\s-]*run|\bdon'?t\s+(?:start|train)\b|\bwithout\s+training"
    r"|(?:能不能|能否|可不可以)(?:在|用)?[^,.;!?，。；！？]{0,16}?(?:跑|装下|放下|放得下|训得动)|跑得动|跑不动|能跑吗|能(?:不能)?跑[^,.;!?，。；！？]{0,16}?吗|(?:跑|训|微调)得(?:动|了)|够不够|够吗|够用吗|需要多少(?:显存|内存|时间)|要多少显存"
    r"|只要?(?:方案|计划)|只(?:做)?规划|先(?:给|出|做)(?:我)?(?:一个|个)?(?:方案|计划)|先(?:别|不要|不)(?:开始)?训练"
    r"|你会(?:怎么|如何)?(?:选|用|配)|你(?:会)?推荐|选(?:什么|哪个)|用什么(?:模型|方法|配置|参数)|怎么配置|如何配置"
    r"|该用(?:什么|哪个)|用哪个|哪个(?:更)?好|哪个(?:更)?合适|\bwhich\s+(?:is|one\s+is)\s+better"
)
_PLAN_WEAK_RE = _rx(r"\bplan\b|\brecommend|\bsuggest|方案|计划|推荐|建议|规划")
_JUST_RE = _rx(r"\bjust\b|\bonly\b|只|仅|光")

_YES_RE = _rx(
    r"^(?:\s|那就|那么|那|嗯|哦|oh|well|then|ok|okay|alright|,|\.)*"
    r"(?:yes|yep|yeah|yup|ya|y|sure|ok|okay|k|go|go\s+ahead|go\s+for\s+it|do\s+it|start|start\s+(?:it|training|the\s+training|now)"
    r"|proceed|continue|approved?|confirm(?:ed)?|lgtm|sounds\s+good|looks\s+good|fine|alright|all\s+right|let'?s\s+go"
    r"|let'?s\s+do\s+it|run\s+it|deploy\s+it|please\s+do|good|great|perfect"
    r"|好的|好啊|好吧|好|可以|行吧|行|确认|确定|开始吧|开始训练吧|开始训练|开始|没问题|同意|是的|是(?!不|否)|对的|对(?!了)|嗯嗯|嗯|冲|批准"
    r"|就这样|就这么办|开干|部署吧|部署|搞吧|来吧|走起)(?![a-z'-])"
)
_YES_ANY_RE = _rx(r"开始吧|开始训练|没问题|就这样|\bgo\s+ahead\b|\blet'?s\s+go\b|\bsounds\s+good\b|\blooks\s+good\b|\bapprove")
_NO_CLEAN_RE = _rx(r"\bno\s+problem\b|\bno\s+worries\b|\bwhy\s+not\b|不错|不客气")
_NO_RE = _rx(
    r"^(?:\s|那|嗯|,)*(?:no|nope|nah|n|cancel|stop|abort|don'?t|do\s+not|not\s+(?:now|yet)|never\s*mind|later|wait|hold\s+on"
    r"|不要|不用|不行|不了|不(?![过错如然])|别|取消|算了|否|先不|等等|等一下|停|拒绝|暂停)(?![a-z'-])"
)
_NO_ANY_RE = _rx(r"\bcancel\b|取消|算了|先不要|不要了|不用了|\bdon'?t\s+(?:start|train|deploy)|\bnot\s+now\b")
_QUESTION_RE = _rx(
    r"\bwhy\b|为什么|为啥|什么是|是什么|什么意思|\bwhat\s+(?:is|does|are|do)\b|\bwhat'?s\b|\bhow\s+(?:much|many|long|does|do)\b"
    r"|多少|多久|怎么样|\bexplain\b|解释"
)


def _negated(m: str, start: int) -> bool:
    return bool(_NEGATION_BEFORE.search(m[max(0, start - 14):start]))


def _found_intents(m: str) -> list[tuple[int, Intent]]:
    found: list[tuple[int, Intent]] = []
    for intent, rx in _INTENT_RES:
        for mt in rx.finditer(m):
            if _negated(m, mt.start()):
                continue
            found.append((mt.start(), intent))
            break
    return found


def _confirm_answer(m: str) -> Intent | None:
    text = m.strip()
    cleaned = _NO_CLEAN_RE.sub(" ", text)
    if _NO_RE.match(cleaned) or _NO_ANY_RE.search(cleaned):
        return "confirm_no"
    yes = _YES_RE.match(cleaned)
    if yes:
        rest = cleaned[yes.end():]
        if re.search(r"[?]|吗", rest) and not re.fullmatch(r"[\s,.!~]*", rest):
            return None  # "ok but why 4-bit?" is a question, not an approval
        return "confirm_yes"
    if _YES_ANY_RE.search(cleaned):
        return "confirm_yes"
    return None


# --- task ---------------------------------------------------------------------------

_CLAUSE_SPLIT_RE = _rx(r"[,;!?\n。；！？、]|(?<!\d)\.(?!\d)")
_TASK_HINT_RE = _rx(
    r"fine[\s-]*tun|finetun|\btrain|\bteach|\blearn|\banswer|\bon\s+(?:these|this|our|my|the)\b|\bbot\b|assistant|\bbuild"
    r"|微调|训练|学会|学习|回答|客服|助手|机器人|教|用|基于|根据"
)
_TASK_FILLER_RE = _rx(
    r"fine[\s-]*tun\w*|finetun\w*|\btrain(?:ing)?\b|\bplease\b|\bhelp\s+me\b|\bi\s+want\s+to\b|\bi'?d\s+like\s+to\b"
    r"|\bcan\s+you\b|\bcould\s+you\b|\buse\b|\busing\b|\bwith\b|\bon\b|\bthese\b|\bthis\b|\bthe\b|\ba\b|\ban\b|\bmy\b|\bour\b"
    r"|\bmodel\b|\bsmall\b|\bfor\b|\bto\b|\bit\b|\bme\b|\bq?lora\b|\bdo\b|\bfiles?\b|\bdocs?\b"
    r"|微调|训练|精调|一个|一下|我们的|张|块|卡|显卡|轮|我的|我们|我想|我要|帮我|请|用|做|小模型|模型|这些|文件|文档|数据|吧|下|个|的|给|能|把|来"
    r"|\d+(?:\.\d+)?\s*[a-z]*|[^a-z\u3400-\u4dbf\u4e00-\u9fff]+"
)
_TASK_LEAD_RE = _rx(
    r"^(?:(?:please|pls|can\s+you|could\s+you|help\s+me|i\s+want\s+to|i'?d\s+like\s+to|let'?s)\s+"
    r"|请|帮我|我想|我要|麻烦|帮忙)+",
    re.IGNORECASE,
)


_TRAIN_WORD_RE = _rx(r"fine[\s-]*tun|finetun|\btrain|\bteach|微调|训练|精调|学会|教")


def _task(tx: _Text) -> str | None:
    """The clauses that say what the model should learn; clauses that only hold settings or style are left out."""
    parts: list[str] = []
    pos = 0
    for piece in _CLAUSE_SPLIT_RE.split(tx.m):  # every separator is one character
        start, end = pos, pos + len(piece)
        pos = end + 1
        if not piece.strip() or not _TASK_HINT_RE.search(piece):
            continue
        if any(rx.search(piece) for rx, _ in _STYLE_RES) and not _TRAIN_WORD_RE.search(piece):
            continue  # "回答要简短": a style, not a task
        residue = _TASK_FILLER_RE.sub(" ", piece)
        if len(_HAN_RE.findall(residue)) < 2 and not re.search(r"[a-z]{3,}", residue):
            continue  # "训练3轮", "用Qwen做QLoRA": settings only
        text = _TASK_LEAD_RE.sub("", tx.norm[start:end].strip(), count=1).strip()
        if text:
            parts.append(text)
    return ", ".join(parts)[:500] or None


# --- the parser -------------------------------------------------------------------------


def _parse(text: str, *, has_files: bool, awaiting_confirmation: bool) -> Goal:
    tx = _Text((text if isinstance(text, str) else str(text))[:MAX_CHARS])
    system_prompt = _system_prompt(tx)
    run_id = _run_id(tx)
    chat_asked, chat_message, chat_pos, chat_end = _chat(tx)
    language = _language(tx.m if re.search(r"[a-z\u4e00-\u9fff]", tx.m) else tx.low)
    if chat_asked:
        tx.mask(chat_pos, chat_end)  # "测试一下新模型：…" asks for a chat, not an evaluation

    style = _style(tx.m)
    request = tx.m  # payloads masked: where intents are read
    base_model, model_size, files = _base_model(tx)  # masks model names and paths in tx.m
    m = tx.m
    params_b = model_size if model_size is not None else _params(m)
    gpu = _gpu(tx)
    fields: dict[str, Any] = {
        "method": _method(m),
        "epochs": _epochs(m),
        "rank": _rank(m),
        "micro_batch": _micro_batch(m),
        "max_length": _max_length(m),
        "learning_rate": _learning_rate(m),
    }

    found = _found_intents(request)
    if chat_asked:
        found.append((chat_pos, "chat"))
    intents = _ordered_intents(found, request, has_files)

    if params_b is not None and not params_b > 0:
        params_b = None  # "0B" is no size (found by fuzzing)
    settings = Goal(base_model=base_model, params_b=params_b, gpu=gpu, style=style, system_prompt=system_prompt,
                    **fields).has_settings()
    question = bool(_QUESTION_RE.search(m))
    missing: list[str] = []
    if awaiting_confirmation:
        answer = _confirm_answer(m)
        if settings and not question:
            intents = ["edit"]  # "好，但 batch 改成 2", "no, use QLoRA": re-plan and ask again
        elif answer is not None:
            intents = [answer]
        elif "cancel" in intents:
            intents = ["confirm_no"]
        elif intents == ["train"]:
            intents = ["confirm_yes"]
    elif not intents:
        bare = _confirm_answer(m) if len(m.strip()) <= 12 else None
        if settings and not question:
            intents = ["edit"]
        elif bare is not None:
            intents = [bare]
        elif has_files and not question:
            intents = ["finetune"]  # files dropped in with a few words: the journey, but ask what to learn
            missing.append("task")
    if not intents:
        intents = ["unknown"]

    task = _task(tx) if "finetune" in intents else None
    if task is not None and "task" in missing:
        missing.remove("task")
    if ("finetune" in intents or "convert" in intents) and not has_files and not files:
        missing.insert(0, "files")
    if "chat" in intents and not chat_message:
        missing.append("chat_message")

    return Goal(
        intents=intents,
        task=task,
        base_model=base_model,
        params_b=params_b,
        gpu=gpu,
        style=style,
        language=language,
        system_prompt=system_prompt,
        run_id=run_id,
        chat_message=chat_message,
        files=files,
        missing=missing,
        **fields,
    )


def _ordered_intents(found: list[tuple[int, Intent]], request: str, has_files: bool) -> list[Intent]:
    """The intents in the order the message names them, once each, with the steps one already contains
    removed: a feasibility question is a plan, the journey absorbs its own steps, an export merges itself."""
    intents: list[Intent] = []
    for _, intent in sorted(found, key=lambda f: f[0]):
        if intent not in intents:
            intents.append(intent)
    if _PLAN_STRONG_RE.search(request):  # "can I …", "what would you pick", "能跑吗": a plan, not a run
        intents = ["plan", *(i for i in intents if i not in ("finetune", "train", "plan"))]
    elif "finetune" in intents:  # the journey already converts, plans, trains, merges, deploys, evaluates
        intents = [i for i in intents if i not in ("convert", "plan", "train", "merge", "deploy", "evaluate")]
    elif not intents and _PLAN_WEAK_RE.search(request):
        intents = ["plan"]
    if "follow_up" in intents:  # "retrain with my fixes" is its own run, from the corrected run's adapter
        intents = ["follow_up", *(i for i in intents if i not in ("follow_up", "finetune", "train", "plan"))]
    if "export" in intents:  # it merges first when it must; "把模型转成 gguf" converts a model, not files
        intents = [i for i in intents if i != "merge" and (i != "convert" or has_files)]
    if "convert" in intents and _JUST_RE.search(request):
        intents = ["convert", *(i for i in intents if i not in ("convert", "finetune", "plan", "train"))]
    return intents


def parse_message(text: str, *, has_files: bool = False, awaiting_confirmation: bool = False) -> Goal:
    """Turn one chat message into a :class:`Goal`. Deterministic; never raises.

    ``has_files``: files came with this message (a fine-tune without them
    lists ``"files"`` in ``missing``). ``awaiting_confirmation``: the agent
    asked "start training?", so "好的" is ``confirm_yes``, "算了" is
    ``confirm_no`` and "batch 2" is ``edit``.
    """
    try:
        return _parse(text, has_files=has_files, awaiting_confirmation=awaiting_confirmation)
    except Exception:  # noqa: BLE001 - a message the parser cannot read is "unknown", never a crash
        log.exception("the intent parser failed on %r", str(text)[:200])
        try:
            language = _language(str(text))
        except Exception:  # noqa: BLE001
            language = "en"
        return Goal(intents=["unknown"], language=language)
