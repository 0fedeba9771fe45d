"""Heavy work in a child process, so torch never loads into the page's or the agent's process.

``run_in_child("tools.train.merge:merge_here", request, MergeResult)`` runs the named function on the request
in ``python -m tools.core.child`` and returns its result. An error a person can fix (:class:`TunepilotError`)
raised in the child is raised again here with its class, message, place and hint; a child that dies says so,
with the last lines it printed. Its logs go to the caller's stderr, as if the work ran here.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import traceback
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from tools.core import errors
from tools.core.errors import TunepilotError
from tools.core.paths import REPO_ROOT

T = TypeVar("T", bound=BaseModel)


def _function(target: str) -> Callable[[Any], BaseModel]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def run_in_child(target: str, request: BaseModel, result_type: type[T], *, what: str = "") -> T:
    """The result of ``target(request)`` computed in a fresh Python process."""
    with tempfile.TemporaryDirectory(prefix="tunepilot-child-") as tmp:
        req_file, out_file = Path(tmp) / "request.json", Path(tmp) / "result.json"
        req_file.write_text(request.model_dump_json(), encoding="utf-8")
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        proc = subprocess.run([sys.executable, "-m", "tools.core.child", target, str(req_file), str(out_file)],
                              stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
        tail = "\n".join(proc.stderr.decode("utf-8", "replace").strip().splitlines()[-5:])
        if proc.stderr:
            sys.stderr.write(proc.stderr.decode("utf-8", "replace"))
        try:
            answer = json.loads(out_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise TunepilotError(
                f"the {what or target} process ended without a result (exit code {proc.returncode})"
                + (f": {tail}" if tail else ""),
                hint="Check free memory and disk, then try again") from None
    if "error" in answer:
        err = answer["error"]
        cls = getattr(errors, str(err.get("kind")), None)
        if isinstance(cls, type) and issubclass(cls, TunepilotError):
            raise cls(err["message"], where=err.get("where"), hint=err.get("hint"))
        raise TunepilotError(f"the {what or target} process failed: {err['message']}",
                             hint="Run again with --debug for the details and report it")
    return result_type.model_validate(answer["result"])


def main(argv: list[str]) -> int:
    target, req_file, out_file = argv
    func = _function(target)
    request_type = next(iter(typing.get_type_hints(func).values()))
    try:
        request = request_type.model_validate_json(Path(req_file).read_text(encoding="utf-8"))
        answer: dict[str, Any] = {"result": func(request).model_dump(mode="json")}
    except TunepilotError as exc:
        answer = {"error": {"kind": type(exc).__name__, "message": exc.message, "where": exc.where, "hint": exc.hint}}
    except Exception as exc:  # noqa: BLE001 - said to the parent in one sentence; the traceback goes to stderr
        traceback.print_exc()
        answer = {"error": {"kind": "unexpected", "message": f"{type(exc).__name__}: {exc}"}}
    Path(out_file).write_text(json.dumps(answer, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
