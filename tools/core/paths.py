"""Where tunepilot keeps things: ``$TUNEPILOT_HOME`` (models) and the runs root."""

from __future__ import annotations

import os
from pathlib import Path

# The checkout (or installed tree) that holds agent/, tools/, ui/ and prompts/.
REPO_ROOT = Path(__file__).resolve().parents[2]


def tunepilot_home() -> Path:
    """Cache for converted models and other shared state (default ``~/.cache/tunepilot``)."""
    return Path(os.environ.get("TUNEPILOT_HOME") or Path.home() / ".cache" / "tunepilot").expanduser()


def runs_root() -> Path:
    """Root of all run directories (default ``./runs``; ``$TUNEPILOT_RUNS`` overrides)."""
    return Path(os.environ.get("TUNEPILOT_RUNS") or "runs").expanduser().resolve()
