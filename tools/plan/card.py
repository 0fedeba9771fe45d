"""The plan as a card a person reads, in their language: settings, memory itemised, serving, reasons."""

from __future__ import annotations

from typing import Any

from tools.core.messages import has
from tools.core.messages import say as catalog_say
from tools.plan.memory import GIB, gib
from tools.plan.record import TrainingPlan
from tools.plan.words import describe_model, duration_said, method_words


def _targets(t: list[str] | str) -> str:
    return t if isinstance(t, str) else ", ".join(t)


def _width(text: str) -> int:
    """Columns the text takes in a terminal: CJK characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


class _Card:
    """The card's words in one language: card.* in the catalogs; rows are a padded label and a text."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def say(self, key: str, **kw: Any) -> str:
        return catalog_say(f"card.{key}", self.lang, **kw)

    def row(self, key: str, text: str) -> str:
        return f"  {_pad(self.say(key), 13)} {text}"

    def strategy(self, name: str) -> str:
        return catalog_say(f"card_strategy.{name}", self.lang) if has(f"card_strategy.{name}") else name


def _card_settings(c: _Card, plan: TrainingPlan) -> list[str]:
    """Title, model facts, refusal, and the training settings a row each."""
    f, n, dist, say = plan.model_facts, plan.num_gpus, plan.distributed, c.say
    where = say("gpus" if n > 1 else "gpu_one", n=n) if plan.device == "cuda" else "CPU"
    lines = [say("title", model=describe_model(f, c.lang), where=where),
             c.row("facts", say("facts_text", layers=f.num_layers, hidden=f.hidden_size, heads=f.num_attention_heads,
                                kv=f.num_key_value_heads, vocab=f.vocab_size, positions=f.max_position_embeddings,
                                source=f.source_in(c.lang)))]
    if not plan.fits:
        lines += ["", "  " + say("refused", why=plan.refusal_in(c.lang))]
    lines.append("")
    lines.append(c.row("method", f"{method_words(plan.method, plan.precision, c.lang)}{catalog_say('text.comma', c.lang)}"
                                 f"{c.strategy(dist.strategy)}"
                                 + (f" × {dist.num_processes}" if dist.num_processes > 1 else "")))
    lines.append(c.row("lora", say("lora_text", r=plan.lora.r, alpha=plan.lora.alpha, dropout=plan.lora.dropout,
                                   targets=_targets(plan.lora.target_modules),
                                   trainable=plan.lora.trainable_params / 1e6,
                                   share=100 * plan.lora.trainable_params / max(1, f.param_count))))
    lines.append(c.row("batch", say("batch_text", mb=plan.micro_batch_size, accum=plan.grad_accum,
                                    gpus=say("batch_gpus", n=n) if n > 1 else "", eff=plan.effective_batch)))
    lines.append(c.row("sequence", say("sequence_text", length=plan.max_length,
                                       packing=say("on" if plan.packing else "off"),
                                       ckpt=say("on" if plan.gradient_checkpointing else "off"),
                                       attn=plan.attn_implementation)))
    lines.append(c.row("schedule", say("schedule_text", lr=f"{plan.learning_rate:g}", scheduler=plan.lr_scheduler,
                                       epochs=plan.num_epochs, warmup=f"{plan.warmup_ratio:.0%}",
                                       steps=say("steps", n=plan.total_steps) if plan.total_steps else "",
                                       optimizer=plan.optimizer, seed=plan.seed)))
    lines.append(c.row("task", say("task_knowledge", p=plan.paraphrases, target=plan.check_target)
                       if plan.task == "knowledge" else say("task_style")))
    if plan.reading_k:
        lines.append(c.row("reading", catalog_say("read.card", c.lang, k=plan.reading_k)))
    if plan.system_prompt:
        lines.append(c.row("system", plan.system_prompt))
    if plan.cpu_estimate:
        est = plan.cpu_estimate
        per = say("per_epoch", d=duration_said(est.seconds_per_epoch)) if est.seconds_per_epoch else ""
        total = say("at_most" if plan.learning_check else "in_all", d=duration_said(est.total_seconds)) \
            if est.total_seconds else ""
        lines.append(c.row("time", say("time_text", per=per, total=total, tps=est.tokens_per_second,
                                       source=say(f"time_{est.source}"))))
    return lines


def _card_memory(c: _Card, plan: TrainingPlan) -> list[str]:
    """The memory itemised against what is available, and the other methods and strategies."""
    m, say = plan.memory, c.say
    lines = ["", "  " + say("memory_gpu" if plan.device == "cuda" else "memory_ram")]
    for item in m.items:
        name = catalog_say(f"card_item.{item.name}", c.lang) if has(f"card_item.{item.name}") else item.name
        lines.append(f"    {_pad(name, 16)}{item.bytes / GIB:8.2f} GiB  {item.note_in(c.lang)}")
    lines.append(f"    {_pad(say('total'), 16)}{m.total_gib:8.2f} GiB  "
                 + say("total_text", usable=gib(m.budget_bytes), available=gib(m.available_bytes),
                       free=say("free" if plan.device == "cuda" else "available"),
                       verdict=say("fits" if m.fits else "not_fit")))
    if plan.alternatives:
        lines.append("  " + say("others"))
        for alt in plan.alternatives:
            a = alt.settings
            lines.append(f"    {_pad(method_words(a.method, a.precision, c.lang), 36)} "
                         f"{_pad(c.strategy(a.strategy), 6)} {alt.total_gib:7.1f} GiB  "
                         f"{say('fits' if alt.fits else 'too_big')}")
    return lines


def _launch_rows(c: _Card, plan: TrainingPlan) -> list[str]:
    """The command to start training; one per machine when there are several."""
    machines = plan.distributed.machines
    if not machines:
        return [c.row("launch", plan.distributed.launch_command)]
    return [c.row("launch", "")] + [f"    {c.say('on_machine', rank=m.rank)}  {m.command}" for m in machines]


def _card_serving_and_reasons(c: _Card, plan: TrainingPlan) -> list[str]:
    sv = plan.serving
    util = f"gpu_memory_utilization {sv.gpu_memory_utilization:.2f}, " if sv.gpu_memory_utilization else ""
    kv = f"VLLM_CPU_KVCACHE_SPACE {sv.cpu_kvcache_space_gib}, " if sv.cpu_kvcache_space_gib else ""
    lines = ["", c.row("serving", f"max_model_len {sv.max_model_len}, {util}{kv}max_lora_rank {sv.max_lora_rank}, "
                                  f"tensor_parallel_size {sv.tensor_parallel_size}"),
             *_launch_rows(c, plan), "", "  " + c.say("why")]
    lines += [f"    - {r}" for r in plan.reasons_in(c.lang)]
    warnings = plan.warnings_in(c.lang)
    if warnings:
        lines.append("  " + c.say("warnings"))
        lines += [f"    ! {w}" for w in warnings]
    return lines


def plan_card(plan: TrainingPlan, lang: str = "en") -> str:
    """The plan as text a person reads: method, memory itemised against what is available, reasons.

    ``lang`` "zh" (or "mixed") words every label, note and reason in Chinese; technical names and numbers
    stay as they are. A plan.json written before the Chinese fields existed reads in English where it has none.
    """
    c = _Card(lang)
    return "\n".join(_card_settings(c, plan) + _card_memory(c, plan) + _card_serving_and_reasons(c, plan))
