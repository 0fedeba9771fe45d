"""Labels of the page in English and Chinese."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "title": {"en": "tunepilot — fine-tune a model by chatting", "zh": "tunepilot — 用对话微调模型"},
    "chat": {"en": "Assistant", "zh": "助手"},
    "input": {"en": "Say what the model should learn, and drop files here",
              "zh": "说说模型要学会什么，并把文件拖到这里"},
    "approve": {"en": "Approve", "zh": "批准"},
    "edit": {"en": "Edit (send the box's text)", "zh": "修改（发送输入框内容）"},
    "cancel": {"en": "Cancel", "zh": "取消"},
    "run_panel": {"en": "Run", "zh": "运行"},
    "dataset": {"en": "Dataset report", "zh": "数据集报告"},
    "plan": {"en": "Plan", "zh": "训练方案"},
    "progress": {"en": "Training progress", "zh": "训练进度"},
    "loss": {"en": "Loss", "zh": "损失"},
    "eval": {"en": "Before / after", "zh": "微调前后对比"},
    "downloads": {"en": "Downloads", "zh": "下载"},
    "model_chat": {"en": "Chat with the model", "zh": "与模型对话"},
    "runs": {"en": "Runs", "zh": "运行记录"},
    "pick_run": {"en": "Deployed run", "zh": "已部署的运行"},
    "base": {"en": "Base model", "zh": "基座模型"},
    "tuned": {"en": "Fine-tuned", "zh": "微调后"},
    "ask": {"en": "Ask both models", "zh": "同时提问两个模型"},
    "send": {"en": "Send", "zh": "发送"},
    "refresh": {"en": "Refresh", "zh": "刷新"},
    "open": {"en": "Open", "zh": "打开"},
    "resume": {"en": "Resume training", "zh": "继续训练"},
    "redeploy": {"en": "Redeploy", "zh": "重新部署"},
    "delete": {"en": "Delete", "zh": "删除"},
    "confirm_delete": {"en": "Yes, delete this run and its files", "zh": "确认删除该运行及其文件"},
    "run_id": {"en": "Run id", "zh": "运行 ID"},
    "language": {"en": "Language", "zh": "语言"},
    "no_run": {"en": "No run yet: send a goal and some files.", "zh": "还没有运行：请发送目标和文件。"},
    "too_many_files": {"en": "Too many files at once ({n}); the limit is {limit}. Send them in parts or as a .zip.",
                       "zh": "一次上传的文件太多（{n} 个），上限是 {limit} 个。请分批发送或打包成 .zip。"},
    "file_too_big": {"en": "{name} is too big ({mb:.0f} MB; the limit is {limit} MB). It was not uploaded.",
                     "zh": "{name} 太大（{mb:.0f} MB，上限 {limit} MB），未上传。"},
    "queued": {"en": "Another training is running on this machine; yours is queued at position {pos}.",
               "zh": "本机正在进行另一个训练；你的训练在队列第 {pos} 位。"},
    "stages": {"en": "data,plan,train,merge,deploy,eval", "zh": "数据,方案,训练,合并,部署,评测"},
    "dataset_cols": {"en": "file,type,found,kept,dropped,errors", "zh": "文件,类型,找到,保留,丢弃,错误"},
    "step_convert": {"en": "Dataset", "zh": "数据集"},
    "step_plan": {"en": "Plan", "zh": "训练方案"},
    "step_train": {"en": "Training", "zh": "训练"},
    "step_status": {"en": "Progress", "zh": "进度"},
    "step_cancel": {"en": "Cancel", "zh": "取消"},
    "step_merge": {"en": "Merge", "zh": "合并"},
    "step_deploy": {"en": "Deployment", "zh": "部署"},
    "step_evaluate": {"en": "Evaluation", "zh": "评测"},
    "step_chat": {"en": "Model answers", "zh": "模型回答"},
    "step_list_runs": {"en": "Runs", "zh": "运行记录"},
    "step_done": {"en": "done", "zh": "完成"},
    "step_failed": {"en": "failed", "zh": "失败"},
    "working": {"en": "Working…", "zh": "处理中…"},
    "server_down": {"en": "The model server is not answering: {error}", "zh": "模型服务没有响应：{error}"},
}


def L(key: str, lang: str, **kw: object) -> str:  # noqa: N802 - short name used in the page code
    entry = LABELS[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**kw) if kw else text
