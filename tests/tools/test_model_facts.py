"""Model facts from config.json: parameter counts against published sizes and a real safetensors header."""

from __future__ import annotations

import json
import math
import struct
import time
from pathlib import Path

import pytest

from tests.tools.planner_fixtures.machines import LLAMA2_7B, LLAMA2_70B, QWEN25_14B
from tools.core.errors import InputError, ModelNotFoundError
from tools.plan.model_facts import (
    ModelFacts,
    facts_from_config,
    facts_from_params,
    load_model_facts,
    parse_param_count,
)


def _facts(cfg: dict, name: str = "m") -> ModelFacts:
    return facts_from_config(cfg, name=name, source="test")


@pytest.mark.parametrize(
    "cfg, published",
    [
        (LLAMA2_7B, 6_738_415_616),  # Llama-2-7b-hf
        (QWEN25_14B, 14_770_033_664),  # Qwen2.5-14B model card: 14.7B
        (LLAMA2_70B, 68_976_648_192),  # Llama-2-70b-hf
    ],
    ids=["llama2-7b", "qwen2.5-14b", "llama2-70b"],
)
def test_parameter_count_matches_published_models(cfg: dict, published: int) -> None:
    f = _facts(cfg)
    assert f.param_count == pytest.approx(published, rel=0.002)
    assert f.lora_target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert not f.tie_word_embeddings and f.lm_head_params == f.vocab_size * f.hidden_size


def test_demo_model_facts_match_its_safetensors(demo_model: Path) -> None:
    f = load_model_facts(demo_model)
    assert (f.num_layers, f.hidden_size, f.num_attention_heads, f.num_key_value_heads) == (30, 576, 9, 3)
    assert f.vocab_size == 49152 and f.max_position_embeddings == 8192 and f.tie_word_embeddings
    # count the tensors' elements from the safetensors header(s): no weights are loaded
    total = 0
    for path in demo_model.glob("*.safetensors"):
        with path.open("rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        total += sum(math.prod(t["shape"]) for k, t in header.items() if k != "__metadata__")
    assert total > 0 and f.param_count == total
    # 'demo' by name reads the same folder's config
    assert load_model_facts("demo").param_count == f.param_count


def test_gqa_shapes_and_lora_parameter_count() -> None:
    f = _facts(QWEN25_14B)
    shapes = {m.name: (m.in_features, m.out_features) for m in f.linear_modules}
    assert shapes["k_proj"] == (5120, 8 * 128) and shapes["q_proj"] == (5120, 5120)
    assert shapes["down_proj"] == (13824, 5120)
    per_layer = 8 * (2 * (5120 + 5120) + 2 * (5120 + 1024) + 3 * (5120 + 13824))
    assert f.lora_param_count(8) == per_layer * 48
    assert f.lora_param_count(8, ["q_proj", "v_proj"]) == 8 * ((5120 + 5120) + (5120 + 1024)) * 48


@pytest.mark.parametrize(
    "model_type, targets",
    [
        ("phi3", ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]),
        ("gpt2", ["c_attn", "c_proj", "c_fc"]),
        ("gpt_neox", ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"]),
        ("mistral", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
        ("gemma2", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
        ("something_new", ["all-linear"]),
    ],
)
def test_lora_targets_per_architecture(model_type: str, targets: list[str]) -> None:
    cfg = {"model_type": model_type, "hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
           "vocab_size": 1000, "intermediate_size": 512}
    f = _facts(cfg)
    assert f.lora_target_modules == targets
    if model_type == "something_new":
        assert any("does not know" in n or "not one the planner knows" in n for n in f.notes)


def test_mixture_of_experts_counts_every_expert() -> None:
    mixtral = {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 4096,
               "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
               "num_key_value_heads": 8, "vocab_size": 32000, "num_local_experts": 8, "num_experts_per_tok": 2,
               "tie_word_embeddings": False}
    f = _facts(mixtral)
    assert f.param_count == pytest.approx(46.7e9, rel=0.01)  # Mixtral-8x7B
    assert not f.dense and f.experts_per_token == 2
    assert f.lora_target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]


def test_multimodal_wrapper_uses_text_config() -> None:
    f = _facts({"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
                "text_config": {"model_type": "gemma3_text", "hidden_size": 2560, "num_hidden_layers": 34,
                                "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                                "intermediate_size": 10240, "vocab_size": 262208}})
    assert f.hidden_size == 2560 and f.head_dim == 256 and f.q_dim == 2048
    assert f.architecture == "Gemma3ForConditionalGeneration" and f.tie_word_embeddings


def test_missing_field_names_field_and_file() -> None:
    with pytest.raises(InputError) as err:
        facts_from_config({"model_type": "llama", "hidden_size": 64}, name="x", source="/m/config.json")
    text = str(err.value)
    assert "num_hidden_layers" in text and "/m/config.json" in text and "--params" in text


@pytest.mark.parametrize(
    "text, n",
    [("7B", 7_000_000_000), ("7b", 7_000_000_000), ("1.5B", 1_500_000_000), ("135M", 135_000_000),
     ("70e9", 70_000_000_000), ("7", 7_000_000_000), (13_000_000_000, 13_000_000_000)],
)
def test_parse_param_count(text: str | int, n: int) -> None:
    assert parse_param_count(text) == n


@pytest.mark.parametrize("bad", ["seven", "", "7X", "0.0001"])
def test_parse_param_count_refuses_nonsense(bad: str) -> None:
    with pytest.raises(InputError) as err:
        parse_param_count(bad)
    assert "--params" in str(err.value)


@pytest.mark.parametrize("size, ref", [("7B", "Llama-2-7B"), ("70B", "Llama-2-70B"), ("135M", "SmolLM2-135M"),
                                       ("14B", "Llama-2-13B"), ("3B", "Llama-3.2-3B")])
def test_size_only_estimate(size: str, ref: str) -> None:
    f = facts_from_params(size)
    n = parse_param_count(size)
    assert f.size_only and f.param_count == n and ref in f.source
    # the assumed shape really is about that big (layers were scaled to match)
    shaped = facts_from_config(
        {"model_type": "llama", "hidden_size": f.hidden_size, "num_hidden_layers": f.num_layers,
         "num_attention_heads": f.num_attention_heads, "num_key_value_heads": f.num_key_value_heads,
         "intermediate_size": f.intermediate_size, "vocab_size": f.vocab_size,
         "tie_word_embeddings": f.tie_word_embeddings}, name="x", source="x")
    assert shaped.param_count == pytest.approx(n, rel=0.06)


def test_local_folder_and_errors(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    with pytest.raises(ModelNotFoundError) as err:
        load_model_facts(folder)
    assert "no config.json" in str(err.value)
    (folder / "config.json").write_text(json.dumps(LLAMA2_7B))
    f = load_model_facts(folder)
    assert f.name == str(folder.resolve()) and f.source.endswith("config.json")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(InputError) as err:
        load_model_facts(folder)
    assert "config.json:1" in str(err.value)
    with pytest.raises(ModelNotFoundError):
        load_model_facts("no-such-model-anywhere")


def test_hub_id_offline_fails_fast_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as err:
        load_model_facts("meta-llama/Llama-2-7b-hf")
    assert time.perf_counter() - t0 < 2
    assert "--params" in str(err.value) and "HF_HUB_OFFLINE" in str(err.value)


def test_hub_id_reads_only_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub

    import tools.plan.model_facts as mf

    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(QWEN25_14B))
    asked: list[tuple[str, str]] = []

    def fake_download(repo_id: str, filename: str, **_: object) -> str:
        asked.append((repo_id, filename))
        return str(cfg)

    monkeypatch.setattr(mf, "_hub_reachable", lambda timeout=3.0: None)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    f = load_model_facts("Qwen/Qwen2.5-14B-Instruct")
    assert asked == [("Qwen/Qwen2.5-14B-Instruct", "config.json")]
    assert f.name == "Qwen/Qwen2.5-14B-Instruct" and f.model_type == "qwen2"


def test_facts_round_trip_json() -> None:
    f = _facts(LLAMA2_70B)
    assert ModelFacts.model_validate_json(f.model_dump_json()) == f
