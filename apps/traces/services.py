"""Span ingest and trace summaries.

`span_batch_ingest` is the one write path for REST ingest, OTLP and anything else that records
spans. It is set-based: one statement upserts the batch's traces, one upserts its spans (on
PostgreSQL through `COPY` into a temporary staging table), a few more write tags, and one
statement recomputes the touched traces' summaries.

Locking: every batch takes its row locks in the same order — traces by trace_id, then spans by
span_id, then tags by name — so any number of clients sending overlapping batches at once queue
behind each other instead of deadlocking. The trace upsert locks the touched traces first, which
also makes the summary refresh race-free.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

import orjson
from django.db import connection, transaction
from django.utils import timezone
from psycopg import errors as psycopg_errors

from apps.core import registry
from apps.core.json_preview import json_preview
from apps.projects.models import Project

from .columns import (
    INSERT_COLUMNS,
    ITEM_COLUMNS,
    SET_ON_WRITE,
    STAGE_COLUMNS,
    TIME_COLUMNS,
    span_stage_ddl,
    span_upsert_set,
)
from .ingest import CleanSpan, span_item_clean
from .models import Span, Tag, Trace
from .selectors import trace_root_span_pk

MISMATCHED_TRACE = "This span_id was ingested before under another trace_id."
PREVIEW_CHARS = 200
TAG_COLOUR = Tag._meta.get_field("colour").default

# Item values in ITEM_COLUMNS order, from a CleanSpan (whose field order may differ).
_item_values = itemgetter(*(CleanSpan._fields.index(c) for c in ITEM_COLUMNS))
_TIMES_AT = tuple(ITEM_COLUMNS.index(c) for c in TIME_COLUMNS)
_TAGS_AT = ITEM_COLUMNS.index("tags")
_INSERT_COLUMNS = ", ".join(INSERT_COLUMNS)


@dataclass
class IngestResult:
    accepted: int = 0
    rejected: list[dict] = field(default_factory=list)  # [{"index": i, "fields": {"field": ["message"]}}]
    trace_pks: list[int] = field(default_factory=list)


def _tags_json(tags: list[str]) -> str:
    return orjson.dumps(tags).decode() if tags else "[]"


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _chunks(values: list, size: int = 500) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def span_batch_ingest(*, project: Project, items: list[Any]) -> IngestResult:
    """Validate, then upsert a batch of span items into `project`; good items are kept, bad ones listed.

    Upsert is by (project, span_id): sending a batch twice, or from many clients at once, never
    duplicates a span or a trace. Children may arrive before their parents, in any batch.
    """
    result = IngestResult()
    latest: dict[str, tuple[int, CleanSpan]] = {}
    indices: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        span, errors = span_item_clean(item)
        if span is None:
            result.rejected.append({"index": index, "fields": errors})
            continue
        result.accepted += 1
        # The same span twice in one batch: the last one wins, as if sent in two batches.
        latest[span.span_id] = (index, span)
        indices.setdefault(span.span_id, []).append(index)
    if not latest:
        return result

    with transaction.atomic():
        if _is_postgres():
            _plan_index_lookups()
        totals: dict[int, tuple] = {}
        trace_pks = _traces_upsert(
            project=project, trace_ids=sorted({s.trace_id for _, s in latest.values()}), totals=totals
        )
        overflowing = _overflowing_spans(latest=latest, trace_pks=trace_pks, totals=totals)
        for span_id, fields in overflowing.items():
            for index in indices[span_id]:
                result.rejected.append({"index": index, "fields": fields})
                result.accepted -= 1
            del latest[span_id]
        rows = sorted(latest.values(), key=lambda pair: pair[1].span_id)
        if not rows:
            span_pks = {}
        elif _is_postgres():
            span_pks = _spans_upsert_postgres(project=project, rows=rows, trace_pks=trace_pks)
        else:
            span_pks = _spans_upsert_sqlite(project=project, rows=rows, trace_pks=trace_pks)
        moved = [(index, span) for index, span in rows if span.span_id not in span_pks]
        if moved:
            for _, span in moved:
                for index in indices[span.span_id]:
                    result.rejected.append({"index": index, "fields": {"trace_id": [MISMATCHED_TRACE]}})
                    result.accepted -= 1
        if moved or overflowing:
            result.rejected.sort(key=lambda r: r["index"])
        tagged = [(s.span_id, tag) for _, s in rows if s.span_id in span_pks for tag in s.tags]
        if tagged:
            _span_tags_add(project=project, pairs=tagged, span_pks=span_pks)
        touched = sorted(trace_pks.values())
        if moved or overflowing:
            _empty_traces_delete(trace_pks=touched)
            touched = list(Trace.objects.filter(pk__in=touched).values_list("pk", flat=True))
        _summaries_update(trace_pks=touched)
        result.trace_pks = touched
        for hook in registry.ingest_hooks:
            transaction.on_commit(
                lambda hook=hook, pks=list(touched): hook(project=project, trace_pks=pks), robust=True
            )
    return result


def _plan_index_lookups() -> None:
    """Keep this transaction's lookups, including the deferred foreign-key checks run at COMMIT, on indexes.

    Every lookup ingest makes is by key. Right after a table was emptied or created its statistics
    say it is tiny, the planner picks sequential scans, and PostgreSQL caches the foreign-key
    checks' plans for the life of the connection: with persistent connections a fresh install
    then got slower with every batch until autovacuum analysed the tables.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")


# A trace's sums must fit their columns: tokens a bigint, cost a finite double (with room to spare,
# so no order of summation in the database can overflow).
TOKENS_TOTAL_MAX = 2**63 - 1
COST_TOTAL_MAX = 1e308
_TOTAL_FIELDS = (
    ("metrics.input_tokens", "input token"),
    ("metrics.output_tokens", "output token"),
    ("metrics.total_tokens", "total token"),
    ("metrics.cost", "cost"),
)


def _span_amounts(span: CleanSpan) -> tuple:
    return span.input_tokens, span.output_tokens, span.total_tokens, span.cost


def _fits(amounts: tuple) -> int | None:
    """The index of the first sum over its limit, or None."""
    for i, amount in enumerate(amounts):
        if amount > (COST_TOTAL_MAX if i == 3 else TOKENS_TOTAL_MAX) or amount != amount:
            return i
    return None


def _overflowing_spans(
    *, latest: dict[str, tuple[int, CleanSpan]], trace_pks: dict[str, int], totals: dict[int, tuple]
) -> dict[str, dict[str, list[str]]]:
    """Spans that would push their trace's token or cost sums past their columns: {span_id: fields}.

    The stored summaries plus the batch bound the new sums from above; only a trace over a limit by
    that bound (almost never) is checked exactly, from its spans, in the order the items came.
    """
    spans = [span for _, span in latest.values()]
    stored = list(totals.values()) or [(0, 0, 0, 0.0)]
    # The whole batch on top of the largest stored sums: within the limits nearly always, in C loops.
    top = [max(int(t[i] or 0) for t in stored) for i in range(3)]
    bound = (
        top[0] + sum(s.input_tokens for s in spans),
        top[1] + sum(s.output_tokens for s in spans),
        top[2] + sum(s.total_tokens for s in spans),
        max(float(t[3] or 0) for t in stored) + sum(s.cost for s in spans),
    )  # inf: over
    if _fits(bound) is None:
        return {}
    batch: dict[int, list] = {}
    for span in spans:
        sums = batch.setdefault(trace_pks[span.trace_id], [0, 0, 0, 0.0])
        for i, amount in enumerate(_span_amounts(span)):
            sums[i] += amount
    suspects = []
    for pk, sums in batch.items():
        stored = totals.get(pk) or (0, 0, 0, 0.0)
        bound = tuple(int(stored[i] or 0) + sums[i] for i in range(3)) + (float(stored[3] or 0) + sums[3],)
        if _fits(bound) is not None:
            suspects.append(pk)
    if not suspects:
        return {}
    refused: dict[str, dict[str, list[str]]] = {}
    in_batch = set(latest)
    for trace_pk in suspects:
        base = [0, 0, 0, 0.0]
        for row in (
            Span.objects.filter(trace_id=trace_pk)
            .values_list("span_id", "input_tokens", "output_tokens", "total_tokens", "cost")
            .iterator()
        ):
            if row[0] not in in_batch:
                for i, amount in enumerate(row[1:]):
                    base[i] += amount
        for _, span in sorted(
            (pair for pair in latest.values() if trace_pks[pair[1].trace_id] == trace_pk), key=lambda pair: pair[0]
        ):
            after = tuple(b + a for b, a in zip(base, _span_amounts(span), strict=True))
            over = _fits(after)
            if over is None:
                base = list(after)
                continue
            field, what = _TOTAL_FIELDS[over]
            limit = f"{COST_TOTAL_MAX:g}" if over == 3 else str(TOKENS_TOTAL_MAX)
            refused[span.span_id] = {field: [f"The trace's {what} total would exceed {limit}."]}
    return refused


def _traces_upsert(*, project: Project, trace_ids: list[str], totals: dict[int, tuple] | None = None) -> dict[str, int]:
    """Create missing traces and lock all of them, in trace_id order. Returns {trace_id: pk}.

    `totals` receives each trace's stored (input_tokens, output_tokens, total_tokens, total_cost)."""
    totals = {} if totals is None else totals
    now = timezone.now()
    with connection.cursor() as cursor:
        if _is_postgres():
            # DO UPDATE (not DO NOTHING) so existing rows are locked too, in the same order.
            cursor.execute(
                """
                INSERT INTO traces_trace (project_id, trace_id, name, root_span_id, start_time, end_time,
                    duration_ms, span_count, has_error, input_tokens, output_tokens, total_tokens, total_cost,
                    input_preview, output_preview, user_id, session_id, tags, review_status, created_at,
                    updated_at)
                SELECT %s, t.trace_id, '', '', NULL, NULL, NULL, 0, false, 0, 0, 0, 0, '', '', '', '',
                    '[]'::jsonb, 'none', %s, %s
                FROM unnest(%s::varchar[]) AS t(trace_id) ORDER BY t.trace_id
                ON CONFLICT (project_id, trace_id) DO UPDATE SET updated_at = EXCLUDED.updated_at
                RETURNING trace_id, id, input_tokens, output_tokens, total_tokens, total_cost
                """,
                [project.pk, now, now, trace_ids],
            )
            found = {}
            for trace_id, pk, *sums in cursor.fetchall():
                found[trace_id] = pk
                totals[pk] = tuple(sums)
            return found
        stamp = connection.ops.adapt_datetimefield_value(now)
        cursor.executemany(
            """
            INSERT INTO traces_trace (project_id, trace_id, name, root_span_id, span_count, has_error,
                input_tokens, output_tokens, total_tokens, total_cost, input_preview, output_preview,
                user_id, session_id, tags, review_status, created_at, updated_at)
            VALUES (%s, %s, '', '', 0, 0, 0, 0, 0, 0, '', '', '', '', '[]', 'none', %s, %s)
            ON CONFLICT (project_id, trace_id) DO NOTHING
            """,
            [(project.pk, trace_id, stamp, stamp) for trace_id in trace_ids],
        )
        found: dict[str, int] = {}
        for chunk in _chunks(trace_ids):
            cursor.execute(
                "SELECT trace_id, id, input_tokens, output_tokens, total_tokens, total_cost FROM traces_trace "
                f"WHERE project_id = %s AND trace_id IN ({_marks(chunk)})",
                [project.pk, *chunk],
            )
            for trace_id, pk, *sums in cursor.fetchall():
                found[trace_id] = pk
                totals[pk] = tuple(sums)
        return found


def _marks(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def _iso(moment: datetime | None) -> str | None:
    # ISO text (with its offset) COPYs into timestamptz at half the cost of psycopg's datetime dumper.
    return None if moment is None else moment.isoformat()


def _item_row(span: CleanSpan, timestamp) -> list:
    """The span's ITEM_COLUMNS values as written: timestamps through `timestamp`, tags as JSON text."""
    values = list(_item_values(span))
    for at in _TIMES_AT:
        values[at] = timestamp(values[at])
    values[_TAGS_AT] = _tags_json(values[_TAGS_AT])
    return values


def _on_write(stamp: Any) -> tuple:
    """The SET_ON_WRITE values of a new span."""
    return tuple({"annotation_metadata": "{}", "created_at": stamp, "updated_at": stamp}[c] for c in SET_ON_WRITE)


def _copy_rows(raw_cursor, table: str, columns: str, rows: Iterable[tuple]) -> None:
    with raw_cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        write = copy.write_row
        for row in rows:
            write(row)


def _spans_upsert_postgres(
    *, project: Project, rows: list[tuple[int, CleanSpan]], trace_pks: dict[str, int]
) -> dict[str, int | None]:
    """Write the batch; returns {span_id: pk} for the spans stored (pk None where it was not needed).

    New spans (the usual case) are COPYed straight into traces_span inside a savepoint. If any
    span exists already the savepoint is rolled back and the batch goes through COPY into a
    temporary staging table and one INSERT … ON CONFLICT DO UPDATE.
    """
    now = timezone.now()
    tail = _on_write(now.isoformat())
    pid = project.pk
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg 3 cursor under Django's wrapper
        try:
            with transaction.atomic():
                _copy_rows(
                    raw,
                    "traces_span",
                    _INSERT_COLUMNS,
                    ((pid, trace_pks[s.trace_id], *_item_row(s, _iso), *tail) for _, s in rows),
                )
        except psycopg_errors.UniqueViolation:
            pass  # some spans exist: upsert below
        else:
            return {s.span_id: None for _, s in rows}

        cursor.execute(f"{span_stage_ddl(connection.vendor)}; DELETE FROM assay_span_stage")
        _copy_rows(
            raw,
            "assay_span_stage",
            ", ".join(STAGE_COLUMNS),
            ((trace_pks[s.trace_id], *_item_row(s, _iso)) for _, s in rows),
        )
        on_write = ", ".join("'{}'::jsonb" if c == "annotation_metadata" else "%s" for c in SET_ON_WRITE)
        cursor.execute(
            f"""
            INSERT INTO traces_span ({_INSERT_COLUMNS})
            SELECT %s, {", ".join(STAGE_COLUMNS)}, {on_write}
            FROM assay_span_stage ORDER BY span_id
            ON CONFLICT (project_id, span_id) DO UPDATE SET {span_upsert_set(connection.vendor)}
            RETURNING span_id, id
            """,
            [pid, *(now for c in SET_ON_WRITE if c != "annotation_metadata")],
        )
        return dict(cursor.fetchall())


def _spans_upsert_sqlite(
    *, project: Project, rows: list[tuple[int, CleanSpan]], trace_pks: dict[str, int]
) -> dict[str, int]:
    ops = connection.ops
    stamp = ops.adapt_datetimefield_value(timezone.now())
    tail = _on_write(stamp)
    params = [(project.pk, trace_pks[s.trace_id], *_item_row(s, ops.adapt_datetimefield_value), *tail) for _, s in rows]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO traces_span ({_INSERT_COLUMNS}) VALUES ({_marks(params[0])}) "
            f"ON CONFLICT (project_id, span_id) DO UPDATE SET {span_upsert_set(connection.vendor)}",
            params,
        )
        wanted = {s.span_id: trace_pks[s.trace_id] for _, s in rows}
        stored: dict[str, int] = {}
        span_ids = list(wanted)
        for chunk in _chunks(span_ids):
            cursor.execute(
                f"SELECT span_id, id, trace_id FROM traces_span WHERE project_id = %s AND span_id IN ({_marks(chunk)})",
                [project.pk, *chunk],
            )
            for span_id, pk, trace_pk in cursor.fetchall():
                if wanted[span_id] == trace_pk:
                    stored[span_id] = pk
        return stored


def _span_tags_add(*, project: Project, pairs: list[tuple[str, str]], span_pks: dict[str, int | None]) -> None:
    """Tag rows for the names (created once per project) and SpanTag rows, both idempotent.

    `pairs` are (span_id, tag name); on SQLite `span_pks` maps span_id to the span's pk.
    """
    names = sorted({name for _, name in pairs})
    now = timezone.now()
    with connection.cursor() as cursor:
        if _is_postgres():
            # DO NOTHING: an existing tag is not locked, so a popular tag never serialises ingest.
            cursor.execute(
                """
                INSERT INTO traces_tag (project_id, name, colour, created_at)
                SELECT %s, n.name, %s, %s FROM unnest(%s::varchar[]) AS n(name) ORDER BY n.name
                ON CONFLICT (project_id, name) DO NOTHING
                """,
                [project.pk, TAG_COLOUR, now, names],
            )
            # A new statement, so a new snapshot: it sees tags a concurrent batch committed meanwhile.
            cursor.execute(
                """
                INSERT INTO traces_spantag (span_id, tag_id, source, added_at)
                SELECT s.id, tg.id, 'ingest', %s
                FROM unnest(%s::varchar[], %s::varchar[]) AS l(span_key, name)
                JOIN traces_span s ON s.project_id = %s AND s.span_id = l.span_key
                JOIN traces_tag tg ON tg.project_id = %s AND tg.name = l.name
                ORDER BY s.id, tg.id
                ON CONFLICT (span_id, tag_id) DO NOTHING
                """,
                [now, [p[0] for p in pairs], [p[1] for p in pairs], project.pk, project.pk],
            )
            return
        stamp = connection.ops.adapt_datetimefield_value(now)
        cursor.executemany(
            "INSERT INTO traces_tag (project_id, name, colour, created_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (project_id, name) DO NOTHING",
            [(project.pk, name, TAG_COLOUR, stamp) for name in names],
        )
        tag_pks = {}
        for chunk in _chunks(names):
            cursor.execute(
                f"SELECT name, id FROM traces_tag WHERE project_id = %s AND name IN ({_marks(chunk)})",
                [project.pk, *chunk],
            )
            tag_pks.update(cursor.fetchall())
        links = sorted({(span_pks[span_id], tag_pks[name]) for span_id, name in pairs})
        cursor.executemany(
            "INSERT INTO traces_spantag (span_id, tag_id, source, added_at) VALUES (%s, %s, 'ingest', %s) "
            "ON CONFLICT (span_id, tag_id) DO NOTHING",
            [(span_pk, tag_pk, stamp) for span_pk, tag_pk in links],
        )


def _empty_traces_delete(*, trace_pks: list[int]) -> None:
    """A batch whose only span for a new trace was refused leaves that trace empty: remove it."""
    with connection.cursor() as cursor:
        for chunk in _chunks(trace_pks):
            cursor.execute(
                f"DELETE FROM traces_trace WHERE id IN ({_marks(chunk)}) AND span_count = 0 "
                "AND NOT EXISTS (SELECT 1 FROM traces_span s WHERE s.trace_id = traces_trace.id)",
                chunk,
            )


def trace_summaries_refresh(*, trace_pks: Iterable[int]) -> None:
    """Recompute the summaries of these traces from their spans (any order of arrival, any batches)."""
    pks = sorted(set(trace_pks))
    if not pks:
        return
    with transaction.atomic():
        if _is_postgres():
            _plan_index_lookups()
            # Lock in the order ingest does (project, trace_id) so a refresh never deadlocks with it.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM traces_trace WHERE id = ANY(%s) ORDER BY project_id, trace_id FOR UPDATE",
                    [pks],
                )
        _summaries_update(trace_pks=pks)


def _roots(trace_pks: list[int]) -> list[tuple[int, int, Any, Any]]:
    """(trace pk, root span pk, input, output), the root by `selectors.root_span_order`: one index
    lookup a trace for the root's pk, then the roots by pk."""
    found: list[tuple[int, int, Any, Any]] = []
    for chunk in _chunks(trace_pks):
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


def _summaries_update(*, trace_pks: list[int]) -> None:
    if not trace_pks:
        return
    with connection.cursor() as cursor:
        roots = [
            (trace_pk, root_pk, _trace_preview_text(i), _trace_preview_text(o))
            for trace_pk, root_pk, i, o in _roots(trace_pks)
        ]
        if not roots:
            return
        if _is_postgres():
            cursor.execute(
                """
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
                """,
                [
                    timezone.now(),
                    [r[0] for r in roots],
                    [r[1] for r in roots],
                    [r[2] for r in roots],
                    [r[3] for r in roots],
                ],
            )
            return
        stamp = connection.ops.adapt_datetimefield_value(timezone.now())
        cursor.executemany(
            """
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
            """,
            [
                (input_preview, output_preview, stamp, trace_pk, root_pk)
                for trace_pk, root_pk, input_preview, output_preview in roots
            ],
        )
