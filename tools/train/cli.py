"""``tunepilot train`` and ``tunepilot merge``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.core.events import Event
from tools.core.payloads import Progress


def _print_event(ev: Event) -> None:
    if ev.kind == "progress":
        p = Progress.of(ev) or Progress(loss=float("nan"))  # another stage's step: no loss to show
        sys.stdout.write(
            f"  step {ev.step}/{ev.total}  loss {p.loss:.4f}  "
            f"lr {p.learning_rate:.2e}  {p.tokens_per_s or 0:.0f} tok/s  "
            f"ETA {int(p.eta_s) if p.eta_s is not None else '?'} s\n"
        )
    elif ev.kind in ("start", "metric", "checkpoint", "warning", "error", "cancelled", "done"):
        sys.stdout.write(f"[{ev.stage} {ev.kind}] {ev.message}\n")
    sys.stdout.flush()


def _follow_up(args: argparse.Namespace) -> int:
    """``train --continue RUN --run RUN2``: the follow-up's data and plan, its reasons printed, then training."""
    from tools.core.messages import say
    from tools.core.runs import run_folder
    from tools.train.follow_up import FollowUpRequest, prepare_follow_up
    from tools.train.launch import run_training
    from tools.train.record import TrainRequest

    prep = prepare_follow_up(FollowUpRequest(previous_run=run_folder(args.continue_run), run_dir=Path(args.run),
                                             plan_path=Path(args.plan) if args.plan else None))
    print(say("follow_up.prepared", args.lang, run=prep.run_dir.name, previous=Path(prep.record.previous_run).name,
              n=len(prep.record.corrections), records=prep.record.train))
    for reason in prep.plan.reasons_in(args.lang)[:5]:
        print(f"- {reason}")
    result = run_training(TrainRequest(run_dir=prep.run_dir, data_dir=prep.data_dir, plan_path=prep.plan_path,
                                       max_steps=args.max_steps), on_event=_print_event)
    if result.status != "done":
        sys.stderr.write(f"error: {result.message}\n")
        return 130 if result.status == "cancelled" else 1
    print(f"adapter: {result.adapter_dir}")
    print(say("follow_up.next", args.lang, run=str(prep.run_dir), previous=prep.record.previous_run))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from tools.train.launch import run_training
    from tools.train.record import TrainRequest

    if args.continue_run:
        return _follow_up(args)
    req = TrainRequest(
        run_dir=Path(args.run),
        data_dir=Path(args.data) if args.data else None,
        plan_path=Path(args.plan) if args.plan else None,
        config_path=Path(args.config) if args.config else None,
        max_steps=args.max_steps,
        resume=args.resume,
    )
    result = run_training(req, on_event=_print_event)
    if result.status == "done":
        print(f"adapter: {result.adapter_dir}" if result.adapter_dir else "adapter: saved by machine 0")
        return 0
    if result.status == "cancelled":
        print(result.message)
        return 130
    sys.stderr.write(f"error: {result.message}\n")
    return 1


def cmd_merge(args: argparse.Namespace) -> int:
    from tools.train.merge import MergeRequest, merge_adapter

    result = merge_adapter(MergeRequest(run_dir=Path(args.run)))
    for r in result.reasons:
        print(f"- {r}")
    print(f"merged: {result.merged_dir}")
    return 0 if result.identical else 1


def cmd_export(args: argparse.Namespace) -> int:
    from tools.train.export import ExportRequest, export_model

    result = export_model(ExportRequest(run_dir=Path(args.run), to=args.to, types=args.types.split(","),
                                        check=not args.no_check))
    for r in result.reasons:
        print(f"- {r}")
    for f in [*result.files, *([result.modelfile] if result.modelfile else [])]:
        print(f"wrote {f}")
    return 0 if result.passed else 1


def _gguf_types(text: str) -> str:
    bad = [t for t in text.split(",") if t not in ("f16", "q8_0")]
    if bad or not text:
        raise argparse.ArgumentTypeError(f"unknown GGUF type(s) {', '.join(bad) or text!r}: use f16, q8_0 or both")
    return text


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("train", help="train a LoRA/QLoRA adapter in a child process (progress, resume, OOM back-off)")
    p.add_argument("--data", help="dataset folder with train.jsonl (and eval.jsonl)")
    p.add_argument("--plan", help="plan.json from `tunepilot plan --out`")
    p.add_argument("--config", help="a resolved config.yaml (as written into a run directory)")
    p.add_argument("--run", required=True, help="run directory (created if missing)")
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--continue", dest="continue_run", metavar="RUN",
                   help="a follow-up of RUN: its data plus its corrections (`tunepilot correct`), starting from its "
                        "adapter, planned with fewer epochs; written to --run")
    p.add_argument("--lang", choices=["en", "zh"], default="en", help="language of what is printed")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("merge", help="merge the run's adapter onto the 16-bit base and check the result")
    p.add_argument("--run", required=True, help="run directory with adapter/")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("export", help="the merged model as GGUF (f16, q8_0) or an Ollama model, read back and checked")
    p.add_argument("--run", required=True, help="run directory (merged first when it is not yet)")
    p.add_argument("--to", choices=["gguf", "ollama"], default="gguf", help="ollama: also a Modelfile (q8_0)")
    p.add_argument("--types", type=_gguf_types, default="f16,q8_0", help="GGUF types, comma-separated")
    p.add_argument("--no-check", action="store_true", help="skip reading the files back")
    p.set_defaults(func=cmd_export)
