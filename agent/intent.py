"""Understanding a chat message without an LLM: Chinese or English words → :class:`agent.goal.Goal`."""

from __future__ import annotations

import logging
import re

from agent.goal import Goal, Intent
from agent.words.gpus import read_gpu
from agent.words.intents import QUESTION_RE, confirm_answer, found_intents, ordered_intents
from agent.words.language import read_language
from agent.words.models import read_base_model, read_params
from agent.words.payloads import read_chat, read_run_id, read_system_prompt
from agent.words.style import read_style
from agent.words.task import read_task
from agent.words.text import MAX_CHARS, Text
from agent.words.training import read_settings
from tools.core.cjk import HAN

log = logging.getLogger(__name__)


def _parse(text: str, *, has_files: bool, awaiting_confirmation: bool) -> Goal:
    """The parser without :func:`parse_message`'s safety net.

    It works on an NFKC copy of the message (full-width digits and punctuation
    become ASCII), lower case, with the parts that are payload rather than
    request masked out: a system prompt in quotes, the text to send to the
    model ("ask it '你是谁'"), a run id. Then it reads the settings (base model,
    size, GPU, LoRA/QLoRA, epochs, rank, batch, length, learning rate, answer
    style), the intents in the order the message names them ("finetune", the
    whole journey, absorbs the steps it already contains; a feasibility
    question, "can I …", "能跑吗", makes it "plan" only), and during a
    confirmation yes / no / an edit of the settings.
    """
    tx = Text((text if isinstance(text, str) else str(text))[:MAX_CHARS])
    system_prompt = read_system_prompt(tx)
    run_id = read_run_id(tx)
    chat_asked, chat_message, chat_pos, chat_end = read_chat(tx)
    language = read_language(tx.m if re.search(f"[a-z{HAN}]", tx.m) else tx.low)
    if chat_asked:
        tx.mask(chat_pos, chat_end)  # "测试一下新模型：…" asks for a chat, not an evaluation

    style = read_style(tx.m)
    request = tx.m  # payloads masked: where intents are read
    base_model, model_size, files = read_base_model(tx)  # masks model names and paths in tx.m
    m = tx.m
    params_b = model_size if model_size is not None else read_params(m)
    gpu = read_gpu(tx)
    fields = read_settings(m)

    found = found_intents(request)
    if chat_asked:
        found.append((chat_pos, "chat"))
    intents = ordered_intents(found, request, has_files)

    if params_b is not None and not params_b > 0:
        params_b = None  # "0B" is no size (found by fuzzing)
    settings = Goal(base_model=base_model, params_b=params_b, gpu=gpu, style=style, system_prompt=system_prompt,
                    **fields).has_settings()
    intents, missing = _settled(intents, m, settings=settings, has_files=has_files,
                                awaiting_confirmation=awaiting_confirmation)
    task = read_task(tx) if "finetune" in intents else None
    missing = _missing(missing, intents, task=task, has_files=has_files or bool(files), chat_message=chat_message)
    return Goal(intents=intents, task=task, base_model=base_model, params_b=params_b, gpu=gpu, style=style,
                language=language, system_prompt=system_prompt, run_id=run_id, chat_message=chat_message,
                files=files, missing=missing, **fields)


def _settled(intents: list[Intent], m: str, *, settings: bool, has_files: bool,
             awaiting_confirmation: bool) -> tuple[list[Intent], list[str]]:
    """The intents once the context is known (an open confirmation, settings only, files only), and what the
    journey still lacks so far ("task" when files came with no words of what to learn)."""
    question = bool(QUESTION_RE.search(m))
    missing: list[str] = []
    if awaiting_confirmation:
        answer = confirm_answer(m)
        if settings and not question:
            intents = ["edit"]  # "好，但 batch 改成 2", "no, use QLoRA": re-plan and ask again
        elif answer is not None:
            intents = [answer]
        elif "cancel" in intents:
            intents = ["confirm_no"]
        elif intents == ["train"]:
            intents = ["confirm_yes"]
    elif not intents:
        bare = confirm_answer(m) if len(m.strip()) <= 12 else None
        if has_files and not question and bare is None:
            # files dropped in with a few words ("answers short"): the journey, but ask what to learn
            intents = ["finetune"]
            missing.append("task")
        elif settings and not question:
            intents = ["edit"]
        elif bare is not None:
            intents = [bare]
    if not intents:
        intents = ["unknown"]
    return intents, missing


def _missing(missing: list[str], intents: list[Intent], *, task: str | None, has_files: bool,
             chat_message: str | None) -> list[str]:
    """What the asked journey still needs: the files to learn from, what to learn, the text to send the model.
    ``has_files``: files came with the message or it names document paths."""
    if task is not None and "task" in missing:
        missing.remove("task")
    if ("finetune" in intents or "convert" in intents) and not has_files:
        missing.insert(0, "files")
    if "chat" in intents and not chat_message:
        missing.append("chat_message")
    return missing


def parse_message(text: str, *, has_files: bool = False, awaiting_confirmation: bool = False) -> Goal:
    """Turn one chat message into a :class:`Goal`. Deterministic; never raises.

    ``has_files``: files came with this message (a fine-tune without them
    lists ``"files"`` in ``missing``). ``awaiting_confirmation``: the agent
    asked "start training?", so "好的" is ``confirm_yes``, "算了" is
    ``confirm_no`` and "batch 2" is ``edit``.
    """
    try:
        return _parse(text, has_files=has_files, awaiting_confirmation=awaiting_confirmation)
    except Exception:  # noqa: BLE001 - a message the parser cannot read is "unknown", never a crash
        log.exception("the intent parser failed on %r", str(text)[:200])
        try:
            language = read_language(str(text))
        except Exception:  # noqa: BLE001
            language = "en"
        return Goal(intents=["unknown"], language=language)
