"""Training examples from dataset records: one prompt/completion pair per assistant turn.

The same pairs are what training learns, what merge checks, what deploy warms up with and what the
evaluation asks: every stage reads the dataset through :func:`load_examples`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.core.jsonio import iter_jsonl


def to_prompt_completion(record: dict[str, Any], system_prompt: str | None = None) -> list[dict[str, Any]]:
    """One example per assistant turn: ``{"prompt": [...messages], "completion": [assistant]}``."""
    if "messages" in record:
        messages = [
            {"role": m["role"], "content": m["content"]}
            for m in record["messages"]
            if isinstance(m, dict) and isinstance(m.get("content"), str)
        ]
    elif "instruction" in record or "output" in record:
        user = str(record.get("instruction", ""))
        if record.get("input"):
            user = f"{user}\n\n{record['input']}" if user else str(record["input"])
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": str(record["output"])}]
        if record.get("system"):
            messages.insert(0, {"role": "system", "content": str(record["system"])})
    else:
        return []
    if system_prompt and not (messages and messages[0]["role"] == "system"):
        messages.insert(0, {"role": "system", "content": system_prompt})
    out = []
    for i, m in enumerate(messages):
        if m["role"] == "assistant" and i > 0 and m["content"].strip():
            out.append({"prompt": messages[:i], "completion": [m]})
    return out


def load_examples(path: Path, system_prompt: str | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if not path.exists():
        return rows
    for _, rec in iter_jsonl(path):
        if isinstance(rec, dict):
            rows.extend(to_prompt_completion(rec, system_prompt))
    return rows
