"""What a training trains on: the run's examples, rewordings for a knowledge task, the learning check's questions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.core.events import EventWriter
from tools.core.messages import said
from tools.core.secrets import redact
from tools.data.examples import load_examples
from tools.data.knowledge import augment_counted, check_items, held_words, llm_rewordings, single_turn
from tools.data.llm import llm_settings
from tools.data.read.answer import prepare
from tools.data.read.index import PassageIndex
from tools.data.read.passages import load_passages
from tools.data.read.raft import reading_examples
from tools.train.record import TrainSettings


def _llm_rewordings(rows: list[dict[str, Any]], settings: TrainSettings, events: EventWriter) -> dict[str, list[str]]:
    """The configured LLM's rewordings of the trained questions; templates alone when it fails (said so)."""
    if llm_settings() is None:
        return {}
    pairs = list({t[1]: t[2] for t in map(single_turn, rows) if t is not None}.items())
    try:
        found = llm_rewordings(pairs, settings.paraphrases)
    except Exception as exc:  # noqa: BLE001 - the templates still reword every question
        events.emit("train", "warning", f"the LLM could not reword the questions ({type(exc).__name__}: "
                    f"{redact(str(exc))[:200]}); using the built-in rewordings only")
        return {}
    events.emit("train", "info", f"the LLM reworded {len(found)} of {len(pairs)} questions", llm_reworded=len(found))
    return found


def _reading(rows: list[dict[str, Any]], settings: TrainSettings, events: EventWriter,
             items: list[Any]) -> tuple[list[dict[str, Any]], list[Any]]:
    """Reading examples (:mod:`tools.data.read.raft`) when the plan trains to read and the data has passages, and the
    learning check asked the way the product answers: each question with the passages found for it (its
    closed-book wording kept beside, asked too)."""
    if not settings.reading_k:
        return [], items

    data_dir = Path(settings.data_dir)
    if not load_passages(data_dir):
        return [], items
    index = PassageIndex.load(data_dir)
    examples, c = reading_examples(rows, index, settings.reading_k, settings.reading_share,
                                   settings.reading_per_question, settings.seed)
    events.emit("train", "info", said=said("read.trained_to_read", examples=c.examples, questions=c.questions,
                                           k=settings.reading_k, with_own=c.with_own, without=c.without),
                reading_examples=c.examples)
    read_items = [it.model_copy(update={"closed": it.messages, "messages": prepare(
        it.messages[-1]["content"], index, settings.system_prompt, settings.reading_k).messages}) for it in items]
    return examples, read_items


def training_examples(settings: TrainSettings, events: EventWriter) -> tuple[list[Any], list[Any], list[Any]] | None:
    """Training and eval examples, rewordings added for a knowledge task, and the learning check's questions;
    None (with an error event) when there is nothing to train on."""
    data_dir = Path(settings.data_dir)
    train_rows = load_examples(data_dir / "train.jsonl", settings.system_prompt)
    eval_rows = load_examples(data_dir / "eval.jsonl", settings.system_prompt)
    if not train_rows:
        events.emit("train", "error", said=said("train.no_examples", path=str(data_dir / "train.jsonl")))
        return None

    items = (check_items(train_rows, settings.check_size, settings.seed, by_words=settings.paraphrases >= 2)
             if settings.learning_check else [])
    reading, items = _reading(train_rows, settings, events, items)
    if settings.paraphrases:
        train_rows, c = augment_counted(train_rows, settings.paraphrases, settings.seed,
                                        _llm_rewordings(train_rows, settings, events), held_words(items))
        events.emit("train", "info", said=said("train.reworded", added=c.added, examples=c.examples,
                                               template=c.template, answer=c.answer, words=c.words, llm=c.llm,
                                               shared=c.shared),
                    paraphrased=c.added, **c.model_dump())
    train_rows = train_rows + reading
    if items:
        words = sum(it.by_words for it in items)
        events.emit("train", "info", said=said("train.check_asked", n=len(items), words=words,
                                               templates=len(items) - words), check=len(items), check_by_words=words)
    return train_rows, eval_rows, items
