"""The deployed assistant, answering the way the page does: an OpenAI-compatible endpoint in front of vLLM.

``python -m tools.serve.reading RUN_DIR --port N`` (``tunepilot deploy`` starts it for a run with documents). A
``POST /v1/chat/completions`` has its last user message answered with the passages found for it, the answer
checked by the guard (:mod:`tools.data.read.answer`, the same code as ``tunepilot ask`` and the page); the reply is an
ordinary chat completion (streamed as one chunk when ``stream`` is asked) with a ``sources`` list beside the
message. ``"closed_book": true`` in the request body (``extra_body`` in the OpenAI SDK) asks without them.
``GET /v1/models`` and ``/health`` answer as vLLM's do. The API key rule is the deployment's: with a key, every
request must carry it (``Authorization: Bearer KEY``).
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tools.data.read.answer import finish, prepare
from tools.serve.ask import run_reading
from tools.serve.chat import complete
from tools.serve.record import load_deployment

log = logging.getLogger(__name__)


class ReadingApp:
    """What one request needs: the run's passages and the upstream deployment."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.index, self.system, self.k, _ = run_reading(run_dir)
        dep = load_deployment(run_dir)
        if dep is None:
            raise SystemExit(f"{run_dir}: not deployed (no serve.json)")
        self.dep = dep

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        users = [i for i, m in enumerate(messages) if m.get("role") == "user" and isinstance(m.get("content"), str)]
        if not users:
            raise ValueError("messages: no user message to answer")
        which = str(body.get("model") or "tuned")
        question = messages[users[-1]]["content"]
        system = next((m["content"] for m in messages if m.get("role") == "system"), None) or self.system
        prep = prepare(question, self.index, None, self.k, closed_book=bool(body.get("closed_book")))
        history = [m for m in messages[:users[-1]] if m.get("role") != "system"]
        sent = ([{"role": "system", "content": system}] if system else []) + history + prep.messages
        raw = complete(self.dep, which, sent, max_tokens=int(body.get("max_tokens") or 256),
                       temperature=float(body.get("temperature") or 0.0))
        done = finish(prep, raw, self.index.passages if self.index is not None else [])
        return {
            "id": "chatcmpl-" + uuid.uuid4().hex[:24], "object": "chat.completion", "created": int(time.time()),
            "model": which,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": done.answer}}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "sources": [s.model_dump(mode="json") for s in done.sources],
            "tunepilot": {"mode": done.mode, "guard_fired": done.guard_fired, "model_answer": done.model_answer},
        }


def _send_json(handler: BaseHTTPRequestHandler, code: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _handler(app: ReadingApp, api_key: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:
            log.info("%s " + fmt, self.address_string(), *args)

        def _send(self, code: int, payload: dict[str, Any]) -> None:
            _send_json(self, code, payload)

        def _error(self, code: int, message: str) -> None:
            self._send(code, {"error": {"message": message, "type": "invalid_request_error", "code": code}})

        def _authorised(self) -> bool:
            if not api_key:
                return True
            given = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if hmac.compare_digest(given.encode(), api_key.encode()):
                return True
            self._error(401, "invalid API key")
            return False

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path.rstrip("/") == "/health":
                self._send(200, {"status": "ok"})
            elif self.path.rstrip("/") == "/v1/models" and self._authorised():
                now = int(time.time())
                self._send(200, {"object": "list", "data": [
                    {"id": name, "object": "model", "created": now, "owned_by": "tunepilot"}
                    for name in sorted(app.dep.models)]})
            elif self.path.rstrip("/") not in ("/health", "/v1/models"):
                self._error(404, f"no such path {self.path}")

        def do_POST(self) -> None:  # noqa: N802
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._error(404, f"no such path {self.path}")
                return
            if not self._authorised():
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                reply = app.answer(body)
            except (ValueError, TypeError) as exc:
                self._error(400, str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - the upstream's failure, said to the client
                self._error(502, f"the model server failed: {exc}")
                return
            if body.get("stream"):
                self._stream(reply)
            else:
                self._send(200, reply)

        def _stream(self, reply: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(_one_chunk(reply))

    return Handler


def _one_chunk(reply: dict[str, Any]) -> bytes:
    """A checked answer as a stream: one chunk with the whole answer, then the end."""
    msg = reply["choices"][0]["message"]
    chunk = {**{k: reply[k] for k in ("id", "created", "model", "sources")}, "object": "chat.completion.chunk",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": msg["content"]},
                          "finish_reason": "stop"}]}
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\ndata: [DONE]\n\n".encode()


def serve(run_dir: Path, host: str, port: int, api_key: str | None) -> None:
    app = ReadingApp(run_dir)
    server = ThreadingHTTPServer((host, port), _handler(app, api_key))
    log.info("answering from %d passages at http://%s:%d/v1", len(app.index or []), host, port)
    server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(prog="python -m tools.serve.reading")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(args.run_dir.resolve(), args.host, args.port, os.environ.get("TUNEPILOT_ENDPOINT_KEY") or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
