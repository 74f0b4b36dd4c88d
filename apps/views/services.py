"""Writes of trace views: create/update with schema validation, defaults, share links."""

from __future__ import annotations

import itertools
import secrets
from datetime import timedelta
from typing import Any

from django.core import signing
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record, audit_record_change, audit_snapshot
from apps.core.exceptions import ApplicationError
from apps.projects.models import Project
from apps.traces.models import Trace

from .models import ShareLink, TraceView, TraceViewDefault
from .schema import spec_errors
from .selectors import SHARE_SALT

SHARE_MIN_HOURS = 1
SHARE_MAX_DAYS = 365
SHARE_DEFAULT_HOURS = 24 * 7
_panel_counter = itertools.count(1)


def spec_validate(*, spec: Any) -> dict:
    errors = spec_errors(spec)
    if errors:
        raise ApplicationError("The view spec is invalid.", fields={"spec": errors})
    return spec


def _name_checked(*, project: Project, name: Any, exclude_pk: int | None = None) -> str:
    if name is not None and not isinstance(name, str):
        raise ApplicationError("Invalid name.", fields={"name": ["A string."]})
    name = (name or "").strip()
    if not name:
        raise ApplicationError("A view needs a name.", fields={"name": ["This field is required."]})
    if len(name) > 200:
        raise ApplicationError("Name too long.", fields={"name": ["At most 200 characters."]})
    clash = TraceView.objects.filter(project=project, name=name)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ApplicationError("A view with this name exists.", fields={"name": ["A view with this name exists."]})
    return name


def _description_checked(description: Any) -> str:
    if description is None:
        return ""
    if not isinstance(description, str) or len(description) > 5000:
        raise ApplicationError("Invalid description.", fields={"description": ["A string of at most 5000 characters."]})
    return description


@transaction.atomic
def trace_view_create(
    *, project: Project, name: str, spec: Any, description: str = "", user=None, actor: Any = None
) -> TraceView:
    name = _name_checked(project=project, name=name)
    description = _description_checked(description)
    spec_validate(spec=spec)
    view = TraceView.objects.create(
        project=project,
        name=name,
        description=description or "",
        spec=spec,
        created_by=user if user and user.is_authenticated else None,
    )
    audit_record(actor=actor or user, action="trace_view.create", obj=view, after=audit_snapshot(view))
    return view


@transaction.atomic
def trace_view_update(
    *, view: TraceView, name: str | None = None, spec: Any = None, description: str | None = None, actor: Any = None
) -> TraceView:
    before = audit_snapshot(view)
    if name is not None:
        view.name = _name_checked(project=view.project, name=name, exclude_pk=view.pk)
    if spec is not None:
        view.spec = spec_validate(spec=spec)
    if description is not None:
        view.description = _description_checked(description)
    view.save()
    audit_record_change(actor=actor, action="trace_view.update", obj=view, before=before)
    return view


@transaction.atomic
def trace_view_delete(*, view: TraceView, actor: Any = None) -> None:
    audit_record(actor=actor, action="trace_view.delete", obj=view, before=audit_snapshot(view))
    view.delete()


@transaction.atomic
def trace_view_default_set(
    *, project: Project, view: TraceView | None, queue=None, actor: Any = None
) -> TraceViewDefault | None:
    """Make `view` the default in review of the project, or of one queue (None clears it)."""
    if view is not None and view.project_id != project.pk:
        raise ApplicationError("Unknown view.", fields={"view": ["Not a view of this project."]}, status=404)
    if queue is not None and queue.project_id != project.pk:
        raise ApplicationError("Unknown queue.", fields={"queue": ["Not a queue of this project."]}, status=404)
    previous = TraceViewDefault.objects.filter(project=project, queue=queue).values_list("view_id", flat=True).first()
    if previous != (view.pk if view else None):
        audit_record(
            actor=actor,
            action="trace_view.default_set",
            project=project,
            obj=view or queue or project,
            before={"queue": getattr(queue, "pk", None), "view": previous},
            after={"queue": getattr(queue, "pk", None), "view": view.pk if view else None},
        )
    if view is None:
        TraceViewDefault.objects.filter(project=project, queue=queue).delete()
        return None
    row, _ = TraceViewDefault.objects.update_or_create(project=project, queue=queue, defaults={"view": view})
    return row


def share_token(link: ShareLink) -> str:
    return signing.dumps({"k": link.key}, salt=SHARE_SALT, compress=False)


@transaction.atomic
def share_link_create(
    *, view: TraceView, trace: Trace, expires_in_hours: Any = SHARE_DEFAULT_HOURS, user=None, actor: Any = None
) -> tuple[ShareLink, str]:
    if trace.project_id != view.project_id:
        raise ApplicationError("Trace not found.", fields={"trace": ["Not a trace of this project."]}, status=404)
    try:
        hours = -1.0 if isinstance(expires_in_hours, bool) else float(expires_in_hours)
    except (TypeError, ValueError, OverflowError):
        hours = -1.0
    if not SHARE_MIN_HOURS <= hours <= SHARE_MAX_DAYS * 24:
        raise ApplicationError(
            "Choose how long the link lives.",
            fields={"expires_in_hours": [f"A number of hours between {SHARE_MIN_HOURS} and {SHARE_MAX_DAYS * 24}."]},
        )
    link = ShareLink.objects.create(
        project=view.project,
        view=view,
        trace=trace,
        key=secrets.token_urlsafe(24),
        expires_at=timezone.now() + timedelta(hours=hours),
        created_by=user if user and user.is_authenticated else None,
    )
    audit_record(actor=actor or user, action="share_link.create", obj=link, parent=view, after=audit_snapshot(link))
    return link, share_token(link)


@transaction.atomic
def share_link_revoke(*, link: ShareLink, actor: Any = None) -> ShareLink:
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at", "updated_at"])
        audit_record(
            actor=actor,
            action="share_link.revoke",
            obj=link,
            parent=link.view,
            before={"revoked_at": None},
            after={"revoked_at": link.revoked_at.isoformat()},
        )
    return link


def score_controls_context(*, request, span_pk: int, config_names: list[str]) -> dict | None:
    """The review panel's controls (apps.reviews) for these configs on this span, or None without the span."""
    from apps.reviews.models import ScoreConfig
    from apps.reviews.panels import annotation_panel_context
    from apps.traces.models import Span

    span = Span.objects.select_related("trace", "project").filter(pk=span_pk).first()
    if span is None:
        return None
    by_name = {c.name: c for c in ScoreConfig.objects.filter(project_id=span.project_id, name__in=config_names)}
    configs = [by_name[n] for n in config_names if n in by_name]
    context = annotation_panel_context(request, span, configs=configs)
    # The review page may show the full panel of the same span: make this one's DOM ids its own.
    suffix = f"-tv{next(_panel_counter)}"
    context["panel_id"] += suffix
    context["state_id"] += suffix
    for control in context.get("controls", []):
        control["dom_id"] += suffix
    for config in context.get("panel_state", {}).get("configs", []):
        config["domId"] += suffix
    return {"context": context, "missing": [n for n in config_names if n not in by_name]}
