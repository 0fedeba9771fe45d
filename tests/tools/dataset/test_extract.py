"""FAQ extraction, ready-dataset recognition and decoding: examples plus property tests (never raise)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.data.datasets import Unrecognised, read_json_records, read_jsonl_records, record_from_object
from tools.data.decode import NotText, decode_bytes
from tools.data.document import Block, FileLog
from tools.data.faq import find_qa_columns, scan_blocks, table_pairs
from tools.data.readers.html_page import html_to_blocks
from tools.data.readers.markdown import parse_markdown

META = {"source": "t"}
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pairs_of(text: str, *, plain: bool = False) -> list[tuple[str, str]]:
    scan = scan_blocks(parse_markdown(text, plain=plain), META)
    return [(r.messages[0]["content"], r.messages[1]["content"]) for r in scan.pairs]


def test_faq_markers_in_english_and_chinese() -> None:
    text = (
        "Q: How long is the warranty?\nA: Two years.\n\n"
        "Question: Can I pay by card?\nAnswer: Yes.\nAll major cards.\n\n"
        "问：怎么退货？\n答：七天内申请。\n\n"
        "问题：运费多少？\n回答：满99元包邮。\n\n"
        "Q: Is there an app? A: Yes, for iOS and Android.\n"
    )
    assert pairs_of(text) == [
        ("How long is the warranty?", "Two years."),
        ("Can I pay by card?", "Yes.\nAll major cards."),
        ("怎么退货？", "七天内申请。"),
        ("运费多少？", "满99元包邮。"),
        ("Is there an app?", "Yes, for iOS and Android."),
    ]


def test_numbered_and_heading_questions() -> None:
    text = (
        "# Help\n\n## How do I log in?\n\nUse your e-mail address.\n\n### 如何修改密码？\n\n在设置页面修改。\n\n"
        "## Contact\n\nWrite to us.\n\n1. Where is the office?\nIn Berlin.\n\n二、营业时间是什么时候？\n周一到周五。\n\n"
        "**Can I use two remotes?**\nYes, up to four.\n"
    )
    got = pairs_of(text)
    assert ("How do I log in?", "Use your e-mail address.") in got
    assert ("如何修改密码？", "在设置页面修改。") in got
    assert ("Where is the office?", "In Berlin.") in got
    assert ("营业时间是什么时候？", "周一到周五。") in got
    assert ("Can I use two remotes?", "Yes, up to four.") in got
    leftover = scan_blocks(parse_markdown(text), META).leftover
    assert any(b.kind == "para" and b.text == "Write to us." for b in leftover)


def test_question_without_answer_is_counted_as_one_sided() -> None:
    scan = scan_blocks(parse_markdown("Q: Anyone there?\n\nQ: Second?\nA: Yes.\n"), META)
    assert scan.one_sided == 1 and len(scan.pairs) == 1


def test_table_headers_in_english_and_chinese() -> None:
    assert find_qa_columns(["ID", "Question", "Answer"]) == (1, 2, None)
    assert find_qa_columns(["问题", "答案"]) == (0, 1, None)
    assert find_qa_columns(["提问", "回答", "备注"]) == (0, 1, None)
    assert find_qa_columns(["prompt", "response"]) == (0, 1, None)
    assert find_qa_columns(["instruction", "input", "output"]) == (0, 2, 1)
    assert find_qa_columns(["Customer question", "Standard answer"]) == (0, 1, None)
    assert find_qa_columns(["Name", "Price"]) is None
    block = Block("table", rows=[["Q", "A"], ["Open on Sunday?", "No."], ["Only a question?", ""]],
                  row_numbers=[1, 2, 3])
    recs, one_sided = table_pairs(block, META)
    assert [r.messages[1]["content"] for r in recs] == ["No."] and recs[0].meta["row"] == 2 and one_sided == 1


def test_html_boilerplate_is_removed() -> None:
    blocks = html_to_blocks(
        "<body><div id='cookie-banner'>Accept cookies</div><div class='sidebar'>Links</div>"
        "<article><h2>Shipping?</h2><p>We ship <b>worldwide</b>.</p></article><footer>(c) ACME</footer></body>")
    texts = [b.text for b in blocks]
    assert texts == ["Shipping?", "We ship worldwide ."] or texts == ["Shipping?", "We ship worldwide."]


# --- ready datasets ------------------------------------------------------------------------------------


def roles(obj: dict[str, Any]) -> list[str]:
    return [m["role"] for m in record_from_object(obj, META).messages]


def test_layouts_that_fine_tuning_tools_ship_as_demo_data() -> None:
    # LLaMA-Factory alpaca_en_demo / identity
    assert roles({"instruction": "hi {{name}}", "input": "", "output": "I am {{name}}"}) == ["user", "assistant"]
    # alpaca with system and history
    assert roles({"instruction": "b", "input": "", "output": "B", "system": "s", "history": [["a", "A"]]}) == \
        ["system", "user", "assistant", "user", "assistant"]
    # glaive_toolcall: ShareGPT with function_call / observation and a tools field
    tool = record_from_object({"conversations": [
        {"from": "human", "value": "Weather in Paris?"}, {"from": "function_call", "value": '{"name": "w"}'},
        {"from": "observation", "value": '{"t": 20}'}, {"from": "gpt", "value": "20 degrees."}],
        "tools": "[]"}, META)
    assert [m["role"] for m in tool.messages] == ["user", "assistant", "tool", "assistant"]
    # dpo_en_demo: conversations + chosen/rejected
    dpo = record_from_object({"conversations": [{"from": "human", "value": "q"}],
                              "chosen": {"from": "gpt", "value": "good"}, "rejected": {"from": "gpt", "value": "bad"}},
                             META)
    assert dpo.messages[-1] == {"role": "assistant", "content": "good"}
    # mllm_demo style: messages with role/content, content parts
    parts = record_from_object({"messages": [{"role": "user", "content": [{"type": "text", "text": "describe"},
                                                                           {"type": "image_url", "image_url": {}}]},
                                             {"role": "assistant", "content": "a cat"}]}, META)
    assert parts.messages[0]["content"] == "describe"
    # TRL prompt/completion, conversational
    assert roles({"prompt": [{"role": "user", "content": "x"}],
                  "completion": [{"role": "assistant", "content": "y"}]}) == ["user", "assistant"]
    # c4_demo
    assert record_from_object({"text": "web text"}, META).text == "web text"
    # question/answer in Chinese keys
    assert record_from_object({"问题": "几点开门？", "答案": "九点。"}, META).messages[1]["content"] == "九点。"


def test_malformed_jsonl_lines_name_file_and_line() -> None:
    flog = FileLog("data.jsonl")
    data = b'{"question": "a?", "answer": "b"}\n\n{"question": "c?"\n[1, 2]\n{"messages": "hi"}\n'
    recs = read_jsonl_records(data, flog, META)
    assert len(recs) == 1
    wheres = [e.where for e in flog.errors]
    assert wheres == ["data.jsonl:3", "data.jsonl:4", "data.jsonl:5"]
    assert "invalid JSON" in flog.errors[0].message and "column" in flog.errors[0].message
    assert "expected a JSON object" in flog.errors[1].message
    assert '"messages" is a str' in flog.errors[2].message


def test_json_array_errors_name_the_line() -> None:
    flog = FileLog("a.json")
    data = b'[\n {"instruction": "a", "output": "b"},\n {"instruction": "c", "output": }\n]'
    assert len(read_json_records(data, flog, META)) == 1
    assert flog.errors[0].where == "a.json:3"


def test_encodings() -> None:
    text = "问：你好吗？答：很好。Hello"
    for data in (text.encode("utf-8"), text.encode("utf-8-sig"), text.encode("gbk"), text.encode("gb18030"),
                 text.encode("utf-16"), text.encode("utf-16-le"), text.encode("utf-16-be")):
        assert decode_bytes(data)[0] == text
    for binary in (b"\x89PNG\r\n\x1a\n" + bytes(50), b"\x00\x01\x02\x03" * 100, bytes(range(256)) * 4):
        try:
            decode_bytes(binary)
        except NotText as exc:
            assert "binary" in str(exc) or "encoding" in str(exc)
        else:
            raise AssertionError(f"binary accepted: {binary[:8]!r}")


# --- properties: readers and extractors never raise ---------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["messages", "conversations", "role", "from", "content", "value", "instruction", "input",
                         "output", "history", "system", "text", "question", "answer", "prompt", "completion",
                         "chosen", "tool_calls", "问题", "答案"]) | st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)


@FAST
@given(json_values)
def test_record_recognition_never_raises_anything_else(obj: Any) -> None:
    try:
        rec = record_from_object(obj, META)
    except Unrecognised:
        return
    assert rec.text is not None or all(isinstance(m["content"], str) for m in rec.messages)


@FAST
@given(st.lists(json_values | st.text(max_size=30), max_size=6), st.binary(max_size=40))
def test_jsonl_and_json_readers_never_raise(lines: list[Any], noise: bytes) -> None:
    data = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode() + noise
    read_jsonl_records(data, FileLog("x.jsonl"), META)
    read_json_records(data, FileLog("x.json"), META)
    read_json_records(b"[" + data, FileLog("x.json"), META)


faq_text = st.lists(
    st.sampled_from(["Q:", "A:", "问：", "答：", "问题：", "回答：", "1.", "# ", "## ", "?", "？", "\n", "\n\n",
                     "**Q:**", "| a | b |", "|---|---|", "```", "Question:", "Answer:", " text ", "文字"])
    | st.text(max_size=10),
    max_size=40,
).map("".join)


@FAST
@given(faq_text)
def test_faq_extractor_never_raises(text: str) -> None:
    for plain in (False, True):
        scan = scan_blocks(parse_markdown(text, plain=plain), META)
        for rec in scan.pairs:
            assert rec.messages[0]["content"].strip() and rec.messages[1]["content"].strip()


@FAST
@given(st.lists(st.lists(st.text(max_size=12), max_size=4), max_size=6))
def test_table_pairs_never_raise(rows: list[list[str]]) -> None:
    table_pairs(Block("table", rows=rows, row_numbers=list(range(len(rows)))), META)


@FAST
@given(st.binary(max_size=300))
def test_decoder_raises_only_not_text(data: bytes) -> None:
    try:
        text, _ = decode_bytes(data)
    except NotText:
        return
    assert isinstance(text, str)
