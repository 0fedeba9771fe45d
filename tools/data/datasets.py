"""Ready-made datasets in JSON or JSONL: alpaca, ShareGPT, OpenAI ``messages``, and ``{"text": ...}``.

Also accepted: ``prompt``/``completion`` (strings or message lists), ``chosen`` answers of preference
data (ShareGPT or alpaca layout), and objects whose keys name a question and an answer
(``question``/``answer``, ``query``/``response``, ``问题``/``答案`` …). Every problem names ``file:line``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from tools.data.decode import NotText, decode_bytes
from tools.data.document import FileLog, Record, pair
from tools.data.faq import A_ALIASES, Q_ALIASES, _norm_header

log = logging.getLogger(__name__)

ROLE_MAP = {
    "human": "user", "user": "user", "USER": "user", "prompter": "user",
    "gpt": "assistant", "assistant": "assistant", "bot": "assistant", "model": "assistant", "chatgpt": "assistant",
    "system": "system", "developer": "system",
    "function_call": "assistant", "observation": "tool", "tool": "tool", "function": "tool", "ipython": "tool",
}
KNOWN = "messages, conversations (ShareGPT), instruction/output (alpaca), prompt/completion, question/answer or text"
TEXT_DROP = "pre-training text (not kept; ask for --keep-text)"


class Unrecognised(ValueError):
    """An object that is not a record in any layout we know; the message says why."""


def _content(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        parts = []
        for part in value:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return value["text"]
    raise Unrecognised(f"{where} is a {type(value).__name__}, expected text")


def _messages(items: Any, field: str) -> list[dict[str, str]]:
    if not isinstance(items, list):
        raise Unrecognised(f'"{field}" is a {type(items).__name__}, expected a list of messages')
    out: list[dict[str, str]] = []
    for k, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise Unrecognised(f'"{field}" item {k} is a {type(item).__name__}, expected an object')
        role_raw = item.get("role", item.get("from"))
        if not isinstance(role_raw, str):
            raise Unrecognised(f'"{field}" item {k} has no "role" (or ShareGPT "from")')
        role = ROLE_MAP.get(role_raw, ROLE_MAP.get(role_raw.lower()))
        if role is None:
            raise Unrecognised(f'"{field}" item {k} has an unknown role {role_raw!r}')
        raw = item.get("content", item.get("value"))
        content = _content(raw, f'"{field}" item {k} content')
        if not content and item.get("tool_calls"):
            content = json.dumps(item["tool_calls"], ensure_ascii=False, sort_keys=True)
        out.append({"role": role, "content": content})
    return out


def _find_key(obj: dict[str, Any], aliases: tuple[str, ...]) -> str | None:
    for key in obj:
        if isinstance(key, str) and _norm_header(key) in aliases and isinstance(obj[key], (str, int, float)):
            return key
    return None


def record_from_object(obj: Any, meta: dict[str, Any]) -> Record:
    """One JSON object → a record (``Record.text`` set for pre-training text); :class:`Unrecognised` if not."""
    if not isinstance(obj, dict):
        raise Unrecognised(f"expected a JSON object, found a {type(obj).__name__}")
    m = dict(meta)
    m["method"] = "dataset"
    if "messages" in obj:
        m["format"] = "openai"
        return Record(messages=_messages(obj["messages"], "messages"), meta=m)
    if "conversations" in obj:
        msgs = _messages(obj["conversations"], "conversations")
        system = obj.get("system")
        if isinstance(system, str) and system.strip() and not any(x["role"] == "system" for x in msgs):
            msgs.insert(0, {"role": "system", "content": system})
        chosen = obj.get("chosen")
        if chosen is not None and msgs and msgs[-1]["role"] == "user":
            msgs.append({"role": "assistant", "content": _content(
                chosen.get("value", chosen.get("content")) if isinstance(chosen, dict) else chosen, '"chosen"')})
        m["format"] = "sharegpt"
        return Record(messages=msgs, meta=m)
    if "instruction" in obj and ("output" in obj or "chosen" in obj):
        instruction = _content(obj.get("instruction"), '"instruction"')
        extra = _content(obj.get("input"), '"input"')
        output = obj.get("output", obj.get("chosen"))
        if isinstance(output, list) and output and all(isinstance(x, str) for x in output):
            output = output[0]  # preference data: the first (chosen) answer
        answer = _content(output, '"output"')
        msgs = []
        system = obj.get("system")
        if isinstance(system, str) and system.strip():
            msgs.append({"role": "system", "content": system})
        history = obj.get("history") or []
        if not isinstance(history, list):
            raise Unrecognised('"history" must be a list of [question, answer] pairs')
        for k, turn in enumerate(history, 1):
            if not (isinstance(turn, (list, tuple)) and len(turn) == 2):
                raise Unrecognised(f'"history" item {k} must be a [question, answer] pair')
            msgs.append({"role": "user", "content": _content(turn[0], f'"history" item {k}')})
            msgs.append({"role": "assistant", "content": _content(turn[1], f'"history" item {k}')})
        user = f"{instruction}\n\n{extra}" if instruction.strip() and extra.strip() else (instruction or extra)
        msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
        m["format"] = "alpaca"
        return Record(messages=msgs, meta=m)
    if "prompt" in obj and "completion" in obj:
        p, c = obj["prompt"], obj["completion"]
        m["format"] = "prompt-completion"
        if isinstance(p, list) and isinstance(c, list):
            return Record(messages=_messages(p, "prompt") + _messages(c, "completion"), meta=m)
        return pair(_content(p, '"prompt"'), _content(c, '"completion"'), m)
    qk, ak = _find_key(obj, Q_ALIASES), _find_key(obj, A_ALIASES)
    if qk and ak and qk != ak:
        m["format"] = f"{qk}/{ak}"
        return pair(_content(obj[qk], f'"{qk}"'), _content(obj[ak], f'"{ak}"'), m)
    if "text" in obj and isinstance(obj["text"], str):
        m["method"] = "text"
        m["format"] = "text"
        return Record(messages=[], meta=m, text=obj["text"])
    keys = ", ".join(sorted(str(k) for k in obj)[:8]) or "none"
    raise Unrecognised(f"no known fields (found: {keys}); expected {KNOWN}")


def _iter_array(text: str) -> Iterator[tuple[int, Any]]:
    """Items of a top-level JSON array with the line each starts on; ValueError names the line."""
    dec = json.JSONDecoder()
    i = text.index("[") + 1
    n = len(text)

    def skip(j: int) -> int:
        while j < n and text[j] in " \t\r\n":
            j += 1
        return j

    i = skip(i)
    if i < n and text[i] == "]":
        return
    while True:
        line = text.count("\n", 0, i) + 1
        try:
            obj, i = dec.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON ({exc.msg}) at line {exc.lineno} column {exc.colno}") from exc
        except RecursionError as exc:
            raise ValueError(f"JSON nested too deeply at line {line}") from exc
        yield line, obj
        i = skip(i)
        if i < n and text[i] == ",":
            i = skip(i + 1)
            continue
        if i < n and text[i] == "]":
            return
        line = text.count("\n", 0, i) + 1
        raise ValueError(f"invalid JSON (expected ',' or ']') at line {line}")


def _convert(obj: Any, flog: FileLog, meta: dict[str, Any], line: int, out: list[Record],
             unknown: list[int]) -> None:
    m = dict(meta)
    m["line"] = line
    try:
        out.append(record_from_object(obj, m))
    except Unrecognised as exc:
        unknown.append(line)
        flog.error("data.bad_record", line=line, detail=str(exc))


def read_json_records(data: bytes, flog: FileLog, meta: dict[str, Any]) -> list[Record]:
    try:
        text, _enc = decode_bytes(data)
    except NotText as exc:
        flog.error("data.json_not_utf8", detail=str(exc))
        return []
    stripped = text.lstrip("\ufeff \t\r\n")
    out: list[Record] = []
    unknown: list[int] = []
    if stripped.startswith("["):
        try:
            for line, obj in _iter_array(text):
                _convert(obj, flog, meta, line, out, unknown)
        except ValueError as exc:
            msg = str(exc)
            bad_line = int(msg.split("at line ")[1].split()[0]) if "at line " in msg else None
            flog.error("data.json_rest_skipped", line=bad_line, detail=msg.split(" at line")[0])
        return out
    try:
        obj = json.loads(text)
    except RecursionError:
        flog.error("data.json_too_deep")
        return []
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # one object per line: really JSONL
            flog.note("this .json file holds one JSON object per line; read it as JSONL")
            return read_jsonl_records(data, flog, meta)
        flog.error("data.json_invalid", line=exc.lineno, detail=exc.msg, column=exc.colno)
        return []
    if isinstance(obj, dict):
        try:
            out.append(record_from_object(obj, dict(meta, line=1)))
            return out
        except Unrecognised:
            lists = [k for k, v in obj.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
            if len(lists) == 1:
                flog.note(f'records read from the "{lists[0]}" list')
                for k, item in enumerate(obj[lists[0]], 1):
                    _convert(item, flog, dict(meta, item=k), 1, out, unknown)
                return out
    keys = ", ".join(sorted(obj)[:8]) if isinstance(obj, dict) else type(obj).__name__
    flog.error("data.json_layout", keys=keys, known=KNOWN)
    return out


def read_jsonl_records(data: bytes, flog: FileLog, meta: dict[str, Any]) -> list[Record]:
    try:
        text, _enc = decode_bytes(data)
    except NotText as exc:
        flog.error("data.jsonl_not_utf8", detail=str(exc))
        return []
    out: list[Record] = []
    unknown: list[int] = []
    for n, line in enumerate(text.split("\n"), 1):
        s = line.strip()
        if not s:
            continue
        try:
            obj = json.loads(s)
        except json.JSONDecodeError as exc:
            flog.error("data.jsonl_bad_line", line=n, detail=exc.msg, column=exc.colno)
            continue
        except RecursionError:
            flog.error("data.jsonl_too_deep", line=n)
            continue
        _convert(obj, flog, meta, n, out, unknown)
    return out
