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
    overrides_of,
    plan_of,
)


def test_records_are_read_as_models() -> None:
    goal = Goal(intents=["plan"], base_model="demo", params_b=0.135, rank=8)
    state = AgentState(goal=goal.model_dump(mode="json"), hardware_hint={"name": "RTX 4090", "memory_gb": 24},
                       overrides={"rank": 8, "max_steps": 5, "eval_samples": 3})
    assert goal_of(state) == goal and goal_of(AgentState()) == Goal()
    hint = hardware_hint_of(state)
    assert hint is not None and hint.name == "RTX 4090" and hint.memory_gb == 24 and hint.count is None
    assert hardware_hint_of(AgentState()) is None and plan_of(AgentState()) is None
    ov = overrides_of(state)
    assert (ov.rank, ov.max_steps, ov.eval_samples) == (8, 5, 3)
    # the planner gets only what it plans with: the quick-trial limits are the trainer's and the evaluation's
    assert ov.plan_overrides().model_dump(exclude_none=True) == {"rank": 8}
    with pytest.raises(ValueError):
        overrides_of(AgentState(overrides={"rank": 8, "a_setting_nobody_knows": 1}))


def test_an_edit_lays_the_named_settings_over_the_kept_ones() -> None:
    kept = Overrides(rank=8, max_steps=5)
    edited = kept.edited(Goal(micro_batch=2, method="qlora"))
    assert edited.record() == {"method": "qlora", "rank": 8, "micro_batch": 2, "max_steps": 5}
    assert kept.edited(Goal()).record() == kept.record()


def test_a_plan_in_the_state_reads_back_as_the_plan_record(runs_dir: Path) -> None:
    from agent.nodes import planning

    update = planning.plan(AgentState(lang="en", goal={}, hardware_hint={"name": "RTX 4090", "memory_gb": 24}))
    plan = plan_of(AgentState(plan=update["plan"]))
    assert plan is not None and plan.model_dump(mode="json") == update["plan"]


def test_intent_and_outcome_are_apart_and_known() -> None:
    assert "finetune" in ASKED and "continue" in ASKED and "approved" not in ASKED
    assert {"approved", "declined", "edit", "reask", "refused", "error", "planned", "train_done"} <= set(OUTCOMES)
    assert intent_of(AgentState(intent="plan")) == "plan" and AgentState().outcome is None
    with pytest.raises(StateError, match="intent"):
        intent_of(AgentState(intent="approved"))  # an outcome is not something the person asked for
    with pytest.raises(StateError, match="intent"):
        intent_of(AgentState())
    with pytest.raises(StateError, match="outcome"):
        AgentState(outcome="finetune")


@pytest.mark.parametrize("intent, route", [
    ("finetune", "ask_missing"), ("convert", "ask_missing"), ("plan", "plan"), ("train", "ask_missing"),
    ("status", "status"), ("continue", "status"), ("deploy", "confirm_deploy"), ("follow_up", "follow_up"),
    ("help", "help"), ("unknown", "help"), ("edit", "help"), ("confirm_yes", "help"), ("confirm_no", "help"),
])
def test_every_intent_has_a_step(intent: str, route: str) -> None:
    assert graph.route_intent(AgentState(intent=intent)) == route


def test_routers_refuse_values_they_do_not_know() -> None:
    with pytest.raises(StateError):
        graph.route_intent(AgentState(intent="fly_to_the_moon"))
    with pytest.raises(StateError):
        graph.after_plan(AgentState(outcome="maybe"))
    with pytest.raises(StateError, match="confirmation"):
        graph.after_confirm(AgentState(outcome="train_done"), "train", "plan", "confirm_train")
    state = AgentState(intent="plan", outcome="edit")
    assert graph.after_plan(state) == "confirm_train"  # an edit asks again
    assert graph.after_plan(AgentState(intent="plan")) == graph.END


def test_a_conversation_stored_before_the_state_was_typed_goes_on(runs_dir: Path) -> None:
    """Older conversations kept control words in ``intent`` and extra settings in ``overrides``: they still load."""
    from agent.session import AgentSession

    s = AgentSession("old", db_path=runs_dir / "conv.sqlite")
    # as a step's write: on a conversation with no step yet, LangGraph applies an update as the input (InputState)
    s.graph.update_state(s.config, {"intent": "declined", "lang": "en", "overrides": {"rank": 8, "max_steps": 3},
                                    "goal": Goal(intents=["finetune"], base_model="demo").model_dump(mode="json")},
                         as_node="help")
    assert s.values()["intent"] == "declined" and s.state().intent is None  # an outcome kept as the intent
    turn = s.send("what would you pick for a 4090?")
    assert turn.state is not None and turn.state.intent == "plan" and turn.state.outcome is None
    assert "r=8" in turn.replies[0] and turn.state.overrides == {"rank": 8, "max_steps": 3}


@pytest.mark.parametrize("router, outcome", [
    (graph.after_convert, "approved"), (graph.after_plan, "train_done"), (graph.after_follow_up, "reask"),
    (graph.after_confirm_train, "planned"), (graph.after_confirm_deploy, None), (graph.after_status, "approved"),
    (graph.after_merge, "refused"), (graph.after_deploy, None), (graph.after_evaluate, "planned"),
])
def test_a_router_raises_on_an_outcome_its_step_cannot_come_to(router: Any, outcome: str | None) -> None:
    """Each router names the outcomes its step can come to; any other is a bug, never a silent END."""
    with pytest.raises(StateError, match="came to"):
        router(AgentState(intent="finetune", journey=True, outcome=outcome))


def test_routers_name_the_steps_the_graph_has() -> None:
    """The routers' Literal return types are the graph's edges (LangGraph reads them): each names real steps."""
    from typing import get_args, get_type_hints

    steps = set(graph.build_graph().nodes) | {graph.END}
    for router in (graph.route_intent, graph.after_convert, graph.after_plan, graph.after_follow_up,
                   graph.after_confirm_train, graph.after_confirm_deploy, graph.after_status, graph.after_merge,
                   graph.after_deploy, graph.after_evaluate):
        names = set(get_args(get_type_hints(router)["return"]))
        assert names and names <= steps, (router.__name__, names - steps)


def test_the_state_keeps_folders_as_text_and_reads_them_as_paths(runs_dir: Path) -> None:
    """LangGraph stores what a step returns; steps return folders as str (JSON, as before), the nodes read Path."""
    from agent.session import AgentSession
    from agent.state import InputState, at_run

    assert at_run("r1", runs_dir / "r1") == {"run_id": "r1", "run_dir": str(runs_dir / "r1")}
    s = AgentSession("folders", db_path=runs_dir / "conv.sqlite")
    s.open_run(_new_run("folders"))
    stored = s.values()
    assert isinstance(stored["run_dir"], str) and s.state().run_dir == Path(stored["run_dir"])
    assert AgentState(run_dir="").run_dir is None and InputState(owner="x").as_input() == {"owner": "x"}


def _new_run(owner: str) -> str:
    from tools.core.runs import RunIndex

    return RunIndex().create(goal="x", owner=owner).id


def test_a_conversation_saved_by_the_typeddict_state_loads_and_goes_on(runs_dir: Path, tmp_path: Path) -> None:
    """tests/fixtures/conversation_typeddict_state.sqlite.gz was saved by the code before the state was a model
    (commit 4a5253f, ``AgentState(TypedDict)``): a Chinese FAQ sent, its data and plan made, the plan's question
    open. It loads typed (folders as Path, the question as a Confirmation) and the conversation goes on."""
    import gzip

    from agent.session import AgentSession
    from tools.core.messages import say

    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "conversation_typeddict_state.sqlite.gz"
    db = tmp_path / "conversations.sqlite"
    db.write_bytes(gzip.decompress(fixture.read_bytes()))
    s = AgentSession("legacy", db_path=db)
    stored = s.values()
    state = s.state()
    assert isinstance(stored["run_dir"], str) and state.run_dir == Path(stored["run_dir"])
    assert state.data_dir == Path(stored["data_dir"]) and state.language == "zh" and state.journey
    assert state.stage == "plan" and state.intent == "finetune" and state.plan == stored["plan"]
    pending = s.pending()
    assert pending is not None and pending.kind == "confirm_train" and pending.plan == stored["plan"]
    assert pending.question == say("agent.confirm_train", "zh") and pending.run_id == state.run_id
    turn = s.send("不要了")
    assert turn.pending is None and turn.replies[-1] == say("agent.declined", "zh")
    assert turn.state is not None and turn.state.run_dir == state.run_dir and turn.state.outcome == "declined"
    assert isinstance(s.values()["run_dir"], str)
