"""Pure converters from run files and events to what the page shows (tested without a server)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from tools.events import Event, read_events
from tools.planner import in_language, is_zh
from ui.i18n import L

STAGES = ("data", "plan", "train", "merge", "deploy", "eval")


def safe_text(text: str) -> str:
    """Show HTML in documents and model output as text, never as markup."""
    return html.escape(text, quote=False)


_CODE = re.compile(r"(```.*?(?:```|$)|`[^`\n]+`)", re.S)


def safe_markdown(text: str) -> str:
    """Markdown for the chat with any HTML shown as text: escaped outside code, code left as written.

    Markdown already shows code blocks and spans literally, so escaping there would print ``&lt;``.
    """
    parts = _CODE.split(str(text))
    return "".join(part if i % 2 else html.escape(part, quote=False) for i, part in enumerate(parts))


def stage_of(run_dir: Path | None, events: list[Event]) -> tuple[str, str]:
    """(current stage, its state) from the events."""
    stage, state = "data", "pending"  # nothing started yet: every stage is still to do
    for e in events:
        if e.stage in STAGES:
            stage = e.stage
            state = {"done": "done", "error": "error", "cancelled": "cancelled"}.get(e.kind, "running")
    if run_dir is not None and stage == "data" and (run_dir / "data" / "report.json").exists():
        stage, state = "data", "done"
    if run_dir is not None and (run_dir / "plan.json").exists() and STAGES.index(stage) < 1:
        stage, state = "plan", "done"
    return stage, state


_STATE_INDEX = {"pending": 0, "running": 1, "done": 2, "error": 3, "failed": 3, "cancelled": 4, "interrupted": 5}


def run_standing(run_dir: Path, lang: str) -> tuple[str, str]:
    """(stage, state) of a run as words in ``lang``, from its folder: what the panel would show."""
    from tools.train import training_state

    stage, state = stage_of(run_dir, read_events(run_dir) if run_dir.is_dir() else [])
    if stage == "train":
        live = training_state(run_dir)
        state = {"none": state, "failed": "error"}.get(live, live)
    stages = dict(zip(STAGES, L("stages", lang).split(","), strict=True))
    states = L("states", lang).split(",")
    return stages.get(stage, stage), states[_STATE_INDEX.get(state, 1)]


def stage_tracker_html(stage: str, state: str, lang: str) -> str:
    names = L("stages", lang).split(",")
    cur = STAGES.index(stage) if stage in STAGES else 0
    parts = []
    for i, (key, name) in enumerate(zip(STAGES, names, strict=True)):
        if i < cur or (i == cur and state == "done"):
            cls, mark = "done", "✓"
        elif i == cur and state != "pending":
            cls, mark = ("error", "✗") if state == "error" else ("running", "…")
        else:
            cls, mark = "todo", "○"
        parts.append(f'<span class="tp-stage tp-{cls}" data-stage="{key}">{mark} {html.escape(name)}</span>')
    return '<div class="tp-stages">' + " → ".join(parts) + "</div>"


def server_html(run_dir: Path | None, lang: str) -> str:
    """One line on the run's model server: answering where, or gone (a crash leaves ``serve.json``
    behind; a deliberate stop removes it). Read on every panel refresh, so a killed server shows
    within one tick of the page's timer."""
    from tools.procs import pid_alive

    if run_dir is None:
        return ""
    try:
        serve = json.loads((run_dir / "serve.json").read_text(encoding="utf-8"))
        pid, url = int(serve["pid"]), str(serve["base_url"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    if pid_alive(pid):
        return f'<div class="tp-server tp-server-up">{html.escape(L("server_up", lang, url=url))}</div>'
    return f'<div class="tp-server tp-server-down">{html.escape(L("server_gone", lang))}</div>'


def loss_rows(events: list[Event], lang: str = "en") -> list[dict[str, Any]]:
    """The loss plot's points; the series names are the legend, in the page's language."""
    train, held_out = L("train_loss", lang), L("eval_loss", lang)
    rows = []
    for e in events:
        if e.stage != "train" or e.step is None:
            continue
        if e.kind == "progress" and "loss" in e.data:
            rows.append({"step": e.step, "loss": float(e.data["loss"]), "series": train})
        elif e.kind == "metric" and "eval_loss" in e.data:
            rows.append({"step": e.step, "loss": float(e.data["eval_loss"]), "series": held_out})
    return rows


def progress_html(events: list[Event], lang: str) -> str:
    prog = [e for e in events if e.stage == "train" and e.kind == "progress"]
    finals = [e for e in events if e.stage == "train" and e.kind in ("done", "error", "cancelled")]
    if not prog:
        return ""
    last = prog[-1]
    total = last.total or 1
    pct = min(100, int(100 * (last.step or 0) / total))
    eta = int(last.data.get("eta_s") or 0)
    note = ""
    if finals and finals[-1].ts >= last.ts:
        note = safe_text(finals[-1].message)
    return (
        f'<div class="tp-progress"><div class="tp-bar" style="width:{pct}%"></div></div>'
        f'<div class="tp-progress-text">{last.step}/{total} · loss {last.data.get("loss", 0):.4f} · '
        f'{last.data.get("tokens_per_s") or 0:.0f} tok/s · ETA {eta // 60}:{eta % 60:02d} {note}</div>'
    )


def short_where(where: str, source: str) -> str:
    """``/server/folder/file.pdf:12`` → ``file.pdf:12``: the page shows file names, not server folders."""
    where, source = str(where or ""), str(source or "")
    if source and where.startswith(source):
        return Path(source).name + where[len(source):]
    return where


def dataset_rows(run_dir: Path | None) -> list[list[Any]]:
    if run_dir is None or not (run_dir / "data" / "report.json").exists():
        return []
    rep = json.loads((run_dir / "data" / "report.json").read_text(encoding="utf-8"))
    rows = []
    for f in rep.get("files", []):
        errors = "; ".join(f"{short_where(e.get('where', ''), f.get('source', ''))}: {e.get('message', '')}" for e in f.get("errors", []))
        dropped = ", ".join(f"{k} {v}" for k, v in (f.get("dropped") or {}).items())
        rows.append([Path(f.get("source", "")).name, f.get("type", ""), f.get("records_found", 0),
                     f.get("records_kept", 0), dropped, errors])
    return rows


_PLAN_WORDS = {  # the plan panel's header line; numbers and technical names stay as they are
    "en": {"batch": "batch", "length": "max length", "lr": "lr", "epochs": "epochs",
           "memory": "memory: {est:.1f} GiB estimated of {avail:.1f} GiB"},
    "zh": {"batch": "批大小", "length": "最大长度", "lr": "学习率", "epochs": "轮",
           "memory": "显存：估算 {est:.1f} GiB，可用 {avail:.1f} GiB"},
}


def plan_markdown(run_dir: Path | None, lang: str = "en") -> str:
    """The plan panel: the main settings, the memory estimate and the reasons, in the page's language.

    A plan.json written before the planner gave its reasons in Chinese shows them in English.
    """
    if run_dir is None or not (run_dir / "plan.json").exists():
        return ""
    p = json.loads((run_dir / "plan.json").read_text(encoding="utf-8"))
    w = _PLAN_WORDS["zh" if is_zh(lang) else "en"]
    mem = p.get("memory", {})
    gib = 1024**3
    lines = [
        f"**{p.get('method', '').upper()}** · r={p.get('lora', {}).get('r')} · {w['batch']} {p.get('micro_batch_size')}"
        f"×{p.get('grad_accum')} · {w['length']} {p.get('max_length')} · {w['lr']} {p.get('learning_rate') or 0:g} · "
        f"{p.get('num_epochs')} {w['epochs']} · {p.get('device')}",
        w["memory"].format(est=mem.get("total_bytes", 0) / gib, avail=mem.get("available_bytes", 0) / gib),
    ]
    reasons = in_language(p.get("reasons") or [], p.get("reasons_zh"), lang)
    lines += [f"- {safe_text(r)}" for r in reasons[:10]]
    return "\n".join(lines)


def eval_markdown(run_dir: Path | None) -> str:
    if run_dir is None or not (run_dir / "eval" / "table.md").exists():
        return ""
    return (run_dir / "eval" / "table.md").read_text(encoding="utf-8")


def downloads(run_dir: Path | None) -> list[str]:
    if run_dir is None:
        return []
    out = []
    for rel in ("data/train.jsonl", "data/eval.jsonl", "eval/table.csv", "adapter.zip"):
        if (run_dir / rel).exists():
            out.append(str(run_dir / rel))
    return out


def panel(run_dir: Path | None, lang: str) -> dict[str, Any]:
    events = read_events(run_dir) if run_dir else []
    stage, state = stage_of(run_dir, events)
    return {
        "stages": stage_tracker_html(stage, state, lang) + server_html(run_dir, lang),
        "dataset": dataset_rows(run_dir),
        "plan": plan_markdown(run_dir, lang),
        "progress": progress_html(events, lang),
        "loss": loss_rows(events, lang),
        "eval": eval_markdown(run_dir),
        "downloads": downloads(run_dir),
        "stage": stage,
        "state": state,
    }


STEP_ICONS = {"convert": "📄", "plan": "🧮", "train": "🏋️", "status": "⏱️", "cancel": "⏹️", "merge": "🧩",
              "deploy": "🚀", "evaluate": "📊", "chat": "💬", "list_runs": "🗂️"}


def step_metadata(step: str, text: str, lang: str) -> dict[str, str]:
    """Gradio's collapsible "thought" box for a tool step: a title with its status."""
    failed = text.lstrip().startswith(("⚠", "Problem:", "出错了"))  # agent.replies "error"
    # the train step starts a detached training: its message says it started, the progress panel follows it
    status = L("step_failed", lang) if failed else L("step_started" if step == "train" else "step_done", lang)
    return {"title": f"{STEP_ICONS.get(step, '🔧')} {L('step_' + step, lang)} · {status}", "status": "done"}
