"""``tunepilot data FILE_OR_DIR... --out DIR``: build train/eval JSONL and a report, print a summary."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from tools.core.errors import InputError
from tools.data.schema import ConvertRequest, ConvertResult

MAX_PROBLEMS_SHOWN = 10


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]


def _clip_end(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_summary(result: ConvertResult) -> str:
    width = min(48, max([len("source")] + [len(f.source) for f in result.files]))
    lines = [f"{'source':<{width}}  {'type':<5} {'method':<14} {'found':>6} {'kept':>6} {'dropped':>8} {'errors':>6}"]
    for f in result.files:
        lines.append(
            f"{_clip(f.source, width):<{width}}  {f.type[:5]:<5} {f.method[:14]:<14} {f.records_found:>6} "
            f"{f.records_kept:>6} {sum(f.dropped.values()):>8} {len(f.errors):>6}"
        )
    t = result.tokens
    lines.append("")
    lines.append(f"train {result.train_records} · eval {result.eval_records} records ({result.schema_name}) "
                 f"→ {result.out_dir}")
    lines.append(f"tokens ({t.tokenizer} tokenizer): p50 {t.p50} · p95 {t.p95} · max {t.max}")
    if result.dropped:
        lines.append("dropped: " + ", ".join(f"{k} {v}" for k, v in sorted(result.dropped.items())))
    for f in result.files:
        if f.facts:
            lines.append(f"{Path(f.source).name}: {f.facts} facts → {f.questions} questions, for example:")
            lines += [f"  {s.question} → {_clip_end(s.answer, 90)}" for s in f.samples[:3]]
    problems = result.errors
    if problems:
        lines.append(f"problems ({len(problems)}):")
        for e in problems[:MAX_PROBLEMS_SHOWN]:
            lines.append(f"  {e.where}: {e.message}")
        if len(problems) > MAX_PROBLEMS_SHOWN:
            lines.append(f"  … {len(problems) - MAX_PROBLEMS_SHOWN} more in the report")
    lines.append(f"report: {result.report_path}")
    return "\n".join(lines)


def build_request(args: argparse.Namespace) -> ConvertRequest:
    try:
        return ConvertRequest(
            inputs=[Path(p) for p in args.inputs], out_dir=Path(args.out), schema=args.schema,
            eval_ratio=args.eval_ratio, seed=args.seed, system=args.system, model=args.model,
            max_tokens=args.max_tokens, over_budget=args.over_budget, keep_text=args.keep_text,
            use_llm=args.llm,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err.get("loc", ())) or "request"
        raise InputError(err.get("msg", str(exc)), where=f"--{field.replace('_', '-')}",
                         hint="Fix this option and run again") from exc


def cmd_data(args: argparse.Namespace) -> int:
    from tools.data.convert import convert_documents

    result = convert_documents(build_request(args))
    if args.json:
        sys.stdout.write(json.dumps(result.model_dump(mode="json", by_alias=True), ensure_ascii=False, indent=2)
                         + "\n")
    else:
        sys.stdout.write(format_summary(result) + "\n")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "data",
        help="turn FAQs, documents and datasets into train.jsonl / eval.jsonl with a report",
        description="Reads .pdf .docx .html .md .txt .csv .xlsx .json .jsonl files, folders and .zip archives; "
                    "writes OUT/train.jsonl, OUT/eval.jsonl and OUT/report.json.",
    )
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR", help="files, folders or .zip archives")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--schema", choices=("messages", "alpaca"), default="messages",
                   help="record layout: OpenAI messages (default) or alpaca")
    p.add_argument("--eval-ratio", type=float, default=0.1, help="share held out for evaluation (default 0.1)")
    p.add_argument("--seed", type=int, default=42, help="split seed (default 42)")
    p.add_argument("--system", default=None, metavar="TEXT", help="system message added to every record")
    p.add_argument("--model", default="demo", help="whose tokenizer counts tokens (default: the demo model)")
    p.add_argument("--qa-model", default=None, metavar="base|MODEL",
                   help="a model that writes the questions for each document chunk, served by vLLM for the "
                        "duration: 'base' is --model (the model you will tune); on a GPU a 7B instruct model "
                        "writes good questions. Without it, TUNEPILOT_LLM_* names an LLM server, if set")
    p.add_argument("--max-tokens", type=int, default=1024, help="token budget per record (default 1024)")
    p.add_argument("--over-budget", choices=("split", "drop"), default="split",
                   help="records over the budget: split long answers into parts (default) or drop them")
    p.add_argument("--keep-text", action="store_true", help='keep {"text": ...} pre-training lines')
    llm = p.add_mutually_exclusive_group()
    llm.add_argument("--llm", dest="llm", action="store_true", default=None,
                     help="generate Q/A pairs with the LLM from TUNEPILOT_LLM_* (default: when configured)")
    llm.add_argument("--no-llm", dest="llm", action="store_false", help="never call an LLM")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser(
        "correct",
        help="keep a right answer for a question the model got wrong; `train --continue RUN` trains them",
        description='tunepilot correct --run RUN "question" "the right answer"; --list shows them, --remove ID '
                    "drops one before the next run.",
    )
    p.add_argument("--run", required=True, help="the run whose model answered (its folder or id)")
    p.add_argument("question", nargs="?", help="the question it answered wrong")
    p.add_argument("answer", nargs="?", help="the answer it should give")
    p.add_argument("--wrong", default="", help="what it said (kept beside the correction)")
    p.add_argument("--list", action="store_true", help="list the run's corrections")
    p.add_argument("--remove", metavar="ID", help="remove one correction")
    p.add_argument("--lang", choices=["en", "zh"], default="en", help="language of what is printed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_correct)


def cmd_correct(args: argparse.Namespace) -> int:
    from tools.core.jsonio import print_json
    from tools.core.messages import say
    from tools.core.runs import run_folder
    from tools.data.corrections import add_correction, load_corrections, remove_correction

    run = run_folder(args.run)
    if args.remove:
        gone = remove_correction(run, args.remove)
        print(say("correct.removed", args.lang, question=gone.question))
        return 0
    if not args.list:
        if not args.question or not args.answer:
            raise InputError("a correction needs the question and the right answer", where="tunepilot correct",
                             hint='Write: tunepilot correct --run RUN "question" "the right answer"')
        corr = add_correction(run, args.question, args.answer, wrong=args.wrong)
        if args.json:
            print_json(corr.model_dump())
            return 0
        print(say("correct.added", args.lang, id=corr.id, n=len(load_corrections(run)), run=run.name))
        return 0
    items = load_corrections(run)
    if args.json:
        print_json([c.model_dump() for c in items])
        return 0
    print(say("correct.listed", args.lang, n=len(items), run=run.name))
    for c in items:
        print(f"  {c.id}  {c.question}  →  {c.answer}")
    return 0
