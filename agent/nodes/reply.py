"""What a node says: a reply in the person's language, a failure as a plain sentence, server paths as run ids."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

from agent.state import META_KEY, AgentState
from tools.core.errors import TunepilotError
from tools.core.messages import say
from tools.core.paths import runs_root
from tools.core.secrets import redact


def reply(state: AgentState, key: str, /, **kw: Any) -> dict[str, Any]:
    return {"messages": [AIMessage(content=say(f"agent.{key}", state.language, **kw))]}


def error_reply(state: AgentState, err: Exception) -> dict[str, Any]:
    """A tool's failure as a plain sentence in the person's language, never a traceback (nodes hold no business
    logic: every number they report comes from a tool's result)."""
    text = redact(str(err) if isinstance(err, TunepilotError) else f"{type(err).__name__}: {err}")
    said = say("agent.error", state.language, error=shown(text, state))
    return {"messages": [AIMessage(content=said, additional_kwargs={META_KEY: {"failed": True}})], "outcome": "error"}


def shown(text: str, state: AgentState, run_dir: Path | None = None, run_id: str | None = None) -> str:
    """The text with the run folder's server path written as the run id: ``/srv/runs/<id>/merged`` → ``<id>/merged``.

    The state and the tools keep the full paths; only what the person reads is shortened.
    """
    folder = run_dir or state.run_dir
    if folder is not None:
        name = run_id or state.run_id or folder.name
        for path in {str(folder.resolve()), str(folder)}:
            text = re.sub(re.escape(path) + r"(?![\w.-])", lambda _: name, text)
    # files the page stored (runs/uploads/<conversation>/NAME) by their names, other run paths from the root
    root = runs_root()
    text = re.sub(re.escape(str(root / "uploads")) + r"/[^/\s]+/", "", text)
    return text.replace(str(root) + "/", "")


def last_human(state: AgentState) -> str:
    for m in reversed(state.messages):
        if isinstance(m, HumanMessage):
            return str(m.content)
    return ""
