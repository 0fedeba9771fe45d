"""Minutes until a model knows 80% of what it was taught: tunepilot's default plan beside LLaMA-Factory's defaults.

    python bench/time_to_know.py [--sets identity,faq-en,faq-zh] [--only tunepilot|llamafactory] [--target 0.8]

For each set (LLaMA-Factory's own ``data/identity.json``, and the project's English and Chinese FAQ fixtures,
``tests/fixtures/faq.py``), ``tunepilot data`` makes the dataset and then:

- **tunepilot**: ``tunepilot plan`` with nothing but the data (the default plan: rewordings, replay, learning check)
  and ``tunepilot train``; its learning check asks the trained questions in other words once an epoch. The minutes
  are the train command's wall time (start-up included) until a check knows the target share; the command is then
  stopped (the rest of the plan is not what this measures).
- **LLaMA-Factory 0.9.5** (``bench/peer_train.py`` installs it): the same training pairs (train.jsonl), its
  documented defaults for LoRA SFT (``examples/train_lora/qwen3_lora_sft.yaml``: rank 8 on all linear layers,
  lr 1e-4, micro-batch 1 × accumulation 8, 3 epochs, cosine, warmup 0.1), bf16 on the CPU, ``smollm`` template, a
  checkpoint every epoch. Each checkpoint is asked the very questions tunepilot's check asks (the same seeded sample,
  worded as tunepilot's check words them, greedy, through LLaMA-Factory's template); its minutes are the train
  command's wall time when that checkpoint was written.

A row that never gets there says so, with the best share and the minutes it trained.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.peer_train import LF_SMOLLM, ROOT, identity_pairs, install_peer  # noqa: E402

SETS = ("identity", "faq-en", "faq-zh")
BASELINE = "LLaMA-Factory"
LF_DEFAULTS = {"lora_rank": 8, "learning_rate": 1e-4, "per_device_train_batch_size": 1,
               "gradient_accumulation_steps": 8, "num_train_epochs": 3.0, "lr_scheduler_type": "cosine",
               "warmup_ratio": 0.1}


def _tp() -> str:
    exe = ROOT / ".venv" / "bin" / "tunepilot"
    return str(exe) if exe.exists() else "tunepilot"


def source_file(name: str, work: Path) -> Path:
    """The set as a person would drop it in."""
    if name == "identity":
        path = work / "identity.json"
        path.write_text(json.dumps(identity_pairs(), ensure_ascii=False), encoding="utf-8")
        return path
    from tests.fixtures import faq

    entries = faq.EN if name == "faq-en" else faq.ZH
    return faq.write_faq_csv(work / ("faq.csv" if name == "faq-en" else "常见问题.csv"), entries)


def prepare(name: str, model: str, work: Path) -> tuple[Path, Path, list[Any], Any]:
    """The dataset and default plan of a set; the learning check's questions and the run's settings."""
    from tools.data.examples import load_examples
    from tools.data.knowledge import check_items
    from tools.plan.record import load_plan
    from tools.train.record import settings_from_plan

    data, plan_path = work / "data", work / "plan.json"
    subprocess.run([_tp(), "data", str(source_file(name, work)), "--out", str(data), "--model", model], check=True,
                   capture_output=True)
    subprocess.run([_tp(), "plan", "--model", model, "--data", str(data), "--out", str(plan_path)], check=True,
                   capture_output=True)
    settings = settings_from_plan(load_plan(plan_path), data)
    rows = load_examples(data / "train.jsonl", settings.system_prompt)
    items = check_items(rows, settings.check_size, settings.seed, by_words=settings.paraphrases >= 2)
    return data, plan_path, items, settings


def run_tunepilot(data: Path, plan_path: Path, work: Path, target: float) -> dict[str, Any]:
    """``tunepilot train`` until a learning check knows ``target`` of its questions (or the plan ends)."""
    from tools.train.launch import cancel_training

    run = work / "tp-run"
    log = (work / "tunepilot-train.log").open("w")
    t0 = time.time()
    proc = subprocess.Popen([_tp(), "train", "--data", str(data), "--plan", str(plan_path), "--run", str(run)],
                            stdout=log, stderr=subprocess.STDOUT)
    checks: list[tuple[float, int, int, int]] = []  # (minutes, step, known, asked)
    seen = 0
    reached = None
    while proc.poll() is None:
        time.sleep(1)
        events = run / "events.jsonl"
        lines = events.read_text(encoding="utf-8").splitlines() if events.exists() else []
        for line in lines[seen:]:
            e = json.loads(line)
            if e["kind"] == "metric" and "known" in e["data"] and "asked" in e["data"]:
                checks.append(((time.time() - t0) / 60, e["step"], e["data"]["known"], e["data"]["asked"]))
                if reached is None and e["data"]["known"] >= target * e["data"]["asked"]:
                    reached = checks[-1]
        seen = len(lines)
        if reached is not None:
            cancel_training(run)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    return {"checks": checks, "reached": reached, "minutes": (time.time() - t0) / 60,
            "steps": json.loads(plan_path.read_text())["total_steps"]}


def run_llamafactory(cli: Path, model: str, data: Path, items: list[Any], work: Path,
                     target: float) -> dict[str, Any]:
    """LLaMA-Factory with its defaults on the same training pairs; every epoch's checkpoint asked the check."""
    from tools.data.examples import load_examples

    rows = load_examples(data / "train.jsonl", None)
    pairs = [{"instruction": r["prompt"][-1]["content"], "input": "", "output": r["completion"][0]["content"]} for r in rows
             if len(r["prompt"]) == 1]
    lf_data, out = work / "lf-data", work / "lf-out"
    lf_data.mkdir(parents=True, exist_ok=True)
    (lf_data / "pairs.json").write_text(json.dumps(pairs, ensure_ascii=False), encoding="utf-8")
    (lf_data / "dataset_info.json").write_text(json.dumps({"pairs": {"file_name": "pairs.json"}}))
    cfg = {"model_name_or_path": model, "stage": "sft", "do_train": True, "finetuning_type": "lora",
           "lora_target": "all", "dataset": "pairs", "dataset_dir": str(lf_data), "template": "smollm",
           "cutoff_len": 2048, "overwrite_cache": True, "output_dir": str(out), "logging_steps": 10,
           "save_strategy": "epoch", "overwrite_output_dir": True, "report_to": "none", "bf16": True,
           "use_cpu": True, **LF_DEFAULTS}
    (work / "lf.yaml").write_text(json.dumps(cfg))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DISABLE_VERSION_CHECK": "1", "CUDA_VISIBLE_DEVICES": ""}
    t0 = time.time()
    with (work / "llamafactory-train.log").open("w") as log:
        code = subprocess.run([str(cli), "train", str(work / "lf.yaml")], stdout=log, stderr=subprocess.STDOUT,
                              env=env).returncode
    minutes = (time.time() - t0) / 60
    if code != 0:
        tail = "".join((work / "llamafactory-train.log").read_text().splitlines(True)[-30:])
        raise SystemExit(f"llamafactory-cli failed ({code}):\n{tail}")
    checks: list[tuple[float, int, int, int]] = []
    for ckpt in sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])):
        written = (ckpt / "adapter_model.safetensors").stat().st_mtime
        known = known_by(model, ckpt, items)
        checks.append(((written - t0) / 60, int(ckpt.name.split("-")[1]), known, len(items)))
    reached = next((c for c in checks if c[2] >= target * c[3]), None)
    return {"checks": checks, "reached": reached, "minutes": minutes, "steps": checks[-1][1] if checks else 0}


def known_by(model: str, adapter: Path, items: list[Any]) -> int:
    """How many check questions base + ``adapter`` answers with the fact (tunepilot's check, LF's template)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tools.data.knowledge import count_known
    from tools.train.generate import generate_greedy
    from tools.train.learning_check import _answer_room

    tok = AutoTokenizer.from_pretrained(model)
    tok.chat_template = LF_SMOLLM
    lm = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model, dtype=torch.bfloat16), str(adapter))
    outputs = generate_greedy(lm, tok, [it.messages for it in items], max_new_tokens=_answer_room(tok, items))
    return count_known(outputs, items)


def cell(r: dict[str, Any] | None, target: float) -> str:
    if r is None:
        return "-"
    if r["reached"] is not None:
        minutes, step, known, asked = r["reached"]
        return f"{minutes:.1f} min (step {step}, {known}/{asked})"
    best = max(r["checks"], key=lambda c: c[2], default=None)
    got = f"best {best[2]}/{best[3]}" if best else "no check"
    return f"not reached in {r['minutes']:.1f} min ({got})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="demo")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--target", type=float, default=0.8)
    ap.add_argument("--only", choices=["tunepilot", "llamafactory"])
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tools.core.models import resolve_model

    model = str(resolve_model(args.model))
    cli = install_peer() if args.only != "tunepilot" else None
    rows = []
    for name in args.sets.split(","):
        if name not in SETS:
            raise SystemExit(f"unknown set {name!r}: use {', '.join(SETS)}")
        with tempfile.TemporaryDirectory(prefix=f"time-to-know-{name}-") as tmp:
            work = Path(tmp)
            data, plan_path, items, _ = prepare(name, model, work)
            tp = run_tunepilot(data, plan_path, work, args.target) if args.only != "llamafactory" else None
            lf = run_llamafactory(cli, model, data, items, work, args.target) if cli is not None else None
            rows.append((name, len(items), tp, lf))
            print(json.dumps({"set": name, "tunepilot": tp, BASELINE: lf}), flush=True)
            keep = os.environ.get("TIME_TO_KNOW_KEEP")
            if keep:
                import shutil

                shutil.copytree(work, Path(keep) / name, dirs_exist_ok=True)
    print(f"\n{Path(model).name}: minutes until the trained questions asked in other words are {args.target:.0%} "
          f"known (train command wall time, start-up included; {os.cpu_count()} cores)")
    print(f"{'set':<10}{'asked':>6}  {'tunepilot (default plan)':<36}{BASELINE + ' (its defaults)':<36}")
    for name, n, tp, lf in rows:
        print(f"{name:<10}{n:>6}  {cell(tp, args.target):<36}{cell(lf, args.target):<36}")


if __name__ == "__main__":
    main()
