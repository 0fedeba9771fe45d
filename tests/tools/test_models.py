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


# --- other families: GGUF files, chat templates written in at conversion ---------------------------------------


def _render(template: str, messages: list[dict[str, str]], gen: bool = False) -> str:
    import jinja2

    return jinja2.Environment().from_string(template).render(messages=messages, add_generation_prompt=gen,
                                                             bos_token="<bos>", eos_token="</s>")


def test_gemmas_template_folds_the_system_prompt_into_the_first_user_turn() -> None:
    from tools.core.templates import GEMMA_TEMPLATE, chat_format, turn_end

    msgs = [{"role": "system", "content": "回答要简短。"}, {"role": "user", "content": "你是谁？"},
            {"role": "assistant", "content": "我是 Nova。"}]
    full = _render(GEMMA_TEMPLATE, msgs)
    assert full == ("<bos><start_of_turn>user\n回答要简短。\n\n你是谁？<end_of_turn>\n"
                    "<start_of_turn>model\n我是 Nova。<end_of_turn>\n")
    prompt = _render(GEMMA_TEMPLATE, msgs[:2], gen=True)
    assert full.startswith(prompt) and prompt.endswith("<start_of_turn>model\n")  # the answer is what is trained
    assert "system" not in full  # Gemma has no system role
    assert chat_format(GEMMA_TEMPLATE) == "gemma" and turn_end(GEMMA_TEMPLATE) == "<end_of_turn>"


class _Tok:
    """The attributes of a tokenizer that :func:`finish_tokenizer` reads and sets."""

    def __init__(self, vocab: list[str], eos: str, bos: str | None, pad: str | None, template: str | None) -> None:
        self.vocab = {t: i for i, t in enumerate(vocab)}
        self.eos_token, self.bos_token, self.pad_token, self.unk_token = eos, bos, pad, "<unk>"
        self.chat_template, self.add_bos_token = template, False

    def get_vocab(self) -> dict[str, int]:
        return self.vocab


@pytest.mark.parametrize(("vocab", "fmt", "eos"), [
    (["<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>"], "gemma", "<end_of_turn>"),
    (["<|im_start|>", "<|im_end|>", "<|endoftext|>"], "chatml", "<|im_end|>"),
    (["<|begin_of_text|>", "<|start_header_id|>", "<|eot_id|>", "<|end_of_text|>"], "llama3", "<|eot_id|>"),
    (["<s>", "</s>"], "plain", "</s>"),
])
def test_a_gguf_without_a_chat_template_gets_one_and_stops_at_its_end_of_turn(vocab: list[str], fmt: str,
                                                                              eos: str) -> None:
    from tools.core.models import finish_tokenizer
    from tools.core.templates import chat_format

    tok = _Tok(vocab, eos=vocab[1] if fmt != "chatml" else "<|endoftext|>", bos=vocab[0], pad=None, template=None)
    notes = finish_tokenizer(tok)
    assert chat_format(tok.chat_template) == fmt and tok.eos_token == eos
    assert tok.pad_token != tok.eos_token  # so padding is not learnt as the end of an answer
    codes = [n.code for n in notes]
    assert codes[0] == "model.template_written" and notes[0].params["format"] == fmt
    assert ("model.eos_is_turn_end" in codes) == (eos != vocab[1] or fmt == "chatml")
    assert tok.add_bos_token == (fmt in ("gemma", "llama3"))  # their templates write BOS: tokenizing adds it
    for n in notes:  # said in both languages
        assert n.text("en") and n.text("zh") and n.text("en") != n.text("zh")


def test_a_model_with_its_own_template_keeps_it() -> None:
    from tools.core.models import finish_tokenizer
    from tools.core.templates import CHATML_PLAIN_TEMPLATE

    tok = _Tok(["<|im_start|>", "<|im_end|>", "<|endoftext|>"], eos="<|im_end|>", bos=None, pad="<|endoftext|>",
               template=CHATML_PLAIN_TEMPLATE + " ")
    assert finish_tokenizer(tok) == [] and tok.chat_template == CHATML_PLAIN_TEMPLATE + " "


def test_gguf_paths_name_one_file(tmp_path: Path) -> None:
    two = tmp_path / "two"
    two.mkdir()
    for name in ("a.gguf", "b.gguf"):
        (two / name).write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match="2 GGUF files: a.gguf, b.gguf") as err:
        resolve_model(two)
    assert "one .gguf file" in (err.value.hint or "")
    with pytest.raises(ModelNotFoundError, match="neither config.json nor a .gguf"):
        resolve_model(tmp_path)
    assert resolve_model(two / "a.gguf", prepare=False) == resolve_model.__globals__["models_dir"]() / "a"


def test_a_broken_gguf_is_one_sentence_on_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNEPILOT_HOME", str(tmp_path / "home"))
    bad = tmp_path / "模型.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    assert main(["models", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and "模型.gguf" in err
    assert not (tmp_path / "home" / "models" / "模型").exists()  # nothing half-written
