"""The before/after table as Markdown (in the reader's language), CSV and JSON, and a saved table read back.

``write_tables`` writes ``table.md`` (readable, CJK intact), ``table.csv`` (UTF-8 with BOM so Excel shows Chinese)
and ``table.json`` (everything, including per-sample metrics).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from tools.core.jsonio import atomic_write_bytes, atomic_write_text
from tools.core.messages import DEFAULT_LANG, has, lang_of, say, section, shown
from tools.evaluate.sets import render_sets
from tools.evaluate.table import EvalTable, MetricRow, read_table, table_notes

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


def metric_label(row: MetricRow, lang: str = "en") -> str:
    return say(f"metric.{row.name}", lang) if has(f"metric.{row.name}") else row.label


def _model_name(name: str | None, default: str, lang: str) -> str:
    """A model's name for the header: the usual names ("base", "fine-tuned") are words and read in ``lang``."""
    key = {"base": "base", "tuned": "tuned", "fine-tuned": "tuned"}.get(name or default)
    if key is not None and (lang_of(lang) != DEFAULT_LANG or not name):
        return say(f"table.{key}", lang)
    return name or default


def render_json(path: Path, lang: str = "en") -> str | None:
    """A saved ``table.json`` rendered in ``lang``; None when it is missing or invalid."""
    try:
        return render_markdown(read_table(path), lang)
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
    out = ["# " + say("table.title", lang), ""]
    limit_line = None
    if table.length_limit and table.limit_base and table.limit_tuned:
        limit_line = say("sets.limit", lang, base=f"{table.limit_base.right}/{table.limit_base.n}",
                              tuned=f"{table.limit_tuned.right}/{table.limit_tuned.n}",
                              limit=table.length_limit.words(lang))
    runs = None if (table.base_name or "base") == "base" else (table.base_name or "", table.tuned_name or "")
    out += render_sets(table.sets, lang, limit_line, table.system_prompt, runs)
    who = say("table.samples", lang, n=table.n_samples)
    if table.base_name or table.tuned_name:
        who += say("table.names",
            lang,
            base=_model_name(table.base_name, "base", lang),
            tuned=_model_name(table.tuned_name, "tuned", lang),
        )
    out += [who, "", say("table.header", lang), "|---|---:|---:|---:|---|"]
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
        out.append(say("table.judge", lang, model=j.model, win=j.win, tie=j.tie, loss=j.loss))
        out.append("")
    out += [f"- {md_cell(n.text(lang), None)}" for n in table_notes(table)]
    out.append("")
    for title, rows in (("improved", table.improved), ("regressed", table.regressed)):
        out += ["## " + say(f"table.{title}", lang), ""]
        if not rows:
            out += [say("table.none", lang), ""]
            continue
        out += [say("table.sample_header", lang), "|---|---|---|---|---|---|"]
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
