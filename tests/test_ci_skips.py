"""CI runs the whole suite: a test that skips there (no browser, no font, no tmpfs) fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pytest(tmp_path: Path, ci: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_one_skips.py").write_text(
        "import pytest\n\ndef test_needs_chromium():\n    pytest.skip('Chromium is not installed')\n\n"
        "def test_plain():\n    assert True\n", encoding="utf-8")
    env = {**os.environ, "CI": ci}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-c", os.devnull,
                           "--rootdir", str(tmp_path), str(tmp_path / "test_one_skips.py")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_a_skip_fails_ci_and_says_why(tmp_path: Path) -> None:
    proc = _pytest(tmp_path, "true")
    assert proc.returncode == 1, proc.stdout
    assert "test_needs_chromium: Skipped: Chromium is not installed" in proc.stdout


def test_a_skip_outside_ci_is_only_reported(tmp_path: Path) -> None:
    proc = _pytest(tmp_path, "")
    assert proc.returncode == 0, proc.stdout
    assert "1 passed, 1 skipped" in proc.stdout
