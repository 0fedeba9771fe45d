"""The plan's time estimate comes from this machine's measured trainings, and says where it came from."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.tools.planner_fixtures.machines import cpu_only
from tools.plan import speed
from tools.plan.card import plan_card
from tools.plan.model_facts import facts_from_params
from tools.plan.planner import plan_training
from tools.plan.record import PlanOverrides, PlanRequest, TokenStats, TrainingPlan
from tools.plan.speed import SpeedSample, machine_of, read_speeds, record_speed

HW = cpu_only()
TOKENS = TokenStats(count=72, p50=60, p95=80, max=90, mean=64)


def sample(**kw: object) -> SpeedSample:
    base: dict[str, object] = dict(machine=machine_of(HW), model="demo", params=134_515_008, method="lora",
                                   precision="bf16", tokens=9000, step_seconds=45.0, evals=9, other_seconds=9.0,
                                   startup_seconds=8.0, run="run-a", ts=time.time())
    return SpeedSample.model_validate({**base, **kw})


def plan(measured: list[SpeedSample], params: str = "135M", epochs: int = 2) -> TrainingPlan:
    return plan_training(PlanRequest(model=facts_from_params(params, name="demo"), hardware=HW, tokens=TOKENS,
                                     task="style", overrides=PlanOverrides(epochs=epochs), measured=measured))


def test_samples_are_appended_read_back_and_kept_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = sample(run="a"), sample(run="b", machine="another machine | 8 cores | no GPU")
    record_speed(a, tmp_path)
    record_speed(b, tmp_path)
    with (tmp_path / speed.SPEED_FILE).open("a") as f:
        f.write('{"torn": \n')  # a line cut short by a crash is skipped, not fatal
    assert [s.run for s in read_speeds(None, tmp_path)] == ["a", "b"]
    assert [s.run for s in read_speeds(machine_of(HW), tmp_path)] == ["a"]
    assert read_speeds(None, tmp_path / "none") == []
    monkeypatch.setattr(speed, "KEEP", 3)
    for i in range(7):
        record_speed(sample(run=f"r{i}"), tmp_path)
    runs = [s.run for s in read_speeds(None, tmp_path)]
    assert 3 <= len(runs) <= 6 and runs[-3:] == ["r4", "r5", "r6"] and "a" not in runs  # the oldest went first


def test_the_estimate_uses_this_machines_measured_speed_and_says_so() -> None:
    s = sample()
    p = plan([s])
    est = p.cpu_estimate
    assert est is not None and est.source == "measured"
    assert est.tokens_per_second == pytest.approx(s.tokens_per_second, abs=0.1)
    per_epoch = 72 * 64 / s.tokens_per_second
    evals = -(-(p.total_steps or 0) // p.eval_steps)
    assert est.total_seconds == pytest.approx(8.0 + 2 * per_epoch + evals * s.seconds_per_eval, abs=0.2)
    assert any("measured on this machine: demo trained at 200 tokens/s in run run-a" in r for r in p.reasons)
    assert "measured on this machine)" in plan_card(p)
    zh = plan_card(p, "zh")
    assert "在这台机器上实测）" in zh and any("运行 run-a 训练 demo" in r for r in p.reasons_in("zh"))


def test_the_latest_sample_wins_and_another_size_is_scaled_only_when_alike() -> None:
    old, new = sample(step_seconds=90.0, ts=1.0), sample(step_seconds=45.0, ts=2.0)
    assert plan([new, old]).cpu_estimate.tokens_per_second == pytest.approx(200, abs=0.1)  # type: ignore[union-attr]
    other = sample(model="HuggingFaceTB/SmolLM2-360M-Instruct", params=362_000_000)
    est = plan([other]).cpu_estimate
    assert est is not None and est.source == "measured_other_model"
    assert est.tokens_per_second == pytest.approx(200 * 362_000_000 / 134_515_008, rel=0.01)
    tiny = sample(model="/tmp/tiny", params=2_000_000, step_seconds=0.5)  # 60× smaller: not a guide
    assert plan([tiny]).cpu_estimate.source == "reference"  # type: ignore[union-attr]
    elsewhere = sample(machine="Intel Xeon | 2 cores | no GPU")
    qlora = sample(method="qlora")
    est = plan([elsewhere, qlora]).cpu_estimate
    assert est is not None and est.source == "reference"
    assert "not measured on this machine yet" in plan_card(plan([elsewhere]))


def test_a_plan_json_before_measured_estimates_still_reads(tmp_path: Path) -> None:
    from tools.plan.record import load_plan

    p = plan([])
    data = json.loads(p.model_dump_json())
    for key in ("source", "total_seconds", "said_basis"):
        del data["cpu_estimate"][key]
    (tmp_path / "plan.json").write_text(json.dumps(data), encoding="utf-8")
    old = load_plan(tmp_path / "plan.json")
    assert old.cpu_estimate is not None and old.cpu_estimate.source == "reference" and "~" in plan_card(old)


@pytest.mark.slow
def test_after_one_training_the_next_plans_time_holds_within_30_percent(demo_model: Path, tmp_path: Path) -> None:
    """Train the demo model once (its speed is recorded on this machine), then plan a longer run: the plan's
    estimate comes from that measurement and the real training takes within ±30% of it."""
    from tests.fixtures.identity import write_identity_dataset
    from tools.data.convert import convert_documents
    from tools.data.schema import ConvertRequest
    from tools.plan.gather import make_plan
    from tools.train.launch import run_training
    from tools.train.record import TrainRequest, settings_from_plan

    raw = write_identity_dataset(tmp_path / "raw")
    data = tmp_path / "data"
    convert_documents(ConvertRequest(inputs=[raw / "train.jsonl", raw / "eval.jsonl"], out_dir=data))

    def train(epochs: int, run: Path) -> tuple[TrainingPlan, float]:
        p = make_plan(model="demo", data_dir=data, task="style", overrides=PlanOverrides(epochs=epochs))
        t0 = time.monotonic()
        result = run_training(TrainRequest(run_dir=run, settings=settings_from_plan(p, data)))
        assert result.status == "done", result.message
        return p, time.monotonic() - t0

    train(1, tmp_path / "speed-a")
    plan_b, real = train(2, tmp_path / "speed-b")
    est = plan_b.cpu_estimate
    assert est is not None and est.source == "measured" and "speed-a" in est.basis, est
    assert est.total_seconds is not None
    assert abs(est.total_seconds - real) <= 0.3 * real, (est.total_seconds, real)
