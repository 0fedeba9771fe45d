"""What a conversation reads from the nodes, in Chinese and English: state words, run folders, the plan card.

Tools that load models are replaced by their results, so these run in well under a second each.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent.nodes import data, planning, runs, serving, training, understanding
from agent.state import AgentState
from tools.core.errors import InputError
from tools.core.events import EventWriter
from tools.core.runs import RunIndex

CJK = re.compile(r"[\u4e00-\u9fff]")


def _st(values: dict[str, Any]) -> AgentState:
    return AgentState.model_validate(values)


def _reply(update: dict[str, Any]) -> str:
    return str(update["messages"][-1].content)


def _run(runs_dir: Path) -> tuple[str, Path]:
    rec = RunIndex().create(goal="用客服 FAQ 微调")
    return rec.id, Path(rec.path)


@pytest.mark.parametrize("final, en, zh", [("error", "failed", "失败"), ("cancelled", "cancelled", "已取消"),
                                           (None, "interrupted", "已中断"), ("no training", "not started", "未开始")])
def test_status_in_chinese_has_no_english_state_word(runs_dir: Path, final: str | None, en: str, zh: str) -> None:
    run_id, run = _run(runs_dir)
    if final != "no training":
        (run / "config.yaml").write_text("model: m\n")
        EventWriter(run).emit("train", "start", step=0, total=10)
    if final in ("error", "cancelled"):
        EventWriter(run).emit("train", final, "stopped", step=3, total=10)
    state: dict[str, Any] = {"run_id": run_id, "run_dir": str(run)}
    chinese = _reply(training.status(_st({**state, "lang": "zh"})))
    assert zh in chinese and not re.search(r"[A-Za-z]", chinese), chinese
    assert en in _reply(training.status(_st({**state, "lang": "en"})))


def test_merge_reply_names_the_run_folder_not_the_server_path(runs_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.train.merge

    run_id, run = _run(runs_dir)
    result = tools.train.merge.MergeResult(merged_dir=run.resolve() / "merged", base_model="b", identical=True,
                                     checked_prompts=3, reasons=[])
    monkeypatch.setattr(tools.train.merge, "merge_adapter", lambda req: result)
    state: dict[str, Any] = {"run_id": run_id, "run_dir": str(run)}
    for lang, check in (("zh", "一致"), ("en", "OK")):
        text = _reply(serving.merge(_st({**state, "lang": lang})))
        assert f"{run_id}/merged/" in text and check in text, text
        assert str(run) not in text and str(run.resolve()) not in text
    assert result.merged_dir.is_absolute()  # the tool's result keeps the full path

    def fails(req: object) -> None:
        raise InputError("no trained adapter in this run", where=str(run.resolve() / "adapter"))

    monkeypatch.setattr(tools.train.merge, "merge_adapter", fails)
    text = _reply(serving.merge(_st({**state, "lang": "zh"})))
    assert text.startswith("出错了") and f"{run_id}/adapter" in text and str(run.resolve()) not in text


def test_export_on_request_names_the_files_and_the_check(runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_core.messages import HumanMessage

    import tools.train.export as export

    run_id, run = _run(runs_dir)
    asked: list[Any] = []
    out = run.resolve() / "export"

    def fake(req: Any) -> Any:
        asked.append(req)
        checks = [export.GGUFCheck(type="f16", identical=4, prompts=4), export.GGUFCheck(type="q8_0", identical=3,
                                                                                           prompts=4)]
        return export.ExportResult(files=[out / "model-f16.gguf", out / "model-q8_0.gguf"],
                                   modelfile=out / "Modelfile" if req.to == "ollama" else None, checks=checks,
                                   passed=True, reasons=[])

    monkeypatch.setattr(export, "export_model", fake)
    state: dict[str, Any] = {"run_id": run_id, "run_dir": str(run), "lang": "zh",
                             "messages": [HumanMessage(content="把模型导出到 Ollama")]}
    zh = _reply(serving.export(_st(state)))
    assert asked[-1].to == "ollama" and f"{run_id}/export/Modelfile" in zh and "f16 4/4" in zh and CJK.search(zh)
    assert str(run.resolve()) not in zh
    en = _reply(serving.export(_st({**state, "lang": "en", "messages": [HumanMessage(content="export it as GGUF")]})))
    assert asked[-1].to == "gguf" and f"{run_id}/export/model-q8_0.gguf" in en and "Modelfile" not in en
    assert "llama.cpp" in en


def test_plan_in_a_chinese_conversation(runs_dir: Path) -> None:
    from tools.core.models import models_dir
    from tools.plan.record import TrainingPlan

    run_id, run = _run(runs_dir)
    state: dict[str, Any] = {"run_id": run_id, "run_dir": str(run), "lang": "zh", "goal": {},
                             "hardware_hint": {"name": "RTX 4090", "memory_gb": 24}}
    update = planning.plan(_st(state))
    text = _reply(update)
    p = TrainingPlan.model_validate(update["plan"])
    assert text.startswith("方案：") and "原因" in text and "每块 GPU 的显存（估算）" in text
    zh = p.reasons_in("zh")
    assert all(f"- {r}" in text for r in zh) and len(zh) == len(p.reasons) and zh != p.reasons
    assert "Plan for" not in text and "memory per GPU" not in text and "your setting" not in text
    assert f"--run {run_id}" in text  # the launch command names the run, not the server folder
    assert str(run) not in text and str(run.resolve()) not in text and str(models_dir()) not in text
    saved = json.loads((run / "plan.json").read_text(encoding="utf-8"))
    assert TrainingPlan.model_validate(saved).reasons_in("zh") == zh and saved["distributed"]["launch_command"].endswith(str(run))


def test_refusal_in_a_chinese_conversation(runs_dir: Path) -> None:
    state: dict[str, Any] = {"lang": "zh", "goal": {"base_model": "Org/Offline-Model", "params_b": 70},
                             "hardware_hint": {"name": "RTX 4090", "memory_gb": 24}}
    update = planning.plan(_st(state))
    text = _reply(update)
    assert update["outcome"] == "refused"
    assert "放不下：" in text and "可行的办法" in text and "does not fit" not in text and "What would fit" not in text


def test_dataset_reply_in_chinese_names_files_and_dropped_records_in_chinese(
        runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.data
    from tools.data import ConvertResult

    source = str(tmp_path / "uploads" / "常见问题.pdf")

    def convert_documents(req: Any) -> ConvertResult:
        return ConvertResult.model_validate({
            "out_dir": req.out_dir, "train_path": req.out_dir / "train.jsonl", "eval_path": req.out_dir / "eval.jsonl",
            "report_path": req.out_dir / "report.json", "schema": "messages", "train_records": 7, "eval_records": 1,
            "files": [{"source": source, "type": "pdf", "dropped": {"exact duplicate": 2},
                       "errors": [{"where": f"{source}#page=3", "message": "第 3 页没有文字"}]}],
            "dropped": {"exact duplicate": 2, "near duplicate": 1},
            "tokens": {"tokenizer": "demo", "records": 8, "p50": 40, "p95": 67, "max": 80, "mean": 41.0}})

    monkeypatch.setattr(tools.data, "convert_documents", convert_documents)
    state: dict[str, Any] = {"files": [source], "lang": "zh", "messages": []}
    text = _reply(data.convert(_st(state)))
    assert "完全重复 2" in text and "近似重复 1" in text and "duplicate" not in text
    assert "常见问题.pdf#page=3" in text and str(tmp_path) not in text


def test_side_by_side_answers_and_runs_are_labelled_in_the_conversation_language(
        runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.serve.chat
    import tools.serve.record

    run_id, run = _run(runs_dir)
    monkeypatch.setattr(tools.serve.record, "load_deployment", lambda run_dir: SimpleNamespace(
        models={"base": "base-model", "tuned": "tuned-model"}))
    monkeypatch.setattr(tools.serve.chat, "complete", lambda dep, which, messages, max_tokens: f"{which} 的回答")
    state: dict[str, Any] = {"run_id": run_id, "run_dir": str(run), "goal": {"chat_message": "你是谁？"}}
    chinese = _reply(serving.chat(_st({**state, "lang": "zh"})))
    assert "**基座模型**" in chinese and "**微调后**" in chinese and "**base**" not in chinese
    assert "**base**" in _reply(serving.chat(_st({**state, "lang": "en"})))
    listed = _reply(runs.list_runs(_st({"lang": "zh"})))
    assert f"`{run_id}` 数据/已创建" in listed and "data/created" not in listed
    assert f"`{run_id}` data/created" in _reply(runs.list_runs(_st({"lang": "en"})))


def test_evaluation_reply_shows_the_table_in_the_conversation_language(runs_dir: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.evaluate.before_after
    from tools.evaluate.match import EvalRecord
    from tools.evaluate.render import render_markdown, write_tables
    from tools.evaluate.score import build_table

    run_id, run = _run(runs_dir)
    rec = EvalRecord(id="q1", prompt="退货期限？", reference="7天内可退货。", output="30天。")
    table = build_table([rec], [rec.model_copy(update={"output": "7天内可退货。"})])
    files = {k: str(v) for k, v in write_tables(table, run / "eval").items()}
    result = SimpleNamespace(samples=1, table_md=render_markdown(table), files=files)
    monkeypatch.setattr(tools.evaluate.before_after, "evaluate_model", lambda req: result)
    state: dict[str, Any] = {"run_id": run_id, "run_dir": str(run)}
    zh = _reply(serving.evaluate(_st({**state, "lang": "zh"})))
    assert "微调前后评测对比" in zh and "Before / after" not in zh and "Metric" not in zh
    en = _reply(serving.evaluate(_st({**state, "lang": "en"})))
    assert "Before / after evaluation" in en
    assert (run / "eval" / "table.md").read_text(encoding="utf-8").startswith("# Before / after")  # files stay English


def test_a_chinese_goal_keeps_chinese_through_the_journeys_status_polls(runs_dir: Path) -> None:
    """`tunepilot run` with a Chinese goal polls with "status": the conversation must stay Chinese."""
    from langchain_core.messages import HumanMessage

    first = understanding.understand(_st({"messages": [HumanMessage(content="用我们的客服 FAQ 微调一个小模型，回答要简短")]}))
    assert first["lang"] == "zh"
    assert first["system_prompt"] and "简短" in first["system_prompt"] and first["style"] == ["concise"]
    poll = understanding.understand(_st({"messages": [HumanMessage(content="status")], "lang": "zh"}))
    assert poll.get("lang", "zh") == "zh"
    english = understanding.understand(_st({"messages": [HumanMessage(content="what is the status of my run")], "lang": "zh"}))
    assert english["lang"] == "en"  # a real English sentence still switches


def test_files_that_give_no_example_are_said_with_the_reason_and_what_to_do_and_the_old_plan_leaves_the_panel(
        runs_dir: Path, tmp_path: Path) -> None:
    from ui.agent_chat import _chat_view

    broken = tmp_path / "说明书.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not a real pdf")
    run_id, run = _run(runs_dir)
    (run / "plan.json").write_text("{}", encoding="utf-8")  # the plan of an earlier, cancelled request
    state: dict[str, Any] = {"files": [str(broken)], "lang": "zh", "messages": [], "run_id": run_id,
                             "run_dir": str(run)}
    update = data.convert(_st(state))
    text = _reply(update)
    assert update["outcome"] == "error" and "说明书.pdf" in text and "怎么办" in text and "Traceback" not in text
    assert not (run / "plan.json").exists() and (run / "plan.before-these-files.json").exists()

    class Session:
        thread_id = "t"

        def state(self) -> AgentState:
            return AgentState(lang="zh")

        def messages(self) -> list[tuple[str, str, str, dict[str, bool]]]:
            return [("assistant", text, "convert", {"failed": True})]

        def pending(self) -> None:
            return None

    shown = _chat_view(Session())
    assert "metadata" not in shown[0] and "怎么办" in shown[0]["content"] and "失败" in shown[0]["content"]
