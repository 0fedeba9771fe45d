"""The canary: base and adapter must answer a training prompt differently, else the adapter is not applied."""

from __future__ import annotations

from pathlib import Path

from tools.core.events import EventWriter
from tools.core.payloads import Canary
from tools.data.examples import load_examples
from tools.serve.chat import complete
from tools.serve.process import DeployError
from tools.serve.record import Deployment
from tools.train.record import run_settings


def run_canary(dep: Deployment, run_dir: Path) -> None:
    """Greedy answers of base and adapter to a training prompt must differ."""
    settings = run_settings(run_dir)
    examples = load_examples(Path(settings.data_dir if settings else run_dir / "data") / "train.jsonl", None)
    messages = examples[0]["prompt"] if examples else [{"role": "user", "content": "Who are you?"}]
    a = complete(dep, "base", messages, max_tokens=32)
    b = complete(dep, "tuned", messages, max_tokens=32)
    differ = a != b
    how = "greedy answers"
    if not differ:
        # A short training can leave the greedy text unchanged while the adapter is applied: then the
        # token probabilities still differ. Identical probabilities mean the adapter is ignored.
        la, lb = _first_logprobs(dep, "base", messages), _first_logprobs(dep, "tuned", messages)
        differ = la is not None and lb is not None and any(abs(x - y) > 1e-4 for x, y in zip(la, lb, strict=False))
        how = "token probabilities"
    EventWriter(run_dir).emit("deploy", "info", f"canary: base and adapter compared by {how}",
                              **Canary(base=a[:200], tuned=b[:200], differ=differ).fields())
    if not differ:
        raise DeployError(
            "the adapter is not being applied: base and fine-tuned gave the same greedy answer to a training "
            "prompt", hint="Check that training finished and the adapter is not empty"
        )


def _first_logprobs(dep: Deployment, which: str, messages: list[dict[str, str]], n: int = 8) -> list[float] | None:
    """Log-probabilities of the first ``n`` greedy tokens (None when the server cannot give them)."""
    from openai import OpenAI

    try:
        client = OpenAI(base_url=dep.url_for(which), api_key=dep.api_key or "EMPTY", timeout=60, max_retries=0)
        resp = client.chat.completions.create(model=dep.models[which], messages=messages,  # type: ignore[arg-type]
                                              max_tokens=n,
                                              temperature=0, logprobs=True, top_logprobs=1)
        content = resp.choices[0].logprobs.content if resp.choices[0].logprobs else None
        return [float(t.logprob) for t in content] if content else None
    except Exception:  # noqa: BLE001 - the greedy comparison already happened; this only refines it
        return None
