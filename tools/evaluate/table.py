"""The before/after table as a record (what ``eval/table.json`` holds): metric rows, samples, judge, votes, sets.

Built by :mod:`tools.evaluate.score` from the answer files :mod:`tools.evaluate.match` pairs, written and shown by
:mod:`tools.evaluate.render`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from tools.core.messages import Said
from tools.core.metrics import SampleMetrics
from tools.core.system_prompt import LengthLimit
from tools.evaluate.sets import SetResult, SetScore


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


def read_table(path: Path) -> EvalTable:
    """A saved ``table.json``; raises OSError, or ValueError (pydantic's ValidationError) for a file that is not
    a table."""
    return EvalTable.model_validate_json(Path(path).read_bytes())


def table_notes(table: EvalTable) -> list[Said]:
    """A table's notes by code (a table written before codes: each note as text, under no code)."""
    if len(table.said_notes) == len(table.notes):
        return list(table.said_notes)
    return [Said(code="table_note.as_written", params={"text": n}) for n in table.notes]


def with_notes(notes: list[Said]) -> dict[str, Any]:
    return {"notes": [n.text() for n in notes], "said_notes": notes}
