"""English questions about a sentence's facts: the value asked for ("How much is the late fee?"), the
situation ("What should I do if …?"), the rule ("Can I …?"), with and without the product's name."""

from __future__ import annotations

import re

from tools.data.facts.spans import CODE, EN_DAY, FactSpan, Subject, find_facts, first_angles, timetable

_EN_AUX = re.compile(r"\b(is|are|was|were|can|should|must|will|may|need to|has to|have to)\b", re.IGNORECASE)
_EN_HOW = {"time": "How long", "money": "How much", "clock": "What time", "phone": "What number", "ordinal": "When",
           "day": "Which day",
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


_EN_HEDGE = re.compile(r"\s*\b(?:about|around|approximately|roughly|nearly|almost|up to|at least|at most|only|"
                       r"no more than|no less than)\s*$", re.IGNORECASE)


def _me(text: str) -> str:
    """The document's "you" as the person asking says it ("before you move out" → "before I move out")."""
    return re.sub(r"\byour\b", "my", re.sub(r"\byou\b", "I", text))


def _en_spoken_questions(pre: str, post: str, span: FactSpan) -> list[str]:
    """How a person asks for the thing a value belongs to: "a late fee of 45 dollars" → "How much is the late
    fee?"; "give 60 days of written notice" → "How much written notice do I need to give?"; "quiet hours run
    from 22:00" → "When do quiet hours start?"."""
    out: list[str] = []
    of = re.search(r"\b(?:a|an|the)\s+(?P<noun>(?:[a-z-]+\s+){0,2}[a-z-]+)\s+of\s*$", pre, re.IGNORECASE)
    if of and span.kind in ("money", "measure", "time", "count"):
        noun = of.group("noun").lower()
        out += [f"How much is the {noun}?" if span.kind == "money" else f"How long is the {noun}?"
                if span.kind == "time" else f"How big is the {noun}?", f"What is the {noun}?"]
    bare = _EN_HEDGE.sub("", pre)
    imperative = re.match(r"^(?P<verb>[A-Za-z][a-z]+)$", bare)
    thing = re.match(r"^of\s+(?P<noun>(?:[a-z-]+\s+){0,2}?[a-z-]+)(?P<rest>\s+(?:before|after|to|when|if|for)\b.*)?$",
                     post)
    if imperative and thing and imperative.group("verb").lower() not in _EN_DETERMINERS:
        noun, rest, verb = thing.group("noun"), _me(thing.group("rest") or ""), imperative.group("verb").lower()
        out += [f"How much {noun} do I need to {verb}{rest}?", f"How many {span.unit} of {noun} should I {verb}{rest}?"]
    starts = re.match(r"^(?P<np>.+?)\s+(?:run|runs|last|lasts|are|is|go|goes)\s+from$", bare, re.IGNORECASE)
    if span.kind == "clock" and starts:
        np = _lower_first(starts.group("np"))
        do = "do" if np.endswith("s") else "does"
        out += [f"When {do} {np} start?", f"What time {do} {np} end?"]
    return out


def _en_day_questions(pre: str) -> list[str]:
    """Recycling is collected every Tuesday → Which day is recycling collected? ([] when it does not fit)."""
    aux = _EN_AUX.search(pre)
    if not (aux and aux.start() > 0 and not re.search(EN_DAY, pre)):
        return []
    rest = re.sub(r"\s*\b(?:every|on|each)\s*$", "", pre[aux.end():], flags=re.IGNORECASE).strip()
    np = _lower_first(pre[:aux.start()].strip())
    return [f"Which day {aux.group(1).lower()} {np} {rest}?".replace("  ", " "),
            f"When {aux.group(1).lower()} {np} {rest}?".replace("  ", " ")]


def _en_how_often(sentence: str) -> list[str]:
    """descale the machine every 200 shots → How often should I descale the machine?"""
    head = re.split(r"\s+every\s+", sentence, maxsplit=1, flags=re.IGNORECASE)[0]
    inv = _invert(_EN_LEAD.sub("", head))
    return [f"How often {inv}?"] if inv else []


def _en_how_long_for(pre: str) -> list[str]:
    """soak the filter for 10 minutes → How long should I soak the filter?"""
    if not re.search(r"\bfor(?:\s+(?:about|around|at least))?\s*$", pre, re.IGNORECASE):
        return []
    inv = _invert(re.sub(r"\s*\bfor(?:\s+(?:about|around|at least))?\s*$", "", pre, flags=re.IGNORECASE))
    return [f"How long {inv}?"] if inv else []


def _en_opening_hours(pre: str, place: str) -> list[str]:
    """the office is open from 9:00 to 17:00 → What time does the office open (or close)? Its hours?"""
    word = "close" if re.search(r"\b(?:to|until|till)\s*$", pre, re.IGNORECASE) else "open"
    return [f"What time does the {place} {word}?", f"What are the hours of the {place}?"]


def _en_aux_questions(pre: str, span: FactSpan) -> list[str]:
    """The clause before the value asked about through its verb: "the deposit is 500 dollars" → "What is the
    deposit?"; "guests may stay for up to 14 nights" → "How long may guests stay?"."""
    aux = _EN_AUX.search(pre)
    if not (aux and aux.start() > 0):
        return []
    np = pre[: aux.start()].strip()
    verb = aux.group(1).lower()
    tail = re.sub(r"\b(?:about|around|approximately|up to|at least|at most|only)\s*$", "", pre[aux.end():],
                  flags=re.IGNORECASE).strip()
    out: list[str] = []
    if not tail and verb in ("is", "are"):
        out.append(f"What {verb} {_lower_first(np)}?")
        if span.kind == "phone":
            out.append(f"What number do I call for {_lower_first(np)}?")
    elif tail:
        if span.kind == "time":  # "may stay for up to 14 nights" → "How long may guests stay?"
            tail = re.sub(r"\s+for$", "", tail)
        if span.kind == "ordinal":  # due on the 3rd day → when is … due
            tail = re.sub(r"\s*\b(?:on|by|before|after|from|until)(?:\s+the)?\s*$", "", tail, flags=re.IGNORECASE)
        out.append(f"{_en_ask(span)} {verb} {_lower_first(np)} {tail}?")
    return out


def _en_size_questions(pre: str, post: str, span: FactSpan) -> list[str]:
    """"a 1.8-litre tank" → How big is the tank?; "it weighs 6.2 kg" → How much does it weigh?"""
    article = re.search(r"\b(?:a|an)\s*$", pre, re.IGNORECASE)
    noun = re.match(r"^(?P<noun>(?:[a-z]+\s+){0,2}[a-z]+?)(?P<rest>\s+(?:on|for|of)\s+[^,;]+)?$", post)
    if article and noun and span.kind in ("time", "measure", "money"):
        what = noun.group("noun") + (noun.group("rest") or "")
        unit = span.unit.lower()
        how = {"time": "How long", "money": "How much"}.get(span.kind) or (
            "How big" if unit in _EN_SIZE else "How heavy" if unit in _EN_WEIGHT else f"How many {span.unit}")
        return [f"{how} is the {what}?"]
    if span.kind == "measure" and span.unit.lower() in _EN_WEIGHT and re.search(r"\bweighs?\s*$", pre):
        np = re.sub(r"\s*\bweighs?\s*$", "", pre)
        return [f"How much does {_lower_first(np)} weigh?", f"How heavy is {_lower_first(np)}?"]
    return []


def _en_contact_question(sentence: str, span: FactSpan) -> str:
    """What is the support phone number / the office's email address?"""
    place = _EN_PLACE.search(sentence)
    what = place.group(1).lower() if place else "support"
    return f"What is the {what} {'phone number' if span.kind == 'phone' else 'email address'}?"


def _en_verb_questions(pre: str, post: str, span: FactSpan) -> list[str]:
    """The subject's own verb asked back: "the deposit equals 6 weeks of rent" → "How many weeks of rent does
    the deposit equal?", "How much is the deposit?"."""
    verb = re.match(r"^(?P<np>.+?)\s+(?P<verb>[a-z]+s)$", _EN_HEDGE.sub("", pre))
    if not (verb and span.kind in ("measure", "count", "money", "time") and verb.group("verb") not in ("is", "was", "does")):
        return []
    v = verb.group("verb")
    base = "have" if v == "has" else v[:-2] if v.endswith(("shes", "ches", "xes", "sses")) else v[:-1]
    obj = f" {post}" if post.startswith("of ") else ""
    how = f"How many {span.unit}" if obj and span.kind == "time" else _en_ask(span)  # 6 weeks of rent
    np = _lower_first(verb.group("np"))
    out = [f"{how}{obj} does {np} {base}?"]
    if v in ("takes", "lasts") and span.kind == "time":
        out.append(f"How long is {np}?")
    elif v in ("equals", "costs", "totals") or span.kind == "money":
        out.append(f"How much is {np}?")
    return out


def _en_value_questions(clause: str, span: FactSpan, sentence: str) -> list[str]:
    """The questions one value of a clause answers, from the words around it (``pre`` before, ``post`` after)."""
    pre = _EN_LEAD.sub("", clause[:span.start]).strip()
    post = clause[span.end:].strip(" .")
    out: list[str] = _en_spoken_questions(pre, post, span)
    if span.kind == "day":
        return _en_day_questions(pre) or out
    if re.search(r"\bevery\s+$", pre + " ", re.IGNORECASE):
        return _en_how_often(sentence)
    until = re.search(r"\b(?:in|after|within)(?:\s+(?:about|around|approximately|up to))?\s*$", pre, re.IGNORECASE)
    if span.kind == "time" and until and until.start() > 0:  # heats up in about 35 seconds → how long until …
        rest = pre[:until.start()].strip()
        return out + [f"How long until {_lower_first(rest)}?", f"How long does it take until {_lower_first(rest)}?"]
    if span.kind == "time":
        out += _en_how_long_for(pre)
    if span.kind == "clock" and (place := _EN_PLACE.search(sentence)):
        return out + _en_opening_hours(pre, place.group(1).lower())
    out += _en_aux_questions(pre, span)
    out += _en_size_questions(pre, post, span)
    if span.kind == "code" and post and re.search(r"\b(?:using|use|with)(?:\s+[A-Z]\w*)?\s*$", pre):
        out += [f"What {post} should I use?", f"Which {post} do you recommend?"]
    if span.kind in ("phone", "email") and not out:
        out.append(_en_contact_question(sentence, span))
    out += _en_verb_questions(pre, post, span)
    if (len(pre.split()) >= 2 and not re.match(r"^(?:if|when)\b", pre, re.IGNORECASE)
            and span.kind != "ordinal"):
        ask = _en_ask(span)
        out.append(_upper_first(f"{pre} {ask[:1].lower() + ask[1:]} {post}".strip()) + "?")
    if span.kind == "time" and span.unit.lower().endswith("s") and span.unit.lower() != "working":
        # "How long may guests stay?" is also asked as "How many nights may guests stay?"
        out += [f"How many {span.unit.lower()}{q[8:]}" for q in out
                if q.startswith("How long ") and not q.startswith(("How long until", "How long is"))]
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
    code = re.search(rf"(?<![A-Za-z\d])(?:{CODE})(?![A-Za-z\d])", cond)
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


def en_named(q: str, subj: Subject, i: int) -> str | None:
    name = subj.short or subj.name
    if not name or subj.name in q or (subj.short and subj.short in q):
        return None
    swapped = re.sub(r"\bthe (?:machine|appliance|unit|device|product)\b|(?<=\s)it\b(?=\s*(?:weigh|\?))", f"the {name}",
                     q, count=1)
    return swapped if swapped != q else f"For the {name}, {_lower_first(q)}"


def en_questions(sentence: str, subj: Subject) -> list[list[str]]:
    """Per angle of an English sentence (its situation, its rule, each value), that angle's questions."""
    cond = _en_condition(sentence)
    angles = first_angles(_en_condition_questions(cond) if cond else [], _en_rule_questions(sentence))
    subject = ""
    for clause in re.split(r"[,;:]\s+|\s+and\s+(?=(?:a|an|the|it|its|all|each|every|other|emergency|is|are|was|can|"
                           r"must|should|will|has|have)\b)", sentence):
        if subject and re.match(r"(?:is|are|was|can|must|should|will|has|have)\b", clause):
            clause = f"{subject} {clause}"  # "… and is returned within 21 days": the clause before names it
        head = re.match(r"^((?:the|a|an|each|every|our|your|its)\s+(?:[\w-]+\s+){0,3}?[\w-]+?)\s+"
                        r"(?:is|are|was|were|can|must|should|will|has|have|[a-z]+s)\b", clause, re.IGNORECASE)
        subject = subject or (head.group(1) if head else "")
        for span in timetable(find_facts(clause, False, subj))[:2]:
            in_cond = cond is not None and clause.strip(" .") in cond.group("cond")
            if in_cond:
                continue
            qs = _en_value_questions(clause, span, sentence)
            if qs:
                angles.append(qs)
    return angles
