"""Corrections from the chat: kept in the run, listed, removed, and made into a follow-up run's data and plan."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from tests.fixtures.runs import SYSTEM, trained_run
from tests.tools.planner_fixtures.machines import cpu_only
from tools.core.errors import InputError
from tools.data.corrections import (
    CORRECTIONS_FILE,
    add_correction,
    follow_up_data,
    load_corrections,
    remove_correction,
)
from tools.plan.planner import plan_training
from tools.plan.record import PlanRequest, TokenStats
from tunepilot.cli import main


def test_corrections_are_kept_listed_and_removed_in_chinese(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    a = add_correction(run, "云岚E5保修几年？", "整车保修3年，电池保修2年。", wrong="整车保修2年。")
    b = add_correction(run, "How far does it go?", "60 km on one charge.")
    assert [c.question for c in load_corrections(run)] == ["云岚E5保修几年？", "How far does it go?"]
    assert load_corrections(run)[0].wrong == "整车保修2年。"
    assert remove_correction(run, a.id).answer == "整车保修3年，电池保修2年。"
    assert [c.id for c in load_corrections(run)] == [b.id]
    with pytest.raises(InputError, match="no correction with the id"):
        remove_correction(run, "nope")
    with pytest.raises(InputError, match="answer is empty"):
        add_correction(run, "问题？", "  ")
    assert len(load_corrections(run)) == 1  # a refused correction changes nothing


def _add_many(run: str, start: int) -> None:
    for i in range(start, start + 40):
        add_correction(Path(run), f"问题{i}？", f"答案{i}。" * 50)


def test_corrections_from_two_writers_at_once_are_all_kept_whole(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    procs = [multiprocessing.get_context("fork").Process(target=_add_many, args=(str(run), s)) for s in (0, 100)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    got = load_corrections(run)
    assert len(got) == 80 and {c.question for c in got} == {f"问题{i}？" for i in [*range(40), *range(100, 140)]}


def test_a_damaged_corrections_file_names_the_line(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    add_correction(run, "q?", "a.")
    with (run / CORRECTIONS_FILE).open("a") as f:
        f.write(json.dumps({"question": "only a question"}) + "\n")
    with pytest.raises(InputError, match=r"line 2 is not a correction.*answer"):
        load_corrections(run)


def test_the_follow_up_data_answers_a_corrected_question_the_corrected_way(tmp_path: Path) -> None:
    run = trained_run(tmp_path / "run1")
    add_correction(run, "云岚E5的保修期是多久？", "整车保修3年。")
    add_correction(run, "充满电要多久？", "充满电需要4小时。")
    n, replaced = follow_up_data(run / "data", load_corrections(run), tmp_path / "data2")
    rows = [json.loads(x) for x in (tmp_path / "data2" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    pairs = {r["messages"][1]["content"]: r["messages"][2]["content"] for r in rows}
    assert (n, replaced) == (4, 1)
    assert pairs["云岚E5的保修期是多久？"] == "整车保修3年。" and "整车保修2年。" not in pairs.values()
    assert pairs["充满电要多久？"] == "充满电需要4小时。"
    assert all(r["messages"][0] == SYSTEM for r in rows)  # the corrections carry the dataset's system prompt
    assert (tmp_path / "data2" / "eval.jsonl").read_text() == (run / "data" / "eval.jsonl").read_text()


def test_a_follow_up_is_planned_from_the_previous_adapter_with_fewer_epochs(tmp_path: Path) -> None:
    from tools.train.follow_up import FollowUpRequest, prepare_follow_up

    run = trained_run(tmp_path / "run1")
    with pytest.raises(InputError, match="no corrections"):
        prepare_follow_up(FollowUpRequest(previous_run=run, run_dir=tmp_path / "run2"))
    add_correction(run, "充满电要多久？", "充满电需要4小时。")
    prep = prepare_follow_up(FollowUpRequest(previous_run=run, run_dir=tmp_path / "run2"))
    previous = json.loads((run / "plan.json").read_text())
    assert prep.plan.init_adapter == str((run / "adapter").resolve())
    assert prep.plan.num_epochs < previous["num_epochs"] and prep.plan.num_epochs >= 3
    assert prep.plan.lora == prep.plan.lora.model_validate(previous["lora"])  # the adapter it starts from fits
    zh = "\n".join(prep.plan.reasons_in("zh"))
    assert "后续训练" in zh and f"{prep.plan.num_epochs} 轮而不是 {previous['num_epochs']} 轮" in zh
    assert f"{previous['num_epochs']} epochs" not in "\n".join(prep.plan.reasons)  # the old epoch reason is gone
    # each correction weighs as much as a knowledge question: reworded in training as every question is
    assert prep.plan.paraphrases == previous["paraphrases"] > 0
    written = json.loads((tmp_path / "run2" / "plan.json").read_text())
    assert written["init_adapter"] == prep.plan.init_adapter
    assert json.loads((tmp_path / "run2" / "follow_up.json").read_text())["corrections"][0]["answer"] == "充满电需要4小时。"
    with pytest.raises(InputError, match="already holds a run"):
        (tmp_path / "run2" / "config.yaml").write_text("{}")
        prepare_follow_up(FollowUpRequest(previous_run=run, run_dir=tmp_path / "run2"))


def test_corrections_of_written_questions_are_reworded_in_the_data(tmp_path: Path) -> None:
    """Questions written from documents get no rewordings in training: a correction gets its rewordings in the
    data instead, as many as a knowledge question gets."""
    from tools.train.follow_up import FollowUpRequest, prepare_follow_up

    run = trained_run(tmp_path / "run1")
    plan = json.loads((run / "plan.json").read_text())
    (run / "plan.json").write_text(json.dumps({**plan, "paraphrases": 0}))
    add_correction(run, "充满电要多久？", "充满电需要4小时。")
    prep = prepare_follow_up(FollowUpRequest(previous_run=run, run_dir=tmp_path / "run2"))
    rows = [json.loads(x) for x in (prep.data_dir / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    asked = [r["messages"][1]["content"] for r in rows if r["messages"][2]["content"] == "充满电需要4小时。"]
    assert len(asked) >= 4 and len(set(asked)) == len(asked) and "充满电要多久？" in asked
    assert any("在数据" in r or "写进数据" in r for r in prep.plan.reasons_in("zh"))


def test_correct_from_the_cli_in_both_languages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = trained_run(tmp_path / "run1")
    assert main(["correct", "--run", str(run), "保修几年？", "整车保修3年。", "--lang", "zh"]) == 0
    assert "已保存" in capsys.readouterr().out
    assert main(["correct", "--run", str(run), "--list"]) == 0
    out = capsys.readouterr().out
    assert "1 corrections" in out and "保修几年？  →  整车保修3年。" in out
    cid = load_corrections(run)[0].id
    assert main(["correct", "--run", str(run), "--remove", cid]) == 0
    assert load_corrections(run) == []
    assert main(["correct", "--run", str(run), "只有问题？"]) == 2
    assert "needs the question and the right answer" in capsys.readouterr().err
    assert main(["train", "--continue", str(run), "--run", str(tmp_path / "run2")]) == 2
    assert "no corrections" in capsys.readouterr().err


@pytest.mark.slow
def test_a_follow_up_with_two_corrections_answers_them_asked_in_other_words(identity_run: Path,
                                                                              tmp_path: Path) -> None:
    """The identity run corrected twice from the CLI (in English and Chinese), the follow-up trained from its
    adapter, then run 1 against run 2 through one vLLM server: the corrected questions, asked in other words,
    are wrong before and right after, and the table keeps the learnt / held-out / kept rows for both."""
    import shutil

    from tools.evaluate.before_after import EvalRequest, evaluate_model
    from tools.plan.model_facts import load_model_facts
    from tools.plan.record import PlanOverrides
    from tools.serve.process import stop_deployment

    run1 = tmp_path / "run1"
    shutil.copytree(identity_run / "adapter", run1 / "adapter")
    shutil.copy(identity_run / "config.yaml", run1 / "config.yaml")
    # the plan the identity run would have had: 8 epochs at the identity run's rate, answers as a style
    plan = plan_training(PlanRequest(model=load_model_facts("demo"), hardware=cpu_only(), task="style",
                                     tokens=TokenStats(count=72, p50=30, p95=40, p99=40, max=40),
                                     overrides=PlanOverrides(epochs=8, learning_rate=1e-3, micro_batch=8,
                                                             effective_batch=8)))
    (run1 / "plan.json").write_text(plan.model_dump_json())
    assert main(["correct", "--run", str(run1), "Where is Acme Labs based?", "Acme Labs is based in Tromsø."]) == 0
    assert main(["correct", "--run", str(run1), "你们的退货期限是几天？", "退货期限是45天。", "--lang", "zh"]) == 0
    run2 = tmp_path / "run2"
    assert main(["train", "--continue", str(run1), "--run", str(run2)]) == 0
    follow = json.loads((run2 / "plan.json").read_text())
    assert follow["init_adapter"] == str((run1 / "adapter").resolve()) and follow["num_epochs"] == 4
    try:
        result = evaluate_model(EvalRequest(run_dir=run1, against=run2, max_samples=6, max_tokens=48,
                                            with_loss=False))
    finally:
        stop_deployment(run1)
    table = json.loads((run1 / "eval" / "against-run2" / "table.json").read_text())
    sets = {s["name"]: s for s in table["sets"]}
    assert list(sets) == ["learnt", "held_out", "kept", "corrected"]
    corrected = [json.loads(x) for x in (run1 / "eval" / "against-run2" / "corrected.jsonl").read_text().splitlines()]
    assert {r["question"] for r in corrected} == {"Where is Acme Labs based?", "你们的退货期限是几天？"}
    assert all(r["prompt"] != r["question"] for r in corrected)  # asked in other words
    assert sets["corrected"]["base"]["right"] == 0, corrected  # run 1 got them wrong
    assert sets["corrected"]["tuned"]["right"] == 2, corrected  # run 2 answers both
    assert sets["learnt"]["tuned"]["right"] >= sets["learnt"]["base"]["right"] - 1  # the identity is not lost
    assert "corrected: your corrections asked in other words" in result.table_md
