"""Export schedules as one service for the admin and the API: create, change, pause, resume, trigger.

Creating and changing go through `services.export_schedule_save` (validation and the
django-celery-beat periodic task); pausing disables the periodic task, so beat stops sending the
schedule; triggering makes one run now (also while paused) exactly as a beat tick would.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.audit.services import audit_record
from apps.core.exceptions import ApplicationError, unknown_fields_refuse
from apps.projects.models import Project

from .destinations import destination_for_project
from .models import SCHEDULE_FIELDS, ExportJob, ExportSchedule
from .services import _periodic_task_sync, export_schedule_run, export_schedule_save


def _apply(schedule: ExportSchedule, values: dict[str, Any]) -> None:
    unknown_fields_refuse(values, SCHEDULE_FIELDS, "Unknown schedule fields.")
    for name, value in values.items():
        if name == "destination":
            value = destination_for_project(project=schedule.project, destination=value)
        elif name == "dataset" and value is not None and not hasattr(value, "pk"):
            from apps.datasets.models import Dataset

            value = Dataset.objects.filter(project=schedule.project, pk=value).first()
            if value is None:
                raise ApplicationError("Unknown dataset.", fields={"dataset": ["Unknown dataset."]})
        elif name in ("filters", "options"):
            value = value or {}
        setattr(schedule, name, value)


def _check_name(schedule: ExportSchedule) -> None:
    if ExportSchedule.objects.filter(project=schedule.project, name=schedule.name).exclude(pk=schedule.pk).exists():
        raise ApplicationError("A schedule with this name exists.", fields={"name": ["Already used."]})


def export_schedule_create(*, project: Project, actor: Any = None, **values) -> ExportSchedule:
    schedule = ExportSchedule(project=project, created_by=actor if getattr(actor, "is_authenticated", False) else None)
    _apply(schedule, values)
    _check_name(schedule)
    return export_schedule_save(schedule=schedule, actor=actor)


def export_schedule_update(*, schedule: ExportSchedule, actor: Any = None, **values) -> ExportSchedule:
    _apply(schedule, values)
    _check_name(schedule)
    return export_schedule_save(schedule=schedule, actor=actor)


@transaction.atomic
def _set_enabled(schedule: ExportSchedule, *, enabled: bool, actor: Any) -> ExportSchedule:
    if schedule.enabled == enabled:
        return schedule
    schedule.enabled = enabled
    schedule.save(update_fields=["enabled", "updated_at"])
    _periodic_task_sync(schedule)
    audit_record(
        actor=actor,
        action="export_schedule.resume" if enabled else "export_schedule.pause",
        obj=schedule,
        before={"enabled": not enabled},
        after={"enabled": enabled},
    )
    return schedule


def export_schedule_pause(*, schedule: ExportSchedule, actor: Any = None) -> ExportSchedule:
    """Beat stops running it; the watermark stays, so resuming catches up on everything since."""
    return _set_enabled(schedule, enabled=False, actor=actor)


def export_schedule_resume(*, schedule: ExportSchedule, actor: Any = None) -> ExportSchedule:
    return _set_enabled(schedule, enabled=True, actor=actor)


@transaction.atomic
def export_schedule_trigger(*, schedule: ExportSchedule, actor: Any = None) -> ExportJob:
    """One run now. 409 while the previous run is unfinished or an incremental window is still empty."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    job = export_schedule_run(schedule_id=schedule.pk, requested_by=user)
    if job is None:
        raise ApplicationError(
            "The previous run is unfinished or nothing is due yet.",
            fields={"schedule": ["Nothing to run now."]},
            status=409,
        )
    audit_record(actor=actor, action="export_schedule.trigger", obj=schedule, after={"job": job.pk})
    return job
