"""Wrong passwords are slowed per client; nothing else is."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from ui.guard import LoginThrottle


async def _gradio_like(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers POST /login 200 for the right password, 400 otherwise (as Gradio does); 200 elsewhere."""
    body = (await receive()).get("body", b"")
    ok = scope["path"] != "/login" or b"password=right" in body
    await send({"type": "http.response.start", "status": 200 if ok else 400, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _call(guard: LoginThrottle, client: str, body: bytes, path: str = "/login") -> tuple[int, float]:
    out: dict[str, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]

    scope = {"type": "http", "method": "POST", "path": path, "client": (client, 5000)}
    t0 = time.monotonic()
    asyncio.run(guard(scope, receive, send))
    return out["status"], time.monotonic() - t0


def test_each_wrong_password_makes_the_next_try_of_that_client_wait_longer() -> None:
    guard = LoginThrottle(_gradio_like, base_s=0.2, cap_s=0.5)
    status, took = _call(guard, "10.0.0.9", b"password=guess1")
    assert status == 400 and took < 0.2  # the first wrong try is answered at once
    status, took = _call(guard, "10.0.0.9", b"password=guess2")
    assert status == 400 and took >= 0.2  # the second guess waited
    status, took = _call(guard, "10.0.0.9", b"password=guess3")
    assert status == 400 and took >= 0.4
    assert guard.delay("10.0.0.9") == 0.5  # capped
    # another client and other pages are not slowed
    status, took = _call(guard, "10.0.0.7", b"password=right")
    assert status == 200 and took < 0.2
    status, took = _call(guard, "10.0.0.9", b"", path="/gradio_api/info")
    assert status == 200 and took < 0.2
    # the right password still works (after its wait) and clears the count
    status, took = _call(guard, "10.0.0.9", b"password=right")
    assert status == 200 and took >= 0.5 and guard.delay("10.0.0.9") == 0.0


def test_the_pages_default_wait_doubles_from_one_second_and_stops_at_thirty(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's promise for `--auth`: 1 s, 2 s, 4 s … after wrong passwords, never more than 30 s."""
    waited: list[float] = []

    async def no_real_wait(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr("ui.guard.asyncio.sleep", no_real_wait)
    guard = LoginThrottle(_gradio_like)  # as the page installs it: Middleware(LoginThrottle), the defaults
    for i in range(10):
        assert _call(guard, "10.0.0.9", f"password=guess{i}".encode())[0] == 400
    assert waited == [1, 2, 4, 8, 16, 30, 30, 30, 30]
    assert _call(guard, "10.0.0.9", b"password=right")[0] == 200 and waited[-1] == 30
    assert guard.delay("10.0.0.9") == 0.0


@pytest.mark.slow
def test_the_real_page_slows_wrong_logins(tmp_path: Path) -> None:
    import urllib.error
    import urllib.parse
    import urllib.request

    from tests.ui.conftest import start_app, stop_app

    app = start_app(tmp_path, auth="alice:对的密码")

    def login(password: str) -> tuple[int, float]:
        data = urllib.parse.urlencode({"username": "alice", "password": password}).encode()
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(urllib.request.Request(app.url + "login", data=data), timeout=60) as r:
                return r.status, time.monotonic() - t0
        except urllib.error.HTTPError as err:
            return err.code, time.monotonic() - t0

    try:
        assert login("guess-1")[0] == 400
        status, took = login("guess-2")
        assert status == 400 and took >= 1.0, took
        status, took = login("对的密码")
        assert status == 200 and took >= 2.0, took
        assert "/proc/<pid>/cmdline" not in app.log_tail()  # given by TUNEPILOT_AUTH: no warning needed
    finally:
        stop_app(app)
