"""The optional LLM path, against a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.llm import parse_with_llm


class Scripted(BaseHTTPRequestHandler):
    answers: list[str] = []
    requests: list[dict] = []

    def log_message(self, *a) -> None:  # noqa: ANN002
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Scripted.requests.append(body)
        content = Scripted.answers.pop(0) if Scripted.answers else "?"
        data = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Scripted]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("TUNEPILOT_LLM_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
    monkeypatch.setenv("TUNEPILOT_LLM_API_KEY", "test-key")
    monkeypatch.setenv("TUNEPILOT_LLM_MODEL", "scripted")
    Scripted.answers, Scripted.requests = [], []
    yield Scripted
    server.shutdown()


def test_llm_answer_becomes_the_goal(llm) -> None:
    llm.answers.append('Sure! {"intents": ["finetune"], "base_model": "Qwen/Qwen2.5-7B-Instruct", '
                       '"method": "qlora", "rank": 32, "language": "zh", "style": ["concise"]}')
    goal, note = parse_with_llm("拿 Qwen 7B 做个客服，QLoRA，秩 32", has_files=True)
    assert note is None
    assert goal is not None and goal.intents == ["finetune"] and goal.method == "qlora" and goal.rank == 32
    sent = llm.requests[0]
    assert sent["model"] == "scripted" and sent["temperature"] == 0
    assert "拿 Qwen 7B 做个客服" in sent["messages"][1]["content"]  # the goal-extraction prompt carries it


@pytest.mark.parametrize("answer", ["I cannot help with that.", '{"intents": ["fly-to-the-moon"]}', '{"intents": []}'])
def test_nonsense_falls_back_to_the_parser_and_says_so(llm, answer: str) -> None:
    llm.answers.append(answer)
    goal, note = parse_with_llm("用这些 FAQ 微调一个小模型", has_files=True)
    assert goal is not None and goal.intents == ["finetune"] and goal.base_model == "demo"
    assert note and "解析" in note or "parser" in (note or "")


def test_unreachable_llm_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNEPILOT_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("TUNEPILOT_LLM_MODEL", "x")
    goal, note = parse_with_llm("what would you pick for a 4090?")
    assert goal is not None and "plan" in goal.intents and note
