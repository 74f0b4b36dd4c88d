"""The default view: a spec built for a trace's shape (chat, RAG, agent, anything else) when nobody
chose one. Built from our own components, so it renders (and escapes) like any saved view."""

from __future__ import annotations

from typing import Any

from apps.core.chat import chat_items, is_message
from apps.traces.models import Span, Trace

from .documents import TraceContext, find_all, span_document
from .gallery import tool_call_columns

PASSAGE_KEYS = ("documents", "passages", "contexts", "chunks", "results", "hits")
QUESTION_KEYS = ("question", "query", "input", "prompt")
ANSWER_KEYS = ("answer", "response", "output", "result", "text")
TEXT_KEYS = ("text", "page_content", "content", "chunk", "passage")


def _is_chat(value: Any) -> bool:
    items = chat_items(value)
    return bool(items) and all(is_message(m) for m in items)


def _key_with(value: Any, keys: tuple[str, ...], kind) -> str | None:
    if isinstance(value, dict):
        for key in keys:
            if isinstance(value.get(key), kind):
                return key
    return None


def _passages(span: Span) -> tuple[str, str] | None:
    """(path of the passage list, path of a passage's text) in a retrieval span's output."""
    output = span.output
    key = _key_with(output, PASSAGE_KEYS, list)
    items = output[key] if key else output if isinstance(output, list) else None
    if not items:
        return None
    first = items[0]
    text_key = _key_with(first, TEXT_KEYS, str)
    return (f"$.output.{key}" if key else "$.output", f"$.{text_key}" if text_key else "$")


def default_spec(trace: Trace, *, spans: list[Span] | None = None, focus: Span | None = None) -> dict[str, Any]:
    """A view that fits the trace's shape, for reviewers when nobody chose one: an error's message on top;
    chat as a conversation; RAG as question, retrieved passages and answer; agents as the conversation
    and its steps with tool calls; anything else as its input and output. Built from our own components,
    so it renders (and escapes) like any saved view."""
    ctx = TraceContext.load(trace, spans, focus)
    span = ctx.default_span
    if span is None:
        return {"version": 1, "components": []}
    components = _error_components(ctx, span)
    retrieval = next((s for s in ctx.spans if s.type == "retrieval" and s.pk != span.pk and _passages(s)), None)
    components += _body_components(span, retrieval)
    if not any(c["type"] == "conversation" for c in components):
        answer_key = _key_with(span.output, ANSWER_KEYS, str)
        if answer_key:
            components.append({"type": "markdown", "title": "Answer", "path": f"$.output.{answer_key}"})
        elif span.output is not None:
            components.append(_value_component("Answer" if retrieval else "Output", "$.output", span.output))
    if any(s.type == "tool" and s.pk != span.pk for s in ctx.spans):
        components.append(_steps_component())
    if span.expected is not None:
        components.append({"type": "diff", "title": "Expected vs output"})
    return {"version": 1, "components": components}


def _steps_component() -> dict[str, Any]:
    """The agent's tool spans as a table (a new dict each time: callers may edit the spec)."""
    return {
        "type": "aggregate",
        "title": "Steps",
        "spans": {"type": "tool"},
        "display": "table",
        "columns": tool_call_columns(),
    }


def _error_components(ctx: TraceContext, span: Span) -> list[dict[str, Any]]:
    """The first five spans' error messages (the span under review's as "Error")."""
    components: list[dict[str, Any]] = []
    by_name: dict[str, int] = {}
    for s in ctx.spans:
        index = by_name.get(s.name, 0)
        by_name[s.name] = index + 1
        if s.error and len(components) < 5:
            components.append(
                {
                    "type": "fields",
                    "title": "Error" if s.pk == span.pk else f"Error in {s.name}",
                    "span": {"name": s.name, "index": index},
                    "fields": [{"label": "Message", "path": "$.error"}],
                }
            )
    return components


def _body_components(span: Span, retrieval: Span | None) -> list[dict[str, Any]]:
    """Chat as a conversation; RAG as its question and retrieved passages; else the input."""
    question_key = _key_with(span.input, QUESTION_KEYS, str)
    if _is_chat(span.input) or _is_chat(span.output):
        return [{"type": "conversation", "title": "Conversation", "path": ["$.input", "$.output"]}]
    if retrieval is None and not (question_key and _key_with(span.output, PASSAGE_KEYS, list)):
        return [_value_component("Input", "$.input", span.input)]
    if question_key:
        components = [{"type": "markdown", "title": "Question", "path": f"$.input.{question_key}"}]
    elif isinstance(span.input, str):
        components = [{"type": "markdown", "title": "Question", "path": "$.input"}]
    else:
        components = [{"type": "json", "title": "Input", "path": "$.input", "open_depth": 2}]
    source = retrieval or span
    found = _passages(source)
    if found:
        first = _passage_first(source)
        components.append(
            {
                "type": "carousel",
                "title": "Retrieved passages",
                "path": found[0],
                **({"span": {"name": source.name}} if source.pk != span.pk else {}),
                **({"item_title": "$.id"} if isinstance(first, dict) and "id" in first else {}),
                "components": [{"type": "markdown", "path": found[1]}],
            }
        )
    return components


def _passage_first(span: Span) -> Any:
    found = _passages(span)
    if not found:
        return None
    items = find_all(found[0], span_document(span))
    first = items[0] if items else None
    return first[0] if isinstance(first, list) and first else first


def _value_component(title: str, path: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"type": "markdown", "title": title, "path": path}
    return {"type": "json", "title": title, "path": path, "open_depth": 2}
