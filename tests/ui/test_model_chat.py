"""The model chat's two columns: any two of base / this run / another run of the same base (no browser: the
page's own functions against a scripted OpenAI-compatible server that streams as vLLM does)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tools.core.runs import RunIndex
from ui import model_chat

OWNER = "t-" + "a" * 30


def _run(base: Path, owner: str = OWNER) -> Path:
    rec = RunIndex().create(goal="identity", owner=owner)
    run = Path(rec.path)
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
    return run


def _serve(run: Path, url: str) -> None:
    dep = {"run_dir": str(run), "pid": 1, "host": "127.0.0.1", "port": 1, "base_url": url, "mode": "lora",
           "models": {"base": "base-model", "tuned": "tuned"}, "base_model": "base-model", "log": "x",
           "command": ["vllm"], "started": time.time()}
    (run / "serve.json").write_text(json.dumps(dep))


def test_the_columns_offer_runs_of_the_same_base_and_answer_side_by_side(runs_dir: Path, tmp_path: Path,
                                                                        llm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_chat, "new_thread_id", lambda current: OWNER)
    a, b = _run(tmp_path / "smol"), _run(tmp_path / "smol")
    _run(tmp_path / "gemma")  # another base: cannot share the server
    _run(tmp_path / "smol", owner="t-" + "b" * 30)  # another conversation's run: not offered
    _serve(a, app_url(llm))
    left, right, label_l, label_r = model_chat.side_choices(a.name, OWNER, "zh")
    assert [v for _, v in left["choices"]] == ["base", "tuned", f"run-{b.name}"]
    assert left["value"] == "base" and right["value"] == "tuned" and label_l["label"] == "基座模型"
    assert f"运行 {b.name}" in [lab for lab, _ in right["choices"]]

    llm.by_model = {"tuned": "我叫 Nova。", f"run-{b.name}": "我是 Nova，Acme 的助手。"}
    *_, (left_hist, right_hist, box) = list(model_chat.ask_both("你是谁？", a.name, "tuned", f"run-{b.name}", [], [], "zh",
                                                         OWNER))
    assert box == "" and left_hist[0]["content"] == right_hist[0]["content"] == "你是谁？"
    assert left_hist[-1]["content"].strip() == "我叫 Nova。"
    assert right_hist[-1]["content"].strip() == "我是 Nova，Acme 的助手。"
    loads = [r for r in llm.requests if r["path"].endswith("/load_lora_adapter")]
    assert [r["lora_path"] for r in loads] == [str(b / "adapter")]  # B's adapter joined A's running server
    served = json.loads((a / "serve.json").read_text())
    assert served["loaded_adapters"] == {f"run-{b.name}": str(b / "adapter")}
    # asked again: no second load
    list(model_chat.ask_both("你叫什么名字？", a.name, "base", f"run-{b.name}", [], [], "zh", OWNER))
    assert len([r for r in llm.requests if r["path"].endswith("/load_lora_adapter")]) == 1


def test_a_run_of_another_conversation_or_base_is_refused_in_its_column(runs_dir: Path, tmp_path: Path, llm,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_chat, "new_thread_id", lambda current: OWNER)
    a, other_base = _run(tmp_path / "smol"), _run(tmp_path / "gemma")
    stranger = _run(tmp_path / "smol", owner="t-" + "b" * 30)
    _serve(a, app_url(llm))
    llm.by_model = {"base-model": "base answer"}
    *_, (left, right, _) = list(model_chat.ask_both("hi", a.name, "base", f"run-{other_base.name}", [], [], "en", OWNER))
    assert left[-1]["content"].strip() == "base answer"
    assert "different base models" in right[-1]["content"]
    *_, (left, right, _) = list(model_chat.ask_both("hi", a.name, "base", f"run-{stranger.name}", [], [], "en", OWNER))
    assert "not a run of this conversation" in right[-1]["content"]
    assert not [r for r in llm.requests if r["path"].endswith("/load_lora_adapter")]


def app_url(llm) -> str:  # noqa: ANN001
    import os

    return os.environ["TUNEPILOT_LLM_BASE_URL"]


def test_a_thumbs_down_keeps_the_right_answer_for_the_run_that_answered(runs_dir: Path) -> None:
    """👎 opens the box with the question (Chinese page); saving keeps the correction in that run, the runs tab
    lists it and removes it; a run of another conversation takes none."""
    from types import SimpleNamespace

    from tools.data.corrections import load_corrections
    from ui import corrections

    run = _run(runs_dir / "base")
    history = [{"role": "user", "content": "退货期限是几天？"}, {"role": "assistant", "content": "七天。"}]
    down = SimpleNamespace(liked=False, index=1)
    pending, row, _, msg = corrections.on_vote(down, run.name, "tuned", history, OWNER, "zh")  # type: ignore[arg-type]
    assert row["visible"] is True and "退货期限是几天" in msg and "👎" in msg
    assert pending == {"run": run.name, "question": "退货期限是几天？", "wrong": "七天。", "model": "tuned"}
    left, row, said = corrections.save(pending, "退货期限是45天。", OWNER, "zh")
    assert left == {} and row["visible"] is False and "纠正已保存" in said and "共有 1 条" in said
    assert [(c.question, c.answer, c.wrong) for c in load_corrections(run)] == [("退货期限是几天？", "退货期限是45天。", "七天。")]
    frame = corrections.corrections_frame(run.name, OWNER, "zh")
    assert list(frame.columns) == ["编号", "问题", "正确答案"] and frame.iloc[0, 2] == "退货期限是45天。"
    _, said = corrections.save(pending, "  ", OWNER, "en")[1:]  # an empty answer is refused, nothing kept
    assert "answer is empty" in said and len(load_corrections(run)) == 1
    # another conversation neither opens the box for this run nor sees or removes its corrections
    assert corrections.on_vote(down, run.name, "tuned", history, "t-" + "b" * 30, "en")[1]["visible"] is False  # type: ignore[arg-type]
    assert corrections.corrections_frame(run.name, "t-" + "b" * 30, "en").empty
    frame, said = corrections.remove(run.name, load_corrections(run)[0].id, OWNER, "en")
    assert frame.empty and 'Removed the correction of "退货期限是几天？"' in said
