"""The review page renders the trace through a view: `?view=<id>`, else the queue's or project's default."""

from __future__ import annotations

from .models import TraceView
from .renderer import render_html, render_tree
from .selectors import trace_view_default


def _remembered_key(queue, trace) -> str:
    return f"views.review_view.{queue.pk if queue is not None else 'p' + str(trace.project_id)}"


def review_view_for(*, request, queue, trace) -> tuple[TraceView | None, list[TraceView]]:
    """`?view=<id>|raw`, remembered for the queue in the session so the next items keep it."""
    views = list(TraceView.objects.filter(project_id=trace.project_id).order_by("name"))
    chosen = None
    wanted = request.GET.get("view") if request is not None else None
    session = getattr(request, "session", None)
    if session is not None:
        key = _remembered_key(queue, trace)
        if wanted == "raw" or (wanted and wanted.isdigit()):
            session[key] = wanted
        elif wanted is None:
            wanted = session.get(key)
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
        body = render_html(render_tree(view.spec, trace, focus=span, viewer=request.user), request=request, interactive=True,
                           review=review_state(request=request, queue=queue, span=span))
    return {
        "template": "views/review_body.html",
        "context": {"view": view, "views": views, "body": body, "queue": queue, "trace": trace, "span": span},
    }


def review_state(*, request, queue, span) -> dict | None:
    """What the review page allows for its item, so inline score controls follow the same rules as the
    page's own panel: read-only when the item is closed or reserved by someone else, other reviewers'
    scores hidden in a blind queue, and saving through the queue's submit (which records the review)."""
    if queue is None or span is None or request is None:
        return None
    from django.urls import reverse
    from django.utils import timezone

    from apps.queues.models import ItemStatus, ReviewItem
    from apps.queues.services import user_item_state

    item = ReviewItem.objects.filter(queue=queue, span=span).first()
    if item is None:
        return None
    state = user_item_state(item=item, user=request.user)
    reserved_by_other = (item.reserved_by_id not in (None, request.user.pk) and item.reserved_until is not None
                         and item.reserved_until > timezone.now())
    return {
        "span_pk": span.pk,
        "can_edit": state["submitted"] or (item.status != ItemStatus.COMPLETE and not reserved_by_other),
        "submit_url": reverse("admin:queues_reviewqueue_review_submit", args=[queue.pk, item.pk]),
    }
