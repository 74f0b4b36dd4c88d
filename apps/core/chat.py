"""Chat messages, once: what counts as a conversation in a span value, and each message normalised.

Shapes read:
- OpenAI messages `[{role, content, name, tool_calls, tool_call_id}]`, legacy `function_call`;
- a request `{"messages": [...], ...}`, Anthropic's top-level `"system"` (a text or text blocks)
  becoming the first message;
- one message `{role, content}` (an Anthropic response `{"type": "message", "role", "content"}` too);
- a chat completion `{"choices": [{"message": ...}]}`.
`content` is a string or a list of parts: `text` / `input_text` / `output_text`, OpenAI `image_url`,
Anthropic `image` (`source` url or base64), `tool_use`, `tool_result`.

A normalised message is a plain dict (callers present it; nothing here produces HTML):
`{"role", "name", "tool_call_id", "parts", "tool_calls", "extra"}` where a part is
`{"kind": "text", "text"}`, `{"kind": "image", "url"}`, `{"kind": "tool_result", "id", "parts"}` or
`{"kind": "json", "value"}`, and a tool call is `{"id", "name", "arguments", "source"}` (`arguments`
as sent; `source` is "tool_calls", "function_call" or "tool_use").
"""

from __future__ import annotations

import json
from typing import Any

TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})
MESSAGE_KEYS = frozenset({"role", "content", "tool_calls", "function_call", "name", "tool_call_id"})


def is_message(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("role"), str)


def _all_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(is_message(m) for m in value)


def _system_text(system: Any) -> str | None:
    if isinstance(system, str):
        return system or None
    if isinstance(system, list):
        texts = [b["text"] for b in system if isinstance(b, dict) and isinstance(b.get("text"), str)]
        return "\n".join(texts) or None
    return None


def chat_split(value: Any) -> tuple[list[dict], dict] | None:
    """(messages, the value's other top-level keys) when `value` is a conversation, else None."""
    if _all_messages(value):
        return value, {}
    if not isinstance(value, dict):
        return None
    if _all_messages(value.get("messages")):
        rest = {k: v for k, v in value.items() if k != "messages"}
        system = _system_text(rest.get("system"))
        if system is None:
            return value["messages"], rest
        del rest["system"]
        return [{"role": "system", "content": system}, *value["messages"]], rest
    if is_message(value) and ("content" in value or "tool_calls" in value or "function_call" in value):
        return [value], {}
    choices = value.get("choices")
    if (
        isinstance(choices, list)
        and choices
        and all(isinstance(c, dict) and is_message(c.get("message")) for c in choices)
    ):
        return [c["message"] for c in choices], {k: v for k, v in value.items() if k != "choices"}
    return None


def chat_messages(value: Any) -> list[dict] | None:
    """The messages of a conversation value, else None."""
    found = chat_split(value)
    return None if found is None else found[0]


def chat_items(value: Any) -> list[Any]:
    """Lenient: the items of a value that may hold messages (nested lists flattened, `{"messages"}`,
    `{"choices"}`), each a message or something else to show whole."""
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            out.extend(chat_items(item) if isinstance(item, list) else [item])
        return out
    found = chat_split(value) if isinstance(value, dict) and ("messages" in value or "choices" in value) else None
    if found is not None:
        return list(found[0])
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        return list(value["messages"])
    return [value] if value is not None else []


def chat_answer(value: Any) -> dict | None:
    """The assistant's message of a response: the first choice of a completion, or the one message."""
    if isinstance(value, dict) and isinstance(value.get("choices"), list) and value["choices"]:
        choice = value["choices"][0]
        message = choice.get("message") if isinstance(choice, dict) else None
        return message if isinstance(message, dict) else None
    return value if is_message(value) else None


def _tool_call(call: Any, source: str) -> dict:
    if not isinstance(call, dict):
        return {"id": "", "name": "", "arguments": call, "source": source}
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    return {
        "id": str(call.get("id") or ""),
        "name": str(function.get("name") or call.get("name") or ""),
        "arguments": function.get("arguments", call.get("arguments", call.get("input"))),
        "source": source,
    }


def _image_url(block: dict) -> Any:
    raw = block.get("image_url")
    url = raw.get("url") if isinstance(raw, dict) else raw
    source = block.get("source")
    if url is None and isinstance(source, dict):  # Anthropic
        url = source.get("url") or (
            f"data:{source.get('media_type')};base64,{source.get('data')}" if source.get("data") else None
        )
    return url


def content_parts(content: Any, tool_calls: list[dict] | None = None) -> list[dict]:
    """A message's content as parts; Anthropic `tool_use` blocks go to `tool_calls`."""
    calls = [] if tool_calls is None else tool_calls
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"kind": "text", "text": content}]
    if not isinstance(content, list):
        return [{"kind": "json", "value": content}]
    parts: list[dict] = []
    for block in content:
        if isinstance(block, str):
            parts.append({"kind": "text", "text": block})
            continue
        kind = block.get("type") if isinstance(block, dict) else None
        if kind in TEXT_PARTS and isinstance(block.get("text"), str):
            parts.append({"kind": "text", "text": block["text"]})
        elif kind in IMAGE_PARTS:
            parts.append({"kind": "image", "url": _image_url(block)})
        elif kind == "tool_use":
            calls.append(_tool_call(block, "tool_use"))
        elif kind == "tool_result":
            parts.append(
                {
                    "kind": "tool_result",
                    "id": str(block.get("tool_use_id") or ""),
                    "parts": content_parts(block.get("content"), calls),
                }
            )
        else:
            parts.append({"kind": "json", "value": block})
    return parts


def message_normalise(message: dict) -> dict:
    tool_calls: list[dict] = []
    parts = content_parts(message.get("content"), tool_calls)
    tool_calls.extend(_tool_call(call, "tool_calls") for call in message.get("tool_calls") or [])
    if isinstance(message.get("function_call"), dict):
        tool_calls.append(_tool_call(message["function_call"], "function_call"))
    return {
        "role": str(message.get("role") or ""),
        "name": str(message.get("name") or ""),
        "tool_call_id": str(message.get("tool_call_id") or ""),
        "parts": parts,
        "tool_calls": tool_calls,
        "extra": {k: v for k, v in message.items() if k not in MESSAGE_KEYS and v not in (None, "", [], {})},
    }


def has_tool_calls(value: Any) -> bool:
    return any(is_message(m) and message_normalise(m)["tool_calls"] for m in chat_items(value))


def tool_arguments(raw: Any) -> tuple[Any, bool]:
    """(value, parsed): tool-call arguments sent as JSON text parsed; anything else as is."""
    if isinstance(raw, str):
        try:
            return json.loads(raw), True
        except ValueError:
            return raw, False
    return raw, False


def message_text(message: Any) -> str | None:
    """A message's text: a string content, or its text parts joined; None when it has none."""
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p["text"] for p in content_parts(content) if p["kind"] == "text"]
        return " ".join(texts) if texts else None
    return None


def editable_text(value: Any) -> str | None:
    """The text of a chat value that can be edited and written back in place: the string `content` of
    a message, or of a list's last message (static/reviews/annotation_panel.js `chatText` mirrors it)."""
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    if isinstance(value, list) and value and isinstance(value[-1], dict) and isinstance(value[-1].get("content"), str):
        return value[-1]["content"]
    return None


def chat_text(value: Any) -> str | None:
    """The text people mean by a chat value: a response's answer, else the last message's text."""
    answer = chat_answer(value)
    if answer is not None:
        return message_text(answer)
    messages = chat_messages(value)
    return message_text(messages[-1]) if messages else None
