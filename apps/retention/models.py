"""Retention: per project, how long traces are kept (by age and/or count), and a log of every run.

What a dataset, a review queue, gold, an experiment or feedback references is pinned and stays with its
whole trace (`apps.retention.selectors`); everything else past the policy goes in bounded batches
(`apps.retention.deletion`).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from apps.projects.models import Project


class RetentionPolicy(models.Model):
    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="retention_policy")
    max_age_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Traces that started more than this many days ago go. Empty: no age limit."
    )
    max_traces = models.PositiveIntegerField(
        null=True, blank=True, help_text="Only the newest this many traces are kept. Empty: no count limit."
    )
    is_active = models.BooleanField(default=True, help_text="Run by beat; an inactive policy only runs by hand.")
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "retention policy"
        verbose_name_plural = "retention policies"
        ordering = ["project__slug"]

    def __str__(self) -> str:
        parts = []
        if self.max_age_days is not None:
            parts.append(f"{self.max_age_days} days")
        if self.max_traces is not None:
            parts.append(f"{self.max_traces} traces")
        return f"{self.project}: {' / '.join(parts) or 'keep everything'}"

    def clean(self) -> None:
        if self.max_age_days is None and self.max_traces is None:
            raise ValidationError("Set a maximum age, a maximum number of traces, or both.")
        if self.max_age_days == 0:
            raise ValidationError({"max_age_days": "At least one day."})


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class RetentionRun(models.Model):
    """One run of a policy: what it deleted, what it kept because it is pinned, and how it ended."""

    policy = models.ForeignKey(RetentionPolicy, on_delete=models.CASCADE, related_name="runs")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # What the policy selected (past the age or the count), before pinning.
    cutoff = models.DateTimeField(null=True, blank=True, help_text="Traces started before this were past the age.")
    traces_expired = models.PositiveIntegerField(default=0)
    traces_deleted = models.PositiveIntegerField(default=0)
    spans_deleted = models.PositiveIntegerField(default=0)
    kept_pinned = models.PositiveIntegerField(default=0, help_text="Expired traces kept because they are pinned.")
    # {reason: traces}; a trace pinned for two reasons counts under both.
    pinned_by_reason = models.JSONField(default=dict, blank=True)
    batches = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    # Why this run is in the log when no one started it (a month dropped whole by another project's run).
    note = models.CharField(max_length=300, blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["project", "-started_at"], name="retentionrun_project_started")]
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        kind = "dry run" if self.dry_run else "run"
        return f"{kind} {self.pk} of {self.project}"
