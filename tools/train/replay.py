"""The replay: general questions answered by the base model itself, trained beside the person's data."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tools.core.events import EventWriter
from tools.core.jsonio import iter_jsonl, write_jsonl
from tools.core.procs import local_rank
from tools.data.replay import MAX_NEW_TOKENS, replay_examples, replay_prompts
from tools.train.generate import generate_greedy
from tools.train.record import TrainSettings

REPLAY_WAIT_S = 1800  # how long another process of the machine waits for the first one's replayed answers


def replayed_examples(model: Any, tok: Any, settings: TrainSettings, run_dir: Path, events: EventWriter
            ) -> list[dict[str, Any]]:
    """General questions answered by the base model itself, to train beside the person's data
    (``tools/data/replay.py``), each ``replay_repeat`` times. Kept in the run's ``replay.jsonl``: a resumed
    run trains on the same examples, and in a training of several processes the machine's first one answers
    while the others wait for its file (every process must train on the same examples)."""
    saved = run_dir / "replay.jsonl"
    waited = 0.0
    while local_rank() > 0 and not saved.exists() and waited < REPLAY_WAIT_S:
        time.sleep(1.0)
        waited += 1.0
    if saved.exists():
        return [row for _, row in iter_jsonl(saved)] * settings.replay_repeat
    t0 = time.time()
    rows = replay_prompts(settings.replay, settings.system_prompt)
    answers = generate_greedy(model, tok, [r["prompt"] for r in rows], max_new_tokens=MAX_NEW_TOKENS, batch=24)
    cut = [len(tok(a, add_special_tokens=False)["input_ids"]) >= MAX_NEW_TOKENS - 2 for a in answers]
    extra = replay_examples(rows, answers, cut)
    events.emit("train", "info", f"{len(extra)} general questions answered by the base model itself added, so "
                "that other questions keep their answers", replay=len(extra), asked=len(rows),
                repeat=settings.replay_repeat, seconds=round(time.time() - t0, 1))
    write_jsonl(saved, extra)
    return extra * settings.replay_repeat
