"""Many conversations on one page: bounded memory and file handles, nothing forgotten."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_hundreds_of_new_ids_hold_no_handles_and_lose_no_conversation(runs_dir: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from ui import conversations as app

    monkeypatch.setattr(app, "_sessions", {})
    monkeypatch.setattr(app, "_graphs", {})
    monkeypatch.setattr(app, "MAX_SESSIONS", 16)
    first = app.get_session("conversation-0000")
    first.send("我的运行记录")
    before = _open_files()
    for i in range(1, 300):
        app.get_session(f"conversation-{i:04d}")
    assert _open_files() - before <= 2  # was two SQLite handles per id: the 39th id broke uploads
    assert len(app._sessions) == 16 and len(app._graphs) == 1
    assert "conversation-0000" not in app._sessions
    # the oldest conversation was let go from memory, not from its SQLite file
    again = app.get_session("conversation-0000")
    assert again is not first and again.graph is first.graph
    assert again.history()[0] == ("user", "我的运行记录")
