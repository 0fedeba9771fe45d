from __future__ import annotations

import subprocess
import sys

import pytest

from tunepilot.cli import main


def test_help_lists_the_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    for verb in ("doctor", "models", "runs"):
        assert verb in out


def test_runs_listing_empty_and_bad_delete(runs_dir, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs"]) == 0
    assert "no runs yet" in capsys.readouterr().out
    assert main(["runs", "--delete", "../etc"]) == 2
    err = capsys.readouterr().err
    assert "invalid run id" in err and "Traceback" not in err


def test_console_script_errors_without_traceback_unless_debug() -> None:
    cmd = [sys.executable, "-m", "tunepilot.cli", "models", "/definitely/missing"]
    plain = subprocess.run(cmd, capture_output=True, text=True)
    assert plain.returncode == 2
    assert "Traceback" not in plain.stderr and "no such folder" in plain.stderr
    debug = subprocess.run(cmd[:3] + ["--debug"] + cmd[3:], capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr
