"""Serving speed: vLLM (LoRA and merged) against transformers `generate`, same prompts, same machine.

    python bench/serve.py [--run RUN_DIR] [--quick]

Scenarios
  (a) burst: 32 concurrent chat requests, 64 new tokens each (also what `tunepilot eval` sends).
  (b) arrivals: 64 requests of varied prompt and answer lengths arriving over time (Poisson, seeded).
  (c) side by side: the burst asked of base and fine-tuned, one model after the other, as `tunepilot eval` and the
      page's model chat do; its ratio is to vllm-lora (LoRA mode, how side by side was served before pair mode).
Systems
  hf-sequential  transformers `generate`, one request at a time (what the seeds' scripts do) — the baseline
  hf-batched     transformers `generate` on the whole set at once (left padding), bf16
  vllm-lora      the deployed server, base + adapter (LoRA mode)
  vllm-merged    the deployed server, merged model
  vllm-pair      (c) only: two servers, the base model and the merged one (pair mode, side by side on a CPU)
Figures: output tokens/s, p50/p95 latency (from arrival to the last token), ratio to hf-sequential.
Without --run a run is made first: the demo model trained for a few steps on the identity data.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOPICS = ["return policy", "shipping time", "warranty", "account login", "invoice", "refund", "store hours",
          "退货期限", "发货时间", "保修政策", "发票", "会员积分"]


def burst_workload(n: int = 32, tokens: int = 64) -> list[dict[str, Any]]:
    return [{"messages": [{"role": "user", "content": f"Explain our {TOPICS[i % len(TOPICS)]} in detail ({i})."}],
             "max_tokens": tokens, "arrival": 0.0} for i in range(n)]


def arrivals_workload(n: int = 64, rate: float = 2.0, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(n):
        t += rng.expovariate(rate)
        words = " ".join(rng.choice(TOPICS) for _ in range(rng.randint(1, 40)))
        out.append({"messages": [{"role": "user", "content": f"Summarise: {words}"}],
                    "max_tokens": rng.choice([16, 32, 64, 128]), "arrival": t})
    return out


def summarise(latencies: list[float], tokens: int, wall: float) -> dict[str, float]:
    lat = sorted(latencies)
    return {"tok_s": tokens / wall, "p50": statistics.median(lat), "p95": lat[max(0, int(0.95 * len(lat)) - 1)],
            "wall": wall}


# --- transformers baselines -----------------------------------------------------------------


def hf_model(model_dir: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16)
    model.eval()
    return model, tok


def hf_sequential(model: Any, tok: Any, work: list[dict[str, Any]]) -> dict[str, float]:
    import torch

    t0 = time.perf_counter()
    clock = 0.0  # one request at a time, in arrival order: later arrivals wait in the queue
    lat, produced = [], 0
    for w in work:
        enc = tok.apply_chat_template(w["messages"], add_generation_prompt=True, return_tensors="pt",
                                      return_dict=True)
        start = max(clock, w["arrival"])
        s = time.perf_counter()
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=w["max_tokens"], do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        took = time.perf_counter() - s
        produced += out.shape[1] - enc["input_ids"].shape[1]
        clock = start + took
        lat.append(clock - w["arrival"])
    wall = max(clock, time.perf_counter() - t0)
    return summarise(lat, produced, wall)


def hf_batched(model: Any, tok: Any, work: list[dict[str, Any]]) -> dict[str, float]:
    import torch

    texts = [tok.apply_chat_template(w["messages"], add_generation_prompt=True, tokenize=False) for w in work]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max(w["max_tokens"] for w in work), do_sample=False,
                             pad_token_id=tok.pad_token_id)
    wall = time.perf_counter() - t0
    new = out[:, enc["input_ids"].shape[1]:]
    produced = 0
    for row, w in zip(new.tolist(), work, strict=True):
        n = next((i + 1 for i, t in enumerate(row) if t == tok.eos_token_id), len(row))
        produced += min(n, w["max_tokens"])
    # everything arrives at once and finishes together; arrival times are ignored
    return summarise([wall] * len(work), produced, wall)


# --- vLLM -------------------------------------------------------------------------------------


def vllm_run(dep: Any, which: str, work: list[dict[str, Any]]) -> dict[str, float]:
    from openai import OpenAI

    client = OpenAI(base_url=dep.url_for(which), api_key=dep.api_key or "EMPTY", timeout=600, max_retries=0)
    model = dep.models[which]
    lat: list[float] = []
    produced = [0]
    lock = threading.Lock()
    t0 = time.perf_counter()

    def one(w: dict[str, Any]) -> None:
        delay = w["arrival"] - (time.perf_counter() - t0)
        if delay > 0:
            time.sleep(delay)
        s = time.perf_counter()
        r = client.chat.completions.create(model=model, messages=w["messages"], max_tokens=w["max_tokens"],
                                           temperature=0)
        with lock:
            lat.append(time.perf_counter() - t0 - w["arrival"] if w["arrival"] else time.perf_counter() - s)
            produced[0] += r.usage.completion_tokens

    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        list(pool.map(one, work))
    return summarise(lat, produced[0], time.perf_counter() - t0)


def side_by_side_run(dep: Any, work: list[dict[str, Any]]) -> dict[str, float]:
    """Base answers the whole set, then fine-tuned does (the evaluation's order): both together."""
    t0 = time.perf_counter()
    parts = [vllm_run(dep, which, work) for which in ("base", "tuned")]
    wall = time.perf_counter() - t0
    tokens = sum(p["tok_s"] * p["wall"] for p in parts)
    return {"tok_s": tokens / wall, "p50": max(p["p50"] for p in parts), "p95": max(p["p95"] for p in parts),
            "wall": wall}


def make_run(root: Path) -> Path:
    from tests.fixtures.identity import write_identity_dataset
    from tools.core.models import prepare_demo_model
    from tools.train.launch import run_training
    from tools.train.record import TrainRequest, TrainSettings

    run = root / "bench-run"
    data = write_identity_dataset(run / "data")
    s = TrainSettings(model=str(prepare_demo_model()), data_dir=str(data), precision="bf16", micro_batch_size=8,
                      grad_accum=1, max_steps=6, learning_rate=1e-3, save_steps=1000, eval_steps=1000)
    result = run_training(TrainRequest(run_dir=run, settings=s))
    if result.status != "done":
        raise SystemExit(result.message)
    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path)
    ap.add_argument("--quick", action="store_true", help="smaller workloads (8 and 16 requests)")
    args = ap.parse_args()
    from tools.serve.deploy import DeployRequest, deploy_model
    from tools.serve.process import free_port, stop_deployment
    from tools.train.merge import MergeRequest, merge_adapter

    tmp = tempfile.TemporaryDirectory()
    run = args.run.resolve() if args.run else make_run(Path(tmp.name))
    if not (run / "merged" / "config.json").exists():
        merge_adapter(MergeRequest(run_dir=run))
    work = {"(a) burst": burst_workload(8 if args.quick else 32),
            "(b) arrivals": arrivals_workload(16 if args.quick else 64)}
    results: dict[tuple[str, str], dict[str, float]] = {}

    model, tok = hf_model(str(run / "merged"))
    for name, w in work.items():
        results[(name, "hf-sequential")] = hf_sequential(model, tok, w)
        results[(name, "hf-batched")] = hf_batched(model, tok, w)
    del model

    side = "(c) side by side"
    for mode in ("lora", "merged", "pair"):
        dep = deploy_model(DeployRequest(run_dir=run, mode=mode, port=free_port(), canary=False))
        try:
            vllm_run(dep, "tuned", work["(a) burst"][:2])  # warm-up
            if mode != "pair":
                for name, w in work.items():
                    results[(name, f"vllm-{mode}")] = vllm_run(dep, "tuned", w)
            if mode != "merged":
                vllm_run(dep, "base", work["(a) burst"][:2])
                results[(side, f"vllm-{mode}")] = side_by_side_run(dep, work["(a) burst"])
        finally:
            stop_deployment(run)

    print(f"\nrun {run.name}; CPU machine; output tokens/s and latency (s); ratio = tok/s ÷ hf-sequential "
          "((c): ÷ vllm-lora)")
    print(f"{'scenario':<18}{'system':<15}{'tok/s':>8}{'p50':>8}{'p95':>8}{'wall':>8}{'ratio':>8}")
    rows = [(name, system) for name in work for system in ("hf-sequential", "hf-batched", "vllm-lora", "vllm-merged")]
    rows += [(side, "vllm-lora"), (side, "vllm-pair")]
    for name, system in rows:
        base = results[(name, "vllm-lora" if name == side else "hf-sequential")]["tok_s"]
        r = results[(name, system)]
        print(f"{name:<18}{system:<15}{r['tok_s']:>8.1f}{r['p50']:>8.2f}{r['p95']:>8.2f}{r['wall']:>8.1f}"
              f"{r['tok_s'] / base:>8.2f}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
