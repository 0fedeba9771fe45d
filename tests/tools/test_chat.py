"""What the page's model chat sends: the run's system prompt on every chat, base and tuned alike."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tools.serve.chat import complete, stream_chat
from tools.serve.record import Deployment

SYSTEM = "你是青梧诊所的前台，回答要简短。"


class _Recorder(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that keeps every request body and answers "好的。"."""

    bodies: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        type(self).bodies.append(body)
        if body.get("stream"):
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": "好的。"},
                                  "finish_reason": None}]}
            data = f"data: {json.dumps(chunk, ensure_ascii=False)}\n\ndata: [DONE]\n\n".encode()
            ctype = "text/event-stream"
        else:
            data = json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": body["model"],
                               "choices": [{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant", "content": "好的。"}}],
                               "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}},
                              ensure_ascii=False).encode()
            ctype = "application/json"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_every_chat_base_and_tuned_starts_with_the_runs_system_prompt(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Recorder.bodies = []
    try:
        dep = Deployment(run_dir=str(tmp_path), pid=1, host="127.0.0.1", port=server.server_port,
                         base_url=f"http://127.0.0.1:{server.server_port}/v1", mode="lora",
                         models={"base": "demo", "tuned": "tuned"}, base_model="demo",
                         log=str(tmp_path / "vllm.log"), command=["vllm"], started=0.0, system_prompt=SYSTEM)
        asked = [{"role": "user", "content": "周六开门吗？"}]
        for which in ("base", "tuned"):
            assert complete(dep, which, asked) == "好的。"
            assert "".join(stream_chat(dep, which, asked)) == "好的。"
        own = [{"role": "system", "content": "Answer in English."}, *asked]
        complete(dep, "tuned", own)  # a chat that brings its own system prompt keeps it, and only it
    finally:
        server.shutdown()
    sent = _Recorder.bodies
    assert [b["model"] for b in sent] == ["demo", "demo", "tuned", "tuned", "tuned"]
    for body in sent[:4]:
        assert body["messages"] == [{"role": "system", "content": SYSTEM}, *asked]
    assert sent[4]["messages"] == own
    assert asked == [{"role": "user", "content": "周六开门吗？"}]  # the caller's list is not changed
