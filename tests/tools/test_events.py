from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tools.core.events import EventReader, EventWriter, read_events


def test_events_round_trip_with_chinese(tmp_path: Path) -> None:
    w = EventWriter(tmp_path, run_id="r1")
    w.emit("train", "progress", "第 1 步", step=1, total=10, loss=2.5)
    w.emit("run", "done", "完成")
    events = read_events(tmp_path)
    assert [e.kind for e in events] == ["progress", "done"]
    assert events[0].message == "第 1 步" and events[0].data["loss"] == 2.5
    assert events[0].step == 1 and events[0].total == 10 and events[0].run_id == "r1"
    # one JSON object per line, UTF-8 text (Chinese readable in the file)
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and "第 1 步" in lines[0]
    assert set(json.loads(lines[0])) == {"ts", "run_id", "stage", "kind", "step", "total", "message", "data"}


def test_an_event_said_by_code_keeps_its_english_and_reads_in_chinese(tmp_path: Path) -> None:
    from tools.core.messages import said

    EventWriter(tmp_path).emit("train", "error", said=said("train.oom", detail="CUDA out of memory"), oom=True)
    [event] = read_events(tmp_path)
    assert event.message == "training failed: out of memory: CUDA out of memory"  # logs and JSON readers
    assert event.said is not None and event.said.text("zh") == "训练出错：内存不足：CUDA out of memory"


def test_reader_never_returns_half_a_line(tmp_path: Path) -> None:
    w = EventWriter(tmp_path)
    w.emit("data", "start", "a")
    reader = EventReader(tmp_path)
    assert len(reader.read_new()) == 1
    full = json.dumps({"ts": 1.0, "run_id": "x", "stage": "data", "kind": "info", "message": "b"})
    with (tmp_path / "events.jsonl").open("a") as fh:
        fh.write(full[:15])  # a writer caught mid-line
    assert reader.read_new() == []
    with (tmp_path / "events.jsonl").open("a") as fh:
        fh.write(full[15:] + "\n")
    got = reader.read_new()
    assert [e.message for e in got] == ["b"]
    assert reader.read_new() == []


WRITER = """
import sys
from pathlib import Path
from tools.core.events import EventWriter
w = EventWriter(Path(sys.argv[1]))
for i in range(int(sys.argv[2])):
    w.emit("train", "progress", "x" * 3000 + "步", step=i, total=int(sys.argv[2]), who=sys.argv[3])
"""


def test_tailing_while_two_processes_write(tmp_path: Path) -> None:
    n = 300
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(n), who]) for who in ("a", "b")
    ]
    reader = EventReader(tmp_path)
    seen = []
    deadline = time.monotonic() + 60
    while len(seen) < 2 * n and time.monotonic() < deadline:
        seen.extend(reader.read_new())  # parses every line: a torn line would fail validation
        time.sleep(0.005)
    for p in procs:
        assert p.wait(30) == 0
    seen.extend(reader.read_new())
    assert len(seen) == 2 * n
    for who in ("a", "b"):
        steps = [e.step for e in seen if e.data["who"] == who]
        assert steps == list(range(n))


def test_follow_stops_at_run_done(tmp_path: Path) -> None:
    w = EventWriter(tmp_path)
    w.emit("train", "progress", step=1, total=2)
    w.emit("run", "done", "ok")
    w.emit("train", "progress", "after the end")
    got = list(EventReader(tmp_path).follow(poll_s=0.01, timeout_s=5))
    assert [e.kind for e in got] == ["progress", "done"]


def test_merge_deploy_and_eval_payloads_read_lines_written_before_them(tmp_path: Path) -> None:
    """The typed payloads write the keys the free dicts wrote, in their order, and read lines written before."""
    from tools.core.payloads import (
        Canary,
        Deployed,
        EvalStarted,
        Evaluated,
        Merged,
        ServerFailed,
        ServerStarting,
        ServerStopped,
    )

    old = [  # as merge, deploy and the evaluation wrote them with keyword arguments
        ("merge", "done", {"path": "/r/merged", "identical": True}),
        ("deploy", "start", {"mode": "lora", "port": 8000}),
        ("deploy", "info", {"base": "a", "tuned": "b", "differ": True}),
        ("deploy", "info", {"pid": 42}),
        ("deploy", "error", {"log_tail": "boom"}),
        ("deploy", "done", {"base_url": "http://127.0.0.1:8000/v1", "mode": "lora", "reading_url": None}),
        ("eval", "start", {"learnt": 3, "kept": 2}),
        ("eval", "done", {"files": {"md": "/r/eval/table.md"}, "metrics": {"bleu": {"before": 1.0, "after": 2.5}}}),
    ]
    w = EventWriter(tmp_path)
    for stage, kind, data in old:
        w.emit(stage, kind, **data)  # type: ignore[arg-type]
    events = read_events(tmp_path)
    kinds = (Merged, ServerStarting, Canary, ServerStopped, ServerFailed, Deployed, EvalStarted, Evaluated)
    for ev, payload, (_, _, data) in zip(events, kinds, old, strict=True):
        typed = payload.of(ev)
        assert typed is not None and list(typed.fields().items()) == list(data.items()), (payload, ev)
        assert [k for k in kinds if k.of(ev) is not None] == [payload]  # no other kind reads it
