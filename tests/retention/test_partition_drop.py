"""Retention on PostgreSQL drops a whole month of spans when all of it goes; pinned traces are moved out
first and kept whole, everything on the dropped spans goes with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from apps.retention import partition_drop
from apps.retention.deletion import batched_delete, default_strategy
from apps.retention.models import RetentionPolicy, RetentionRun, RunStatus
from apps.retention.selectors import retention_plan
from apps.retention.services import retention_run
from apps.reviews.models import Comment, Score
from apps.traces import partitions
from apps.traces.models import Span, SpanTag, Trace
from tests import factories

from .helpers import annotate, pin

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

MONTH = partitions.month_start(datetime.now(UTC) - timedelta(days=500))
NAME = partitions.partition_name(MONTH)


def _trace(project, *, at: datetime, spans: int = 2, last_at: datetime | None = None) -> Trace:
    """A trace whose summary matches its spans (as ingest keeps it); `last_at`: the last span's start."""
    times = [at + timedelta(seconds=i) for i in range(spans)]
    if last_at is not None:
        times[-1] = last_at
    trace = factories.TraceFactory(project=project, start_time=min(times), end_time=max(times), span_count=spans)
    for moment in times:
        factories.SpanFactory(trace=trace, start_time=moment)
    return trace


def _exists(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [table])
        return cursor.fetchone()[0] is not None


def _keys_match_spans() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM traces_span_key) = (SELECT count(*) FROM traces_span), "
            "NOT EXISTS (SELECT 1 FROM traces_span s LEFT JOIN traces_span_key k ON k.span_pk = s.id "
            "WHERE k.span_pk IS NULL)"
        )
        return all(cursor.fetchone())


@pytest.fixture
def month(project):
    partitions.span_partition_create(month=MONTH)
    RetentionPolicy.objects.create(project=project, max_age_days=365)
    return MONTH + timedelta(days=10)


def test_postgres_runs_drop_partitions_by_default():
    assert default_strategy() is partition_drop.partition_drop


def test_a_month_goes_whole_and_pinned_traces_are_kept_with_their_spans(project, month, member):
    doomed = _trace(project, at=month, spans=3)
    annotate(doomed.spans.first(), member(project))
    _trace(project, at=month, last_at=month + timedelta(days=40))  # its last span in the next month
    kept = _trace(project, at=month, spans=2)
    pin(kept.spans.first(), "dataset")
    annotate(kept.spans.last())
    recent = _trace(project, at=datetime.now(UTC) - timedelta(days=1), spans=1)

    run = retention_run(policy=project.retention_policy)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert not _exists(NAME)
    assert set(Trace.objects.values_list("pk", flat=True)) == {kept.pk, recent.pk}
    assert Span.objects.filter(trace=kept).count() == 2 and Span.objects.filter(trace=recent).count() == 1
    assert Score.objects.filter(span__trace=kept).count() == 1 and Score.objects.count() == 1
    assert Comment.objects.filter(span__trace=kept).count() == 1 and Comment.objects.count() == 1
    assert SpanTag.objects.filter(span__trace=doomed).count() == 0
    assert (run.traces_deleted, run.spans_deleted) == (2, 5)
    assert _keys_match_spans()


def test_a_month_holding_what_the_plan_keeps_stays_and_its_doomed_traces_go_in_batches(project, month):
    doomed = _trace(project, at=month)
    other = factories.ProjectFactory()
    theirs = _trace(other, at=month)  # another project's span in the same month: no drop

    plan = retention_plan(policy=project.retention_policy)
    assert partition_drop.droppable_months(plan) == []
    totals = partition_drop.partition_drop(plan)

    assert _exists(NAME)
    assert not Trace.objects.filter(pk=doomed.pk).exists() and Trace.objects.filter(pk=theirs.pk).exists()
    assert (totals.traces, totals.spans) == (1, 2)
    assert _keys_match_spans()


def test_a_month_shared_with_projects_whose_policies_expire_it_goes_whole_and_each_log_counts_its_own(project, month):
    other = factories.ProjectFactory(name="Other tenant")
    RetentionPolicy.objects.create(project=other, max_age_days=400)
    mine = _trace(project, at=month, spans=2)
    theirs = _trace(other, at=month, spans=3)
    their_pinned = _trace(other, at=month, spans=1)
    pin(their_pinned.spans.first(), "dataset")

    run = retention_run(policy=project.retention_policy)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert not _exists(NAME)
    assert (run.traces_deleted, run.spans_deleted) == (1, 2)  # its own project's only
    assert not Trace.objects.filter(pk__in=[mine.pk, theirs.pk]).exists()
    assert Span.objects.filter(trace=their_pinned).count() == 1  # moved out, kept whole
    (logged,) = RetentionRun.objects.filter(project=other)
    assert (logged.status, logged.traces_deleted, logged.spans_deleted) == (RunStatus.SUCCEEDED, 1, 3)
    assert logged.note.startswith("Month ") and project.name not in logged.note
    assert _keys_match_spans()


@pytest.mark.parametrize("their_policy", [None, "inactive", "younger"])
def test_a_month_shared_with_a_project_that_keeps_its_spans_stays(project, month, their_policy):
    other = factories.ProjectFactory()
    if their_policy is not None:
        RetentionPolicy.objects.create(
            project=other,
            max_age_days=365 if their_policy == "inactive" else 5000,
            is_active=their_policy != "inactive",
        )
    mine = _trace(project, at=month)
    theirs = _trace(other, at=month)

    run = retention_run(policy=project.retention_policy)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert _exists(NAME)  # their spans keep the month: mine went by batched DELETE
    assert not Trace.objects.filter(pk=mine.pk).exists() and Trace.objects.filter(pk=theirs.pk).exists()
    assert Span.objects.filter(trace=theirs).count() == 2
    assert not RetentionRun.objects.filter(project=other).exists()


def test_a_month_detached_by_a_run_that_died_is_finished_by_the_next(project, month):
    doomed = _trace(project, at=month)
    plan = retention_plan(policy=project.retention_policy)
    (only,) = partition_drop.droppable_months(plan)
    assert partition_drop._detach(only, plan)  # the run died here
    assert partition_drop.detached_months() == [NAME]

    totals = partition_drop.partition_drop(plan)

    assert not _exists(NAME) and not Trace.objects.filter(pk=doomed.pk).exists()
    assert totals.spans == 2 and _keys_match_spans()


def test_dropping_and_batched_delete_leave_the_same_rows(project, month, member):
    def build():
        traces = [_trace(project, at=month + timedelta(hours=i), spans=2) for i in range(4)]
        annotate(traces[0].spans.first(), member(project))
        pin(traces[1].spans.first(), "queue")
        return traces

    build()
    plan = retention_plan(policy=project.retention_policy)
    batched = batched_delete(plan)
    left_by_batches = (Trace.objects.count(), Span.objects.count(), Score.objects.count())
    Trace.objects.all().delete()
    build()
    dropped = partition_drop.partition_drop(retention_plan(policy=project.retention_policy))

    assert (dropped.traces, dropped.spans) == (batched.traces, batched.spans) == (3, 6)
    assert (Trace.objects.count(), Span.objects.count(), Score.objects.count()) == left_by_batches
    assert not _exists(NAME)
