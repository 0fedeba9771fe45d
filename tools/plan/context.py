"""What every decision of one plan reads, and the reasons and warnings the decisions add."""

from __future__ import annotations

from typing import Literal

from tools.core.said import SaidList, as_written
from tools.plan.kinds import Method
from tools.plan.record import PlanRequest
from tools.plan.schedule import KNOWLEDGE_MAX_QUESTIONS, training_task


class PlanContext:
    """What every decision of one plan reads, and the reasons and warnings they add (English and Chinese)."""

    def __init__(self, req: PlanRequest) -> None:
        self.req, self.facts, self.hw, self.ov, self.st = req, req.model, req.hardware, req.overrides, req.tokens
        self.reasons, self.warnings = SaidList(), SaidList()
        notes = self.facts.said_notes
        self.warnings.extend(notes if len(notes) == len(self.facts.notes) else
                             [as_written(n) for n in self.facts.notes])
        self.want: Method | None = self.ov.method or (None if req.method == "auto" else req.method)
        self.device: Literal["cuda", "cpu"] = "cuda" if self.hw.gpus else "cpu"
        self.machines = req.machines
        self.n_gpus = len(self.hw.gpus) * req.machines  # every GPU of every machine: one process each
        self.procs = self.n_gpus if self.device == "cuda" else req.machines
        self.count = self.st.count if self.st else None
        self.small_knowledge = (training_task(req)[0] == "knowledge" and self.count is not None
                                and self.count <= KNOWLEDGE_MAX_QUESTIONS)
