"""The lean validator of one ingested span item.

This is the hot path of ingest: a plain function over the parsed JSON, no serializer and no model
instance per item. It returns a `CleanSpan` ready to be written (JSON columns already serialised
once with orjson) or the fields at fault, `{"field": ["message", ...]}`.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from apps.core.parsing import SURROGATE_MESSAGE
from apps.core.times import TimeError, datetime_bounded

from .models import SpanType

ID_MAX = 128
NAME_MAX = 255
MODEL_MAX = 255
TAG_MAX = 200
TAGS_PER_SPAN_MAX = 100
ERROR_MAX = 10_000
TOKENS_MAX = 2**62
FLOAT_MAX = sys.float_info.max
JSON_DEPTH_MAX = 254  # orjson's limit: every stored value can be serialised again

SPAN_TYPES = frozenset(SpanType.values)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Epoch numbers: seconds until year 5138, then milliseconds, microseconds, nanoseconds.
_EPOCH_SCALES = ((1e11, 1.0), (1e14, 1e3), (1e17, 1e6), (1e20, 1e9))

INPUT_TOKEN_KEYS = ("input_tokens", "prompt_tokens")
OUTPUT_TOKEN_KEYS = ("output_tokens", "completion_tokens")


class RejectedItem(NamedTuple):
    """An item refused before validation (bad text, an OTLP value of the wrong shape): its fields."""

    fields: dict[str, list[str]]


class CleanSpan(NamedTuple):
    """One valid span: the values of `columns.ITEM_COLUMNS` (any order) and the trace it belongs to."""

    span_id: str
    trace_id: str
    parent_span_id: str
    name: str
    type: str
    start_time: datetime | None
    end_time: datetime | None
    duration_ms: float | None
    input: str | None  # JSON text; None keeps what is stored
    output: str | None
    expected: str | None
    metadata: str
    metrics: str
    error: str
    is_error: bool
    model: str
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float
    tags: list[str]


def _strip_nul(value: Any) -> Any:
    """PostgreSQL text and jsonb cannot hold U+0000; drop it from every string and key."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    return value


def json_text(value: Any) -> str:
    """Serialise once for storage; the value came from JSON (or OTLP) so it always serialises."""
    text = orjson.dumps(value).decode()
    if "\\u0000" in text:
        text = orjson.dumps(_strip_nul(value)).decode()
    return text


def _text(value: str) -> str:
    return value.replace("\x00", "") if "\x00" in value else value


def parse_time(value: Any) -> datetime:
    """ISO 8601 (naive means UTC) or an epoch number in s, ms, µs or ns. Raises ValueError.

    ISO text goes through the one time parser's bounds (`apps.core.times`)."""
    kind = type(value)
    if (kind is float or kind is int) and 0 <= value < 1e11:
        return EPOCH + timedelta(seconds=value)  # epoch seconds, the usual number
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("empty")
        if text.replace(".", "", 1).isdigit():
            return parse_time(float(text) if "." in text else int(text))
        return datetime_bounded(datetime.fromisoformat(text))  # offsets within ±15:59, in UTC
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("type")
    if not math.isfinite(value) or value < 0:
        raise ValueError("range")
    for bound, per_second in _EPOCH_SCALES:
        if value < bound:
            if isinstance(value, int) and per_second > 1:
                seconds, rest = divmod(value, int(per_second))
                return EPOCH + timedelta(seconds=seconds, microseconds=rest * 1e6 / per_second)
            return EPOCH + timedelta(seconds=value / per_second)
    raise ValueError("range")


def _identifier(item: dict, key: str, errors: dict, *, required: bool) -> str:
    value = item.get(key)
    if (
        type(value) is str
        and 0 < len(value) <= ID_MAX
        and "\x00" not in value
        and not value[0].isspace()
        and not value[-1].isspace()
    ):
        return value  # the usual case, checked in one line
    if value is None or value == "":
        if required:
            errors[key] = ["This field is required."]
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        errors[key] = ["Expected a string."]
        return ""
    value = _text(value.strip())
    if len(value) > ID_MAX:
        errors[key] = [f"At most {ID_MAX} characters."]
    elif not value and required:
        errors[key] = ["This field is required."]
    return value


def _count(value: Any, field: str, errors: dict) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value)
        else:
            errors[field] = ["Expected a non-negative integer."]
            return 0
    if not 0 <= value <= TOKENS_MAX:  # also NaN and inf; a huge int compares without overflow
        errors[field] = ["Expected a non-negative integer."]
        return 0
    return int(value)


def _first_present(mapping: dict, keys: tuple[str, ...]) -> tuple[str, Any]:
    for key in keys:
        if mapping.get(key) is not None:
            return key, mapping[key]
    return keys[0], None


def _error_message(value: Any) -> tuple[str, bool] | None:
    """(message, is_error) or None when the value has the wrong type."""
    if value is None or value is False:
        return "", False
    if value is True:
        return "", True
    if isinstance(value, str):
        return _text(value)[:ERROR_MAX], bool(value.strip())
    if isinstance(value, dict):
        message = value.get("message")
        if not isinstance(message, str):
            try:
                message = json_text(value)
            except TypeError:
                return None
        return _text(message)[:ERROR_MAX], True
    return None


def span_item_clean(item: Any) -> tuple[CleanSpan | None, dict[str, list[str]]]:
    """Validate and normalise one span item: (span, {}) or (None, {field: [messages]})."""
    if not isinstance(item, dict):
        if isinstance(item, RejectedItem):
            return None, item.fields
        return None, {"non_field_errors": ["Expected a JSON object."]}
    errors: dict[str, list[str]] = {}
    get = item.get

    span_id = _identifier(item, "span_id", errors, required=True)
    trace_id = _identifier(item, "trace_id", errors, required=True)
    parent_span_id = _identifier(item, "parent_span_id", errors, required=False)
    if parent_span_id and parent_span_id == span_id:
        errors["parent_span_id"] = ["A span cannot be its own parent."]

    name = get("name")
    if type(name) is str and len(name) <= NAME_MAX and "\x00" not in name:
        pass
    elif name is None:
        name = ""
    elif not isinstance(name, str):
        errors["name"] = ["Expected a string."]
        name = ""
    else:
        name = _text(name)[:NAME_MAX]

    span_type = get("type")
    if span_type in SPAN_TYPES:
        pass
    elif span_type is None or span_type == "":
        span_type = "other"
    elif not isinstance(span_type, str) or span_type.lower() not in SPAN_TYPES:
        errors["type"] = [f"Expected one of: {', '.join(sorted(SPAN_TYPES))}."]
    else:
        span_type = span_type.lower()

    times: list[datetime | None] = []
    for key in ("start_time", "end_time"):
        value = get(key)
        if value is None:
            times.append(None)
            continue
        try:
            times.append(parse_time(value))
        except TimeError as exc:
            errors[key] = [str(exc)]
            times.append(None)
        except (ValueError, TypeError, OverflowError):
            errors[key] = ["Expected an ISO 8601 date-time or epoch seconds (or ms, µs, ns)."]
            times.append(None)
    start_time, end_time = times
    duration_ms = None
    if start_time is not None and end_time is not None:
        if end_time < start_time:
            errors["end_time"] = ["Must not be before start_time."]
        else:
            duration_ms = (end_time - start_time).total_seconds() * 1000.0

    metadata = get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        errors["metadata"] = ["Expected a JSON object."]
        metadata = {}

    metrics = get("metrics")
    if metrics is None:
        metrics = {}
    elif not isinstance(metrics, dict):
        errors["metrics"] = ["Expected a JSON object."]
        metrics = {}
    input_tokens = output_tokens = total_tokens = 0
    cost = 0.0
    model = None
    if metrics:
        input_tokens, output_tokens, total_tokens, cost, model = _metrics_clean(metrics, errors)
    if model is None:
        model = metadata.get("model") if metadata else None
        model = model if isinstance(model, str) else None
    model = _text(model)[:MODEL_MAX] if model else ""

    tags = get("tags")
    if tags is None or (type(tags) is list and not tags):
        tags = []
    elif not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        errors["tags"] = ["Expected a list of strings."]
        tags = []
    else:
        cleaned = sorted({_text(t).strip() for t in tags} - {""})
        if any(len(t) > TAG_MAX for t in cleaned):
            errors["tags"] = [f"Each tag has at most {TAG_MAX} characters."]
        elif len(cleaned) > TAGS_PER_SPAN_MAX:
            errors["tags"] = [f"At most {TAGS_PER_SPAN_MAX} tags a span."]
        tags = cleaned

    error = get("error")
    error = ("", False) if error is None else _error_message(error)
    if error is None:
        errors["error"] = ["Expected a string, a boolean or an object."]
        error = ("", False)

    if errors:
        return None, errors
    texts = []
    for key, value in (
        ("input", get("input")),
        ("output", get("output")),
        ("expected", get("expected")),
        ("metadata", metadata or None),
        ("metrics", metrics or None),
    ):
        try:
            texts.append(None if value is None else json_text(value))
        except TypeError as exc:  # orjson refuses deeper nesting (and text that is not Unicode)
            if "surrogate" in str(exc) or "UTF-8" in str(exc):
                errors[key] = [SURROGATE_MESSAGE]
            elif "64-bit" in str(exc):
                errors[key] = ["Holds an integer beyond 64 bits."]
            else:
                errors[key] = [f"Nested more than {JSON_DEPTH_MAX} levels deep."]
    if errors:
        return None, errors
    input_text, output_text, expected_text, metadata_text, metrics_text = texts
    return (
        CleanSpan(
            span_id,
            trace_id,
            parent_span_id,
            name,
            span_type,
            start_time,
            end_time,
            duration_ms,
            input_text,
            output_text,
            expected_text,
            metadata_text or "{}",
            metrics_text or "{}",
            error[0],
            error[1],
            model,
            input_tokens,
            output_tokens,
            total_tokens,
            cost,
            tags,
        ),
        {},
    )


def _metrics_clean(metrics: dict, errors: dict) -> tuple[int, int, int, float, str | None]:
    key, value = _first_present(metrics, INPUT_TOKEN_KEYS)
    input_tokens = _count(value, f"metrics.{key}", errors)
    key, value = _first_present(metrics, OUTPUT_TOKEN_KEYS)
    output_tokens = _count(value, f"metrics.{key}", errors)
    total = metrics.get("total_tokens")
    if total is not None:
        total_tokens = _count(total, "metrics.total_tokens", errors)
    else:
        total_tokens = input_tokens + output_tokens
        if total_tokens > TOKENS_MAX:
            errors["metrics.total_tokens"] = [f"input + output tokens is over {TOKENS_MAX}; send total_tokens."]
    cost = metrics.get("cost", metrics.get("total_cost"))
    if cost is None:
        cost = 0.0
    elif isinstance(cost, bool) or not isinstance(cost, int | float) or not 0 <= cost <= FLOAT_MAX:  # NaN, inf
        errors["metrics.cost"] = ["Expected a non-negative number."]
        cost = 0.0
    model = metrics.get("model")
    if model is not None and not isinstance(model, str):
        errors["metrics.model"] = ["Expected a string."]
        model = None
    return input_tokens, output_tokens, total_tokens, float(cost), model
