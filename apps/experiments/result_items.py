"""The validator of one posted experiment result, in the style of `apps.traces.ingest.span_item_clean`.

A plain function over the parsed JSON: it returns a `CleanResult` or the fields at fault,
`{"field": ["message", ...]}`, so one bad item is listed with its index and never costs the batch.
Numbers are checked against their columns (tokens a bigint, latency and cost finite doubles), JSON
values through the same serialiser ingest stores with (depth, lone surrogates, 64-bit integers).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from apps.core.parsing import SURROGATE_MESSAGE
from apps.traces.ingest import ERROR_MAX, FLOAT_MAX, ID_MAX, JSON_DEPTH_MAX, TOKENS_MAX, RejectedItem, json_text

RECORD_ID_MAX = 255
TOKEN_FIELDS = ("input_tokens", "output_tokens", "total_tokens")


class CleanResult(NamedTuple):
    record_id: str
    output: Any
    output_text: str | None  # JSON text as stored; None for no output
    error: str
    latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost: float | None
    metadata: dict
    metadata_text: str
    trace_id: str
    span_id: str


def _text(value: str) -> str:
    return value.replace("\x00", "") if "\x00" in value else value


def _identifier(item: dict, key: str, limit: int, errors: dict, *, required: bool) -> str:
    value = item.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or value == "":
        if required:
            errors[key] = ["This field is required."]
        return ""
    if not isinstance(value, str):
        errors[key] = ["Expected a string."]
        return ""
    value = _text(value).strip()
    if not value and required:
        errors[key] = ["This field is required."]
    elif len(value) > limit:
        errors[key] = [f"At most {limit} characters."]
    return value


def _count(item: dict, key: str, errors: dict) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer() and 0 <= value <= TOKENS_MAX:
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= TOKENS_MAX:
        errors[key] = [f"Expected an integer from 0 to {TOKENS_MAX}."]
        return None
    return value


def _amount(item: dict, key: str, errors: dict) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= FLOAT_MAX:
        errors[key] = ["Expected a finite, non-negative number."]  # also NaN, inf and ints past a double
        return None
    number = float(value)
    if not math.isfinite(number):
        errors[key] = ["Expected a finite, non-negative number."]
        return None
    return number


def json_error(exc: TypeError) -> str:
    """The message for a value orjson (the serialiser every stored value goes through) refuses."""
    text = str(exc)
    if "surrogate" in text or "UTF-8" in text:
        return SURROGATE_MESSAGE
    if "64-bit" in text:
        return "Holds an integer beyond 64 bits."
    return f"Nested more than {JSON_DEPTH_MAX} levels deep."


def result_item_clean(item: Any) -> tuple[CleanResult | None, dict[str, list[str]]]:
    """Validate one posted result: (result, {}) or (None, {field: [messages]})."""
    if isinstance(item, RejectedItem):
        return None, item.fields
    if not isinstance(item, dict):
        return None, {"non_field_errors": ["Expected a JSON object."]}
    errors: dict[str, list[str]] = {}
    record_id = _identifier(item, "record_id", RECORD_ID_MAX, errors, required=True)
    trace_id = _identifier(item, "trace_id", ID_MAX, errors, required=False)
    span_id = _identifier(item, "span_id", ID_MAX, errors, required=False)
    error = item.get("error")
    if error is None or error is False:
        error = ""
    elif not isinstance(error, str):
        errors["error"] = ["Expected a string."]
        error = ""
    else:
        error = _text(error)[:ERROR_MAX]
    latency_ms = _amount(item, "latency_ms", errors)
    cost = _amount(item, "cost", errors)
    tokens = [_count(item, key, errors) for key in TOKEN_FIELDS]
    if tokens[2] is None and (tokens[0] is not None or tokens[1] is not None):
        tokens[2] = (tokens[0] or 0) + (tokens[1] or 0)
        if tokens[2] > TOKENS_MAX:
            errors["total_tokens"] = [f"input + output tokens is over {TOKENS_MAX}; send total_tokens."]
    metadata = item.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        errors["metadata"] = ["Expected a JSON object."]
    output = item.get("output")
    texts: list[str | None] = [None, "{}"]
    for at, (key, value) in enumerate((("output", output), ("metadata", metadata))):
        if key not in errors and (value is not None and value != {}):
            try:
                texts[at] = json_text(value)
            except TypeError as exc:
                errors[key] = [json_error(exc)]
    if errors:
        return None, errors
    output_text, metadata_text = texts
    clean = CleanResult(
        record_id, output, output_text, error, latency_ms, *tokens, cost, metadata, metadata_text, trace_id, span_id
    )
    return clean, {}
