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
    got = index.get("my-run")
    assert (got.stage, got.state, got.goal) == ("data", "created", "support bot")
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


def test_a_finished_run_reads_finished_everywhere_whatever_the_index_row_says(runs_dir: Path, capsys) -> None:
    """The journey wrote "train running" into the index and went on to merge, deploy and evaluate:
    the CLI, the page's runs tab and the agent all say where the run really stands."""
    from agent.nodes import list_runs
    from tools.cli import main
    from tools.events import EventWriter
    from ui.view import run_standing

    index = RunIndex()
    rec = index.create(goal="用客服 FAQ 微调", run_id="finished")
    index.update("finished", stage="train", state="running")
    ev = EventWriter(Path(rec.path))
    for stage in ("data", "plan", "train", "merge", "deploy", "eval"):
        ev.emit(stage, "start", f"{stage} started")
        ev.emit(stage, "done", f"{stage} done")
    assert (index.get("finished").stage, index.get("finished").state) == ("eval", "done")
    assert main(["runs"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("finished"))
    assert " eval " in line and " done " in line and "running" not in line, line
    assert run_standing(Path(rec.path), "zh") == ("评测", "完成")
    reply = list_runs({"lang": "zh", "messages": []})["messages"][0].content
    assert "finished" in reply and "进行中" not in reply and "完成" in reply, reply

    # a killed trainer reads "interrupted", not "running"
    index.create(goal="x", run_id="killed")
    ev = EventWriter(runs_dir / "killed")
    ev.emit("train", "start", "training")
    ev.emit("train", "progress", "step 1/9", step=1, total=9)
    assert (index.get("killed").stage, index.get("killed").state) == ("train", "interrupted")
