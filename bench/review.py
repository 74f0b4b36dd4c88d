"""Review benchmark: "submit and next" and the kanban board on a big queue vs a small one (PostgreSQL).

    .venv/bin/python bench/review.py            # BENCH_DATABASE_URL, default .../assay_review_bench

1. (Re)creates the database in BENCH_DATABASE_URL and migrates it.
2. Baseline: a project of 10,000 spans (1,000 traces of 10 spans) with a queue of its 1,000 root
   spans. Against it: a project of 1,000,000 spans (100,000 traces) with a queue of 100,000 items. Both
   are seeded with set-based SQL (`INSERT … SELECT generate_series`), 40% of each queue complete
   (two reviews), 20% pending (one review), the rest in the backlog; then ANALYZE.
3. For each: a reviewer logged in through Django's test client does "submit and next" N times as the
   one-page review loop does (one POST of the review with three scores and `?open=<next>&prefetch=1`: it
   also reserves the next item, already shown from the prefetch, and answers with the data of the item
   after it, the next prefetch), and a lead
   loads the kanban board N times, alternating the two projects round by round so that other load on
   the machine hits both alike. Queries are counted per operation; time is the median.

The last line is `submit_next: queries <small>/<large> time x<ratio>; board: queries … time x<ratio>; PASS|FAIL`
(PASS = same query counts at both sizes, submit+next in at most 25 queries and within x1.2, the board
within x1.5).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/assay_review_bench"
SUBMIT_QUERY_BUDGET = 25  # submit plus the next item's data


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
    os.environ["DEBUG"] = "false"  # production template caching; DEBUG re-parses every template
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _filler(cursor, table: str, given: dict[str, str]) -> tuple[str, str]:
    """Columns and SELECT expressions for every NOT NULL column without a default, so the seed keeps
    working when other apps add columns."""
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


def seed(*, slug: str, traces: int, spans_per_trace: int = 10) -> dict:
    """A project, its traces and spans, a queue of every root span in three states, two users."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from apps.projects.models import Role
    from apps.projects.services import membership_set, project_create
    from apps.queues.models import ReviewQueue
    from apps.queues.services.queues import review_queue_create, review_queue_recount
    from apps.reviews.services.score_configs import score_config_create

    started = time.perf_counter()
    project = project_create(slug=slug, name=slug)
    User = get_user_model()
    reviewer = User.objects.create_user(username=f"{slug}-reviewer", password="x", is_staff=True)
    other = User.objects.create_user(username=f"{slug}-other", password="x", is_staff=True)
    lead = User.objects.create_user(username=f"{slug}-lead", password="x", is_staff=True)
    for user, role in ((reviewer, Role.REVIEWER), (other, Role.REVIEWER), (lead, Role.CURATOR)):
        membership_set(project=project, user=user, role=role)
    configs = [
        score_config_create(project=project, name="correct", kind="boolean"),
        score_config_create(
            project=project,
            name="tone",
            kind="categorical",
            options=[{"label": "rude", "value": 0}, {"label": "neutral", "value": 1}, {"label": "kind", "value": 2}],
        ),
        score_config_create(project=project, name="helpfulness", kind="continuous", min_value=0, max_value=1),
    ]
    queue = review_queue_create(project=project, name="bench", score_configs=configs, reviewers_per_item=2)
    with connection.cursor() as cur:
        cols, exprs = _filler(
            cur,
            "traces_trace",
            {
                "project_id": str(project.pk),
                "trace_id": f"'{slug}-' || g",
                "name": "'support-agent'",
                "root_span_id": f"'{slug}-' || g || '-0'",
                "start_time": "now() - g * interval '1 second'",
                "span_count": str(spans_per_trace),
                "review_status": "'queued'",
                "input_preview": "'Where is my parcel number ' || g || '? It was due last week.'",
                "output_preview": "'Your parcel is on its way and arrives tomorrow.'",
                "tags": "'[]'::jsonb",
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
                "name": "CASE WHEN s = 0 THEN 'support-agent' ELSE 'llm-call-' || s END",
                "type": "CASE WHEN s = 0 THEN 'task' ELSE 'llm' END",
                "start_time": "t.start_time + s * interval '10 milliseconds'",
                "duration_ms": "120",
                "input": """jsonb_build_array(jsonb_build_object('role', 'system', 'content', 'You are a helpful support agent.'),
                        jsonb_build_object('role', 'user', 'content', 'Where is my parcel number ' || t.id || '? It was due last week and the tracking page shows nothing.'))""",
                "output": "jsonb_build_object('role', 'assistant', 'content', 'Your parcel is on its way and arrives tomorrow. I have added a note to your order.')",
                "metadata": "jsonb_build_object('model', 'gpt-4o-mini', 'region', 'eu')",
                "metrics": "'{}'::jsonb",
                "annotation_metadata": "'{}'::jsonb",
                "tags": "'[]'::jsonb",
            },
        )
        cur.execute(
            f"INSERT INTO traces_span ({cols}) SELECT {exprs} FROM traces_trace t "
            f"CROSS JOIN generate_series(0, %s) s WHERE t.project_id = %s",
            [spans_per_trace - 1, project.pk],
        )
        # Items: 40% complete (two reviews by `other`… and the lead), 20% pending (one review), 40% backlog.
        cur.execute(
            "INSERT INTO queues_reviewitem (queue_id, span_id, status, submission_count, created_at, updated_at, completed_at) "
            "SELECT %s, sp.id, CASE WHEN n <= %s THEN 'complete' WHEN n <= %s THEN 'pending' ELSE 'backlog' END, "
            "CASE WHEN n <= %s THEN 2 WHEN n <= %s THEN 1 ELSE 0 END, now(), now(), "
            "CASE WHEN n <= %s THEN now() END FROM ("
            "  SELECT id, row_number() OVER (ORDER BY id) AS n FROM traces_span WHERE project_id = %s AND parent_span_id = ''"
            ") sp",
            [
                queue.pk,
                int(traces * 0.4),
                int(traces * 0.6),
                int(traces * 0.4),
                int(traces * 0.6),
                int(traces * 0.4),
                project.pk,
            ],
        )
        cur.execute(
            "INSERT INTO queues_reviewsubmission (item_id, reviewer_id, submitted_at, item_open) "
            "SELECT id, %s, now(), status <> 'complete' FROM queues_reviewitem WHERE queue_id = %s AND submission_count >= 1",
            [other.pk, queue.pk],
        )
        cur.execute(
            "INSERT INTO queues_reviewsubmission (item_id, reviewer_id, submitted_at, item_open) "
            "SELECT id, %s, now(), false FROM queues_reviewitem WHERE queue_id = %s AND submission_count = 2",
            [lead.pk, queue.pk],
        )
        # The reviews' scores, so cards and analytics read real rows.
        cols, exprs = _filler(
            cur,
            "reviews_score",
            {
                "project_id": str(project.pk),
                "span_id": "i.span_id",
                "config_id": str(configs[0].pk),
                "value": "CASE WHEN i.id %% 3 = 0 THEN 0 ELSE 1 END",
                "author_id": "s.reviewer_id",
                "source": "'human'",
                "labels": "'[]'::jsonb",
            },
        )
        cur.execute(
            f"INSERT INTO reviews_score ({cols}) SELECT {exprs} FROM queues_reviewsubmission s "
            f"JOIN queues_reviewitem i ON i.id = s.item_id WHERE i.queue_id = %s",
            [queue.pk],
        )
        for table in ("traces_trace", "traces_span", "queues_reviewitem", "queues_reviewsubmission", "reviews_score"):
            cur.execute(f"ANALYZE {table}")
    review_queue_recount(queue=queue)
    queue = ReviewQueue.objects.get(pk=queue.pk)
    seconds = time.perf_counter() - started
    print(
        f"seeded {slug}: {traces * spans_per_trace:,} spans, queue of {queue.item_count:,} items "
        f"({queue.complete_count:,} complete, {queue.pending_count:,} pending, {queue.backlog_count:,} backlog) "
        f"in {seconds:.1f}s",
        flush=True,
    )
    return {"project": project, "queue": queue, "reviewer": reviewer, "lead": lead}


class Runner:
    """One project's reviewer and lead clients; each call does one timed operation."""

    def __init__(self, ctx: dict):
        from django.test import Client

        self.queue = ctx["queue"]
        self.reviewer = Client()
        self.reviewer.force_login(ctx["reviewer"])
        self.lead = Client()
        self.lead.force_login(ctx["lead"])
        start = self.reviewer.get(f"/admin/queues/reviewqueue/{self.queue.pk}/review/", follow=True)
        assert start.status_code == 200, start.status_code
        self.item_id = int(start.redirect_chain[-1][0].rstrip("/").rsplit("/", 1)[1])
        peek = self.reviewer.get(f"/admin/queues/reviewqueue/{self.queue.pk}/review/peek/?exclude={self.item_id}")
        self.next_id = peek.json()["item"]["item_id"]  # prefetched by the page while the first item is reviewed
        self.payload = json.dumps({"scores": {"correct": True, "tone": "kind", "helpfulness": 0.8}})
        self.results: dict[str, list] = {"submit_time": [], "submit_queries": [], "board_time": [], "board_queries": []}

    def submit_and_next(self, record: bool) -> None:
        """What the one-page review loop does per item: one POST of the review with `?open=<the next item>
        &prefetch=1` (JSON, no panel HTML back): it saves, takes the reservation of the next item (already on
        screen from the prefetch) with its action bar, and sends along the data of the item after it (the
        next prefetch; nothing reserved)."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        item_id, next_id = self.item_id, self.next_id
        base = f"/admin/queues/reviewqueue/{self.queue.pk}/review/"
        connection.queries_log.clear()  # a full log (9,000 entries) would make the capture read 0
        with CaptureQueriesContext(connection) as captured:
            t0 = time.perf_counter()
            res = self.reviewer.post(
                f"{base}{item_id}/submit/?html=0&prefetch=1&open={next_id}",
                self.payload,
                content_type="application/json",
            )
            elapsed = time.perf_counter() - t0
        assert res.status_code == 200, res.content[:300]
        opened = res.json()["opened"]
        shown = opened["item"]["item_id"] if opened.get("item") else next_id
        assert opened["state"]["canSubmit"] and opened["state"]["itemId"] == shown, str(opened)[:300]
        after = opened["prefetch"]["item"]
        assert "data-assay-annotations" in after["html"]
        self.item_id, self.next_id = shown, after["item_id"]
        if record:
            self.results["submit_time"].append(elapsed)
            self.results["submit_queries"].append(len(captured))

    def board(self, record: bool) -> None:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as captured:
            t0 = time.perf_counter()
            res = self.lead.get(f"/admin/queues/reviewqueue/{self.queue.pk}/board/")
            elapsed = time.perf_counter() - t0
        assert res.status_code == 200 and res.content.count(b'class="assay-card"') == 150
        if record:
            self.results["board_time"].append(elapsed)
            self.results["board_queries"].append(len(captured))

    def summary(self) -> dict:
        r = self.results
        return {
            "submit_time": statistics.median(r["submit_time"]),
            "submit_queries": sorted(set(r["submit_queries"])),
            "board_time": statistics.median(r["board_time"]),
            "board_queries": sorted(set(r["board_queries"])),
        }


def measure(small: Runner, large: Runner, rounds: int) -> None:
    """Alternate the two projects round by round, so load from elsewhere on the machine hits both alike."""
    for i in range(rounds + 3):
        record = i >= 3  # warm-up rounds are not counted
        for runner in (small, large):
            runner.submit_and_next(record)
        for runner in (small, large):
            runner.board(record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--large-traces", type=int, default=100_000, help="traces of 10 spans (default 1M spans)")
    parser.add_argument("--small-traces", type=int, default=1_000, help="traces of 10 spans (default 10k spans)")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    if not url.startswith("postgres"):
        sys.exit("bench/review.py needs PostgreSQL (BENCH_DATABASE_URL).")
    recreate_database(url)
    setup_django(url)

    small_runner = Runner(seed(slug="bench-small", traces=args.small_traces))
    large_runner = Runner(seed(slug="bench-large", traces=args.large_traces))
    measure(small_runner, large_runner, args.rounds)
    small, large = small_runner.summary(), large_runner.summary()
    print(
        f"small: submit+next {small['submit_time'] * 1000:.1f} ms, queries {small['submit_queries']}; "
        f"board {small['board_time'] * 1000:.1f} ms, queries {small['board_queries']}",
        flush=True,
    )
    print(
        f"large: submit+next {large['submit_time'] * 1000:.1f} ms, queries {large['submit_queries']}; "
        f"board {large['board_time'] * 1000:.1f} ms, queries {large['board_queries']}",
        flush=True,
    )
    submit_ratio = large["submit_time"] / small["submit_time"]
    board_ratio = large["board_time"] / small["board_time"]
    ok = (
        small["submit_queries"] == large["submit_queries"]
        and small["board_queries"] == large["board_queries"]
        and max(large["submit_queries"]) <= SUBMIT_QUERY_BUDGET
        and submit_ratio <= 1.2
        and board_ratio <= 1.5
    )
    print(
        f"submit_next: queries {'/'.join(map(str, small['submit_queries']))} vs "
        f"{'/'.join(map(str, large['submit_queries']))} time x{submit_ratio:.2f}; "
        f"board: queries {'/'.join(map(str, small['board_queries']))} vs "
        f"{'/'.join(map(str, large['board_queries']))} time x{board_ratio:.2f}; {'PASS' if ok else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
