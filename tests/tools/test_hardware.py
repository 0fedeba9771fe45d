"""The hardware probe, with NVML faked for machines we do not have."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.core.errors import InputError
from tools.plan.hardware import HardwareFacts, detect_hardware, load_hardware
from tunepilot.cli import main

GB = 1024**3


@dataclass
class _Mem:
    total: int
    free: int
    used: int = 0


class FakeNVML:
    """The part of pynvml the probe uses, for a list of (name, total GiB, free GiB, (major, minor))."""

    def __init__(self, gpus: list[tuple[str, float, float, tuple[int, int]]]) -> None:
        self.gpus = gpus
        self.shutdown_called = False

    def nvmlInit(self) -> None: ...
    def nvmlShutdown(self) -> None:
        self.shutdown_called = True

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetName(self, h: int) -> bytes:
        return self.gpus[h][0].encode()

    def nvmlDeviceGetMemoryInfo(self, h: int) -> _Mem:
        return _Mem(total=int(self.gpus[h][1] * GB), free=int(self.gpus[h][2] * GB))

    def nvmlDeviceGetCudaComputeCapability(self, h: int) -> tuple[int, int]:
        return self.gpus[h][3]


class BrokenNVML(FakeNVML):
    def nvmlInit(self) -> None:
        raise RuntimeError("NVML Shared Library Not Found")


@pytest.mark.parametrize(
    "gpus, bf16",
    [
        ([("Tesla T4", 15.0, 14.6, (7, 5))], [False]),
        ([("NVIDIA GeForce RTX 4090", 24.0, 23.5, (8, 9))], [True]),
        ([("NVIDIA A100-SXM4-80GB", 80.0, 79.0, (8, 0))] * 2, [True, True]),
    ],
    ids=["T4", "4090", "2xA100-80GB"],
)
def test_fake_gpus_are_reported(gpus, bf16, tmp_path: Path) -> None:
    nvml = FakeNVML(gpus)
    facts = detect_hardware(home=tmp_path, nvml=nvml)
    assert [g.name for g in facts.gpus] == [g[0] for g in gpus]
    assert [g.bf16 for g in facts.gpus] == bf16
    assert facts.gpus[0].total_gib == pytest.approx(gpus[0][1])
    assert facts.gpus[0].source == "nvml" and facts.gpu_source.startswith("nvml")
    assert nvml.shutdown_called
    # doctor --json output is what `plan --hardware` reads back
    path = tmp_path / "hw.json"
    path.write_text(facts.model_dump_json())
    assert load_hardware(path) == facts


def test_no_gpu_says_why(tmp_path: Path) -> None:
    facts = detect_hardware(home=tmp_path, nvml=BrokenNVML([]))
    assert facts.gpus == [] and not facts.has_gpu
    assert "NVML unavailable" in facts.gpu_source
    assert facts.cpu.logical_cores >= 1 and facts.cpu.ram_total_bytes > 0
    assert facts.disk is not None and facts.disk.free_bytes > 0


def test_doctor_json_on_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--json"]) == 0
    facts = HardwareFacts.model_validate(json.loads(capsys.readouterr().out))
    assert facts.versions["torch"] and facts.versions["transformers"]
    assert facts.cpu.model


def test_doctor_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "CPU:" in out and "RAM:" in out and "transformers" in out


def test_bad_hardware_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "hw.json"
    bad.write_text('{"gpus": []}')
    with pytest.raises(InputError) as err:
        load_hardware(bad)
    assert str(bad) in str(err.value) and "doctor --json" in str(err.value)


def test_one_gpu_catalog_for_the_parser_and_the_planner() -> None:
    """A GPU named in a message is the same card to the planner: its memory and compute capability come from
    the one catalog (before, the parser knew H20 and MI300X and the planner planned them as 24 GB Ampere)."""
    from agent.intent import parse_message
    from tools.plan.gpus import GPUS
    from tools.plan.hardware import hardware_for_gpus

    for gpu in {g.name: g for g in GPUS}.values():
        hint = parse_message(f"fine-tune qwen2.5-7b on two {gpu.name} cards").gpu
        assert hint is not None and hint.name == gpu.name and hint.count == 2, gpu.name
        hw = hardware_for_gpus(hint.name, hint.memory_gb, hint.count or 1)
        assert len(hw.gpus) == 2 and hw.gpus[0].compute_capability == gpu.compute_capability, gpu.name
        assert hw.gpus[0].total_memory_bytes == int((hint.memory_gb or gpu.default_gb) * 1024**3), gpu.name
    h20 = hardware_for_gpus(parse_message("两张H20").gpu.name, None, 2)  # type: ignore[union-attr]
    assert h20.gpus[0].compute_capability == (9, 0) and h20.gpus[0].total_memory_bytes == 96 * 1024**3
