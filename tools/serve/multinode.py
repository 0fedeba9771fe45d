"""Commands to serve one model across several machines with vLLM's Ray backend (printed, not run)."""

from __future__ import annotations

from tools.core.errors import InputError
from tools.serve.deploy import max_lora_rank_for
from tools.serve.record import TUNED_NAME


def multinode_commands(model: str, *, nodes: int, gpus_per_node: int, head_ip: str = "HEAD_IP",
                       port: int = 8000, adapter: str | None = None, max_lora_rank: int = 16,
                       ray_port: int = 6379) -> dict[str, list[str]]:
    """Commands for serving one model across several machines with vLLM's Ray backend.

    Tensor parallelism inside a node (fast NVLink), pipeline parallelism across nodes:
    ``tensor_parallel_size = gpus_per_node``, ``pipeline_parallel_size = nodes``.
    """
    if nodes < 1 or gpus_per_node < 1:
        raise InputError("nodes and GPUs per node must be at least 1")
    serve = ["vllm", "serve", model, "--host", "0.0.0.0", "--port", str(port),
             "--tensor-parallel-size", str(gpus_per_node), "--pipeline-parallel-size", str(nodes),
             "--distributed-executor-backend", "ray", "--api-key", "$VLLM_API_KEY"]
    if adapter:
        serve += ["--enable-lora", "--lora-modules", f"{TUNED_NAME}={adapter}",
                  "--max-lora-rank", str(max_lora_rank_for(max_lora_rank))]
    return {
        "head": ["ray", "start", "--head", f"--port={ray_port}", f"--num-gpus={gpus_per_node}"],
        "worker": ["ray", "start", f"--address={head_ip}:{ray_port}", f"--num-gpus={gpus_per_node}"],
        "serve (on the head, after every worker joined)": serve,
    }
