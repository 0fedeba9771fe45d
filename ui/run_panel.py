"""The run panel beside the agent chat: stages, dataset, plan, progress, loss plot, eval table and downloads."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gradio as gr

from tools.core.messages import say
from ui import view
from ui.conversations import run_dir_of


def outputs(p: SimpleNamespace) -> list[Any]:
    """The panel's components, in the order :func:`refresh_panel` fills them."""
    return [p.stages, p.dataset, p.plan_md, p.progress, p.loss, p.eval_md, p.files_out]


def loss_frame(rows: list[dict[str, Any]]) -> Any:
    """The loss plot's data, or None while there is none.

    The plot keeps the encoding of the first frame it draws: an empty frame (untyped, or typed
    but with no series yet) leaves it with categorical axes or without lines for good. So an
    empty plot gets None, and the first real frame sets it up.
    """
    if not rows:
        return None
    import pandas as pd

    df = pd.DataFrame(rows, columns=["step", "loss", "series"])
    return df.astype({"step": "int64", "loss": "float64", "series": "object"})


def refresh_panel(thread_id: str, lang: str) -> list[Any]:
    rd = run_dir_of(thread_id) if thread_id else None
    p = view.panel(rd, lang)
    import pandas as pd

    table = pd.DataFrame(p["dataset"], columns=say("page.dataset_cols", lang).split(","))
    return [p["stages"], table, p["plan"], p["progress"], loss_frame(p["loss"]), p["eval"],
            gr.update(value=p["downloads"] or None, visible=bool(p["downloads"]))]
