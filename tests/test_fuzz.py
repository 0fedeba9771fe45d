"""Bounded coverage-guided fuzzing runs (atheris); each target must survive without an unhandled exception."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).parent / "fuzz" / "fuzz_targets.py"
SECONDS = 15  # per target, as docs/reliability.md says


def _fuzz(target: str, tmp_path: Path, *corpus: Path) -> subprocess.CompletedProcess[str]:
    # a fixed seed makes each CI run start the same search (a new crash shows up here, in development runs
    # with other seeds, not as a random CI failure)
    return subprocess.run(
        [sys.executable, str(HARNESS), target, "-seed=20261123", f"-max_total_time={SECONDS}",
         "-rss_limit_mb=4096", f"-artifact_prefix={tmp_path}/", *map(str, corpus)],
        capture_output=True, text=True, timeout=SECONDS * 6,
    )


@pytest.mark.slow
@pytest.mark.parametrize("target", ["jsonl", "faq", "html", "decode", "intent"])
def test_fuzz_target_survives(target: str, tmp_path: Path) -> None:
    proc = _fuzz(target, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not list(tmp_path.glob("crash-*"))
    # it really searched: many inputs, and coverage grew beyond what the first input reached
    inited = re.search(r"INITED cov: (\d+)", proc.stderr)
    done = re.search(r"#(\d+)\s+DONE\s+cov: (\d+)", proc.stderr)
    assert inited and done, proc.stderr[-2000:]
    assert int(done.group(1)) >= 1000 and int(done.group(2)) > int(inited.group(1)), done.group(0)


@pytest.mark.slow
def test_a_crash_in_a_target_fails_the_run_and_keeps_its_input(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed").write_bytes(b"tp!")
    proc = _fuzz("canary", tmp_path, corpus)
    assert proc.returncode != 0 and "planted crash" in proc.stdout + proc.stderr
    crashes = list(tmp_path.glob("crash-*"))
    assert crashes and crashes[0].read_bytes().startswith(b"tp!")
