"""A run's trained adapter as its ``adapter/adapter_config.json`` says: the config and the base model it names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.core.errors import InputError

ADAPTER_CONFIG = "adapter_config.json"


def read_adapter_config(adapter_dir: Path) -> dict[str, Any]:
    """An adapter folder's ``adapter_config.json`` (this run's or another's)."""
    cfg: dict[str, Any] = json.loads((Path(adapter_dir) / ADAPTER_CONFIG).read_text())
    return cfg


def adapter_config(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``adapter/adapter_config.json`` (None: the run has no trained adapter)."""
    folder = Path(run_dir) / "adapter"
    return read_adapter_config(folder) if (folder / ADAPTER_CONFIG).exists() else None


def adapter_base(run_dir: Path) -> str | None:
    """The base model the run's adapter was trained from (None: no trained adapter; a config that names no base
    model is a KeyError)."""
    cfg = adapter_config(run_dir)
    return None if cfg is None else str(cfg["base_model_name_or_path"])


def trained_base(run_dir: Path) -> str:
    """:func:`adapter_base` of a run that must have a trained adapter: an InputError when it has none."""
    base = adapter_base(run_dir)
    if base is None:
        raise InputError(
            "no trained adapter in this run", where=str(Path(run_dir) / "adapter"),
            hint="Train first with `tunepilot train`"
        )
    return base
