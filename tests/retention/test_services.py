"""Retention runs: what goes, what is kept with its whole trace and why, dry runs, age and count."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.datasets.models import DatasetRecord
from apps.experiments.models import ExperimentResult
from apps.retention.models import RetentionRun, RunStatus
from apps.retention.services import retention_run, retention_runs_due
from apps.reviews.models import Comment, Correction, MetadataEvent, Score, ScoreEvent, TagEvent
from apps.traces.models import Span, SpanTag, Trace, TraceOrigin
from tests import factories

from .helpers import annotate, old_trace, pin, policy

pytestmark = pytest.mark.django_db

PIN_REASONS = ["dataset", "queue", "gold", "experiment", "feedback"]


def test_old_traces_go_with_their_spans_and_annotations_and_recent_ones_stay(project, member):
    gone, recent = old_trace(project, days=60), old_trace(project, days=2)
    for span in gone.spans.all():
        annotate(span, user=member(project))
    annotate(recent.spans.first())
    run = retention_run(policy=policy(project, max_age_days=30))
    assert run.status == RunStatus.SUCCEEDED and not run.error
    assert (run.traces_deleted, run.spans_deleted, run.traces_expired, run.kept_pinned) == (1, 2, 1, 0)
    assert list(Trace.objects.values_list("pk", flat=True)) == [recent.pk]
    assert set(Span.objects.values_list("trace_id", flat=True)) == {recent.pk}
    # The recent span's annotations are all still there; nothing of the old trace is left.
    for model in (Score, ScoreEvent, Comment, Correction, TagEvent, MetadataEvent, SpanTag):
        assert set(model.objects.values_list("span__trace_id", flat=True)) == {recent.pk}, model


@pytest.mark.parametrize("reason", PIN_REASONS)
def test_a_pinned_span_keeps_its_whole_trace_and_the_run_says_why(project, reason):
    kept, gone = old_trace(project, spans=3), old_trace(project)
    pinned_span = kept.spans.order_by("id")[1]  # not the root: the whole trace still stays
    pin(pinned_span, reason)
    annotate(kept.spans.first())
    run = retention_run(policy=policy(project))
    assert Trace.objects.filter(pk=kept.pk).exists() and not Trace.objects.filter(pk=gone.pk).exists()
    assert kept.spans.count() == 3 and Score.objects.filter(span__trace=kept).count() == 1
    assert run.kept_pinned == 1 and run.traces_deleted == 1
    assert run.pinned_by_reason[reason] == 1
    # gold items are review items too; every other reason is counted alone
    others = {r: n for r, n in run.pinned_by_reason.items() if r != reason and not (reason == "gold" and r == "queue")}
    assert set(others.values()) == {0}


def test_experiment_traces_stay_while_their_experiment_exists(project):
    trace = old_trace(project, origin=TraceOrigin.EXPERIMENT, spans=1)
    result = pin(trace.spans.get(), "experiment_trace")  # named by trace id, not by span
    the_policy = policy(project)
    run = retention_run(policy=the_policy)
    assert Trace.objects.filter(pk=trace.pk).exists() and run.pinned_by_reason["experiment_trace"] == 1
    result.experiment.delete()
    retention_run(policy=the_policy)
    assert not Trace.objects.filter(pk=trace.pk).exists()


def test_a_production_trace_named_by_an_experiment_result_by_trace_id_only_is_not_pinned(project):
    trace = old_trace(project, spans=1)
    pin(trace.spans.get(), "experiment_trace")
    retention_run(policy=policy(project))
    assert not Trace.objects.filter(pk=trace.pk).exists()


def test_dry_run_changes_nothing_and_reports_counts_and_reasons(project):
    traces = [old_trace(project) for _ in range(3)]
    pin(traces[0].spans.first(), "dataset")
    pin(traces[1].spans.first(), "feedback")
    before = (Trace.objects.count(), Span.objects.count())
    run = retention_run(policy=policy(project), dry_run=True)
    assert (Trace.objects.count(), Span.objects.count()) == before
    assert run.dry_run and run.status == RunStatus.SUCCEEDED
    assert (run.traces_expired, run.kept_pinned, run.traces_deleted, run.spans_deleted) == (3, 2, 0, 0)
    assert run.pinned_by_reason["dataset"] == 1 and run.pinned_by_reason["feedback"] == 1


def test_max_traces_keeps_the_newest_and_counts_with_max_age(project):
    traces = [old_trace(project, days=d, spans=1) for d in (1, 2, 3, 4, 5)]
    retention_run(policy=policy(project, max_age_days=None, max_traces=3))
    assert set(Trace.objects.values_list("pk", flat=True)) == {t.pk for t in traces[:3]}
    # Both limits: a trace past either one goes.
    the_policy = project.retention_policy
    the_policy.max_age_days, the_policy.max_traces = 2, 10
    the_policy.save()
    retention_run(policy=the_policy)
    assert set(Trace.objects.values_list("pk", flat=True)) == {traces[0].pk}


def test_max_traces_with_equal_start_times_and_traces_without_one(project):
    same = timezone.now() - timedelta(hours=1)
    traces = [factories.TraceFactory(project=project, start_time=same) for _ in range(3)]
    undated = factories.TraceFactory(project=project, start_time=None)
    retention_run(policy=policy(project, max_age_days=None, max_traces=2))
    # Newest first by start time, then by id; a trace without a start time is the oldest.
    assert set(Trace.objects.values_list("pk", flat=True)) == {traces[2].pk, traces[1].pk}
    assert not Trace.objects.filter(pk=undated.pk).exists()


def test_batches_are_bounded_and_each_is_its_own_transaction(project):
    traces = [old_trace(project, spans=2) for _ in range(5)]
    pin(traces[2].spans.first(), "queue")
    with CaptureQueriesContext(connection) as queries:
        run = retention_run(policy=policy(project), batch_size=2)
    assert run.traces_deleted == 4 and run.batches == 2 and run.spans_deleted == 8
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('DELETE FROM "traces_trace"')]
    # One statement per batch, each naming at most 2 traces; each batch in its own (nested) transaction.
    assert [len(re.search(r"IN \(([^)]*)\)", sql).group(1).split(",")) for sql in deletes] == [2, 2]
    savepoints = [q for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) >= 2


def test_a_trace_pinned_after_it_was_selected_is_kept(project):
    """The batch checks pinning again inside its transaction (a curator adds it to a dataset meanwhile)."""
    from apps.retention.deletion import traces_delete
    from apps.retention.selectors import pinned_condition, retention_plan

    trace = old_trace(project)
    plan = retention_plan(policy=policy(project))
    ids = list(plan.doomed.values_list("id", flat=True))
    pin(trace.spans.first(), "dataset")
    totals = traces_delete(trace_ids=ids, pinned=pinned_condition(project=project.pk))
    assert totals.traces == 0 and Trace.objects.filter(pk=trace.pk).exists()
    assert DatasetRecord.objects.get().source_span_id is not None


def test_runs_touch_only_their_own_project(project, other_project):
    mine, theirs = old_trace(project), old_trace(other_project)
    pin(theirs.spans.first(), "experiment")
    # Another project's experiment naming this project's trace id pins nothing here.
    mine_experiment = old_trace(project, origin=TraceOrigin.EXPERIMENT)
    ExperimentResult.objects.create(
        experiment=ExperimentResult.objects.get().experiment, record_id="r2", trace_id=mine_experiment.trace_id
    )
    unpinned_theirs = old_trace(other_project)
    run = retention_run(policy=policy(project))
    assert run.traces_deleted == 2
    assert not Trace.objects.filter(pk__in=[mine.pk, mine_experiment.pk]).exists()
    assert set(Trace.objects.values_list("pk", flat=True)) == {theirs.pk, unpinned_theirs.pk}


def test_beat_runs_each_active_policy_once_as_a_queued_task(project, other_project, monkeypatch):
    from apps.retention import tasks

    sent = []
    monkeypatch.setattr(tasks.retention_run_task, "delay", lambda pk: sent.append(pk))
    active, inactive = policy(project), policy(other_project, is_active=False)
    made = retention_runs_due()
    assert sent == made and len(made) == 1
    assert RetentionRun.objects.get(pk=made[0]).policy == active
    assert retention_runs_due() == []  # a run in progress (queued) is not doubled
    tasks.retention_run_task(made[0])
    assert RetentionRun.objects.get(pk=made[0]).status == RunStatus.SUCCEEDED
    assert not RetentionRun.objects.filter(policy=inactive).exists()
