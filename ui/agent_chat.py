"""The chat with the agent: messages and their files, the confirmation buttons, the timer carrying a journey on.

Each turn goes to the conversation's ``AgentSession``; files are stored by ``ui/uploads.py``; the run panel
(``ui/run_panel.py``) and the pairs table (``ui/pairs.py``) refresh after each turn and on the timer, which reads
where the training stands (``tools.core.runs``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import gradio as gr

from tools.core.messages import say
from tools.core.paths import runs_root
from tools.core.secrets import redact
from ui import pairs as pair_table
from ui import view
from ui.conversations import get_session, new_thread_id, run_dir_of, thread_lock
from ui.run_panel import outputs as panel_outputs
from ui.run_panel import refresh_panel
from ui.uploads import sanitize_name, store_uploads

if TYPE_CHECKING:
    from agent.session import Action, AgentSession
    from agent.state import Confirmation

from tools.core.runs import training_state

log = logging.getLogger(__name__)
# what a chat handler yields: the chat, the input box, the confirmation buttons, the notice under the box
ChatUpdate = Iterator[tuple[Any, Any, Any, str]]

# What the page keeps with a message it sends (in the conversation's SQLite file, so it survives a
# restart): the names of the files that came with it. BY_PAGE marks the words older versions of the page
# sent on the person's behalf (the timer's "status"), which are not shown; the page now sends actions.
ATTACHED = "files"
BY_PAGE = "by_page"


def _chat_view(session: AgentSession, pending: Confirmation | None = None) -> list[dict[str, Any]]:
    """The conversation as the Chatbot shows it: file names under the messages that brought them,
    upload folders left out, and an open confirmation's question at the end."""
    upload_dir = str(runs_root() / "uploads" / session.thread_id) + os.sep
    msgs = []
    lang = session.state().language
    for role, text, step, meta in session.messages():
        if role == "user" and meta.get(BY_PAGE):
            continue
        text = text.replace(upload_dir, "")
        if role == "user" and meta.get(ATTACHED):
            text += "".join(f"\n📎 {name}" for name in meta[ATTACHED])
        msg: dict[str, Any] = {"role": role, "content": view.safe_markdown(text)}
        if step and meta.get("failed"):  # a failure is read open: its reason and what to do, under the step's title
            msg["content"] = f"**{view.step_metadata(step, lang, failed=True)['title']}**\n\n{msg['content']}"
        elif step:
            msg["metadata"] = view.step_metadata(step, lang, failed=bool(meta.get("failed")))
        msgs.append(msg)
    pending = session.pending() if pending is None else pending
    if pending and pending.question:
        msgs.append({"role": "assistant", "content": view.safe_markdown(pending.question)})
    return msgs


def on_load(thread_id: str, lang: str) -> list[Any]:
    session = get_session(thread_id)
    pending = session.pending()
    return [_chat_view(session, pending), gr.update(visible=pending is not None),
            *refresh_panel(thread_id, lang)]


def send(message: dict[str, Any] | str, thread_id: str, lang: str) -> ChatUpdate:
    """One message (text and files) to the agent; yields the chat while it works."""
    thread_id = new_thread_id(thread_id)
    session = get_session(thread_id)
    text = message.get("text", "") if isinstance(message, dict) else str(message or "")
    paths = list(message.get("files", [])) if isinstance(message, dict) else []
    history = _chat_view(session)
    shown = text + ("".join(f"\n📎 {sanitize_name(Path(p).name)}" for p in paths) if paths else "")
    if not shown.strip():
        yield history, gr.update(), gr.update(), ""
        return
    history.append({"role": "user", "content": view.safe_markdown(shown)})
    history.append({"role": "assistant", "content": say("page.working", lang)})
    # the confirmation buttons hide while the agent works, so a second click cannot resend
    yield history, gr.update(value=None, interactive=False), gr.update(visible=False), ""
    stored: list[str] = []
    problems: list[str] = []
    if paths:
        dest = runs_root() / "uploads" / thread_id
        stored, problems = store_uploads(paths, dest, lang)
    if problems and not stored:
        history[-1] = {"role": "assistant", "content": view.safe_markdown("\n".join(problems))}
        yield history, gr.update(interactive=True), gr.update(visible=session.pending() is not None), ""
        return
    try:
        with thread_lock(thread_id):
            meta = {ATTACHED: [Path(p).name for p in stored]} if stored else None
            turn = session.send(text or ("convert" if stored else ""), files=stored, meta=meta)
    except Exception as exc:  # noqa: BLE001 - the page never shows a traceback
        log.exception("agent failed")
        history[-1] = {"role": "assistant", "content": view.safe_markdown(f"⚠️ {type(exc).__name__}: {redact(str(exc))}")}
        yield history, gr.update(interactive=True), gr.update(visible=session.pending() is not None), ""
        return
    yield (_chat_view(session, turn.pending), gr.update(interactive=True),
           gr.update(visible=turn.pending is not None), view.safe_markdown("\n".join(problems)))


def pressed(action: Action) -> Callable[[Any, str, str], ChatUpdate]:
    """A confirmation button: a typed answer to the agent's question (the box's text goes with Edit)."""
    def handler(message: Any, thread_id: str, lang: str) -> ChatUpdate:
        thread_id = new_thread_id(thread_id)
        session = get_session(thread_id)
        text = message.get("text", "") if isinstance(message, dict) else str(message or "")
        history = _chat_view(session)
        history.append({"role": "assistant", "content": say("page.working", lang)})
        yield history, gr.update(interactive=False), gr.update(visible=False), ""
        try:
            with thread_lock(thread_id):
                turn = session.answer(action, text)
        except Exception as exc:  # noqa: BLE001 - the page never shows a traceback
            log.exception("agent failed")
            history[-1] = {"role": "assistant",
                           "content": view.safe_markdown(f"⚠️ {type(exc).__name__}: {redact(str(exc))}")}
            yield history, gr.update(interactive=True), gr.update(visible=session.pending() is not None), ""
            return
        shown = _chat_view(session, turn.pending)
        if turn.pending is None and turn.state is None and turn.replies:  # nothing was waiting: say so here
            shown.append({"role": "assistant", "content": view.safe_markdown(turn.replies[-1])})
        yield (shown, gr.update(value=None, interactive=True),
               gr.update(visible=turn.pending is not None), "")
    return handler


def tick(thread_id: str, lang: str) -> list[Any]:
    """Live panel; when a journey's training has finished, carry the journey on."""
    chat_update: Any = gr.update()
    confirm_update: Any = gr.update()
    if not thread_id:
        return [chat_update, confirm_update, *refresh_panel(thread_id, lang)]
    session = get_session(thread_id)
    lock = thread_lock(thread_id)
    if lock.acquire(blocking=False):  # a turn in progress carries the journey itself
        try:
            state = session.state()
            if (state.run_dir and state.journey and state.stage == "train"
                    and session.pending() is None):
                if training_state(state.run_dir) in ("done", "failed", "cancelled"):
                    try:
                        turn = session.carry_on()
                        pending = turn.pending
                    except Exception:  # noqa: BLE001 - shown as a message, never a traceback
                        log.exception("carrying the journey on failed")
                        pending = session.pending()
                    chat_update = _chat_view(session, pending)
                    confirm_update = gr.update(visible=pending is not None)
        finally:
            lock.release()
    return [chat_update, confirm_update, *refresh_panel(thread_id, lang)]


def wire(p: SimpleNamespace, demo: gr.Blocks) -> None:
    """The chat with the agent: messages, the confirmation buttons, the live panel and its timer."""
    panel = panel_outputs(p)

    demo.load(new_thread_id, p.thread, p.thread, api_visibility="private").then(
        on_load, [p.thread, p.lang_state], [p.chatbot, p.confirm_row, *panel], api_name="history")

    chat_outputs = [p.chatbot, p.box, p.confirm_row, p.notice]
    p.box.submit(send, [p.box, p.thread, p.lang_state], chat_outputs, api_name="send").then(
        refresh_panel, [p.thread, p.lang_state], panel, api_visibility="private", show_progress="hidden")

    buttons: tuple[tuple[Any, Action, str], ...] = (
        (p.approve, "approve", "approve"), (p.cancel, "decline", "cancel"), (p.edit, "edit", "edit"))
    for button, action, name in buttons:
        button.click(pressed(action), [p.box, p.thread, p.lang_state], chat_outputs, api_name=name).then(
            refresh_panel, [p.thread, p.lang_state], panel, api_visibility="private", show_progress="hidden")

    p.timer.tick(tick, [p.thread, p.lang_state], [p.chatbot, p.confirm_row, *panel], show_progress="hidden",
                 api_name="tick")
    # the pairs to train: refreshed only when the file changes (an edit in progress is never overwritten)
    pair_view = [p.pairs, p.pairs_save, p.pairs_hint, p.pairs_sig]
    p.timer.tick(pair_table.pairs_tick(run_dir_of), [p.thread, p.lang_state, p.pairs_sig], pair_view,
                 show_progress="hidden", api_visibility="private")
    p.pairs_save.click(pair_table.save_pairs(run_dir_of), [p.thread, p.lang_state, p.pairs],
                       [p.pairs, p.pairs_msg, p.pairs_sig], api_name="save_pairs").then(
        refresh_panel, [p.thread, p.lang_state], panel, api_visibility="private", show_progress="hidden")
