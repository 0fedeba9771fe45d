"""Coverage-guided fuzzing (atheris) of the dataset readers, the FAQ extractor and the intent parser.

    python tests/fuzz/fuzz_targets.py TARGET -max_total_time=15

TARGET: jsonl | faq | html | decode | intent. An unhandled exception makes atheris stop with a
non-zero exit and the crashing input; the declared refusals (Unrecognised, NotText) are fine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports():
    from agent.intent import _parse
    from tools.data.datasets import read_json_records, read_jsonl_records
    from tools.data.decode import NotText, decode_bytes
    from tools.data.document import FileLog
    from tools.data.faq import scan_blocks
    from tools.data.readers.html_page import html_to_blocks
    from tools.data.readers.markdown import parse_markdown

META = {"source": "fuzz"}


def _text(data: bytes) -> str:
    return atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(4096)


def fuzz_jsonl(data: bytes) -> None:
    read_jsonl_records(data, FileLog("f.jsonl"), META)
    read_json_records(data, FileLog("f.json"), META)


def fuzz_faq(data: bytes) -> None:
    text = _text(data)
    for plain in (False, True):
        scan_blocks(parse_markdown(text, plain=plain), META)


def fuzz_html(data: bytes) -> None:
    scan_blocks(html_to_blocks(_text(data)), META)


def fuzz_decode(data: bytes) -> None:
    try:
        decode_bytes(data)
    except NotText:
        pass


def fuzz_intent(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    confirming = fdp.ConsumeBool()
    _parse(fdp.ConsumeUnicodeNoSurrogates(2048), has_files=False, awaiting_confirmation=confirming)


def fuzz_canary(data: bytes) -> None:
    """A planted bug: proves that a crash in a target makes the run fail and leaves its input."""
    if data.startswith(b"tp!"):
        raise RuntimeError("planted crash")


TARGETS = {"canary": fuzz_canary, "jsonl": fuzz_jsonl, "faq": fuzz_faq, "html": fuzz_html, "decode": fuzz_decode, "intent": fuzz_intent}

if __name__ == "__main__":
    target = TARGETS[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()
