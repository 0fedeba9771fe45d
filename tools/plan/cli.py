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
from pathlib import Path

from tools.core.messages import say as catalog_say
from tools.plan.card import plan_card
from tools.plan.gather import make_plan
from tools.plan.record import PlanOverrides, plan_target, write_plan

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
