"""Process helpers shared by training and deployment."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (ended, not yet reaped) counts as ended."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def world_size() -> int:
    """Processes in this training, across machines (``WORLD_SIZE``, set by torchrun / accelerate launch)."""
    return max(1, _env_int("WORLD_SIZE", 1))


def world_rank() -> int:
    """This process's rank across machines (0: the one that saves the adapter)."""
    return _env_int("RANK", 0)


def local_rank() -> int:
    """This process's rank on its machine (0: the one that speaks for the machine: events, the training slot)."""
    return _env_int("LOCAL_RANK", 0)
