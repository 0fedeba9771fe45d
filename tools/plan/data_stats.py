"""What the planner reads from a dataset folder: token lengths, count, rewordings, share of facts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tools.core.errors import InputError
from tools.core.jsonio import iter_jsonl
from tools.core.key_facts import extract_facts
from tools.data.examples import load_examples, to_prompt_completion
from tools.data.knowledge import augment_counted
from tools.data.schema import DatasetReport, read_report_json
from tools.plan.record import TokenStats
from tools.plan.schedule import paraphrases_for

log = logging.getLogger(__name__)


def _int_or_none(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float) and v >= 0:
        return int(round(v))
    return None


def read_token_stats(data_dir: Path) -> TokenStats | None:
    """Token lengths from ``DIR/report.json`` and the example count: the data stage's typed record, or any other
    tool's report read defensively.

    Whatever is missing is left out; a report that cannot be read is logged and ignored
    (planning then assumes defaults and says so).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputError("no such dataset folder", where=str(data_dir),
                         hint="Give the folder that holds train.jsonl and report.json")
    stats = _report_stats(data_dir / "report.json")
    train = data_dir / "train.jsonl"
    for key, path, what in (("count", train, "examples"), ("held_out", data_dir / "eval.jsonl", "held-out examples")):
        if path.exists():
            try:
                with path.open("rb") as fh:
                    stats[key] = sum(1 for line in fh if line.strip())
            except OSError as exc:
                log.warning("%s: could not count the %s (%s)", path, what, exc)
    if not stats:
        log.warning("%s: no report.json with token statistics and no train.jsonl; planning with defaults", data_dir)
        return None
    if train.exists():
        stats.update(question_stats(train))
    return TokenStats.model_validate(stats)


def _report_stats(report_path: Path) -> dict[str, Any]:
    """Token lengths and the example count of a ``report.json``: the data stage's own record, else whatever
    another tool's report holds; empty without a report."""
    stats: dict[str, Any] = {}
    report: Any = None
    if report_path.exists():
        try:
            report = read_report_json(report_path)
        except (OSError, ValueError) as exc:
            log.warning("%s: could not read the dataset report (%s); planning without token statistics",
                        report_path, exc)
    typed = DatasetReport.parse(report) if report is not None else None
    if typed is not None:  # the data stage's own record
        t = typed.tokens
        stats.update(p50=t.p50, p95=t.p95, max=t.max, mean=float(t.mean), count=typed.totals.train)
        if typed.passages is not None:
            stats.update(passages=typed.passages.passages, reading_tokens=typed.passages.reading_tokens)
    elif isinstance(report, dict):  # a report some other tool wrote: whatever it holds, read defensively
        stats.update(_other_report_stats(report))
    return stats


def _other_report_stats(report: dict[str, Any]) -> dict[str, Any]:
    """Token lengths and the example count from a report another tool wrote, each taken only when it reads."""
    stats: dict[str, Any] = {}
    tokens = report.get("tokens")
    if isinstance(tokens, dict):
        for key in ("p50", "p95", "p99", "max", "count"):
            v = _int_or_none(tokens.get(key))
            if v is not None:
                stats[key] = v
        if "p50" not in stats:
            v = _int_or_none(tokens.get("median"))
            if v is not None:
                stats["p50"] = v
        mean = tokens.get("mean")
        if isinstance(mean, int | float) and not isinstance(mean, bool) and mean >= 0:
            stats["mean"] = float(mean)
    if "count" not in stats:
        for path in (("counts", "train"), ("train",), ("train_count",), ("kept",)):
            node: Any = report
            for k in path:
                node = node.get(k) if isinstance(node, dict) else None
            v = _int_or_none(node)
            if v is not None and v > 0:
                stats["count"] = v
                break
    return stats


def question_stats(train: Path) -> dict[str, float]:
    """``answer_repeats`` (examples per distinct answer) and ``rewordings`` (how many template rewordings
    training will add to each example at the plan's count, counted on the data itself with the worker's own
    ``augment``, without an LLM's: short questions yield fewer than long ones). Empty without examples or when
    the file cannot be read."""
    try:
        rows = load_examples(train, None)
    except (OSError, ValueError) as exc:
        log.warning("%s: could not count the rewordings (%s)", train, exc)
        return {}
    if not rows:
        return {}
    answers = {str(r["completion"][-1].get("content", "")).strip() for r in rows}
    repeats = round(len(rows) / max(1, len(answers)), 2)
    per_question = paraphrases_for(repeats)
    _, counted = augment_counted(rows, per_question)
    return {"answer_repeats": repeats, "written_share": written_share(train),
            "rewordings": round(counted.added / len(rows), 2), "by_words": round(counted.words / len(rows), 2),
            "shared": counted.shared}


def written_share(train: Path) -> float:
    """Share of the records whose question tunepilot wrote from a document's fact (``meta.method == "fact"``)."""
    methods = [str((rec.get("meta") or {}).get("method", "")) for _, rec in iter_jsonl(train) if isinstance(rec, dict)]
    return round(sum(1 for m in methods if m == "fact") / len(methods), 2) if methods else 0.0


def fact_share(data_dir: Path) -> float | None:
    """Share of the training answers that carry key facts (numbers, names, codes); None without answers."""
    path = Path(data_dir) / "train.jsonl"
    if not path.exists():
        return None
    answers = [ex["completion"][0]["content"] for _, rec in iter_jsonl(path) if isinstance(rec, dict)
               for ex in to_prompt_completion(rec)]
    if not answers:
        return None
    return sum(1 for a in answers if extract_facts(a)) / len(answers)
