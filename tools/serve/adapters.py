"""Runtime LoRA adapters on a running server: load, unload, and another run of the same base served beside it."""

from __future__ import annotations

import urllib.error
from pathlib import Path

from tools.core.adapter import trained_base
from tools.core.errors import InputError
from tools.core.events import EventWriter
from tools.core.jsonio import write_json
from tools.serve.health import http_json
from tools.serve.process import DeployError
from tools.serve.record import SERVE_FILE, Deployment


def same_base_runs(run_dir: Path, others: list[Path]) -> list[Path]:
    """The runs among ``others`` whose adapter was trained from this run's base: they can share its server."""

    def base(run: Path) -> Path | None:
        try:
            return Path(trained_base(run)).resolve()
        except (InputError, OSError, ValueError, KeyError):
            return None

    mine = base(run_dir)
    return [o for o in others if mine is not None and o.resolve() != run_dir.resolve() and base(o) == mine]


def serve_other_run(dep: Deployment, other: Path) -> str:
    """The model name under which another run of the same base answers on this deployment's server: its adapter
    is loaded into the running server when it is not there yet (no restart). A run of another base is refused."""
    run_dir, other = Path(dep.run_dir).resolve(), other.resolve()
    if other == run_dir:
        raise InputError("a run compared with itself", where=str(other), hint="Name another run")
    mine, theirs = trained_base(run_dir), trained_base(other)
    if Path(mine).resolve() != Path(theirs).resolve():
        raise InputError(f"{run_dir.name} and {other.name} were trained from different base models ({mine} and "
                         f"{theirs}): one server holds adapters of one base", where=str(other),
                         hint="Compare runs of the same base model, or evaluate each with its own base")
    name = f"run-{other.name}"
    if name not in dep.loaded_adapters:
        load_adapter(dep, name, other / "adapter")
        EventWriter(run_dir).emit("deploy", "info", f"loaded {other.name}'s adapter into the running server as "
                                  f"{name!r}")
    return name


def load_adapter(dep: Deployment, name: str, adapter_dir: Path) -> None:
    """Hot-load another adapter into a running LoRA server (no restart)."""
    if dep.mode != "lora":
        raise InputError(f"this deployment serves merged models ({dep.mode} mode); another adapter joins only a "
                         "LoRA deployment", hint="Redeploy with --mode lora")
    try:
        http_json(dep.base_url + "/load_lora_adapter", api_key=dep.api_key,
                  data={"lora_name": name, "lora_path": str(adapter_dir)}, timeout=120)
    except urllib.error.HTTPError as exc:
        raise DeployError(f"vLLM refused the adapter: {exc.read().decode(errors='replace')[:300]}") from exc
    dep.loaded_adapters[name] = str(adapter_dir)
    write_json(Path(dep.run_dir) / SERVE_FILE, dep.model_dump(mode="json"), mode=0o600)


def unload_adapter(dep: Deployment, name: str) -> None:
    try:
        http_json(dep.base_url + "/unload_lora_adapter", api_key=dep.api_key, data={"lora_name": name}, timeout=60)
    except urllib.error.HTTPError as exc:
        raise DeployError(f"vLLM could not unload {name!r}: {exc.read().decode(errors='replace')[:300]}") from exc
    dep.loaded_adapters.pop(name, None)
    write_json(Path(dep.run_dir) / SERVE_FILE, dep.model_dump(mode="json"), mode=0o600)
