"""Classify span values for readable display: a chat conversation, plain text, or JSON.

`span_value_display(value)` answers a plain dict the template `traces/_span_io.html` renders (every
string in it is escaped by the template; nothing here produces HTML). What a conversation is, and its
messages, come from `apps.core.chat`.
"""

from __future__ import annotations

import json
from typing import Any

from apps.core.chat import chat_split, message_normalise, tool_arguments
from apps.core.json_preview import json_preview

KNOWN_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
# JSON shorter than this is shown expanded; longer JSON starts collapsed.
OPEN_JSON_CHARS = 2000


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _json_part(value: Any) -> dict:
    pretty = pretty_json(value)
    return {"kind": "json", "pretty": pretty, "summary": json_preview(value, 80), "open": len(pretty) < OPEN_JSON_CHARS}


def _arguments(raw: Any) -> str:
    """Tool call arguments pretty-printed; a JSON string is parsed first."""
    value, parsed = tool_arguments(raw)
    if isinstance(raw, str) and not parsed:
        return raw
    return pretty_json(value) if raw is not None else ""


def _shown_parts(parts: list[dict]) -> list[dict]:
    shown: list[dict] = []
    for part in parts:
        if part["kind"] == "text":
            shown.append(part)
        elif part["kind"] == "image":
            url = str(part["url"] or "")
            # Data URLs are huge and never fetched here: show their kind only.
            shown.append(
                {"kind": "text", "text": "[image] " + (url.split(",", 1)[0] + ",…" if url.startswith("data:") else url)}
            )
        elif part["kind"] == "tool_result":
            shown.extend(_shown_parts(part["parts"]))
        else:
            shown.append(_json_part(part["value"]))
    return shown


def _role_class(role: str) -> str:
    role = role.lower()
    return role if role in KNOWN_ROLES else "other"


def message_display(message: dict) -> dict:
    normal = message_normalise(message)
    return {
        "role": normal["role"],
        "role_class": _role_class(normal["role"]),
        "name": normal["name"],
        "tool_call_id": normal["tool_call_id"],
        "parts": _shown_parts(normal["parts"]),
        "tool_calls": [
            {"id": c["id"], "name": c["name"], "arguments": _arguments(c["arguments"])} for c in normal["tool_calls"]
        ],
        "extra": pretty_json(normal["extra"]) if normal["extra"] else "",
    }


def span_value_display(value: Any) -> dict:
    """{"kind": "empty" | "text" | "conversation" | "json", ...} for `traces/_span_io.html`."""
    if value is None or value == "" or value == {} or value == []:
        return {"kind": "empty"}
    if isinstance(value, str):
        return {"kind": "text", "text": value}
    if isinstance(value, bool | int | float):
        return {"kind": "text", "text": json.dumps(value)}
    found = chat_split(value)
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
