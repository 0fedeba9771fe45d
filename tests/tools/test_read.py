"""Answers from the person's documents: passages, finding them, the guard, training to read, the plan, ``ask``.

No model runs here (the index's embedder is a 4-bit encoder in a C engine: seconds); the trained reader is
measured by ``bench/knowledge.py --grounded`` and the slow journey test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures import faq_zh, manuals
from tools.core.errors import InputError
from tools.core.messages import say
from tools.data import ConvertRequest, convert_documents
from tools.data.read.answer import finish, prepare, sources_line
from tools.data.read.extract import answer_kind, cannot_answer, choose_sentence
from tools.data.read.guard import is_decline, unsupported
from tools.data.read.index import PassageIndex, words
from tools.data.read.passages import Passage, load_passages, paragraph_passages
from tools.data.read.raft import reading_examples
from tools.serve.ask import read_questions


def _convert(tmp: Path, *docs: manuals.Manual, faq: str | None = None) -> Path:
    files = []
    for m in docs:
        path = tmp / f"{m.name}.md"
        path.write_text(m.markdown(), encoding="utf-8")
        files.append(path)
    if faq:
        files.append(faq_zh.write_domain(faq, tmp))
    convert_documents(ConvertRequest(inputs=files, out_dir=tmp / "data"))
    return tmp / "data"


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two manual pairs (a Chinese water heater and door lock, an English tenant handbook and gym terms) and a
    Chinese clinic FAQ, in one dataset: each manual's passages among the others'."""
    return _convert(tmp_path_factory.mktemp("held"), *manuals.HELD, *manuals.FRESH, faq="clinic")


def test_the_data_stage_keeps_faq_entries_and_paragraphs_with_their_title_and_section(held: Path) -> None:
    passages = load_passages(held)
    kinds = {p.kind for p in passages}
    assert kinds == {"faq", "paragraph"}
    heater = [p for p in passages if p.title == manuals.HEATER_ZH.title]
    assert heater and all(p.section for p in heater)
    assert {h for h, _ in manuals.HEATER_ZH.sections} >= {p.section for p in heater}
    clinic = [p for p in passages if p.kind == "faq"]
    assert len(clinic) == len(faq_zh.CLINIC)
    assert any("028-8566-3021" in p.text for p in clinic)  # an entry keeps its question and its answer
    report = json.loads((held / "report.json").read_text(encoding="utf-8"))
    stats = report["passages"]
    assert stats["passages"] == len(passages) and stats["faq"] == len(clinic)
    assert stats["recall"]["@3"] >= 0.9 and set(stats["reading_tokens"]) == {"1", "2", "3"}
    assert (held / "index" / "tunepilot.json").exists()


def test_a_ready_dataset_keeps_no_passages(tmp_path: Path) -> None:
    src = tmp_path / "pairs.jsonl"
    src.write_text("\n".join(json.dumps({"instruction": f"问题{i}？", "output": f"答案是{i}。"}, ensure_ascii=False)
                             for i in range(12)), encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "passages.jsonl").write_text("{}\n")  # a stale file from an earlier conversion
    result = convert_documents(ConvertRequest(inputs=[src], out_dir=tmp_path / "data"))
    assert result.passages is None and load_passages(tmp_path / "data") == []


@pytest.mark.parametrize("which", [m.name for m in manuals.HELD + manuals.FRESH])
def test_customers_questions_in_other_words_find_their_passage_in_the_top_two(which: str, held: Path) -> None:
    manual = manuals.ALL[which]
    index = PassageIndex.load(held)
    found = [any(fact in h.passage.text for h in index.search(q, 2)) for q, fact in manual.asked]
    assert sum(found) / len(found) >= 0.9, [q for (q, _), ok in zip(manual.asked, found, strict=True) if not ok]


def test_the_saved_index_is_used_and_rebuilt_when_the_passages_change(held: Path, tmp_path: Path) -> None:
    index = PassageIndex.load(held)
    question = "热水器的热交换器保修多久？"
    assert [h.passage.id for h in index.search(question, 2)] == [h.passage.id for h in PassageIndex(
        index.passages).search(question, 2)]
    copy = tmp_path / "data"
    copy.mkdir()
    lines = (held / "passages.jsonl").read_text(encoding="utf-8").splitlines()
    (copy / "passages.jsonl").write_text("\n".join(lines[:5]) + "\n", encoding="utf-8")
    import shutil

    shutil.copytree(held / "index", copy / "index")
    assert len(PassageIndex.load(copy)) == 5  # stale index: built again from the passages


def test_words_split_chinese_and_stem_english() -> None:
    assert "电池" in words("电池充满要多久？") and "e21" in words("仪表显示E21")
    assert words("charging batteries")[0] == words("charges")[0]


# --- the guard -------------------------------------------------------------------------------------


def _prep(held: Path, question: str) -> object:
    return prepare(question, PassageIndex.load(held), None, 2)


def test_an_invented_phone_number_is_replaced_by_the_documents_sentence(held: Path) -> None:
    prep = _prep(held, "预约挂号打什么电话？")
    answer = finish(prep, "请拨打400-123-4567预约。")
    assert answer.guard_fired and answer.mode == "quoted" and any("4567" in u for u in answer.unsupported)
    assert "028-8566-3021" in answer.answer and answer.answer.startswith("资料原文")
    assert sources_line(answer, "zh").startswith("来源：")


def test_an_answer_whose_facts_the_passages_hold_is_kept(held: Path) -> None:
    prep = _prep(held, "预约挂号打什么电话？")
    answer = finish(prep, "预约电话是028-8566-3021。")
    assert answer.mode == "model" and not answer.guard_fired and answer.answer == "预约电话是028-8566-3021。"
    assert answer.sources and answer.sources[0].source.endswith(".md")


@pytest.mark.parametrize(("question", "said", "lang"), [
    ("这把门锁有多重？", "资料里没有提到。", "zh"), ("How heavy is the smart lock?", "The documents do not say.", "en")])
def test_a_decline_says_what_the_documents_cover_in_the_questions_language(held: Path, question: str, said: str,
                                                                           lang: str) -> None:
    covered = PassageIndex.load(held).passages
    answer = finish(_prep(held, question), said, covered)
    assert answer.mode == "declined" and is_decline(said)
    assert answer.answer.startswith(say("read.declined", lang, topics="").split("：")[0].split(":")[0])
    names = [m.title for m in manuals.HELD + manuals.FRESH] + ["暖爪宠物医院常见问题"]
    assert sum(n in answer.answer for n in names) >= 3  # what the documents do cover


@pytest.mark.parametrize(("question", "said", "fact"), [
    ("你们支持分期付款吗？", "资料里没有提到。", "支付宝"), ("Can I pay my deposit later?", "The documents do not say.", "deposit")])
def test_a_model_decline_beside_a_close_sentence_says_both(held: Path, question: str, said: str, fact: str) -> None:
    """The reader declines, a sentence shares much with the question: the person reads that the documents may not
    answer it directly, and the closest sentence with where it is (they judge; nothing is invented)."""
    answer = finish(_prep(held, question), said)
    lang = "zh" if "资料" in said else "en"
    assert answer.mode == "closest" and fact in answer.answer and not answer.guard_fired
    assert answer.answer.startswith(say("read.closest", lang, where="", sentence="")[:8])


def test_unsupported_reads_numbers_and_codes_whole() -> None:
    from tools.data.read.passages import Passage

    ps = [Passage(id="p1", kind="paragraph", source="m.md", text="显示E21时检查电机。热线400-615-3828，重量23.5公斤。")]
    assert unsupported("热线是400-615-3828，E21是电机故障", ps) == []
    assert unsupported("重量是3.5公斤，显示E2", ps) == ["E2", "3.5"]


# --- the sentence that answers ----------------------------------------------------------------------


_BIKE = ("感谢您选择云帆X3折叠车。该车整车重量为14.6公斤，最高时速为25公里/小时。车架保修3年，客服电话400-615-3828。"
         "雨天骑行后请擦干链条。")
_KETTLE = ("Thank you for choosing the Aster K7 kettle. The K7 holds 1.7 litres and weighs 1.2 kg. It boils a full jug in "
           "4 minutes; the base switches off by itself after 30 seconds. Write to care@aster.example for help.")


def _p(text: str, pid: str = "p1") -> Passage:
    return Passage(id=pid, kind="paragraph", source="m.md", title="手册", text=text)


@pytest.mark.parametrize(("question", "fact"), [
    ("这车有多重？", "14.6公斤"), ("骑起来最快多快？", "25公里"), ("坏了打哪个电话？", "400-615-3828"),
    ("车架能保修多久？", "3年"), ("How heavy is the kettle?", "1.2 kg"), ("How much water does it hold?", "1.7"),
    ("How long until the water boils?", "4 minutes"), ("Which email do I write to?", "care@aster.example")])
def test_the_sentence_picked_holds_the_kind_of_value_the_question_asks_for(question: str, fact: str) -> None:
    """Not the sentence that shares the product's name ("感谢您选择…"): the one with a weight for "多重"."""
    chosen = choose_sentence(question, [_p(_BIKE), _p(_KETTLE, "p2")])
    assert chosen is not None and fact in chosen.sentence


def test_an_faq_entry_is_picked_by_its_own_question_too_and_given_whole() -> None:
    hours = Passage(id="p1", kind="faq", source="faq.md", text="门诊营业时间是什么？\n每天9:00到21:00营业。急诊全天接诊。")
    price = Passage(id="p2", kind="faq", source="faq.md", text="狂犬疫苗多少钱？\n每针80元，打完发免疫证。")
    chosen = choose_sentence("门诊什么时候营业？", [price, hours])  # the entry's question shares, its answer not
    assert chosen is not None and chosen.sentence == "每天9:00到21:00营业。急诊全天接诊。"
    chosen = choose_sentence("打一针狂犬疫苗要多少钱？", [hours, price])
    assert chosen is not None and chosen.passage.id == "p2" and "80元" in chosen.sentence


def test_a_question_word_outweighs_a_topic_word_and_decimals_stay_in_their_sentence() -> None:
    price = answer_kind("家里水压不够要加个泵，得多花多少钱？")
    assert price is not None and price.name == "price"
    duration = answer_kind("How long until the steam wand is at full pressure?")
    assert duration is not None and duration.name == "duration"
    assert answer_kind("能装在浴室里吗？") is None and answer_kind("Can I bring my dog?") is None
    parts = paragraph_passages("m.md", "T", ["S"], ["额定流量为1.58升/分钟，进水压力须在0.1至0.4兆帕之间。" * 6])
    assert all("1.58升" in p.text and "0.1至0.4" in p.text for p in parts)  # "1.58" and "0.4" are not sentence ends


def test_a_question_for_a_value_no_passage_holds_is_declined_whatever_the_model_says(held: Path) -> None:
    """None of these documents gives a weight: "有多重" is declined even when the model makes one up."""
    index = PassageIndex.load(held)
    prep = prepare("这把门锁有多重？", index, None, 2)
    assert prep.unanswerable and cannot_answer(prep.question, prep.passages)
    answer = finish(prep, "门锁重2.5公斤。")
    assert answer.mode == "declined" and "2.5" not in answer.answer
    assert not prepare("这台热水器功率是多少瓦？", index, None, 2).unanswerable  # 32千瓦 is a power in 瓦


def test_a_model_that_declines_or_echoes_with_the_answer_in_front_of_it_gets_the_sentence_quoted(held: Path) -> None:
    index = PassageIndex.load(held)
    prep = prepare("How long do I have to give notice before I cancel?", index, None, 2)
    for said, mode in (("The documents do not say.", "closest"),
                       ("How long do I have to give notice before I cancel?", "quoted")):
        answer = finish(prep, said)
        assert answer.mode == mode and "30 days" in answer.answer, said
    kept = finish(prep, "You give 30 days of notice in writing.")
    assert kept.mode == "model"
    wrong = finish(prep, "You give 48 hours of notice.")  # a number the passages hold, of another sentence
    assert wrong.mode == "quoted" and "30 days" in wrong.answer


def test_closed_book_asks_the_question_alone_and_leaves_the_answer_as_it_is(held: Path) -> None:
    prep = prepare("热交换器保修几年？", PassageIndex.load(held), "简短回答。", closed_book=True)
    assert prep.messages == [{"role": "system", "content": "简短回答。"}, {"role": "user", "content": "热交换器保修几年？"}]
    assert finish(prep, "保修99年").answer == "保修99年"


# --- training to read --------------------------------------------------------------------------------


def test_reading_examples_carry_k_passages_their_own_in_most_and_decline_without_it(held: Path) -> None:
    from tools.data.examples import load_examples

    rows = load_examples(held / "train.jsonl", None)
    examples, count = reading_examples(rows, PassageIndex.load(held), k=2, share=0.8, per_question=2, seed=1)
    assert count.examples == len(examples) > 20 and count.with_own + count.without == count.examples
    assert 0.6 <= count.with_own / count.examples <= 0.95
    declines = [e for e in examples if is_decline(e["completion"][0]["content"])]
    assert len(declines) == count.without
    for e in examples:
        turn = e["prompt"][-1]["content"]
        assert turn.count("\n[") == 2 and "[1]" in turn and "[2]" in turn and "[3]" not in turn
    zh = [e for e in declines if "问题：" in e["prompt"][-1]["content"]]
    assert zh and all(e["completion"][0]["content"] == say("read.not_in_documents", "zh") for e in zh)


# --- the plan ------------------------------------------------------------------------------------------


def _plan(data: Path, lang: str = "en") -> object:
    from tools.plan.gather import make_plan

    return make_plan(model="demo", data_dir=data)


def test_a_plan_for_documents_trains_to_read_and_says_why_in_both_languages(held: Path) -> None:
    from tools.plan.card import plan_card

    plan = _plan(held)
    assert plan.reading_k in (1, 2, 3) and 0.5 <= plan.reading_share < 1
    assert plan.max_length >= plan.tokens.reading_tokens[str(plan.reading_k)]
    assert any("answers from your documents" in r for r in plan.reasons_in("en"))
    assert any("读资料回答" in r for r in plan.reasons_in("zh"))
    assert "answers from your documents" in plan_card(plan, "en") and "读您的资料回答" in plan_card(plan, "zh")


def test_a_plan_for_ready_pairs_does_not_read(tmp_path: Path) -> None:
    src = tmp_path / "pairs.jsonl"
    src.write_text("\n".join(json.dumps({"instruction": f"Who made model {i}?", "output": f"Acme made {i}."})
                             for i in range(30)), encoding="utf-8")
    convert_documents(ConvertRequest(inputs=[src], out_dir=tmp_path / "data"))
    assert _plan(tmp_path / "data").reading_k == 0


# --- ask ------------------------------------------------------------------------------------------------


def test_a_questions_file_reads_lines_and_json_lines_and_names_a_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "q.txt"
    good.write_text("热水器保修几年？\n\n" + json.dumps({"question": "How long is the lease?"}) + "\n", encoding="utf-8")
    assert read_questions(good) == ["热水器保修几年？", "How long is the lease?"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok?"}\n{"q": 1}\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_questions(bad)
    assert f"{bad}:2" in str(err.value)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no questions"):
        read_questions(empty)


def test_ask_on_a_run_without_a_merged_model_says_to_merge_first(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "q.txt").write_text("保修几年？\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "tunepilot", "ask", "--run", str(tmp_path), "--questions",
                          str(tmp_path / "q.txt"), "--out", str(tmp_path / "a.jsonl")], capture_output=True, text=True)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "merged" in out.stderr and "tunepilot merge --run" in out.stderr


# --- the endpoint in front of vLLM -----------------------------------------------------------------------


@pytest.fixture
def reading_endpoint(held: Path, tmp_path: Path, llm: object) -> object:
    """A deployed run with documents (its model server scripted) and its reading endpoint, with an API key."""
    import os
    import threading
    from http.server import ThreadingHTTPServer

    import yaml

    from tools.core.jsonio import write_json
    from tools.serve.reading import ReadingApp, _handler
    from tools.serve.record import SERVE_FILE

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"model": "demo", "data_dir": str(held), "reading_k": 2}))
    upstream = os.environ["TUNEPILOT_LLM_BASE_URL"]
    write_json(run / SERVE_FILE, {"run_dir": str(run), "pid": os.getpid(), "host": "127.0.0.1", "port": 1,
                                  "base_url": upstream, "mode": "merged", "models": {"tuned": "tuned", "base": "base"},
                                  "base_model": "demo", "log": str(run / "vllm.log"), "command": [], "started": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ReadingApp(run), "sekrit"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_the_endpoint_answers_an_openai_client_from_the_documents_with_sources(reading_endpoint: str, llm: object
                                                                                ) -> None:
    import openai

    client = openai.OpenAI(base_url=reading_endpoint, api_key="sekrit")
    llm.answers = ["请拨打400-123-4567预约。", "预约电话是028-8566-3021。", "请拨打400-123-4567预约。"]
    r = client.chat.completions.create(model="tuned", messages=[{"role": "user", "content": "预约挂号打什么电话？"}])
    assert "028-8566-3021" in r.choices[0].message.content and "4567" not in r.choices[0].message.content
    assert r.model_extra["sources"] and r.model_extra["tunepilot"]["guard_fired"]
    sent = llm.requests[-1]["messages"][-1]["content"]
    assert sent.startswith("资料：") and "问题：预约挂号打什么电话？" in sent  # the model read the passages
    r = client.chat.completions.create(model="tuned", messages=[{"role": "user", "content": "预约挂号打什么电话？"}])
    assert r.choices[0].message.content == "预约电话是028-8566-3021。"
    r = client.chat.completions.create(model="tuned", messages=[{"role": "user", "content": "预约挂号打什么电话？"}],
                                       extra_body={"closed_book": True})
    assert r.choices[0].message.content == "请拨打400-123-4567预约。" and not r.model_extra["sources"]
    assert llm.requests[-1]["messages"][-1]["content"] == "预约挂号打什么电话？"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=reading_endpoint, api_key="wrong", max_retries=0).models.list()
    assert sorted(m.id for m in client.models.list()) == ["base", "tuned"]
