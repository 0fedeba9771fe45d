"""Does the model know the facts it was trained on, when asked in other words?

One definition serves the learning check during training, the evaluation's *learnt* set and
``bench/knowledge.py``: a question about a trained entry is *known* when the greedy answer holds every
key fact of the entry's answer (numbers, dates, names, codes: :func:`tools.core.key_facts.extract_facts`); for
an answer without such facts, when its ROUGE-L against the answer is at least 0.5.

The questions are the trained questions rewritten with the ``check`` templates of
:mod:`tools.data.paraphrase`, which training never sees.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from tools.core.key_facts import key_fact_recall_detail
from tools.core.metrics import rouge_l
from tools.core.prompts import render_prompt
from tools.data.angles import LEAD, Entries, keyword_angles, keyword_questions, subject_questions
from tools.data.llm import LANGUAGE_NAMES, llm_settings
from tools.data.paraphrase import (
    _key,
    answer_questions,
    is_chinese,
    paraphrase_question,
    shared_prefix,
    short_form,
    synonym_swaps,
    without,
)


class CheckItem(BaseModel):
    """One question in other words about a trained entry, and the entry's answer."""

    model_config = ConfigDict(extra="forbid")

    messages: list[dict[str, str]]  # the prompt: system (if any) + the reworded user turn
    question: str  # the trained question it rewords
    reference: str
    by_words: bool = False  # asked by a word of the answer that tells the entry apart (Chinese), not a template
    word: str | None = None  # that word: training does not ask this entry by it
    closed: list[dict[str, str]] | None = None  # a reading check's item: the same question without the passages


def knows(output: str, reference: str) -> bool:
    """True when ``output`` carries the reference's key facts (see the module text)."""
    detail = key_fact_recall_detail(output, reference)
    if detail.recall is None:
        return rouge_l(output, reference) >= 0.5
    return detail.recall >= 1.0


def kept_right(output: str, expected: Sequence[str]) -> bool:
    """Any of ``expected`` in the answer: numbers as whole numbers, upper-case words as written, the rest
    ignoring case (the evaluation's kept set and the replayed answers, ``tools/data/replay.py``)."""
    for word in expected:
        if word.isdigit():
            if re.search(rf"(?<!\d){word}(?!\d)", output):
                return True
        elif word.isupper() and word.isascii():
            if word in output:
                return True
        elif word.casefold() in output.casefold():
            return True
    return False


def single_turn(example: dict[str, Any]) -> tuple[str | None, str, str] | None:
    """(system, question, answer) of a prompt/completion example with one user turn, else ``None``."""
    prompt = example.get("prompt") or []
    users = [m for m in prompt if m.get("role") == "user"]
    if len(users) != 1 or any(m.get("role") == "assistant" for m in prompt):
        return None
    system = next((m["content"] for m in prompt if m.get("role") == "system"), None)
    return system, users[0]["content"], example["completion"][0]["content"]


Kind = Literal["template", "answer", "words", "llm"]


class Reworded(BaseModel):
    """What training added to a knowledge set, by kind (the training record and the plan card say it)."""

    model_config = ConfigDict(extra="forbid")

    examples: int = 0  # the trained questions
    template: int = 0  # the question in other frames, without the brand, with another word for one thing
    answer: int = 0  # read off the answer's facts (Chinese: naming the entry's subject where the clause does not)
    words: int = 0  # Chinese: by the words of the entry that tell it apart (tools/data/angles.py)
    llm: int = 0  # the configured LLM's
    shared: int = 0  # left out: the same wording written for two entries with different answers

    @property
    def added(self) -> int:
        return self.template + self.answer + self.words + self.llm


def tagged_rewordings(question: str, answer: str, per_question: int, brand: str | None = None, seed: int = 0,
                      entries: Entries | None = None) -> list[tuple[str, Kind]]:
    """New ways to ask for ``answer``, each with its kind: templates, the question without a shared brand name,
    and questions read off the answer's own facts (:func:`tools.data.paraphrase.answer_questions`); for
    Chinese, given the other ``entries``, those with the entry's subject kept and questions by the words that
    tell the entry apart (:mod:`tools.data.angles`). Never the check's wordings."""
    plain = without(question, brand)
    out: list[tuple[str, Kind]] = [(q, "template") for q in paraphrase_question(question, "train", per_question, seed)]
    if plain:
        out += [(q, "template") for q in
                [plain] + paraphrase_question(plain, "train", max(1, per_question // 2), seed + 1)]
    out += [(q, "template") for q in synonym_swaps(plain or question, max(2, per_question // 2))]
    from_answer = answer_questions(answer)
    if entries is not None and is_chinese(question):
        from_answer = subject_questions(question, from_answer, entries)
        if per_question >= 2:  # (one rewording: the data already asks each answer in many words, an identity set)
            out += [(q, "words") for q in keyword_questions(question, answer, entries, "train", per_question, seed)]
    out += [(q, "answer") for q in from_answer]
    out += [(s, "template") for s in map(short_form, from_answer + [question]) if s]
    seen = {question}
    return [(q, k) for q, k in out if not (q in seen or seen.add(q))]  # type: ignore[func-returns-value]


def rewordings(question: str, answer: str, per_question: int, brand: str | None = None, seed: int = 0,
               entries: Entries | None = None) -> list[str]:
    """The texts of :func:`tagged_rewordings`."""
    return [q for q, _ in tagged_rewordings(question, answer, per_question, brand, seed, entries)]


def augment(examples: list[dict[str, Any]], per_question: int, seed: int = 0,
            extra: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """The examples plus rewordings of each single-turn question (:func:`augment_counted`)."""
    return augment_counted(examples, per_question, seed, extra)[0]


def held_words(items: Sequence[CheckItem]) -> dict[str, str]:
    """Question → the word its check item asks by, which training's questions by words leave out."""
    return {it.question: it.word for it in items if it.word}


def augment_counted(examples: list[dict[str, Any]], per_question: int, seed: int = 0,
                    extra: dict[str, list[str]] | None = None, held: dict[str, str] | None = None,
                    ) -> tuple[list[dict[str, Any]], Reworded]:
    """The examples plus rewordings of each single-turn question (:func:`tagged_rewordings`, and ``extra``: an
    LLM's rewordings by question), answers word for word; and what was added, by kind. A wording written for two
    entries with different answers ("周租每天多少元？" of two car models) would teach one's fact for the other's
    question: it is left out (a question trained with several answers, as an identity set's, keeps its own).
    ``held``: question → a word the learning check asks that entry by; no question by words uses it."""
    if per_question <= 0:
        return list(examples), Reworded(examples=len(examples))
    turns = [single_turn(ex) for ex in examples]
    brand = shared_prefix([t[1] for t in turns if t is not None])
    entries = Entries(sorted({(t[1], t[2]) for t in turns if t is not None and is_chinese(t[1])}))
    by_question: dict[str, list[tuple[str, Kind]]] = {}
    for turn in turns:
        if turn is not None and turn[1] not in by_question:
            variants = tagged_rewordings(turn[1], turn[2], per_question, brand, seed, entries)
            word = (held or {}).get(turn[1])
            variants = [(q, k) for q, k in variants if not (word and k == "words" and word in q)]
            texts = {q for q, _ in variants}
            by_question[turn[1]] = variants + [(v, "llm") for v in (extra or {}).get(turn[1], []) if v not in texts]
    askers: dict[str, set[tuple[str, str]]] = {}
    for turn in turns:
        if turn is not None:
            for v, _ in by_question[turn[1]]:
                askers.setdefault(_key(LEAD.sub("", v)), set()).add((turn[1], turn[2]))
    swapped = {v for v, qa in askers.items() if len({q for q, _ in qa}) > 1 and len({a for _, a in qa}) > 1}
    out = list(examples)
    counts = Reworded(examples=len(examples))
    for ex, turn in zip(examples, turns, strict=True):
        if turn is None:
            continue
        for variant, kind in by_question[turn[1]]:
            if _key(LEAD.sub("", variant)) in swapped:
                counts.shared += 1
                continue
            setattr(counts, kind, getattr(counts, kind) + 1)
            prompt = [dict(m) for m in ex["prompt"]]
            for m in prompt:
                if m["role"] == "user":
                    m["content"] = variant
            out.append({"prompt": prompt, "completion": ex["completion"]})
    return out, counts


def check_items(examples: Sequence[dict[str, Any]], limit: int = 32, seed: int = 0,
                by_words: bool = False) -> list[CheckItem]:
    """Up to ``limit`` trained questions, each asked once in other words (a seeded sample of the entries);
    ``by_words``: a Chinese one by a word of its answer (a knowledge set reworded two ways or more, as training
    asks it by such words too)."""
    seen: set[str] = set()
    turns: list[tuple[str | None, str, str]] = []
    for ex in examples:
        turn = single_turn(dict(ex))
        if turn is None or turn[1] in seen:
            continue
        seen.add(turn[1])
        turns.append(turn)
    rng = random.Random(seed)
    brand = shared_prefix([t[1] for t in turns])
    if len(turns) > limit:
        turns = rng.sample(turns, limit)
    entries = Entries(sorted({(t[1], t[2]) for t in turns if is_chinese(t[1])}))
    items = []
    for system, question, answer in turns:
        # Chinese: asked by a word of the answer that tells the entry apart, in a frame training never used
        # (a person's angle, "给母猫做绝育要准备多少钱？"), so that the count predicts what a person sees
        # The word is held out of training's questions by words for this entry (augment_counted's ``held``): a
        # person asks by words the answer holds and no trained question does.
        angles = keyword_angles(question, answer, entries, "check", seed) if by_words and is_chinese(question) else []
        if angles:
            word, text = random.Random(f"{seed}{question}").choice(angles[1:] or angles)
            msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
            items.append(CheckItem(messages=msgs, question=question, reference=answer, by_words=True, word=word))
            continue
        plain = without(question, brand) or question
        swapped = synonym_swaps(plain, 4)
        # another word for the same thing, inside a sentence training never used
        base = swapped[-1] if swapped else plain
        variants = paraphrase_question(base, "check", 1, seed)
        if not variants:
            continue
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": variants[0]}]
        items.append(CheckItem(messages=msgs, question=question, reference=answer))
    return items


def count_known(outputs: Sequence[str], items: Sequence[CheckItem]) -> int:
    return sum(knows(o, it.reference) for o, it in zip(outputs, items, strict=True))


class CheckProgress(BaseModel):
    """The learning check's history and its verdict: keep going, or stop (target met / no progress)."""

    model_config = ConfigDict(extra="forbid")

    target: float = 0.9
    patience: int = 3  # checks without a new best before "stalled"
    min_step: int = 0  # no verdict before this step: early checks' wordings are easier than a person's
    history: list[tuple[int, int, int]] = []  # (step, known, total)

    def add(self, step: int, known: int, total: int) -> str | None:
        """Record one check; returns ``"target"`` or ``"stalled"`` when training should stop.

        Once a check has met the target, a later one that misses a single question also counts as met: the
        model knew them all, and another epoch to win back one greedy slip costs more than it brings (measured
        on the identity set: 32/32 after epoch 2, then 31, 31, 28 over three more epochs)."""
        met_before = any(t and k / t >= self.target for _, k, t in self.history)
        self.history.append((step, known, total))
        if step < self.min_step:
            return None
        if total and (known / total >= self.target or (met_before and known >= total - 1)):
            return "target"
        best_at = max(range(len(self.history)), key=lambda i: (self.history[i][1], -i))
        if len(self.history) - 1 - best_at >= self.patience:
            return "stalled"
        return None


def llm_rewordings(pairs: list[tuple[str, str]], per_question: int, batch: int = 20) -> dict[str, list[str]]:
    """Rewordings from the configured OpenAI-compatible LLM (``TUNEPILOT_LLM_*``), question → rewordings.

    Empty without an LLM. A failed or unreadable reply leaves its questions to the templates; the caller
    says so. Questions and answers travel as data (``prompts/paraphrase.md``).
    """
    import json

    from openai import OpenAI

    settings = llm_settings()
    if settings is None or not pairs or per_question <= 0:
        return {}
    client = OpenAI(base_url=settings.base_url, api_key=settings.api_key, timeout=120.0, max_retries=1)
    out: dict[str, list[str]] = {}
    for start in range(0, len(pairs), batch):
        chunk = pairs[start:start + batch]
        lang = "zh" if any(is_chinese(q) for q, _ in chunk) else "en"
        prompt = render_prompt("paraphrase", n=per_question, language_name=LANGUAGE_NAMES[lang],
                               items=[json.dumps({"id": i, "question": q, "answer": a}, ensure_ascii=False)
                                      for i, (q, a) in enumerate(chunk)])
        reply = client.chat.completions.create(model=settings.model, temperature=0.0,
                                               messages=[{"role": "user", "content": prompt}])
        text = reply.choices[0].message.content or ""
        data = json.loads(text[text.find("{"): text.rfind("}") + 1])
        for item in data.get("items", []) if isinstance(data, dict) else []:
            i = item.get("id") if isinstance(item, dict) else None
            if isinstance(i, int) and 0 <= i < len(chunk) and isinstance(item.get("rewordings"), list):
                q = chunk[i][0]
                out[q] = [r.strip() for r in item["rewordings"] if isinstance(r, str) and r.strip() and r.strip() != q]
                out[q] = out[q][:per_question]
    return out
