"""The optional LLM path, against a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import pytest

from agent.llm import parse_with_llm


def test_llm_answer_becomes_the_goal(llm) -> None:
    llm.answers.append('Sure! {"intents": ["finetune"], "base_model": "Qwen/Qwen2.5-7B-Instruct", '
                       '"method": "qlora", "rank": 32, "language": "zh", "style": ["concise"]}')
    goal, note = parse_with_llm("拿 Qwen 7B 做个客服，QLoRA，秩 32", has_files=True)
    assert note is None
    assert goal is not None and goal.intents == ["finetune"] and goal.method == "qlora" and goal.rank == 32
    sent = llm.requests[0]
    assert sent["model"] == "scripted" and sent["temperature"] == 0
    assert "拿 Qwen 7B 做个客服" in sent["messages"][1]["content"]  # the goal-extraction prompt carries it


@pytest.mark.parametrize("answer", ["I cannot help with that.", '{"intents": ["fly-to-the-moon"]}', '{"intents": []}'])
def test_nonsense_falls_back_to_the_parser_and_says_so(llm, answer: str) -> None:
    llm.answers.append(answer)
    goal, note = parse_with_llm("用这些 FAQ 微调一个小模型", has_files=True)
    assert goal is not None and goal.intents == ["finetune"] and goal.base_model == "demo"
    assert note and "解析" in note or "parser" in (note or "")


def test_unreachable_llm_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNEPILOT_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("TUNEPILOT_LLM_MODEL", "x")
    goal, note = parse_with_llm("what would you pick for a 4090?")
    assert goal is not None and "plan" in goal.intents and note
