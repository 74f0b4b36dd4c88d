"""The review page renders the trace through a view: `?view=<id>`, else the queue's or project's default,
else the default view built for the trace's shape (apps.views.default_view.default_spec)."""

from __future__ import annotations

from apps.core.parsing import is_id
from apps.traces.models import Span

from .default_view import default_spec
from .documents import MAX_TRACE_SPANS
from .models import TraceView
from .renderer import render_html, render_tree
from .selectors import trace_view_default

AUTO = "auto"  # the view choice "the default view for this trace" (also what the old "raw" meant)


def _remembered_key(queue, trace) -> str:
    return f"views.review_view.{queue.pk if queue is not None else 'p' + str(trace.project_id)}"


def review_view_for(*, request, queue, trace) -> tuple[TraceView | None, list[TraceView]]:
    """`?view=<id>|auto`, remembered for the queue in the session so the next items keep it."""
    views = list(TraceView.objects.filter(project_id=trace.project_id).order_by("name"))
    chosen = None
    wanted = request.GET.get("view") if request is not None else None
    session = getattr(request, "session", None)
    if wanted == "raw":
        wanted = AUTO
    if session is not None:
        key = _remembered_key(queue, trace)
        if wanted == AUTO or (wanted and is_id(wanted)):
            session[key] = wanted
        elif wanted is None:
            wanted = session.get(key)
    if wanted == "raw":
        wanted = AUTO
    if wanted and is_id(wanted):
        chosen = next((v for v in views if v.pk == int(wanted)), None)
    if chosen is None and wanted != AUTO and views:
        chosen = trace_view_default(project=trace.project, queue=queue)
    return chosen, views


def review_body(*, request, queue=None, trace=None, span=None, seen_spans=None, **_kwargs) -> dict | None:
    """A registry.review_body_renderers callable: the chosen (or default) view, else the default view
    that fits the trace. `seen_spans`: the trace's spans already narrowed to what the reviewer may see
    (the review page reads them once for its tree too)."""
    if trace is None:
        return None
    view, views = review_view_for(request=request, queue=queue, trace=trace)
    if seen_spans is not None:
        spans, viewer = seen_spans, None
    else:
        spans = list(Span.objects.filter(trace=trace).order_by("start_time", "id")[:MAX_TRACE_SPANS])
        viewer = request.user
    spec = view.spec if view is not None else default_spec(trace, spans=spans, focus=span)
    body = render_html(
        render_tree(spec, trace, spans=spans, focus=span, viewer=viewer),
        request=request,
        interactive=True,
        review=review_state(request=request, queue=queue, span=span),
    )
    return {
        "template": "views/review_body.html",
        "context": {"view": view, "views": views, "body": body, "queue": queue, "trace": trace, "span": span},
    }


def review_state(*, request, queue, span) -> dict | None:
    """What a view's inline score controls may show on the review page: only the queue's own configs, as
    pointers to the page's one panel (which saves through the queue's submit)."""
    if queue is None or span is None or request is None:
        return None
    return {"span_pk": span.pk, "queue_configs": [c.name for c in queue.score_configs.all()]}
