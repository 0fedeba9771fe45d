"""The agent's typed state: records read back as models, the person's intent apart from a step's outcome, routers
that refuse a value they do not know, and conversations stored before the state was typed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent import graph
from agent.goal import Goal
from agent.state import (
    ASKED,
    OUTCOMES,
    AgentState,
    Overrides,
    StateError,
    goal_of,
    hardware_hint_of,
    intent_of,
    outcome_of,
    overrides_of,
    plan_of,
)


def test_records_are_read_as_models() -> None:
    goal = Goal(intents=["plan"], base_model="demo", params_b=0.135, rank=8)
    state: AgentState = {"goal": goal.model_dump(mode="json"), "hardware_hint": {"name": "RTX 4090", "memory_gb": 24},
                         "overrides": {"rank": 8, "max_steps": 5, "eval_samples": 3}}
    assert goal_of(state) == goal and goal_of({}) == Goal()
    hint = hardware_hint_of(state)
    assert hint is not None and hint.name == "RTX 4090" and hint.memory_gb == 24 and hint.count is None
    assert hardware_hint_of({}) is None and plan_of({}) is None
    ov = overrides_of(state)
    assert (ov.rank, ov.max_steps, ov.eval_samples) == (8, 5, 3)
    # the planner gets only what it plans with: the quick-trial limits are the trainer's and the evaluation's
    assert ov.plan_overrides().model_dump(exclude_none=True) == {"rank": 8}
    with pytest.raises(ValueError):
        overrides_of({"overrides": {"rank": 8, "a_setting_nobody_knows": 1}})


def test_an_edit_lays_the_named_settings_over_the_kept_ones() -> None:
    kept = Overrides(rank=8, max_steps=5)
    edited = kept.edited(Goal(micro_batch=2, method="qlora"))
    assert edited.record() == {"method": "qlora", "rank": 8, "micro_batch": 2, "max_steps": 5}
    assert kept.edited(Goal()).record() == kept.record()


def test_a_plan_in_the_state_reads_back_as_the_plan_record(runs_dir: Path) -> None:
    from agent.nodes import planning

    update = planning.plan({"lang": "en", "goal": {}, "hardware_hint": {"name": "RTX 4090", "memory_gb": 24}})
    plan = plan_of(update)  # type: ignore[arg-type]
    assert plan is not None and plan.model_dump(mode="json") == update["plan"]


def test_intent_and_outcome_are_apart_and_known() -> None:
    assert "finetune" in ASKED and "continue" in ASKED and "approved" not in ASKED
    assert {"approved", "declined", "edit", "reask", "refused", "error", "planned", "train_done"} <= set(OUTCOMES)
    assert intent_of({"intent": "plan"}) == "plan" and outcome_of({}) is None
    with pytest.raises(StateError, match="intent"):
        intent_of({"intent": "approved"})  # an outcome is not something the person asked for
    with pytest.raises(StateError, match="intent"):
        intent_of({})
    with pytest.raises(StateError, match="outcome"):
        outcome_of({"outcome": "finetune"})


@pytest.mark.parametrize("intent, route", [
    ("finetune", "ask_missing"), ("convert", "ask_missing"), ("plan", "plan"), ("train", "ask_missing"),
    ("status", "status"), ("continue", "status"), ("deploy", "confirm_deploy"), ("follow_up", "follow_up"),
    ("help", "help"), ("unknown", "help"), ("edit", "help"), ("confirm_yes", "help"), ("confirm_no", "help"),
])
def test_every_intent_has_a_step(intent: str, route: str) -> None:
    assert graph.route_intent({"intent": intent}) == route  # type: ignore[typeddict-item]


def test_routers_refuse_values_they_do_not_know() -> None:
    with pytest.raises(StateError):
        graph.route_intent({"intent": "fly_to_the_moon"})  # type: ignore[typeddict-item]
    with pytest.raises(StateError):
        graph.after_plan({"outcome": "maybe"})  # type: ignore[typeddict-item]
    with pytest.raises(StateError, match="confirmation"):
        graph.after_confirm({"outcome": "train_done"}, "train", "plan", "confirm_train")
    state: dict[str, Any] = {"intent": "plan", "outcome": "edit"}
    assert graph.after_plan(state) == "confirm_train"  # type: ignore[arg-type]  # an edit asks again
    assert graph.after_plan({"intent": "plan"}) == graph.END


def test_a_conversation_stored_before_the_state_was_typed_goes_on(runs_dir: Path) -> None:
    """Older conversations kept control words in ``intent`` and extra settings in ``overrides``: they still load."""
    from agent.session import AgentSession

    s = AgentSession("old", db_path=runs_dir / "conv.sqlite")
    s.graph.update_state(s.config, {"intent": "declined", "lang": "en", "overrides": {"rank": 8, "max_steps": 3},
                                    "goal": Goal(intents=["finetune"], base_model="demo").model_dump(mode="json")})
    turn = s.send("what would you pick for a 4090?")
    assert turn.state["intent"] == "plan" and turn.state["outcome"] is None
    assert "r=8" in turn.replies[0] and turn.state["overrides"] == {"rank": 8, "max_steps": 3}
