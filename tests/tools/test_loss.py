"""The CPU training loss (tools/train/loss.py): the same loss and gradients as the model's own, less work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch


def _peft_model(tiny_model: Path):  # noqa: ANN202
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM", init_lora_weights=False)
    return get_peft_model(model, config)


def _batch(vocab: int) -> dict:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, vocab, (3, 40), generator=g)
    mask = torch.ones_like(ids)
    mask[2, 30:] = 0  # a padded row
    labels = ids.clone()
    labels[:, :25] = -100  # the prompt
    labels[mask == 0] = -100
    return {"input_ids": ids, "attention_mask": mask, "labels": labels, "completion_mask": (labels != -100).long()}


def _grads(model) -> dict:  # noqa: ANN001
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("sliced", [False, True], ids=["one slice", "several slices"])
def test_answer_loss_matches_the_models_own_loss_and_gradients(tiny_model: Path, monkeypatch: pytest.MonkeyPatch,
                                                               sliced: bool) -> None:
    from tools.train import loss as loss_mod

    model = _peft_model(tiny_model)
    batch = _batch(model.config.vocab_size)
    own = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
    own.backward()
    expected = _grads(model)
    model.zero_grad()
    if sliced:  # a budget of a few tokens' logits: the answer tokens go through the head in several slices
        monkeypatch.setattr(loss_mod, "LOGIT_BUDGET", 5 * model.config.vocab_size)
        monkeypatch.setattr(loss_mod, "MIN_SLICE", 1)
        assert loss_mod.slice_tokens(model.config.vocab_size) < int((batch["labels"][:, 1:] != -100).sum())
    got = loss_mod.answer_loss(model, dict(batch))
    got.backward()
    assert got.item() == pytest.approx(own.item(), rel=1e-5)
    grads = _grads(model)
    assert set(grads) == set(expected) and grads
    for name, g in grads.items():
        assert torch.allclose(g, expected[name], rtol=1e-4, atol=1e-6), name


def test_answer_loss_divides_by_the_count_it_is_given(tiny_model: Path) -> None:
    from tools.train.loss import answer_loss

    model = _peft_model(tiny_model)
    batch = _batch(model.config.vocab_size)
    n = int((batch["labels"][:, 1:] != -100).sum())
    mean = answer_loss(model, dict(batch)).item()
    # gradient accumulation: the trainer passes the answer tokens of all accumulated batches
    assert answer_loss(model, dict(batch), num_items_in_batch=torch.tensor(4 * n)).item() == pytest.approx(mean / 4)


def test_the_trainer_takes_the_answer_loss_only_on_a_cpu_in_one_process(tmp_path: Path) -> None:
    from trl import SFTTrainer

    from tools.train.record import TrainSettings
    from tools.train.trainer import trainer_class

    on = TrainSettings(model="m", data_dir=str(tmp_path))
    off = TrainSettings(model="m", data_dir=str(tmp_path), answer_only_head=False)
    assert issubclass(trainer_class(on, cuda=False), SFTTrainer)
    assert trainer_class(on, cuda=False).answer_loss_only
    assert not trainer_class(on, cuda=True).answer_loss_only  # TRL's own fused head uses Triton on a GPU
    assert not trainer_class(off, cuda=False).answer_loss_only
    # bf16 on a CPU computes under autocast (transformers 5's Trainer does not there); fp32 and a GPU do not need it
    assert trainer_class(on.model_copy(update={"precision": "bf16"}), cuda=False).autocast_on_cpu
    assert not trainer_class(on.model_copy(update={"precision": "fp32"}), cuda=False).autocast_on_cpu
    assert not trainer_class(on.model_copy(update={"precision": "bf16"}), cuda=True).autocast_on_cpu


_CHURN = """
import ctypes, sys
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
if sys.argv[1] == "on":
    from tools.train.loss import give_back_freed_memory
    assert give_back_freed_memory()
# a step's buffers: one large one freed first (glibc then raises its mmap threshold and keeps later ones in
# its heap), then 40 buffers of ~4 MiB with small live allocations between them, all freed
big = libc.malloc(16 << 20); ctypes.memset(big, 1, 16 << 20); libc.free(big)
start = rss()
bufs, pins = [], []
for i in range(40):
    p = libc.malloc((4 << 20) + i * 4096); ctypes.memset(p, 1, 4 << 20); bufs.append(p)
    pins.append(libc.malloc(200))
held = rss() - start
for p in bufs:
    libc.free(p)
print(held, rss() - start)
"""


def test_freed_memory_goes_back_to_the_system() -> None:
    """What a person sees in peak RSS: buffers a training step frees are given back at once, where glibc's
    defaults keep them (measured here in two fresh processes, the same allocation pattern)."""
    root = Path(__file__).resolve().parents[2]
    kept = {}
    for mode in ("off", "on"):
        out = subprocess.run([sys.executable, "-c", _CHURN, mode], capture_output=True, text=True, cwd=root,
                             check=True).stdout.split()
        held, after = float(out[0]), float(out[1])
        assert held > 120, out  # the 40 buffers were resident
        kept[mode] = after
    assert kept["off"] > 100, kept  # glibc's defaults keep the freed buffers in the heap
    assert kept["on"] < 10, kept  # with the product's setting they go back to the system


def test_a_model_that_scales_or_caps_its_logits_keeps_trls_head(tiny_model: Path) -> None:
    from transformers import AutoConfig

    from tools.train.loss import plain_head

    config = AutoConfig.from_pretrained(tiny_model)
    assert plain_head(config)
    config.final_logit_softcapping = 30.0  # Gemma 2
    assert not plain_head(config)
    config.final_logit_softcapping = None
    config.logit_scale = 0.0625  # Cohere
    assert not plain_head(config)
