"""The one catalog of GPUs: how people write each name, its memory and its compute capability.

The agent's parser finds a GPU named in words with :data:`GPUS`' patterns, the planner plans for it with
:func:`known_gpu` (``tools.plan.hardware.hardware_for_gpus``), and the probe names what it finds; so "two
H20" means the same card everywhere.
"""

from __future__ import annotations

from typing import NamedTuple


class KnownGPU(NamedTuple):
    name: str
    pattern: str  # how people write it (lower case; the parser adds the word boundaries and counts)
    memory_gb: float | None  # None: it comes in several sizes, so a size the person names is needed
    default_gb: float  # the size planned for when none is named
    compute_capability: tuple[int, int]  # AMD cards: (9, 0) stands for bf16 support, they have no CUDA number


_RTX = r"(?:rtx\s*|geforce\s*(?:rtx\s*)?)?"

GPUS: tuple[KnownGPU, ...] = (
    KnownGPU("RTX 5090", _RTX + r"5090", 32, 32, (12, 0)),
    KnownGPU("RTX 4090", _RTX + r"4090\s*d?", 24, 24, (8, 9)),
    KnownGPU("RTX 4080", _RTX + r"4080(?:\s*super)?", 16, 16, (8, 9)),
    KnownGPU("RTX 4070", _RTX + r"4070(?:\s*ti)?(?:\s*super)?", None, 12, (8, 9)),
    KnownGPU("RTX 4060", _RTX + r"4060(?:\s*ti)?", None, 8, (8, 9)),
    KnownGPU("RTX 3090", _RTX + r"3090(?:\s*ti)?", 24, 24, (8, 6)),
    KnownGPU("RTX 3080", _RTX + r"3080(?:\s*ti)?", None, 10, (8, 6)),
    KnownGPU("RTX 3060", _RTX + r"3060", 12, 12, (8, 6)),
    KnownGPU("RTX 2080 Ti", _RTX + r"2080\s*ti", 11, 11, (7, 5)),
    KnownGPU("RTX 6000 Ada", r"rtx\s*6000\s*ada", 48, 48, (8, 9)),
    KnownGPU("RTX A6000", r"(?:rtx\s*)?a6000", 48, 48, (8, 6)),
    KnownGPU("A100", r"a100", None, 80, (8, 0)),
    KnownGPU("A800", r"a800", None, 80, (8, 0)),
    KnownGPU("H100", r"h100", 80, 80, (9, 0)),
    KnownGPU("H800", r"h800", 80, 80, (9, 0)),
    KnownGPU("H200", r"h200", 141, 141, (9, 0)),
    KnownGPU("H20", r"h20", 96, 96, (9, 0)),
    KnownGPU("L40S", r"l40s", 48, 48, (8, 9)),
    KnownGPU("L40", r"l40", 48, 48, (8, 9)),
    KnownGPU("L4", r"l4", 24, 24, (8, 9)),
    KnownGPU("T4", r"t4", 16, 16, (7, 5)),
    KnownGPU("A10G", r"a10g", 24, 24, (8, 6)),
    KnownGPU("A10", r"a10", 24, 24, (8, 6)),
    KnownGPU("V100", r"v100", None, 32, (7, 0)),
    KnownGPU("P100", r"p100", 16, 16, (6, 0)),
    KnownGPU("MI300X", r"mi300x?", 192, 192, (9, 0)),
    KnownGPU("T4", r"(?:google\s+)?colab", 16, 16, (7, 5)),  # Colab's free GPU
)


def known_gpu(name: str | None) -> KnownGPU | None:
    """The catalog entry for a GPU name as the parser or a person writes it ("RTX 4090", "4090", "A6000")."""
    if not name:
        return None
    norm = name.upper().replace("GEFORCE", "").replace("NVIDIA", "").strip()
    for gpu in GPUS:
        if norm in (gpu.name.upper(), gpu.name.upper().replace("RTX ", "")) or \
                gpu.name.upper().replace("RTX ", "") == norm.replace("RTX ", ""):
            return gpu
    return None
