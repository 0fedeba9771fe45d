"""The tokenizer, the base model (4-bit for QLoRA) and the LoRA adapter on it, from a run's settings."""

from __future__ import annotations

import os
from typing import Any

from tools.core.events import EventWriter
from tools.core.templates import CHATML_TEMPLATE, without_default_system
from tools.train.record import TrainSettings
from tools.train.short_attention import recompute_norms, register


def load_tokenizer(settings: TrainSettings) -> Any:
    """The model's tokenizer, with a chat template and a pad token that is not the end of a turn."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(settings.model)
    if not getattr(tok, "chat_template", None):
        tok.chat_template = CHATML_TEMPLATE
    if tok.pad_token is None or tok.pad_token_id == tok.eos_token_id:
        vocab = tok.get_vocab()
        tok.pad_token = "<|endoftext|>" if "<|endoftext|>" in vocab else tok.unk_token or tok.eos_token
    return tok


def drop_default_system(tok: Any, settings: TrainSettings) -> tuple[str, int] | None:
    """A run with no system prompt of its own trains without the one the model's template would add to every
    example (SmolLM2: "You are a helpful AI assistant named SmolLM, ..."): ``tok``'s template is changed, and it is
    the template saved with the adapter, so evaluation and serving go without it too. The prompt taken out and its
    length in tokens; None when nothing changed."""
    if settings.system_prompt or not getattr(tok, "chat_template", None):
        return None

    found = without_default_system(tok, tok.chat_template)
    if found is None:
        return None
    tok.chat_template, prompt = found
    return prompt, len(tok(prompt, add_special_tokens=False)["input_ids"])


def load_model(settings: TrainSettings, tok: Any, cuda: bool) -> Any:
    """The base model: 4-bit NF4 for QLoRA, else in the plan's precision (fp32 master weights on CPU)."""
    import torch
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[settings.precision]
    attention = settings.attn_implementation
    if attention == "eager" and not cuda:  # the plan's short CPU examples: eager's work, lighter on memory

        attention = register()
    load_kwargs: dict[str, Any] = {"attn_implementation": attention}
    if settings.method == "qlora":
        from transformers import BitsAndBytesConfig

        compute = getattr(torch, settings.bnb_compute_dtype)
        load_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
        )
        load_kwargs["dtype"] = compute
        if cuda:
            load_kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))}
    else:
        # the base stays frozen: its weights in the compute dtype, as LLaMA-Factory loads them (no fp32 master copy
        # cast to bf16 in every forward); PEFT keeps the adapter's own weights in fp32
        load_kwargs["dtype"] = dtype
    model = AutoModelForCausalLM.from_pretrained(settings.model, **load_kwargs)
    if settings.method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=settings.gradient_checkpointing)
    model.config.pad_token_id = tok.pad_token_id
    if not cuda and not settings.gradient_checkpointing:
        recompute_norms(model)
    return model


def with_adapter(model: Any, settings: TrainSettings, events: EventWriter) -> tuple[Any, Any]:
    """A new LoRA adapter for TRL to put on ``model``; or, in a follow-up run, the previous run's adapter on it,
    trainable, and none for TRL to add."""
    if not settings.init_adapter:
        from peft import LoraConfig

        return model, LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                                 target_modules=settings.target_modules, task_type="CAUSAL_LM")
    from peft import PeftModel

    events.emit("train", "info", f"starting from the adapter in {settings.init_adapter}",
                init_adapter=settings.init_adapter)
    return PeftModel.from_pretrained(model, settings.init_adapter, is_trainable=True), None
