"""The review page renders the trace through a view: `?view=<id>`, else the queue's or project's default."""

from __future__ import annotations

from .models import TraceView
from .renderer import render_html, render_tree
from .selectors import trace_view_default


def review_view_for(*, request, queue, trace) -> tuple[TraceView | None, list[TraceView]]:
    views = list(TraceView.objects.filter(project_id=trace.project_id).order_by("name"))
    chosen = None
    wanted = request.GET.get("view") if request is not None else None
    if wanted and str(wanted).isdigit():
        chosen = next((v for v in views if v.pk == int(wanted)), None)
    if chosen is None and wanted != "raw":
        chosen = trace_view_default(project=trace.project, queue=queue)
    return chosen, views


def review_body(*, request, queue=None, trace=None, span=None, **_kwargs) -> dict | None:
    """A registry.review_body_renderers callable. None (the page's own body) when no view applies."""
    if trace is None:
        return None
    view, views = review_view_for(request=request, queue=queue, trace=trace)
    if view is None and not views:
        return None
    body = None
    if view is not None:
        body = render_html(render_tree(view.spec, trace, focus=span), request=request, interactive=True)
    return {
        "template": "views/review_body.html",
        "context": {"view": view, "views": views, "body": body, "queue": queue, "trace": trace, "span": span,
                    "base_query": _query_without_view(request)},
    }


def _query_without_view(request) -> str:
    if request is None:
        return ""
    params = request.GET.copy()
    params.pop("view", None)
    return params.urlencode()
