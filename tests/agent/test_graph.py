"""The agent's graph with the SQLite checkpointer: routes, confirmations, edits and restarts (no LLM)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.session import AgentSession
from tools.core.messages import say


@pytest.fixture
def faq_files(tmp_path: Path) -> list[str]:
    zh = tmp_path / "客服FAQ.txt"
    zh.write_text("".join(f"问：第{i}号产品保修多久？\n答：第{i}号产品保修{i}年。\n\n" for i in range(1, 13)),
                  encoding="utf-8")
    return [str(zh)]


def test_goal_in_chinese_runs_data_and_plan_then_waits(runs_dir: Path, faq_files, demo_model) -> None:
    db = runs_dir / "conv.sqlite"
    s = AgentSession("zh-1", db_path=db)
    turn = s.send("用我们的客服 FAQ 微调一个小模型，回答要简短", files=faq_files)
    text = "\n".join(turn.replies)
    assert "已从 1 个文件生成数据集" in text and "训练 " in text
    assert "方案：LORA" in text
    assert turn.pending is not None and turn.pending.kind == "confirm_train"
    run_dir = turn.state.run_dir
    assert (run_dir / "data" / "train.jsonl").exists() and (run_dir / "plan.json").exists()
    steps = [step for role, _, step in s.steps() if role == "assistant"]
    assert "convert" in steps and "plan" in steps  # the page shows these as collapsible tool steps

    # the process stops; a new one finds the conversation and the pending confirmation
    s2 = AgentSession("zh-1", db_path=db)
    assert s2.pending() is not None
    assert any("客服 FAQ" in text for role, text in s2.history() if role == "user")

    # an edit re-plans and asks again
    turn = s2.send("换成 QLoRA，r=8")
    text = "\n".join(turn.replies)
    assert "QLORA" in text and "r=8" in text
    assert turn.pending is not None and turn.pending.kind == "confirm_train"

    # no: nothing is trained
    turn = s2.send("不要了")
    assert turn.pending is None
    assert not (run_dir / "config.yaml").exists()
    assert turn.replies[-1] == say("agent.declined", "zh")


def test_plan_question_for_a_named_gpu_needs_no_files(runs_dir: Path) -> None:
    s = AgentSession("en-1", db_path=runs_dir / "conv.sqlite")
    turn = s.send("What would you pick for Qwen2.5-7B-Instruct on a 4090?")
    text = "\n".join(turn.replies)
    assert "Plan:" in text and "(cuda)" in text and "23.3 GB" in text  # a 24 GB card, not this CPU
    assert "QLORA" in text or "LORA" in text
    assert turn.pending is None  # a question, not a training request


def test_finetune_without_files_asks_for_them(runs_dir: Path) -> None:
    s = AgentSession("en-2", db_path=runs_dir / "conv.sqlite")
    turn = s.send("Fine-tune a support bot on our FAQs, 24 GB GPU")
    assert turn.pending is None and turn.replies[-1].startswith("Please attach the files to learn from")
    zh = AgentSession("zh-2", db_path=runs_dir / "conv.sqlite").send("帮我微调一个客服机器人")
    assert zh.pending is None and "文件" in zh.replies[-1] and not re.search(r"[A-Za-z]{6,}", zh.replies[-1].replace(
        "JSONL", "").replace("Markdown", ""))


def test_status_and_runs_without_a_run(runs_dir: Path) -> None:
    s = AgentSession("en-3", db_path=runs_dir / "conv.sqlite")
    assert s.send("status").replies == [say("agent.no_run", "en")]
    assert s.send("list my runs").replies == [say("agent.no_runs", "en")]
    assert s.send("我的运行记录").replies == [say("agent.no_runs", "zh")]


def test_bad_file_is_reported_in_plain_words(runs_dir: Path, tmp_path: Path, faq_files) -> None:
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 not really a pdf")
    s = AgentSession("en-4", db_path=runs_dir / "conv.sqlite")
    turn = s.send("Fine-tune the small model on these", files=[*faq_files, str(bad)])
    text = "\n".join(turn.replies)
    assert "broken.pdf" in text and "Traceback" not in text


@pytest.mark.parametrize("kind, lang, expected", [
    ("error", "zh", "训练因错误停止：训练出错：内存不足：CUDA out of memory"),  # why it failed, in their language
    ("error", "en", "Training stopped with an error: training failed: out of memory: CUDA out of memory"),
    ("cancelled", "en", "cancelled"),
])
def test_status_of_a_failed_or_cancelled_training(runs_dir: Path, kind: str, lang: str, expected: str) -> None:
    from tools.core.events import EventWriter
    from tools.core.messages import said
    from tools.core.runs import RunIndex

    rec = RunIndex().create(goal="x")
    (Path(rec.path) / "config.yaml").write_text("model: m\n")
    EventWriter(Path(rec.path)).emit("train", "start", step=0, total=10)
    why = said("train.oom", detail="CUDA out of memory") if kind == "error" else None
    EventWriter(Path(rec.path)).emit("train", kind, "" if why else "stopped", step=3, total=10, said=why)
    s = AgentSession(f"status-{kind}-{lang}", db_path=runs_dir / "conv.sqlite")
    s.graph.update_state(s.config, {"run_id": rec.id, "run_dir": rec.path, "lang": lang}, as_node="help")
    turn = s.send("进度" if lang == "zh" else "status")
    assert turn.replies and expected in turn.replies[-1]


def test_what_a_message_carries_survives_a_new_process(runs_dir: Path) -> None:
    db = runs_dir / "conv.sqlite"
    AgentSession("meta-1", db_path=db).send("帮我微调一个客服机器人", meta={"files": ["常见问题.docx"]})
    again = AgentSession("meta-1", db_path=db)  # a restarted page opens the same SQLite file
    user = [(text, meta) for role, text, _, meta in again.messages() if role == "user"]
    assert user == [("帮我微调一个客服机器人", {"files": ["常见问题.docx"]})]
    assert again.history()[0] == ("user", "帮我微调一个客服机器人")


def test_files_sent_while_the_plan_waits_are_added_not_dropped(runs_dir: Path, faq_files, demo_model,
                                                                tmp_path: Path) -> None:
    s = AgentSession("zh-files-late", db_path=runs_dir / "conv.sqlite")
    first = s.send("用这些 FAQ 微调一个客服助手", files=faq_files)
    assert first.pending is not None and first.pending.kind == "confirm_train"
    more = tmp_path / "门店FAQ.txt"
    more.write_text("".join(f"问：{i}号门店几点开门？\n答：{i}号门店早上{i}点开门。\n\n" for i in range(1, 13)),
                    encoding="utf-8")
    turn = s.send("再加上这个文件", files=[str(more)])
    text = "\n".join(turn.replies)
    assert "新文件" in text and "重新整理数据集" in text  # said what happened to the waiting question
    assert turn.pending is not None and turn.pending.kind == "confirm_train"  # a new plan, asked again
    data = turn.state.run_dir / "data"
    rows = (data / "train.jsonl").read_text(encoding="utf-8") + (data / "eval.jsonl").read_text(encoding="utf-8")
    assert "保修" in rows and "开门" in rows  # both the earlier and the new file are in the dataset


def test_replies_show_no_server_paths(runs_dir: Path) -> None:
    """A file the page stored under runs/uploads/<conversation>/ is named by its name; the report by its run."""
    up = runs_dir / "uploads" / "thread-0123456789" / "坏文件.pdf"
    up.parent.mkdir(parents=True)
    up.write_bytes(b"%PDF-1.4 not really a pdf")
    s = AgentSession("thread-0123456789", db_path=runs_dir / "conv.sqlite")
    reply = "\n".join(s.send("用这个文件微调", files=[str(up)]).replies)
    assert "坏文件.pdf" in reply and "report.json" in reply, reply
    assert str(runs_dir) not in reply and "/uploads/" not in reply, reply


def test_the_pages_buttons_are_typed_answers_not_words(runs_dir: Path, faq_files, demo_model,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.train.launch
    from agent.replies import MESSAGES

    started: list[Path] = []
    monkeypatch.setattr(tools.train.launch, "launch_training", lambda run_dir, **kw: started.append(run_dir) or 4242)
    s = AgentSession("buttons-zh", db_path=runs_dir / "conv.sqlite")
    assert s.answer("approve").replies == [say("agent.nothing_pending", "en")]  # nothing asked yet: nothing happens
    assert s.history() == []
    s.send("用我们的客服 FAQ 微调一个小模型，回答要简短", files=faq_files)
    turn = s.answer("edit", "换成 QLoRA，r=8")  # Edit sends the box's words as the answer
    assert "QLORA" in "\n".join(turn.replies) and turn.pending is not None
    turn = s.answer("decline")
    assert turn.pending is None and turn.replies[-1] == say("agent.declined", "zh") and not started
    assert s.messages()[-2][1] == "取消" and s.messages()[-2][3] == {"action": "decline"}  # shown as the button

    s.send("开始训练")
    assert s.pending() is not None
    turn = s.answer("approve")
    assert turn.pending is None and len(started) == 1
    assert turn.replies[-1].startswith(MESSAGES["train_started"]["zh"].split("{")[0])
    assert s.messages()[-2][1] == "批准"


def test_the_timer_carries_the_journey_on_without_a_message(runs_dir: Path) -> None:
    s = AgentSession("timer", db_path=runs_dir / "conv.sqlite")
    s.send("你好")
    people = [m for m in s.messages() if m[0] == "user"]
    turn = s.carry_on()
    assert turn.replies == [say("agent.no_run", "zh")]  # the status step ran, in the conversation's language
    assert [m for m in s.messages() if m[0] == "user"] == people  # no words were put in the person's mouth


def test_retrain_with_my_corrections_plans_a_follow_up_from_the_run(runs_dir: Path) -> None:
    """"把我改的也训练进去" (or the runs tab's button) plans a follow-up of the conversation's run: a new run of
    its own, from the corrected run's adapter, shown for approval; an edit re-plans the follow-up, not a new run."""
    from tests.fixtures.runs import trained_run
    from tools.core.runs import RunIndex
    from tools.data.corrections import add_correction

    s = AgentSession("zh-fix", db_path=runs_dir / "conv.sqlite")
    rec = RunIndex().create(goal="客服", owner="zh-fix")
    run = trained_run(Path(rec.path))
    s.open_run(rec.id)
    turn = s.send("把我改的也训练进去")
    assert turn.pending is None and say("agent.no_corrections", "zh", run_id=rec.id) in turn.replies[-1]
    add_correction(run, "云岚E5的保修期是多久？", "整车保修3年。")
    turn = s.send("把我改的也训练进去")
    text = "\n".join(turn.replies)
    assert turn.pending is not None and turn.pending.kind == "confirm_train"
    new = turn.state.run_dir
    assert new != run and RunIndex().get(new.name, owner="zh-fix").id == new.name  # the conversation's own run
    assert f"接着运行 {rec.id}" in text and "后续训练" in text and "轮而不是" in text
    assert turn.state.plan["init_adapter"] == str((run / "adapter").resolve())
    turn = s.send("训练 2 轮")  # an edit: still the follow-up, with the person's epochs
    assert turn.pending is not None and turn.state.plan["num_epochs"] == 2
    assert turn.state.plan["init_adapter"] == str((run / "adapter").resolve())
    assert "2 轮：你的设置" in "\n".join(turn.replies)
    s.send("不要了")
    # the runs tab's button means the same, in English for an English conversation
    e = AgentSession("en-fix", db_path=runs_dir / "conv.sqlite")
    rec_en = RunIndex().create(goal="support", owner="en-fix")
    add_correction(trained_run(Path(rec_en.path)), "How long is the warranty?", "Three years.")
    e.send("hello")
    turn = e.follow_up(rec_en.id)
    assert turn.pending is not None and "will continue run" in "\n".join(turn.replies)
    assert turn.state.plan["init_adapter"] == str((Path(rec_en.path) / "adapter").resolve())
    assert e.follow_up(rec_en.id).replies == [say("agent.answer_first", "en")]  # the plan's question is open
