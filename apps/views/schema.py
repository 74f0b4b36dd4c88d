"""The published JSON Schema of a trace view spec, and validation with errors pointed at a component field.

A spec is `{"version": 1, "components": [...]}`; each component names its `type`. Paths are JSONPath
(jsonpath-ng) over a per-span document: `{"input", "output", "expected", "metadata", "metrics", "name",
"type", "span_id", "model", "error", "tags"}`. Inside a carousel, nested components' paths are
evaluated against the item (`$` is the item).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as jsonpath_parse
from jsonschema import Draft202012Validator

from apps.traces.models import SpanType

COMPONENT_TYPES = [
    "conversation",
    "fields",
    "markdown",
    "json",
    "carousel",
    "diff",
    "image",
    "aggregate",
    "score_controls",
]
MAX_COMPONENTS = 50
MAX_NESTING = 3
MAX_DEPTH = 40
MAX_SPEC_CHARS = 200_000

_PATH = {"type": "string", "minLength": 1, "maxLength": 500, "description": "A JSONPath, e.g. $.input.messages"}
_TITLE = {"type": "string", "maxLength": 200}
_SPAN_SELECTOR = {
    "description": "Which span of the trace the paths read. Absent: the root span (in review: the span under review).",
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "type": {"enum": list(SpanType.values)},
        "index": {"type": "integer", "minimum": 0, "description": "The n-th matching span (start order)"},
    },
    "additionalProperties": False,
    "anyOf": [{"required": ["name"]}, {"required": ["type"]}],
}
_SPANS_FILTER = {
    "description": "The spans an aggregate collects from, by name and/or type.",
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "type": {"enum": list(SpanType.values)},
    },
    "additionalProperties": False,
    "anyOf": [{"required": ["name"]}, {"required": ["type"]}],
}
_FIELD = {
    "type": "object",
    "properties": {"label": {"type": "string", "minLength": 1, "maxLength": 200}, "path": _PATH},
    "required": ["label", "path"],
    "additionalProperties": False,
}


def _component(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"type": {"enum": COMPONENT_TYPES}, "title": _TITLE, **properties},
        "required": ["type", *required],
        "additionalProperties": False,
    }


_COMPONENT_DEFS: dict[str, dict[str, Any]] = {
    "conversation": _component(
        ["path"],
        {
            "span": _SPAN_SELECTOR,
            "path": {
                "description": "JSONPath (or a list of them, concatenated) to chat messages",
                "oneOf": [_PATH, {"type": "array", "items": _PATH, "minItems": 1, "maxItems": 10}],
            },
        },
    ),
    "fields": _component(
        ["fields"],
        {
            "span": _SPAN_SELECTOR,
            "fields": {"type": "array", "items": _FIELD, "minItems": 1, "maxItems": 100},
        },
    ),
    "markdown": _component(["path"], {"span": _SPAN_SELECTOR, "path": _PATH}),
    "json": _component(
        [],
        {
            "span": _SPAN_SELECTOR,
            "path": _PATH,
            "open_depth": {
                "type": "integer",
                "minimum": 0,
                "maximum": 20,
                "description": "Levels expanded initially (default 1)",
            },
        },
    ),
    "carousel": _component(
        ["path", "components"],
        {
            "span": _SPAN_SELECTOR,
            "path": _PATH,
            "item_title": {**_PATH, "description": "JSONPath in each item for its heading"},
            "components": {"type": "array", "items": {"$ref": "#/$defs/component"}, "minItems": 1, "maxItems": 20},
        },
    ),
    "diff": _component(
        [],
        {
            "span": _SPAN_SELECTOR,
            "expected_path": {**_PATH, "description": "Default $.expected"},
            "output_path": {**_PATH, "description": "Default $.output"},
        },
    ),
    "image": _component(
        ["path"],
        {
            "span": _SPAN_SELECTOR,
            "path": _PATH,
            "alt": {"type": "string", "maxLength": 300},
        },
    ),
    "aggregate": _component(
        ["spans", "display"],
        {
            "spans": _SPANS_FILTER,
            "path": _PATH,
            "display": {"enum": ["table", "list", "count", "sum"]},
            "group_by": {**_PATH, "description": "JSONPath per span whose value groups count and sum"},
            "columns": {
                "type": "array",
                "items": _FIELD,
                "minItems": 1,
                "maxItems": 20,
                "description": "Table columns (display=table)",
            },
        },
    ),
    "score_controls": _component(
        ["configs"],
        {
            "span": _SPAN_SELECTOR,
            "configs": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 200},
                "minItems": 1,
                "maxItems": 20,
                "uniqueItems": True,
                "description": "Score config names, in display order",
            },
        },
    ),
}

SPEC_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://assay.dev/schemas/trace-view.json",
    "title": "Assay trace view",
    "description": "A declarative list of components that render a trace. No code is ever run.",
    "type": "object",
    "properties": {
        "version": {"const": 1},
        "components": {
            "type": "array",
            "items": {"$ref": "#/$defs/component"},
            "minItems": 1,
            "maxItems": MAX_COMPONENTS,
        },
    },
    "required": ["components"],
    "additionalProperties": False,
    "$defs": {
        "component": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": COMPONENT_TYPES}},
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                    "then": {"$ref": f"#/$defs/{name}"},
                }
                for name in COMPONENT_TYPES
            ],
        },
        **_COMPONENT_DEFS,
    },
}

_validator = Draft202012Validator(SPEC_SCHEMA)


def _location(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "spec"


def _message(error) -> tuple[list[Any], str]:
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return path + [missing], "This field is required."
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return path + [
            extra[0] if extra else ""
        ], f"Unknown field; allowed: {', '.join(error.schema.get('properties', {}))}."
    if error.validator == "enum":
        return path, f"Choose one of: {', '.join(map(str, error.validator_value))}."
    if error.validator == "anyOf" and path and path[-1] in ("span", "spans"):
        return path, "Name the span by `name` and/or `type`."
    if error.validator == "oneOf" and path and path[-1] == "path":
        return path, "A JSONPath string, or a list of them."
    return path, error.message


@functools.lru_cache(maxsize=2048)
def parse_path(path: str):
    """A compiled JSONPath; raises ValueError with a readable message when it does not parse."""
    try:
        return jsonpath_parse(path)
    except (JsonPathParserError, JsonPathLexerError, Exception) as exc:  # the lexer raises plain Exceptions
        raise ValueError(f"Not a valid JSONPath: {exc}") from None


def _check_paths(components: list, prefix: list[Any], depth: int, errors: dict[str, list[str]]) -> None:
    path_keys = ("path", "item_title", "expected_path", "output_path", "group_by")
    for index, component in enumerate(components):
        if not isinstance(component, dict):
            continue
        here = prefix + [index]
        for key in path_keys:
            value = component.get(key)
            values = value if isinstance(value, list) else [value]
            for position, one in enumerate(values):
                if isinstance(one, str) and one:
                    try:
                        parse_path(one)
                    except ValueError as exc:
                        where = here + [key] + ([position] if isinstance(value, list) else [])
                        errors.setdefault(_location(where), []).append(str(exc))
        for position, field in enumerate(component.get("fields") or component.get("columns") or []):
            if isinstance(field, dict) and isinstance(field.get("path"), str):
                try:
                    parse_path(field["path"])
                except ValueError as exc:
                    key = "fields" if "fields" in component else "columns"
                    errors.setdefault(_location(here + [key, position, "path"]), []).append(str(exc))
        if component.get("type") == "aggregate":
            display = component.get("display")
            if component.get("group_by") and display not in ("count", "sum"):
                errors.setdefault(_location(here + ["group_by"]), []).append(
                    "group_by works with display count or sum."
                )
            if component.get("columns") and display != "table":
                errors.setdefault(_location(here + ["columns"]), []).append("columns work with display table.")
            if display in ("list", "sum") and not component.get("path"):
                errors.setdefault(_location(here + ["path"]), []).append(f"display {display} needs a path.")
            if display == "table" and not (component.get("path") or component.get("columns")):
                errors.setdefault(_location(here + ["columns"]), []).append("A table needs columns or a path.")
        if component.get("type") == "carousel" and isinstance(component.get("components"), list):
            if depth >= MAX_NESTING:
                errors.setdefault(_location(here + ["components"]), []).append(
                    f"Carousels nest at most {MAX_NESTING} levels deep."
                )
            else:
                _check_paths(component["components"], here + ["components"], depth + 1, errors)


def _too_deep(value: Any, limit: int) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def spec_errors(spec: Any) -> dict[str, list[str]]:
    """Every problem of a spec, keyed by where it is: `components[2].path`, `components[0].span.type`."""
    errors: dict[str, list[str]] = {}
    # Bounded before the (recursive) schema validation ever sees it.
    if _too_deep(spec, MAX_DEPTH):
        return {"spec": [f"Nested more than {MAX_DEPTH} levels deep."]}
    if len(json.dumps(spec, default=str)) > MAX_SPEC_CHARS:
        return {"spec": [f"Larger than {MAX_SPEC_CHARS // 1000} kB."]}
    for error in sorted(_validator.iter_errors(spec), key=lambda e: list(map(str, e.absolute_path))):
        # Errors from the if/then dispatch repeat at the component level; keep the precise ones.
        if error.validator in ("allOf", "if", "then"):
            continue
        path, message = _message(error)
        errors.setdefault(_location(path), []).append(message)
    if not errors and isinstance(spec, dict):
        _check_paths(spec.get("components") or [], ["components"], 1, errors)
    return errors
