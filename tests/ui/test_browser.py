"""The page in a real browser (Playwright driving Debian's Chromium) against the real app.

The journey test goes the whole way a person would: upload a DOCX, an XLSX and a broken
file, state a goal in Chinese, read the dataset report and the plan, approve, watch
training (capped at 4 steps), approve the deployment, read the eval table, then chat
with the base and the fine-tuned model side by side. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import App

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 390, "height": 844}

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def open_page(browser: Any, app: App, locale: str = "en-US", viewport: dict[str, int] | None = None) -> Any:
    """A fresh browser context (own localStorage, so its own conversation) on the page."""
    ctx = browser.new_context(viewport=viewport or DESKTOP, locale=locale)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.goto(app.url)
    page.wait_for_selector("#tp-input textarea")
    page.wait_for_selector("#tp-stages .tp-stages")  # the first load (thread id, history, panel) is done
    _CURRENT["page"] = page
    return page


_CURRENT: dict[str, Any] = {}  # the page under test, for a screenshot when a wait times out


def reload_page(page: Any, tries: int = 5) -> None:
    """Reload as a person would after a restart: when the page was itself navigating (Gradio's client reconnects
    on its own) the browser aborts the reload (net::ERR_ABORTED), and the person presses reload again."""
    from playwright.sync_api import Error as PlaywrightError

    for attempt in range(tries):
        try:
            page.reload()
            return
        except PlaywrightError as exc:
            if "ERR_ABORTED" not in str(exc) or attempt == tries - 1:
                raise
            page.wait_for_timeout(1000)


def wait_until(check: Callable[[], Any], timeout_s: float, what: str, app: App | None = None,
               every_s: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    tail = f"\n--- app log ---\n{app.log_tail()}" if app else ""
    page = _CURRENT.get("page")
    if page is not None:
        from tests.ui.conftest import ARTIFACTS

        ARTIFACTS.mkdir(exist_ok=True)
        name = "timeout-" + re.sub(r"\W+", "-", what)[:40]
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            (ARTIFACTS / f"{name}.html").write_text(page.content(), encoding="utf-8")
        except Exception:  # noqa: BLE001 - diagnostics only
            pass
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}{tail}")


def newest(runs: Path, pattern: str) -> Path:
    """The newest run's PATTERN: the app is shared by the whole module, so older runs sit beside this test's
    (run folders are named by their start time)."""
    return max(runs.glob(pattern), key=lambda p: p.relative_to(runs).parts[0])


def shot(page: Any, artifacts: Path, name: str, full_page: bool = True) -> Path:
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def expand_steps(page: Any, chat_id: str) -> None:
    """Open the collapsed tool-step messages, as a person clicks on their titles."""
    titles = page.locator(f"#{chat_id} .thought-group > .title")
    for i in range(titles.count()):
        title = titles.nth(i)
        style = title.locator(".arrow").first.get_attribute("style") or ""
        if "rotate(0deg)" in style:
            title.click()
    page.wait_for_timeout(200)


def bot_texts(page: Any, chat_id: str) -> list[str]:
    expand_steps(page, chat_id)
    return page.locator(f"#{chat_id} [data-testid='bot']").all_inner_texts()


def user_texts(page: Any, chat_id: str) -> list[str]:
    return page.locator(f"#{chat_id} [data-testid='user']").all_inner_texts()


def send(page: Any, text: str) -> None:
    box = page.locator("#tp-input textarea")
    box.fill(text)
    page.locator("#tp-input [data-testid='submit-button']").click()


def no_horizontal_overflow(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"))


def loss_signature(page: Any) -> str:
    """The loss plot's drawn lines (empty while there is no data)."""
    return str(page.evaluate(
        "() => Array.from(document.querySelectorAll('#tp-loss .mark-line path'))"
        ".filter(p => (p.getAttribute('d') || '').length > 3 && !['', 'none', 'transparent']"
        ".includes(p.getAttribute('stroke') || ''))"
        ".map(p => p.getAttribute('d')).join('|')"))


# --- the files a person drops in ------------------------------------------------------


def make_files(folder: Path) -> list[Path]:
    import docx
    import openpyxl

    folder.mkdir(parents=True, exist_ok=True)
    doc = docx.Document()
    doc.add_paragraph("客服常见问题")
    table = doc.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "问题"
    table.rows[0].cells[1].text = "答案"
    for i in range(12):
        cells = table.add_row().cells
        cells[0].text = f"第{i + 1}个问题：怎么办理业务{i + 1}？"
        cells[1].text = f"在应用里点“业务{i + 1}”，三分钟办好。"
    docx_path = folder / "客服FAQ.docx"
    doc.save(str(docx_path))

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["question", "answer"])
    for i in range(12):
        ws.append([f"How do I change delivery address number {i + 1}?", f"Open Orders, tap Address {i + 1}, save."])
    xlsx_path = folder / "faq.xlsx"
    wb.save(str(xlsx_path))

    broken = folder / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\n\x00\xff\xfe garbage, not a real PDF \x00" * 40)
    return [docx_path, xlsx_path, broken]


# --- tests ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_language_toggle_follows_the_browser_and_the_radio(browser: Any, ui_app: App, artifacts: Path) -> None:
    page = open_page(browser, ui_app, locale="en-US")
    assert "fine-tune a model by chatting" in page.locator("body").inner_text()
    assert page.get_by_role("tab", name="Chat with the model").count() == 1
    page.locator("#tp-lang").get_by_text("中文").click()
    wait_until(lambda: "用对话微调模型" in page.locator("body").inner_text(), 20, "the Chinese title")
    body = page.locator("body").inner_text()
    for label in ("数据集报告", "训练方案", "训练进度", "微调前后对比", "与模型对话", "运行记录"):
        assert label in body, label
    # the dataset table's columns follow on the next refresh of the panel
    wait_until(lambda: "保留" in page.locator("#tp-dataset").inner_text(), 20, "Chinese table headers")
    assert page.locator("#tp-input textarea").get_attribute("placeholder") == "说说模型要学会什么，并把文件拖到这里"
    shot(page, artifacts, "lang-zh-1280")
    page.locator("#tp-lang").get_by_text("English").click()
    wait_until(lambda: "Dataset report" in page.locator("body").inner_text(), 20, "the English labels again")
    page.context.close()

    # a Chinese browser opens the page in Chinese
    page = open_page(browser, ui_app, locale="zh-CN")
    wait_until(lambda: "与模型对话" in page.locator("body").inner_text(), 20, "Chinese labels by default")
    page.context.close()


@pytest.mark.slow
def test_html_typed_into_the_chat_is_shown_as_text(browser: Any, ui_app: App, artifacts: Path) -> None:
    page = open_page(browser, ui_app)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    payload = "<img src=x onerror=alert(1)>"
    long_word = "很长的消息" * 40 + "x" * 200
    send(page, payload + " " + long_word)
    wait_until(lambda: any(t.strip() and "Working" not in t for t in bot_texts(page, "tp-chat")), 60,
               "the agent's reply", ui_app)
    page.wait_for_timeout(1500)  # give an injected handler every chance to fire
    assert dialogs == []
    assert page.locator("#tp-chat img[src='x']").count() == 0
    assert any(payload in t for t in user_texts(page, "tp-chat")), user_texts(page, "tp-chat")
    assert no_horizontal_overflow(page)
    shot(page, artifacts, "xss-and-long-message-1280")
    page.set_viewport_size(MOBILE)
    page.wait_for_timeout(500)
    assert no_horizontal_overflow(page)
    shot(page, artifacts, "xss-and-long-message-390")

    # another browser is another conversation: it does not see this one
    other = open_page(browser, ui_app)
    other.wait_for_timeout(1500)
    assert not any(payload in t for t in user_texts(other, "tp-chat"))
    other.context.close()
    # a reload keeps this browser's conversation
    reload_page(page)
    page.wait_for_selector("#tp-input textarea")
    wait_until(lambda: any(payload in t for t in user_texts(page, "tp-chat")), 20, "the conversation after reload")
    page.context.close()


@pytest.mark.slow
def test_whole_journey_in_the_browser(browser: Any, ui_app: App, artifacts: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    files = make_files(tmp_path / "files")
    page = open_page(browser, ui_app)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    approve = page.locator("#tp-approve")
    assert not approve.is_visible()
    shot(page, artifacts, "01-empty-1280")

    # 1. three files and a goal in Chinese
    page.locator("#tp-input input[type=file]").set_input_files([str(f) for f in files])
    wait_until(lambda: page.locator("#tp-input .thumbnail-item").count() == 3, 60, "three uploaded files")
    send(page, "用这些文件微调一个客服助手，回答要简短")

    # 2. the dataset report names every file, the broken one with its error
    def dataset_rows() -> list[str]:
        return [r for r in page.locator("#tp-dataset [role='row']").all_inner_texts() if r.strip()]

    wait_until(lambda: any("broken.pdf" in r for r in dataset_rows()), 300, "the dataset report", ui_app)
    rows = dataset_rows()
    assert any("客服FAQ.docx" in r for r in rows), rows
    assert any("faq.xlsx" in r for r in rows), rows
    broken = next(r for r in rows if "broken.pdf" in r)
    # its row says what is wrong with it (the converter's words) and that nothing came from it
    assert "not a readable PDF" in broken and "re-export" in broken, broken
    assert re.search(r"\bpdf\b\s+0\s+0\b", broken), broken  # type pdf: found 0, kept 0

    # 3. the plan, and the question with its buttons
    wait_until(approve.is_visible, 120, "the Approve button", ui_app)
    assert page.locator("#tp-edit").is_visible() and page.locator("#tp-cancel").is_visible()
    plan_text = page.locator("#tp-plan").inner_text()
    assert re.search(r"LORA|QLORA", plan_text), plan_text
    chat = "\n".join(bot_texts(page, "tp-chat"))
    assert "开始训练" in chat, chat  # the pending question is shown in the conversation
    assert any("broken.pdf" in t for t in bot_texts(page, "tp-chat"))
    shot(page, artifacts, "02-dataset-and-plan-1280")
    page.set_viewport_size(MOBILE)
    page.wait_for_timeout(800)
    assert no_horizontal_overflow(page)
    shot(page, artifacts, "02-dataset-and-plan-390")
    page.set_viewport_size(DESKTOP)
    page.wait_for_timeout(500)

    # 4. an edit through the box and the Edit button: a new plan, asked again
    def n_bot() -> int:
        return len(bot_texts(page, "tp-chat"))

    before = n_bot()
    page.locator("#tp-input textarea").fill("学习率 2e-3")
    page.locator("#tp-edit").click()
    wait_until(lambda: n_bot() > before and approve.is_visible(), 120, "the edited plan", ui_app)
    plan_file = newest(ui_app.runs, "*/plan.json")
    assert abs(json.loads(plan_file.read_text())["learning_rate"] - 2e-3) < 1e-9
    # the panel refreshes after the chat's reply (send(...).then(refresh_panel)): wait for it, as a person would
    wait_until(lambda: "0.002" in page.locator("#tp-plan").inner_text(), 60, "the edited plan on the panel", ui_app)
    assert "开始训练" in bot_texts(page, "tp-chat")[-1]

    # 5. approve: training starts, the progress bar and the loss plot move
    approve.click()
    wait_until(lambda: not approve.is_visible(), 30, "the buttons to hide after approving")
    progress_seen: list[str] = []
    losses_seen: list[str] = []

    def training_moved() -> bool:
        text = page.locator("#tp-progress").inner_text().strip()
        if text and (not progress_seen or progress_seen[-1] != text):
            progress_seen.append(text)
        sig = loss_signature(page)
        if sig and (not losses_seen or losses_seen[-1] != sig):
            losses_seen.append(sig)
            if len(losses_seen) == 1:
                shot(page, artifacts, "03-training-1280")
                shot(page, artifacts, "readme-page", full_page=False)  # shrunk to 256 colours: the README's docs/page.png
        return len(progress_seen) >= 1 and re.search(r"\b10/10\b", progress_seen[-1]) is not None

    wait_until(training_moved, 400, "training to reach step 10/10", ui_app, every_s=0.5)
    assert len(progress_seen) >= 2, progress_seen  # the bar moved while training ran
    assert len(losses_seen) >= 2, losses_seen  # the plot was redrawn with more points
    assert "Training started" in "\n".join(bot_texts(page, "tp-chat")) or "训练已开始" in "\n".join(
        bot_texts(page, "tp-chat"))

    # 6. the timer carries the journey on: merged, and the page asks to deploy
    wait_until(approve.is_visible, 300, "the deploy question", ui_app)
    chat = "\n".join(bot_texts(page, "tp-chat"))
    assert "vLLM" in chat, chat
    shot(page, artifacts, "04-ask-deploy-1280")
    approve.click()

    # 7. deployment (vLLM on CPU: 30-65 s) and the before/after table
    wait_until(lambda: "|" not in page.locator("#tp-eval").inner_text()
               and page.locator("#tp-eval table").count() > 0, 600, "the eval table", ui_app, every_s=2)
    eval_text = page.locator("#tp-eval").inner_text()
    assert re.search(r"ROUGE|rouge", eval_text), eval_text
    wait_until(lambda: page.locator("#tp-input textarea").is_enabled(), 120, "the chat box to come back")
    assert not approve.is_visible()
    shot(page, artifacts, "05-eval-1280")
    page.set_viewport_size(MOBILE)
    page.wait_for_timeout(800)
    assert no_horizontal_overflow(page)
    shot(page, artifacts, "05-eval-390")
    page.set_viewport_size(DESKTOP)

    # 8. chat with base and fine-tuned side by side
    page.get_by_role("tab", name="Chat with the model").click()
    run_id = next(p.parent.name for p in ui_app.runs.glob("*/serve.json"))
    wait_until(lambda: page.locator("#tp-run-pick input").input_value() == run_id, 60, "the deployed run picked")
    page.locator("#tp-ask textarea").fill("你是谁？")
    page.locator("#tp-ask-btn").click()

    def both_answered() -> bool:
        base, tuned = bot_texts(page, "tp-chat-base"), bot_texts(page, "tp-chat-tuned")
        return bool(base and tuned and base[-1].strip() and tuned[-1].strip())

    wait_until(both_answered, 180, "answers from both models", ui_app)
    page.wait_for_timeout(3000)  # let the streams finish
    assert "你是谁" in user_texts(page, "tp-chat-base")[-1] and "你是谁" in user_texts(page, "tp-chat-tuned")[-1]
    assert "not answering" not in bot_texts(page, "tp-chat-tuned")[-1]
    # a 👍 on the fine-tuned answer counts in the table's human row
    page.locator("#tp-chat-tuned").get_by_role("button", name="Like").last.click()
    human = ui_app.runs / run_id / "eval" / "human.jsonl"
    wait_until(human.exists, 30, "the vote to be saved")
    assert '"model": "tuned", "score": 1' in human.read_text(encoding="utf-8")
    shot(page, artifacts, "06-model-chat-1280")
    page.get_by_role("tab", name="Assistant").click()
    wait_until(lambda: "1👍 / 0👎" in page.locator("#tp-eval").inner_text(), 30, "the vote in the table", ui_app)
    page.get_by_role("tab", name="Chat with the model").click()
    page.set_viewport_size(MOBILE)
    page.wait_for_timeout(800)
    assert no_horizontal_overflow(page)
    shot(page, artifacts, "06-model-chat-390")
    assert dialogs == []
    print(f"journey took {time.monotonic() - started:.0f} s; progress seen: {progress_seen}")
    page.context.close()


@pytest.mark.slow
def test_page_killed_during_training_comes_back_with_everything(
        browser: Any, tmp_path: Path, tiny_model: Path, artifacts: Path) -> None:
    """SIGKILL the real page process mid-training, start it again on the same port, reload the browser:
    the conversation is whole, the panel follows the same training on, and the journey carries on."""
    import os
    import signal

    from tests.ui.conftest import start_app, stop_app
    from tools.core.events import read_events
    from tools.core.runs import training_state

    env = {"TUNEPILOT_DEFAULT_MODEL": str(tiny_model), "TUNEPILOT_MAX_STEPS": "120"}
    app = start_app(tmp_path, extra_env=env)
    port = int(app.url.rsplit(":", 1)[1].strip("/"))
    try:
        faq = tmp_path / "售后FAQ.txt"
        faq.write_text("".join(f"问：{i}号产品保修多久？\n答：{i}号产品保修{i}年，凭发票到门店办理。\n\n"
                               for i in range(1, 21)), encoding="utf-8")
        page = open_page(browser, app, locale="zh-CN")
        page.locator("#tp-input input[type=file]").set_input_files([str(faq)])
        wait_until(lambda: page.locator("#tp-input .thumbnail-item").count() == 1, 60, "the uploaded file")
        send(page, "用这些 FAQ 微调模型，回答要简短")
        approve = page.locator("#tp-approve")
        wait_until(approve.is_visible, 300, "the plan's Approve button", app)
        approve.click()

        def step_shown() -> int:
            m = re.search(r"\b(\d+)/(\d+)\b", page.locator("#tp-progress").inner_text())
            return int(m.group(1)) if m else 0

        wait_until(lambda: step_shown() >= 3, 300, "training to show step 3", app, every_s=0.5)
        run = next(app.runs.glob("*/train.pid")).parent
        trainer_pid = (run / "train.pid").read_text().strip()
        users_before = user_texts(page, "tp-chat")
        bots_before = [t for t in bot_texts(page, "tp-chat") if t.strip()]
        assert any("📎 售后FAQ.txt" in u for u in users_before), users_before

        # the page process dies hard; training runs detached and goes on
        os.killpg(app.proc.pid, signal.SIGKILL)
        app.proc.wait(timeout=10)
        killed_at = max(e.step or 0 for e in read_events(run) if e.kind == "progress")
        assert training_state(run) == "running"
        shot(page, artifacts, "restart-1-page-gone")

        app = start_app(tmp_path, extra_env=env, port=port)
        reload_page(page)
        page.wait_for_selector("#tp-input textarea")
        wait_until(lambda: user_texts(page, "tp-chat") == users_before, 60, "the same conversation", app)
        bots_after = [t for t in bot_texts(page, "tp-chat") if t.strip()]
        assert bots_after[:len(bots_before)] == bots_before
        # the panel follows the same training past where the page died, to the end
        wait_until(lambda: step_shown() > killed_at, 120, "the progress to move on after the restart", app,
                   every_s=0.5)
        shot(page, artifacts, "restart-2-reattached")
        plot = page.locator("#tp-loss").inner_text()
        assert "步数" in plot and "训练集" in plot and "series" not in plot, plot[-200:]  # axis and legend in Chinese
        assert (run / "train.pid").read_text().strip() == trainer_pid  # reattached, not restarted
        starts = [e for e in read_events(run) if e.kind == "start" and e.stage == "train"]
        assert len(starts) == 1
        # when it ends, the page carries the journey on (merge, then the deploy question)
        wait_until(approve.is_visible, 400, "the deploy question after training", app)
        assert "vLLM" in "\n".join(bot_texts(page, "tp-chat"))
        users = user_texts(page, "tp-chat")
        assert users == users_before, users  # the timer's own "进度" is not shown
        events = read_events(run)
        steps = [e.step for e in events if e.kind == "progress"]
        done = next(e for e in events if e.stage == "train" and e.kind == "done")
        assert steps == list(range(1, len(steps) + 1)) and steps[-1] == done.step  # no step lost or repeated
        # to the planned end, or stopped by the learning check, which says why
        assert done.step == 120 or any(e.data.get("stop_reason") for e in events), [e.message for e in events[-5:]]
        page.locator("#tp-cancel").click()
        wait_until(lambda: not approve.is_visible(), 60, "the question to close")
        shot(page, artifacts, "restart-3-carried-on")
        page.context.close()
    finally:
        stop_app(app)


def _interrupted_run(runs: Path, model: Path, tmp: Path) -> tuple[str, int]:
    """A run whose training was killed at step 2 (as a crash leaves it), registered in the page's index."""
    import os
    import signal

    from tests.fixtures.identity import write_identity_dataset
    from tools.core.runs import RunIndex
    from tools.train.launch import start_worker
    from tools.train.record import TrainSettings, write_config

    rec = RunIndex(runs).create("训练被打断的运行")
    run = Path(rec.path)
    data = write_identity_dataset(tmp / "identity")
    write_config(run, TrainSettings(model=str(model), data_dir=str(data), micro_batch_size=4, grad_accum=1,
                                    max_steps=12, save_steps=2, eval_steps=100))
    proc = start_worker(run, resume=False)
    from tools.train.checkpoints import last_checkpoint

    # the demo model, not the tiny one: the tiny one trains 12 steps in ~1.5 s, so a poll could find the run done or
    # checkpoint-2 already rotated away; any complete checkpoint and a later step will do
    wait_until(lambda: last_checkpoint(run) is not None
               and any(e.kind == "progress" and (e.step or 0) >= 3 for e in read_events_of(run)), 240,
               "the first checkpoint", every_s=0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait() != 0, "the training ended before it could be interrupted"
    ckpt = last_checkpoint(run)
    assert ckpt is not None
    return rec.id, int(ckpt.name.split("-")[1])


def _give_run_to_this_page(page: Any, app: App, run_id: str) -> None:
    """Make ``run_id`` belong to the conversation open in ``page``: its thread id is the one that appears in
    the conversations file when this page sends its first message."""
    import sqlite3

    db = app.runs / "conversations.sqlite"

    def threads() -> set[str]:
        with sqlite3.connect(db) as con:
            return {r[0] for r in con.execute("SELECT DISTINCT thread_id FROM checkpoints")}

    before = threads()
    page.get_by_role("tab", name="助手").click()
    send(page, "我的运行记录")
    wait_until(lambda: len(threads() - before) == 1, 60, "this page's conversation in the file", app)
    (mine,) = threads() - before
    with sqlite3.connect(app.runs / "index.sqlite") as con:
        con.execute("UPDATE runs SET owner=? WHERE id=?", (mine, run_id))


def read_events_of(run: Path) -> list[Any]:
    from tools.core.events import read_events

    return read_events(run)


@pytest.mark.slow
def test_runs_tab_resumes_redeploys_and_deletes(browser: Any, ui_app: App, artifacts: Path, tmp_path: Path,
                                                demo_model: Path) -> None:
    """After the journey: in the runs tab (Chinese), resume an interrupted run, redeploy the journey's run
    after its server was killed (the panel says it stopped), and delete a run with its server."""
    import os
    import signal

    from tools.serve.record import load_deployment

    served = next(ui_app.runs.glob("*/serve.json"), None)
    assert served is not None, "the journey test (earlier in this module) leaves a deployed run"
    journey_id = served.parent.name
    broken_id, saved_at = _interrupted_run(ui_app.runs, demo_model, tmp_path)
    page = open_page(browser, ui_app, locale="zh-CN")
    runs_tab = page.get_by_role("tab", name="运行记录")
    runs_tab.click()

    def row_of(run_id: str) -> str:
        rows = page.locator("#tp-runs [role='row']").all_inner_texts() or page.locator("#tp-runs tr").all_inner_texts()
        return next((r for r in rows if run_id in r), "")

    wait_until(lambda: "已中断" in row_of(broken_id), 30, "the interrupted run in the list", ui_app)
    assert "运行" in page.locator("#tp-runs").inner_text()  # headers in Chinese
    msg = page.locator("#tp-runs-msg")

    def act(run_id: str, button: str) -> None:
        page.locator("#tp-run-id textarea, #tp-run-id input").first.fill(run_id)
        page.get_by_role("button", name=button, exact=True).click()

    # this browser is another conversation than the journey's: it neither lists nor opens that run
    assert row_of(journey_id) == ""
    act(journey_id, "打开")
    wait_until(lambda: "操作没有完成" in msg.inner_text(), 30, "the refusal", ui_app)
    assert "no run named" in msg.inner_text() and str(ui_app.runs) not in msg.inner_text()
    # the journey's owner hands the run to this conversation (as if it were their own browser again)
    _give_run_to_this_page(page, ui_app, journey_id)
    runs_tab.click()
    wait_until(lambda: row_of(journey_id) != "", 30, "the journey's run in this conversation's list", ui_app)

    # resume: training goes on from its checkpoint, and the panel follows it to the end
    act(broken_id, "继续训练")
    wait_until(lambda: "继续训练" in msg.inner_text(), 30, "the resume message", ui_app)
    page.get_by_role("tab", name="助手").click()
    wait_until(lambda: re.search(r"\b12/12\b", page.locator("#tp-progress").inner_text()) is not None, 300,
               "the resumed training to finish in the panel", ui_app)
    starts = [e for e in read_events_of(ui_app.runs / broken_id) if e.kind == "start"]
    assert starts[-1].data["resumed_from"] == saved_at  # its last complete checkpoint when it was killed
    shot(page, artifacts, "runs-1-resumed")

    # the journey's server dies: the panel says so; redeploy brings it back
    act_page = page.get_by_role("tab", name="运行记录")
    act_page.click()
    act(journey_id, "打开")
    wait_until(lambda: "已打开" in msg.inner_text(), 30, "the open message", ui_app)
    dead = load_deployment(served.parent)
    assert dead is not None
    os.killpg(dead.pid, signal.SIGKILL)
    page.get_by_role("tab", name="助手").click()
    wait_until(lambda: "意外停止" in page.locator("#tp-stages").inner_text(), 15, "the panel to say the server stopped",
               ui_app, every_s=0.5)
    shot(page, artifacts, "runs-2-server-gone")
    page.get_by_role("tab", name="运行记录").click()
    act(journey_id, "重新部署")
    wait_until(lambda: "已部署" in msg.inner_text(), 400, "the redeploy", ui_app, every_s=2)
    page.get_by_role("tab", name="助手").click()
    wait_until(lambda: "运行中" in page.locator("#tp-stages").inner_text(), 15, "the panel to say it serves", ui_app)
    live = load_deployment(served.parent)
    assert live is not None and live.pid != dead.pid

    # a wrong answer corrected under it (👎, the right answer typed, saved) is listed with the run's corrections
    page.get_by_role("tab", name="与模型对话").click()
    wait_until(lambda: page.locator("#tp-run-pick input").input_value() == journey_id, 60, "the run picked", ui_app)
    page.locator("#tp-ask textarea").fill("你们的客服电话是多少？")
    page.locator("#tp-ask-btn").click()
    wait_until(lambda: bool(bot_texts(page, "tp-chat-tuned")) and bot_texts(page, "tp-chat-tuned")[-1].strip() != "",
               180, "the fine-tuned answer", ui_app)
    page.wait_for_timeout(3000)  # let the streams finish
    # gradio names the button in the page's language: "踩" on a Chinese page ("Dislike" in English)
    page.locator("#tp-chat-tuned").get_by_role("button", name=re.compile(r"^(踩|Dislike)$")).last.click()
    wait_until(page.locator("#tp-correct-row").is_visible, 30, "the box for the right answer", ui_app)
    assert "你们的客服电话是多少" in page.locator("#tp-correct-msg").inner_text()
    page.locator("#tp-correct textarea").fill("客服电话是400-820-7788。")
    page.locator("#tp-correct-save").click()
    wait_until(lambda: "纠正已保存" in page.locator("#tp-correct-msg").inner_text(), 30, "the saved correction",
               ui_app)
    assert not page.locator("#tp-correct-row").is_visible()
    shot(page, artifacts, "runs-3-corrected")
    page.get_by_role("tab", name="运行记录").click()  # the run is still the one chosen there: its list is read again
    assert page.locator("#tp-run-id textarea, #tp-run-id input").first.input_value() == journey_id
    wait_until(lambda: "客服电话是400-820-7788。" in page.locator("#tp-corrections").inner_text(), 30,
               "the correction on the run's list", ui_app)
    assert "正确答案" in page.locator("#tp-corrections").inner_text()  # the list's headers in Chinese
    stored = (ui_app.runs / journey_id / "corrections.jsonl").read_text(encoding="utf-8")
    assert "你们的客服电话是多少？" in stored and '"model": "tuned"' in stored

    # delete: asks for the tick, then removes the run and stops its server
    page.get_by_role("tab", name="运行记录").click()
    act(journey_id, "删除")
    wait_until(lambda: "请先勾选" in msg.inner_text(), 30, "the tick-first message", ui_app)
    assert (ui_app.runs / journey_id).is_dir()
    page.get_by_text("确认删除该运行及其文件").click()
    page.get_by_role("button", name="删除", exact=True).click()
    wait_until(lambda: "已删除" in msg.inner_text(), 60, "the delete", ui_app)
    assert not (ui_app.runs / journey_id).exists()
    from tools.core.procs import pid_alive

    assert not pid_alive(live.pid)
    wait_until(lambda: row_of(journey_id) == "", 10, "the run to leave the list")
    shot(page, artifacts, "runs-4-deleted")
    page.context.close()


@pytest.mark.slow
def test_a_manuals_pairs_are_seen_and_fixed_on_the_chinese_page(browser: Any, ui_app: App, artifacts: Path,
                                                                 tmp_path: Path) -> None:
    """A Chinese manual (a PDF printed by Chromium) and a Chinese goal: the dataset report counts its facts and
    questions, the pairs to train are listed, and an answer edited in the table before Approve is what the
    dataset holds (every question of that fact), said on the page in Chinese."""
    from tests.fixtures import manuals

    pdf = manuals.write_pdf(tmp_path / "E5说明书.pdf", manuals.EBIKE_ZH)
    page = open_page(browser, ui_app, locale="zh-CN")
    wait_until(lambda: "数据集" in page.locator("body").inner_text(), 30, "the Chinese page")
    page.locator("#tp-input input[type=file]").set_input_files([str(pdf)])
    wait_until(lambda: page.locator("#tp-input .thumbnail-item").count() == 1, 60, "the uploaded manual")
    send(page, "用这份说明书微调一个客服助手")
    approve = page.locator("#tp-approve")
    wait_until(approve.is_visible, 300, "the plan to approve", ui_app)

    def manual_row() -> str:  # the panel is refreshed after the chat's reply: the buttons may show first
        rows = page.locator("#tp-dataset [role='row']").all_inner_texts()
        return next((r for r in rows if "E5说明书.pdf" in r), "")

    wait_until(manual_row, 30, "the manual's row in the dataset report", ui_app)
    row = manual_row()
    assert re.search(r"\d+\s*→\s*\d+", row), row  # facts → questions
    table = page.locator("#tp-pairs")
    wait_until(table.is_visible, 30, "the pairs table", ui_app)
    assert "保存修改" in page.locator("#tp-pairs-hint").inner_text()
    data = newest(ui_app.runs, "*/data")
    first = json.loads((data / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
    old = first["messages"][-1]["content"]
    # edit the first pair's answer as a person does: click the cell, type, press Enter
    table.locator("[data-testid='cell-0-2']").dblclick()
    editor = table.locator("textarea, input").first
    editor.fill("云岚E5整车重量为24公斤。")
    editor.press("Enter")
    page.wait_for_timeout(500)
    shot(page, artifacts, "07-pairs-edited-zh")
    page.locator("#tp-pairs-save").click()
    wait_until(lambda: "修改了 1 个答案" in page.locator("#tp-pairs-msg").inner_text(), 30, "the saved message",
               ui_app)
    answers = [json.loads(line)["messages"][-1]["content"]
               for line in (data / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert old not in answers and answers.count("云岚E5整车重量为24公斤。") >= 2
    assert json.loads((data / "report.json").read_text(encoding="utf-8"))["edited"] == 1
    page.locator("#tp-cancel").click()
    wait_until(lambda: not approve.is_visible(), 30, "the buttons to hide after cancelling")
    page.context.close()
