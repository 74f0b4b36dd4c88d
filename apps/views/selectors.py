"""Reads of trace views: scoped querysets, share-link resolution, the default view of a review."""

from __future__ import annotations

from django.core import signing
from django.db.models import Q
from django.utils import timezone

from apps.core.parsing import is_id
from apps.traces.models import Trace

from .models import ShareLink, TraceView, TraceViewDefault

SHARE_SALT = "assay.views.share"


def trace_for_projects(projects, trace_ref) -> Trace | None:
    """A trace by primary key or by its `trace_id`, within `projects`."""
    traces = Trace.objects.filter(project__in=projects)
    ref = str(trace_ref or "").strip()
    if not ref:
        return None
    if is_id(ref):
        found = traces.filter(pk=int(ref)).first()
        if found:
            return found
    return traces.filter(trace_id=ref).order_by("pk").first()


def share_link_for_token(token: str) -> ShareLink | None:
    """The active link a token names: a bad signature, an expired or a revoked link all answer None."""
    try:
        payload = signing.loads(token, salt=SHARE_SALT)
    except signing.BadSignature:
        return None
    key = payload.get("k") if isinstance(payload, dict) else None
    if not isinstance(key, str):
        return None
    link = ShareLink.objects.select_related("view", "trace", "project").filter(key=key).first()
    if link is None or link.revoked_at is not None or link.expires_at <= timezone.now():
        return None
    return link


def trace_view_default(*, project, queue=None) -> TraceView | None:
    """The queue's default view, else the project's."""
    rows = TraceViewDefault.objects.select_related("view").filter(project=project)
    rows = rows.filter(Q(queue__isnull=True) | Q(queue=queue)) if queue is not None else rows.filter(queue__isnull=True)
    by_queue = {row.queue_id: row.view for row in rows}
    return by_queue.get(queue.pk if queue is not None else None) or by_queue.get(None)
