"""Read replicas: with a `replica` alias and the router on, admin lists, API reads and the export reader
read the replica; writes, reservations and reads right after a write use the primary.

The test replica is the test database itself under TEST MIRROR (config/settings_test.py), so the
replica shows what the primary committed; every query is logged with the alias of the connection
that ran it, in any thread.
"""

from __future__ import annotations

import json

import pytest
from django.db import connections, transaction
from django.db.backends.signals import connection_created

from apps.core.db_router import PIN_COOKIE, ROUTER_PATH, replica_reads
from apps.projects.models import Role
from apps.queues.services.filling import review_items_add
from apps.queues.services.queues import review_queue_create
from apps.queues.services.reviewing import review_item_next
from apps.traces.models import Span
from apps.traces.services import span_batch_ingest
from tests.exports.conftest import read_file, run

pytestmark = [pytest.mark.django_db(transaction=True, databases=["default", "replica"])]


@pytest.fixture(autouse=True)
def _router_on(settings):
    settings.DATABASE_ROUTERS = [ROUTER_PATH]


@pytest.fixture
def queries():
    """[(alias, sql)] of every query run while the test runs, by any connection of any thread."""
    log: list[tuple[str, str]] = []

    def recorder(alias):
        def record(execute, sql, params, many, context):
            log.append((alias, sql))
            return execute(sql, params, many, context)

        record.assay_recorder = True
        return record

    def install(connection):
        if not any(getattr(w, "assay_recorder", False) for w in connection.execute_wrappers):
            connection.execute_wrappers.append(recorder(connection.alias))

    def on_created(sender, connection, **kwargs):
        install(connection)

    for alias in ("default", "replica"):
        install(connections[alias])
    connection_created.connect(on_created)
    yield log
    connection_created.disconnect(on_created)
    for alias in ("default", "replica"):
        wrappers = connections[alias].execute_wrappers
        wrappers[:] = [w for w in wrappers if not getattr(w, "assay_recorder", False)]


def _on(log, alias: str, table: str) -> list[str]:
    return [sql for a, sql in log if a == alias and table in sql]


@pytest.fixture
def spans(project):
    items = [
        {"trace_id": "t-1", "span_id": f"s-{i}", "name": "chat", "start_time": "2026-11-03T10:00:00Z"} for i in range(3)
    ]
    assert span_batch_ingest(project=project, items=items).accepted == 3
    return list(Span.objects.filter(project=project))


def test_api_lists_and_detail_read_the_replica(project, spans, key_client, queries):
    client = key_client(project, scopes=("read",))
    res = client.get("/api/v1/spans/")
    assert res.status_code == 200 and len(res.json()["results"]) == 3
    res = client.get("/api/v1/traces/t-1/")
    assert res.status_code == 200
    assert _on(queries, "replica", "traces_span") and _on(queries, "replica", "traces_trace")
    assert not _on(queries, "default", "traces_span") and not _on(queries, "default", "traces_trace")
    # Keys and projects are read where they are written: a revoked key stops at once.
    assert _on(queries, "default", "projects_projectapikey")
    assert not _on(queries, "replica", 'FROM "projects_')


def test_admin_changelist_reads_the_replica_and_the_change_form_the_primary(project, spans, client_as, queries):
    client = client_as(Role.ADMIN, project)
    assert client.get("/admin/traces/trace/").status_code == 200
    assert _on(queries, "replica", "traces_trace")
    queries.clear()
    trace = spans[0].trace
    assert client.get(f"/admin/traces/trace/{trace.pk}/change/").status_code == 200
    assert _on(queries, "default", "traces_trace")
    assert not [sql for alias, sql in queries if alias == "replica"]


def test_writes_stay_on_the_primary_and_pin_the_client_for_a_while(project, spans, key_client, queries):
    client = key_client(project)
    res = client.post("/api/v1/feedback/", {"span_id": "s-1", "comment": "Wrong refund window"}, format="json")
    assert res.status_code in (200, 201), res.json()
    assert not [sql for alias, sql in queries if alias == "replica"]
    assert res.cookies[PIN_COOKIE]["max-age"] == 5
    # The list right after the write reads the primary: it shows what was just written.
    queries.clear()
    client.cookies[PIN_COOKIE] = "1"
    assert client.get("/api/v1/spans/").status_code == 200
    assert _on(queries, "default", "traces_span") and not _on(queries, "replica", "traces_span")


def test_reads_after_a_write_in_the_same_scope_use_the_primary(project, spans, queries):
    with replica_reads():
        assert Span.objects.filter(project=project).count() == 3
        assert _on(queries, "replica", "traces_span")
        queries.clear()
        Span.objects.filter(span_id="s-1").update(name="renamed")
        assert Span.objects.get(span_id="s-1").name == "renamed"
    assert _on(queries, "default", "traces_span")
    assert not _on(queries, "replica", "traces_span")


def test_reads_inside_a_transaction_use_the_primary(project, spans, queries):
    with replica_reads(), transaction.atomic():
        assert Span.objects.filter(project=project).count() == 3
    assert not _on(queries, "replica", "traces_span")


def test_a_reservation_in_a_replica_scope_locks_and_reads_on_the_primary(project, spans, member, queries):
    reviewer = member(project, role=Role.REVIEWER)
    queue = review_queue_create(project=project, name="Support", score_configs=[], assignees=[reviewer])
    review_items_add(queue=queue, spans=Span.objects.filter(project=project))
    queries.clear()
    with replica_reads():
        item = review_item_next(queue=queue, user=reviewer)
    assert item is not None and item.reserved_by == reviewer
    assert (
        any("FOR UPDATE" in sql for alias, sql in queries if alias == "default")
        or connections["default"].vendor != "postgresql"
    )
    assert not _on(queries, "replica", 'FROM "queues_')


def test_no_replica_scope_no_replica(project, spans, queries):
    assert Span.objects.filter(project=project).count() == 3
    assert not [sql for alias, sql in queries if alias == "replica"]


def test_the_export_reader_reads_the_replica_and_the_job_row_the_primary(project, spans, queries, tmp_path, settings):
    settings.EXPORTS_TMP_DIR = str(tmp_path / "tmp")
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    job = run(project)
    assert job.status == "succeeded", job.error
    assert sorted(json.loads(line)["span_id"] for line in read_file(job).decode().splitlines()) == ["s-0", "s-1", "s-2"]
    assert _on(queries, "replica", "traces_span")
    assert _on(queries, "default", "exports_exportjob") and not _on(queries, "replica", "exports_exportjob")
