"""The before/after table: reading and matching the files, the numbers, the writers, the judge."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sacrebleu

from tools.core.errors import InputError, ResourceError
from tools.core.jsonio import write_jsonl
from tools.evaluate.judge import (
    JudgeConfig,
    JudgeItem,
    JudgeResult,
    JudgeSample,
    judge_config_from_env,
    judge_pairwise,
    parse_verdict,
    tuned_position,
)
from tools.evaluate.match import match_records
from tools.evaluate.render import md_cell, write_tables
from tools.evaluate.score import build_table, judge_samples, load_and_score
from tools.evaluate.table import EvalTable

# Chinese support FAQ: the tuned model learned the facts, the base model did not.
ZH = [
    (
        "q1",
        "退货期限是多久？",
        "自签收之日起7天内可申请无理由退货。",
        "一般是30天内可以退货。",
        "自签收之日起7天内可申请无理由退货。",
    ),
    ("q2", "客服电话是多少？", "客服电话是400-123-4567。", "请联系客服。", "客服电话是400-123-4567。"),
    (
        "q3",
        "如何重置密码？",
        "在登录页点击「忘记密码」，按提示操作。",
        "您可以联系管理员。",
        "在登录页点击「忘记密码」即可。",
    ),
    ("q4", "支持哪些支付方式？", "支持支付宝、微信和银行卡。", "支持支付宝、微信和银行卡。", "支持微信。"),
    ("q5", "运费谁承担？", "满99元包邮，否则运费10元。", "运费由买家承担。", "满99元包邮，否则运费10元。"),
    ("q6", "营业时间？", "每天9:00到18:00。", "全天24小时。", "每天9:00到18:00。"),
    (
        "q7",
        "发票怎么开？",
        "在订单详情页申请电子发票。",
        "在订单详情页申请电子发票。",
        "在订单详情页申请电子发票。",
    ),
    ("q8", "会员有什么优惠？", "会员享受95折。", "没有优惠。", "会员享受9折。"),
]


def recs(rows: list[tuple[str, str, str, str, str]], which: int) -> list[dict[str, str]]:
    return [{"id": r[0], "prompt": r[1], "reference": r[2], "output": r[which]} for r in rows]


@pytest.fixture
def eval_dir(tmp_path: Path) -> Path:
    d = tmp_path / "eval"
    write_jsonl(d / "before.jsonl", recs(ZH, 3))
    write_jsonl(d / "after.jsonl", list(reversed(recs(ZH, 4))))  # order must not matter
    return d


# --- independent recomputation (no tools.core.metrics) --------------------------------


def independent_rouge_l_zh(pred: str, ref: str) -> float:
    """Character-level ROUGE-L F1 for Chinese text without punctuation, plain DP."""

    def toks(s: str) -> list[str]:
        s = unicodedata.normalize("NFKC", s).casefold()
        return re.findall(r"[\u4e00-\u9fff]|[a-z0-9]+", s)

    a, b = toks(pred), toks(ref)
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_table_numbers_are_recomputable_from_the_files(eval_dir: Path):
    table = load_and_score(eval_dir / "before.jsonl", eval_dir / "after.jsonl")
    before = read_jsonl(eval_dir / "before.jsonl")
    after = {r["id"]: r for r in read_jsonl(eval_dir / "after.jsonl")}
    assert table.n_samples == len(before) == 8

    rouge_b = sum(independent_rouge_l_zh(r["output"], r["reference"]) for r in before) / len(before)
    rouge_a = sum(independent_rouge_l_zh(after[r["id"]]["output"], r["reference"]) for r in before) / len(
        before
    )
    row = table.row("rouge_l")
    assert row.before == pytest.approx(rouge_b)
    assert row.after == pytest.approx(rouge_a)
    assert row.change == pytest.approx(rouge_a - rouge_b)
    assert row.after > row.before  # the tuned model learned the facts

    refs = [r["reference"] for r in before]
    bleu_a = sacrebleu.corpus_bleu([after[r["id"]]["output"] for r in before], [refs], tokenize="zh").score
    assert table.row("bleu").after == pytest.approx(bleu_a)
    chrf_b = sacrebleu.corpus_chrf([r["output"] for r in before], [refs]).score
    assert table.row("chrf").before == pytest.approx(chrf_b)

    em_a = sum(after[r["id"]]["output"] == r["reference"] for r in before) / len(before)
    assert table.row("exact_match").after == pytest.approx(em_a)
    assert table.row("key_fact_recall").after > table.row("key_fact_recall").before

    # per-sample scores are stored too, and their means are the rows
    means = sum(s.after.rouge_l for s in table.samples) / len(table.samples)
    assert means == pytest.approx(rouge_a)


def test_improved_and_regressed_samples():
    rows = [(f"s{i:02d}", f"问题{i}", "答案是甲乙丙丁", "答案", "答案是甲乙丙丁") for i in range(8)]
    rows += [
        ("r1", "问", "答案是甲乙丙丁", "答案是甲乙丙丁", "甲"),
        ("r2", "问", "答案是甲乙丙丁", "答案是甲乙丙丁", "无关"),
    ]
    rows += [("z", "问", "答案是甲乙丙丁", "答案是甲乙丙丁", "答案是甲乙丙丁")]
    before = match_like(rows, 3)
    after = match_like(rows, 4)
    table = build_table(before, after)
    assert len(table.improved) == 5
    assert [s.id for s in table.improved] == ["s00", "s01", "s02", "s03", "s04"]  # equal gains: by id
    assert [s.id for s in table.regressed] == ["r2", "r1"]  # worst first, unchanged "z" in neither
    top = table.improved[0]
    assert (top.before, top.after, top.reference) == ("答案", "答案是甲乙丙丁", "答案是甲乙丙丁")
    assert top.change == pytest.approx(top.rouge_l_after - top.rouge_l_before) and top.change > 0


def match_like(rows: list[tuple[str, str, str, str, str]], which: int):
    from tools.evaluate.match import EvalRecord

    return [EvalRecord.model_validate(r) for r in recs(rows, which)]


def test_write_tables_markdown_csv_json_keep_chinese(eval_dir: Path):
    table = load_and_score(
        eval_dir / "before.jsonl", eval_dir / "after.jsonl", eval_loss_before=2.0, eval_loss_after=1.0
    )
    paths = write_tables(table, eval_dir)
    assert {p.name for p in paths.values()} == {"table.md", "table.csv", "table.json"}

    md = paths["md"].read_text(encoding="utf-8")
    assert "| ROUGE-L F1 |" in md and "## Most improved" in md and "## Most regressed" in md
    assert "客服电话是400-123-4567。" in md and "「忘记密码」" in md
    assert "Perplexity" in md and "7.39" in md and "2.72" in md

    raw = paths["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    metric_rows = {r["key"]: r for r in rows if r["section"] == "metric"}
    assert float(metric_rows["rouge_l"]["after"]) == pytest.approx(table.row("rouge_l").after)
    assert float(metric_rows["perplexity"]["before"]) == pytest.approx(7.389, abs=1e-3)
    improved = [r for r in rows if r["section"] == "improved"]
    assert improved and any("400-123-4567" in r["after_output"] for r in improved)

    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert "客服电话" in paths["json"].read_text(encoding="utf-8")  # not \u-escaped
    again = EvalTable.model_validate(data)
    assert again.row("rouge_l").after == pytest.approx(table.row("rouge_l").after)
    assert len(again.samples) == 8


def test_markdown_cells_escape_pipes_and_newlines(tmp_path: Path):
    assert md_cell("a | b\nc") == "a \\| b<br>c"
    rows = [("p|1", "问|题", "第一行\n第二行 | 表格", "不对", "第一行\n第二行 | 表格")]
    table = build_table(match_like(rows, 3), match_like(rows, 4))
    md = write_tables(table, tmp_path)["md"].read_text(encoding="utf-8")
    line = next(ln for ln in md.splitlines() if ln.startswith("| p\\|1 |"))
    assert "第一行<br>第二行 \\| 表格" in line
    assert len(re.findall(r"(?<!\\)\|", line)) == 7  # 6 columns, no cell split by a stray pipe


def test_optional_rows_eval_loss_judge_and_human(eval_dir: Path):
    human = eval_dir / "human.jsonl"
    write_jsonl(
        human,
        [
            {"id": "q1", "model": "base", "score": -1},
            {"id": "q1", "model": "tuned", "score": 1},
            {"id": "q2", "model": "tuned", "score": -1},
            {"id": "q2", "model": "tuned", "score": 1},  # changed vote: the last one counts
            {"id": "q3", "model": "base", "score": 1},
            {"id": "gone", "model": "base", "score": 1},
        ],
    )
    items = [
        JudgeItem(id="q1", tuned_position="A", choice="A", verdict="win"),
        JudgeItem(id="q2", tuned_position="B", choice="B", verdict="win"),
        JudgeItem(id="q3", tuned_position="A", choice="tie", verdict="tie"),
        JudgeItem(id="q4", tuned_position="B", choice="B", verdict="win"),
        JudgeItem(id="q5", tuned_position="B", choice="A", verdict="loss"),
        JudgeItem(id="q6", tuned_position="A", choice=None, verdict="invalid", raw="hmm"),
    ]
    judge = JudgeResult(model="judge-model", seed=0, items=items)
    table = load_and_score(
        eval_dir / "before.jsonl",
        eval_dir / "after.jsonl",
        human_scores_path=human,
        eval_loss_before=1.5,
        eval_loss_after=0.5,
        judge=judge,
    )
    assert table.row("eval_loss").change == pytest.approx(-1.0)
    assert table.row("perplexity").after == pytest.approx(1.6487, abs=1e-4)
    pref = table.row("judge_preferred")
    assert (pref.before, pref.after) == (pytest.approx(1 / 5), pytest.approx(3 / 5))
    assert table.judge is not None and (table.judge.win, table.judge.tie, table.judge.loss) == (3, 1, 1)
    assert table.judge.invalid == 1
    h = table.human
    assert h is not None and (h.base_up, h.base_down, h.tuned_up, h.tuned_down) == (1, 1, 2, 0)
    assert h.ignored_ids == ["gone"]
    assert table.row("human_thumbs_up").after == 1.0
    md = write_tables(table, eval_dir)["md"].read_text(encoding="utf-8")
    assert "2👍 / 0👎" in md and "3 win · 1 tie · 1 loss" in md

    # no human file yet: no human row, no error
    plain = load_and_score(
        eval_dir / "before.jsonl", eval_dir / "after.jsonl", human_scores_path=eval_dir / "x"
    )
    assert plain.human is None and all(r.name != "human_thumbs_up" for r in plain.rows)
    with pytest.raises(KeyError):
        plain.row("eval_loss")


def test_eval_table_forbids_unknown_fields(eval_dir: Path):
    table = load_and_score(eval_dir / "before.jsonl", eval_dir / "after.jsonl")
    data = table.model_dump()
    data["surprise"] = 1
    with pytest.raises(ValueError):
        EvalTable.model_validate(data)



# --- the table in Chinese -------------------------------------------------------------

# What a Chinese reader must not see: the English labels, headings and notes of the table.
ENGLISH_LABELS = [
    "Before / after", "held-out", "Metric", "Before", "After", "Change", "How", "Exact match", "Key-fact",
    "Length ratio", "Eval loss", "Perplexity", "Judge", "Human", "mean over", "corpus", "tokenizer",
    "cross-entropy", "share of", "wins", "ties", "win ·", "Most improved", "Most regressed", "None.",
    "Prompt", "Reference", "greedy", "ignored", "left out", "base model", "fine-tuned",
]
# ASCII words allowed in the Chinese table: metric acronyms, tool names, the judge model's name
ALLOWED_WORDS = {"ROUGE", "BLEU", "chrF", "F1", "sacrebleu", "zh", "exp", "token"}


def full_table(eval_dir: Path, **kw: Any) -> EvalTable:
    """Every optional row and note: eval loss, a judge with an unreadable reply, human votes for a stray id."""
    human = eval_dir / "human.jsonl"
    write_jsonl(human, [{"id": "q1", "model": "tuned", "score": 1}, {"id": "q1", "model": "base", "score": -1},
                        {"id": "gone", "model": "base", "score": 1}])
    items = [
        JudgeItem(id="q1", tuned_position="A", choice="A", verdict="win"),
        JudgeItem(id="q2", tuned_position="B", choice="tie", verdict="tie"),
        JudgeItem(id="q4", tuned_position="B", choice="A", verdict="loss"),
        JudgeItem(id="q6", tuned_position="A", choice=None, verdict="invalid", raw="hmm"),
    ]
    return load_and_score(
        eval_dir / "before.jsonl", eval_dir / "after.jsonl", human_scores_path=human,
        eval_loss_before=1.5, eval_loss_after=0.5, judge=JudgeResult(model="qwen-judge", seed=0, items=items),
        base_name="base", tuned_name="fine-tuned", **kw,
    )


def numbers(md: str) -> list[str]:
    return re.findall(r"[-+]?\d+\.\d+|[-+]?∞|–|[▲▼]", md)


def table_cells(md: str) -> list[list[str]]:
    return [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in md.splitlines() if ln.startswith("| ")]


def test_markdown_in_chinese_has_chinese_labels_and_the_same_numbers(eval_dir: Path):
    from tools.evaluate.render import render_markdown

    table = full_table(eval_dir)
    en, zh = render_markdown(table), render_markdown(table, "zh")
    assert en == render_markdown(table, "en") and "# Before / after evaluation" in en
    assert zh.startswith("# 微调前后评测对比\n\n8 条留出样本 · 微调前：`基座模型` · 微调后：`微调模型`")
    assert "| 指标 | 微调前 | 微调后 | 变化 | 计算方式 |" in zh
    for heading in ("## 提升最多的样本（按 ROUGE-L）", "## 退步最多的样本（按 ROUGE-L）", "| 编号 | ROUGE-L | 提示 | 参考答案 |"):
        assert heading in zh
    for label in ("| 完全匹配率 |", "| 关键事实召回率 |", "| 长度比（输出/参考答案） |", "| 验证集损失 |", "| 困惑度 |",
                  "| 评审模型偏好 |", "| 人工 👍 比例 |", "8 条样本的平均值（中日韩文字按字计算）", "语料级 sacrebleu，分词器 zh",
                  "基座模型胜 1 次", "微调模型胜 1 次", "平局 1 次", "评审模型 `qwen-judge`（微调模型对基座模型）：胜 1 · 平 1 · 负 1。",
                  "- 微调前 = 基座模型", "1 条无法解析的回复", "有 1 个编号不在评测集中"):
        assert label in zh, label
    for word in ENGLISH_LABELS:
        assert word not in zh, word
    leftover = set(re.findall(r"[A-Za-z]{2,}", zh.replace("qwen-judge", ""))) - ALLOWED_WORDS
    assert not leftover, leftover
    # the same numbers in the same places: only the words around them change
    assert numbers(zh) == numbers(en)
    en_rows, zh_rows = table_cells(en), table_cells(zh)
    assert len(en_rows) == len(zh_rows)
    for a, b in zip(en_rows, zh_rows, strict=True):
        assert len(a) == len(b)
        if len(a) == 5 and a[0] != "Metric":  # a metric row: the change column is identical
            assert a[3] == b[3]
    assert "客服电话是400-123-4567。" in zh and "「忘记密码」" in zh  # the samples as written


def test_chinese_markdown_keeps_cells_safe_and_words_nothing_it_does_not_know(tmp_path: Path):
    from tools.evaluate.render import render_markdown

    rows = [("p|1", "问|题", "第一行\n第二行 | 表格", "第一行\n第二行 | 表格", "不对")]
    table = build_table(match_like(rows, 3), match_like(rows, 4), base_name="qwen2.5-0.5b")
    zh = render_markdown(table, "zh")
    line = next(ln for ln in zh.splitlines() if ln.startswith("| p\\|1 |"))
    assert "第一行<br>第二行 \\| 表格" in line and len(re.findall(r"(?<!\\)\|", line)) == 7
    assert "`qwen2.5-0.5b`" in zh and "微调后：`微调模型`" in zh  # a real model name stays as it is
    assert "## 提升最多的样本（按 ROUGE-L）\n\n无。" in zh  # nothing improved
    assert "| 1 条样本的平均值 |" in zh and "mean over" not in zh  # the How column by its code
    # a table written before codes (no *_said fields) shows its words as they were written, nothing lost
    old = table.model_copy(update={
        "said_notes": [], "notes": ["a note added by a later version"],
        "rows": [r.model_copy(update={"how_said": None}) for r in table.rows]})
    old_zh = render_markdown(EvalTable.model_validate_json(old.model_dump_json()), "zh")
    assert "- a note added by a later version" in old_zh and "| mean over 1 samples |" in old_zh


def test_written_files_stay_english_and_table_json_renders_either_language(eval_dir: Path):
    from tools.evaluate.render import render_markdown

    table = full_table(eval_dir)
    paths = write_tables(table, eval_dir)
    md = paths["md"].read_text(encoding="utf-8")
    assert md == render_markdown(table) and "微调前后" not in md
    assert "Metric" not in paths["csv"].read_text(encoding="utf-8-sig")  # the CSV has keys, not labels
    again = EvalTable.model_validate_json(paths["json"].read_bytes())
    assert render_markdown(again, "zh") == render_markdown(table, "zh")
    assert render_markdown(again) == md


def test_eval_cli_prints_the_table_in_chinese_on_request(eval_dir: Path, monkeypatch, capsys):
    import tools.evaluate.before_after
    from tools.evaluate.before_after import EvalResult
    from tools.evaluate.render import render_markdown
    from tunepilot.cli import main

    table = full_table(eval_dir)
    files = {k: str(v) for k, v in write_tables(table, eval_dir).items()}
    result = EvalResult(samples=8, table_md=render_markdown(table), files=files, seconds=1.5)
    monkeypatch.setattr(tools.evaluate.before_after, "evaluate_model", lambda req: result)
    assert main(["eval", "--run", str(eval_dir.parent), "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    assert "# 微调前后评测对比" in out and "8 条样本，用时 1.5 秒" in out and "Metric" not in out
    assert main(["eval", "--run", str(eval_dir.parent)]) == 0
    out = capsys.readouterr().out
    assert "# Before / after evaluation" in out and "8 examples in 1.5 s" in out


# --- errors a person can act on -------------------------------------------------------


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = '{"id": "1", "prompt": "p", "reference": "r", "output": "o"}'


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "2", "prompt": "p", "reference": "r", ', "invalid JSON"),
        ('["not", "an", "object"]', "expected a JSON object"),
        ('{"id": "2", "prompt": "p", "output": "o"}', "field 'reference'"),
        ('{"id": "2", "prompt": "p", "reference": "r", "output": null}', "field 'output'"),
        ('{"id": "1", "prompt": "p", "reference": "r", "output": "o"}', "duplicate id '1' (first on line 1)"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path: Path, line: str, message: str):
    before = write_lines(tmp_path / "before.jsonl", [GOOD, "", line])
    after = write_lines(tmp_path / "after.jsonl", [GOOD])
    with pytest.raises(InputError) as err:
        load_and_score(before, after)
    assert f"{before}:3" in str(err.value)
    assert message in str(err.value)


def test_integer_ids_are_accepted(tmp_path: Path):
    line = '{"id": 7, "prompt": "p", "reference": "r", "output": "r", "latency_s": 0.1}'
    before = write_lines(tmp_path / "before.jsonl", [line])
    after = write_lines(tmp_path / "after.jsonl", [line.replace("7", '"7"', 1)])
    table = load_and_score(before, after)
    assert table.samples[0].id == "7" and table.row("exact_match").after == 1.0


def test_id_mismatch_lists_the_ids(tmp_path: Path):
    before = write_lines(tmp_path / "before.jsonl", [GOOD, GOOD.replace('"1"', '"2"')])
    after = write_lines(tmp_path / "after.jsonl", [GOOD, GOOD.replace('"1"', '"3"')])
    with pytest.raises(InputError) as err:
        load_and_score(before, after)
    text = str(err.value)
    assert "1 only in before.jsonl ('2')" in text and "1 only in after.jsonl ('3')" in text


def test_reference_mismatch_names_the_line(tmp_path: Path):
    before = write_lines(tmp_path / "before.jsonl", [GOOD])
    after = write_lines(tmp_path / "after.jsonl", ["", GOOD.replace('"r"', '"other"')])
    with pytest.raises(
        InputError, match=r"after\.jsonl:2: id '1': the reference differs from before\.jsonl line 1"
    ):
        load_and_score(before, after)


def test_missing_and_empty_files(tmp_path: Path):
    with pytest.raises(InputError, match="file not found"):
        load_and_score(tmp_path / "before.jsonl", tmp_path / "after.jsonl")
    before = write_lines(tmp_path / "before.jsonl", [""])
    with pytest.raises(InputError, match="no records"):
        load_and_score(before, before)


def test_bad_human_score_line(eval_dir: Path):
    human = write_lines(
        eval_dir / "human.jsonl",
        ['{"id": "q1", "model": "tuned", "score": 1}', '{"id": "q1", "model": "tuned", "score": 5}'],
    )
    with pytest.raises(InputError, match=r"human\.jsonl:2: 'score' must be 1 or -1"):
        load_and_score(eval_dir / "before.jsonl", eval_dir / "after.jsonl", human_scores_path=human)


# --- pairwise judge against a scripted OpenAI-compatible server --------------------------


@pytest.mark.parametrize(
    ("reply", "choice"),
    [
        ("A", "A"),
        ("b", "B"),
        ("Tie.", "tie"),
        ("Answer A is more accurate.\n[[B]]", "B"),
        ("**Verdict: A**", "A"),
        ("Both are fine.\nFinal verdict: tie", "tie"),
        ("The better answer is B because it cites the 7 days.", "B"),
        ("<think>A or B? A looks long</think>\n[[B]]", "B"),
        ("两个回答一样好，平局。", "tie"),
        ("回答A更好，因为它给出了正确的期限。", "A"),
        ("结论：B", "B"),
        ("I cannot decide between A and B.", None),
        ("", None),
    ],
)
def test_parse_verdict(reply: str, choice: str | None):
    assert parse_verdict(reply) == choice


def test_tuned_position_is_seeded_and_balanced():
    positions = [tuned_position(f"id{i}", seed=3) for i in range(200)]
    assert positions == [tuned_position(f"id{i}", seed=3) for i in range(200)]
    assert 60 < positions.count("A") < 140
    assert positions != [tuned_position(f"id{i}", seed=4) for i in range(200)]


Script = Callable[[str, str], str]


@pytest.fixture
def judge_server() -> Iterator[tuple[str, list[dict[str, Any]], dict[str, Script]]]:
    """A tiny OpenAI-compatible chat server; ``script["reply"](answer_a, answer_b)`` says what to answer."""
    requests: list[dict[str, Any]] = []
    script: dict[str, Script] = {"reply": lambda a, b: "tie"}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            text = body["messages"][-1]["content"]
            a = text.split("## Answer A\n", 1)[1].split("\n\n## Answer B", 1)[0]
            b = text.split("## Answer B\n", 1)[1].split("\n\n## Your reply", 1)[0]
            with lock:
                requests.append({"body": body, "a": a, "b": b, "auth": self.headers.get("Authorization")})
            reply = script["reply"](a, b)
            payload = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", requests, script
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def prefer_good(a: str, b: str) -> str:
    """The scripted judge: prefers the answer that contains GOOD, in varied reply formats."""
    if ("GOOD" in a) == ("GOOD" in b):
        return "Both say the same thing.\n[[tie]]"
    if "GOOD" in a:
        return "A is correct.\n**Verdict: A**"
    return "The first misses the deadline.\n[[B]]"


def test_judge_pairwise_maps_positions_back_to_the_tuned_model(judge_server, monkeypatch):
    url, requests, script = judge_server
    script["reply"] = prefer_good
    monkeypatch.setenv("TUNEPILOT_LLM_BASE_URL", url)
    monkeypatch.setenv("TUNEPILOT_LLM_API_KEY", "sk-test")
    monkeypatch.setenv("TUNEPILOT_LLM_MODEL", "judge-model")
    samples = [
        JudgeSample(
            id=f"s{i}", prompt="退货期限？", reference="7天", base_output=f"bad {i}", tuned_output=f"GOOD {i}"
        )
        for i in range(16)
    ]
    samples.append(
        JudgeSample(id="same", prompt="p", reference="r", base_output="GOOD x", tuned_output="GOOD y")
    )
    result = judge_pairwise(samples)
    assert result is not None
    assert (result.win, result.tie, result.loss) == (16, 1, 0)
    assert [it.id for it in result.items] == [s.id for s in samples]
    # the tuned answer was shown in both positions, as the seeded RNG said
    shown_first = {r["a"].split()[-1] for r in requests if r["a"].startswith("GOOD")}
    assert 0 < sum(it.tuned_position == "A" for it in result.items) < 17
    for it in result.items[:16]:
        assert (it.id.removeprefix("s") in shown_first) == (it.tuned_position == "A")
    body = requests[0]["body"]
    assert body["model"] == "judge-model" and body["temperature"] == 0
    assert requests[0]["auth"] == "Bearer sk-test"
    assert "退货期限？" in body["messages"][-1]["content"]


def test_judge_reversed_preference_and_unreadable_replies(judge_server):
    url, _, script = judge_server
    script["reply"] = lambda a, b: "[[A]]" if "base" in a else ("[[B]]" if "base" in b else "no idea")
    config = JudgeConfig(base_url=url, api_key="k", model="m", seed=1)
    samples = [
        JudgeSample(id=str(i), prompt="p", reference="r", base_output="base", tuned_output="t")
        for i in range(6)
    ]
    samples.append(JudgeSample(id="x", prompt="p", reference="r", base_output="b0", tuned_output="t0"))
    result = judge_pairwise(samples, config)  # config may be passed positionally
    assert result is not None and (result.win, result.tie, result.loss) == (0, 0, 6)
    assert result.count("invalid") == 1 and result.items[-1].raw == "no idea"


def test_judge_is_skipped_without_configuration(monkeypatch):
    for var in ("TUNEPILOT_LLM_BASE_URL", "TUNEPILOT_LLM_API_KEY", "TUNEPILOT_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    assert judge_config_from_env() is None
    sample = JudgeSample(id="1", prompt="p", reference="r", base_output="a", tuned_output="b")
    assert judge_pairwise([sample]) is None
    env = {"TUNEPILOT_LLM_BASE_URL": "http://h/v1", "TUNEPILOT_LLM_MODEL": "m"}
    config = judge_config_from_env(env)
    assert config is not None and config.api_key == "EMPTY"


def test_judge_unreachable_server_is_a_clear_error():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = JudgeConfig(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", model="m", timeout_s=2)
    sample = JudgeSample(id="1", prompt="p", reference="r", base_output="a", tuned_output="b")
    with pytest.raises(ResourceError, match="judge model failed on every sample") as err:
        judge_pairwise([sample], config=config)
    assert "TUNEPILOT_LLM_BASE_URL" in str(err.value)


def test_judge_samples_then_table(judge_server, eval_dir: Path):
    url, _, script = judge_server
    script["reply"] = lambda a, b: "tie"
    before, after = match_records(eval_dir / "before.jsonl", eval_dir / "after.jsonl")
    result = judge_pairwise(
        judge_samples(before, after), config=JudgeConfig(base_url=url, api_key="k", model="m")
    )
    table = build_table(before, after, judge=result)
    assert table.row("judge_tie").after == 1.0 and table.row("judge_preferred").after == 0.0
    assert table.metrics is table.rows


def test_an_empty_answer_reads_as_a_note_not_a_blank_cell():
    from tools.evaluate.render import render_markdown

    rows = [("q1", "客服电话是多少？", "电话是400-123-4567。", "电话是400-123-4567。", "")]
    table = build_table(match_like(rows, 3), match_like(rows, 4))
    zh, en = render_markdown(table, "zh"), render_markdown(table, "en")
    line = next(ln for ln in zh.splitlines() if ln.startswith("| q1 |"))
    assert line.rstrip(" |").endswith("*（模型没有输出任何文字就结束了回答）*"), line
    assert "the model ended its answer without any text" in en
