"""The set-based writer of result rows: upsert by (experiment, record_id), JSON already serialised.

PostgreSQL: `COPY` into a temporary staging table, then one `INSERT … SELECT … ON CONFLICT DO UPDATE`
(the span ingest's pattern; psycopg's array and per-value adaptation cost more than the database's
work). SQLite: one `executemany` of `INSERT … ON CONFLICT DO UPDATE`. Rows go in record_id order, so
concurrent batches lock the same rows in the same order and never deadlock.
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from .models import RESULT_FIELDS, ExperimentResult

# A row: these values in this order; the JSON columns (input, expected, output, metadata) as JSON text.
RESULT_COLUMNS = (*RESULT_FIELDS, "span_id", "trace_id")
JSON_COLUMNS = frozenset({"input", "expected", "output", "metadata"})
TABLE = ExperimentResult._meta.db_table
_UPDATE = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*RESULT_COLUMNS[1:], "updated_at"))
_INSERT = ", ".join(("experiment_id", *RESULT_COLUMNS, "created_at", "updated_at"))


def _stage_ddl() -> str:
    columns = []
    for name in RESULT_COLUMNS:
        field = ExperimentResult._meta.get_field(name)
        kind = "text" if name in JSON_COLUMNS else field.db_type(connection)
        columns.append(f"{field.column} {kind}")
    return f"CREATE TEMPORARY TABLE IF NOT EXISTS assay_result_stage ({', '.join(columns)}) ON COMMIT DELETE ROWS"


def result_rows_upsert(*, experiment_id: int, rows: list[tuple]) -> None:
    """Insert or update these rows (RESULT_COLUMNS order) of the experiment; the caller holds a transaction."""
    if not rows:
        return
    rows = sorted(rows, key=lambda row: row[0])
    now = timezone.now()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Ingest turned seq scans off for this transaction (`_plan_index_lookups`): the staging table's
            # scan then costs 1e10 and PostgreSQL JIT-compiles the INSERT, 2.5 s a batch. JIT never pays here.
            cursor.execute(f"SET LOCAL jit = off; {_stage_ddl()}; DELETE FROM assay_result_stage")
            with cursor.cursor.copy(f"COPY assay_result_stage ({', '.join(RESULT_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            select = ", ".join(f"{c}::jsonb" if c in JSON_COLUMNS else c for c in RESULT_COLUMNS)
            cursor.execute(
                f"INSERT INTO {TABLE} ({_INSERT}) SELECT %s, {select}, %s, %s FROM assay_result_stage "
                f"ORDER BY record_id ON CONFLICT (experiment_id, record_id) DO UPDATE SET {_UPDATE}",
                [experiment_id, now, now],
            )
            return
        stamp = connection.ops.adapt_datetimefield_value(now)
        marks = ", ".join(["%s"] * (len(RESULT_COLUMNS) + 3))
        cursor.executemany(
            f"INSERT INTO {TABLE} ({_INSERT}) VALUES ({marks}) "
            f"ON CONFLICT (experiment_id, record_id) DO UPDATE SET {_UPDATE}",
            [(experiment_id, *row, stamp, stamp) for row in rows],
        )
