"""A second model family: Gemma 3 270M (base, no chat template, no system role, BOS required), from its PyPI GGUF,
converted with the template, stops and BOS it needs (its whole journey: tests/agent/test_cli_run.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gemma_converts_with_the_template_stops_and_bos_it_needs(gemma_model: Path) -> None:
    from transformers import AutoTokenizer

    out = subprocess.run([sys.executable, "-m", "tunepilot.cli", "models", "gemma", "--lang", "zh"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT).stdout
    assert out.splitlines()[0] == str(gemma_model)
    for said in ("已写入 gemma 格式的模板", "EOS 现在是 <end_of_turn>", "会在开头加上 <bos>"):
        assert said in out, out
    tok = AutoTokenizer.from_pretrained(str(gemma_model))
    chat = tok.apply_chat_template([{"role": "system", "content": "回答要简短。"}, {"role": "user", "content": "你好"}],
                                   tokenize=False, add_generation_prompt=True)
    assert chat.startswith("<bos><start_of_turn>user\n回答要简短。\n\n你好") and "system" not in chat
    assert tok("你好")["input_ids"][0] == tok.bos_token_id  # plain text gets BOS too
    gen = json.loads((gemma_model / "generation_config.json").read_text())
    assert tok.convert_tokens_to_ids("<end_of_turn>") in gen["eos_token_id"]
