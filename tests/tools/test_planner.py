"""The planner on fake machines: estimates anchored to published figures, choices, overrides, refusals."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tools.planner_fixtures.machines import GIB, MACHINES, MODELS, cpu_only, gpus
from tests.tools.planner_fixtures.overrides import parse_overrides
from tools.core.errors import InputError, ResourceError
from tools.plan.cpu_time import CPU_MEASURED_TOKENS_PER_S
from tools.plan.memory import MemorySettings, estimate_memory
from tools.plan.model_facts import ModelFacts, facts_from_config, facts_from_params, load_model_facts
from tools.plan.planner import plan_training
from tools.plan.record import PlanOverrides, PlanRefusedError, PlanRequest, TokenStats, TrainingPlan
from tools.plan.serving import VLLM_LORA_RANKS, vllm_lora_rank


def plan(model: ModelFacts | str, machine: str | object, tokens: TokenStats | None = None, **kw: object) -> TrainingPlan:
    facts = MODELS[model] if isinstance(model, str) else model
    hw = MACHINES[machine] if isinstance(machine, str) else machine
    return plan_training(PlanRequest(model=facts, hardware=hw, tokens=tokens, **kw))  # type: ignore[arg-type]


def peak_gib(facts: ModelFacts, method: str, fmt: str, micro_batch: int, length: int, optimizer: str = "adamw_torch",
             r: int = 8, dropout: float = 0.0) -> float:
    s = MemorySettings(method=method, weight_format=fmt, precision="bf16", device="cuda", strategy="single",
                       micro_batch=micro_batch, max_length=length, gradient_checkpointing=True, lora_r=r,
                       lora_targets=facts.lora_target_modules, lora_dropout=dropout, optimizer=optimizer)
    return estimate_memory(facts, s, 1000 * GIB).total_gib


# --- anchored to published figures ------------------------------------------------------------------
#
# LLaMA-Factory's README hardware table ("GB", per GPU): LoRA 16-bit 7B/14B/70B = 16/32/160, QLoRA 4-bit
# 6/12/48, QLoRA 8-bit 10/20/80. Its defaults imply: batch 1, cutoff 1024 tokens, LoRA rank 8 on all linear
# layers, no LoRA dropout, AdamW, gradient checkpointing on.
LLAMA_FACTORY = {
    ("7B", "16bit"): 16, ("14B", "16bit"): 32, ("70B", "16bit"): 160,
    ("7B", "nf4"): 6, ("14B", "nf4"): 12, ("70B", "nf4"): 48,
    ("7B", "8bit"): 10, ("14B", "8bit"): 20, ("70B", "8bit"): 80,
}


@pytest.mark.parametrize("key", list(LLAMA_FACTORY), ids=[f"{m}-{f}" for m, f in LLAMA_FACTORY])
def test_estimate_within_30_percent_of_llama_factory_table(key: tuple[str, str]) -> None:
    model, fmt = key
    method = "lora" if fmt == "16bit" else "qlora"
    got = peak_gib(MODELS[model], method, fmt, micro_batch=1, length=1024)
    assert got == pytest.approx(LLAMA_FACTORY[key], rel=0.30), f"{model} {fmt}: {got:.1f} vs {LLAMA_FACTORY[key]}"


# torchtune's Llama-2-7B single-device recipes (tutorial, one 24 GB GPU): QLoRA 9.3 GB, LoRA 17.2 GB peak.
# Their configs: batch 2, LoRA rank 8 on attention + MLP, no dropout, AdamW fp32, activation checkpointing;
# we take full 2048-token sequences (the worst case of their run) — torchtune reports GiB.
@pytest.mark.parametrize("method, fmt, published", [("qlora", "nf4", 9.3), ("lora", "16bit", 17.2)])
def test_estimate_within_30_percent_of_torchtune_llama2_7b(method: str, fmt: str, published: float) -> None:
    got = peak_gib(MODELS["7B"], method, fmt, micro_batch=2, length=2048)
    assert got == pytest.approx(published, rel=0.30)


def test_memory_is_itemised_and_adds_up() -> None:
    p = plan("7B", "4090-24GB")
    names = [i.name for i in p.memory.items]
    for name in ("weights", "lora_params", "gradients", "optimizer", "activations", "logits", "allocator",
                 "cuda_context"):
        assert name in names
    assert p.memory.total_bytes == sum(i.bytes for i in p.memory.items)
    assert all(i.note for i in p.memory.items)


def test_nf4_double_quant_and_8bit_weights() -> None:
    f = MODELS["70B"]
    nf4 = {x: peak_gib(f, "qlora", "nf4", 1, 256) for x in (1,)}[1]
    sixteen = peak_gib(f, "lora", "16bit", 1, 256)
    eight = peak_gib(f, "qlora", "8bit", 1, 256)
    assert nf4 < eight < sixteen
    s = MemorySettings(method="qlora", weight_format="nf4", precision="bf16", device="cuda", strategy="single",
                       micro_batch=1, max_length=256, gradient_checkpointing=True, lora_r=8,
                       lora_targets=f.lora_target_modules, lora_dropout=0, optimizer="paged_adamw_8bit")
    dq = estimate_memory(f, s, 100 * GIB).items[0].bytes
    no_dq = estimate_memory(f, s.model_copy(update={"double_quant": False}), 100 * GIB).items[0].bytes
    # double quantisation saves ~0.37 bits per parameter (QLoRA paper: ~3 GB on a 65B model)
    assert (no_dq - dq) / f.layer_linear_params * 8 == pytest.approx(0.373, abs=0.01)


def test_checkpointing_batch_and_length_change_memory_as_expected() -> None:
    f = MODELS["7B"]
    base = MemorySettings(method="lora", weight_format="16bit", precision="bf16", device="cuda", strategy="single",
                          micro_batch=2, max_length=1024, gradient_checkpointing=False, lora_r=16,
                          lora_targets=f.lora_target_modules, lora_dropout=0.05, optimizer="adamw_torch")

    def act(**upd: object) -> int:
        est = estimate_memory(f, base.model_copy(update=upd), 100 * GIB)
        return next(i.bytes for i in est.items if i.name == "activations")

    assert act(gradient_checkpointing=True) < act() / 5
    assert act(micro_batch=4) == 2 * act()
    assert act(max_length=2048) == 2 * act()
    logits = next(i for i in estimate_memory(f, base, GIB).items if i.name == "logits")
    assert logits.bytes == 2 * 1024 * 32000 * (2 + 8)


# --- the choice for each machine -------------------------------------------------------------------------
# What the tables imply: LoRA 16-bit where 16/32/160 GB fits in 90% of free memory (several GPUs may shard
# it), else QLoRA 4-bit where 6/12/48 GB fits, else refuse.
EXPECTED = {
    "T4-16GB": {"7B": "qlora", "14B": "qlora", "70B": None},
    "4090-24GB": {"7B": "lora", "14B": "qlora", "70B": None},
    "A100-40GB": {"7B": "lora", "14B": "lora", "70B": None},
    "A100-80GB": {"7B": "lora", "14B": "lora", "70B": "qlora"},
    "2xA100-80GB": {"7B": "lora", "14B": "lora", "70B": "qlora"},
    "8xH100-80GB": {"7B": "lora", "14B": "lora", "70B": "lora"},
}


@pytest.mark.parametrize("machine, model", [(m, k) for m, row in EXPECTED.items() for k in row])
def test_method_matches_published_tables(machine: str, model: str) -> None:
    p = plan(model, machine)
    want = EXPECTED[machine][model]
    if want is None:
        assert not p.fits and p.refusal
        with pytest.raises(PlanRefusedError):
            p.require_fit()
    else:
        assert p.fits, p.refusal
        assert p.method == want
        assert p.memory.total_bytes <= 0.9 * min(g.free_memory_bytes for g in MACHINES[machine].gpus)
        assert p.reasons[0].startswith("method ")


def test_multi_gpu_strategies() -> None:
    ddp = plan("70B", "2xA100-80GB")
    assert ddp.distributed.strategy == "ddp" and ddp.method == "qlora"
    cfg = yaml.safe_load(ddp.distributed.accelerate_config or "")
    assert cfg["distributed_type"] == "MULTI_GPU" and cfg["num_processes"] == 2 and cfg["mixed_precision"] == "bf16"
    assert ddp.distributed.launch_command.startswith("accelerate launch --config_file accelerate_config.yaml "
                                                     "--num_processes 2 ")
    assert ddp.effective_batch == ddp.micro_batch_size * ddp.grad_accum * 2 == 16

    fsdp = plan("70B", "8xH100-80GB")
    assert fsdp.distributed.strategy == "fsdp" and fsdp.method == "lora"
    cfg = yaml.safe_load(fsdp.distributed.accelerate_config or "")
    assert cfg["distributed_type"] == "FSDP" and cfg["fsdp_config"]["fsdp_sharding_strategy"] == "FULL_SHARD"
    assert cfg["fsdp_config"]["fsdp_use_orig_params"] is False
    assert any("does not fit on one GPU" in r for r in fsdp.reasons)
    # each strategy is estimated per GPU
    strategies = {a.settings.strategy for a in fsdp.alternatives} | {fsdp.memory.settings.strategy}
    assert strategies == {"ddp", "zero2", "fsdp", "zero3"}

    small = plan("7B", "8xH100-80GB")
    assert small.distributed.strategy == "ddp" and small.micro_batch_size * small.grad_accum * 8 == 16


def test_qlora_sharded_uses_quant_storage_and_zero3_config() -> None:
    four_4090 = gpus("NVIDIA GeForce RTX 4090", 23.6, 23.2, (8, 9), n=4)
    p = plan("70B", four_4090)
    assert p.fits and p.method == "qlora" and p.distributed.strategy == "fsdp"
    assert p.bnb and p.bnb.bnb_4bit_quant_storage == "bfloat16" and p.optimizer == "adamw_torch"
    z3 = plan("70B", four_4090, overrides=PlanOverrides(strategy="zero3"))
    assert z3.distributed.strategy == "zero3" and z3.bnb and z3.bnb.bnb_4bit_quant_storage == "bfloat16"
    ds = json.loads(z3.distributed.deepspeed_config or "")
    assert ds["zero_optimization"]["stage"] == 3
    acc = yaml.safe_load(z3.distributed.accelerate_config or "")
    assert acc["distributed_type"] == "DEEPSPEED" and acc["deepspeed_config"]["zero3_init_flag"] is True
    with pytest.raises(InputError):
        plan("7B", "4090-24GB", overrides=PlanOverrides(strategy="fsdp"))


def test_qlora_settings_on_old_and_new_gpus() -> None:
    t4 = plan("7B", "T4-16GB")
    assert t4.method == "qlora" and t4.precision == "fp16" and t4.load_in_4bit
    assert t4.bnb and t4.bnb.bnb_4bit_quant_type == "nf4" and t4.bnb.bnb_4bit_use_double_quant
    assert t4.bnb.bnb_4bit_compute_dtype == "float16" and t4.optimizer == "paged_adamw_8bit"
    assert any("older than Ampere" in r for r in t4.reasons)
    assert t4.attn_implementation == "sdpa"
    q = plan("14B", "4090-24GB")
    assert q.bnb and q.bnb.bnb_4bit_compute_dtype == "bfloat16" and q.torch_dtype == "bfloat16"
    lora = plan("7B", "4090-24GB")
    assert lora.bnb is None and not lora.load_in_4bit and lora.optimizer == "adamw_torch"


def test_refusal_says_what_would_fit() -> None:
    p = plan("70B", "4090-24GB")
    assert not p.fits and p.refusal
    text = p.refusal
    assert "does not fit" in text and "What would fit" in text
    assert "QLoRA" in text and "GPUs like this one" in text and "parameters" in text
    assert p.reasons[0] == text
    with pytest.raises(ResourceError) as err:
        p.require_fit()
    assert err.value.exit_code == 3


# --- data-driven settings ----------------------------------------------------------------------------------


def test_max_length_from_p99_rounded_to_64_and_capped() -> None:
    p = plan("7B", "A100-80GB", TokenStats(count=5000, p50=180, p95=420, p99=700, max=3000))
    assert p.max_length == 704 and any("p99 = 700" in r for r in p.reasons)
    capped = plan("7B", "A100-80GB", TokenStats(count=5000, p50=900, p95=3000, p99=9000, max=12000))
    assert capped.max_length == 4096  # Llama-2's positions
    assert any("capped" in r for r in capped.reasons)


def test_max_length_falls_back_to_p95_when_p99_does_not_fit() -> None:
    stats = TokenStats(count=2000, p50=1000, p95=2000, p99=4000, max=4096)
    p = plan("14B", "4090-24GB", stats)
    assert p.fits and p.max_length == 2048 and p.method == "qlora"
    assert any("truncated" in w for w in p.warnings)


def test_no_stats_uses_1024_and_says_so() -> None:
    p = plan("7B", "A100-80GB")
    assert p.max_length == 1024 and any("no dataset statistics" in r for r in p.reasons)


@pytest.mark.parametrize("count, epochs", [(50, 5), (500, 3), (5000, 2), (50000, 1)])
def test_epochs_by_dataset_size(count: int, epochs: int) -> None:
    p = plan("7B", "A100-80GB", TokenStats(count=count, p50=100, p95=200, p99=300, max=400))
    assert p.num_epochs == epochs
    assert p.steps_per_epoch == -(-count // p.effective_batch)
    assert p.total_steps == p.steps_per_epoch * epochs
    assert 1 <= p.eval_steps <= p.total_steps and p.save_steps == p.eval_steps


@pytest.mark.parametrize("lang, said_cost", [("en", "held-out examples"), ("zh", "留出样本")])
def test_a_short_run_evaluates_as_often_as_it_can_afford(lang: str, said_cost: str) -> None:
    # LLaMA-Factory's identity set: 82 trained, 9 held out, 3 epochs of batches of 8 = 33 steps. Ten evaluations
    # of the 9 held-out examples would cost ~11% of the training (an evaluated example ~1/3 of a trained one)
    p = plan(facts_from_params("135M"), cpu_only(), TokenStats(count=82, held_out=9, p50=110, p95=160, p99=200, max=257),
             overrides=PlanOverrides(micro_batch=4, epochs=3))
    assert p.total_steps == 33 and p.effective_batch == 8
    evals = -(-p.total_steps // p.eval_steps)
    assert 2 <= evals <= 4 and p.save_steps == p.eval_steps
    assert evals * 9 / 3 <= 0.05 * p.total_steps * p.effective_batch * 1.5  # within the budget (rounding)
    assert any(said_cost in r and str(p.eval_steps) in r for r in p.reasons_in(lang))
    # a long run with a small held-out set keeps ~10 evaluations, said as such
    long = plan(facts_from_params("135M"), cpu_only(), TokenStats(count=5000, held_out=40, p50=110, p95=160, p99=200, max=257))
    assert -(-long.total_steps // long.eval_steps) == 10
    assert not any("held-out" in r for r in long.reasons)


@pytest.mark.parametrize("lang, word", [("en", "plain matmuls"), ("zh", "普通矩阵乘法")])
def test_short_examples_on_a_cpu_train_with_plain_attention(lang: str, word: str) -> None:
    short = plan(facts_from_params("135M"), cpu_only(), TokenStats(count=82, p50=110, p95=160, p99=200, max=257))
    assert short.max_length <= 256 and short.attn_implementation == "eager"
    assert any(word in r for r in short.reasons_in(lang))
    long = plan(facts_from_params("135M"), cpu_only(), TokenStats(count=82, p50=600, p95=900, p99=1000, max=1100))
    assert long.attn_implementation == "sdpa"
    gpu = plan("7B", "A100-80GB", TokenStats(count=82, p50=110, p95=160, p99=200, max=257))
    assert gpu.attn_implementation != "eager"


def test_gradient_checkpointing_only_when_needed() -> None:
    roomy = plan("7B", "A100-80GB", TokenStats(count=1000, p50=100, p95=200, p99=250, max=300))
    assert not roomy.gradient_checkpointing and any("checkpointing off" in r for r in roomy.reasons)
    tight = plan("7B", "4090-24GB", TokenStats(count=1000, p50=800, p95=1500, p99=2000, max=2048))
    assert tight.gradient_checkpointing and any("checkpointing on" in r for r in tight.reasons)


def test_packing_only_with_flash_attention_and_short_examples() -> None:
    short = TokenStats(count=5000, p50=60, p95=300, p99=600, max=900)
    fa = gpus("NVIDIA A100-SXM4-80GB", 79.2, 78.8, (8, 0), versions={"flash-attn": "2.8.3", "bitsandbytes": "0.48"})
    p = plan("7B", fa, short)
    assert p.attn_implementation == "flash_attention_2" and p.packing
    no_fa = plan("7B", "A100-80GB", short)
    assert no_fa.attn_implementation == "sdpa" and not no_fa.packing
    assert any("packing off" in r for r in no_fa.reasons)
    old = gpus("Tesla T4", 15.0, 14.6, (7, 5), versions={"flash-attn": "2.8.3"})
    assert plan("7B", old, short).attn_implementation == "sdpa"


def test_small_dataset_gets_smaller_effective_batch() -> None:
    p = plan("7B", "A100-80GB", TokenStats(count=72, p50=40, p95=80, p99=90, max=100))
    assert p.effective_batch == 8 and p.steps_per_epoch == 9 and p.warmup_ratio == 0.1


# --- overrides -----------------------------------------------------------------------------------------------


def test_overrides_are_applied_and_rechecked() -> None:
    p = plan("7B", "4090-24GB", overrides=PlanOverrides(rank=32, micro_batch=2, max_length=1024))
    assert p.fits and p.lora.r == 32 and p.lora.alpha == 64 and p.micro_batch_size == 2 and p.max_length == 1024
    assert p.serving.max_lora_rank == 32
    assert any("your setting" in r for r in p.reasons)
    assert p.effective_batch == 16 and p.grad_accum == 8


def test_override_that_cannot_fit_is_refused_with_reason() -> None:
    p = plan("7B", "4090-24GB", overrides=PlanOverrides(micro_batch=64, max_length=4096, gradient_checkpointing=False))
    assert not p.fits
    assert "micro-batch 64" in (p.refusal or "") and "without your settings" in (p.refusal or "")
    forced = plan("7B", "T4-16GB", method="lora")
    assert not forced.fits and "LoRA 16-bit" in (forced.refusal or "")
    assert "QLoRA 4-bit" in (forced.refusal or "")  # what the planner would use instead


def test_use_lora_where_it_fits_and_qlora_on_request() -> None:
    assert plan("7B", "4090-24GB", method="qlora").method == "qlora"
    assert plan("7B", "A100-40GB", overrides=PlanOverrides(method="lora")).method == "lora"


def test_max_length_beyond_model_is_an_input_error() -> None:
    with pytest.raises(InputError) as err:
        plan("7B", "A100-80GB", overrides=PlanOverrides(max_length=8192))
    assert "4096" in str(err.value) and "max_length" in str(err.value)


def test_parse_overrides_from_words() -> None:
    o = parse_overrides("r=32, batch 2, max length 1024, use LoRA")
    assert (o.rank, o.micro_batch, o.max_length, o.method) == (32, 2, 1024, "lora")
    o = parse_overrides("QLoRA please, rank 64, lr 1e-4, 2 epochs, effective batch 32, no packing, deepspeed")
    assert (o.method, o.rank, o.learning_rate, o.epochs, o.effective_batch, o.packing, o.strategy) == (
        "qlora", 64, 1e-4, 2, 32, False, "zero3")
    assert o.micro_batch is None
    assert parse_overrides("nothing here") == PlanOverrides()


@pytest.mark.parametrize("r, want", [(1, 8), (8, 8), (12, 16), (16, 16), (33, 64), (300, 320), (512, 512),
                                     (600, None)])
def test_vllm_max_lora_rank(r: int, want: int | None) -> None:
    assert vllm_lora_rank(r) == want
    assert want is None or want in VLLM_LORA_RANKS


# --- CPU ---------------------------------------------------------------------------------------------------------


def test_cpu_plan_for_demo_model_with_time_estimate() -> None:
    facts = load_model_facts("demo")
    stats = TokenStats(count=200, p50=60, p95=110, p99=130, max=150)
    p = plan(facts, cpu_only(cores=2, bf16=True), stats)
    assert p.fits and p.device == "cpu" and p.method == "lora" and p.precision == "bf16"
    assert p.distributed.strategy == "cpu" and p.distributed.launch_command.startswith("tunepilot train ")
    assert p.max_length == 192 and not p.packing and p.lora.dropout == 0.0
    assert p.cpu_estimate and p.cpu_estimate.tokens_per_second == pytest.approx(CPU_MEASURED_TOKENS_PER_S, rel=0.01)
    assert p.cpu_estimate.seconds_per_epoch == pytest.approx(200 * 60 / CPU_MEASURED_TOKENS_PER_S, rel=0.01)
    assert p.serving.gpu_memory_utilization is None and p.serving.cpu_kvcache_space_gib
    faster = plan(facts, cpu_only(cores=8, bf16=False), stats)
    assert faster.precision == "fp32" and faster.cpu_estimate
    assert faster.cpu_estimate.tokens_per_second == pytest.approx(4 * CPU_MEASURED_TOKENS_PER_S, rel=0.01)
    assert any("no AVX512-BF16" in r for r in faster.reasons)


def test_cpu_refuses_large_models_with_reason() -> None:
    p = plan(facts_from_params("7B"), cpu_only())
    assert not p.fits and "too large" in (p.refusal or "") and "GPU" in (p.refusal or "")


# --- serving --------------------------------------------------------------------------------------------------------


def test_serving_plan() -> None:
    p = plan("70B", "8xH100-80GB")
    assert p.serving.tensor_parallel_size == 2 and p.serving.fits
    assert p.serving.max_model_len == min(4096, max(p.max_length, 2048))
    one = plan("7B", "4090-24GB")
    assert one.serving.tensor_parallel_size == 1 and one.serving.gpu_memory_utilization == 0.9
    busy = gpus("NVIDIA A100-SXM4-80GB", 79.2, 40.0, (8, 0))
    assert plan("7B", busy).serving.gpu_memory_utilization == pytest.approx(0.48, abs=0.01)


# --- the plan as a file, purity, invariants ---------------------------------------------------------------------


def test_plan_round_trips_through_json() -> None:
    p = plan("70B", "8xH100-80GB", TokenStats(count=3000, p50=300, p95=800, p99=1200, max=2000))
    again = TrainingPlan.model_validate_json(p.model_dump_json())
    assert again == p
    data = json.loads(p.model_dump_json())
    for key in ("model", "method", "precision", "load_in_4bit", "bnb", "lora", "learning_rate", "num_epochs",
                "warmup_ratio", "micro_batch_size", "grad_accum", "max_length", "gradient_checkpointing", "packing",
                "optimizer", "attn_implementation", "seed", "eval_steps", "save_steps", "serving", "reasons"):
        assert key in data


def test_planner_is_pure() -> None:
    req = PlanRequest(model=MODELS["14B"], hardware=MACHINES["A100-40GB"],
                      tokens=TokenStats(count=800, p50=200, p95=500, p99=800, max=1000))
    before = req.model_dump_json()
    assert plan_training(req) == plan_training(req)
    assert req.model_dump_json() == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    free_gib=st.floats(min_value=6, max_value=140),
    n=st.sampled_from([1, 2, 4, 8]),
    cc=st.sampled_from([(7, 5), (8, 0), (8, 9), (9, 0)]),
    size=st.sampled_from(["0.5B", "1.5B", "3B", "7B", "8B", "14B", "32B", "70B"]),
    p99=st.integers(min_value=20, max_value=9000),
    count=st.integers(min_value=1, max_value=100_000),
)
def test_invariants_on_random_machines(free_gib: float, n: int, cc: tuple[int, int], size: str, p99: int,
                                       count: int) -> None:
    hw = gpus("GPU", free_gib + 0.5, free_gib, cc, n=n)
    p = plan(facts_from_params(size), hw, TokenStats(count=count, p50=p99 // 3, p95=p99 // 2 + 1, p99=p99, max=p99))
    assert p.reasons and all(isinstance(r, str) and r for r in p.reasons)
    assert_said_in_chinese(p)
    if p.fits:
        assert p.memory.total_bytes <= 0.9 * free_gib * GIB
        assert p.effective_batch == p.micro_batch_size * p.grad_accum * n
        assert p.max_length % 64 == 0 and p.max_length <= p.model_facts.max_position_embeddings
        assert p.serving.max_lora_rank is not None and p.serving.max_lora_rank >= p.lora.r
        assert p.lora.alpha == 2 * p.lora.r
        assert (p.precision == "bf16") == (cc[0] >= 8)
        assert p.load_in_4bit == (p.method == "qlora")
    else:
        assert p.refusal and "What would fit" in p.refusal


def test_unknown_architecture_targets_all_linear() -> None:
    f = facts_from_config({"model_type": "newthing", "hidden_size": 1024, "num_hidden_layers": 8,
                           "num_attention_heads": 8, "vocab_size": 32000}, name="n", source="t")
    p = plan(f, "4090-24GB")
    assert p.lora.target_modules == "all-linear" and any("all-linear" in r for r in p.reasons)


# --- in Chinese -------------------------------------------------------------------------------------------

CJK = re.compile(r"[\u4e00-\u9fff]")
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _said(p: TrainingPlan) -> list[tuple[list[str], list[str]]]:
    """Every (English, Chinese) pair of sentences a plan shows a person."""
    pairs = [(p.reasons, p.reasons_in("zh")), (p.warnings, p.warnings_in("zh")),
             (p.distributed.reasons, p.distributed.reasons_in("zh"))]
    if p.refusal:
        pairs.append(([p.refusal], [p.refusal_in("zh") or ""]))
    for est in (p.memory, *p.alternatives):
        pairs.append(([i.note for i in est.items], [i.note_in("zh") for i in est.items]))
    return pairs


def assert_said_in_chinese(p: TrainingPlan) -> None:
    """One Chinese sentence per English one, each in Chinese, with the same numbers."""
    for en_list, zh_list in _said(p):
        assert len(zh_list) == len(en_list), (en_list, zh_list)
        for en, zh in zip(en_list, zh_list, strict=True):
            assert CJK.search(zh), f"untranslated: {zh!r}"
            assert sorted(NUMBER.findall(zh)) == sorted(NUMBER.findall(en)), (en, zh)


FA_A100 = gpus("NVIDIA A100-SXM4-80GB", 79.2, 78.8, (8, 0), versions={"flash-attn": "2.8.3", "bitsandbytes": "0.48"})
CHINESE_CASES: dict[str, tuple[ModelFacts | str, object, TokenStats | None, dict[str, object]]] = {
    "qlora on an old GPU": ("7B", "T4-16GB", TokenStats(count=300, p50=90, p95=300, p99=450, max=2000), {}),
    "lora on a 4090, big dataset": ("7B", "4090-24GB", TokenStats(count=50_000, p50=40, p95=3000, max=20_000), {}),
    "refused, too big": ("70B", "4090-24GB", None, {}),
    "refused, with your settings": ("7B", "4090-24GB", None, {"overrides": PlanOverrides(
        micro_batch=64, max_length=4096, gradient_checkpointing=False)}),
    "refused, your method": ("7B", "T4-16GB", None, {"method": "lora"}),
    "length lowered to fit": ("14B", "4090-24GB", TokenStats(count=2000, p50=1000, p95=2000, p99=4000, max=4096), {}),
    "length capped by the model": ("7B", "A100-80GB", TokenStats(count=5000, p50=900, p95=3000, p99=9000), {}),
    "every setting yours": ("7B", "A100-80GB", TokenStats(count=30, p50=200, max=300), {"overrides": PlanOverrides(
        method="qlora", rank=8, alpha=8, lora_dropout=0.1, micro_batch=2, effective_batch=8, max_length=1024,
        epochs=2, learning_rate=1e-4, gradient_checkpointing=False, packing=True, seed=1)}),
    "ddp": ("7B", "2xA100-80GB", None, {}),
    "fsdp qlora": (facts_from_params("32B"), gpus("NVIDIA A10G", 22.0, 21.5, (8, 6), n=4), None, {}),
    "zero3 without deepspeed": ("70B", "8xH100-80GB", None, {"overrides": PlanOverrides(strategy="zero3")}),
    "zero2 qlora": ("70B", "8xH100-80GB", None, {"overrides": PlanOverrides(strategy="zero2", method="qlora")}),
    "flash attention packs short examples": ("7B", FA_A100, TokenStats(count=5000, p50=50, p95=200, max=400), {}),
    "cpu bf16 with a time estimate": (facts_from_params("135M"), cpu_only(), TokenStats(count=300, p50=90, mean=100),
                                      {}),
    "cpu fp32, no data": (facts_from_params("360M"), cpu_only(bf16=False), None, {}),
    "cpu, days of training": (facts_from_params("1.5B"), cpu_only(),
                              TokenStats(count=100_000, p50=900, p95=1000, mean=900), {}),
    "cpu, model too large": ("7B", cpu_only(), None, {}),
}


@pytest.mark.parametrize("case", list(CHINESE_CASES))
def test_every_sentence_of_a_plan_is_also_in_chinese(case: str) -> None:
    model, machine, tokens, kw = CHINESE_CASES[case]
    p = plan(model, machine, tokens, **kw)
    assert_said_in_chinese(p)
    zh = p.reasons_in("zh")
    assert p.reasons_in("mixed") == zh and len(zh) == len(p.reasons) == len(p.said_reasons)
    assert p.reasons_in("en") == p.reasons and p.warnings_in("en") == p.warnings
    if not p.fits:
        assert zh[0] == p.refusal_in("zh") and "可行的办法" in (p.refusal_in("zh") or "")


def test_model_notes_and_odd_architectures_in_chinese() -> None:
    moe = facts_from_config({"model_type": "mixtral", "architectures": ["MixtralForCausalLM"], "hidden_size": 4096,
                             "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
                             "num_key_value_heads": 8, "vocab_size": 32000, "num_local_experts": 8,
                             "num_experts_per_tok": 2}, name="mix", source="t")
    unknown = facts_from_config({"model_type": "newthing", "hidden_size": 1024, "num_hidden_layers": 8,
                                 "num_attention_heads": 8, "vocab_size": 32000}, name="n", source="t")
    quantised = facts_from_config({"model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 16,
                                   "intermediate_size": 8192, "num_attention_heads": 16, "vocab_size": 32000,
                                   "quantization_config": {"quant_method": "awq"}}, name="q", source="t")
    no_bnb = gpus("NVIDIA A100-SXM4-80GB", 79.2, 78.8, (8, 0), versions={"bitsandbytes": ""})
    for facts, machine, kw in ((moe, "A100-80GB", {}), (unknown, "4090-24GB", {}), (quantised, "4090-24GB", {}),
                               (facts_from_params("7B"), no_bnb, {"method": "qlora"})):
        p = plan(facts, machine, **kw)
        assert p.warnings
        assert_said_in_chinese(p)


def test_a_plan_json_without_codes_reads_its_chinese_or_english() -> None:
    p = plan("7B", "T4-16GB")
    data = json.loads(p.model_dump_json())
    for key in ("said_reasons", "said_warnings", "said_refusal"):
        del data[key]
    for item in data["memory"]["items"]:
        del item["said_note"]
    old = TrainingPlan.model_validate(data)  # written before the Chinese fields: English
    assert old.reasons_in("zh") == p.reasons and old.memory.items[0].note_in("zh") == p.memory.items[0].note
    zh = p.reasons_in("zh")  # written before codes, with its Chinese beside the English: that Chinese
    assert old.model_copy(update={"reasons_zh": zh}).reasons_in("zh") == zh
    torn = old.model_copy(update={"reasons_zh": zh[:-1]})  # not one per reason: English, never a mix
    assert torn.reasons_in("zh") == p.reasons
    torn_codes = p.model_copy(update={"said_reasons": p.said_reasons[:-1]})
    assert torn_codes.reasons_in("zh") == p.reasons
