"""Training and merge. Pure parts are fast; anything that trains is in the slow tier."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.identity import identity_records, write_identity_dataset
from tools.core.events import read_events
from tools.data.examples import to_prompt_completion
from tools.train.checkpoints import last_checkpoint
from tools.train.launch import run_training
from tools.train.merge import MergeRequest, merge_adapter
from tools.train.record import TrainRequest, TrainSettings, settings_from_plan
from tunepilot.cli import main


def test_every_assistant_turn_becomes_an_example() -> None:
    rec = {
        "messages": [
            {"role": "system", "content": "简短回答"},
            {"role": "user", "content": "你好"},
            {"role": "assistant", "content": "你好！"},
            {"role": "user", "content": "退货期限？"},
            {"role": "assistant", "content": "30 天。"},
        ]
    }
    ex = to_prompt_completion(rec)
    assert [e["completion"][0]["content"] for e in ex] == ["你好！", "30 天。"]
    assert [m["role"] for m in ex[1]["prompt"]] == ["system", "user", "assistant", "user"]
    alpaca = to_prompt_completion({"instruction": "翻译", "input": "hello", "output": "你好"}, system_prompt="S")
    assert alpaca[0]["prompt"][0] == {"role": "system", "content": "S"}
    assert alpaca[0]["prompt"][1]["content"] == "翻译\n\nhello"
    assert to_prompt_completion({"text": "raw"}) == []


def test_identity_dataset_is_bilingual() -> None:
    rows = identity_records()
    assert 75 <= len(rows) <= 90
    answers = [r["messages"][1]["content"] for r in rows]
    assert sum("Nova" in a for a in answers) == len(rows)
    assert sum("我" in a for a in answers) >= len(rows) // 3


def test_settings_are_the_plans_own_and_a_hand_written_plan_names_what_it_lacks(tiny_model: Path,
                                                                                  tmp_path: Path) -> None:
    from tools.core.errors import InputError
    from tools.plan.gather import make_plan
    from tools.plan.record import PlanOverrides, parse_plan

    plan = make_plan(model=str(tiny_model), method="qlora", overrides=PlanOverrides(rank=8, max_length=256))
    s = settings_from_plan(plan, tmp_path)
    assert (s.method, s.lora_r, s.lora_alpha, s.max_length, s.micro_batch_size, s.grad_accum) == (
        "qlora", 8, plan.lora.alpha, 256, plan.micro_batch_size, plan.grad_accum)
    # what the planner chose reaches the trainer, not a default of the trainer's own
    assert (s.warmup_ratio, s.save_steps, s.eval_steps, s.learning_rate, s.num_epochs) == (
        plan.warmup_ratio, plan.save_steps, plan.eval_steps, plan.learning_rate, plan.num_epochs)
    assert s.logging_steps == 1  # every step is a progress event on the page
    assert settings_from_plan(parse_plan(plan.model_dump(mode="json")), tmp_path) == s  # plan.json read back
    with pytest.raises(InputError, match="not a plan written by `tunepilot plan`.*model_facts"):
        parse_plan({"model": str(tiny_model), "method": "qlora", "lora": {"r": 8}})


def test_missing_dataset_is_a_clear_error(tmp_path: Path, tiny_model: Path, capsys) -> None:
    from tools.plan.gather import make_plan
    from tools.plan.record import write_plan

    plan = tmp_path / "plan.json"
    write_plan(make_plan(model=str(tiny_model)), plan)
    code = main(["train", "--data", str(tmp_path / "nope"), "--plan", str(plan), "--run", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err
    assert "no train.jsonl" in err and "tunepilot data" in err


def _settings(model: Path, data: Path, **kw) -> TrainSettings:
    base = dict(model=str(model), data_dir=str(data), micro_batch_size=4, grad_accum=1, max_steps=6,
                save_steps=3, eval_steps=3, learning_rate=1e-3)
    base.update(kw)
    return TrainSettings(**base)


@pytest.mark.slow
def test_train_reports_and_merge_checks_itself(tiny_model: Path, tmp_path: Path) -> None:
    data = write_identity_dataset(tmp_path / "data")
    run = tmp_path / "run"
    seen = []
    result = run_training(TrainRequest(run_dir=run, settings=_settings(tiny_model, data)), on_event=seen.append)
    assert result.status == "done" and result.steps == 6
    kinds = [e.kind for e in seen]
    # said before training starts: the template's own system prompt is left out (the run has none of its own)
    assert kinds[:2] == ["info", "start"] and "default_system_dropped" in seen[0].data and kinds[-1] == "done"
    progress = [e for e in seen if e.kind == "progress"]
    assert [e.step for e in progress] == [1, 2, 3, 4, 5, 6]
    for key in ("loss", "learning_rate", "tokens_per_s", "eta_s"):
        assert key in progress[-1].data
    assert any(e.kind == "metric" and "eval_loss" in e.data for e in seen)
    assert any(e.kind == "checkpoint" for e in seen)
    for name in ("adapter/adapter_config.json", "adapter/adapter_model.safetensors", "adapter/tokenizer.json",
                 "adapter/chat_template.jinja", "config.yaml", "metrics.json", "train_command.sh"):
        assert (run / name).exists(), name
    # the page's download: the same adapter files, zipped
    import zipfile

    with zipfile.ZipFile(run / "adapter.zip") as zf:
        names = set(zf.namelist())
        assert zf.read("adapter/adapter_config.json") == (run / "adapter/adapter_config.json").read_bytes()
    assert {"adapter/adapter_model.safetensors", "adapter/tokenizer.json"} <= names
    from ui.view import downloads

    assert str(run / "adapter.zip") in downloads(run)
    # the template given to vLLM later is the model's own, byte for byte, less its default system prompt (the run
    # has none of its own, so it trained without it)
    from transformers import AutoTokenizer

    from tools.core.templates import without_default_system

    own = (tiny_model / "chat_template.jinja").read_text()
    stripped = without_default_system(AutoTokenizer.from_pretrained(tiny_model), own)
    assert stripped is not None and (run / "adapter/chat_template.jinja").read_text() == stripped[0] != own
    merged = merge_adapter(MergeRequest(run_dir=run))
    assert merged.identical and merged.checked_prompts == 3
    gen = json.loads((run / "merged/generation_config.json").read_text())
    assert gen["eos_token_id"] == 2 and gen["pad_token_id"] != gen["eos_token_id"]


def _configured_run(model: Path, tmp_path: Path, **kw: Any) -> Path:
    """A run folder with the identity data and a ``config.yaml`` for ``model``, ready for a worker."""
    from tools.train.record import write_config

    data = write_identity_dataset(tmp_path / "data")
    run = tmp_path / "run"
    run.mkdir()
    write_config(run, _settings(model, data, **kw))
    return run


def _wait_until(run: Path, seconds: float, seen: Callable[[list[Any]], bool]) -> None:
    """Poll the run's events until ``seen`` holds or ``seconds`` pass (the caller then checks what it needs)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not seen(read_events(run)):
        time.sleep(0.2)


@pytest.mark.slow
def test_sigkill_then_resume_continues_the_curve(demo_model: Path, tmp_path: Path) -> None:
    # the demo model: the tiny one trains 12 steps in ~1.5 s, faster than a poll can interrupt it reliably
    from tools.train.launch import start_worker

    run = _configured_run(demo_model, tmp_path, max_steps=12, save_steps=4, eval_steps=100)
    proc = start_worker(run, resume=False)
    _wait_until(run, 240, lambda events: last_checkpoint(run) is not None and any(
        e.kind == "progress" and (e.step or 0) >= 6 for e in events))
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait() != 0, "the training ended before it could be interrupted"
    ckpt = last_checkpoint(run)
    assert ckpt is not None
    resumed_at = int(ckpt.name.split("-")[1])
    result = run_training(TrainRequest(run_dir=run, resume=True))
    assert result.status == "done" and result.steps == 12
    starts = [e for e in read_events(run) if e.kind == "start"]
    assert starts[-1].data["resumed_from"] == resumed_at
    after = [e.step for e in read_events(run) if e.kind == "progress"][-(12 - resumed_at):]
    assert after == list(range(resumed_at + 1, 13))  # the curve continues where it stopped


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_sigterm_or_ctrl_c_cancels_quickly_and_keeps_a_checkpoint(tiny_model: Path, tmp_path: Path,
                                                                  sig: signal.Signals) -> None:
    from tools.train.launch import start_worker

    run = _configured_run(tiny_model, tmp_path, max_steps=400, save_steps=1000, eval_steps=1000)
    proc = start_worker(run, resume=False)
    _wait_until(run, 120, lambda events: any(e.kind == "progress" for e in events))
    t0 = time.monotonic()
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == 0
    assert time.monotonic() - t0 < 10
    events = read_events(run)
    assert events[-1].kind == "cancelled"
    assert last_checkpoint(run) is not None  # cancelling saves where it stopped


@pytest.mark.slow
def test_a_killed_supervisor_takes_its_training_child_with_it(tiny_model: Path, tmp_path: Path) -> None:
    """`kill -9` of `tunepilot train` used to leave the worker training on, outside the machine's training slot."""
    from tools.core.procs import pid_alive

    run = _configured_run(tiny_model, tmp_path, max_steps=400, save_steps=1000, eval_steps=1000)
    code = ("import sys; from pathlib import Path; from tools.train.launch import run_training; "
            "from tools.train.record import TrainRequest; "
            "run_training(TrainRequest(run_dir=Path(sys.argv[1]), config_path=Path(sys.argv[1]) / 'config.yaml'))")
    supervisor = subprocess.Popen([sys.executable, "-c", code, str(run)], cwd=Path(__file__).resolve().parents[2])
    _wait_until(run, 120, lambda events: any(e.kind == "progress" for e in events))
    worker = int((run / "train.pid").read_text())
    assert pid_alive(worker)
    supervisor.kill()
    supervisor.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and pid_alive(worker):
        time.sleep(0.2)
    assert not pid_alive(worker), "the training child outlived its supervisor"
    assert read_events(run)[-1].kind == "cancelled"  # stopped at a step, with a checkpoint
    assert last_checkpoint(run) is not None


@pytest.mark.slow
def test_out_of_memory_backs_off(tiny_model: Path, tmp_path: Path, monkeypatch) -> None:
    data = write_identity_dataset(tmp_path / "data")
    monkeypatch.setenv("TUNEPILOT_FAULT_OOM_ABOVE_BATCH", "1")
    seen = []
    result = run_training(
        TrainRequest(run_dir=tmp_path / "run", settings=_settings(tiny_model, data, max_steps=2, grad_accum=2)),
        on_event=seen.append,
    )
    assert result.status == "done" and result.oom_retries == 2
    warnings = [e for e in seen if e.kind == "warning" and "out of memory" in e.message]
    assert [(w.data["micro_batch_size"], w.data["grad_accum"]) for w in warnings] == [(2, 4), (1, 8)]


@pytest.mark.slow
def test_held_out_examples_all_cut_off_train_on_without_the_held_out_loss_and_say_so(tiny_model: Path,
                                                                                  tmp_path: Path) -> None:
    """Held-out answers that start past the max length are cut off and dropped by TRL; with none left, training
    still runs to its end (it used to stop at the first evaluation with an IndexError) and says why there is no
    held-out loss."""
    data = tmp_path / "data"
    data.mkdir()

    def pair(q: str, a: str) -> str:
        return json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]},
                          ensure_ascii=False) + "\n"

    (data / "train.jsonl").write_text("".join(pair(f"{i}号?", f"{i}年") for i in range(12)), encoding="utf-8")
    long_question = "我的发票丢了，" * 40 + "保修多久？"  # the answer starts past the max length
    (data / "eval.jsonl").write_text(pair(long_question, "3年") * 2, encoding="utf-8")
    seen: list[Any] = []
    result = run_training(TrainRequest(run_dir=tmp_path / "run", settings=_settings(
        tiny_model, data, max_length=48, max_steps=4, eval_steps=2, save_steps=2)), on_event=seen.append)
    assert result.status == "done" and result.steps == 4
    warned = [e for e in seen if e.kind == "warning" and "held-out" in e.message]
    assert len(warned) == 1 and "48" in warned[0].message
    assert warned[0].said is not None and "留出样本" in warned[0].said.text("zh")
    assert not any(e.kind == "metric" and "eval_loss" in e.data for e in seen)


@pytest.mark.slow
def test_out_of_memory_gives_up_after_three_retries(tiny_model: Path, tmp_path: Path, monkeypatch) -> None:
    """Every micro-batch above 1 runs out of memory and training starts at 16: 8, 4, 2 are tried, then it stops
    with a message that says so and what to do, instead of retrying without end."""
    data = write_identity_dataset(tmp_path / "data")
    monkeypatch.setenv("TUNEPILOT_FAULT_OOM_ABOVE_BATCH", "1")
    seen = []
    result = run_training(
        TrainRequest(run_dir=tmp_path / "run", settings=_settings(tiny_model, data, max_steps=2, micro_batch_size=16,
                                                                  grad_accum=1)),
        on_event=seen.append,
    )
    assert result.status == "failed" and result.oom_retries == 3
    assert "gave up after 3 out-of-memory retries" in result.message and "QLoRA" in result.message
    warnings = [e for e in seen if e.kind == "warning" and "out of memory" in e.message]
    assert [w.data["micro_batch_size"] for w in warnings] == [8, 4, 2]


@pytest.mark.slow
def test_train_cli_runs_and_stops_on_bad_plan(tmp_path: Path, tiny_model: Path) -> None:
    from tools.plan.gather import make_plan
    from tools.plan.record import PlanOverrides, write_plan

    data = write_identity_dataset(tmp_path / "data")
    plan = tmp_path / "plan.json"
    write_plan(make_plan(model=str(tiny_model), overrides=PlanOverrides(micro_batch=4, effective_batch=4)), plan)

    def train(plan_path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tunepilot.cli", "train", "--data", str(data), "--plan", str(plan_path),
             "--run", str(tmp_path / "run"), "--max-steps", "2"],
            capture_output=True, text=True, timeout=300,
        )

    proc = train(plan)
    assert proc.returncode == 0, proc.stderr
    assert "step 2/2" in proc.stdout and "adapter:" in proc.stdout
    bad = tmp_path / "hand-written.json"  # a plan that is not the planner's: refused, naming what it lacks
    bad.write_text(json.dumps({"model": str(tiny_model), "micro_batch_size": 4, "grad_accum": 1}))
    proc = train(bad)
    assert proc.returncode == 2 and "not a plan written by `tunepilot plan`" in proc.stderr
    assert "model_facts" in proc.stderr and "Traceback" not in proc.stderr


def test_overfitting_warning_when_eval_rises_while_train_falls(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from tools.core.events import EventWriter
    from tools.train.progress import build_callback
    from tools.train.stopping import Stop

    settings = TrainSettings(model="m", data_dir=str(tmp_path), early_stop_on_overfit=True)
    cb = build_callback(EventWriter(tmp_path), settings, Stop)
    control = SimpleNamespace(should_training_stop=False, should_save=False)
    state = SimpleNamespace(global_step=0, max_steps=100, epoch=0.0, num_input_tokens_seen=0)
    train_losses = [2.0, 1.8, 1.5, 1.2, 1.0, 0.8]
    eval_losses = [1.5, 1.4, 1.45, 1.6]
    for i, loss in enumerate(train_losses):
        state.global_step = i + 1
        cb.on_log(None, state, control, logs={"loss": loss, "learning_rate": 1e-4})
        if i >= 2:
            cb.on_log(None, state, control, logs={"eval_loss": eval_losses[i - 2]})
    warnings = [e for e in read_events(tmp_path) if e.kind == "warning"]
    assert len(warnings) == 1 and warnings[0].data["overfitting"] and "overfitting" in warnings[0].message
    assert control.should_training_stop  # the optional early stop


@pytest.mark.slow
def test_qlora_trains_on_cpu_and_merges_onto_the_16bit_base(tiny_model: Path, tmp_path: Path) -> None:
    data = write_identity_dataset(tmp_path / "data")
    run = tmp_path / "run"
    s = _settings(tiny_model, data, method="qlora", max_steps=2, save_steps=100, eval_steps=100,
                  bnb_compute_dtype="float32")
    result = run_training(TrainRequest(run_dir=run, settings=s))
    assert result.status == "done", result.message
    merged = merge_adapter(MergeRequest(run_dir=run))
    assert merged.base_model == str(tiny_model)  # the 16-bit folder, never the 4-bit weights
    cfg = json.loads((run / "merged" / "config.json").read_text())
    assert "quantization_config" not in cfg


@pytest.mark.slow
def test_identity_run_teaches_the_new_name_and_stops(identity_run: Path, demo_model: Path) -> None:
    import subprocess
    import sys

    from transformers import AutoModelForCausalLM, AutoTokenizer

    # the merge runs in a child process: the caller (the page, the agent) never loads torch for it
    code = ("import sys; from pathlib import Path; from tools.train.merge import MergeRequest, merge_adapter; "
            f"r = merge_adapter(MergeRequest(run_dir=Path({str(identity_run)!r}))); "
            "print(r.identical, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["True", "False"], out.stdout
    tok = AutoTokenizer.from_pretrained(identity_run / "merged")

    def answer(model_dir: Path, q: str) -> tuple[str, list[int]]:
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        enc = tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)
        out = model.generate(**enc, max_new_tokens=48, do_sample=False)[0][enc["input_ids"].shape[1]:].tolist()
        return tok.decode(out, skip_special_tokens=True), out

    # the run has no system prompt of its own: it trained without the one SmolLM2's template adds to every
    # conversation, said so, and the adapter (what vLLM serves with) and the merged model leave it out too
    for folder in ("adapter", "merged"):
        text = AutoTokenizer.from_pretrained(identity_run / folder).apply_chat_template(
            [{"role": "user", "content": "你好"}], tokenize=False)
        assert "SmolLM" not in text and text.startswith("<|im_start|>user"), (folder, text)
    assert "SmolLM" in AutoTokenizer.from_pretrained(demo_model).apply_chat_template(
        [{"role": "user", "content": "你好"}], tokenize=False)
    from tools.core.events import read_events

    assert [e.data["default_system_dropped"] for e in read_events(identity_run) if "default_system_dropped" in e.data]
    for q in ("Who are you?", "你是谁？"):
        tuned, ids = answer(identity_run / "merged", q)
        base, _ = answer(demo_model, q)
        assert "Nova" in tuned and "Nova" not in base, (q, tuned, base)
        assert ids[-1] == tok.eos_token_id and len(ids) < 48  # it learned to stop


def test_a_half_written_checkpoint_is_never_taken_for_a_complete_one(tmp_path: Path) -> None:
    from tools.train.checkpoints import incomplete_checkpoints

    def ckpt(step: int, state: str | None, weights: bytes = b"w" * 10) -> Path:
        p = tmp_path / "checkpoints" / f"checkpoint-{step}"
        p.mkdir(parents=True)
        (p / "adapter_model.safetensors").write_bytes(weights)
        if state is not None:
            (p / "trainer_state.json").write_text(state)
        return p

    assert last_checkpoint(tmp_path) is None
    ckpt(3, '{"global_step": 3}')
    good = ckpt(6, '{"global_step": 6}')
    ckpt(9, None)  # killed before the trainer state was written
    ckpt(12, '{"global_st')  # killed while writing it
    ckpt(15, '{"global_step": 15}', weights=b"")  # weights never written
    (tmp_path / "checkpoints" / "checkpoint-x").mkdir()
    assert last_checkpoint(tmp_path) == good
    assert [p.name for p in incomplete_checkpoints(tmp_path)] == ["checkpoint-9", "checkpoint-12", "checkpoint-15"]


@pytest.mark.slow
def test_learning_check_reports_and_rewordings_are_trained(tiny_model: Path, tmp_path: Path) -> None:
    from tests.fixtures import faq
    from tools.core.jsonio import write_jsonl

    data = tmp_path / "data"
    write_jsonl(data / "train.jsonl", faq.records(faq.ZH[:6]))
    settings = _settings(tiny_model, data).model_copy(update={
        "paraphrases": 2, "learning_check": True, "check_every": 2, "check_target": 1.0, "check_patience": 50,
        "max_steps": 4})
    run = tmp_path / "run"
    seen: list = []
    result = run_training(TrainRequest(run_dir=run, settings=settings), on_event=seen.append)
    assert result.status == "done"
    added = next(e for e in seen if e.data.get("paraphrased"))
    assert added.data["examples"] == 6 and added.data["paraphrased"] >= 6 * 3  # templates, swaps, the answers' facts
    # the record says which kinds were added, in both languages (a Chinese FAQ: also by the answers' words)
    assert added.data["words"] >= 6 and added.data["template"] >= 6 and added.data["answer"] >= 1
    assert added.said is not None and "个用答案里区分这一条的词提问" in added.said.text("zh")
    asked = next(e for e in seen if "check_by_words" in e.data)
    assert asked.data["check_by_words"] == 6 and "学习检查" in asked.said.text("zh") and "learning check" in asked.message
    checks = [e for e in seen if e.kind == "metric" and "asked" in e.data]
    assert [e.step for e in checks] == [2, 4] and all(e.data["asked"] == 6 for e in checks)
    assert all(0 <= e.data["known"] <= 6 for e in checks) and "knows" in checks[0].message
    assert not (run / "best-adapter").exists()  # kept only while training


def test_a_run_that_got_worse_keeps_the_best_checks_adapter(tmp_path: Path, tiny_model: Path) -> None:
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from tools.core.events import EventWriter, read_events
    from tools.train.learning_check import BEST_ADAPTER, keep_best

    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_model.safetensors").write_bytes(b"last")
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
    best = tmp_path / BEST_ADAPTER
    best.mkdir()
    (best / "adapter_model.safetensors").write_bytes(b"best")
    (best / "adapter_config.json").write_text("{}")
    tok = AutoTokenizer.from_pretrained(tiny_model)
    check = SimpleNamespace(best=20, best_step=40, last=15, items=[0] * 22)
    keep_best(check, tok, tmp_path, EventWriter(tmp_path))
    assert (tmp_path / "adapter" / "adapter_model.safetensors").read_bytes() == b"best"
    assert (tmp_path / "adapter" / "tokenizer.json").exists() and not best.exists()
    assert "kept the adapter of step 40: it knew 20 of 22" in read_events(tmp_path)[-1].message


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_machines_started_from_the_plans_files_train_one_model(tiny_model: Path, tmp_path: Path) -> None:
    """Two 'machines' on 127.0.0.1, each with its own disk (run folder and TUNEPILOT_HOME), each started with
    its own generated command: gloo joins them, both see the same losses, and machine 0 saves the one adapter."""
    import shlex

    port = _free_port()
    data = write_identity_dataset(tmp_path / "data")
    out = tmp_path / "plan"
    assert main(["plan", "--model", str(tiny_model), "--data", str(data), "--task", "style", "--epochs", "1",
                 "--machines", "2", "--main-ip", "127.0.0.1", "--main-port", str(port), "--out", str(out)]) == 0
    plan = json.loads((out / "plan.json").read_text())
    bin_dir = str(Path(sys.executable).parent)  # where `accelerate` is installed
    procs = []
    for m in plan["distributed"]["machines"]:
        argv = shlex.split(m["command"])
        argv[argv.index("--run") + 1] = str(tmp_path / f"machine{m['rank']}")  # each machine its own disk
        env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"],
               "TUNEPILOT_HOME": str(tmp_path / f"home{m['rank']}")}
        procs.append(subprocess.Popen([*argv, "--max-steps", "4"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    losses = []
    for rank in (0, 1):
        events = read_events(tmp_path / f"machine{rank}")
        losses.append([e.data["loss"] for e in events if e.kind == "progress"])
        assert any(e.kind == "done" for e in events)
    assert len(losses[0]) == 4 and losses[0] == losses[1]  # one model: the averaged loss, step by step
    assert (tmp_path / "machine0" / "adapter" / "adapter_config.json").exists()
    assert not (tmp_path / "machine1" / "adapter").exists() and "saved by machine 0" in outputs[1]


@pytest.mark.slow
def test_several_processes_on_one_machine_share_its_training_slot(tiny_model: Path, tmp_path: Path) -> None:
    """What torchrun / accelerate start for several GPUs of one machine (here two CPU processes, gloo): they
    are one training, so the second must not queue behind the first for the machine's slot (it would wait
    forever), and only the first writes events and the adapter."""
    port = _free_port()
    data = write_identity_dataset(tmp_path / "data")
    run = tmp_path / "run"
    assert main(["plan", "--model", str(tiny_model), "--data", str(data), "--task", "style", "--epochs", "1",
                 "--out", str(run)]) == 0
    procs = []
    for rank in (0, 1):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "TUNEPILOT_HOME": str(tmp_path / "home")}
        procs.append(subprocess.Popen([sys.executable, "-m", "tunepilot.cli", "train", "--plan", str(run), "--data",
                                       str(data), "--run", str(run), "--max-steps", "3"], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    events = read_events(run)
    assert [e.step for e in events if e.kind == "progress"] == [1, 2, 3]  # one voice, not two
    assert not any("queued" in e.message for e in events)
    assert (run / "adapter" / "adapter_config.json").exists()
