"""The CPU training's attention for short examples and its recomputed RMSNorms: the same numbers as PyTorch's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize("which", ["tiny_model", pytest.param("demo_model", marks=pytest.mark.slow)])
def test_short_attention_and_recomputed_norms_match_sdpa(which: str, request: pytest.FixtureRequest) -> None:
    """On the random 2-layer model in the fast tier (4 query heads on 2 key/value heads, as grouped as SmolLM2's)
    and on the demo model in the slow one."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from tools.train.short_attention import recompute_norms, register

    torch.manual_seed(0)
    ids = torch.randint(100, 1000, (2, 40))
    mask = torch.ones_like(ids)
    mask[1, 30:] = 0  # a padded row: the mask must be applied as eager applies it
    path: Path = request.getfixturevalue(which)
    layers = AutoConfig.from_pretrained(path).num_hidden_layers  # SmolLM2: 30, 9 query heads on 3 key/value heads
    results = {}
    for name in ("sdpa", register()):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation=name)
        if name != "sdpa":  # each layer's 2 norms + the final one
            assert recompute_norms(model) == 2 * layers + 1
        model.train()
        logits = model(input_ids=ids, attention_mask=mask).logits
        logits[0, :10].float().logsumexp(-1).sum().backward()
        results[name] = logits.detach(), model.model.layers[0].self_attn.q_proj.weight.grad.clone()
        with torch.no_grad():  # outside training the norms run as they are
            assert torch.allclose(model(input_ids=ids[:1]).logits, logits[:1], atol=1e-4)
    (sdpa_logits, sdpa_grad), (short_logits, short_grad) = results.values()
    assert torch.allclose(sdpa_logits[0], short_logits[0], atol=1e-3)
    assert torch.allclose(sdpa_logits[1, :30], short_logits[1, :30], atol=1e-3)
    assert torch.allclose(sdpa_grad, short_grad, rtol=1e-3, atol=1e-4 * float(sdpa_grad.abs().max()))
