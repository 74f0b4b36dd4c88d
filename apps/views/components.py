"""One function per leaf component of a view (conversation, fields, markdown, json, diff, image,
aggregate): a component and a document (or the trace, for aggregate) in, a node's plain data out."""

from __future__ import annotations

import difflib
import re
from typing import Any

from apps.core.chat import chat_items, message_normalise, tool_arguments

from .documents import MAX_ITEMS, TraceContext, find_all, find_one, safe_image_src, text_truncate, value_text

DIFF_TOKEN_LIMIT = 20_000


def _arguments_text(arguments: Any) -> str:
    value, parsed = tool_arguments(arguments)
    return value_text(value) if parsed or not isinstance(arguments, str) else text_truncate(arguments)


def _shown_parts(parts: list[dict]) -> list[dict]:
    shown: list[dict] = []
    for part in parts:
        if part["kind"] == "text":
            shown.append({"kind": "text", "text": text_truncate(part["text"])})
        elif part["kind"] == "image":
            src = safe_image_src(part["url"])
            shown.append({"kind": "image", "src": src} if src else {"kind": "blocked_image"})
        elif part["kind"] == "tool_result":
            inner = _shown_parts(part["parts"])
            shown.append({"kind": "tool_result", "id": part["id"], "text": "\n".join(p.get("text", "") for p in inner)})
        else:
            shown.append({"kind": "json", "text": value_text(part["value"])})
    return shown


def _message(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not ({"role", "content", "tool_calls"} & set(raw)):
        # Not a chat message (a plain string or an arbitrary object): show it whole.
        return {
            "role": "message",
            "role_class": "other",
            "parts": [{"kind": "text", "text": value_text(raw)}],
            "tool_calls": [],
            "is_tool": False,
        }
    normal = message_normalise(raw)
    role = normal["role"] or "message"
    role_class = role if role in ("user", "assistant", "system", "tool", "developer") else "other"
    if role == "function":
        role_class = "tool"
    calls = [
        {
            "name": c["name"] or ("function" if c["source"] == "function_call" else "tool"),
            "id": c["id"],
            "arguments": _arguments_text(c["arguments"]),
        }
        for c in normal["tool_calls"]
    ]
    return {
        "role": role,
        "role_class": role_class,
        "name": normal["name"],
        "tool_call_id": normal["tool_call_id"],
        "parts": _shown_parts(normal["parts"]),
        "tool_calls": calls,
        "is_tool": role_class == "tool",
    }


def conversation(component: dict, document: dict) -> dict[str, Any]:
    paths = component["path"] if isinstance(component["path"], list) else [component["path"]]
    raw: list[Any] = []
    for path in paths:
        for found in find_all(path, document):
            raw.extend(chat_items(found))
    if not raw:
        return {"error": f"No messages at {', '.join(paths)}."}
    return {"messages": [_message(m) for m in raw[:MAX_ITEMS]], "hidden": max(0, len(raw) - MAX_ITEMS)}


def fields(component: dict, document: dict) -> dict[str, Any]:
    rows = []
    for item in component["fields"]:
        found = find_all(item["path"], document)
        value = None if not found else found[0] if len(found) == 1 else found
        rows.append(
            {
                "label": item["label"],
                "text": value_text(value),
                "missing": not found,
                "block": isinstance(value, dict | list) or (isinstance(value, str) and "\n" in value),
            }
        )
    return {"rows": rows}


def markdown(component: dict, document: dict) -> dict[str, Any]:
    found = find_all(component["path"], document)
    if not found:
        return {"error": f"Nothing at {component['path']}."}
    value = found[0] if len(found) == 1 else found
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        value = value["content"]  # a chat message: its text is what people mean
    if isinstance(value, str):
        return {"markdown": text_truncate(value)}
    return {"code": value_text(value)}


def json_tree(component: dict, document: dict) -> dict[str, Any]:
    path = component.get("path", "$")
    found = find_all(path, document)
    if not found:
        return {"error": f"Nothing at {path}."}
    return {"value": found[0] if len(found) == 1 else found, "open_depth": component.get("open_depth", 1)}


def _tokens(text: str) -> list[str]:
    return re.findall(r"\s+|[^\s]+", text)


def diff(component: dict, document: dict) -> dict[str, Any]:
    expected_path = component.get("expected_path", "$.expected")
    output_path = component.get("output_path", "$.output")
    expected = find_one(expected_path, document)
    output = find_one(output_path, document)
    if expected is None:
        return {"error": f"No expected value at {expected_path}.", "output": value_text(output)}
    a, b = value_text(expected), value_text(output)
    return {"ops": text_diff_ops(a, b), "same": a == b}


def text_diff_ops(a: str, b: str) -> list[dict[str, str]]:
    """`a` → `b` as equal/delete/insert runs (the trace view's diff component, the experiment compare)."""
    # Word-level diff reads best; very long values fall back to lines to stay fast.
    split = _tokens if len(a) + len(b) < DIFF_TOKEN_LIMIT else (lambda s: s.splitlines(keepends=True))
    left, right = split(a), split(b)
    ops = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, left, right, autojunk=False).get_opcodes():
        if tag == "equal":
            ops.append({"op": "equal", "text": "".join(left[i1:i2])})
        if tag in ("delete", "replace"):
            ops.append({"op": "delete", "text": "".join(left[i1:i2])})
        if tag in ("insert", "replace"):
            ops.append({"op": "insert", "text": "".join(right[j1:j2])})
    return ops


def image(component: dict, document: dict) -> dict[str, Any]:
    found = find_all(component["path"], document)
    values = [v for item in found for v in (item if isinstance(item, list) else [item])]
    if not values:
        return {"error": f"No image at {component['path']}."}
    images = []
    for value in values[:MAX_ITEMS]:
        src = safe_image_src(value)
        images.append({"src": src} if src else {"blocked": True})
    return {"images": images, "alt": component.get("alt", "")}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def aggregate(component: dict, ctx: TraceContext) -> dict[str, Any]:
    spans = ctx.matching(component["spans"])
    display = component["display"]
    path = component.get("path")
    group_by = component.get("group_by")
    per_span = []
    for span in spans:
        doc = ctx.docs[span.pk]
        values = find_all(path, doc) if path else []
        per_span.append((span, doc, values))
    result: dict[str, Any] = {"display": display, "span_count": len(spans)}
    if display in ("count", "sum"):
        groups: dict[str, float] = {}
        skipped = 0
        for _span, doc, values in per_span:
            if display == "count":
                amount = (1 if values else 0) if path else 1
            else:
                numbers = [_number(v) for v in values]
                skipped += sum(1 for n in numbers if n is None)
                amount = sum(n for n in numbers if n is not None)
            key = (value_text(find_one(group_by, doc), pretty=False) or "(none)") if group_by else ""
            groups[key] = groups.get(key, 0) + amount
        total = sum(groups.values())
        result.update(
            {
                "total": _tidy(total),
                "groups": [{"key": k, "value": _tidy(v)} for k, v in sorted(groups.items())] if group_by else [],
                "group_label": group_by or "",
                "skipped": skipped,
            }
        )
    elif display == "list":
        items = [{"span": s.name, "text": value_text(v)} for s, _d, values in per_span for v in values]
        result.update({"items": items[:MAX_ITEMS], "hidden": max(0, len(items) - MAX_ITEMS)})
    else:
        columns = component.get("columns") or [{"label": "Span", "path": "$.name"}, {"label": path, "path": path}]
        rows = []
        for _span, doc, _values in per_span[:MAX_ITEMS]:
            rows.append([value_text(find_one(c["path"], doc), pretty=False) for c in columns])
        result.update(
            {"columns": [c["label"] for c in columns], "rows": rows, "hidden": max(0, len(per_span) - MAX_ITEMS)}
        )
    return result


def _tidy(number: float) -> float | int:
    return int(number) if float(number).is_integer() else round(number, 6)
