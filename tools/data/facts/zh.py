"""Chinese questions about a sentence's facts: the value asked for, the situation, the rule; the words a
person uses ("保修几年", "报修打什么电话"); well-formed (never two question words in one question)."""

from __future__ import annotations

import re

from tools.core.cjk import HAN
from tools.data.facts.spans import CODE, FactSpan, Subject, find_facts, first_angles, timetable

_ZH_CLAUSE = re.compile(r"[^，,；;。！？!?]+")
_ZH_LEAD = re.compile(
    r"^(?:感谢您选择[^，,]*|另外|此外|同时|并且|而且|但是|但|请|并|且|或者|或|以及|其中|为了[^，]*|建议|应该|应当|应|说明|表示)+")
_ZH_TAIL = re.compile(
    r"(?:的时间|不得低于|不得超过|不低于|不超过|至少|最多|最少|大约|约为|约需|可达|高达|长达|达到|需要|设定为|设置为|为|是|约|达|需|"
    r"要|有|处于|在|于|共|可|可以|以上|以内|每天|每日|每周|每月)+$")
_ZH_VERB = re.compile(r"(?:配备|配有|采用|使用|搭载|内置|提供|支持|选用|装有)$")
_ZH_ASK = {"time": ("多久", "多长时间"), "money": ("多少钱", "多少元"), "clock": ("几点", "什么时间"), "day": ("星期几", "周几"),
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


def _zh_spoken(span: FactSpan) -> str:
    """How a person asks for a value of this kind without "是" ("保修几年", "功率多大", "温度多少度"), "" when
    the written form is already how one asks."""
    unit = span.unit
    if span.kind == "time":
        return "几" + ("个" + unit if unit in ("小时", "月") else unit) if unit not in ("日",) else "几天"
    if unit in ("℃", "°C", "度"):
        return "多少度"
    if unit in ("千瓦", "瓦", "kW", "W", "伏", "V"):
        return "多大"
    if unit in ("米", "厘米", "毫米"):
        return "多少" + unit
    return "多少钱" if span.kind == "money" else ""


_ZH_NOT_NOUN = re.compile(r"(?:显示|等待|发送|至|拨打|致电|联系|按下|按住|长按|打开|关闭|选择|使用|一[款台个种部辆套])$")


def _zh_noun(pre: str) -> str:
    """The noun phrase a clause's fact belongs to: the words before it without verbs like 为/约需/可达."""
    np = _ZH_TAIL.sub("", _ZH_LEAD.sub("", pre.strip())).strip(" ，,的")
    if "每" in np or _ZH_VERB.search(np) or re.search(r"[按点击]$|低于|高于|超过|不足|少于|多于|大于|小于$", pre):
        return ""
    return np if len(np) >= 2 and not _ZH_NOT_NOUN.search(np) else ""


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
    if span.kind == "number" and re.search(f"每[{HAN}]{{0,3}}$", pre):  # 每骑行1000公里 → 骑行多少公里
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
    kind_of = re.search(r"(?:是|为)一[款台个种部辆套]$", pre)
    if kind_of and kind_of.start() >= 2:  # 暖岛JS-16是一款16升的热水器 → 暖岛JS-16多少升？
        out.append(f"{pre[:kind_of.start()]}{ask[0]}？")
        return out
    np = _zh_noun(pre)
    if np:
        spoken = _zh_spoken(span)
        if spoken and spoken not in (ask[0], ask[-1]):
            out.append(f"{np}{spoken}？")
        out.append(f"{np}是{ask[1] if len(ask) > 1 else ask[0]}？")
        if span.kind in ("time", "measure", "count", "money"):
            out.append(f"{np}是{span.text}吗？")
    return out


_ZH_CALL = re.compile(r"^(?P<why>[^，,]{2,8}?)(?:请|可|可以)?(?:拨打|致电|联系|发送邮件至|发邮件至|发邮件到)")


def _zh_contact_questions(sentence: str, span: FactSpan) -> list[str]:
    """A phone number or an address asked for by what it is for ("报修请拨打…" → "报修打什么电话？")."""
    m = _ZH_CALL.match(_ZH_LEAD.sub("", sentence))
    why = m.group("why") if m else ""
    if span.kind == "phone":
        return [f"{why}打什么电话？", f"{why}电话是多少？"] if why else ["电话是多少？"]
    return [f"{why}的邮箱是什么？", f"{why}发邮件到哪里？"] if why else ["邮箱地址是什么？"]


_ZH_IF = re.compile(r"(?:^|(?<=[，,]))(?:如果|若是|若|假如|万一|一旦|当)(?P<cond>[^，,]+?)(?P<shi>时|的话)?[，,](?P<then>.+)$")
_ZH_MEANS = re.compile(rf"(?:^|(?<=[，,]))(?P<cond>[^，,]*?(?<![A-Za-z\d])(?P<code>{CODE})(?![A-Za-z\d])[^，,]*?)[，,]?"
                       r"(?:表示|说明|意味着|代表)(?P<then>.+)$")
_ZH_WHEN = re.compile(r"^(?P<cond>[^，,]{4,30}?)(?P<shi>时)[，,](?P<then>.+)$")
ZH_NEVER = re.compile(r"(?:^|[，,])(?:但)?(?:请)?(?:勿|切勿|不要|不可|不能|禁止|严禁|不得)(?P<vp>[^，,。；]+)")


def zh_condition(sentence: str) -> re.Match[str] | None:
    body = sentence.rstrip("。！？；")
    return _ZH_IF.search(body) or _ZH_WHEN.match(body) or _ZH_MEANS.search(body)


def _zh_condition_questions(m: re.Match[str]) -> list[str]:
    shi = m.groupdict().get("shi")
    cond = m.group("cond").strip() + (shi or "" if shi == "时" else "")
    then = m.group("then")
    out = [f"{cond}怎么办？", f"{cond}，该怎么处理？"]
    if "code" in m.re.groupindex:  # 显示E5表示水温过高: the code means something
        code = m.group("code")
        return [f"{cond}是什么意思？", f"{code}是什么故障？", f"出现{code}怎么办？", f"{cond}，该怎么处理？"]
    if re.search(r"说明|表示|意味着|代表", then):
        out[0:0] = [f"{cond}是什么意思？", f"{cond}是怎么回事？"]
    code = re.search(rf"(?<![A-Za-z\d])(?:{CODE})(?![A-Za-z\d])", cond)
    if code:
        out.insert(1, f"{code.group(0)}是什么故障？")
    return out


def _zh_rule_questions(sentence: str) -> list[str]:
    m = ZH_NEVER.search(sentence)
    if not m:
        return []
    vp = m.group("vp").strip()
    return [f"可以{vp}吗？", f"能不能{vp}？"] if len(vp) >= 3 else []


def zh_unnamed(q: str, subj: Subject) -> str:
    """The question without the product's full name in front ("云岚E5电动自行车整车重量…" → "整车重量…")."""
    for name in sorted({subj.name, subj.short} - {""}, key=len, reverse=True):
        if q.startswith(name) and len(q) > len(name) + 4:
            return re.sub(r"^的", "", q[len(name):])
    return q


def zh_named(q: str, subj: Subject, i: int) -> str | None:
    """The question with the product's name (the short name and the full name in turn), None when it has one.
    Naming it by its kind as well ("这款燃气热水器的…", every angle named its own way) was measured: 44% of
    Chinese customer questions on the held-out manual vs 50% without (bench/knowledge.py --doc held)."""
    names = [n for n in (subj.short, subj.name) if n]
    if not names or any(n in q for n in names):
        return None
    name = names[i % len(names)]
    bare = q.startswith(("可以", "能不能", "多久", "多少", "多长", "几", "什么", "怎么", "哪", "是否", "要", "需要", "每"))
    situation = re.search(r"(?:怎么办|怎么处理|是什么意思|是怎么回事)？$", q)  # 这款热水器闻到燃气味怎么办？
    return f"{name}{q}" if bare or situation else f"{name}的{q}"


class Angle(list[str]):
    """One angle's questions, and the clause that answers them first (``lead``: "热交换器保修8年" before the whole
    sentence "暖岛JS-16整机保修3年，热交换器保修8年…"), "" when the sentence itself is the answer."""

    def __init__(self, questions: list[str], lead: str = "") -> None:
        super().__init__(questions)
        self.lead = lead


def _lead(clause: str, sentence: str) -> str:
    """The clause as the first words of an answer, "" when the sentence already begins with it."""
    lead = _ZH_LEAD.sub("", clause.strip()).strip()
    return "" if len(lead) < 4 or _ZH_LEAD.sub("", sentence).startswith(lead) else lead


def zh_questions(sentence: str, subj: Subject) -> list[list[str]]:
    """Per angle of a Chinese sentence (its situation, its rule, each value), that angle's questions (each an
    :class:`Angle`, with the clause that answers it)."""
    cond = zh_condition(sentence)
    angles: list[list[str]] = first_angles(_zh_condition_questions(cond) if cond else [], _zh_rule_questions(sentence))
    for clause_m in _ZH_CLAUSE.finditer(sentence):
        clause = clause_m.group(0)
        in_cond = (cond is not None and "code" not in cond.re.groupindex  # "显示E5表示…" asks its own
                   and cond.start("cond") < clause_m.end() and clause_m.start() < cond.start("then"))
        spans = timetable(find_facts(clause, True, subj))
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
            if span.kind in ("phone", "email"):
                qs = _zh_contact_questions(sentence[:clause_m.start()] or clause, span) + [q for q in qs if "至" not in q]
            if qs:
                angles.append(Angle(qs, "" if in_cond else _lead(clause, sentence)))
                taken += 1
            if taken >= 2:
                break
    return [Angle([q for q in qs if well_formed_zh(q)], getattr(qs, "lead", "")) for qs in angles]


_ZH_BAD = re.compile(r"(多少|几|多久|什么)[^，,。？]{0,3}是(多少|多久|什么)|的的|是是|^的|^是|为什么")


_ZH_ASKS = re.compile(r"多少|多久|多重|多远|多快|多大|多长|几|什么")


def well_formed_zh(question: str) -> bool:
    """No doubled question words ("的多少钱是多少", "有多重是多少公斤"; a range "几点到几点" is one), no stray
    "的的", no "为什么" made of "为" + "什么"."""
    asks = len(_ZH_ASKS.findall(question))
    echo = re.search(rf"([{HAN}]{{2,}})是\1", question)  # "服务时间是服务时间？"
    return not _ZH_BAD.search(question) and not echo and len(question) >= 5 and (asks <= 1 or "到" in question)
