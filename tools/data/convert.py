"""``convert_documents``: files in → ``train.jsonl``, ``eval.jsonl`` and ``report.json`` out.

Read every input (bad ones are reported, the rest go on) → extract records (ready dataset, FAQ, table,
section, optionally LLM) → clean (normalise, drop empty/one-sided, dedupe) → count tokens and enforce
the budget → seeded split → write atomically.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path, PurePosixPath
from typing import Any

from tools.core.cjk import HAN_RE
from tools.core.errors import InputError
from tools.core.jsonio import write_json, write_jsonl
from tools.data import clean as C
from tools.data.datasets import TEXT_DROP, read_json_records, read_jsonl_records
from tools.data.document import Block, FileLog, Problem, Record, issue
from tools.data.facts import fact_records
from tools.data.faq import scan_blocks, table_pairs
from tools.data.llm import Chunk, generate, llm_settings
from tools.data.read.build import build_passages
from tools.data.read.passages import Passage, paragraph_passages
from tools.data.readers import READERS
from tools.data.schema import (
    SUPPORTED_SUFFIXES,
    ConvertRequest,
    ConvertResult,
    DatasetReport,
    FileReport,
    ReportTotals,
    SamplePair,
    TokenStats,
)
from tools.data.sections import (
    REPLY_TOKENS,
    collect_sections,
    document_title,
    language,
    section_records,
    split_to_budget,
)
from tools.data.sources import Source, expand_inputs, zip_sources
from tools.data.split import split_records
from tools.data.text import person_chars
from tools.data.tokens import TokenCounter, percentile

log = logging.getLogger(__name__)

REPORT_VERSION = 1
_QUESTION_END = ("?", "？")


def _weight(text: str) -> int:
    """Length with CJK characters counted twice (they carry about as much as two Latin letters)."""
    return len(text) + len(HAN_RE.findall(text))


def _headerless_pairs(block: Block, meta: dict[str, Any]) -> list[Record]:
    """A two-column sheet without a header whose first column is mostly questions."""
    rows = [r for r in block.rows if any(c.strip() for c in r)]
    cols = {i for r in rows for i, c in enumerate(r) if c.strip()}
    if len(cols) != 2 or len(rows) < 2:
        return []
    qi, ai = sorted(cols)
    questions = sum(1 for r in rows if qi < len(r) and r[qi].strip().endswith(_QUESTION_END))
    if questions < 0.5 * len(rows):
        return []
    dummy_header = Block("table", text=block.text, rows=[["question", "answer"]] + [
        [r[qi] if qi < len(r) else "", r[ai] if ai < len(r) else ""] for r in rows
    ], row_numbers=[0] + block.row_numbers)
    recs, _ = table_pairs(dummy_header, meta)
    return recs


class _Run:
    """State of one conversion."""

    def __init__(self, req: ConvertRequest) -> None:
        self.req = req
        self.logs: dict[str, FileLog] = {}
        self.types: dict[str, str] = {}
        self.order: list[str] = []
        self.chunks: list[Chunk] = []
        self.llm = llm_settings() if req.use_llm is not False else None
        if req.use_llm and self.llm is None:
            raise InputError(
                "LLM Q/A generation was asked for but no LLM is configured",
                hint="Set TUNEPILOT_LLM_BASE_URL, TUNEPILOT_LLM_API_KEY and TUNEPILOT_LLM_MODEL",
            )
        self._counter: TokenCounter | None = None
        self.passages: list[Passage] = []

    @property
    def counter(self) -> TokenCounter:
        if self._counter is None:
            self._counter = TokenCounter(self.req.model)
        return self._counter

    def flog(self, name: str, kind: str = "") -> FileLog:
        if name not in self.logs:
            self.logs[name] = FileLog(name)
            self.order.append(name)
        if kind:
            self.types[name] = kind
        return self.logs[name]

    # --- reading ----------------------------------------------------------------------------------

    def read(self, src: Source) -> list[Record]:
        kind = src.suffix.lstrip(".") or "?"
        flog = self.flog(src.name, kind)
        if src.suffix not in SUPPORTED_SUFFIXES:
            flog.error("data.unsupported_type", suffix=src.suffix or "(no extension)",
                       supported=", ".join(SUPPORTED_SUFFIXES))
            return []
        try:
            data = src.load()
        except Problem as exc:
            flog.error(exc.said.code, **exc.said.params)
            return []
        except (OSError, ValueError) as exc:
            flog.error("data.cannot_read_file", detail=str(exc))
            return []
        if not data:
            flog.error("data.empty")
            return []
        if not data.strip():
            flog.error("data.whitespace")
            return []
        meta = {"source": src.name}
        try:
            if src.suffix == ".zip":
                return self.read_zip(data, src.name, flog)
            if src.suffix == ".json":
                return read_json_records(data, flog, meta)
            if src.suffix == ".jsonl":
                return read_jsonl_records(data, flog, meta)
            return self.read_document(src, data, flog, meta)
        except Exception as exc:  # noqa: BLE001 - one broken file must not stop the others
            log.debug("reading %s failed", src.name, exc_info=True)
            flog.error("data.invalid_kind", detail=f"{type(exc).__name__}: {str(exc)[:200]}", kind=kind)
            return []

    def read_zip(self, data: bytes, name: str, flog: FileLog) -> list[Record]:
        out: list[Record] = []
        members = zip_sources(data, name, flog)
        for member in members:
            out.extend(self.read(member))
        if members:
            flog.note(f"{len(members)} file(s) read from the archive")
        return out

    def read_document(self, src: Source, data: bytes, flog: FileLog, meta: dict[str, Any]) -> list[Record]:
        blocks = READERS[src.suffix](data, flog)
        for b in blocks:
            b.text = person_chars(b.text)
            b.rows = [[person_chars(c) for c in row] for row in b.rows]
        if not blocks:
            if not flog.errors:
                flog.error("data.no_text")
            return []
        scan = scan_blocks(blocks, meta)
        records = list(scan.pairs)
        if scan.one_sided:
            flog.drop(C.DROP_EMPTY, scan.one_sided)
        leftover: list[Block] = []
        tabular = src.suffix in (".csv", ".tsv", ".xlsx")
        for b in scan.leftover:
            if b.kind != "table":
                leftover.append(b)
                continue
            pairs, one_sided = table_pairs(b, meta)
            if one_sided:
                flog.drop(C.DROP_EMPTY, one_sided)
            if not pairs and tabular:
                pairs = _headerless_pairs(b, meta)
            if pairs:
                records.extend(pairs)
            elif tabular:
                header = ", ".join(c for c in b.rows[0][:6] if c) if b.rows else ""
                if b.text:
                    flog.error("data.no_qa_columns_sheet", sheet=b.text, header=header or "empty")
                else:
                    flog.error("data.no_qa_columns", header=header or "empty")
            else:
                leftover.append(b)
        title = document_title(blocks, flog.title, PurePosixPath(src.name).stem)
        sections = collect_sections(leftover, title)
        kept_sections = []
        for sec in sections:
            # beside FAQ entries, a short passage under no heading but the title is an intro, not knowledge
            min_weight = 200 if records and len(sec.path) <= 1 else (20 if sec.path else 40)
            if _weight(sec.text) < min_weight:
                flog.drop(C.DROP_SHORT)
            else:
                kept_sections.append(sec)
        if kept_sections:
            records.extend(self.prose(kept_sections, title, src.name, meta))
        return records

    def prose(self, kept_sections: list[Any], title: str, name: str, meta: dict[str, Any]) -> list[Record]:
        """A document's sections: kept as passages; their facts as questions (and chunks for the LLM)."""
        self.passages.extend(p for sec in kept_sections for p in paragraph_passages(name, title, sec.path, sec.paragraphs))
        budget = min(self.req.section_budget, REPLY_TOKENS)
        facts, remainders = fact_records(kept_sections, title, meta, language)
        records = facts + section_records(remainders, meta, budget, self.counter.count)
        if self.llm is not None:
            budget = self.req.section_budget
            for sec in kept_sections:
                lang = language(sec.text)
                for chunk in split_to_budget(sec.paragraphs, budget, self.counter.count):
                    m = dict(meta)
                    m.update(sec.loc)
                    if sec.path:
                        m["section"] = " / ".join(sec.path)
                    self.chunks.append(Chunk(chunk, lang, m))
        return records

    # --- cleaning -----------------------------------------------------------------------------------

    def clean(self, records: list[Record]) -> list[Record]:
        dedupe = C.Deduper()
        kept: list[Record] = []
        for rec in records:
            flog = self.flog(rec.source)
            if rec.text is not None and not self.req.keep_text:
                flog.drop(TEXT_DROP)
                continue
            reason = C.clean_record(rec)
            if reason is None and rec.text is None and self.req.schema_name == "alpaca":
                reason = _alpaca_problem(rec)
            if reason is None:
                if self.req.system and rec.text is None and rec.messages[0]["role"] != "system":
                    rec.messages.insert(0, {"role": "system", "content": C.normalise(self.req.system)})
                reason = dedupe.check(rec)
            if reason:
                flog.drop(reason)
            else:
                kept.append(rec)
        return kept

    def enforce_budget(self, records: list[Record]) -> list[Record]:
        self.counter.count_records(records)
        limit = self.req.max_tokens
        out: list[Record] = []
        for rec in records:
            if rec.tokens <= limit:
                out.append(rec)
                continue
            parts = self._split_record(rec) if self.req.over_budget == "split" else []
            if parts:
                out.extend(parts)
                self.flog(rec.source).note("long answers were split into parts to fit the token budget")
            else:
                self.flog(rec.source).drop(C.DROP_BUDGET)
        return out

    def _split_record(self, rec: Record) -> list[Record]:
        roles = [m["role"] for m in rec.messages]
        if rec.text is not None or roles not in (["user", "assistant"], ["system", "user", "assistant"]):
            return []
        head = rec.messages[:-1]
        answer = rec.messages[-1]["content"]
        head_tokens = sum(self.counter.count([m["content"] for m in head])) + self.counter.overhead(tuple(roles))
        room = self.req.max_tokens - head_tokens - 12  # 12: the "(part k of n)" suffix
        if room < 32:
            return []
        paragraphs = [p for p in re.split(r"\n\s*\n", answer) if p.strip()]
        chunks = split_to_budget(paragraphs, room, self.counter.count)
        if len(chunks) < 2:
            return []
        zh = language(answer) == "zh"
        out = []
        question = head[-1]["content"]
        for k, chunk in enumerate(chunks, 1):
            suffix = f"（第{k}部分，共{len(chunks)}部分）" if zh else f" (part {k} of {len(chunks)})"
            msgs = [dict(m) for m in head[:-1]] + [
                {"role": "user", "content": question + suffix}, {"role": "assistant", "content": chunk}]
            meta = dict(rec.meta)
            meta["part"] = k
            out.append(Record(messages=msgs, meta=meta))
        self.counter.count_records(out)
        fits = [r for r in out if r.tokens <= self.req.max_tokens]
        return fits if len(fits) == len(out) else []


def _alpaca_problem(rec: Record) -> str | None:
    roles = [m["role"] for m in rec.messages]
    if roles and roles[0] == "system":
        roles = roles[1:]
    if not roles or len(roles) % 2 or any(r != ("user" if i % 2 == 0 else "assistant") for i, r in enumerate(roles)):
        return C.DROP_ALPACA
    return None


def to_row(rec: Record, schema: str) -> dict[str, Any]:
    if rec.text is not None:
        return {"text": rec.text, "meta": rec.meta}
    if schema == "messages":
        return {"messages": rec.messages, "meta": rec.meta}
    msgs = rec.messages
    system = ""
    if msgs and msgs[0]["role"] == "system":
        system, msgs = msgs[0]["content"], msgs[1:]
    turns = [(msgs[i]["content"], msgs[i + 1]["content"]) for i in range(0, len(msgs) - 1, 2)]
    row: dict[str, Any] = {"instruction": turns[-1][0], "input": "", "output": turns[-1][1]}
    if system:
        row["system"] = system
    if len(turns) > 1:
        row["history"] = [list(t) for t in turns[:-1]]
    row["meta"] = rec.meta
    return row


def _file_reports(run: _Run, found: list[Record], kept: list[Record]) -> list[FileReport]:
    """What happened to each input, in the order given: records found (by method) and kept, drops, problems."""
    found_by: dict[str, dict[str, int]] = {}
    for rec in found:
        per = found_by.setdefault(rec.source, {})
        per[rec.method] = per.get(rec.method, 0) + 1
    kept_by: dict[str, int] = {}
    facts_by: dict[str, dict[str, Record]] = {}
    questions_by: dict[str, int] = {}
    for rec in kept:
        kept_by[rec.source] = kept_by.get(rec.source, 0) + 1
        if rec.method == "fact":
            facts_by.setdefault(rec.source, {}).setdefault(str(rec.meta.get("fact")), rec)
            questions_by[rec.source] = questions_by.get(rec.source, 0) + 1
    files: list[FileReport] = []
    for name in run.order:
        flog = run.logs[name]
        errors = list(flog.errors)
        if flog.suppressed:
            errors.append(issue(name, "data.suppressed", n=flog.suppressed))
        methods = found_by.get(name, {})
        files.append(FileReport(
            source=name, type=run.types.get(name, PurePosixPath(name).suffix.lstrip(".") or "?"),
            methods=dict(sorted(methods.items())), records_found=sum(methods.values()),
            records_kept=kept_by.get(name, 0), dropped=dict(sorted(flog.drops.items())), errors=errors,
            notes=flog.notes, facts=len(facts_by.get(name, {})), questions=questions_by.get(name, 0),
            samples=_samples(list(facts_by.get(name, {}).values())),
        ))
    return files


SAMPLES = 6


def _samples(first_of_each_fact: list[Record]) -> list[SamplePair]:
    """Up to :data:`SAMPLES` pairs spread over the document, one fact each."""
    if not first_of_each_fact:
        return []
    step = max(1, len(first_of_each_fact) // SAMPLES)
    return [SamplePair(question=r.last("user"), answer=r.last("assistant"))
            for r in first_of_each_fact[::step][:SAMPLES]]


def _token_stats(run: _Run, kept: list[Record]) -> TokenStats:
    lengths = sorted(r.tokens for r in kept)
    tokenizer_name = run.req.model if run._counter is not None else f"{run.req.model} (not loaded: no records)"
    return TokenStats(
        tokenizer=tokenizer_name, records=len(lengths), p50=percentile(lengths, 50), p95=percentile(lengths, 95),
        max=lengths[-1] if lengths else 0, mean=round(sum(lengths) / len(lengths), 1) if lengths else 0.0,
    )


def _report(req: ConvertRequest, totals: ReportTotals, stats: TokenStats, reasons: list[str],
            files: list[FileReport]) -> DatasetReport:
    """``report.json``: the settings, the totals, the token lengths, the reasons and every file."""
    return DatasetReport(
        version=REPORT_VERSION,
        settings={
            "inputs": [str(p) for p in req.inputs], "schema": req.schema_name, "eval_ratio": req.eval_ratio,
            "seed": req.seed, "system": req.system, "model": req.model, "max_tokens": req.max_tokens,
            "section_tokens": req.section_budget, "over_budget": req.over_budget, "keep_text": req.keep_text,
        },
        totals=totals, tokens=stats, reasons=reasons, files=files,
    )


def _passages(out_dir: Path, run: _Run, kept: list[Record], reasons: list[str]) -> Any:
    """The documents kept as passages for answering from them (``tools.data.read.build``), said in the reasons."""
    stats = build_passages(out_dir, run.passages, kept, run.counter) if kept else None
    if stats is not None:
        reasons.append(f"{stats.passages} passages kept for answering from the documents "
                       f"({stats.faq} FAQ entries, {stats.paragraphs} paragraphs)")
    return stats


def convert_documents(request: ConvertRequest) -> ConvertResult:
    """Turn files, folders and zips into a cleaned, split SFT dataset with a report (see module doc)."""
    t0 = time.perf_counter()
    req = request
    out_dir = Path(req.out_dir).expanduser()
    run = _Run(req)
    sources = expand_inputs(list(req.inputs), out_dir, run.flog)
    found: list[Record] = []
    for src in sources:
        found.extend(run.read(src))
    if run.chunks and run.llm is not None:
        chunks = run.chunks[: req.llm_max_chunks]
        if len(run.chunks) > len(chunks):
            log.info("LLM Q/A generation limited to the first %d of %d chunks", len(chunks), len(run.chunks))
        log.info("asking %s for Q/A pairs on %d chunk(s)", run.llm.model, len(chunks))
        found.extend(generate(chunks, run.llm, req.llm_pairs_per_chunk, run.logs))

    kept = run.clean(found)
    kept = run.enforce_budget(kept) if kept else []
    train, held, reasons = split_records(kept, req.eval_ratio, req.seed)
    files = _file_reports(run, found, kept)
    dropped: dict[str, int] = {}
    for f in files:
        for k, v in f.dropped.items():
            dropped[k] = dropped.get(k, 0) + v
    stats = _token_stats(run, kept)
    passage_stats = _passages(out_dir, run, kept, reasons)
    if run.llm is None:
        reasons.append("LLM Q/A generation off (set TUNEPILOT_LLM_BASE_URL and TUNEPILOT_LLM_MODEL to turn it on)"
                       if req.use_llm is not False else "LLM Q/A generation off (not asked for)")
    else:
        reasons.append(f"LLM Q/A generation on with {run.llm.model}")

    train_path, eval_path, report_path = out_dir / "train.jsonl", out_dir / "eval.jsonl", out_dir / "report.json"
    totals = ReportTotals(files=len(files), files_with_errors=sum(1 for f in files if f.errors),
                          records_found=len(found), records_kept=len(kept), train=len(train), eval=len(held),
                          dropped=dict(sorted(dropped.items())))
    out_dir.mkdir(parents=True, exist_ok=True)
    report = _report(req, totals, stats, reasons, files)
    report.passages = passage_stats
    write_json(report_path, report.model_dump(mode="json"))
    if not kept:
        for stale in (train_path, eval_path):
            stale.unlink(missing_ok=True)
        problems = [f"{e.where}: {e.message}" for f in files for e in f.errors][:3]
        detail = "; ".join(problems) if problems else (
            "dropped: " + ", ".join(f"{k} {v}" for k, v in dropped.items()) if dropped else "nothing was found")
        raise InputError(
            f"no usable records came out of {len(sources) or len(req.inputs)} input file(s) ({detail})",
            hint=f"See {report_path} for every file, fix the inputs and run again",
        )
    write_jsonl(train_path, (to_row(r, req.schema_name) for r in train))
    write_jsonl(eval_path, (to_row(r, req.schema_name) for r in held))
    return ConvertResult(
        out_dir=out_dir, train_path=train_path, eval_path=eval_path, report_path=report_path,
        schema=req.schema_name, train_records=len(train), eval_records=len(held), files=files, dropped=dropped,
        tokens=stats, reasons=reasons, seconds=round(time.perf_counter() - t0, 3), passages=passage_stats,
    )
