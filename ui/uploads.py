"""Files sent with a chat message: safe names, the count and size limits, copied into the conversation's folder."""

from __future__ import annotations

import logging
import re
import shutil
import unicodedata
from pathlib import Path

from tools.core.messages import say

log = logging.getLogger(__name__)

MAX_FILES = 20
MAX_FILE_MB = 200
MAX_NAME = 150


def sanitize_name(name: str) -> str:
    """A safe file name: no folders, no traversal, no control characters, no invisible direction marks
    (a right-to-left override can make ``evil\u202etxt.exe`` read as ``evilexe.txt``); keeps Chinese;
    a long name is cut in its stem, so it keeps its extension."""
    base = unicodedata.normalize("NFKC", Path(str(name).replace("\\", "/")).name)
    base = "".join(c for c in base if unicodedata.category(c) != "Cf")
    base = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|]", "_", base).strip(" .")
    if len(base) > MAX_NAME:
        stem, dot, ext = base.rpartition(".")
        keep = f".{ext}" if dot and stem and 0 < len(ext) <= 10 else ""
        base = base[: MAX_NAME - len(keep)].rstrip(" .") + keep
    return base or "upload"


def _discard_upload(src: Path) -> None:
    """Remove Gradio's temporary copy of an upload once it is stored or refused (files elsewhere stay)."""
    from gradio.utils import get_upload_folder

    try:
        temp = Path(get_upload_folder()).resolve()
        path = src.resolve()
        if temp in path.parents:
            path.unlink(missing_ok=True)
            if path.parent != temp and not any(path.parent.iterdir()):
                path.parent.rmdir()
    except OSError:
        log.warning("could not remove the upload's temporary copy %s", src)


def store_uploads(paths: list[str], dest: Path, lang: str) -> tuple[list[str], list[str]]:
    """Copy uploads into ``dest`` with sanitised, non-clobbering names. Returns (stored, problems)."""
    problems: list[str] = []
    if len(paths) > MAX_FILES:
        for p in paths:
            _discard_upload(Path(p))
        return [], [say("page.too_many_files", lang, n=len(paths), limit=MAX_FILES)]
    dest.mkdir(parents=True, exist_ok=True)
    stored = []
    for p in paths:
        src = Path(p)
        size_mb = src.stat().st_size / 1e6
        name = sanitize_name(getattr(p, "orig_name", None) or src.name)
        if size_mb > MAX_FILE_MB:
            problems.append(say("page.file_too_big", lang, name=name, mb=size_mb, limit=MAX_FILE_MB))
            _discard_upload(src)
            continue
        target = dest / name
        stem, suffix, n = target.stem, target.suffix, 1
        while target.exists():
            target = dest / f"{stem}-{n}{suffix}"
            n += 1
        shutil.copyfile(src, target)
        stored.append(str(target))
        _discard_upload(src)
    return stored, problems
