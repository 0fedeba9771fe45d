"""What the agent says, in English and Chinese: short, concrete, with the numbers.

``t(key, lang, **vars)`` renders one message with :meth:`str.format`; a
variable the message names but the caller did not pass raises ``KeyError``
(a test renders every message in both languages). ``lang`` is the person's
language from :class:`agent.goal.Goal`: "zh" (and "mixed", a Chinese speaker
using English terms) gives Chinese, anything else English.
"""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    # --- understanding ---------------------------------------------------------------
    "ask_files": {
        "en": "Please attach the files to learn from: FAQ sheets (CSV/XLSX), PDF, Word, HTML, Markdown or text, "
              "or a ready dataset (JSONL). I will turn them into training data.",
        "zh": "请上传要学习的文件：FAQ 表格（CSV/XLSX）、PDF、Word、HTML、Markdown 或文本，"
              "也可以是现成的数据集（JSONL）。我会把它们整理成训练数据。",
    },
    "ask_goal": {
        "en": "What should the fine-tuned model learn? For example: \"answer our support FAQs briefly\".",
        "zh": "微调后的模型要学会什么？例如：“简短地回答我们的客服常见问题”。",
    },
    "ask_chat_message": {
        "en": "What should I ask the model? For example: ask it \"what is your refund policy?\"",
        "zh": "要问模型什么？例如：问它“退货政策是什么？”",
    },
    "understood": {
        "en": "Understood: {summary}.",
        "zh": "明白了：{summary}。",
    },
    "unknown": {
        "en": "I did not understand that. I can:\n"
              "- fine-tune a model on your files: \"fine-tune a support bot on these FAQs, 24 GB GPU\"\n"
              "- only convert files to a dataset: \"just convert these files\"\n"
              "- plan for a GPU: \"what would you pick for a 4090?\"\n"
              "- deploy, evaluate or chat: \"deploy run <id>\", \"evaluate\", \"ask it 'who are you?'\"\n"
              "- follow a run: \"status\", \"cancel the training\", \"list my runs\"",
        "zh": "没有理解这句话。我可以：\n"
              "- 用你的文件微调模型：“用我们的客服 FAQ 微调一个小模型，回答要简短”\n"
              "- 只把文件转换成数据集：“只转换这些文件”\n"
              "- 按显卡给出方案：“一张 4090 你会怎么选？”\n"
              "- 部署、评估或对话：“部署运行 <id>”、“评估一下”、“问它：你是谁？”\n"
              "- 查看运行：“进度怎么样了”、“停止训练”、“我的运行记录”",
    },
    "llm_fallback": {
        "en": "The LLM did not answer usefully, so I used the built-in parser to understand your message.",
        "zh": "大模型没有给出可用的回答，我改用内置解析器理解了你的消息。",
    },
    # --- data -----------------------------------------------------------------------
    "data_done": {
        "en": "Dataset ready from {files} file(s): {train} training and {eval} evaluation examples; "
              "dropped: {dropped}; 95% of examples fit in {p95} tokens.",
        "zh": "已从 {files} 个文件生成数据集：训练 {train} 条、评估 {eval} 条；丢弃：{dropped}；95% 的样本不超过 {p95} 个 token。",
    },
    "data_problems": {
        "en": "Problems found in the files:\n{problems}",
        "zh": "文件中发现的问题：\n{problems}",
    },
    # --- plan and confirmation ------------------------------------------------------
    "plan_header": {
        "en": "Plan: {method} on {model} ({device}); r={r}, batch {batch} x {accum} accumulation, "
              "max length {length}, {epochs} epoch(s); memory about {est} GB of {avail} GB available.",
        "zh": "方案：{method}，模型 {model}（{device}）；r={r}，批大小 {batch} × 累积 {accum}，"
              "最大长度 {length}，{epochs} 轮；显存约 {est} GB，可用 {avail} GB。",
    },
    "plan_time": {
        "en": "Estimated training time: about {minutes} min.",
        "zh": "预计训练时间：约 {minutes} 分钟。",
    },
    "plan_refused": {
        "en": "This does not fit: {why}",
        "zh": "放不下：{why}",
    },
    "confirm_train": {
        "en": "Start training? Reply yes, no, or an edit like 'r=32'.",
        "zh": "开始训练吗？回复 好 / 不 / 或修改如 'r=32'。",
    },
    "confirm_deploy": {
        "en": "Deploy the model with vLLM now? Reply yes or no.",
        "zh": "现在用 vLLM 部署模型吗？回复 好 或 不。",
    },
    "confirm_unclear": {
        "en": "Please reply yes, no, or a change such as 'r=32', 'batch 2' or 'use QLoRA'.",
        "zh": "请回复 好、不，或者修改，例如 'r=32'、'batch 2'、'换成 QLoRA'。",
    },
    "edit_applied": {
        "en": "Changed: {changes}. Here is the new plan.",
        "zh": "已修改：{changes}。新的方案如下。",
    },
    "declined": {
        "en": "OK, not started. Change a setting or say 'start' when you are ready.",
        "zh": "好的，先不开始。可以修改设置，准备好了说“开始”。",
    },
    "set_aside_for_files": {
        "en": "New files came while I was waiting for your answer: I set that question aside and build the "
              "dataset again from all the files, the earlier ones included.",
        "zh": "在等你回复时收到了新文件：先把刚才的问题放一放，用全部文件（包括之前的）重新整理数据集。",
    },
    # --- training -------------------------------------------------------------------
    "train_started": {
        "en": "Training started (run {run_id}, process {pid}). I will report progress; say 'status' or 'cancel' any time.",
        "zh": "训练已开始（运行 {run_id}，进程 {pid}）。我会报告进度；随时可以说“进度”或“停止训练”。",
    },
    "train_starting": {
        "en": "Training is starting: loading the model and data.",
        "zh": "训练正在启动：加载模型和数据中。",
    },
    "train_queued": {
        "en": "Another training is running on this machine; yours is queued at position {pos} and starts when it ends.",
        "zh": "本机正在进行另一个训练；你的训练排在第 {pos} 位，等它结束后自动开始。",
    },
    "train_progress": {
        "en": "Step {step}/{total}, loss {loss}, about {eta} s left.",
        "zh": "第 {step}/{total} 步，loss {loss}，预计还需 {eta} 秒。",
    },
    "train_done": {
        "en": "Training finished after {steps} steps, final loss {loss}.",
        "zh": "训练完成，共 {steps} 步，最终 loss {loss}。",
    },
    "train_state": {
        "en": "Training is {state}.",
        "zh": "训练状态：{state}。",
    },
    "cancelled": {
        "en": "Training cancelled. The last checkpoint is kept, so it can be resumed.",
        "zh": "训练已停止。最近的检查点已保留，可以继续训练。",
    },
    "nothing_to_cancel": {
        "en": "Nothing is running, so there is nothing to cancel.",
        "zh": "当前没有正在运行的训练，无需停止。",
    },
    "status_idle": {
        "en": "Nothing is running right now.",
        "zh": "当前没有正在运行的任务。",
    },
    # --- merge, deploy, evaluate, chat ----------------------------------------------
    "merged": {
        "en": "Adapter merged into a 16-bit copy of the base model: {path} (check against the adapter: {check}).",
        "zh": "适配器已合并到 16 位基座模型副本：{path}（与适配器输出的核对：{check}）。",
    },
    "deployed": {
        "en": "Serving at {url} with models: {models}.",
        "zh": "已部署，地址 {url}，模型：{models}。",
    },
    "not_deployed": {
        "en": "The model is not deployed yet. Say 'deploy' first.",
        "zh": "模型还没有部署，请先说“部署”。",
    },
    "eval_done": {
        "en": "Evaluation done, base vs fine-tuned on the same server: trained questions asked in other words, "
              "{n} held-out examples and general questions:",
        "zh": "评估完成：在同一服务器上对比基座模型与微调模型——换个问法提问训练过的问题、{n} 条留出样本和通用问题：",
    },
    # --- runs -----------------------------------------------------------------------
    "no_run": {
        "en": "There is no run to use yet. Fine-tune one first, or name one: 'deploy run <id>'.",
        "zh": "还没有可用的运行。请先微调一个，或者指定运行：“部署运行 <id>”。",
    },
    "no_runs": {
        "en": "No runs yet.",
        "zh": "还没有任何运行记录。",
    },
    "runs_header": {
        "en": "Your runs ({n}):",
        "zh": "你的运行记录（{n} 个）：",
    },
    "journey_done": {
        "en": "All done for run {run_id}: data, training, merge, deployment and evaluation. "
              "You can chat with the model now: ask it \"...\".",
        "zh": "运行 {run_id} 全部完成：数据、训练、合并、部署和评估。现在可以和模型对话了：问它“……”。",
    },
    # --- errors -----------------------------------------------------------------------
    "error": {
        "en": "Problem: {error}",
        "zh": "出错了：{error}",
    },
}


# Words that replies fill in from tool results: training and run states, stages, the reasons the dataset
# step drops records (tools.data.clean / datasets), the two models of the side-by-side chat. A word not
# listed is shown as it is.
WORDS: dict[str, dict[str, str]] = {
    # states (tools.train.launch.training_state, tools.core.runs.State)
    "none": {"en": "not started", "zh": "未开始"},
    "created": {"en": "created", "zh": "已创建"},
    "running": {"en": "running", "zh": "进行中"},
    "done": {"en": "done", "zh": "已完成"},
    "interrupted": {"en": "interrupted", "zh": "已中断"},
    "cancelled": {"en": "cancelled", "zh": "已取消"},
    "failed": {"en": "failed", "zh": "失败"},
    # stages (tools.core.runs.RunRecord.stage)
    "data": {"en": "data", "zh": "数据"},
    "plan": {"en": "plan", "zh": "方案"},
    "train": {"en": "train", "zh": "训练"},
    "merge": {"en": "merge", "zh": "合并"},
    "deploy": {"en": "deploy", "zh": "部署"},
    "eval": {"en": "eval", "zh": "评估"},
    # dropped records
    "empty or one-sided pair": {"en": "empty or one-sided pair", "zh": "空的或只有一方的问答"},
    "exact duplicate": {"en": "exact duplicate", "zh": "完全重复"},
    "near duplicate": {"en": "near duplicate", "zh": "近似重复"},
    "over the token budget": {"en": "over the token budget", "zh": "超出 token 上限"},
    "section too short": {"en": "section too short", "zh": "段落太短"},
    "only symbols, no words": {"en": "only symbols, no words", "zh": "只有符号，没有文字"},
    "tool or multi-role conversation cannot be written as alpaca": {
        "en": "tool or multi-role conversation cannot be written as alpaca",
        "zh": "工具调用或多角色对话无法写成 alpaca 格式"},
    "pre-training text (not kept; ask for --keep-text)": {
        "en": "pre-training text (not kept; ask for --keep-text)",
        "zh": "预训练文本（未保留；需要时加 --keep-text）"},
    # the side-by-side chat and the merge check
    "base": {"en": "base", "zh": "基座模型"},
    "tuned": {"en": "tuned", "zh": "微调后"},
    "check_ok": {"en": "OK", "zh": "一致"},
    "check_mismatch": {"en": "MISMATCH", "zh": "不一致"},
}


def _is_zh(lang: str) -> bool:
    return (lang or "").lower().startswith(("zh", "mixed"))


def word(key: str, lang: str) -> str:
    """A state, stage or label word from :data:`WORDS` in ``lang``; a word not listed is returned as it is."""
    entry = WORDS.get(key)
    if entry is None:
        return key
    return entry["zh"] if _is_zh(lang) else entry["en"]


def t(key: str, lang: str, **vars: object) -> str:
    """The message ``key`` in ``lang`` ("zh"/"mixed" → Chinese, else English), formatted with ``vars``.

    Raises ``KeyError`` for an unknown key or a variable the message needs but was not given.
    """
    try:
        texts = MESSAGES[key]
    except KeyError:
        raise KeyError(f"no reply named {key!r}") from None
    text = texts["zh"] if _is_zh(lang) else texts["en"]
    return text.format(**vars)
