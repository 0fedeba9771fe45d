"""One conversation with the agent: send a message (and files), get replies; resumes pending confirmations.

Used by the CLI (``tunepilot run`` / ``tunepilot agent``) and the page. The
conversation lives in the SQLite checkpointer under ``thread_id``, so a new
process with the same id continues where the last one stopped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.types import Command
from pydantic import BaseModel, ConfigDict, Field

from agent.graph import compile_graph
from agent.nodes.serving import export_run
from agent.state import ACTION, META_KEY, SET_ASIDE, AgentState, Confirmation, InputState, Overrides, at_run
from tools.core.messages import Said, said, say
from tools.core.runs import RunIndex, training_state
from tools.data.schema import DatasetReport
from tools.serve.deploy import DeployRequest, deploy_model
from tools.serve.mode import side_by_side_mode
from tools.serve.process import stop_deployment
from tools.train import launch as train_launch

Action = Literal["approve", "decline", "edit"]

log = logging.getLogger(__name__)


class Turn(BaseModel):
    """What one message produced."""

    model_config = ConfigDict(extra="forbid")

    replies: list[str] = Field(default_factory=list)
    pending: Confirmation | None = None  # the question left open, if any
    state: AgentState | None = None  # the conversation after the turn, its messages left out; None: nothing ran


class AgentSession:
    def __init__(self, thread_id: str = "default", db_path: Path | None = None, auto_approve: bool = False,
                 graph: Any = None) -> None:
        """``graph``: a compiled graph to share (its SQLite checkpointer keeps every thread apart), so many
        conversations hold one database connection, not one each."""
        self.thread_id = thread_id
        self.graph = graph if graph is not None else compile_graph(db_path)
        self.config = {"configurable": {"thread_id": thread_id}, "recursion_limit": 50}
        self.auto_approve = auto_approve

    def pending(self) -> Confirmation | None:
        snap = self.graph.get_state(self.config)
        for task in snap.tasks or ():
            for intr in getattr(task, "interrupts", ()) or ():
                return Confirmation.of(intr.value)
        return None

    def values(self) -> dict[str, Any]:
        """The checkpoint's values as stored (JSON records, folders as str)."""
        return dict(self.graph.get_state(self.config).values or {})

    def state(self) -> AgentState:
        """The conversation as the nodes read it (an empty state before the first message)."""
        return AgentState.of(self.values())

    def history(self) -> list[tuple[str, str]]:
        return [(role, text) for role, text, _ in self.steps()]

    def steps(self) -> list[tuple[str, str, str | None]]:
        """(role, text, tool step that wrote it or None), oldest first."""
        return [(role, text, step) for role, text, step, _ in self.messages()]

    def messages(self) -> list[tuple[str, str, str | None, dict[str, Any]]]:
        """(role, text, tool step or None, what the sender attached to the message), oldest first.

        The attachment (``send(..., meta=...)``) is kept in the conversation's SQLite file, so a
        restarted page still knows, e.g., which files came with a message.
        """
        out: list[tuple[str, str, str | None, dict[str, Any]]] = []
        for m in self.values().get("messages", []):
            role = "user" if isinstance(m, HumanMessage) else "assistant"
            meta = dict((getattr(m, "additional_kwargs", None) or {}).get(META_KEY) or {})
            out.append((role, str(m.content), getattr(m, "name", None) if role == "assistant" else None, meta))
        return out

    def _set_aside_for(self, files: list[str]) -> list[str]:
        """Files sent while a question waits are not an answer: set the question aside and return the
        files to build the dataset from, the ones the waiting run was built from first (nothing dropped)."""
        run_dir = self.state().run_dir
        report = DatasetReport.read(run_dir / "data" / "report.json") if run_dir else None
        inputs = report.settings.get("inputs", []) if report is not None else []
        earlier = [str(p) for p in inputs if isinstance(p, str) and Path(p).exists()]
        self.graph.invoke(Command(resume={SET_ASIDE: True}), self.config)
        new = [str(Path(f).resolve()) for f in files]
        return [*[p for p in earlier if p not in new], *new]

    def send(self, text: str, files: list[str] | None = None, overrides: Overrides | None = None,
             meta: dict[str, Any] | None = None) -> Turn:
        """One message from the person. ``overrides`` (``tunepilot run``'s quick-trial limits) are set with a new
        message; ``meta`` is kept with the message itself (see :meth:`messages`)."""
        before = len(self.values().get("messages", []))
        if self.pending() is not None and files:
            files = self._set_aside_for(files)
        if self.pending() is not None:
            result_input: Any = Command(resume=text)
        else:
            kwargs = {META_KEY: dict(meta)} if meta else {}
            given: dict[str, Any] = {"files": [str(Path(f).resolve()) for f in files]} if files else {}
            if overrides is not None and overrides.record():
                given["overrides"] = overrides.record()
            result_input = InputState(messages=[HumanMessage(content=text, additional_kwargs=kwargs)],
                                      auto_approve=self.auto_approve, owner=self.thread_id, **given).as_input()
        return self._turn(result_input, before)

    def _turn(self, graph_input: Any, before: int | None = None) -> Turn:
        """Run the graph on one input and gather what it said."""
        if before is None:
            before = len(self.values().get("messages", []))
        self.graph.invoke(graph_input, self.config)
        values = self.values()
        msgs = values.get("messages", [])[before:]
        replies = [str(m.content) for m in msgs if isinstance(m, AIMessage)]
        pending = self.pending()
        if pending and pending.question:
            replies.append(pending.question)
        return Turn(replies=replies, pending=pending,
                    state=AgentState.of({k: v for k, v in values.items() if k != "messages"}))

    # --- what the page's buttons mean: typed calls, never words for the intent parser --------------------

    def answer(self, action: Action, text: str = "") -> Turn:
        """Approve, decline, or edit (with the box's text) the open confirmation, as a typed resume value.
        With no question open, an edit is an ordinary message and the other two say there is nothing to answer."""
        if self.pending() is None:
            if action == "edit" and text.strip():
                return self.send(text)
            return Turn(replies=[say("agent.nothing_pending", self.state().language)])
        return self._turn(Command(resume={ACTION: action, "text": text}))

    def carry_on(self) -> Turn:
        """The page's timer once training has ended: the journey goes on (merge, deploy, evaluate) without a
        message from the person."""
        if self.pending() is not None:
            return Turn(pending=self.pending())
        return self._turn(InputState(action="carry_on", owner=self.thread_id,
                                     auto_approve=self.auto_approve).as_input())

    # --- the runs tab --------------------------------------------------------------------------------------

    def _run(self, run_id: str) -> Any:
        return RunIndex().get(run_id.strip(), owner=self.thread_id)

    def open_run(self, run_id: str) -> Said:
        """Make one of this conversation's runs the one the panel follows."""
        rec = self._run(run_id)
        self.graph.update_state(self.config, at_run(rec.id, rec.path))
        return said("runs.opened", run=rec.id)

    def resume_run(self, run_id: str) -> Said:
        """Train an interrupted or cancelled run on from its last checkpoint."""
        rec = self._run(run_id)
        now = training_state(Path(rec.path))
        if now in ("done", "running", "none"):
            return said({"done": "runs.already_trained", "running": "runs.training_already",
                         "none": "runs.not_trained"}[now], run=rec.id)
        train_launch.launch_training(Path(rec.path), resume=True)
        RunIndex().update(rec.id, stage="train", state="running")
        self.graph.update_state(self.config, at_run(rec.id, rec.path))
        return said("runs.resumed", run=rec.id)

    def redeploy(self, run_id: str) -> Said:
        """Serve a run again, base and fine-tuned side by side."""
        rec = self._run(run_id)
        dep = deploy_model(DeployRequest(run_dir=Path(rec.path), mode=side_by_side_mode()))
        return said("runs.serving", run=rec.id, url=dep.base_url)

    def export_run(self, run_id: str) -> Said:
        """The run's merged model as GGUF files and an Ollama Modelfile, read back and checked."""
        rec = self._run(run_id)
        passed, params = export_run(Path(rec.path), "ollama", rec.id)
        return said("agent.exported" if passed else "agent.exported_differs", **params)

    def follow_up(self, run_id: str) -> Turn:
        """"Train again with my corrections": the agent plans a follow-up of the run (its data plus the corrections
        given in the model chat, from its adapter) and asks for approval, as for any plan."""
        rec = self._run(run_id)
        lang = self.state().language
        if self.pending() is not None:
            return Turn(replies=[say("agent.answer_first", lang)], pending=None)
        self.graph.update_state(self.config, at_run(rec.id, rec.path))
        pressed = HumanMessage(content=say("page.retrain", lang), additional_kwargs={META_KEY: {ACTION: "follow_up"}})
        return self._turn(InputState(messages=[pressed], action="follow_up", owner=self.thread_id,
                                     auto_approve=self.auto_approve).as_input())

    def delete_run(self, run_id: str) -> Said:
        """Delete a run that is not training, its files and its model server."""
        rec = self._run(run_id)
        if training_state(Path(rec.path)) == "running":
            return said("runs.training_now", run=rec.id)
        stop_deployment(Path(rec.path))
        RunIndex().delete(rec.id)
        return said("runs.deleted", run=rec.id)
