"""Describe a view in words: an OpenAI-compatible model writes a spec from a description and the
SHAPE of a sample trace (keys and types, never values), validated against the schema with one retry.

The endpoint is `apps.core.llm`'s.
"""

from __future__ import annotations

import json
from typing import Any

from apps.core.exceptions import ApplicationError
from apps.core.llm import LLM_HELP, json_from_reply, llm_chat, llm_configured
from apps.traces.models import Trace

from .documents import TraceContext
from .gallery import GALLERY
from .schema import SPEC_SCHEMA, spec_errors

CONFIGURE_HELP = (
    f"{LLM_HELP} Only your description and the shape of the sample trace (keys and types, no values) are sent."
)
MAX_KEYS = 60
MAX_DEPTH = 8
MAX_SPANS = 40

SYSTEM_PROMPT = """You design "trace views" for Assay, a tool where people review traces of LLM applications.
A view is a JSON object validated by this JSON Schema:

{schema}

Paths are JSONPath evaluated against a per-span document with the keys input, output, expected, metadata,
metrics, annotation_metadata, name, type, span_id, parent_span_id, model, error, tags, duration_ms.
A component reads the root span unless it has "span": {{"name": ...}} or {{"type": ...}}. Inside a carousel,
nested components' paths are evaluated against each item ("$" is the item). "aggregate" collects a path
from every span selected by "spans" and shows a table, list, count or sum (group_by for count/sum).

An example view:
{example}

Reply with the JSON object of the view only: no prose, no Markdown fences."""


def value_shape(value: Any, depth: int = 0) -> Any:
    """Keys and types of a JSON value, never its values."""
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        shape = {str(k)[:80]: value_shape(v, depth + 1) for k, v in list(value.items())[:MAX_KEYS]}
        if len(value) > MAX_KEYS:
            shape["…"] = f"{len(value) - MAX_KEYS} more keys"
        return shape
    if isinstance(value, list):
        if not value:
            return []
        merged: Any = None
        for item in value[:10]:
            shape = value_shape(item, depth + 1)
            if isinstance(merged, dict) and isinstance(shape, dict):
                merged = {**merged, **shape}
            elif merged is None:
                merged = shape
        return [merged]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "null" if value is None else "unknown"


def trace_shape(trace: Trace) -> dict[str, Any]:
    """Each distinct span (name, type, document shape); names and types are the trace's structure."""
    ctx = TraceContext.load(trace)
    root = ctx.root
    spans, seen = [], set()
    for span in ctx.spans:
        doc = ctx.docs[span.pk]
        shape = {k: value_shape(v) for k, v in doc.items() if k not in ("name", "type")}
        fingerprint = json.dumps([span.name, span.type, shape], sort_keys=True)
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        spans.append({"name": span.name, "type": span.type, "root": span is root, "document": shape})
        if len(spans) >= MAX_SPANS:
            break
    return {"span_count": len(ctx.spans), "spans": spans}


def _parse(content: str) -> tuple[Any, dict[str, list[str]]]:
    try:
        spec = json_from_reply(content)
    except ValueError as exc:
        return None, {"spec": [f"Not JSON: {exc}"]}
    return spec, spec_errors(spec)


def view_spec_generate(*, description: str, trace: Trace | None) -> dict[str, Any]:
    if not llm_configured():
        raise ApplicationError(CONFIGURE_HELP, status=503)
    shape = trace_shape(trace) if trace is not None else {"spans": [], "note": "no sample trace chosen"}
    messages = [
        {
            "role": "system",
            "content": SYSTEM_PROMPT.format(schema=json.dumps(SPEC_SCHEMA), example=json.dumps(GALLERY[0]["spec"])),
        },
        {
            "role": "user",
            "content": (
                f"The view I want:\n{description}\n\n"
                f"Shape of a sample trace (keys and types only):\n{json.dumps(shape, indent=1)}"
            ),
        },
    ]
    content = llm_chat(messages)
    spec, errors = _parse(content)
    attempts = 1
    if errors:
        attempts = 2
        problems = "\n".join(f"- {where}: {'; '.join(msgs)}" for where, msgs in errors.items())
        messages += [
            {"role": "assistant", "content": content},
            {"role": "user", "content": f"That view is invalid:\n{problems}\nReply with the corrected JSON only."},
        ]
        content = llm_chat(messages)
        spec, errors = _parse(content)
    if spec is None:
        raise ApplicationError(
            "The model did not answer with JSON twice; try rewording the description.",
            fields={"spec": errors.get("spec", [])},
            status=502,
        )
    return {"spec": spec, "errors": errors, "valid": not errors, "attempts": attempts}
