"""``tunepilot ui``: the page on 127.0.0.1:7860 (no share link; beyond loopback only with --auth)."""

from __future__ import annotations

import argparse
import os
import sys

from tools.core.errors import InputError

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def parse_auth(value: str | None) -> tuple[str, str] | None:
    value = value or os.environ.get("TUNEPILOT_AUTH")
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise InputError("--auth takes user:password", hint="e.g. --auth alice:s3cret, or set TUNEPILOT_AUTH")
    return user, password


def cmd_ui(args: argparse.Namespace) -> int:
    auth = parse_auth(args.auth)
    if args.auth:
        print("tunepilot: --auth puts the password in this process's command line (/proc/<pid>/cmdline), where "
              "anyone on this machine can read it; set TUNEPILOT_AUTH=user:password instead\n"
              "tunepilot：--auth 会把密码留在进程命令行（/proc/<pid>/cmdline）里，本机任何用户都能看到；"
              "请改用环境变量 TUNEPILOT_AUTH=用户名:密码", file=sys.stderr)
    if args.host not in LOOPBACK and auth is None:
        raise InputError(
            f"refusing to listen on {args.host} without a password",
            hint="Add --auth user:password (or set TUNEPILOT_AUTH), or keep the default 127.0.0.1",
        )
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from ui.app import launch

    print(f"tunepilot: open http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}")
    launch(host=args.host, port=args.port, auth=auth)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ui", help="open the web page (chat, run panel, model chat)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", 7860)))
    p.add_argument("--auth", help="user:password (required beyond loopback). Prefer the TUNEPILOT_AUTH "
                   "environment variable: a password on the command line is visible in the process list")
    p.set_defaults(func=cmd_ui)
