"""Deterministic scorer throughput on PostgreSQL, through the worker's code path.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/assay_exp_scorers .venv/bin/python bench/scorers.py

1. Seeds an experiment of N results (default 20,000), each backed by its own span (spans through the traces
   ingest service, results with one bulk insert), outputs about 200 characters of text, half of them equal to
   the expected answer.
2. For each scorer type below, makes a scorer version and runs `scoring_job_run` (the Celery task's body:
   read the results in chunks, score, write Score rows and history events, record progress) in this process,
   as a worker would, and counts scores written per second. Each runs twice: the second run re-scores the
   same version, which replaces its scores (the idempotent path).

The last line is `deterministic_scores_per_s=<n>`: all scores written over all scoring time (target >= 5,000).
It uses (and migrates) the database in DATABASE_URL and deletes only its own project.
`bench_scorers(project=..., n=...)` is importable for bench/experiments.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SLUG = "bench-scorers"
DEFINITIONS = {
    "exact_match": {"type": "exact_match", "params": {}},
    "contains": {"type": "contains", "params": {"value": "refund", "case_sensitive": False}},
    "regex": {"type": "regex", "params": {"pattern": r"\b\d{2} days\b"}},
    "edit_distance": {"type": "edit_distance", "params": {}},
    "json_equal": {"type": "json_equal", "params": {}},
    "json_schema": {"type": "json_schema", "params": {"schema": {"type": "string", "minLength": 10}}},
}


def setup_django():
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://… (this benchmark measures PostgreSQL).")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _answer(i: int) -> str:
    return f"Customer {i}: you can ask for a refund within {30 + i % 3} days of delivery, " + "details " * 15


def seed(project, n: int):
    """An experiment of n results on n spans (the ingest service writes the spans)."""
    from apps.datasets.models import Dataset, DatasetVersion
    from apps.experiments.models import Experiment, ExperimentResult
    from apps.traces.models import Span
    from apps.traces.services import span_batch_ingest

    dataset = Dataset.objects.create(project=project, name="bench")
    version = DatasetVersion.objects.create(dataset=dataset, number=1, added=n, record_count=n)
    experiment = Experiment.objects.create(
        project=project, dataset=dataset, dataset_version=version, version_number=1, name="bench", record_count=n
    )
    for start in range(0, n, 2000):
        items = [
            {"trace_id": f"b-{i}", "span_id": f"b-{i}", "name": "run", "type": "llm", "output": _answer(i)}
            for i in range(start, min(n, start + 2000))
        ]
        span_batch_ingest(project=project, items=items)
    span_pks = dict(Span.objects.filter(project=project).values_list("span_id", "pk"))
    ExperimentResult.objects.bulk_create(
        (
            ExperimentResult(
                experiment=experiment,
                record_id=f"r{i:07d}",
                input={"question": f"refund {i}"},
                expected=_answer(i if i % 2 else i + 1),
                output=_answer(i),
                span_id=span_pks[f"b-{i}"],
            )
            for i in range(n)
        ),
        batch_size=2000,
    )
    return experiment


def bench_scorers(*, project, n: int) -> dict[str, float]:
    """{scorer type: scores a second}, and "all": every score over all scoring time."""
    from apps.experiments.models import ScoringJob
    from apps.experiments.scorers.versions import scorer_create
    from apps.experiments.scoring import scoring_job_run
    from apps.reviews.models import ScoreConfig

    experiment = seed(project, n)
    boolean = ScoreConfig.objects.create(project=project, name="pass", kind="boolean")
    ratio = ScoreConfig.objects.create(project=project, name="similarity", kind="continuous")
    rates: dict[str, float] = {}
    total_scores = total_time = total_cpu = 0.0
    for name, definition in DEFINITIONS.items():
        config = ratio if name == "edit_distance" else boolean
        scorer = scorer_create(project=project, name=name, kind="deterministic", config=config, definition=definition)
        version = scorer.versions.get()
        timings, cpu = [], 0.0
        for _ in range(2):  # a first scoring, then the same version again (replacing its scores)
            job = ScoringJob.objects.create(experiment=experiment, scorer_version=version, total=n)
            started, cpu_started = time.perf_counter(), time.process_time()
            job = scoring_job_run(job_id=job.pk)
            timings.append(time.perf_counter() - started)
            cpu += time.process_time() - cpu_started
            assert job.status == "completed" and job.done == n and job.failed == 0, (job.status, job.error)
        rates[name] = n / min(timings)
        total_scores += 2 * n
        total_time += sum(timings)
        total_cpu += cpu
        print(
            f"{name}: first {n / timings[0]:,.0f}/s, re-score {n / timings[1]:,.0f}/s "
            f"(this process's CPU: {2 * n / cpu:,.0f} scores/s)",
            flush=True,
        )
    rates["all"] = total_scores / total_time
    rates["cpu"] = total_scores / total_cpu
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; worker CPU {rates['cpu']:,.0f} scores/s")
    return rates


def cleanup() -> None:
    """Only this benchmark's project: experiments and scorers first (they protect datasets and configs)."""
    from apps.experiments.models import Experiment, Scorer
    from apps.projects.models import Project

    Experiment.objects.filter(project__slug=SLUG).delete()
    Scorer.objects.filter(project__slug=SLUG).delete()
    Project.objects.filter(slug=SLUG).delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=int, default=20_000)
    args = parser.parse_args()
    setup_django()
    from apps.projects.models import Project

    cleanup()
    project = Project.objects.create(slug=SLUG, name="Scorers benchmark")
    try:
        rates = bench_scorers(project=project, n=args.results)
    finally:
        cleanup()
    print(f"deterministic_scores_per_s={rates['all']:.0f}")


if __name__ == "__main__":
    main()
