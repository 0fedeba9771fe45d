"""`tunepilot plan`: the card, JSON, plan.json and configs on disk, --data, --hardware from a doctor JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.tools.planner_fixtures.machines import FIXTURES, LLAMA2_7B
from tools.core.errors import InputError
from tools.plan.data_stats import read_token_stats
from tools.plan.record import TrainingPlan, load_plan
from tunepilot.cli import main

L4 = FIXTURES / "l4.json"  # a hand-written `doctor --json` for a machine no one here has
A10G_X4 = FIXTURES / "4xa10g.json"


def test_plan_card_for_demo_model_on_a_doctor_json(demo_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--model", str(demo_model), "--hardware", str(L4)]) == 0
    out = capsys.readouterr().out
    assert "Plan for" in out and "135M parameters" in out and "on 1 GPU" in out
    assert "LoRA 16-bit (bf16)" in out
    assert "memory per GPU (estimate)" in out and "weights" in out and "logits" in out and "cuda_context" in out
    assert "of 19.8 GiB usable (22.0 GiB free) → fits" in out
    assert "max_lora_rank 16" in out and "why" in out and "- method LoRA 16-bit" in out


def test_plan_json_is_a_training_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--params", "7B", "--hardware", str(L4), "--json"]) == 0
    plan = TrainingPlan.model_validate_json(capsys.readouterr().out)
    assert plan.fits and plan.model_facts.size_only and plan.model_facts.param_count == 7_000_000_000
    assert plan.device == "cuda" and plan.precision == "bf16"


def test_out_writes_plan_and_multi_gpu_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "run"
    data = tmp_path / "data"
    data.mkdir()
    code = main(["plan", "--params", "32B", "--hardware", str(A10G_X4), "--data", str(data), "--out", str(out_dir)])
    assert code == 0
    printed = capsys.readouterr().out
    plan = load_plan(out_dir / "plan.json")
    assert load_plan(out_dir) == plan
    assert plan.num_gpus == 4 and plan.distributed.strategy == "fsdp" and plan.method == "qlora"
    assert plan.attn_implementation == "flash_attention_2"  # the doctor JSON lists flash-attn
    acc_path = out_dir / "accelerate_config.yaml"
    text = acc_path.read_text()
    cmd = plan.distributed.launch_command
    assert text.splitlines()[0] == f"# {cmd}"
    assert cmd.startswith(f"accelerate launch --config_file {acc_path} --num_processes 4 -m tunepilot.cli train ")
    assert f"--plan {out_dir / 'plan.json'}" in cmd and f"--data {data}" in cmd and f"--run {out_dir}" in cmd
    cfg = yaml.safe_load(text)
    assert cfg["distributed_type"] == "FSDP" and cfg["num_processes"] == 4
    assert f"wrote {out_dir / 'plan.json'}" in printed and f"wrote {acc_path}" in printed


def test_deepspeed_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "ds"
    assert main(["plan", "--params", "70B", "--hardware", str(A10G_X4), "--strategy", "zero3",
                 "--out", str(out_dir), "--json"]) == 0
    plan = TrainingPlan.model_validate_json(capsys.readouterr().out)
    ds = json.loads((out_dir / "deepspeed_config.json").read_text())
    assert ds["zero_optimization"]["stage"] == 3
    acc = yaml.safe_load((out_dir / "accelerate_config.yaml").read_text())
    assert acc["deepspeed_config"]["deepspeed_config_file"] == str(out_dir.resolve() / "deepspeed_config.json")
    assert plan.bnb and plan.bnb.bnb_4bit_quant_storage == "bfloat16"


def test_data_report_sets_length_and_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "report.json").write_text(json.dumps({"tokens": {"p50": 90, "p95": 300, "p99": 450, "max": 2000},
                                                  "kept": 999}))
    (data / "train.jsonl").write_text("".join(json.dumps({"messages": []}) + "\n" for _ in range(300)) + "\n")
    assert main(["plan", "--model", "demo", "--hardware", str(L4), "--data", str(data), "--json"]) == 0
    plan = TrainingPlan.model_validate_json(capsys.readouterr().out)
    assert plan.max_length == 512 and plan.tokens and plan.tokens.count == 300
    assert plan.num_epochs == 3 and plan.total_steps == plan.steps_per_epoch * 3


@pytest.mark.parametrize(
    "report",
    ['{"tokens": {"p50": "many", "p99": -3, "max": null}}', '{"tokens": [1, 2]}', "[]", "{not json", '{"other": 1}'],
)
def test_odd_reports_are_ignored_not_fatal(tmp_path: Path, report: str) -> None:
    (tmp_path / "report.json").write_text(report)
    stats = read_token_stats(tmp_path)
    assert stats is None or stats.empty


def test_missing_data_dir_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        read_token_stats(tmp_path / "nope")
    assert "no such dataset folder" in str(err.value)


def test_refusal_exits_3_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--params", "70B", "--hardware", str(L4)]) == 3
    out = capsys.readouterr().out
    assert "DOES NOT FIT" in out and "What would fit" in out


def test_overrides_from_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "llama2-7b"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA2_7B))
    assert main(["plan", "--model", str(folder), "--hardware", str(L4), "--method", "qlora", "--rank", "32",
                 "--batch", "2", "--max-length", "1024", "--epochs", "2", "--lr", "1e-4", "--json"]) == 0
    plan = TrainingPlan.model_validate_json(capsys.readouterr().out)
    assert (plan.method, plan.lora.r, plan.micro_batch_size, plan.max_length, plan.num_epochs, plan.learning_rate) \
        == ("qlora", 32, 2, 1024, 2, 1e-4)
    assert plan.model == str(folder.resolve())


def test_bad_inputs_say_what_and_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "hw.json"
    bad.write_text('{"gpus": []}')
    assert main(["plan", "--model", "demo", "--hardware", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "doctor --json" in err and "Traceback" not in err
    assert main(["plan", "--params", "seven", "--hardware", str(L4)]) == 2
    assert "--params" in capsys.readouterr().err
    assert main(["plan", "--model", "Org/Offline-Model", "--hardware", str(L4)]) == 2
    assert "--params 7B" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["plan", "--batch", "0"])


def test_without_hardware_probes_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--model", "demo", "--json"]) == 0
    plan = TrainingPlan.model_validate_json(capsys.readouterr().out)
    assert plan.fits and plan.model_facts.param_count == 134_515_008


def test_plan_json_feeds_the_trainer(demo_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The contract with tools.train.record: the fields it reads from plan.json are the plan's."""
    from tools.train.record import settings_from_plan

    data = tmp_path / "data"
    data.mkdir()
    (data / "report.json").write_text(json.dumps({"tokens": {"p50": 50, "p95": 100, "p99": 120, "max": 130}}))
    assert main(["plan", "--model", "demo", "--hardware", str(L4), "--data", str(data), "--out",
                 str(tmp_path / "run")]) == 0
    capsys.readouterr()
    raw = json.loads((tmp_path / "run" / "plan.json").read_text())
    plan = TrainingPlan.model_validate(raw)
    from tools.plan.record import parse_plan

    s = settings_from_plan(parse_plan(raw), data)
    assert Path(s.model) == demo_model
    assert (s.method, s.precision, s.lora_r, s.lora_alpha, s.max_length, s.micro_batch_size, s.grad_accum) == (
        plan.method, plan.precision, plan.lora.r, plan.lora.alpha, plan.max_length, plan.micro_batch_size,
        plan.grad_accum)
    assert s.target_modules == plan.lora.target_modules and s.optimizer == plan.optimizer


# --- the card in Chinese -----------------------------------------------------------------------------------

CJK = re.compile(r"[\u4e00-\u9fff]")
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _reason_lines(card: str) -> list[str]:
    return [line[len("    - "):] for line in card.splitlines() if line.startswith("    - ")]


def test_chinese_card_has_chinese_labels_and_one_chinese_reason_per_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--params", "7B", "--hardware", str(L4), "--json"]) == 0
    plan = TrainingPlan.model_validate_json(capsys.readouterr().out)
    assert main(["plan", "--params", "7B", "--hardware", str(L4), "--lang", "zh"]) == 0
    card = capsys.readouterr().out
    for label in ("在 1 块 GPU 上的训练方案", "模型参数", "方法", "批大小", "训练安排", "每块 GPU 的显存（估算）",
                  "权重", "激活值", "合计", "可用 19.8 GiB（空闲 22.0 GiB）→ 放得下", "原因", "启动命令"):
        assert label in card, label
    for english in ("Plan for", "model facts", "memory per GPU", "base weights", "usable", "fits", "why",
                    "micro-batch", "warnings", "size-only estimate", "no config.json was read"):
        assert english not in card, english
    reasons = _reason_lines(card)
    assert reasons == plan.reasons_in("zh") and len(reasons) == len(plan.reasons)
    for en, zh in zip(plan.reasons, reasons, strict=True):
        assert CJK.search(zh) and sorted(NUMBER.findall(zh)) == sorted(NUMBER.findall(en)), (en, zh)
    assert main(["plan", "--params", "7B", "--hardware", str(L4)]) == 0  # English stays the default
    assert _reason_lines(capsys.readouterr().out) == plan.reasons


def test_chinese_refusal(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--params", "70B", "--hardware", str(L4), "--lang", "zh"]) == 3
    out = capsys.readouterr().out
    assert "放不下：" in out and "可行的办法" in out and "DOES NOT FIT" not in out and "What would fit" not in out


def _without_chinese(node: object) -> object:
    """A plan.json as written before the Chinese fields (and the codes) existed."""
    if isinstance(node, dict):
        return {k: _without_chinese(v) for k, v in node.items() if not k.endswith("_zh") and not k.startswith("said_")}
    if isinstance(node, list):
        return [_without_chinese(v) for v in node]
    return node


def test_plan_json_without_chinese_still_loads_and_renders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tools.plan.card import plan_card

    assert main(["plan", "--params", "7B", "--hardware", str(L4), "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    new = load_plan(tmp_path)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(_without_chinese(json.loads(path.read_text(encoding="utf-8")))), encoding="utf-8")
    old = load_plan(tmp_path)
    assert old.reasons_zh == [] and old.reasons == new.reasons
    assert plan_card(old) == plan_card(new)  # the English card is the same
    zh = plan_card(old, "zh")
    assert "原因" in zh and "每块 GPU 的显存（估算）" in zh and "权重" in zh  # labels in Chinese
    assert _reason_lines(zh) == old.reasons  # reasons as written: English, not a mix
    assert "7B base weights" in zh  # memory notes as written


def test_out_and_plan_take_a_file_or_a_folder(demo_model: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`plan --out plan.json` writes that file (it once made a folder named plan.json, and `train --plan
    plan.json` then crashed on IsADirectoryError); `train --plan` takes the file or the folder."""
    from tools.train.launch import _resolve_settings, keep_plan
    from tools.train.record import TrainRequest

    data = tmp_path / "数据"
    data.mkdir()
    (data / "train.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "你好？"},
                                                               {"role": "assistant", "content": "你好。"}]},
                                                 ensure_ascii=False) + "\n", encoding="utf-8")
    assert main(["plan", "--model", "demo", "--data", str(data), "--out", str(tmp_path / "plan.json")]) == 0
    assert (tmp_path / "plan.json").is_file() and f"wrote {tmp_path / 'plan.json'}" in capsys.readouterr().out
    assert main(["plan", "--model", "demo", "--data", str(data), "--out", str(tmp_path / "dir")]) == 0
    capsys.readouterr()
    for i, given in enumerate((tmp_path / "plan.json", tmp_path / "dir", tmp_path / "dir" / "plan.json")):
        s = _resolve_settings(TrainRequest(run_dir=tmp_path / "run", plan_path=given, data_dir=data))
        assert Path(s.model) == demo_model and s.data_dir == str(data.resolve())
        run = tmp_path / f"run{i}"  # the run folder keeps the plan it was trained with (train --continue reads it)
        run.mkdir()
        keep_plan(given, run)
        source = (given / "plan.json" if given.is_dir() else given).read_bytes()
        assert (run / "plan.json").read_bytes() == source
        keep_plan(run / "plan.json", run)  # the run's own plan given back: kept as it is
        assert (run / "plan.json").read_bytes() == source
    # a folder without a plan, a plan named as a folder: one clear line each, no traceback
    (tmp_path / "empty").mkdir()
    assert main(["train", "--plan", str(tmp_path / "empty"), "--data", str(data), "--run", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "has no plan.json" in err and "empty" in err and "Traceback" not in err
    assert main(["train", "--config", str(tmp_path / "empty"), "--run", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "config file not found" in err and "Traceback" not in err
    (tmp_path / "afile").write_text("x")
    assert main(["plan", "--model", "demo", "--out", str(tmp_path / "afile")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    from tools.core.jsonio import read_json

    with pytest.raises(InputError, match="is a folder, not a JSON file"):
        read_json(tmp_path / "dir")


def test_several_machines_get_one_config_and_one_command_each(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    out = tmp_path / "plan"
    assert main(["plan", "--params", "7B", "--hardware", str(L4), "--machines", "2", "--main-ip", "10.0.0.5",
                 "--main-port", "29555", "--out", str(out)]) == 0
    card = capsys.readouterr().out
    plan = load_plan(out)
    d = plan.distributed
    assert d.num_machines == 2 and len(d.machines) == 2 and d.num_processes == 2 * len(json.loads(
        L4.read_text())["gpus"])
    for m in d.machines:
        cfg = yaml.safe_load((out / f"accelerate_config.machine{m.rank}.yaml").read_text())
        assert cfg["machine_rank"] == m.rank and cfg["num_machines"] == 2 and cfg["num_processes"] == d.num_processes
        assert cfg["main_process_ip"] == "10.0.0.5" and cfg["main_process_port"] == 29555
        assert f"accelerate_config.machine{m.rank}.yaml" in m.command and f"machine {m.rank}:" in card
    assert plan.effective_batch == plan.micro_batch_size * plan.grad_accum * d.num_processes
    assert any("2 machines" in r and "10.0.0.5:29555" in r for r in plan.reasons)
    assert main(["plan", "--params", "7B", "--hardware", str(L4), "--machines", "2", "--lang", "zh"]) == 0
    zh = capsys.readouterr().out
    assert "0 号机器：" in zh and "1 号机器：" in zh and "2 台机器" in zh


def test_a_knowledge_plan_counts_the_rewordings_its_data_will_get(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Short identity questions get fewer template rewordings than the planner's rule of thumb (two per template):
    the plan counts them on the data, so its steps and time are those training will take."""
    from tests.fixtures.identity import write_identity_dataset
    from tools.data.examples import load_examples
    from tools.data.knowledge import augment

    data = write_identity_dataset(tmp_path / "身份")
    rows = load_examples(data / "train.jsonl", None)
    stats = read_token_stats(data)
    assert stats is not None and stats.rewordings is not None and 0 < stats.rewordings < 8
    from tests.tools.planner_fixtures.machines import cpu_only

    hardware = tmp_path / "doctor.json"
    hardware.write_text(cpu_only().model_dump_json())
    assert main(["plan", "--model", "demo", "--hardware", str(hardware), "--data", str(data), "--task", "knowledge",
                 "--json"]) == 0
    plan = TrainingPlan.model_validate_json(capsys.readouterr().out)
    # an identity set asks each of its few answers in many words: one rewording each, and the base model's own
    # answers to general questions beside them
    assert stats.answer_repeats is not None and stats.answer_repeats >= 4
    assert plan.paraphrases == 1 and plan.replay == 48 and plan.steps_per_epoch is not None
    from tools.train.record import settings_from_plan

    repeat = settings_from_plan(plan, data).replay_repeat  # each replayed answer seen this often an epoch
    trained = len(augment(rows, plan.paraphrases)) + plan.replay * repeat  # what the worker trains on in an epoch
    assert plan.steps_per_epoch == -(-trained // plan.effective_batch)
    assert any("9 questions per answer" in r for r in plan.reasons)
    assert any("48 general questions" in r for r in plan.reasons)


def test_an_faq_with_one_answer_per_question_gets_four_rewordings(tmp_path: Path) -> None:
    from tests.fixtures import faq
    from tools.data import ConvertRequest, convert_documents
    from tools.plan.gather import make_plan

    sheet = faq.write_faq_csv(tmp_path / "常见问题.csv", faq.ZH)
    convert_documents(ConvertRequest(inputs=[sheet], out_dir=tmp_path / "data", eval_ratio=0.0))
    stats = read_token_stats(tmp_path / "data")
    assert stats is not None and stats.answer_repeats == 1
    plan = make_plan(model="demo", data_dir=tmp_path / "data", task="knowledge")
    assert plan.paraphrases == 4 and plan.replay == 48
    assert any("通用问题" in r for r in plan.reasons_in("zh"))


def test_a_document_whose_questions_tunepilot_wrote_gets_no_more_rewordings(tmp_path: Path) -> None:
    """A manual's facts are already asked several ways each (tools/data/facts/): the plan adds no template
    rewordings (they would only lengthen training), keeps replay and the learning check, and says why."""
    from tests.fixtures import manuals
    from tools.data import ConvertRequest, convert_documents
    from tools.plan.gather import make_plan

    doc = manuals.write_docx(tmp_path / "说明书.docx", manuals.EBIKE_ZH)
    convert_documents(ConvertRequest(inputs=[doc], out_dir=tmp_path / "data"))
    stats = read_token_stats(tmp_path / "data")
    assert stats is not None and stats.written_share is not None and stats.written_share >= 0.8
    plan = make_plan(model="demo", data_dir=tmp_path / "data")
    assert plan.task == "knowledge" and plan.paraphrases == 0 and plan.replay == 48 and plan.learning_check
    assert plan.num_epochs == 5 and any("after the fourth" in r for r in plan.reasons)
    assert any("written from your documents" in r for r in plan.reasons)
    assert any("从你的文档里写出来的" in r for r in plan.reasons_in("zh"))
    # the epoch is the data and the replayed answers, nothing more
    # each example, the replayed answers twice, and the reading examples (two per distinct answer)
    reading = round(stats.count * plan.reading_per_question / stats.answer_repeats)  # type: ignore[operator]
    assert plan.steps_per_epoch == -(-(stats.count + 48 * 2 + reading) // plan.effective_batch)  # type: ignore[operator]


def test_the_runs_system_prompt_is_counted_in_the_max_length(tmp_path: Path) -> None:
    """The dataset's lengths are counted without the run's system prompt, which training puts before every
    example: the plan's max length covers the examples as training renders them, and says the prompt is in it.
    (Short Chinese FAQ answers and a Chinese style prompt: without it the answers were cut off and dropped.)"""
    from tools.data import ConvertRequest, convert_documents
    from tools.data.examples import load_examples
    from tools.data.tokens import load_tokenizer
    from tools.plan.gather import make_plan

    faq = tmp_path / "保修FAQ.txt"
    faq.write_text("".join(f"问：{i}号机器保修几年？\n答：{i}号机器保修{i}年，凭发票到门店办理。\n\n"
                           for i in range(1, 21)), encoding="utf-8")
    convert_documents(ConvertRequest(inputs=[faq], out_dir=tmp_path / "data", model="demo"))
    prompt = "你是一个乐于助人的助手。回答要简短，直接给出要点，不要寒暄，也不要重复问题。"
    plain = make_plan(model="demo", data_dir=tmp_path / "data")
    plan = make_plan(model="demo", data_dir=tmp_path / "data", system_prompt=prompt)
    tok = load_tokenizer("demo")
    rendered = [len(tok.apply_chat_template(r["prompt"] + r["completion"], tokenize=True, return_dict=False))
                for r in load_examples(tmp_path / "data" / "train.jsonl", prompt)]
    assert plan.tokens is not None and plan.tokens.system_tokens
    assert plan.max_length >= max(rendered) > max(rendered) - plan.tokens.system_tokens
    # the FAQ is a document: its reading examples (passages + question + answer) fit with the prompt too
    assert plan.reading_k and plain.reading_k == plan.reading_k
    assert plan.max_length >= plan.tokens.reading_tokens[str(plan.reading_k)] + plan.tokens.system_tokens
    assert any(f"the system prompt's {plan.tokens.system_tokens} included" in r for r in plan.reasons)
    assert any(f"含系统提示的 {plan.tokens.system_tokens} 个" in r for r in plan.reasons_in("zh"))
