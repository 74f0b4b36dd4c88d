"""Compare runs at 1k and 100k results per experiment (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/assay_exp_compare .venv/bin/python bench/compare.py

1. Seeds, with one INSERT … SELECT generate_series per table, two pairs of experiments on one dataset
   version: 1,000 and N (default 100,000) results per experiment, each result on its own one-span
   trace with one automated score (values spread so about a third of the records regress, a third
   improve).
2. Warms the cache: the first read of each pair computes the summary (means, bootstrap intervals,
   per-record changes); its time is printed, it is paid once per change of the data.
3. Times, alternating small and large, the admin compare page, the API's first page and the API
   filtered to the regressions (`config`, `change`), each through Django's test client signed in as a
   superuser: medians of R rounds (default 15), with the query count of each.

The last line is `compare_100k_vs_1k=<ratio>`: the largest of the three large/small median ratios
(target ≤ 1.5, with the same query counts). It deletes only its own project.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SLUG = "bench-compare"


def setup_django():
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://… (this benchmark measures PostgreSQL).")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]


def _literal(field) -> str:
    """A column's value for rows the bench does not set: its Django default as SQL."""
    import json

    from django.db import models

    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return "now()"
    default = field.get_default()
    if isinstance(field, models.JSONField):
        return f"'{json.dumps(default)}'::jsonb"
    if default is None:
        return "NULL"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, int | float):
        return repr(default)
    return "'" + str(default).replace("'", "''") + "'"


def insert_select(model, values: dict[str, str], source: str) -> None:
    """INSERT INTO <model's table> SELECT <values, defaults for the rest> <source>."""
    from django.db import connection

    columns, exprs = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        exprs.append(values.get(field.column, _literal(field)))
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(exprs)} {source}"
    with connection.cursor() as cursor:
        cursor.execute(sql)


def seed_experiment(project, version, config, name: str, size: int, shift: int):
    from apps.experiments.models import Experiment, ExperimentResult
    from apps.reviews.models import Score
    from apps.traces.models import Span, Trace

    exp = Experiment.objects.create(
        project=project, dataset=version.dataset, dataset_version=version, version_number=1, name=name
    )
    tag = f"b{exp.pk}"
    spans_of = f"FROM traces_span s WHERE s.project_id = {project.pk} AND s.span_id LIKE '{tag}-%'"
    insert_select(
        Trace,
        {
            "project_id": str(project.pk),
            "trace_id": f"'{tag}-' || i",
            "name": "'experiment'",
            "span_count": "1",
            "start_time": "now()",
            "origin": "'experiment'",
        },
        f"FROM generate_series(1, {size}) AS g(i)",
    )
    insert_select(
        Span,
        {
            "project_id": str(project.pk),
            "trace_id": "t.id",
            "span_id": "t.trace_id",
            "name": "'experiment'",
            "type": "'task'",
            "start_time": "now()",
            "input": """jsonb_build_object('question', 'Can I return item ' || t.id || ' after 40 days?')""",
            "output": f"""to_jsonb('Returns are accepted within ' || ((t.id + {shift}) % 60) || ' days.')""",
        },
        f"FROM traces_trace t WHERE t.project_id = {project.pk} AND t.trace_id LIKE '{tag}-%'",
    )
    insert_select(
        ExperimentResult,
        {
            "experiment_id": str(exp.pk),
            "record_id": "'rec-' || lpad(split_part(s.span_id, '-', 2), 7, '0')",
            "input": "s.input",
            "expected": """to_jsonb('Within 30 days.'::text)""",
            "output": "s.output",
            "latency_ms": "120 + split_part(s.span_id, '-', 2)::int % 50",
            "span_id": "s.id",
            "trace_id": "s.span_id",
        },
        spans_of,
    )
    insert_select(
        Score,
        {
            "project_id": str(project.pk),
            "span_id": "s.id",
            "config_id": str(config.pk),
            "value": f"((split_part(s.span_id, '-', 2)::int * 7919 + {shift}) % 3) / 2.0",
            "source": "'automated'",
        },
        spans_of,
    )
    return exp


def _drop(project_id: int) -> None:
    """Delete a previous run's project: its big tables by SQL (the ORM would load every row), then the rest."""
    from django.db import connection

    from apps.projects.models import Project

    comparisons = f"SELECT id FROM experiments_experimentcomparison WHERE project_id = {project_id}"
    experiments = f"SELECT id FROM experiments_experiment WHERE project_id = {project_id}"
    statements = [
        f"DELETE FROM experiments_comparisonrecord WHERE comparison_id IN ({comparisons})",
        f"DELETE FROM experiments_experimentcomparison_experiments WHERE experimentcomparison_id IN ({comparisons})",
        f"DELETE FROM experiments_experimentcomparison WHERE project_id = {project_id}",
        f"DELETE FROM reviews_score WHERE project_id = {project_id}",
        f"DELETE FROM experiments_experimentresult WHERE experiment_id IN ({experiments})",
        f"DELETE FROM experiments_experiment WHERE project_id = {project_id}",
        f"DELETE FROM traces_span WHERE project_id = {project_id}",
        f"DELETE FROM traces_trace WHERE project_id = {project_id}",
    ]
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
    Project.objects.filter(pk=project_id).delete()


def seed(large: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from apps.datasets.models import Dataset, DatasetVersion
    from apps.projects.models import Project
    from apps.reviews.services.score_configs import score_config_create

    for old in Project.objects.filter(slug=SLUG):
        _drop(old.pk)
    project = Project.objects.create(slug=SLUG, name="compare bench")
    config = score_config_create(project=project, name="correct", kind="continuous", min_value=0, max_value=1)
    pairs = {}
    for size in (1_000, large):
        dataset = Dataset.objects.create(project=project, name=f"bench-{size}")
        version = DatasetVersion.objects.create(dataset=dataset, number=1, record_count=size)
        started = time.perf_counter()
        pairs[size] = [
            seed_experiment(project, version, config, f"{tag}-{size}", size, s) for tag, s in (("a", 0), ("b", 1))
        ]
        print(f"seeded 2 x {size:,} results in {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    user, _ = get_user_model().objects.get_or_create(username="bench-compare", defaults={"is_staff": True})
    user.is_staff = user.is_superuser = True
    user.save()
    return {"pairs": pairs, "user": user}


def timed(client, url: str) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, (url, response.status_code, response.content[:500])
    return elapsed, len(ctx.captured_queries)


def main():
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    setup_django()
    from django.test import Client

    world = seed(args.large)
    client = Client()
    client.force_login(world["user"])
    urls = {}
    for size, (a, b) in world["pairs"].items():
        ids = f"{a.pk},{b.pk}"
        urls[size] = {
            "page": f"/admin/experiments/experiment/compare/?ids={ids}",
            "api": f"/api/v1/experiments/compare/?ids={ids}&page_size=25",
            "api_regressed": f"/api/v1/experiments/compare/?ids={ids}&page_size=25&config=correct&change=regressed",
        }
        warm, _ = timed(client, urls[size]["api"])
        print(f"cache warm-up at {size:,}: {warm * 1000:.0f} ms (once per change of the data)")
    times = {size: {k: [] for k in urls[size]} for size in urls}
    queries = {size: {} for size in urls}
    for _ in range(args.rounds):
        for size in urls:
            for kind, url in urls[size].items():
                elapsed, count = timed(client, url)
                times[size][kind].append(elapsed)
                queries[size][kind] = count
    ratios = []
    small, large = 1_000, args.large
    for kind in urls[small]:
        t_small, t_large = statistics.median(times[small][kind]), statistics.median(times[large][kind])
        ratios.append(t_large / t_small)
        print(
            f"{kind:14s} 1k: {t_small * 1000:7.1f} ms {queries[small][kind]:2d} queries   "
            f"{large // 1000}k: {t_large * 1000:7.1f} ms {queries[large][kind]:2d} queries   ratio {t_large / t_small:.2f}"
        )
        assert queries[small][kind] == queries[large][kind], "query counts differ"
    print(f"compare_100k_vs_1k={max(ratios):.2f}")


if __name__ == "__main__":
    main()
