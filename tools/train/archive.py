"""The trained adapter on disk: ``adapter/`` written atomically and ``adapter.zip`` beside it for download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.core.jsonio import atomic_dir


def save_adapter(trainer: Any, tok: Any, out: Path) -> None:
    """Save adapter + tokenizer (with the chat template used in training) atomically."""
    with atomic_dir(out) as tmp:
        trainer.model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))


ADAPTER_ZIP = "adapter.zip"


def archive_adapter(run_dir: Path) -> Path:
    """``adapter.zip`` beside ``adapter/`` (the page's download): the adapter folder's files under
    ``adapter/``, written to a temporary name first so a download never gets half an archive."""
    import zipfile

    src, out = run_dir / "adapter", run_dir / ADAPTER_ZIP
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(p for p in src.rglob("*") if p.is_file()):
            zf.write(f, Path("adapter") / f.relative_to(src))
    tmp.replace(out)
    return out
