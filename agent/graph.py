"""Wiring only: understand → (ask) → data → plan → confirm → train → merge → confirm → deploy → eval → report.

Any single step can also be asked for on its own ("just convert these files",
"what would you pick for a 4090?", "deploy", "evaluate", "status", ...).
Training runs in its own process; the graph ends the turn after starting it
and picks the journey up again on the next "status"/"continue" once it is done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph

from agent.nodes import confirming, data, planning, runs, serving, training, understanding
from agent.state import AgentState, InputState, StateError, intent_of
from tools.core.paths import runs_root

Route = Literal[
    "ask_missing", "convert", "plan", "confirm_train", "status", "merge", "export", "confirm_deploy", "evaluate",
    "chat", "cancel", "list_runs", "follow_up", "help",
]
# intents whose step has the intent's name
_SAME_NAME: dict[str, Route] = {"plan": "plan", "merge": "merge", "export": "export", "evaluate": "evaluate",
                                "chat": "chat", "cancel": "cancel", "list_runs": "list_runs", "follow_up": "follow_up"}
# a greeting or help, words not understood, settings for the next plan, a yes / no when nothing was asked
_HELP = ("help", "unknown", "edit", "confirm_yes", "confirm_no")
_END: Literal["__end__"] = "__end__"  # langgraph's END, as a type the routers' Literal names can hold
assert _END == END
_Step = TypeVar("_Step", bound=str)


def route_intent(state: AgentState) -> Route:
    intent = intent_of(state)
    has_data = bool(state.data_dir)
    if intent == "finetune":
        if state.files:
            return "convert"
        return "plan" if has_data else "ask_missing"
    if intent == "convert":
        return "convert" if state.files else "ask_missing"
    if intent == "train":
        return "plan" if has_data else "ask_missing"
    if intent in ("status", "continue"):
        return "status"
    if intent == "deploy":
        return "confirm_deploy"
    if intent in _SAME_NAME:
        return _SAME_NAME[intent]
    if intent in _HELP:
        return "help"
    raise StateError(f"no step for the intent {intent!r}")


def _unexpected(step: str, state: AgentState) -> StateError:
    """A step came to an outcome its router does not know: a bug in the agent, never sent to END unseen."""
    return StateError(f"the step {step!r} came to {state.outcome!r}, which it cannot come to")


def after_convert(state: AgentState) -> Literal["plan", "__end__"]:
    if state.outcome == "error":
        return _END
    if state.outcome is None:
        return "plan" if state.journey else _END
    raise _unexpected("convert", state)


def after_plan(state: AgentState) -> Literal["confirm_train", "__end__"]:
    outcome = state.outcome
    if outcome in ("error", "refused"):
        return _END
    if outcome == "edit":  # the plan asked about was edited: ask again
        return "confirm_train"
    if outcome is not None:
        raise _unexpected("plan", state)
    intent = intent_of(state)
    if intent == "plan":
        return _END
    return "confirm_train" if state.journey or intent == "train" else _END


def after_follow_up(state: AgentState) -> Literal["confirm_train", "__end__"]:
    if state.outcome == "planned":
        return "confirm_train"
    if state.outcome in (None, "declined", "error"):  # no run, no corrections, a step failed
        return _END
    raise _unexpected("follow_up", state)


def after_confirm(state: AgentState, yes: _Step, edit: _Step, again: _Step) -> _Step | Literal["__end__"]:
    outcome = state.outcome
    if outcome == "approved":
        return yes
    if outcome == "edit":
        return edit
    if outcome == "reask":
        return again
    if outcome == "declined":
        return _END
    raise StateError(f"a confirmation came to {outcome!r}")


def after_confirm_train(state: AgentState) -> Literal["train", "plan", "confirm_train", "__end__"]:
    return after_confirm(state, "train", "plan", "confirm_train")


def after_confirm_deploy(state: AgentState) -> Literal["deploy", "confirm_deploy", "__end__"]:
    return after_confirm(state, "deploy", "confirm_deploy", "confirm_deploy")


def after_status(state: AgentState) -> Literal["merge", "__end__"]:
    outcome = state.outcome
    if outcome is not None and not outcome.startswith("train_"):  # None: no run to follow
        raise _unexpected("status", state)
    return "merge" if state.journey and outcome == "train_done" else _END


def after_merge(state: AgentState) -> Literal["confirm_deploy", "__end__"]:
    if state.outcome not in (None, "train_done", "error"):  # asked for, or after training, or failed
        raise _unexpected("merge", state)
    return "confirm_deploy" if state.journey and state.outcome != "error" else _END


def after_deploy(state: AgentState) -> Literal["evaluate", "__end__"]:
    if state.outcome not in ("approved", "error"):  # deploy runs only once approved
        raise _unexpected("deploy", state)
    return "evaluate" if state.journey and state.outcome != "error" else _END


def after_evaluate(state: AgentState) -> Literal["report", "__end__"]:
    if state.outcome not in (None, "approved", "error"):  # asked for, or after deploying, or failed
        raise _unexpected("evaluate", state)
    return "report" if state.journey and state.outcome != "error" else _END


TOOL_NODES = ("convert", "plan", "train", "status", "cancel", "merge", "export", "deploy", "evaluate", "chat",
              "list_runs", "follow_up")


def _tagged(name: str, fn: Any) -> Any:
    """Mark the replies of a tool step with its name, so the page can show them as a collapsible step."""
    def run(state: AgentState) -> Any:
        out = fn(state)
        if isinstance(out, dict):
            for m in out.get("messages", []):
                if isinstance(m, AIMessage) and not m.name:
                    m.name = name
        return out
    return run


def build_graph() -> StateGraph:
    g = StateGraph(AgentState, input_schema=InputState)
    g.add_node("understand", understanding.understand)
    g.add_node("ask_missing", understanding.ask_missing)
    g.add_node("help", understanding.help_node)
    g.add_node("convert", _tagged("convert", data.convert))
    g.add_node("plan", _tagged("plan", planning.plan))
    g.add_node("confirm_train", confirming.confirm_train)
    g.add_node("train", _tagged("train", training.train))
    g.add_node("status", _tagged("status", training.status))
    g.add_node("cancel", _tagged("cancel", training.cancel))
    g.add_node("merge", _tagged("merge", serving.merge))
    g.add_node("export", _tagged("export", serving.export))
    g.add_node("confirm_deploy", confirming.confirm_deploy)
    g.add_node("deploy", _tagged("deploy", serving.deploy))
    g.add_node("evaluate", _tagged("evaluate", serving.evaluate))
    g.add_node("chat", _tagged("chat", serving.chat))
    g.add_node("list_runs", _tagged("list_runs", runs.list_runs))
    g.add_node("follow_up", _tagged("follow_up", planning.follow_up))
    g.add_node("report", runs.report)

    g.add_edge(START, "understand")
    g.add_conditional_edges("understand", route_intent)
    g.add_conditional_edges("convert", after_convert)
    g.add_conditional_edges("plan", after_plan)
    g.add_conditional_edges("confirm_train", after_confirm_train)
    g.add_edge("train", END)
    g.add_conditional_edges("status", after_status)
    g.add_conditional_edges("merge", after_merge)
    g.add_edge("export", END)
    g.add_conditional_edges("confirm_deploy", after_confirm_deploy)
    g.add_conditional_edges("deploy", after_deploy)
    g.add_conditional_edges("evaluate", after_evaluate)
    g.add_conditional_edges("follow_up", after_follow_up)
    for n in ("ask_missing", "help", "cancel", "chat", "list_runs", "report"):
        g.add_edge(n, END)
    return g


def default_db() -> Path:
    root = runs_root()
    root.mkdir(parents=True, exist_ok=True)
    return root / "conversations.sqlite"


def compile_graph(db_path: Path | None = None) -> Any:
    """The graph with a SQLite checkpointer: conversations and pending confirmations survive restarts."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    path = Path(db_path) if db_path is not None else default_db()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False)
    return build_graph().compile(checkpointer=SqliteSaver(conn))
