"""Training speed and memory: the product's configuration against the seeds' recipe, inside one trainer.

    python bench/train.py [--steps 14] [--model demo] [--batch 4]

Same model, data (the identity set, 80 chat pairs), LoRA r=16 on all linear layers, micro-batch, trainer process
and machine for both; tokens/s counts real (non-padding) tokens; peak memory is the training process's RSS.

- "seeds' recipe" (the named baseline): TRL SFTTrainer defaults as the seed tutorials use them — fp32, gradient
  checkpointing on, LoRA dropout 0.05, random batches.
- "tunepilot": what the planner picks for a small model on a CPU — the same bf16 base, no gradient checkpointing
  (the activations fit), no dropout, batches of similar length (less padding), only the answer tokens through the
  output layer (tools/train/loss.py), freed buffers returned to the system.

The real LLaMA-Factory, run beside ``tunepilot train`` end to end, is ``bench/peer_train.py``; the simulated
"LLaMA-Factory-style" row this bench had is gone: it ran at 112.6 tokens/s where the real CLI, counted the same way,
trains at ~135 in its steps (and matched tunepilot end to end), so it modelled LLaMA-Factory badly.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures.identity import write_identity_dataset  # noqa: E402
from tools.core.events import read_events  # noqa: E402
from tools.core.models import resolve_model  # noqa: E402
from tools.train.launch import run_training  # noqa: E402
from tools.train.record import TrainRequest, TrainSettings  # noqa: E402

BASELINE = "seeds' recipe (baseline)"
OLD = dict(answer_only_head=False, give_back_memory=False)
WHY = {
    BASELINE: "fp32 weights and math, recomputed activations, dropout copies every adapter input, random batches pad "
              "short examples to the longest",
    "tunepilot": "bf16 frozen base, activations kept (they fit), length-grouped batches, only answer tokens through "
                 "the output layer (tools/train/loss.py), freed buffers returned to the system",
}
CONFIGS = {
    BASELINE: dict(precision="fp32", gradient_checkpointing=True, lora_dropout=0.05, group_by_length=False, **OLD),
    "tunepilot": dict(precision="bf16", gradient_checkpointing=False, lora_dropout=0.0, group_by_length=True,
                      answer_only_head=True, give_back_memory=True),
}


def measure(name: str, model: str, data: Path, steps: int, batch: int, root: Path) -> dict[str, float]:
    settings = TrainSettings(model=model, data_dir=str(data), micro_batch_size=batch, grad_accum=1,
                             max_steps=steps, save_steps=10_000, eval_steps=10_000, lora_r=16, lora_alpha=32,
                             learning_rate=2e-4, **CONFIGS[name])
    run = root / name.split()[0].strip("'").lower()
    result = run_training(TrainRequest(run_dir=run, settings=settings))
    if result.status != "done":
        raise SystemExit(f"{name}: {result.message}")
    done = [e for e in read_events(run) if e.stage == "train" and e.kind == "done"][-1]
    prog = [e for e in read_events(run) if e.kind == "progress"]
    # skip the first two steps (warm-up: allocation, first-call overheads)
    s_per_step = sum(e.data["s_per_step"] for e in prog[2:]) / max(1, len(prog[2:]))
    return {
        "tokens_per_s": done.data["tokens_seen"] / max(done.data["train_runtime_s"], 1e-9),
        "s_per_step": s_per_step,
        "peak_rss_mb": done.data["peak_rss_mb"],
        "loss": result.final_loss or float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=14)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--model", default="demo")
    args = ap.parse_args()
    model = str(resolve_model(args.model))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_identity_dataset(root / "data")
        results = {name: measure(name, model, data, args.steps, args.batch, root) for name in CONFIGS}
    base = results[BASELINE]
    print(f"\nmodel {Path(model).name}, LoRA r=16 on all linear layers, micro-batch {args.batch}, {args.steps} steps")
    print(f"{'configuration':<28}{'tokens/s':>10}{'s/step':>9}{'peak RSS MB':>13}{'speed ×':>9}{'memory ×':>10}")
    for name, r in results.items():
        print(f"{name:<28}{r['tokens_per_s']:>10.1f}{r['s_per_step']:>9.2f}{r['peak_rss_mb']:>13.0f}"
              f"{r['tokens_per_s'] / base['tokens_per_s']:>9.2f}{r['peak_rss_mb'] / base['peak_rss_mb']:>10.2f}")
    print()
    for name, why in WHY.items():
        print(f"{name}: {why}")


if __name__ == "__main__":
    main()
