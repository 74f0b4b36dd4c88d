"""Classify span values for readable display: a chat conversation, plain text, or JSON.

`span_value_display(value)` answers a plain dict the template `traces/_span_io.html` renders (every
string in it is escaped by the template; nothing here produces HTML). Conversations are OpenAI-style
messages: a list of `{role, content, tool_calls, name, tool_call_id}`, `{"messages": [...]}`, a
single message, or a chat completion `{"choices": [{"message": ...}]}`; `content` is a string or a
list of parts (`text`, `image_url`, Anthropic `tool_use` / `tool_result`).
"""

from __future__ import annotations

import json
from typing import Any

from apps.core.json_preview import json_preview

KNOWN_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
# JSON shorter than this is shown expanded; longer JSON starts collapsed.
OPEN_JSON_CHARS = 2000


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _json_part(value: Any) -> dict:
    pretty = pretty_json(value)
    return {"kind": "json", "pretty": pretty, "summary": json_preview(value, 80), "open": len(pretty) < OPEN_JSON_CHARS}


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("role"), str)


def _is_message_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_message(m) for m in value)


def extract_messages(value: Any) -> tuple[list[dict], dict] | None:
    """(messages, other top-level keys) when `value` is a conversation, else None."""
    if _is_message_list(value):
        return value, {}
    if not isinstance(value, dict):
        return None
    if _is_message_list(value.get("messages")):
        return value["messages"], {k: v for k, v in value.items() if k != "messages"}
    if _is_message(value) and ("content" in value or "tool_calls" in value or "function_call" in value):
        return [value], {}
    choices = value.get("choices")
    if isinstance(choices, list) and choices and all(
        isinstance(c, dict) and _is_message(c.get("message")) for c in choices
    ):
        return [c["message"] for c in choices], {k: v for k, v in value.items() if k != "choices"}
    return None


def _arguments(raw: Any) -> str:
    """Tool call arguments pretty-printed; a JSON string is parsed first."""
    if isinstance(raw, str):
        try:
            return pretty_json(json.loads(raw))
        except ValueError:
            return raw
    return pretty_json(raw) if raw is not None else ""


def _tool_call(call: Any) -> dict:
    if not isinstance(call, dict):
        return {"id": "", "name": "", "arguments": pretty_json(call)}
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    name = function.get("name") or call.get("name") or ""
    raw = function.get("arguments", call.get("arguments", call.get("input")))
    return {"id": str(call.get("id") or ""), "name": str(name), "arguments": _arguments(raw)}


def _content_parts(content: Any, tool_calls: list[dict]) -> list[dict]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"kind": "text", "text": content}]
    if not isinstance(content, list):
        return [_json_part(content)]
    parts: list[dict] = []
    for part in content:
        if isinstance(part, str):
            parts.append({"kind": "text", "text": part})
            continue
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in {"text", "input_text", "output_text"} and isinstance(part.get("text"), str):
            parts.append({"kind": "text", "text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            url = str(url or "")
            # Data URLs are huge and never fetched here: show their kind only.
            shown = url.split(",", 1)[0] + ",…" if url.startswith("data:") else url
            parts.append({"kind": "text", "text": f"[image] {shown}"})
        elif kind == "tool_use":
            tool_calls.append(_tool_call(part))
        elif kind == "tool_result":
            inner = part.get("content")
            parts.extend(_content_parts(inner, tool_calls) if inner is not None else [])
        else:
            parts.append(_json_part(part))
    return parts


def _role_class(role: str) -> str:
    role = role.lower()
    return role if role in KNOWN_ROLES else "other"


def message_display(message: dict) -> dict:
    tool_calls: list[dict] = []
    parts = _content_parts(message.get("content"), tool_calls)
    for call in message.get("tool_calls") or []:
        tool_calls.append(_tool_call(call))
    if isinstance(message.get("function_call"), dict):
        tool_calls.append(_tool_call(message["function_call"]))
    known = {"role", "content", "tool_calls", "function_call", "name", "tool_call_id"}
    extra = {k: v for k, v in message.items() if k not in known and v not in (None, "", [], {})}
    role = str(message.get("role") or "")
    return {
        "role": role,
        "role_class": _role_class(role),
        "name": str(message.get("name") or ""),
        "tool_call_id": str(message.get("tool_call_id") or ""),
        "parts": parts,
        "tool_calls": tool_calls,
        "extra": pretty_json(extra) if extra else "",
    }


def span_value_display(value: Any) -> dict:
    """{"kind": "empty" | "text" | "conversation" | "json", ...} for `traces/_span_io.html`."""
    if value is None or value == "" or value == {} or value == []:
        return {"kind": "empty"}
    if isinstance(value, str):
        return {"kind": "text", "text": value}
    if isinstance(value, bool | int | float):
        return {"kind": "text", "text": json.dumps(value)}
    found = extract_messages(value)
    if found is not None:
        messages, rest = found
        return {
            "kind": "conversation",
            "messages": [message_display(m) for m in messages],
            "extra": pretty_json(rest) if rest else "",
            "raw": pretty_json(value),
        }
    return _json_part(value)


def format_duration_ms(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{ms / 60_000:.1f} min"
