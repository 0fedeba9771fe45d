"""The deterministic parser on what people actually type, in Chinese and English."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.goal import Goal
from agent.intent import _parse, parse_message

F = {"has_files": True}  # files attached to the message
C = {"awaiting_confirmation": True}  # the agent asked "start training?"

# (message, parse options, expected). Expected keys are Goal fields (compared exactly), plus
# "task_has" (substrings of task), "gpu" (a subset of the GPU hint), "style_has" (phrases in style).
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # --- the whole journey -----------------------------------------------------------------
    ("用我们的客服 FAQ 微调一个小模型，回答要简短", {},
     {"intents": ["finetune"], "base_model": "demo", "style": ["concise"], "language": "zh", "missing": ["files"],
      "task_has": ["客服 FAQ"]}),
    ("Fine-tune a support bot on these FAQs, 24 GB GPU", F,
     {"intents": ["finetune"], "gpu": {"memory_gb": 24, "name": None}, "language": "en", "missing": [],
      "task_has": ["support bot", "FAQs"]}),
    ("两张A100 80G，用Qwen2.5-14B-Instruct做QLoRA，训练3轮", F,
     {"intents": ["finetune"], "base_model": "Qwen/Qwen2.5-14B-Instruct", "params_b": 14,
      "gpu": {"name": "A100", "memory_gb": 80, "count": 2}, "method": "qlora", "epochs": 3, "language": "zh",
      "task": None}),
    ("帮我用这些产品手册微调 Qwen2.5-7B-Instruct，一张4090，LoRA r=16，学习率2e-4", F,
     {"intents": ["finetune"], "base_model": "Qwen/Qwen2.5-7B-Instruct", "params_b": 7,
      "gpu": {"name": "RTX 4090", "memory_gb": 24, "count": 1}, "method": "lora", "rank": 16, "learning_rate": 2e-4,
      "task_has": ["产品手册"]}),
    ("Fine-tune Llama-3-8B-Instruct on our legal Q&A, always give code in Markdown, 3 epochs", F,
     {"intents": ["finetune"], "base_model": "meta-llama/Meta-Llama-3-8B-Instruct", "params_b": 8, "epochs": 3,
      "style": ["always give code in Markdown"], "task_has": ["legal"]}),
    ("Train a small model on these docs so it answers HR questions politely", F,
     {"intents": ["finetune"], "base_model": "demo", "style": ["polite"], "task_has": ["HR questions"]}),
    ("I want to fine-tune Mistral-7B-Instruct with QLoRA on a T4", {},
     {"intents": ["finetune"], "base_model": "mistralai/Mistral-7B-Instruct-v0.3", "method": "qlora",
      "gpu": {"name": "T4", "memory_gb": 16}, "missing": ["files"]}),
    ("用默认模型训练一个法律咨询助手，语气要正式", F,
     {"intents": ["finetune"], "base_model": "demo", "style": ["formal"], "task_has": ["法律咨询助手"]}),
    ("我们没有显卡，只有CPU，能用这些FAQ微调吗", F,
     {"intents": ["finetune"], "gpu": {"count": 0, "name": None}, "language": "zh"}),
    ("Fine-tune the default on these files, no GPU, batch size 2, max length 512", F,
     {"intents": ["finetune"], "base_model": "demo", "gpu": {"count": 0}, "micro_batch": 2, "max_length": 512}),
    ("用70亿参数的模型微调，8卡H100，训练两轮，秩32", F,
     {"intents": ["finetune"], "params_b": 7, "gpu": {"name": "H100", "count": 8, "memory_gb": 80}, "epochs": 2,
      "rank": 32}),
    ("fine-tune qwen2.5 0.5b on my notes, rank 8, lr 1e-4, seq len 2048", F,
     {"intents": ["finetune"], "base_model": "Qwen/Qwen2.5-0.5B-Instruct", "params_b": 0.5, "rank": 8,
      "learning_rate": 1e-4, "max_length": 2048}),
    ("用客服对话记录训练一个客服机器人，系统提示词：你是ACME公司的客服，请用中文回答", F,
     {"intents": ["finetune"], "system_prompt": "你是ACME公司的客服，请用中文回答", "task_has": ["客服"]}),
    ('Fine-tune on these FAQs with system prompt "You are Acme\'s helpful support agent." and be friendly', F,
     {"intents": ["finetune"], "system_prompt": "You are Acme's helpful support agent.", "style": ["friendly"]}),
    ("用 /data/models/my-llama 这个本地模型微调，数据在 /data/faq.xlsx", {},
     {"intents": ["finetune"], "base_model": "/data/models/my-llama", "files": ["/data/faq.xlsx"], "missing": []}),
    ("Fine-tune HuggingFaceTB/SmolLM2-360M-Instruct on these PDFs, 4-bit please", F,
     {"intents": ["finetune"], "base_model": "HuggingFaceTB/SmolLM2-360M-Instruct", "params_b": 0.36,
      "method": "qlora"}),
    ("用４０９０微调，训练３个epoch，批大小４", F,  # full-width digits
     {"intents": ["finetune"], "gpu": {"name": "RTX 4090"}, "epochs": 3, "micro_batch": 4}),
    ("微调一个医疗问答模型，回答要详细，分点列出，不知道就说不知道", F,
     {"intents": ["finetune"], "style_has": ["detailed", "use bullet points", "say so when unsure"],
      "task_has": ["医疗问答"]}),
    ("做一个售后客服助手，回答不超过50字，用英文回答", F,
     {"intents": ["finetune"], "style_has": ["at most 50 characters", "answer in English"], "language": "zh"}),
    ("teach it our return policy, keep answers short and answer in Chinese", F,
     {"intents": ["finetune"], "style_has": ["concise", "answer in Chinese"], "task_has": ["return policy"]}),
    ("用Llama 3.1 8B微调，然后部署，再评估一下效果", F,
     {"intents": ["finetune"], "base_model": "meta-llama/Llama-3.1-8B-Instruct"}),
    ("fine-tune gemma-2-9b-it on 2x RTX 3090, don't quantize", F,
     {"intents": ["finetune"], "base_model": "google/gemma-2-9b-it", "gpu": {"name": "RTX 3090", "count": 2},
      "method": "lora"}),
    ("Here are our FAQs", F, {"intents": ["finetune"], "missing": ["task"]}),
    # --- plan only -------------------------------------------------------------------------
    ("what would you pick for a 4090?", {},
     {"intents": ["plan"], "gpu": {"name": "RTX 4090", "memory_gb": 24, "count": 1}, "missing": []}),
    ("Can I fine-tune Llama-3-8B on a 24GB card?", {},
     {"intents": ["plan"], "base_model": "meta-llama/Meta-Llama-3-8B-Instruct", "gpu": {"memory_gb": 24}}),
    ("24G显存能跑14B的模型吗？", {}, {"intents": ["plan"], "params_b": 14, "gpu": {"memory_gb": 24}}),
    ("单卡A100 40G用什么方法微调70B？", {},
     {"intents": ["plan"], "params_b": 70, "gpu": {"name": "A100", "memory_gb": 40, "count": 1}}),
    ("给我一个方案就行，先别开始训练", {}, {"intents": ["plan"]}),
    ("Just plan it for an L4, don't train yet", {}, {"intents": ["plan"], "gpu": {"name": "L4", "memory_gb": 24}}),
    ("你推荐用LoRA还是QLoRA？我只有一张3090", {}, {"intents": ["plan"], "gpu": {"name": "RTX 3090", "count": 1}}),
    # --- single steps ----------------------------------------------------------------------
    ("just convert these files", F, {"intents": ["convert"], "missing": []}),
    ("只把这些文档转换成训练数据，不用训练", F, {"intents": ["convert"]}),
    ("Convert my FAQ sheet into a dataset", {}, {"intents": ["convert"], "missing": ["files"]}),
    ("deploy run 20261123-101010-abc123", {}, {"intents": ["deploy"], "run_id": "20261123-101010-abc123"}),
    ("部署运行 20261123-101010-abc123", {}, {"intents": ["deploy"], "run_id": "20261123-101010-abc123"}),
    ("把上次的模型部署上线", {}, {"intents": ["deploy"], "run_id": "latest"}),
    ("serve the latest run with vLLM", {}, {"intents": ["deploy"], "run_id": "latest"}),
    ("evaluate", {}, {"intents": ["evaluate"], "language": "en"}),
    ("评估一下微调前后的效果", {}, {"intents": ["evaluate"], "language": "zh"}),
    ("evaluate run exp-42 before/after", {}, {"intents": ["evaluate"], "run_id": "exp-42"}),
    ("merge the adapter", {}, {"intents": ["merge"]}),
    ("把LoRA合并到基座模型", {}, {"intents": ["merge"], "method": "lora"}),
    ("resume training", {}, {"intents": ["train"]}),
    ("继续训练", {}, {"intents": ["train"]}),
    # --- chat ------------------------------------------------------------------------------
    ("chat with the model: 你是谁？", {}, {"intents": ["chat"], "chat_message": "你是谁？", "language": "en"}),
    ('ask it "你是谁"', {}, {"intents": ["chat"], "chat_message": "你是谁"}),
    ("问问它：退货要几天？", {}, {"intents": ["chat"], "chat_message": "退货要几天？", "language": "zh"}),
    ("ask the model what our refund policy is", {},
     {"intents": ["chat"], "chat_message": "what our refund policy is"}),
    ("跟微调后的模型聊聊", {}, {"intents": ["chat"], "chat_message": None, "missing": ["chat_message"]}),
    ("和模型对话：“如何重置密码？”", {}, {"intents": ["chat"], "chat_message": "如何重置密码？"}),
    # --- control ---------------------------------------------------------------------------
    ("cancel the training", {}, {"intents": ["cancel"]}),
    ("停止训练", {}, {"intents": ["cancel"], "language": "zh"}),
    ("别跑了，取消吧", {}, {"intents": ["cancel"]}),
    ("status", {}, {"intents": ["status"]}),
    ("进度怎么样了", {}, {"intents": ["status"], "language": "zh"}),
    ("how's the training going?", {}, {"intents": ["status"]}),
    ("还要多久才能训练完？", {}, {"intents": ["status"]}),
    ("list my runs", {}, {"intents": ["list_runs"]}),
    ("我的运行记录", {}, {"intents": ["list_runs"], "run_id": None}),
    ("看看之前的训练", {}, {"intents": ["list_runs"]}),
    ("help", {}, {"intents": ["help"]}),
    ("你能做什么？", {}, {"intents": ["help"]}),
    ("帮我看看天气", {}, {"intents": ["unknown"]}),
    ("", {}, {"intents": ["unknown"]}),
    # --- settings outside a confirmation: an edit for the next plan ------------------------
    ("use r=32", {}, {"intents": ["edit"], "rank": 32}),
    ("batch 2", {}, {"intents": ["edit"], "micro_batch": 2}),
    ("我只有一张4090", {}, {"intents": ["edit"], "gpu": {"name": "RTX 4090", "count": 1}}),
    # --- during a confirmation --------------------------------------------------------------
    ("yes", C, {"intents": ["confirm_yes"]}),
    ("ok, go ahead", C, {"intents": ["confirm_yes"]}),
    ("好的", C, {"intents": ["confirm_yes"], "language": "zh"}),
    ("可以，开始吧", C, {"intents": ["confirm_yes"]}),
    ("确认", C, {"intents": ["confirm_yes"]}),
    ("approve", C, {"intents": ["confirm_yes"]}),
    ("没问题", C, {"intents": ["confirm_yes"]}),
    ("no", C, {"intents": ["confirm_no"]}),
    ("cancel", C, {"intents": ["confirm_no"]}),
    ("算了，先不要", C, {"intents": ["confirm_no"]}),
    ("不要", C, {"intents": ["confirm_no"]}),
    ("取消", C, {"intents": ["confirm_no"]}),
    ("use r=32", C, {"intents": ["edit"], "rank": 32}),
    ("batch 2", C, {"intents": ["edit"], "micro_batch": 2}),
    ("换成 QLoRA", C, {"intents": ["edit"], "method": "qlora"}),
    ("学习率改成1e-4", C, {"intents": ["edit"], "learning_rate": 1e-4}),
    ("好，但是batch改成2，最大长度1024", C, {"intents": ["edit"], "micro_batch": 2, "max_length": 1024}),
    ("no, switch to LoRA and train 5 epochs", C, {"intents": ["edit"], "method": "lora", "epochs": 5}),
    ("不要用QLoRA，秩改成64", C, {"intents": ["edit"], "method": "lora", "rank": 64}),
    ("为什么选QLoRA？", C, {"intents": ["unknown"]}),
    ("status", C, {"intents": ["status"]}),
    ("no problem, go", C, {"intents": ["confirm_yes"]}),
    ("ＱＬｏＲＡ，ｒ＝６４", C, {"intents": ["edit"], "method": "qlora", "rank": 64}),
    ("是不是太大了", C, {"intents": ["unknown"]}),
    # --- more phrasings --------------------------------------------------------------------
    ("8xH100, fine-tune Llama 3 70B", F,
     {"intents": ["finetune"], "base_model": "meta-llama/Meta-Llama-3-70B-Instruct", "params_b": 70,
      "gpu": {"name": "H100", "count": 8}}),
    ("Fine-tune Qwen3-8B, lr=5e-5, r = 16, batch_size=8, max_seq_length=4096", F,
     {"intents": ["finetune"], "base_model": "Qwen/Qwen3-8B", "learning_rate": 5e-5, "rank": 16, "micro_batch": 8,
      "max_length": 4096}),
    ("模型部署好了吗", {}, {"intents": ["status"]}),
    ("测试一下新模型：你们几点下班？", {}, {"intents": ["chat"], "chat_message": "你们几点下班？"}),
    ("对比一下基座模型和微调后的模型", {}, {"intents": ["evaluate"]}),
    ("你好", {}, {"intents": ["help"], "language": "zh"}),
    ("请用中文回答，不要太长", {}, {"intents": ["edit"], "style": ["concise", "answer in Chinese"]}),
    ("我的数据有2GB，显卡是4090", {}, {"gpu": {"name": "RTX 4090", "memory_gb": 24}}),
    ("用4张卡训练一个合同审查助手", F, {"intents": ["finetune"], "gpu": {"count": 4}, "task_has": ["合同审查助手"]}),
]


def _check(goal: Goal, expected: dict[str, Any]) -> None:
    for key, want in expected.items():
        if key == "task_has":
            assert goal.task is not None, "no task"
            for part in want:
                assert part in goal.task, (part, goal.task)
        elif key == "style_has":
            for phrase in want:
                assert phrase in goal.style, (phrase, goal.style)
        elif key == "gpu":
            assert goal.gpu is not None, "no GPU hint"
            got = goal.gpu.model_dump()
            for k, v in want.items():
                assert got[k] == v, (k, got)
        elif isinstance(want, float):
            assert getattr(goal, key) == pytest.approx(want), key
        else:
            assert getattr(goal, key) == want, (key, getattr(goal, key))


@pytest.mark.parametrize(("text", "options", "expected"), CASES, ids=[c[0][:40] or "empty" for c in CASES])
def test_utterance(text: str, options: dict[str, Any], expected: dict[str, Any]) -> None:
    _check(parse_message(text, **options), expected)


def test_the_table_is_big_and_half_chinese() -> None:
    chinese = [c for c in CASES if any("\u4e00" <= ch <= "\u9fff" for ch in c[0])]
    assert len(CASES) >= 60
    assert len(chinese) * 2 >= len(CASES)


def test_fields_not_said_stay_empty() -> None:
    goal = parse_message("status")
    assert goal.model_dump(exclude={"intents", "language"}) == Goal().model_dump(exclude={"intents", "language"})


def test_overrides_carry_only_what_was_said() -> None:
    goal = parse_message("换成 QLoRA，秩32", awaiting_confirmation=True)
    assert goal.overrides() == {"method": "qlora", "rank": 32}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.booleans(), st.booleans())
def test_never_raises_and_always_has_an_intent(text: str, has_files: bool, confirming: bool) -> None:
    # _parse is the parser without parse_message's safety net: it must not need it
    goal = _parse(text, has_files=has_files, awaiting_confirmation=confirming)
    assert goal.intents and goal.language in ("zh", "en", "mixed")
    assert parse_message(text, has_files=has_files, awaiting_confirmation=confirming).intents


WORDS = ["微调", "fine-tune", "Qwen2.5-7B", "4090", "两张", "A100", "80G", "r=", "32", "batch", "lr", "1e-4", "ask it",
         '"', "“", "：", ":", "run", "20261123-101010-abc123", "system prompt", "系统提示词", "/", "取消", "yes", "不",
         "训练", "3轮", "epochs", "QLoRA", "，", "。", " ", "?", "'", "x", "*", "亿", "B", "max length", "k", "合并"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=30), st.booleans())
def test_never_raises_on_keyword_soup(words: list[str], confirming: bool) -> None:
    goal = _parse("".join(words), has_files=False, awaiting_confirmation=confirming)
    assert goal.intents


def test_zero_size_in_a_model_name_is_no_size() -> None:
    # found by the atheris fuzzer: "0b" in a hub-like name used to fail Goal validation
    goal = _parse("用 org/model-0b 微调一个客服", has_files=False, awaiting_confirmation=False)
    assert goal.params_b is None


@pytest.mark.parametrize("text", ["导出成 GGUF", "把模型导出到 Ollama 用", "export it to gguf", "make an ollama model of it",
                                  "把模型转成 gguf 格式"])
def test_asking_for_gguf_or_ollama_is_an_export(text: str) -> None:
    assert parse_message(text).intents == ["export"]


def test_merging_alone_is_still_a_merge() -> None:
    assert parse_message("export the merged model").intents == ["merge"]
    assert parse_message("合并模型").intents == ["merge"]


@pytest.mark.parametrize("text", ["Teach the assistant our beekeeping club handbook, answers short",
                                  "教助手学会我们的养蜂手册，回答简短", "回答要简短"])
def test_files_with_a_goal_and_a_style_start_the_journey_not_an_edit_of_no_plan(text: str) -> None:
    """A first message with files and a style phrase was read as editing a plan that did not exist ("I did not
    understand that"): with files it is the fine-tuning journey."""
    assert parse_message(text, has_files=True).intents == ["finetune"]
