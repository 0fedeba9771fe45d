"""End to end: real files in, train/eval JSONL and a report out."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.tools.dataset.conftest import make_docx, make_pdf, make_xlsx, read_jsonl, write_jsonl
from tools.core.errors import InputError
from tools.data import ConvertRequest, ConvertResult, convert_documents
from tools.data.clean import near_key


def convert(inputs: list[Path], out: Path, **kw: Any) -> ConvertResult:
    return convert_documents(ConvertRequest(inputs=inputs, out_dir=out, **kw))


def by_source(result: ConvertResult) -> dict[str, Any]:
    return {Path(f.source.split("!")[-1]).name: f for f in result.files}


def all_rows(result: ConvertResult) -> list[dict[str, Any]]:
    return read_jsonl(result.train_path) + read_jsonl(result.eval_path)


def user_texts(rows: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for r in rows for m in r["messages"] if m["role"] == "user"]


def build_corpus(d: Path) -> Path:
    d.mkdir()
    (d / "faq_en.md").write_text(
        "# Router FAQ\n\nThis page answers common questions.\n\n## How do I reset the router?\n\n"
        "Hold the reset button for ten seconds until the light blinks.\n\n"
        "Q: What is the default password?\nA: It is printed on the label under the router.\n\n"
        "Question: Does it support WiFi 6?\nAnswer: Yes, the AX models do.\n", encoding="utf-8")
    (d / "faq_zh_gbk.txt").write_bytes(
        "问：如何申请退货？\n答：收到商品七天内可以在订单页面申请退货。\n\n问题：运费由谁承担？\n回答：质量问题的运费由我们承担。\n"
        .encode("gbk"))
    (d / "faq_zh_utf16.txt").write_text("1. 保修期多长？\n整机保修两年。\n\n2. 在哪里下载说明书？\n在官网的支持页面下载。\n",
                                        encoding="utf-16")
    (d / "sheet_zh.csv").write_bytes("问题,答案\n营业时间是几点？,每天九点到十八点。\n可以开发票吗？,可以，下单时填写抬头。\n"
                                     .encode("utf-8-sig"))
    make_xlsx(d / "sheet_en.xlsx", {"FAQ": [["Question", "Answer"], ["Do you ship abroad?", "Yes, to 30 countries."],
                                            ["How long is delivery?", "Three to five working days."]]})
    make_docx(d / "guide.docx", [
        ("h1", "Installation Guide"),
        ("h2", "Requirements"), ("p", "You need a Linux machine with Python 3.11 and 4 GB of memory."),
        ("h2", "Setup steps"), ("p", "Download the package, unpack it and run the installer script as root."),
        ("table", [["Question", "Answer"], ["Is Windows supported?", "Only through WSL2."]]),
    ])
    (d / "help.html").write_text(
        "<html><head><title>Help</title><script>var tracking = 1;</script></head><body>"
        "<nav>Home | Products | Cookie settings</nav><main><h1>Help centre</h1>"
        "<h2>Can I change my order?</h2><p>Yes, within one hour of placing it.</p>"
        "<dl><dt>Do you have a phone line?</dt><dd>Call 400-123-4567 on weekdays.</dd></dl>"
        "<table><tr><th>提问</th><th>回答</th></tr><tr><td>支持货到付款吗？</td><td>支持，部分地区除外。</td></tr></table>"
        "</main><footer>Copyright 2024 ACME. All rights reserved.</footer></body></html>", encoding="utf-8")
    make_pdf(d / "manual.pdf", [
        ("h1", "Pump Manual"),
        ("h2", "Maintenance"), ("p", "Clean the filter every month. Replace the seal once a year."),
        ("h2", "Safety"), ("p", "Always unplug the pump before opening the housing."),
    ])
    (d / "alpaca.json").write_text(json.dumps([
        {"instruction": "Translate to French", "input": "Good morning", "output": "Bonjour"},
        {"instruction": "用一句话介绍长城。", "input": "", "output": "长城是中国古代的军事防御工程。"},
    ], ensure_ascii=False, indent=2), encoding="utf-8")
    write_jsonl(d / "chat.jsonl", [
        {"conversations": [{"from": "human", "value": "Hi there"}, {"from": "gpt", "value": "Hello! How can I help?"}]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "2+2?"}]},
                      {"role": "assistant", "content": "4"}]},
    ])
    return d


def test_every_file_type_in_english_and_chinese(tmp_path: Path, demo_model: Path) -> None:
    corpus = build_corpus(tmp_path / "in")
    result = convert([corpus], tmp_path / "out")
    files = by_source(result)
    assert not result.errors, result.errors
    expect = {
        "faq_en.md": ({"faq"}, 3), "faq_zh_gbk.txt": ({"faq"}, 2), "faq_zh_utf16.txt": ({"faq"}, 2),
        "sheet_zh.csv": ({"table"}, 2), "sheet_en.xlsx": ({"table"}, 2), "alpaca.json": ({"dataset"}, 2),
        "chat.jsonl": ({"dataset"}, 2), "help.html": ({"faq", "table"}, 3), "guide.docx": ({"fact", "section", "table"}, 6),
        "manual.pdf": ({"section"}, 2),
    }
    for name, (methods, count) in expect.items():
        assert set(files[name].methods) == methods, (name, files[name])
        assert files[name].records_kept == count, (name, files[name])
    rows = all_rows(result)
    assert result.train_records + result.eval_records == len(rows) == 26
    assert result.eval_records >= 1
    for r in rows:
        assert r["meta"]["source"] and r["meta"]["method"] in {"dataset", "faq", "table", "section", "fact"}
        assert [m["role"] for m in r["messages"]][-1] == "assistant"
    text = json.dumps(rows, ensure_ascii=False)
    # encodings decoded, not mojibake
    for phrase in ("收到商品七天内", "整机保修两年", "营业时间是几点", "支持货到付款吗", "长城是中国古代"):
        assert phrase in text
    # boilerplate removed
    for junk in ("Cookie settings", "Copyright 2024", "tracking"):
        assert junk not in text
    users = user_texts(rows)
    assert "What is the default password?" in users
    assert "Translate to French\n\nGood morning" in users
    assert any("Maintenance" in u and "Pump Manual" in u for u in users)
    pdf_rows = [r for r in rows if r["meta"]["source"].endswith("manual.pdf")]
    assert {r["meta"]["page"] for r in pdf_rows} == {1}
    assert all("Clean the filter" in r["messages"][1]["content"] or "unplug" in r["messages"][1]["content"]
               for r in pdf_rows)
    report = json.loads(result.report_path.read_text())
    assert report["tokens"]["p50"] > 0 and report["tokens"]["p95"] >= report["tokens"]["p50"]
    assert report["tokens"]["max"] == result.tokens.max >= report["tokens"]["p95"]
    assert report["totals"]["train"] + report["totals"]["eval"] == 26
    assert {f["source"].rsplit("/", 1)[-1] for f in report["files"]} == set(expect)


def test_pdf_headings_from_outline_and_pages(tmp_path: Path, demo_model: Path) -> None:
    pdf = make_pdf(tmp_path / "guide.pdf", [
        ("h1", "Camera Guide"), ("p", "This guide covers the basic use of the camera in daily life."),
        ("page", ""), ("h2", "Charging the battery"), ("p", "Charge the battery for three hours before first use."),
        ("page", ""), ("h2", "Cleaning the lens"), ("p", "Use a soft dry cloth; never use solvents on the lens."),
    ], outline=True)
    result = convert([pdf], tmp_path / "out", eval_ratio=0)
    rows = all_rows(result)
    sections = {r["meta"]["section"].rsplit(" / ", 1)[-1]: r["meta"] for r in rows}
    assert sections["Charging the battery"]["page"] == 2 and sections["Cleaning the lens"]["page"] == 3
    # the fact under the heading is asked for, not the heading
    charging = [r for r in rows if r["meta"]["section"].endswith("Charging the battery")]
    assert {r["meta"]["method"] for r in charging} == {"fact"}
    assert any(r["messages"][0]["content"].startswith("How long") for r in charging)


def test_chinese_pdf_gets_chinese_questions(tmp_path: Path, demo_model: Path) -> None:
    pdf = make_pdf(tmp_path / "手册.pdf", [
        ("h1", "空气净化器使用手册"),
        ("h2", "滤网更换"), ("p", "滤网每六个月更换一次。更换前请先关闭电源并拔下插头。"),
        ("h2", "日常清洁"), ("p", "用干布擦拭机身外壳，不要用水冲洗。"),
    ], cjk=True)
    result = convert([pdf], tmp_path / "out", eval_ratio=0)
    rows = all_rows(result)
    asked = {r["messages"][0]["content"]: r["messages"][1]["content"] for r in rows}
    assert asked["滤网多久更换一次？"] == "滤网每六个月更换一次。"  # the fact asked for, answered in its own words
    assert asked["可以用水冲洗吗？"] == "用干布擦拭机身外壳，不要用水冲洗。"  # the rule, as a yes/no question
    # the sentence with no fact keeps a record under its heading, in Chinese, full-width as written
    rest = next(q for q, a in asked.items() if a == "更换前请先关闭电源并拔下插头。")
    assert "滤网更换" in rest and "空气净化器" in rest and rest.endswith("？")
    assert all(q.endswith("？") for q in asked)


def test_bad_inputs_are_named_and_the_rest_still_converts(tmp_path: Path, demo_model: Path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    (d / "good.md").write_text("Q: Is it waterproof?\nA: Yes, to 50 metres.\n", encoding="utf-8")
    (d / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 20)
    (d / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    (d / "data.jsonl").write_text('{"instruction": "a", "output": "b"}\n{"instruction": "c", "output"\n', encoding="utf-8")
    (d / "empty.md").write_bytes(b"")
    (d / "tool.exe").write_bytes(b"MZ\x90\x00" + bytes(64))
    (d / "empty.zip").write_bytes(b"")
    result = convert([d], tmp_path / "out")
    files = by_source(result)
    assert files["good.md"].records_kept == 1 and files["data.jsonl"].records_kept == 1

    def msg(name: str) -> str:
        return " | ".join(f"{e.where}: {e.message}" for e in files[name].errors)

    assert "PDF" in msg("corrupt.pdf")
    assert "binary" in msg("image.txt") and "PNG" in msg("image.txt")
    jsonl = files["data.jsonl"].errors[0]
    assert jsonl.where.endswith("data.jsonl:2") and "invalid JSON" in jsonl.message
    assert "empty" in msg("empty.md")
    assert "unsupported file type '.exe'" in msg("tool.exe")
    assert "empty" in msg("empty.zip")
    report = json.loads(result.report_path.read_text())
    assert report["totals"]["files_with_errors"] == 6


def test_nothing_usable_is_an_error_with_the_report_written(tmp_path: Path, demo_model: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        convert([bad, tmp_path / "missing.md"], tmp_path / "out")
    text = str(info.value)
    assert "no usable records" in text and "bad.jsonl:1" in text and "report.json" in text
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["totals"]["records_kept"] == 0
    assert not (tmp_path / "out" / "train.jsonl").exists()


def test_zip_members_are_read_safely(tmp_path: Path, demo_model: Path) -> None:
    archive = tmp_path / "docs.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("docs/faq.md", "Q: Where is the shop?\nA: On Main Street 5.\n")
        zf.writestr("../../evil.md", "Q: escape?\nA: yes\n")
        zf.writestr("/abs.md", "Q: absolute?\nA: yes\n")
        zf.writestr("inner.zip", b"PK\x05\x06" + bytes(18))
        zf.writestr("bomb.txt", b"0" * (8 * 1024**2))
    result = convert([archive], tmp_path / "out", eval_ratio=0)
    rows = all_rows(result)
    assert [r["meta"]["source"] for r in rows] == [f"{archive}!docs/faq.md"]
    errors = " | ".join(e.message for e in by_source(result)["docs.zip"].errors)
    assert "climbs out" in errors and "absolute" in errors and "inside the archive" in errors
    assert "zip bomb" in errors
    assert not (tmp_path.parent / "evil.md").exists()


def _faq_rows(n: int) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        rows.append({"question": f"How do I configure option {i}?", "answer": f"Set option {i} to {i * 7} in the file."})
        if i % 5 == 0:  # near-duplicate question, different answer: must stay on the same side
            rows.append({"question": f"how do I configure OPTION {i}", "answer": f"Use the menu, entry {i}."})
    return rows


def test_split_is_deterministic_and_leak_free(tmp_path: Path, demo_model: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", _faq_rows(60))
    a = convert([data], tmp_path / "a", seed=7)
    convert([data], tmp_path / "b", seed=7)
    for name in ("train.jsonl", "eval.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "report.json").read_text().replace(str(tmp_path / "a"), "") == \
        (tmp_path / "b" / "report.json").read_text().replace(str(tmp_path / "b"), "")
    assert a.eval_records == 7 and a.train_records == 65
    train_q = {near_key(q) for q in user_texts(read_jsonl(a.train_path))}
    eval_q = {near_key(q) for q in user_texts(read_jsonl(a.eval_path))}
    assert eval_q and not train_q & eval_q
    c = convert([data], tmp_path / "c", seed=8)
    assert c.eval_path.read_bytes() != a.eval_path.read_bytes()


def test_ten_records_still_get_an_eval_record(tmp_path: Path, demo_model: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", [{"question": f"Q number {i}?", "answer": f"A {i}"} for i in range(10)])
    result = convert([data], tmp_path / "out", eval_ratio=0.05)
    assert (result.train_records, result.eval_records) == (9, 1)


def test_duplicates_and_one_sided_pairs_are_dropped_by_reason(tmp_path: Path, demo_model: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", [
        {"question": "What is the refund window?", "answer": "Thirty days."},
        {"question": "What is the refund window?", "answer": "Thirty days."},
        {"question": "what is the REFUND window", "answer": "thirty days"},
        {"question": "Empty answer?", "answer": "   "},
        {"question": "Where are you?", "answer": "In Berlin."},
    ])
    result = convert([data], tmp_path / "out", eval_ratio=0)
    assert result.train_records == 2
    assert result.dropped == {"empty or one-sided pair": 1, "exact duplicate": 1, "near duplicate": 1}


def test_answers_of_only_symbols_are_dropped_but_numbers_stay(tmp_path: Path, demo_model: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", [
        {"question": "退货期限是几天？", "answer": "30"},
        {"question": "分隔线？", "answer": "########——————"},
        {"question": "What is the code?", "answer": "A-7"},
    ])
    md = tmp_path / "broken.md"
    md.write_text("#" * 20_000 + "\n\n" + "-" * 5_000 + "\n", encoding="utf-8")
    result = convert([data, md], tmp_path / "out", eval_ratio=0)
    answers = [r["messages"][-1]["content"] for r in read_jsonl(tmp_path / "out" / "train.jsonl")]
    assert answers == ["30", "A-7"]
    assert result.dropped.get("only symbols, no words", 0) >= 2


def test_long_sections_split_to_the_budget_and_long_dataset_answers_dropped(tmp_path: Path, demo_model: Path) -> None:
    paragraphs = "\n\n".join(f"Paragraph {i}: " + "the pump needs regular care and attention. " * 12
                             for i in range(12))
    doc = tmp_path / "care.md"
    doc.write_text(f"# Pump care\n\n## Routine\n\n{paragraphs}\n", encoding="utf-8")
    data = write_jsonl(tmp_path / "long.jsonl", [{"instruction": "Say it", "output": "word " * 3000},
                                                 {"instruction": "Short", "output": "ok"}])
    result = convert([doc, data], tmp_path / "out", max_tokens=300, over_budget="drop", eval_ratio=0)
    rows = all_rows(result)
    parts = [r for r in rows if r["meta"]["method"] == "section"]
    assert len(parts) >= 3
    assert all("(part " in r["messages"][0]["content"] for r in parts)
    assert all(r["messages"][1]["content"].startswith("Paragraph") for r in parts)  # paragraph boundaries
    assert result.tokens.max <= 300
    assert by_source(result)["long.jsonl"].dropped == {"over the token budget": 1}


def test_alpaca_output_and_system_message(tmp_path: Path, demo_model: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"},
                           {"from": "human", "value": "Bye"}, {"from": "gpt", "value": "Goodbye"}]},
        {"instruction": "Add", "input": "1+1", "output": "2"},
    ])
    result = convert([data], tmp_path / "alp", schema="alpaca", system="Be brief.", eval_ratio=0)
    rows = read_jsonl(result.train_path)
    assert rows[0] == {"instruction": "Bye", "input": "", "output": "Goodbye", "system": "Be brief.",
                       "history": [["Hi", "Hello"]], "meta": rows[0]["meta"]}
    assert rows[1]["instruction"] == "Add\n\n1+1" and rows[1]["output"] == "2"
    msgs = read_jsonl(convert([data], tmp_path / "msg", system="Be brief.", eval_ratio=0).train_path)
    assert msgs[0]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_pretraining_text_is_reported_unless_kept(tmp_path: Path, demo_model: Path) -> None:
    data = write_jsonl(tmp_path / "c4.jsonl", [{"text": "Some web page text."}, {"text": "Another page."},
                                               {"question": "Q?", "answer": "A."}])
    result = convert([data], tmp_path / "a", eval_ratio=0)
    assert result.train_records == 1
    assert result.dropped == {"pre-training text (not kept; ask for --keep-text)": 2}
    kept = convert([data], tmp_path / "b", eval_ratio=0, keep_text=True)
    assert {"text": "Another page.", "meta": {"source": str(data), "line": 2, "method": "text", "format": "text"}} \
        in read_jsonl(kept.train_path)


def test_chinese_full_width_punctuation_survives_to_train_jsonl(tmp_path: Path) -> None:
    """The person's text is kept: ，？：（） stay full-width; only duplicate keys are folded."""
    docx = make_docx(tmp_path / "faq.docx", [
        ("h1", "常见问题"), ("p", "问：空气炸锅的保修期是多久？"), ("p", "答：整机保修18个月，电机保修36个月（需保留发票）。"),
        ("p", "问：客服热线是多少？"), ("p", "答：热线：400-820-6617，每天8:00到22:00接听！"),
    ])
    xlsx = make_xlsx(tmp_path / "faq.xlsx", {"FAQ": [["问题", "答案"], ["发票什么时候开？", "确认收货后3天内，发送到注册邮箱。"],
                                                   ["空气炸锅的保修期是多久?", "整机保修18个月，电机保修36个月（需保留发票）。"]]})
    result = convert([docx, xlsx], tmp_path / "out", eval_ratio=0.0)
    rows = all_rows(result)
    answers = {m["content"] for r in rows for m in r["messages"] if m["role"] == "assistant"}
    assert "整机保修18个月，电机保修36个月（需保留发票）。" in answers
    assert "热线：400-820-6617，每天8:00到22:00接听！" in answers
    assert "确认收货后3天内，发送到注册邮箱。" in answers
    questions = user_texts(rows)
    assert "空气炸锅的保修期是多久？" in questions
    assert not any(c in a for a in answers for c in ",?()!")  # no half-width copies (8:00 is a time)
    # the half-width copy of the same question is still found as a duplicate
    assert len(rows) == 3
