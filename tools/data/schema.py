"""The typed request and result of :func:`tools.data.convert_documents`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.core.messages import Said, say, shown

Method = Literal["dataset", "faq", "table", "section", "llm", "text"]
SUPPORTED_SUFFIXES = (
    ".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt", ".csv", ".tsv", ".xlsx", ".json", ".jsonl",
    ".zip",
)


class ConvertRequest(BaseModel):
    """What to convert and how. Defaults: OpenAI ``messages``, 10 % eval, seed 42, demo tokenizer."""

    inputs: list[Path] = Field(min_length=1, description="files, folders (recursive) and .zip archives")
    out_dir: Path = Field(description="where train.jsonl, eval.jsonl and report.json are written")
    schema_name: Literal["messages", "alpaca"] = Field(
        default="messages", alias="schema", description="output layout: OpenAI messages or alpaca"
    )
    eval_ratio: float = Field(default=0.1, ge=0.0, lt=1.0, description="share of records held out for eval")
    seed: int = 42
    system: str | None = Field(default=None, description="system message added to every record")
    model: str = Field(default="demo", description="whose tokenizer counts tokens: 'demo', a folder or a hub id")
    max_tokens: int = Field(default=1024, ge=32, description="token budget of one record (chat template included)")
    chunk_tokens: int | None = Field(
        default=None, ge=16, description="budget of one section answer; default max_tokens // 2"
    )
    over_budget: Literal["split", "drop"] = Field(
        default="split", description="records over max_tokens: split single-turn answers by paragraph, or drop"
    )
    keep_text: bool = Field(default=False, description='keep {"text": ...} pre-training lines as text records')
    use_llm: bool | None = Field(
        default=None, description="generate Q/A with an LLM: None = when TUNEPILOT_LLM_* is set, False = never"
    )
    llm_pairs_per_chunk: int = Field(default=8, ge=1, le=30)
    llm_max_chunks: int = Field(default=200, ge=1)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _check(self) -> ConvertRequest:
        if self.chunk_tokens is not None and self.chunk_tokens >= self.max_tokens:
            raise ValueError(
                f"chunk_tokens ({self.chunk_tokens}) must be below max_tokens ({self.max_tokens}): "
                "a question and the chat template need room too"
            )
        if self.system is not None and not self.system.strip():
            self.system = None
        return self

    @property
    def section_budget(self) -> int:
        return self.chunk_tokens or max(16, self.max_tokens // 2)


def short_where(where: str, source: str) -> str:
    """``/server/folder/file.pdf:12`` → ``file.pdf:12``: people see file names, not server folders."""
    where, source = str(where or ""), str(source or "")
    if source and where.startswith(source):
        return Path(source).name + where[len(source):]
    return where


class Issue(BaseModel):
    """One problem with an input: where (``file``, ``file:line``, ``file#page=3``) and what to do."""

    model_config = ConfigDict(extra="forbid")

    where: str
    message: str  # in English, for logs and JSON readers
    said: Said | None = None  # the same by code: what the page and the agent render (absent in older reports)
    page: int | None = None  # the PDF page ``where`` ends with ("… page 3")

    def shown(self, lang: str | None, source: str = "") -> str:
        """"where: what" in ``lang``, by code (a report written before codes shows its English), with the
        file named as the person gave it rather than the server folder it was read from."""
        where, page = self.where, self.page
        if page is not None and where.endswith(f" page {page}"):
            where = say("data.where_page", lang, where=short_where(where[: -len(f" page {page}")], source), page=page)
        else:
            where = short_where(where, source)
        return say("text.where_what", lang, where=where, what=shown(self.said, self.message, lang))


class SamplePair(BaseModel):
    """One question → answer pair the person sees before training."""

    model_config = ConfigDict(extra="forbid")

    question: str
    answer: str


class FileReport(BaseModel):
    """What happened to one input file."""

    model_config = ConfigDict(extra="forbid")

    source: str
    type: str
    methods: dict[str, int] = Field(default_factory=dict, description="records found per method")
    records_found: int = 0
    records_kept: int = 0
    dropped: dict[str, int] = Field(default_factory=dict)
    errors: list[Issue] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    facts: int = Field(default=0, description="fact-bearing sentences of a prose document (tools/data/facts/)")
    questions: int = Field(default=0, description="questions written for those facts, kept")
    samples: list[SamplePair] = Field(default_factory=list, description="a few of the file's pairs, one per fact")

    @property
    def method(self) -> str:
        if not self.methods:
            return "-"
        return "+".join(sorted(self.methods, key=lambda m: (-self.methods[m], m)))


class TokenStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokenizer: str
    records: int = 0
    p50: int = 0
    p95: int = 0
    max: int = 0
    mean: float = 0.0


class ReportTotals(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: int
    files_with_errors: int
    records_found: int
    records_kept: int
    train: int
    eval: int
    dropped: dict[str, int] = Field(default_factory=dict)


class PassageStats(BaseModel):
    """The documents kept as passages for reading (``passages.jsonl``, :mod:`tools.data.read`) and how well the index
    finds each generated question's own passage."""

    model_config = ConfigDict(extra="forbid")

    passages: int
    faq: int = 0
    paragraphs: int = 0
    asked: int = Field(default=0, description="generated questions reworded (never indexed) and looked up")
    recall: dict[str, float] = Field(default_factory=dict, description="share with their passage in the top k")
    reading_tokens: dict[str, int] = Field(default_factory=dict, description="p95 tokens of a reading example "
                                           "with 1, 2, 3 passages (tools/data/read/raft.py)")


class DatasetReport(BaseModel):
    """``data/report.json``: the data stage's record, read by the planner (token lengths, example count),
    the page (every file and its problems) and the agent (the inputs it was built from)."""

    model_config = ConfigDict(extra="forbid")

    version: int
    settings: dict[str, Any]
    totals: ReportTotals
    tokens: TokenStats
    reasons: list[str] = Field(default_factory=list)
    files: list[FileReport] = Field(default_factory=list)
    edited: int = Field(default=0, description="answers the person edited before training (the page)")
    removed: int = Field(default=0, description="pairs the person removed before training (the page)")
    passages: PassageStats | None = None

    @classmethod
    def read(cls, path: Path) -> DatasetReport | None:
        """The report in ``path``; None when there is none or it is not one this version wrote."""
        try:
            return cls.parse(read_report_json(path))
        except (OSError, ValueError):
            return None

    @classmethod
    def parse(cls, data: Any) -> DatasetReport | None:
        """The report from what a ``report.json`` holds (:func:`read_report_json`); None when it is not one this
        version wrote."""
        try:
            return cls.model_validate(data)
        except ValueError:
            return None


def read_report_json(path: Path) -> Any:
    """What a ``report.json`` holds: the data stage's record or another tool's report, as JSON. Raises OSError, or
    ValueError for a file that is not UTF-8 or not JSON."""
    import json

    return json.loads(path.read_text(encoding="utf-8-sig"))


class ConvertResult(BaseModel):
    """Where the dataset went and what happened on the way."""

    out_dir: Path
    train_path: Path
    eval_path: Path
    report_path: Path
    schema_name: Literal["messages", "alpaca"] = Field(alias="schema")
    train_records: int
    eval_records: int
    files: list[FileReport]
    dropped: dict[str, int]
    tokens: TokenStats
    reasons: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    passages: PassageStats | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @property
    def errors(self) -> list[Issue]:
        return [e for f in self.files for e in f.errors]
