from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tools.core.errors import ModelNotFoundError
from tools.core.models import resolve_model
from tunepilot.cli import main


def test_demo_model_folder_is_complete(demo_model: Path) -> None:
    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json"):
        assert (demo_model / name).exists(), name
    tok_cfg = json.loads((demo_model / "tokenizer_config.json").read_text())
    assert tok_cfg["eos_token"] == "<|im_end|>"
    assert tok_cfg["pad_token"] != tok_cfg["eos_token"]  # so the model learns to stop
    template = (demo_model / "chat_template.jinja").read_text()
    assert "<|im_start|>" in template
    gen = json.loads((demo_model / "generation_config.json").read_text())
    assert gen["eos_token_id"] == 2


def test_second_call_is_fast(demo_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.perf_counter()
    assert main(["models", "demo"]) == 0
    assert time.perf_counter() - t0 < 2.0
    assert capsys.readouterr().out.strip() == str(demo_model)


def test_resolve_names(demo_model: Path, tmp_path: Path) -> None:
    assert resolve_model("demo") == demo_model
    assert resolve_model("SmolLM2-135M-Instruct") == demo_model
    assert resolve_model(str(demo_model)) == demo_model.resolve()
    assert resolve_model("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="config.json"):
        resolve_model(tmp_path / "empty")
    with pytest.raises(ModelNotFoundError, match="no such folder"):
        resolve_model(tmp_path / "missing")
    with pytest.raises(ModelNotFoundError, match="unknown model"):
        resolve_model("not a model")


def test_unknown_model_on_cli_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "/no/such/model"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert "/no/such/model" in err and len(err.strip().splitlines()) == 1


def test_tiny_model_has_demo_tokenizer(tiny_model: Path, demo_model: Path) -> None:
    cfg = json.loads((tiny_model / "config.json").read_text())
    assert cfg["hidden_size"] == 64 and cfg["num_hidden_layers"] == 2
    assert (tiny_model / "tokenizer.json").read_bytes() == (demo_model / "tokenizer.json").read_bytes()


def _greedy_chat(model_dir: Path, text: str, max_new_tokens: int = 40) -> tuple[str, list[int], int]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    enc = tok.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
    new = out[0][enc["input_ids"].shape[1] :].tolist()
    return tok.decode(new, skip_special_tokens=True), new, tok.eos_token_id


@pytest.mark.slow
def test_demo_model_knows_paris_and_stops(demo_model: Path) -> None:
    answer, tokens, eos = _greedy_chat(demo_model, "What is the capital of France?")
    assert "Paris" in answer
    assert tokens[-1] == eos and len(tokens) < 40  # it stops by itself
