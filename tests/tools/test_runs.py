from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tools.core.errors import InputError
from tools.core.runs import RunIndex


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
    from agent.nodes.runs import list_runs
    from agent.state import AgentState
    from tools.core.events import EventWriter
    from tunepilot.cli import main
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
    reply = list_runs(AgentState(lang="zh", messages=[]))["messages"][0].content
    assert "finished" in reply and "进行中" not in reply and "完成" in reply, reply

    # a killed trainer reads "interrupted", not "running"
    index.create(goal="x", run_id="killed")
    ev = EventWriter(runs_dir / "killed")
    ev.emit("train", "start", "training")
    ev.emit("train", "progress", "step 1/9", step=1, total=9)
    assert (index.get("killed").stage, index.get("killed").state) == ("train", "interrupted")


def test_runs_belong_to_the_conversation_that_made_them(runs_dir: Path) -> None:
    index = RunIndex()
    mine = index.create(goal="我的", run_id="mine", owner="thread-aaaaaaaa")
    index.create(goal="theirs", run_id="theirs", owner="thread-bbbbbbbb")
    assert [r.id for r in index.list(owner="thread-aaaaaaaa")] == ["mine"]
    assert {r.id for r in index.list()} == {"mine", "theirs"}  # the CLI (the machine's owner) sees all
    assert index.get("mine", owner="thread-aaaaaaaa").path == mine.path
    with pytest.raises(InputError, match="no run named 'theirs' in this conversation"):
        index.get("theirs", owner="thread-aaaaaaaa")


def test_an_index_from_before_owners_gains_the_column_and_keeps_its_runs(runs_dir: Path) -> None:
    runs_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(runs_dir / "index.sqlite")
    db.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, created REAL NOT NULL, updated REAL NOT NULL, "
               "goal TEXT NOT NULL DEFAULT '', stage TEXT NOT NULL DEFAULT 'data', "
               "state TEXT NOT NULL DEFAULT 'created', path TEXT NOT NULL)")
    db.execute("INSERT INTO runs VALUES ('old', 1, 1, '旧的', 'data', 'created', ?)", (str(runs_dir / "old"),))
    db.commit()
    db.close()
    index = RunIndex()
    assert index.get("old").owner == "" and index.get("old", owner="thread-anyone1").goal == "旧的"
    index.create(goal="new", run_id="new", owner="thread-anyone1")
    assert [r.id for r in index.list(owner="thread-anyone1")] == ["new", "old"]


def test_the_agent_lists_and_opens_only_its_own_runs(runs_dir: Path, tmp_path: Path) -> None:
    from agent.session import AgentSession
    from tests.fixtures.faq import warranty_faq
    from tools.core.messages import say

    faq = warranty_faq(tmp_path / "faq.txt", 12)
    a = AgentSession("thread-aaaaaaaa", db_path=runs_dir / "conv.sqlite")
    a.send("只转换这些文件", files=[str(faq)])
    run_id = a.values()["run_id"]
    assert run_id in a.send("我的运行记录").replies[-1]
    b = AgentSession("thread-bbbbbbbb", db_path=runs_dir / "conv.sqlite")
    assert b.send("我的运行记录").replies == [say("agent.no_runs", "zh")]
    b.send(f"部署运行 {run_id}")
    assert b.values().get("run_id") != run_id


def test_a_conversion_that_kept_nothing_reads_failed_not_done(runs_dir: Path) -> None:
    from tools.core.runs import standing

    rec = RunIndex().create(goal="just convert these files")
    data = Path(rec.path) / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "report.json").write_text("{}", encoding="utf-8")  # every file refused: a report, no dataset
    assert standing(Path(rec.path)) == ("data", "failed")
    (data / "train.jsonl").write_text('{"messages": []}\n', encoding="utf-8")
    assert standing(Path(rec.path)) == ("data", "done")


def test_a_command_line_run_is_its_folder_or_its_id_under_the_runs_root(runs_dir: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from tools.core.runs import run_folder
    from tunepilot.cli import main

    run = runs_dir / "20261130-050000-abc123"
    run.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the id is not a folder here: it is found under the runs root
    assert run_folder(run.name).resolve() == run.resolve()
    assert run_folder(str(run)) == run.resolve()
    with pytest.raises(InputError) as err:
        run_folder("nothing-here")
    assert "no such run" in str(err.value) and str(runs_dir) in err.value.hint
    # `deploy --stop ID` says there was nothing to stop for a real run, and names the mistake for a wrong id
    assert main(["deploy", "--stop", run.name]) == 0
    assert "no running server" in capsys.readouterr().out
    assert main(["deploy", "--stop", "nothing-here"]) != 0
    assert "no such run" in capsys.readouterr().err
