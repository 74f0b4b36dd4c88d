"""Month partitions of spans at scale (PostgreSQL): lists and pages, and retention by partition drop.

    .venv/bin/python bench/partitions.py     # BENCH_DATABASE_URL, default .../assay_partitions_bench

1. (Re)creates the database in BENCH_DATABASE_URL and migrates it (spans become month partitions).
2. Seeds, with set-based SQL, a large project of 12 months x `--traces-per-month` traces of 10 spans
   (default 41,667: 5,000,040 spans, ~417k a month, one partition a month) and a small one of 1,000
   traces (10,000 spans) over the last 14 days; spans carry ~0.5 KB of JSON, as in trace_lists.py.
   Every seeding ends with VACUUM (ANALYZE), as autovacuum leaves an old month in production.
3. Lists: a viewer of each project loads the admin trace list, a trace page, the API trace list,
   the API span list and a trace's API detail `--rounds` times, alternating projects; median time,
   queries counted. PASS: equal query counts and every ratio at most 1.5.
4. Retention of the oldest month, twice on the same data: its spans get a score (with its history
   row) and a comment on one span in a hundred, five traces are pinned by dataset records; the policy's
   cutoff is the next month's start. First `batched_delete` (the batched DELETE), then the month is
   seeded and annotated again the same way and `partition_drop` drops it. PASS: drop at least 20x faster.

`--reuse` keeps a database seeded by an earlier run (the lists and the drop can be measured again
without seeding 5M spans): the oldest month, which that run dropped, is created and seeded again.

The last line is `partitions: lists worst x<r> (<op>), queries equal <bool>; drop x<r> (<batched s>s
vs <drop s>s, <spans> spans); PASS|FAIL`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from trace_lists import _filler, measure, recreate_database, setup_django  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/assay_partitions_bench"
SPANS_PER_TRACE = 10
MONTHS = 12
PINNED = 5


def _settle(cur) -> None:
    """VACUUM (ANALYZE) after seeding: a month old enough to expire has long been vacuumed by
    autovacuum in production (hint bits set, pages all-visible). Freshly loaded, both strategies pay
    for that first pass instead (the first 5M run: batched DELETE 296 s, later runs 68–92 s)."""
    for table in ("traces_trace", "traces_span", "traces_span_key", "reviews_score", "reviews_comment"):
        cur.execute(f"VACUUM (ANALYZE) {table}")


def _seed_traces(cur, *, project_id: int, prefix: str, n: int, lower: datetime, seconds: float) -> None:
    """`n` traces of 10 spans starting evenly over `seconds` from `lower`, summaries matching the spans."""
    cols, exprs = _filler(
        cur,
        "traces_trace",
        {
            "project_id": str(project_id),
            "trace_id": f"'{prefix}-' || g",
            "name": "CASE WHEN g %% 3 = 0 THEN 'rag-answer' ELSE 'support-agent' END",
            "root_span_id": f"'{prefix}-' || g || '-0'",
            "start_time": f"%s::timestamptz + (g::float / {n}) * %s * interval '1 second'",
            "end_time": f"%s::timestamptz + (g::float / {n}) * %s * interval '1 second' + interval '170 milliseconds'",
            "duration_ms": "170",
            "span_count": str(SPANS_PER_TRACE),
            "has_error": "g %% 10 = 0",
            "total_tokens": "300 + g %% 500",
            "review_status": "'none'",
            "input_preview": "'Where is my parcel number ' || g || '? It was due last week.'",
            "output_preview": "'Your parcel is on its way and arrives tomorrow.'",
            "user_id": "'user-' || g %% 97",
            "session_id": "'sess-' || g %% 911",
        },
    )
    cur.execute(
        f"INSERT INTO traces_trace ({cols}) SELECT {exprs} FROM generate_series(1, %s) g",
        [lower, seconds, lower, seconds, n],
    )
    cols, exprs = _filler(
        cur,
        "traces_span",
        {
            "project_id": str(project_id),
            "trace_id": "t.id",
            "span_id": "t.trace_id || '-' || s",
            "parent_span_id": "CASE WHEN s = 0 THEN '' ELSE t.trace_id || '-0' END",
            "name": "CASE s WHEN 0 THEN t.name WHEN 1 THEN 'vector-search' ELSE 'chat-completion' END",
            "type": "CASE s WHEN 0 THEN 'task' WHEN 1 THEN 'retrieval' WHEN 2 THEN 'tool' ELSE 'llm' END",
            "start_time": "t.start_time + s * interval '10 milliseconds'",
            "end_time": "t.start_time + s * interval '10 milliseconds' + interval '80 milliseconds'",
            "duration_ms": "80",
            "is_error": "s = 2 AND t.has_error",
            "input": "jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Where is my parcel number ' "
            "|| t.id || '? It was due last week and the tracking page shows nothing at all, can you check? "
            "I ordered it for a birthday on Saturday and need to know whether to buy something else.'))",
            "output": "jsonb_build_object('role', 'assistant', 'content', 'Your parcel is on its way with DHL and "
            "arrives tomorrow before noon. I have added a note to your order so the courier calls ahead.')",
            "metadata": "jsonb_build_object('region', CASE WHEN t.id %% 2 = 0 THEN 'eu' ELSE 'us' END)",
            "metrics": "'{}'::jsonb",
            "annotation_metadata": "'{}'::jsonb",
            "tags": "'[]'::jsonb",
        },
    )
    cur.execute(
        f"INSERT INTO traces_span ({cols}) SELECT {exprs} FROM traces_trace t "
        f"CROSS JOIN generate_series(0, %s) s WHERE t.project_id = %s AND t.trace_id LIKE %s",
        [SPANS_PER_TRACE - 1, project_id, f"{prefix}-%"],
    )


def seed_project(*, slug: str, months: list[datetime] | None, traces: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from apps.projects.models import Role
    from apps.projects.services import membership_set, project_create
    from apps.traces.partitions import month_after

    started = time.perf_counter()
    project = project_create(slug=slug, name=slug)
    viewer = get_user_model().objects.create_user(username=f"{slug}-viewer", password="x", is_staff=True)
    membership_set(project=project, user=viewer, role=Role.VIEWER)
    with connection.cursor() as cur:
        if months is None:  # the last 14 days
            lower = timezone.now() - timedelta(days=14)
            _seed_traces(cur, project_id=project.pk, prefix=slug, n=traces, lower=lower, seconds=14 * 86400 - 60)
        for month in months or []:
            seconds = (month_after(month) - month).total_seconds() - 3600
            _seed_traces(
                cur, project_id=project.pk, prefix=f"{slug}-{month:%Y%m}", n=traces, lower=month, seconds=seconds
            )
        _settle(cur)
    print(f"seeded {slug}: {project.spans.count():,} spans in {time.perf_counter() - started:.0f}s", flush=True)
    return {"project": project, "viewer": viewer}


def reseed_oldest(months: list[datetime], traces: int) -> dict:
    """`--reuse`: the projects of an earlier run, the oldest month (dropped by that run) seeded again."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from apps.datasets.models import DatasetRecord
    from apps.projects.models import Project
    from apps.retention.deletion import batched_delete
    from apps.retention.models import RetentionPolicy
    from apps.retention.selectors import retention_plan
    from apps.traces.partitions import month_after, span_partition_create

    contexts = {}
    for slug in ("small", "large"):
        project = Project.objects.get(slug=slug)
        contexts[slug] = {"project": project, "viewer": get_user_model().objects.get(username=f"{slug}-viewer")}
    oldest, project = months[0], contexts["large"]["project"]
    month = project.spans.filter(start_time__gte=oldest, start_time__lt=month_after(oldest))
    if month.count() < traces * SPANS_PER_TRACE:  # dropped by the last run, its pinned traces left
        # The earlier run's pinned traces (moved to the default partition) go first: their ids are reseeded.
        DatasetRecord.objects.filter(dataset__project=project).delete()
        policy, _ = RetentionPolicy.objects.update_or_create(project=project, defaults={"max_age_days": 365})
        batched_delete(retention_plan(policy=policy, now=month_after(oldest) + timedelta(days=365)))
        span_partition_create(month=oldest)
        with connection.cursor() as cur:
            seconds = (month_after(oldest) - oldest).total_seconds() - 3600
            _seed_traces(
                cur, project_id=project.pk, prefix=f"large-{oldest:%Y%m}", n=traces, lower=oldest, seconds=seconds
            )
            _settle(cur)
        print(f"reseeded {oldest:%Y-%m}", flush=True)
    return contexts


def operations(project) -> dict[str, str]:
    from apps.traces.models import Trace

    trace = Trace.objects.filter(project=project).order_by("-start_time")[77]
    return {
        "admin traces": "/admin/traces/trace/",
        "admin trace page": f"/admin/traces/trace/{trace.pk}/change/",
        "api traces": "/api/v1/traces/",
        "api spans": "/api/v1/spans/",
        "api trace detail": f"/api/v1/traces/{trace.trace_id}/",
    }


def lists(small: dict, large: dict, rounds: int) -> tuple[float, str, bool]:
    from django.test import Client

    clients, ops = {}, {}
    for name, ctx in (("small", small), ("large", large)):
        clients[name] = Client()
        clients[name].force_login(ctx["viewer"])
        ops[name] = operations(ctx["project"])
    results = {name: {op: ([], []) for op in ops[name]} for name in clients}
    for op in ops["small"]:
        for name in clients:
            measure(clients[name], ops[name][op])  # warm-up
    for _ in range(rounds):
        for op in ops["small"]:
            for name in ("small", "large"):
                elapsed, queries = measure(clients[name], ops[name][op])
                results[name][op][0].append(elapsed)
                results[name][op][1].append(queries)
    worst, worst_op, same = 0.0, "", True
    for op in ops["small"]:
        small_ms = statistics.median(results["small"][op][0]) * 1000
        large_ms = statistics.median(results["large"][op][0]) * 1000
        small_q, large_q = max(results["small"][op][1]), max(results["large"][op][1])
        print(f"{op}: {small_ms:.1f} / {large_ms:.1f} ms = x{large_ms / small_ms:.2f}, queries {small_q}/{large_q}")
        same = same and small_q == large_q
        if large_ms / small_ms > worst:
            worst, worst_op = large_ms / small_ms, op
    return worst, worst_op, same


def annotate_month(project, month: datetime, prefix: str) -> None:
    """A score (with its event) and a comment on one span in 100 of the month; PINNED traces pinned."""
    from django.db import connection

    from apps.datasets.models import Dataset, DatasetRecord
    from apps.reviews.models import ScoreConfig
    from apps.traces.models import Span
    from apps.traces.partitions import month_after

    config, _ = ScoreConfig.objects.get_or_create(project=project, name="quality", defaults={"kind": "continuous"})
    month_spans = "FROM traces_span WHERE project_id = %s AND start_time >= %s AND start_time < %s AND span_id LIKE %s"
    bounds = [project.pk, month, month_after(month), f"{prefix}-%"]
    with connection.cursor() as cur:
        for table, given in (
            (
                "reviews_score",
                {
                    "project_id": str(project.pk),
                    "span_id": "id",
                    "config_id": str(config.pk),
                    "value": "0.5",
                    "source": "'api'",
                },
            ),
            ("reviews_comment", {"project_id": str(project.pk), "span_id": "id", "text": "'ok'"}),
        ):
            cols, exprs = _filler(cur, table, given)
            cur.execute(f"INSERT INTO {table} ({cols}) SELECT {exprs} {month_spans} AND id %% 100 = 0", bounds)
        cols, exprs = _filler(
            cur,
            "reviews_scoreevent",
            {
                "project_id": "s.project_id",
                "span_id": "s.span_id",
                "config_id": "s.config_id",
                "score_id": "s.id",
                "action": "'create'",
                "source": "'api'",
            },
        )
        cur.execute(
            f"INSERT INTO reviews_scoreevent ({cols}) SELECT {exprs} FROM reviews_score s "
            "WHERE s.span_id IN (SELECT id " + month_spans + ")",
            bounds,
        )
    dataset, _ = Dataset.objects.get_or_create(project=project, name="pinned")
    roots = Span.objects.filter(
        project=project,
        span_id__startswith=f"{prefix}-",
        span_id__endswith="-0",
        start_time__gte=month,
        start_time__lt=month_after(month),
    ).order_by("id")[:PINNED]
    DatasetRecord.objects.bulk_create(
        [DatasetRecord(dataset=dataset, record_id=f"{prefix}-r{s.pk}", source_span=s, version_from=1) for s in roots]
    )


def retention(large: dict, months: list[datetime], traces: int) -> tuple[float, float, int]:
    from django.db import connection

    from apps.retention.deletion import batched_delete
    from apps.retention.models import RetentionPolicy
    from apps.retention.partition_drop import partition_drop
    from apps.retention.selectors import retention_plan
    from apps.traces.partitions import month_after

    project, oldest = large["project"], months[0]
    cutoff = month_after(oldest)
    policy, _ = RetentionPolicy.objects.update_or_create(project=project, defaults={"max_age_days": 365})
    # The plan's `now`: 365 days after the cutoff, so the cutoff is the second month's start.
    now = cutoff + timedelta(days=365)
    prefix = f"large-{oldest:%Y%m}"
    annotate_month(project, oldest, prefix)
    began = time.perf_counter()
    batched = batched_delete(retention_plan(policy=policy, now=now))
    batched_s = time.perf_counter() - began
    print(f"batched DELETE: {batched.traces:,} traces, {batched.spans:,} spans in {batched_s:.1f}s", flush=True)
    with connection.cursor() as cur:
        seconds = (cutoff - oldest).total_seconds() - 3600
        _seed_traces(cur, project_id=project.pk, prefix=f"{prefix}b", n=traces, lower=oldest, seconds=seconds)
        _settle(cur)
    annotate_month(project, oldest, f"{prefix}b")
    statements: list[tuple[float, str]] = []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((time.perf_counter() - started, " ".join(sql.split())[:150]))

    began = time.perf_counter()
    with connection.execute_wrapper(timed):
        dropped = partition_drop(retention_plan(policy=policy, now=now))
    drop_s = time.perf_counter() - began
    ranked = sorted(statements, reverse=True)
    for seconds, sql in ranked[:25]:
        print(f"  drop statement {seconds:.3f}s: {sql}")
    rest = sum(seconds for seconds, _ in ranked[25:])
    print(f"  {len(ranked)} statements, {sum(s for s, _ in ranked):.2f}s in all, {rest:.2f}s after the 25 slowest")
    print(f"partition drop: {dropped.traces:,} traces, {dropped.spans:,} spans in {drop_s:.2f}s", flush=True)
    assert dropped.spans == batched.spans, (dropped.spans, batched.spans)
    return batched_s, drop_s, dropped.spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces-per-month", type=int, default=41_667)
    parser.add_argument("--small-traces", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="keep the database an earlier run seeded")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    if not args.reuse:
        recreate_database(url)
    setup_django(url)
    from apps.traces.partitions import month_after, month_start, span_partition_create

    first = month_start(datetime.now(UTC))
    for _ in range(MONTHS - 1):
        first = month_start(first - timedelta(days=1))
    months = [first]
    while len(months) < MONTHS:
        months.append(month_after(months[-1]))
    for month in months:
        span_partition_create(month=month)
    if args.reuse:
        contexts = reseed_oldest(months, args.traces_per_month)
        small, large = contexts["small"], contexts["large"]
    else:
        small = seed_project(slug="small", months=None, traces=args.small_traces)
        large = seed_project(slug="large", months=months, traces=args.traces_per_month)
    worst, worst_op, same = lists(small, large, args.rounds)
    batched_s, drop_s, spans = retention(large, months, args.traces_per_month)
    ratio = batched_s / drop_s
    ok = same and worst <= 1.5 and ratio >= 20
    print(
        f"partitions: lists worst x{worst:.2f} ({worst_op}), queries equal {same}; drop x{ratio:.1f} "
        f"({batched_s:.1f}s vs {drop_s:.2f}s, {spans:,} spans); {'PASS' if ok else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
