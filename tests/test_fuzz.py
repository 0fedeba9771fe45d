"""Bounded coverage-guided fuzzing runs (atheris); each target must survive without an unhandled exception."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).parent / "fuzz" / "fuzz_targets.py"


@pytest.mark.slow
@pytest.mark.parametrize("target", ["jsonl", "faq", "html", "decode", "intent"])
def test_fuzz_target_survives(target: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        # a fixed seed and run count make each CI run the same search (a new crash shows up here, in
        # development runs with other seeds, not as a random CI failure)
        [sys.executable, str(HARNESS), target, "-seed=20261123", "-runs=30000", "-max_total_time=60",
         "-rss_limit_mb=4096",
         f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Done" in proc.stderr or "DONE" in proc.stderr  # it really ran
