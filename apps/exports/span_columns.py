"""The span columns of an export, derived from `apps.traces.columns` (so from the `Span` model):
every column but the key and the project, the trace as its `trace_id`; names and shape first,
reviewers' keys and bookkeeping last."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import BooleanField, DateTimeField, Field, FloatField, IntegerField, JSONField

from apps.traces.columns import SPAN_MODEL_FIELDS

NOT_EXPORTED = ("id", "project_id")  # the database's key; an export is of one project
FIRST = ("span_id", "trace_id", "parent_span_id", "name", "type", "model")
LAST = ("annotation_metadata", "created_at", "updated_at")


def _kind(field: Field) -> str:
    if isinstance(field, JSONField):
        return "rawjson"
    if isinstance(field, DateTimeField):
        return "timestamp"
    if isinstance(field, BooleanField):
        return "bool"
    if isinstance(field, FloatField):
        return "float"
    if isinstance(field, IntegerField):
        return "int"
    return "str"


def span_fields(*, timestamp: Callable[[str], Any], raw: Callable[[str], Any]) -> list[tuple[str, str, Any, bool]]:
    """(column, kind, expression in values_list, nullable) of every exported span column; `timestamp`
    and `raw` build the expressions reading a timestamp and a JSON column."""
    fields = {f.column: f for f in SPAN_MODEL_FIELDS if f.column not in NOT_EXPORTED}
    middle = [c for c in fields if c not in FIRST + LAST]
    out = []
    for column in (*FIRST, *middle, *LAST):
        if column == "trace_id":
            out.append(("trace_id", "str", "trace__trace_id", False))
            continue
        field = fields[column]
        kind = _kind(field)
        expr = timestamp(column) if kind == "timestamp" else raw(column) if kind == "rawjson" else column
        out.append((column, kind, expr, field.null))
    return out
