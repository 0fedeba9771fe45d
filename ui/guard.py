"""Slows password guessing on a page started with ``--auth``.

Gradio answers every wrong login at once. :class:`LoginThrottle` sits in front of ``POST /login``: per
client address, one login is checked at a time, and after ``n`` wrong passwords in a row the next
attempt waits ``base_s * 2**(n-1)`` seconds (at most ``cap_s``) before it is checked. A right password
clears the count. Other requests are never delayed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

MAX_CLIENTS = 10_000


class LoginThrottle:
    def __init__(self, app: Any, base_s: float = 1.0, cap_s: float = 30.0) -> None:
        self.app = app
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures: OrderedDict[str, int] = OrderedDict()
        self.locks: dict[str, asyncio.Lock] = {}

    def delay(self, client: str) -> float:
        n = self.failures.get(client, 0)
        return 0.0 if n == 0 else min(self.cap_s, self.base_s * 2 ** (n - 1))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST" or \
                scope.get("path", "").rstrip("/") != "/login":
            await self.app(scope, receive, send)
            return
        client = str((scope.get("client") or ("unknown",))[0])
        lock = self.locks.setdefault(client, asyncio.Lock())
        async with lock:  # guesses sent in parallel wait in line, each with its delay
            wait = self.delay(client)
            if wait:
                await asyncio.sleep(wait)
            status: dict[str, int] = {}

            async def watch(message: dict[str, Any]) -> None:
                if message.get("type") == "http.response.start":
                    status["code"] = int(message.get("status", 0))
                await send(message)

            await self.app(scope, receive, watch)
            if status.get("code") == 200:
                self.failures.pop(client, None)
            elif status.get("code") in (400, 401, 403):
                self.failures[client] = self.failures.pop(client, 0) + 1
                while len(self.failures) > MAX_CLIENTS:
                    old, _ = self.failures.popitem(last=False)
                    self.locks.pop(old, None)
