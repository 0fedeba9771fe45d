"""Pure converters from run files and events to what the page shows (tested without a server)."""

from __future__ import annotations

import functools
import html
import re
from pathlib import Path
from typing import Any

from agent.replies import word
from tools.core.errors import InputError
from tools.core.events import Event, read_events
from tools.core.messages import lang_of, say
from tools.core.payloads import Check, Done, EvalLoss, Progress, Queued
from tools.core.procs import pid_alive
from tools.core.runs import STAGES, standing
from tools.data.schema import DatasetReport
from tools.evaluate.render import render_saved
from tools.plan.record import load_plan
from tools.serve.record import load_deployment


def safe_text(text: str) -> str:
    """Show HTML in documents and model output as text, never as markup."""
    return html.escape(text, quote=False)


def answer_text(text: str, lang: str, done: bool = True) -> str:
    """A model's answer for the chat: an answer that ended without any text says so in ``lang``."""
    if done and not text.strip():
        return "_" + say("answer.empty", lang) + "_"
    return safe_text(text)


_CODE = re.compile(r"(```.*?(?:```|$)|`[^`\n]+`)", re.S)


def safe_markdown(text: str) -> str:
    """Markdown for the chat with any HTML shown as text: escaped outside code, code left as written.

    Markdown already shows code blocks and spans literally, so escaping there would print ``&lt;``.
    """
    parts = _CODE.split(str(text))
    return "".join(part if i % 2 else html.escape(part, quote=False) for i, part in enumerate(parts))


_STATE_INDEX = {"created": 0, "running": 1, "done": 2, "failed": 3, "cancelled": 4, "interrupted": 5}


def run_standing(run_dir: Path, lang: str) -> tuple[str, str]:
    """(stage, state) of a run as words in ``lang`` (:func:`tools.core.runs.standing`)."""
    stage, state = standing(run_dir)
    stages = dict(zip(STAGES, say("page.stages", lang).split(","), strict=True))
    states = say("page.states", lang).split(",")
    return stages.get(stage, stage), states[_STATE_INDEX.get(state, 1)]


def stage_tracker_html(stage: str, state: str, lang: str) -> str:
    names = say("page.stages", lang).split(",")
    cur = STAGES.index(stage) if stage in STAGES else 0
    parts = []
    for i, (key, name) in enumerate(zip(STAGES, names, strict=True)):
        if i < cur or (i == cur and state == "done"):
            cls, mark = "done", "✓"
        elif i == cur and state != "created":
            cls, mark = ("error", "✗") if state == "failed" else ("running", "…")
        else:
            cls, mark = "todo", "○"
        parts.append(f'<span class="tp-stage tp-{cls}" data-stage="{key}">{mark} {html.escape(name)}</span>')
    return '<div class="tp-stages">' + " → ".join(parts) + "</div>"


def server_html(run_dir: Path | None, lang: str) -> str:
    """One line on the run's model server: answering where, or gone (a crash leaves ``serve.json``
    behind; a deliberate stop removes it). Read on every panel refresh, so a killed server shows
    within one tick of the page's timer."""
    if run_dir is None:
        return ""

    try:
        dep = load_deployment(run_dir)
    except (InputError, OSError, ValueError):
        return ""
    if dep is None:
        return ""
    pids = [dep.pid] + ([dep.peer.pid] if dep.peer is not None else [])  # pair mode: two servers
    url = dep.base_url
    if all(pid_alive(p) for p in pids):
        return f'<div class="tp-server tp-server-up">{html.escape(say("page.server_up", lang, url=url))}</div>'
    return f'<div class="tp-server tp-server-down">{html.escape(say("page.server_gone", lang))}</div>'


def loss_rows(events: list[Event], lang: str = "en") -> list[dict[str, Any]]:
    """The loss plot's points; the series names are the legend, in the page's language."""
    train, held_out = say("page.train_loss", lang), say("page.eval_loss", lang)
    rows = []
    for e in events:
        if e.stage != "train" or e.step is None:
            continue
        if (prog := Progress.of(e)) is not None:
            rows.append({"step": e.step, "loss": prog.loss, "series": train})
        elif (ev := EvalLoss.of(e)) is not None:
            rows.append({"step": e.step, "loss": ev.eval_loss, "series": held_out})
        elif (check := Check.of(e)) is not None and check.asked:
            rows.append({"step": e.step, "loss": check.known / check.asked, "series": say("page.knows_share", lang)})
    return rows


def knows_line(events: list[Event], lang: str) -> str:
    """The learning check's latest count ("knows 17 of 22"), and why training stopped when it did."""
    checks = [c for e in events if (c := Check.of(e)) is not None and c.asked]
    if not checks:
        return ""
    last = checks[-1]
    text = say("page.knows_line", lang, known=last.known, asked=last.asked) if last.closed_known is None else say(
        "page.knows_line_read", lang, known=last.known, asked=last.asked, closed=last.closed_known)
    if last.verdict in ("target", "stalled"):
        text += say(f"page.knows_{last.verdict}", lang)
    return f'<div class="tp-progress-text tp-knows">{html.escape(text)}</div>'


def _final_note(final: Event, last_step: int | None, lang: str) -> str:
    """The train stage's last word (done, cancelled, error) in the page's language, from its data fields."""
    if final.kind == "done":
        steps = final.step if final.step is not None else last_step
        done = Done.of(final)
        if done is not None and done.train_loss is not None:
            return say("page.train_done_note", lang, steps=steps, loss=done.train_loss)
        return say("page.train_done_steps", lang, steps=steps)
    if final.kind == "cancelled":
        if final.step is not None:
            return say("page.train_cancelled_at", lang, step=final.step)
        return say("page.train_interrupted", lang)
    if final.said is not None:  # why it stopped, by code, in the page's language
        text = final.said.text(lang)
        return text[:1].upper() + text[1:]
    return say("page.train_failed", lang, message=final.message.strip()).rstrip()  # an event written before codes


def progress_html(events: list[Event], lang: str) -> str:
    prog = [e for e in events if e.stage == "train" and e.kind == "progress"]
    finals = [e for e in events if e.stage == "train" and e.kind in ("done", "error", "cancelled")]
    latest = next((e for e in reversed(events) if e.stage == "train" and e.kind != "warning"), None)
    queued = Queued.of(latest) if latest is not None else None
    if queued is not None and queued.queued:  # another training holds the machine: say so, not an empty bar
        return f'<div class="tp-progress-text">{html.escape(say("page.train_queued", lang, n=queued.queued))}</div>'
    if not prog:
        return ""
    last = prog[-1]
    data = Progress.of(last) or Progress(loss=0.0)
    total = last.total or 1
    pct = min(100, int(100 * (last.step or 0) / total))
    eta = int(data.eta_s or 0)
    note = ""
    if finals and finals[-1].ts >= last.ts:
        note = safe_text(_final_note(finals[-1], last.step, lang))
    return (
        f'<div class="tp-progress"><div class="tp-bar" style="width:{pct}%"></div></div>'
        f'<div class="tp-progress-text">{last.step}/{total} · loss {data.loss:.4f} · '
        f'{data.tokens_per_s or 0:.0f} tok/s · {html.escape(say("page.eta", lang))} {eta // 60}:{eta % 60:02d} '
        f'{note}</div>' + knows_line(events, lang)
    )


def dataset_rows(run_dir: Path | None, lang: str = "en") -> list[list[Any]]:
    """The dataset report's rows; drop reasons and the usual file problems in the page's language."""
    report = DatasetReport.read(run_dir / "data" / "report.json") if run_dir is not None else None
    if report is None:
        return []
    rows = []
    for f in report.files:
        errors = say("text.list_sep", lang).join(e.shown(lang, f.source) for e in f.errors)
        dropped = ", ".join(f"{word(str(k), lang)} {v}" for k, v in f.dropped.items())
        facts = f"{f.facts} → {f.questions}" if f.facts else ""
        rows.append([Path(f.source).name, f.type, f.records_found, f.records_kept, dropped, errors, facts])
    return rows


def plan_markdown(run_dir: Path | None, lang: str = "en") -> str:
    """The plan panel: the main settings, the memory estimate and the reasons, in the page's language.

    A plan.json written before the planner gave its reasons in Chinese shows them in English.
    """
    if run_dir is None or not (run_dir / "plan.json").exists():
        return ""
    try:
        p = load_plan(run_dir / "plan.json")
    except (InputError, OSError):
        return ""

    def w(key: str, **kw: float) -> str:  # the header line's words: page.plan_* in the catalogs
        return say(f"page.plan_{key}", lang, **kw)

    gib = 1024**3
    lines = [
        f"**{p.method.upper()}** · r={p.lora.r} · {w('batch')} {p.micro_batch_size}"
        f"×{p.grad_accum} · {w('length')} {p.max_length} · {w('lr')} {p.learning_rate or 0:g} · "
        f"{p.num_epochs} {w('epochs')} · {p.device}",
        w("memory_gpu" if p.device == "cuda" else "memory", est=p.memory.total_bytes / gib,
          avail=p.memory.available_bytes / gib),
    ]
    lines += [f"- {safe_text(r)}" for r in p.reasons_in(lang)[:10]]
    return "\n".join(lines)


def eval_markdown(run_dir: Path | None, lang: str = "en") -> str:
    """The before/after panel in the page's language (see ``tools.evaluate.render.render_saved``)."""
    if run_dir is None:
        return ""
    eval_dir = run_dir / "eval"
    lang = lang_of(lang)
    try:
        st = (eval_dir / "table.json").stat()
    except OSError:  # not evaluated, or evaluated before table.json existed: nothing worth caching

        return render_saved(eval_dir, lang)
    return _eval_cached(str(eval_dir), st.st_mtime_ns, st.st_size, lang)


@functools.lru_cache(maxsize=16)
def _eval_cached(eval_dir: str, mtime_ns: int, size: int, lang: str) -> str:
    """Rendered once per table.json version and language: the panel refreshes on a timer, the file can be large."""
    return render_saved(Path(eval_dir), lang)


DOWNLOADS = ("data/train.jsonl", "data/eval.jsonl", "eval/table.csv", "adapter.zip",
             "export/model-q8_0.gguf", "export/model-f16.gguf", "export/Modelfile")  # export: `tunepilot export`


def downloads(run_dir: Path | None) -> list[str]:
    """The run's files a person may take away, those that exist, in this order."""
    if run_dir is None:
        return []
    out = []
    for rel in DOWNLOADS:
        if (run_dir / rel).exists():
            out.append(str(run_dir / rel))
    return out


def panel(run_dir: Path | None, lang: str) -> dict[str, Any]:
    events = read_events(run_dir) if run_dir else []
    stage, state = standing(run_dir, events)
    return {
        "stages": stage_tracker_html(stage, state, lang) + server_html(run_dir, lang),
        "dataset": dataset_rows(run_dir, lang),
        "plan": plan_markdown(run_dir, lang),
        "progress": progress_html(events, lang),
        "loss": loss_rows(events, lang),
        "eval": eval_markdown(run_dir, lang),
        "downloads": downloads(run_dir),
        "stage": stage,
        "state": state,
    }


STEP_ICONS = {"convert": "📄", "plan": "🧮", "train": "🏋️", "status": "⏱️", "cancel": "⏹️", "merge": "🧩",
              "deploy": "🚀", "evaluate": "📊", "chat": "💬", "list_runs": "🗂️"}


def step_metadata(step: str, lang: str, failed: bool = False) -> dict[str, str]:
    """Gradio's collapsible "thought" box for a tool step: a title with its status (``failed``: the agent marked
    the step's message as an error)."""
    # the train step starts a detached training: its message says it started, the progress panel follows it
    status = say("page.step_failed" if failed else "page.step_started" if step == "train" else "page.step_done", lang)
    return {"title": f"{STEP_ICONS.get(step, '🔧')} {say(f'page.step_{step}', lang)} · {status}", "status": "done"}
