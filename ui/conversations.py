"""The page's conversations: one agent session per browser id, one turn at a time, the runs each owns.

The sessions are a bounded set sharing one compiled graph; the browser keeps its id encrypted with
:func:`browser_secret`. Shared by the page's handlers (the agent chat, the model chat, the runs tab and the
corrections).
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.session import AgentSession

from tools.core.errors import TunepilotError
from tools.core.paths import runs_root
from tools.core.runs import RunIndex

_sessions: dict[str, AgentSession] = {}  # most recently used last
_graphs: dict[Path, Any] = {}
_lock = threading.Lock()
MAX_SESSIONS = 256  # conversations kept in memory; an older one is rebuilt from SQLite when it comes back


def get_session(thread_id: str) -> AgentSession:
    """The conversation's session. Every conversation shares one compiled graph (one SQLite connection to the
    conversations file), and only the :data:`MAX_SESSIONS` most recent are kept: a page that receives
    many new ids holds neither memory nor file handles for each."""
    # here, not at the top: langgraph and the agent (~0.7 s) load on the first conversation, not on `import ui.app`
    from agent.graph import compile_graph, default_db
    from agent.session import AgentSession

    with _lock:
        session = _sessions.pop(thread_id, None)
        if session is None:
            db = default_db()
            if db not in _graphs:
                _graphs[db] = compile_graph(db)
            session = AgentSession(thread_id=thread_id, graph=_graphs[db])
        _sessions[thread_id] = session
        while len(_sessions) > MAX_SESSIONS:
            old = next(iter(_sessions))
            _sessions.pop(old)
            lock = _thread_locks.get(old)
            if lock is not None and not lock.locked():
                _thread_locks.pop(old, None)
        return session


def run_dir_of(thread_id: str) -> Path | None:
    """The run folder the conversation is working on, if any."""
    return get_session(thread_id).state().run_dir


def message_text(message: Any) -> str:
    """The text of a Chatbot message as the page hands it back (gradio 6: a list of content parts)."""
    content = message.get("content") if isinstance(message, dict) else getattr(message, "content", message)
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return str(content or "")


_thread_locks: dict[str, threading.Lock] = {}


def thread_lock(thread_id: str) -> threading.Lock:
    """One agent turn at a time per conversation (a click and the timer's tick must not interleave)."""
    with _lock:
        return _thread_locks.setdefault(thread_id, threading.Lock())


def new_thread_id(current: Any) -> str:
    """The browser's conversation id: kept if it has one, else a fresh random one (never shared)."""
    if isinstance(current, str) and re.fullmatch(r"[A-Za-z0-9_-]{8,64}", current):
        return current
    return secrets.token_hex(12)


def owns(thread_id: str, run_id: str) -> bool:
    """Whether this conversation may use the run (it made it: :meth:`tools.core.runs.RunIndex.get`)."""
    try:
        RunIndex().get(run_id, owner=new_thread_id(thread_id))
    except TunepilotError:
        return False
    return True


def browser_secret() -> str:
    """The key that encrypts the browser's stored thread id; kept under the runs root so restarts keep it."""
    path = runs_root() / ".ui-secret"
    try:
        text = path.read_text().strip()
        if text:
            return text
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    text = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return text
