"""Corrections from the model chat: the box a 👎 opens for the right answer, and the runs tab's list of them.

A correction is kept in the run that answered (:mod:`tools.data.corrections`); the runs tab lists a run's
corrections, removes one, and trains a follow-up run with them (the agent's ``follow_up`` step). ``build_*``
make the parts, the handlers are plain functions of (inputs) → outputs, and ``wire`` connects them.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gradio as gr

from tools.core.errors import TunepilotError
from tools.core.messages import say
from tools.core.paths import runs_root
from tools.data.corrections import add_correction, load_corrections, remove_correction
from ui.conversations import get_session, message_text, new_thread_id, owns

SIDES = ("base", "tuned")


def build_box() -> dict[str, Any]:
    """Under the model chat: the right answer to the last 👎, and a button to keep it."""
    pending = gr.State({})
    with gr.Row(visible=False, elem_id="tp-correct-row") as row:
        answer = gr.Textbox(label=say("page.correct_label", "en"), scale=4, elem_id="tp-correct")
        save = gr.Button(say("page.correct_save", "en"), scale=1, elem_id="tp-correct-save")
    msg = gr.Markdown(elem_id="tp-correct-msg")
    return {"correct_pending": pending, "correct_row": row, "correct_answer": answer, "correct_save": save,
            "correct_msg": msg}


def build_list() -> dict[str, Any]:
    """On the runs tab: the chosen run's corrections, removing one, and training again with them."""
    with gr.Accordion(say("page.corrections", "en"), open=True) as acc:
        table = gr.Dataframe(headers=say("page.corrections_cols", "en").split(","), interactive=False, wrap=True,
                             elem_id="tp-corrections")
        with gr.Row():
            remove_id = gr.Textbox(label=say("page.correction_id", "en"), scale=2, elem_id="tp-correction-id")
            remove = gr.Button(say("page.correction_remove", "en"), scale=1, elem_id="tp-correction-remove")
            retrain = gr.Button(say("page.retrain", "en"), variant="primary", scale=2, elem_id="tp-retrain")
        list_msg = gr.Markdown(elem_id="tp-corrections-msg")
    return {"corr_acc": acc, "corr_table": table, "corr_remove_id": remove_id, "corr_remove": remove,
            "corr_retrain": retrain, "corr_msg": list_msg}


def labels(p: SimpleNamespace) -> list[tuple[Any, dict[str, str]]]:
    """The components that follow the language toggle, and their label keys."""
    return [(p.correct_answer, {"label": "correct_label"}), (p.correct_save, {"value": "correct_save"}),
            (p.corr_acc, {"label": "corrections"}), (p.corr_remove_id, {"label": "correction_id"}),
            (p.corr_remove, {"value": "correction_remove"}), (p.corr_retrain, {"value": "retrain"})]


# --- handlers -------------------------------------------------------------------------------------------


def on_vote(data: gr.LikeData, run_id: str | None, side: str | None, history: list, thread_id: str,
            lang: str) -> tuple[Any, ...]:
    """A 👎 opens the box for the right answer to that question (kept for the run that answered); a 👍 closes it."""
    hide: tuple[Any, ...] = ({}, gr.update(visible=False), gr.update(), "")
    if data.liked or not run_id or not side or not owns(thread_id, run_id):
        return hide
    target, model = (run_id, side) if side in SIDES else (side.removeprefix("run-"), "tuned")
    idx = data.index if isinstance(data.index, int) else data.index[0]
    if not owns(thread_id, target) or not idx:
        return hide
    question, wrong = message_text(history[idx - 1]), message_text(history[idx])
    pending = {"run": target, "question": question, "wrong": wrong, "model": model}
    return pending, gr.update(visible=True), gr.update(value=""), say("page.correct_hint", lang, question=question[:200])


def save(pending: dict[str, Any], answer: str, thread_id: str, lang: str) -> tuple[Any, ...]:
    """Keep the right answer in the run that answered wrong; the box closes and says how many the run has."""
    run = (pending or {}).get("run")
    if not run or not owns(thread_id, run):
        return pending, gr.update(visible=False), say("page.correct_nothing", lang)
    try:
        add_correction(runs_root() / run, pending["question"], answer, wrong=pending.get("wrong", ""),
                       model=pending.get("model", "tuned"))
    except TunepilotError as err:
        return pending, gr.update(visible=True), f"⚠️ {say('page.run_problem', lang)} {err}"
    n = len(load_corrections(runs_root() / run))
    return {}, gr.update(visible=False), say("page.correct_saved", lang, n=n, run=run)


def corrections_frame(run_id: str, thread_id: str, lang: str) -> Any:
    """The run's corrections (id, question, right answer); none for a run this conversation does not own."""
    import pandas as pd

    run_id = (run_id or "").strip()
    rows = []
    if run_id and owns(thread_id, run_id):
        try:
            rows = [[c.id, c.question, c.answer] for c in load_corrections(runs_root() / run_id)]
        except TunepilotError:
            rows = []
    return pd.DataFrame(rows, columns=say("page.corrections_cols", lang).split(","))


def remove(run_id: str, correction_id: str, thread_id: str, lang: str) -> tuple[Any, str]:
    run_id = (run_id or "").strip()
    if not run_id or not owns(thread_id, run_id):
        return corrections_frame(run_id, thread_id, lang), say("page.correct_pick_run", lang)
    try:
        gone = remove_correction(runs_root() / run_id, (correction_id or "").strip())
    except TunepilotError as err:
        return corrections_frame(run_id, thread_id, lang), f"⚠️ {say('page.run_problem', lang)} {err}"
    return corrections_frame(run_id, thread_id, lang), say("page.correction_removed", lang, question=gone.question[:200])


def retrain(run_id: str, thread_id: str, lang: str) -> str:
    """The agent plans a follow-up of the run with its corrections; its plan waits for Approve in the chat tab."""
    run_id = (run_id or "").strip()
    if not run_id or not owns(thread_id, run_id):
        return say("page.correct_pick_run", lang)
    try:
        turn = get_session(new_thread_id(thread_id)).follow_up(run_id)
    except TunepilotError as err:
        return f"⚠️ {say('page.run_problem', lang)} {err}"
    if turn.pending is None or turn.state is None:  # nothing to approve: the agent said why (no corrections, a question open)
        return "\n\n".join(turn.replies[-1:]) or say("page.correct_pick_run", lang)
    return say("page.retrain_planned", lang, run=turn.state.run_dir.name if turn.state.run_dir else "")


def wire(p: SimpleNamespace) -> None:
    for chat, side in ((p.chat_base, p.side_a), (p.chat_tuned, p.side_b)):
        chat.like(on_vote, [p.run_pick, side, chat, p.thread, p.lang_state],
                  [p.correct_pending, p.correct_row, p.correct_answer, p.correct_msg], api_visibility="private")
    p.correct_save.click(save, [p.correct_pending, p.correct_answer, p.thread, p.lang_state],
                         [p.correct_pending, p.correct_row, p.correct_msg], api_name="save_correction")
    p.correct_answer.submit(save, [p.correct_pending, p.correct_answer, p.thread, p.lang_state],
                            [p.correct_pending, p.correct_row, p.correct_msg], api_visibility="private")
    # the list follows the chosen run, and is read again whenever the runs tab opens (a correction may have been
    # saved in the model chat since)
    p.run_id_box.change(corrections_frame, [p.run_id_box, p.thread, p.lang_state], p.corr_table,
                        api_name="corrections")
    p.tab_runs.select(corrections_frame, [p.run_id_box, p.thread, p.lang_state], p.corr_table,
                      api_visibility="private")
    p.corr_remove.click(remove, [p.run_id_box, p.corr_remove_id, p.thread, p.lang_state], [p.corr_table, p.corr_msg],
                        api_name="remove_correction")
    p.corr_retrain.click(retrain, [p.run_id_box, p.thread, p.lang_state], p.corr_msg, api_name="retrain")
