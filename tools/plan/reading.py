"""Whether and how the run trains to read: passages a reading example carries, the share holding its own.

A run whose data has passages (the person's documents) answers by reading them (:mod:`tools.data.read`), so training
asks each question with the passages found for it too (RAFT). More passages find the answer more often but make
each example longer: the most that keep a reading example within :data:`READING_MAX_TOKENS` (fewer on a CPU,
where time grows with every token).
"""

from __future__ import annotations

from pydantic import Field

from tools.core.said import SaidList
from tools.plan.kinds import Record
from tools.plan.record import PlanRequest

READING_SHARE = 0.8  # RAFT's P: examples that hold their own passage (the paper's best on most sets: 0.6-0.8)
READING_PER_QUESTION = 2  # reading examples per distinct answer, asked from different angles
READING_MAX_TOKENS = {"cpu": 512, "cuda": 1024}
READING_KS = (3, 2, 1)


class ReadingPlan(Record):
    k: int = 0
    share: float = READING_SHARE
    per_question: int = READING_PER_QUESTION
    tokens: int = Field(default=0, description="p95 tokens of a reading example, the system prompt included")


def plan_reading(req: PlanRequest, device: str, reasons: SaidList) -> ReadingPlan:
    """The reading settings for this data and machine, with why; k=0 when the data has no passages."""
    st = req.tokens
    if st is None or not st.passages or not st.reading_tokens or req.task == "style":
        return ReadingPlan()
    cap = READING_MAX_TOKENS[device]
    system = st.system_tokens or 0
    lengths = {int(k): v + system for k, v in st.reading_tokens.items()}
    k = next((k for k in READING_KS if k in lengths and lengths[k] <= cap), min(lengths))
    plan = ReadingPlan(k=k, tokens=lengths[k])
    reasons.add("read.plan_reason", k=k, share=plan.share, tokens=plan.tokens)
    return plan
