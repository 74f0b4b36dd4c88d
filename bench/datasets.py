"""Dataset versioning benchmark on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/assay_h4 .venv/bin/python bench/datasets.py

1. Seeds (COPY) a dataset of N records (default 100,000) and one of 1,000 records, each record about
   0.5 KB of chat-shaped JSON, with history: version 1 inserts everything, version 2 updates 10% of
   the records and deletes 1%, so a read has closed revisions to skip.
2. Commit: `dataset_records_upsert` with a one-record change, repeated on each dataset alternately;
   counts the rows each commit writes (inserted + updated revisions, version row, dataset row) and
   takes the median time. Target: the same row count, and time(N) <= 2 x time(1,000).
3. Read: the whole latest version of the large dataset through `dataset_records_at_version` (its SQL,
   fetched in full, in record_id order) against a plain unordered `SELECT` of the same rows and
   columns from a scratch table holding exactly that version's rows (a sequential scan, no filter).
   Target: >= 50% of the plain SELECT's speed.

The last line is `commit_100k_vs_1k=<ratio> read_vs_plain_select=<ratio>`.
It uses (and migrates) the database in DATABASE_URL and deletes only its own project.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SLUG = "bench-datasets"


def setup_django():
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://… (this benchmark measures PostgreSQL).")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def record_row(i: int, variant: int = 0) -> tuple:
    question = f"Customer {i} asks about order {i * 7 % 100000}: can I return item {i % 97} after {i % 45} days?"
    input_ = {
        "messages": [
            {"role": "system", "content": "You are a helpful support assistant."},
            {"role": "user", "content": question},
        ]
    }
    expected = {"role": "assistant", "content": f"Answer v{variant}: returns are accepted within 30 days ({i})."}
    metadata = {"topic": ["refunds", "shipping", "billing"][i % 3], "source": {"span_id": f"s{i}"}, "n": i}
    tags = ["refunds"] if i % 3 == 0 else []
    splits = ["test"] if i % 10 == 0 else ["train"]
    return (
        f"rec-{i:07d}",
        json.dumps(input_),
        json.dumps(expected),
        json.dumps(metadata),
        json.dumps(tags),
        json.dumps(splits),
    )


def seed(project, name: str, size: int):
    """Versions 1 (insert all) and 2 (update 10%, delete 1%) written directly with COPY, as the service would."""
    from django.db import connection, transaction

    from apps.datasets.models import Dataset, DatasetRecord, DatasetVersion

    dataset = Dataset.objects.create(project=project, name=name)
    table = DatasetRecord._meta.db_table
    columns = (
        "dataset_id, record_id, input, expected, metadata, tags, splits, origin, version_from, version_to, created_at"
    )
    updated = set(range(0, size, 10))
    deleted = set(range(5, size, 100))
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for i in range(size):
                closed = 2 if (i in updated or i in deleted) else None
                copy.write_row((dataset.pk, *record_row(i), "manual", 1, closed, "2026-01-01T00:00:00Z"))
            for i in sorted(updated - deleted):
                copy.write_row((dataset.pk, *record_row(i, 2), "manual", 2, None, "2026-01-02T00:00:00Z"))
        live = size - len(deleted)
        DatasetVersion.objects.create(dataset=dataset, number=1, added=size, record_count=size)
        DatasetVersion.objects.create(
            dataset=dataset, number=2, updated=len(updated - deleted), removed=len(deleted), record_count=live
        )
        Dataset.objects.filter(pk=dataset.pk).update(latest_version=2)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    dataset.refresh_from_db()
    return dataset


def rows_written(dataset, number: int) -> int:
    from apps.datasets.models import DatasetRecord, DatasetVersion

    inserted = DatasetRecord.objects.filter(dataset=dataset, version_from=number).count()
    closed = DatasetRecord.objects.filter(dataset=dataset, version_to=number).count()
    versions = DatasetVersion.objects.filter(dataset=dataset, number=number).count()
    return inserted + closed + versions + 1  # + the dataset row's latest_version


def one_record_commit(dataset, i: int, round_: int) -> tuple[float, int]:
    from apps.datasets.services.records import dataset_records_upsert

    record_id, input_, expected, metadata, tags, splits = record_row(i, 100 + round_)
    record = {
        "record_id": record_id,
        "input": json.loads(input_),
        "expected": json.loads(expected),
        "metadata": json.loads(metadata),
        "tags": json.loads(tags),
        "splits": json.loads(splits),
    }
    started = time.perf_counter()
    version = dataset_records_upsert(dataset=dataset, records=[record], message="bench: one change")
    elapsed = time.perf_counter() - started
    assert version is not None and version.updated == 1
    return elapsed, rows_written(dataset, version.number)


def fetch_all(sql: str, params) -> tuple[float, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        elapsed = time.perf_counter() - started
    return elapsed, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--commits", type=int, default=21)
    parser.add_argument("--reads", type=int, default=5)
    args = parser.parse_args()
    setup_django()

    from django.db import connection

    from apps.datasets.selectors import dataset_records_at_version
    from apps.projects.models import Project

    Project.objects.filter(slug=SLUG).delete()
    project = Project.objects.create(slug=SLUG, name="Datasets benchmark")
    try:
        started = time.perf_counter()
        big = seed(project, "big", args.records)
        small = seed(project, "small", args.small)
        print(
            f"seeded {args.records:,} + {args.small:,} records (2 versions each) in "
            f"{time.perf_counter() - started:.1f}s"
        )

        # Warm up both paths once, then alternate so drift hits both equally.
        one_record_commit(big, 1, 0)
        one_record_commit(small, 1, 0)
        big_times, small_times, big_rows, small_rows = [], [], set(), set()
        for round_ in range(1, args.commits + 1):
            t, rows = one_record_commit(big, (round_ * 7919) % args.records // 10 * 10 + 1, round_)
            big_times.append(t)
            big_rows.add(rows)
            t, rows = one_record_commit(small, (round_ * 31) % args.small // 10 * 10 + 1, round_)
            small_times.append(t)
            small_rows.add(rows)
        big_ms, small_ms = statistics.median(big_times) * 1000, statistics.median(small_times) * 1000
        print(
            f"one-record commit: {args.records:,} records {big_ms:.2f} ms (rows written {sorted(big_rows)}), "
            f"{args.small:,} records {small_ms:.2f} ms (rows written {sorted(small_rows)})"
        )
        assert big_rows == small_rows and len(big_rows) == 1, "a one-record commit must write a constant row count"

        big.refresh_from_db()
        qs = dataset_records_at_version(dataset=big, version=big.latest_version).values_list(
            "record_id", "input", "expected", "metadata", "tags", "splits"
        )
        version_sql, version_params = qs.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_dataset_snapshot")
            cursor.execute(f"CREATE TABLE bench_dataset_snapshot AS {version_sql}", version_params)
            cursor.execute("ANALYZE bench_dataset_snapshot")
        # The baseline is the cheapest way to get those rows: a sequential scan, no filter, no order.
        plain_sql = "SELECT record_id, input, expected, metadata, tags, splits FROM bench_dataset_snapshot"
        ordered_sql = plain_sql + " ORDER BY record_id"
        version_times, plain_times, ordered_times = [], [], []
        fetch_all(version_sql, version_params)
        fetch_all(plain_sql, ())
        for _ in range(args.reads):
            t, n_version = fetch_all(version_sql, version_params)
            version_times.append(t)
            t, n_plain = fetch_all(plain_sql, ())
            plain_times.append(t)
            ordered_times.append(fetch_all(ordered_sql, ())[0])
        assert n_version == n_plain, (n_version, n_plain)
        version_ms, plain_ms = statistics.median(version_times) * 1000, statistics.median(plain_times) * 1000
        print(
            f"read version {big.latest_version} ({n_version:,} records, in record_id order): {version_ms:.0f} ms; "
            f"plain SELECT of the same rows: {plain_ms:.0f} ms unordered, "
            f"{statistics.median(ordered_times) * 1000:.0f} ms ordered"
        )
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + version_sql, version_params)
            print("plan: " + " | ".join(row[0].strip() for row in cursor.fetchall()[:4]))

        commit_ratio = big_ms / small_ms
        read_ratio = plain_ms / version_ms
        print(
            f"commit_100k_vs_1k={commit_ratio:.2f} (target <= 2.00) "
            f"read_vs_plain_select={read_ratio:.2f} (target >= 0.50)"
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_dataset_snapshot")
        Project.objects.filter(slug=SLUG).delete()


if __name__ == "__main__":
    main()
