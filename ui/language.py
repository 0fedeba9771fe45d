"""The language toggle: every label of the page follows it; the browser's language is the first choice."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gradio as gr

from tools.core.messages import say
from ui import corrections as correction_ui


def _lang(choice: str | None) -> str:
    return "zh" if choice and ("中" in choice or choice.startswith("zh")) else "en"


def _labels(props: dict[str, str], lang: str) -> Any:
    """One component's labels in ``lang``: {property: its words}."""
    words: dict[str, Any] = {prop: say(f"page.{key}", lang) for prop, key in props.items()}
    return gr.update(**words)


def wire(p: SimpleNamespace, demo: gr.Blocks) -> None:
    """Every label follows the language toggle; the browser's language is the first choice."""
    # component → {property: label key}: everything that follows the language toggle
    labelled: list[tuple[Any, dict[str, str]]] = [
        (p.lang, {"label": "language"}), (p.chatbot, {"label": "chat"}), (p.box, {"placeholder": "input"}),
        (p.approve, {"value": "approve"}), (p.edit, {"value": "edit"}), (p.cancel, {"value": "cancel"}),
        (p.acc_data, {"label": "dataset"}), (p.pairs, {"label": "pairs"}), (p.pairs_save, {"value": "pairs_save"}),
        (p.acc_plan, {"label": "plan"}), (p.acc_prog, {"label": "progress"}),
        (p.loss, {"label": "loss", "x_title": "plot_step", "y_title": "plot_loss"}), (p.acc_eval, {"label": "eval"}),
        (p.files_out, {"label": "downloads"}), (p.tab_chat, {"label": "chat"}), (p.tab_model, {"label": "model_chat"}),
        (p.tab_runs, {"label": "runs"}), (p.run_pick, {"label": "pick_run"}), (p.refresh, {"value": "refresh"}),
        (p.chat_base, {"label": "base"}), (p.chat_tuned, {"label": "tuned"}), (p.ask, {"placeholder": "ask"}),
        (p.ask_btn, {"value": "send"}), (p.run_id_box, {"label": "run_id"}), (p.open_btn, {"value": "open"}),
        (p.resume_btn, {"value": "resume"}), (p.redeploy_btn, {"value": "redeploy"}), (p.export_btn, {"value": "export"}),
        (p.side_a, {"label": "left"}), (p.side_b, {"label": "right"}), (p.closed_book, {"label": "closed_book"}),
        (p.confirm_del, {"label": "confirm_delete"}), (p.delete_btn, {"value": "delete"}),
        *correction_ui.labels(p),
    ]

    def set_lang(choice: str) -> list[Any]:
        lang = _lang(choice)
        return [lang, f"## {say('page.title', lang)}", *(_labels(props, lang) for _, props in labelled)]

    p.lang.change(set_lang, p.lang, [p.lang_state, p.title, *(c for c, _ in labelled)], api_name="set_lang")
    demo.load(None, None, p.lang, api_visibility="private",
              js="() => (navigator.language || 'en').startsWith('zh') ? '中文' : 'English'")
