"""``tunepilot ask``: a file of questions answered by a run's model in-process, with documents or closed-book."""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.core.jsonio import print_json


def cmd_ask(args: argparse.Namespace) -> int:
    from tools.read.ask import AskRequest, ask_questions

    result = ask_questions(AskRequest(run_dir=Path(args.run), questions=Path(args.questions), out=Path(args.out),
                                      closed_book=args.closed_book, base=args.base, k=args.k,
                                      max_new_tokens=args.max_tokens, lang=args.lang))
    if args.json:
        print_json(result)
        return 0
    for a in result.answers:
        print(f"Q: {a.question}\nA: {a.answer}")
        if a.sources:
            print("   [" + "; ".join(f"{s.id} {s.where}" for s in a.sources) + "]")
    print(result.summary(args.lang))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ask", help="answer a file of questions with a run's merged model, in this process, each "
                       "answer with the passages of your documents it read")
    p.add_argument("--run", required=True, help="run directory (merged with `tunepilot merge`)")
    p.add_argument("--questions", required=True, metavar="FILE",
                   help="one question a line, or JSON lines with a \"question\" field")
    p.add_argument("--out", required=True, metavar="FILE", help="answers as JSON lines (answer, sources, guard)")
    p.add_argument("--closed-book", action="store_true", help="ask without the documents")
    p.add_argument("--base", action="store_true", help="the base model instead of the tuned one")
    p.add_argument("--k", type=int, help="passages a question (default: the run's plan)")
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--json", action="store_true")
    p.add_argument("--lang", choices=["en", "zh"], default="en", help="language of the summary")
    p.set_defaults(func=cmd_ask)
