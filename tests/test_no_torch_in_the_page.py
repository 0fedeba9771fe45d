"""ARCHITECTURE.md's claim at run time: the page's process (ui.app with the agent in it) deploys a run without
loading torch; whether there is a CUDA GPU is asked of the driver (tools.plan.hardware.cuda_available)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# the agent's deploy step on a trained run (adapter and merged model present, so nothing is merged), up to the
# point where vLLM would start: the step decides the mode (side_by_side_mode), the GPU and the command
JOURNEY = """
import json, sys
from pathlib import Path

import agent.graph
import ui.app
import tools.serve.deploy
from agent.nodes import serving
from agent.state import AgentState

run, tokenizer, gpu = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "gpu"
import tools.serve.mode
import tools.serve.deploy

# the driver's answer (NVML / /proc) stood in: with a GPU the run is served as LoRA and its adapter is checked
tools.serve.mode.cuda_available = lambda: gpu
tools.serve.deploy.cuda_available = lambda: gpu
import tools.serve.process
tools.serve.process.cuda_available = lambda: gpu
(run / "adapter").mkdir(parents=True)
(run / "adapter" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(run / "base"),
                                                                  "r": 8}))
# as training leaves it: the tokenizer beside the adapter, and a base whose vocabulary it is checked against
(run / "adapter" / "tokenizer.json").write_bytes(tokenizer.read_bytes())
(run / "base").mkdir()
(run / "base" / "config.json").write_text(json.dumps({"vocab_size": 49152}))
(run / "merged").mkdir()
(run / "merged" / "config.json").write_text("{}")
started = []

def start_server(cmd, env, log_path):
    started.append(cmd)
    raise RuntimeError("no vLLM in this test")

tools.serve.deploy.start_server = start_server
out = serving.deploy(AgentState.model_validate({"run_dir": str(run), "run_id": run.name}))
assert started, out
print("torch loaded" if "torch" in sys.modules else "no torch")
"""


@pytest.mark.parametrize("machine", ["cpu", "gpu"])
def test_a_deploy_from_the_agent_in_the_pages_process_loads_no_torch(tmp_path: Path, demo_model: Path,
                                                                     machine: str) -> None:
    done = subprocess.run([sys.executable, "-c", JOURNEY, str(tmp_path / "run"), str(demo_model / "tokenizer.json"),
                           machine], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1",
                                                       "TUNEPILOT_HOME": str(tmp_path / "home"),
                                                       "TUNEPILOT_RUNS": str(tmp_path / "runs")})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "no torch", done.stdout
