"""Celery tasks: thin, they load ids and call services."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="exports.run_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def export_job_run_task(job_id: int) -> None:
    services.export_job_run(job_id=job_id)


@shared_task(name="exports.run_schedule", ignore_result=True)
def export_schedule_run_task(schedule_id: int) -> None:
    services.export_schedule_run(schedule_id=schedule_id)


@shared_task(name="exports.reap_stale_jobs", ignore_result=True)
def export_jobs_reap_stale_task() -> dict:
    return services.export_jobs_reap_stale()
