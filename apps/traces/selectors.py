"""Reads of traces and spans, scoped to projects, shared by the API, the admin and other apps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from apps.core.exceptions import ApplicationError, not_found

from .filters import SpanFilter
from .models import Span, Trace

# Columns of a span that are cheap to load for every span of a tree (no input/output/metadata JSON).
SPAN_LIGHT_FIELDS = (
    "id", "project_id", "trace_id", "span_id", "parent_span_id", "name", "type", "start_time", "end_time",
    "duration_ms", "is_error", "model", "input_tokens", "output_tokens", "total_tokens", "cost", "tags",
)


def _project_ids(projects) -> list[int]:
    """Project ids as a list: `project_id = X` (one project) lets PostgreSQL walk the
    `(project, start_time DESC)` index in order instead of sorting a semi-join."""
    if isinstance(projects, QuerySet):
        return list(projects.values_list("pk", flat=True))
    return [p if isinstance(p, int) else p.pk for p in projects]


def traces_visible(*, projects) -> QuerySet[Trace]:
    return Trace.objects.filter(project_id__in=_project_ids(projects))


def spans_visible(*, projects) -> QuerySet[Span]:
    return Span.objects.filter(project_id__in=_project_ids(projects))


def _filtered(filterset_class, data: Mapping[str, Any] | None, queryset: QuerySet) -> QuerySet:
    filterset = filterset_class(data=data or {}, queryset=queryset)
    if not filterset.is_valid():
        raise ApplicationError(
            "Invalid filters.", fields={name: list(messages) for name, messages in filterset.errors.items()}
        )
    return filterset.qs


def span_list(*, projects, filters: Mapping[str, Any] | None = None) -> QuerySet[Span]:
    """Spans of `projects` matching SpanFilter `filters`; ApplicationError (400) naming bad fields."""
    return _filtered(SpanFilter, filters, spans_visible(projects=projects))


def trace_get(*, projects, trace_id: str, project_slug: str | None = None) -> Trace:
    """The trace with this id in one of `projects` (404 exactly as a missing one otherwise).

    A trace id is unique per project; a user of several projects names one with `project_slug`,
    else the newest match wins.
    """
    qs = traces_visible(projects=projects).filter(trace_id=trace_id).select_related("project")
    if project_slug:
        qs = qs.filter(project__slug=project_slug)
    trace = qs.order_by("-id").first()
    if trace is None:
        raise not_found()
    return trace


def span_get(*, projects, span_id: str, project_slug: str | None = None) -> Span:
    qs = spans_visible(projects=projects).filter(span_id=span_id).select_related("project", "trace")
    if project_slug:
        qs = qs.filter(project__slug=project_slug)
    span = qs.order_by("-id").first()
    if span is None:
        raise not_found()
    return span


def trace_spans(*, trace: Trace, light: bool = False) -> list[Span]:
    """Every span of a trace in start order; `light` leaves the JSON columns unloaded."""
    qs = Span.objects.filter(trace=trace).order_by("start_time", "id")
    if light:
        qs = qs.only(*SPAN_LIGHT_FIELDS)
    return list(qs)


@dataclass
class SpanNode:
    span: Span
    depth: int = 0
    children: list[SpanNode] = field(default_factory=list)


def span_tree(spans: Iterable[Span]) -> list[SpanNode]:
    """Spans nested under their parents. A span whose parent has not arrived (yet) is a root."""
    spans = list(spans)
    nodes = {s.span_id: SpanNode(span=s) for s in spans}
    roots: list[SpanNode] = []
    for s in spans:
        node = nodes[s.span_id]
        parent = nodes.get(s.parent_span_id) if s.parent_span_id and s.parent_span_id != s.span_id else None
        (parent.children if parent is not None else roots).append(node)
    seen: set[str] = set()
    for root in roots:
        _walk(root, seen)
    # Spans caught in a parent cycle are never reached from a root: each cycle shows from its first span.
    for s in spans:
        if s.span_id not in seen:
            roots.append(nodes[s.span_id])
            _walk(nodes[s.span_id], seen)
    return roots


def _walk(start: SpanNode, seen: set[str]) -> None:
    """Set depths below `start` iteratively (traces can be deep), cutting edges to already placed spans."""
    seen.add(start.span.span_id)
    stack = [(start, 0)]
    while stack:
        node, depth = stack.pop()
        node.depth = depth
        node.children = [c for c in node.children if c.span.span_id not in seen]
        seen.update(c.span.span_id for c in node.children)
        stack.extend((child, depth + 1) for child in reversed(node.children))


def span_tree_flat(roots: list[SpanNode]) -> list[SpanNode]:
    """Depth-first order of a tree, for rendering as indented rows."""
    out: list[SpanNode] = []
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node.children))
    return out


def trace_root_span(*, trace: Trace, spans: Iterable[Span] | None = None) -> Span | None:
    """The trace's root span: `root_span_id` if set, else the first span without a parent."""
    if spans is not None:
        spans = list(spans)
        if trace.root_span_id:
            for s in spans:
                if s.span_id == trace.root_span_id:
                    return s
        return next((s for s in spans if not s.parent_span_id), spans[0] if spans else None)
    qs = Span.objects.filter(trace=trace)
    if trace.root_span_id:
        found = qs.filter(span_id=trace.root_span_id).first()
        if found is not None:
            return found
    return qs.filter(parent_span_id="").order_by("start_time", "id").first() or qs.order_by("start_time").first()
