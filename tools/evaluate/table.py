"""The before/after evaluation table: metrics rows, biggest gains and losses, Markdown/CSV/JSON.

Input is two JSONL files written by the generation step, one line per eval
example, ``{"id", "prompt", "reference", "output"}`` (other keys are ignored):
``eval/before.jsonl`` from the base model and ``eval/after.jsonl`` from the
fine-tuned one. They are matched by ``id``; every number in the table can be
recomputed from them with :mod:`tools.core.metrics`:

- ROUGE-L, exact match, key-fact recall, length ratio: mean of the per-sample
  scores (key-fact recall over the samples whose reference has key facts);
- BLEU and chrF: corpus-level sacrebleu scores;
- eval loss / perplexity (``exp(loss)``), judge and human rows when given.

``write_tables`` writes ``table.md`` (readable, CJK intact), ``table.csv``
(UTF-8 with BOM so Excel shows Chinese) and ``table.json`` (everything,
including per-sample metrics).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from tools.core.errors import InputError
from tools.core.jsonio import atomic_write_bytes, atomic_write_text, iter_jsonl
from tools.core.messages import DEFAULT_LANG, Said, has, lang_of, said, say, section, shown
from tools.core.metrics import CorpusMetrics, SampleMetrics, aggregate, perplexity, score_sample
from tools.core.system_prompt import LengthLimit
from tools.evaluate.judge import JudgeResult, JudgeSample
from tools.evaluate.sets import SetResult, SetScore, render_sets
from tools.evaluate.sets import word as set_word

TOP_K = 5


class EvalRecord(BaseModel):
    """One line of ``before.jsonl``/``after.jsonl``. Unknown keys (latency, model name ...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str
    prompt: str
    reference: str
    output: str
    metrics: dict[str, Any] | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_to_str(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        return v


class SampleScores(BaseModel):
    """Per-sample metrics of the base (before) and tuned (after) answers."""

    model_config = ConfigDict(extra="forbid")

    id: str
    before: SampleMetrics
    after: SampleMetrics


class MetricRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    label: str
    before: float | None
    after: float | None
    change: float | None
    higher_is_better: bool | None
    how: str
    before_detail: str | None = None
    after_detail: str | None = None
    # the same three by code, rendered in the reader's language (absent in tables written before codes)
    how_said: Said | None = None
    before_said: Said | None = None
    after_said: Said | None = None


class SampleRow(BaseModel):
    """A sample shown side by side in the improved/regressed lists."""

    model_config = ConfigDict(extra="forbid")

    id: str
    prompt: str
    reference: str
    before: str
    after: str
    rouge_l_before: float
    rouge_l_after: float
    change: float
    key_fact_recall_before: float | None
    key_fact_recall_after: float | None


class JudgeSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    win: int
    tie: int
    loss: int
    invalid: int
    errors: int
    tuned_shown_first: int


class HumanSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_up: int
    base_down: int
    tuned_up: int
    tuned_down: int
    ignored_ids: list[str] = []


class EvalTable(BaseModel):
    """Rows = metrics (before, after, change); then the samples that improved and regressed most."""

    model_config = ConfigDict(extra="forbid")

    n_samples: int
    base_name: str | None = None
    tuned_name: str | None = None
    rows: list[MetricRow]
    improved: list[SampleRow]
    regressed: list[SampleRow]
    judge: JudgeSummary | None = None
    human: HumanSummary | None = None
    notes: list[str] = []
    said_notes: list[Said] = []  # the notes by code, in the same order (absent in older tables)
    samples: list[SampleScores] = []
    # the three question sets (learnt / held out / kept), how answers keep a length limit, the system prompt
    sets: list[SetResult] = []
    length_limit: LengthLimit | None = None
    limit_base: SetScore | None = None
    limit_tuned: SetScore | None = None
    system_prompt: str | None = None

    @property
    def metrics(self) -> list[MetricRow]:
        """The metric rows (an alias of ``rows``)."""
        return self.rows

    def row(self, name: str) -> MetricRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)


# --- reading -------------------------------------------------------------------


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(x) for x in err["loc"]) or "line"
        parts.append(f"field {field!r}: {err['msg']}")
    return "; ".join(parts)


def load_records(path: Path) -> list[tuple[int, EvalRecord]]:
    """``(line, record)`` for each line of a before/after file; errors name ``file:line``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "file not found", where=str(path), hint="Generate the answers first (tunepilot eval)"
        )
    out: list[tuple[int, EvalRecord]] = []
    first_line: dict[str, int] = {}
    for n, obj in iter_jsonl(path):
        where = f"{path}:{n}"
        if not isinstance(obj, dict):
            raise InputError(
                f"expected a JSON object, got {type(obj).__name__}",
                where=where,
                hint='Each line must be {"id", "prompt", "reference", "output"}',
            )
        try:
            rec = EvalRecord.model_validate(obj)
        except ValidationError as exc:
            raise InputError(
                _validation_message(exc),
                where=where,
                hint='Each line must be {"id", "prompt", "reference", "output"} with string values',
            ) from exc
        if rec.id in first_line:
            raise InputError(
                f"duplicate id {rec.id!r} (first on line {first_line[rec.id]})",
                where=where,
                hint="Give every eval example a unique id",
            )
        first_line[rec.id] = n
        out.append((n, rec))
    if not out:
        raise InputError("no records", where=str(path), hint="The file is empty; generate the answers again")
    return out


def _sample(ids: Sequence[str], k: int = 5) -> str:
    shown = ", ".join(repr(i) for i in ids[:k])
    return shown + (f" and {len(ids) - k} more" if len(ids) > k else "")


def match_records(before_path: Path, after_path: Path) -> tuple[list[EvalRecord], list[EvalRecord]]:
    """Records of both files paired by id (in the order of the before file)."""
    before = load_records(before_path)
    after = load_records(after_path)
    after_by_id = {r.id: (n, r) for n, r in after}
    before_ids = [r.id for _, r in before]
    only_before = [i for i in before_ids if i not in after_by_id]
    before_set = set(before_ids)
    only_after = [r.id for _, r in after if r.id not in before_set]
    if only_before or only_after:
        parts = []
        if only_before:
            parts.append(f"{len(only_before)} only in {Path(before_path).name} ({_sample(only_before)})")
        if only_after:
            parts.append(f"{len(only_after)} only in {Path(after_path).name} ({_sample(only_after)})")
        raise InputError(
            "the before and after files cover different ids: " + "; ".join(parts),
            where=f"{before_path} / {after_path}",
            hint="Generate both files from the same eval split",
        )
    paired_after = []
    for n_b, b in before:
        n_a, a = after_by_id[b.id]
        for field in ("reference", "prompt"):
            if getattr(a, field) != getattr(b, field):
                raise InputError(
                    f"id {b.id!r}: the {field} differs from {Path(before_path).name} line {n_b}",
                    where=f"{after_path}:{n_a}",
                    hint="Generate both files from the same eval split",
                )
        paired_after.append(a)
    return [r for _, r in before], paired_after


def load_human_scores(path: Path) -> list[tuple[int, str, Literal["base", "tuned"], int]]:
    """``(line, id, model, score)`` from a 👍/👎 JSONL: ``{"id", "model": "base"|"tuned", "score": 1|-1}``."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", where=str(path), hint="Rate some answers on the page first")
    out: list[tuple[int, str, Literal["base", "tuned"], int]] = []
    hint = 'Each line must be {"id": ..., "model": "base" or "tuned", "score": 1 or -1}'
    for n, obj in iter_jsonl(path):
        where = f"{path}:{n}"
        if not isinstance(obj, dict):
            raise InputError("expected a JSON object", where=where, hint=hint)
        sid, model, score = obj.get("id"), obj.get("model"), obj.get("score")
        who: Literal["base", "tuned"] = "base" if model == "base" else "tuned"
        if isinstance(sid, int) and not isinstance(sid, bool):
            sid = str(sid)
        if not isinstance(sid, str):
            raise InputError("missing or non-string 'id'", where=where, hint=hint)
        if model not in ("base", "tuned"):
            raise InputError(f"'model' must be 'base' or 'tuned', got {model!r}", where=where, hint=hint)
        if isinstance(score, bool) or score not in (1, -1):
            raise InputError(f"'score' must be 1 or -1, got {score!r}", where=where, hint=hint)
        out.append((n, sid, who, int(score)))
    return out


# --- building --------------------------------------------------------------------


def _change(before: float | None, after: float | None) -> float | None:
    if before is None or after is None:
        return None
    if math.isinf(before) and math.isinf(after) and before == after:
        return 0.0
    return after - before


def _row(
    name: str,
    before: float | None,
    after: float | None,
    higher_is_better: bool | None,
    how: Said,
    before_detail: Said | None = None,
    after_detail: Said | None = None,
) -> MetricRow:
    return MetricRow(
        name=name,
        label=say(f"metric.{name}"),
        before=before,
        after=after,
        change=_change(before, after),
        higher_is_better=higher_is_better,
        how=how.text(),
        before_detail=before_detail.text() if before_detail else None,
        after_detail=after_detail.text() if after_detail else None,
        how_said=how,
        before_said=before_detail,
        after_said=after_detail,
    )


CHAT_VOTE = "chat-"  # ids of 👍/👎 given to answers in the page's model chat (questions of the person's own)


def _human_summary(
    votes: Sequence[tuple[int, str, Literal["base", "tuned"], int]], ids: set[str]
) -> HumanSummary:
    last: dict[tuple[str, str], int] = {}  # the page may let a person change a vote: the last one counts
    ignored: list[str] = []
    for _, sid, model, score in votes:
        if sid not in ids and not sid.startswith(CHAT_VOTE):
            if sid not in ignored:
                ignored.append(sid)
            continue
        last[(sid, model)] = score
    count = {(m, s): 0 for m in ("base", "tuned") for s in (1, -1)}
    for (_, who), score in last.items():
        count[(who, score)] += 1
    return HumanSummary(
        base_up=count[("base", 1)],
        base_down=count[("base", -1)],
        tuned_up=count[("tuned", 1)],
        tuned_down=count[("tuned", -1)],
        ignored_ids=ignored,
    )


def human_row(h: HumanSummary) -> MetricRow:
    """The 👍 share row: votes on eval samples and on answers in the page's model chat, last vote each."""
    base_n, tuned_n = h.base_up + h.base_down, h.tuned_up + h.tuned_down
    return _row(
        "human_thumbs_up",
        h.base_up / base_n if base_n else None,
        h.tuned_up / tuned_n if tuned_n else None,
        True,
        said("table_how.human"),
        before_detail=said("table_how.votes", up=h.base_up, down=h.base_down),
        after_detail=said("table_how.votes", up=h.tuned_up, down=h.tuned_down),
    )


def with_human_votes(table: EvalTable, votes: Sequence[tuple[int, str, Literal["base", "tuned"], int]],
                     ids: set[str]) -> EvalTable:
    """``table`` with its human row (and note) made from ``votes``: the page calls this after each vote."""
    h = _human_summary(votes, ids)
    rows = [r for r in table.rows if r.name != "human_thumbs_up"] + [human_row(h)]
    notes = [n for n in _notes(table) if n.code != "table_note.human_ignored"]
    if h.ignored_ids:
        notes.append(said("table_note.human_ignored", n=len(h.ignored_ids)))
    return table.model_copy(update={"rows": rows, "human": h, **_with_notes(notes)})


def _notes(table: EvalTable) -> list[Said]:
    """A table's notes by code (a table written before codes: each note as text, under no code)."""
    if len(table.said_notes) == len(table.notes):
        return list(table.said_notes)
    return [Said(code="table_note.as_written", params={"text": n}) for n in table.notes]


def _with_notes(notes: list[Said]) -> dict[str, Any]:
    return {"notes": [n.text() for n in notes], "said_notes": notes}


def judge_samples(before: Sequence[EvalRecord], after: Sequence[EvalRecord]) -> list[JudgeSample]:
    """Pairs for :func:`tools.evaluate.judge.judge_pairwise` (records already matched by id)."""
    return [
        JudgeSample(
            id=b.id, prompt=b.prompt, reference=b.reference, base_output=b.output, tuned_output=a.output
        )
        for b, a in zip(before, after, strict=True)
    ]


def _ranked(rows: list[SampleRow], k: int) -> tuple[list[SampleRow], list[SampleRow]]:
    improved = sorted((r for r in rows if r.change > 0), key=lambda r: (-r.change, r.id))[:k]
    regressed = sorted((r for r in rows if r.change < 0), key=lambda r: (r.change, r.id))[:k]
    return improved, regressed


def _text_rows(n: int, cb: CorpusMetrics, ca: CorpusMetrics) -> tuple[list[MetricRow], list[Said]]:
    """The rows scored from the answers' text, and the notes that explain them."""
    rows = [
        _row("rouge_l", cb.rouge_l, ca.rouge_l, True, said("table_how.mean_cjk", n=n)),
        _row("bleu", cb.bleu, ca.bleu, True, said("table_how.bleu", tokenizers="/".join(cb.bleu_tokenizers))),
        _row("chrf", cb.chrf, ca.chrf, True, said("table_how.chrf")),
        _row("exact_match", cb.exact_match, ca.exact_match, True, said("table_how.mean_normalised", n=n)),
        _row("key_fact_recall", cb.key_fact_recall, ca.key_fact_recall, True,
             said("table_how.mean_key_facts", n=cb.key_fact_samples)),
        _row("length_ratio", cb.length_ratio, ca.length_ratio, None, said("table_how.mean", n=n)),
    ]
    notes = [said("table_note.models"), said("table_note.means")]
    if cb.key_fact_samples == 0:
        notes.append(said("table_note.no_key_facts"))
    return rows, notes


def _loss_rows(before: float | None, after: float | None) -> list[MetricRow]:
    if before is None and after is None:
        return []
    return [_row("eval_loss", before, after, False, said("table_how.eval_loss")),
            _row("perplexity", perplexity(before), perplexity(after), False, said("table_how.perplexity"))]


def _judge_rows(judge: JudgeResult) -> tuple[JudgeSummary, list[MetricRow], list[Said]]:
    """The judge's counts, its two rows (when it judged anything) and a note on what it left out."""
    summary = JudgeSummary(
        model=judge.model, win=judge.win, tie=judge.tie, loss=judge.loss, invalid=judge.count("invalid"),
        errors=judge.count("error"), tuned_shown_first=sum(1 for it in judge.items if it.tuned_position == "A"),
    )
    rows: list[MetricRow] = []
    judged = judge.judged
    if judged:
        rows.append(_row("judge_preferred", judge.loss / judged, judge.win / judged, True,
                         said("table_how.judge", model=judge.model, n=judged),
                         before_detail=said("table_how.base_wins", n=judge.loss),
                         after_detail=said("table_how.tuned_wins", n=judge.win)))
        rows.append(_row("judge_tie", judge.tie / judged, judge.tie / judged, None, said("table_how.judge_share"),
                         before_detail=said("table_how.ties", n=judge.tie),
                         after_detail=said("table_how.ties", n=judge.tie)))
    notes = [said("table_note.judge_left_out", invalid=summary.invalid, errors=summary.errors)] \
        if summary.invalid or summary.errors else []
    return summary, rows, notes


def _sample_rows(before: Sequence[EvalRecord], after: Sequence[EvalRecord], sb: list[SampleMetrics],
                 sa: list[SampleMetrics]) -> list[SampleRow]:
    return [
        SampleRow(id=b.id, prompt=b.prompt, reference=b.reference, before=b.output, after=a.output,
                  rouge_l_before=x.rouge_l, rouge_l_after=y.rouge_l, change=y.rouge_l - x.rouge_l,
                  key_fact_recall_before=x.key_fact_recall, key_fact_recall_after=y.key_fact_recall)
        for b, a, x, y in zip(before, after, sb, sa, strict=True)
    ]


def build_table(
    before: Sequence[EvalRecord],
    after: Sequence[EvalRecord],
    *,
    eval_loss_before: float | None = None,
    eval_loss_after: float | None = None,
    judge: JudgeResult | None = None,
    human_scores: Sequence[tuple[int, str, Literal["base", "tuned"], int]] | None = None,
    base_name: str | None = None,
    tuned_name: str | None = None,
    top_k: int = TOP_K,
) -> EvalTable:
    """The table for records already matched by id (same order in both lists).

    Metrics are always recomputed from the texts (a ``metrics`` field in the input is not trusted).
    """
    if len(before) != len(after):
        raise ValueError("before and after must be matched lists of the same length")
    for b, a in zip(before, after, strict=True):
        if b.id != a.id:
            raise ValueError(f"records not matched by id: {b.id!r} vs {a.id!r}")
    n = len(before)
    sb = [score_sample(r.output, r.reference) for r in before]
    sa = [score_sample(r.output, r.reference) for r in after]
    refs = [r.reference for r in before]
    cb = aggregate(sb, [r.output for r in before], refs)
    ca = aggregate(sa, [r.output for r in after], refs)
    rows, notes = _text_rows(n, cb, ca)
    rows += _loss_rows(eval_loss_before, eval_loss_after)
    judge_summary = None
    if judge is not None:
        judge_summary, judge_rows, judge_notes = _judge_rows(judge)
        rows += judge_rows
        notes += judge_notes
    human_summary = None
    if human_scores is not None:
        human_summary = _human_summary(human_scores, {r.id for r in before})
        rows.append(human_row(human_summary))
        if human_summary.ignored_ids:
            notes.append(said("table_note.human_ignored", n=len(human_summary.ignored_ids)))
    improved, regressed = _ranked(_sample_rows(before, after, sb, sa), top_k)
    return EvalTable(
        n_samples=n, base_name=base_name, tuned_name=tuned_name, rows=rows, improved=improved,
        regressed=regressed, judge=judge_summary, human=human_summary, **_with_notes(notes),
        samples=[SampleScores(id=b.id, before=x, after=y) for b, x, y in zip(before, sb, sa, strict=True)],
    )


def load_and_score(
    before_path: Path,
    after_path: Path,
    *,
    human_scores_path: Path | None = None,
    eval_loss_before: float | None = None,
    eval_loss_after: float | None = None,
    judge: JudgeResult | None = None,
    base_name: str | None = None,
    tuned_name: str | None = None,
) -> EvalTable:
    """Read ``eval/before.jsonl`` and ``eval/after.jsonl``, match them by id and build the table.

    A missing ``human_scores_path`` file is skipped (nobody rated anything yet).
    """
    before, after = match_records(Path(before_path), Path(after_path))
    human = None
    if human_scores_path is not None and Path(human_scores_path).is_file():
        human = load_human_scores(Path(human_scores_path))
    return build_table(
        before,
        after,
        eval_loss_before=eval_loss_before,
        eval_loss_after=eval_loss_after,
        judge=judge,
        human_scores=human,
        base_name=base_name,
        tuned_name=tuned_name,
    )


# --- writing -------------------------------------------------------------------

_DIGITS = {"bleu": 2, "chrf": 2, "length_ratio": 2, "perplexity": 2, "eval_loss": 4}
MD_CELL_MAX = 400


def format_value(name: str, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.{_DIGITS.get(name, 3)}f}"


def _format_change(row: MetricRow) -> str:
    if row.change is None or math.isnan(row.change):
        return "–"
    if math.isinf(row.change):
        text = "+∞" if row.change > 0 else "-∞"
    else:
        text = f"{row.change:+.{_DIGITS.get(row.name, 3)}f}"
    if row.higher_is_better is not None and row.change != 0:
        better = (row.change > 0) == row.higher_is_better
        text += " ▲" if better else " ▼"
    return text


def md_cell(text: str, limit: int | None = MD_CELL_MAX) -> str:
    """A Markdown table cell: ``|`` escaped, newlines as ``<br>``, long text cut with an ellipsis."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if limit is not None and len(text) > limit:
        text = text[:limit].rstrip() + " …"
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\n", "<br>")


# What the Markdown table says around the numbers, in English and Chinese. Numbers, metric acronyms
# (ROUGE-L, BLEU, chrF) and the texts of the samples are the same in both.
MD_WORDS: dict[str, dict[str, str]] = section("table")  # the catalog's table.* codes, per language

# The metric rows' labels in Chinese, by row name (a row not listed keeps its label).

def md_word(key: str, lang: str = "en", **kw: object) -> str:
    """A word of the Markdown table from :data:`MD_WORDS` in ``lang`` ("zh"/"mixed" → Chinese)."""
    return say(f"table.{key}", lang, **kw)


def metric_label(row: MetricRow, lang: str = "en") -> str:
    return say(f"metric.{row.name}", lang) if has(f"metric.{row.name}") else row.label


def _model_name(name: str | None, default: str, lang: str) -> str:
    """A model's name for the header: the usual names ("base", "fine-tuned") are words and read in ``lang``."""
    key = {"base": "base", "tuned": "tuned", "fine-tuned": "tuned"}.get(name or default)
    if key is not None and (lang_of(lang) != DEFAULT_LANG or not name):
        return md_word(key, lang)
    return name or default


def render_json(path: Path, lang: str = "en") -> str | None:
    """A saved ``table.json`` rendered in ``lang``; None when it is missing or invalid."""
    try:
        return render_markdown(EvalTable.model_validate_json(Path(path).read_bytes()), lang)
    except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
        return None


def render_saved(eval_dir: Path, lang: str = "en") -> str:
    """A run's before/after table in ``lang`` (files on disk stay English): from ``table.json``, else
    ``table.md`` as written (runs evaluated before table.json existed), else ""."""
    text = render_json(Path(eval_dir) / "table.json", lang)
    if text is not None:
        return text
    try:
        return (Path(eval_dir) / "table.md").read_text(encoding="utf-8")
    except OSError:
        return ""


def render_markdown(table: EvalTable, lang: str = "en") -> str:
    """The table as Markdown; ``lang`` "zh" words every label in Chinese (numbers and samples unchanged)."""
    out = ["# " + md_word("title", lang), ""]
    limit_line = None
    if table.length_limit and table.limit_base and table.limit_tuned:
        limit_line = set_word("limit", lang, base=f"{table.limit_base.right}/{table.limit_base.n}",
                              tuned=f"{table.limit_tuned.right}/{table.limit_tuned.n}",
                              limit=table.length_limit.words(lang))
    runs = None if (table.base_name or "base") == "base" else (table.base_name or "", table.tuned_name or "")
    out += render_sets(table.sets, lang, limit_line, table.system_prompt, runs)
    who = md_word("samples", lang, n=table.n_samples)
    if table.base_name or table.tuned_name:
        who += md_word(
            "names",
            lang,
            base=_model_name(table.base_name, "base", lang),
            tuned=_model_name(table.tuned_name, "tuned", lang),
        )
    out += [who, "", md_word("header", lang), "|---|---:|---:|---:|---|"]
    for r in table.rows:
        before = format_value(r.name, r.before) + (
            f" ({shown(r.before_said, r.before_detail, lang)})" if r.before_detail else ""
        )
        after = format_value(r.name, r.after) + (f" ({shown(r.after_said, r.after_detail, lang)})" if r.after_detail else "")
        label, how = metric_label(r, lang), shown(r.how_said, r.how, lang)
        out.append(
            f"| {md_cell(label)} | {md_cell(before)} | {md_cell(after)} | {_format_change(r)} | {md_cell(how)} |"
        )
    out.append("")
    if table.judge:
        j = table.judge
        out.append(md_word("judge", lang, model=j.model, win=j.win, tie=j.tie, loss=j.loss))
        out.append("")
    out += [f"- {md_cell(n.text(lang), None)}" for n in _notes(table)]
    out.append("")
    for title, rows in (("improved", table.improved), ("regressed", table.regressed)):
        out += ["## " + md_word(title, lang), ""]
        if not rows:
            out += [md_word("none", lang), ""]
            continue
        out += [md_word("sample_header", lang), "|---|---|---|---|---|---|"]
        for s in rows:
            score = f"{s.rouge_l_before:.3f} → {s.rouge_l_after:.3f}"
            answers = [md_cell(x) if x.strip() else f"*{say('answer.empty', lang)}*" for x in (s.before, s.after)]
            cells = [md_cell(s.id), score, md_cell(s.prompt), md_cell(s.reference), *answers]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


CSV_COLUMNS = [
    "section",
    "key",
    "label",
    "before",
    "after",
    "change",
    "prompt",
    "reference",
    "before_output",
    "after_output",
]


def _csv_num(x: float | None) -> str:
    return "" if x is None or math.isnan(x) else repr(float(x))


def render_csv(table: EvalTable) -> str:
    """One rectangular sheet: metric rows (section ``metric``), then ``improved``/``regressed`` samples."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for r in table.rows:
        w.writerow(
            ["metric", r.name, r.label, _csv_num(r.before), _csv_num(r.after), _csv_num(r.change)] + [""] * 4
        )
    for part, rows in (("improved", table.improved), ("regressed", table.regressed)):
        for s in rows:
            w.writerow(
                [
                    part,
                    s.id,
                    "rouge_l",
                    _csv_num(s.rouge_l_before),
                    _csv_num(s.rouge_l_after),
                    _csv_num(s.change),
                ]
                + [s.prompt, s.reference, s.before, s.after]
            )
    return buf.getvalue()


def write_tables(table: EvalTable, out_dir: Path) -> dict[str, Path]:
    """Write ``table.md``, ``table.csv`` (UTF-8 with BOM) and ``table.json`` into ``out_dir``."""
    out_dir = Path(out_dir)
    paths = {"md": out_dir / "table.md", "csv": out_dir / "table.csv", "json": out_dir / "table.json"}
    atomic_write_text(paths["md"], render_markdown(table))
    atomic_write_bytes(paths["csv"], render_csv(table).encode("utf-8-sig"))
    atomic_write_text(paths["json"], table.model_dump_json(indent=2) + "\n")
    return paths
