"""The page's pure converters and guards, without a server."""

from __future__ import annotations

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
