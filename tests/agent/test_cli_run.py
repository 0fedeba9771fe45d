"""`tunepilot run "GOAL" FILES --yes`: the whole journey without a page, on the demo model (slow tier)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.identity import identity_records


@pytest.mark.slow
def test_run_yes_goes_from_files_to_an_eval_table(tmp_path: Path, demo_model: Path) -> None:
    data = tmp_path / "identity.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in identity_records()), encoding="utf-8")
    runs = tmp_path / "runs"
    env = {**os.environ, "TUNEPILOT_RUNS": str(runs), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-m", "tools.cli", "run", "Fine-tune the small model on this data", str(data), "--yes",
         "--max-steps", "24", "--poll", "2"],
        capture_output=True, text=True, timeout=1500, env=env,
    )
    out = proc.stdout
    try:
        assert proc.returncode == 0, proc.stderr[-3000:] + out[-3000:]
        for expected in ("Dataset ready", "Plan:", "Training started", "Adapter merged", "Serving at", "ROUGE-L", "All done"):
            assert expected in out, expected
        run_dir = next(p for p in runs.iterdir() if p.is_dir() and (p / "plan.json").exists())
        table = json.loads((run_dir / "eval" / "table.json").read_text(encoding="utf-8"))
        rows = {r["name"]: r for r in table["rows"]}
        assert rows["rouge_l"]["after"] > rows["rouge_l"]["before"]
    finally:
        from tools.deploy import stop_deployment

        for serve in runs.glob("*/serve.json"):
            stop_deployment(serve.parent)
