"""The runs tab's buttons, as the page calls them (no browser): export to GGUF + Ollama from a chosen run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools.core.runs import RunIndex
from ui import runs_tab

OWNER = "t-" + "e" * 30


def test_export_from_the_runs_tab_names_the_files_and_the_check(runs_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's Export button on a run of this conversation: the run's merged model goes to GGUF and an Ollama
    Modelfile (tools.train.export, which tests/tools/test_export.py runs for real), and the page says which
    files and how the read-back check went, in the page's language; another conversation's run is refused."""
    import tools.train.export as export

    monkeypatch.setattr(runs_tab, "new_thread_id", lambda current: current)
    mine = RunIndex().create(goal="客服助手", owner=OWNER)
    theirs = RunIndex().create(goal="identity", owner="t-" + "f" * 30)
    asked: list[Any] = []

    def exported(req: Any) -> Any:  # what export_model returns after writing and reading back the files
        asked.append(req)
        out = Path(req.run_dir).resolve() / "export"
        checks = [export.GGUFCheck(type="f16", identical=4, prompts=4),
                  export.GGUFCheck(type="q8_0", identical=3, prompts=4)]
        return export.ExportResult(files=[out / "model-f16.gguf", out / "model-q8_0.gguf"], modelfile=out / "Modelfile",
                                   checks=checks, passed=True, reasons=[])

    monkeypatch.setattr(export, "export_model", exported)
    zh = runs_tab.guarded(runs_tab.export_run)(mine.id, OWNER, "zh")
    assert [Path(r.run_dir).name for r in asked] == [mine.id] and asked[0].to == "ollama"
    assert f"{mine.id}/export/Modelfile" in zh and "f16 4/4" in zh and "导出" in zh, zh
    assert str(runs_dir) not in zh  # run ids, not server paths
    en = runs_tab.guarded(runs_tab.export_run)(mine.id, OWNER, "en")
    assert f"{mine.id}/export/model-q8_0.gguf" in en and "Modelfile" in en, en
    refused = runs_tab.guarded(runs_tab.export_run)(theirs.id, OWNER, "zh")
    assert refused.startswith("⚠️") and len(asked) == 2, refused
