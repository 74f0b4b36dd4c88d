"""AuditEvent: who changed what and when. Append-only: rows are inserted, never updated or deleted
(deleting a whole project removes its log with it)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.projects.models import Project, ProjectAPIKey


class AppendOnlyError(Exception):
    """An audit event was about to be changed or deleted."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit events are append-only: they cannot be updated.")

    def delete(self):
        raise AppendOnlyError("Audit events are append-only: they cannot be deleted.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError("Audit events are append-only: they cannot be updated.")

    def update_or_create(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only: they cannot be updated.")

    delete.queryset_only = True  # as Django's own QuerySet.delete: not copied onto the manager


class AuditEvent(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="audit_events")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_key = models.ForeignKey(ProjectAPIKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Who it was, kept when the user or key is gone: a username, "key <prefix>", or "system".
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)  # "<app_label>.<model_name>", e.g. "reviews.scoreconfig"
    object_id = models.CharField(max_length=200)  # API keys have string ids of up to 150 characters
    object_repr = models.CharField(max_length=200, blank=True)
    # The object the event belongs under in the admin (a review item's queue, a key's project).
    parent_type = models.CharField(max_length=64, blank=True)
    parent_id = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["project", "-id"], name="audit_project_id"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["parent_type", "parent_id"], name="audit_parent"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None or kwargs.get("force_update"):
            raise AppendOnlyError("Audit events are append-only: they cannot be updated.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only: they cannot be deleted.")
