"""Span column lists derive from the model: every column is written by ingest or deliberately excluded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from apps.exports.sources import SPAN_FIELDS as EXPORT_SPAN_FIELDS
from apps.traces import columns
from apps.traces.api import SPAN_FIELDS as API_SPAN_FIELDS
from apps.traces.ingest import CleanSpan
from apps.traces.models import Span
from apps.traces.services import span_batch_ingest

pytestmark = pytest.mark.django_db

ITEM = {
    "trace_id": "t-cols",
    "span_id": "s-cols",
    "parent_span_id": "p-cols",
    "name": "answer",
    "type": "llm",
    "start_time": "2025-06-01T12:00:00+00:00",
    "end_time": "2025-06-01T12:00:01.5+00:00",
    "input": {"q": "in"},
    "output": {"a": "out"},
    "expected": {"a": "exp"},
    "metadata": {"k": "v"},
    "metrics": {"input_tokens": 3, "output_tokens": 4, "cost": 0.5, "model": "gpt-x"},
    "error": "it failed",
    "tags": ["b", "a"],
}


def test_every_span_column_is_an_item_value_or_set_by_ingest_or_excluded():
    model_columns = {f.column for f in Span._meta.concrete_fields}
    accounted = (
        set(columns.ITEM_COLUMNS) | set(columns.STORED_UNDER) | set(columns.SET_ON_WRITE) | set(columns.NOT_WRITTEN)
    )
    assert accounted == model_columns
    assert set(columns.INSERT_COLUMNS) == model_columns - set(columns.NOT_WRITTEN)
    # A cleaned item carries every item column (and the trace it belongs to), nothing else.
    assert set(CleanSpan._fields) == {*columns.ITEM_COLUMNS, "trace_id"}


def test_ingest_writes_every_item_column_and_bookkeeping(project):
    before = datetime.now(UTC)
    result = span_batch_ingest(project=project, items=[ITEM])
    assert result.accepted == 1, result.rejected
    span = Span.objects.get(project=project, span_id="s-cols")
    defaults = {f.column: f.get_default() for f in Span._meta.concrete_fields}
    for column in columns.ITEM_COLUMNS:
        assert (
            getattr(span, Span._meta.get_field(column).attname if column != "trace_id" else column) != defaults[column]
        ), f"{column} was not written"
    assert (span.input, span.output, span.expected) == ({"q": "in"}, {"a": "out"}, {"a": "exp"})
    assert span.duration_ms == 1500 and (span.input_tokens, span.output_tokens, span.total_tokens) == (3, 4, 7)
    assert span.tags == ["a", "b"] and span.is_error and span.model == "gpt-x"
    assert span.project_id == project.pk and span.trace.trace_id == "t-cols"
    assert span.annotation_metadata == {} and span.created_at >= before and span.updated_at >= before


def test_resend_keeps_absent_values_and_merges_tags(project):
    span_batch_ingest(project=project, items=[ITEM])
    first = Span.objects.get(span_id="s-cols")
    resent = {"trace_id": "t-cols", "span_id": "s-cols", "name": "renamed", "tags": ["c"]}
    assert span_batch_ingest(project=project, items=[resent]).accepted == 1
    span = Span.objects.get(span_id="s-cols")
    for column in columns.KEPT_WHEN_ABSENT:
        if column != "duration_ms":  # recomputed from the kept times (julianday on SQLite: not exact)
            assert getattr(span, column) == getattr(first, column), column
    assert span.duration_ms == pytest.approx(first.duration_ms, abs=0.05)
    assert span.name == "renamed" and span.tags == ["a", "b", "c"]
    assert span.metadata == {} and span.error == "" and span.parent_span_id == ""  # sent again: overwritten
    assert span.created_at == first.created_at and span.updated_at >= first.updated_at


def test_upsert_sql_names_every_item_column_once():
    update = columns.span_upsert_set(connection.vendor)
    assigned = [part.split(" = ", 1)[0].strip() for part in _top_level_assignments(update)]
    assert assigned == [c for c in columns.ITEM_COLUMNS if c != "span_id"] + ["updated_at"]


def _top_level_assignments(update: str) -> list[str]:
    body = update.rsplit(" WHERE ", 1)[0]
    parts, depth, start = [], 0, 0
    for index, char in enumerate(body):
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(body[start:index])
            start = index + 1
    return [*parts, body[start:]]


def test_api_exports_and_light_loads_derive_from_the_model():
    model_columns = [f.column for f in Span._meta.concrete_fields]
    assert set(API_SPAN_FIELDS) == {"project", *model_columns} - {"id", "project_id"}
    exported = [name for name, *_ in EXPORT_SPAN_FIELDS]
    assert set(exported) == set(model_columns) - {"id", "project_id"} and len(exported) == len(set(exported))
    assert not set(columns.SPAN_LIGHT_FIELDS) & set(columns.HEAVY_COLUMNS)
    assert {"id", "span_id", "parent_span_id", "start_time", "tags"} <= set(columns.SPAN_LIGHT_FIELDS)
