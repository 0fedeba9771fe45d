"""The deployment record: what ``serve.json`` in a run folder says about the run's model server.

Deploy writes it; chat, the evaluation, the agent and the page read it (:func:`load_deployment`).
Model names on the server: ``base`` (the base model) and ``tuned`` (the adapter or the merged model). In pair
mode (side by side on a CPU) the base model has a server of its own, recorded as the deployment's ``peer``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.core.jsonio import read_json
from tools.core.secrets import register as register_secret

SERVE_FILE = "serve.json"
BASE_NAME = "base"
TUNED_NAME = "tuned"


class Peer(BaseModel):
    """The second server of a ``pair`` deployment: the base model, beside the merged fine-tuned one."""

    model_config = ConfigDict(extra="forbid")

    pid: int
    port: int
    base_url: str
    log: str
    command: list[str]


class Deployment(BaseModel):
    """What ``serve.json`` holds."""

    model_config = ConfigDict(extra="forbid")

    run_dir: str
    pid: int
    host: str
    port: int
    base_url: str
    mode: Literal["lora", "merged", "pair"]
    models: dict[str, str]
    base_model: str
    adapter: str | None = None
    log: str
    command: list[str]
    started: float
    api_key: str | None = None
    reasons: list[str] = Field(default_factory=list)
    loaded_adapters: dict[str, str] = Field(default_factory=dict)
    system_prompt: str | None = Field(default=None, description="the run's system prompt, sent with every chat")
    peer: Peer | None = Field(default=None, description="pair mode: the base model's own server")
    reading: Peer | None = Field(default=None, description="a run with documents: the endpoint that answers by "
                                 "reading them, in front of vLLM (tools/serve/reading.py)")

    def url_for(self, which: str) -> str:
        """The server that answers as ``which``: in pair mode the base has its own."""
        return self.peer.base_url if self.peer is not None and which == BASE_NAME else self.base_url


def load_deployment(run_dir: Path) -> Deployment | None:
    path = run_dir / SERVE_FILE
    if not path.exists():
        return None
    dep = Deployment.model_validate(read_json(path))
    register_secret(dep.api_key)  # an error text that echoes it is scrubbed from events and messages
    return dep
