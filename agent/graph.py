"""Wiring only: understand → (ask) → data → plan → confirm → train → merge → confirm → deploy → eval → report.

Any single step can also be asked for on its own ("just convert these files",
"what would you pick for a 4090?", "deploy", "evaluate", "status", ...).
Training runs in its own process; the graph ends the turn after starting it
and picks the journey up again on the next "status"/"continue" once it is done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph

from agent import nodes
from agent.state import AgentState

Route = Literal[
    "ask_missing", "convert", "plan", "confirm_train", "status", "merge", "export", "confirm_deploy", "evaluate",
    "chat", "cancel", "list_runs", "follow_up", "help",
]


def route_intent(state: AgentState) -> Route:
    intent = state.get("intent", "unknown")
    has_data = bool(state.get("data_dir"))
    if intent == "finetune":
        if state.get("files"):
            return "convert"
        return "plan" if has_data else "ask_missing"
    if intent == "convert":
        return "convert" if state.get("files") else "ask_missing"
    if intent == "plan":
        return "plan"
    if intent == "train":
        return "plan" if has_data else "ask_missing"
    if intent in ("status", "continue"):
        return "status"
    if intent == "merge":
        return "merge"
    if intent == "export":
        return "export"
    if intent == "deploy":
        return "confirm_deploy"
    if intent == "evaluate":
        return "evaluate"
    if intent == "chat":
        return "chat"
    if intent == "cancel":
        return "cancel"
    if intent == "list_runs":
        return "list_runs"
    if intent == "follow_up":
        return "follow_up"
    return "help"


def after_convert(state: AgentState) -> str:
    if state.get("intent") == "error" or not state.get("journey"):
        return END
    return "plan"


def after_plan(state: AgentState) -> str:
    if state.get("intent") in ("error", "refused", "plan"):
        return END
    return "confirm_train" if state.get("journey") or state.get("intent") in ("train", "edit") else END


def after_follow_up(state: AgentState) -> str:
    return "confirm_train" if state.get("intent") == "planned" else END


def after_confirm(state: AgentState, yes: str, edit: str, again: str) -> Any:
    intent = state.get("intent")
    if intent == "approved":
        return yes
    if intent == "edit":
        return edit
    if intent == "reask":
        return again
    return END


def after_status(state: AgentState) -> str:
    return "merge" if state.get("journey") and state.get("intent") == "train_done" else END


def after_merge(state: AgentState) -> str:
    return "confirm_deploy" if state.get("journey") and state.get("intent") != "error" else END


def after_deploy(state: AgentState) -> str:
    return "evaluate" if state.get("journey") and state.get("intent") != "error" else END


def after_evaluate(state: AgentState) -> str:
    return "report" if state.get("journey") and state.get("intent") != "error" else END


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
    g = StateGraph(AgentState)
    g.add_node("understand", nodes.understand)
    g.add_node("ask_missing", nodes.ask_missing)
    g.add_node("help", nodes.help_node)
    g.add_node("convert", _tagged("convert", nodes.convert))
    g.add_node("plan", _tagged("plan", nodes.plan))
    g.add_node("confirm_train", nodes.confirm_train)
    g.add_node("train", _tagged("train", nodes.train))
    g.add_node("status", _tagged("status", nodes.status))
    g.add_node("cancel", _tagged("cancel", nodes.cancel))
    g.add_node("merge", _tagged("merge", nodes.merge))
    g.add_node("export", _tagged("export", nodes.export))
    g.add_node("confirm_deploy", nodes.confirm_deploy)
    g.add_node("deploy", _tagged("deploy", nodes.deploy))
    g.add_node("evaluate", _tagged("evaluate", nodes.evaluate))
    g.add_node("chat", _tagged("chat", nodes.chat))
    g.add_node("list_runs", _tagged("list_runs", nodes.list_runs))
    g.add_node("follow_up", _tagged("follow_up", nodes.follow_up))
    g.add_node("report", nodes.report)

    g.add_edge(START, "understand")
    g.add_conditional_edges("understand", route_intent)
    g.add_conditional_edges("convert", after_convert)
    g.add_conditional_edges("plan", after_plan)
    g.add_conditional_edges("confirm_train", lambda s: after_confirm(s, "train", "plan", "confirm_train"),
                            ["train", "plan", "confirm_train", END])
    g.add_edge("train", END)
    g.add_conditional_edges("status", after_status)
    g.add_conditional_edges("merge", after_merge)
    g.add_edge("export", END)
    g.add_conditional_edges("confirm_deploy", lambda s: after_confirm(s, "deploy", "confirm_deploy", "confirm_deploy"),
                            ["deploy", "confirm_deploy", END])
    g.add_conditional_edges("deploy", after_deploy)
    g.add_conditional_edges("evaluate", after_evaluate)
    g.add_conditional_edges("follow_up", after_follow_up, ["confirm_train", END])
    for n in ("ask_missing", "help", "cancel", "chat", "list_runs", "report"):
        g.add_edge(n, END)
    return g


def default_db() -> Path:
    from tools.core.paths import runs_root

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
