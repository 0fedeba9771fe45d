"""The eval loss of base and base + adapter on the held-out examples, computed in a child process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from tools.core.adapter import ADAPTER_CONFIG, trained_base
from tools.core.child import run_in_child


class LossRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: Path
    examples: list[dict[str, Any]]
    limit: int = 64


class Losses(BaseModel):
    model_config = ConfigDict(extra="forbid")

    before: float | None = None
    after: float | None = None


def eval_losses(run_dir: Path, examples: list[dict[str, Any]], limit: int = 64) -> tuple[float | None, float | None]:
    """Mean completion-only loss of base and base+adapter on the eval split, computed in a child process
    (torch stays out of the page's process)."""
    if not (run_dir / "adapter" / ADAPTER_CONFIG).exists():
        return None, None
    out = run_in_child("tools.evaluate.loss:losses_here", LossRequest(run_dir=run_dir, examples=examples,
                       limit=limit), Losses, what="eval loss")
    return out.before, out.after


def losses_here(req: LossRequest) -> Losses:
    """:func:`eval_losses` in this process (transformers, CPU or GPU)."""
    run_dir, examples, limit = req.run_dir, req.examples, req.limit
    adapter = run_dir / "adapter"
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_path = trained_base(run_dir)
    tok = AutoTokenizer.from_pretrained(str(adapter))
    base_model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    model: Any = PeftModel.from_pretrained(base_model, str(adapter))
    model.eval()
    batches = []
    for ex in examples[:limit]:
        prompt_ids = list(tok.apply_chat_template(ex["prompt"], add_generation_prompt=True, tokenize=True,
                                                  return_dict=False))
        full_ids = list(tok.apply_chat_template(ex["prompt"] + ex["completion"], tokenize=True, return_dict=False))
        labels = [-100] * len(prompt_ids) + list(full_ids[len(prompt_ids):])
        batches.append((torch.tensor([full_ids]), torch.tensor([labels])))

    def mean_loss(disable: bool) -> float:
        total, count = 0.0, 0
        with torch.no_grad():
            for ids, labels in batches:
                if disable:
                    with model.disable_adapter():
                        out = model(input_ids=ids, labels=labels)
                else:
                    out = model(input_ids=ids, labels=labels)
                n = int((labels[:, 1:] != -100).sum())
                total += float(out.loss) * n
                count += n
        return total / max(count, 1)

    return Losses(before=mean_loss(True), after=mean_loss(False))
