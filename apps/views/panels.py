"""A trace-page panel (apps.core.registry.trace_page_panels): open this trace through a view."""

from __future__ import annotations

from django.urls import reverse

from apps.projects.permissions import can

from .models import TraceView
from .selectors import trace_view_default


def trace_views_panel(*, request, trace, span=None, **_kwargs) -> dict | None:
    if not can(request.user, "project.view", trace.project):
        return None
    views = list(TraceView.objects.filter(project_id=trace.project_id).order_by("name").only("id", "name"))
    can_edit = can(request.user, "trace_view.edit", trace.project)
    if not views and not can_edit:
        return None
    default = trace_view_default(project=trace.project)
    return {
        "title": "Trace views",
        "template": "views/_trace_page_panel.html",
        "context": {
            "links": [
                {
                    "name": v.name,
                    "default": default is not None and v.pk == default.pk,
                    "url": reverse("admin:views_traceview_trace", args=[v.pk, trace.pk]),
                }
                for v in views
            ],
            "new_url": reverse("admin:views_traceview_editor_new") + f"?trace={trace.pk}" if can_edit else "",
        },
    }
