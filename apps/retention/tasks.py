"""Celery tasks: thin, they load ids and call services (routed to the `retention` queue by name)."""

from __future__ import annotations

from celery import shared_task

from . import services
from .models import RetentionRun, RunStatus


@shared_task(name="retention.run_policies", ignore_result=True)
def retention_run_policies_task() -> list[int]:
    return services.retention_runs_due()


@shared_task(name="retention.run", ignore_result=True)
def retention_run_task(run_id: int) -> None:
    # Claimed atomically: a second delivery of the message (acks late) finds it taken.
    if not RetentionRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(status=RunStatus.RUNNING):
        return
    run = RetentionRun.objects.select_related("policy").get(pk=run_id)
    services.retention_run_execute(run=run)
