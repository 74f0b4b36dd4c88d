"""Retention by dropping whole month partitions of spans (PostgreSQL), the batched DELETE for the rest.

A month goes whole when every span in it belongs to a trace its project's plan expires: this run's
plan, and for a month shared with other projects, theirs (their active policies, at the same moment);
a project there without an active policy keeps the month. The run counts its own project's traces;
each other project's share is written to that project's run log. Pinned traces' spans
are moved out first (back into traces_span, which routes them to the default partition), so what is
kept stays whole. Per month, two short transactions:

1. lock the month against writes (SHARE: reads go on), check that the plan expires all of it, detach
   it (a brief ACCESS EXCLUSIVE lock on traces_span; both locks given up after
   DETACH_LOCK_TIMEOUT_MS), move pinned spans back; commit.
2. on the detached table, which nothing writes any more: delete what hangs off its spans, its keys
   (`traces_span_key`), the spans of its traces in other months (a trace crossing a month's end),
   its traces and what hangs off them, all set-based (`DELETE … WHERE span_id IN (SELECT id FROM
   the detached spans)`), then DROP TABLE; commit.

A run that died between the two finds the detached table and finishes it first. Whatever the plan
dooms outside dropped months (the default partition, months holding kept traces or spans of a
project without an active policy) then goes through `deletion.batched_delete`.
"""

from __future__ import annotations

import contextlib
import logging

from django.db import OperationalError, connection, transaction
from django.db.models import Count, Q
from django.db.models.expressions import RawSQL

from apps.traces.columns import SPAN_COLUMNS
from apps.traces.models import Span, Trace
from apps.traces.partitions import PARENT, SpanPartition, span_partitions, spans_partitioned

from .deletion import DeletionTotals, Progress, _delete_rows, batched_delete, delete_dependents
from .models import RetentionPolicy
from .selectors import SPAN_REFERENCES, RetentionPlan, pinned_trace_id_queries, referenced_span_ids, retention_plan
from .services import retention_runs_record_drop

logger = logging.getLogger(__name__)

_COLUMNS = ", ".join(SPAN_COLUMNS)
DETACH_LOCK_TIMEOUT_MS = 5000
_GONE = "assay_drop_spans"  # the detached month's span ids (temporary, per transaction)
_TRACES = "assay_drop_traces"


class _NotDroppable(Exception):
    """The month holds a span the plan keeps: the detach is rolled back."""


def _sql(queryset) -> tuple[str, tuple]:
    sql, params = queryset.query.sql_with_params()
    return sql, tuple(params)


@contextlib.contextmanager
def _index_lookups(cursor):
    """Joins of one month's rows against a table of every month by its index, not by hashing (or
    sorting) either side whole: the cost follows the month, not the years kept (docs/performance.md,
    "Span partitions at 5M spans")."""
    cursor.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
    try:
        yield
    finally:
        cursor.execute("SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT")


def _projects_in(cursor, table: str) -> set[int]:
    """The projects with spans in `table`: one index descent a project (a loose index scan of its
    (project_id, span_id) index), not a scan of the month (0.15 s for 417k spans)."""
    cursor.execute(
        f"WITH RECURSIVE p AS ((SELECT project_id FROM {table} ORDER BY project_id LIMIT 1) UNION ALL "
        f"SELECT (SELECT project_id FROM {table} WHERE project_id > p.project_id ORDER BY project_id LIMIT 1) "
        "FROM p WHERE p.project_id IS NOT NULL) SELECT project_id FROM p WHERE project_id IS NOT NULL"
    )
    return {project_id for (project_id,) in cursor.fetchall()}


def _month_plans(cursor, table: str, plan: RetentionPlan) -> list[RetentionPlan] | None:
    """The plans, at the run's moment, of every project with spans in `table`: this run's and the other
    projects' active policies (beat runs those anyway). None when a project there has none: its spans stay."""
    others = _projects_in(cursor, table) - {plan.policy.project_id}
    if not others:
        return [plan]
    policies = list(RetentionPolicy.objects.filter(project_id__in=others, is_active=True))
    if len(policies) < len(others):
        return None
    return [plan, *(retention_plan(policy=policy, now=plan.now) for policy in policies)]


def _month_doomed(cursor, table: str, plan: RetentionPlan) -> bool:
    """Every span of `table` belongs to a trace its project's plan expires (this run's project, or another
    with an active policy); pinned ones are moved out, not lost.

    Asked of the month's distinct traces, one lookup a trace rather than one a span (417k spans:
    1.04 → 0.34 s)."""
    plans = _month_plans(cursor, table, plan)
    if plans is None:
        return False
    queries = [_sql(each.expired.values("id")) for each in plans]
    expired = " UNION ALL ".join(sql for sql, _ in queries)
    cursor.execute(
        f"SELECT NOT EXISTS (SELECT 1 FROM (SELECT DISTINCT trace_id FROM {table}) s WHERE NOT EXISTS "
        f"(SELECT 1 FROM ({expired}) e WHERE e.id = s.trace_id))",
        tuple(param for _, params in queries for param in params),
    )
    return cursor.fetchone()[0]


def _pinned_move(cursor, table: str, project: int | None) -> int:
    """Copy the spans of pinned traces from detached `table` back into traces_span and out of `table`.

    The pin selectors reach spans through traces_span, which no longer holds the detached ones: the
    references to them are read by span id as well."""
    by_trace = [_sql(query) for query in pinned_trace_id_queries(project=project)]
    by_span = [_sql(referenced_span_ids(reason=reason)) for reason in SPAN_REFERENCES]
    cursor.execute(  # two index lookups (trace_id, id) of the few pinned, not an OR that scans the month
        f"CREATE TEMPORARY TABLE assay_drop_keep ON COMMIT DROP AS "
        f"SELECT trace_id AS id FROM {table} WHERE trace_id IN ({' UNION '.join(q for q, _ in by_trace)}) "
        f"UNION SELECT trace_id FROM {table} WHERE id IN ({' UNION '.join(q for q, _ in by_span)})",
        tuple(p for _, ps in by_trace + by_span for p in ps),
    )
    if not cursor.rowcount:
        cursor.execute("DROP TABLE assay_drop_keep")
        return 0
    keep = "trace_id IN (SELECT id FROM assay_drop_keep)"
    cursor.execute(f"INSERT INTO {PARENT} ({_COLUMNS}) SELECT {_COLUMNS} FROM {table} WHERE {keep}")
    moved = cursor.rowcount
    cursor.execute(f"DELETE FROM {table} WHERE {keep}")
    cursor.execute("DROP TABLE assay_drop_keep")
    return moved


def _detach(partition: SpanPartition, plan: RetentionPlan) -> bool:
    """Transaction 1: detach the month if it is all doomed, moving pinned spans out. False: left as it was."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # JIT: plans over every partition look costly enough to compile, which takes longer than they run.
            cursor.execute(f"SET LOCAL lock_timeout = '{DETACH_LOCK_TIMEOUT_MS}ms'; SET LOCAL jit = off")
            # Checked once, under a lock that holds back writes to this month only (reads go on), so
            # nothing lands in it between the check and the detach; the detach then locks briefly.
            cursor.execute(f"LOCK TABLE {partition.name} IN SHARE MODE")
            if not _month_doomed(cursor, partition.name, plan):
                raise _NotDroppable
            cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {partition.name}")
            moved = _pinned_move(cursor, partition.name, None)  # any project's: the month may be shared
    except _NotDroppable:
        return False
    except OperationalError as exc:  # lock_timeout: busy readers or writers; the batched DELETE does it
        logger.warning("retention: could not detach %s (%s); left attached", partition.name, exc)
        return False
    logger.info("retention: detached %s, %s pinned spans moved out", partition.name, moved)
    return True


def _outside_spans(cursor):
    """Spans of the month's traces in other partitions, bounded by the traces' summaries (min start, max end)."""
    with _index_lookups(cursor):
        cursor.execute(
            f"SELECT min(start_time), max(end_time), bool_or(start_time IS NULL OR end_time IS NULL) "
            f"FROM traces_trace WHERE id IN (SELECT id FROM {_TRACES})"
        )
        lowest, highest, unbounded = cursor.fetchone()
    spans = Span._base_manager.filter(trace_id__in=RawSQL(f"SELECT id FROM {_TRACES}", ())).order_by()  # noqa: S611
    if unbounded or lowest is None:
        return spans
    return spans.filter(Q(start_time__isnull=True) | Q(start_time__gte=lowest, start_time__lte=highest))


def _keys_delete(cursor) -> None:
    """The month's rows of `traces_span_key`, found by span id: span ids come from a sequence, so the
    month's are one range of the `span_pk` index (traces migration 0005), read in order against the
    month's ids. Probing the (project_id, span_id) key once a span took 1.3–1.9 s for 417k spans."""
    cursor.execute(f"SELECT min(id), max(id) FROM {_GONE}")
    lowest, highest = cursor.fetchone()
    if lowest is None:
        return
    cursor.execute(
        f"DELETE FROM traces_span_key k WHERE k.span_pk BETWEEN %s AND %s AND EXISTS (SELECT 1 FROM {_GONE} g "
        "WHERE g.id = k.span_pk AND g.project_id = k.project_id AND g.span_id = k.span_id)",
        [lowest, highest],
    )


def _per_project(cursor, sql: str, params=()) -> dict[int, int]:
    cursor.execute(sql, params)
    return dict(cursor.fetchall())


def _finish(table: str, *, project_id: int) -> DeletionTotals:
    """Transaction 2: everything on the detached month's spans and traces, then the table itself.

    The totals are `project_id`'s (the run's project); other projects' traces in a shared month are
    logged in their own run logs (`services.retention_runs_record_drop`), in the same transaction."""
    totals = DeletionTotals(batches=1)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        _pinned_move(cursor, table, None)  # pinned meanwhile (any project): kept too
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_GONE} ON COMMIT DROP AS SELECT id, project_id, span_id, trace_id FROM {table}"
        )
        cursor.execute(  # from the narrow copy, not the month's wide rows
            f"CREATE TEMPORARY TABLE {_TRACES} ON COMMIT DROP AS SELECT DISTINCT trace_id AS id FROM {_GONE}"
        )
        # The index lets each child table be joined by lookups (below) instead of hashing the month's
        # ids once per child table: PostgreSQL 15 hashes the IN side of a semi join, 0.09–0.2 s for
        # 417k ids even when the child table holds 3 rows (1–2 ms by lookups).
        cursor.execute(f"CREATE INDEX ON {_GONE} (id); ANALYZE {_GONE}; ANALYZE {_TRACES}")
        spans = _per_project(cursor, f"SELECT project_id, count(*) FROM {_GONE} GROUP BY project_id")
        with _index_lookups(cursor):  # each child table's foreign key is indexed (Django's default)
            traces = _per_project(
                cursor,
                f"SELECT project_id, count(*) FROM traces_trace WHERE id IN (SELECT id FROM {_TRACES}) "
                "GROUP BY project_id",
            )
            delete_dependents(Span, RawSQL(f"SELECT id FROM {_GONE}", ()), totals)  # noqa: S611
        _keys_delete(cursor)
        outside = _outside_spans(cursor)
        for project, count in outside.values_list("project_id").annotate(n=Count("id")).order_by():
            spans[project] = spans.get(project, 0) + count
        _delete_rows(Span, outside, totals)
        doomed = Trace._base_manager.filter(id__in=RawSQL(f"SELECT id FROM {_TRACES}", ())).order_by()  # noqa: S611
        delete_dependents(Trace, doomed.values("pk"), totals, skip=(Span,))
        doomed._raw_delete(doomed.db)
        cursor.execute(f"DROP TABLE {table}, {_GONE}, {_TRACES}")
        others = {p: (traces.get(p, 0), spans.get(p, 0)) for p in set(spans) | set(traces) if p != project_id}
        if others:
            retention_runs_record_drop(month=table, counts=others)
    totals.rows.pop(Span._meta.label, None)
    totals.traces, totals.spans = traces.get(project_id, 0), spans.get(project_id, 0)
    logger.info(
        "retention: dropped %s (%s spans, %s traces; %s other projects)",
        table,
        sum(spans.values()),
        sum(traces.values()),
        len(others),
    )
    return totals


def detached_months() -> list[str]:
    """Month tables detached by a run that did not finish them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition "
            "AND relname LIKE %s AND relnamespace = 'public'::regnamespace ORDER BY relname",
            [PARENT.replace("_", r"\_") + r"\_p%"],
        )
        return [name for (name,) in cursor.fetchall()]


def candidate_months(plan: RetentionPlan) -> list[SpanPartition]:
    """Attached months wholly before the plan's age cutoff, oldest first (`_detach` checks each)."""
    if plan.cutoff is None:
        return []
    return [p for p in span_partitions() if not p.is_default and p.upper <= plan.cutoff]


def droppable_months(plan: RetentionPlan) -> list[SpanPartition]:
    """The candidate months whose spans the plan all expires: what a run would drop now."""
    with connection.cursor() as cursor:
        return [p for p in candidate_months(plan) if _month_doomed(cursor, p.name, plan)]


def partition_drop(
    plan: RetentionPlan, *, batch_size: int | None = None, on_batch: Progress | None = None
) -> DeletionTotals:
    """The retention strategy of PostgreSQL: whole months where it can, batched DELETE for the rest."""
    if not spans_partitioned():
        return batched_delete(plan, batch_size=batch_size, on_batch=on_batch)
    with connection.cursor() as cursor:
        # JIT off for the run: plans over every partition look costly enough to compile (0.2–5 s a
        # statement here), longer than they take to run.
        cursor.execute("SET jit = off")
    try:
        return _months_then_batches(plan, batch_size=batch_size, on_batch=on_batch)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET jit")


def _months_then_batches(plan: RetentionPlan, *, batch_size: int | None, on_batch: Progress | None) -> DeletionTotals:
    totals = DeletionTotals()
    for table in detached_months():
        totals.add(_finish(table, project_id=plan.policy.project_id))
    for partition in candidate_months(plan):
        if _detach(partition, plan):
            totals.add(_finish(partition.name, project_id=plan.policy.project_id))
            if on_batch is not None:
                on_batch(totals)
    dropped = DeletionTotals()
    dropped.add(totals)

    def progress(rest: DeletionTotals) -> None:
        if on_batch is not None:
            both = DeletionTotals()
            both.add(dropped)
            both.add(rest)
            on_batch(both)

    totals.add(batched_delete(plan, batch_size=batch_size, on_batch=progress))
    return totals
