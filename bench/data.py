"""Benchmark of the dataset builder (``tunepilot data``): records/s and MB/s per input type.

    python bench/data.py [--pages 120] [--rows 5000] [--lines 50000]

Generates, in a temporary folder, a PDF of at least 100 pages (headings + paragraphs), an XLSX FAQ
sheet of 5,000 rows and a JSONL dataset of 50,000 lines; converts each on its own with
``convert_documents`` (demo tokenizer, loaded before timing); and compares each with a baseline measured
in the same run on the same file: pypdf's plain ``extract_text`` for the PDF, openpyxl's read-only row
iteration for the XLSX and ``json.loads`` over the JSONL lines. "x baseline" is how many times longer
the full conversion (reading, extraction, cleaning, token counting, split, writing) takes than the
baseline's bare parsing.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.data import ConvertRequest, convert_documents  # noqa: E402
from tools.data.tokens import load_tokenizer  # noqa: E402

WORDS = ("pump filter seal valve motor pressure cleaning monthly replace check housing cable power "
         "switch manual warranty water flow noise level").split()


def _sentence(i: int, n: int = 14) -> str:
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(n)).capitalize() + f" (item {i})."


def make_pdf(path: Path, pages: int) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    kw = {"new_x": "LMARGIN", "new_y": "NEXT"}
    for p in range(pages):
        pdf.add_page()
        pdf.set_font("helvetica", size=16)
        pdf.multi_cell(0, 8, f"Chapter {p + 1}: Maintenance topic {p + 1}", **kw)
        pdf.ln(2)
        pdf.set_font("helvetica", size=11)
        for j in range(5):
            pdf.multi_cell(0, 6, " ".join(_sentence(p * 10 + j * 3 + k) for k in range(3)), **kw)
            pdf.ln(4)
    pdf.output(str(path))


def make_xlsx(path: Path, rows: int) -> None:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("FAQ")
    ws.append(["Question", "Answer"])
    for i in range(rows):
        ws.append([f"How do I handle case {i} of the {WORDS[i % len(WORDS)]}?", _sentence(i, 20)])
    wb.save(str(path))


def make_jsonl(path: Path, lines: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(lines):
            if i % 3 == 0:
                row = {"instruction": f"Explain step {i} of the {WORDS[i % len(WORDS)]} check.", "input": "",
                       "output": _sentence(i, 24)}
            elif i % 3 == 1:
                row = {"conversations": [{"from": "human", "value": f"What about part {i}?"},
                                         {"from": "gpt", "value": _sentence(i, 24)}]}
            else:
                row = {"messages": [{"role": "user", "content": f"Is unit {i} covered by the warranty?"},
                                    {"role": "assistant", "content": _sentence(i, 24)}]}
            fh.write(json.dumps(row) + "\n")


def baseline_pdf(path: Path) -> int:
    from pypdf import PdfReader

    return sum(len(p.extract_text()) for p in PdfReader(str(path)).pages)


def baseline_xlsx(path: Path) -> int:
    import openpyxl

    wb = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    n = sum(1 for ws in wb.worksheets for _ in ws.iter_rows(values_only=True))
    wb.close()
    return n


def baseline_jsonl(path: Path) -> int:
    with path.open(encoding="utf-8") as fh:
        return sum(1 for line in fh if json.loads(line))


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=120)
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--lines", type=int, default=50000)
    args = ap.parse_args(argv)
    load_tokenizer("demo")  # once, outside the timings
    rows = []
    with tempfile.TemporaryDirectory(prefix="tunepilot-bench-") as tmp:
        d = Path(tmp)
        cases = [
            ("pdf", d / "manual.pdf", lambda p: make_pdf(p, args.pages), baseline_pdf, "pypdf extract_text",
             f"{args.pages} pages"),
            ("xlsx", d / "faq.xlsx", lambda p: make_xlsx(p, args.rows), baseline_xlsx, "openpyxl row iteration",
             f"{args.rows} rows"),
            ("jsonl", d / "data.jsonl", lambda p: make_jsonl(p, args.lines), baseline_jsonl, "json.loads per line",
             f"{args.lines} lines"),
        ]
        for kind, path, make, baseline, base_name, size_label in cases:
            make(path)
            mb = path.stat().st_size / 1e6
            base_s, _ = timed(lambda b=baseline, p=path: b(p))
            conv_s, result = timed(lambda p=path, k=kind: convert_documents(
                ConvertRequest(inputs=[p], out_dir=d / f"out-{k}")))
            n = result.train_records + result.eval_records  # type: ignore[attr-defined]
            rows.append((kind, size_label, mb, n, conv_s, n / conv_s, mb / conv_s, base_name, base_s,
                         conv_s / base_s))
    out = io.StringIO()
    out.write(f"{'type':<6} {'input':<12} {'MB':>6} {'records':>8} {'seconds':>8} {'records/s':>10} {'MB/s':>7}  "
              f"{'baseline (same file)':<24} {'base s':>7} {'x baseline':>10}\n")
    for kind, label, mb, n, s, rps, mbps, base_name, base_s, ratio in rows:
        out.write(f"{kind:<6} {label:<12} {mb:>6.2f} {n:>8} {s:>8.2f} {rps:>10.0f} {mbps:>7.2f}  "
                  f"{base_name:<24} {base_s:>7.2f} {ratio:>9.1f}x\n")
    sys.stdout.write(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
