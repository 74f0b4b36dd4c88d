"""Recording audit events. Services call `audit_record` inside their own transaction, so an event is
stored exactly when the change it describes is; nothing here reads the request from a thread-local."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import models

from apps.exports.models import SCHEDULE_FIELDS
from apps.projects.models import Project, ProjectAPIKey
from apps.queues.models import QUEUE_FIELDS
from apps.reviews.models import CONFIG_FIELDS

from .models import AuditEvent

TEXT_LIMIT = 500  # characters of a text value kept in a before/after summary
JSON_LIMIT = 2000  # characters of a serialized JSON value kept in a summary

# The fields an event's before/after summary keeps, per model: what a person configures, never trace
# content or secrets (a share link's key, an API key's hash).
AUDIT_FIELDS: dict[str, list[str]] = {
    "projects.project": ["slug", "name", "description", "allowed_origins"],
    "projects.membership": ["user", "role"],
    "projects.projectapikey": ["name", "prefix", "scopes", "revoked", "expiry_date"],
    "reviews.scoreconfig": [*CONFIG_FIELDS, "is_archived"],
    "queues.reviewqueue": [*QUEUE_FIELDS, "score_configs", "assignees"],
    "queues.reviewitem": ["queue", "span", "status", "assignee", "is_gold_question"],
    "retention.retentionpolicy": ["max_age_days", "max_traces", "is_active"],
    "datasets.dataset": ["name", "description", "latest_version"],
    "datasets.datasetversiontag": ["name", "version"],
    "views.traceview": ["name", "description", "spec"],
    "views.sharelink": ["view", "trace", "expires_at", "revoked_at"],
    "views.traceviewdefault": ["queue", "view"],
    "exports.exportjob": [
        "source",
        "filters",
        "dataset",
        "dataset_version",
        "dataset_tag",
        "dataset_split",
        "format",
        "gzip",
        "status",
        "schedule",
        "destination",
    ],
    "exports.exportschedule": list(SCHEDULE_FIELDS),
}


def audit_actor(request) -> Any:
    """The actor of a request: its project API key, else its signed-in user, else None."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ProjectAPIKey):
        return auth
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def _short(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, str):
        return value if len(value) <= TEXT_LIMIT else value[:TEXT_LIMIT] + "…"
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        return _short(str(value))
    if len(text) <= JSON_LIMIT:
        return json.loads(text)
    return {"truncated": text[:JSON_LIMIT] + "…"}


def audit_snapshot(obj: models.Model | None, fields: Iterable[str] | None = None) -> dict[str, Any] | None:
    """The named fields (default: AUDIT_FIELDS of its model) of an object as a small JSON-safe dict
    (foreign keys as ids, many-to-many as sorted id lists, long text cut), for an event's before/after."""
    if obj is None:
        return None
    if fields is None:
        fields = AUDIT_FIELDS[obj._meta.label_lower]
    snapshot: dict[str, Any] = {}
    for name in fields:
        field = obj._meta.get_field(name)
        if field.many_to_many:
            snapshot[name] = sorted(getattr(obj, name).values_list("pk", flat=True)) if obj.pk else []
        elif field.is_relation:
            snapshot[name] = getattr(obj, field.attname)
        else:
            snapshot[name] = _short(getattr(obj, name))
    return snapshot


def audit_diff(before: dict | None, after: dict | None) -> tuple[dict | None, dict | None]:
    """Only the keys whose values differ, so an update's summary names just what changed."""
    if before is None or after is None:
        return before, after
    keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def _actor_fields(actor: Any) -> dict[str, Any]:
    if hasattr(actor, "META"):
        actor = audit_actor(actor)  # a request
    if isinstance(actor, ProjectAPIKey):
        return {"actor_key": actor, "actor_label": f"key {actor.prefix} ({actor.name})"[:200]}
    if actor is not None and getattr(actor, "is_authenticated", False):
        return {"actor_user": actor, "actor_label": actor.get_username()[:200]}
    return {"actor_label": "system"}


def _ref(obj: models.Model) -> tuple[str, str]:
    return obj._meta.label_lower, str(obj.pk)


def _project_id(project: Project | int | None, obj: models.Model | None) -> int:
    if project is not None:
        return project if isinstance(project, int) else project.pk
    if isinstance(obj, Project):
        return obj.pk
    if hasattr(obj, "project_id"):
        return obj.project_id
    for owner in ("queue", "dataset", "view"):  # review items, dataset tags, share-link children
        if hasattr(obj, f"{owner}_id"):
            return getattr(obj, owner).project_id
    raise ValueError(f"Name the project of {obj._meta.label_lower} events.")


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: Any = "",
    object_repr: str | None = None,
    parent: models.Model | None = None,
    before: dict | None = None,
    after: dict | None = None,
    project: Project | int | None = None,
) -> AuditEvent:
    """Append one event to `project` (default: the object's project). `actor` is a user, a ProjectAPIKey, a request, or None for the system.

    The object is `obj`, or `object_type`/`object_id` for one that is already gone or is not a model
    (adjudications and other later features record through this same function).
    """
    if obj is not None:
        object_type, object_id = _ref(obj)
        if object_repr is None:
            object_repr = str(obj)
    parent_type, parent_id = _ref(parent) if parent is not None else ("", "")
    return AuditEvent.objects.create(
        project_id=_project_id(project, obj),
        action=action[:64],
        object_type=object_type[:64],
        object_id=str(object_id)[:200],
        object_repr=(object_repr or "")[:200],
        parent_type=parent_type,
        parent_id=parent_id,
        before=before,
        after=after,
        **_actor_fields(actor),
    )


def audit_record_change(
    *,
    actor: Any,
    action: str,
    obj: models.Model,
    before: dict | None,
    fields: Iterable[str] | None = None,
    parent: models.Model | None = None,
    project: Project | int | None = None,
) -> AuditEvent | None:
    """Record an update from `audit_snapshot` taken before it; nothing is recorded when nothing changed."""
    before, after = audit_diff(before, audit_snapshot(obj, fields))
    if before == {} and after == {}:
        return None
    return audit_record(project=project, actor=actor, action=action, obj=obj, parent=parent, before=before, after=after)


def adjudication_record(
    *,
    project: Project | int | None = None,
    actor: Any,
    item: models.Model,
    config: models.Model | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """For the adjudication feature when it exists: an adjudicated value set on a review item."""
    return audit_record(
        project=project,
        actor=actor,
        action="adjudication.set",
        obj=item,
        parent=config,
        before=before,
        after=after,
    )
