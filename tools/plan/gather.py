"""A plan from what can be found: the model's config, the machine, the dataset and measured speeds."""

from __future__ import annotations

import logging
from pathlib import Path

from tools.core.errors import InputError, ModelNotFoundError
from tools.core.messages import Said, said
from tools.data.examples import load_examples
from tools.data.knowledge import single_turn
from tools.data.paraphrase import is_chinese
from tools.data.tokens import TokenCounter
from tools.plan.data_stats import fact_share, read_token_stats, written_share
from tools.plan.hardware import HardwareFacts, detect_hardware, load_hardware
from tools.plan.model_facts import ModelFacts, facts_from_params, load_model_facts
from tools.plan.planner import plan_training
from tools.plan.record import PlanOverrides, PlanRequest, TrainingPlan
from tools.plan.speed import machine_of, read_speeds

log = logging.getLogger(__name__)


CHINESE_KNOWLEDGE_MODEL = "gemma"  # the bundled model with a real Chinese vocabulary (tools/core/models.py)


def model_for_data(data_dir: Path | None, task: str = "auto") -> tuple[str, Said | None]:
    """The bundled model to tune when the person names none: Gemma 3 270M for Chinese facts (more than half the
    questions Chinese, answers that carry facts, questions the person wrote rather than tunepilot from a manual),
    else the demo model; and why, for the plan card.

    Measured (``bench/knowledge.py --lang zh --faq clinic``, hand-written questions from other angles): the demo
    model, whose vocabulary spells a Chinese character in 2-3 byte tokens, answered 35-42%, mixing entries into
    garbled sentences; Gemma 3 270M (262k-token vocabulary) 60% in fewer steps, in whole answers."""
    import os

    if os.environ.get("TUNEPILOT_DEFAULT_MODEL"):
        return os.environ["TUNEPILOT_DEFAULT_MODEL"], None
    if data_dir is None or not (Path(data_dir) / "train.jsonl").exists() or task == "style":
        return "demo", None

    try:
        rows = load_examples(Path(data_dir) / "train.jsonl", None)
    except (OSError, ValueError):
        return "demo", None
    questions = [t[1] for t in map(single_turn, rows) if t is not None]
    chinese = sum(map(is_chinese, questions))
    knowledge = task == "knowledge" or (fact_share(Path(data_dir)) or 0.0) >= 0.5  # as the planner decides
    # questions written from a manual's facts: Gemma was measured no better there (README, documents)
    written = written_share(Path(data_dir) / "train.jsonl") >= 0.5
    if questions and chinese / len(questions) > 0.5 and knowledge and not written:
        return CHINESE_KNOWLEDGE_MODEL, said("plan.model.gemma_for_chinese_facts", share=chinese / len(questions))
    return "demo", None


def system_prompt_tokens(model: str | None, prompt: str) -> int:
    """Tokens the run's system prompt adds to every example as training renders it (the dataset's lengths were
    counted without it). Without the model's tokenizer, its characters: no tokenizer here spends fewer than
    one token on a Chinese character, and the plan must leave the answers room."""
    if model:
        try:
            return TokenCounter(model).system_tokens(prompt)
        except InputError as exc:
            log.info("counting the system prompt by characters: %s", exc)
    return len(prompt)


def model_facts_for(model: str | None, params: str | None) -> ModelFacts:
    """Facts from the model's config.json; ``params`` alone (or when the config cannot be read) estimates by size."""
    if model is None and params is None:
        model = "demo"
    if model is None:
        return facts_from_params(params or "", name=None)
    try:
        return load_model_facts(model)
    except ModelNotFoundError as exc:
        if params is None:
            raise
        log.warning("%s; using a size-only estimate for %s parameters", exc.message, params)
        return facts_from_params(params, name=model)


def make_plan(
    *,
    model: str | None = None,
    params: str | None = None,
    hardware: HardwareFacts | Path | None = None,
    data_dir: Path | None = None,
    method: str = "auto",
    overrides: PlanOverrides | None = None,
    run_dir: str | None = None,
    system_prompt: str | None = None,
    task: str = "auto",
    style: list[str] | None = None,
    machines: int = 1,
    main_ip: str = "MAIN_MACHINE_IP",
    main_port: int = 29500,
) -> TrainingPlan:
    """Gather the facts (model config, hardware, dataset report) and plan. The CLI and the agent call this."""
    chosen: Said | None = None
    if model is None and params is None:
        model, chosen = model_for_data(data_dir, task)
    facts = model_facts_for(model, params)
    if isinstance(hardware, HardwareFacts):
        hw = hardware
    elif hardware is not None:
        hw = load_hardware(Path(hardware))
    else:
        hw = detect_hardware()
    tokens = read_token_stats(data_dir) if data_dir is not None else None
    if tokens is not None and system_prompt:
        tokens = tokens.with_system(system_prompt_tokens(facts.name or model, system_prompt))
    if method not in ("auto", "lora", "qlora"):
        raise InputError(f"unknown method {method!r}", where="--method", hint="Use auto, lora or qlora")
    request = PlanRequest(
        model=facts,
        hardware=hw,
        tokens=tokens,
        method=method,  # type: ignore[arg-type]
        overrides=overrides or PlanOverrides(),
        data_dir=str(data_dir) if data_dir is not None else None,
        run_dir=run_dir,
        task=task,  # type: ignore[arg-type]
        fact_share=fact_share(data_dir) if data_dir is not None else None,
        system_prompt=system_prompt,
        style=style or [],
        measured=read_speeds(machine_of(hw)),
        machines=machines,
        main_process_ip=main_ip,
        main_process_port=main_port,
    )
    plan = plan_training(request)
    if chosen is not None:  # the card says first why this model
        plan.said_reasons.insert(0, chosen)
        plan.reasons.insert(0, chosen.text())
    return plan
