"""Reads of the audit log: only project admins (and superusers) read a project's events."""

from __future__ import annotations

from django.db import models
from django.db.models import Q, QuerySet

from apps.core.filters import filterset_errors
from apps.projects.models import Project, ProjectAPIKey
from apps.projects.permissions import projects_where

from .filters import AuditEventFilter
from .models import AuditEvent

AUDIT_ACTION = "audit.read"  # the policy action that reads a project's audit log


def audit_projects_for_user(user) -> QuerySet[Project]:
    return projects_where(user, AUDIT_ACTION)


def audit_events_for_request(request) -> QuerySet[AuditEvent]:
    """Events a request may read: a key's own project, or the projects where the user is admin."""
    events = AuditEvent.objects.select_related("project", "actor_user", "actor_key")
    if isinstance(request.auth, ProjectAPIKey):
        return events.filter(project_id=request.auth.project_id)
    return events.filter(project__in=audit_projects_for_user(request.user))


def audit_events_filtered(queryset: QuerySet[AuditEvent], params) -> QuerySet[AuditEvent]:
    """Apply the declared filters; raises django's ValidationError naming the bad parameter."""
    from django.core.exceptions import ValidationError

    filterset = AuditEventFilter(params, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError(filterset_errors(filterset))
    return filterset.qs


def audit_events_for_object(obj: models.Model) -> QuerySet[AuditEvent]:
    """Events about an object and those filed under it (a queue's item moves, a project's keys)."""
    kind, pk = obj._meta.label_lower, str(obj.pk)
    return AuditEvent.objects.select_related("actor_user", "actor_key").filter(
        Q(object_type=kind, object_id=pk) | Q(parent_type=kind, parent_id=pk)
    )


EXPORT_COLUMNS = [
    "id",
    "created_at",
    "project",
    "actor",
    "actor_user",
    "actor_key",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "parent_type",
    "parent_id",
    "before",
    "after",
]


def audit_event_row(event: AuditEvent) -> dict:
    """One event as the API and the exports show it."""
    return {
        "id": event.pk,
        "created_at": event.created_at.isoformat(),
        "project": event.project.slug,
        "actor": event.actor_label,
        "actor_user": event.actor_user.get_username() if event.actor_user_id and event.actor_user else None,
        "actor_key": event.actor_key.prefix if event.actor_key_id and event.actor_key else None,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "parent_type": event.parent_type,
        "parent_id": event.parent_id,
        "before": event.before,
        "after": event.after,
    }
