"""Ingest benchmark: raw COPY vs end-to-end HTTP ingest (REST JSON and OTLP protobuf) on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/assay_bench .venv/bin/python bench/ingest.py

1. Builds N spans (default 100,000) of about 1 KB each: traces of 10 spans (an agent root, retrieval,
   LLM calls with chat messages, tool calls), with metadata, metrics and tags.
2. Baseline: one `COPY` of the same rows into a scratch table shaped like `traces_span` (same
   columns, defaults and indexes), from rows already built in memory.
3. Starts a production server: gunicorn, 2 workers, `config.settings_production`.
4. Posts the spans to `POST /api/v1/ingest/` in batches of 500 from several client threads (bodies
   are serialised before the clock starts), checks every span and trace landed, and clears them.
5. The same for `POST /v1/traces` with OTLP protobuf bodies (GenAI semantic-convention attributes).

The last line is `ingest_vs_copy=<ratio> otlp_vs_copy=<ratio>` (rows/s against the COPY baseline).
It uses (and creates if missing) the database in DATABASE_URL, and deletes only its own project.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/assay_bench"
SLUG = "bench-ingest"
WORDS = (
    "refund order parcel shipping invoice account password reset warranty return label courier delay "
    "discount subscription upgrade cancel billing address payment card receipt support agent policy"
).split()


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def build_spans(count: int, *, seed: int, prefix: str) -> list[dict]:
    """Traces of 10 spans, children listed before parents half of the time; ~1 KB each as JSON."""
    rng = random.Random(seed)
    base = datetime(2025, 6, 1, tzinfo=UTC)
    spans: list[dict] = []
    for t in range(count // 10):
        trace_id = f"{prefix}-trace-{t:07d}"
        start = base + timedelta(seconds=t * 7)
        root_id = f"{prefix}-{t:07d}-0"
        question = sentence(rng, 20)
        trace_spans = [
            {
                "trace_id": trace_id,
                "span_id": root_id,
                "name": "support-agent",
                "type": "task",
                "start_time": start.isoformat(),
                "end_time": (start + timedelta(seconds=6)).isoformat(),
                "input": [{"role": "user", "content": question}],
                "output": {"role": "assistant", "content": sentence(rng, 45)},
                "metadata": {
                    "user_id": f"user-{rng.randrange(5000)}",
                    "session_id": f"sess-{t // 3}",
                    "release": "2025.06.1",
                    "region": rng.choice(["eu-west-1", "us-east-1"]),
                },
                "tags": ["prod", rng.choice(["web", "mobile"])],
            }
        ]
        for i in range(1, 10):
            kind = ("retrieval", "llm", "tool")[i % 3]
            span_start = start + timedelta(milliseconds=i * 500)
            item = {
                "trace_id": trace_id,
                "span_id": f"{prefix}-{t:07d}-{i}",
                "parent_span_id": root_id,
                "name": {"retrieval": "search-kb", "llm": "chat", "tool": "lookup_order"}[kind],
                "type": kind,
                "start_time": span_start.timestamp(),
                "end_time": (span_start + timedelta(milliseconds=450)).timestamp(),
                "metadata": {"step": i, "attempt": 1, "host": f"worker-{rng.randrange(40)}"},
            }
            if kind == "llm":
                item["input"] = [
                    {"role": "system", "content": "You are a helpful support agent."},
                    {"role": "user", "content": question},
                ]
                item["output"] = {"role": "assistant", "content": sentence(rng, 60)}
                prompt, completion = rng.randrange(200, 900), rng.randrange(20, 200)
                item["metrics"] = {
                    "input_tokens": prompt,
                    "output_tokens": completion,
                    "model": "gpt-4o-mini",
                    "cost": round((prompt * 0.15 + completion * 0.6) / 1e6, 8),
                }
            elif kind == "retrieval":
                item["input"] = {"query": question, "top_k": 3}
                item["output"] = [
                    {"id": f"kb-{rng.randrange(900)}", "score": round(rng.random(), 3), "text": sentence(rng, 22)}
                    for _ in range(3)
                ]
            else:
                item["input"] = {"order_id": f"ord-{rng.randrange(10**6)}"}
                item["output"] = {"status": rng.choice(["shipped", "pending"]), "eta": sentence(rng, 50)}
                if rng.random() < 0.05:
                    item["error"] = "orders service timed out"
            trace_spans.append(item)
        if t % 2:
            trace_spans.reverse()
        spans.extend(trace_spans)
    return spans


def otlp_bodies(spans: list[dict], batch: int) -> list[bytes]:
    """The same spans as OTLP ExportTraceServiceRequest protobufs, GenAI / OpenInference attributes."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    def ns(value) -> int:
        if isinstance(value, str):
            return int(datetime.fromisoformat(value).timestamp() * 1e9)
        return int(value * 1e9)

    def hex_id(text: str, size: int) -> bytes:
        import hashlib

        return hashlib.blake2b(text.encode(), digest_size=size).digest()

    bodies = []
    for start in range(0, len(spans), batch):
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        for key, value in (("service.name", "support-bot"), ("deployment.environment", "prod")):
            resource_spans.resource.attributes.add(key=key).value.string_value = value
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = "bench"
        for item in spans[start : start + batch]:
            span = scope_spans.spans.add(
                trace_id=hex_id(item["trace_id"], 16),
                span_id=hex_id(item["span_id"], 8),
                parent_span_id=hex_id(item["parent_span_id"], 8) if item.get("parent_span_id") else b"",
                name=item["name"],
                kind=3,
                start_time_unix_nano=ns(item["start_time"]),
                end_time_unix_nano=ns(item["end_time"]),
            )
            attributes = span.attributes

            def put(key: str, value, attributes=attributes) -> None:
                target = attributes.add(key=key).value
                if isinstance(value, bool):
                    target.bool_value = value
                elif isinstance(value, int):
                    target.int_value = value
                elif isinstance(value, float):
                    target.double_value = value
                else:
                    target.string_value = value

            kind = item["type"]
            metrics = item.get("metrics", {})
            if kind == "llm":
                put("gen_ai.operation.name", "chat")
                put("gen_ai.request.model", metrics["model"])
                put("gen_ai.usage.input_tokens", metrics["input_tokens"])
                put("gen_ai.usage.output_tokens", metrics["output_tokens"])
                put("gen_ai.input.messages", json.dumps(item["input"]))
                put("gen_ai.output.messages", json.dumps([item["output"]]))
            else:
                put("openinference.span.kind", {"task": "AGENT", "retrieval": "RETRIEVER", "tool": "TOOL"}[kind])
                put("input.value", json.dumps(item["input"]))
                put("input.mime_type", "application/json")
                put("output.value", json.dumps(item["output"]))
                put("output.mime_type", "application/json")
            for key, value in item["metadata"].items():
                put(key if key not in ("user_id", "session_id") else key.replace("_", "."), value)
            if item.get("error"):
                span.status.code = 2
                span.status.message = item["error"]
        bodies.append(request.SerializeToString())
    return bodies


# ---- database ---------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def bench_project_reset():
    """A fresh bench project (its old spans deleted) and an ingest key."""
    from django.db import connection

    from apps.projects.models import Project
    from apps.projects.services import api_key_create

    project, _ = Project.objects.get_or_create(slug=SLUG, defaults={"name": "Ingest benchmark"})
    bench_rows_clear(project.pk)
    _, key = api_key_create(project=project, scopes=["ingest"])
    connection.close()
    return project, key


def bench_rows_clear(project_pk: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM traces_spantag WHERE span_id IN (SELECT id FROM traces_span WHERE project_id = %s)",
            [project_pk],
        )
        cursor.execute("DELETE FROM traces_span WHERE project_id = %s", [project_pk])
        cursor.execute("DELETE FROM traces_trace WHERE project_id = %s", [project_pk])
        cursor.execute("DELETE FROM traces_tag WHERE project_id = %s", [project_pk])
    connection.close()
    vacuum()


def vacuum() -> None:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE traces_span")
        conn.execute("VACUUM ANALYZE traces_trace")
        conn.execute("CHECKPOINT")


def copy_baseline(spans: list[dict], project_pk: int) -> float:
    """Rows/s of one COPY of the same rows into a scratch table shaped like traces_span."""
    import psycopg
    from django.utils import timezone

    from apps.traces.ingest import span_item_clean

    rows = []
    now = timezone.now()
    for n, item in enumerate(spans):
        s, errors = span_item_clean(item)
        assert not errors, errors
        rows.append(
            (
                project_pk,
                n // 10 + 1,
                s.span_id,
                s.parent_span_id,
                s.name,
                s.type,
                s.start_time,
                s.end_time,
                s.duration_ms,
                s.input,
                s.output,
                s.expected,
                s.metadata,
                s.metrics,
                "{}",
                s.error,
                s.is_error,
                s.model,
                s.input_tokens,
                s.output_tokens,
                s.total_tokens,
                s.cost,
                json.dumps(s.tags),
                now,
                now,
            )
        )
    columns = (
        "project_id, trace_id, span_id, parent_span_id, name, type, start_time, end_time, duration_ms, input, "
        "output, expected, metadata, metrics, annotation_metadata, error, is_error, model, input_tokens, "
        "output_tokens, total_tokens, cost, tags, created_at, updated_at"
    )
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy_span")
        conn.execute(
            "CREATE TABLE bench_copy_span (LIKE traces_span INCLUDING DEFAULTS INCLUDING INDEXES "
            "INCLUDING CONSTRAINTS INCLUDING IDENTITY)"
        )
        conn.execute("CHECKPOINT")
        backend = conn.info.backend_pid
        cpu_before, client_before = cpu_seconds([backend]), time.process_time()
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cursor:
            with cursor.copy(f"COPY bench_copy_span ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        elapsed = time.perf_counter() - started
        server_cpu = cpu_seconds([backend]) - cpu_before
        client_cpu = time.process_time() - client_before
        copied = conn.execute("SELECT count(*) FROM bench_copy_span").fetchone()[0]
        assert copied == len(rows)
        size = conn.execute("SELECT pg_total_relation_size('bench_copy_span')").fetchone()[0]
        conn.execute("DROP TABLE bench_copy_span")
    print(
        f"copy: {len(rows)} rows in {elapsed:.2f}s, table+indexes {size / len(rows):.0f} bytes/row, "
        f"CPU µs a row: postgres {server_cpu / len(rows) * 1e6:.0f}, client {client_cpu / len(rows) * 1e6:.0f}"
    )
    return len(rows) / elapsed


# ---- CPU accounting (the machine may be shared: CPU seconds a row do not depend on the load) --------

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICKS


def backend_pids() -> list[int]:
    """PostgreSQL backends connected to the bench database, other than this one."""
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [pid for (pid,) in rows]


def server_pids(server: subprocess.Popen) -> list[int]:
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return [server.pid, *map(int, children)]


# ---- server and clients -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(url: str, port: int, workers: int) -> subprocess.Popen:
    env = dict(
        os.environ,
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="config.settings_production",
        SECRET_KEY="bench-" + secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="False",
        LOG_LEVEL="WARNING",
        CONN_MAX_AGE="600",
    )
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi:application",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def post_all(base: str, path: str, bodies: list[bytes], headers: dict, threads: int) -> tuple[float, list]:
    import httpx

    work: queue.Queue = queue.Queue()
    for body in bodies:
        work.put(body)
    answers: list = []
    barrier = threading.Barrier(threads + 1)

    def client():
        with httpx.Client(base_url=base, headers=headers, timeout=300) as http:
            barrier.wait()
            while True:
                try:
                    body = work.get_nowait()
                except queue.Empty:
                    return
                response = http.post(path, content=body)
                answers.append((response.status_code, response.content))

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started, answers


def check_landed(project_pk: int, spans: int, traces: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM traces_span WHERE project_id = %s", [project_pk])
        got_spans = cursor.fetchone()[0]
        cursor.execute("SELECT count(*), sum(span_count) FROM traces_trace WHERE project_id = %s", [project_pk])
        got_traces, summed = cursor.fetchone()
    connection.close()
    assert (got_spans, got_traces, summed) == (spans, traces, spans), (got_spans, got_traces, summed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", DEFAULT_DB)
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("The benchmark runs on PostgreSQL: set DATABASE_URL=postgres://…")
    ensure_database(url)
    django_setup(url)
    project, key = bench_project_reset()

    spans = build_spans(args.spans, seed=7, prefix="rest")
    size = sum(len(json.dumps(s)) for s in spans) / len(spans)
    print(f"spans: {len(spans)} in traces of 10, {size:.0f} bytes of JSON each, batches of {args.batch}")
    copy_rate = copy_baseline(spans, project.pk)
    print(f"copy_rows_per_s={copy_rate:.0f}")

    rest_bodies = [json.dumps({"spans": spans[i : i + args.batch]}).encode() for i in range(0, len(spans), args.batch)]
    otlp = otlp_bodies(build_spans(args.spans, seed=8, prefix="otlp"), args.batch)
    print(f"otlp: {sum(map(len, otlp)) / len(spans):.0f} protobuf bytes a span")

    port = free_port()
    server = start_server(url, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {key}"}
    try:
        # Warm-up: import paths, connections, the staging table in each worker.
        warm = build_spans(200, seed=1, prefix="warm")
        post_all(
            base, "/api/v1/ingest/", [json.dumps(warm).encode()] * 4, {**auth, "Content-Type": "application/json"}, 2
        )
        bench_rows_clear(project.pk)

        web, db = server_pids(server), backend_pids()
        cpu_before, web_before = cpu_seconds(web + db), cpu_seconds(web)
        elapsed, answers = post_all(
            base, "/api/v1/ingest/", rest_bodies, {**auth, "Content-Type": "application/json"}, args.threads
        )
        rest_cpu = cpu_seconds(web + db + [p for p in backend_pids() if p not in db]) - cpu_before
        rest_web = cpu_seconds(web) - web_before
        bad = [a for a in answers if a[0] != 200 or json.loads(a[1])["rejected"]]
        assert not bad, bad[:2]
        check_landed(project.pk, len(spans), len(spans) // 10)
        rest_rate = len(spans) / elapsed
        print(
            f"ingest: {len(spans)} spans in {elapsed:.2f}s, {args.threads} client threads, "
            f"server CPU {rest_cpu / len(spans) * 1e6:.0f} µs a span "
            f"(gunicorn {rest_web / len(spans) * 1e6:.0f}, postgres {(rest_cpu - rest_web) / len(spans) * 1e6:.0f})"
        )
        print(f"ingest_rows_per_s={rest_rate:.0f}")
        bench_rows_clear(project.pk)

        web, db = server_pids(server), backend_pids()
        cpu_before, web_before = cpu_seconds(web + db), cpu_seconds(web)
        elapsed, answers = post_all(
            base, "/v1/traces", otlp, {**auth, "Content-Type": "application/x-protobuf"}, args.threads
        )
        otlp_cpu = cpu_seconds(web + db + [p for p in backend_pids() if p not in db]) - cpu_before
        otlp_web = cpu_seconds(web) - web_before
        bad = [a for a in answers if a[0] != 200 or a[1]]
        assert not bad, bad[:2]
        check_landed(project.pk, len(spans), len(spans) // 10)
        otlp_rate = len(spans) / elapsed
        print(
            f"otlp: {len(spans)} spans in {elapsed:.2f}s, {args.threads} client threads, "
            f"server CPU {otlp_cpu / len(spans) * 1e6:.0f} µs a span "
            f"(gunicorn {otlp_web / len(spans) * 1e6:.0f}, postgres {(otlp_cpu - otlp_web) / len(spans) * 1e6:.0f})"
        )
        print(f"otlp_rows_per_s={otlp_rate:.0f}")
        bench_rows_clear(project.pk)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"ingest_vs_copy={rest_rate / copy_rate:.2f} otlp_vs_copy={otlp_rate / copy_rate:.2f}")


if __name__ == "__main__":
    main()
