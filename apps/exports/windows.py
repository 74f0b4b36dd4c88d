"""What an incremental run exports: rows changed in [window start, window end).

A span changes when it is written (`Span.updated_at`) and when it is annotated. Annotation writes do
not all touch the span row (a correction sets `Span.expected` with a queryset `update()`, scores,
tags and comments live in their own tables), so the window also takes every span with an
annotation event in it: score events (create, update, delete), tag events (add, remove), reviewer
metadata events, comments and corrections, each by its own indexed `created_at`. A trace changes
when it or any of its spans does.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet


def _range(prefix: str, start: datetime | None, end: datetime | None) -> Q:
    q = Q()
    if start is not None:
        q &= Q(**{f"{prefix}__gte": start})
    if end is not None:
        q &= Q(**{f"{prefix}__lt": end})
    return q


def annotated_span_pks(start: datetime | None, end: datetime | None) -> list[QuerySet]:
    """One `span_id` subquery per annotation table, for the spans annotated in the window."""
    from apps.reviews.models import Comment, Correction, MetadataEvent, ScoreEvent, TagEvent

    return [
        model.objects.filter(_range("created_at", start, end)).values("span_id")
        for model in (ScoreEvent, TagEvent, MetadataEvent, Comment, Correction)
    ]


def changed_in_window(qs: QuerySet, *, source: str, start: datetime | None, end: datetime | None) -> QuerySet:
    if start is None and end is None:
        return qs
    from apps.traces.models import Span

    from .models import ExportSource

    changed = _range("updated_at", start, end)
    for span_pks in annotated_span_pks(start, end):
        if source == ExportSource.TRACES:
            changed |= Q(pk__in=Span.objects.filter(pk__in=span_pks).values("trace_id"))
        else:
            changed |= Q(pk__in=span_pks)
    return qs.filter(changed)
