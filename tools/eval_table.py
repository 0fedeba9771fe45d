"""The before/after evaluation table: metrics rows, biggest gains and losses, Markdown/CSV/JSON.

Input is two JSONL files written by the generation step, one line per eval
example, ``{"id", "prompt", "reference", "output"}`` (other keys are ignored):
``eval/before.jsonl`` from the base model and ``eval/after.jsonl`` from the
fine-tuned one. They are matched by ``id``; every number in the table can be
recomputed from them with :mod:`tools.metrics`:

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

from tools.errors import InputError
from tools.jsonio import atomic_write_bytes, atomic_write_text, iter_jsonl
from tools.judge import JudgeResult, JudgeSample
from tools.metrics import SampleMetrics, aggregate, perplexity, score_sample

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
    samples: list[SampleScores] = []

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
    label: str,
    before: float | None,
    after: float | None,
    higher_is_better: bool | None,
    how: str,
    **details: str | None,
) -> MetricRow:
    return MetricRow(
        name=name,
        label=label,
        before=before,
        after=after,
        change=_change(before, after),
        higher_is_better=higher_is_better,
        how=how,
        **details,
    )


def _human_summary(
    votes: Sequence[tuple[int, str, Literal["base", "tuned"], int]], ids: set[str]
) -> HumanSummary:
    last: dict[tuple[str, str], int] = {}  # the page may let a person change a vote: the last one counts
    ignored: list[str] = []
    for _, sid, model, score in votes:
        if sid not in ids:
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


def judge_samples(before: Sequence[EvalRecord], after: Sequence[EvalRecord]) -> list[JudgeSample]:
    """Pairs for :func:`tools.judge.judge_pairwise` (records already matched by id)."""
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

    mean_how = f"mean over {n} samples"
    rows = [
        _row("rouge_l", "ROUGE-L F1", cb.rouge_l, ca.rouge_l, True, mean_how + " (CJK: character level)"),
        _row(
            "bleu",
            "BLEU",
            cb.bleu,
            ca.bleu,
            True,
            "corpus sacrebleu, tokenizer " + "/".join(cb.bleu_tokenizers),
        ),
        _row("chrf", "chrF", cb.chrf, ca.chrf, True, "corpus sacrebleu chrF"),
        _row("exact_match", "Exact match", cb.exact_match, ca.exact_match, True, mean_how + " (normalised)"),
        _row(
            "key_fact_recall",
            "Key-fact recall",
            cb.key_fact_recall,
            ca.key_fact_recall,
            True,
            f"mean over {cb.key_fact_samples} samples whose reference has key facts",
        ),
        _row(
            "length_ratio",
            "Length ratio (output/reference)",
            cb.length_ratio,
            ca.length_ratio,
            None,
            mean_how,
        ),
    ]
    notes = [
        "Before = base model, after = fine-tuned model; same prompts, greedy decoding.",
        "ROUGE-L, exact match, key-fact recall and length ratio are means of per-sample scores; "
        "BLEU and chrF are corpus-level (0-100).",
    ]
    if cb.key_fact_samples == 0:
        notes.append("No reference has key facts (numbers, quoted terms, names): key-fact recall is empty.")
    if eval_loss_before is not None or eval_loss_after is not None:
        rows.append(
            _row(
                "eval_loss", "Eval loss", eval_loss_before, eval_loss_after, False, "mean token cross-entropy"
            )
        )
        rows.append(
            _row(
                "perplexity",
                "Perplexity",
                perplexity(eval_loss_before),
                perplexity(eval_loss_after),
                False,
                "exp(eval loss)",
            )
        )

    judge_summary = None
    if judge is not None:
        judge_summary = JudgeSummary(
            model=judge.model,
            win=judge.win,
            tie=judge.tie,
            loss=judge.loss,
            invalid=judge.count("invalid"),
            errors=judge.count("error"),
            tuned_shown_first=sum(1 for it in judge.items if it.tuned_position == "A"),
        )
        judged = judge.judged
        if judged:
            rows.append(
                _row(
                    "judge_preferred",
                    "Judge prefers",
                    judge.loss / judged,
                    judge.win / judged,
                    True,
                    f"pairwise judge {judge.model}: share of {judged} samples, order randomised",
                    before_detail=f"{judge.loss} base wins",
                    after_detail=f"{judge.win} tuned wins",
                )
            )
            rows.append(
                _row(
                    "judge_tie",
                    "Judge: tie",
                    judge.tie / judged,
                    judge.tie / judged,
                    None,
                    "share of judged samples",
                    before_detail=f"{judge.tie} ties",
                    after_detail=f"{judge.tie} ties",
                )
            )
        if judge_summary.invalid or judge_summary.errors:
            notes.append(
                f"Judge: {judge_summary.invalid} unreadable replies and {judge_summary.errors} failed requests "
                "are left out."
            )

    human_summary = None
    if human_scores is not None:
        human_summary = _human_summary(human_scores, {r.id for r in before})
        h = human_summary
        base_n, tuned_n = h.base_up + h.base_down, h.tuned_up + h.tuned_down
        rows.append(
            _row(
                "human_thumbs_up",
                "Human 👍 share",
                h.base_up / base_n if base_n else None,
                h.tuned_up / tuned_n if tuned_n else None,
                True,
                "👍 / (👍 + 👎), last vote per sample and model",
                before_detail=f"{h.base_up}👍 / {h.base_down}👎",
                after_detail=f"{h.tuned_up}👍 / {h.tuned_down}👎",
            )
        )
        if h.ignored_ids:
            notes.append(f"Human scores for {len(h.ignored_ids)} ids not in the eval set were ignored.")

    sample_rows = [
        SampleRow(
            id=b.id,
            prompt=b.prompt,
            reference=b.reference,
            before=b.output,
            after=a.output,
            rouge_l_before=x.rouge_l,
            rouge_l_after=y.rouge_l,
            change=y.rouge_l - x.rouge_l,
            key_fact_recall_before=x.key_fact_recall,
            key_fact_recall_after=y.key_fact_recall,
        )
        for b, a, x, y in zip(before, after, sb, sa, strict=True)
    ]
    improved, regressed = _ranked(sample_rows, top_k)
    return EvalTable(
        n_samples=n,
        base_name=base_name,
        tuned_name=tuned_name,
        rows=rows,
        improved=improved,
        regressed=regressed,
        judge=judge_summary,
        human=human_summary,
        notes=notes,
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


def render_markdown(table: EvalTable) -> str:
    out = ["# Before / after evaluation", ""]
    who = f"{table.n_samples} held-out samples"
    if table.base_name or table.tuned_name:
        who += f" · before: `{table.base_name or 'base'}` · after: `{table.tuned_name or 'tuned'}`"
    out += [who, "", "| Metric | Before | After | Change | How |", "|---|---:|---:|---:|---|"]
    for r in table.rows:
        before = format_value(r.name, r.before) + (f" ({r.before_detail})" if r.before_detail else "")
        after = format_value(r.name, r.after) + (f" ({r.after_detail})" if r.after_detail else "")
        out.append(
            f"| {md_cell(r.label)} | {md_cell(before)} | {md_cell(after)} | {_format_change(r)} | {md_cell(r.how)} |"
        )
    out.append("")
    if table.judge:
        j = table.judge
        out.append(f"Judge `{j.model}` (tuned vs base): {j.win} win · {j.tie} tie · {j.loss} loss.")
        out.append("")
    out += [f"- {md_cell(n, None)}" for n in table.notes]
    out.append("")
    for title, rows in (("Most improved", table.improved), ("Most regressed", table.regressed)):
        out += [f"## {title} (by ROUGE-L)", ""]
        if not rows:
            out += ["None.", ""]
            continue
        out += ["| id | ROUGE-L | Prompt | Reference | Before | After |", "|---|---|---|---|---|---|"]
        for s in rows:
            score = f"{s.rouge_l_before:.3f} → {s.rouge_l_after:.3f}"
            cells = [md_cell(s.id), score] + [md_cell(x) for x in (s.prompt, s.reference, s.before, s.after)]
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
    for section, rows in (("improved", table.improved), ("regressed", table.regressed)):
        for s in rows:
            w.writerow(
                [
                    section,
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
