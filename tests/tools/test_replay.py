"""Replay: the base model's own answers to general questions, trained beside the person's data so that an
identity or FAQ run does not answer every other question with its new facts (tools/data/replay.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.data.replay import (
    REPLAY_EN,
    REPLAY_ZH,
    degenerate,
    replay_examples,
    replay_prompts,
    whole_sentences,
)
from tools.evaluate.sets import KEPT


def _key(q: str) -> str:
    return re.sub(r"[\W_]+", "", q).casefold()


def test_replay_questions_are_bilingual_twins_and_none_is_asked_by_the_kept_set() -> None:
    kept = {_key(q) for q, _ in KEPT}
    assert len(REPLAY_EN) == len(REPLAY_ZH) >= 20
    assert not kept & {_key(q) for q, _ in REPLAY_EN + REPLAY_ZH}  # the kept set still measures unseen questions
    assert all(re.search(r"[\u4e00-\u9fff]", q) for q, _ in REPLAY_ZH)
    assert all(not re.search(r"[\u4e00-\u9fff]", q) for q, _ in REPLAY_EN)
    # twins ask for the same fact: a right English answer is right for its Chinese twin
    pairs = zip(REPLAY_EN, REPLAY_ZH, strict=True)
    assert all(not en_keys or set(en_keys) <= set(zh_keys) for (_, en_keys), (_, zh_keys) in pairs)


def test_replay_prompts_alternate_languages_and_carry_the_runs_system_prompt() -> None:
    rows = replay_prompts(4, "回答要简短。")
    asked = [r["prompt"][-1]["content"] for r in rows]
    assert asked == [REPLAY_EN[0][0], REPLAY_ZH[0][0], REPLAY_EN[1][0], REPLAY_ZH[1][0]]
    assert all(r["prompt"][0] == {"role": "system", "content": "回答要简短。"} for r in rows)
    assert [r["prompt"][-1]["content"] for r in replay_prompts(4, None)] == asked


def test_an_answer_cut_at_the_token_limit_keeps_its_whole_sentences_in_both_languages() -> None:
    assert whole_sentences("Paris is the capital. It has a tow", cut_off=True) == "Paris is the capital."
    assert whole_sentences("罗马是意大利的首都。它有很多古", cut_off=True) == "罗马是意大利的首都。"
    assert whole_sentences("no sentence ends here", cut_off=True) == ""
    assert whole_sentences("no sentence ends here", cut_off=False) == "no sentence ends here"


def test_loops_and_echoes_are_degenerate_and_plain_answers_are_not() -> None:
    assert degenerate("你好！", "你好！")  # the question echoed back
    assert degenerate("水在摄氏多少度结冰？\n\nThe answer is:", "水在摄氏多少度结冰？")
    assert not degenerate("Hello! How can I help you today?", "Hello!")
    assert degenerate("The answer is 8. " * 8, "8加9等于多少？")
    assert degenerate("？" * 40, "一天有多少个小时？")
    assert not degenerate("Rome is the capital of Italy.", "What is the capital of Italy?")
    assert not degenerate("一小时有六十分钟。", "一小时有多少分钟？")


def test_a_wrong_fact_is_never_replayed_and_a_chinese_loop_takes_its_right_english_twin() -> None:
    rows = replay_prompts(12, None)
    asked = [r["prompt"][-1]["content"] for r in rows]
    assert asked[:4] == ["Hello!", "你好！", "Thanks for your help.", "谢谢你的帮助。"]
    assert asked[8:12] == ["What is the capital of Italy?", "意大利的首都是哪里？", "How many minutes are in an hour?",
                           "一小时有多少分钟？"]
    answers = ["Hello! How can I help you today?", "你好！" * 30, "", "不客气，很高兴能帮到你。",
               "I'm doing well.", "我很好。", "Good night, sleep well.", "晚安！", "Il Coriobella, Italy.", "罗马是意大利的首都。",
               "There are 60 minutes in an hour.", "一小时有五分钟。"]
    out = replay_examples(rows, answers, [False] * 12)
    got = {r["prompt"][-1]["content"]: r["completion"][0]["content"] for r in out}
    assert got == {
        "Hello!": "Hello! How can I help you today?",
        "你好！": "Hello! How can I help you today?",  # a loop: its English twin's answer
        "谢谢你的帮助。": "不客气，很高兴能帮到你。",  # its twin said nothing: it stands alone
        "How are you today?": "I'm doing well.", "你今天过得怎么样？": "我很好。",
        "Good night!": "Good night, sleep well.",
        "晚安！": "Good night, sleep well.",  # an echo of the question: its English twin's answer
        "意大利的首都是哪里？": "罗马是意大利的首都。",  # right; the English twin's wrong capital is left out
        "How many minutes are in an hour?": "There are 60 minutes in an hour.",
        "一小时有多少分钟？": "There are 60 minutes in an hour.",  # wrong in Chinese: the right English one
    }


def test_the_worker_keeps_the_replayed_answers_so_a_resumed_run_trains_on_the_same(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.core.events import EventWriter, read_events
    from tools.core.jsonio import iter_jsonl
    from tools.train import replay
    from tools.train.model import load_tokenizer
    from tools.train.record import TrainSettings

    asked: list[list[str]] = []

    def answers(model: object, tok: object, prompts: list, max_new_tokens: int = 64, batch: int = 16) -> list[str]:
        asked.append([p[-1]["content"] for p in prompts])
        long = ("You're welcome. I am always glad to help with anything you need, big or small, at any hour of "
                "the day or night, whether it is a question about science, history, cooking, travel, music, sport, "
                "gardening, money, health or code, and I will always try my very best to give you a clear and "
                "useful answer that fits what you asked, so")
        return ["Hello! How can I help?", "你好！" * 30, long, "不客气。"][: len(prompts)]

    monkeypatch.setattr(replay, "generate_greedy", answers)
    settings = TrainSettings(model=str(tiny_model), data_dir=str(tmp_path), replay=4, replay_repeat=2)
    tok = load_tokenizer(settings)
    events = EventWriter(tmp_path)
    first = replay.replayed_examples(object(), tok, settings, tmp_path, events)
    saved = [row for _, row in iter_jsonl(tmp_path / "replay.jsonl")]
    # the loop takes its English twin's answer; the answer cut at the token limit keeps its whole sentence
    assert [r["completion"][0]["content"] for r in saved] == [
        "Hello! How can I help?", "Hello! How can I help?", "You're welcome.", "不客气。"]
    assert first == saved * 2  # each seen twice an epoch
    said = [e for e in read_events(tmp_path) if e.data.get("asked") == 4]
    assert len(said) == 1 and said[0].data["replay"] == len(saved) == 4
    again = replay.replayed_examples(object(), tok, settings, tmp_path, events)  # resumed: read back, nothing asked again
    assert again == first and len(asked) == 1


def test_another_process_of_the_machine_trains_on_the_first_ones_answers(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a training of several processes only the machine's first one asks the model; the others read its file
    (a different set per process would give them different step counts)."""
    import threading

    from tools.core.events import EventWriter
    from tools.core.jsonio import write_jsonl
    from tools.train import replay
    from tools.train.model import load_tokenizer
    from tools.train.record import TrainSettings

    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(replay, "generate_greedy", lambda *a, **k: pytest.fail("only the first process asks"))
    settings = TrainSettings(model=str(tiny_model), data_dir=str(tmp_path), replay=2, replay_repeat=1)
    rows = [{"prompt": [{"role": "user", "content": "你好！"}], "completion": [{"role": "assistant", "content": "你好。"}]}]
    threading.Timer(1.5, write_jsonl, (tmp_path / "replay.jsonl", rows)).start()  # the first process, later
    got = replay.replayed_examples(object(), load_tokenizer(settings), settings, tmp_path, EventWriter(tmp_path))
    assert got == rows
