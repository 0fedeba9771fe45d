"""The agent's typed state: what a conversation keeps between messages, and the typed readers of its records."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from agent.goal import OVERRIDE_FIELDS, Goal, GPUHint, Intent, Method

if TYPE_CHECKING:
    from tools.plan.record import PlanOverrides, TrainingPlan

from tools.plan.record import PlanOverrides, parse_plan

META_KEY = "tunepilot"  # where a message keeps what tunepilot knows of it (files attached, a failed step, a button)
ACTION = "action"  # the key of a page action in a resume value or a graph input (agent.session)
SET_ASIDE = "set_aside"  # a resume value: the person sent new files instead of answering (see AgentSession.send)

# What is being handled: an intent the person's words asked for, or "continue", the page's timer after training.
Asked = Intent | Literal["continue"]
# What a step came to, which the graph routes on; None while nothing has been decided in this turn.
Outcome = Literal[
    "approved", "declined", "edit", "reask",  # the answer to a confirmation
    "planned", "refused", "error",  # a follow-up's plan is ready; the plan does not fit; a step failed
    "train_none", "train_running", "train_done", "train_cancelled", "train_failed", "train_interrupted",
]
ASKED: tuple[str, ...] = (*get_args(Intent), "continue")
OUTCOMES: tuple[str, ...] = get_args(Outcome)
PageAction = Literal["carry_on", "follow_up"]  # the timer after training; the runs tab's "Train again"


def _none_if_empty(value: Any) -> Any:
    return None if value == "" else value  # "" meant "none" to the readers of the untyped state


# A path the state keeps: stored as a str (JSON, as earlier versions stored it), read as a Path.
Folder = Annotated[Path | None, BeforeValidator(_none_if_empty)]


class Overrides(BaseModel):
    """What the person set in words (kept across messages, laid over the planner's choice), and the quick-trial
    limits of ``tunepilot run --max-steps / --eval-samples``."""

    model_config = ConfigDict(extra="forbid")

    method: Method | None = None
    epochs: int | None = Field(default=None, ge=1)
    rank: int | None = Field(default=None, ge=1)
    micro_batch: int | None = Field(default=None, ge=1)
    max_length: int | None = Field(default=None, ge=1)
    learning_rate: float | None = Field(default=None, gt=0)
    max_steps: int | None = None  # stop training after this many optimizer steps
    eval_samples: int | None = None  # at most this many questions in each set of the before/after table

    def edited(self, goal: Goal) -> Overrides:
        """These overrides with the settings a message named laid over them."""
        return self.model_copy(update=goal.overrides())

    def plan_overrides(self) -> PlanOverrides:
        """What the planner takes of them (the method goes to the planner on its own)."""
        named = self.model_dump(include=set(OVERRIDE_FIELDS) - {"method"}, exclude_none=True)
        return PlanOverrides(**named)

    def record(self) -> dict[str, Any]:
        """As the state keeps them: only what was set."""
        return self.model_dump(mode="json", exclude_none=True)


class StateError(RuntimeError):
    """The state holds a value the graph does not know: a bug in the agent, never the person's doing."""


class InputState(BaseModel):
    """What one graph input may set (``StateGraph(AgentState, input_schema=InputState)``): a message and its
    files, who asks, ``--yes``, a page action, the quick-trial overrides of ``tunepilot run``, and the run the
    runs tab opens. Any other key of an input is dropped by the graph (and so is any other key of an
    ``update_state`` on a conversation that has no step yet: LangGraph applies it as the input)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: Annotated[list[AnyMessage], add_messages] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)  # uploaded files to convert
    owner: str | None = None  # the conversation's thread id: the runs it makes are its own
    auto_approve: bool = False  # --yes: confirmations are approved without asking
    action: PageAction | None = None  # a page action that is not a message
    overrides: dict[str, Any] = Field(default_factory=dict)  # Overrides.record(): overrides_of(state)
    run_id: str | None = None  # the run the conversation works on: a step made it, or the runs tab opened it
    run_dir: Folder = None  # its folder (at_run)

    def as_input(self) -> dict[str, Any]:
        """The graph input: only the fields given (a field left out keeps what the conversation holds)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class AgentState(InputState):
    """What a conversation keeps between messages, as every node and router reads it.

    The stored form (LangGraph's channels, which the SQLite checkpointer keeps) is plain JSON: records as dicts,
    folders as ``str`` (see :func:`at_run`), as earlier versions stored them; reading a checkpoint validates it
    into this model, so folders come back as ``Path``. The records (goal, plan, overrides, hardware_hint) are
    read with the typed readers below."""

    lang: str | None = None  # "zh" or "en": the person's language, replies follow it (None before any message)
    goal: dict[str, Any] = Field(default_factory=dict)  # Goal.model_dump(mode="json") of the latest message: goal_of
    intent: Asked | None = None  # what the person (or the page) asked for in this turn: intent_of(state)
    outcome: Outcome | None = None  # what the last step came to, routed on; None while nothing is decided
    journey: bool = False  # the whole fine-tuning journey was asked for
    data_dir: Folder = None
    plan: dict[str, Any] | None = None  # TrainingPlan.model_dump(mode="json") (plan.json): plan_of(state)
    hardware_hint: dict[str, Any] | None = None  # GPUHint.model_dump(mode="json"), a GPU named in words
    stage: str | None = None  # data | plan | train | merge | deploy | eval | done
    note: str | None = None  # a notice for the person (e.g. LLM fallback)
    style: list[str] = Field(default_factory=list)  # the goal's style phrases ("concise", "at most 50 words")
    system_prompt: str | None = None  # from the goal's style and constraints; kept until a later goal names others
    questions_file: Folder = None  # the person's own questions with expected answers, for the learnt set

    @field_validator("intent", mode="before")
    @classmethod
    def _known_intent(cls, value: Any) -> Any:
        if value is None or value in ASKED:
            return value
        if value in OUTCOMES:  # older versions kept a step's outcome in ``intent``: nothing asked in this turn
            return None
        raise StateError(f"the agent's state has no known intent: {value!r}")

    @field_validator("outcome", mode="before")
    @classmethod
    def _known_outcome(cls, value: Any) -> Any:
        if value is not None and value not in OUTCOMES:
            raise StateError(f"the agent's state has an unknown outcome: {value!r}")
        return value

    @classmethod
    def of(cls, values: dict[str, Any]) -> AgentState:
        """The state from a checkpoint's values (channels this version no longer has are left out)."""
        return cls.model_validate({k: v for k, v in values.items() if k in cls.model_fields})

    @property
    def language(self) -> str:
        """The language replies are in: the person's, English before the first message."""
        return self.lang or "en"


def goal_of(state: AgentState) -> Goal:
    """The latest message's goal (an empty goal before any)."""
    return Goal.model_validate(state.goal)


def plan_of(state: AgentState) -> TrainingPlan | None:
    """The plan shown last, or None before any; a damaged one is refused with the fields it lacks."""
    return parse_plan(state.plan) if state.plan else None


def overrides_of(state: AgentState) -> Overrides:
    return Overrides.model_validate(state.overrides)


def hardware_hint_of(state: AgentState) -> GPUHint | None:
    return GPUHint.model_validate(state.hardware_hint) if state.hardware_hint else None


def intent_of(state: AgentState) -> Asked:
    """What this turn handles; a state with none is a bug (every turn starts by understanding)."""
    if state.intent is None:
        raise StateError("the agent's state has no known intent: None")
    return state.intent


def at_run(run_id: str, run_dir: str | Path) -> dict[str, Any]:
    """The state update that makes a run the conversation's current one, its folder stored as a ``str``."""
    return {"run_id": run_id, "run_dir": str(run_dir)}


class Confirmation(BaseModel):
    """An open question of the journey, what ``confirm_train`` / ``confirm_deploy`` interrupt with. The
    checkpoint keeps it as a dict (``model_dump``); :meth:`agent.session.AgentSession.pending` reads it back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["confirm_train", "confirm_deploy"] | None = None  # None: a question kept as bare words
    question: str = ""  # in the person's language
    plan: dict[str, Any] | None = None  # the plan asked about (TrainingPlan.model_dump(mode="json"))
    run_id: str | None = None

    @classmethod
    def of(cls, value: Any) -> Confirmation:
        return cls.model_validate(value) if isinstance(value, dict) else cls(question=str(value))
