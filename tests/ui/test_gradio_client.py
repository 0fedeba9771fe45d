"""The page's endpoints driven with ``gradio_client`` (what a script or another app would call).

No training here: the journey is covered by the browser test. This checks that the named
endpoints exist, take a conversation id, answer, keep conversations apart, and that
uploaded files (one of them broken, one with an unsafe name) reach the dataset report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import App

gradio_client = pytest.importorskip("gradio_client")


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # gradio 6 hands messages back as content parts
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


@pytest.fixture(scope="module")
def client(ui_app: App) -> Any:
    return gradio_client.Client(ui_app.url, verbose=False)


@pytest.mark.slow
def test_named_endpoints_are_there(client: Any) -> None:
    api = client.view_api(return_format="dict", print_info=False)
    named = set(api["named_endpoints"])
    for name in ("/send", "/approve", "/edit", "/cancel", "/history", "/tick", "/set_lang", "/ask_both",
                 "/deployed_runs", "/list_runs"):
        assert name in named, sorted(named)
    assert not any(n.startswith("/refresh_panel") for n in named), sorted(named)


@pytest.mark.slow
def test_send_a_message_and_read_the_reply(client: Any) -> None:
    chat, _box, notice = client.predict({"text": "hello, what can you do?", "files": []}, "client-thread-one",
                                        api_name="/send")
    assert [m["role"] for m in chat] == ["user", "assistant"]
    assert "hello" in _text(chat[0])
    reply = _text(chat[-1])
    assert reply and "Working" not in reply
    assert "fine-tune" in reply.lower()

    # the same id continues the conversation; another id is another conversation
    again = client.predict("client-thread-one", api_name="/history")[0]
    assert len(again) == 2
    other = client.predict("client-thread-two", api_name="/history")[0]
    assert other == []


@pytest.mark.slow
def test_html_comes_back_as_text(client: Any) -> None:
    chat = client.predict({"text": "<script>alert(1)</script>", "files": []}, "client-thread-xss", api_name="/send")[0]
    assert "<script>" not in _text(chat[0]) and "&lt;script&gt;" in _text(chat[0])


@pytest.mark.slow
def test_uploads_reach_the_dataset_report(client: Any, ui_app: App, tmp_path: Path) -> None:
    from gradio_client import handle_file

    faq = tmp_path / "faq.jsonl"
    faq.write_text("\n".join(json.dumps({"instruction": f"问题 {i}：怎么退货？", "output": f"{i} 天内可退。"},
                                        ensure_ascii=False) for i in range(20)), encoding="utf-8")
    broken = tmp_path / "broken.docx"
    broken.write_bytes(b"PK\x03\x04 not really a docx" * 20)
    tid = "client-thread-files"
    chat, _box, notice = client.predict(
        {"text": "just convert these files", "files": [handle_file(str(faq)), handle_file(str(broken))]}, tid,
        api_name="/send")
    assert any("faq.jsonl" in _text(m) for m in chat if m["role"] == "user")
    panel = client.predict(tid, api_name="/history")  # chat, stages, dataset, plan, progress, loss, eval, files
    dataset = panel[2]
    names = [row[0] for row in dataset["data"]]
    assert "faq.jsonl" in names and "broken.docx" in names, dataset
    broken_row = next(row for row in dataset["data"] if row[0] == "broken.docx")
    assert broken_row[5], broken_row  # its error is named
    # the uploads were copied under the runs root, into this conversation's folder only
    stored = sorted(p.name for p in (ui_app.runs / "uploads" / tid).iterdir())
    assert stored == ["broken.docx", "faq.jsonl"]


@pytest.mark.slow
def test_language_endpoint(client: Any) -> None:
    out = client.predict("中文", api_name="/set_lang")
    assert any(isinstance(v, str) and "用对话微调模型" in v for v in out), out


@pytest.mark.slow
def test_runs_tab_lists_opens_refuses_and_deletes(client: Any, ui_app: App, tmp_path: Path) -> None:
    faq = tmp_path / "常见问题.txt"
    faq.write_text("".join(f"问：{i}号门店几点开门？\n答：{i}号门店早上{i}点开门。\n\n" for i in range(1, 13)),
                   encoding="utf-8")
    from gradio_client import handle_file

    client.predict({"text": "只转换这些文件", "files": [handle_file(str(faq))]}, "client-thread-runs",
                   api_name="/send")
    client.predict("中文", api_name="/set_lang")  # the language is this client's session state
    table = client.predict("client-thread-runs", api_name="/list_runs")
    assert table["headers"] == ["运行", "阶段", "状态", "目标"], table["headers"]
    row = next(r for r in table["data"] if r[3] == "只转换这些文件")
    run_id = row[0]
    assert row[1:3] == ["数据", "完成"], row
    assert "已打开" in client.predict(run_id, "client-thread-runs", api_name="/open_run")
    # another conversation neither sees this run nor opens, resumes, redeploys or deletes it
    other = "client-thread-other"
    assert not any(r[0] == run_id for r in client.predict(other, api_name="/list_runs")["data"])
    for api, args in (("/open_run", (run_id, other)), ("/resume_run", (run_id, other)),
                      ("/redeploy", (run_id, other))):
        refused = client.predict(*args, api_name=api)
        assert refused.startswith("⚠️ 操作没有完成") and "no run named" in refused, (api, refused)
    refused, _, _ = client.predict(run_id, True, other, api_name="/delete_run")
    assert refused.startswith("⚠️ 操作没有完成") and (ui_app.runs / run_id).is_dir()
    # a run that never trained has nothing to resume; a wrong id is one line, not a traceback
    assert "还没有开始训练" in client.predict(run_id, "client-thread-runs", api_name="/resume_run")
    bad = client.predict("no-such-run", "client-thread-runs", api_name="/open_run")
    assert bad.startswith("⚠️ 操作没有完成") and "no-such-run" in bad and "Traceback" not in bad
    # deleting asks for the tick first and removes nothing without it
    msg, table, _ = client.predict(run_id, False, "client-thread-runs", api_name="/delete_run")
    assert "请先勾选" in msg and any(r[0] == run_id for r in table["data"])
    assert (ui_app.runs / run_id).is_dir()
    client.predict("English", api_name="/set_lang")
    msg, table, ticked = client.predict(run_id, True, "client-thread-runs", api_name="/delete_run")
    assert msg.startswith(f"Deleted {run_id}") and ticked is False
    assert table["headers"] == ["run", "stage", "state", "goal"]
    assert not any(r[0] == run_id for r in table["data"]) and not (ui_app.runs / run_id).exists()
