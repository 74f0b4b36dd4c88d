"""Custom trace views: a declarative spec per project, share links, and which view is the default."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.models import TimeStampedModel
from apps.projects.models import Project


class TraceView(TimeStampedModel):
    """A named, declarative view of a trace: `spec` is validated against `apps.views.schema.SPEC_SCHEMA`."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="trace_views")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    spec = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="uniq_trace_view_name")]

    def __str__(self) -> str:
        return self.name


class ShareLink(TimeStampedModel):
    """One trace through one view, readable without login until `expires_at` or revocation.

    The URL carries a token signed with Django's signing (salted) naming `key`; the row makes links
    revocable and lets the admin list them.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="share_links")
    view = models.ForeignKey(TraceView, on_delete=models.CASCADE, related_name="share_links")
    trace = models.ForeignKey("traces.Trace", on_delete=models.CASCADE, related_name="share_links")
    key = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "-created_at"], name="sharelink_project_created")]

    def __str__(self) -> str:
        return f"{self.view} / {self.trace_id}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class TraceViewDefault(TimeStampedModel):
    """The view the review page opens with: one per project (queue empty) and optionally one per queue."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="trace_view_defaults")
    queue = models.ForeignKey(
        "queues.ReviewQueue",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="trace_view_defaults",
        help_text="Empty: the project's default.",
    )
    view = models.ForeignKey(TraceView, on_delete=models.CASCADE, related_name="defaults")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(queue__isnull=True), name="uniq_trace_view_default_project_only"
            ),
            models.UniqueConstraint(
                fields=["queue"], condition=models.Q(queue__isnull=False), name="uniq_trace_view_default_queue"
            ),
        ]

    def __str__(self) -> str:
        return f"default view of {self.queue or self.project}: {self.view}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.view_id and self.project_id and self.view.project_id != self.project_id:
            raise ValidationError({"view": "Choose a view of this project."})
        if self.queue_id and self.project_id and self.queue.project_id != self.project_id:
            raise ValidationError({"queue": "Choose a queue of this project."})
