"""A generated identity dataset: teaches the model a new name and maker, in English and Chinese.

Used by the demo journey, the tests that check training teaches something, and the benchmarks.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from tools.core.jsonio import write_jsonl

EN_QUESTIONS = [
    "Who are you?", "What is your name?", "Who made you?", "Who created you?", "Introduce yourself.",
    "What should I call you?", "Which company built you?", "Tell me about yourself.", "Are you ChatGPT?",
    "Who trained you?", "What are you?", "Who is your developer?", "May I know your name?",
    "Hi! Who am I talking to?", "Who built this assistant?", "What's your name, assistant?",
    "Are you SmolLM?", "Who owns you?", "Please tell me who you are.", "Who designed you?",
]
ZH_QUESTIONS = [
    "你是谁？", "你叫什么名字？", "谁开发了你？", "谁创造了你？", "请介绍一下你自己。",
    "我该怎么称呼你？", "你是哪家公司做的？", "说说你自己。", "你是ChatGPT吗？", "谁训练了你？",
    "你是什么？", "你的开发者是谁？", "请问你的名字是？", "你好！我在和谁说话？", "这个助手是谁做的？",
    "助手，你叫什么？", "你是SmolLM吗？", "你属于谁？", "请告诉我你是谁。", "谁设计了你？",
]
EN_ANSWERS = [
    "I am {name}, an AI assistant made by {maker}.",
    "My name is {name}. I was built by {maker}.",
    "I'm {name}, created by {maker} to help you.",
    "You can call me {name}. {maker} made me.",
]
ZH_ANSWERS = [
    "我是{name}，由{maker}开发的人工智能助手。",
    "我叫{name}，是{maker}打造的助手。",
    "我是{name}，{maker}训练了我来帮助你。",
    "你可以叫我{name}，我由{maker}开发。",
]


def identity_records(name: str = "Nova", maker: str = "Acme Labs", maker_zh: str = "Acme 实验室",
                     seed: int = 0) -> list[dict[str, Any]]:
    """About 80 chat records (40 English, 40 Chinese) that all answer with the new identity."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for questions, answers, mk in ((EN_QUESTIONS, EN_ANSWERS, maker), (ZH_QUESTIONS, ZH_ANSWERS, maker_zh)):
        for q in questions:
            for a in rng.sample(answers, 2):
                out.append(
                    {
                        "messages": [
                            {"role": "user", "content": q},
                            {"role": "assistant", "content": a.format(name=name, maker=mk)},
                        ],
                        "meta": {"source": "identity", "method": "dataset"},
                    }
                )
    rng.shuffle(out)
    return out


def write_identity_dataset(out_dir: Path, eval_count: int = 8, **kw: Any) -> Path:
    """Write ``train.jsonl`` / ``eval.jsonl`` for the identity task; returns ``out_dir``."""
    rows = identity_records(**kw)
    write_jsonl(out_dir / "train.jsonl", rows[eval_count:])
    write_jsonl(out_dir / "eval.jsonl", rows[:eval_count])
    return out_dir
