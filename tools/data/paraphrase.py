"""Questions in other words: deterministic bilingual templates (and an LLM when one is configured).

A small model learns a fact so that it can be *asked differently* only when training saw the question
phrased in several ways (Allen-Zhu & Li, "Physics of Language Models 3.1"). This module writes those
phrasings. The templates come in two disjoint families:

- ``train``: mixed into the training data (the answer stays the person's own text, word for word);
- ``check``: never trained on; the learning check during training and the evaluation's *learnt* set ask
  these, so "knows 17 of 22" is measured on wordings the model did not see.

Every function is pure and seeded: the same question and seed always give the same phrasings.
"""

from __future__ import annotations

import random
import re
from typing import Literal

from tools.core.cjk import HAN_RE

Family = Literal["train", "check"]

_ZH_END = re.compile(r"[？?！!。.\s]+$")
_EN_END = re.compile(r"[?!.\s]+$")
_ZH_POLITE = re.compile(r"^(?:请问一下|请问|你好[，,]?|您好[，,]?|想问一下[，,]?|麻烦问下[，,]?)")
# interrogative endings and their interchangeable forms (the fact asked for stays the same)
_ZH_SWAPS: list[tuple[str, tuple[str, ...]]] = [
    ("是多久", ("多长时间", "有多久", "多久")),
    ("多久", ("多长时间", "多少时间")),
    ("是多少", ("多少", "是几", "有多少")),
    ("是什么", ("是啥", "是哪个")),
    ("是哪一年", ("是哪年", "在哪一年")),
    ("怎么", ("如何", "怎样")),
    ("多大", ("有多大", "是多少")),
    ("吗", ("不", "么")),
]
_ZH_QWORDS = re.compile(r"(多少钱|是多久|是多少|是什么|是哪一年|是哪个|多长时间|多久|多少|什么|怎么样|怎么|如何|哪个|哪里|几|吗|呢|多大)")
_EN_WH = re.compile(
    r"^(?:what(?:'s| is| are| was)?|how (?:much|many|long|often|large|big|soon)(?: (?:is|are|does|do|did|will))?|"
    r"when (?:is|are|does|do|will|was)|where (?:is|are|do|does|can)|which|who (?:is|are)|is|are|does|do|can|"
    r"will|how (?:do|does|can|is|are))\b\s*",
    re.IGNORECASE,
)

_ZH_TEMPLATES: dict[Family, tuple[str, ...]] = {
    "train": (
        "请问{q}", "{b}？谢谢", "我想问一下，{q}", "{t}？", "关于{t}，能告诉我吗？", "{b}呀？",
        "麻烦问下{q}", "{s}？", "想了解：{s}？", "{nod}？",
    ),
    "check": (
        "你好，{s}？", "能不能说一下{t}？", "{t}，具体是怎样的？", "帮我查一下：{b}？", "{nod}，谁知道？",
    ),
}
_EN_TEMPLATES: dict[Family, tuple[str, ...]] = {
    "train": (
        "Quick question: {q}", "{q} Thanks!", "Hi, {ql}", "I'd like to know: {ql}", "{t}?",
        "Could you tell me about {t}?", "{s}", "Please answer: {q}", "Tell me: {ql}", "About {t}: {ql}",
    ),
    "check": (
        "Hello! {s}", "Can you help me with {t}?", "{t} - what's the answer?", "Wondering: {ql}",
        "Need to know quickly, {ql}",
    ),
}


def is_chinese(text: str) -> bool:
    return bool(HAN_RE.search(text))


def _zh_parts(question: str, rng: random.Random) -> dict[str, str]:
    body = _ZH_END.sub("", _ZH_POLITE.sub("", question.strip())) or question.strip()
    topic = _ZH_QWORDS.sub("", body).strip("，, 的") or body
    swapped = body
    for old, news in _ZH_SWAPS:
        if old in swapped:
            swapped = swapped.replace(old, rng.choice(news), 1)
            break
    return {"q": body + "？", "b": body, "t": topic, "s": swapped, "nod": body.replace("的", "") or body}


def _en_parts(question: str, rng: random.Random) -> dict[str, str]:
    body = _EN_END.sub("", question.strip()) or question.strip()
    lower = body[:1].lower() + body[1:] if body[:2] != body[:2].upper() else body
    topic = _EN_WH.sub("", body).strip() or body
    topic = re.sub(r"^(?:the|a|an|my|your|i|you)\s+", "", topic, flags=re.IGNORECASE) or topic
    swaps = [("How much does", "What does"), ("What is", "What's"), ("How many", "What number of"),
             ("How long", "For how long"), ("When", "At what time"), ("Where", "To where")]
    swapped = body
    for old, new in rng.sample(swaps, len(swaps)):
        if swapped.startswith(old):
            swapped = new + swapped[len(old):]
            break
    return {"q": body + "?", "ql": lower + "?", "t": topic, "s": swapped + "?"}


def paraphrase_question(question: str, family: Family = "train", k: int = 4, seed: int = 0) -> list[str]:
    """Up to ``k`` distinct phrasings of ``question`` from one template family (never the question itself)."""
    if not question.strip() or k <= 0:
        return []
    rng = random.Random(f"{seed}\x00{family}\x00{question}")
    zh = is_chinese(question)
    parts = _zh_parts(question, rng) if zh else _en_parts(question, rng)
    templates = list((_ZH_TEMPLATES if zh else _EN_TEMPLATES)[family])
    rng.shuffle(templates)
    seen = {_key(question)}
    out: list[str] = []
    for tpl in templates:
        text = tpl.format(**parts)
        if _key(text) in seen:
            continue
        seen.add(_key(text))
        out.append(text)
        if len(out) >= k:
            break
    return out


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


# --- questions read off the answer ------------------------------------------------------------------
#
# A person asking in other words often uses the answer's own words ("空气炸锅保修几个月？" for an answer
# "整机保修18个月"). Each clause of the answer that holds a fact becomes a question by putting an
# interrogative where the fact stands: a number with its unit, a time, a code, an address.

_ZH_UNIT = r"(?:个月|个工作日|个|年|月|天|日|小时|分钟|秒|元|块|升|瓦|度|次|家|分|人|%|折|倍|公斤|千克|克|米|厘米|毫米)"
_EMAIL = r"[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
# QF-320, V3.2.7, 5.8.1 (not T7: that names a product)
_CODE = r"[A-Za-z]+[-.]?\d+(?:[-.]\d+)+|[A-Za-z]{2,}-\d+|[Vv]\d+(?:\.\d+)+|\d+\.\d+\.\d+"
_ZH_FACT = re.compile(
    rf"(?P<email>{_EMAIL})|(?P<code>{_CODE})|(?P<phone>\d{{3,4}}(?:-\d{{3,4}}){{1,2}})|(?P<time>\d{{1,2}}:\d{{2}})"
    rf"|(?<![A-Za-z\d])(?P<num>\d+(?:\.\d+)?)(?P<unit>{_ZH_UNIT})?"
)
_EN_FACT = re.compile(
    rf"(?P<email>{_EMAIL})|(?P<code>\b(?:{_CODE})\b)|(?P<phone>\b\d{{3,4}}(?:-\d{{3,4}}){{1,2}}\b)"
    r"|(?P<time>\b\d{1,2}:\d{2}\b)|(?<![A-Za-z\d])(?P<num>\d+(?:\.\d+)?)(?P<unit>[- ]?[a-z]+)?"
)
_PRIORITY = ("phone", "email", "code", "unit", "num", "time")


def _fact_in(clause: str, fact: re.Pattern[str]) -> re.Match[str] | None:
    """The fact a clause states: a phone number, address or code before a number with its unit, a time last."""
    found = list(fact.finditer(clause))

    def rank(m: re.Match[str]) -> int:
        kind = next(k for k in ("phone", "email", "code", "time", "num") if m.group(k))
        return _PRIORITY.index("unit" if kind == "num" and m.group("unit") else kind)

    return min(found, key=rank) if found else None


_CLAUSE = re.compile(r"[^，。；！？,;!?\n]+")


# what to ask for a fact that is not a number with a unit, Chinese / English
_ASK_FOR = {"time": ("几点", "what time"), "email": ("哪个邮箱", "which email address"), "code": ("什么", "what"),
            "phone": ("多少", "what number")}
_ZH_FEW = ("个月", "年", "天", "小时", "秒", "个工作日", "个", "次", "人")  # counted with 几, the rest with 多少


def _blank(m: re.Match[str], zh: bool) -> str:
    """The interrogative that asks for the fact ``m`` matched ("18个月" → "几个月", "437 dollars" → "how many dollars")."""
    kind = next((k for k in _ASK_FOR if m.group(k)), None)
    if kind:
        return _ASK_FOR[kind][0 if zh else 1]
    num = m.group("num")
    if zh:
        unit = m.group("unit") or ""
        if unit == "年" and len(num) == 4:
            return "哪一年"
        return ("几" if unit in _ZH_FEW else "多少") + unit
    unit = (m.group("unit") or "").strip(" -")
    if re.fullmatch(r"(?:19|20)\d\d", num) and unit in ("", "in", "and"):
        return "what year" + (f" {unit}" if unit else "")
    return f"how many {unit}" if unit else "how many"


def answer_questions(answer: str, limit: int = 3) -> list[str]:
    """Questions whose answer is a fact of ``answer``: each fact-bearing clause with the fact asked for."""
    zh = is_chinese(answer)
    fact = _ZH_FACT if zh else _EN_FACT
    out: list[str] = []
    for clause in _CLAUSE.findall(answer):
        clause = clause.strip().rstrip(".")
        first = _fact_in(clause, fact) if len(clause) >= 4 else None
        if first is None:
            continue
        text = clause[: first.start()] + _blank(first, zh) + clause[first.end():]
        text = re.sub(r"\s+", " ", text).strip()
        if zh:
            out.append(text + "？")
        else:
            out.append(text[:1].upper() + text[1:] + "?")
        if len(out) >= limit:
            break
    return out


def shared_prefix(questions: list[str], min_share: int = 3) -> str | None:
    """A brand or name that starts many questions ("青梧", "Larkfield"): rewordings may leave it out."""
    from collections import Counter

    heads: Counter[str] = Counter()
    for q in questions:
        q = _ZH_POLITE.sub("", q.strip())
        if is_chinese(q):
            if len(q) > 6 and HAN_RE.match(q[:2]):
                heads[q[:2]] += 1
        else:
            for w in re.findall(r"\b[A-Z][a-z]{2,}\b", q):
                if w.lower() not in {"what", "how", "when", "where", "which", "who", "is", "are", "can", "does"}:
                    heads[w] += 1
    if not heads:
        return None
    word, n = heads.most_common(1)[0]
    return word if n >= min_share else None


def without(question: str, name: str | None) -> str | None:
    """The question without the shared brand name, when that leaves a question."""
    if not name or name not in question:
        return None
    if is_chinese(question):
        text = re.sub(rf"^{re.escape(name)}的?", "", _ZH_POLITE.sub("", question.strip()), count=1)
    else:  # only where it qualifies a thing: "the Larkfield kettle" → "the kettle"
        text = re.sub(rf"\b(the|your|a) {re.escape(name)}(?:'s)? (?=[a-z])", r"\1 ", question, count=1)
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(_key(text)) >= 4 and text != question else None


# --- words people use for the same thing in support questions ------------------------------------------
#
# One group per concept; a question with one of the words is also asked with the others. Longer words
# first, so "多长时间" is found before "多长".
_ZH_SYNONYMS: list[tuple[str, ...]] = [
    ("价格", "多少钱", "售价", "价钱", "卖多少"),
    ("保修期", "质保期", "保修多久"),
    ("保修", "质保"),
    ("是多久", "多长时间", "几天", "几个月"),
    ("客服热线", "客服电话", "服务电话", "联系电话"),
    ("热线", "电话号码", "电话"),
    ("发货", "寄出", "发出"),
    ("退货", "退", "退款"),
    ("营业时间", "几点开门", "几点关门", "开门时间"),
    ("成立", "创立", "创办"),
    ("邮箱", "邮件地址", "邮箱地址"),
    ("耗电", "用电", "费电"),
    ("容量", "能装多少", "有多大"),
    ("功率", "多少瓦"),
    ("续航", "能用多久", "用多长时间"),
    ("收费", "多少钱", "费用"),
    ("怎么计算", "怎么算", "规则是什么"),
    ("补贴", "补多少", "优惠"),
    ("网点", "门店", "服务点"),
    ("更换", "换"),
    ("打开", "开启"),
    ("续航", "能跑多远", "能用多久"),
    ("重量", "有多重", "多重"),
    ("载重", "能载多重", "承重"),
    ("时速", "速度", "能跑多快"),
    ("材质", "材料"),
    ("充满电", "充满", "充电"),
    ("故障码", "错误代码", "报错"),
    ("等级", "级别"),
    ("关机", "关掉", "断电"),
    ("售后服务热线", "售后电话", "客服电话"),
    ("服务时间", "上班时间", "几点到几点"),
]
_EN_SYNONYMS: list[tuple[str, ...]] = [
    ("how much does", "what is the price of", "what does"),
    ("cost", "price"),
    ("warranty", "guarantee", "cover"),
    ("phone number", "telephone number", "hotline", "number to call"),
    ("ship", "dispatch", "send out"),
    ("return", "send back"),
    ("opening hours", "hours", "open"),
    ("founded", "started", "set up", "established"),
    ("complaint", "complain", "grievance"),
    ("capacity", "size", "how much does it hold"),
    ("how long", "for how long", "how many months"),
    ("how often", "how frequently"),
    ("replace", "change"),
    ("repair centres", "service points", "repair shops"),
    ("free", "at no charge"),
    ("invoice", "bill", "receipt"),
]


# the words that make a Chinese sentence a question (counted: a well-formed question asks once)
_ZH_ASKING = re.compile(r"多少|几|什么|啥|哪|怎么|怎样|如何|谁|多久|多长|多大|吗|么")


def synonym_swaps(question: str, limit: int = 3) -> list[str]:
    """The question with words of one concept swapped for others people use ("价格" → "多少钱"), one concept
    after another so that ``limit`` spreads over them."""
    from itertools import chain, zip_longest

    zh = is_chinese(question)
    low = question if zh else question.lower()
    asks = len(_ZH_ASKING.findall(question)) if zh else 0
    per_group: list[list[str]] = []
    for group in _ZH_SYNONYMS if zh else _EN_SYNONYMS:
        found = None
        for w in sorted(group, key=len, reverse=True):
            m = re.search(re.escape(w) if zh else rf"\b{re.escape(w)}\b", low)
            if m:
                found = (w, m.start())
                break
        if found is None:
            continue
        hit, i = found
        texts = []
        for other in group:
            if other != hit:
                text = question[:i] + other + question[i + len(hit):]
                # "价格是多少" → "多少钱是多少", "怎么收费" → "怎么多少钱": a swap asks once, as the question did
                if zh and len(_ZH_ASKING.findall(text)) != asks:
                    continue
                texts.append(text if zh else text[:1].upper() + text[1:])
        per_group.append(texts)
    out: list[str] = []
    for text in chain.from_iterable(zip_longest(*per_group)):
        if text and text != question and text not in out:
            out.append(text)
    return out[:limit]


def short_form(question: str) -> str | None:
    """The question from a product code on ("青梧扫地机器人T7售价多少元？" → "T7售价多少元？")."""
    m = re.search(r"(?<![A-Za-z0-9])[A-Z]{1,3}\d{1,3}(?![A-Za-z0-9])", question)
    if not m or m.start() < 2:
        return None
    rest = question[m.start():].lstrip()
    return rest if len(_key(rest)) >= 4 else None
