"""Every reply exists in English and Chinese and renders with its variables."""

from __future__ import annotations

import re
from pathlib import Path
from string import Formatter

import pytest

from agent.replies import MESSAGES, WORDS, word
from tools.core.messages import say

CJK = re.compile(r"[\u4e00-\u9fff]")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_both_languages_with_the_same_variables(key: str) -> None:
    texts = MESSAGES[key]
    assert set(texts) == {"en", "zh"}
    assert _fields(texts["en"]) == _fields(texts["zh"])
    assert CJK.search(texts["zh"]) and not CJK.search(texts["en"])


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_renders_with_its_variables_and_refuses_without(key: str) -> None:
    names = _fields(MESSAGES[key]["en"])
    values = {name: f"<{name}>" for name in names}
    for lang in ("en", "zh"):
        text = say(f"agent.{key}", lang, **values)
        assert all(f"<{name}>" in text for name in names)
        assert "{" not in text and "}" not in text
        for missing in names:
            with pytest.raises(KeyError):
                say(f"agent.{key}", lang, **{k: v for k, v in values.items() if k != missing})


def test_language_choice() -> None:
    assert say("agent.no_runs", "zh") == MESSAGES["no_runs"]["zh"]
    assert say("agent.no_runs", "mixed") == MESSAGES["no_runs"]["zh"]
    assert say("agent.no_runs", "en") == say("agent.no_runs", "fr") == MESSAGES["no_runs"]["en"]
    assert say("agent.confirm_train", "en") == "Start training? Reply yes, no, or an edit like 'r=32'."


def test_unknown_key_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no message with the code"):
        say("agent.no_such_reply", "en")


def _reply_keys_in_agent_code() -> tuple[set[str], list[str]]:
    """The reply keys the agent's code names: every ``say("agent.…")`` and the key of every ``reply(state, …)``
    (both branches of a conditional); calls whose key is a variable are returned apart."""
    import ast

    used: set[str] = set()
    unresolved: list[str] = []
    for path in sorted((Path(__file__).resolve().parents[2] / "agent").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("say", "reply")):
                continue
            i = 0 if node.func.id == "say" else 1
            arg = node.args[i] if len(node.args) > i else None
            found = {c.value for c in ast.walk(arg) if isinstance(c, ast.Constant) and isinstance(c.value, str)} \
                if isinstance(arg, (ast.Constant, ast.IfExp)) else set()
            if node.func.id == "say":
                found = {f.removeprefix("agent.") for f in found if f.startswith("agent.")}
                head = arg.values[0] if isinstance(arg, ast.JoinedStr) and arg.values else arg
                if not found and isinstance(head, ast.Constant) and not str(head.value).startswith("agent."):
                    continue  # another catalog's code (word., page., …): tests/test_catalog.py checks those
            if found:
                used |= found
            else:
                unresolved.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return used, unresolved


def test_keys_the_agent_uses_exist() -> None:
    used, unresolved = _reply_keys_in_agent_code()
    assert {"ask_files", "declined", "train_progress", "cancelled", "nothing_to_cancel", "journey_done"} <= used
    assert used - set(MESSAGES) == set()
    # the one call with a variable key is reply's own body, which passes its caller's key on
    assert len(unresolved) == 1 and "agent.{key}" in unresolved[0], unresolved


# --- words filled in from tool results -----------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(WORDS))
def test_every_word_in_both_languages(key: str) -> None:
    assert set(WORDS[key]) == {"en", "zh"}
    assert CJK.search(WORDS[key]["zh"]) and not CJK.search(WORDS[key]["en"])
    assert word(key, "zh") == word(key, "mixed") == WORDS[key]["zh"] and word(key, "en") == WORDS[key]["en"]


def test_every_state_stage_and_dropped_reason_a_reply_shows_has_chinese() -> None:
    from typing import get_args, get_type_hints

    from tools.core.runs import State, training_state
    from tools.data import clean, datasets
    from ui.view import STAGES

    states = set(get_args(get_type_hints(training_state)["return"])) | set(get_args(State))
    dropped = {v for k, v in vars(clean).items() if k.startswith("DROP_")} | {datasets.TEXT_DROP}
    assert states | dropped | set(STAGES) <= set(WORDS)
    assert word("none", "en") == "not started"  # never "Training is none."
    assert word("a word no one listed", "zh") == "a word no one listed"
