"""Chat with a deployment through the OpenAI SDK (streaming), used by the CLI, evaluation and the page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from tools.core.errors import TunepilotError
from tools.core.secrets import redact

if TYPE_CHECKING:
    from tools.serve.record import Deployment


class ChatError(TunepilotError):
    exit_code = 4


def _client(dep: Deployment, which: str, timeout: float = 120.0) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=dep.url_for(which), api_key=dep.api_key or "EMPTY", timeout=timeout, max_retries=0)


def _model_name(dep: Deployment, which: str) -> str:
    if which in dep.models:
        return dep.models[which]
    if which in dep.loaded_adapters or which in dep.models.values():
        return which
    raise ChatError(
        f"this deployment has no model {which!r}",
        hint=f"Choose one of: {', '.join(sorted(set(dep.models) | set(dep.loaded_adapters)))}",
    )


def _wrap(exc: Exception, dep: Deployment, which: str = "tuned") -> ChatError:
    import openai

    if isinstance(exc, openai.APIConnectionError | openai.APITimeoutError):
        return ChatError(
            f"the model server at {dep.url_for(which)} is not answering",
            hint="Check `tunepilot deploy --status`; redeploy with `tunepilot deploy --run RUN_DIR`",
        )
    if isinstance(exc, openai.AuthenticationError):
        return ChatError("the model server refused the API key", hint="Use the key stored in serve.json")
    if isinstance(exc, openai.APIStatusError):
        return ChatError(f"the model server answered {exc.status_code}: {redact(str(exc))[:300]}")
    return ChatError(f"chat failed: {redact(str(exc))}")


def with_system(dep: Deployment, messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The run's system prompt first, unless the messages bring their own (base and tuned get the same)."""
    if not getattr(dep, "system_prompt", None) or any(m.get("role") == "system" for m in messages):
        return messages
    return [{"role": "system", "content": dep.system_prompt}, *messages]  # type: ignore[dict-item]


def stream_chat(
    dep: Deployment, which: str, messages: list[dict[str, str]], *, max_tokens: int = 256,
    temperature: float = 0.0,
) -> Iterator[str]:
    """Yield text pieces of the answer as they arrive."""
    model = _model_name(dep, which)
    try:
        stream = _client(dep, which).chat.completions.create(
            model=model, messages=with_system(dep, messages), max_tokens=max_tokens, temperature=temperature,
            stream=True,
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content
    except ChatError:
        raise
    except Exception as exc:  # noqa: BLE001 - every SDK error becomes one sentence
        raise _wrap(exc, dep, which) from exc


def complete(
    dep: Deployment, which: str, messages: list[dict[str, str]], *, max_tokens: int = 256,
    temperature: float = 0.0, seed: int | None = 0,
) -> str:
    """One greedy (by default) answer, not streamed."""
    model = _model_name(dep, which)
    try:
        resp = _client(dep, which).chat.completions.create(
            model=model, messages=with_system(dep, messages), max_tokens=max_tokens, temperature=temperature,
            seed=seed,
        )
    except Exception as exc:  # noqa: BLE001
        raise _wrap(exc, dep, which) from exc
    return resp.choices[0].message.content or ""
