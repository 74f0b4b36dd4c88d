"""Exports carry gold: `gold` (config → gold value; CSV gold.<config> columns) and `gold_expected`, on span
rows and on trace rows (from the root span)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from apps.queues.adjudication import item_adjudicate
from tests.exports.conftest import read_file, run
from tests.queues.gold_world import standalone

pytestmark = pytest.mark.django_db


@pytest.fixture
def gold(project):
    w = standalone(project)
    item_adjudicate(
        actor=w.lead,
        item=w.items[0],
        decisions={"tone": {"from": w.bob.pk}, "quality": {"value": 6}},
        expected={"value": {"answer": "30 days"}},
    )
    return w


def test_span_export_rows_carry_gold(project, gold):
    rows = {r["span_id"]: r for r in map(json.loads, read_file(run(project)).decode().splitlines())}
    gold_row = rows[gold.items[0].span.span_id]
    assert gold_row["gold"] == {"tone": "rude", "quality": 6.0}
    assert gold_row["gold_expected"] == {"answer": "30 days"}
    plain = rows[gold.items[2].span.span_id]
    assert plain["gold"] is None and plain["gold_expected"] is None


def test_csv_has_a_column_per_gold_config(project, gold):
    text = read_file(run(project, format="csv")).decode()
    rows = {r["span_id"]: r for r in csv.DictReader(io.StringIO(text))}
    row = rows[gold.items[0].span.span_id]
    assert row["gold.tone"] == "rude" and row["gold.quality"] == "6.0"
    assert row["gold_expected.answer"] == "30 days"


def test_trace_export_takes_the_root_spans_gold(project, gold):
    rows = {r["trace_id"]: r for r in map(json.loads, read_file(run(project, source="traces")).decode().splitlines())}
    row = rows[gold.items[0].span.trace.trace_id]
    assert row["gold"] == {"tone": "rude", "quality": 6.0} and row["gold_expected"] == {"answer": "30 days"}
    assert rows[gold.items[1].span.trace.trace_id]["gold"] is None


def test_parquet_carries_gold_as_a_typed_struct(project, gold):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(read_file(run(project, format="parquet"))))
    assert pa.types.is_struct(table.schema.field("gold").type)
    row = next(r for r in table.to_pylist() if r["span_id"] == gold.items[0].span.span_id)
    assert {k: v for k, v in row["gold"].items() if v is not None} == {"tone": "rude", "quality": 6.0}
