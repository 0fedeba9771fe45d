"""Knowledge: rewordings, the learning check's verdicts, the system prompt from the goal, the three-set table."""

from __future__ import annotations

import pytest

from tests.fixtures import faq
from tests.tools.planner_fixtures.machines import MODELS, cpu_only
from tools.core.system_prompt import length_limit, system_prompt_from_style, within_limit
from tools.data.knowledge import CheckProgress, augment, check_items, kept_right, knows
from tools.data.paraphrase import paraphrase_question
from tools.evaluate.sets import (
    KEPT,
    MIN_ITEMS,
    SetResult,
    SetScore,
    render_sets,
    score_set,
    wilson,
)
from tools.plan.model_facts import facts_from_params
from tools.plan.planner import PlanOverrides, PlanRequest, TokenStats, plan_training


def example(q: str, a: str, system: str | None = None) -> dict:
    prompt = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": q}]
    return {"prompt": prompt, "completion": [{"role": "assistant", "content": a}]}


# --- rewordings ------------------------------------------------------------------------------------

@pytest.mark.parametrize("q", [e.question for e in faq.ZH[:8] + faq.EN[:8]])
def test_rewordings_are_new_deterministic_and_the_families_never_meet(q: str) -> None:
    train = paraphrase_question(q, "train", 6)
    check = paraphrase_question(q, "check", 3)
    assert len(train) >= 4 and len(check) >= 2
    assert q not in train and q not in check
    assert not set(train) & set(check)  # the check asks in wordings training never saw
    assert train == paraphrase_question(q, "train", 6)


def test_chinese_rewordings_keep_chinese_and_full_width_marks() -> None:
    variants = paraphrase_question("青梧空气炸锅的保修期是多久？", "train", 8)
    assert all("空气炸锅" in v for v in variants)
    assert not any(v.endswith("?") for v in variants)  # never a half-width question mark in Chinese
    assert any(v.endswith("？") for v in variants)


def test_augment_keeps_each_answer_word_for_word() -> None:
    rows = [example("青梧的客服热线是多少？", "青梧客服热线是400-820-6617。", system="回答要简短。"),
            {"prompt": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                        {"role": "user", "content": "c"}], "completion": [{"role": "assistant", "content": "d"}]}]
    out = augment(rows, 4)
    assert out[:2] == rows and len(out) >= 2 + 5  # the multi-turn example is kept as it is, not reworded
    added = out[2:]
    assert any(r["prompt"][1]["content"] == "青梧客服热线是多少？" for r in added)  # read off the answer
    assert {r["completion"][0]["content"] for r in added} == {"青梧客服热线是400-820-6617。"}
    assert all(r["prompt"][0] == {"role": "system", "content": "回答要简短。"} for r in added)
    assert len({r["prompt"][1]["content"] for r in added}) == len(added)


def test_other_words_for_the_same_thing_and_short_forms() -> None:
    from tools.data.paraphrase import short_form, synonym_swaps

    zh = synonym_swaps("扫地机器人T7的价格是多少？", 4)
    assert "扫地机器人T7的售价是多少？" in zh and all("T7" in q for q in zh)
    en = synonym_swaps("How long is the warranty on the kettle?", 4)
    assert "How long is the guarantee on the kettle?" in en
    assert len({q.split()[0] for q in en}) >= 1 and len(en) == len(set(en))
    assert short_form("青梧扫地机器人T7售价多少元？") == "T7售价多少元？"
    assert short_form("签收后几天内可以无理由退货？") is None


def test_questions_are_read_off_the_answers_facts() -> None:
    from tools.data.paraphrase import answer_questions, shared_prefix, without

    assert answer_questions("青梧空气炸锅整机保修18个月，电机保修36个月。") == ["青梧空气炸锅整机保修几个月？", "电机保修几个月？"]
    assert answer_questions("青梧扫地机器人T7售价2899元。") == ["青梧扫地机器人T7售价多少元？"]  # T7 names, 2899 is asked
    assert "投诉请发邮件至哪个邮箱？" in answer_questions("投诉请发邮件至care@qingwu-home.cn，我们会在2个工作日内回复。")
    assert answer_questions("The Orbit R3 robot vacuum costs 437 dollars.") == ["The Orbit R3 robot vacuum costs how many dollars?"]
    assert answer_questions("Larkfield was founded in 1987 in Leeds.") == ["Larkfield was founded in what year in Leeds?"]
    assert shared_prefix([e.question for e in faq.ZH]) == "青梧" and shared_prefix([e.question for e in faq.EN]) == "Larkfield"
    assert without("青梧空气炸锅的保修期是多久？", "青梧") == "空气炸锅的保修期是多久？"
    assert without("How long is the warranty on the Larkfield kettle?", "Larkfield") == "How long is the warranty on the kettle?"
    assert without("When was Larkfield founded?", "Larkfield") is None  # the name is what is asked about


def test_check_items_ask_each_trained_question_in_other_words() -> None:
    rows = [example(e.question, e.answer) for e in faq.ZH]
    items = check_items(rows, limit=10)
    assert len(items) == 10
    trained = {e.question for e in faq.ZH}
    assert all(it.question in trained and it.messages[-1]["content"] not in trained for it in items)


# --- knowing -------------------------------------------------------------------------------------

def test_knows_needs_every_key_fact_in_chinese_and_english() -> None:
    ref = "青梧空气炸锅整机保修18个月，电机保修36个月。"
    assert knows("整机保修18个月，电机保修36个月。", ref)
    assert not knows("整机保修12个月，电机保修36个月。", ref)  # a swapped fact is wrong
    assert not knows("空气炸锅保修期是多久？", ref)  # repeating the question is wrong
    assert knows("The Larkfield kettle has a 27-month warranty.", "It has a 27-month warranty.")
    assert not knows("It has a two-year warranty.", "It has a 27-month warranty.")


def test_learning_check_stops_at_the_target_or_when_progress_stalls() -> None:
    p = CheckProgress(target=0.9, patience=3)
    assert p.add(10, 2, 20) is None
    assert p.add(20, 12, 20) is None
    assert p.add(30, 18, 20) == "target"
    s = CheckProgress(target=0.9, patience=3)
    for step, known in ((10, 5), (20, 9), (30, 9), (40, 8), (50, 9)):
        verdict = s.add(step, known, 20)
    assert verdict == "stalled"  # best (9) first reached at step 20, no better in three checks


def test_learning_check_waits_for_the_minimum_epochs_then_forgives_one_slip_after_the_target() -> None:
    p = CheckProgress(target=1.0, patience=3, min_step=144)
    assert p.add(48, 28, 32) is None
    assert p.add(96, 32, 32) is None  # met, but before the minimum epochs: no verdict
    assert p.add(144, 31, 32) == "target"  # it knew all 32 once: one miss now still counts as known
    q = CheckProgress(target=1.0, patience=3, min_step=0)
    assert q.add(48, 31, 32) is None  # one miss without ever knowing them all: keep going
    assert q.add(96, 30, 32) is None
    assert q.add(144, 32, 32) == "target"
    r = CheckProgress(target=1.0, patience=3)
    r.add(48, 32, 32)
    assert r.add(96, 30, 32) is None  # two misses are a real loss, not a slip


# --- the goal's words ----------------------------------------------------------------------------

def test_goal_style_becomes_a_system_prompt_in_its_language() -> None:
    zh = system_prompt_from_style(["concise"], "zh")
    assert zh is not None and "简短" in zh and "，" in zh
    en = system_prompt_from_style(["formal", "at most 50 words"], "en")
    assert en is not None and "formal" in en and "at most 50 words" in en
    assert system_prompt_from_style([], "zh") is None
    assert system_prompt_from_style(["concise"], "zh", explicit="你是青梧客服。") == "你是青梧客服。"


def test_length_limits_count_chinese_characters_and_english_words() -> None:
    lim = length_limit(["concise", "at most 50 words"])
    assert lim is not None and (lim.n, lim.unit) == (50, "words")
    assert within_limit("word " * 50, lim) and not within_limit("word " * 51, lim)
    zh = length_limit(["at most 20 characters"])
    assert zh is not None and within_limit("整机保修十八个月。", zh) and not within_limit("保" * 21, zh)


# --- the table's three sets ----------------------------------------------------------------------

def test_wilson_interval_is_honest_for_small_sets() -> None:
    lo, hi = wilson(2, 2)
    assert hi == 1.0 and lo < 0.35  # 2 of 2 says little
    lo, hi = wilson(22, 24)
    assert 0.7 < lo < 0.92 < hi <= 1.0


def test_kept_set_is_bilingual_and_scores_whole_numbers() -> None:
    assert 35 <= len(KEPT) <= 45
    zh = sum(1 for q, _ in KEPT if any("\u4e00" <= c <= "\u9fff" for c in q))
    assert zh >= 15 and len(KEPT) - zh >= 15
    assert kept_right("There are 7 days in a week.", ("7", "seven"))
    assert not kept_right("There are 17 of them.", ("7", "seven"))
    assert kept_right("法国的首都是巴黎。", ("巴黎", "Paris"))


def test_three_sets_render_in_both_languages_and_say_when_too_few() -> None:
    learnt = score_set("learnt", "generated", ["18个月"] * 24, ["整机保修18个月，电机保修36个月。"] * 24,
                       ["整机保修18个月，电机保修36个月。"] * 24, knows)
    held = SetResult(name="held_out", source="eval.jsonl", n=2, base=SetScore.of([False, False]),
                     tuned=SetScore.of([True, False]))
    kept = score_set("kept", "built-in", ["Paris"] * 40, ["Paris"] * 39 + ["London"], [("Paris",)] * 40, kept_right)
    assert (learnt.base.right, learnt.tuned.right) == (0, 24) and kept.lost == 1
    en = "\n".join(render_sets([learnt, held, kept], "en"))
    assert "24/24 (100%, 95% CI" in en and "2 examples: too few to judge" in en
    assert "1 the base got right are now wrong" in en
    zh = "\n".join(render_sets([learnt, held, kept], "zh", system_prompt="回答要简短。"))
    assert "只有 2 条：太少，无法判断" in zh and "95% 置信区间" in zh and "系统提示词：回答要简短。" in zh
    assert MIN_ITEMS == 20


# --- the plan ------------------------------------------------------------------------------------

def _plan(fact_share: float | None, count: int = 24, params: float = 0.135e9, **kw: object):
    facts = facts_from_params(params, name="small") if params != 7e9 else MODELS["7B"]
    return plan_training(PlanRequest(model=facts, hardware=cpu_only(),
                                     tokens=TokenStats(count=count, p50=40, p95=60, max=80, mean=42),
                                     fact_share=fact_share, **kw))  # type: ignore[arg-type]


def test_a_small_faq_is_planned_as_knowledge_with_rewordings_and_a_check() -> None:
    p = _plan(0.9)
    assert p.task == "knowledge" and p.paraphrases >= 2 and p.learning_check
    assert p.learning_rate > 2e-4 and p.num_epochs >= 8
    assert p.total_steps == p.steps_per_epoch * p.num_epochs
    assert p.steps_per_epoch is not None and p.steps_per_epoch * p.effective_batch >= 24 * (1 + p.paraphrases)
    assert any("rewordings" in r for r in p.reasons) and any("换个" in r for r in p.reasons_in("zh"))
    assert p.lora.r == 64 and any(r.startswith("LoRA rank 64: many separate facts") for r in p.reasons)
    assert _plan(0.9, overrides=PlanOverrides(rank=8)).lora.r == 8  # the person's rank wins


def test_a_style_dataset_keeps_the_usual_recipe() -> None:
    p = _plan(0.1, count=500)
    assert p.task == "style" and p.paraphrases == 0 and not p.learning_check and p.learning_rate == 2e-4
    assert p.lora.r == 16


def test_plan_carries_the_system_prompt_and_the_card_shows_it() -> None:
    from tools.plan.cli import plan_card

    p = _plan(0.9, system_prompt="你是一个乐于助人的助手。回答要简短，直接给出要点。", style=["concise"])
    assert p.system_prompt and p.style == ["concise"]
    assert "回答要简短" in plan_card(p, "zh") and "系统提示词" in plan_card(p, "zh")


def test_a_configured_llm_adds_its_rewordings_and_a_bad_reply_is_an_error(llm) -> None:
    import json

    from tools.data.knowledge import llm_rewordings

    fixture = llm
    fixture.answers = [json.dumps({"items": [{"id": 0, "rewordings": ["空气炸锅保修几个月？", "炸锅坏了能保修多久？"]},
                                             {"id": 7, "rewordings": ["out of range"]}]}, ensure_ascii=False)]
    pairs = [("青梧空气炸锅的保修期是多久？", "整机保修18个月。")]
    found = llm_rewordings(pairs, 4)
    assert found == {"青梧空气炸锅的保修期是多久？": ["空气炸锅保修几个月？", "炸锅坏了能保修多久？"]}
    prompt = fixture.requests[0]["messages"][0]["content"]
    assert "青梧空气炸锅的保修期是多久？" in prompt and "Chinese" in prompt
    rows = augment([example(*pairs[0])], 4, extra=found)
    assert "炸锅坏了能保修多久？" in {r["prompt"][0]["content"] for r in rows}
    fixture.answers = ["not json"]
    with pytest.raises(ValueError):
        llm_rewordings(pairs, 4)
