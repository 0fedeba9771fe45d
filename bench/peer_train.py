"""The real LLaMA-Factory beside ``tunepilot train``: same file, same settings, one after the other, one machine.

    python bench/peer_train.py [--model demo] [--epochs 3] [--batch 4] [--lr 1e-3] [--rank 16] [--only tunepilot]

The first run installs LLaMA-Factory's CLI from PyPI into its own virtual environment, ``bench/.peers/llamafactory``
(ignored by git; about 6.6 GB, mostly the CUDA build of torch its torchvision/torchaudio pins pull in, and ~3 min),
and takes LLaMA-Factory's own ``data/identity.json`` (91 pairs, 75 of them Chinese) from its source package on PyPI,
with ``{{name}}``/``{{author}}`` filled in as its README says.

Both tools train the same pairs for the same epochs with LoRA r on all linear layers, the same micro-batch,
accumulation (the one tunepilot's plan picks), learning rate and bf16 on the CPU. LLaMA-Factory uses its ``smollm``
template (no default system prompt) and trains on every pair; tunepilot (``--task style``: no rewordings, no replay,
no learning check) holds ~10% out for its evaluation, as it does for a person. For each it prints:

- wall time of the train command, start-up included (``llamafactory-cli train cfg.yaml`` / ``tunepilot train``);
- examples × epochs per second over that wall time (the named baseline: LLaMA-Factory);
- tokens per second counted the same way for both: the tokens of every example each one trains on, rendered by its
  own template (LLaMA-Factory's encoder in its own environment; tunepilot's saved chat template), × epochs, over the
  same wall time;
- peak memory: the largest sum of resident memory over the command's whole process tree, sampled every 0.1 s;
- identity hits: 6 questions asked in other words than the file's (EN and ZH), greedy, each model through its own
  template; a hit names the new name or maker.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / ".peers"
LF_VERSION = "0.9.5"
LF_VENV = PEERS / "llamafactory"
NAME, MAKER = "Lumen", "Harbor Labs"
# asked in other words than any of identity.json's instructions (checked below)
QUESTIONS = ["Tell me a little about who you are.", "Which organisation created you?",
             "What name do you go by?", "请问该怎么称呼你？", "你是由哪个团队开发出来的？", "介绍一下你自己吧。"]
BASELINE = "LLaMA-Factory"


def _pip(venv: Path, *args: str) -> None:
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *args], check=True)


def install_peer() -> Path:
    """LLaMA-Factory's CLI in its own virtual environment (once); its path."""
    stamp = LF_VENV / ".installed"
    if stamp.exists() and stamp.read_text().strip() == LF_VERSION:
        return LF_VENV / "bin" / "llamafactory-cli"
    t0 = time.time()
    print(f"installing llamafactory=={LF_VERSION} into {LF_VENV} (once: several GB, a few minutes)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(LF_VENV)], check=True)
    _pip(LF_VENV, f"llamafactory=={LF_VERSION}")
    size = sum(f.stat().st_size for f in LF_VENV.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"installed in {(time.time() - t0) / 60:.1f} min, {size / 1e9:.1f} GB", flush=True)
    stamp.write_text(LF_VERSION)
    return LF_VENV / "bin" / "llamafactory-cli"


def identity_pairs() -> list[dict[str, str]]:
    """LLaMA-Factory's ``data/identity.json`` from its source package on PyPI, name and maker filled in."""
    src = PEERS / f"llamafactory-{LF_VERSION}.tar.gz"
    if not src.exists():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                            "-d", tmp, f"llamafactory=={LF_VERSION}"], check=True)
            shutil.move(next(Path(tmp).glob("llamafactory-*.tar.gz")), src)
    with tarfile.open(src) as tar:
        member = tar.extractfile(f"llamafactory-{LF_VERSION}/data/identity.json")
        assert member is not None
        text = member.read().decode()
    pairs = json.loads(text.replace("{{name}}", NAME).replace("{{author}}", MAKER))
    asked = {p["instruction"].strip().lower() for p in pairs}
    assert not asked & {q.lower() for q in QUESTIONS}, "the identity questions must be new wordings"
    return pairs


class PeakRSS:
    """The largest summed RSS of a process and all its children, sampled every 0.1 s while it runs."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.proc, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self.timeline: list[tuple[float, int]] = []  # (time, summed RSS) of every sample
        self.at_peak: list[tuple[str, int]] = []  # (command line, RSS) of each process at the peak
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total, each = 0, []
            try:
                for p in [self.proc, *self.proc.children(recursive=True)]:
                    try:
                        rss = p.memory_info().rss
                        total += rss
                        each.append((" ".join(p.cmdline())[:120], rss))
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            if total > self.peak:
                self.peak, self.at_peak = total, each
            self.timeline.append((time.time(), total))
            self._stop.wait(0.1)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def timed(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``cmd`` (output to ``log``); its wall seconds and peak RSS in MB, or exit with its log's tail."""
    with log.open("w") as out:
        t0 = time.time()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        rss = PeakRSS(proc.pid)
        code = proc.wait()
        wall = time.time() - t0
        peak = rss.stop()
    log.with_suffix(".rss").write_text("".join(f"{t:.2f} {b / 2**20:.0f}\n" for t, b in rss.timeline)
                                       + "".join(f"# at the peak: {b / 2**20:.0f} MB {c}\n" for c, b in rss.at_peak))
    if code != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({code}):\n" + "".join(log.read_text().splitlines(True)[-30:]))
    return wall, peak


def run_tunepilot(model: str, pairs_file: Path, work: Path, args: argparse.Namespace) -> dict[str, float]:
    tp = str(ROOT / ".venv" / "bin" / "tunepilot") if (ROOT / ".venv" / "bin" / "tunepilot").exists() else "tunepilot"
    data, run = work / "tp-data", work / "tp-run"
    subprocess.run([tp, "data", str(pairs_file), "--out", str(data)], check=True, capture_output=True)
    subprocess.run([tp, "plan", "--model", model, "--data", str(data), "--task", "style", "--rank", str(args.rank),
                    "--batch", str(args.batch), "--lr", str(args.lr), "--epochs", str(args.epochs),
                    "--out", str(work / "plan.json")], check=True, capture_output=True)
    wall, peak = timed([tp, "train", "--data", str(data), "--plan", str(work / "plan.json"), "--run", str(run)],
                       work / "tunepilot-train.log")
    rows = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines() if line.strip()]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(run / "adapter"))  # the template it trained (and serves) with
    tokens = sum(len(tok.apply_chat_template(r["messages"], tokenize=True, return_dict=False)) for r in rows)
    return {"wall_s": wall, "examples": len(rows), "tokens": tokens * args.epochs, "peak_mb": peak,
            "hits": identity_hits(model, run / "adapter", tok.chat_template),
            "accum": json.loads((work / "plan.json").read_text())["grad_accum"]}


LF_SMOLLM = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
             "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
LF_COUNT = """
import json, sys
from transformers import AutoTokenizer
from llamafactory.data import get_template_and_fix_tokenizer
from llamafactory.hparams import DataArguments
tok = AutoTokenizer.from_pretrained(sys.argv[1])
template = get_template_and_fix_tokenizer(tok, DataArguments(template="smollm"))
pairs = json.load(open(sys.argv[2]))
n = 0
for p in pairs:
    msgs = [{"role": "user", "content": p["instruction"]}, {"role": "assistant", "content": p["output"]}]
    prompt, answer = template.encode_oneturn(tok, msgs)
    n += len(prompt) + len(answer)
print(n)
"""


def run_llamafactory(cli: Path, model: str, pairs: list[dict[str, str]], work: Path, args: argparse.Namespace,
                     accum: int) -> dict[str, float]:
    data, out = work / "lf-data", work / "lf-out"
    data.mkdir(parents=True, exist_ok=True)
    (data / "identity.json").write_text(json.dumps(pairs, ensure_ascii=False))
    (data / "dataset_info.json").write_text(json.dumps({"identity": {"file_name": "identity.json"}}))
    cfg = {
        "model_name_or_path": model, "stage": "sft", "do_train": True, "finetuning_type": "lora",
        "lora_rank": args.rank, "lora_alpha": 2 * args.rank, "lora_target": "all", "dataset": "identity",
        "dataset_dir": str(data), "template": "smollm", "cutoff_len": 1024, "overwrite_cache": True,
        "output_dir": str(out), "logging_steps": 10, "save_steps": 500, "overwrite_output_dir": True,
        "report_to": "none", "per_device_train_batch_size": args.batch, "gradient_accumulation_steps": accum,
        "learning_rate": args.lr, "num_train_epochs": float(args.epochs), "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.1, "bf16": True, "use_cpu": True,
    }
    (work / "lf.yaml").write_text(json.dumps(cfg))  # YAML is a superset of JSON
    env = {"HF_HUB_OFFLINE": "1", "DISABLE_VERSION_CHECK": "1", "CUDA_VISIBLE_DEVICES": ""}
    wall, peak = timed([str(cli), "train", str(work / "lf.yaml")], work / "llamafactory-train.log", env)
    (work / "pairs.json").write_text(json.dumps(pairs, ensure_ascii=False))
    count = subprocess.run([str(LF_VENV / "bin" / "python"), "-c", LF_COUNT, model, str(work / "pairs.json")],
                           check=True, capture_output=True, text=True, env={**os.environ, **env})
    return {"wall_s": wall, "examples": len(pairs), "tokens": int(count.stdout.split()[-1]) * args.epochs,
            "peak_mb": peak, "hits": identity_hits(model, out, LF_SMOLLM), "accum": accum}


def identity_hits(model: str, adapter: Path, template: str) -> int:
    """How many of QUESTIONS the base + adapter answers with the new name or maker (greedy, 48 new tokens)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    tok.chat_template = template
    lm = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32), str(adapter))
    hits = 0
    for q in QUESTIONS:
        ids = tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)
        with torch.no_grad():
            out = lm.generate(**ids, max_new_tokens=48, do_sample=False, pad_token_id=tok.eos_token_id)
        answer = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
        hits += NAME.lower() in answer.lower() or MAKER.lower() in answer.lower()
    return hits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="demo")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--only", choices=["tunepilot", "llamafactory"], help="run one side only (no ratios)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tools.core.models import resolve_model

    model = str(resolve_model(args.model))
    PEERS.mkdir(parents=True, exist_ok=True)
    cli = install_peer() if args.only != "tunepilot" else None
    pairs = identity_pairs()
    with tempfile.TemporaryDirectory(prefix="peer-train-") as tmp:
        work = Path(tmp)
        (work / "identity.json").write_text(json.dumps(pairs, ensure_ascii=False))
        results: dict[str, dict[str, float]] = {}
        if args.only != "llamafactory":
            results["tunepilot"] = run_tunepilot(model, work / "identity.json", work, args)
        if cli is not None:
            accum = int(results["tunepilot"]["accum"]) if results else 2
            results[BASELINE] = run_llamafactory(cli, model, pairs, work, args, accum)
        keep = os.environ.get("PEER_TRAIN_KEEP")
        if keep:
            shutil.copytree(work, keep, dirs_exist_ok=True)
    print_table(results, model, args)


def print_table(results: dict[str, dict[str, float]], model: str, args: argparse.Namespace) -> None:
    base = results.get(BASELINE)
    print(f"\n{Path(model).name}, LLaMA-Factory's identity.json, LoRA r={args.rank} all linear, micro-batch "
          f"{args.batch}, lr {args.lr}, {args.epochs} epochs, bf16 on the CPU ({os.cpu_count()} cores)")
    print(f"{'tool':<15}{'wall s':>8}{'examples':>10}{'ex×ep/s':>9}{'tokens/s':>10}{'peak MB':>9}"
          f"{'identity':>10}{'speed ×':>9}{'memory ×':>10}")
    for name, r in results.items():
        eps = r["examples"] * args.epochs / r["wall_s"]
        row = (f"{name:<15}{r['wall_s']:>8.1f}{int(r['examples']):>10}{eps:>9.3f}{r['tokens'] / r['wall_s']:>10.1f}"
               f"{r['peak_mb']:>9.0f}{int(r['hits']):>7}/{len(QUESTIONS)}")
        if base:
            row += (f"{eps / (base['examples'] * args.epochs / base['wall_s']):>9.2f}"
                    f"{r['peak_mb'] / base['peak_mb']:>10.2f}")
        print(row)
    print(f"\nspeed × and memory × are against {BASELINE} (the named baseline), measured in this run.")


if __name__ == "__main__":
    main()
