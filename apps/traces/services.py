"""Span ingest (the trace summaries it refreshes: `trace_summaries`).

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
from apps.projects.models import Project

from .columns import (
    INSERT_COLUMNS,
    ITEM_COLUMNS,
    SET_ON_WRITE,
    STAGE_COLUMNS,
    TIME_COLUMNS,
    span_stage_ddl,
    span_update_assignments,
    span_upsert_set,
)
from .ingest import CleanSpan, span_item_clean
from .models import Tag, Trace
from .sql import chunks, is_postgres, plan_index_lookups, sql_marks
from .trace_summaries import trace_summaries_update
from .trace_totals import overflowing_spans

MISMATCHED_TRACE = "This span_id was ingested before under another trace_id."
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
        if is_postgres():
            plan_index_lookups()
        totals: dict[int, tuple] = {}
        trace_pks = _traces_upsert(
            project=project, trace_ids=sorted({s.trace_id for _, s in latest.values()}), totals=totals
        )
        overflowing = overflowing_spans(latest=latest, trace_pks=trace_pks, totals=totals)
        for span_id, fields in overflowing.items():
            for index in indices[span_id]:
                result.rejected.append({"index": index, "fields": fields})
                result.accepted -= 1
            del latest[span_id]
        rows = sorted(latest.values(), key=lambda pair: pair[1].span_id)
        if not rows:
            span_pks = {}
        elif is_postgres():
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
        trace_summaries_update(trace_pks=touched)
        result.trace_pks = touched
        for hook in registry.ingest_hooks:
            transaction.on_commit(
                lambda hook=hook, pks=list(touched): hook(project=project, trace_pks=pks), robust=True
            )
    return result


def _traces_upsert(*, project: Project, trace_ids: list[str], totals: dict[int, tuple] | None = None) -> dict[str, int]:
    """Create missing traces and lock all of them, in trace_id order. Returns {trace_id: pk}.

    `totals` receives each trace's stored (input_tokens, output_tokens, total_tokens, total_cost)."""
    totals = {} if totals is None else totals
    now = timezone.now()
    with connection.cursor() as cursor:
        if is_postgres():
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
        for chunk in chunks(trace_ids):
            cursor.execute(
                "SELECT trace_id, id, input_tokens, output_tokens, total_tokens, total_cost FROM traces_trace "
                f"WHERE project_id = %s AND trace_id IN ({sql_marks(chunk)})",
                [project.pk, *chunk],
            )
            for trace_id, pk, *sums in cursor.fetchall():
                found[trace_id] = pk
                totals[pk] = tuple(sums)
        return found


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
        for attempt in range(_UPSERT_ATTEMPTS):
            try:
                with transaction.atomic():
                    return _staged_upsert(cursor, pid=pid, now=now)
            except psycopg_errors.UniqueViolation:
                # A concurrent batch committed one of these spans meanwhile: the next try updates it.
                if attempt == _UPSERT_ATTEMPTS - 1:
                    raise
    raise AssertionError("unreachable")


_UPSERT_ATTEMPTS = 3


def _staged_upsert(cursor, *, pid: int, now: datetime) -> dict[str, int]:
    """Update the staged spans that exist (same trace), then insert the new ones; {span_id: pk} of both.

    traces_span is partitioned (no unique (project_id, span_id) to upsert on): `traces_span_key` holds
    that key, its rows are locked in span_id order first, so overlapping batches queue, never deadlock.
    """
    cursor.execute(
        "SELECT 1 FROM traces_span_key k JOIN assay_span_stage st ON k.project_id = %s AND k.span_id = st.span_id "
        "ORDER BY k.span_id FOR UPDATE OF k",
        [pid],
    )
    on_write = ", ".join(
        f"'{{}}'::jsonb AS {c}" if c == "annotation_metadata" else f"%s::timestamptz AS {c}" for c in SET_ON_WRITE
    )
    stamps = [now for c in SET_ON_WRITE if c != "annotation_metadata"]
    cursor.execute(
        f"""
        UPDATE traces_span SET {span_update_assignments(connection.vendor)}
        FROM (SELECT %s::bigint AS project_id, {", ".join(STAGE_COLUMNS)}, {on_write} FROM assay_span_stage)
            AS excluded
        WHERE traces_span.project_id = excluded.project_id AND traces_span.span_id = excluded.span_id
            AND traces_span.trace_id = excluded.trace_id
        RETURNING traces_span.span_id, traces_span.id
        """,
        [pid, *stamps],
    )
    stored = dict(cursor.fetchall())
    on_write_values = ", ".join("'{}'::jsonb" if c == "annotation_metadata" else "%s" for c in SET_ON_WRITE)
    cursor.execute(
        f"""
        INSERT INTO traces_span ({_INSERT_COLUMNS})
        SELECT %s, {", ".join(STAGE_COLUMNS)}, {on_write_values}
        FROM assay_span_stage st
        WHERE NOT EXISTS (SELECT 1 FROM traces_span_key k WHERE k.project_id = %s AND k.span_id = st.span_id)
        ORDER BY span_id
        RETURNING span_id, id
        """,
        [pid, *stamps, pid],
    )
    stored.update(cursor.fetchall())
    return stored


def _spans_upsert_sqlite(
    *, project: Project, rows: list[tuple[int, CleanSpan]], trace_pks: dict[str, int]
) -> dict[str, int]:
    ops = connection.ops
    stamp = ops.adapt_datetimefield_value(timezone.now())
    tail = _on_write(stamp)
    params = [(project.pk, trace_pks[s.trace_id], *_item_row(s, ops.adapt_datetimefield_value), *tail) for _, s in rows]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO traces_span ({_INSERT_COLUMNS}) VALUES ({sql_marks(params[0])}) "
            f"ON CONFLICT (project_id, span_id) DO UPDATE SET {span_upsert_set(connection.vendor)}",
            params,
        )
        wanted = {s.span_id: trace_pks[s.trace_id] for _, s in rows}
        stored: dict[str, int] = {}
        span_ids = list(wanted)
        for chunk in chunks(span_ids):
            cursor.execute(
                f"SELECT span_id, id, trace_id FROM traces_span WHERE project_id = %s AND span_id IN ({sql_marks(chunk)})",
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
        if is_postgres():
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
                SELECT s.span_pk, tg.id, 'ingest', %s
                FROM unnest(%s::varchar[], %s::varchar[]) AS l(span_key, name)
                JOIN traces_span_key s ON s.project_id = %s AND s.span_id = l.span_key
                JOIN traces_tag tg ON tg.project_id = %s AND tg.name = l.name
                ORDER BY s.span_pk, tg.id
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
        for chunk in chunks(names):
            cursor.execute(
                f"SELECT name, id FROM traces_tag WHERE project_id = %s AND name IN ({sql_marks(chunk)})",
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
        for chunk in chunks(trace_pks):
            cursor.execute(
                f"DELETE FROM traces_trace WHERE id IN ({sql_marks(chunk)}) AND span_count = 0 "
                "AND NOT EXISTS (SELECT 1 FROM traces_span s WHERE s.trace_id = traces_trace.id)",
                chunk,
            )
