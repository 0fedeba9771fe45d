"""``tunepilot eval``."""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.core.jsonio import print_json
from tools.core.messages import DEFAULT_LANG, lang_of, say
from tools.evaluate.render import render_saved


def cmd_eval(args: argparse.Namespace) -> int:
    from tools.evaluate.before_after import EvalRequest, evaluate_model

    result = evaluate_model(EvalRequest(run_dir=Path(args.run), max_samples=args.max_samples,
                                        max_tokens=args.max_tokens, with_loss=not args.no_loss,
                                        questions=Path(args.questions) if args.questions else None,
                                        against=Path(args.against) if args.against else None,
                                        out_of_scope=Path(args.out_of_scope) if args.out_of_scope else None))
    if args.json:
        print_json(result)
        return 0
    files = f"{result.files['md']}, {result.files['csv']}, {result.files['json']}"
    if lang_of(args.lang) != DEFAULT_LANG:  # the table in the reader's words (table.md is English)
        print(render_saved(Path(result.files["json"]).parent, args.lang) or result.table_md)
    else:
        print(result.table_md)
    print("\n" + say("table.evaluated", args.lang, samples=result.samples, seconds=result.seconds, files=files))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("eval", help="before/after table (learnt, held out, kept) through the deployed server")
    p.add_argument("--run", required=True, help="run directory")
    p.add_argument("--max-samples", type=int, help="at most this many questions in each set (a quick check)")
    p.add_argument("--questions", metavar="FILE",
                   help="your own questions with expected answers (JSONL, CSV or XLSX): the table's 'learnt' set")
    p.add_argument("--against", metavar="RUN_B",
                   help="another run of the same base model: its adapter joins this run's server and the table "
                        "puts this run before it (written to RUN/eval/against-RUN_B/)")
    p.add_argument("--out-of-scope", metavar="FILE",
                   help="questions your documents do not answer, one a line: the table's 'not in your documents' "
                        "row (default: general questions)")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--no-loss", action="store_true", help="skip eval loss / perplexity (saves a model load)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--lang", choices=["en", "zh"], default="en",
                   help="language of the printed table (table.md and table.csv are written in English)")
    p.set_defaults(func=cmd_eval)
