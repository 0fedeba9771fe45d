"""Every prompt file renders under StrictUndefined with the variables the code passes.

When you add ``prompts/<name>.md``, add an entry to ``EXAMPLES`` built the way your code builds the
variables (ideally by calling the same helper); the test below fails for a prompt file without one.
"""

from __future__ import annotations

from typing import Any

import jinja2
import pytest

from tools.core.errors import InputError
from tools.core.prompts import PROMPTS_DIR, list_prompts, prompt_variables, render_prompt
from tools.evaluate.judge import judge_prompt_vars

EXAMPLES: dict[str, dict[str, Any]] = {
    # tools/data/read/prompt.py: reading_turn
    "reading": {"zh": True, "passages": ["电池与充电: 充满电约需6小时。"], "decline": "资料里没有提到。",
                "question": "电池充满要多久？"},
    # agent/llm.py: parse_with_llm
    "system": {},
    "goal_extraction": {
        "message": "用我们的客服 FAQ 微调一个小模型，回答要简短",
        "schema": '{"type": "object", "properties": {"intents": {"type": "array"}}}',
        "has_files": False,
    },
    # tools/data/llm.py: generate
    "qa_generation": {
        "source": "faq.pdf",
        "section": "退货政策",
        "text": "自签收之日起 7 天内可申请无理由退货。",
        "n_pairs": 3,
        "language_name": "Chinese",
    },
    # tools/data/knowledge.py: llm_rewordings
    "paraphrase": {
        "n": 4,
        "language_name": "Chinese (简体中文)",
        "items": ['{"id": 0, "question": "青梧空气炸锅的保修期是多久？", "answer": "整机保修18个月，电机保修36个月。"}'],
    },
    # tools/evaluate/judge.py: _judge_one
    "judge": judge_prompt_vars(
        prompt="退货需要多久？",
        reference="自签收之日起 7 天内可申请「无理由退货」。",
        answer_a="7 天内可以申请无理由退货。",
        answer_b="Returns | are accepted\nwithin 30 days.",
    ),
}


def test_every_prompt_file_has_an_example():
    missing = sorted(set(list_prompts()) - set(EXAMPLES))
    assert not missing, f"add example variables for {missing} to EXAMPLES in {__file__}"
    stale = sorted(set(EXAMPLES) - set(list_prompts()))
    assert not stale, f"EXAMPLES names prompts that no longer exist in {PROMPTS_DIR}: {stale}"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_prompt_renders_with_the_variables_the_code_passes(name):
    variables = EXAMPLES[name]
    assert prompt_variables(name) == set(variables), "template variables and the code's variables differ"
    text = render_prompt(name, **variables)
    assert text.strip()
    assert "{{" not in text and "{%" not in text
    for value in variables.values():
        if isinstance(value, str) and value:
            assert value in text  # inserted verbatim: no HTML escaping, CJK intact


@pytest.mark.parametrize("name", sorted(n for n, v in EXAMPLES.items() if v))
def test_prompt_refuses_a_missing_variable(name):
    variables = dict(EXAMPLES[name])
    variables.pop(sorted(variables)[0])
    with pytest.raises(jinja2.UndefinedError):
        render_prompt(name, **variables)


def test_judge_prompt_names_the_verdict_format():
    text = render_prompt("judge", **EXAMPLES["judge"])
    assert "[[A]]" in text and "[[B]]" in text and "[[tie]]" in text
    assert text.index("## Answer A") < text.index("## Answer B")


def test_unknown_or_unsafe_prompt_name():
    with pytest.raises(InputError, match="not found"):
        render_prompt("no_such_prompt")
    with pytest.raises(InputError, match="invalid prompt name"):
        render_prompt("../README")


def test_prompts_dir_is_the_top_level_folder():
    assert PROMPTS_DIR.name == "prompts"
    assert (PROMPTS_DIR.parent / "tools" / "core" / "prompts.py").is_file()
