#!/usr/bin/env python
"""Export throughput and worker memory on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/assay_exfmt .venv/bin/python bench/export.py \
        [--sizes 100000 1000000] [--formats jsonl parquet csv]

Seeds (with COPY, once; re-used by later runs) one project of ~1.4 KB spans per size, with two score
configs and a score of each on every 100th span. For each size it measures the baseline,
`COPY (SELECT row_to_json(t) FROM (<the same columns>) t) TO STDOUT` written to a local file, and
then runs the real export service (the code a Celery worker runs: server-side cursor, annotations
per chunk, format writer, publish) in a fresh subprocess per format — JSONL, typed Parquet, flat
CSV with a column per score config — recording its wall time and peak RSS (the child's VmHWM).

Targets at the largest size: JSONL and Parquet rate >= 0.50 x COPY's rate; peak RSS <= 250 MB and
<= 1.2 x from the smallest to the largest size. The child runs with pandas importable, as the dev
install has it (pyarrow imports pandas whenever `pyarrow.array()` is called; the Parquet writer does
not call it). BENCH_WITHOUT_PANDAS=1 hides pandas, as a worker installed without the dev extra.
The last line prints the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SPANS_PER_TRACE = 10
BASELINE_SQL = """
COPY (SELECT row_to_json(t) FROM (
    SELECT s.span_id, tr.trace_id, s.parent_span_id, s.name, s.type, s.model, s.start_time, s.end_time,
           s.duration_ms, s.input, s.output, s.expected, s.metadata, s.metrics, s.error, s.is_error,
           s.input_tokens, s.output_tokens, s.total_tokens, s.cost, s.tags, s.annotation_metadata,
           s.created_at, s.updated_at
    FROM traces_span s JOIN traces_trace tr ON tr.id = s.trace_id
    WHERE s.project_id = %s ORDER BY s.id
) t) TO STDOUT
"""


def _setup():
    import django

    django.setup()


class _NoPandas:
    """An import hook under which `import pandas` fails as if it were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def _peak_rss_mb() -> float:
    """This process's own peak RSS: VmHWM of /proc/self/status on Linux. `ru_maxrss` is not used where
    VmHWM exists: after exec it keeps the high-water mark of the process before exec (the forked bench
    parent, ~180 MB after seeding in-process), so it reported the parent's size, not the export's."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(job_id: int) -> None:
    """Runs in a fresh process: one export, then its wall time and peak RSS as JSON."""
    _setup()
    from apps.core.memory import worker_memory_setup

    worker_memory_setup()  # as config/celery.py does in every worker process
    if os.environ.get("BENCH_WITHOUT_PANDAS") == "1":
        sys.meta_path.insert(0, _NoPandas())  # a worker installed without the dev extra
    # A worker is long-lived: import what the first export imports before timing, as a warm worker
    # would have it. The peak RSS still counts it.
    import pyarrow.json  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from apps.exports.services import export_job_run

    rss_before = _peak_rss_mb()
    started = time.perf_counter()
    job = export_job_run(job_id=job_id)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "status": job.status,
                "error": job.error,
                "rows": job.row_count,
                "bytes": job.byte_size,
                "maxrss_mb": _peak_rss_mb(),
                "rss_after_setup_mb": rss_before,
                "pandas_imported": "pandas" in sys.modules,
            }
        )
    )


def _seed_scores(project) -> None:
    """Two score configs and a score of each on every 100th span (source api: no author)."""
    from django.db import connection

    from apps.reviews.models import Score, ScoreConfig
    from apps.reviews.services.score_configs import score_config_create

    if Score.objects.filter(project=project).exists():
        return
    for name in ("helpful", "correct"):
        if not ScoreConfig.objects.filter(project=project, name=name).exists():
            score_config_create(project=project, name=name, kind="continuous", min_value=0, max_value=1)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reviews_score (project_id, span_id, config_id, value, label, labels, text, comment, "
            "author_id, source, created_at, updated_at) "
            "SELECT s.project_id, s.id, c.id, (s.id %% 10) / 10.0, '', '[]', '', '', NULL, 'api', now(), now() "
            "FROM traces_span s JOIN reviews_scoreconfig c ON c.project_id = s.project_id "
            "WHERE s.project_id = %s AND s.id %% 100 = 0",
            [project.pk],
        )
        cursor.execute("ANALYZE reviews_score")


def _seed(slug: str, rows: int) -> int:
    from django.db import connection

    from apps.projects.models import Project
    from apps.traces.models import Span

    project = Project.objects.filter(slug=slug).first()
    if project is not None and Span.objects.filter(project=project).count() == rows:
        _seed_scores(project)
        return project.pk
    if project is not None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM traces_span WHERE project_id = %s", [project.pk])
            cursor.execute("DELETE FROM traces_trace WHERE project_id = %s", [project.pk])
        project.delete()
    project = Project.objects.create(slug=slug, name=slug)
    print(f"seeding {rows:,} spans into {slug} with COPY…", flush=True)
    rng = random.Random(7)
    words = (
        "refund order shipping delivery invoice account password warranty return exchange discount "
        "subscription cancel upgrade billing address tracking damaged missing late"
    ).split()
    now = "2026-11-01 12:00:00+00"
    traces = rows // SPANS_PER_TRACE
    raw = connection.connection  # psycopg 3 connection
    with raw.cursor() as cursor:
        with cursor.copy(
            "COPY traces_trace (trace_id, name, root_span_id, start_time, end_time, duration_ms, span_count, "
            "has_error, input_tokens, output_tokens, total_tokens, total_cost, input_preview, output_preview, "
            "user_id, session_id, tags, review_status, created_at, updated_at, project_id) FROM STDIN"
        ) as copy:
            for t in range(traces):
                copy.write(
                    f"t{t:08d}\tchat\ts{t * SPANS_PER_TRACE:09d}\t{now}\t{now}\t1200\t{SPANS_PER_TRACE}\t"
                    f"f\t500\t200\t700\t0.01\tquestion {t}\tanswer {t}\tuser-{t % 977}\tsess-{t % 5003}\t"
                    f"[]\tnone\t{now}\t{now}\t{project.pk}\n"
                )
        cursor.execute("SELECT id, trace_id FROM traces_trace WHERE project_id = %s", [project.pk])
        trace_pk = {trace_id: pk for pk, trace_id in cursor.fetchall()}
        with cursor.copy(
            "COPY traces_span (span_id, parent_span_id, name, type, start_time, end_time, duration_ms, input, "
            "output, expected, metadata, metrics, annotation_metadata, error, is_error, model, input_tokens, "
            "output_tokens, total_tokens, cost, tags, created_at, updated_at, project_id, trace_id) FROM STDIN"
        ) as copy:
            buffer = []
            for i in range(rows):
                t = i // SPANS_PER_TRACE
                question = " ".join(rng.choice(words) for _ in range(45))
                answer = " ".join(rng.choice(words) for _ in range(35))
                span_input = json.dumps(
                    [
                        {"role": "system", "content": "You are a support assistant."},
                        {"role": "user", "content": f"#{i} {question}?"},
                    ]
                )
                span_output = json.dumps({"role": "assistant", "content": answer})
                metadata = json.dumps(
                    {
                        "customer": {"tier": rng.choice(["gold", "free"]), "region": "eu"},
                        "release": "2026.11",
                        "feature_flags": ["a", "b"],
                    }
                )
                metrics = json.dumps({"latency_ms": rng.randint(100, 4000), "input_tokens": 120})
                parent = "" if i % SPANS_PER_TRACE == 0 else f"s{t * SPANS_PER_TRACE:09d}"
                line = "\t".join(
                    [
                        f"s{i:09d}",
                        parent,
                        "llm-call",
                        "llm",
                        now,
                        now,
                        "850",
                        span_input,
                        span_output,
                        r"\N",
                        metadata,
                        metrics,
                        "{}",
                        "",
                        "f",
                        "gpt-4o-mini",
                        "120",
                        "60",
                        "180",
                        "0.0004",
                        "[]",
                        now,
                        now,
                        str(project.pk),
                        str(trace_pk[f"t{t:08d}"]),
                    ]
                )
                buffer.append(line.replace("\\", "\\\\").replace("\\\\N", "\\N"))
                if len(buffer) >= 10_000:
                    copy.write("\n".join(buffer) + "\n")
                    buffer.clear()
            if buffer:
                copy.write("\n".join(buffer) + "\n")
    raw.commit() if not raw.autocommit else None
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE traces_span")
        cursor.execute("ANALYZE traces_trace")
    _seed_scores(project)
    return project.pk


def _copy_baseline(project_id: int, directory: str) -> tuple[float, int]:
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    path = os.path.join(directory, "baseline.jsonl")
    started = time.perf_counter()
    with raw.cursor() as cursor, open(path, "wb", buffering=1 << 20) as out:
        with cursor.copy(BASELINE_SQL.replace("%s", str(int(project_id)))) as copy:
            for data in copy:
                out.write(data)
    seconds = time.perf_counter() - started
    size = os.path.getsize(path)
    os.remove(path)
    return seconds, size


def _export(project_id: int, fmt: str, directory: str) -> dict:
    from apps.exports.services import export_job_create
    from apps.projects.models import Project

    job = export_job_create(project=Project.objects.get(pk=project_id), source="spans", format=fmt, dispatch=False)
    env = {**os.environ, "EXPORTS_LOCAL_ROOT": directory, "EXPORTS_TMP_DIR": directory}
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(job.pk)],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["status"] != "succeeded":
        raise SystemExit(f"export failed: {result['error']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[100_000, 1_000_000],
        help="span counts, smallest first (RSS growth is measured from the first to the last)",
    )
    parser.add_argument("--formats", nargs="+", default=["jsonl", "parquet", "csv"])
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    _setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("Run on PostgreSQL: DATABASE_URL=postgres://…")
    call_command("migrate", verbosity=0)
    results = {}
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="assay-bench-export-") as directory:
        for rows in args.sizes:
            project_id = _seed(f"bench-export-{rows}", rows)
            copy_seconds, copy_bytes = _copy_baseline(project_id, directory)
            print(
                f"{rows:>9,} rows  COPY row_to_json: {copy_seconds:7.2f} s  {rows / copy_seconds:>9,.0f} rows/s  "
                f"{copy_bytes / 2**20:8.1f} MiB",
                flush=True,
            )
            entry = {"rows": rows, "copy_seconds": copy_seconds}
            for fmt in args.formats:
                r = _export(project_id, fmt, directory)
                entry[fmt] = r
                print(
                    f"{rows:>9,} rows  export {fmt:8}: {r['seconds']:7.2f} s  {rows / r['seconds']:>9,.0f} rows/s  "
                    f"{r['bytes'] / 2**20:8.1f} MiB  rate vs COPY {copy_seconds / r['seconds']:.2f}  "
                    f"peak RSS {r['maxrss_mb']:.0f} MB (after setup {r['rss_after_setup_mb']:.0f} MB)"
                    f"{'  pandas imported' if r['pandas_imported'] else ''}",
                    flush=True,
                )
            results[rows] = entry
    # The ratios compare runs that share the machine; say how busy it was.
    print(f"load average (1 min): {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end", flush=True)
    small, large = results[args.sizes[0]], results[args.sizes[-1]]
    rates = " ".join(f"{f}_vs_copy={large['copy_seconds'] / large[f]['seconds']:.2f}" for f in args.formats)
    peak = max(large[f]["maxrss_mb"] for f in args.formats)
    growth = max(large[f]["maxrss_mb"] / small[f]["maxrss_mb"] for f in args.formats)
    print(
        f"ratios at {large['rows']:,} rows: {rates} (target >= 0.50 for jsonl, parquet); "
        f"peak_rss_mb={peak:.0f} (target <= 250); "
        f"rss_growth_{small['rows']:,}_to_{large['rows']:,}={growth:.2f} (target <= 1.20)"
    )


if __name__ == "__main__":
    main()
