"""The schedule: knowledge or style, epochs, learning rate, warmup, rewordings, replay, the check."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from tools.core.messages import Said, said
from tools.core.said import SaidList
from tools.plan.kinds import Record
from tools.plan.model_facts import ModelFacts, human_params
from tools.plan.record import PlanOverrides, PlanRequest

# knowledge tasks on small datasets (bench/knowledge.py measured these on the demo model)
KNOWLEDGE_MAX_QUESTIONS = 2000  # rewordings and many epochs pay off up to about this many questions
KNOWLEDGE_PARAPHRASES = 4
KNOWLEDGE_MAX_EPOCHS = 8
# Chinese questions also asked by their answers' words: each epoch holds ~3× the wordings; customers' questions
# from other angles peaked at epoch 3-4 and fell after (bench/knowledge.py --lang zh --faq clinic: 42% at epoch 3,
# 35% at 8 on the demo model; Gemma 62% at 4, 60% at 6), and 4 epochs keep the journey within 15 minutes
KNOWLEDGE_WORDS_EPOCHS = 4
KNOWLEDGE_LR_SMALL = 1e-3  # under 1B parameters
KNOWLEDGE_LR = 5e-4  # 1B-3B
KNOWLEDGE_TARGET = 1.0
KNOWLEDGE_BATCH = 8
KNOWLEDGE_RANK = 64  # bench: r=64 learnt a 24-entry Chinese FAQ faster and further than r=16
KNOWLEDGE_PARAPHRASES_FEW = 1  # when the data already asks each answer in many words (identity sets)
EVAL_SHARE = 0.05  # of a training's work its evaluations may take
EVAL_COST = 1 / 3  # an evaluated example against a trained one (forward only; measured 0.2 s vs 0.54 s, SmolLM2)
KNOWLEDGE_SHARED_ANSWERS = 4  # examples per distinct answer from which the data counts as asking in many words
KNOWLEDGE_REPLAY = 48  # general questions the base answers, trained beside the facts (tools/data/replay.py)
REPLAY_REPEAT = 2  # each replayed answer twice an epoch (identity run: general questions kept 13/40, once: 5/40)
KNOWLEDGE_DOC_EPOCHS = 5  # a manual's written questions: recall flat after epoch 4 (bench/knowledge.py --doc dev)
KNOWLEDGE_MIN_EPOCHS = 3  # the check's wordings are easier than a person's (bench/knowledge.py)


class Schedule(Record):
    task: Literal["knowledge", "style"]
    examples: int | None = Field(default=None, description="examples trained per epoch, rewordings included")
    epochs: int
    learning_rate: float
    warmup: float
    paraphrases: int = 0
    learning_check: bool = False
    replay: int = 0
    check_target: float = KNOWLEDGE_TARGET
    steps_per_epoch: int | None = None
    total_steps: int | None = None
    eval_steps: int = 50
    logging_steps: int = 10


def training_task(req: PlanRequest) -> tuple[Literal["knowledge", "style"], Said]:
    """Knowledge (answers carry facts the model must learn) or style (a way of answering), with the reason."""
    if req.task != "auto":
        return req.task, said("plan.task.your_setting")
    share = req.fact_share
    if share is None:
        return "style", said("plan.task.no_dataset")
    if share >= 0.5:
        return "knowledge", said("plan.task.facts", share=share)
    return "style", said("plan.task.few_facts", share=share)


def _learning_rate(ov: PlanOverrides, facts: ModelFacts, knowledge: bool, reasons: SaidList) -> float:
    """The LoRA learning rate: the person's, a higher one for facts in a small model, else the usual."""
    if ov.learning_rate:
        lr = ov.learning_rate
        reasons.add("plan.learning_rate.learning_rate_your_setting", lr=lr)
    elif knowledge and facts.param_count < 3e9:
        lr = KNOWLEDGE_LR_SMALL if facts.param_count < 1e9 else KNOWLEDGE_LR
        reasons.add("plan.learning_rate.learning_rate_cosine_decay", lr=lr, params=human_params(facts.param_count))
    elif facts.param_count >= 30e9:
        lr = 1e-4
        reasons.add("plan.learning_rate.learning_rate_e_models")
    else:
        lr = 2e-4
        reasons.add("plan.learning_rate.learning_rate_e_cosine")
    return lr


def paraphrases_for(answer_repeats: float | None) -> int:
    """Rewordings per question for a knowledge task: fewer when the data already asks each answer in many words
    (an identity set: 80 questions, 8 answers), where more only lengthen training and teach every question to
    get the same answer."""
    if answer_repeats is not None and answer_repeats >= KNOWLEDGE_SHARED_ANSWERS:
        return KNOWLEDGE_PARAPHRASES_FEW
    return KNOWLEDGE_PARAPHRASES


def plan_schedule(req: PlanRequest, facts: ModelFacts, count: int | None, effective: int, reasons: SaidList,
                  reading: float = 0.0) -> Schedule:
    """Epochs, learning rate, warmup, rewordings and the learning check: one decision, its reasons said."""
    task, why = training_task(req)
    knowledge = task == "knowledge"
    small_set = count is not None and count <= KNOWLEDGE_MAX_QUESTIONS
    if knowledge:
        reasons.add("plan.task.knowledge", why=why)
    else:
        reasons.add("plan.task.style", why=why)
    paraphrases = _rewordings(req, knowledge, small_set, reasons)
    replay = KNOWLEDGE_REPLAY if knowledge and small_set else 0
    if replay:
        reasons.add("plan.schedule.replay", n=replay)
    examples = _examples(req, count, paraphrases, replay)
    if examples and reading:  # reading examples per trained question (tools/plan/reading.py)
        examples += round((count or 0) * reading)
    epochs = _epochs(req, count, knowledge, small_set, paraphrases, reasons)
    lr = _learning_rate(req.overrides, facts, knowledge, reasons)
    steps_per_epoch = int(math.ceil(examples / effective)) if examples else None
    total_steps = steps_per_epoch * epochs if steps_per_epoch else None
    held_out = req.tokens.held_out if req.tokens and req.tokens.held_out is not None else (
        None if count is None else max(1, count // 9))  # the data stage holds out ~10%
    warmup, eval_steps, logging_steps = _steps(total_steps, held_out, effective, reasons)
    check = knowledge
    if check:
        reasons.add("plan.schedule.learning_check_once_epoch", min_epochs=KNOWLEDGE_MIN_EPOCHS,
                    target=KNOWLEDGE_TARGET)
    return Schedule(task=task, examples=examples, epochs=epochs, learning_rate=lr, warmup=warmup, paraphrases=paraphrases,
                     learning_check=check, replay=replay, steps_per_epoch=steps_per_epoch, total_steps=total_steps,
                     eval_steps=eval_steps, logging_steps=logging_steps)


def _written(req: PlanRequest) -> bool:
    """Whether most questions were written by tunepilot from a document's facts."""
    return (req.tokens.written_share or 0.0) >= 0.5 if req.tokens is not None else False


def _rewordings(req: PlanRequest, knowledge: bool, small_set: bool, reasons: SaidList) -> int:
    """Template rewordings per question: for a small knowledge set whose questions the person wrote, with why."""
    repeats = req.tokens.answer_repeats if req.tokens is not None else None
    written = _written(req)
    paraphrases = paraphrases_for(repeats) if knowledge and small_set and not written else 0
    if knowledge and small_set and written:
        reasons.add("plan.schedule.rewordings_written", repeats=repeats or 0)
    elif paraphrases == KNOWLEDGE_PARAPHRASES_FEW:
        reasons.add("plan.schedule.rewordings_shared_answers", paraphrases=paraphrases, repeats=repeats)
    elif paraphrases:
        reasons.add("plan.schedule.rewordings_every_question_are", paraphrases=paraphrases)
    if paraphrases and req.tokens is not None and req.tokens.by_words:
        reasons.add("plan.schedule.rewordings_by_words", words=req.tokens.by_words, shared=req.tokens.shared or 0)
    return paraphrases


def _examples(req: PlanRequest, count: int | None, paraphrases: int, replay: int) -> int | None:
    """Examples trained per epoch: each with its rewordings, and the replayed answers."""
    # counted on the data when the plan has it; else each template rewording brings about one more (brand-less,
    # other words, the answer's facts)
    measured = req.tokens.rewordings if req.tokens is not None else None
    per_example = (measured if measured is not None else 2 * paraphrases) if paraphrases else 0
    return round(count * (1 + per_example)) + replay * REPLAY_REPEAT if count else None


def _epochs(req: PlanRequest, count: int | None, knowledge: bool, small_set: bool, paraphrases: int,
            reasons: SaidList) -> int:
    """The person's epochs, else many for a small knowledge set, else fewer the more examples there are."""
    ov = req.overrides
    if ov.epochs:
        epochs = ov.epochs
        reasons.add("plan.schedule.epochs_your_setting" if epochs > 1 else "plan.schedule.epoch_your_setting",
                    epochs=epochs)
    elif count is None:
        epochs = 3
        reasons.add("plan.schedule.epochs_no_dataset_size")
    elif knowledge and small_set and _written(req):
        epochs = KNOWLEDGE_DOC_EPOCHS
        reasons.add("plan.schedule.up_epochs_written", epochs=epochs)
    elif knowledge and small_set and paraphrases and req.tokens is not None and req.tokens.by_words:
        epochs = KNOWLEDGE_WORDS_EPOCHS
        reasons.add("plan.schedule.up_epochs_by_words", epochs=epochs, count=count)
    elif knowledge and small_set:
        epochs = KNOWLEDGE_MAX_EPOCHS
        reasons.add("plan.schedule.up_epochs_questions_are", epochs=epochs, count=count)
    else:
        epochs = 5 if count < 100 else 3 if count < 1000 else 2 if count < 10000 else 1
        code = "small" if epochs >= 3 else "large" if epochs > 1 else "large_one"
        reasons.add(f"plan.schedule.epochs_{code}", epochs=epochs, count=count)
    return epochs


def eval_interval(total_steps: int, held_out: int | None, effective: int) -> tuple[int, Said]:
    """Steps between evaluations (and the checkpoints saved with them), with the reason: about 10 in a run, fewer
    when reading the ``held_out`` examples that often would cost more than ``EVAL_SHARE`` of the training's work
    (an evaluated example costs about ``EVAL_COST`` of a trained one: a forward pass only)."""
    evals = min(10, total_steps)
    if held_out:
        affordable = held_out * EVAL_COST / (EVAL_SHARE * max(1, effective))  # steps one evaluation may follow
        evals = max(1, min(evals, int(total_steps / affordable)))
    eval_steps = int(math.ceil(total_steps / evals))
    evals = int(math.ceil(total_steps / eval_steps))
    if evals < min(10, total_steps):
        return eval_steps, said("plan.schedule.eval_every_cost", eval_steps=eval_steps, total_steps=total_steps,
                                n=evals, held_out=held_out, share=round(EVAL_SHARE * 100))
    return eval_steps, said("plan.schedule.eval_every", eval_steps=eval_steps, total_steps=total_steps, n=evals)


def _steps(total_steps: int | None, held_out: int | None, effective: int, reasons: SaidList) -> tuple[float, int, int]:
    """Warmup share, evaluation interval (:func:`eval_interval`) and logging interval for this many steps."""
    if total_steps is not None and total_steps < 100:
        warmup = 0.1
        reasons.add("plan.schedule.warmup_steps_short_run", total_steps=total_steps)
    else:
        warmup = 0.03
        reasons.add("plan.schedule.warmup_steps_qlora_paper")
    if not total_steps:
        reasons.add("plan.schedule.eval_every_unknown", eval_steps=50)
        return warmup, 50, 10
    logging_steps = max(1, min(10, total_steps // 50))
    eval_steps, reason = eval_interval(total_steps, held_out, effective)
    reasons.extend([reason])
    return warmup, eval_steps, logging_steps
