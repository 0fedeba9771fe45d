"""``tunepilot deploy`` and ``tunepilot chat``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tools.core.errors import InputError
from tools.core.jsonio import print_json
from tools.core.runs import run_folder


def cmd_deploy(args: argparse.Namespace) -> int:
    if args.nodes:
        return _print_multinode(args)
    if args.status:
        return _print_status(args)
    if args.stop:
        from tools.serve.process import stop_deployment

        stopped = stop_deployment(run_folder(args.stop))
        print("stopped" if stopped else "no running server for this run (its record was cleared)")
        return 0
    if not args.run:
        raise InputError("no run given", hint="Pass --run RUN_DIR (or --status / --stop RUN_DIR)")
    if args.load_adapter or args.unload:
        return _hot_load(args)
    return _deploy(args)


def _print_multinode(args: argparse.Namespace) -> int:
    """``--nodes``: the commands to serve the run's model (or ``--model``) across several machines."""
    from tools.core.adapter import adapter_base
    from tools.serve.multinode import multinode_commands

    model = args.model or "MODEL"
    adapter = None
    if args.run:
        run = Path(args.run).resolve()
        merged = run / "merged"
        if merged.exists():
            model = str(merged)
        elif (base := adapter_base(run)) is not None:
            model, adapter = base, str(run / "adapter")
    cmds = multinode_commands(model, nodes=args.nodes, gpus_per_node=args.gpus_per_node, head_ip=args.head_ip,
                              port=args.port, adapter=adapter)
    for where, cmd in cmds.items():
        print(f"# {where}\n{' '.join(cmd)}\n")
    return 0


def _print_status(args: argparse.Namespace) -> int:
    """``--status``: every deployment (or the run's) and whether it answers."""
    from tools.core.paths import runs_root
    from tools.serve.process import all_deployments

    roots = [Path(args.run).resolve().parent] if args.run else [runs_root()]
    found = [s for root in roots for s in all_deployments(root)]
    if not found:
        print("no deployments")
        return 0
    for s in found:
        models = f" models: {', '.join(s.models)}" if s.models else ""
        print(f"{s.state:<14} {s.base_url:<28} {s.mode:<7} pid {s.pid}  {s.run_dir}{models}")
        if s.state != "running":
            print(f"  {s.message}")
    return 0 if all(s.state == "running" for s in found) else 1


def _hot_load(args: argparse.Namespace) -> int:
    """``--load-adapter NAME=DIR`` / ``--unload NAME`` on the run's running server."""
    from tools.serve.adapters import load_adapter, unload_adapter
    from tools.serve.record import load_deployment

    dep = load_deployment(run_folder(args.run))
    if dep is None:
        raise InputError("this run is not deployed", where=args.run, hint="Deploy it first")
    if args.load_adapter:
        name, _, path = args.load_adapter.partition("=")
        if not path:
            raise InputError("--load-adapter takes NAME=ADAPTER_DIR", hint="e.g. --load-adapter v2=runs/x/adapter")
        load_adapter(dep, name, Path(path).resolve())
        print(f"loaded {name} into {dep.base_url}")
    if args.unload:
        unload_adapter(dep, args.unload)
        print(f"unloaded {args.unload}")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from tools.serve.deploy import DeployRequest, deploy_model

    dep = deploy_model(
        DeployRequest(
            run_dir=run_folder(args.run), mode=args.mode, host=args.host, port=args.port, api_key=args.api_key,
            max_model_len=args.max_model_len, canary=not args.no_canary,
        )
    )
    for r in dep.reasons:
        print(f"- {r}")
    print(f"serving {', '.join(dep.models.values())} at {dep.base_url}  (pid {dep.pid}, log {dep.log})")
    if dep.api_key and not args.api_key:
        print(f"API key (also in {Path(dep.run_dir) / 'serve.json'}, mode 0600): {dep.api_key}")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from tools.serve.chat import stream_chat
    from tools.serve.record import load_deployment

    dep = load_deployment(Path(args.run).resolve())
    if dep is None:
        raise InputError("this run is not deployed", where=args.run, hint="Run `tunepilot deploy --run RUN_DIR` first")
    run_dir = Path(args.run).resolve()
    from tools.data.read.passages import load_passages
    from tools.train.record import run_settings

    settings = run_settings(run_dir)
    if settings is not None and load_passages(Path(settings.data_dir)) and not args.closed_book:
        return _chat_reading(dep, run_dir, args)  # a run with documents answers by reading them
    messages = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.message})
    said = ""
    for piece in stream_chat(dep, args.model, messages, max_tokens=args.max_tokens):
        said += piece
        sys.stdout.write(piece)
        sys.stdout.flush()
    if not said.strip():
        from tools.core.messages import say
        from tools.data.paraphrase import is_chinese

        sys.stdout.write(say("answer.empty", "zh" if is_chinese(args.message) else "en"))
    sys.stdout.write("\n")
    return 0


def _chat_reading(dep: Any, run_dir: Path, args: argparse.Namespace) -> int:
    """The question with the passages found for it, the answer checked against them, and its sources."""
    from tools.data.read.answer import sources_line
    from tools.serve.ask import answer_deployed

    answer = answer_deployed(dep, run_dir, args.model, args.message, system=args.system, max_tokens=args.max_tokens)
    sys.stdout.write(answer.answer + "\n")
    line = sources_line(answer, "zh" if any("\u4e00" <= c <= "\u9fff" for c in args.message) else "en")
    if line:
        sys.stdout.write(line + "\n")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from tools.serve.ask import AskRequest, ask_questions

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
    p = sub.add_parser("deploy", help="serve a run with vLLM (LoRA or merged), show status, stop")
    p.add_argument("--run", help="run directory to deploy")
    p.add_argument("--mode", choices=["auto", "lora", "merged", "pair"], default="auto",
                   help="lora: base + adapter on one server; merged: the merged model; pair: base and merged on two "
                   "servers (side by side on a CPU); auto: lora on a GPU, merged on a CPU")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (beyond loopback needs an API key)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", help="require this key (generated when binding beyond loopback)")
    p.add_argument("--max-model-len", type=int)
    p.add_argument("--no-canary", action="store_true", help="skip the base-vs-adapter check")
    p.add_argument("--status", action="store_true", help="list deployments and check that they answer")
    p.add_argument("--stop", metavar="RUN_DIR", help="stop the run's server and free its port")
    p.add_argument("--load-adapter", metavar="NAME=DIR", help="hot-load another adapter into the running server")
    p.add_argument("--unload", metavar="NAME", help="unload a hot-loaded adapter")
    p.add_argument("--nodes", type=int, help="print the commands to serve across this many machines (Ray)")
    p.add_argument("--gpus-per-node", type=int, default=8)
    p.add_argument("--head-ip", default="HEAD_IP")
    p.add_argument("--model", help="model for --nodes when no run is given")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("chat", help="ask a deployed model (streams the answer)")
    p.add_argument("--run", required=True)
    p.add_argument("--model", default="tuned", help="base | tuned | a hot-loaded adapter name")
    p.add_argument("--system")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--closed-book", action="store_true",
                   help="ask without your documents (a run with documents reads them by default)")
    p.add_argument("message")
    p.set_defaults(func=cmd_chat)

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
