"""Errors a person can read: what was wrong, where, and what to do.

Every tool raises :class:`TunepilotError` (or a subclass) for problems caused by
input or environment. The CLI prints ``str(err)`` as one sentence and exits
non-zero; the agent turns it into a chat reply. Anything else is a bug and is
shown with a traceback only under ``--debug``.
"""

from __future__ import annotations


class TunepilotError(Exception):
    """A problem the user can fix. ``where`` names the file/line/field, ``hint`` what to do."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text = text.rstrip(".") + f". {self.hint}"
        return text


class InputError(TunepilotError):
    """Bad file, bad field, bad value."""


class ModelNotFoundError(TunepilotError):
    """A model name that resolves to nothing."""


class ResourceError(TunepilotError):
    """Not enough disk, memory or a missing device."""

    exit_code = 3
