"""The page's pure converters and guards, without a server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.cli import main
from tools.events import EventWriter, read_events
from ui.app import sanitize_name, store_uploads
from ui.cli import parse_auth
from ui.i18n import LABELS, L
from ui.view import loss_rows, panel, progress_html, safe_text, stage_tracker_html


def test_every_label_has_both_languages() -> None:
    for key, entry in LABELS.items():
        assert entry.get("en") and entry.get("zh"), key
    assert L("too_many_files", "zh", n=30, limit=20).startswith("一次上传")
    assert len(L("stages", "zh").split(",")) == len(L("stages", "en").split(",")) == 6
    assert len(L("dataset_cols", "zh").split(",")) == len(L("dataset_cols", "en").split(",")) == 6


def test_html_in_documents_and_answers_is_text() -> None:
    assert safe_text("<script>alert(1)</script> 你好") == "&lt;script&gt;alert(1)&lt;/script&gt; 你好"


def test_upload_names_are_sanitised_and_never_overwrite(tmp_path: Path) -> None:
    assert sanitize_name("../../etc/passwd") == "passwd"
    assert sanitize_name("..\\..\\win.ini") == "win.ini"
    assert sanitize_name("客服 FAQ.xlsx") == "客服 FAQ.xlsx"
    assert sanitize_name("a\x00b<c>.txt") == "a_b_c_.txt"
    src = tmp_path / "in"
    src.mkdir()
    (src / "faq.txt").write_text("问：退货？\n答：30 天。", encoding="utf-8")
    dest = tmp_path / "uploads"
    first, _ = store_uploads([str(src / "faq.txt")], dest, "zh")
    second, _ = store_uploads([str(src / "faq.txt")], dest, "zh")
    assert Path(first[0]).name == "faq.txt" and Path(second[0]).name == "faq-1.txt"
    many, problems = store_uploads([str(src / "faq.txt")] * 25, dest, "zh")
    assert many == [] and "上限" in problems[0]


def test_panel_follows_training_events(tmp_path: Path) -> None:
    w = EventWriter(tmp_path)
    for step in (1, 2):
        w.emit("train", "progress", step=step, total=10, loss=2.0 / step, eta_s=80, tokens_per_s=100.0)
    w.emit("train", "metric", step=2, total=10, eval_loss=1.5)
    events = read_events(tmp_path)
    rows = loss_rows(events)
    assert [(r["step"], r["series"]) for r in rows] == [(1, "train"), (2, "train"), (2, "held-out")]
    assert [r["series"] for r in loss_rows(events, "zh")] == ["训练集", "训练集", "验证集"]
    assert "2/10" in progress_html(events, "en") and "width:20%" in progress_html(events, "en")
    p = panel(tmp_path, "zh")
    assert p["stage"] == "train" and "训练" in p["stages"]


def test_stage_tracker_marks_done_running_error() -> None:
    html = stage_tracker_html("train", "error", "en")
    assert html.count("tp-done") == 2 and "tp-error" in html and html.count("tp-todo") == 3


def test_auth_rules(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("TUNEPILOT_AUTH", raising=False)
    assert parse_auth(None) is None
    assert parse_auth("alice:s3cret") == ("alice", "s3cret")
    monkeypatch.setenv("TUNEPILOT_AUTH", "bob:pw")
    assert parse_auth(None) == ("bob", "pw")
    monkeypatch.delenv("TUNEPILOT_AUTH")
    assert main(["ui", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "without a password" in err and "--auth" in err
    assert main(["ui", "--host", "0.0.0.0", "--auth", "nocolon"]) == 2


def test_chat_markdown_escapes_html_but_leaves_code_alone() -> None:
    from ui.view import safe_markdown

    out = safe_markdown("a <img src=x onerror=alert(1)> `<b>` b\n```\nx<y & z\n```\nafter <i>")
    assert "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "`<b>`" in out and "x<y & z" in out and out.endswith("after &lt;i&gt;")


def test_errors_name_files_not_server_folders() -> None:
    from ui.view import short_where

    assert short_where("/srv/runs/uploads/abc/broken.pdf", "/srv/runs/uploads/abc/broken.pdf") == "broken.pdf"
    assert short_where("/srv/u/a b/faq.csv:12", "/srv/u/a b/faq.csv") == "faq.csv:12"
    assert short_where("row 3", "/srv/x.csv") == "row 3"


def test_each_browser_gets_its_own_thread_and_the_loss_plot_is_typed() -> None:
    from ui.app import loss_frame, new_thread_id

    a, b = new_thread_id(""), new_thread_id(None)
    assert a != b and len(a) == 24
    assert new_thread_id(a) == a
    assert new_thread_id("../../etc") != "../../etc"
    assert loss_frame([]) is None
    df = loss_frame([{"step": 1, "loss": 2.5, "series": "train"}])
    assert str(df["step"].dtype) == "int64" and str(df["loss"].dtype) == "float64"


def test_tool_steps_get_a_titled_status_box() -> None:
    from ui.view import step_metadata

    ok = step_metadata("plan", "Plan: LORA on demo (cpu)…", "en")
    assert ok == {"title": "🧮 Plan · done", "status": "done"}
    bad = step_metadata("convert", "出错了：文件不存在", "zh")
    assert bad["title"] == "📄 数据集 · 失败"
    # starting a training is not finishing it: the progress panel says when it is done
    assert step_metadata("train", "训练已开始", "zh")["title"].endswith("训练 · 已开始")


def test_restarted_page_shows_attachments_and_hides_what_it_sent_itself(runs_dir: Path) -> None:
    from agent.session import AgentSession
    from ui.app import ATTACHED, BY_PAGE, _chat_view

    db = runs_dir / "conversations.sqlite"
    first = AgentSession("page-restart", db_path=db)
    first.send("帮我微调一个客服机器人", meta={ATTACHED: ["常见问题.docx", "价格表.xlsx"]})
    first.send("进度", meta={BY_PAGE: True})
    shown = _chat_view(AgentSession("page-restart", db_path=db))  # a new process, same conversation file
    users = [m["content"] for m in shown if m["role"] == "user"]
    assert len(users) == 1 and "📎 常见问题.docx" in users[0] and "📎 价格表.xlsx" in users[0]
    assert not any(m["content"].strip() == "进度" for m in shown)
    assert sum(m["role"] == "assistant" for m in shown) >= 2  # the replies to both are still there


def test_the_panel_says_when_the_model_server_died(tmp_path: Path) -> None:
    import json
    import os
    import subprocess

    from ui.view import server_html

    assert server_html(tmp_path, "zh") == ""  # never deployed, or stopped on purpose (serve.json removed)
    serve = tmp_path / "serve.json"
    serve.write_text(json.dumps({"pid": os.getpid(), "base_url": "http://127.0.0.1:8011/v1", "api_key": "sk-x"}))
    up = server_html(tmp_path, "zh")
    assert "运行中" in up and "http://127.0.0.1:8011/v1" in up and "sk-x" not in up
    gone = subprocess.Popen(["true"])
    gone.wait()
    serve.write_text(json.dumps({"pid": gone.pid, "base_url": "http://127.0.0.1:8011/v1"}))
    assert "意外停止" in server_html(tmp_path, "zh") and "重新部署" in server_html(tmp_path, "zh")
    assert "stopped unexpectedly" in panel(tmp_path, "en")["stages"]
    serve.write_text("{torn")
    assert server_html(tmp_path, "en") == ""


def test_runs_list_reads_where_each_run_stands_in_the_page_language(tmp_path: Path) -> None:
    from ui.view import run_standing

    run = tmp_path / "r1"
    w = EventWriter(run)
    w.emit("data", "done", "converted")
    assert run_standing(run, "zh") == ("数据", "完成")
    w.emit("train", "start", step=0, total=10)
    w.emit("train", "progress", step=3, total=10, loss=1.0)
    # no training process is alive and no final event: the training was interrupted
    assert run_standing(run, "zh") == ("训练", "已中断")
    assert run_standing(run, "en") == ("train", "interrupted")
    w.emit("train", "done", step=10, total=10)
    assert run_standing(run, "zh") == ("训练", "完成")
    assert run_standing(tmp_path / "gone", "en") == ("data", "to do")


def test_a_run_that_is_training_cannot_be_deleted(runs_dir: Path) -> None:
    import os

    from tools.errors import InputError
    from tools.runs import RunIndex

    idx = RunIndex()
    rec = idx.create("微调客服助手")
    (Path(rec.path) / "train.pid").write_text(f"{os.getpid()}\n")  # a live training process
    EventWriter(Path(rec.path)).emit("train", "start", step=0, total=10)
    with pytest.raises(InputError, match="training right now"):
        idx.delete(rec.id)
    assert Path(rec.path).is_dir() and idx.get(rec.id).id == rec.id  # nothing removed
    (Path(rec.path) / "train.pid").unlink()
    idx.delete(rec.id)
    assert not Path(rec.path).exists()


def test_plan_panel_in_the_page_language_and_for_an_old_plan_json(tmp_path: Path) -> None:
    import json

    from tests.tools.planner_fixtures.machines import MACHINES, MODELS
    from tools.planner import PlanRequest, plan_training
    from ui.view import plan_markdown

    plan = plan_training(PlanRequest(model=MODELS["7B"], hardware=MACHINES["T4-16GB"]))
    data = plan.model_dump(mode="json")
    (tmp_path / "plan.json").write_text(json.dumps(data), encoding="utf-8")
    zh, en = panel(tmp_path, "zh")["plan"], panel(tmp_path, "en")["plan"]
    assert "批大小" in zh and "显存：估算" in zh and f"- {plan.reasons_zh[0]}" in zh and "batch" not in zh
    assert "batch" in en and "memory:" in en and f"- {plan.reasons[0]}" in en and not re.search(r"[\u4e00-\u9fff]", en)
    del data["reasons_zh"]  # a plan.json written before the reasons were in Chinese
    (tmp_path / "plan.json").write_text(json.dumps(data), encoding="utf-8")
    old = plan_markdown(tmp_path, "zh")
    assert "批大小" in old and f"- {plan.reasons[0]}" in old  # Chinese labels, the reasons as written
