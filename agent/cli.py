"""``tunepilot run "GOAL" FILES... [--yes]`` and ``tunepilot agent`` (a terminal conversation)."""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.session import Turn


def _print_turn(turn: Turn) -> None:
    for r in turn.replies:
        print(r)
        print()


def cmd_run(args: argparse.Namespace) -> int:
    from agent.session import AgentSession
    from agent.state import Overrides
    from tools.core.errors import InputError

    for f in args.files:
        if not Path(f).exists():
            raise InputError("file not found", where=f, hint="Check the path")
    session = AgentSession(thread_id=args.thread or f"run-{secrets.token_hex(4)}", auto_approve=args.yes)
    quick = Overrides(max_steps=args.max_steps or None, eval_samples=args.eval_samples or None)
    turn = session.send(args.goal, files=args.files, overrides=quick)
    _print_turn(turn)
    while turn.pending is not None:
        if not sys.stdin.isatty():
            print("(waiting for confirmation: re-run with --yes, or use `tunepilot agent --thread "
                  f"{session.thread_id}`)")
            return 3
        answer = input("> ")
        turn = session.send(answer)
        _print_turn(turn)
    # training runs in its own process: follow it, then continue the journey
    while turn.state is not None and turn.state.stage == "train" and turn.state.journey:
        time.sleep(args.poll)
        turn = session.send("status")
        if turn.state is not None and turn.state.outcome == "train_running":
            for r in turn.replies:
                print(r)
            continue
        _print_turn(turn)
        while turn.pending is not None and sys.stdin.isatty():
            turn = session.send(input("> "))
            _print_turn(turn)
        break
    outcome = turn.state.outcome if turn.state is not None else None
    return 0 if outcome not in ("error", "refused") else 1


def cmd_agent(args: argparse.Namespace) -> int:
    from agent.session import AgentSession

    session = AgentSession(thread_id=args.thread, auto_approve=False)
    for role, text in session.history()[-6:]:
        print(f"{'you' if role == 'user' else 'tunepilot'}: {text}\n")
    pending = session.pending()
    if pending is not None:
        print(pending.question)
    print("(type a message; attach files with `@path`; Ctrl-D to leave)")
    while True:
        try:
            line = input("> ").strip()
        except EOFError:
            print()
            return 0
        if not line:
            continue
        words = line.split()
        files = [w[1:] for w in words if w.startswith("@")]
        text = " ".join(w for w in words if not w.startswith("@"))
        _print_turn(session.send(text or "convert", files=files))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="drive the whole journey from a goal in words and files (no page)")
    p.add_argument("goal", help='e.g. "用我们的客服 FAQ 微调一个小模型，回答要简短"')
    p.add_argument("files", nargs="*", help="FAQs, documents, datasets")
    p.add_argument("--yes", action="store_true", help="approve the confirmations (plan, deploy)")
    p.add_argument("--thread", help="conversation id (to continue it later)")
    p.add_argument("--max-steps", type=int, help="cap training at this many optimizer steps (a quick trial)")
    p.add_argument("--eval-samples", type=int,
                   help="at most this many questions in each set of the before/after table (a quick trial)")
    p.add_argument("--poll", type=float, default=5.0, help="seconds between progress reports while training")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("agent", help="talk to the agent in the terminal")
    p.add_argument("--thread", default="terminal", help="conversation id (continues across restarts)")
    p.set_defaults(func=cmd_agent)
