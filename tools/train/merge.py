"""Merge a LoRA adapter onto the 16-bit base (never the 4-bit one) and check the result.

Output ``RUN_DIR/merged/``: safetensors, tokenizer with the chat template used in
training, and a generation config whose EOS is the end-of-turn token. The merge
checks itself: greedy outputs of base+adapter and of the merged model must be
token-identical on three training prompts (fp32).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from tools.core.adapter import trained_base
from tools.core.child import run_in_child
from tools.core.events import EventWriter
from tools.core.jsonio import atomic_dir
from tools.core.payloads import Merged
from tools.data.examples import load_examples
from tools.train.record import run_settings

log = logging.getLogger(__name__)


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: Path
    dtype: str = "bfloat16"
    check_prompts: int = 3
    check_tokens: int = 24


class MergeResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merged_dir: Path
    base_model: str
    identical: bool
    checked_prompts: int
    reasons: list[str]


def _greedy(model: Any, tok: Any, prompts: list[list[dict[str, str]]], max_new: int) -> list[list[int]]:
    import torch

    outs = []
    with torch.no_grad():
        for messages in prompts:
            enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            gen = model.generate(
                **enc, max_new_tokens=max_new, do_sample=False, pad_token_id=tok.pad_token_id
            )
            outs.append(gen[0][enc["input_ids"].shape[1] :].tolist())
    return outs


def merge_adapter(req: MergeRequest) -> MergeResult:
    """Merge in a child process (torch stays out of the page's and the agent's process): :func:`merge_here`."""
    return run_in_child("tools.train.merge:merge_here", req, MergeResult, what="merge")


def merge_here(req: MergeRequest) -> MergeResult:
    """The merge itself, in this process."""
    from transformers import AutoTokenizer

    run_dir = req.run_dir.resolve()
    adapter_dir = run_dir / "adapter"
    base = trained_base(run_dir)
    events = EventWriter(run_dir)
    events.emit("merge", "start", f"merging the adapter onto {Path(base).name} (16-bit base)")
    reasons = [
        "merged onto the 16-bit base model, not a 4-bit one: merging into quantised weights loses the update",
    ]
    tok = AutoTokenizer.from_pretrained(str(adapter_dir))
    peft_model = _adapter_on_base(base, adapter_dir, tok, reasons)
    prompts = _check_prompts(run_dir, req.check_prompts)
    before = _greedy(peft_model, tok, prompts, req.check_tokens)

    merged = peft_model.merge_and_unload()
    after = _greedy(merged, tok, prompts, req.check_tokens)
    identical = before == after
    if not identical:
        events.emit("merge", "warning", "merged model and base+adapter disagree on a training prompt")
    reasons.append(
        f"self-check: greedy outputs of base+adapter and merged model are "
        f"{'token-identical' if identical else 'DIFFERENT'} on {len(prompts)} training prompt(s) (fp32)"
    )

    out = run_dir / "merged"
    _save_merged(merged, tok, out, req.dtype)
    reasons.append(f"saved as {req.dtype} safetensors with tokenizer, chat template and EOS {tok.eos_token!r}")
    events.emit("merge", "done", f"merged model saved to {out}", **Merged(path=str(out), identical=identical).fields())
    return MergeResult(
        merged_dir=out, base_model=base, identical=identical, checked_prompts=len(prompts), reasons=reasons
    )


def _adapter_on_base(base: str, adapter_dir: Path, tok: Any, reasons: list[str]) -> Any:
    """The fp32 base with the adapter on it (its embeddings resized first when training added tokens)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    # fp32 for the self-check, so the comparison is exact
    base_model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    rows = int(base_model.get_input_embeddings().weight.shape[0])  # type: ignore[index]
    if len(tok) > rows:  # training added tokens: the adapter's embeddings have the new rows
        base_model.resize_token_embeddings(len(tok), mean_resizing=False)
        reasons.append(f"the vocabulary was resized in training ({rows} → {len(tok)} tokens): the base's "
                       "embeddings were resized to match before the adapter was applied")
    peft_model = PeftModel.from_pretrained(base_model, str(adapter_dir))
    peft_model.eval()
    return peft_model


def _check_prompts(run_dir: Path, n: int) -> list[Any]:
    """The self-check's prompts: the first ``n`` training prompts (a greeting when there are none)."""
    settings = run_settings(run_dir)
    data_dir = Path(settings.data_dir) if settings else run_dir / "data"
    system = settings.system_prompt if settings else None
    examples = load_examples(data_dir / "train.jsonl", system)[:n]
    return [ex["prompt"] for ex in examples] or [[{"role": "user", "content": "Hello"}]]


def _save_merged(merged: Any, tok: Any, out: Path, dtype: str) -> None:
    """The merged model in ``dtype`` with the tokenizer, its EOS the end-of-turn token, written atomically."""
    import torch
    from transformers import GenerationConfig

    with atomic_dir(out) as tmp:
        target_dtype = getattr(torch, dtype)
        merged = merged.to(target_dtype)
        merged.config.dtype = dtype
        merged.config.pad_token_id = tok.pad_token_id
        merged.config.eos_token_id = tok.eos_token_id
        merged.generation_config = GenerationConfig(
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            do_sample=False,
        )
        merged.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
