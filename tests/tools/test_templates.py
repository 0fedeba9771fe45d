"""A chat template's own default system prompt: found by rendering, taken out only where nothing else changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools.core.templates import (
    CHATML_PLAIN_TEMPLATE,
    GEMMA_TEMPLATE,
    LLAMA3_TEMPLATE,
    default_system_prompt,
    without_default_system,
)

# Qwen2.5-Instruct's shape: an explicit system turn, else one of its own
QWEN_LIKE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role != 'system' or not loop.first %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# a default with an apostrophe, escaped inside the Jinja literal
APOSTROPHE = QWEN_LIKE.replace("You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
                               "You\\'re 小助手, a helpful assistant.")
# the default kept in a variable and joined to the turn's markup: taking the literal out would leave an empty
# system turn, so nothing is changed
IN_A_VARIABLE = (
    "{% set default = 'You are a careful assistant.' %}"
    "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n' + default + '<|im_end|>\\n' }}{% endif %}"
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

USER = [{"role": "user", "content": "你们几点开门？"}]
SYSTEM = [{"role": "system", "content": "回答要简短。"}]


@pytest.fixture(scope="module")
def tok(demo_model: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(demo_model))


def _render(tok: Any, template: str, messages: list[dict[str, str]]) -> str:
    return str(tok.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=True))


@pytest.mark.parametrize("template, default", [
    (None, "You are a helpful AI assistant named SmolLM, trained by Hugging Face"),  # the demo model's own
    (QWEN_LIKE, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."),
    (APOSTROPHE, "You're 小助手, a helpful assistant."),
])
def test_a_default_system_prompt_is_found_and_taken_out(tok: Any, template: str | None, default: str) -> None:
    template = template or tok.chat_template
    assert default_system_prompt(tok, template) == default
    found = without_default_system(tok, template)
    assert found is not None and found[1] == default
    new = found[0]
    before, after = _render(tok, template, USER), _render(tok, new, USER)
    assert default in before and default not in after
    assert after == "<|im_start|>user\n你们几点开门？<|im_end|>\n<|im_start|>assistant\n"
    # a conversation with its own system prompt renders exactly as before
    assert _render(tok, new, SYSTEM + USER) == _render(tok, template, SYSTEM + USER)


@pytest.mark.parametrize("template", [CHATML_PLAIN_TEMPLATE, GEMMA_TEMPLATE, LLAMA3_TEMPLATE])
def test_templates_without_a_default_are_left_alone(tok: Any, template: str) -> None:
    assert default_system_prompt(tok, template) == ""
    assert without_default_system(tok, template) is None


def test_a_default_that_cannot_be_taken_out_cleanly_stays(tok: Any) -> None:
    assert default_system_prompt(tok, IN_A_VARIABLE) == "You are a careful assistant."
    assert without_default_system(tok, IN_A_VARIABLE) is None


def test_a_run_with_its_own_system_prompt_keeps_the_template(tok: Any, tmp_path: Path, demo_model: Path) -> None:
    from tools.train.model import drop_default_system
    from tools.train.record import TrainSettings

    template = tok.chat_template
    own = TrainSettings(model=str(demo_model), data_dir=str(tmp_path), system_prompt="回答要简短。")
    assert drop_default_system(tok, own) is None and tok.chat_template == template
    dropped = drop_default_system(tok, own.model_copy(update={"system_prompt": None}))
    try:
        assert dropped is not None and dropped[0].startswith("You are a helpful AI assistant named SmolLM")
        assert 10 <= dropped[1] <= 25  # its length in tokens, said in the event
        assert "SmolLM" not in tok.apply_chat_template(USER, tokenize=False)
    finally:
        tok.chat_template = template
