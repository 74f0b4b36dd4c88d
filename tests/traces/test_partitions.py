"""Month partitions of spans on PostgreSQL: created ahead, rows moved out of the default, one key per span
across partitions, and list/detail queries that read only the months they need (EXPLAIN)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from apps.traces import partitions, selectors
from apps.traces.models import Span
from apps.traces.services import span_batch_ingest
from apps.traces.tasks import span_partitions_ensure_task
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

MONTH = datetime(2025, 3, 1, tzinfo=UTC)  # before the migration's months: spans land in the default


def _partition_of(span_pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM traces_span WHERE id = %s", [span_pk])
        return cursor.fetchone()[0]


def _keys() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM traces_span_key")
        return cursor.fetchone()[0]


def _ingest(project, *, span_id: str, start: datetime, trace_id: str = "t-1") -> int:
    items = [{"trace_id": trace_id, "span_id": span_id, "name": "llm", "start_time": start.isoformat()}]
    result = span_batch_ingest(project=project, items=items)
    assert result.rejected == []
    return Span.objects.get(project=project, span_id=span_id).pk


def test_the_migration_partitions_spans_by_month_with_a_default():
    assert partitions.spans_partitioned()
    found = partitions.span_partitions()
    assert found[-1].name == partitions.DEFAULT and found[-1].is_default
    this_month = partitions.month_start(datetime.now(UTC))
    names = [p.name for p in found]
    assert partitions.partition_name(this_month) in names
    assert all(p.upper == partitions.month_after(p.lower) for p in found[:-1])


def test_ensure_creates_months_ahead_once(settings):
    now = datetime.now(UTC)
    made = partitions.span_partitions_ensure(months_ahead=6, now=now)
    month = partitions.month_start(now)
    for _ in range(6):
        month = partitions.month_after(month)
    assert partitions.partition_name(month) in made
    assert partitions.span_partitions_ensure(months_ahead=6, now=now) == []
    settings.SPAN_PARTITIONS_AHEAD = 7
    assert span_partitions_ensure_task() == [partitions.partition_name(partitions.month_after(month))]


def test_creating_a_month_moves_its_spans_out_of_the_default():
    project = factories.ProjectFactory()
    pk = _ingest(project, span_id="early", start=MONTH + timedelta(days=3))
    assert _partition_of(pk) == partitions.DEFAULT
    assert partitions.span_partition_create(month=MONTH)
    assert _partition_of(pk) == partitions.partition_name(MONTH)
    assert _keys() == Span.objects.count() == 1
    # The key still refuses the span_id a second time.
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.SpanFactory(project=project, trace=Span.objects.get(pk=pk).trace, span_id="early")


def test_a_span_re_sent_in_another_month_moves_and_stays_one_span():
    project = factories.ProjectFactory()
    partitions.span_partition_create(month=MONTH)
    pk = _ingest(project, span_id="s", start=MONTH + timedelta(days=1))
    assert _ingest(project, span_id="s", start=MONTH + timedelta(days=40)) == pk
    assert _partition_of(pk) == partitions.DEFAULT  # April 2025 has no partition
    assert Span.objects.filter(project=project).count() == 1 and _keys() == 1
    # Another project may use the same span_id; the same project may not under another trace.
    other = factories.ProjectFactory()
    _ingest(other, span_id="s", start=MONTH)
    result = span_batch_ingest(project=project, items=[{"trace_id": "t-2", "span_id": "s", "name": "x"}])
    assert result.rejected and _keys() == 2


def test_deleting_spans_deletes_their_keys_and_truncate_empties_them():
    project = factories.ProjectFactory()
    _ingest(project, span_id="a", start=MONTH)
    _ingest(project, span_id="b", start=MONTH)
    Span.objects.filter(span_id="a").delete()
    assert _keys() == 1
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE traces_span")
    assert _keys() == 0


def _plan(queryset) -> str:
    return queryset.explain()


def test_a_trace_page_reads_only_its_months_and_the_default():
    project = factories.ProjectFactory()
    partitions.span_partition_create(month=MONTH)
    partitions.span_partition_create(month=partitions.month_after(MONTH))
    _ingest(project, span_id="root", start=MONTH + timedelta(days=2))
    _ingest(project, span_id="child", start=MONTH + timedelta(days=2, seconds=1))
    trace = project.traces.get()
    plan = _plan(selectors.trace_spans_query(trace=trace))
    assert partitions.partition_name(MONTH) in plan and partitions.DEFAULT in plan
    assert partitions.partition_name(partitions.month_after(MONTH)) not in plan
    this_month = partitions.partition_name(partitions.month_start(datetime.now(UTC)))
    assert this_month not in plan
    assert [s.span_id for s in selectors.trace_spans(trace=trace)] == ["root", "child"]


def test_a_span_list_over_a_time_range_reads_only_those_months():
    project = factories.ProjectFactory()
    partitions.span_partition_create(month=MONTH)
    partitions.span_partition_create(month=partitions.month_after(MONTH))
    _ingest(project, span_id="a", start=MONTH + timedelta(days=5))
    filters = {"start_time_after": MONTH.isoformat(), "start_time_before": (MONTH + timedelta(days=20)).isoformat()}
    spans = selectors.span_list(projects=[project], filters=filters)
    plan = _plan(spans)
    assert partitions.partition_name(MONTH) in plan
    assert partitions.partition_name(partitions.month_after(MONTH)) not in plan
    assert partitions.DEFAULT not in plan
    assert [s.span_id for s in spans] == ["a"]
