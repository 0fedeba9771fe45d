"""The page's pure converters and guards, without a server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.core.events import EventWriter, read_events
from tools.core.messages import said, say
from tunepilot.cli import main
from ui.cli import parse_auth
from ui.i18n import LABELS
from ui.uploads import sanitize_name, store_uploads
from ui.view import answer_text, loss_rows, panel, progress_html, safe_text, stage_tracker_html


def test_every_label_has_both_languages() -> None:
    for key, entry in LABELS.items():
        assert entry.get("en") and entry.get("zh"), key
    assert say("page.too_many_files", "zh", n=30, limit=20).startswith("一次上传")
    assert len(say("page.stages", "zh").split(",")) == len(say("page.stages", "en").split(",")) == 6
    assert len(say("page.dataset_cols", "zh").split(",")) == len(say("page.dataset_cols", "en").split(",")) == 7


def test_html_in_documents_and_answers_is_text() -> None:
    assert safe_text("<script>alert(1)</script> 你好") == "&lt;script&gt;alert(1)&lt;/script&gt; 你好"


def test_an_answer_that_ended_without_text_says_so() -> None:
    assert answer_text("", "zh") == "_（模型没有输出任何文字就结束了回答）_"
    assert answer_text(" \n", "en") == "_(the model ended its answer without any text)_"
    assert answer_text("", "en", done=False) == ""  # still streaming: nothing to say yet
    assert answer_text("<b>好</b>", "zh") == "&lt;b&gt;好&lt;/b&gt;"


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
    assert (src / "faq.txt").exists()  # a file outside Gradio's upload folder is never removed


def test_long_and_spoofed_names_keep_their_real_extension() -> None:
    long = "售后常见问题" * 40 + ".xlsx"
    name = sanitize_name(long)
    assert len(name) == 150 and name.endswith(".xlsx") and name.startswith("售后常见问题")
    # a right-to-left override would show "invoice\u202excod.exe" as "invoiceexe.docx"
    assert sanitize_name("invoice\u202excod.exe") == "invoicexcod.exe"
    assert sanitize_name("\u2067报告\u2069.pdf\u200f") == "报告.pdf"


def test_gradio_temp_copies_go_once_stored_or_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ui.uploads as uploads

    temp = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(temp))
    (temp / "h1").mkdir(parents=True)
    (temp / "h2").mkdir()
    ok, big = temp / "h1" / "faq.txt", temp / "h2" / "huge.txt"
    ok.write_text("问：退货？\n答：30 天。", encoding="utf-8")
    with big.open("wb") as fh:
        fh.truncate(int(2.1e8))  # 210 MB (sparse), over the 200 MB cap
    stored, problems = store_uploads([str(ok), str(big)], tmp_path / "uploads", "en")
    assert [Path(p).name for p in stored] == ["faq.txt"] and "huge.txt is too big" in problems[0]
    assert not ok.exists() and not big.exists() and list(temp.iterdir()) == []
    assert uploads.MAX_FILE_MB == 200


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


def test_learning_check_is_a_second_line_beside_the_loss(tmp_path: Path) -> None:
    w = EventWriter(tmp_path)
    w.emit("train", "progress", step=15, total=150, loss=1.2, eta_s=600, tokens_per_s=100.0)
    w.emit("train", "metric", "knows 9 of 24", step=15, total=150, known=9, asked=24, verdict=None)
    w.emit("train", "progress", step=30, total=150, loss=0.4, eta_s=500, tokens_per_s=100.0)
    w.emit("train", "metric", "knows 22 of 24", step=30, total=150, known=22, asked=24, verdict="target")
    events = read_events(tmp_path)
    en, zh = progress_html(events, "en"), progress_html(events, "zh")
    assert "knows 22 of 24 trained questions asked in other words · stopped: the target is met" in en
    assert "训练过的 24 个问题答对 22 个 · 已停止：达到目标" in zh
    share = [r for r in loss_rows(events, "en") if r["series"].startswith("knows")]
    assert [(r["step"], round(r["loss"], 3)) for r in share] == [(15, 0.375), (30, 0.917)]


def test_stage_tracker_marks_done_running_error() -> None:
    html = stage_tracker_html("train", "failed", "en")
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
    from tools.data.schema import short_where

    assert short_where("/srv/runs/uploads/abc/broken.pdf", "/srv/runs/uploads/abc/broken.pdf") == "broken.pdf"
    assert short_where("/srv/u/a b/faq.csv:12", "/srv/u/a b/faq.csv") == "faq.csv:12"
    assert short_where("row 3", "/srv/x.csv") == "row 3"


def test_each_browser_gets_its_own_thread_and_the_loss_plot_is_typed() -> None:
    from ui.conversations import new_thread_id
    from ui.run_panel import loss_frame

    a, b = new_thread_id(""), new_thread_id(None)
    assert a != b and len(a) == 24
    assert new_thread_id(a) == a
    assert new_thread_id("../../etc") != "../../etc"
    assert loss_frame([]) is None
    df = loss_frame([{"step": 1, "loss": 2.5, "series": "train"}])
    assert str(df["step"].dtype) == "int64" and str(df["loss"].dtype) == "float64"


def test_tool_steps_get_a_titled_status_box() -> None:
    from ui.view import step_metadata

    ok = step_metadata("plan", "en")
    assert ok == {"title": "🧮 Plan · done", "status": "done"}
    bad = step_metadata("convert", "zh", failed=True)
    assert bad["title"] == "📄 数据集 · 失败"
    # starting a training is not finishing it: the progress panel says when it is done
    assert step_metadata("train", "zh")["title"].endswith("训练 · 已开始")


def test_restarted_page_shows_attachments_and_hides_what_it_sent_itself(runs_dir: Path) -> None:
    from agent.session import AgentSession
    from ui.agent_chat import ATTACHED, BY_PAGE, _chat_view

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
    import os
    import subprocess

    from tools.serve.record import Deployment, Peer
    from ui.view import server_html

    assert server_html(tmp_path, "zh") == ""  # never deployed, or stopped on purpose (serve.json removed)
    serve = tmp_path / "serve.json"

    def deployed(pid: int, peer: int | None = None, key: str | None = None) -> None:
        dep = Deployment(run_dir=str(tmp_path), pid=pid, host="127.0.0.1", port=8011,
                         base_url="http://127.0.0.1:8011/v1", mode="pair" if peer else "lora",
                         models={"base": "b", "tuned": "t"}, base_model="demo", log="vllm.log", command=["vllm"],
                         started=0.0, api_key=key,
                         peer=Peer(pid=peer, port=8012, base_url="http://127.0.0.1:8012/v1", log="b.log",
                                   command=["vllm"])
                         if peer else None)
        serve.write_text(dep.model_dump_json(), encoding="utf-8")

    deployed(os.getpid(), key="sk-xyz-secret")
    up = server_html(tmp_path, "zh")
    assert "运行中" in up and "http://127.0.0.1:8011/v1" in up and "sk-xyz-secret" not in up
    gone = subprocess.Popen(["true"])
    gone.wait()
    deployed(gone.pid)
    assert "意外停止" in server_html(tmp_path, "zh") and "重新部署" in server_html(tmp_path, "zh")
    # pair mode: the base model's own server gone is the deployment gone too
    deployed(os.getpid(), peer=gone.pid)
    assert "意外停止" in server_html(tmp_path, "zh")
    assert "stopped unexpectedly" in panel(tmp_path, "en")["stages"]
    serve.write_text("{not json", encoding="utf-8")
    assert server_html(tmp_path, "zh") == ""  # a broken record says nothing rather than break the panel
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

    from tools.core.errors import InputError
    from tools.core.runs import RunIndex

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
    from tools.plan.planner import plan_training
    from tools.plan.record import PlanRequest
    from ui.view import plan_markdown

    plan = plan_training(PlanRequest(model=MODELS["7B"], hardware=MACHINES["T4-16GB"]))
    data = plan.model_dump(mode="json")
    (tmp_path / "plan.json").write_text(json.dumps(data), encoding="utf-8")
    zh, en = panel(tmp_path, "zh")["plan"], panel(tmp_path, "en")["plan"]
    assert "批大小" in zh and "显存：估算" in zh and f"- {plan.reasons_in('zh')[0]}" in zh and "batch" not in zh
    assert "batch" in en and "memory:" in en and f"- {plan.reasons[0]}" in en and not re.search(r"[\u4e00-\u9fff]", en)
    from tests.tools.planner_fixtures.machines import cpu_only
    from tools.plan.model_facts import facts_from_params

    cpu_plan = plan_training(PlanRequest(model=facts_from_params("135M"), hardware=cpu_only()))
    (tmp_path / "plan.json").write_text(cpu_plan.model_dump_json(), encoding="utf-8")
    assert "内存：估算" in panel(tmp_path, "zh")["plan"] and "显存" not in panel(tmp_path, "zh")["plan"].split("\n")[1]
    del data["said_reasons"]  # a plan.json written before the reasons were in Chinese
    (tmp_path / "plan.json").write_text(json.dumps(data), encoding="utf-8")
    old = plan_markdown(tmp_path, "zh")
    assert "批大小" in old and f"- {plan.reasons[0]}" in old  # Chinese labels, the reasons as written


def _eval_table():  # type: ignore[no-untyped-def]
    from tools.evaluate.match import EvalRecord
    from tools.evaluate.score import build_table

    rows = [
        ("q1", "退货期限是多久？", "自签收之日起7天内可申请无理由退货。", "一般是30天内可以退货。", "自签收之日起7天内可申请无理由退货。"),
        ("q2", "客服电话是多少？", "客服电话是400-123-4567。", "请联系客服。", "客服电话是400-123-4567。"),
        ("q3", "支持哪些支付方式？", "支持支付宝、微信和银行卡。", "支持支付宝、微信和银行卡。", "支持微信。"),
    ]

    def recs(which: int) -> list[EvalRecord]:
        return [EvalRecord(id=r[0], prompt=r[1], reference=r[2], output=r[which]) for r in rows]

    return build_table(recs(3), recs(4), eval_loss_before=2.0, eval_loss_after=1.0,
                       base_name="base", tuned_name="fine-tuned")


def test_eval_panel_in_the_page_language_and_for_an_old_run(tmp_path: Path) -> None:
    from tools.evaluate.render import write_tables

    assert panel(tmp_path, "zh")["eval"] == ""  # not evaluated yet
    paths = write_tables(_eval_table(), tmp_path / "eval")
    zh, en = panel(tmp_path, "zh")["eval"], panel(tmp_path, "en")["eval"]
    assert en == paths["md"].read_text(encoding="utf-8")  # English: the table as written
    assert zh.startswith("# 微调前后评测对比") and "| 指标 | 微调前 | 微调后 | 变化 | 计算方式 |" in zh
    assert "## 提升最多的样本（按 ROUGE-L）" in zh and "## 退步最多的样本（按 ROUGE-L）" in zh
    assert "| 困惑度 |" in zh and "| 关键事实召回率 |" in zh and "客服电话是400-123-4567。" in zh
    for english in ("Before / after", "Metric", "How", "Most improved", "Most regressed", "Perplexity",
                    "Key-fact", "held-out", "mean over", "Prompt", "Reference", "None."):
        assert english not in zh, english
    # the numbers are the English table's, in the same order
    nums = re.compile(r"[-+]?\d+\.\d+|[▲▼–]")
    assert nums.findall(zh) == nums.findall(en) and "7.39" in zh and "2.72" in zh
    # a run evaluated before table.json existed, or a torn table.json: the table.md as written
    (tmp_path / "eval" / "table.json").write_text("{torn", encoding="utf-8")
    assert panel(tmp_path, "zh")["eval"] == paths["md"].read_text(encoding="utf-8")
    (tmp_path / "eval" / "table.json").unlink()
    assert panel(tmp_path, "zh")["eval"].startswith("# Before / after evaluation")
    # a newer evaluation replaces the cached rendering
    write_tables(_eval_table().model_copy(update={"n_samples": 99}), tmp_path / "eval")
    assert "99 条留出样本" in panel(tmp_path, "zh")["eval"]


def test_dataset_report_in_chinese(tmp_path: Path) -> None:
    import json

    from tools.data.document import issue

    def said(where: str, code: str, **kw: object) -> dict[str, object]:  # as tools.data writes a problem
        return issue(where, code, **kw).model_dump(mode="json")

    up = "/srv/runs/uploads/abc"
    report = {"files": [
        {"source": f"{up}/客服FAQ.docx", "type": "docx", "records_found": 12, "records_kept": 9,
         "dropped": {"section too short": 1, "exact duplicate": 2, "a reason added later": 3}, "errors": []},
        {"source": f"{up}/broken.pdf", "type": "pdf", "records_found": 0, "records_kept": 0, "dropped": {},
         "errors": [said(f"{up}/broken.pdf", "data.not_pdf")]},
        {"source": f"{up}/scan.pdf", "type": "pdf", "records_found": 0, "records_kept": 0, "dropped": {},
         "errors": [said(f"{up}/scan.pdf", "data.pdf_page_unreadable", page=3, detail="KeyError: 'x'"),
                    said(f"{up}/scan.pdf", "data.suppressed", n=21)]},
        {"source": f"{up}/d.jsonl", "type": "jsonl", "records_found": 0, "records_kept": 0, "dropped": {},
         "errors": [said(f"{up}/d.jsonl", "data.jsonl_bad_line", line=2, detail="Expecting value", column=1),
                    {"where": f"{up}/d.jsonl:5", "message": "something new went wrong"}]},
        {"source": f"{up}/empty.txt", "type": "txt", "records_found": 0, "records_kept": 0, "dropped": {},
         "errors": [said(f"{up}/empty.txt", "data.empty")]},
    ]}
    (tmp_path / "data").mkdir()
    report.update(version=1, settings={}, tokens={"tokenizer": "demo"},  # the rest of a data stage's record
                  totals={"files": 5, "files_with_errors": 4, "records_found": 12, "records_kept": 9, "train": 8,
                          "eval": 1})
    (tmp_path / "data" / "report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    zh = {r[0]: r for r in panel(tmp_path, "zh")["dataset"]}
    assert zh["客服FAQ.docx"][1:5] == ["docx", 12, 9, "段落太短 1, 完全重复 2, a reason added later 3"]
    assert zh["broken.pdf"][5] == "broken.pdf：不是 PDF 文件：文件开头不是 %PDF；请检查文件或它的扩展名"
    assert zh["scan.pdf"][5] == "scan.pdf 第 3 页：无法读取这一页的文字（KeyError: 'x'）；scan.pdf：还有 21 个类似的问题未列出"
    assert zh["d.jsonl"][5] == ("d.jsonl:2：这一行不是有效的 JSON（第 1 列：Expecting value）；请修改或删除这一行；"
                                "d.jsonl:5：something new went wrong")  # a report written before codes shows its English
    assert zh["empty.txt"][5] == "empty.txt：文件是空的（0 字节）"
    en = {r[0]: r for r in panel(tmp_path, "en")["dataset"]}
    assert en["客服FAQ.docx"][4] == "section too short 1, exact duplicate 2, a reason added later 3"
    assert en["scan.pdf"][5] == ("scan.pdf page 3: could not read the text of this page (KeyError: 'x'); "
                                 "scan.pdf: 21 more problem(s) like these not listed")
    assert "/srv" not in json.dumps(panel(tmp_path, "zh")["dataset"], ensure_ascii=False)


def test_progress_line_in_chinese_after_the_last_event(tmp_path: Path) -> None:
    w = EventWriter(tmp_path)
    w.emit("train", "progress", "step 10/10 loss 1.4381", step=10, total=10, loss=1.4381, eta_s=0, tokens_per_s=250.0)
    zh = progress_html(read_events(tmp_path), "zh")
    assert "10/10 · loss 1.4381 · 250 tok/s · 剩余 0:00" in zh and "ETA" not in zh
    w.emit("train", "done", "training finished: 10 steps, train loss 1.5012", step=10, total=10, train_loss=1.5012)
    zh, en = progress_html(read_events(tmp_path), "zh"), progress_html(read_events(tmp_path), "en")
    assert "训练完成：共 10 步，训练 loss 1.5012" in zh and "finished" not in zh
    assert "training finished: 10 steps, train loss 1.5012" in en and "ETA 0:00" in en
    assert "训练完成" in panel(tmp_path, "zh")["progress"]


@pytest.mark.parametrize(
    ("kind", "message", "fields", "zh_note", "en_note"),
    [
        ("cancelled", "training cancelled at step 4; the last checkpoint is kept (resume with --resume)", {"step": 4},
         "训练已在第 4 步停止；最近的检查点已保留，可以继续训练", "training cancelled at step 4"),
        ("cancelled", "training interrupted", {}, "训练被中断", "training interrupted"),
        ("error", "", {"oom": True, "said": said("train.oom", detail="CUDA out of memory. Tried to allocate 2.00 GiB")},
         "训练出错：内存不足：CUDA out of memory. Tried to allocate 2.00 GiB",
         "Training failed: out of memory: CUDA out of memory."),
        ("error", "", {"said": said("train.failed", detail="RuntimeError: <boom>")}, "训练出错：RuntimeError: &lt;boom&gt;",
         "Training failed: RuntimeError: &lt;boom&gt;"),
        ("error", "something broke", {}, "训练出错：something broke", "Training failed: something broke"),  # before codes
    ],
)
def test_progress_line_says_how_training_ended(tmp_path: Path, kind: str, message: str, fields: dict,
                                               zh_note: str, en_note: str) -> None:
    w = EventWriter(tmp_path)
    w.emit("train", "progress", step=4, total=10, loss=2.0, eta_s=125, tokens_per_s=99.6)
    w.emit("train", kind, message, total=10, **fields)  # type: ignore[arg-type]
    zh, en = progress_html(read_events(tmp_path), "zh"), progress_html(read_events(tmp_path), "en")
    assert "4/10 · loss 2.0000 · 100 tok/s · 剩余 2:05" in zh and zh_note in zh
    assert en_note in en and "ETA 2:05" in en and not re.search(r"[\u4e00-\u9fff]", en)


def test_a_queued_training_says_it_waits(tmp_path: Path) -> None:
    w = EventWriter(tmp_path)
    w.emit("train", "info", "another training is running on this machine; queued at position 1", queued=1)
    events = read_events(tmp_path)
    assert "排在第 1 位" in progress_html(events, "zh") and "number 1 in line" in progress_html(events, "en")
    w.emit("train", "start", step=0, total=8)
    w.emit("train", "progress", step=1, total=8, loss=2.0)
    assert "1/8" in progress_html(read_events(tmp_path), "zh") and "排队" not in progress_html(read_events(tmp_path), "zh")


def test_an_office_zip_bomb_is_named_in_chinese() -> None:
    import io
    import zipfile

    from tools.data.document import FileLog
    from tools.data.readers.common import MAX_OFFICE_UNPACKED, office_too_big

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b" " * (MAX_OFFICE_UNPACKED + 1))
    flog = FileLog(source="手册.docx")
    assert office_too_big(buf.getvalue(), flog)
    problem = flog.errors[0]
    assert "zip bomb" in problem.message
    assert "压缩炸弹" in problem.shown("zh") and "MiB" in problem.shown("zh") and "手册.docx：" in problem.shown("zh")


def test_a_failed_step_is_marked_by_the_agent_not_guessed_from_its_words(runs_dir: Path, tmp_path: Path) -> None:
    from agent.session import AgentSession
    from ui.agent_chat import _chat_view

    session = AgentSession("failed-step", db_path=runs_dir / "conversations.sqlite")
    session.send("只把这些文件转换成数据集", files=[str(tmp_path / "不存在.pdf")])
    last = _chat_view(session)[-1]  # a failure is shown open, under its step's title, not folded away
    assert "metadata" not in last and last["content"].startswith("**📄 数据集 · 失败**")
    session.send("我的运行记录")
    assert not _chat_view(session)[-1].get("metadata", {}).get("title", "").endswith("失败")


def test_downloads_offer_the_runs_files_that_exist_exports_included(tmp_path: Path) -> None:
    from ui.view import downloads

    assert downloads(None) == [] and downloads(tmp_path) == []
    for rel in ("data/train.jsonl", "adapter.zip", "export/model-q8_0.gguf", "export/Modelfile"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    assert [Path(p).relative_to(tmp_path).as_posix() for p in downloads(tmp_path)] == [
        "data/train.jsonl", "adapter.zip", "export/model-q8_0.gguf", "export/Modelfile"]


def test_the_pairs_table_edits_before_training_and_is_locked_after(tmp_path: Path) -> None:
    """The page's pairs table (ui/pairs.py): an answer changed in the table is saved to the dataset, nothing
    else; once training has started, saving is refused (Chinese page)."""
    import json

    import pandas as pd

    from tools.core.events import EventWriter
    from ui import pairs as pair_table

    rd = tmp_path / "run"
    (rd / "data").mkdir(parents=True)
    rows = [{"messages": [{"role": "user", "content": f"问题{i}？"}, {"role": "assistant", "content": f"答案{i}。"}]}
            for i in range(3)]
    (rd / "data" / "train.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                             encoding="utf-8")
    (rd / "data" / "eval.jsonl").write_text("", encoding="utf-8")
    tick = pair_table.pairs_tick(lambda _t: rd)
    table, save_btn, hint, sig = tick("t", "zh", "")
    assert list(table["value"].columns) == ["#", "问题", "答案"] and save_btn["visible"] and "保存修改" in hint["value"]
    assert tick("t", "zh", sig)[0] == pair_table.gr.update()  # unchanged file: the table is left alone
    frame = table["value"].copy()
    frame.iloc[1, 2] = "新的答案。"
    out = pair_table.save_pairs(lambda _t: rd)("t", "zh", frame)
    assert "修改了 1 个答案" in out[1]
    saved = [json.loads(line)["messages"][1]["content"] for line in (rd / "data" / "train.jsonl").read_text().splitlines()]
    assert saved == ["答案0。", "新的答案。", "答案2。"]
    cleared = pd.DataFrame([[r[0], r[1], ""] for r in frame.values.tolist()], columns=frame.columns)
    assert "至少保留一条" in pair_table.save_pairs(lambda _t: rd)("t", "zh", cleared)[1]
    EventWriter(rd).emit("train", "start", "training")
    assert "不能再修改" in pair_table.save_pairs(lambda _t: rd)("t", "zh", frame)[1]
    assert not tick("t", "zh", "")[1]["visible"]
