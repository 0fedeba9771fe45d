"""Knowledge: rewordings, the learning check's verdicts, the system prompt from the goal, the three-set table."""

from __future__ import annotations

import re

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
from tools.plan.planner import plan_training
from tools.plan.record import PlanOverrides, PlanRequest, TokenStats


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


# a bakery's FAQ (invented): two cakes whose answers share words, an answer whose topic is not in its question
BAKERY = [
    ("草莓蛋糕多少钱？", "草莓蛋糕6寸168元，8寸228元，需提前1天预订。"),
    ("芒果蛋糕多少钱？", "芒果蛋糕6寸158元，8寸218元，当天可取。"),
    ("可以送货吗？", "3公里内免费配送，超出部分每公里加收5元，配送时间为10:00到20:00。"),
    ("有什么会员活动？", "充值500元送80元，生日当月购买蛋糕享8折。"),
    ("蛋糕能放多久？", "奶油蛋糕冷藏可保存2天，常温下请在4小时内食用。"),
    ("门店在哪里？", "门店位于杭州市西湖区文三路88号，营业时间为8:00到21:00。"),
]
_ASKS = re.compile(r"多少|几|什么|啥|哪|怎么|怎样|如何|谁|多久|多长|多大|吗|么")


def _trained(rows: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in augment(rows, 4):
        out.setdefault(r["completion"][0]["content"], []).append(r["prompt"][-1]["content"])
    return out


def test_chinese_rewordings_ask_once_and_are_never_shared_by_two_entries() -> None:
    rows = [example(q, a) for q, a in BAKERY]
    trained = _trained(rows)
    every = [q for qs in trained.values() for q in qs]
    # a well-formed question asks once: no "价格是多少" → "多少钱是多少", no "怎么收费" → "怎么多少钱"
    assert not [q for q in every if len(_ASKS.findall(re.sub(r"，能告诉我吗？$", "", q))) > 1 and "几点" not in q]
    assert not [q for q in every if "多少钱是多少" in q or "怎么多少钱" in q]
    # the two cakes' "8寸多少元？" would teach one cake's price for the other: each names its cake or is left out
    for cake, other in (("草莓", "芒果"), ("芒果", "草莓")):
        qs = trained[next(a for _, a in BAKERY if a.startswith(cake))]
        assert any("8寸" in q for q in qs)
        assert all(cake in q for q in qs if "寸" in q) and not any(other in q for q in qs)
    by_question: dict[str, set[str]] = {}
    for answer, qs in trained.items():
        for q in qs:
            by_question.setdefault(q, set()).add(answer)
    assert all(len(answers) == 1 for answers in by_question.values())


def test_chinese_entries_are_also_asked_by_the_words_of_their_answers() -> None:
    rows = [example(q, a) for q, a in BAKERY]
    trained = _trained(rows)
    # a person asks the storage question by "冷藏" or "奶油蛋糕", the delivery one by "配送": words of the answer
    assert any("冷藏" in q or "奶油蛋糕" in q for q in trained[BAKERY[4][1]])
    assert any("配送" in q for q in trained[BAKERY[2][1]])
    assert any("充值" in q or "生日" in q for q in trained[BAKERY[3][1]])


def test_the_chinese_check_asks_from_another_angle_than_training() -> None:
    rows = [example(q, a) for q, a in BAKERY]
    items = check_items(rows, by_words=True)
    assert not any(it.by_words for it in check_items(rows))  # an identity set's or corrections' check: templates
    trained = {q for qs in _trained(rows).values() for q in qs}
    assert len(items) == len(BAKERY)
    for it in items:
        asked = it.messages[-1]["content"]
        assert asked not in trained and it.question not in asked
    assert check_items(rows, by_words=True) == items  # seeded: the same check every time
    # the word each check question asks by is held out of training's questions by words for that entry, as a
    # person asks by a word of the answer no trained question used
    from tools.data.knowledge import augment_counted, held_words

    held = held_words(items)
    assert len(held) == len(BAKERY)
    out, counted = augment_counted(rows, 4, held=held)
    _, without_hold = augment_counted(rows, 4)
    assert counted.words < without_hold.words
    from tools.data.angles import Entries, keyword_questions

    entries = Entries(BAKERY)
    for it in items:
        trained = {r["prompt"][-1]["content"] for r in out if r["completion"][0]["content"] == it.reference}
        by_word = [q for q in keyword_questions(it.question, it.reference, entries) if it.word in q]
        assert by_word and not set(by_word) & trained
        assert it.word in it.messages[-1]["content"] and it.word in it.reference + it.question


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

def _plan(fact_share: float | None, count: int = 24, params: float = 0.135e9, tokens: TokenStats | None = None,
          **kw: object):
    facts = facts_from_params(params, name="small") if params != 7e9 else MODELS["7B"]
    return plan_training(PlanRequest(model=facts, hardware=cpu_only(),
                                     tokens=tokens or TokenStats(count=count, p50=40, p95=60, max=80, mean=42),
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


def test_a_chinese_faqs_plan_card_says_it_is_asked_by_its_answers_words(tmp_path) -> None:
    from tools.core.jsonio import write_jsonl
    from tools.plan.data_stats import question_stats

    def messages(q: str, a: str) -> dict:
        return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}

    write_jsonl(tmp_path / "train.jsonl", [messages(q, a) for q, a in BAKERY])
    stats = question_stats(tmp_path / "train.jsonl")
    assert stats["by_words"] >= 1
    tokens = TokenStats(count=len(BAKERY), p50=40, p95=60, p99=70, max=80, mean=40, **stats)
    p = _plan(0.9, tokens=tokens)
    en = next(r for r in p.reasons if "tell an entry apart" in r)
    zh = next(r for r in p.reasons_in("zh") if "区分这一条的词" in r)
    assert "jieba" in en and f"{stats['shared']} 个" in zh
    # an English FAQ's card does not say it
    write_jsonl(tmp_path / "train.jsonl", [messages(e.question, e.answer) for e in faq.EN])
    assert question_stats(tmp_path / "train.jsonl")["by_words"] == 0


def test_a_style_dataset_keeps_the_usual_recipe() -> None:
    p = _plan(0.1, count=500)
    assert p.task == "style" and p.paraphrases == 0 and not p.learning_check and p.learning_rate == 2e-4
    assert p.lora.r == 16


def test_plan_carries_the_system_prompt_and_the_card_shows_it() -> None:
    from tools.plan.card import plan_card

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


def test_the_bundled_model_for_chinese_facts_is_gemma_unless_named(tmp_path, monkeypatch) -> None:
    from tools.core.jsonio import write_jsonl
    from tools.plan.gather import model_for_data

    monkeypatch.delenv("TUNEPILOT_DEFAULT_MODEL", raising=False)

    def data(name: str, pairs: list[tuple[str, str]], meta: dict | None = None):
        folder = tmp_path / name
        write_jsonl(folder / "train.jsonl", [{"messages": [{"role": "user", "content": q},
                                                           {"role": "assistant", "content": a}],
                                              **({"meta": meta} if meta else {})} for q, a in pairs])
        return folder

    model, why = model_for_data(data("zh", BAKERY))
    assert model == "gemma" and why is not None
    assert "Gemma 3 270M" in why.text("en") and "基座模型选用 Gemma 3 270M" in why.text("zh")
    assert model_for_data(data("zh", BAKERY), task="style") == ("demo", None)  # a way of answering, not facts
    assert model_for_data(data("en", [(e.question, e.answer) for e in faq.EN]))[0] == "demo"
    half = BAKERY[:3] + [(e.question, e.answer) for e in faq.EN[:3]]
    assert model_for_data(data("half", half))[0] == "demo"  # not mostly Chinese
    # questions tunepilot wrote from a manual: Gemma was no better there
    assert model_for_data(data("manual", BAKERY, meta={"method": "fact"}))[0] == "demo"
    monkeypatch.setenv("TUNEPILOT_DEFAULT_MODEL", "/models/mine")
    assert model_for_data(data("zh", BAKERY)) == ("/models/mine", None)
