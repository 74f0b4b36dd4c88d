"""Export jobs (one file written by a Celery worker) and export schedules (django-celery-beat)."""

import uuid

from django.conf import settings
from django.db import models

from apps.projects.models import Project


class ExportSource(models.TextChoices):
    SPANS = "spans", "Spans"
    TRACES = "traces", "Traces"
    DATASET = "dataset", "Dataset version"
    SCORES = "scores", "Scores (one row per score)"
    EXPERIMENT = "experiment", "Experiment results (one row per result)"


class ExportFormat(models.TextChoices):
    JSONL = "jsonl", "JSON Lines"
    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"
    OPENAI_CHAT = "openai_chat", "OpenAI fine-tuning (chat JSONL)"
    OPENAI_DPO = "openai_dpo", "OpenAI preference fine-tuning (DPO JSONL)"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (ExportStatus.SUCCEEDED, ExportStatus.FAILED, ExportStatus.CANCELLED)


class ScheduleMode(models.TextChoices):
    FULL = "full", "Full (everything matching, every run)"
    INCREMENTAL = "incremental", "Incremental (what changed since the last run)"


class ScheduleKind(models.TextChoices):
    INTERVAL = "interval", "Every N minutes/hours/days"
    CRONTAB = "crontab", "Cron expression"


class DestinationKind(models.TextChoices):
    LOCAL = "local", "This deployment's export storage (a sub-folder)"
    S3 = "s3", "S3-compatible bucket"


class ExportDestination(models.Model):
    """Where a project's export files go. Credentials are a Fernet token (apps.core.encryption), write-only."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_destinations")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=DestinationKind.choices, default=DestinationKind.S3)
    bucket = models.CharField(max_length=255, blank=True, default="")
    prefix = models.CharField(
        max_length=200,
        default="assay-exports",
        help_text="Every object key starts with it; nothing is ever written outside it.",
    )
    endpoint_url = models.URLField(
        max_length=500, blank=True, default="", help_text="S3-compatible endpoint (empty: AWS)."
    )
    region = models.CharField(max_length=64, blank=True, default="")
    credentials_encrypted = models.TextField(blank=True, default="", editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="uniq_export_destination_name"),
        ]
        ordering = ["project", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials_encrypted)


class DeploymentIdentity(models.Model):
    """One row: this deployment's id in export keys when EXPORTS_DEPLOYMENT_ID is unset (stored at first use)."""

    deployment_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.deployment_id


# The fields a schedule is made of: the admin form, the API, the schedule service and its audit events take these.
SCHEDULE_FIELDS = (
    "name",
    "source",
    "filters",
    "options",
    "dataset",
    "dataset_tag",
    "dataset_split",
    "format",
    "gzip",
    "mode",
    "kind",
    "every",
    "period",
    "cron",
    "safety_lag_seconds",
    "enabled",
    "destination",
)


class ExportSchedule(models.Model):
    """What to export and when; `periodic_task` is the django-celery-beat row kept in sync by the service."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_schedules")
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=16, choices=ExportSource.choices, default=ExportSource.SPANS)
    filters = models.JSONField(default=dict, blank=True)
    dataset = models.ForeignKey(
        "datasets.Dataset", null=True, blank=True, on_delete=models.CASCADE, related_name="export_schedules"
    )
    dataset_tag = models.CharField(max_length=64, blank=True, default="")
    dataset_split = models.CharField(max_length=100, blank=True, default="")
    format = models.CharField(max_length=16, choices=ExportFormat.choices, default=ExportFormat.JSONL)
    gzip = models.BooleanField(default=False)
    # Format options (apps.exports.options): e.g. {"reviewer_scores": true} for per-reviewer score columns.
    options = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=16, choices=ScheduleMode.choices, default=ScheduleMode.INCREMENTAL)
    kind = models.CharField(max_length=16, choices=ScheduleKind.choices, default=ScheduleKind.INTERVAL)
    every = models.PositiveIntegerField(default=1)
    period = models.CharField(
        max_length=16,
        choices=[("minutes", "Minutes"), ("hours", "Hours"), ("days", "Days")],
        default="days",
    )
    cron = models.CharField(
        max_length=100, blank=True, default="", help_text="Five fields: minute hour day-of-month month day-of-week."
    )
    safety_lag_seconds = models.PositiveIntegerField(
        default=300,
        help_text="Incremental runs stop this long before now, so spans still being written are taken next time.",
    )
    # Incremental runs export spans with watermark <= updated_at < window end; moved when a run succeeds.
    watermark = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    destination = models.ForeignKey(
        ExportDestination,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="schedules",
        help_text="Empty: the deployment's export storage.",
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="uniq_export_schedule_name"),
        ]
        ordering = ["project", "name"]

    def __str__(self) -> str:
        return self.name


# What a job shows, in the API (with id, uid, download_url) and on its admin page.
JOB_FIELDS = (
    "project",
    "source",
    "filters",
    "selected_count",
    "dataset",
    "dataset_version",
    "dataset_tag",
    "dataset_split",
    "format",
    "gzip",
    "options",
    "status",
    "progress",
    "total_rows",
    "row_count",
    "byte_size",
    "error",
    "problem_count",
    "problems",
    "requested_by",
    "destination",
    "storage_key",
    "lineage_key",
    "validation_key",
    "validation",
    "manifest_key",
    "attempts",
    "schedule",
    "window_start",
    "window_end",
    "created_at",
    "started_at",
    "heartbeat_at",
    "finished_at",
)


class ExportJob(models.Model):
    # In object keys: unique across databases and deployments, unlike the integer id.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_jobs")
    source = models.CharField(max_length=16, choices=ExportSource.choices, default=ExportSource.SPANS)
    # Declared FilterSet parameters only (traces.filters.SpanFilter / TraceFilter).
    filters = models.JSONField(default=dict, blank=True)
    # A snapshot of the rows picked in an admin changelist (pks), intersected with `filters`.
    selected_pks = models.JSONField(null=True, blank=True)
    dataset = models.ForeignKey(
        "datasets.Dataset", null=True, blank=True, on_delete=models.CASCADE, related_name="export_jobs"
    )
    # Resolved when the job is created, so a moving tag never changes what a job exports.
    dataset_version = models.PositiveIntegerField(null=True, blank=True)
    dataset_tag = models.CharField(max_length=64, blank=True, default="")
    dataset_split = models.CharField(max_length=100, blank=True, default="")
    format = models.CharField(max_length=16, choices=ExportFormat.choices, default=ExportFormat.JSONL)
    gzip = models.BooleanField(default=False)
    # Format options (apps.exports.options), copied from the schedule for scheduled runs.
    options = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    total_rows = models.BigIntegerField(null=True, blank=True)
    row_count = models.BigIntegerField(default=0)
    byte_size = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    # Records that could not be written as asked (e.g. not a valid conversation); capped list + full count.
    problems = models.JSONField(default=list, blank=True)
    problem_count = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    destination = models.ForeignKey(
        ExportDestination, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    storage_key = models.CharField(max_length=1024, blank=True, default="")
    # Files written next to the data: lineage.jsonl (dataset exports), validation.jsonl (fine-tuning formats).
    lineage_key = models.CharField(max_length=1024, blank=True, default="")
    validation_key = models.CharField(max_length=1024, blank=True, default="")
    # {"valid": N, "invalid": M, "reasons": {rule: count}} for the fine-tuning formats.
    validation = models.JSONField(null=True, blank=True)
    manifest_key = models.CharField(max_length=1024, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    # Set on each claim; only the holder may report progress or publish, so a stale run never overwrites.
    run_token = models.CharField(max_length=32, blank=True, default="")

    schedule = models.ForeignKey(ExportSchedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="exportjob_project_created"),
            models.Index(fields=["status", "heartbeat_at"], name="exportjob_status_heartbeat"),
            models.Index(fields=["schedule", "-created_at"], name="exportjob_schedule_created"),
        ]

    def __str__(self) -> str:
        return f"Export #{self.pk} ({self.source}, {self.format}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def file_name(self) -> str:
        """The download name: `<id>.<ext>` (the key's own name is the job's uuid)."""
        if not self.storage_key:
            return ""
        name = self.storage_key.rsplit("/", 1)[-1]
        return f"{self.pk}.{name.split('.', 1)[1]}" if "." in name else name
