"""The agent's typed state."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

META_KEY = "tunepilot"  # where a message keeps what tunepilot knows of it (files attached, a failed step, a button)


class AgentState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    lang: str  # "zh" or "en": the person's language, replies follow it
    goal: dict[str, Any]  # agent.goal.Goal as a dict (the latest parsed message)
    intent: str  # the intent being handled now
    journey: bool  # the whole fine-tuning journey was asked for
    files: list[str]  # uploaded files to convert
    run_id: str | None
    run_dir: str | None
    data_dir: str | None
    dataset: dict[str, Any] | None  # summary of the dataset report
    plan: dict[str, Any] | None  # planner output (plan.json)
    overrides: dict[str, Any]  # user edits: rank, micro_batch, max_length, method, epochs, learning_rate
    hardware_hint: dict[str, Any] | None  # a GPU named in words ("24GB", "两张A100")
    stage: str  # data | plan | train | merge | deploy | eval | done
    note: str | None  # a notice for the person (e.g. LLM fallback)
    style: list[str]  # the goal's style phrases ("concise", "at most 50 words")
    system_prompt: str | None  # from the goal's style and constraints; kept until a later goal names others
    questions_file: str | None  # the person's own questions with expected answers, for the table's learnt set
    owner: str  # the conversation's thread id: the runs it makes are its own
    auto_approve: bool  # --yes: confirmations are approved without asking
    action: str | None  # a page action that is not a message ("carry_on": the journey goes on after training)
