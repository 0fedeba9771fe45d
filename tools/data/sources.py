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

from tools.data.document import FileLog

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
            raise ValueError(f"the file is {size / 1024**2:.0f} MiB, over the {MAX_FILE_BYTES // 1024**2} MiB "
                             "limit; split it into smaller files")
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
            flog_for(name).error("no such file or folder; check the path")
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
                flog_for(name).error("the folder holds no files to read; add documents or datasets to it")
            continue
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        out.append(Source(name, path.suffix.lower(), _file_loader(path)))
    return out


def _unsafe(name: str) -> str | None:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        return "a path that climbs out of the archive (..)"
    return None


def zip_sources(data: bytes, zip_name: str, flog: FileLog) -> list[Source]:
    """Members of a zip archive as sources (read lazily from memory, with limits)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        flog.error(f"not a valid zip archive ({exc}); re-create the archive")
        return []
    files = [i for i in infos if not i.is_dir()]
    if len(files) > MAX_ZIP_MEMBERS:
        flog.error(f"the archive holds {len(files)} files, over the limit of {MAX_ZIP_MEMBERS}; "
                   "split it into smaller archives")
        return []
    declared = sum(i.file_size for i in files)
    if declared > MAX_ZIP_TOTAL_BYTES:
        flog.error(f"the archive unpacks to {declared / 1024**3:.1f} GiB, over the "
                   f"{MAX_ZIP_TOTAL_BYTES // 1024**3} GiB limit; split it into smaller archives")
        return []
    budget = {"left": MAX_ZIP_TOTAL_BYTES}
    out: list[Source] = []
    for info in sorted(files, key=lambda i: i.filename):
        name = info.filename
        where = f"{zip_name}!{name}"
        why = _unsafe(name)
        if why:
            flog.error(f"member {name!r} has {why}; it was skipped")
            continue
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if any(p.startswith(".") or p in SKIP_NAMES for p in parts):
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            flog.error(f"member {name!r} is a symbolic link; it was skipped")
            continue
        if info.flag_bits & 0x1:
            flog.error(f"member {name!r} is password-protected; it was skipped")
            continue
        if info.file_size > 1024**2 and info.file_size > MAX_ZIP_RATIO * max(1, info.compress_size):
            flog.error(f"member {name!r} expands {info.file_size // max(1, info.compress_size)}-fold, which "
                       "looks like a zip bomb; it was skipped")
            continue
        suffix = PurePosixPath(name).suffix.lower()
        if suffix == ".zip":
            flog.error(f"member {name!r} is an archive inside the archive; unzip it and give its contents")
            continue

        def load(info: zipfile.ZipInfo = info) -> bytes:
            limit = min(MAX_FILE_BYTES, budget["left"])
            with zf.open(info) as fh:
                buf = fh.read(limit + 1)
            if len(buf) > limit:
                raise ValueError("the member unpacks to more than the size limit (zip bomb?); it was skipped")
            budget["left"] -= len(buf)
            return buf

        out.append(Source(where, suffix, load))
    if not out and not flog.errors:
        flog.error("the archive holds no files to read")
    return out
