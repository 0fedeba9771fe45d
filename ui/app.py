"""The page assembled: ``create_app()`` lays out the tabs and wires each concern; ``launch()`` serves it.

Each concern is its own module (``ui/agent_chat.py``, ``ui/run_panel.py``, ``ui/model_chat.py``,
``ui/runs_tab.py``, ``ui/corrections.py``, ``ui/language.py``); they talk to the agent (``AgentSession``) and
read or call ``tools/`` (run files and events, the deployment and its chat, corrections, pair edits).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gradio as gr

from tools.core.messages import say
from ui import agent_chat, language, layout, model_chat, runs_tab
from ui import corrections as correction_ui
from ui.guard import LoginThrottle
from ui.uploads import MAX_FILE_MB


def create_app() -> gr.Blocks:
    """The page: the header, the three tabs (chat with the run panel, model chat, runs) and a 2-second timer."""
    with gr.Blocks(title="tunepilot") as demo:
        parts = layout.header()
        with gr.Tabs():
            with gr.Tab(say("page.chat", "en"), id="chat") as tab_chat:
                parts |= layout.chat_tab()
            with gr.Tab(say("page.model_chat", "en"), id="model") as tab_model:
                parts |= model_chat.build()
            with gr.Tab(say("page.runs", "en"), id="runs") as tab_runs:
                parts |= runs_tab.build()
                parts |= correction_ui.build_list()
        timer = gr.Timer(2.0)
        p = SimpleNamespace(**parts, tab_chat=tab_chat, tab_model=tab_model, tab_runs=tab_runs, timer=timer)
        language.wire(p, demo)
        agent_chat.wire(p, demo)
        model_chat.wire(p)
        runs_tab.wire(p)
        correction_ui.wire(p)
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None,
           prevent_thread_lock: bool = False) -> Any:
    from starlette.middleware import Middleware

    demo = create_app()
    demo.queue(default_concurrency_limit=8)
    return demo.launch(server_name=host, server_port=port, auth=auth, share=False, show_error=False,
                       app_kwargs={"middleware": [Middleware(LoginThrottle)]},
                       max_file_size=f"{MAX_FILE_MB}mb", prevent_thread_lock=prevent_thread_lock,
                       theme=gr.themes.Soft(), css=layout.CSS, ssr_mode=False)
