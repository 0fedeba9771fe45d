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
by the section's subject, and the sentence before it when the sentence alone says nothing (a short follow-up);
a Chinese answer begins with the clause that holds the asked value ("热交换器保修8年。" before the sentence).
Sentences with no fact of these kinds stay in a short record under their section's heading (:func:`remainder`),
so nothing the document says is left out of training.
"""


from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tools.data.document import Record, pair
from tools.data.facts.en import en_named, en_questions
from tools.data.facts.spans import Subject, find_facts, resolve, sentences, subject_of
from tools.data.facts.zh import ZH_NEVER, well_formed_zh, zh_condition, zh_named, zh_questions, zh_unnamed
from tools.data.paraphrase import synonym_swaps

__all__ = ["Fact", "Subject", "en_questions", "fact_records", "find_facts", "resolve", "section_facts",
           "sentence_questions", "subject_of", "zh_fact_clauses", "zh_questions"]

MAX_QUESTIONS = 10  # per fact-bearing sentence (one sentence may hold several facts)
PER_ANGLE = 4  # per fact or situation: Physics of LMs 3.1 found ~5 varied phrasings enough, with the rewordings


def sentence_questions(sentence: str, subj: Subject, zh: bool) -> list[str]:
    """A sentence's questions: each angle (its situation, its rule, each value) asked both without and with the
    product's name, angles taken in turn so that every fact of the sentence gets its questions."""
    return [q for q, _ in sentence_pairs(sentence, subj, zh)]


ANSWER_FIRST = True  # a Chinese answer begins with the clause that answers the question: see bench/knowledge.py


def sentence_pairs(sentence: str, subj: Subject, zh: bool) -> list[tuple[str, str]]:
    """:func:`sentence_questions`, each with the clause its answer begins with ("" for the sentence alone).

    A manual's sentences often hold several facts and begin alike (the product's name, once "它" and "该机"
    are resolved); a small model that must tell from an answer's first words which sentence to say mixes them
    up. An answer that begins with the clause holding the asked fact ("热交换器保修8年。暖岛JS-16整机保修3年，
    热交换器保修8年…") begins with the words of the question."""
    angles = zh_questions(sentence, subj) if zh else en_questions(sentence, subj)
    named = zh_named if zh else en_named
    per_angle: list[list[str]] = []
    leads: dict[str, str] = {}
    for qs in angles:
        seq: list[str] = []
        for i, q in enumerate(qs[:PER_ANGLE]):
            plain = zh_unnamed(q, subj) if zh else q
            seq.append(plain)
            # a question that named the product as its subject keeps it without "的" ("E5配备…")
            n = (subj.short or subj.name) + plain if plain != q else named(plain, subj, i)
            if n and (i == 0 or len(qs) < 3):
                seq.append(n)
        if zh and seq:  # the words people use for the same thing ("续航" → "能跑多远")
            seq[1:1] = [s for s in synonym_swaps(seq[0], 1) if well_formed_zh(s)]
        per_angle.append(_dedupe(seq, PER_ANGLE))
        lead = getattr(qs, "lead", "") if ANSWER_FIRST else ""
        for q in per_angle[-1]:
            leads.setdefault(q, lead)
    out: list[str] = []
    for i in range(PER_ANGLE):
        out += [qs[i] for qs in per_angle if i < len(qs)]
    return [(q, leads.get(q, "")) for q in _dedupe(out, MAX_QUESTIONS)]


# --- the records ----------------------------------------------------------------------------------------------


@dataclass
class Fact:
    """One fact-bearing sentence: its answer (subject named) and the questions made for it."""

    answer: str
    questions: list[str]
    loc: dict[str, Any] = field(default_factory=dict)
    leads: dict[str, str] = field(default_factory=dict)  # question → the clause its answer begins with

    def answer_to(self, question: str) -> str:
        lead = self.leads.get(question, "")
        return f"{lead}。{self.answer}" if lead else self.answer


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
    if not SPLIT_CLAUSES or zh_condition(sentence) or ZH_NEVER.search(sentence):
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
            made = sentence_pairs(sent, subj, zh)
            qs = [q for q, _ in made]
            if not qs:
                left.append(sent)
                prev = sent
                continue
            follow_up = bool(re.match(r"^(?:这|此|那|其|它们)|^(?:This|That|These|They|Those)\b", raw))
            answer = (f"{prev}{sent}" if zh else f"{prev} {sent}") if follow_up and prev else sent
            facts.append(Fact(answer=answer, questions=qs, loc=dict(loc), leads={q: lead for q, lead in made if lead}))
            prev = sent
        if left:
            rest.append(("" if zh else " ").join(left))
    return facts, rest


WHOLE_SECTIONS = False  # the document's own text trained beside the questions (PIT): see bench/knowledge.py --with-text


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
                records.append(pair(q, fact.answer_to(q), m))
        if WHOLE_SECTIONS:
            remainders.append(sec)
        elif rest:
            remainders.append(type(sec)(sec.title, sec.path, rest, sec.loc))
    return records, remainders
