"""``tunepilot plan``: LoRA/QLoRA settings for a model on a machine, as a readable card or JSON.

    tunepilot plan --model demo
    tunepilot plan --model meta-llama/Llama-2-7b-hf --params 7B --hardware a100.json --out runs/x
    tunepilot plan --model ./my-model --data runs/x/data --method qlora --rank 32 --batch 2 --json

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

from tools.errors import InputError
from tools.hardware import HardwareFacts
from tools.model_facts import ModelFacts, facts_from_params, load_model_facts
from tools.planner import (
    ACCELERATE_CONFIG_NAME,
    DEEPSPEED_CONFIG_NAME,
    GIB,
    PlanOverrides,
    PlanRequest,
    TokenStats,
    TrainingPlan,
    gib,
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
    """Token lengths from ``DIR/report.json`` (key ``tokens``) and the example count, read defensively.

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
    if isinstance(report, dict):
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
    return TokenStats.model_validate(stats)


def model_facts_for(model: str | None, params: str | None) -> ModelFacts:
    """Facts from the model's config.json; ``params`` alone (or when the config cannot be read) estimates by size."""
    from tools.errors import ModelNotFoundError

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
) -> TrainingPlan:
    """Gather the facts (model config, hardware, dataset report) and plan. The CLI and the agent call this."""
    from tools.hardware import detect_hardware, load_hardware

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
    )
    return plan_training(request)


# --- outputs -----------------------------------------------------------------------------------


def write_plan(plan: TrainingPlan, out_dir: Path, data_dir: str | None = None) -> tuple[TrainingPlan, list[Path]]:
    """Write ``plan.json`` (and the accelerate / DeepSpeed configs) into ``out_dir``.

    Returns the plan as written (its launch command names these files) and the paths written.
    """
    from tools.jsonio import atomic_write_text, write_json

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = relocate_plan(plan, str(out_dir), data_dir=data_dir)
    written = [out_dir / PLAN_FILE]
    dist = plan.distributed
    if dist.deepspeed_config:
        atomic_write_text(out_dir / DEEPSPEED_CONFIG_NAME, dist.deepspeed_config)
        written.append(out_dir / DEEPSPEED_CONFIG_NAME)
    if dist.accelerate_config:
        atomic_write_text(out_dir / ACCELERATE_CONFIG_NAME, dist.accelerate_config)
        written.append(out_dir / ACCELERATE_CONFIG_NAME)
    write_json(out_dir / PLAN_FILE, plan.model_dump(mode="json"))
    return plan, written


def load_plan(path: Path) -> TrainingPlan:
    """Read a ``plan.json`` back (the trainer's entry point), naming the file on failure."""
    from tools.jsonio import read_json

    path = Path(path)
    if path.is_dir():
        path = path / PLAN_FILE
    data = read_json(path)
    try:
        return TrainingPlan.model_validate(data)
    except Exception as exc:
        first = str(exc).splitlines()
        raise InputError(f"not a plan written by `tunepilot plan` ({' '.join(first[:3])})", where=str(path),
                         hint="Write a new one with `tunepilot plan --out DIR`") from exc


def _targets(t: list[str] | str) -> str:
    return t if isinstance(t, str) else ", ".join(t)


def plan_card(plan: TrainingPlan) -> str:
    """The plan as text a person reads: method, memory itemised against what is available, reasons."""
    f = plan.model_facts
    lines: list[str] = []
    where = (f"{plan.num_gpus} GPU{'s' if plan.num_gpus > 1 else ''}" if plan.device == "cuda" else "CPU")
    lines.append(f"Plan for {f.describe()} on {where}")
    lines.append(f"  model facts   {f.num_layers} layers, hidden {f.hidden_size}, {f.num_attention_heads} heads / "
                 f"{f.num_key_value_heads} KV heads, vocabulary {f.vocab_size}, {f.max_position_embeddings} "
                 f"positions  [{f.source}]")
    if not plan.fits:
        lines.append("")
        lines.append(f"  DOES NOT FIT: {plan.refusal}")
    m = plan.memory
    lines.append("")
    lines.append(f"  method        {method_words(plan.method, plan.precision)}, {plan.distributed.strategy}"
                 + (f" × {plan.distributed.num_processes}" if plan.distributed.num_processes > 1 else ""))
    lines.append(f"  LoRA          r={plan.lora.r} alpha={plan.lora.alpha} dropout={plan.lora.dropout} on "
                 f"{_targets(plan.lora.target_modules)} ({plan.lora.trainable_params / 1e6:.1f}M trainable, "
                 f"{100 * plan.lora.trainable_params / max(1, f.param_count):.2f}%)")
    lines.append(f"  batch         micro-batch {plan.micro_batch_size} × accumulation {plan.grad_accum}"
                 f"{f' × {plan.num_gpus} GPUs' if plan.num_gpus > 1 else ''} = {plan.effective_batch}")
    lines.append(f"  sequence      max length {plan.max_length}, packing {'on' if plan.packing else 'off'}, "
                 f"gradient checkpointing {'on' if plan.gradient_checkpointing else 'off'}, "
                 f"attention {plan.attn_implementation}")
    steps = f", {plan.total_steps} steps" if plan.total_steps else ""
    lines.append(f"  schedule      lr {plan.learning_rate:g} {plan.lr_scheduler}, {plan.num_epochs} epochs, warmup "
                 f"{plan.warmup_ratio:.0%}{steps}, optimizer {plan.optimizer}, seed {plan.seed}")
    if plan.cpu_estimate:
        c = plan.cpu_estimate
        per = f"~{c.seconds_per_epoch / 60:.0f} min per epoch, " if c.seconds_per_epoch else ""
        lines.append(f"  time          {per}~{c.tokens_per_second:g} tokens/s")
    lines.append("")
    unit = "per GPU" if plan.device == "cuda" else "RAM"
    lines.append(f"  memory {unit} (estimate)")
    for item in m.items:
        lines.append(f"    {item.name:<16}{item.bytes / GIB:8.2f} GiB  {item.note}")
    verdict = "fits" if m.fits else "DOES NOT FIT"
    lines.append(f"    {'total':<16}{m.total_gib:8.2f} GiB  of {gib(m.budget_bytes)} usable "
                 f"({gib(m.available_bytes)} {'free' if plan.device == 'cuda' else 'available'}) → {verdict}")
    if plan.alternatives:
        lines.append("  other options at the same batch and length")
        for alt in plan.alternatives:
            a = alt.settings
            lines.append(f"    {method_words(a.method, a.precision):<36} {a.strategy:<6} "
                         f"{alt.total_gib:7.1f} GiB  {'fits' if alt.fits else 'too big'}")
    sv = plan.serving
    lines.append("")
    util = f"gpu_memory_utilization {sv.gpu_memory_utilization:.2f}, " if sv.gpu_memory_utilization else ""
    kv = f"VLLM_CPU_KVCACHE_SPACE {sv.cpu_kvcache_space_gib}, " if sv.cpu_kvcache_space_gib else ""
    lines.append(f"  serving (vLLM) max_model_len {sv.max_model_len}, {util}{kv}max_lora_rank {sv.max_lora_rank}, "
                 f"tensor_parallel_size {sv.tensor_parallel_size}")
    lines.append(f"  launch        {plan.distributed.launch_command}")
    lines.append("")
    lines.append("  why")
    for r in plan.reasons:
        lines.append(f"    - {r}")
    if plan.warnings:
        lines.append("  warnings")
        for w in plan.warnings:
            lines.append(f"    ! {w}")
    return "\n".join(lines)


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
        run_dir=str(Path(args.out).resolve()) if args.out else None,
    )
    written: list[Path] = []
    if args.out:
        plan, written = write_plan(plan, Path(args.out), data_dir=str(data_dir.resolve()) if data_dir else None)
    if args.json:
        from tools.cli import print_json

        print_json(plan)
    else:
        print(plan_card(plan))
        for path in written:
            print(f"wrote {path}")
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
    p.add_argument("--out", metavar="DIR", help="write DIR/plan.json (and accelerate/DeepSpeed configs)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=cmd_plan)
