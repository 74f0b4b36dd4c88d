"""Every write of an export job: creating, dispatching, running, cancelling and reaping. The
schedules' writes live in `schedule_runs` and are re-exported here."""

from __future__ import annotations

import gzip as gziplib
import logging
import os
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.audit.services import audit_record, audit_snapshot
from apps.core.exceptions import ApplicationError
from apps.projects.models import Project

from . import storage
from .destinations import deployment_id, destination_for_project
from .filtering import filtered_queryset
from .formats import WriterRestart, file_extension, writer_for
from .models import ExportJob, ExportSchedule, ExportSource, ExportStatus
from .options import export_choices_validate, export_options_clean
from .prefetch import job_batches
from .schedule_runs import (  # noqa: F401 - the schedules' writes, imported from here by the admin and API
    RUN_SCHEDULE_TASK,
    _periodic_task_sync,
    _schedule_run_finished,
    export_schedule_delete,
    export_schedule_run,
    export_schedule_save,
    export_schedule_validate,
)
from .side_files import publish_side_files
from .sources import source_for

logger = logging.getLogger(__name__)

MAX_PROBLEMS_KEPT = 1000


def _setting(name: str, default):
    return getattr(settings, name, default)


def chunk_size() -> int:
    return max(1, int(_setting("EXPORTS_CHUNK_SIZE", 2000)))


def stale_after() -> timedelta:
    return timedelta(seconds=int(_setting("EXPORTS_STALE_AFTER_SECONDS", 600)))


def max_attempts() -> int:
    return max(1, int(_setting("EXPORTS_MAX_ATTEMPTS", 2)))


# --- creating ----------------------------------------------------------------------------------


def _resolve_dataset(*, project: Project, dataset, version, tag: str):
    from apps.datasets.selectors import dataset_version_resolve

    if dataset is None:
        raise ApplicationError("A dataset export names its dataset.", fields={"dataset": ["This field is required."]})
    if dataset.project_id != project.pk:
        raise ApplicationError("Unknown dataset.", fields={"dataset": ["Unknown dataset."]})
    try:
        resolved = dataset_version_resolve(dataset=dataset, version=version, tag=tag or None)
    except ApplicationError as exc:
        raise ApplicationError(exc.message, fields=exc.fields, status=400)
    return resolved.number


def _storage_key(job: ExportJob) -> str:
    """Where the job's file goes: date-partitioned, named by the job's uid, under its destination's prefix."""
    return storage.export_key(
        project_slug=job.project.slug,
        source=job.source,
        created_at=job.created_at,
        name=f"{job.uid}.{file_extension(job.format, gzip=job.gzip)}",
        deployment_id=deployment_id(),
        prefix=storage.prefix_for(job.destination),
    )


def _validate_what(*, project: Project, source: str, filters: dict, selected_pks, dataset, version, tag: str):
    """What a new job exports, checked: a dataset version (its number, returned) or the filters and
    admin selection of spans or traces (None)."""
    if source == ExportSource.DATASET:
        if filters or selected_pks is not None:
            raise ApplicationError(
                "Dataset exports take a version, tag or split, not filters.",
                fields={"filters": ["Not used for dataset exports."]},
            )
        return _resolve_dataset(project=project, dataset=dataset, version=version, tag=tag)
    if dataset is not None:
        raise ApplicationError("Only dataset exports name a dataset.", fields={"dataset": ["Not used here."]})
    filtered_queryset(source=source, project=project, filters=filters)  # validates
    if selected_pks is not None:
        limit = int(_setting("EXPORTS_MAX_SELECTED", 500_000))
        if not isinstance(selected_pks, list) or not all(isinstance(pk, int) for pk in selected_pks):
            raise ApplicationError("Selection must be a list of ids.", fields={"selected_pks": ["Ids only."]})
        if len(selected_pks) > limit:
            raise ApplicationError(
                f"At most {limit} selected rows; export by filters for more.",
                fields={"selected_pks": [f"At most {limit}."]},
            )
    return None


def export_job_create(
    *,
    project: Project,
    source: str,
    format: str,
    gzip: bool = False,
    filters: dict | None = None,
    selected_pks: list[int] | None = None,
    dataset=None,
    version: int | str | None = None,
    tag: str = "",
    split: str = "",
    requested_by=None,
    schedule: ExportSchedule | None = None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    dispatch: bool = True,
    actor: Any = None,
    destination=None,
    options: dict | None = None,
) -> ExportJob:
    """Validate, save a queued job and send it to a worker once the transaction commits.
    `destination` (one of the project's ExportDestinations, or its id) defaults to the deployment's storage."""
    export_choices_validate(source=source, format=format, gzip=gzip)
    destination = destination_for_project(project=project, destination=destination)
    options = export_options_clean(options=options, source=source, format=format)
    filters = filters or {}
    what = {"filters": filters, "selected_pks": selected_pks, "dataset": dataset, "version": version, "tag": tag}
    dataset_version = _validate_what(project=project, source=source, **what)
    with transaction.atomic():
        job = ExportJob.objects.create(
            project=project,
            source=source,
            format=format,
            gzip=bool(gzip),
            options=options,
            filters=filters,
            selected_pks=selected_pks,
            dataset=dataset if source == ExportSource.DATASET else None,
            dataset_version=dataset_version,
            dataset_tag=tag or "",
            dataset_split=split or "",
            requested_by=requested_by if getattr(requested_by, "pk", None) else None,
            schedule=schedule,
            window_start=window_start,
            window_end=window_end,
            destination=destination,
        )
        job.storage_key = _storage_key(job)
        job.save(update_fields=["storage_key"])
        audit_record(actor=actor or requested_by, action="export.create", obj=job, after=audit_snapshot(job))
        if dispatch:
            transaction.on_commit(lambda: export_job_dispatch(job_id=job.pk))
    return job


def export_job_dispatch(*, job_id: int) -> bool:
    """Send the job to the queue. A broker that is down leaves the job queued for the reaper to resend;
    the job never runs inside the request instead."""
    from .tasks import export_job_run_task

    try:
        export_job_run_task.apply_async(
            args=[job_id],
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1},
        )
    except Exception as exc:  # kombu raises OperationalError and friends; the job stays queued
        logger.warning("Could not send export job %s to the queue: %s", job_id, exc)
        ExportJob.objects.filter(pk=job_id, status=ExportStatus.QUEUED).update(
            error="The job queue is unreachable; the job will be sent again when it is back.",
            dispatched_at=timezone.now(),
        )
        return False
    ExportJob.objects.filter(pk=job_id).update(dispatched_at=timezone.now())
    return True


# --- running -----------------------------------------------------------------------------------


def _claim(job_id: int, token: str) -> bool:
    now = timezone.now()
    claimable = Q(status=ExportStatus.QUEUED) | Q(status=ExportStatus.RUNNING, heartbeat_at__lt=now - stale_after())
    return bool(
        ExportJob.objects.filter(pk=job_id, attempts__lt=max_attempts())
        .filter(claimable)
        .update(
            status=ExportStatus.RUNNING,
            run_token=token,
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            progress=0.0,
            row_count=0,
            byte_size=0,
            error="",
            problems=[],
            problem_count=0,
        )
    )


def _mine(job_id: int, token: str):
    return ExportJob.objects.filter(pk=job_id, run_token=token, status=ExportStatus.RUNNING)


class _Stop(Exception):
    """The run lost its claim (cancelled, or reaped and claimed by another run)."""


def _heartbeat(job_id: int, token: str, *, rows: int, total: int | None) -> None:
    progress = min(1.0, rows / total) if total else 0.0
    updated = _mine(job_id, token).update(row_count=rows, progress=progress, heartbeat_at=timezone.now())
    if not updated:
        raise _Stop


def _write_file(job: ExportJob, token: str, out, raw):
    """Every batch of the job's source through its writer into `out`; a writer asking to start over
    with a wider schema (Parquet) gets the file truncated and a new pass. Returns the closed writer."""
    source = source_for(job, chunk_size=chunk_size())
    total = source.count()
    _mine(job.pk, token).update(total_rows=total)
    restart = {}
    for attempt in range(1, 4):
        writer = writer_for(job.format)(out, source.meta, **restart)
        rows = 0
        batches = job_batches(source, writer)
        try:
            for batch in batches:
                writer.write_batch(batch)
                rows += len(batch.rows)
                _heartbeat(job.pk, token, rows=rows, total=total)
        except WriterRestart as again:
            writer.abort()
            raw.seek(0)
            raw.truncate()
            restart = {"hints": again.hints, "attempt": attempt + 1}
            continue
        except BaseException:
            writer.abort()
            raise
        finally:
            batches.close()
        break
    writer.close()
    return writer


def _publish(job: ExportJob, token: str, writer, temp_path: str) -> None:
    """The written file to its destination, then the side files, then the job marked succeeded. A job
    cancelled meanwhile keeps no file."""
    problems = [{"record": p.record, "reason": p.reason} for p in writer.problems]
    if not _mine(job.pk, token).exists():
        raise _Stop
    size = storage.publish(local_path=temp_path, key=job.storage_key, destination=job.destination)
    try:
        side = publish_side_files(job=job, writer=writer)  # after the data, before the manifest
    except Exception:
        storage.remove(job.storage_key, job.destination)  # a failed job leaves no file
        raise
    finished = _mine(job.pk, token).update(
        **side,
        status=ExportStatus.SUCCEEDED,
        progress=1.0,
        row_count=writer.rows_written,
        byte_size=size,
        problems=problems[:MAX_PROBLEMS_KEPT],
        problem_count=len(problems),
        heartbeat_at=timezone.now(),
        finished_at=timezone.now(),
    )
    if not finished:
        job.refresh_from_db(fields=["status", "run_token"])
        if job.status == ExportStatus.CANCELLED:  # cancelled while publishing: no file stays
            for key in (job.storage_key, side.get("lineage_key"), side.get("validation_key")):
                storage.remove(key, job.destination)
        raise _Stop


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Run one job to the end. Safe to call twice: only one run holds the claim, others return None."""
    token = uuid.uuid4().hex
    if not _claim(job_id, token):
        _fail_if_out_of_attempts(job_id)
        return None
    job = ExportJob.objects.select_related("project", "dataset", "schedule", "destination").get(pk=job_id)
    temp_path = storage.temp_file_for(job.pk)
    try:
        with open(temp_path, "wb", buffering=1 << 20) as raw:
            out = gziplib.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6, mtime=0) if job.gzip else raw
            writer = _write_file(job, token, out, raw)
            if job.gzip:
                out.close()
        _publish(job, token, writer, temp_path)
    except _Stop:
        logger.info("Export job %s stopped: cancelled or taken over.", job_id)
        job.refresh_from_db()
        return job
    except Exception as exc:
        message = exc.message if isinstance(exc, ApplicationError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, ApplicationError):
            logger.exception("Export job %s failed", job_id)
        _mine(job.pk, token).update(status=ExportStatus.FAILED, error=message[:2000], finished_at=timezone.now())
        job.refresh_from_db()
        return job
    finally:
        if os.path.exists(temp_path):
            os.remove(temp_path)
    job.refresh_from_db()
    if job.schedule_id or job.source == ExportSource.DATASET:
        _schedule_run_finished(job)
    return job


def _fail_if_out_of_attempts(job_id: int) -> None:
    """A job redelivered after its last attempt died: fail it rather than leave it running."""
    ExportJob.objects.filter(
        pk=job_id,
        attempts__gte=max_attempts(),
        status=ExportStatus.RUNNING,
        heartbeat_at__lt=timezone.now() - stale_after(),
    ).update(
        status=ExportStatus.FAILED,
        error="The worker running this export stopped responding.",
        finished_at=timezone.now(),
    )


@transaction.atomic
def export_job_cancel(*, job: ExportJob, actor: Any = None) -> ExportJob:
    """Queued jobs never start; a running job stops at its next chunk and leaves no file."""
    updated = ExportJob.objects.filter(pk=job.pk, status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING]).update(
        status=ExportStatus.CANCELLED, finished_at=timezone.now()
    )
    job.refresh_from_db()
    if not updated:
        raise ApplicationError(
            f"This export has already {job.status}.", fields={"status": [f"The export is {job.status}."]}, status=409
        )
    audit_record(actor=actor, action="export.cancel", obj=job, after={"status": job.status})
    return job


def export_jobs_reap_stale(*, now: datetime | None = None) -> dict[str, int]:
    """Running jobs whose heartbeat is older than EXPORTS_STALE_AFTER_SECONDS: re-queue while attempts
    remain, else fail. Queued jobs not picked up for that long are sent to the queue again."""
    now = now or timezone.now()
    cutoff = now - stale_after()
    counts = {"requeued": 0, "failed": 0, "resent": 0}
    stale = ExportJob.objects.filter(status=ExportStatus.RUNNING, heartbeat_at__lt=cutoff)
    for job_id, attempts, heartbeat_at in stale.values_list("pk", "attempts", "heartbeat_at"):
        same = ExportJob.objects.filter(pk=job_id, status=ExportStatus.RUNNING, heartbeat_at=heartbeat_at)
        if attempts < max_attempts():
            if same.update(
                status=ExportStatus.QUEUED,
                run_token="",
                error=f"The worker stopped responding (last heartbeat {heartbeat_at:%Y-%m-%d %H:%M:%S} UTC); retrying.",
            ):
                counts["requeued"] += 1
                transaction.on_commit(lambda job_id=job_id: export_job_dispatch(job_id=job_id))
        elif same.update(
            status=ExportStatus.FAILED,
            run_token="",
            error=f"The worker stopped responding (last heartbeat {heartbeat_at:%Y-%m-%d %H:%M:%S} UTC) "
            f"after {attempts} attempt(s).",
            finished_at=now,
        ):
            counts["failed"] += 1
    lost = ExportJob.objects.filter(status=ExportStatus.QUEUED).filter(
        Q(dispatched_at__lt=cutoff) | Q(dispatched_at__isnull=True, created_at__lt=cutoff)
    )
    for job_id in lost.values_list("pk", flat=True):
        counts["resent"] += 1
        transaction.on_commit(lambda job_id=job_id: export_job_dispatch(job_id=job_id))
    return counts
