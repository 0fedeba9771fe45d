"""The language a message is written in: Chinese, English, or Chinese with English terms."""

from __future__ import annotations

import re

from agent.goal import Language
from agent.words.text import rx
from tools.core.cjk import HAN

HAN_RE = rx(f"[{HAN}]")
_TECH_WORDS = {
    "lora", "qlora", "gpu", "gpus", "cpu", "faq", "faqs", "epoch", "epochs", "batch", "size", "rank", "lr", "gb",
    "vram", "rtx", "nvidia", "qwen", "llama", "meta", "mistral", "instruct", "gemma", "smollm", "deepseek", "phi",
    "json", "jsonl", "pdf", "pdfs", "csv", "xlsx", "docx", "md", "markdown", "txt", "html", "api", "vllm", "bit",
    "run", "id", "demo", "ok", "okay", "bf", "fp", "int", "nf", "max", "len", "seq", "token", "tokens", "llm", "ai",
    "app", "model", "bot", "prompt", "system", "ft", "sft", "cuda", "colab", "server", "url", "http", "https",
    "www", "com", "hf", "eval", "adapter", "fine", "tune", "finetune", "tuning", "deploy", "merge", "train",
    "training", "chat", "chatbot", "loss", "step", "steps", "base", "chatml", "qa", "excel", "word",
    "ppt", "ui", "web", "yes", "no", "hi", "hello", "k", "b", "m", "x",
}


def read_language(text: str) -> Language:
    han = len(HAN_RE.findall(text))
    if han == 0:
        return "en"
    words = [w for w in re.findall(r"[a-z]{2,}", text.lower()) if w not in _TECH_WORDS]
    if len(words) <= 1:
        return "zh"
    han_words = han / 2
    if han_words >= 2 * len(words):
        return "zh"
    if len(words) >= 2 * han_words:
        return "en"
    return "mixed"
