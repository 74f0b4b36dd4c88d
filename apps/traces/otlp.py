"""OTLP/HTTP traces (protobuf and JSON encodings) → Assay span items.

An item has the shape `POST /api/v1/ingest/` takes, so OTLP goes through the same validator and
upsert. GenAI semantic conventions (`gen_ai.*`) and OpenInference attributes are mapped to
`input`, `output`, `type` and `metrics`; every other attribute stays in `metadata` under its own
key, the resource attributes under `metadata["resource"]`, span events under `metadata["events"]`.

The protobuf path walks the parsed messages directly (no MessageToDict: it is slow); the JSON path
walks the decoded JSON, whose ids are hex strings and whose 64-bit integers may be strings, as the
OTLP JSON encoding specifies (not protobuf's canonical JSON mapping, which would read ids as base64).
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from apps.core.exceptions import ApplicationError
from apps.core.parsing import JSON_PARSE_DEPTH_MAX, SURROGATE_MESSAGE, json_parse, surrogate_paths

from .ingest import RejectedItem
from .otlp_conventions import otel_id_hex, otel_int, span_item_from_otel

# ---- attribute values ---------------------------------------------------------------------------


def _pb_value(value) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind is None:
        return None
    if kind == "array_value":
        return [_pb_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def _pb_attributes(attributes) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value) for kv in attributes}


ATTRIBUTE_DEPTH_MAX = 32


class ShapeError(ValueError):
    """An attribute value of the wrong shape; `field` names it, relative to the span."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _json_values(item: Any, field: str, kind: str) -> list:
    if item is None:
        return []
    values = item.get("values") if isinstance(item, dict) else None
    if not isinstance(item, dict) or not isinstance(values, list | None):
        raise ShapeError(field, f'{kind} must be an object {{"values": [...]}}.')
    return values or []


def _json_value(value: Any, field: str = "value", depth: int = 0) -> Any:
    if not isinstance(value, dict):
        return None
    if depth > ATTRIBUTE_DEPTH_MAX:
        raise ShapeError(field, f"Attribute values nest at most {ATTRIBUTE_DEPTH_MAX} levels deep.")
    for key, item in value.items():
        if key in ("stringValue", "string_value", "boolValue", "bool_value", "doubleValue", "double_value"):
            return item
        if key in ("intValue", "int_value"):
            try:
                number = int(item)
            except (TypeError, ValueError):
                return item
            return number if -(2**63) <= number < 2**63 else item  # int64, as OTLP defines it
        if key in ("arrayValue", "array_value"):
            return [
                _json_value(v, f"{field}[{i}]", depth + 1)
                for i, v in enumerate(_json_values(item, field, "arrayValue"))
            ]
        if key in ("kvlistValue", "kvlist_value"):
            return _json_attributes(_json_values(item, field, "kvlistValue"), field, depth + 1)
        if key in ("bytesValue", "bytes_value"):
            return item
    return None


def _json_attributes(attributes: Any, field: str = "attributes", depth: int = 0) -> dict[str, Any]:
    """Attributes as a dict; ShapeError naming `<field>.<key>` for a value of the wrong shape."""
    if not isinstance(attributes, list):
        return {}
    return {
        kv["key"]: _json_value(kv.get("value"), f"{field}.{kv['key']}", depth)
        for kv in attributes
        if isinstance(kv, dict) and isinstance(kv.get("key"), str)
    }


# ---- the two encodings --------------------------------------------------------------------------


def _event_pb(event) -> dict[str, Any]:
    return {"name": event.name, "time_unix_nano": event.time_unix_nano, "attributes": _pb_attributes(event.attributes)}


def span_items_from_protobuf(body: bytes) -> list[dict[str, Any]]:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError):
        raise ApplicationError("The body is not an OTLP ExportTraceServiceRequest.", fields={"body": ["Bad protobuf."]})
    items = []
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = {k: v for k, v in (("name", scope_spans.scope.name), ("version", scope_spans.scope.version)) if v}
            for span in scope_spans.spans:
                items.append(
                    span_item_from_otel(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=span.kind,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=_pb_attributes(span.attributes),
                        events=[_event_pb(e) for e in span.events],
                        status_code=span.status.code,
                        status_message=span.status.message,
                        resource=resource,
                        scope=scope,
                    )
                )
    return items


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _get(mapping: Any, camel: str, snake: str) -> Any:
    if not isinstance(mapping, dict):
        return None
    value = mapping.get(camel)
    return mapping.get(snake) if value is None else value


def span_items_from_json(body: bytes) -> list[Any]:
    """Span items of an OTLP JSON body; a span that cannot become one is a RejectedItem (keeps its index)."""
    document, bad = json_parse(body, max_depth=JSON_PARSE_DEPTH_MAX, surrogates="collect")
    if not isinstance(document, dict):
        raise ApplicationError(
            "Expected an OTLP ExportTraceServiceRequest object.", fields={"resourceSpans": ["Expected a list."]}
        )
    try:
        return _json_span_items(document, check_text=bool(bad))
    except RecursionError:
        raise ApplicationError("Attribute values are nested too deeply.", fields={"body": ["Too deeply nested."]})


def _text_errors(value: Any, prefix: str) -> dict[str, list[str]]:
    return {
        f"{prefix}{'.' if prefix and not path.startswith('[') else ''}{path}": [SURROGATE_MESSAGE]
        for path in surrogate_paths(value)
    }


def _json_span_items(document: dict, *, check_text: bool = False) -> list[Any]:
    items: list[Any] = []
    for resource_spans in _list(_get(document, "resourceSpans", "resource_spans")):
        resource_error: dict[str, list[str]] = {}
        resource_info = _get(resource_spans, "resource", "resource")
        try:
            resource = _json_attributes(_get(resource_info, "attributes", "attributes"), "resource.attributes")
        except ShapeError as exc:
            resource, resource_error = {}, {exc.field: [exc.message]}
        if check_text:
            resource_error.update(_text_errors(resource_info, "resource"))
        for scope_spans in _list(_get(resource_spans, "scopeSpans", "scope_spans")):
            scope_info = _get(scope_spans, "scope", "scope")
            scope = {k: v for k in ("name", "version") if isinstance(v := _get(scope_info, k, k), str) and v}
            scope_error = _text_errors(scope_info, "scope") if check_text else {}
            for span in _list(_get(scope_spans, "spans", "spans")):
                if not isinstance(span, dict):
                    items.append(span)  # the validator rejects it with its index
                    continue
                errors = {**resource_error, **scope_error, **(_text_errors(span, "") if check_text else {})}
                if errors:
                    items.append(RejectedItem(errors))
                    continue
                try:
                    items.append(_json_span_item(span, resource, scope))
                except ShapeError as exc:
                    items.append(RejectedItem({exc.field: [exc.message]}))
    return items


def _json_span_item(span: dict, resource: dict, scope: dict) -> dict[str, Any]:
    status = _get(span, "status", "status")
    events = [
        {
            "name": e.get("name", ""),
            "time_unix_nano": otel_int(_get(e, "timeUnixNano", "time_unix_nano")),
            "attributes": _json_attributes(e.get("attributes"), f"events[{i}].attributes"),
        }
        for i, e in enumerate(_list(span.get("events")))
        if isinstance(e, dict)
    ]
    return span_item_from_otel(
        trace_id=otel_id_hex(_get(span, "traceId", "trace_id")).lower(),
        span_id=otel_id_hex(_get(span, "spanId", "span_id")).lower(),
        parent_span_id=otel_id_hex(_get(span, "parentSpanId", "parent_span_id")).lower(),
        name=span.get("name"),
        kind=span.get("kind"),
        start_ns=_get(span, "startTimeUnixNano", "start_time_unix_nano"),
        end_ns=_get(span, "endTimeUnixNano", "end_time_unix_nano"),
        attributes=_json_attributes(span.get("attributes")),
        events=events,
        status_code=_get(status, "code", "code"),
        status_message=_get(status, "message", "message"),
        resource=resource,
        scope=scope,
    )


def export_response(*, rejected: int, message: str, as_json: bool) -> bytes:
    """An ExportTraceServiceResponse; partial_success only when some spans were refused."""
    if as_json:
        if not rejected:
            return b"{}"
        return orjson.dumps({"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}})
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return response.SerializeToString()
