from django.conf import settings
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey

from apps.core.models import TimeStampedModel


class Project(TimeStampedModel):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Browser origins allowed to call the feedback endpoint and to embed share links.
    allowed_origins = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name or self.slug


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    REVIEWER = "reviewer", "Reviewer"
    CURATOR = "curator", "Curator"
    ADMIN = "admin", "Admin"


ROLE_RANK = {Role.VIEWER: 0, Role.REVIEWER: 1, Role.CURATOR: 2, Role.ADMIN: 3}


class Membership(TimeStampedModel):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class Scope(models.TextChoices):
    INGEST = "ingest", "Ingest"
    READ = "read", "Read"
    WRITE = "write", "Write"
    FEEDBACK = "feedback", "Feedback (safe to publish in a browser)"
    ADMIN = "admin", "Admin (members and roles)"


class ProjectAPIKey(AbstractAPIKey):
    """A hashed, prefixed key (djangorestframework-api-key) bound to one project with scopes."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])
