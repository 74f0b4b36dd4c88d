"""Reads of traces and spans, scoped to projects, shared by the API, the admin and other apps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db.models import Case, F, OuterRef, Q, QuerySet, Subquery, Value, When

from apps.core.exceptions import ApplicationError, not_found
from apps.core.filters import filterset_errors

from .columns import SPAN_LIGHT_FIELDS
from .filters import SpanFilter
from .models import Span, Trace


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
        raise ApplicationError("Invalid filters.", fields=filterset_errors(filterset))
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
    return _newest_in(qs, project_slug)


def span_get(*, projects, span_id: str, project_slug: str | None = None) -> Span:
    qs = spans_visible(projects=projects).filter(span_id=span_id).select_related("project", "trace")
    return _newest_in(qs, project_slug)


def _newest_in(qs: QuerySet, project_slug: str | None):
    """The newest row of `qs` (in the project named by `project_slug`, if any); a 404 when there is none."""
    if project_slug:
        qs = qs.filter(project__slug=project_slug)
    found = qs.order_by("-id").first()
    if found is None:
        raise not_found()
    return found


def trace_spans(*, trace: Trace, light: bool = False) -> list[Span]:
    """Every span of a trace in start order; `light` leaves the JSON columns unloaded."""
    return list(trace_spans_query(trace=trace, light=light))


def trace_spans_query(*, trace: Trace, light: bool = False) -> QuerySet[Span]:
    """The query of `trace_spans`.

    The trace's summary (min start, max end or start, kept by ingest) bounds its spans' start times:
    on PostgreSQL the query then reads only the months the trace spans and the default partition."""
    qs = Span.objects.filter(trace=trace).order_by("start_time", "id")
    if trace.start_time is not None and trace.end_time is not None:
        qs = qs.filter(Q(start_time__isnull=True) | Q(start_time__range=(trace.start_time, trace.end_time)))
    if light:
        qs = qs.only(*SPAN_LIGHT_FIELDS)
    return qs


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


def root_span_order() -> tuple:
    """The rule for a trace's root span, the one `Trace.root_span_id` is computed with: a span
    without a parent first, then the earliest start (unknown starts last), then the first stored. A
    trace whose root has not arrived yet so has its earliest span as root until the root comes."""
    return (
        Case(When(parent_span_id="", then=Value(0)), default=Value(1)),
        F("start_time").asc(nulls_last=True),
        F("pk").asc(),
    )


def _root_rank(span: Span) -> tuple:
    """`root_span_order` for spans already loaded (the smallest is the root)."""
    return (
        1 if span.parent_span_id else 0,
        span.start_time is None,
        span.start_time or datetime.min.replace(tzinfo=UTC),
        span.pk,
    )


def trace_root_span_pk(trace: Any = None) -> Subquery:
    """The root span's pk of the trace `trace` names (default: the outer query's row, a Trace)."""
    return Subquery(
        Span.objects.filter(trace_id=OuterRef("pk") if trace is None else trace)
        .order_by(*root_span_order())
        .values("pk")[:1]
    )


def root_spans_of(traces: QuerySet[Trace]) -> QuerySet[Span]:
    """The root span of each of these traces (one span a trace that has any)."""
    return Span.objects.filter(pk__in=traces.order_by().annotate(root_pk=trace_root_span_pk()).values("root_pk"))


def trace_root_span(*, trace: Trace, spans: Iterable[Span] | None = None) -> Span | None:
    """The trace's root span (`root_span_order`), among `spans` when they are already loaded."""
    if spans is not None:
        return min(spans, key=_root_rank, default=None)
    root = Span.objects.filter(trace=trace).order_by(*root_span_order()).first()
    if root is not None:
        root.trace = trace  # callers read span.trace; no second query
    return root
