"""Short, plain-text previews of JSON values for list pages and summaries."""

from __future__ import annotations

import json
from typing import Any

PREVIEW_CHARS = 200


def _message_text(message: Any) -> str | None:
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return " ".join(parts) if parts else None
    return None


def json_preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """The most human part of a value: the last chat message's text, a string, or compact JSON."""
    if value is None:
        return ""
    text: str | None = None
    if isinstance(value, str):
        text = value
    elif isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m for m in value):
        text = _message_text(value[-1])
    elif isinstance(value, dict):
        if isinstance(value.get("messages"), list) and value["messages"]:
            text = _message_text(value["messages"][-1])
        elif isinstance(value.get("choices"), list) and value["choices"]:
            choice = value["choices"][0]
            text = _message_text(choice.get("message")) if isinstance(choice, dict) else None
        elif len(value) == 1:
            (only,) = value.values()
            if isinstance(only, str):
                text = only
    if text is None:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_chat_messages(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in value)
    )
