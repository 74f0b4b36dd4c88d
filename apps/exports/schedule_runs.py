"""Every write of an export schedule: validating, saving (with its django-celery-beat periodic task),
deleting, one run (a new export job), and what follows a successful run (watermark, manifest).
`services` re-exports these for the admin, the API and `schedules`."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.services import audit_diff, audit_record, audit_snapshot
from apps.core.exceptions import ApplicationError

from . import storage
from .filtering import filtered_queryset
from .models import FINISHED_STATUSES, ExportJob, ExportSchedule, ExportSource, ExportStatus, ScheduleKind, ScheduleMode
from .options import export_choices_validate, export_options_clean

logger = logging.getLogger(__name__)

RUN_SCHEDULE_TASK = "exports.run_schedule"


def _parse_cron(expression: str) -> dict[str, str]:
    fields = expression.split()
    if len(fields) != 5:
        raise ApplicationError(
            "A cron expression has five fields.", fields={"cron": ["Use: minute hour day-of-month month day-of-week."]}
        )
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    from celery.schedules import crontab

    try:
        crontab(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year, day_of_week=day_of_week
        )
    except (ValueError, TypeError) as exc:
        raise ApplicationError("Invalid cron expression.", fields={"cron": [str(exc)]})
    return {
        "minute": minute,
        "hour": hour,
        "day_of_month": day_of_month,
        "month_of_year": month_of_year,
        "day_of_week": day_of_week,
    }


def export_schedule_validate(*, schedule: ExportSchedule) -> None:
    export_choices_validate(source=schedule.source, format=schedule.format, gzip=schedule.gzip)
    schedule.options = export_options_clean(options=schedule.options, source=schedule.source, format=schedule.format)
    errors: dict[str, list[str]] = {}
    if schedule.source == ExportSource.DATASET:
        if schedule.mode == ScheduleMode.INCREMENTAL:
            errors["mode"] = ["Dataset schedules export a whole version (full)."]
        if schedule.dataset_id is None:
            errors["dataset"] = ["This field is required."]
        elif schedule.dataset.project_id != schedule.project_id:
            errors["dataset"] = ["Unknown dataset."]
        if schedule.filters:
            errors["filters"] = ["Not used for dataset exports."]
    elif schedule.source == ExportSource.EXPERIMENT:
        errors["source"] = ["Experiment results are exported by an export job, not on a schedule."]
    else:
        if schedule.dataset_id is not None:
            errors["dataset"] = ["Only dataset schedules name a dataset."]
        filtered_queryset(source=schedule.source, project=schedule.project, filters=schedule.filters)
    if schedule.destination_id is not None and schedule.destination.project_id != schedule.project_id:
        errors["destination"] = ["Unknown destination."]
    if schedule.kind == ScheduleKind.CRONTAB:
        _parse_cron(schedule.cron)
    elif schedule.every < 1:
        errors["every"] = ["At least 1."]
    if errors:
        raise ApplicationError("Invalid export schedule.", fields=errors)


def _periodic_task_sync(schedule: ExportSchedule) -> None:
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    interval = crontab = None
    if schedule.kind == ScheduleKind.CRONTAB:
        crontab, _ = CrontabSchedule.objects.get_or_create(**_parse_cron(schedule.cron), timezone=settings.TIME_ZONE)
    else:
        interval, _ = IntervalSchedule.objects.get_or_create(every=schedule.every, period=schedule.period)
    values = {
        "name": f"Export schedule #{schedule.pk}: {schedule.name}"[:200],
        "task": RUN_SCHEDULE_TASK,
        "kwargs": json.dumps({"schedule_id": schedule.pk}),
        "interval": interval,
        "crontab": crontab,
        "enabled": schedule.enabled,
        "description": f"Assay export of {schedule.project.slug} ({schedule.source}, {schedule.format}).",
    }
    task = schedule.periodic_task
    if task is None:
        task = PeriodicTask.objects.create(**values)
        ExportSchedule.objects.filter(pk=schedule.pk).update(periodic_task=task)
        schedule.periodic_task = task
    else:
        for key, value in values.items():
            setattr(task, key, value)
        task.save()


@transaction.atomic
def export_schedule_save(*, schedule: ExportSchedule, actor: Any = None) -> ExportSchedule:
    """Create or update a schedule and its django-celery-beat periodic task."""
    export_schedule_validate(schedule=schedule)
    before = audit_snapshot(ExportSchedule.objects.filter(pk=schedule.pk).first() if schedule.pk else None)
    schedule.save()
    _periodic_task_sync(schedule)
    before, after = audit_diff(before, audit_snapshot(schedule))
    if after:
        audit_record(
            actor=actor,
            action="export_schedule.update" if before is not None else "export_schedule.create",
            obj=schedule,
            before=before,
            after=after,
        )
    return schedule


@transaction.atomic
def export_schedule_delete(*, schedule: ExportSchedule, actor: Any = None) -> None:
    audit_record(actor=actor, action="export_schedule.delete", obj=schedule, before=audit_snapshot(schedule))
    task = schedule.periodic_task
    schedule.delete()
    if task is not None:
        task.delete()


@transaction.atomic
def export_schedule_run(*, schedule_id: int, now: datetime | None = None, requested_by=None) -> ExportJob | None:
    """One run of a schedule: a new export job. Incremental runs cover [watermark, now − safety lag) on
    `updated_at`; the watermark moves to the window end only when that run succeeds, so a failed run's
    window is covered again by the next one. Skipped (None) while an earlier run is unfinished."""
    # Two beats firing at once serialise on the schedule row (the dataset join is nullable: lock only "self").
    schedule = (
        ExportSchedule.objects.select_for_update(of=("self",))
        .select_related("project", "dataset", "destination")
        .filter(pk=schedule_id)
        .first()
    )
    if schedule is None:
        return None
    if schedule.jobs.exclude(status__in=FINISHED_STATUSES).exists():
        logger.info("Export schedule %s: the previous run is unfinished; skipping.", schedule_id)
        return None
    now = now or timezone.now()
    window_start = window_end = None
    if schedule.mode == ScheduleMode.INCREMENTAL:
        window_start = schedule.watermark
        window_end = now - timedelta(seconds=schedule.safety_lag_seconds)
        if window_start is not None and window_end <= window_start:
            return None
    from .services import export_job_create  # services re-exports this module's functions

    job = export_job_create(
        project=schedule.project,
        source=schedule.source,
        format=schedule.format,
        gzip=schedule.gzip,
        options=schedule.options,
        filters=schedule.filters,
        dataset=schedule.dataset,
        tag=schedule.dataset_tag,
        split=schedule.dataset_split,
        requested_by=requested_by,
        schedule=schedule,
        window_start=window_start,
        window_end=window_end,
        destination=schedule.destination,
    )
    ExportSchedule.objects.filter(pk=schedule.pk).update(last_run_at=now)
    return job


def _schedule_run_finished(job: ExportJob) -> None:
    """After a scheduled run or a dataset export succeeded: advance the watermark, then write the manifest last."""
    if job.status != ExportStatus.SUCCEEDED:
        return
    if job.window_end is not None:
        ExportSchedule.objects.filter(pk=job.schedule_id).filter(
            Q(watermark__isnull=True) | Q(watermark__lt=job.window_end)
        ).update(watermark=job.window_end)
    manifest_key = storage.sibling_key(job.storage_key, "manifest.json")
    manifest = {
        "job_id": job.pk,
        "job_uid": str(job.uid),
        "schedule_id": job.schedule_id,
        "project": job.project.slug,
        "source": job.source,
        "format": job.format,
        "gzip": job.gzip,
        "files": [{"key": job.storage_key, "rows": job.row_count, "bytes": job.byte_size}]
        + [
            {"key": key, "kind": kind}
            for kind, key in (("lineage", job.lineage_key), ("validation", job.validation_key))
            if key
        ],
        "validation": job.validation,
        "row_count": job.row_count,
        "problem_count": job.problem_count,
        "window": {
            "column": "updated_at",
            "start": job.window_start.isoformat() if job.window_start else None,
            "end": job.window_end.isoformat() if job.window_end else None,
        },
        "dataset_version": job.dataset_version,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    storage.publish_bytes(data=json.dumps(manifest, indent=2).encode(), key=manifest_key, destination=job.destination)
    ExportJob.objects.filter(pk=job.pk).update(manifest_key=manifest_key)
    job.manifest_key = manifest_key
