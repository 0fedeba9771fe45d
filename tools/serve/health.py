"""Talking to a running vLLM server over HTTP (/health, the model list, JSON posts), and why one did not start."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def http_json(url: str, *, api_key: str | None = None, data: dict[str, Any] | None = None,
              timeout: float = 5.0) -> Any:
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
    data = http_json(base_url + "/models", api_key=api_key)
    return [m["id"] for m in data.get("data", [])]


def log_tail(path: Path, n: int = 15) -> str:
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
