"""Reads of the exports app, scoped to projects."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import ExportJob


def export_jobs_for_projects(*, projects) -> QuerySet[ExportJob]:
    return ExportJob.objects.filter(project__in=projects).select_related("project", "requested_by", "schedule")


def export_job_status(job: ExportJob) -> dict:
    """What the progress bar and the API status show."""
    return {
        "id": job.pk,
        "status": job.status,
        "progress": round(job.progress, 4),
        "row_count": job.row_count,
        "total_rows": job.total_rows,
        "byte_size": job.byte_size,
        "error": job.error,
        "problem_count": job.problem_count,
        "finished": job.is_finished,
    }
