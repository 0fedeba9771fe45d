"""Greedy answers of a model, in training or not, to chat prompts: for the learning check and the replay."""

from __future__ import annotations

from typing import Any


def generate_greedy(model: Any, tok: Any, prompts: list[list[dict[str, str]]], max_new_tokens: int = 64,
                    batch: int = 16) -> list[str]:
    """Greedy answers of ``model`` (in training or not) to chat prompts, batched with left padding."""
    import torch

    was_training = model.training
    model.eval()
    side = tok.padding_side
    tok.padding_side = "left"
    outs: list[str] = []
    try:
        with torch.no_grad():
            for i in range(0, len(prompts), batch):
                texts = [tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False)
                         for p in prompts[i:i + batch]]
                enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
                gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
                outs += tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        tok.padding_side = side
        if was_training:
            model.train()
    return [o.strip() for o in outs]
