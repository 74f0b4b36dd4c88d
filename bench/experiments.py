"""Experiments benchmark on PostgreSQL: one line per measure, `name=value`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/assay_bench .venv/bin/python bench/experiments.py

Measures (add one: a function `(ctx) -> str` appended to MEASURES; it prints its own line):

- `results_vs_ingest`: N results (default 100,000) posted to `POST /api/v1/experiments/{id}/results/`
  in batches of 500 from several client threads, against the same number of items of the same JSON
  size posted to `POST /api/v1/ingest/` (one-span traces: what a result becomes) in the same run, on the
  same production server (gunicorn, `config.settings_production`). Bodies are serialised before the
  clock starts; every result, span and trace is checked to have landed. Target: >= 0.5.

It uses (and creates if missing) the database in DATABASE_URL, and deletes only its own project.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import (  # noqa: E402
    DEFAULT_DB,
    backend_pids,
    bench_rows_clear,
    cpu_seconds,
    django_setup,
    ensure_database,
    free_port,
    post_all,
    sentence,
    server_pids,
    start_server,
)

SLUG = "bench-experiments"


@dataclass
class Context:
    args: argparse.Namespace
    project: object
    key: str
    base: str
    server: object
    lines: list[str] = field(default_factory=list)


def project_reset():
    """A fresh bench project (its experiments, datasets and spans deleted) and a key."""
    from django.db import connection

    from apps.datasets.models import Dataset
    from apps.experiments.models import Experiment
    from apps.projects.models import Project
    from apps.projects.services import api_key_create

    project, _ = Project.objects.get_or_create(slug=SLUG, defaults={"name": "Experiments benchmark"})
    Experiment.objects.filter(project=project).delete()
    Dataset.objects.filter(project=project).delete()
    bench_rows_clear(project.pk)
    _, key = api_key_create(project=project, scopes=["ingest", "read", "write"])
    connection.close()
    return project, key


def dataset_with_records(project, count: int, rng: random.Random):
    """A dataset whose version 1 holds `count` records, written in bulk (set-up, not what is measured)."""
    from apps.datasets.models import Dataset, DatasetRecord, DatasetVersion

    dataset = Dataset.objects.create(project=project, name=f"bench-{count}", latest_version=1)
    DatasetVersion.objects.create(dataset=dataset, number=1, added=count, record_count=count)
    records = (
        DatasetRecord(
            dataset=dataset,
            record_id=f"rec-{n:07d}",
            input={"question": sentence(rng, 20)},
            expected=sentence(rng, 30),
            version_from=1,
        )
        for n in range(count)
    )
    DatasetRecord.objects.bulk_create(records, batch_size=5000)
    return dataset


def result_items(count: int, rng: random.Random) -> list[dict]:
    return [
        {
            "record_id": f"rec-{n:07d}",
            "output": {"role": "assistant", "content": sentence(rng, 45)},
            "latency_ms": round(rng.uniform(200, 4000), 1),
            "input_tokens": rng.randrange(200, 900),
            "output_tokens": rng.randrange(20, 200),
            "cost": round(rng.random() / 1000, 8),
            "metadata": {"model": "gpt-4o-mini", "attempt": 1, "worker": f"w-{rng.randrange(40)}"},
        }
        for n in range(count)
    ]


def span_items_like(results: list[dict]) -> list[dict]:
    """One-span traces carrying the same output, metrics and metadata, padded to the results' JSON size."""
    spans = []
    for n, result in enumerate(results):
        start = 1_750_000_000 + n
        span = {
            "trace_id": f"ing-{n:07d}",
            "span_id": f"ing-{n:07d}-s",
            "name": "eval",
            "type": "task",
            "start_time": start,
            "end_time": start + result["latency_ms"] / 1000,
            "output": result["output"],
            "metadata": dict(result["metadata"]),
            "metrics": {k: result[k] for k in ("input_tokens", "output_tokens", "cost")},
        }
        missing = len(json.dumps(result)) - len(json.dumps(span))
        if missing > 12:
            span["metadata"]["pad"] = "x" * (missing - 12)
        spans.append(span)
    return spans


def bodies(key: str, items: list[dict], batch: int) -> list[bytes]:
    return [json.dumps({key: items[i : i + batch]}).encode() for i in range(0, len(items), batch)]


def timed_post(ctx: Context, path: str, payload: list[bytes]) -> tuple[float, float]:
    """(seconds, server CPU seconds) to post every body; every answer must accept every item."""
    web, db = server_pids(ctx.server), backend_pids()
    before = cpu_seconds(web + db)
    headers = {"Authorization": f"Bearer {ctx.key}", "Content-Type": "application/json"}
    elapsed, answers = post_all(ctx.base, path, payload, headers, ctx.args.threads)
    cpu = cpu_seconds(web + db + [p for p in backend_pids() if p not in db]) - before
    bad = [a for a in answers if a[0] != 200 or json.loads(a[1])["rejected"]]
    assert not bad, bad[:2]
    return elapsed, cpu


def counts(project_pk: int, experiment_pk: int) -> tuple[int, int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM traces_span WHERE project_id = %s", [project_pk])
        spans = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM traces_trace WHERE project_id = %s", [project_pk])
        traces = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM experiments_experimentresult WHERE experiment_id = %s", [experiment_pk])
        results = cursor.fetchone()[0]
    connection.close()
    return spans, traces, results


def measure_results_vs_ingest(ctx: Context) -> str:
    from apps.experiments.models import ExperimentResult
    from apps.experiments.services import experiment_create

    n, rng = ctx.args.results, random.Random(11)
    started = time.perf_counter()
    dataset = dataset_with_records(ctx.project, n, rng)
    experiment = experiment_create(project=ctx.project, dataset=dataset, name=f"bench-{n}")
    print(f"dataset: {n} records in {time.perf_counter() - started:.1f}s (set-up, not measured)")
    results = result_items(n, rng)
    spans = span_items_like(results)
    sizes = [sum(len(json.dumps(x)) for x in items) / n for items in (results, spans)]
    print(f"items: {n}, JSON bytes an item: results {sizes[0]:.0f}, spans {sizes[1]:.0f}; batches of {ctx.args.batch}")
    result_bodies, span_bodies = bodies("results", results, ctx.args.batch), bodies("spans", spans, ctx.args.batch)
    path = f"/api/v1/experiments/{experiment.pk}/results/"

    # Warm-up of both paths in every worker, then a clean slate.
    timed_post(ctx, "/api/v1/ingest/", [span_bodies[0]] * 4)
    timed_post(ctx, path, [result_bodies[0]] * 4)
    ExperimentResult.objects.filter(experiment=experiment).delete()
    bench_rows_clear(ctx.project.pk)

    ingest_s, ingest_cpu = timed_post(ctx, "/api/v1/ingest/", span_bodies)
    assert counts(ctx.project.pk, experiment.pk) == (n, n, 0)
    bench_rows_clear(ctx.project.pk)
    results_s, results_cpu = timed_post(ctx, path, result_bodies)
    assert counts(ctx.project.pk, experiment.pk) == (n, n, n)
    ExperimentResult.objects.filter(experiment=experiment).delete()
    bench_rows_clear(ctx.project.pk)

    ingest_rate, results_rate = n / ingest_s, n / results_s
    print(f"ingest: {n} spans in {ingest_s:.2f}s, server CPU {ingest_cpu / n * 1e6:.0f} µs an item")
    print(f"results: {n} results in {results_s:.2f}s, server CPU {results_cpu / n * 1e6:.0f} µs an item")
    print(f"ingest_rows_per_s={ingest_rate:.0f}")
    print(f"results_rows_per_s={results_rate:.0f}")
    return f"results_vs_ingest={results_rate / ingest_rate:.2f}"


MEASURES = [measure_results_vs_ingest]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", default="", help="Run only the measures whose name contains this.")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", DEFAULT_DB)
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("The benchmark runs on PostgreSQL: set DATABASE_URL=postgres://…")
    ensure_database(url)
    django_setup(url)
    project, key = project_reset()
    port = free_port()
    server = start_server(url, port, args.workers)
    ctx = Context(args=args, project=project, key=key, base=f"http://127.0.0.1:{port}", server=server)
    try:
        for measure in MEASURES:
            if args.only in measure.__name__:
                ctx.lines.append(measure(ctx))
                print(ctx.lines[-1], flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(" ".join(ctx.lines))


if __name__ == "__main__":
    main()
