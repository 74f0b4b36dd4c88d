"""Beat runs retention: the fixed schedule names the task, and a real worker carries a queued run out."""

from __future__ import annotations

import time

import pytest

from apps.retention.models import RetentionRun, RunStatus
from apps.traces.models import Trace

from .helpers import old_trace, pin, policy


@pytest.mark.django_db(transaction=True)  # the scheduler closes the database connection it used
def test_beat_installs_the_hourly_retention_task():
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    from config.celery import app

    app.loader.import_default_modules()
    DatabaseScheduler(app=app)
    task = PeriodicTask.objects.get(name="retention.run_policies")
    assert task.task == "retention.run_policies" and task.enabled
    assert (task.interval.every, task.interval.period) == (3600, "seconds")
    assert "retention.run_policies" in app.tasks and "retention.run" in app.tasks


def test_a_real_worker_runs_the_policies_beat_asks_for(celery_worker, project):
    from apps.retention.tasks import retention_run_policies_task

    gone, kept = old_trace(project), old_trace(project)
    pin(kept.spans.first(), "feedback")
    the_policy = policy(project)
    retention_run_policies_task.delay()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = RetentionRun.objects.filter(policy=the_policy, status=RunStatus.SUCCEEDED).first()
        if run is not None:
            break
        time.sleep(0.3)
    assert run is not None, list(RetentionRun.objects.values("status", "error"))
    assert (run.traces_deleted, run.kept_pinned) == (1, 1)
    assert list(Trace.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not Trace.objects.filter(pk=gone.pk).exists()
