"""Metrics: CJK-aware ROUGE-L, sacrebleu BLEU/chrF, exact match, key-fact recall, length, perplexity."""

from __future__ import annotations

import math
import time

import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.core import key_facts as kf
from tools.core import metric_text as mt
from tools.core import metrics as m


def dp_lcs(a: list[str], b: list[str]) -> int:
    """Textbook O(n*m) LCS, to check the bit-parallel one."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


# --- tokenisation and ROUGE-L -------------------------------------------------------


def test_tokenize_splits_cjk_characters_and_keeps_latin_words():
    assert mt.tokenize("我用LoRA微调，3.5版本 Hello-World！") == [
        "我",
        "用",
        "lora",
        "微",
        "调",
        "3",
        "5",
        "版",
        "本",
        "hello",
        "world",
    ]
    assert mt.tokenize("日本語です 한국어") == ["日", "本", "語", "で", "す", "한", "국", "어"]
    assert mt.tokenize("The cat, the HAT.") == ["the", "cat", "the", "hat"]


def test_rouge_l_identical_chinese_is_one():
    assert m.rouge_l("我们的客服电话是400-123-4567。", "我们的客服电话是400-123-4567。") == 1.0


def test_rouge_l_unrelated_chinese_is_low():
    assert m.rouge_l("今天北京的天气晴朗", "猫咪喜欢吃新鲜的鱼") < 0.2
    assert m.rouge_l("退货需要在七天内申请", "我们的营业时间是早九点到晚六点") < 0.2


def test_rouge_l_partial_chinese_overlap_is_in_between():
    score = m.rouge_l("退货请在七天内申请", "退货需要在七天内提出申请")
    # LCS 退货在七天内申请 = 8 chars; P = 8/9, R = 8/12
    assert score == pytest.approx(2 * (8 / 9) * (8 / 12) / (8 / 9 + 8 / 12))
    assert 0.2 < score < 1.0


def test_rouge_l_english_is_word_level():
    # LCS "the cat on the mat" = 5 of 6 words each side
    assert m.rouge_l("the cat sat on the mat", "The cat is on the mat.") == pytest.approx(5 / 6)
    # character overlap does not count at word level
    assert m.rouge_l("cat", "cart") == 0.0


def test_rouge_l_mixed_text_counts_both_scripts():
    assert m.rouge_l("我用 LoRA 微调模型", "我用lora微调模型") == 1.0
    score = m.rouge_l("我用 QLoRA 微调模型", "我用 LoRA 微调模型")
    assert score == pytest.approx(6 / 7)


def test_rouge_l_empty_inputs():
    assert m.rouge_l("", "参考答案") == 0.0
    assert m.rouge_l("回答", "") == 0.0
    assert m.rouge_l("", "") == 1.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from("abcde"), max_size=80), st.lists(st.sampled_from("abcde"), max_size=80))
def test_bit_parallel_lcs_matches_dynamic_programming(a, b):
    assert m.lcs_length(a, b) == dp_lcs(a, b)


def test_lcs_is_fast_on_long_texts():
    a = list("我们的客服电话" * 500)  # 3500 tokens each: 12M cells for the textbook DP
    b = list("客服电话我们的" * 500)
    start = time.perf_counter()
    assert m.lcs_length(a, b) == m.lcs_length(b, a) == 3497
    assert m.lcs_length(a, a) == 3500
    assert time.perf_counter() - start < 2.0
    assert m.lcs_length(a[:140], b[:140]) == dp_lcs(a[:140], b[:140])


# --- BLEU / chrF ---------------------------------------------------------------------


def test_bleu_uses_chinese_tokenizer_for_chinese_references():
    assert m.bleu_tokenizer("我爱北京天安门") == "zh"
    assert m.bleu_tokenizer("The capital of France is Paris.") == "13a"
    assert m.bleu_tokenizer("東京は日本の首都です") == "char"
    assert m.sentence_bleu("我爱北京天安门", "我爱北京天安门") > 99
    # with 13a a Chinese sentence is one "word", so any difference scores ~0; with zh it is graded
    partial = m.sentence_bleu("我爱北京天安门广场", "我爱北京天安门")
    assert sacrebleu.sentence_bleu("我爱北京天安门广场", ["我爱北京天安门"], tokenize="13a").score < 5
    assert partial > 50


def test_corpus_bleu_equals_sacrebleu_zh_on_chinese_and_per_sample_tokenizers_on_mixed():
    hyps = ["我爱北京天安门", "今天天气很好", "请在七天内申请退货"]
    refs = ["我爱北京天安门", "今天天气不好", "退货需要在七天内申请"]
    expected = sacrebleu.corpus_bleu(hyps, [refs], tokenize="zh").score
    assert m.corpus_bleu(hyps, refs) == pytest.approx(expected)
    en_h, en_r = ["the cat sat on the mat today"], ["the cat sat on the mat"]
    mixed = m.corpus_bleu(hyps + en_h, refs + en_r)
    assert 0 < mixed <= 100


def test_chrf_identical_and_different():
    assert m.sentence_chrf("退货需要在七天内申请", "退货需要在七天内申请") == pytest.approx(100.0)
    assert m.sentence_chrf("猫", "退货需要在七天内申请") < 10
    assert m.corpus_chrf(["abc def"], ["abc def"]) == pytest.approx(100.0)


def test_corpus_scores_reject_unequal_lengths():
    with pytest.raises(ValueError):
        m.corpus_bleu(["a"], ["a", "b"])


# --- exact match -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "ref"),
    [
        ("Hello, World!", "hello world"),
        ("你好！", "你好。"),
        ("「重置密码」", "重置密码"),
        ("ＡＢＣ１２３", "abc123"),
        ("  Straße  ", "STRASSE"),
        ("是的，，，", "是的"),
    ],
)
def test_exact_match_normalises(pred, ref):
    assert m.exact_match(pred, ref) == 1.0


def test_exact_match_differs():
    assert m.exact_match("你好", "您好") == 0.0
    assert m.exact_match("3.5", "35 ") == 1.0  # punctuation goes, digits stay in order
    assert m.exact_match("$5", "5") == 0.0  # symbols are kept


# --- key facts ----------------------------------------------------------------------------


def kinds(text: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in kf.extract_facts(text):
        out.setdefault(f.kind, set()).add(f.text)
    return out


def test_key_facts_english():
    ref = (
        "The Eiffel Tower in Paris opened on March 31, 1889. Tickets cost 25.50 euros with a 12% discount; "
        'click "Buy Now" in the OpenAI or NASA app.'
    )
    k = kinds(ref)
    assert k["date"] == {"March 31, 1889"}
    assert k["number"] == {"25.50", "12%"}
    assert k["quoted"] == {"Buy Now"}
    assert {"Eiffel Tower", "Paris", "OpenAI", "NASA"} <= k["entity"]
    assert "March" not in k["entity"] and "The" not in k["entity"]


def test_key_fact_recall_english_after_normalisation():
    ref = "The Eiffel Tower in Paris opened on March 31, 1889 and tickets cost 25.50 euros (12% off)."
    good = "It opened 31 March 1889 in paris; the eiffel tower costs 25.5 euros, 12 % off."
    assert kf.key_fact_recall(good, ref) == 1.0
    partial = kf.key_fact_recall_detail("The Eiffel Tower opened in 1890.", ref)
    assert partial.recall is not None and 0 < partial.recall < 0.5
    assert "Paris" in partial.missing and "March 31, 1889" in partial.missing
    # a number must match whole, not as a substring of another number
    assert kf.key_fact_recall("It costs 125 euros", "It costs 25 euros") == 0.0
    assert kf.key_fact_recall("It costs 1000 euros", "It costs 1,000 euros") == 1.0


def test_key_facts_chinese():
    ref = "客服电话 400-123-4567，自 2024年1月5日 起每天 9:30 开放。请使用「重置密码」功能，详见《用户手册》。支持 LoRA 和 transformers，需要 24GB 显存。"
    k = kinds(ref)
    assert k["date"] == {"2024年1月5日"}
    assert {"400", "123", "4567", "9:30", "24"} <= k["number"]
    assert k["quoted"] == {"重置密码", "用户手册"}
    assert "LoRA" in k["entity"] and "transformers" in k["term"]
    out = "电话是400-123-4567，2024-01-05开始，9:30开放；点重置密码，见用户手册。可用lora和Transformers，24GB显存。"
    assert kf.key_fact_recall(out, ref) == 1.0
    detail = kf.key_fact_recall_detail("请点击重置密码。", ref)
    assert detail.recall == pytest.approx(1 / detail.total)


def test_key_fact_recall_none_without_facts_and_excluded_from_mean():
    assert kf.key_fact_recall("随便说点什么", "好的，我明白了。") is None
    assert kf.key_fact_recall("ok", "yes, it works fine") is None
    assert m.mean([1.0, None, float("nan"), 0.0]) == 0.5
    assert m.mean([None]) is None
    assert m.count_valid([1.0, None, float("nan")]) == 1


# --- length, per-sample, corpus, perplexity --------------------------------------------------


def test_length_ratio_uses_the_same_units():
    assert m.length_ratio("退货七天", "退货需要在七天内申请") == pytest.approx(4 / 10)
    assert m.length_ratio("one two three four", "one two") == 2.0
    assert m.length_ratio("anything", "") is None


def test_score_corpus_means_and_corpus_bleu():
    preds = ["我爱北京天安门", "今天天气很好", "随便"]
    refs = ["我爱北京天安门", "今天天气不好", "好的，我明白了。"]
    c = m.score_corpus(preds, refs)
    per = [m.rouge_l(p, r) for p, r in zip(preds, refs, strict=True)]
    assert c.n == 3
    assert c.rouge_l == pytest.approx(sum(per) / 3)
    assert c.exact_match == pytest.approx(1 / 3)
    assert c.bleu == pytest.approx(sacrebleu.corpus_bleu(preds, [refs], tokenize="zh").score)
    assert c.key_fact_samples == 0 and c.key_fact_recall is None
    assert c.bleu_tokenizers == ["zh"]
    assert m.score_corpus([], []).rouge_l is None


def test_perplexity():
    assert m.perplexity(0.0) == 1.0
    assert m.perplexity(2.0) == pytest.approx(math.e**2)
    assert m.perplexity(1e6) == math.inf
    assert m.perplexity(None) is None


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_metrics_never_raise_and_stay_in_range(pred, ref):
    s = m.score_sample(pred, ref)
    for v in (s.rouge_l, s.exact_match):
        assert 0.0 <= v <= 1.0
    assert s.key_fact_recall is None or 0.0 <= s.key_fact_recall <= 1.0
    assert 0.0 <= s.bleu <= 100.0 and 0.0 <= s.chrf <= 100.0
    assert s.length_ratio is None or s.length_ratio >= 0.0
    c = m.score_corpus([pred, ref], [ref, pred])
    assert c.bleu is not None and 0.0 <= c.bleu <= 100.0
    assert c.chrf is not None and 0.0 <= c.chrf <= 100.0


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40))
def test_identical_texts_score_fully(text):
    s = m.score_sample(text, text)
    assert s.rouge_l == 1.0
    assert s.exact_match == 1.0
    assert s.key_fact_recall in (None, 1.0)


def test_names_with_accented_letters_are_facts() -> None:
    """A place or a name spelt with accents is a key fact like any other: "based in Tromsø" is not answered by
    an answer that names only the company."""
    from tools.core.key_facts import extract_facts, key_fact_recall_detail

    assert [f.text for f in extract_facts("Acme Labs is based in Tromsø.")] == ["Acme Labs", "Tromsø"]
    assert "Café Müller" in [f.text for f in extract_facts("Meet at Café Müller at 9.")]
    assert key_fact_recall_detail("I'm Nova, made by Acme Labs.", "Acme Labs is based in Tromsø.").recall == 0.5
