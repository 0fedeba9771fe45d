"""How long training takes on a CPU: this machine's measured speed, else the reference figure scaled."""

from __future__ import annotations

import math

from tools.core.messages import said
from tools.plan.context import PlanContext
from tools.plan.hardware import HardwareFacts
from tools.plan.memory import MemorySettings
from tools.plan.model_facts import ModelFacts, human_params
from tools.plan.record import CpuEstimate
from tools.plan.schedule import Schedule
from tools.plan.speed import SpeedSample, machine_of
from tools.plan.words import duration_said

CPU_MAX_PARAMS = 2_000_000_000
# SmolLM2-135M-Instruct (134.5M parameters), LoRA r=64 on all linear layers, micro-batch 4 × 2, 2 CPU cores (AMD
# EPYC), the identity journey's knowledge plan: 221 real (non-padding) tokens/s measured, rounded down (125 before
# the bf16 base and the answer-only loss, tools/train/loss.py)
CPU_MEASURED_TOKENS_PER_S = 200.0
CPU_MEASURED_PARAMS = 134_515_008
CPU_MEASURED_CORES = 2
CPU_STARTUP_S = 10.0  # process start to the first step (imports, model, dataset), measured on 2 cores
CPU_EVAL_SHARE = 0.05  # one evaluation of the held-out set, as a share of an epoch (a tenth of the data, forward only)


def _measured(c: PlanContext, method: str, precision: str) -> SpeedSample | None:
    """This machine's latest measured training of this model with this method and precision; else the one of
    the model nearest in size, within a factor of 4 (speed scales with parameters only between like sizes)."""
    here = [m for m in c.req.measured if m.machine == machine_of(c.hw) and m.device == c.device
            and m.method == method and m.precision == precision]
    same = [m for m in here if m.model == c.facts.name]
    if same:
        return max(same, key=lambda m: m.ts)
    n = c.facts.param_count
    like = [m for m in here if 0.25 <= m.params / n <= 4]
    return min(like, key=lambda m: (abs(math.log(m.params / n)), -m.ts)) if like else None


def cpu_time(c: PlanContext, s: MemorySettings, sched: Schedule) -> CpuEstimate | None:
    """How long an epoch, and the whole training, take on this CPU (None on a GPU): from this machine's
    measured speed when there is one, else from the reference figure."""
    if c.device != "cpu":
        return None
    facts, hw, st = c.facts, c.hw, c.st
    sample = _measured(c, s.method, s.precision)
    if sample is not None and sample.model == facts.name:
        tps, source = sample.tokens_per_second, "measured"
        basis = said("plan.cpu.basis_measured", tps=tps, model=sample.model, run=sample.run or "?")
    elif sample is not None:
        tps, source = sample.tokens_per_second * sample.params / facts.param_count, "measured_other_model"
        basis = said("plan.cpu.basis_other_model", measured=sample.tokens_per_second, model=sample.model,
                     run=sample.run or "?", params=human_params(facts.param_count))
    else:
        tps, source = cpu_tokens_per_s(facts, hw), "reference"
        basis = said("plan.cpu.basis", tps=CPU_MEASURED_TOKENS_PER_S, cores=CPU_MEASURED_CORES,
                     params=human_params(facts.param_count), here=hw.cpu.logical_cores)
    tps *= c.machines  # several machines split the batches
    mean = (st.mean or st.p50) if st else None
    examples = sched.examples
    secs = examples * mean / tps if (examples and mean) else None
    total = None
    if secs:
        evals = math.ceil(sched.total_steps / sched.eval_steps) if sched.total_steps else 10
        startup = sample.startup_seconds if sample else CPU_STARTUP_S
        per_eval = sample.seconds_per_eval if sample else secs * CPU_EVAL_SHARE
        total = startup + secs * sched.epochs + evals * per_eval
        c.reasons.add("plan.cpu.per_epoch_at_most" if sched.learning_check else "plan.cpu.per_epoch",
                      epoch=duration_said(secs), total=duration_said(total), count=examples, mean=mean, tps=tps,
                      basis=basis)
        if total > 8 * 3600:
            c.warnings.add("plan.cpu.too_long", total=duration_said(total))
    else:
        c.reasons.add("plan.cpu.speed", tps=tps, basis=basis)
    return CpuEstimate(tokens_per_second=round(tps, 1), seconds_per_epoch=round(secs, 1) if secs else None,
                       basis=basis.text(), source=source,  # type: ignore[arg-type]
                       total_seconds=round(total, 1) if total else None, said_basis=basis)


def cpu_tokens_per_s(facts: ModelFacts, hw: HardwareFacts) -> float:
    cores = max(1, hw.cpu.logical_cores)
    return CPU_MEASURED_TOKENS_PER_S * (CPU_MEASURED_PARAMS / facts.param_count) * (cores / CPU_MEASURED_CORES)
