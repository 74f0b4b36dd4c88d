"""Demo data: one finished export of the demo spans and one daily incremental schedule."""

from __future__ import annotations

from .models import ExportFormat, ExportSchedule, ExportSource, ScheduleKind, ScheduleMode
from .services import export_job_create, export_job_run, export_schedule_save


def load_demo_exports(*, project, stdout=None, **_):
    # Demo setup, not a request: the job runs here, synchronously, instead of on a worker.
    job = export_job_create(
        project=project,
        source=ExportSource.SPANS,
        format=ExportFormat.JSONL,
        dispatch=False,
    )
    job = export_job_run(job_id=job.pk) or job
    export_schedule_save(
        schedule=ExportSchedule(
            project=project,
            name="Daily spans (incremental)",
            source=ExportSource.SPANS,
            format=ExportFormat.JSONL,
            gzip=True,
            mode=ScheduleMode.INCREMENTAL,
            kind=ScheduleKind.CRONTAB,
            cron="0 2 * * *",
        )
    )
    if stdout is not None:
        stdout.write(f"  exports: export #{job.pk} ({job.status}, {job.row_count} spans) and a daily schedule")
