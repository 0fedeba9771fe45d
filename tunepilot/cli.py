"""The ``tunepilot`` command.

Each verb lives beside the tool it drives: a module listed in :func:`_verb_modules`
exposes ``register(subparsers)`` that adds its sub-parser and sets
``func=<callable(args) -> int>``. Errors the user can fix (:class:`TunepilotError`)
print one sentence and exit non-zero; a traceback only with ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools.core.errors import TunepilotError
from tools.core.jsonio import print_json

log = logging.getLogger(__name__)


def _verb_modules() -> tuple[Any, ...]:
    """The modules that add verbs, in the order of the help: this one (doctor, models, runs), then the stages
    of the journey, then the agent and the page above them."""
    from agent import cli as agent_cli
    from tools.data import cli as data_cli
    from tools.evaluate import cli as evaluate_cli
    from tools.plan import cli as plan_cli
    from tools.serve import cli as serve_cli
    from tools.train import cli as train_cli
    from ui import cli as ui_cli

    return (sys.modules[__name__], data_cli, plan_cli, train_cli, serve_cli, evaluate_cli, agent_cli, ui_cli)


QUIET_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ORT_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}


# --- doctor -----------------------------------------------------------------


def _fmt_gib(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB"


def cmd_doctor(args: argparse.Namespace) -> int:
    from tools.plan.hardware import detect_hardware

    facts = detect_hardware()
    if args.json:
        print_json(facts)
        return 0
    lines = []
    if facts.gpus:
        for g in facts.gpus:
            lines.append(
                f"GPU {g.index}: {g.name}, {_fmt_gib(g.free_memory_bytes)} free of {_fmt_gib(g.total_memory_bytes)}, "
                f"compute {g.compute_capability[0]}.{g.compute_capability[1]}, "
                f"bf16 {'yes' if g.bf16 else 'no'}  [{g.source}]"
            )
    else:
        lines.append(f"GPU: none  [{facts.gpu_source}]")
    c = facts.cpu
    flags = ", ".join(n for n, on in (("AVX-512", c.avx512), ("AVX512-BF16", c.avx512_bf16), ("AMX", c.amx)) if on)
    lines.append(f"CPU: {c.model}, {c.logical_cores} usable cores, flags: {flags or 'none of AVX-512/AMX'}  [{c.source}]")
    lines.append(f"RAM: {_fmt_gib(c.ram_available_bytes)} available of {_fmt_gib(c.ram_total_bytes)}")
    if facts.disk:
        lines.append(f"Disk: {_fmt_gib(facts.disk.free_bytes)} free under {facts.disk.path}")
    for name, ver in facts.versions.items():
        lines.append(f"  {name:<13} {ver or 'not installed'}")
    print("\n".join(lines))
    return 0


# --- models -----------------------------------------------------------------


def cmd_models(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tools.core.models import (
        conversion_notes,
        prepare_demo_model,
        prepare_gemma_model,
        prepare_tiny_model,
        resolve_model,
    )

    t0 = time.perf_counter()
    prepare = {"demo": prepare_demo_model, "tiny": prepare_tiny_model, "gemma": prepare_gemma_model}
    if args.which in prepare:
        path: Any = prepare[args.which](force=args.force)
    else:
        path = resolve_model(args.which)
    log.info("ready in %.1f s", time.perf_counter() - t0)
    print(path)
    if isinstance(path, Path):
        for note in conversion_notes(path):
            print(f"  - {note.text(args.lang)}")
    return 0


# --- runs -------------------------------------------------------------------


def cmd_runs(args: argparse.Namespace) -> int:
    from tools.core.runs import RunIndex

    index = RunIndex()
    if args.delete:
        index.delete(args.delete)
        print(f"deleted run {args.delete}")
        return 0
    runs = index.list()
    if args.json:
        print_json([r.model_dump() for r in runs])
        return 0
    if not runs:
        print(f"no runs yet under {index.root}")
        return 0
    for r in runs:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created))
        print(f"{r.id:<26} {created}  {r.stage:<7} {r.state:<11} {r.goal[:60]}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("doctor", help="what this machine has: GPUs, CPU, RAM, disk, library versions")
    p.add_argument("--json", action="store_true", help="print the facts as JSON (usable by `plan --hardware`)")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("models", help="prepare a model: 'demo' (SmolLM2-135M-Instruct), 'gemma' (Gemma 3 270M), "
                       "'tiny', a .gguf file, or a name")
    p.add_argument("which", help="demo | gemma | tiny | a .gguf file or a folder holding one | a local folder | "
                   "a Hugging Face id")
    p.add_argument("--force", action="store_true", help="convert again even if ready")
    p.add_argument("--lang", choices=["en", "zh"], default="en", help="language of what the conversion says")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("runs", help="list runs (from runs/index.sqlite)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--delete", metavar="RUN_ID", help="delete a run and its directory")
    p.set_defaults(func=cmd_runs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunepilot",
        description="Chat-driven fine-tuning: documents → dataset → LoRA/QLoRA plan → train → merge → vLLM → eval.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for module in _verb_modules():
        module.register(sub)
    return parser


def _with_question_writer(args: argparse.Namespace) -> int:
    """``tunepilot data --qa-model``: the named model (``base``: the one being tuned) behind vLLM while the
    conversion runs, as the LLM that writes questions per chunk; stopped afterwards."""
    import tempfile

    from tools.serve.process import QA_NAME, question_server

    model = args.model if args.qa_model == "base" else args.qa_model
    log = Path(tempfile.gettempdir()) / f"tunepilot-qa-{os.getpid()}.log"
    sys.stderr.write(f"starting {model} behind vLLM to write questions (log: {log})\n")
    keys = ("TUNEPILOT_LLM_BASE_URL", "TUNEPILOT_LLM_API_KEY", "TUNEPILOT_LLM_MODEL")
    saved = {k: os.environ.get(k) for k in keys}
    with question_server(model, log) as url:
        os.environ.update({"TUNEPILOT_LLM_BASE_URL": url, "TUNEPILOT_LLM_API_KEY": "EMPTY",
                           "TUNEPILOT_LLM_MODEL": QA_NAME})
        args.llm = True
        try:
            return int(args.func(args) or 0)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def main(argv: Sequence[str] | None = None) -> int:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(message)s" if not args.debug else "%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.debug:
        for noisy in ("httpx", "httpx2", "openai", "transformers", "urllib3", "datasets", "filelock", "accelerate"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        if getattr(args, "qa_model", None):
            return _with_question_writer(args)
        return int(args.func(args) or 0)
    except TunepilotError as err:
        if args.debug:
            raise
        sys.stderr.write(f"error: {err}\n")
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: one sentence, no traceback
        if args.debug:
            raise
        sys.stderr.write(
            f"error: unexpected {type(exc).__name__}: {exc}. Run again with --debug for the details "
            "and report it.\n"
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
