"""Retention by batched DELETE on PostgreSQL: how fast, and how long each batch's transaction is.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/assay_retention .venv/bin/python bench/retention.py

Seeds one project with N old traces (default 20,000) of 5 spans each, a score (with its history row) and
a comment on every tenth span, and pins 1% of the traces through dataset records. Then runs the
project's policy (max age 30 days) with the default batch of 1,000 traces and reports traces and spans
deleted per second and the longest batch (one transaction: the longest any lock is held).
The last line is `retention_spans_per_s=<n> max_batch_s=<s> kept_pinned=<n>`.
It uses (and migrates) the database in DATABASE_URL and deletes only its own project.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SLUG = "bench-retention"
SPANS_PER_TRACE = 5


def setup_django():
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://… (this benchmark measures PostgreSQL).")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(n: int):
    from django.utils import timezone

    from apps.datasets.models import Dataset, DatasetRecord
    from apps.projects.models import Project
    from apps.reviews.models import Comment, Score, ScoreConfig, ScoreEvent
    from apps.traces.models import Span, Trace

    Project.objects.filter(slug=SLUG).delete()
    project = Project.objects.create(slug=SLUG, name="Bench retention")
    config = ScoreConfig.objects.create(project=project, name="quality", kind="continuous")
    start = timezone.now() - timedelta(days=90)
    traces = Trace.objects.bulk_create(
        [Trace(project=project, trace_id=f"t{i}", start_time=start, span_count=SPANS_PER_TRACE) for i in range(n)],
        batch_size=5000,
    )
    spans = Span.objects.bulk_create(
        [
            Span(project=project, trace=t, span_id=f"{t.trace_id}-{j}", start_time=start, input={"q": "x" * 200})
            for t in traces
            for j in range(SPANS_PER_TRACE)
        ],
        batch_size=5000,
    )
    scored = spans[::10]
    scores = Score.objects.bulk_create(
        [Score(project=project, span=s, config=config, value=0.5, source="api") for s in scored], batch_size=5000
    )
    ScoreEvent.objects.bulk_create(
        [
            ScoreEvent(project=project, span_id=s.span_id, config=config, score=s, action="create", source="api")
            for s in scores
        ],
        batch_size=5000,
    )
    Comment.objects.bulk_create([Comment(project=project, span=s, text="ok") for s in scored], batch_size=5000)
    dataset = Dataset.objects.create(project=project, name="pinned")
    DatasetRecord.objects.bulk_create(
        [
            DatasetRecord(dataset=dataset, record_id=f"r{i}", source_span=spans[i * SPANS_PER_TRACE], version_from=1)
            for i in range(0, n, 100)
        ],
        batch_size=5000,
    )
    return project


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=20_000)
    args = parser.parse_args()
    setup_django()
    from apps.retention import deletion
    from apps.retention.models import RetentionPolicy
    from apps.retention.services import retention_run

    project = seed(args.traces)
    policy = RetentionPolicy.objects.create(project=project, max_age_days=30)
    batch_seconds: list[float] = []
    real = deletion.traces_delete

    def timed(**kwargs):
        began = time.perf_counter()
        try:
            return real(**kwargs)
        finally:
            batch_seconds.append(time.perf_counter() - began)

    deletion.traces_delete = timed
    began = time.perf_counter()
    run = retention_run(policy=policy)
    elapsed = time.perf_counter() - began
    deletion.traces_delete = real
    assert run.status == "succeeded", run.error
    print(
        f"traces={args.traces} spans={args.traces * SPANS_PER_TRACE} deleted traces={run.traces_deleted} "
        f"spans={run.spans_deleted} batches={run.batches} seconds={elapsed:.2f}"
    )
    print(
        f"retention_spans_per_s={run.spans_deleted / elapsed:.0f} max_batch_s={max(batch_seconds):.3f} "
        f"kept_pinned={run.kept_pinned}"
    )
    project.delete()


if __name__ == "__main__":
    main()
