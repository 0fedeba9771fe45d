"""The agent's typed state: what a conversation keeps between messages, and the typed readers of its records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypedDict, get_args

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, ConfigDict, Field

from agent.goal import OVERRIDE_FIELDS, Goal, GPUHint, Intent, Method

if TYPE_CHECKING:
    from tools.plan.record import PlanOverrides, TrainingPlan

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
        from tools.plan.record import PlanOverrides

        named = self.model_dump(include=set(OVERRIDE_FIELDS) - {"method"}, exclude_none=True)
        return PlanOverrides(**named)

    def record(self) -> dict[str, Any]:
        """As the state keeps them: only what was set."""
        return self.model_dump(mode="json", exclude_none=True)


class AgentState(TypedDict, total=False):
    """The records (goal, plan, overrides, hardware_hint) are kept as JSON dicts, which the SQLite checkpointer
    stores as they are; nodes read them with the typed readers below, never by key."""

    messages: Annotated[list[AnyMessage], add_messages]
    lang: str  # "zh" or "en": the person's language, replies follow it
    goal: dict[str, Any]  # Goal.model_dump(mode="json") of the latest parsed message: goal_of(state)
    intent: Asked  # what the person (or the page) asked for in this turn: intent_of(state)
    outcome: Outcome | None  # what the last step came to, routed on: outcome_of(state)
    journey: bool  # the whole fine-tuning journey was asked for
    files: list[str]  # uploaded files to convert
    run_id: str | None
    run_dir: str | None
    data_dir: str | None
    plan: dict[str, Any] | None  # TrainingPlan.model_dump(mode="json") (plan.json): plan_of(state)
    overrides: dict[str, Any]  # Overrides.record(): overrides_of(state)
    hardware_hint: dict[str, Any] | None  # GPUHint.model_dump(mode="json"), a GPU named in words: hardware_hint_of
    stage: str  # data | plan | train | merge | deploy | eval | done
    note: str | None  # a notice for the person (e.g. LLM fallback)
    style: list[str]  # the goal's style phrases ("concise", "at most 50 words")
    system_prompt: str | None  # from the goal's style and constraints; kept until a later goal names others
    questions_file: str | None  # the person's own questions with expected answers, for the table's learnt set
    owner: str  # the conversation's thread id: the runs it makes are its own
    auto_approve: bool  # --yes: confirmations are approved without asking
    action: str | None  # a page action that is not a message ("carry_on": the journey goes on after training)


class StateError(RuntimeError):
    """The state holds a value the graph does not know: a bug in the agent, never the person's doing."""


def goal_of(state: AgentState) -> Goal:
    """The latest message's goal (an empty goal before any)."""
    return Goal.model_validate(state.get("goal") or {})


def plan_of(state: AgentState) -> TrainingPlan | None:
    """The plan shown last, or None before any; a damaged one is refused with the fields it lacks."""
    from tools.plan.record import parse_plan

    data = state.get("plan")
    return parse_plan(data) if data else None


def overrides_of(state: AgentState) -> Overrides:
    return Overrides.model_validate(state.get("overrides") or {})


def hardware_hint_of(state: AgentState) -> GPUHint | None:
    hint = state.get("hardware_hint")
    return GPUHint.model_validate(hint) if hint else None


def intent_of(state: AgentState) -> Asked:
    intent = state.get("intent")
    if intent not in ASKED:
        raise StateError(f"the agent's state has no known intent: {intent!r}")
    return intent  # type: ignore[return-value]


def outcome_of(state: AgentState) -> Outcome | None:
    outcome = state.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise StateError(f"the agent's state has an unknown outcome: {outcome!r}")
    return outcome
