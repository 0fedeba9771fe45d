"""A vLLM server as a process group: ports, start, wait until healthy, status, stop; the question writer's server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.core.errors import TunepilotError
from tools.core.events import EventWriter
from tools.core.models import resolve_model
from tools.core.payloads import ServerFailed, ServerStopped
from tools.core.procs import pid_alive
from tools.plan.hardware import cuda_available
from tools.serve.command import build_command, cpu_server_env
from tools.serve.health import explain_failure, healthy, list_models, log_tail
from tools.serve.record import SERVE_FILE, load_deployment

QA_NAME = "qa-writer"


class DeployError(TunepilotError):
    exit_code = 4


class DeploymentStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: str
    base_url: str
    mode: str
    pid: int
    state: Literal["running", "not answering", "dead"]
    models: list[str] = Field(default_factory=list)
    message: str = ""


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


def start_server(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """A vLLM server in its own process group, its output appended to ``log_path``."""
    with open(log_path, "ab") as logf:
        return subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)


def wait_healthy(proc: subprocess.Popen[bytes], url: str, log_path: Path, *, run_dir: Path, timeout_s: float,
                 max_len: int, events: EventWriter) -> None:
    """Until /health answers; a server that exits or never answers is stopped (with its peer) and said in one
    sentence."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_tail(log_path)
            why = explain_failure(tail, max_len)
            events.emit("deploy", "error", why, **ServerFailed(log_tail=tail).fields())
            stop_deployment(run_dir)
            raise DeployError(f"{why}. Last log lines:\n{tail}")
        if healthy(url):
            return
        time.sleep(1.0)
    stop_deployment(run_dir)
    tail = log_tail(log_path)
    events.emit("deploy", "error", "vLLM did not become healthy in time", **ServerFailed(log_tail=tail).fields())
    raise DeployError(f"vLLM did not answer /health within {timeout_s:.0f} s. Last log lines:\n{tail}")


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


def end_group(pid: int, timeout_s: float) -> bool:
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


def stop_deployment(run_dir: Path, timeout_s: float = 20.0) -> bool:
    """End the server's process group and free the port. True if a live server was stopped."""
    dep = load_deployment(run_dir.resolve())
    if dep is None:
        return False
    alive = end_group(dep.pid, timeout_s)
    if dep.peer is not None:
        end_group(dep.peer.pid, timeout_s)
    if dep.reading is not None:
        end_group(dep.reading.pid, timeout_s)
    (run_dir / SERVE_FILE).unlink(missing_ok=True)
    EventWriter(run_dir).emit("deploy", "info", "server stopped", **ServerStopped(pid=dep.pid).fields())
    return alive


@contextmanager
def question_server(model: str, log_path: Path, timeout_s: float = 300.0) -> Iterator[str]:
    """A model behind vLLM on a free loopback port for as long as the block runs (``tunepilot data --qa-model``:
    the model being tuned writes the questions), its base URL yielded; stopped, process group and all, on the
    way out, whatever happened inside."""
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
    proc = start_server(cmd, env, log_path)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout_s
        while not healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_tail(log_path)
                raise DeployError(f"the question-writing model did not start ({explain_failure(tail, 4096)}). "
                                  f"Last log lines:\n{tail}")
            time.sleep(1.0)
        yield url
    finally:
        end_group(proc.pid, 20.0)
