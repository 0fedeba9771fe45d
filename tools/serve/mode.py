"""Which way a run is served (LoRA, merged, or a pair of servers on a CPU) and why; what the run folder holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from tokenizers import Tokenizer

from tools.core.adapter import adapter_base, adapter_config, read_adapter_config
from tools.core.errors import InputError
from tools.plan.hardware import cuda_available
from tools.train.merge import MergeRequest, merge_adapter


def adapter_problems(adapter_dir: Path) -> list[str]:
    """Reasons vLLM cannot serve this adapter as LoRA (then it is served merged)."""
    cfg = read_adapter_config(adapter_dir)
    problems = []
    if cfg.get("modules_to_save"):
        problems.append(f"the adapter trains whole modules ({', '.join(cfg['modules_to_save'])}), "
                        "which vLLM's LoRA loader rejects")
    base = Path(str(cfg.get("base_model_name_or_path", "")))
    base_cfg = base / "config.json"
    tok_file = adapter_dir / "tokenizer.json"
    if base_cfg.exists() and tok_file.exists():
        vocab = json.loads(base_cfg.read_text()).get("vocab_size")
        # the tokenizers library, not transformers: deciding how to serve loads no torch (ARCHITECTURE.md)
        n = Tokenizer.from_file(str(tok_file)).get_vocab_size(with_added_tokens=True)
        if vocab and n > vocab:
            problems.append(f"the vocabulary was resized ({vocab} → {n} tokens)")
    if cfg.get("use_dora"):
        problems.append("DoRA adapters are not supported by vLLM")
    return problems


def choose_mode(*, has_adapter: bool, gpu: bool) -> tuple[Literal["lora", "merged"], str]:
    """What ``--mode auto`` serves, and why."""
    if not has_adapter:
        return "merged", "merged mode: only a merged model is present"
    if not gpu:
        return "merged", (
            "merged mode: on a CPU one merged model answers ~6x faster than base + LoRA adapter "
            "(bench/serve.py: 270 vs 44 output tokens/s for 32 concurrent requests); evaluation and the "
            "side-by-side chat use LoRA mode, which serves base and fine-tuned from one server"
        )
    return "lora", ("LoRA mode: base and fine-tuned answers come from one server, so before/after use the same "
                    "decoding, and more adapters can be hot-loaded")


def side_by_side_mode() -> Literal["lora", "pair"]:
    """How base and fine-tuned answer side by side (the evaluation, the page's model chat): on a GPU one server
    with the adapter (LoRA mode); on a CPU, where vLLM's LoRA path is ~6x slower than a plain model
    (bench/serve.py), two servers: the base model and the merged one (pair mode)."""
    return "lora" if cuda_available() else "pair"


def run_facts(run_dir: Path) -> tuple[str, Path | None, Path | None, int]:
    """(base model, adapter folder, merged folder, LoRA rank) of a trained run; a run with neither is refused."""
    adapter = run_dir / "adapter"
    merged = run_dir / "merged"
    cfg = adapter_config(run_dir)
    if cfg is None and not (merged / "config.json").exists():
        raise InputError("this run has no trained adapter or merged model", where=str(run_dir),
                         hint="Train it first with `tunepilot train`")
    base = ""
    r = 16
    if cfg is not None:
        base = adapter_base(run_dir) or ""
        r = int(cfg.get("r", 16))
    return base, (adapter if adapter.exists() else None), (merged if (merged / "config.json").exists() else None), r


def serving_mode(run_dir: Path, asked: Literal["auto", "lora", "merged", "pair"], adapter: Path | None,
                 merged: Path | None, gpu: bool) -> tuple[Literal["lora", "merged", "pair"], Path | None, list[str]]:
    """What to serve for a run, and why: an adapter vLLM cannot load (:func:`adapter_problems`) is merged
    and served merged; ``auto`` follows :func:`choose_mode`. Merges the adapter when the mode needs it.
    Returns (mode, the merged folder or None, reasons)."""
    reasons: list[str] = []
    mode = asked
    if mode in ("auto", "lora") and adapter is not None:
        problems = adapter_problems(adapter)
        if problems:
            reasons.append("serving the merged model instead of the adapter: " + "; ".join(problems))
            mode = "merged"
    if mode == "auto":
        mode, why = choose_mode(has_adapter=adapter is not None, gpu=gpu)
        reasons.append(why)
    if mode == "lora" and adapter is None:
        raise InputError("this run has no adapter to serve in LoRA mode", where=str(run_dir),
                         hint="Use --mode merged")
    if mode == "pair":
        if adapter is None:
            reasons.append("merged mode: pair mode needs the adapter's base model, and this run has only a merged "
                           "model")
            mode = "merged"
        else:
            reasons.append("pair mode: the base model and the merged fine-tuned model each have a server, so base "
                           "and fine-tuned answer side by side without the LoRA path, ~6x slower on a CPU "
                           "(bench/serve.py)")
    if mode in ("merged", "pair") and merged is None:
        merge_adapter(MergeRequest(run_dir=run_dir))
        merged = run_dir / "merged"
    return mode, merged, reasons  # type: ignore[return-value]
