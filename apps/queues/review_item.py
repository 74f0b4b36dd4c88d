"""The review page's item as the one-page loop shows it: the trace view, the span tree and the annotation
panel, narrowed to what the reviewer may see (blind queues), rendered for the page or as JSON for a swap."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.db.models import prefetch_related_objects
from django.template.loader import render_to_string
from django.urls import reverse

from apps.core import registry
from apps.core.markdown import render_markdown
from apps.traces.models import Span

from .models import ReviewItem, ReviewQueue

MAX_TREE_SPANS = 300


def item_url(queue: ReviewQueue, item_id: int) -> str:
    return reverse("admin:queues_reviewqueue_review_item", args=[queue.pk, item_id])


def panel_context(
    request,
    queue: ReviewQueue,
    item: ReviewItem,
    *,
    can_submit: bool,
    submitted: bool,
    configs: list | None = None,
    span: Span | None = None,
    visibility=None,
):
    from apps.reviews.panels import annotation_panel_context

    configs = list(queue.score_configs.all()) if configs is None else configs
    ctx = annotation_panel_context(
        request,
        span or item.span,
        configs=configs,
        visibility=visibility,
        # History fetched when opened, tag names once a page: 3 queries less a step.
        lazy_history=True,
        page_tags=True,
    )
    # Reviewing a queue item saves through the queue's submit, which records the submission too.
    ctx["panel_state"] = {
        **ctx["panel_state"],
        "submitUrl": reverse("admin:queues_reviewqueue_review_submit", args=[queue.pk, item.pk]),
        # One Text/JSON choice for the Expected box per queue (kept by review.js).
        "expectedModeKey": f"assay.review.{queue.pk}.expected-mode",
    }
    if not can_submit:
        ctx["can_edit"] = False
        ctx["panel_state"]["canEdit"] = False
    return ctx


def _trace_spans(span: Span, user) -> tuple[list[Span], Any]:
    """The spans of the item's trace in time order (the tree and the trace view read the same list), the
    item's own span object among them, and what `user` may see of their annotations (the blind rule,
    read in the same query). None instead when the item's span is beyond the bound of the list."""
    from apps.reviews.visibility import annotations_visible_in, blinded_flag
    from apps.views.documents import MAX_TRACE_SPANS

    rows = list(
        Span.objects.filter(trace_id=span.trace_id)
        .annotate(_blinded=blinded_flag(user))
        .order_by("start_time", "id")[:MAX_TRACE_SPANS]
    )
    visibility = annotations_visible_in(user, rows) if any(r.pk == span.pk for r in rows) else None
    return [span if r.pk == span.pk else r for r in rows], visibility


def _span_tree(span: Span, spans: list[Span]) -> list[dict[str, Any]]:
    """The trace's spans in tree order with depth (at most MAX_TREE_SPANS)."""
    truncated = len(spans) > MAX_TREE_SPANS
    rows = spans[:MAX_TREE_SPANS]
    ids = {r.span_id for r in rows}
    children: dict[str, list[Span]] = {}
    for r in rows:
        parent = r.parent_span_id if r.parent_span_id in ids else ""
        children.setdefault(parent, []).append(r)
    out: list[dict[str, Any]] = []

    def walk(parent: str, depth: int) -> None:
        for child in children.get(parent, []):
            # A class per depth (capped), not an inline style: the admin's CSP allows no inline styles.
            out.append({"span": child, "depth": depth, "depth_class": min(depth, 8), "current": child.pk == span.pk})
            if child.span_id != parent:
                walk(child.span_id, depth + 1)

    walk("", 0)
    return out + ([{"truncated": True}] if truncated else [])


def _review_body(request, queue, span, spans: list[Span]) -> str:
    """The first review body renderer that answers (trace views, or their default view for the trace's
    shape), else the span's values as the trace page shows them. `spans`: the trace's spans as
    the reviewer may see them (blind queues), read once for the page."""
    for renderer in registry.review_body_renderers:
        rendered = renderer(request=request, queue=queue, trace=span.trace, span=span, seen_spans=spans)
        if rendered:
            return render_to_string(rendered["template"], rendered.get("context") or {}, request=request)
    values = [("Input", span.input), ("Output", span.output)] + (
        [("Expected", span.expected)] if span.expected is not None else []
    )
    return "".join(
        render_to_string("traces/_span_io.html", {"value": value, "label": label}, request=request)
        for label, value in values
    )


def item_context(request, queue: ReviewQueue, item: ReviewItem, state: dict) -> dict[str, Any]:
    from apps.reviews.selectors import spans_as_seen_by
    from apps.reviews.visibility import annotations_visible_to

    # Blind queues: the trace's spans (expected, tags, reviewer metadata) as this reviewer may see them,
    # one visibility decision for the page, its trace view, its tree and its panel.
    spans, visibility = _trace_spans(item.span, request.user)
    if visibility is None:  # the item's span is beyond the bound of a pathological trace
        spans.append(item.span)
        visibility = annotations_visible_to(request.user, [s.pk for s in spans])
    spans = spans_as_seen_by(request.user, spans, visibility=visibility)
    span = next(s for s in spans if s.pk == item.span_id)
    prefetch_related_objects([queue], "score_configs")  # the panel and a view's score controls read them
    return {
        "queue": queue,
        "item": item,
        "span": span,
        "trace": span.trace,
        "instructions_html": render_markdown(queue.instructions),
        "annotation_panel": panel_context(
            request,
            queue,
            item,
            can_submit=state["can_submit"],
            submitted=state["submitted"],
            configs=list(queue.score_configs.all()),
            span=item.span,
            visibility=replace(visibility, blinded=visibility.blinded & {item.span_id}),
        ),
        "review_body_html": _review_body(request, queue, span, spans),
        "span_tree": _span_tree(span, spans),
    }


def item_payload(request, queue: ReviewQueue, item: ReviewItem, state: dict) -> dict[str, Any]:
    """An item as the review page swaps it in: its HTML and what the page needs to show it."""
    html = render_to_string(
        "admin/queues/_review_item.html", item_context(request, queue, item, state), request=request
    )
    return {
        "item_id": item.pk,
        "url": item_url(queue, item.pk),
        "html": html,
        "state": {
            "canSubmit": state["can_submit"],
            "submitted": state["submitted"],
            "reservedByOther": state["reserved_by_other"],
        },
    }
