"""Keep secrets out of what the product writes and shows.

API keys live in the environment (``TUNEPILOT_LLM_API_KEY``, ``VLLM_API_KEY``, Hugging Face tokens) or
in a deployment's ``serve.json`` (mode 0600). An error text from a server can echo a key back
("Incorrect API key provided: sk-…"); every error the product stores or shows goes through
:func:`redact`, and so does every event line.
"""

from __future__ import annotations

import os

SECRET_ENV = ("TUNEPILOT_LLM_API_KEY", "VLLM_API_KEY", "OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
MIN_LEN = 6  # shorter values ("EMPTY", "1") are not secrets and would mangle ordinary text
MASK = "***"
_registered: set[str] = set()


def register(secret: str | None) -> None:
    """Remember a secret this process holds that is not in the environment (a deployment's key)."""
    if secret and len(secret) >= MIN_LEN and secret != "EMPTY":
        _registered.add(secret)


def known_secrets() -> list[str]:
    found = {os.environ.get(name, "") for name in SECRET_ENV} | _registered
    return sorted((s for s in found if len(s) >= MIN_LEN and s != "EMPTY"), key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every known secret replaced by ``***``."""
    for secret in known_secrets():
        if secret in text:
            text = text.replace(secret, MASK)
    return text
