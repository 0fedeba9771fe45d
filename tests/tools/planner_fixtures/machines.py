"""Fake machines and reference model configs for the planner tests (no hub, no GPU needed).

GPU memory figures are what NVML reports on these cards (total slightly under the
marketing size), with a little already in use.
"""

from __future__ import annotations

from pathlib import Path

from tools.plan.hardware import CPUInfo, GPUInfo, HardwareFacts
from tools.plan.model_facts import ModelFacts, facts_from_config

GIB = 1024**3
FIXTURES = Path(__file__).parent


def cpu(cores: int = 16, ram_gib: float = 128, bf16: bool = False) -> CPUInfo:
    return CPUInfo(
        model="Test CPU",
        physical_cores=cores,
        logical_cores=cores,
        ram_total_bytes=int(ram_gib * GIB),
        ram_available_bytes=int(ram_gib * 0.9 * GIB),
        avx512=bf16,
        avx512_bf16=bf16,
        amx=False,
        source="test",
    )


def gpus(name: str, total_gib: float, free_gib: float, cc: tuple[int, int], n: int = 1,
         versions: dict[str, str | None] | None = None) -> HardwareFacts:
    return HardwareFacts(
        gpus=[
            GPUInfo(index=i, name=name, total_memory_bytes=int(total_gib * GIB), free_memory_bytes=int(free_gib * GIB),
                    compute_capability=cc, bf16=cc[0] >= 8, source="file")
            for i in range(n)
        ],
        gpu_source="file",
        cpu=cpu(),
        versions=versions or {"bitsandbytes": "0.48.1", "accelerate": "1.15.0"},
    )


def cpu_only(cores: int = 2, ram_gib: float = 24, bf16: bool = True) -> HardwareFacts:
    return HardwareFacts(gpus=[], gpu_source="none (test)", cpu=cpu(cores, ram_gib, bf16),
                         versions={"bitsandbytes": "0.50.0"})


MACHINES: dict[str, HardwareFacts] = {
    "T4-16GB": gpus("Tesla T4", 15.0, 14.6, (7, 5)),
    "4090-24GB": gpus("NVIDIA GeForce RTX 4090", 23.6, 23.2, (8, 9)),
    "A100-40GB": gpus("NVIDIA A100-SXM4-40GB", 39.4, 39.0, (8, 0)),
    "A100-80GB": gpus("NVIDIA A100-SXM4-80GB", 79.2, 78.8, (8, 0)),
    "2xA100-80GB": gpus("NVIDIA A100-SXM4-80GB", 79.2, 78.8, (8, 0), n=2),
    "8xH100-80GB": gpus("NVIDIA H100 80GB HBM3", 79.2, 78.8, (9, 0), n=8),
}

# config.json fields of the published models (weights are never needed)
LLAMA2_7B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000,
    "max_position_embeddings": 4096, "tie_word_embeddings": False, "torch_dtype": "float16",
}
QWEN25_14B = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 5120, "intermediate_size": 13824,
    "num_hidden_layers": 48, "num_attention_heads": 40, "num_key_value_heads": 8, "vocab_size": 152064,
    "max_position_embeddings": 32768, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}
LLAMA2_70B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8192, "intermediate_size": 28672,
    "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8, "vocab_size": 32000,
    "max_position_embeddings": 4096, "tie_word_embeddings": False, "torch_dtype": "float16",
}


def model(cfg: dict, name: str) -> ModelFacts:
    return facts_from_config(cfg, name=name, source="test config")


MODELS: dict[str, ModelFacts] = {
    "7B": model(LLAMA2_7B, "Llama-2-7B"),
    "14B": model(QWEN25_14B, "Qwen2.5-14B"),
    "70B": model(LLAMA2_70B, "Llama-2-70B"),
}
