"""Before/after evaluation through a real vLLM server (slow tier) and its bad-input paths (fast)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tools.core.metrics import rouge_l
from tools.evaluate.before_after import EvalRequest, evaluate_model
from tools.evaluate.human import record_human_score
from tools.evaluate.match import match_records
from tools.serve.process import stop_deployment
from tunepilot.cli import main


def test_eval_without_data_says_what_to_do(tmp_path: Path, capsys) -> None:
    (tmp_path / "run").mkdir()
    assert main(["eval", "--run", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "eval.jsonl" in err and "tunepilot data" in err


def test_a_questions_file_becomes_the_learnt_set(tmp_path: Path) -> None:
    """The person's own "看家提问": JSONL or CSV of questions with expected answers, Chinese kept as written."""
    from tools.core.errors import InputError
    from tools.evaluate.sets import load_questions

    jl = tmp_path / "看家提问.jsonl"
    jl.write_text('{"question": "空气炸锅保修几个月？", "answer": "整机保修18个月。"}\n'
                  '{"question": "T7扫地机多少钱？", "answer": "售价2899元。"}\n', encoding="utf-8")
    items = load_questions(jl, tmp_path / "q1", system_prompt="回答要简短。")
    assert [it.question for it in items] == ["空气炸锅保修几个月？", "T7扫地机多少钱？"]
    assert items[0].messages[0] == {"role": "system", "content": "回答要简短。"}
    assert items[1].reference == "售价2899元。"
    sheet = tmp_path / "questions.csv"
    sheet.write_text("问题,答案\n退货期限是多久？,签收后15天内可以退货。\n", encoding="utf-8")
    assert load_questions(sheet, tmp_path / "q2")[0].reference == "签收后15天内可以退货。"
    empty = tmp_path / "empty.csv"
    empty.write_text("问题,答案\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_questions(empty, tmp_path / "q3")
    assert "empty.csv" in str(err.value.where) or "empty.csv" in str(err.value)
    with pytest.raises(InputError, match="no such questions file"):
        load_questions(tmp_path / "missing.csv", tmp_path / "q4")


def test_human_scores_are_appended(tmp_path: Path) -> None:
    record_human_score(tmp_path, "3", "tuned", 1)
    record_human_score(tmp_path, "3", "base", -1)
    lines = [json.loads(x) for x in (tmp_path / "eval" / "human.jsonl").read_text().splitlines()]
    assert [(x["id"], x["model"], x["score"]) for x in lines] == [("3", "tuned", 1), ("3", "base", -1)]


def test_votes_on_chat_answers_reach_the_tables_human_row(tmp_path: Path) -> None:
    """👍/👎 given in the page's model chat (ids ``chat-…``) count in an evaluated run's table at once."""
    from tools.core.jsonio import write_jsonl
    from tools.evaluate.render import render_saved, write_tables
    from tools.evaluate.score import load_and_score

    ev = tmp_path / "eval"
    ev.mkdir()
    rows = [{"id": str(i), "prompt": f"问题{i}？", "reference": f"答案是{i}。"} for i in range(3)]
    write_jsonl(ev / "before.jsonl", [{**r, "output": "不知道。"} for r in rows])
    write_jsonl(ev / "after.jsonl", [{**r, "output": r["reference"]} for r in rows])
    write_tables(load_and_score(ev / "before.jsonl", ev / "after.jsonl"), ev)
    assert "👍" not in render_saved(ev, "zh")
    record_human_score(tmp_path, "chat-1a2b3c4d5e", "tuned", 1)
    record_human_score(tmp_path, "chat-1a2b3c4d5e", "base", -1)
    record_human_score(tmp_path, "chat-99", "tuned", -1)
    record_human_score(tmp_path, "chat-99", "tuned", 1)  # changed their mind: the last vote counts
    record_human_score(tmp_path, "2", "tuned", 1)
    table = json.loads((ev / "table.json").read_text(encoding="utf-8"))
    row = next(r for r in table["rows"] if r["name"] == "human_thumbs_up")
    assert (row["before"], row["after"]) == (0.0, 1.0)
    zh = render_saved(ev, "zh")
    assert "人工 👍 比例" in zh and "0👍 / 1👎" in zh and "3👍 / 0👎" in zh
    assert "3👍 / 0👎" in (ev / "table.md").read_text(encoding="utf-8")
    assert "human_thumbs_up" in (ev / "table.csv").read_text(encoding="utf-8-sig")


def _untrained_copy(run: Path, other: Path) -> Path:
    """Another 'fine-tune' of the same base: the run's adapter with every LoRA B zeroed, i.e. the base itself."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(run / "adapter", other / "adapter")
    path = other / "adapter" / "adapter_model.safetensors"
    weights = {k: (v * 0 if "lora_B" in k else v) for k, v in load_file(str(path)).items()}
    save_file(weights, str(path))
    return other


def _adapter(run: Path, base: str) -> Path:
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base}))
    return run


def test_two_runs_compared_must_share_a_base(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from tools.core.errors import InputError
    from tools.evaluate.before_after import _sides

    a, b = _adapter(tmp_path / "a", str(tmp_path / "qwen")), _adapter(tmp_path / "b", str(tmp_path / "smol"))
    dep = SimpleNamespace(loaded_adapters={}, run_dir=str(a))
    with pytest.raises(InputError, match="different base models") as err:
        _sides(a, dep, EvalRequest(run_dir=a, against=b))
    assert "same base model" in (err.value.hint or "")
    with pytest.raises(InputError, match="compared with itself"):
        _sides(a, dep, EvalRequest(run_dir=a, against=a))
    assert _sides(a, dep, EvalRequest(run_dir=a)).out_dir == a / "eval"


def test_a_table_of_two_runs_names_them_in_both_languages() -> None:
    from tools.evaluate.render import render_markdown
    from tools.evaluate.sets import SetResult, SetScore
    from tools.evaluate.table import EvalTable

    score = SetScore.of([True, True, True, False])
    sets = [SetResult(name="kept", source="built-in", n=4, base=score, tuned=score, lost=1)]
    table = EvalTable(n_samples=0, rows=[], improved=[], regressed=[], base_name="run-a", tuned_name="run-b",
                      sets=sets)
    en, zh = render_markdown(table), render_markdown(table, "zh")
    assert "| run-a right | run-b right |" in en and "1 that run-a got right, run-b gets wrong" in en
    assert "| run-a 答对 | run-b 答对 |" in zh and "run-a 答对的题里，run-b 有 1 道答错了" in zh
    assert "Base right" not in en and "基座答对" not in zh


def test_a_follow_up_against_its_run_says_what_each_set_lost_and_has_a_corrected_row() -> None:
    """Run 1 against its follow-up: a trained question run 1 knew and run 2 lost is said on the learnt row too,
    and the corrections asked in other words have their own row, in both languages."""
    from tools.evaluate.render import render_markdown
    from tools.evaluate.sets import SetResult, SetScore
    from tools.evaluate.table import EvalTable

    knew, kept_most = SetScore.of([True, True, True, True]), SetScore.of([True, True, True, False])
    sets = [SetResult(name="learnt", source="generated", n=4, base=knew, tuned=kept_most, lost=1),
            SetResult(name="corrected", source="corrections.jsonl", n=2, base=SetScore.of([False, False]),
                      tuned=SetScore.of([True, True]), gained=2)]
    table = EvalTable(n_samples=0, rows=[], improved=[], regressed=[], base_name="run1", tuned_name="run2",
                      sets=sets)
    en, zh = render_markdown(table), render_markdown(table, "zh")
    learnt_en = next(line for line in en.splitlines() if line.startswith("| learnt"))
    assert "1 that run1 got right, run2 gets wrong" in learnt_en
    corrected = next(line for line in en.splitlines() if line.startswith("| corrected"))
    assert "| 2 | 0/2" in corrected and "2/2" in corrected
    assert "纠正：你纠正过的问题，换个问法再问" in zh and "run1 答对的题里，run2 有 1 道答错了" in zh


@pytest.mark.slow
def test_identity_run_shows_the_gain(identity_run: Path) -> None:
    from tools.serve.adapters import serve_other_run
    from tools.serve.health import list_models
    from tools.serve.record import load_deployment

    other = _untrained_copy(identity_run, identity_run.parent / "other")
    third = _untrained_copy(identity_run, identity_run.parent / "third")
    try:
        record_human_score(identity_run, "0", "tuned", 1)
        # a second run of the same base needs a server that takes adapters: LoRA mode, and the two share one table
        against = evaluate_model(EvalRequest(run_dir=identity_run, against=other, max_tokens=48))
        dep = load_deployment(identity_run)
        assert dep is not None and dep.mode == "lora" and "run-other" in dep.loaded_adapters
        # the run's own table then uses the same server (it has base and fine-tuned side by side: no redeploy)
        result = evaluate_model(EvalRequest(run_dir=identity_run, max_tokens=48))
        # a third adapter joins the running server: no restart
        assert serve_other_run(dep, third) == "run-third"
        again = load_deployment(identity_run)
        assert again is not None and again.pid == dep.pid and "run-third" in list_models(dep.base_url, dep.api_key)
    finally:
        stop_deployment(identity_run)
    vs = json.loads((identity_run / "eval" / "against-other" / "table.json").read_text())
    vs_sets = {s["name"]: s for s in vs["sets"]}
    assert vs["base_name"] == identity_run.name and vs["tuned_name"] == "other"
    assert vs_sets["learnt"]["base"]["right"] > vs_sets["learnt"]["tuned"]["right"]  # the trained run knows more
    assert f"| {identity_run.name} right | other right |" in against.table_md
    assert (identity_run / "eval" / "table.json").exists()  # the run's own before/after table is kept
    assert result.samples == 8
    table = json.loads((identity_run / "eval" / "table.json").read_text())
    sets = {s["name"]: s for s in table["sets"]}
    assert list(sets) == ["learnt", "held_out", "kept"]
    assert sets["held_out"]["n"] == 8 and sets["kept"]["n"] >= 35 and sets["learnt"]["n"] >= 20
    assert sets["learnt"]["tuned"]["right"] > sets["learnt"]["base"]["right"]  # the new name is learnt
    assert "too few to judge" in result.table_md  # 8 held-out examples
    learnt = [json.loads(x) for x in (identity_run / "eval" / "learnt.jsonl").read_text().splitlines()]
    assert len(learnt) == sets["learnt"]["n"] and all(r["prompt"] != r["question"] for r in learnt)
    m = result.metrics
    assert m["rouge_l"]["after"] > m["rouge_l"]["before"]
    assert m["key_fact_recall"]["after"] > m["key_fact_recall"]["before"]
    assert m["eval_loss"]["after"] < m["eval_loss"]["before"]
    ev = identity_run / "eval"
    for name in ("before.jsonl", "after.jsonl", "table.md", "table.csv", "table.json"):
        assert (ev / name).exists(), name
    # the table's numbers can be recomputed from the files
    before, after = match_records(ev / "before.jsonl", ev / "after.jsonl")
    mean_after = sum(rouge_l(r.output, r.reference) for r in after) / len(after)
    assert mean_after == pytest.approx(m["rouge_l"]["after"], abs=1e-6)
    assert all(r.prompt and r.reference for r in before)
    md = (ev / "table.md").read_text()
    assert "Nova" in md  # improved samples shown side by side
    rows = list(csv.reader((ev / "table.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert any("ROUGE" in " ".join(r) for r in rows)


def test_a_length_limit_in_the_goal_gets_its_row_in_both_languages(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A goal that named a limit ("at most 20 characters"): the table counts, before and after, the answers that
    keep it, and says so in English and Chinese. The server's answers are scripted: base rambles, tuned is short."""
    import yaml

    import tools.evaluate.before_after as ba
    from tests.fixtures.runs import trained_run
    from tools.evaluate.render import render_saved

    run = trained_run(tmp_path / "run")
    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    (run / "config.yaml").write_text(yaml.safe_dump({**cfg, "model": "demo", "style": ["at most 20 characters"]},
                                                    allow_unicode=True),
                                     encoding="utf-8")

    class Dep:
        models = {"base": "base", "tuned": "tuned"}
        loaded_adapters: dict[str, str] = {}
        port = 8000

    def answers(dep: object, which: str, prompts: list, max_tokens: int, concurrency: int) -> list[str]:
        return ["这个问题我不太确定，建议您查看说明书或者联系我们的客服人员获取更多信息。" if which == "base"
                else "整车保修2年。" for _ in prompts]

    monkeypatch.setattr(ba, "_side_by_side", lambda run_dir, req, events: Dep())
    monkeypatch.setattr(ba, "generate_answers", answers)
    result = evaluate_model(EvalRequest(run_dir=run, with_loss=False, judge=False))
    table = json.loads((run / "eval" / "table.json").read_text(encoding="utf-8"))
    n = table["limit_base"]["n"]
    assert n == table["limit_tuned"]["n"] > 0
    assert (table["limit_base"]["right"], table["limit_tuned"]["right"]) == (0, n)
    assert f"Length: 0/{n} of base answers and {n}/{n} of fine-tuned answers keep to" in result.table_md
    zh = render_saved(run / "eval", "zh")
    assert f"长度：基座 0/{n}、微调后 {n}/{n} 的回答做到了" in zh, zh
