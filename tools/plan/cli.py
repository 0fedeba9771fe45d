"""``tunepilot plan``: LoRA/QLoRA settings for a model on a machine, as a readable card or JSON.

    tunepilot plan --model demo
    tunepilot plan --model meta-llama/Llama-2-7b-hf --params 7B --hardware a100.json --out runs/x
    tunepilot plan --model ./my-model --data runs/x/data --method qlora --rank 32 --batch 2 --json
    tunepilot plan --model demo --lang zh

``--hardware`` takes the JSON that ``tunepilot doctor --json`` prints, so a machine
can be planned from anywhere; without it this machine is probed. ``--out DIR``
writes ``DIR/plan.json`` and, for several GPUs, the accelerate (and DeepSpeed)
config files that the launch command names.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from tools.core.errors import InputError
from tools.core.messages import Said, has, said
from tools.core.messages import say as catalog_say
from tools.data.schema import DatasetReport
from tools.plan.hardware import HardwareFacts
from tools.plan.model_facts import ModelFacts, facts_from_params, load_model_facts
from tools.plan.planner import (
    ACCELERATE_CONFIG_NAME,
    DEEPSPEED_CONFIG_NAME,
    GIB,
    PlanOverrides,
    PlanRequest,
    TokenStats,
    TrainingPlan,
    describe_model,
    duration_said,
    gib,
    machine_config_name,
    method_words,
    plan_training,
    relocate_plan,
)

log = logging.getLogger(__name__)

PLAN_FILE = "plan.json"


# --- inputs -------------------------------------------------------------------------------


def _int_or_none(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float) and v >= 0:
        return int(round(v))
    return None


def read_token_stats(data_dir: Path) -> TokenStats | None:
    """Token lengths from ``DIR/report.json`` and the example count: the data stage's typed record, or any other
    tool's report read defensively.

    Whatever is missing is left out; a report that cannot be read is logged and ignored
    (planning then assumes defaults and says so).
    """
    import json

    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputError("no such dataset folder", where=str(data_dir),
                         hint="Give the folder that holds train.jsonl and report.json")
    stats: dict[str, Any] = {}
    report_path = data_dir / "report.json"
    report: Any = None
    if report_path.exists():
        try:
            report = json.loads(report_path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.warning("%s: could not read the dataset report (%s); planning without token statistics",
                        report_path, exc)
    typed = DatasetReport.read(report_path) if report_path.exists() else None
    if typed is not None:  # the data stage's own record
        t = typed.tokens
        stats.update(p50=t.p50, p95=t.p95, max=t.max, mean=float(t.mean), count=typed.totals.train)
    elif isinstance(report, dict):  # a report some other tool wrote: whatever it holds, read defensively
        tokens = report.get("tokens")
        if isinstance(tokens, dict):
            for key in ("p50", "p95", "p99", "max", "count"):
                v = _int_or_none(tokens.get(key))
                if v is not None:
                    stats[key] = v
            if "p50" not in stats:
                v = _int_or_none(tokens.get("median"))
                if v is not None:
                    stats["p50"] = v
            mean = tokens.get("mean")
            if isinstance(mean, int | float) and not isinstance(mean, bool) and mean >= 0:
                stats["mean"] = float(mean)
        if "count" not in stats:
            for path in (("counts", "train"), ("train",), ("train_count",), ("kept",)):
                node: Any = report
                for k in path:
                    node = node.get(k) if isinstance(node, dict) else None
                v = _int_or_none(node)
                if v is not None and v > 0:
                    stats["count"] = v
                    break
    train = data_dir / "train.jsonl"
    if train.exists():
        try:
            with train.open("rb") as fh:
                stats["count"] = sum(1 for line in fh if line.strip())
        except OSError as exc:
            log.warning("%s: could not count examples (%s)", train, exc)
    if not stats:
        log.warning("%s: no report.json with token statistics and no train.jsonl; planning with defaults", data_dir)
        return None
    if train.exists():
        stats.update(question_stats(train))
    return TokenStats.model_validate(stats)


def question_stats(train: Path) -> dict[str, float]:
    """``answer_repeats`` (examples per distinct answer) and ``rewordings`` (how many template rewordings
    training will add to each example at the plan's count, counted on the data itself with the worker's own
    ``augment``, without an LLM's: short questions yield fewer than long ones). Empty without examples or when
    the file cannot be read."""
    from tools.data.examples import load_examples
    from tools.data.knowledge import augment_counted
    from tools.plan.planner import paraphrases_for

    try:
        rows = load_examples(train, None)
    except (OSError, ValueError) as exc:
        log.warning("%s: could not count the rewordings (%s)", train, exc)
        return {}
    if not rows:
        return {}
    answers = {str(r["completion"][-1].get("content", "")).strip() for r in rows}
    repeats = round(len(rows) / max(1, len(answers)), 2)
    per_question = paraphrases_for(repeats)
    _, counted = augment_counted(rows, per_question)
    return {"answer_repeats": repeats, "written_share": written_share(train),
            "rewordings": round(counted.added / len(rows), 2), "by_words": round(counted.words / len(rows), 2),
            "shared": counted.shared}


def written_share(train: Path) -> float:
    """Share of the records whose question tunepilot wrote from a document's fact (``meta.method == "fact"``)."""
    from tools.core.jsonio import iter_jsonl

    methods = [str((rec.get("meta") or {}).get("method", "")) for _, rec in iter_jsonl(train) if isinstance(rec, dict)]
    return round(sum(1 for m in methods if m == "fact") / len(methods), 2) if methods else 0.0


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
    from tools.data.examples import load_examples
    from tools.data.knowledge import single_turn
    from tools.data.paraphrase import is_chinese

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


def model_facts_for(model: str | None, params: str | None) -> ModelFacts:
    """Facts from the model's config.json; ``params`` alone (or when the config cannot be read) estimates by size."""
    from tools.core.errors import ModelNotFoundError

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
    from tools.plan.hardware import detect_hardware, load_hardware
    from tools.plan.speed import machine_of, read_speeds

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


def fact_share(data_dir: Path) -> float | None:
    """Share of the training answers that carry key facts (numbers, names, codes); None without answers."""
    from tools.core.jsonio import iter_jsonl
    from tools.core.metrics import extract_facts
    from tools.data.examples import to_prompt_completion

    path = Path(data_dir) / "train.jsonl"
    if not path.exists():
        return None
    answers = [ex["completion"][0]["content"] for _, rec in iter_jsonl(path) if isinstance(rec, dict)
               for ex in to_prompt_completion(rec)]
    if not answers:
        return None
    return sum(1 for a in answers if extract_facts(a)) / len(answers)


# --- outputs -----------------------------------------------------------------------------------


def plan_target(out: Path) -> tuple[Path, str]:
    """(folder, file name) for ``--out``: a folder gets ``plan.json`` inside; a path ending in ``.json``
    that is not a folder is the plan file itself, its configs written beside it."""
    out = Path(out).resolve()
    if out.suffix.lower() == ".json" and not out.is_dir():
        return out.parent, out.name
    if out.exists() and not out.is_dir():
        raise InputError("is a file, not a folder", where=str(out),
                         hint="Pass a folder (plan.json is written inside) or a path ending in .json")
    return out, PLAN_FILE


def write_plan(plan: TrainingPlan, out: Path, data_dir: str | None = None) -> tuple[TrainingPlan, list[Path]]:
    """Write the plan (``out/plan.json``, or ``out`` itself when it ends in ``.json``) and the accelerate /
    DeepSpeed configs beside it.

    Returns the plan as written (its launch command names these files) and the paths written.
    """
    from tools.core.jsonio import atomic_write_text, write_json

    out_dir, name = plan_target(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = relocate_plan(plan, str(out_dir), data_dir=data_dir, plan_name=name)
    written = [out_dir / name]
    dist = plan.distributed
    if dist.deepspeed_config:
        atomic_write_text(out_dir / DEEPSPEED_CONFIG_NAME, dist.deepspeed_config)
        written.append(out_dir / DEEPSPEED_CONFIG_NAME)
    for machine in dist.machines:  # several machines: one config each, machine_rank set
        atomic_write_text(out_dir / machine_config_name(machine.rank), machine.accelerate_config)
        written.append(out_dir / machine_config_name(machine.rank))
    if dist.accelerate_config and not dist.machines:
        atomic_write_text(out_dir / ACCELERATE_CONFIG_NAME, dist.accelerate_config)
        written.append(out_dir / ACCELERATE_CONFIG_NAME)
    write_json(out_dir / name, plan.model_dump(mode="json"))
    return plan, written


def plan_file(path: Path) -> Path:
    """The plan file a user named: a ``plan.json``, or a folder holding one (what ``plan --out`` wrote)."""
    path = Path(path)
    if path.is_dir():
        if not (path / PLAN_FILE).is_file():
            raise InputError(f"this folder has no {PLAN_FILE}", where=str(path),
                             hint="Pass the plan file, or the folder given to `tunepilot plan --out`")
        return path / PLAN_FILE
    return path


def load_plan(path: Path) -> TrainingPlan:
    """Read a ``plan.json`` back (the trainer's entry point), naming the file on failure."""
    from tools.core.jsonio import read_json

    path = plan_file(path)
    return parse_plan(read_json(path), where=str(path))


def parse_plan(data: Any, where: str = PLAN_FILE) -> TrainingPlan:
    """A plan record from its JSON; a hand-written or damaged plan names the fields that are wrong."""
    from pydantic import ValidationError

    try:
        return TrainingPlan.model_validate(data)
    except ValidationError as exc:
        wrong = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'the plan'}: {e['msg']}" for e in exc.errors()[:3])
        raise InputError(f"not a plan written by `tunepilot plan` ({wrong})", where=where,
                         hint="Write a new one with `tunepilot plan --out DIR`") from None


def _targets(t: list[str] | str) -> str:
    return t if isinstance(t, str) else ", ".join(t)


def _width(text: str) -> int:
    """Columns the text takes in a terminal: CJK characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


class _Card:
    """The card's words in one language: card.* in the catalogs; rows are a padded label and a text."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def say(self, key: str, **kw: Any) -> str:
        return catalog_say(f"card.{key}", self.lang, **kw)

    def row(self, key: str, text: str) -> str:
        return f"  {_pad(self.say(key), 13)} {text}"

    def strategy(self, name: str) -> str:
        return catalog_say(f"card_strategy.{name}", self.lang) if has(f"card_strategy.{name}") else name


def _card_settings(c: _Card, plan: TrainingPlan) -> list[str]:
    """Title, model facts, refusal, and the training settings a row each."""
    f, n, dist, say = plan.model_facts, plan.num_gpus, plan.distributed, c.say
    where = say("gpus" if n > 1 else "gpu_one", n=n) if plan.device == "cuda" else "CPU"
    lines = [say("title", model=describe_model(f, c.lang), where=where),
             c.row("facts", say("facts_text", layers=f.num_layers, hidden=f.hidden_size, heads=f.num_attention_heads,
                                kv=f.num_key_value_heads, vocab=f.vocab_size, positions=f.max_position_embeddings,
                                source=f.source_in(c.lang)))]
    if not plan.fits:
        lines += ["", "  " + say("refused", why=plan.refusal_in(c.lang))]
    lines.append("")
    lines.append(c.row("method", f"{method_words(plan.method, plan.precision, c.lang)}{catalog_say('text.comma', c.lang)}"
                                 f"{c.strategy(dist.strategy)}"
                                 + (f" × {dist.num_processes}" if dist.num_processes > 1 else "")))
    lines.append(c.row("lora", say("lora_text", r=plan.lora.r, alpha=plan.lora.alpha, dropout=plan.lora.dropout,
                                   targets=_targets(plan.lora.target_modules),
                                   trainable=plan.lora.trainable_params / 1e6,
                                   share=100 * plan.lora.trainable_params / max(1, f.param_count))))
    lines.append(c.row("batch", say("batch_text", mb=plan.micro_batch_size, accum=plan.grad_accum,
                                    gpus=say("batch_gpus", n=n) if n > 1 else "", eff=plan.effective_batch)))
    lines.append(c.row("sequence", say("sequence_text", length=plan.max_length,
                                       packing=say("on" if plan.packing else "off"),
                                       ckpt=say("on" if plan.gradient_checkpointing else "off"),
                                       attn=plan.attn_implementation)))
    lines.append(c.row("schedule", say("schedule_text", lr=f"{plan.learning_rate:g}", scheduler=plan.lr_scheduler,
                                       epochs=plan.num_epochs, warmup=f"{plan.warmup_ratio:.0%}",
                                       steps=say("steps", n=plan.total_steps) if plan.total_steps else "",
                                       optimizer=plan.optimizer, seed=plan.seed)))
    lines.append(c.row("task", say("task_knowledge", p=plan.paraphrases, target=plan.check_target)
                       if plan.task == "knowledge" else say("task_style")))
    if plan.system_prompt:
        lines.append(c.row("system", plan.system_prompt))
    if plan.cpu_estimate:
        est = plan.cpu_estimate
        per = say("per_epoch", d=duration_said(est.seconds_per_epoch)) if est.seconds_per_epoch else ""
        total = say("at_most" if plan.learning_check else "in_all", d=duration_said(est.total_seconds)) \
            if est.total_seconds else ""
        lines.append(c.row("time", say("time_text", per=per, total=total, tps=est.tokens_per_second,
                                       source=say(f"time_{est.source}"))))
    return lines


def _card_memory(c: _Card, plan: TrainingPlan) -> list[str]:
    """The memory itemised against what is available, and the other methods and strategies."""
    m, say = plan.memory, c.say
    lines = ["", "  " + say("memory_gpu" if plan.device == "cuda" else "memory_ram")]
    for item in m.items:
        name = catalog_say(f"card_item.{item.name}", c.lang) if has(f"card_item.{item.name}") else item.name
        lines.append(f"    {_pad(name, 16)}{item.bytes / GIB:8.2f} GiB  {item.note_in(c.lang)}")
    lines.append(f"    {_pad(say('total'), 16)}{m.total_gib:8.2f} GiB  "
                 + say("total_text", usable=gib(m.budget_bytes), available=gib(m.available_bytes),
                       free=say("free" if plan.device == "cuda" else "available"),
                       verdict=say("fits" if m.fits else "not_fit")))
    if plan.alternatives:
        lines.append("  " + say("others"))
        for alt in plan.alternatives:
            a = alt.settings
            lines.append(f"    {_pad(method_words(a.method, a.precision, c.lang), 36)} "
                         f"{_pad(c.strategy(a.strategy), 6)} {alt.total_gib:7.1f} GiB  "
                         f"{say('fits' if alt.fits else 'too_big')}")
    return lines


def _launch_rows(c: _Card, plan: TrainingPlan) -> list[str]:
    """The command to start training; one per machine when there are several."""
    machines = plan.distributed.machines
    if not machines:
        return [c.row("launch", plan.distributed.launch_command)]
    return [c.row("launch", "")] + [f"    {c.say('on_machine', rank=m.rank)}  {m.command}" for m in machines]


def _card_serving_and_reasons(c: _Card, plan: TrainingPlan) -> list[str]:
    sv = plan.serving
    util = f"gpu_memory_utilization {sv.gpu_memory_utilization:.2f}, " if sv.gpu_memory_utilization else ""
    kv = f"VLLM_CPU_KVCACHE_SPACE {sv.cpu_kvcache_space_gib}, " if sv.cpu_kvcache_space_gib else ""
    lines = ["", c.row("serving", f"max_model_len {sv.max_model_len}, {util}{kv}max_lora_rank {sv.max_lora_rank}, "
                                  f"tensor_parallel_size {sv.tensor_parallel_size}"),
             *_launch_rows(c, plan), "", "  " + c.say("why")]
    lines += [f"    - {r}" for r in plan.reasons_in(c.lang)]
    warnings = plan.warnings_in(c.lang)
    if warnings:
        lines.append("  " + c.say("warnings"))
        lines += [f"    ! {w}" for w in warnings]
    return lines


def plan_card(plan: TrainingPlan, lang: str = "en") -> str:
    """The plan as text a person reads: method, memory itemised against what is available, reasons.

    ``lang`` "zh" (or "mixed") words every label, note and reason in Chinese; technical names and numbers
    stay as they are. A plan.json written before the Chinese fields existed reads in English where it has none.
    """
    c = _Card(lang)
    return "\n".join(_card_settings(c, plan) + _card_memory(c, plan) + _card_serving_and_reasons(c, plan))


# --- the verb -------------------------------------------------------------------------------------


def cmd_plan(args: argparse.Namespace) -> int:
    overrides = PlanOverrides(
        rank=args.rank,
        micro_batch=args.batch,
        max_length=args.max_length,
        epochs=args.epochs,
        learning_rate=args.lr,
        strategy=args.strategy,
    )
    data_dir = Path(args.data) if args.data else None
    plan = make_plan(
        model=args.model,
        params=args.params,
        hardware=Path(args.hardware) if args.hardware else None,
        data_dir=data_dir,
        method=args.method,
        overrides=overrides,
        run_dir=str(plan_target(Path(args.out))[0]) if args.out else None,
        system_prompt=args.system_prompt,
        task=args.task,
        machines=args.machines,
        main_ip=args.main_ip,
        main_port=args.main_port,
    )
    written: list[Path] = []
    if args.out:
        plan, written = write_plan(plan, Path(args.out), data_dir=str(data_dir.resolve()) if data_dir else None)
    if args.json:
        from tools.core.jsonio import print_json

        print_json(plan)
    else:
        print(plan_card(plan, args.lang))
        for path in written:
            print(catalog_say("card.wrote", args.lang, path=path))
    return 0 if plan.fits else 3


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be at least 1")
    return v


def _lr(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number like 2e-4") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"{v} is not a learning rate (between 0 and 1, e.g. 2e-4)")
    return v


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "plan",
        help="pick LoRA/QLoRA settings that fit a machine, with memory itemised and reasons",
        description="Plan a LoRA or QLoRA fine-tune for a model on this machine (or one described by "
        "`tunepilot doctor --json`). Exit status 3 when nothing fits.",
    )
    p.add_argument("--model", help="'demo', a local model folder, or a Hugging Face id (config.json is read)")
    p.add_argument("--params", help="model size like 7B or 135M: a size-only estimate when there is no config")
    p.add_argument("--hardware", metavar="FILE.json", help="plan for the machine in this `doctor --json` file")
    p.add_argument("--data", metavar="DIR", help="dataset folder: token lengths from report.json, count from "
                   "train.jsonl")
    p.add_argument("--method", choices=["auto", "lora", "qlora"], default="auto")
    p.add_argument("--rank", type=_positive, help="LoRA rank r (alpha = 2r)")
    p.add_argument("--batch", type=_positive, help="micro-batch size per device")
    p.add_argument("--max-length", type=_positive, help="maximum tokens per example")
    p.add_argument("--epochs", type=_positive, help="number of epochs")
    p.add_argument("--lr", type=_lr, help="learning rate, e.g. 1e-4")
    p.add_argument("--strategy", choices=["ddp", "fsdp", "zero2", "zero3"], help="multi-GPU strategy")
    p.add_argument("--machines", type=_positive, default=1,
                   help="machines like this one training together (writes one accelerate config per machine)")
    p.add_argument("--main-ip", default="MAIN_MACHINE_IP", help="address of machine 0, which the others reach")
    p.add_argument("--main-port", type=_positive, default=29500, help="port on machine 0 (default 29500)")
    p.add_argument("--task", choices=["auto", "knowledge", "style"], default="auto",
                   help="knowledge: answers carry facts to learn (rewordings, learning check); auto: from the data")
    p.add_argument("--system-prompt", metavar="TEXT", help="the run's system prompt (training, evaluation, serving)")
    p.add_argument("--out", metavar="DIR|FILE.json",
                   help="write DIR/plan.json, or FILE.json (and accelerate/DeepSpeed configs beside it)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--lang", choices=["en", "zh"], default="en", help="language of the card (zh: Chinese)")
    p.set_defaults(func=cmd_plan)
