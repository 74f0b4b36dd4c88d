"""Bodies of the audit admin screens."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import reverse

from apps.projects.models import Project
from apps.projects.permissions import can

from .export import FORMATS, audit_events_download
from .selectors import AUDIT_ACTION, audit_events_for_object

HISTORY_LIMIT = 500


def _object_project(model_admin, obj) -> Project | None:
    if isinstance(obj, Project):
        return obj
    current = obj
    for part in getattr(model_admin, "project_field", "project").split("__"):
        current = getattr(current, part, None)
        if current is None:
            return None
    return current if isinstance(current, Project) else None


def object_history_view(model_admin, request, object_id, extra_context=None):
    """The audit events of one object (and those filed under it), newest first; project admins only."""
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None or not model_admin.has_view_or_change_permission(request, obj):
        raise Http404("Not found.")
    project = _object_project(model_admin, obj)
    if project is None or not can(request.user, AUDIT_ACTION, project):
        raise PermissionDenied
    opts = model_admin.model._meta
    events = list(audit_events_for_object(obj)[:HISTORY_LIMIT])
    query = urlencode({"object_type": opts.label_lower, "object_id": str(obj.pk)})
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"History: {obj}",
        "subtitle": None,
        "object": obj,
        "opts": opts,
        "app_label": opts.app_label,
        "events": events,
        "limited": len(events) == HISTORY_LIMIT,
        "project_log_url": reverse("admin:audit_auditevent_changelist") + "?" + query,
        **(extra_context or {}),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/audit/object_history.html", context)


def audit_export_view(model_admin, request):
    """Download what the changelist's current filters select (the same query string)."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    fmt = request.GET.get("file_format", "csv")
    if fmt not in FORMATS:
        return HttpResponseBadRequest("Unknown format: choose csv or jsonl.")
    get = request.GET.copy()
    get.pop("file_format", None)
    request.GET = get
    changelist = model_admin.get_changelist_instance(request)
    return audit_events_download(changelist.get_queryset(request), fmt)
