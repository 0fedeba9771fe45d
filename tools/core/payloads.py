"""The data of the events, typed: what a stage writes into an event and every reader reads back.

Training (stage ``train``), merge (``merge``), deploy (``deploy``) and the evaluation (``eval``): each event that
carries data is written from one of these (``EventWriter.emit(..., **payload.fields())``) and read with ``of``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from tools.core.events import Event

P = TypeVar("P", bound="Payload")


class Payload(BaseModel):
    """One kind of event's data. Readers get ``None`` for an event of another kind (or one written before a
    field existed); unknown keys are ignored, so an older reader still reads a newer line."""

    model_config = ConfigDict(extra="ignore")
    STAGE: ClassVar[str] = "train"
    KIND: ClassVar[str]

    @classmethod
    def of(cls: type[P], event: Event) -> P | None:
        if event.stage != cls.STAGE or event.kind != cls.KIND:
            return None
        try:
            return cls.model_validate(event.data)
        except ValidationError:
            return None

    def fields(self) -> dict[str, Any]:
        """The keyword arguments of ``EventWriter.emit`` that write this payload."""
        return self.model_dump()


class Progress(Payload):
    """A training step (kind ``progress``)."""

    KIND = "progress"

    loss: float
    learning_rate: float = 0.0
    tokens_per_s: float | None = None
    s_per_step: float | None = None
    eta_s: float | None = None
    epoch: float | None = None


class EvalLoss(Payload):
    """An evaluation of the held-out loss (kind ``metric``)."""

    KIND = "metric"

    eval_loss: float


class Check(Payload):
    """The learning check: trained questions asked in other words (kind ``metric``)."""

    KIND = "metric"

    known: int = 0
    asked: int
    closed_known: int | None = None  # a run that reads its documents: the same questions without them
    check_s: float | None = None
    verdict: str | None = None
    sample: dict[str, str] | None = None


class Queued(Payload):
    """Another training holds the machine (kind ``info``): this one waits at ``queued``."""

    KIND = "info"

    queued: int


class Done(Payload):
    """The training finished (kind ``done``)."""

    KIND = "done"

    train_loss: float | None = None
    adapter: str | None = None
    peak_rss_mb: float | None = None
    train_runtime_s: float | None = None
    tokens_seen: int | None = None


class Failed(Payload):
    """The training stopped on an error (kind ``error``)."""

    KIND = "error"

    disk_full: bool = False
    saving: str | None = None
    oom: bool = False


# --- merge ------------------------------------------------------------------------------------------------------


class Merged(Payload):
    """The adapter was merged onto the base model (stage ``merge``, kind ``done``)."""

    STAGE = "merge"
    KIND = "done"

    path: str
    identical: bool


# --- deploy -----------------------------------------------------------------------------------------------------


ServeMode = Literal["lora", "merged", "pair"]


class DeployPayload(Payload):
    """An event of the deploy stage."""

    STAGE = "deploy"


class ServerStarting(DeployPayload):
    """vLLM is being started (stage ``deploy``, kind ``start``)."""

    KIND = "start"

    mode: ServeMode
    port: int


class ServerFailed(DeployPayload):
    """A server exited or never answered (stage ``deploy``, kind ``error``): its log's last lines."""

    KIND = "error"

    log_tail: str


class Canary(DeployPayload):
    """Base and adapter compared on a training prompt (stage ``deploy``, kind ``info``)."""

    KIND = "info"

    base: str
    tuned: str
    differ: bool


class ServerStopped(DeployPayload):
    """The run's server was stopped (stage ``deploy``, kind ``info``)."""

    KIND = "info"

    pid: int


class Deployed(DeployPayload):
    """The run's model is served (stage ``deploy``, kind ``done``)."""

    KIND = "done"

    base_url: str
    mode: ServeMode
    reading_url: str | None = None


# --- the evaluation ---------------------------------------------------------------------------------------------


class EvalPayload(Payload):
    """An event of the evaluation."""

    STAGE = "eval"


class EvalStarted(EvalPayload):
    """The evaluation's questions (stage ``eval``, kind ``start``; the held-out count is the event's ``total``)."""

    KIND = "start"

    learnt: int
    kept: int


class Evaluated(EvalPayload):
    """The before/after table was written (stage ``eval``, kind ``done``): its files and its numbers."""

    KIND = "done"

    files: dict[str, str]
    metrics: dict[str, dict[str, float | None]]
