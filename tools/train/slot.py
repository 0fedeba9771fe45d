"""One training at a time per machine: the lock on ``$TUNEPILOT_HOME/train.lock`` and the queue before it."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tools.core.events import Event, EventReader, EventWriter
from tools.core.paths import tunepilot_home
from tools.core.payloads import Queued
from tools.core.procs import pid_alive


@contextlib.contextmanager
def machine_slot(run_dir: Path, events: EventWriter, on_event: Callable[[Event], None] | None,
                 reader: EventReader) -> Iterator[None]:
    """One training at a time per machine: wait for the lock, reporting the queue position.

    The lock is an ``flock`` on ``$TUNEPILOT_HOME/train.lock``, released by the kernel when the
    process ends in any way (even SIGKILL), so a crash never leaves the queue stuck.
    """
    import fcntl

    home = tunepilot_home()
    queue = home / "train-queue"
    queue.mkdir(parents=True, exist_ok=True)
    ticket = queue / f"{time.time():.6f}-{os.getpid()}"
    ticket.write_text(str(run_dir))
    fd = os.open(home / "train.lock", os.O_RDWR | os.O_CREAT, 0o644)
    last_pos = None
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pos = _queue_position(queue, ticket)
                if pos != last_pos:
                    events.emit("train", "info", f"another training is running on this machine; queued at "
                                f"position {pos}", **Queued(queued=pos).fields())
                    last_pos = pos
                    for ev in reader.read_new():
                        if on_event:
                            on_event(ev)
                time.sleep(1.0)
        ticket.unlink(missing_ok=True)
        yield
    finally:
        ticket.unlink(missing_ok=True)
        os.close(fd)  # releases the lock


def _queue_position(queue: Path, ticket: Path) -> int:
    """1 = next in line. Tickets of processes that died are removed."""
    alive = []
    for t in sorted(queue.iterdir()):
        pid = int(t.name.rsplit("-", 1)[-1]) if t.name.rsplit("-", 1)[-1].isdigit() else 0
        if t == ticket or (pid and pid_alive(pid)):
            alive.append(t)
        else:
            t.unlink(missing_ok=True)
    return alive.index(ticket) + 1 if ticket in alive else 1
