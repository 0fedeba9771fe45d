"""The real page in a subprocess (``tunepilot ui``), for the browser and gradio_client tests.

Each test module gets its own app on a free port with its own runs root, and the app, any
training it started and any vLLM server it deployed are stopped afterwards (process groups).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


@dataclass
class App:
    url: str
    runs: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _kill_group(pid: int, timeout_s: float = 15.0) -> None:
    """SIGTERM the process group led by ``pid``, then SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if not _alive(pid):
            return


def stop_everything(runs: Path) -> None:
    """Stop every vLLM server and training the app started under ``runs``."""
    from tools.serve.process import stop_deployment

    if not runs.is_dir():
        return
    for serve in runs.glob("*/serve.json"):
        try:
            stop_deployment(serve.parent)
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass
    for pid_file in [*runs.glob("*/supervisor.pid"), *runs.glob("*/train.pid")]:
        text = pid_file.read_text().strip()
        if text.isdigit() and _alive(int(text)):
            _kill_group(int(text))


def start_app(tmp: Path, extra_env: dict[str, str] | None = None, port: int | None = None,
              auth: str | None = None) -> App:
    """The page on ``port`` (a free one by default) with its runs under ``tmp/runs``; the log is appended to."""
    runs = tmp / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = dict(os.environ)
    env.update({
        # 10 steps: with fewer (at the browser test's learning rate) the adapter can stay too close to the
        # base for the deployment's canary (greedy base and tuned answers must differ), which then refuses it
        "TUNEPILOT_RUNS": str(runs), "TUNEPILOT_MAX_STEPS": "10", "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_ANALYTICS_ENABLED": "False",
        "ORT_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
    })
    env.update(extra_env or {})
    env.pop("TUNEPILOT_AUTH", None)
    if auth:
        env["TUNEPILOT_AUTH"] = auth  # the way the README says to give the password
    log = tmp / "app.log"
    with open(log, "ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "tunepilot.cli", "ui", "--port", str(port)], cwd=REPO, env=env,
                                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    app = App(url=f"http://127.0.0.1:{port}/", runs=runs, log=log, proc=proc)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with {proc.returncode}:\n{app.log_tail()}")
        try:
            with urllib.request.urlopen(app.url, timeout=3) as resp:
                if resp.status == 200:
                    return app
        except OSError:
            pass
        time.sleep(0.5)
    stop_app(app)
    raise RuntimeError(f"the app did not answer within 120 s:\n{app.log_tail()}")


def stop_app(app: App) -> None:
    try:
        stop_everything(app.runs)
    finally:
        if app.proc.poll() is None:
            _kill_group(app.proc.pid)
        try:
            app.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        stop_everything(app.runs)  # anything started while the app was going down


@pytest.fixture(scope="module")
def ui_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    app = start_app(tmp_path_factory.mktemp("ui-app"))
    try:
        yield app
    finally:
        stop_app(app)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
