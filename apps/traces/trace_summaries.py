"""Trace summaries (span count, times, errors, token and cost totals, name, previews, user, session,
tags), recomputed from the spans in one statement for any number of traces."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.core.json_preview import json_preview

from .models import Span, Trace
from .selectors import trace_root_span_pk
from .sql import chunks, is_postgres, plan_index_lookups

PREVIEW_CHARS = 200


def trace_summaries_refresh(*, trace_pks: Iterable[int]) -> None:
    """Recompute the summaries of these traces from their spans (any order of arrival, any batches)."""
    pks = sorted(set(trace_pks))
    if not pks:
        return
    with transaction.atomic():
        if is_postgres():
            plan_index_lookups()
            # Lock in the order ingest does (project, trace_id) so a refresh never deadlocks with it.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM traces_trace WHERE id = ANY(%s) ORDER BY project_id, trace_id FOR UPDATE",
                    [pks],
                )
        trace_summaries_update(trace_pks=pks)


def _roots(trace_pks: list[int]) -> list[tuple[int, int, Any, Any]]:
    """(trace pk, root span pk, input, output), the root by `selectors.root_span_order`: one index
    lookup a trace for the root's pk, then the roots by pk."""
    found: list[tuple[int, int, Any, Any]] = []
    for chunk in chunks(trace_pks):
        root_pks = Trace.objects.filter(pk__in=chunk).values_list(trace_root_span_pk(), flat=True)
        found.extend(
            Span.objects.filter(pk__in=[pk for pk in root_pks if pk is not None]).values_list(
                "trace_id", "pk", "input", "output"
            )
        )
    return found


def _trace_preview_text(value: Any) -> str:
    if value is None:
        return ""
    return json_preview(value, PREVIEW_CHARS)


def trace_summaries_update(*, trace_pks: list[int]) -> None:
    """Recompute the summaries of these (locked) traces from their spans, in one statement."""
    if not trace_pks:
        return
    roots = [
        (trace_pk, root_pk, _trace_preview_text(i), _trace_preview_text(o))
        for trace_pk, root_pk, i, o in _roots(trace_pks)
    ]
    if not roots:
        return
    with connection.cursor() as cursor:
        if is_postgres():
            cursor.execute(
                _SUMMARIES_POSTGRES,
                [timezone.now(), *([r[i] for r in roots] for i in range(4))],
            )
            return
        stamp = connection.ops.adapt_datetimefield_value(timezone.now())
        cursor.executemany(
            _SUMMARIES_SQLITE,
            [
                (input_preview, output_preview, stamp, trace_pk, root_pk)
                for trace_pk, root_pk, input_preview, output_preview in roots
            ],
        )


_SUMMARIES_POSTGRES = """
UPDATE traces_trace t SET
    span_count = a.span_count, start_time = a.start_time, end_time = a.end_time,
    duration_ms = EXTRACT(EPOCH FROM (a.end_time - a.start_time)) * 1000,
    has_error = a.has_error, input_tokens = a.input_tokens, output_tokens = a.output_tokens,
    total_tokens = a.total_tokens, total_cost = a.total_cost,
    name = r.name, root_span_id = r.span_id,
    input_preview = p.input_preview, output_preview = p.output_preview,
    user_id = LEFT(COALESCE(r.metadata->>'user_id', r.metadata->>'user.id', a.user_id, ''), 255),
    session_id = LEFT(COALESCE(r.metadata->>'session_id', r.metadata->>'session.id',
                               a.session_id, ''), 255),
    tags = g.tags,
    updated_at = %s
FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[])
    AS p(trace_pk, root_pk, input_preview, output_preview)
-- Per-trace aggregates (an index lookup each, so stale statistics never pick a scan).
CROSS JOIN LATERAL (
    SELECT count(*) AS span_count, min(s.start_time) AS start_time,
        max(COALESCE(s.end_time, s.start_time)) AS end_time, bool_or(s.is_error) AS has_error,
        sum(s.input_tokens) AS input_tokens, sum(s.output_tokens) AS output_tokens,
        sum(s.total_tokens) AS total_tokens, sum(s.cost) AS total_cost,
        max(COALESCE(s.metadata->>'user_id', s.metadata->>'user.id')) AS user_id,
        max(COALESCE(s.metadata->>'session_id', s.metadata->>'session.id')) AS session_id
    FROM traces_span s WHERE s.trace_id = p.trace_pk
) a
CROSS JOIN LATERAL (
    SELECT COALESCE(jsonb_agg(DISTINCT x.tag ORDER BY x.tag), '[]'::jsonb) AS tags
    FROM traces_span s CROSS JOIN LATERAL jsonb_array_elements_text(s.tags) AS x(tag)
    WHERE s.trace_id = p.trace_pk AND s.tags <> '[]'::jsonb
) g
JOIN traces_span r ON r.id = p.root_pk
WHERE t.id = p.trace_pk AND a.span_count > 0
"""

_SUMMARIES_SQLITE = """
UPDATE traces_trace SET
    span_count = a.span_count, start_time = a.start_time, end_time = a.end_time,
    duration_ms = ROUND((julianday(a.end_time) - julianday(a.start_time)) * 86400000.0, 3),
    has_error = a.has_error, input_tokens = a.input_tokens, output_tokens = a.output_tokens,
    total_tokens = a.total_tokens, total_cost = a.total_cost,
    name = r.name, root_span_id = r.span_id, input_preview = %s, output_preview = %s,
    user_id = substr(COALESCE(json_extract(r.metadata, '$.user_id'),
                              json_extract(r.metadata, '$."user.id"'), a.user_id, ''), 1, 255),
    session_id = substr(COALESCE(json_extract(r.metadata, '$.session_id'),
                                 json_extract(r.metadata, '$."session.id"'), a.session_id, ''), 1, 255),
    tags = (SELECT json_group_array(tag) FROM (
        SELECT DISTINCT j.value AS tag FROM traces_span s2, json_each(s2.tags) j
        WHERE s2.trace_id = traces_trace.id ORDER BY 1)),
    updated_at = %s
FROM (
    SELECT s.trace_id, count(*) AS span_count, min(s.start_time) AS start_time,
        max(COALESCE(s.end_time, s.start_time)) AS end_time, max(s.is_error) AS has_error,
        sum(s.input_tokens) AS input_tokens, sum(s.output_tokens) AS output_tokens,
        sum(s.total_tokens) AS total_tokens, sum(s.cost) AS total_cost,
        max(COALESCE(json_extract(s.metadata, '$.user_id'), json_extract(s.metadata, '$."user.id"')))
            AS user_id,
        max(COALESCE(json_extract(s.metadata, '$.session_id'),
                     json_extract(s.metadata, '$."session.id"'))) AS session_id
    FROM traces_span s WHERE s.trace_id = %s GROUP BY s.trace_id
) a, traces_span r
WHERE traces_trace.id = a.trace_id AND r.id = %s
"""
