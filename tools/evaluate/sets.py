"""The three question sets of the before/after table, each with its count and a 95% interval.

- ``learnt``: the trained questions asked in other words (:func:`tools.data.knowledge.check_items`, wordings
  training never used), or the person's own questions file ("看家提问": JSONL/CSV/XLSX of questions with
  expected answers). Right = the answer holds the expected key facts (:func:`tools.data.knowledge.knows`).
- ``held_out``: the unseen split (``eval.jsonl``), scored the same way.
- ``kept``: :data:`KEPT`, about 40 general prompts in English and Chinese (facts, arithmetic,
  instructions). Right = the answer contains an expected word; the row says how many the base model got
  right and the tuned one lost (catastrophic forgetting, seed 003 §38.3).

Sets under :data:`MIN_ITEMS` items say they are too few to judge. Words for the table come in English and
Chinese from :data:`WORDS`, keyed by code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.core.errors import InputError
from tools.core.jsonio import iter_jsonl
from tools.core.messages import say
from tools.data import ConvertRequest, convert_documents
from tools.data.examples import to_prompt_completion
from tools.data.knowledge import CheckItem, knows

MIN_ITEMS = 20
SetName = Literal["learnt", "held_out", "kept", "corrected", "learnt_documents", "out_of_scope"]

# (prompt, any of these in the answer is right). Numbers match as whole numbers.
KEPT: list[tuple[str, tuple[str, ...]]] = [
    ("What is the capital of France?", ("Paris",)),
    ("What is the capital of Japan?", ("Tokyo",)),
    ("How many days are there in a week?", ("7", "seven")),
    ("What color is the sky on a clear day?", ("blue",)),
    ("What is 2 + 3?", ("5", "five")),
    ("What is 10 times 3?", ("30", "thirty")),
    ("Which planet do we live on?", ("Earth",)),
    ("What is the opposite of hot?", ("cold",)),
    ("Write the word apple in capital letters.", ("APPLE",)),
    ("What language is mainly spoken in Spain?", ("Spanish",)),
    ("How many legs does a spider have?", ("8", "eight")),
    ("What do bees make?", ("honey",)),
    ("At what temperature in Celsius does water freeze?", ("0", "zero")),
    ("Who wrote Romeo and Juliet?", ("Shakespeare",)),
    ("What is the largest ocean on Earth?", ("Pacific",)),
    ("How do you say 'thank you' in French?", ("merci",)),
    ("How many months are there in a year?", ("12", "twelve")),
    ("What is the square root of 81?", ("9", "nine")),
    ("What color do you get by mixing blue and yellow?", ("green",)),
    ("What is the boiling point of water in Celsius?", ("100",)),
    ("法国的首都是哪里？", ("巴黎", "Paris")),
    ("一个星期有几天？", ("7", "七")),
    ("3加4等于几？", ("7", "七")),
    ("中国的首都是哪里？", ("北京", "Beijing")),
    ("水在摄氏多少度结冰？", ("0", "零")),
    ("一年有几个月？", ("12", "十二")),
    ("太阳从哪个方向升起？", ("东",)),
    ("“谢谢”用英语怎么说？", ("thank",)),
    ("晴天的天空是什么颜色？", ("蓝",)),
    ("5乘以6等于多少？", ("30", "三十")),
    ("蜜蜂会酿造什么？", ("蜜",)),
    ("我们生活在哪个星球上？", ("地球", "Earth")),
    ("一天有多少个小时？", ("24", "二十四")),
    ("猫有几条腿？", ("4", "四")),
    ("请把“hello”翻译成中文。", ("你好",)),
    ("10减4等于几？", ("6", "六")),
    ("长城在哪个国家？", ("中国", "China")),
    ("月亮绕着哪个星球转？", ("地球", "Earth")),
    ("“热”的反义词是什么？", ("冷",)),
    ("水的化学式是什么？", ("H2O", "H₂O")),
]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of the proportion k/n (sensible for small n and for 0 or n)."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


class SetScore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    right: int
    n: int
    low: float
    high: float

    @classmethod
    def of(cls, flags: Sequence[bool]) -> SetScore:
        k, n = sum(bool(f) for f in flags), len(flags)
        lo, hi = wilson(k, n)
        return cls(right=k, n=n, low=round(lo, 4), high=round(hi, 4))


class SetResult(BaseModel):
    """One row of the three-set table."""

    model_config = ConfigDict(extra="forbid")

    name: SetName
    source: str = Field(description="generated | questions file name | eval.jsonl | built-in")
    n: int
    base: SetScore
    tuned: SetScore
    lost: int = Field(default=0, description="right before, wrong after")
    gained: int = 0

    @property
    def too_few(self) -> bool:
        return self.n < MIN_ITEMS


def score_set(name: SetName, source: str, before: Sequence[str], after: Sequence[str],
              right: Sequence[Any], check: Any) -> SetResult:
    """``check(output, right_i)`` says whether one answer is right; ``right`` holds what each needs."""
    b = [bool(check(o, r)) for o, r in zip(before, right, strict=True)]
    a = [bool(check(o, r)) for o, r in zip(after, right, strict=True)]
    return SetResult(name=name, source=source, n=len(right), base=SetScore.of(b), tuned=SetScore.of(a),
                     lost=sum(x and not y for x, y in zip(b, a, strict=True)),
                     gained=sum(y and not x for x, y in zip(b, a, strict=True)))


def learnt_check(output: str, reference: str) -> bool:
    return knows(output, reference)


def load_questions(path: Path, work_dir: Path, system_prompt: str | None = None) -> list[CheckItem]:
    """The person's own questions with expected answers (JSONL, CSV or XLSX) as check items.

    Read by the dataset converter, so every format and every error message of ``tunepilot data`` applies
    (file and line named). Nothing is dropped silently: the converter's report says what was left out.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such questions file", where=str(path),
                         hint="Give a JSONL, CSV or XLSX file of questions with expected answers")
    result = convert_documents(ConvertRequest(inputs=[path], out_dir=work_dir, eval_ratio=0.0))
    items = []
    for _, rec in iter_jsonl(result.train_path):
        for ex in to_prompt_completion(rec, system_prompt) if isinstance(rec, dict) else []:
            items.append(CheckItem(messages=ex["prompt"], question=ex["prompt"][-1]["content"],
                                   reference=ex["completion"][0]["content"]))
    if not items:
        raise InputError("the questions file has no question with an expected answer", where=str(path),
                         hint="One question and its expected answer per row: columns question/answer, or JSONL "
                              '{"question": ..., "answer": ...}')
    return items


def _score_cell(s: SetScore, lang: str) -> str:
    return say("sets.right", lang, k=s.right, n=s.n, p=s.right / s.n if s.n else 0.0, lo=s.low, hi=s.high)


def render_sets(sets: Sequence[SetResult], lang: str = "en", limit_line: str | None = None,
                system_prompt: str | None = None, runs: tuple[str, str] | None = None) -> list[str]:
    """The three-set section of the Markdown table, in ``lang``; ``runs`` names two runs compared (instead of
    a base and its fine-tune)."""
    if not sets:
        return []
    names = {"before": runs[0], "after": runs[1]} if runs else {}
    header = say("sets.header_runs", lang, **names) if runs else say("sets.header", lang)
    out = ["## " + say("sets.title", lang), "", header, "|---|---:|---:|---:|---|"]
    for s in sets:
        label = say("sets.learnt_file", lang, source=s.source) if s.name == "learnt" and s.source != "generated" \
            else say("sets.documents_file", lang, source=s.source) if s.name == "learnt_documents" \
            and s.source != "generated" else say(f"sets.{s.name}", lang)
        notes = []
        if s.too_few:
            notes.append(say("sets.too_few", lang, n=s.n))
        if s.name == "kept" or (runs and s.name != "corrected"):  # two runs: what the first knew and the second lost
            lost = say("sets.lost_runs", lang, lost=s.lost, **names) if runs else say("sets.lost", lang, lost=s.lost)
            notes.append(lost if s.lost else say("sets.none_lost_runs", lang, **names) if runs else say("sets.none_lost", lang))
        out.append(f"| {label} | {s.n} | {_score_cell(s.base, lang)} | {_score_cell(s.tuned, lang)} | "
                   f"{'; '.join(notes)} |")
    out += ["", say("sets.how", lang)]
    if limit_line:
        out += ["", limit_line]
    if system_prompt:
        out += ["", say("sets.system", lang, text=system_prompt.replace("\n", " "))]
    out.append("")
    return out
