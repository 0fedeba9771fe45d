"""Every reply exists in English and Chinese and renders with its variables."""

from __future__ import annotations

import re
from string import Formatter

import pytest

from agent.replies import MESSAGES, WORDS, t, word

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
        text = t(key, lang, **values)
        assert all(f"<{name}>" in text for name in names)
        assert "{" not in text and "}" not in text
        for missing in names:
            with pytest.raises(KeyError):
                t(key, lang, **{k: v for k, v in values.items() if k != missing})


def test_language_choice() -> None:
    assert t("no_runs", "zh") == MESSAGES["no_runs"]["zh"]
    assert t("no_runs", "mixed") == MESSAGES["no_runs"]["zh"]
    assert t("no_runs", "en") == t("no_runs", "fr") == MESSAGES["no_runs"]["en"]
    assert t("confirm_train", "en") == "Start training? Reply yes, no, or an edit like 'r=32'."


def test_unknown_key_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no reply named"):
        t("no_such_reply", "en")


def test_keys_the_agent_uses_exist() -> None:
    used = {"ask_files", "unknown", "llm_fallback", "data_done", "data_problems", "plan_header", "plan_time",
            "plan_refused", "confirm_train", "confirm_deploy", "confirm_unclear", "declined", "train_started",
            "train_starting", "train_progress", "train_done", "train_state", "cancelled", "nothing_to_cancel",
            "merged", "deployed", "not_deployed", "eval_done", "no_run", "no_runs", "runs_header", "journey_done",
            "error"}
    assert used <= set(MESSAGES)


# --- words filled in from tool results -----------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(WORDS))
def test_every_word_in_both_languages(key: str) -> None:
    assert set(WORDS[key]) == {"en", "zh"}
    assert CJK.search(WORDS[key]["zh"]) and not CJK.search(WORDS[key]["en"])
    assert word(key, "zh") == word(key, "mixed") == WORDS[key]["zh"] and word(key, "en") == WORDS[key]["en"]


def test_every_state_stage_and_dropped_reason_a_reply_shows_has_chinese() -> None:
    from typing import get_args, get_type_hints

    from tools.dataset import clean, datasets
    from tools.runs import State
    from tools.train import training_state
    from ui.view import STAGES

    states = set(get_args(get_type_hints(training_state)["return"])) | set(get_args(State))
    dropped = {v for k, v in vars(clean).items() if k.startswith("DROP_")} | {datasets.TEXT_DROP}
    assert states | dropped | set(STAGES) <= set(WORDS)
    assert word("none", "en") == "not started"  # never "Training is none."
    assert word("a word no one listed", "zh") == "a word no one listed"
