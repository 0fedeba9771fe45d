"""Facts, not sections: prose becomes the questions a customer asks about each fact, with short answers.

A manual, a policy or a handbook says its facts in sentences ("整车重量为23.5公斤", "Descale the machine every
200 shots"). For every sentence that carries one (a number with its unit, a code, a phone number, an address,
a time; a condition "if X then Y"; a rule "never do X") this module writes several questions a person would
ask about it, in the document's language, from different angles:

- the value asked for, by the kind of value ("整车重量是多少公斤？", "How often should I descale …?");
- the situation ("仪表显示E21怎么办？", "What should I do if the display shows error E4?");
- what a rule forbids or allows, as a yes/no question ("可以把电池浸入水中吗？", "Can I put … in the dishwasher?");
- with the product's name and without it (the short model name a person types: "E5的…").

The answer is the sentence that holds the fact, in the document's own words, with "it", "该车", "本机" replaced
by the section's subject, and the sentence before it when the sentence alone says nothing (a short follow-up).
Sentences with no fact of these kinds stay in a short record under their section's heading (:func:`remainder`),
so nothing the document says is left out of training.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tools.data.document import Record, pair
from tools.data.paraphrase import synonym_swaps
from tools.data.text import CJK

MAX_QUESTIONS = 10  # per fact-bearing sentence (one sentence may hold several facts)
PER_ANGLE = 4  # per fact or situation: Physics of LMs 3.1 found ~5 varied phrasings enough, with the rewordings

# --- what a fact looks like ---------------------------------------------------------------------------------

_ZH_NUM = r"(?:\d+(?:\.\d+)?|[零一二两三四五六七八九十百千万半]+)"
_ZH_TIME_UNITS = ("个工作日", "工作日", "个小时", "个月", "小时", "分钟", "周", "星期", "年", "天", "日", "秒", "月")
_ZH_UNITS = _ZH_TIME_UNITS + (
    "公里/小时", "千米/小时", "公斤", "千克", "千瓦", "毫安时", "公里", "千米", "毫米", "厘米", "毫升", "升", "米",
    "克", "瓦", "伏", "度", "元", "块", "次", "档", "级", "个", "人", "张", "台", "家", "层", "分", "倍", "折", "%", "％",
    "℃", "°C", "Ah", "mAh", "V", "W", "kW", "kg", "PSI", "psi",
)
_UNIT_RE = "|".join(re.escape(u) for u in sorted(_ZH_UNITS, key=len, reverse=True))
_EMAIL = r"[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_PHONE = r"\d{3,4}(?:-\d{3,4}){1,2}"
_CLOCK = r"\d{1,2}[:：]\d{2}"
_CODE = r"[A-Z]{1,4}-?\d+[A-Za-z]*(?:-\d+)*|[A-Za-z]+-\d+(?:-\d+)*|[Vv]\d+(?:\.\d+)+"
_ZH_FACT = re.compile(
    rf"(?P<email>{_EMAIL})|(?P<phone>{_PHONE})|(?P<clock>{_CLOCK})"
    rf"|(?P<num>{_ZH_NUM})\s*(?P<unit>{_UNIT_RE})|(?<![A-Za-z\d])(?P<code>{_CODE})(?![A-Za-z\d])"
    rf"|(?<![A-Za-z\d.])(?P<bare>\d{{2,}}(?:\.\d+)?|\d\.\d+)(?![A-Za-z\d.])"
)
_EN_WORDNUM = r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|ninety|a hundred)"
_EN_FACT = re.compile(
    rf"(?P<email>{_EMAIL})|(?P<phone>\b{_PHONE}\b)|(?P<clock>\b{_CLOCK}\b)"
    rf"|(?P<num>\b(?:\d+(?:\.\d+)?(?:st|nd|rd|th)?|{_EN_WORDNUM})\b)(?:[\s-]?(?P<unit>°C|%|[A-Za-z]+))?"
    rf"|(?<![A-Za-z\d])(?P<code>{_CODE})(?![A-Za-z\d])",
    re.IGNORECASE,
)
_EN_TIME = {"second", "seconds", "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "month",
            "months", "year", "years", "night", "nights", "working"}
_EN_MONEY = {"dollar", "dollars", "euro", "euros", "pound", "pounds", "yuan", "usd", "eur", "gbp"}


@dataclass
class FactSpan:
    kind: str  # email, phone, clock, time (a duration), money, measure, count, code
    text: str
    start: int
    end: int
    unit: str = ""


def _kind_zh(m: re.Match[str]) -> str:
    for k in ("email", "phone", "clock", "code"):
        if m.group(k):
            return k
    if m.group("bare"):
        return "number"
    unit = m.group("unit") or ""
    if unit in _ZH_TIME_UNITS:
        return "time"
    if unit in ("元", "块"):
        return "money"
    return "count" if unit in ("次", "档", "级", "个", "人", "张", "台", "家", "层", "倍") else "measure"


def _kind_en(m: re.Match[str]) -> str:
    for k in ("email", "phone", "clock", "code"):
        if m.group(k):
            return k
    unit = (m.group("unit") or "").lower()
    if m.group("num") and re.search(r"\d(?:st|nd|rd|th)$", m.group("num"), re.IGNORECASE):
        return "ordinal"  # "the 3rd day of each month", "after the 8th"
    if unit in _EN_TIME:
        return "time"
    if unit in _EN_MONEY:
        return "money"
    return "measure" if unit else "count"


def find_facts(clause: str, zh: bool, subject: Subject | None = None) -> list[FactSpan]:
    """The facts a clause states, in order (a bare English number with no unit counts only when it is a digit;
    the product's own model name is the subject, not a fact)."""
    out = []
    own = {subject.short} if subject and subject.short else set()
    for m in (_ZH_FACT if zh else _EN_FACT).finditer(clause):
        if m.group(0).strip() in own:
            continue
        kind = _kind_zh(m) if zh else _kind_en(m)
        unit = m.group("unit") or "" if m.group("num") else ""
        if zh and m.group("num") in ("一", "两") and kind == "count":
            continue  # 一次, 一个: "once", "a", not a fact
        if not zh and m.group("num"):
            if re.search(r"\b[A-Z][A-Za-z]+\s+$", clause[:m.start()]) and not (m.group("unit") or "").strip():
                continue  # "Python 3.11", "Route 66": part of a name
            if not m.group("num")[0].isdigit() and unit.lower() not in _EN_TIME | _EN_MONEY:
                continue  # "one of", "two people": a word number counts with a time or money unit only
            if unit and unit.lower() in _EN_STOP_UNITS:
                # "35 seconds after": unit kept; "9 grams of": unit kept; "the 3rd day": no unit
                unit = ""
                kind = "count"
        out.append(FactSpan(kind, m.group(0).strip(), m.start(), m.start() + len(m.group(0).rstrip()), unit))
    return out


_EN_STOP_UNITS = {"and", "or", "of", "in", "on", "at", "to", "the", "a", "an", "for", "is", "are", "after", "before",
                  "from", "with", "by", "if", "when", "shots", "shot"}

# --- sentences, subjects and pronouns -------------------------------------------------------------------------

_ZH_SENT = re.compile(r"[^。！？；!?\n]+[。！？；!?]?")
_EN_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])")
_CJK_RE = re.compile(f"[{CJK}]")
_DOC_WORDS_ZH = re.compile(r"(?:使用|用户|操作|安装|维修|产品)?(?:说明书|手册|指南|须知|说明|介绍|规定|制度|政策|条款)$")
_DOC_WORDS_EN = re.compile(
    r"\s*[-–—:|]?\s*(?:(?:the\s+)?(?:user|owner'?s?|operating|instruction|installation|quick[- ]start|product|"
    r"service|tenant|employee|customer)?\s*(?:manual|guide|handbook|instructions|policy|policies|booklet|leaflet))$",
    re.IGNORECASE)
_MODEL = re.compile(r"(?<![A-Za-z0-9])[A-Z]{1,4}-?\d{1,4}[A-Za-z]?(?![A-Za-z0-9])")


@dataclass
class Subject:
    """What a document is about: its full name ("云岚E5电动自行车") and the short name people type ("E5")."""

    name: str
    short: str = ""
    kind: str = ""  # the thing without brand and model ("电动自行车", "espresso machine")


def subject_of(title: str) -> Subject:
    """The document's subject from its title: the title without "使用说明书", "User Manual" and the like."""
    t = title.strip()
    zh = bool(_CJK_RE.search(t))
    name = (_DOC_WORDS_ZH.sub("", t) if zh else _DOC_WORDS_EN.sub("", t)).strip(" -–—:|") or t
    if zh and len(_CJK_RE.findall(name)) + len(re.findall(r"[A-Za-z0-9]", name)) < 2:
        name = t
    m = _MODEL.search(name)
    short = m.group(0) if m else ""
    kind = name[m.end():].strip() if m and zh else ""
    if not zh:
        kind = name[m.end():].strip() if m else ""
        name = re.sub(r"^(?:the|a|an)\s+", "", name, flags=re.IGNORECASE)
    return Subject(name=name, short=short, kind=kind)


_ZH_PRONOUN = re.compile(r"^(?:它|该车|该机|本机|本车|此机|该产品|本产品|此产品|该设备|本设备|此设备|该款|本款)")
_EN_PRONOUN = re.compile(r"^(?:It|This product|This machine|This appliance|The unit|This unit)\b(?! is (?:recommended|important|best|normal|possible|advisable|not recommended))")


def resolve(sentence: str, subject: Subject, zh: bool) -> str:
    """The sentence with a leading "it", "该车", "本机" … replaced by the subject's name."""
    if zh:
        return _ZH_PRONOUN.sub(subject.name, sentence, count=1)
    if _EN_PRONOUN.match(sentence):
        return _EN_PRONOUN.sub(f"The {subject.name}", sentence, count=1)
    return sentence


def sentences(paragraph: str, zh: bool) -> list[str]:
    if zh:
        parts = [s.strip() for s in _ZH_SENT.findall(paragraph)]
    else:
        parts = [s.strip() for s in _EN_SENT.split(paragraph.replace("\n", " "))]
    return [p for p in parts if len(p) >= 4]


# --- questions, Chinese --------------------------------------------------------------------------------------

_ZH_CLAUSE = re.compile(r"[^，,；;。！？!?]+")
_ZH_LEAD = re.compile(r"^(?:感谢您选择[^，,]*|另外|此外|同时|并且|而且|但是|但|请|并|且|其中|为了[^，]*|建议|应该|应当|应|说明|表示)+")
_ZH_TAIL = re.compile(
    r"(?:的时间|不得低于|不得超过|不低于|不超过|至少|最多|最少|大约|约为|约需|可达|高达|长达|达到|需要|设定为|设置为|为|是|约|达|需|"
    r"要|有|处于|在|于|共|可|可以|以上|以内|每天|每日|每周|每月)+$")
_ZH_VERB = re.compile(r"(?:配备|配有|采用|使用|搭载|内置|提供|支持|选用|装有)$")
_ZH_ASK = {"time": ("多久", "多长时间"), "money": ("多少钱", "多少元"), "clock": ("几点", "什么时间"),
           "phone": ("多少", "什么"), "email": ("什么", "哪个"), "code": ("什么", "哪个"), "number": ("多少", "什么")}


def _zh_ask(span: FactSpan) -> tuple[str, ...]:
    if span.kind in _ZH_ASK:
        return _ZH_ASK[span.kind]
    unit = span.unit
    if span.kind == "count":
        return ("几" + unit, "多少" + unit)
    if unit in ("%", "％"):
        return ("百分之多少", "多少")
    return ("多少" + unit, "多少")


def _zh_noun(pre: str) -> str:
    """The noun phrase a clause's fact belongs to: the words before it without verbs like 为/约需/可达."""
    np = _ZH_TAIL.sub("", _ZH_LEAD.sub("", pre.strip())).strip(" ，,的")
    if "每" in np or _ZH_VERB.search(np) or re.search(r"[按点击]$|低于|高于|超过|不足|少于|多于|大于|小于$", pre):
        return ""
    return np if len(np) >= 2 else ""


def _zh_value_questions(clause: str, span: FactSpan, then: str = "", to: FactSpan | None = None) -> list[str]:
    """Questions that ask for one value of a clause (``then``: what follows when the clause is a condition;
    ``to``: the other end of a range, "0℃至35℃")."""
    pre, post = clause[:span.start], clause[(to or span).end:].strip()
    pre = _ZH_LEAD.sub("", re.sub(r"^(?:如果|若是|若|假如|万一|一旦|当)", "", pre.strip()))
    ask = _zh_ask(span)
    if span.kind == "clock":
        np = _zh_noun(re.sub(r"(?:每天|每日|周[一二三四五六日]至周[一二三四五六日])$", "", pre))
        if not np:
            return []
        return [f"{np}是几点到几点？", f"{np}几点开始？", f"{np}到几点结束？"] if to else [f"{np}是几点？"]
    if to is not None:
        ask = (f"{ask[0]}到{ask[0]}",)
    if span.kind == "time" and re.search(r"每(?:隔)?$", pre):  # 每6个月更换一次 → 多久更换一次
        lead = _ZH_LEAD.sub("", re.sub(r"每(?:隔)?$", "", pre)).strip()
        out = [f"{lead}多久{post}？", f"{lead}多长时间{post}？"]
        return [q for q in out if len(q) > 6]
    if span.kind == "number" and re.search(r"每[\u4e00-\u9fff]{0,3}$", pre):  # 每骑行1000公里 → 骑行多少公里
        return [f"{_ZH_LEAD.sub('', pre)}{ask[0]}{post}？"]
    if then:
        return [f"{pre}{ask[0]}{post}，{then}？", f"{pre}{ask[-1]}{post}，{then}？"]
    out = []
    verb = _ZH_VERB.search(pre)
    if verb and post:  # 配备48V锂电池 → 锂电池是多少V的？
        noun = re.sub(r"^[\s\dA-Za-z.]+", "", post).strip()
        if noun and span.kind == "number":
            out.append(f"{pre}什么{noun}？")
        elif noun:
            out.append(f"{noun}是{ask[0]}的？")
            out.append(f"{pre}什么样的{noun}？")
        return out
    pre_q = re.sub(r"为$", "是", pre)
    blank = (pre_q + ask[0] + post).strip()
    if len(blank) > len(ask[0]) + 1:
        out.append(blank + "？")
    np = _zh_noun(pre)
    if np:
        out.append(f"{np}是{ask[1] if len(ask) > 1 else ask[0]}？")
        if span.kind in ("time", "measure", "count", "money"):
            out.append(f"{np}是{span.text}吗？")
    return out


_ZH_IF = re.compile(r"^(?:如果|若是|若|假如|万一|一旦|当)(?P<cond>.+?)(?P<shi>时|的话)?[，,](?P<then>.+)$")
_ZH_WHEN = re.compile(r"^(?P<cond>[^，,]{4,30}?)(?P<shi>时)[，,](?P<then>.+)$")
_ZH_NEVER = re.compile(r"(?:^|[，,])(?:但)?(?:请)?(?:勿|切勿|不要|不可|不能|禁止|严禁|不得)(?P<vp>[^，,。；]+)")


def _zh_condition(sentence: str) -> re.Match[str] | None:
    body = sentence.rstrip("。！？；")
    return _ZH_IF.match(body) or _ZH_WHEN.match(body)


def _zh_condition_questions(m: re.Match[str]) -> list[str]:
    cond = m.group("cond").strip() + (m.group("shi") or "" if m.group("shi") == "时" else "")
    then = m.group("then")
    out = [f"{cond}怎么办？", f"{cond}，该怎么处理？"]
    if re.search(r"说明|表示|意味着|代表", then):
        out[0:0] = [f"{cond}是什么意思？", f"{cond}是怎么回事？"]
    code = re.search(rf"(?<![A-Za-z\d])(?:{_CODE})(?![A-Za-z\d])", cond)
    if code:
        out.insert(1, f"{code.group(0)}是什么故障？")
    return out


def _zh_rule_questions(sentence: str) -> list[str]:
    m = _ZH_NEVER.search(sentence)
    if not m:
        return []
    vp = m.group("vp").strip()
    return [f"可以{vp}吗？", f"能不能{vp}？"] if len(vp) >= 3 else []


def _zh_unnamed(q: str, subj: Subject) -> str:
    """The question without the product's full name in front ("云岚E5电动自行车整车重量…" → "整车重量…")."""
    for name in sorted({subj.name, subj.short} - {""}, key=len, reverse=True):
        if q.startswith(name) and len(q) > len(name) + 4:
            return re.sub(r"^的", "", q[len(name):])
    return q


def _zh_named(q: str, subj: Subject, i: int) -> str | None:
    """The question with the product's name (the short name and the full name in turn), None when it has one."""
    names = [n for n in (subj.short, subj.name) if n]
    if not names or any(n in q for n in names):
        return None
    name = names[i % len(names)]
    bare = q.startswith(("可以", "能不能", "多久", "多少", "多长", "几", "什么", "怎么", "哪", "是否", "要", "需要", "每"))
    return f"{name}{q}" if bare else f"{name}的{q}"


def _first_angles(*groups: list[str]) -> list[list[str]]:
    """The situation's and the rule's questions, those that exist, as the first angles of a sentence."""
    return [g for g in groups if g]


def zh_questions(sentence: str, subj: Subject) -> list[list[str]]:
    """Per angle of a Chinese sentence (its situation, its rule, each value), that angle's questions."""
    cond = _zh_condition(sentence)
    angles = _first_angles(_zh_condition_questions(cond) if cond else [], _zh_rule_questions(sentence))
    for clause_m in _ZH_CLAUSE.finditer(sentence):
        clause = clause_m.group(0)
        in_cond = cond is not None and clause_m.start() < cond.start("then")
        spans = find_facts(clause, True, subj)
        taken = 0
        for i, span in enumerate(spans):
            nxt = spans[i + 1] if i + 1 < len(spans) else None
            gap = clause[span.end:nxt.start] if nxt else ""
            to = nxt if nxt and nxt.kind == span.kind and re.fullmatch(r"\s*(?:至|到|~|～|-|—)\s*", gap) else None
            if i > 0 and spans[i - 1].end <= span.start and (
                    re.fullmatch(r"\s*(?:至|到|~|～|-|—)?\s*", clause[spans[i - 1].end:span.start])):
                continue  # the far end of a range, or a spec right after another ("48V 13Ah")
            then = _ZH_CLAUSE.match(cond.group("then")).group(0) if cond and in_cond else ""  # type: ignore[union-attr]
            qs = _zh_value_questions(clause, span, re.sub(r"^(?:就|则|便)", "", then), to)
            if qs:
                angles.append(qs)
                taken += 1
            if taken >= 2:
                break
    return [[q for q in qs if _well_formed_zh(q)] for qs in angles]


# --- questions, English ----------------------------------------------------------------------------------------

_EN_AUX = re.compile(r"\b(is|are|was|were|can|should|must|will|may|need to|has to|have to)\b", re.IGNORECASE)
_EN_HOW = {"time": "How long", "money": "How much", "clock": "What time", "phone": "What number", "ordinal": "When",
           "email": "What email address", "code": "What"}
_EN_IF = re.compile(r"^(?:if|when|whenever|once|should)\s+(?P<cond>[^,;]+?)\s*,\s*(?P<then>.+)$", re.IGNORECASE)
_EN_THEN_IF = re.compile(r"^(?P<then>.+?)\s+(?:if|when)\s+(?P<cond>[^,;]+)$", re.IGNORECASE)
_EN_NEVER = re.compile(r"^(?:never|do not|don't|please do not|avoid)\s+(?P<vp>.+)$", re.IGNORECASE)
_EN_LEAD = re.compile(r"^(?:thank you for[^.]*?\.\s*|also,?\s+|and\s+|but\s+|then\s+|or\s+)", re.IGNORECASE)
_EN_SIZE = {"litre", "litres", "liter", "liters", "l", "ml", "cm", "mm", "m", "inch", "inches", "metres", "meters"}
_EN_WEIGHT = {"kg", "g", "gram", "grams", "kilograms", "kilos", "pounds", "lb", "lbs", "tonnes"}
_EN_PLACE = re.compile(r"\b(?:(?:our|the|your)\s+)?((?:[a-z]+\s+)?(?:line|office|desk|shop|store|centre|center|"
                       r"helpline|hotline|team|reception))\b", re.IGNORECASE)


def _lower_first(text: str) -> str:
    """'The filter' → 'the filter'; 'CM-40' and 'E4' stay."""
    return text[:1].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() and not text[1:2].isdigit() else text


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _en_ask(span: FactSpan) -> str:
    if span.kind in _EN_HOW:
        return _EN_HOW[span.kind]
    return f"How many {span.unit}" if span.unit else "How many"


def _invert(clause: str) -> str:
    """'the filter should be replaced' → 'should the filter be replaced'; imperative 'descale the machine' →
    'should I descale the machine'; '' when neither fits."""
    clause = clause.strip()
    aux = _EN_AUX.search(clause)
    if aux and aux.start() > 0:
        return f"{aux.group(1).lower()} {_lower_first(clause[:aux.start()].strip())} {clause[aux.end():].strip()}"
    first = clause.split(" ", 1)[0].lower()
    if first.isalpha() and first not in _EN_DETERMINERS and not first.endswith("s"):
        return f"should I {_lower_first(clause)}"
    return ""


_EN_DETERMINERS = {"the", "a", "an", "it", "this", "that", "each", "every", "our", "your", "its", "all", "other",
                   "their", "these", "those", "some", "any", "no", "we", "you", "they", "he", "she", "i"}


def _en_value_questions(clause: str, span: FactSpan, sentence: str) -> list[str]:
    pre = _EN_LEAD.sub("", clause[:span.start]).strip()
    post = clause[span.end:].strip(" .")
    out: list[str] = []
    every = re.search(r"\bevery\s+$", pre + " ", re.IGNORECASE)
    if every:  # descale the machine every 200 shots → how often should I descale the machine
        head = re.split(r"\s+every\s+", sentence, maxsplit=1, flags=re.IGNORECASE)[0]
        inv = _invert(_EN_LEAD.sub("", head))
        return [f"How often {inv}?"] if inv else []
    until = re.search(r"\b(?:in|after|within)(?:\s+(?:about|around|approximately|up to))?\s*$", pre, re.IGNORECASE)
    if span.kind == "time" and until and until.start() > 0:  # heats up in about 35 seconds → how long until …
        rest = pre[:until.start()].strip()
        out.append(f"How long until {_lower_first(rest)}?")
        out.append(f"How long does it take until {_lower_first(rest)}?")
        return out
    if span.kind == "time" and re.search(r"\bfor(?:\s+(?:about|around|at least))?\s*$", pre, re.IGNORECASE):
        inv = _invert(re.sub(r"\s*\bfor(?:\s+(?:about|around|at least))?\s*$", "", pre, flags=re.IGNORECASE))
        if inv:
            out.append(f"How long {inv}?")
    if span.kind == "clock":
        place = _EN_PLACE.search(sentence)
        if place:
            word = "close" if re.search(r"\b(?:to|until|till)\s*$", pre, re.IGNORECASE) else "open"
            out += [f"What time does the {place.group(1).lower()} {word}?", f"What are the hours of the "
                    f"{place.group(1).lower()}?"]
            return out
    aux = _EN_AUX.search(pre)
    if aux and aux.start() > 0:
        np = pre[: aux.start()].strip()
        verb = aux.group(1).lower()
        tail = re.sub(r"\b(?:about|around|approximately|up to|at least|at most|only)\s*$", "", pre[aux.end():],
                      flags=re.IGNORECASE).strip()
        if not tail and verb in ("is", "are"):
            out.append(f"What {verb} {_lower_first(np)}?")
            if span.kind == "phone":
                out.append(f"What number do I call for {_lower_first(np)}?")
        elif tail:
            if span.kind == "ordinal":  # due on the 3rd day → when is … due
                tail = re.sub(r"\s*\b(?:on|by|before|after|from|until)(?:\s+the)?\s*$", "", tail, flags=re.IGNORECASE)
            out.append(f"{_en_ask(span)} {verb} {_lower_first(np)} {tail}?")
    article = re.search(r"\b(?:a|an)\s*$", pre, re.IGNORECASE)
    noun = re.match(r"^(?P<noun>(?:[a-z]+\s+){0,2}[a-z]+?)(?P<rest>\s+(?:on|for|of)\s+[^,;]+)?$", post)
    if article and noun and span.kind in ("time", "measure", "money"):
        what = noun.group("noun") + (noun.group("rest") or "")
        unit = span.unit.lower()
        how = {"time": "How long", "money": "How much"}.get(span.kind) or (
            "How big" if unit in _EN_SIZE else "How heavy" if unit in _EN_WEIGHT else f"How many {span.unit}")
        out.append(f"{how} is the {what}?")
    elif span.kind == "measure" and span.unit.lower() in _EN_WEIGHT and re.search(r"\bweighs?\s*$", pre):
        np = re.sub(r"\s*\bweighs?\s*$", "", pre)
        out.append(f"How much does {_lower_first(np)} weigh?")
        out.append(f"How heavy is {_lower_first(np)}?")
    if span.kind == "code" and post and re.search(r"\b(?:using|use|with)(?:\s+[A-Z]\w*)?\s*$", pre):
        out.append(f"What {post} should I use?")
        out.append(f"Which {post} do you recommend?")
    if span.kind in ("phone", "email") and not out:
        place = _EN_PLACE.search(sentence)
        what = place.group(1).lower() if place else "support"
        out.append(f"What is the {what} {'phone number' if span.kind == 'phone' else 'email address'}?")
    ask = _en_ask(span)
    blank = f"{pre} {ask[:1].lower() + ask[1:]} {post}".strip()
    verb = re.match(r"^(?P<np>.+?)\s+(?P<verb>[a-z]+s)$", pre)
    if verb and span.kind in ("measure", "count", "money", "time") and verb.group("verb") not in ("is", "was", "does"):
        v = verb.group("verb")
        base = "have" if v == "has" else v[:-2] if v.endswith(("shes", "ches", "xes", "sses")) else v[:-1]
        obj = f" {post}" if post.startswith("of ") else ""
        how = f"How many {span.unit}" if obj and span.kind == "time" else ask  # 6 weeks of rent
        out.append(f"{how}{obj} does {_lower_first(verb.group('np'))} {base}?")
    if (len(pre.split()) >= 2 and not re.match(r"^(?:if|when)\b", pre, re.IGNORECASE)
            and span.kind != "ordinal"):
        out.append(_upper_first(blank) + "?")
    return out


def _en_condition(sentence: str) -> re.Match[str] | None:
    body = sentence.rstrip(" .!")
    return _EN_IF.match(body) or _EN_THEN_IF.match(body)


def _en_condition_questions(m: re.Match[str]) -> list[str]:
    cond = m.group("cond").strip()
    cond = re.sub(r"\byour\b", "my", cond)
    out = [f"What should I do if {_lower_first(cond)}?", f"{_upper_first(cond)} - what now?"]
    if re.search(r"\b(?:means|indicates|shows that|needs|is low|has)\b", m.group("then")):
        out[0:0] = [f"What does it mean when {_lower_first(cond)}?", f"Why {_invert_do(cond)}?"]
    code = re.search(rf"(?<![A-Za-z\d])(?:{_CODE})(?![A-Za-z\d])", cond)
    if code:
        out.insert(1, f"What does {code.group(0)} mean?")
    return [q for q in out if q and not q.startswith("Why ?")]


def _invert_do(clause: str) -> str:
    """'the orange light blinks' → 'does the orange light blink' (for "why" questions); '' when unsure."""
    words = clause.split()
    for i, w in enumerate(words[1:], 1):
        if re.fullmatch(r"[a-z]+s", w) and not w.endswith("ss") and w not in ("is", "has", "was", "does"):
            base = w[:-2] if w.endswith(("shes", "ches", "xes")) else w[:-1]
            return f"does {_lower_first(' '.join(words[:i]))} {base} {' '.join(words[i + 1:])}".strip()
    return ""


def _en_rule_questions(sentence: str) -> list[str]:
    m = _EN_NEVER.match(sentence.rstrip(" .!"))
    if not m:
        return []
    vp = re.sub(r"\byour\b", "my", m.group("vp"))
    return [f"Can I {vp}?", f"Is it OK to {vp}?"]


def _en_named(q: str, subj: Subject, i: int) -> str | None:
    name = subj.short or subj.name
    if not name or subj.name in q or (subj.short and subj.short in q):
        return None
    swapped = re.sub(r"\bthe (?:machine|appliance|unit|device|product)\b|(?<=\s)it\b(?=\s*(?:weigh|\?))", f"the {name}",
                     q, count=1)
    return swapped if swapped != q else f"For the {name}, {_lower_first(q)}"


def en_questions(sentence: str, subj: Subject) -> list[list[str]]:
    """Per angle of an English sentence (its situation, its rule, each value), that angle's questions."""
    cond = _en_condition(sentence)
    angles = _first_angles(_en_condition_questions(cond) if cond else [], _en_rule_questions(sentence))
    subject = ""
    for clause in re.split(r"[,;:]\s+|\s+and\s+(?=(?:a|an|the|it|its|all|each|every|other|emergency|is|are|was|can|"
                           r"must|should|will|has|have)\b)", sentence):
        if subject and re.match(r"(?:is|are|was|can|must|should|will|has|have)\b", clause):
            clause = f"{subject} {clause}"  # "… and is returned within 21 days": the clause before names it
        head = re.match(r"^((?:the|a|an|each|every|our|your|its)\s+(?:[\w-]+\s+){0,3}?[\w-]+?)\s+"
                        r"(?:is|are|was|were|can|must|should|will|has|have|[a-z]+s)\b", clause, re.IGNORECASE)
        subject = subject or (head.group(1) if head else "")
        for span in find_facts(clause, False, subj)[:2]:
            in_cond = cond is not None and clause.strip(" .") in cond.group("cond")
            if in_cond:
                continue
            qs = _en_value_questions(clause, span, sentence)
            if qs:
                angles.append(qs)
    return angles


def sentence_questions(sentence: str, subj: Subject, zh: bool) -> list[str]:
    """A sentence's questions: each angle (its situation, its rule, each value) asked both without and with the
    product's name, angles taken in turn so that every fact of the sentence gets its questions."""
    angles = zh_questions(sentence, subj) if zh else en_questions(sentence, subj)
    named = _zh_named if zh else _en_named
    per_angle: list[list[str]] = []
    for qs in angles:
        seq: list[str] = []
        for i, q in enumerate(qs[:PER_ANGLE]):
            plain = _zh_unnamed(q, subj) if zh else q
            seq.append(plain)
            # a question that named the product as its subject keeps it without "的" ("E5配备…")
            n = (subj.short or subj.name) + plain if plain != q else named(plain, subj, i)
            if n and (i == 0 or len(qs) < 3):
                seq.append(n)
        if zh and seq:  # the words people use for the same thing ("续航" → "能跑多远")
            seq[1:1] = [s for s in synonym_swaps(seq[0], 1) if _well_formed_zh(s)]
        per_angle.append(_dedupe(seq, PER_ANGLE))
    out: list[str] = []
    for i in range(PER_ANGLE):
        out += [qs[i] for qs in per_angle if i < len(qs)]
    return _dedupe(out, MAX_QUESTIONS)


_ZH_BAD = re.compile(r"(多少|几|多久|什么)[^，,。？]{0,3}是(多少|多久|什么)|的的|是是|^的|^是|为什么")


_ZH_ASKS = re.compile(r"多少|多久|多重|多远|多快|多大|多长|几|什么")


def _well_formed_zh(question: str) -> bool:
    """No doubled question words ("的多少钱是多少", "有多重是多少公斤"; a range "几点到几点" is one), no stray
    "的的", no "为什么" made of "为" + "什么"."""
    asks = len(_ZH_ASKS.findall(question))
    return not _ZH_BAD.search(question) and len(question) >= 5 and (asks <= 1 or "到" in question)


# --- the records ----------------------------------------------------------------------------------------------


@dataclass
class Fact:
    """One fact-bearing sentence: its answer (subject named) and the questions made for it."""

    answer: str
    questions: list[str]
    loc: dict[str, Any] = field(default_factory=dict)


def _dedupe(questions: Iterable[str], limit: int) -> list[str]:
    seen: set[str] = set()
    out = []
    for q in questions:
        q = re.sub(r"\s+", " ", q).strip()
        q = re.sub(r"^[，,、\s]+", "", q)
        key = re.sub(r"[\W_]+", "", q.casefold())
        if len(key) < 3 or key in seen:
            continue
        seen.add(key)
        out.append(q)
        if len(out) >= limit:
            break
    return out


SPLIT_CLAUSES = False  # measured worse: see zh_fact_clauses


def zh_fact_clauses(sentence: str, subj: Subject) -> list[str]:
    """A Chinese sentence that states several values in separate clauses ("整车重量为23.5公斤，最高设计时速为25公里/
    小时，最大载重为120公斤。") → one short statement per value, each naming the subject. Off
    (:data:`SPLIT_CLAUSES`): measured on the e-bike manual (bench/knowledge.py --doc dev --doc-lang zh), answers
    that all begin with the product's name were learnt worse (35% of customer questions vs 43-48% with the
    document's own sentences): the answer's first words no longer tell the facts apart, and the model echoed the
    question after the name. A condition ("如果…，说明…，请…") always stays whole."""
    if not SPLIT_CLAUSES or _zh_condition(sentence) or _ZH_NEVER.search(sentence):
        return [sentence]
    clauses = [c.strip() for c in re.split(r"[，,；;]", sentence.rstrip("。！？；")) if c.strip()]
    if sum(1 for c in clauses if find_facts(c, True, subj)) < 2:
        return [sentence]
    out: list[str] = []
    for c in clauses:
        if find_facts(c, True, subj) or not out:
            out.append(c)
        else:
            out[-1] += "，" + c
    named = [subj.name, subj.short, subj.kind]
    return [(c if any(n and n in c for n in named) else subj.name + c) + "。" for c in out]


def section_facts(heading_path: list[str], paragraphs: list[str], subj: Subject, zh: bool,
                  loc: dict[str, Any]) -> tuple[list[Fact], list[str]]:
    """A section's facts and its paragraphs with only the sentences that carry none (kept for a heading-level
    record)."""
    facts: list[Fact] = []
    rest: list[str] = []
    for para in paragraphs:
        prev = ""
        left: list[str] = []
        units = sentences(para, zh) if not re.match(r"^\s*(?:[-*•]|\d+[.)、])", para) else [para]
        for raw in [u for unit in units for u in (zh_fact_clauses(resolve(unit, subj, zh), subj) if zh else [unit])]:
            sent = resolve(raw, subj, zh)
            qs = sentence_questions(sent, subj, zh)
            if not qs:
                left.append(sent)
                prev = sent
                continue
            follow_up = bool(re.match(r"^(?:这|此|那|其|它们)|^(?:This|That|These|They|Those)\b", raw))
            answer = (f"{prev}{sent}" if zh else f"{prev} {sent}") if follow_up and prev else sent
            facts.append(Fact(answer=answer, questions=_dedupe(qs, MAX_QUESTIONS), loc=dict(loc)))
            prev = sent
        if left:
            rest.append(("" if zh else " ").join(left))
    return facts, rest


def fact_records(sections: list[Any], title: str, meta: dict[str, Any], language: Any) -> tuple[list[Record], list[Any]]:
    """Records for every fact of the sections (method "fact"), and the sections' remainders: the same sections
    holding only the sentences with no fact (for :func:`tools.data.sections.section_records`)."""
    subj = subject_of(title)
    records: list[Record] = []
    remainders = []
    for n, sec in enumerate(sections):
        zh = language(sec.text + " ".join(sec.path)) == "zh"
        facts, rest = section_facts(sec.path, sec.paragraphs, subj, zh, sec.loc)
        for k, fact in enumerate(facts):
            fid = f"{meta.get('source', '')}#{n}.{k}"
            for j, q in enumerate(fact.questions):
                m = dict(meta)
                m.update(fact.loc)
                m.update({"method": "fact", "fact": fid, "angle": j})
                if sec.path:
                    m["section"] = " / ".join(sec.path)
                records.append(pair(q, fact.answer, m))
        if rest:
            remainders.append(type(sec)(sec.title, sec.path, rest, sec.loc))
    return records, remainders
