"""Schedules: django-celery-beat rows kept in sync; incremental windows leave no gap."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.core.exceptions import ApplicationError
from apps.exports import storage
from apps.exports.models import ExportJob, ExportSchedule
from apps.exports.services import (
    export_job_run,
    export_schedule_delete,
    export_schedule_run,
    export_schedule_save,
)
from apps.traces.models import Span
from tests import factories
from tests.exports.conftest import read_file

pytestmark = pytest.mark.django_db


def _schedule(project, **kwargs):
    values = {
        "project": project,
        "name": "nightly",
        "source": "spans",
        "format": "jsonl",
        "mode": "incremental",
        "kind": "interval",
        "every": 1,
        "period": "hours",
        "safety_lag_seconds": 300,
        **kwargs,
    }
    return export_schedule_save(schedule=ExportSchedule(**values))


def test_schedule_creates_and_updates_its_periodic_task(project):
    schedule = _schedule(project)
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.task == "exports.run_schedule" and json.loads(task.kwargs) == {"schedule_id": schedule.pk}
    assert task.interval.every == 1 and task.interval.period == "hours" and task.crontab is None
    schedule.kind, schedule.cron, schedule.enabled = "crontab", "30 2 * * 1-5", False
    export_schedule_save(schedule=schedule)
    task.refresh_from_db()
    assert task.interval is None and task.crontab.hour == "2" and task.crontab.day_of_week == "1-5"
    assert task.enabled is False
    export_schedule_delete(schedule=schedule)
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "crontab", "cron": "61 * * * *"}, "cron"),
        ({"kind": "crontab", "cron": "* *"}, "cron"),
        ({"filters": {"bogus": 1}}, "filters.bogus"),
        ({"source": "dataset"}, "dataset"),
    ],
)
def test_invalid_schedules_are_refused(project, changes, field):
    with pytest.raises(ApplicationError) as caught:
        _schedule(project, **changes)
    assert field in caught.value.fields


def _span_at(project, trace, span_id, when):
    span = factories.SpanFactory(trace=trace, span_id=span_id)
    Span.objects.filter(pk=span.pk).update(updated_at=when)
    return span


def _exported_ids(job):
    if job.row_count == 0:
        return set()
    return {json.loads(line)["span_id"] for line in read_file(job).decode().splitlines()}


def test_incremental_windows_have_no_gap_across_three_runs(project):
    lag = timedelta(seconds=300)
    schedule = _schedule(project)
    trace = factories.TraceFactory(project=project)
    t0 = timezone.now() - timedelta(hours=5)
    _span_at(project, trace, "old", t0 - timedelta(days=3))
    _span_at(project, trace, "before-1", t0 - timedelta(minutes=1))
    # Arrives inside the safety lag of run 1: not in run 1's window, so run 2 must take it.
    _span_at(project, trace, "in-lag-1", t0 - timedelta(seconds=10))
    exported: dict[str, int] = {}
    jobs = []
    runs = [t0, t0 + timedelta(hours=1), t0 + timedelta(hours=2)]
    late = {1: ["late-into-2"], 2: ["late-into-3"]}
    for i, now in enumerate(runs):
        for span_id in late.get(i, []):
            # A late-arriving span: it started long ago but was ingested (updated_at) just before this run.
            span = _span_at(project, trace, span_id, now - lag - timedelta(seconds=1))
            Span.objects.filter(pk=span.pk).update(start_time=t0 - timedelta(days=10))
        job = export_schedule_run(schedule_id=schedule.pk, now=now)
        export_job_run(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        jobs.append(job)
        for span_id in _exported_ids(job):
            exported[span_id] = exported.get(span_id, 0) + 1
    assert jobs[0].window_start is None
    for earlier, later in zip(jobs, jobs[1:], strict=False):
        assert later.window_start == earlier.window_end  # contiguous: no gap, no overlap
    assert [j.window_end for j in jobs] == [r - lag for r in runs]
    assert set(exported) == {"old", "before-1", "in-lag-1", "late-into-2", "late-into-3"}
    assert all(count == 1 for count in exported.values())
    schedule.refresh_from_db()
    assert schedule.watermark == jobs[-1].window_end


def test_a_failed_run_is_covered_by_the_next_one(project, monkeypatch):
    schedule = _schedule(project)
    trace = factories.TraceFactory(project=project)
    t0 = timezone.now() - timedelta(hours=3)
    _span_at(project, trace, "a", t0 - timedelta(hours=1))
    first = export_schedule_run(schedule_id=schedule.pk, now=t0)
    export_job_run(job_id=first.pk)
    _span_at(project, trace, "b", t0 + timedelta(minutes=10))
    second = export_schedule_run(schedule_id=schedule.pk, now=t0 + timedelta(hours=1))
    ExportJob.objects.filter(pk=second.pk).update(status="failed")
    third = export_schedule_run(schedule_id=schedule.pk, now=t0 + timedelta(hours=2))
    export_job_run(job_id=third.pk)
    third.refresh_from_db()
    first.refresh_from_db()
    assert third.window_start == first.window_end
    assert _exported_ids(third) == {"b"}


def test_a_run_is_skipped_while_the_previous_one_is_unfinished(project):
    schedule = _schedule(project)
    first = export_schedule_run(schedule_id=schedule.pk)
    assert first is not None
    assert export_schedule_run(schedule_id=schedule.pk) is None


def test_scheduled_run_writes_a_manifest_last(project, annotated_spans):
    schedule = _schedule(project, gzip=True, safety_lag_seconds=0)
    job = export_schedule_run(schedule_id=schedule.pk, now=timezone.now() + timedelta(seconds=1))
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.manifest_key == job.storage_key.rsplit("/", 1)[0] + f"/{job.uid}.manifest.json"
    with storage.open_for_download(job.manifest_key) as fh:
        manifest = json.load(fh)
    assert manifest["files"] == [{"key": job.storage_key, "rows": 3, "bytes": job.byte_size}]
    assert manifest["row_count"] == 3 and manifest["format"] == "jsonl" and manifest["gzip"] is True
    assert manifest["window"]["start"] is None and manifest["window"]["end"] == job.window_end.isoformat()
    assert manifest["window"]["column"] == "updated_at"


def test_full_schedule_exports_everything_each_time(project, annotated_spans):
    schedule = _schedule(project, mode="full", format="csv")
    for _ in range(2):
        job = export_schedule_run(schedule_id=schedule.pk)
        export_job_run(job_id=job.pk)
        job.refresh_from_db()
        assert job.window_start is None and job.window_end is None and job.row_count == 3
