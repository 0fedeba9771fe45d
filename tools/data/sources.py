"""Inputs → a flat, ordered list of files to read: files, folders (recursive, sorted) and zip archives.

Zip members are read into memory, never extracted, so a member name cannot write anywhere. Unsafe
names (absolute, ``..``), links, encrypted members, nested archives and zip bombs (too many members,
too large, or compressed far more than any document) are refused and reported.
"""

from __future__ import annotations

import io
import logging
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tools.data.document import FileLog, Problem

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 512 * 1024**2
MAX_ZIP_MEMBERS = 10_000
MAX_ZIP_TOTAL_BYTES = 1024**3
MAX_ZIP_RATIO = 200
SKIP_NAMES = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass
class Source:
    name: str  # shown in the report and in each record's meta
    suffix: str
    load: Callable[[], bytes]


def _file_loader(path: Path) -> Callable[[], bytes]:
    def load() -> bytes:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise Problem("data.file_too_big", mib=round(size / 1024**2), limit=MAX_FILE_BYTES // 1024**2)
        return path.read_bytes()

    return load


def expand_inputs(inputs: list[Path], exclude: Path | None, flog_for: Callable[[str], FileLog]) -> list[Source]:
    """Files in the order given; folder contents sorted by path; hidden files and ``exclude`` skipped."""
    out: list[Source] = []
    seen: set[Path] = set()
    excl = exclude.resolve() if exclude else None
    for raw in inputs:
        path = Path(raw).expanduser()
        name = str(raw)
        if not path.exists():
            flog_for(name).error("data.no_such_path")
            continue
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            kept = 0
            for f in files:
                rel = f.relative_to(path)
                if any(part.startswith(".") or part in SKIP_NAMES for part in rel.parts):
                    continue
                if excl and (f.resolve() == excl or excl in f.resolve().parents):
                    continue
                if f.resolve() in seen:
                    continue
                seen.add(f.resolve())
                member = str(PurePosixPath(name.rstrip("/")) / rel.as_posix())
                out.append(Source(member, f.suffix.lower(), _file_loader(f)))
                kept += 1
            if kept == 0:
                flog_for(name).error("data.empty_folder")
            continue
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        out.append(Source(name, path.suffix.lower(), _file_loader(path)))
    return out


def _unsafe(name: str) -> str | None:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "data.member_absolute"
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        return "data.member_climbs"
    return None


def zip_sources(data: bytes, zip_name: str, flog: FileLog) -> list[Source]:
    """Members of a zip archive as sources (read lazily from memory, with limits)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        flog.error("data.zip_invalid", detail=str(exc))
        return []
    files = [i for i in infos if not i.is_dir()]
    if len(files) > MAX_ZIP_MEMBERS:
        flog.error("data.zip_too_many", n=len(files), limit=MAX_ZIP_MEMBERS)
        return []
    declared = sum(i.file_size for i in files)
    if declared > MAX_ZIP_TOTAL_BYTES:
        flog.error("data.zip_too_big", gib=f"{declared / 1024**3:.1f}", limit=MAX_ZIP_TOTAL_BYTES // 1024**3)
        return []
    budget = {"left": MAX_ZIP_TOTAL_BYTES}
    out: list[Source] = []
    for info in sorted(files, key=lambda i: i.filename):
        name = info.filename
        where = f"{zip_name}!{name}"
        why = _unsafe(name)
        if why:
            flog.error(why, name=name)
            continue
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if any(p.startswith(".") or p in SKIP_NAMES for p in parts):
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            flog.error("data.member_symlink", name=name)
            continue
        if info.flag_bits & 0x1:
            flog.error("data.member_password", name=name)
            continue
        if info.file_size > 1024**2 and info.file_size > MAX_ZIP_RATIO * max(1, info.compress_size):
            flog.error("data.member_bomb", name=name, ratio=info.file_size // max(1, info.compress_size))
            continue
        suffix = PurePosixPath(name).suffix.lower()
        if suffix == ".zip":
            flog.error("data.member_archive", name=name)
            continue

        def load(info: zipfile.ZipInfo = info) -> bytes:
            limit = min(MAX_FILE_BYTES, budget["left"])
            with zf.open(info) as fh:
                buf = fh.read(limit + 1)
            if len(buf) > limit:
                raise Problem("data.member_too_big")
            budget["left"] -= len(buf)
            return buf

        out.append(Source(where, suffix, load))
    if not out and not flog.errors:
        flog.error("data.zip_empty")
    return out
