"""Short, plain-text previews of JSON values for list pages and summaries."""

from __future__ import annotations

import json
from typing import Any

from .chat import chat_text

PREVIEW_CHARS = 200


def json_preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """The most human part of a value: a chat value's text (`chat.chat_text`), a string, or compact JSON."""
    if value is None:
        return ""
    text: str | None = None
    if isinstance(value, str):
        text = value
    else:
        text = chat_text(value)
        if text is None and isinstance(value, dict) and len(value) == 1:
            (only,) = value.values()
            if isinstance(only, str):
                text = only
    if text is None:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
