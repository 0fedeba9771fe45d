"""Export: the merged model as GGUF by llama.cpp's converter, an Ollama Modelfile, and the check by reading back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.core.errors import InputError
from tools.train.export import chat_format, converter_script, modelfile_text
from tunepilot.cli import main

CHATML = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
LLAMA3 = "{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n' + m['content'] + '<|eot_id|>' }}"
GEMMA = "{{ '<start_of_turn>' + role + '\n' + m['content'] | trim + '<end_of_turn>\n' }}"


def test_the_modelfile_speaks_the_models_chat_format_and_stops_at_its_end_of_turn() -> None:
    text, notes = modelfile_text("model-q8_0.gguf", CHATML, {"<|im_end|>", "<|endoftext|>"}, "<|im_end|>",
                                 "你是青梧客服，回答要简短。")
    assert text.startswith("FROM ./model-q8_0.gguf\n") and "<|im_start|>{{ .Role }}" in text
    assert 'PARAMETER stop "<|im_end|>"' in text and 'PARAMETER stop "<|endoftext|>"' in text
    assert 'SYSTEM """你是青梧客服，回答要简短。"""' in text and "PARAMETER temperature 0" in text
    assert any("chatml" in n for n in notes)
    gemma, _ = modelfile_text("m.gguf", GEMMA, {"<end_of_turn>", "<eos>"}, "<eos>", "Be brief.")
    assert "<start_of_turn>model" in gemma and "{{ $.System }}" in gemma  # no system role: folded into the user turn
    assert 'PARAMETER stop "<end_of_turn>"' in gemma and 'PARAMETER stop "<eos>"' in gemma
    assert chat_format(LLAMA3) == "llama3" and chat_format(None) is None
    plain, notes = modelfile_text("m.gguf", "{{ messages }}", set(), None, None)
    assert "TEMPLATE" not in plain and "SYSTEM" not in plain and any("stored in the GGUF" in n for n in notes)


def test_a_missing_converter_or_a_bad_type_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError, match="converter is not installed") as err:
        converter_script(tmp_path / "nowhere")
    assert "scripts/setup.sh" in (err.value.hint or "")
    with pytest.raises(SystemExit):
        main(["export", "--run", str(tmp_path), "--types", "q4_k"])
    assert "use f16, q8_0 or both" in capsys.readouterr().err


def test_the_converter_is_installed_by_the_setup() -> None:
    assert converter_script().is_file()  # scripts/setup.sh puts it in .venv/opt; `tunepilot export` needs it


@pytest.mark.slow
def test_export_writes_gguf_and_a_modelfile_that_answer_as_the_merged_model(identity_run: Path) -> None:
    from tools.train.export import ExportRequest, export_model

    result = export_model(ExportRequest(run_dir=identity_run, to="ollama"))
    out = identity_run / "export"
    assert {f.name for f in result.files} == {"model-f16.gguf", "model-q8_0.gguf"}
    assert all(f.stat().st_size > 50 * 1024**2 for f in result.files)
    assert result.modelfile == out / "Modelfile" and "FROM ./model-q8_0.gguf" in result.modelfile.read_text()
    f16 = next(c for c in result.checks if c.type == "f16")
    q8 = next(c for c in result.checks if c.type == "q8_0")
    # read back by transformers: the f16 file is the merged model (a near-tie may flip one answer on another CPU)
    assert f16.prompts == 4 and f16.identical >= 3 and q8.prompts == 4
    assert any("read back f16" in r for r in result.reasons)
