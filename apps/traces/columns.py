"""The columns of a span, derived from the `Span` model: ingest (its COPY, staging table and upserts),
light loads, the API and exports build their lists here, so a new column is a model field plus,
where it is not an item's value, one deliberate line below (tests/traces/test_columns.py checks).

Dialect differences of the upsert are `Func`s with `as_postgresql` / `as_sqlite`.
"""

from __future__ import annotations

from functools import cache

from django.db import connection
from django.db.models import DateTimeField, Field, Func
from django.db.models.expressions import RawSQL
from django.db.models.sql import Query

from .models import Span

SPAN_MODEL_FIELDS: tuple[Field, ...] = tuple(Span._meta.concrete_fields)
SPAN_COLUMNS = tuple(f.column for f in SPAN_MODEL_FIELDS)

# Every column is an item's value except these, which ingest sets itself.
NOT_WRITTEN = ("id",)  # the database's key
STORED_UNDER = ("project_id", "trace_id")  # the batch's project and the trace's pk
SET_ON_WRITE = ("annotation_metadata", "created_at", "updated_at")  # reviewers' keys start empty; now
ITEM_COLUMNS = tuple(c for c in SPAN_COLUMNS if c not in NOT_WRITTEN + STORED_UNDER + SET_ON_WRITE)
INSERT_COLUMNS = (*STORED_UNDER, *ITEM_COLUMNS, *SET_ON_WRITE)
STAGE_COLUMNS = ("trace_id", *ITEM_COLUMNS)  # PostgreSQL's staging table of an upsert
TIME_COLUMNS = tuple(f.column for f in SPAN_MODEL_FIELDS if isinstance(f, DateTimeField) and f.column in ITEM_COLUMNS)
# A re-sent span without a value for these (null) keeps the stored one.
KEPT_WHEN_ABSENT = tuple(f.column for f in SPAN_MODEL_FIELDS if f.null and f.column in ITEM_COLUMNS)

# Cheap to load for every span of a tree: no payload JSON, no error text, no bookkeeping.
HEAVY_COLUMNS = ("input", "output", "expected", "metadata", "metrics", "annotation_metadata", "error")
SPAN_LIGHT_FIELDS = tuple(
    f.attname
    for f in SPAN_MODEL_FIELDS
    if f.column not in HEAVY_COLUMNS and f.column not in ("created_at", "updated_at")
)


def _field(column: str) -> Field:
    return next(f for f in SPAN_MODEL_FIELDS if f.column == column)


# ---- the upsert: a re-sent span (same project and span_id) ----------------------------------------


# Column names come from the model, never from input.
def _incoming(column: str) -> RawSQL:
    return RawSQL(f"EXCLUDED.{column}", ())  # noqa: S611


def _stored(column: str) -> RawSQL:
    return RawSQL(f"traces_span.{column}", ())  # noqa: S611


class Kept(Func):
    """The incoming value, else the stored one."""

    function = "COALESCE"

    def __init__(self, column: str):
        super().__init__(_incoming(column), _stored(column))


class DurationMs(Func):
    """Milliseconds from a start to an end timestamp."""

    def _compiled(self, compiler):
        (start, start_params), (end, end_params) = (compiler.compile(e) for e in self.get_source_expressions())
        return start, end, [*end_params, *start_params]

    def as_postgresql(self, compiler, connection, **extra):
        start, end, params = self._compiled(compiler)
        return f"EXTRACT(EPOCH FROM ({end} - {start})) * 1000", params

    def as_sqlite(self, compiler, connection, **extra):
        start, end, params = self._compiled(compiler)
        return f"ROUND((julianday({end}) - julianday({start})) * 86400000.0, 3)", params


class TagsMerged(Func):
    """The stored tags plus the incoming ones, sorted and distinct: reviewers' tags are never dropped."""

    def __init__(self):
        super().__init__(_incoming("tags"), _stored("tags"))

    def as_postgresql(self, compiler, connection, **extra):
        return (
            "CASE WHEN EXCLUDED.tags = '[]'::jsonb OR EXCLUDED.tags = traces_span.tags THEN traces_span.tags "
            "ELSE (SELECT jsonb_agg(DISTINCT x.tag ORDER BY x.tag) "
            "FROM jsonb_array_elements_text(traces_span.tags || EXCLUDED.tags) AS x(tag)) END"
        ), []

    def as_sqlite(self, compiler, connection, **extra):
        return (
            "CASE WHEN EXCLUDED.tags = '[]' OR EXCLUDED.tags = traces_span.tags THEN traces_span.tags "
            "ELSE (SELECT json_group_array(value) FROM (SELECT value FROM json_each(traces_span.tags) "
            "UNION SELECT value FROM json_each(EXCLUDED.tags) ORDER BY value)) END"
        ), []


def _update_expression(column: str):
    if column == "duration_ms":  # sent, else from the (kept) start and end
        return Func(_incoming(column), DurationMs(Kept("start_time"), Kept("end_time")), function="COALESCE")
    if column == "tags":
        return TagsMerged()
    if column in KEPT_WHEN_ABSENT:
        return Kept(column)
    return _incoming(column)


@cache
def span_upsert_set(vendor: str) -> str:
    """`span_update_assignments` and a WHERE that refuses to move a span to another trace."""
    return span_update_assignments(vendor) + " WHERE traces_span.trace_id = EXCLUDED.trace_id"


@cache
def span_update_assignments(vendor: str) -> str:
    """The assignments of a re-sent span (`EXCLUDED` the incoming row): every item column but the key,
    and `updated_at`; `annotation_metadata` and `created_at` are untouched. SQLite's upsert is
    `ON CONFLICT (project_id, span_id) DO UPDATE SET` them; PostgreSQL's partitioned table has no such
    constraint, so there they are an `UPDATE … FROM (…) AS excluded` (`services._spans_upsert_postgres`)."""
    assert vendor == connection.vendor
    compiler = Query(Span).get_compiler(connection=connection)
    assignments = []
    for column in ITEM_COLUMNS:
        if column == "span_id":
            continue
        sql, params = compiler.compile(_update_expression(column))
        assert not params
        assignments.append(f"{column} = {sql}")
    assignments.append("updated_at = EXCLUDED.updated_at")
    return ", ".join(assignments)


@cache
def span_stage_ddl(vendor: str) -> str:
    """The PostgreSQL staging table of an upsert: the trace's pk and every item column, typed as in traces_span."""
    assert vendor == connection.vendor == "postgresql"
    columns = ", ".join(
        f"{c} {_field(c).db_type(connection)}{'' if _field(c).null else ' NOT NULL'}" for c in STAGE_COLUMNS
    )
    return f"CREATE TEMPORARY TABLE IF NOT EXISTS assay_span_stage ({columns}) ON COMMIT DELETE ROWS"
