"""Atomic JSON/JSONL writes and readers that name the file and line on failure.

Every JSON file the product owns is written to a temporary file in the same
folder, fsynced and renamed over the target, so a crash never leaves half a
file that looks complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tools.core.errors import InputError, ResourceError


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if exc.errno == 28:  # ENOSPC
            raise ResourceError(
                "no space left on the device", where=str(path), hint="Free some disk space and try again"
            ) from exc
        raise


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def write_json(path: Path, obj: Any, mode: int | None = None) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n", mode=mode)


def write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
    atomic_write_text(path, text)


def read_json(path: Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", where=str(path), hint="Check the path")
    if path.is_dir():
        raise InputError("is a folder, not a JSON file", where=str(path), hint="Pass the .json file inside it")
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InputError("not UTF-8 text", where=str(path), hint="Save the file as UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            f"invalid JSON ({exc.msg})", where=f"{path}:{exc.lineno}:{exc.colno}", hint="Fix the JSON syntax"
        ) from exc


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, object)``; a bad line raises :class:`InputError` naming ``file:line``."""
    path = Path(path)
    with path.open("r", encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"invalid JSON on this line ({exc.msg} at column {exc.colno})",
                    where=f"{path}:{n}",
                    hint="Fix or remove the line",
                ) from exc


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target`` whole.

    A crash or an error leaves the previous ``target`` as it was and no half-written folder
    under its name (the temporary one is removed).
    """
    import shutil

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        for f in tmp.iterdir():
            if f.is_file():
                f.chmod(0o644)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def print_json(obj: Any) -> None:
    """A record or plain value as indented JSON on stdout (the CLI's `--json`)."""
    if hasattr(obj, "model_dump"):
        obj = obj.model_dump(mode="json")
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")
