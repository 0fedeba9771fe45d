"""Run directories and the SQLite index of runs (``runs/index.sqlite``).

A run directory holds everything one run made (ARCHITECTURE.md, "The run folder"):

    runs/<id>/ plan.json config.yaml data/ checkpoints/ adapter/ merged/
               serve.json logs/ eval/ events.jsonl

The index lists runs with their goal, stage and state so the page and the CLI
can list, open, resume and delete them. It is a cache of what the run
directories say: a run directory without an index row is still a run.
"""

from __future__ import annotations

import re
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from tools.core.errors import InputError
from tools.core.events import read_events
from tools.core.paths import runs_root
from tools.core.procs import pid_alive

State = Literal["created", "running", "interrupted", "failed", "done", "cancelled"]
STAGES = ("data", "plan", "train", "merge", "deploy", "eval")
SUBDIRS = ("data", "checkpoints", "logs", "eval")
INDEX_FILE = "index.sqlite"
CONFIG_FILE = "config.yaml"  # the training settings (tools.train)
PID_FILE = "train.pid"  # the training child
SUPERVISOR_PID_FILE = "supervisor.pid"  # the detached `tunepilot train` that runs it

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class RunRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    created: float
    updated: float
    goal: str
    stage: str
    state: State
    path: str
    owner: str = ""  # the conversation (thread id) that made it; "" for runs made before owners were kept


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def validate_run_id(run_id: str) -> str:
    if not _ID_RE.match(run_id) or ".." in run_id:
        raise InputError(
            f"invalid run id {run_id!r}",
            hint="Use letters, digits, '.', '_' or '-' (no slashes), at most 100 characters",
        )
    return run_id


def run_folder(arg: str | Path) -> Path:
    """A run named on a command line: its folder as given, or a run id under the runs root
    (``$TUNEPILOT_RUNS``). A name that is neither is an error that says where it looked."""
    given = Path(arg).expanduser()
    if given.is_dir():
        return given.resolve()
    under = runs_root() / str(arg)
    if _ID_RE.match(str(arg)) and under.is_dir():
        return under
    raise InputError("no such run", where=str(arg),
                     hint=f"Give the run's folder or its id under {runs_root()} (`tunepilot runs` lists them)")


class RunIndex:
    """SQLite index of runs under a root folder."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else runs_root()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / INDEX_FILE
        with self._connect() as db:
            db.execute(
                """CREATE TABLE IF NOT EXISTS runs (
                    id TEXT PRIMARY KEY, created REAL NOT NULL, updated REAL NOT NULL,
                    goal TEXT NOT NULL DEFAULT '', stage TEXT NOT NULL DEFAULT 'data',
                    state TEXT NOT NULL DEFAULT 'created', path TEXT NOT NULL)"""
            )
            if "owner" not in {row[1] for row in db.execute("PRAGMA table_info(runs)")}:
                db.execute("ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT ''")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                yield db
        finally:
            db.close()

    def create(self, goal: str = "", run_id: str | None = None, owner: str = "") -> RunRecord:
        run_id = validate_run_id(new_run_id() if run_id is None else run_id)
        path = self.root / run_id
        if path.exists() and any(path.iterdir()):
            raise InputError(f"run {run_id!r} already exists", where=str(path), hint="Pick another id")
        for sub in SUBDIRS:
            (path / sub).mkdir(parents=True, exist_ok=True)
        now = time.time()
        rec = RunRecord(
            id=run_id, created=now, updated=now, goal=goal, stage="data", state="created", path=str(path), owner=owner
        )
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs (id, created, updated, goal, stage, state, path, owner) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (rec.id, rec.created, rec.updated, rec.goal, rec.stage, rec.state, rec.path, rec.owner),
            )
        return rec

    def update(self, run_id: str, *, stage: str | None = None, state: State | None = None) -> RunRecord:
        rec = self.get(run_id)
        new = rec.model_copy(
            update={"stage": stage or rec.stage, "state": state or rec.state, "updated": time.time()}
        )
        with self._connect() as db:
            db.execute(
                "UPDATE runs SET stage=?, state=?, updated=? WHERE id=?",
                (new.stage, new.state, new.updated, run_id),
            )
        return new

    def get(self, run_id: str, owner: str | None = None) -> RunRecord:
        """The run, with the stage and state its folder says now (:func:`standing`). With ``owner`` (a
        conversation), a run another conversation made is refused as if it did not exist to it."""
        validate_run_id(run_id)
        with self._connect() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None or (owner is not None and not _visible(_row(row), owner)):
            raise InputError(f"no run named {run_id!r} in this conversation" if row is not None and owner is not None
                             else f"no run named {run_id!r}",
                             hint="See the runs list (`tunepilot runs`, or the page's Runs tab) for the runs you can open")
        return _live(_row(row))

    def list(self, owner: str | None = None) -> list[RunRecord]:
        """Every run (or, with ``owner``, the runs that conversation made), newest first, each with the stage
        and state its folder says now (:func:`standing`)."""
        with self._connect() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM runs ORDER BY created DESC").fetchall()
        return [_live(r) for r in map(_row, rows) if owner is None or _visible(r, owner)]

    def delete(self, run_id: str) -> None:
        rec = self.get(run_id)
        path = Path(rec.path).resolve()
        if self.root.resolve() not in path.parents:
            raise InputError(f"refusing to delete {path}: it is not under {self.root}")
        if training_state(path) == "running":
            raise InputError(f"run {run_id} is training right now", hint="Cancel the training first, then delete")
        shutil.rmtree(path, ignore_errors=True)
        with self._connect() as db:
            db.execute("DELETE FROM runs WHERE id=?", (run_id,))


def standing(run_dir: Path | None, events: list[Any] | None = None) -> tuple[str, State]:
    """(stage, state) of a run from its folder: the one answer the CLI, the page and the agent give.

    The stage is the last stage with an event (or the files a stage leaves: ``data/report.json``,
    ``plan.json``); while it is ``train``, the state is the training's own (:func:`training_state`:
    a killed trainer reads *interrupted*, not *running*). ``events`` saves reading ``events.jsonl`` again."""
    if run_dir is None or not run_dir.is_dir():
        return "data", "created"
    evs = read_events(run_dir) if events is None else events
    stage: str = "data"
    state: State = "created"
    for e in evs:
        if e.stage in STAGES:
            stage = e.stage
            ended: dict[str, State] = {"done": "done", "error": "failed", "cancelled": "cancelled"}
            state = ended.get(e.kind, "running")
    if stage == "data" and (run_dir / "data" / "report.json").exists():
        # a conversion that kept nothing writes its report and no dataset: it failed
        state = "done" if (run_dir / "data" / "train.jsonl").exists() else "failed"
    if stage == "data" and (run_dir / "plan.json").exists():
        stage, state = "plan", "done"
    if stage == "train":
        live = training_state(run_dir)
        if live != "none":
            state = live
    return stage, state


def _live(rec: RunRecord) -> RunRecord:
    """The record with the stage and state its folder says now (the row's are what was last written)."""
    stage, state = standing(Path(rec.path))
    return rec.model_copy(update={"stage": stage, "state": state})


_COLUMNS = "id, created, updated, goal, stage, state, path, owner"


def _visible(rec: RunRecord, owner: str) -> bool:
    """A conversation sees the runs it made (and runs from before owners were kept, which belong to no one)."""
    return rec.owner in ("", owner)


def _row(row: tuple) -> RunRecord:
    return RunRecord(
        id=row[0], created=row[1], updated=row[2], goal=row[3], stage=row[4], state=row[5], path=row[6],
        owner=row[7] or "",
    )


def training_alive(run_dir: Path) -> bool:
    pid_file = run_dir / PID_FILE
    if not pid_file.exists():
        return False
    text = pid_file.read_text().strip()
    return bool(text) and pid_alive(int(text))


def supervisor_alive(run_dir: Path) -> bool:
    pid_file = run_dir / SUPERVISOR_PID_FILE
    if not pid_file.exists():
        return False
    text = pid_file.read_text().strip()
    return bool(text) and pid_alive(int(text))


def training_state(run_dir: Path) -> Literal["none", "running", "done", "cancelled", "failed", "interrupted"]:
    """What a run's training is doing, from its processes and its events (survives page restarts)."""
    events = [e for e in read_events(run_dir) if e.stage == "train"]
    if not events and not (run_dir / CONFIG_FILE).exists():
        return "none"
    if supervisor_alive(run_dir) or training_alive(run_dir):
        return "running"
    finals = [e for e in events if e.kind in ("done", "cancelled", "error")]
    if finals:
        last = finals[-1]
        later_start = any(e.kind == "start" and e.ts > last.ts for e in events)
        if not later_start:
            return {"done": "done", "cancelled": "cancelled", "error": "failed"}[last.kind]  # type: ignore[return-value]
    return "interrupted" if events else "none"
