"""The message catalogs: every language says every code, with the same parameters, and a message reworded in
English keeps its Chinese (nothing translates English text back by pattern)."""

from __future__ import annotations

import re
import shutil
import string
from pathlib import Path

import pytest
import yaml

from tests.fixtures.sources import sources
from tools.core import messages
from tools.core.messages import catalog, lang_of, languages, say

ROOT = Path(__file__).resolve().parent.parent

CJK = re.compile(r"[\u4e00-\u9fff]")


class _Value:
    """A parameter's stand-in that takes any format (``{loss:.4f}``, ``{name!r}``) and shows its name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __format__(self, spec: str) -> str:
        return f"<{self.name}>"

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_there_are_english_and_chinese_catalogs_and_languages_map_to_them() -> None:
    assert languages()[0] == "en" and "zh" in languages()
    assert lang_of("zh-CN") == lang_of("mixed") == "zh" and lang_of("fr") == lang_of(None) == "en"


@pytest.mark.parametrize("lang", [lang for lang in languages() if lang != "en"])
def test_every_language_says_every_code_with_the_same_parameters(lang: str) -> None:
    en, other = catalog("en"), catalog(lang)
    assert sorted(set(en) - set(other)) == [], f"codes without a {lang} text"
    assert sorted(set(other) - set(en)) == [], f"{lang} codes English does not have"
    differ = {code: (_fields(en[code]), _fields(other[code])) for code in en if _fields(en[code]) != _fields(other[code])}
    assert differ == {}


def test_every_code_renders_in_every_language_and_refuses_a_missing_parameter() -> None:
    for lang in languages():
        for code, text in catalog(lang).items():
            names = _fields(text)
            out = say(code, lang, **{n: _Value(n) for n in names})
            assert all(f"<{n}>" in out for n in names), code
            for missing in names:
                with pytest.raises(KeyError):
                    say(code, lang, **{n: _Value(n) for n in names if n != missing})


def test_chinese_texts_are_chinese() -> None:
    zh = catalog("zh")
    # a text that is only a parameter, a number format or a model/metric name is the same in every language
    same = {code for code, text in catalog("en").items() if text.lower() == zh[code].lower()}
    latin = [code for code, text in zh.items()
             if code not in same and not CJK.search(text) and re.search("[A-Za-z]", re.sub(r"\{[^}]*\}", "", text))]
    assert latin == []


def test_codes_named_in_the_code_exist() -> None:
    literal = re.compile(r"""["']((?:answer|data|table_how|table_note|metric|sets|table|page|agent|word|text|plan)"""
                         r"""(?:\.[a-z_0-9]+)+)["']""")
    missing = []
    for pkg in ("tunepilot", "agent", "ui", "tools"):
        for path in sources(pkg):
            for code in literal.findall(path.read_text(encoding="utf-8")):
                if code.split(".")[-1] in ("md", "csv", "json", "jsonl", "yaml", "txt", "py"):
                    continue  # a file name, not a code
                if (ROOT / code.replace(".", "/")).with_suffix(".py").exists():
                    continue  # a module name
                if code not in catalog("en"):
                    missing.append(f"{path.relative_to(ROOT)}: {code}")
    assert missing == []


@pytest.fixture()
def reworded_english(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The catalogs with every English text reworded (as a person editing en.yaml would)."""
    folder = tmp_path / "catalog"
    shutil.copytree(messages.CATALOG_DIR, folder)
    en = yaml.safe_load((folder / "en.yaml").read_text(encoding="utf-8"))

    def reword(tree: dict) -> dict:
        return {k: reword(v) if isinstance(v, dict) else "Reworded: " + str(v) for k, v in tree.items()}

    (folder / "en.yaml").write_text(yaml.safe_dump(reword(en), allow_unicode=True), encoding="utf-8")

    def use(path: Path) -> None:
        monkeypatch.setattr(messages, "CATALOG_DIR", path)
        messages.catalog.cache_clear()

    yield lambda: use(folder)
    messages.catalog.cache_clear()


def test_a_message_reworded_in_english_keeps_its_chinese(reworded_english, tmp_path: Path) -> None:
    from tools.data.document import FileLog
    from tools.data.readers.pdf import read_pdf
    from tools.evaluate.match import EvalRecord
    from tools.evaluate.render import render_markdown
    from tools.evaluate.score import build_table

    def shown() -> tuple[str, str, str, str]:
        flog = FileLog("/uploads/x/手册.pdf")
        read_pdf(b"not a pdf at all", flog)
        rec = EvalRecord(id="q1", prompt="退货期限？", reference="7天内可退货。", output="30天。")
        table = build_table([rec], [rec.model_copy(update={"output": "7天内可退货。"})])
        return (flog.errors[0].shown("zh", "/uploads/x/手册.pdf"), flog.errors[0].shown("en", "/uploads/x/手册.pdf"),
                render_markdown(table, "zh"), render_markdown(table, "en"))

    zh_file, en_file, zh_table, en_table = shown()
    assert zh_file == "手册.pdf：不是 PDF 文件：文件开头不是 %PDF；请检查文件或它的扩展名"
    reworded_english()
    zh_file2, en_file2, zh_table2, en_table2 = shown()
    assert (zh_file2, zh_table2) == (zh_file, zh_table)  # the Chinese did not move
    assert "Reworded: not a PDF" in en_file2 and en_file2 != en_file and "Reworded: " in en_table2


def _plans():  # type: ignore[no-untyped-def]
    """A plan that fits and one refused (whose sentences hold other sentences: the model, the memory, the options)."""
    from tests.tools.planner_fixtures.machines import MACHINES, MODELS
    from tools.plan.planner import plan_training
    from tools.plan.record import PlanOverrides, PlanRequest

    fits = plan_training(PlanRequest(model=MODELS["7B"], hardware=MACHINES["T4-16GB"]))
    refused = plan_training(PlanRequest(model=MODELS["7B"], hardware=MACHINES["4090-24GB"],
                                        overrides=PlanOverrides(micro_batch=64, max_length=4096)))
    assert fits.fits and not refused.fits
    return fits, refused


def test_a_plan_reworded_in_english_keeps_its_chinese(reworded_english) -> None:
    from tools.plan.card import plan_card

    def shown() -> list[object]:
        return [(p.reasons_in("zh"), p.warnings_in("zh"), p.refusal_in("zh"), plan_card(p, "zh"),
                 [i.note_in("zh") for i in p.memory.items]) for p in _plans()]

    fits, refused = _plans()
    before = shown()
    reworded_english()
    assert shown() == before  # the Chinese did not move
    fits2, refused2 = _plans()
    assert all(r.startswith("Reworded: ") for r in fits2.reasons) and fits2.reasons != fits.reasons
    assert (refused2.refusal or "").count("Reworded: ") > 3  # the sentences inside it were reworded too


def test_adding_a_language_is_adding_a_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "catalog"
    shutil.copytree(messages.CATALOG_DIR, folder)
    en = yaml.safe_load((folder / "en.yaml").read_text(encoding="utf-8"))

    def mark(tree: dict) -> dict:
        return {k: mark(v) if isinstance(v, dict) else "«" + str(v) + "»" for k, v in tree.items()}

    (folder / "fr.yaml").write_text(yaml.safe_dump(mark(en), allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(messages, "CATALOG_DIR", folder)
    messages.catalog.cache_clear()
    try:
        assert messages.languages() == ("en", "fr", "zh") and messages.lang_of("fr-FR") == "fr"
        fits, refused = _plans()
        assert all(r.startswith("«") and r.endswith("»") for r in fits.reasons_in("fr"))
        assert all(i.note_in("fr").startswith("«") for i in fits.memory.items)
        assert (refused.refusal_in("fr") or "").startswith("««")  # the model's words inside are the new language's
        assert fits.reasons_in("en") == fits.reasons
    finally:
        messages.catalog.cache_clear()


def test_a_catalog_text_yaml_reads_as_a_boolean_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "en.yaml").write_text("card:\n  on: on\n", encoding="utf-8")  # YAML 1.1: {True: True}
    monkeypatch.setattr(messages, "CATALOG_DIR", tmp_path)
    messages.catalog.cache_clear()
    try:
        with pytest.raises(ValueError, match="quote it"):
            catalog("en")
    finally:
        messages.catalog.cache_clear()
