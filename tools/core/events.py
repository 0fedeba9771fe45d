"""The event stream: JSON lines in ``runs/<id>/events.jsonl``.

Writers (the tools and their child processes) append one complete line per
``write`` with ``O_APPEND``, so lines from several processes never interleave.
Readers (the agent, the page, the CLI) tail the file with :class:`EventReader`,
which keeps a byte offset and never returns half a line, even while another
process is in the middle of writing one.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.core.messages import Said
from tools.core.procs import local_rank
from tools.core.secrets import redact

Stage = Literal["run", "data", "plan", "train", "merge", "export", "deploy", "eval", "chat", "agent"]
Kind = Literal["start", "progress", "metric", "log", "warning", "checkpoint", "done", "error", "cancelled", "info"]

EVENTS_FILE = "events.jsonl"


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ts: float = Field(default_factory=time.time)
    run_id: str
    stage: Stage
    kind: Kind
    step: int | None = None
    total: int | None = None
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    said: Said | None = None  # the message by code, for a reader in another language (tools.core.messages)


class EventWriter:
    """Append events to a run's ``events.jsonl``; safe to use from several processes at once."""

    def __init__(self, run_dir: Path, run_id: str | None = None) -> None:
        self.path = Path(run_dir) / EVENTS_FILE
        self.run_id = run_id or Path(run_dir).name
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def emit(
        self,
        stage: Stage,
        kind: Kind,
        message: str = "",
        *,
        step: int | None = None,
        total: int | None = None,
        said: Said | None = None,
        **data: Any,
    ) -> Event:
        """One event; with ``said``, its English text is the message unless one is given. In a training of
        several processes only each machine's first process writes (the others would repeat it)."""
        event = Event(
            run_id=self.run_id, stage=stage, kind=kind, step=step, total=total,
            message=message or (said.text() if said else ""), data=data, said=said,
        )
        if local_rank() > 0:
            return event

        record = event.model_dump()
        if record["said"] is None:  # the stream's lines keep the eight keys ARCHITECTURE.md names unless a code is said
            del record["said"]
        line = (redact(json.dumps(record, ensure_ascii=False, default=str)) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            while written < len(line):  # very long line: keep appending the rest
                written += os.write(fd, line[written:])
        finally:
            os.close(fd)
        return event


class EventReader:
    """Tail ``events.jsonl`` from a byte offset, returning only complete lines."""

    def __init__(self, run_dir: Path, offset: int = 0) -> None:
        self.path = Path(run_dir) / EVENTS_FILE
        self.offset = offset

    def read_new(self) -> list[Event]:
        """Events appended since the last call (complete lines only)."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        complete = chunk[: end + 1]
        self.offset += len(complete)
        events = []
        for raw in complete.splitlines():
            if not raw.strip():
                continue
            try:
                events.append(Event.model_validate_json(raw))
            except ValueError:
                continue  # a foreign or damaged line never stops the reader
        return events

    def follow(self, poll_s: float = 0.2, timeout_s: float | None = None) -> Iterator[Event]:
        """Yield events as they come until a ``done``/``error``/``cancelled`` of stage ``run`` or timeout."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            for ev in self.read_new():
                yield ev
                if ev.stage == "run" and ev.kind in ("done", "error", "cancelled"):
                    return
            if deadline is not None and time.monotonic() > deadline:
                return
            time.sleep(poll_s)


def read_events(run_dir: Path) -> list[Event]:
    return EventReader(run_dir).read_new()
