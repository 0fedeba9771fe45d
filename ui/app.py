"""The page: chat with the agent, the run panel, the model chat (base vs tuned) and the runs list.

``create_app()`` builds the Blocks; ``launch()`` serves them. The page talks only to
``agent/`` (AgentSession) and reads run files and events through ``ui.view``.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import unicodedata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr

from tools.core.messages import say
from tools.core.paths import runs_root
from tools.core.secrets import redact
from ui import corrections as correction_ui
from ui import pairs as pair_table
from ui import view
from ui.conversations import (
    get_session,
    message_text,
    new_thread_id,
    owns,
    thread_lock,
)
from ui.i18n import L

log = logging.getLogger(__name__)

MAX_FILES = 20
MAX_FILE_MB = 200
CSS = """
.tp-stages {display:flex; flex-wrap:wrap; gap:.3em; align-items:center; font-size:.95em}
.tp-server {margin-top:.4em; font-size:.9em; overflow-wrap:anywhere}
.tp-server-down {color:#b42318; font-weight:600}
.tp-stage {padding:.15em .5em; border-radius:1em; border:1px solid #ccc; white-space:nowrap}
.tp-done {background:#e6f4ea; border-color:#34a853}
.tp-running {background:#fff4e5; border-color:#f9ab00}
.tp-error {background:#fce8e6; border-color:#ea4335}
.tp-progress {height:12px; background:#eee; border-radius:6px; overflow:hidden}
.tp-bar {height:100%; background:#34a853; transition:width .5s}
.tp-progress-text {font-size:.9em; margin-top:.3em; overflow-wrap:anywhere}
.message, .message * {overflow-wrap:anywhere; word-break:break-word}
#tp-dataset th, #tp-dataset th * {word-break:keep-all; overflow-wrap:normal}
#tp-chat pre, #tp-chat pre code {white-space:pre-wrap; overflow-wrap:anywhere}
#tp-eval table, #tp-chat table {display:block; max-width:100%; overflow-x:auto}
#tp-eval th, #tp-eval td, #tp-chat th, #tp-chat td {min-width:4.5em; vertical-align:top; overflow-wrap:break-word;
  word-break:normal}
#tp-eval td:nth-last-child(-n+2), #tp-chat td:nth-last-child(-n+2) {min-width:14em}
"""

MAX_NAME = 150


def sanitize_name(name: str) -> str:
    """A safe file name: no folders, no traversal, no control characters, no invisible direction marks
    (a right-to-left override can make ``evil\u202etxt.exe`` read as ``evilexe.txt``); keeps Chinese;
    a long name is cut in its stem, so it keeps its extension."""
    base = unicodedata.normalize("NFKC", Path(str(name).replace("\\", "/")).name)
    base = "".join(c for c in base if unicodedata.category(c) != "Cf")
    base = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|]", "_", base).strip(" .")
    if len(base) > MAX_NAME:
        stem, dot, ext = base.rpartition(".")
        keep = f".{ext}" if dot and stem and 0 < len(ext) <= 10 else ""
        base = base[: MAX_NAME - len(keep)].rstrip(" .") + keep
    return base or "upload"


def _discard_upload(src: Path) -> None:
    """Remove Gradio's temporary copy of an upload once it is stored or refused (files elsewhere stay)."""
    from gradio.utils import get_upload_folder

    try:
        temp = Path(get_upload_folder()).resolve()
        path = src.resolve()
        if temp in path.parents:
            path.unlink(missing_ok=True)
            if path.parent != temp and not any(path.parent.iterdir()):
                path.parent.rmdir()
    except OSError:
        log.warning("could not remove the upload's temporary copy %s", src)


def store_uploads(paths: list[str], dest: Path, lang: str) -> tuple[list[str], list[str]]:
    """Copy uploads into ``dest`` with sanitised, non-clobbering names. Returns (stored, problems)."""
    problems: list[str] = []
    if len(paths) > MAX_FILES:
        for p in paths:
            _discard_upload(Path(p))
        return [], [L("too_many_files", lang, n=len(paths), limit=MAX_FILES)]
    dest.mkdir(parents=True, exist_ok=True)
    stored = []
    for p in paths:
        src = Path(p)
        size_mb = src.stat().st_size / 1e6
        name = sanitize_name(getattr(p, "orig_name", None) or src.name)
        if size_mb > MAX_FILE_MB:
            problems.append(L("file_too_big", lang, name=name, mb=size_mb, limit=MAX_FILE_MB))
            _discard_upload(src)
            continue
        target = dest / name
        stem, suffix, n = target.stem, target.suffix, 1
        while target.exists():
            target = dest / f"{stem}-{n}{suffix}"
            n += 1
        shutil.copyfile(src, target)
        stored.append(str(target))
        _discard_upload(src)
    return stored, problems


def _lang(choice: str | None) -> str:
    return "zh" if choice and ("中" in choice or choice.startswith("zh")) else "en"


# What the page keeps with a message it sends (in the conversation's SQLite file, so it survives a
# restart): the names of the files that came with it. BY_PAGE marks the words older versions of the page
# sent on the person's behalf (the timer's "status"), which are not shown; the page now sends actions.
ATTACHED = "files"
BY_PAGE = "by_page"


def _chat_view(session: Any, pending: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The conversation as the Chatbot shows it: file names under the messages that brought them,
    upload folders left out, and an open confirmation's question at the end."""
    from tools.core.paths import runs_root

    upload_dir = str(runs_root() / "uploads" / session.thread_id) + os.sep
    msgs = []
    lang = session.values().get("lang") or "en"
    for role, text, step, meta in session.messages():
        if role == "user" and meta.get(BY_PAGE):
            continue
        text = text.replace(upload_dir, "")
        if role == "user" and meta.get(ATTACHED):
            text += "".join(f"\n📎 {name}" for name in meta[ATTACHED])
        msg: dict[str, Any] = {"role": role, "content": view.safe_markdown(text)}
        if step:
            msg["metadata"] = view.step_metadata(step, lang, failed=bool(meta.get("failed")))
        msgs.append(msg)
    pending = session.pending() if pending is None else pending
    if pending and pending.get("question"):
        msgs.append({"role": "assistant", "content": view.safe_markdown(str(pending["question"]))})
    return msgs


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


def browser_secret() -> str:
    """The key that encrypts the browser's stored thread id; kept under the runs root so restarts keep it."""
    from tools.core.paths import runs_root

    path = runs_root() / ".ui-secret"
    try:
        text = path.read_text().strip()
        if text:
            return text
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    text = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return text


def _run_dir(thread_id: str) -> Path | None:
    session = get_session(thread_id)
    rd = session.values().get("run_dir")
    return Path(rd) if rd else None


# --- the page's handlers: plain functions of (inputs) → outputs, wired to components below -----------------


def refresh_panel(thread_id: str, lg: str) -> list[Any]:
    rd = _run_dir(thread_id) if thread_id else None
    p = view.panel(rd, lg)
    import pandas as pd

    table = pd.DataFrame(p["dataset"], columns=L("dataset_cols", lg).split(","))
    return [p["stages"], table, p["plan"], p["progress"], loss_frame(p["loss"]), p["eval"],
            gr.update(value=p["downloads"] or None, visible=bool(p["downloads"]))]


def on_load(thread_id: str, lg: str) -> list[Any]:
    session = get_session(thread_id)
    pending = session.pending()
    return [_chat_view(session, pending), gr.update(visible=pending is not None),
            *refresh_panel(thread_id, lg)]


def send(message: dict[str, Any] | str, thread_id: str, lg: str):  # type: ignore[no-untyped-def]
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
    history.append({"role": "assistant", "content": L("working", lg)})
    # the confirmation buttons hide while the agent works, so a second click cannot resend
    yield history, gr.update(value=None, interactive=False), gr.update(visible=False), ""
    stored: list[str] = []
    problems: list[str] = []
    if paths:
        dest = runs_root() / "uploads" / thread_id
        stored, problems = store_uploads(paths, dest, lg)
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


def pressed(action: str):  # type: ignore[no-untyped-def]
    """A confirmation button: a typed answer to the agent's question (the box's text goes with Edit)."""
    def handler(message: Any, thread_id: str, lg: str):  # type: ignore[no-untyped-def]
        thread_id = new_thread_id(thread_id)
        session = get_session(thread_id)
        text = message.get("text", "") if isinstance(message, dict) else str(message or "")
        history = _chat_view(session)
        history.append({"role": "assistant", "content": L("working", lg)})
        yield history, gr.update(interactive=False), gr.update(visible=False), ""
        try:
            with thread_lock(thread_id):
                turn = session.answer(action, text)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - the page never shows a traceback
            log.exception("agent failed")
            history[-1] = {"role": "assistant",
                           "content": view.safe_markdown(f"⚠️ {type(exc).__name__}: {redact(str(exc))}")}
            yield history, gr.update(interactive=True), gr.update(visible=session.pending() is not None), ""
            return
        shown = _chat_view(session, turn.pending)
        if turn.pending is None and not turn.state and turn.replies:  # nothing was waiting: say so here
            shown.append({"role": "assistant", "content": view.safe_markdown(turn.replies[-1])})
        yield (shown, gr.update(value=None, interactive=True),
               gr.update(visible=turn.pending is not None), "")
    return handler


def tick(thread_id: str, lg: str) -> list[Any]:
    """Live panel; when a journey's training has finished, carry the journey on."""
    chat_update: Any = gr.update()
    confirm_update: Any = gr.update()
    if not thread_id:
        return [chat_update, confirm_update, *refresh_panel(thread_id, lg)]
    session = get_session(thread_id)
    lock = thread_lock(thread_id)
    if lock.acquire(blocking=False):  # a turn in progress carries the journey itself
        try:
            values = session.values()
            rd = values.get("run_dir")
            if (rd and values.get("journey") and values.get("stage") == "train"
                    and session.pending() is None):
                from tools.train.launch import training_state

                if training_state(Path(rd)) in ("done", "failed", "cancelled"):
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
    return [chat_update, confirm_update, *refresh_panel(thread_id, lg)]


def deployed_runs(thread_id: str) -> Any:
    """This conversation's runs that are being served now."""
    from tools.core.runs import RunIndex
    from tools.serve.deploy import all_deployments

    mine = {r.id for r in RunIndex().list(owner=new_thread_id(thread_id))}
    live = [s for s in all_deployments(runs_root()) if s.state == "running"]
    choices = [Path(s.run_dir).name for s in live if Path(s.run_dir).name in mine]
    return gr.update(choices=choices, value=choices[0] if choices else None)


SIDES = ("base", "tuned")  # what the two columns show until the person picks another run


def side_choices(run_id: str | None, thread_id: str, lg: str) -> list[Any]:
    """What each column of the model chat can show: the base, this run, or another run of this conversation
    trained from the same base (its adapter joins the running server when asked); the columns' labels follow."""
    from tools.core.runs import RunIndex
    from tools.serve.deploy import same_base_runs

    choices = [(L("base", lg), "base"), (L("tuned", lg), "tuned")]
    if run_id and owns(thread_id, run_id):
        others = [Path(r.path) for r in RunIndex().list(owner=new_thread_id(thread_id)) if r.id != run_id]
        choices += [(L("other_run", lg, run=o.name), f"run-{o.name}")
                    for o in same_base_runs(runs_root() / run_id, others)]
    return [gr.update(choices=choices, value=v) for v in SIDES] + \
        [gr.update(label=L(v, lg)) for v in SIDES]


def side_label(side: str | None, lg: str) -> Any:
    return gr.update(label=L(side, lg) if side in SIDES else L("other_run", lg, run=str(side or "")[4:]))


def _side_model(dep: Any, side: str, thread_id: str) -> str:
    """The server's model name for a column: base, this run, or another run's adapter loaded for it."""
    from tools.core.errors import InputError
    from tools.serve.deploy import serve_other_run

    if side in SIDES:
        return side
    other = side.removeprefix("run-")
    if not owns(thread_id, other):
        raise InputError("not a run of this conversation", where=other)
    return serve_other_run(dep, runs_root() / other)


def ask_both(text: str, run_id: str | None, side_a: str | None, side_b: str | None,  # type: ignore[no-untyped-def]
             hb: list, ht: list, lg: str, thread_id: str = ""):
    """Both columns answer the same question, streamed side by side."""
    from tools.core.errors import TunepilotError
    from tools.serve.chat import ChatError, stream_chat
    from tools.serve.deploy import DeployRequest, deploy_model, load_deployment

    hb, ht = list(hb or []), list(ht or [])
    if not text or not run_id or not owns(thread_id, run_id):
        yield hb, ht, text
        return
    dep = load_deployment(runs_root() / run_id)
    for h in (hb, ht):
        h += [{"role": "user", "content": view.safe_text(text)}, {"role": "assistant", "content": ""}]
    if dep is None:
        hb[-1]["content"] = ht[-1]["content"] = L("server_down", lg, error="no serve.json")
        yield hb, ht, ""
        return
    msgs = [{"role": "user", "content": text}]
    texts, streams, active = ["", ""], {}, set()
    sides = (side_a or "base", side_b or "tuned")
    if any(s not in SIDES for s in sides) and dep.mode != "lora":
        try:  # another run's adapter joins a LoRA server: the pair of plain servers makes way for one (once)
            dep = deploy_model(DeployRequest(run_dir=runs_root() / run_id, mode="lora"))
        except TunepilotError as exc:
            hb[-1]["content"] = ht[-1]["content"] = L("server_down", lg, error=redact(str(exc)))
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
            texts[i] = L("server_down", lg, error=redact(str(exc)))
    while True:
        for i in list(active):
            try:
                texts[i] += next(streams[i])
            except StopIteration:
                active.discard(i)
            except ChatError as exc:
                texts[i] = L("server_down", lg, error=redact(str(exc)))
                active.discard(i)
        for i, h in enumerate((hb, ht)):
            h[-1]["content"] = view.answer_text(texts[i], lg, done=i not in active) if i in streams else texts[i]
        yield hb, ht, ""
        if not active:
            return


def like(data: gr.LikeData, run_id: str | None, side: str | None, history: list, thread_id: str) -> None:
    """A 👍/👎 on a column's answer counts in the human row of the run that answered."""
    import hashlib

    from tools.evaluate.before_after import record_human_score

    if not run_id or not owns(thread_id, run_id) or not side:
        return
    target, model = (run_id, side) if side in SIDES else (side.removeprefix("run-"), "tuned")
    if not owns(thread_id, target):
        return
    idx = data.index if isinstance(data.index, int) else data.index[0]
    question = message_text(history[idx - 1]) if idx and idx > 0 else ""
    sid = "chat-" + hashlib.sha1(question.encode()).hexdigest()[:10]
    record_human_score(runs_root() / target, sid, model, 1 if data.liked else -1)


def list_runs(lg: str = "en", thread_id: str = "") -> Any:
    """This conversation's runs with where each stands now (read from its folder, not a stale index row);
    other conversations' runs are not shown."""
    import pandas as pd

    from tools.core.runs import RunIndex

    rows = [[r.id, *view.run_standing(Path(r.path), lg), r.goal[:80]]
            for r in RunIndex().list(owner=new_thread_id(thread_id))]
    return pd.DataFrame(rows, columns=L("runs_cols", lg).split(","))


def pick_row(evt: gr.SelectData, rows: Any) -> str:
    try:
        return str(rows.iloc[evt.index[0], 0])
    except Exception:  # noqa: BLE001
        return ""


def open_run(run_id: str, thread_id: str, lg: str) -> str:
    return get_session(new_thread_id(thread_id)).open_run(run_id).text(lg)


def resume_run(run_id: str, thread_id: str, lg: str) -> str:
    return get_session(new_thread_id(thread_id)).resume_run(run_id).text(lg)


def redeploy(run_id: str, thread_id: str, lg: str) -> str:
    return get_session(new_thread_id(thread_id)).redeploy(run_id).text(lg)


def export_run(run_id: str, thread_id: str, lg: str) -> str:
    return get_session(new_thread_id(thread_id)).export_run(run_id).text(lg)


def delete_run(run_id: str, sure: bool, thread_id: str, lg: str) -> tuple[str, Any, bool]:
    if not sure:
        return say("runs.tick_first", lg), list_runs(lg, thread_id), False
    said = get_session(new_thread_id(thread_id)).delete_run(run_id)
    return said.text(lg), list_runs(lg, thread_id), False


def guarded(fn, n_extra: int = 0):  # type: ignore[no-untyped-def]
    """Tool errors as one line in the page's language; ``n_extra`` other outputs keep their value."""
    def inner(*args: Any) -> Any:
        from tools.core.errors import TunepilotError

        try:
            return fn(*args)
        except TunepilotError as err:
            msg = f"⚠️ {L('run_problem', args[-1] if args else 'en')} {err}"
            return (msg, *(gr.update() for _ in range(n_extra))) if n_extra else msg
    return inner


# --- wiring ---------------------------------------------------------------------------------------------


def _wire_language(p: SimpleNamespace, demo: gr.Blocks) -> None:
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
        (p.side_a, {"label": "left"}), (p.side_b, {"label": "right"}),
        (p.confirm_del, {"label": "confirm_delete"}), (p.delete_btn, {"value": "delete"}),
        *correction_ui.labels(p),
    ]

    def set_lang(choice: str) -> list[Any]:
        lg = _lang(choice)
        return [lg, f"## {L('title', lg)}",
                *(gr.update(**{prop: L(key, lg) for prop, key in props.items()})  # type: ignore[arg-type]
                  for _, props in labelled)]

    p.lang.change(set_lang, p.lang, [p.lang_state, p.title, *(c for c, _ in labelled)], api_name="set_lang")
    demo.load(None, None, p.lang, api_visibility="private",
              js="() => (navigator.language || 'en').startsWith('zh') ? '中文' : 'English'")


def _wire_agent(p: SimpleNamespace, demo: gr.Blocks) -> None:
    """The chat with the agent: messages, the confirmation buttons, the live panel and its timer."""
    p.panel_outputs = [p.stages, p.dataset, p.plan_md, p.progress, p.loss, p.eval_md, p.files_out]

    demo.load(new_thread_id, p.thread, p.thread, api_visibility="private").then(
        on_load, [p.thread, p.lang_state], [p.chatbot, p.confirm_row, *p.panel_outputs], api_name="history")

    p.chat_outputs = [p.chatbot, p.box, p.confirm_row, p.notice]
    p.box.submit(send, [p.box, p.thread, p.lang_state], p.chat_outputs, api_name="send").then(
        refresh_panel, [p.thread, p.lang_state], p.panel_outputs, api_visibility="private", show_progress="hidden")

    for button, action, name in ((p.approve, "approve", "approve"), (p.cancel, "decline", "cancel"),
                                 (p.edit, "edit", "edit")):
        button.click(pressed(action), [p.box, p.thread, p.lang_state], p.chat_outputs, api_name=name).then(
            refresh_panel, [p.thread, p.lang_state], p.panel_outputs, api_visibility="private", show_progress="hidden")

    p.timer.tick(tick, [p.thread, p.lang_state], [p.chatbot, p.confirm_row, *p.panel_outputs], show_progress="hidden",
               api_name="tick")
    # the pairs to train: refreshed only when the file changes (an edit in progress is never overwritten)
    pair_view = [p.pairs, p.pairs_save, p.pairs_hint, p.pairs_sig]
    p.timer.tick(pair_table.pairs_tick(_run_dir), [p.thread, p.lang_state, p.pairs_sig], pair_view,
                 show_progress="hidden", api_visibility="private")
    p.pairs_save.click(pair_table.save_pairs(_run_dir), [p.thread, p.lang_state, p.pairs],
                       [p.pairs, p.pairs_msg, p.pairs_sig], api_name="save_pairs").then(
        refresh_panel, [p.thread, p.lang_state], p.panel_outputs, api_visibility="private", show_progress="hidden")


def _wire_model_chat(p: SimpleNamespace) -> None:
    """The model chat: any two of base / this run / another run answer side by side; 👍/👎 reach the table."""
    p.refresh.click(deployed_runs, p.thread, p.run_pick, api_name="deployed_runs")
    p.tab_model.select(deployed_runs, p.thread, p.run_pick, api_visibility="private")
    sides = [p.side_a, p.side_b, p.chat_base, p.chat_tuned]
    p.run_pick.change(side_choices, [p.run_pick, p.thread, p.lang_state], sides, api_name="side_choices")
    p.side_a.change(side_label, [p.side_a, p.lang_state], p.chat_base, api_visibility="private")
    p.side_b.change(side_label, [p.side_b, p.lang_state], p.chat_tuned, api_visibility="private")

    asked = [p.ask, p.run_pick, p.side_a, p.side_b, p.chat_base, p.chat_tuned, p.lang_state, p.thread]
    p.ask_btn.click(ask_both, asked, [p.chat_base, p.chat_tuned, p.ask], api_name="ask_both")
    p.ask.submit(ask_both, asked, [p.chat_base, p.chat_tuned, p.ask], api_visibility="private")

    p.chat_base.like(like, [p.run_pick, p.side_a, p.chat_base, p.thread], None, api_visibility="private")
    p.chat_tuned.like(like, [p.run_pick, p.side_b, p.chat_tuned, p.thread], None, api_visibility="private")


def _wire_runs(p: SimpleNamespace) -> None:
    """The runs tab: this conversation's runs, and open / resume / redeploy / delete."""
    p.tab_runs.select(list_runs, [p.lang_state, p.thread], p.runs_table, api_name="list_runs")

    p.runs_table.select(pick_row, p.runs_table, p.run_id_box, api_visibility="private")

    # the runs tab's buttons are typed calls on this conversation's agent session
    p.open_btn.click(guarded(open_run), [p.run_id_box, p.thread, p.lang_state], p.runs_msg, api_name="open_run").then(
        refresh_panel, [p.thread, p.lang_state], p.panel_outputs, api_visibility="private", show_progress="hidden")
    p.resume_btn.click(guarded(resume_run), [p.run_id_box, p.thread, p.lang_state], p.runs_msg,
                     api_name="resume_run").then(
        refresh_panel, [p.thread, p.lang_state], p.panel_outputs, api_visibility="private", show_progress="hidden")
    p.redeploy_btn.click(guarded(redeploy), [p.run_id_box, p.thread, p.lang_state], p.runs_msg, api_name="redeploy")
    p.export_btn.click(guarded(export_run), [p.run_id_box, p.thread, p.lang_state], p.runs_msg,
                       api_name="export_run").then(
        refresh_panel, [p.thread, p.lang_state], p.panel_outputs, api_visibility="private", show_progress="hidden")
    p.delete_btn.click(guarded(delete_run, 2), [p.run_id_box, p.confirm_del, p.thread, p.lang_state],
                     [p.runs_msg, p.runs_table, p.confirm_del], api_name="delete_run")


def _model_chat_tab() -> dict[str, Any]:
    """The model chat tab's parts: which run, what each column shows, the two columns and the question box."""
    with gr.Row():
        run_pick = gr.Dropdown(label=L("pick_run", "en"), choices=[], elem_id="tp-run-pick")
        side_a = gr.Dropdown(label=L("left", "en"), choices=[(L(v, "en"), v) for v in SIDES],
                             value="base", elem_id="tp-side-a")
        side_b = gr.Dropdown(label=L("right", "en"), choices=[(L(v, "en"), v) for v in SIDES],
                             value="tuned", elem_id="tp-side-b")
        refresh = gr.Button(L("refresh", "en"), size="sm")
    with gr.Row():
        chat_base = gr.Chatbot(label=L("base", "en"), height=380, elem_id="tp-chat-base",
                               feedback_options=("Like", "Dislike"))
        chat_tuned = gr.Chatbot(label=L("tuned", "en"), height=380, elem_id="tp-chat-tuned",
                                feedback_options=("Like", "Dislike"))
    with gr.Row():
        ask = gr.Textbox(show_label=False, placeholder=L("ask", "en"), scale=4, elem_id="tp-ask")
        ask_btn = gr.Button(L("send", "en"), variant="primary", scale=1, elem_id="tp-ask-btn")
    return {"run_pick": run_pick, "side_a": side_a, "side_b": side_b, "refresh": refresh, "chat_base": chat_base,
            "chat_tuned": chat_tuned, "ask": ask, "ask_btn": ask_btn, **correction_ui.build_box()}


def create_app() -> gr.Blocks:
    with gr.Blocks(title="tunepilot") as demo:
        # The default is empty: each browser gets its own random id on first load (see new_thread_id).
        thread = gr.BrowserState("", storage_key="tunepilot-thread", secret=browser_secret())
        lang_state = gr.State("en")
        title = gr.Markdown(f"## {L('title', 'en')}")
        lang = gr.Radio(["English", "中文"], value="English", label=L("language", "en"), elem_id="tp-lang")
        with gr.Tabs():
            with gr.Tab(L("chat", "en"), id="chat") as tab_chat:
                with gr.Row():
                    with gr.Column(scale=3, min_width=320):
                        chatbot = gr.Chatbot(label=L("chat", "en"), show_label=False, height=520,
                                             elem_id="tp-chat", sanitize_html=True)
                        box = gr.MultimodalTextbox(file_count="multiple", placeholder=L("input", "en"),
                                                   show_label=False, elem_id="tp-input")
                        with gr.Row(visible=False, elem_id="tp-confirm") as confirm_row:
                            approve = gr.Button(L("approve", "en"), variant="primary", elem_id="tp-approve")
                            edit = gr.Button(L("edit", "en"), elem_id="tp-edit")
                            cancel = gr.Button(L("cancel", "en"), variant="stop", elem_id="tp-cancel")
                        notice = gr.Markdown(elem_id="tp-notice")
                    with gr.Column(scale=2, min_width=300):
                        stages = gr.HTML(elem_id="tp-stages")
                        with gr.Accordion(L("dataset", "en"), open=True) as acc_data:
                            dataset = gr.Dataframe(headers=L("dataset_cols", "en").split(","),
                                                   interactive=False, wrap=True, elem_id="tp-dataset")
                            pairs_hint = gr.Markdown(elem_id="tp-pairs-hint")
                            pairs = gr.Dataframe(headers=L("pairs_cols", "en").split(","), interactive=True,
                                                 wrap=True, visible=False, max_height=360, elem_id="tp-pairs",
                                                 label=L("pairs", "en"))
                            pairs_save = gr.Button(L("pairs_save", "en"), visible=False, elem_id="tp-pairs-save")
                            pairs_msg = gr.Markdown(elem_id="tp-pairs-msg")
                            pairs_sig = gr.State("")
                        with gr.Accordion(L("plan", "en"), open=True) as acc_plan:
                            plan_md = gr.Markdown(elem_id="tp-plan")
                        with gr.Accordion(L("progress", "en"), open=True) as acc_prog:
                            progress = gr.HTML(elem_id="tp-progress")
                            # the series names are the legend (train / held-out, in the page language): no title
                            loss = gr.LinePlot(x="step", y="loss", color="series", color_title="", height=220,
                                               x_title=L("plot_step", "en"), y_title=L("plot_loss", "en"),
                                               elem_id="tp-loss", label=L("loss", "en"))
                        files_out = gr.File(label=L("downloads", "en"), file_count="multiple", interactive=False,
                                            visible=False, elem_id="tp-downloads")
                # the before/after tables are wide: they get the page's full width
                with gr.Accordion(L("eval", "en"), open=True) as acc_eval:
                    eval_md = gr.Markdown(elem_id="tp-eval")
            with gr.Tab(L("model_chat", "en"), id="model") as tab_model:
                chat_parts = _model_chat_tab()
            with gr.Tab(L("runs", "en"), id="runs") as tab_runs:
                runs_table = gr.Dataframe(headers=L("runs_cols", "en").split(","), interactive=False,
                                          elem_id="tp-runs")
                with gr.Row():
                    run_id_box = gr.Textbox(label=L("run_id", "en"), scale=3, elem_id="tp-run-id")
                    open_btn = gr.Button(L("open", "en"))
                    resume_btn = gr.Button(L("resume", "en"))
                    redeploy_btn = gr.Button(L("redeploy", "en"))
                    export_btn = gr.Button(L("export", "en"), elem_id="tp-export")
                with gr.Row():
                    confirm_del = gr.Checkbox(label=L("confirm_delete", "en"), value=False)
                    delete_btn = gr.Button(L("delete", "en"), variant="stop")
                runs_msg = gr.Markdown(elem_id="tp-runs-msg")
                correction_parts = correction_ui.build_list()
        timer = gr.Timer(2.0)
        p = SimpleNamespace(
            thread=thread, lang_state=lang_state, title=title, lang=lang, tab_chat=tab_chat, chatbot=chatbot,
            box=box, confirm_row=confirm_row, approve=approve, edit=edit, cancel=cancel, notice=notice,
            stages=stages, acc_data=acc_data, dataset=dataset, acc_plan=acc_plan, plan_md=plan_md,
            pairs=pairs, pairs_hint=pairs_hint, pairs_save=pairs_save, pairs_msg=pairs_msg, pairs_sig=pairs_sig,
            acc_prog=acc_prog, progress=progress, loss=loss, files_out=files_out, acc_eval=acc_eval,
            eval_md=eval_md, tab_model=tab_model, **chat_parts, export_btn=export_btn, tab_runs=tab_runs,
            runs_table=runs_table, run_id_box=run_id_box, open_btn=open_btn, resume_btn=resume_btn, redeploy_btn=redeploy_btn,
            confirm_del=confirm_del, delete_btn=delete_btn, runs_msg=runs_msg, timer=timer, **correction_parts,
        )
        _wire_language(p, demo)
        _wire_agent(p, demo)
        _wire_model_chat(p)
        _wire_runs(p)
        correction_ui.wire(p)
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None,
           prevent_thread_lock: bool = False) -> Any:
    from starlette.middleware import Middleware

    from ui.guard import LoginThrottle

    demo = create_app()
    demo.queue(default_concurrency_limit=8)
    return demo.launch(server_name=host, server_port=port, auth=auth, share=False, show_error=False,
                       app_kwargs={"middleware": [Middleware(LoginThrottle)]},
                       max_file_size=f"{MAX_FILE_MB}mb", prevent_thread_lock=prevent_thread_lock,
                       theme=gr.themes.Soft(), css=CSS, ssr_mode=False)
