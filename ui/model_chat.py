"""The model chat: base, this run or another run's adapter answer one question side by side.

Reads the run's deployment and streams from vLLM (``tools.serve``); showing another run may redeploy the server
as LoRA and loads that run's adapter into it; 👍/👎 count in the run's table (``tools.evaluate``); a 👎 opens
the correction box (``ui/corrections.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr

from tools.core.errors import InputError, TunepilotError
from tools.core.messages import say
from tools.core.paths import runs_root
from tools.core.runs import RunIndex
from tools.core.secrets import redact
from tools.data.read.answer import finish, prepare
from tools.evaluate.human import record_human_score
from tools.serve.adapters import same_base_runs, serve_other_run
from tools.serve.ask import run_reading
from tools.serve.chat import ChatError, stream_chat
from tools.serve.deploy import DeployRequest, deploy_model
from tools.serve.process import all_deployments
from tools.serve.record import load_deployment
from ui import corrections as correction_ui
from ui import view
from ui.conversations import message_text, new_thread_id, owns

SIDES = ("base", "tuned")  # what the two columns show until the person picks another run


def deployed_runs(thread_id: str) -> Any:
    """This conversation's runs that are being served now."""
    mine = {r.id for r in RunIndex().list(owner=new_thread_id(thread_id))}
    live = [s for s in all_deployments(runs_root()) if s.state == "running"]
    choices = [Path(s.run_dir).name for s in live if Path(s.run_dir).name in mine]
    return gr.update(choices=choices, value=choices[0] if choices else None)


def side_choices(run_id: str | None, thread_id: str, lang: str) -> list[Any]:
    """What each column of the model chat can show: the base, this run, or another run of this conversation
    trained from the same base (its adapter joins the running server when asked); the columns' labels follow."""
    choices = [(say("page.base", lang), "base"), (say("page.tuned", lang), "tuned")]
    if run_id and owns(thread_id, run_id):
        others = [Path(r.path) for r in RunIndex().list(owner=new_thread_id(thread_id)) if r.id != run_id]
        choices += [(say("page.other_run", lang, run=o.name), f"run-{o.name}")
                    for o in same_base_runs(runs_root() / run_id, others)]
    return [gr.update(choices=choices, value=v) for v in SIDES] + \
        [gr.update(label=say(f"page.{v}", lang)) for v in SIDES]


def side_label(side: str | None, lang: str) -> Any:
    return gr.update(label=say(f"page.{side}", lang) if side in SIDES else say("page.other_run", lang, run=str(side or "")[4:]))


def _side_model(dep: Any, side: str, thread_id: str) -> str:
    """The server's model name for a column: base, this run, or another run's adapter loaded for it."""
    if side in SIDES:
        return side
    other = side.removeprefix("run-")
    if not owns(thread_id, other):
        raise InputError("not a run of this conversation", where=other)
    return serve_other_run(dep, runs_root() / other)


def _reading(run_id: str, text: str, closed_book: bool) -> tuple[list[dict[str, str]], Any, Any]:
    """The question as the product answers it: with the passages found for it when the run has documents
    (``tools.data.read``), else alone; the prepared question and the passages, for the guard at the end."""
    index, _, k, _ = run_reading(runs_root() / run_id)
    if index is None or closed_book:
        return [{"role": "user", "content": text}], None, None
    prep = prepare(text, index, None, k)
    return prep.messages, prep, index


def sources_html(answer: Any, lang: str) -> str:
    """The passages an answer read, under it: each one's document and section, opened to its text on a click."""
    import html as h

    if not answer.sources:
        return ""
    items = "".join(f"<details><summary>{h.escape(s.where)} [{h.escape(s.id)}]</summary>{h.escape(s.text)}</details>"
                    for s in answer.sources)
    return f'\n\n<div class="tp-sources"><b>{h.escape(say("page.sources", lang))}</b>{items}</div>'


def _finished(text: str, prep: Any, index: Any, lang: str) -> str:
    """A finished answer as the person reads it: checked against the passages, with its sources."""
    if prep is None:
        return view.answer_text(text, lang)
    done = finish(prep, text, index.passages)
    return view.safe_text(done.answer) + sources_html(done, lang)


def ask_both(text: str, run_id: str | None, side_a: str | None, side_b: str | None,
             hb: list[Any], ht: list[Any], lang: str, thread_id: str = "",
             closed_book: bool = False) -> Iterator[tuple[list[Any], list[Any], str]]:
    """Both columns answer the same question, streamed side by side; a run with documents answers by reading
    them (each answer checked against its passages, its sources under it) unless ``closed_book``."""
    hb, ht = list(hb or []), list(ht or [])
    if not text or not run_id or not owns(thread_id, run_id):
        yield hb, ht, text
        return
    dep = load_deployment(runs_root() / run_id)
    for h in (hb, ht):
        h += [{"role": "user", "content": view.safe_text(text)}, {"role": "assistant", "content": ""}]
    if dep is None:
        hb[-1]["content"] = ht[-1]["content"] = say("page.server_down", lang, error="no serve.json")
        yield hb, ht, ""
        return
    msgs, prep, index = _reading(run_id, text, closed_book)
    texts, streams, active = ["", ""], {}, set()
    sides = (side_a or "base", side_b or "tuned")
    if any(s not in SIDES for s in sides) and dep.mode != "lora":
        try:  # another run's adapter joins a LoRA server: the pair of plain servers makes way for one (once)
            dep = deploy_model(DeployRequest(run_dir=runs_root() / run_id, mode="lora"))
        except TunepilotError as exc:
            hb[-1]["content"] = ht[-1]["content"] = say("page.server_down", lang, error=redact(str(exc)))
            yield hb, ht, ""
            return
    for i, side in enumerate(sides):
        if side == "base" and "base" not in dep.models:
            texts[i] = "—"  # a merged deployment serves the fine-tuned model only
            continue
        try:
            streams[i] = stream_chat(dep, _side_model(dep, side, thread_id), msgs)
            active.add(i)
        except TunepilotError as exc:
            texts[i] = say("page.server_down", lang, error=redact(str(exc)))
    while True:
        for i in list(active):
            try:
                texts[i] += next(streams[i])
            except StopIteration:
                active.discard(i)
            except ChatError as exc:
                texts[i] = say("page.server_down", lang, error=redact(str(exc)))
                active.discard(i)
        for i, h in enumerate((hb, ht)):
            h[-1]["content"] = (view.answer_text(texts[i], lang, done=False) if i in active else
                                _finished(texts[i], prep, index, lang)) if i in streams else texts[i]
        yield hb, ht, ""
        if not active:
            return


def like(data: gr.LikeData, run_id: str | None, side: str | None, history: list, thread_id: str) -> None:
    """A 👍/👎 on a column's answer counts in the human row of the run that answered."""
    import hashlib

    if not run_id or not owns(thread_id, run_id) or not side:
        return
    target, model = (run_id, side) if side in SIDES else (side.removeprefix("run-"), "tuned")
    if not owns(thread_id, target):
        return
    idx = data.index if isinstance(data.index, int) else data.index[0]
    question = message_text(history[idx - 1]) if idx and idx > 0 else ""
    sid = "chat-" + hashlib.sha1(question.encode()).hexdigest()[:10]
    record_human_score(runs_root() / target, sid, model, 1 if data.liked else -1)


def build() -> dict[str, Any]:
    """The model chat tab's parts: which run, what each column shows, the two columns and the question box."""
    with gr.Row():
        run_pick = gr.Dropdown(label=say("page.pick_run", "en"), choices=[], elem_id="tp-run-pick")
        side_a = gr.Dropdown(label=say("page.left", "en"), choices=[(say(f"page.{v}", "en"), v) for v in SIDES],
                             value="base", elem_id="tp-side-a")
        side_b = gr.Dropdown(label=say("page.right", "en"), choices=[(say(f"page.{v}", "en"), v) for v in SIDES],
                             value="tuned", elem_id="tp-side-b")
        refresh = gr.Button(say("page.refresh", "en"), size="sm")
    with gr.Row():
        chat_base = gr.Chatbot(label=say("page.base", "en"), height=380, elem_id="tp-chat-base",
                               feedback_options=("Like", "Dislike"))
        chat_tuned = gr.Chatbot(label=say("page.tuned", "en"), height=380, elem_id="tp-chat-tuned",
                                feedback_options=("Like", "Dislike"))
    with gr.Row():
        ask = gr.Textbox(show_label=False, placeholder=say("page.ask", "en"), scale=4, elem_id="tp-ask")
        ask_btn = gr.Button(say("page.send", "en"), variant="primary", scale=1, elem_id="tp-ask-btn")
        closed_book = gr.Checkbox(label=say("page.closed_book", "en"), value=False, scale=1, elem_id="tp-closed-book")
    return {"run_pick": run_pick, "side_a": side_a, "side_b": side_b, "refresh": refresh, "chat_base": chat_base,
            "chat_tuned": chat_tuned, "ask": ask, "ask_btn": ask_btn, "closed_book": closed_book,
            **correction_ui.build_box()}


def wire(p: SimpleNamespace) -> None:
    """The model chat: any two of base / this run / another run answer side by side; 👍/👎 reach the table."""
    p.refresh.click(deployed_runs, p.thread, p.run_pick, api_name="deployed_runs")
    p.tab_model.select(deployed_runs, p.thread, p.run_pick, api_visibility="private")
    sides = [p.side_a, p.side_b, p.chat_base, p.chat_tuned]
    p.run_pick.change(side_choices, [p.run_pick, p.thread, p.lang_state], sides, api_name="side_choices")
    p.side_a.change(side_label, [p.side_a, p.lang_state], p.chat_base, api_visibility="private")
    p.side_b.change(side_label, [p.side_b, p.lang_state], p.chat_tuned, api_visibility="private")

    asked = [p.ask, p.run_pick, p.side_a, p.side_b, p.chat_base, p.chat_tuned, p.lang_state, p.thread,
             p.closed_book]
    p.ask_btn.click(ask_both, asked, [p.chat_base, p.chat_tuned, p.ask], api_name="ask_both")
    p.ask.submit(ask_both, asked, [p.chat_base, p.chat_tuned, p.ask], api_visibility="private")

    p.chat_base.like(like, [p.run_pick, p.side_a, p.chat_base, p.thread], None, api_visibility="private")
    p.chat_tuned.like(like, [p.run_pick, p.side_b, p.chat_tuned, p.thread], None, api_visibility="private")
