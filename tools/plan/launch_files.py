"""The launch command and the accelerate / DeepSpeed config texts of a plan, per machine."""

from __future__ import annotations

import json
import shlex

from pydantic import Field

from tools.core.messages import Said
from tools.core.said import in_language
from tools.plan.kinds import Precision, Record, Strategy
from tools.plan.words import STRATEGY_WORDS

ACCELERATE_CONFIG_NAME = "accelerate_config.yaml"
DEEPSPEED_CONFIG_NAME = "deepspeed_config.json"


class MachineLaunch(Record):
    """What one machine of several runs: its accelerate config (``machine_rank`` is its rank) and command."""

    rank: int
    accelerate_config: str
    command: str


class DistributedPlan(Record):
    strategy: Strategy
    num_processes: int = Field(default=1, description="processes across all machines")
    num_machines: int = 1
    main_process_ip: str | None = None
    main_process_port: int | None = None
    machines: list[MachineLaunch] = Field(default_factory=list, description="one per machine, for several machines")
    accelerate_config: str | None = Field(default=None, description="text of accelerate_config.yaml")
    deepspeed_config: str | None = Field(default=None, description="text of deepspeed_config.json (ZeRO)")
    launch_command: str = Field(description="the exact command that starts training")
    reasons: list[str] = Field(default_factory=list)
    said_reasons: list[Said] = Field(default_factory=list, description="the reasons by code, one per reason")
    reasons_zh: list[str] = Field(default_factory=list, description="the reasons in Chinese, in plans before codes")

    def reasons_in(self, lang: str) -> list[str]:
        return in_language(self.reasons, self.reasons_zh, lang, self.said_reasons)


def _launch(strategy: Strategy, n: int, config_dir: str, plan_path: str, data_dir: str | None,
            run_dir: str | None) -> str:
    train = ["tunepilot", "train", "--plan", plan_path, "--data", data_dir or "DATA_DIR", "--run",
             run_dir or "RUN_DIR"]
    if strategy in ("single", "cpu"):
        return shlex.join(train)
    cfg = in_folder(config_dir, ACCELERATE_CONFIG_NAME)
    return shlex.join(["accelerate", "launch", "--config_file", cfg, "--num_processes", str(n), "-m", "tunepilot.cli",
                       *train[1:]])


def distributed_files(
    dist: DistributedPlan,
    precision: Precision,
    *,
    config_dir: str = ".",
    plan_path: str = "plan.json",
    data_dir: str | None = None,
    run_dir: str | None = None,
) -> DistributedPlan:
    """Fill in the launch command and the accelerate / DeepSpeed config texts for these paths (for several
    machines, one config and one command per machine)."""
    strategy, n = dist.strategy, dist.num_processes
    if dist.num_machines > 1:
        return _machine_files(dist, precision, config_dir, plan_path, data_dir, run_dir)
    cmd = _launch(strategy, n, config_dir, plan_path, data_dir, run_dir)
    if strategy in ("single", "cpu"):
        return dist.model_copy(update={"launch_command": cmd, "accelerate_config": None, "deepspeed_config": None})
    return dist.model_copy(update={"launch_command": cmd, **_accelerate_texts(dist, precision, config_dir, cmd)})


def _accelerate_texts(dist: DistributedPlan, precision: Precision, config_dir: str, cmd: str,
                      machine_rank: int = 0) -> dict[str, str | None]:
    """The accelerate config (and DeepSpeed's) for one machine of ``dist``."""
    import yaml

    strategy = dist.strategy
    cfg = _common_config(dist, precision, machine_rank)
    ds_text = None
    if strategy == "cpu":
        cfg["distributed_type"] = "MULTI_CPU"  # gloo; each machine runs one process
    elif strategy == "ddp":
        cfg["distributed_type"] = "MULTI_GPU"
        cfg["gpu_ids"] = "all"
    elif strategy == "fsdp":
        cfg["distributed_type"] = "FSDP"
        cfg["fsdp_config"] = _fsdp_config()
    else:
        stage = 3 if strategy == "zero3" else 2
        ds_text = json.dumps(_deepspeed_config(stage), indent=2) + "\n"
        cfg["distributed_type"] = "DEEPSPEED"
        cfg["deepspeed_config"] = {"deepspeed_config_file": in_folder(config_dir, DEEPSPEED_CONFIG_NAME),
                                   "zero3_init_flag": stage == 3}
    header = f"# {cmd}\n# written by `tunepilot plan`: {STRATEGY_WORDS[strategy]}\n"
    return {"accelerate_config": header + yaml.safe_dump(cfg, sort_keys=True), "deepspeed_config": ds_text}


def _common_config(dist: DistributedPlan, precision: Precision, machine_rank: int) -> dict[str, object]:
    """The accelerate settings every strategy shares: this machine's rank, the processes, the precision."""
    cfg: dict[str, object] = {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        "machine_rank": machine_rank,
        "main_training_function": "main",
        "mixed_precision": "no" if precision == "fp32" else precision,
        "num_machines": dist.num_machines,
        "num_processes": dist.num_processes,
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": dist.strategy == "cpu",
    }
    if dist.num_machines > 1:
        cfg["main_process_ip"] = dist.main_process_ip
        cfg["main_process_port"] = dist.main_process_port
    return cfg


def _fsdp_config() -> dict[str, object]:
    """accelerate's FSDP settings: whole transformer layers sharded, their states saved sharded."""
    return {
        "fsdp_version": 1,
        "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "fsdp_backward_prefetch": "BACKWARD_PRE",
        "fsdp_cpu_ram_efficient_loading": True,
        "fsdp_forward_prefetch": False,
        "fsdp_offload_params": False,
        "fsdp_sharding_strategy": "FULL_SHARD",
        "fsdp_state_dict_type": "SHARDED_STATE_DICT",
        "fsdp_sync_module_states": True,
        "fsdp_use_orig_params": False,
    }


def _deepspeed_config(stage: int) -> dict[str, object]:
    """DeepSpeed's config for ZeRO ``stage`` (2 or 3), nothing offloaded, the rest left to the trainer ("auto")."""
    zero: dict[str, object] = {
        "stage": stage,
        "overlap_comm": True,
        "contiguous_gradients": True,
        "reduce_bucket_size": "auto",
        "offload_optimizer": {"device": "none"},
        "offload_param": {"device": "none"},
    }
    if stage == 3:
        zero.update({"stage3_prefetch_bucket_size": "auto", "stage3_param_persistence_threshold": "auto",
                     "stage3_gather_16bit_weights_on_model_save": True})
    return {
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "zero_optimization": zero,
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
    }


def machine_config_name(rank: int) -> str:
    return f"accelerate_config.machine{rank}.yaml"


def _machine_files(dist: DistributedPlan, precision: Precision, config_dir: str, plan_path: str,
                   data_dir: str | None, run_dir: str | None) -> DistributedPlan:
    """One accelerate config and one command per machine: the same files, each with its ``machine_rank``.

    GPU machines start ``accelerate launch`` (torchrun underneath) with their GPUs as processes. CPU machines
    run one process each; accelerate's CPU launcher leaves the process's rank to the environment, so the
    command sets ``RANK``/``WORLD_SIZE`` (the machine's rank; gloo connects them)."""
    train = ["-m", "tunepilot.cli", "train", "--plan", plan_path, "--data", data_dir or "DATA_DIR", "--run",
             run_dir or "RUN_DIR"]
    machines, ds = [], None
    for rank in range(dist.num_machines):
        cfg = in_folder(config_dir, machine_config_name(rank))
        argv = ["accelerate", "launch", "--config_file", cfg, *train]
        if dist.strategy == "cpu":
            argv = ["env", f"RANK={rank}", f"WORLD_SIZE={dist.num_machines}", "LOCAL_RANK=0", *argv]
        cmd = shlex.join(argv)
        texts = _accelerate_texts(dist, precision, config_dir, cmd, machine_rank=rank)
        ds = texts["deepspeed_config"]
        machines.append(MachineLaunch(rank=rank, accelerate_config=texts["accelerate_config"] or "", command=cmd))
    return dist.model_copy(update={"launch_command": machines[0].command, "machines": machines,
                                   "accelerate_config": machines[0].accelerate_config, "deepspeed_config": ds})


def in_folder(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder.rstrip('/')}/{name}"
