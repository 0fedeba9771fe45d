from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tools.errors import InputError
from tools.runs import RunIndex


def test_create_list_update_delete(runs_dir: Path) -> None:
    index = RunIndex()
    assert index.root == runs_dir
    a = index.create(goal="用客服 FAQ 微调")
    b = index.create(goal="support bot", run_id="my-run")
    for sub in ("data", "checkpoints", "logs", "eval"):
        assert (Path(a.path) / sub).is_dir()
    assert {r.id for r in index.list()} == {a.id, "my-run"}
    index.update("my-run", stage="train", state="running")
    got = index.get("my-run")
    assert (got.stage, got.state, got.goal) == ("train", "running", "support bot")
    # the index is a real SQLite file another program can read
    rows = sqlite3.connect(runs_dir / "index.sqlite").execute("SELECT id, goal FROM runs").fetchall()
    assert (a.id, "用客服 FAQ 微调") in rows
    index.delete("my-run")
    assert not Path(b.path).exists()
    assert [r.id for r in index.list()] == [a.id]


def test_bad_ids_are_refused_with_a_reason(runs_dir: Path) -> None:
    index = RunIndex()
    for bad in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(InputError) as err:
            index.create(run_id=bad)
        assert "run id" in str(err.value)
    with pytest.raises(InputError, match="no run named"):
        index.get("missing")
    index.create(run_id="dup")
    (runs_dir / "dup" / "data" / "x").write_text("keep me")
    with pytest.raises(InputError, match="already exists"):
        index.create(run_id="dup")
    assert (runs_dir / "dup" / "data" / "x").read_text() == "keep me"
