"""Trace and span lists at scale: admin changelists, trace page and read API, 1M spans vs 10k (PostgreSQL).

    .venv/bin/python bench/trace_lists.py     # BENCH_DATABASE_URL, default .../assay_h2_bench

1. (Re)creates the database in BENCH_DATABASE_URL and migrates it (--reuse keeps a seeded one).
2. Baseline: a project of 10,000 spans (1,000 traces of 10 spans). Against it: a project of
   1,000,000 spans (100,000 traces). Both are seeded with set-based SQL over the same 14 days: a
   root task, a retrieval, a tool span (an error in one trace of ten) and LLM spans with ~0.5 KB
   JSON input/output each; one root span in fifty tagged `vip`; then ANALYZE.
3. A viewer of each project (not a superuser, so every query is scoped) loads each page N times,
   alternating the two projects round by round so other load on the machine hits both alike.
   Time is the median; queries are counted.

Each line: `<operation>: <small ms> / <large ms> = x<ratio>, queries <small>/<large>`. The last line
is `trace_lists: worst x<ratio> (<operation>); PASS|FAIL` over the indexed operations (PASS = every
ratio at most 2 and equal query counts). Free-text search over previews scans by design and is
printed, marked `(scan)`, but not part of the verdict.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/assay_h2_bench"
SPANS_PER_TRACE = 10


def recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DEBUG"] = "false"  # production template caching
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _filler(cursor, table: str, given: dict[str, str]) -> tuple[str, str]:
    """Columns and expressions for every NOT NULL column without a default (robust to new columns)."""
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
        "AND is_nullable = 'NO' AND column_default IS NULL ORDER BY ordinal_position",
        [table],
    )
    defaults = {
        "text": "''",
        "character varying": "''",
        "integer": "0",
        "bigint": "0",
        "smallint": "0",
        "double precision": "0",
        "boolean": "false",
        "jsonb": "'{}'::jsonb",
        "timestamp with time zone": "now()",
        "numeric": "0",
    }
    cols, exprs = [], []
    for name, dtype in cursor.fetchall():
        if name == "id":
            continue
        cols.append(name)
        exprs.append(given.get(name, defaults.get(dtype, "''")))
    for name, expr in given.items():
        if name not in cols:
            cols.append(name)
            exprs.append(expr)
    return ", ".join(cols), ", ".join(exprs)


def seed(*, slug: str, traces: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from apps.projects.models import Project, Role
    from apps.projects.services import membership_set, project_create
    from apps.traces.models import Tag

    User = get_user_model()
    project = Project.objects.filter(slug=slug).first()
    if project is not None:  # --reuse
        return {"project": project, "viewer": User.objects.get(username=f"{slug}-viewer")}
    started = time.perf_counter()
    project = project_create(slug=slug, name=slug)
    viewer = User.objects.create_user(username=f"{slug}-viewer", password="x", is_staff=True)
    membership_set(project=project, user=viewer, role=Role.VIEWER)
    tag = Tag.objects.create(project=project, name="vip")
    with connection.cursor() as cur:
        cols, exprs = _filler(
            cur,
            "traces_trace",
            {
                "project_id": str(project.pk),
                "trace_id": f"'{slug}-' || g",
                "name": "CASE WHEN g %% 3 = 0 THEN 'rag-answer' ELSE 'support-agent' END",
                "root_span_id": f"'{slug}-' || g || '-0'",
                "start_time": f"now() - (g::float / {traces}) * interval '14 days'",
                "end_time": f"now() - (g::float / {traces}) * interval '14 days' + interval '1 second'",
                "duration_ms": "1000 + g %% 700",
                "span_count": str(SPANS_PER_TRACE),
                "has_error": "g %% 10 = 0",
                "total_tokens": "300 + g %% 500",
                "total_cost": "0.0004",
                "review_status": "'none'",
                "input_preview": "'Where is my parcel number ' || g || '? It was due last week.'",
                "output_preview": "'Your parcel is on its way and arrives tomorrow.'",
                "user_id": "'user-' || g %% 97",
                "session_id": "'sess-' || g %% 911",
                "tags": "CASE WHEN g %% 50 = 0 THEN '[\"vip\"]'::jsonb ELSE '[]'::jsonb END",
            },
        )
        cur.execute(f"INSERT INTO traces_trace ({cols}) SELECT {exprs} FROM generate_series(1, %s) g", [traces])
        cols, exprs = _filler(
            cur,
            "traces_span",
            {
                "project_id": str(project.pk),
                "trace_id": "t.id",
                "span_id": "t.trace_id || '-' || s",
                "parent_span_id": "CASE WHEN s = 0 THEN '' ELSE t.trace_id || '-0' END",
                "name": "CASE s WHEN 0 THEN t.name WHEN 1 THEN 'vector-search' WHEN 2 THEN 'lookup_order' "
                "ELSE 'chat-completion' END",
                "type": "CASE s WHEN 0 THEN 'task' WHEN 1 THEN 'retrieval' WHEN 2 THEN 'tool' ELSE 'llm' END",
                "start_time": "t.start_time + s * interval '10 milliseconds'",
                "end_time": "t.start_time + s * interval '10 milliseconds' + interval '80 milliseconds'",
                "duration_ms": "80",
                "model": "CASE WHEN s >= 3 THEN 'gpt-4o-mini' ELSE '' END",
                "total_tokens": "CASE WHEN s >= 3 THEN 40 ELSE 0 END",
                "is_error": "s = 2 AND t.has_error",
                "error": "CASE WHEN s = 2 AND t.has_error THEN 'TimeoutError' ELSE '' END",
                "input": """jsonb_build_array(jsonb_build_object('role', 'system', 'content', 'You are the support assistant of Northwind Outfitters. Answer briefly and politely; use the tools to look up orders and never invent details.'),
                        jsonb_build_object('role', 'user', 'content', 'Where is my parcel number ' || t.id || '? It was due last week and the tracking page shows nothing at all, can you check?'))""",
                "output": "jsonb_build_object('role', 'assistant', 'content', 'Your parcel is on its way with DHL and arrives tomorrow before noon. I have added a note to your order so the courier calls ahead.')",
                "metadata": "jsonb_build_object('region', CASE WHEN t.id %% 2 = 0 THEN 'eu' ELSE 'us' END, 'user_id', t.user_id)",
                "metrics": "'{}'::jsonb",
                "annotation_metadata": "'{}'::jsonb",
                "tags": "CASE WHEN s = 0 AND t.tags <> '[]'::jsonb THEN t.tags ELSE '[]'::jsonb END",
            },
        )
        cur.execute(
            f"INSERT INTO traces_span ({cols}) SELECT {exprs} FROM traces_trace t "
            f"CROSS JOIN generate_series(0, %s) s WHERE t.project_id = %s",
            [SPANS_PER_TRACE - 1, project.pk],
        )
        cols, exprs = _filler(
            cur,
            "traces_spantag",
            {"span_id": "sp.id", "tag_id": str(tag.pk), "source": "'ingest'", "added_at": "now()"},
        )
        cur.execute(
            f"INSERT INTO traces_spantag ({cols}) SELECT {exprs} FROM traces_span sp "
            f"WHERE sp.project_id = %s AND sp.tags <> '[]'::jsonb",
            [project.pk],
        )
        for table in ("traces_trace", "traces_span", "traces_spantag"):
            cur.execute(f"ANALYZE {table}")
    print(f"seeded {slug}: {traces * SPANS_PER_TRACE:,} spans in {time.perf_counter() - started:.1f}s", flush=True)
    return {"project": project, "viewer": viewer}


def operations(ctx: dict) -> dict[str, str]:
    from apps.traces.models import Span, Trace

    project = ctx["project"]
    slug = project.slug
    trace = Trace.objects.filter(project=project, trace_id=f"{slug}-77").first()
    span = Span.objects.filter(project=project, span_id=f"{slug}-77-3").first()
    return {
        "admin traces": "/admin/traces/trace/",
        "admin traces last 24h": "/admin/traces/trace/?started=24h",
        "admin traces with error": "/admin/traces/trace/?has_error__exact=1",
        "admin traces by name": "/admin/traces/trace/?name=rag-answer",
        "admin traces with a tool span": "/admin/traces/trace/?span_type=tool",
        "admin traces tagged": "/admin/traces/trace/?tag=vip",
        "admin traces search id": f"/admin/traces/trace/?q={slug}-77",
        "admin traces search text (scan)": "/admin/traces/trace/?q=parcel+number+77%3F",
        "admin spans": "/admin/traces/span/",
        "admin spans tool": "/admin/traces/span/?type__exact=tool",
        "admin trace page": f"/admin/traces/trace/{trace.pk}/change/?span={slug}-77-3",
        "admin span page": f"/admin/traces/span/{span.pk}/change/",
        "api traces": "/api/v1/traces/",
        "api traces error": "/api/v1/traces/?has_error=true",
        "api traces metadata": "/api/v1/traces/?metadata=region:eu",
        "api traces tags": "/api/v1/traces/?tags=vip",
        "api traces user": "/api/v1/traces/?user_id=user-5",
        "api trace detail": f"/api/v1/traces/{slug}-77/",
        "api spans": "/api/v1/spans/",
        "api spans tool errors": "/api/v1/spans/?type=tool&has_error=true",
    }


def deep_cursor_url(client) -> str:
    """The 21st page of /api/v1/traces/ (800 rows deep), reached by following `next`."""
    url = "/api/v1/traces/?page_size=40"
    for _ in range(20):
        url = client.get(url).json()["next"]
    return url


def measure(client, url: str) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        t0 = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - t0
    assert response.status_code == 200, (url, response.status_code)
    return elapsed, len(captured.captured_queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large-traces", type=int, default=100_000)
    parser.add_argument("--small-traces", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    if not args.reuse:
        recreate_database(url)
    setup_django(url)
    from django.test import Client

    small = seed(slug="small", traces=args.small_traces)
    large = seed(slug="large", traces=args.large_traces)
    clients, ops = {}, {}
    for name, ctx in (("small", small), ("large", large)):
        client = Client()
        client.force_login(ctx["viewer"])
        clients[name] = client
        ops[name] = operations(ctx)
        ops[name]["api traces, page 21 by cursor"] = deep_cursor_url(client)
    results = {name: {op: ([], []) for op in ops[name]} for name in clients}
    for op in ops["small"]:  # warm-up
        for name in clients:
            measure(clients[name], ops[name][op])
    for _ in range(args.rounds):
        for op in ops["small"]:
            for name in ("small", "large"):
                elapsed, queries = measure(clients[name], ops[name][op])
                results[name][op][0].append(elapsed)
                results[name][op][1].append(queries)
    worst, worst_op, ok = 0.0, "", True
    for op in ops["small"]:
        small_ms = statistics.median(results["small"][op][0]) * 1000
        large_ms = statistics.median(results["large"][op][0]) * 1000
        small_q, large_q = max(results["small"][op][1]), max(results["large"][op][1])
        ratio = large_ms / small_ms
        print(f"{op}: {small_ms:.1f} / {large_ms:.1f} ms = x{ratio:.2f}, queries {small_q}/{large_q}", flush=True)
        if "(scan)" in op:
            continue
        ok = ok and small_q == large_q
        if ratio > worst:
            worst, worst_op = ratio, op
    ok = ok and worst <= 2.0
    print(f"trace_lists: worst x{worst:.2f} ({worst_op}); {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
