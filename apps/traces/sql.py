"""What ingest's raw SQL shares: the dialect, chunks of a long id list, placeholders, index-only plans."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def chunks(values: list, size: int = 500) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def sql_marks(values: list) -> str:
    """`%s, %s, …`: one placeholder a value."""
    return ", ".join(["%s"] * len(values))


def plan_index_lookups() -> None:
    """Keep this transaction's lookups, including the deferred foreign-key checks run at COMMIT, on indexes.

    Every lookup ingest makes is by key. Right after a table was emptied or created its statistics
    say it is tiny, the planner picks sequential scans, and PostgreSQL caches the foreign-key
    checks' plans for the life of the connection: with persistent connections a fresh install
    then got slower with every batch until autovacuum analysed the tables. The disabled scans' costs
    (1e10) would make every statement look worth JIT-compiling (a second each on the partitioned
    span table, whose plans span every partition): JIT is off for the transaction too.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL jit = off")
