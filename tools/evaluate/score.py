"""The numbers of the before/after table: metric rows scored from the answers, loss, judge, votes; gains and losses.

Every number can be recomputed from the answer files with :mod:`tools.core.metrics`:

- ROUGE-L, exact match, key-fact recall, length ratio: mean of the per-sample
  scores (key-fact recall over the samples whose reference has key facts);
- BLEU and chrF: corpus-level sacrebleu scores;
- eval loss / perplexity (``exp(loss)``), judge and human rows when given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from tools.core.messages import Said, said, say
from tools.core.metrics import CorpusMetrics, SampleMetrics, aggregate, perplexity, score_sample
from tools.evaluate.judge import JudgeResult, JudgeSample
from tools.evaluate.match import EvalRecord, load_human_scores, match_records
from tools.evaluate.table import (
    EvalTable,
    HumanSummary,
    JudgeSummary,
    MetricRow,
    SampleRow,
    SampleScores,
    table_notes,
    with_notes,
)

TOP_K = 5


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
    notes = [n for n in table_notes(table) if n.code != "table_note.human_ignored"]
    if h.ignored_ids:
        notes.append(said("table_note.human_ignored", n=len(h.ignored_ids)))
    return table.model_copy(update={"rows": rows, "human": h, **with_notes(notes)})


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
        regressed=regressed, judge=judge_summary, human=human_summary, **with_notes(notes),
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
