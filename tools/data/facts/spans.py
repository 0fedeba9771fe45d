"""What a fact looks like (a number with its unit, a code, a phone number, a time, a day), and what a
document is about: its subject, its sentences, its pronouns resolved."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.core.cjk import HAN_RE

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
CODE = r"[A-Z]{1,4}-?\d+[A-Za-z]*(?:-\d+)*|[A-Za-z]+-\d+(?:-\d+)*|[Vv]\d+(?:\.\d+)+"
_ZH_DAY = r"(?:周|星期|礼拜)[一二三四五六日天]"
EN_DAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)days?"
_ZH_FACT = re.compile(
    rf"(?P<email>{_EMAIL})|(?P<phone>{_PHONE})|(?P<clock>{_CLOCK})|(?P<day>{_ZH_DAY})"
    rf"|(?P<num>{_ZH_NUM})\s*(?P<unit>{_UNIT_RE})|(?<![A-Za-z\d])(?P<code>{CODE})(?![A-Za-z\d])"
    rf"|(?<![A-Za-z\d.])(?P<bare>\d{{2,}}(?:\.\d+)?|\d\.\d+)(?![A-Za-z\d.])"
)
_EN_WORDNUM = r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|ninety|a hundred)"
_EN_FACT = re.compile(
    rf"(?P<email>{_EMAIL})|(?P<phone>\b{_PHONE}\b)|(?P<clock>\b{_CLOCK}\b)|(?P<day>\b{EN_DAY}\b)"
    rf"|(?P<num>\b(?:\d+(?:\.\d+)?(?:st|nd|rd|th)?|{_EN_WORDNUM})\b)(?:[\s-]?(?P<unit>°C|%|[A-Za-z]+))?"
    rf"|(?<![A-Za-z\d])(?P<code>{CODE})(?![A-Za-z\d])",
    re.IGNORECASE,
)
_EN_TIME = {"second", "seconds", "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "month",
            "months", "year", "years", "night", "nights", "working"}
_EN_MONEY = {"dollar", "dollars", "euro", "euros", "pound", "pounds", "yuan", "usd", "eur", "gbp"}


@dataclass
class FactSpan:
    kind: str  # email, phone, clock, day (of the week), time (a duration), money, measure, count, code
    text: str
    start: int
    end: int
    unit: str = ""


def _kind_zh(m: re.Match[str]) -> str:
    for k in ("email", "phone", "clock", "day", "code"):
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
    for k in ("email", "phone", "clock", "day", "code"):
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


def timetable(spans: list[FactSpan]) -> list[FactSpan]:
    """"Monday to Friday from 8:30 to 17:30": the hours are the fact asked for, the days go with them."""
    return [s for s in spans if s.kind != "day"] if any(s.kind == "clock" for s in spans) else spans


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
    zh = bool(HAN_RE.search(t))
    name = (_DOC_WORDS_ZH.sub("", t) if zh else _DOC_WORDS_EN.sub("", t)).strip(" -–—:|") or t
    if zh and len(HAN_RE.findall(name)) + len(re.findall(r"[A-Za-z0-9]", name)) < 2:
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



def first_angles(*groups: list[str]) -> list[list[str]]:
    """The situation's and the rule's questions, those that exist, as the first angles of a sentence."""
    return [g for g in groups if g]
