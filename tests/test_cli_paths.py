"""The CLI's success paths, as a person types them: serve, chat, hot-load, evaluate, stop; resume a
training; a journey without --yes handed over to `tunepilot agent --thread`; cancel through the agent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.faq import warranty_faq
from tools.core.events import read_events
from tunepilot.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_merge_deploy_status_chat_hotload_eval_stop(identity_run: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.serve.process import free_port, stop_deployment
    from tools.serve.record import load_deployment

    monkeypatch.setenv("TUNEPILOT_RUNS", str(identity_run.parent))  # `deploy --status` looks under the runs root
    run = str(identity_run)
    try:
        assert main(["merge", "--run", run]) == 0
        assert "token-identical" in capsys.readouterr().out
        assert main(["deploy", "--run", run, "--mode", "lora", "--port", str(free_port())]) == 0
        out = capsys.readouterr().out
        dep = load_deployment(identity_run)
        assert dep is not None and f"serving base, tuned at {dep.base_url}" in out
        assert main(["deploy", "--status"]) == 0
        line = next(ln for ln in capsys.readouterr().out.splitlines() if run in ln)
        assert line.startswith("running") and dep.base_url in line
        assert main(["chat", "--run", run, "--max-tokens", "40", "你是谁？"]) == 0
        assert "Nova" in capsys.readouterr().out
        assert main(["deploy", "--run", run, "--load-adapter", f"v2={run}/adapter"]) == 0
        assert f"loaded v2 into {dep.base_url}" in capsys.readouterr().out
        assert main(["chat", "--run", run, "--model", "v2", "--max-tokens", "30", "Who are you?"]) == 0
        assert "Nova" in capsys.readouterr().out
        assert main(["deploy", "--run", run, "--unload", "v2"]) == 0
        assert "unloaded v2" in capsys.readouterr().out
        assert main(["eval", "--run", run, "--max-samples", "3", "--no-loss", "--max-tokens", "32"]) == 0
        out = capsys.readouterr().out
        assert "3 held-out samples" in out and "| ROUGE-L F1 |" in out
        # the person's own questions file is the learnt set (read as `tunepilot data` reads files)
        mine = identity_run.parent / "我的问题.csv"
        mine.write_text("问题,答案\n请问你叫啥？,我是 Nova。\nWhat do people call you?,I am Nova.\n"
                        "哪家公司把你做出来的？,Acme 实验室。\n", encoding="utf-8")
        assert main(["eval", "--run", run, "--questions", str(mine), "--max-samples", "3", "--no-loss",
                     "--max-tokens", "32"]) == 0
        out = capsys.readouterr().out
        table = json.loads((identity_run / "eval" / "table.json").read_text(encoding="utf-8"))
        learnt = next(s for s in table["sets"] if s["name"] == "learnt")
        assert learnt["source"] == "我的问题.csv" and learnt["n"] == 3, learnt
        assert "我的问题.csv" in out
        assert main(["deploy", "--stop", run]) == 0
        assert capsys.readouterr().out.strip() == "stopped"
        assert main(["deploy", "--status"]) == 0
        assert run not in capsys.readouterr().out
    finally:
        stop_deployment(identity_run)


@pytest.mark.slow
def test_train_resume_from_the_cli(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from tests.fixtures.identity import write_identity_dataset
    from tools.train.record import TrainSettings

    data = write_identity_dataset(tmp_path / "data")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(TrainSettings(model=str(tiny_model), data_dir=str(data), micro_batch_size=4,
                                                grad_accum=1, save_steps=2, eval_steps=100,
                                                num_epochs=10).model_dump()), encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--run", str(run), "--max-steps", "4"]) == 0
    assert main(["train", "--run", str(run), "--resume", "--max-steps", "6"]) == 0
    capsys.readouterr()
    starts = [e for e in read_events(run) if e.stage == "train" and e.kind == "start"]
    assert [s.data["resumed_from"] for s in starts] == [0, 4]
    steps = [e.step for e in read_events(run) if e.kind == "progress"]
    assert steps == [1, 2, 3, 4, 5, 6]  # picked up at 5: nothing repeated, nothing skipped


def _cli(args: list[str], runs: Path, stdin: str = "", timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TUNEPILOT_RUNS": str(runs), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "tunepilot.cli", *args], input=stdin, capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout)


def test_run_without_yes_stops_at_the_plan_and_the_agent_carries_on(tmp_path: Path, demo_model: Path) -> None:
    from tools.core.messages import say

    faq = warranty_faq(tmp_path / "售后FAQ.txt", 12)
    runs = tmp_path / "runs"
    first = _cli(["run", "用这些 FAQ 微调模型，回答要简短", str(faq), "--thread", "客服-1"], runs)
    assert first.returncode == 3, first.stderr[-2000:]
    assert "方案：LORA" in first.stdout and "waiting for confirmation" in first.stdout
    assert "tunepilot agent --thread 客服-1" in first.stdout
    assert not list(runs.glob("*/config.yaml"))  # nothing trained without a yes
    later = _cli(["agent", "--thread", "客服-1"], runs, stdin="不要\n")
    assert later.returncode == 0, later.stderr[-2000:]
    assert "you: 用这些 FAQ 微调模型，回答要简短" in later.stdout  # the conversation, found again
    assert say("agent.declined", "zh") in later.stdout
    assert not list(runs.glob("*/config.yaml"))


@pytest.mark.slow
def test_cancel_through_the_agent_stops_the_training(runs_dir: Path, tmp_path: Path, tiny_model: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.session import AgentSession
    from tools.core.messages import say
    from tools.core.runs import training_state

    monkeypatch.setenv("TUNEPILOT_DEFAULT_MODEL", str(tiny_model))
    monkeypatch.setenv("TUNEPILOT_MAX_STEPS", "5000")
    faq = warranty_faq(tmp_path / "faq.txt")
    s = AgentSession("cancel-1", db_path=runs_dir / "conv.sqlite")
    assert s.send("用这些 FAQ 微调模型", files=[str(faq)]).pending is not None
    s.send("好")
    run = Path(s.values()["run_dir"])
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not any(e.kind == "progress" for e in read_events(run)):
        time.sleep(0.5)
    assert training_state(run) == "running"
    turn = s.send("停止训练")
    assert turn.replies[-1] == say("agent.cancelled", "zh")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and training_state(run) == "running":
        time.sleep(0.5)
    assert training_state(run) == "cancelled"
    last = max(e.step or 0 for e in read_events(run) if e.kind == "progress")
    assert last < 5000
    assert s.send("停止训练").replies[-1] == say("agent.nothing_to_cancel", "zh")
