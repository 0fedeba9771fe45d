"""Token counts with the chosen model's tokenizer (loaded once per model and cached)."""

from __future__ import annotations

import functools
import logging
from typing import Any

from tools.core.errors import InputError
from tools.core.models import resolve_model
from tools.core.templates import without_default_system
from tools.data.document import Record

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def load_tokenizer(model: str) -> Any:
    """AutoTokenizer for a model name ('demo', a folder or a hub id), cached per name."""
    path = resolve_model(model)
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(path))
    except Exception as exc:  # noqa: BLE001 - turned into a message a person can act on
        raise InputError(
            f"could not load the tokenizer of {model!r} ({type(exc).__name__}: {str(exc)[:200]})",
            hint="Name a local model folder, 'demo', or a hub id on a machine with network access",
        ) from exc


class TokenCounter:
    """Counts tokens of texts and of whole chat records (template overhead included)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.tok = load_tokenizer(model)
        if getattr(self.tok, "chat_template", None):  # counted as training renders examples: without a

            found = without_default_system(self.tok, self.tok.chat_template)
            if found is not None:
                self.tok.chat_template = found[0]
        self._overhead: dict[tuple[str, ...], int] = {}

    def count(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        out: list[int] = []
        step = 4096
        backend = getattr(self.tok, "backend_tokenizer", None)
        fast = getattr(backend, "encode_batch_fast", None) or getattr(backend, "encode_batch", None)
        for i in range(0, len(texts), step):
            batch = texts[i: i + step]
            if fast is not None:  # the Rust tokenizer directly: same ids, no Python-side conversion
                out.extend(len(e.ids) for e in fast(batch, add_special_tokens=False))
            else:
                out.extend(len(ids) for ids in self.tok(batch, add_special_tokens=False)["input_ids"])
        return out

    def overhead(self, roles: tuple[str, ...]) -> int:
        """Tokens the chat template adds around messages with these roles (as trained: no default system prompt
        of the template's own, ``tools.train.model.drop_default_system``)."""
        if roles in self._overhead:
            return self._overhead[roles]
        value = 0
        if getattr(self.tok, "chat_template", None):
            msgs = [{"role": r, "content": "x"} for r in roles]
            try:
                ids = self.tok.apply_chat_template(msgs, tokenize=True)
                if isinstance(ids, dict) or hasattr(ids, "keys"):
                    ids = ids["input_ids"]
                value = max(0, len(ids) - len(roles) * self.count(["x"])[0])
            except Exception:  # noqa: BLE001 - a template that rejects these roles: count contents only
                value = 4 * len(roles)
        self._overhead[roles] = value
        return value

    def system_tokens(self, prompt: str) -> int:
        """Tokens a system message of ``prompt`` adds to an example: its words and the template's frame for it."""
        frame = self.overhead(("system", "user", "assistant")) - self.overhead(("user", "assistant"))
        return self.count([prompt])[0] + max(0, frame)

    def count_records(self, records: list[Record]) -> None:
        """Set ``rec.tokens`` for every record."""
        texts: list[str] = []
        for rec in records:
            if rec.text is not None:
                texts.append(rec.text)
            else:
                texts.extend(m["content"] for m in rec.messages)
        counts = self.count(texts)
        i = 0
        for rec in records:
            if rec.text is not None:
                rec.tokens = counts[i]
                i += 1
                continue
            n = len(rec.messages)
            rec.tokens = sum(counts[i: i + n]) + self.overhead(tuple(m["role"] for m in rec.messages))
            i += n


def percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list (0 for an empty list)."""
    if not sorted_values:
        return 0
    k = max(0, min(len(sorted_values) - 1, int(-(-q * len(sorted_values) // 100)) - 1))
    return sorted_values[k]
