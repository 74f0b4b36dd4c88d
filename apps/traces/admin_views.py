"""The admin trace page and span page: read-only, scoped through the ModelAdmin's queryset.

Trace-page panels (`apps.core.registry.trace_page_panels`) are callables
`panel(request=, trace=, span=) -> {"title": str, "template": str, "context": dict} | None`.
Each answer is rendered under the selected span with its `context` keys as template variables
(also available whole as `panel_context`), plus `trace`, `span` and the request context
(`csrf_token`, `user`), so a panel may hold a form that posts to its own view.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse

from apps.core import registry

from . import selectors
from .models import Span, Trace

logger = logging.getLogger(__name__)


def render_trace_page_panels(request, *, trace: Trace, span: Span | None) -> list[dict]:
    """Rendered panels; a panel that fails is logged and shown as failed, never taking the page down."""
    panels = []
    for panel in registry.trace_page_panels:
        try:
            spec = panel(request=request, trace=trace, span=span)
            if not spec:
                continue
            context = dict(spec.get("context") or {})
            html = render_to_string(
                spec["template"],
                {**context, "panel_context": context, "trace": trace, "span": span},
                request=request,
            )
        except Exception:
            if settings.DEBUG:
                raise
            logger.exception("trace page panel %r failed", getattr(panel, "__qualname__", panel))
            panels.append({"title": "", "html": "", "failed": True})
            continue
        panels.append({"title": spec.get("title", ""), "html": html})
    return panels


def _scoped_object(model_admin, request, object_id):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:  # missing or in another project: the same answer
        raise Http404("Not found.")
    return obj


def _as_seen_by(user, span: Span | None, trace: Trace):
    """Blind review queues: the span's annotation columns and the trace's tags as `user` may see them
    (the one rule, apps.reviews.visibility.annotations_visible_to)."""
    try:
        from apps.reviews.selectors import span_as_seen_by, trace_tags_as_seen_by
    except ImportError:  # the traces app on its own
        return span, trace.tags
    return (span_as_seen_by(user, span) if span is not None else None), trace_tags_as_seen_by(user, trace)


def trace_page(model_admin, request, object_id, extra_context=None):
    trace = _scoped_object(model_admin, request, object_id)
    trace = Trace.objects.select_related("project").get(pk=trace.pk)  # every summary column
    light_spans = selectors.trace_spans(trace=trace, light=True)
    tree = selectors.span_tree_flat(selectors.span_tree(light_spans))
    _timeline_bars(tree)

    wanted = request.GET.get("span", "")
    selected_light = next((s for s in light_spans if s.span_id == wanted), None) if wanted else None
    if selected_light is None:
        selected_light = selectors.trace_root_span(trace=trace, spans=light_spans)
    # Only the selected span's JSON is loaded.
    selected = Span.objects.filter(pk=selected_light.pk).first() if selected_light else None
    selected, trace.tags = _as_seen_by(request.user, selected, trace)

    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": trace.name or trace.trace_id,
        "subtitle": None,
        "trace": trace,
        "tree": tree,
        "span": selected,
        "panels": render_trace_page_panels(request, trace=trace, span=selected),
        "api_url": reverse("trace-detail", kwargs={"trace_id": trace.trace_id})
        + "?"
        + urlencode({"project": trace.project.slug}),
        "has_view_permission": True,
        **(extra_context or {}),
    }
    return TemplateResponse(request, "admin/traces/trace/trace_page.html", context)


def _timeline_bars(tree) -> None:
    """Give each node `bar_offset` / `bar_width` (CSS percentages of the trace's span) for the waterfall."""
    starts = [n.span.start_time for n in tree if n.span.start_time]
    ends = [n.span.end_time or n.span.start_time for n in tree if n.span.start_time]
    if not starts:
        return
    t0, t1 = min(starts), max(ends)
    total = max((t1 - t0).total_seconds(), 1e-6)
    for node in tree:
        span = node.span
        if not span.start_time:
            continue
        offset = (span.start_time - t0).total_seconds() / total * 100
        length = ((span.end_time or span.start_time) - span.start_time).total_seconds() / total * 100
        node.bar_offset = f"{min(offset, 99.5):.2f}%"
        node.bar_width = f"{max(min(length, 100 - offset), 0.5):.2f}%"


def span_page(model_admin, request, object_id, extra_context=None):
    span = _scoped_object(model_admin, request, object_id)
    span = Span.objects.select_related("trace", "project").get(pk=span.pk)
    span, span.trace.tags = _as_seen_by(request.user, span, span.trace)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": span.name or span.span_id,
        "subtitle": None,
        "trace": span.trace,
        "span": span,
        "panels": render_trace_page_panels(request, trace=span.trace, span=span),
        "trace_url": reverse("admin:traces_trace_change", args=[span.trace_id])
        + "?"
        + urlencode({"span": span.span_id}),
        "has_view_permission": True,
        **(extra_context or {}),
    }
    return TemplateResponse(request, "admin/traces/span/span_page.html", context)


def trace_by_id(model_admin, request, trace_id):
    """`/admin/traces/trace/by-id/<trace_id>/` → the trace page (links from the API, exports, reviews)."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    trace = model_admin.get_queryset(request).filter(trace_id=trace_id).order_by("-id").first()
    if trace is None:
        raise Http404("Not found.")
    url = reverse("admin:traces_trace_change", args=[trace.pk])
    span = request.GET.get("span")
    return redirect(f"{url}?{urlencode({'span': span})}" if span else url)
