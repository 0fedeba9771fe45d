"""Chat templates the product writes into models that lack one (and the training copy)."""

from __future__ import annotations

import re
from typing import Any

# ChatML, as SmolLM2-Instruct and Qwen use it.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Gemma's turns (user / model), with no system role: a system message is folded into the first user turn, the
# way Google's own Gemma 3 template does it. It writes BOS itself: Gemma answers garbage without it.
GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% set first_prefix = messages[0]['content'] + '\n\n' %}{% set turns = messages[1:] %}"
    "{% else %}{% set first_prefix = '' %}{% set turns = messages %}{% endif %}"
    "{% for message in turns %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + (first_prefix if loop.first else '') + message['content'] | trim"
    " + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)

# ChatML without SmolLM's default system line, for other models whose vocabulary has ChatML's markers.
CHATML_PLAIN_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Llama 3's header turns.
LLAMA3_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim"
    " + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# For a vocabulary with no turn markers at all: plain headings, each answer closed by the model's EOS.
PLAIN_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] + '\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ '### User:\n' + message['content'] + '\n\n' }}"
    "{% else %}{{ '### Assistant:\n' + message['content'] + eos_token + '\n\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Assistant:\n' }}{% endif %}"
)

# format name → (the marker that shows a template writes it, its end-of-turn token, the template we write)
CHAT_FORMATS: dict[str, tuple[str, str | None, str]] = {
    "chatml": ("<|im_start|>", "<|im_end|>", CHATML_PLAIN_TEMPLATE),
    "llama3": ("<|start_header_id|>", "<|eot_id|>", LLAMA3_TEMPLATE),
    "gemma": ("<start_of_turn>", "<end_of_turn>", GEMMA_TEMPLATE),
    "plain": ("### Assistant:", None, PLAIN_TEMPLATE),
}


def chat_format(chat_template: str | None) -> str | None:
    """Which known chat format a template writes (None for one tunepilot does not know)."""
    return next((name for name, (mark, _, _) in CHAT_FORMATS.items() if chat_template and mark in chat_template),
                None)


def format_for_vocab(vocab: set[str] | dict[str, int]) -> str:
    """The chat format a model without a template should get: the one whose turn markers its vocabulary has."""
    for name, (mark, end, _) in CHAT_FORMATS.items():
        if end is not None and mark in vocab and end in vocab:
            return name
    return "plain"


def turn_end(chat_template: str | None) -> str | None:
    """The token that closes an answer in this template (None: the model's EOS)."""
    fmt = chat_format(chat_template)
    return CHAT_FORMATS[fmt][1] if fmt else None


_USER_PROBE, _SYSTEM_PROBE = "§user-probe§", "¶system-probe¶"


def _render(tok: Any, template: str, messages: list[dict[str, str]], generation: bool = False) -> str:
    return str(tok.apply_chat_template(messages, chat_template=template, tokenize=False,
                                       add_generation_prompt=generation))


def default_system_prompt(tok: Any, template: str) -> str:
    """The system prompt ``template`` writes on its own into a conversation that has none ("" when it writes none):
    what stands where an explicit system message would."""
    user = {"role": "user", "content": _USER_PROBE}
    try:
        alone = _render(tok, template, [user])
        with_system = _render(tok, template, [{"role": "system", "content": _SYSTEM_PROBE}, user])
    except Exception:  # noqa: BLE001 - a template that cannot render probes has no default we can find
        return ""
    if with_system.count(_SYSTEM_PROBE) != 1:
        return ""
    head, tail = with_system.split(_SYSTEM_PROBE)
    if not (alone.startswith(head) and alone.endswith(tail)) or len(alone) < len(head) + len(tail):
        return ""
    return alone[len(head):len(alone) - len(tail)]


_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def without_default_system(tok: Any, template: str) -> tuple[str, str] | None:
    """``template`` with its default system prompt taken out, and that prompt; None when it has none or taking it
    out would change anything else (checked by rendering: with a system message every rendering is unchanged,
    without one each is the old rendering less a leading block that held the default)."""
    default = default_system_prompt(tok, template)
    if not default.strip():
        return None
    written = {default, default.replace("'", "\\'"), default.replace('"', '\\"'), default.replace("\n", "\\n")}
    new = _LITERAL.sub(lambda m: m.group(0)[0] * 2 if any(w in m.group(0) for w in written) else m.group(0), template)
    if new == template:
        return None
    user, answer = {"role": "user", "content": _USER_PROBE}, {"role": "assistant", "content": "«answer»"}
    system = {"role": "system", "content": _SYSTEM_PROBE}
    try:
        for turns in ([user], [user, answer], [user, answer, user]):
            for generation in (False, True):
                if _render(tok, new, [system, *turns], generation) != _render(tok, template, [system, *turns],
                                                                                generation):
                    return None
                old, now = _render(tok, template, turns, generation), _render(tok, new, turns, generation)
                if default in now or not old.endswith(now) or default not in old[:len(old) - len(now)]:
                    return None
    except Exception:  # noqa: BLE001 - an edit that breaks the template is not made
        return None
    return new, default
