"""Month partitions of the span table on PostgreSQL (migration 0004): list them, create them ahead.

`traces_span` is partitioned by range of `start_time`, one partition a month (`traces_span_pYYYY_MM`,
bounds in UTC) plus `traces_span_default`, which takes spans without a start time and months not
created yet. Beat runs `span_partitions_ensure` daily, so ingest normally writes into a month's own
partition. On SQLite spans are one plain table and every function here answers "nothing to do".
Retention drops whole months (`apps.retention.partition_drop`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .columns import SPAN_COLUMNS

logger = logging.getLogger(__name__)

PARENT = "traces_span"
DEFAULT = "traces_span_default"
_COLUMNS = ", ".join(SPAN_COLUMNS)


@dataclass(frozen=True)
class SpanPartition:
    name: str
    lower: datetime | None  # None: the default partition
    upper: datetime | None
    rows: int  # the planner's estimate (pg_class.reltuples), -1 before the first ANALYZE

    @property
    def is_default(self) -> bool:
        return self.lower is None


def month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_after(month: datetime) -> datetime:
    if month.month == 12:
        return month.replace(year=month.year + 1, month=1)
    return month.replace(month=month.month + 1)


def partition_name(month: datetime) -> str:
    return f"{PARENT}_p{month:%Y_%m}"


def spans_partitioned() -> bool:
    """True on PostgreSQL once migration 0004 made traces_span a partitioned table."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [PARENT])
        return cursor.fetchone() is not None


def span_partitions() -> list[SpanPartition]:
    """The attached partitions, months in order, the default last."""
    if not spans_partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples::bigint
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = %s::regclass
            """,
            [PARENT],
        )
        found = cursor.fetchall()
    partitions = []
    for name, bound, rows in found:
        lower = upper = None
        if bound != "DEFAULT":
            # FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00')
            lower_text, upper_text = bound.split("'")[1], bound.split("'")[3]
            lower, upper = (datetime.fromisoformat(t).astimezone(UTC) for t in (lower_text, upper_text))
        partitions.append(SpanPartition(name=name, lower=lower, upper=upper, rows=rows))
    partitions.sort(key=lambda p: (p.is_default, p.lower or datetime.min.replace(tzinfo=UTC)))
    return partitions


def span_partition_create(*, month: datetime) -> bool:
    """Create the partition of `month` unless it exists; False when it did.

    Spans of that month already in the default partition (written before it existed) move into it,
    in the same transaction: PostgreSQL refuses a partition whose rows the default still holds.
    """
    month = month_start(month)
    name, upper = partition_name(month), month_after(month)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [name])
        if cursor.fetchone()[0] is not None:
            return False
        cursor.execute(
            "CREATE TEMPORARY TABLE assay_partition_move ON COMMIT DROP AS "
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE start_time >= %s AND start_time < %s RETURNING *) "
            f"SELECT {_COLUMNS} FROM moved",
            [month, upper],
        )
        moved = cursor.rowcount
        # Bounds are literals (DDL takes no parameters), made here from a datetime, never from input.
        cursor.execute(
            f"CREATE TABLE {name} PARTITION OF {PARENT} "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{upper.isoformat()}')"
        )
        if moved:
            cursor.execute(f"INSERT INTO {PARENT} ({_COLUMNS}) SELECT {_COLUMNS} FROM assay_partition_move")
        cursor.execute("DROP TABLE assay_partition_move")  # now: the transaction may be an outer one's
    logger.info("span partition %s created (%s spans moved from the default partition)", name, moved)
    return True


def span_partitions_ensure(*, months_ahead: int | None = None, now: datetime | None = None) -> list[str]:
    """Beat: the partitions of this month and the next `months_ahead` (SPAN_PARTITIONS_AHEAD); the names made."""
    if not spans_partitioned():
        return []
    ahead = settings.SPAN_PARTITIONS_AHEAD if months_ahead is None else months_ahead
    month = month_start(now or timezone.now())
    made = []
    for _ in range(ahead + 1):
        if span_partition_create(month=month):
            made.append(partition_name(month))
        month = month_after(month)
    return made
