"""`tunepilot run "GOAL" FILES --yes`: the whole journey without a page, on the demo model (slow tier)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fixtures import faq


@pytest.mark.slow
def test_a_chinese_goal_with_a_style_runs_to_a_chinese_three_set_table(tmp_path: Path, demo_model: Path) -> None:
    """A Chinese FAQ sheet and "回答要简短": the plan is a knowledge plan with the goal's system prompt, used in
    training and serving; the conversation stays Chinese to the end; the table has the three sets."""
    sheet = faq.write_faq_csv(tmp_path / "客服FAQ.csv", faq.ZH)
    runs = tmp_path / "runs"
    env = {**os.environ, "TUNEPILOT_RUNS": str(runs), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-m", "tunepilot.cli", "run", "用我们的客服 FAQ 微调一个小模型，回答要简短", str(sheet), "--yes",
         "--max-steps", "24", "--poll", "2"],
        capture_output=True, text=True, timeout=1500, env=env,
    )
    out = proc.stdout
    try:
        assert proc.returncode == 0, proc.stderr[-3000:] + out[-3000:]
        for expected in ("已从 1 个文件生成数据集", "方案：", "训练已开始", "已部署", "全部完成",
                         "学会：换个问法问训练过的问题", "保持：通用问题", "95% 置信区间", "系统提示词",
                         "只有 2 条：太少，无法判断"):
            assert expected in out, expected
        assert "Training started" not in out and "All done" not in out  # no English turn in a Chinese journey
        run_dir = next(p for p in runs.iterdir() if p.is_dir() and (p / "plan.json").exists())
        plan = json.loads((run_dir / "plan.json").read_text(encoding="utf-8"))
        assert plan["task"] == "knowledge" and plan["paraphrases"] > 0 and plan["learning_check"]
        # "一个小模型" names the bundled demo model (agent/intent.py), so the planner's choice for Chinese facts
        # (Gemma, tools/plan/cli.py::model_for_data) does not apply
        assert plan["model"] == "demo" and plan["said_reasons"][0]["code"] != "plan.model.gemma_for_chinese_facts"
        assert "简短" in plan["system_prompt"]
        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
        assert config["system_prompt"] == plan["system_prompt"]  # trained with it
        events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()]
        checks = [e for e in events if e["kind"] == "metric" and "asked" in e["data"]]
        assert checks and checks[-1]["data"]["asked"] == 22  # "knows N of 22" was reported
        # the base model's own answers to general questions were trained beside the FAQ, with the system prompt
        assert plan["replay"] == 48
        replayed = [json.loads(x) for x in (run_dir / "replay.jsonl").read_text(encoding="utf-8").splitlines()]
        said = next(e for e in events if e["data"].get("asked") == 48)
        assert said["data"]["replay"] == len(replayed) > 0 and said["data"]["repeat"] == 2
        assert all(r["prompt"][0]["content"] == plan["system_prompt"] for r in replayed)
        table = json.loads((run_dir / "eval" / "table.json").read_text(encoding="utf-8"))
        sets = {s["name"]: s for s in table["sets"]}
        assert [sets[k]["n"] for k in ("learnt", "held_out")] == [22, 2] and sets["kept"]["n"] >= 35
        assert table["system_prompt"] == plan["system_prompt"]
        train = (run_dir / "data" / "train.jsonl").read_text(encoding="utf-8")
        assert "，" in train and "？" in train  # the person's punctuation, as written
        # vLLM was started with the plan's serving settings, and the runs list says where the run stands now
        serve = json.loads((run_dir / "serve.json").read_text(encoding="utf-8"))
        cmd = serve["command"]
        assert cmd[cmd.index("--max-model-len") + 1] == str(plan["serving"]["max_model_len"])
        assert any(r.startswith("serving settings from the plan") for r in serve["reasons"])
        listed = subprocess.run([sys.executable, "-m", "tunepilot.cli", "runs"], capture_output=True, text=True,
                                timeout=120, env=env).stdout
        line = next(x for x in listed.splitlines() if x.startswith(run_dir.name))
        assert " eval " in line and " done " in line, line
    finally:
        from tools.serve.deploy import stop_deployment

        for serve in runs.glob("*/serve.json"):
            stop_deployment(serve.parent)
